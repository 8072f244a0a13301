"""Task generators of the PSM paper's experiments (src/tasks/README.md): (inputs, labels) int64
tensors [count, seq_len], labels -100 where nothing is supervised. Example i of a split is always
the same for a seed, whatever else was drawn."""
from . import _C, _checks

_tasks = _C.tasks
IGNORE_LABEL = -100


def _range(op, split, first, count):
    _checks.string(op, "split", split, ("train", "val"))
    _checks.integer(op, "first", first, minimum=0)
    _checks.integer(op, "count", count, minimum=1)


def mqar(count, *, vocab_size=8192, seq_len=128, num_kv_pairs=8, power_a=1.0, min_query_distance=0,
         random_non_queries=True, seed=0, split="train", first=0):
    """Multi-query associative recall (Zoology's multiquery_ar): key-value pairs, then queries; the
    label sits on each query position (unshifted: logits[t] scores labels[t])."""
    op = "scanlab.tasks.mqar"
    _range(op, split, first, count)
    for name, x in (("vocab_size", vocab_size), ("seq_len", seq_len), ("num_kv_pairs", num_kv_pairs),
                    ("min_query_distance", min_query_distance), ("seed", seed)):
        _checks.integer(op, name, x, minimum=0)
    if not isinstance(power_a, (int, float)) or isinstance(power_a, bool):
        raise TypeError(f"{op}: power_a is {type(power_a).__name__}; expected a float")
    return _tasks.mqar(vocab_size, seq_len, num_kv_pairs, float(power_a), min_query_distance,
                       bool(random_non_queries), seed, split, first, count)


def word_problem(count, *, group="S5", seq_len=18, seed=0, split="train", first=0):
    """State tracking as a group word problem (S5, A5, S3, Zn, parity): inputs are actions, labels the
    composed states (shifted: logits[t] scores labels[t + 1]). Returns (inputs, labels, vocab_size)."""
    op = "scanlab.tasks.word_problem"
    _range(op, split, first, count)
    _checks.string(op, "group", group)
    _checks.integer(op, "seq_len", seq_len, minimum=1)
    _checks.integer(op, "seed", seed, minimum=0)
    return _tasks.word_problem(group, seq_len, seed, split, first, count)


def flip_flop(count, *, num_values=4, num_distractors=4, write_prob=0.125, seq_len=32, seed=0, split="train",
              first=0):
    """Flip-flop (set-reset monoid) state tracking, the CLI's train-demo task: each action writes one of
    num_values values (with probability write_prob; the first always does) or is a distractor; the
    label at every position is the last value written (unshifted). Returns (inputs, labels, vocab_size)."""
    op = "scanlab.tasks.flip_flop"
    _range(op, split, first, count)
    for name, x in (("num_values", num_values), ("num_distractors", num_distractors), ("seq_len", seq_len),
                    ("seed", seed)):
        _checks.integer(op, name, x, minimum=0)
    if not isinstance(write_prob, (int, float)) or isinstance(write_prob, bool):
        raise TypeError(f"{op}: write_prob is {type(write_prob).__name__}; expected a float")
    return _tasks.flip_flop(num_values, num_distractors, float(write_prob), seq_len, seed, split, first, count)


__all__ = ["IGNORE_LABEL", "flip_flop", "mqar", "word_problem"]
