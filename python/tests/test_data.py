"""Data generators from Python: NAR trajectories equal the CLI's .npz file, CLRS shapes, the task
generators' conventions, and bad input."""
import numpy as np
import pytest
import torch

import scanlab


def test_nar_sample_equals_the_file_the_cli_writes(cli, tmp_path):
    arrays = scanlab.nar.sample("parallel_search", 8, 5, 7)
    cli("nar", "sample", "--algorithm", "parallel_search", "--n", 8, "--count", 5, "--seed", 7,
        "--out", tmp_path / "d.npz")
    with np.load(tmp_path / "d.npz") as f:
        assert sorted(f.files) == sorted(arrays)
        for name in f.files:
            if name != "meta":
                np.testing.assert_array_equal(arrays[name], f[name], err_msg=name)


def test_nar_arrays_have_the_clrs_layout():
    n, count = 8, 4
    arrays = scanlab.nar.sample("odd_even_transposition_sort", n, count, 1)
    spec = scanlab.nar.spec(arrays)
    assert arrays["lengths"].shape == (count,) and arrays["lengths"].dtype == np.int64
    T = int(arrays["lengths"].max())
    for name, stage, location, _ in spec:
        key = {"input": "input_", "hint": "hint_", "output": "output_"}[stage] + name
        a = arrays[key]
        lead = (count, T) if stage == "hint" else (count,)
        assert a.shape[:len(lead)] == lead, key
        if location == "node":
            assert a.shape[len(lead)] == n, key
        elif location == "edge":
            assert a.shape[len(lead):len(lead) + 2] == (n, n), key
    assert np.all(np.diff(arrays["input_key"], axis=0) != 0) or count == 1  # samples differ
    # a sorted output: the predecessor pointers walk the keys in order
    assert any(name == "pred" for name, *_ in spec)
    again = scanlab.nar.sample("odd_even_transposition_sort", n, count, 1)
    np.testing.assert_array_equal(again["input_key"], arrays["input_key"])  # seeded


def test_clrs30_split_sizes():
    train = scanlab.nar.clrs30("minimum", "train")
    assert train["lengths"].shape == (1000,)
    assert train["input_key"].shape == (1000, 16)


def test_mqar_and_word_problem_generators():
    inputs, labels = scanlab.tasks.mqar(6, vocab_size=64, seq_len=32, num_kv_pairs=4, seed=3)
    assert inputs.shape == labels.shape == (6, 32) and inputs.dtype == torch.int64
    supervised = labels != scanlab.tasks.IGNORE_LABEL
    assert torch.all(supervised.sum(1) == 4)  # one label per queried key
    # each label is the value that followed its key in the key-value prefix
    for b in range(6):
        pairs = {int(inputs[b, 2 * i]): int(inputs[b, 2 * i + 1]) for i in range(4)}
        for t in torch.nonzero(supervised[b]).flatten().tolist():
            assert pairs[int(inputs[b, t])] == int(labels[b, t])
    again, _ = scanlab.tasks.mqar(2, vocab_size=64, seq_len=32, num_kv_pairs=4, seed=3, first=4)
    assert torch.equal(again, inputs[4:6])  # example i is fixed by the seed
    val, _ = scanlab.tasks.mqar(2, vocab_size=64, seq_len=32, num_kv_pairs=4, seed=3, split="val")
    assert not torch.equal(val, inputs[:2])

    x, y, vocab = scanlab.tasks.word_problem(5, group="S3", seq_len=9, seed=2)
    assert x.shape == y.shape == (5, 9) and vocab == 3 + 6
    assert int(x.min()) >= 3 and int(x.max()) < vocab


def test_flip_flop_generator_labels_the_last_write():
    x, y, vocab = scanlab.tasks.flip_flop(20, num_values=3, num_distractors=2, write_prob=0.25, seq_len=40, seed=1)
    assert x.shape == y.shape == (20, 40) and vocab == 3 + 3 + 2
    writes = (x >= 3) & (x < 6)
    assert torch.all(writes[:, 0])  # every example starts with a write
    for b in range(20):  # the label is the most recent write token, recomputed here
        last = None
        for t in range(40):
            if writes[b, t]:
                last = int(x[b, t])
            assert int(y[b, t]) == last
    again, _, _ = scanlab.tasks.flip_flop(2, num_values=3, num_distractors=2, write_prob=0.25, seq_len=40, seed=1,
                                          first=5)
    assert torch.equal(again, x[5:7])


def test_bad_data_input_names_the_problem():
    with pytest.raises(ValueError, match="no_such_algorithm"):
        scanlab.nar.sample("no_such_algorithm", 8, 1, 0)
    with pytest.raises(ValueError, match="count is 0; expected at least 1"):
        scanlab.nar.sample("minimum", 8, 0, 0)
    with pytest.raises(TypeError, match="n is str; expected an int"):
        scanlab.nar.sample("minimum", "8", 1, 0)
    with pytest.raises(ValueError, match="split is 'dev'"):
        scanlab.nar.clrs30("minimum", "dev")
    with pytest.raises(ValueError, match="S9"):
        scanlab.tasks.word_problem(1, group="S9")
    with pytest.raises(ValueError, match="write_prob"):
        scanlab.tasks.flip_flop(1, write_prob=1.5)
    with pytest.raises(TypeError, match="write_prob is str"):
        scanlab.tasks.flip_flop(1, write_prob="high")
    with pytest.raises(ValueError, match="num_kv_pairs|pairs"):
        scanlab.tasks.mqar(1, vocab_size=64, seq_len=8, num_kv_pairs=40)
