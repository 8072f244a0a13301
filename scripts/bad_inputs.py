#!/usr/bin/env python3
"""Bad-input audit of the scanlab CLI (issue 21): runs the built binary on inputs an attacker or a
careless user would give it, drawn from every bullet of the issue, and classifies each outcome:

  clear     exit code 2 and exactly one line on stderr that names the file, flag or key it is about
  unnamed   exit code 2 and one line, but the line does not name its file, flag or key
  accepted  exit code 0: the bad input was taken (accepted wrongly)
  crashed   a signal, an exit code other than 0 and 2, a timeout, a backtrace, more than one line
            on stderr, or "unexpected error"

Prints a table with the counts per set and a total, the cases that are not clear, and exits 1 if
any case is not clear. --quick runs a subset (CTest's cli.bad_inputs); the full run adds many more
truncations and bit flips. Python 3 standard library only.

Usage: bad_inputs.py --scanlab build/scanlab [--quick] [--jobs 2] [--list]
"""
import argparse
import concurrent.futures
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 60
MEMORY_CAP = 6 << 30  # address-space cap of each run: a missed size check fails instead of swapping the machine


class Case:
    def __init__(self, set_name, label, args, names, env=None, threads=True, quick=True):
        self.set_name = set_name
        self.label = label
        self.args = [str(a) for a in args]
        self.names = [names] if isinstance(names, str) else list(names)  # any of these must appear
        self.env = env or {}
        self.threads = threads  # prefix --threads 1 (off for cases about --threads itself)
        self.quick = quick


# ---------------------------------------------------------------- file helpers

def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def write_safetensors(path, header, data, pad=True):
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
    return path


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def edited(src, dst, edit, keep_content_hash=False):
    """Copy of safetensors `src` with edit(header, data) -> (header, data) applied. The file's content
    hash is dropped first (as a hand editor who knows the format would), so that the edit reaches the
    check it is aimed at; keep_content_hash=True leaves it, for the hash's own cases."""
    header, data = read_safetensors(src)
    if not keep_content_hash and isinstance(header.get("__metadata__"), dict):
        header["__metadata__"].pop("scanlab.content_sha1", None)
    header, data = edit(header, data)
    return write_safetensors(dst, header, data)


def set_meta(key, value):
    def edit(h, d):
        h["__metadata__"][key] = value
        return h, d
    return edit


def edit_config(key, value, meta_key="scanlab.config"):
    def edit(h, d):
        cfg = json.loads(h["__metadata__"][meta_key])
        cfg[key] = value
        h["__metadata__"][meta_key] = json.dumps(cfg)
        return h, d
    return edit


def flipped(src, dst, offset, bit):
    with open(src, "rb") as f:
        raw = bytearray(f.read())
    raw[offset] ^= 1 << bit
    return write_bytes(dst, bytes(raw))


def tensor_entry_spans(path):
    """(start, end) byte ranges of the tensor entries inside the header (metadata values excluded:
    a flip in the version string is harmless)."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    text = raw[8:8 + n].decode()
    header = json.loads(text)
    spans = []
    for name in header:
        if name == "__metadata__":
            continue
        start = text.index('"' + name + '"')
        end = text.index("}", start)
        spans.append((8 + start, 8 + end + 1))
    return spans, 8 + n, len(raw)


# ---------------------------------------------------------------- fixtures

def run_ok(scanlab, *args):
    r = subprocess.run([scanlab, "--threads", "1", *map(str, args)], capture_output=True, timeout=300)
    if r.returncode != 0:
        sys.exit(f"bad_inputs.py: fixture `scanlab {' '.join(map(str, args))}` failed: {r.stderr.decode(errors='replace').strip()}")
    return r


def make_fixtures(scanlab, d):
    fx = {}
    fx["gla"] = os.path.join(d, "gla.safetensors")
    run_ok(scanlab, "init-model", "--model", "gla", "--preset", "small", "--set", "vocab_size=256", "--out", fx["gla"])
    fx["gla_other"] = os.path.join(d, "gla_other.safetensors")
    run_ok(scanlab, "--seed", "7", "init-model", "--model", "gla", "--preset", "small", "--set", "vocab_size=256",
           "--out", fx["gla_other"])
    fx["psm"] = os.path.join(d, "psm.safetensors")
    run_ok(scanlab, "init-model", "--model", "transformer_psm", "--preset", "small", "--set", "vocab_size=256",
           "--set", "position_mode=chunk_local", "--out", fx["psm"])
    fx["mamba"] = os.path.join(d, "mamba.safetensors")
    run_ok(scanlab, "init-model", "--model", "mamba", "--preset", "small", "--set", "vocab_size=256", "--out", fx["mamba"])
    for model in ("gla", "mamba", "psm"):
        fx[model + "_state"] = os.path.join(d, model + "_state.safetensors")
        run_ok(scanlab, "generate", "--checkpoint", fx[model], "--prompt", "abc", "--max-new-tokens", "3",
               "--temperature", "0", "--save-state", fx[model + "_state"])
    fx["tokens"] = write_bytes(os.path.join(d, "tokens.txt"), b"1 2 3 4 5 6 7 8\n")
    fx["text"] = write_bytes(os.path.join(d, "text.txt"), b"The scan runs in parallel.\n")
    fx["npz"] = os.path.join(d, "minimum.npz")
    run_ok(scanlab, "nar", "sample", "--algorithm", "minimum", "--n", "8", "--count", "2", "--out", fx["npz"])
    fx["nar"] = os.path.join(d, "nar.safetensors")
    run_ok(scanlab, "nar", "train", "--algorithm", "minimum", "--steps", "2", "--hidden", "8", "--batch", "4",
           "--train-samples", "8", "--eval-samples", "4", "--train-nodes", "4", "--val-nodes", "4",
           "--test-nodes", "4", "--save", fx["nar"])
    with open(os.path.join(ROOT, "configs", "mqar_cpu.toml"), "rb") as f:
        fx["toml_text"] = f.read()
    fx["dir"] = d
    return fx


# ---------------------------------------------------------------- the cases

def safetensors_cases(fx, d, full):
    S = "safetensors"
    cases = []
    src = fx["gla"]
    size = os.path.getsize(src)
    spans, data_start, _ = tensor_entry_spans(src)

    def score(path, names=None, **kw):
        return ["score", "--checkpoint", path, "--tokens", fx["tokens"]], names or os.path.basename(path)

    def add(label, path, quick=True, names=None):
        args, n = score(path, names)
        cases.append(Case(S, label, args, n, quick=quick))

    add("empty file", write_bytes(os.path.join(d, "st_empty.safetensors"), b""))
    add("7 bytes", write_bytes(os.path.join(d, "st_7.safetensors"), b"\x08\0\0\0\0\0\0"))
    add("header length 2^63", write_bytes(os.path.join(d, "st_len.safetensors"), struct.pack("<Q", 1 << 63) + b"{}"))
    add("header length past the end", write_bytes(os.path.join(d, "st_len2.safetensors"),
                                                  struct.pack("<Q", 100) + b"{}"))
    add("header not JSON", write_bytes(os.path.join(d, "st_notjson.safetensors"), struct.pack("<Q", 8) + b"not json"))
    add("header a JSON array", write_bytes(os.path.join(d, "st_array.safetensors"), struct.pack("<Q", 8) + b"[1,2,3] "))
    add("README as a model file", os.path.join(ROOT, "README.md"))
    add("a directory as a model file", d, names=os.path.basename(d))
    add("/dev/zero as --checkpoint", "/dev/zero", names="/dev/zero")
    # Truncations: at the header, inside the header, inside the data, one byte short.
    cuts = [4, 8, 20, data_start - 1, data_start, data_start + 100, size // 2, size - 1]
    if full:
        cuts += list(range(9, size, max(1, size // 150)))
    for i, cut in enumerate(sorted(set(cuts))):
        with open(src, "rb") as f:
            raw = f.read()[:cut]
        add(f"truncated to {cut} bytes", write_bytes(os.path.join(d, f"st_cut{i}.safetensors"), raw),
            quick=cut in cuts[:8])
    # Bit flips in the tensor entries of the header and in the tensor data (the weights' SHA-1).
    flips = []
    for s, e in spans[:3]:
        flips += [(s + 1, 0), ((s + e) // 2, 1), (e - 3, 2)]
    flips += [(data_start, 0), (data_start + 1000, 5), (size - 1, 7), (size // 2, 3)]
    if full:
        for s, e in spans:
            flips += [(p, (p * 7) % 8) for p in range(s, e, 3)]
        flips += [(p, (p * 5) % 8) for p in range(data_start, size, max(1, (size - data_start) // 400))]
    for i, (off, bit) in enumerate(flips):
        add(f"bit {bit} of byte {off} flipped", flipped(src, os.path.join(d, f"st_flip{i}.safetensors"), off, bit),
            quick=i < 8)
    # Bit 0 of a digit inside the config's JSON: another digit, so the config still parses and may
    # still fit the weights; the file's content hash is what refuses it.
    with open(src, "rb") as f:
        raw = f.read()
    at = raw.index(b"scanlab.config", 8, data_start)
    digits = [p for p in range(at, data_start) if raw[p:p + 1].isdigit()]
    for i, off in enumerate(digits[:12] if full else digits[:3]):
        add(f"config digit at byte {off} flipped", flipped(src, os.path.join(d, f"st_cflip{i}.safetensors"), off, 0))

    def offsets(fn):
        def edit(h, data):
            names = sorted(k for k in h if k != "__metadata__")
            fn(h, names)
            return h, data
        return edit

    def overlap(h, names):  # second tensor starts inside the first, lengths still add up
        a, b = h[names[0]]["data_offsets"], h[names[1]]["data_offsets"]
        h[names[1]]["data_offsets"] = [b[0] - 4, b[1] - 4]

    def shift_all(h, names):
        for n in names:
            o = h[n]["data_offsets"]
            h[n]["data_offsets"] = [o[0] + 4, o[1] + 4]

    def swap(h, names):
        h[names[0]]["data_offsets"], h[names[1]]["data_offsets"] = h[names[1]]["data_offsets"], h[names[0]]["data_offsets"]

    def reversed_offsets(h, names):
        o = h[names[0]]["data_offsets"]
        h[names[0]]["data_offsets"] = [o[1], o[0]]

    def huge(h, names):
        h[names[0]]["data_offsets"] = [0, 1 << 62]

    def negative(h, names):
        h[names[0]]["data_offsets"] = [-8, h[names[0]]["data_offsets"][1]]

    def shape_mismatch(h, names):
        h[names[0]]["shape"] = [h[names[0]]["shape"][0] + 1] + h[names[0]]["shape"][1:]

    def shape_overflow(h, names):
        h[names[0]]["shape"] = [1 << 40, 1 << 40]

    def bad_dtype(h, names):
        h[names[0]]["dtype"] = "Q7"

    def float_shape(h, names):
        h[names[0]]["shape"] = [256.5, 32]

    def duplicate_metadata_type(h, names):
        h["__metadata__"]["format"] = 5

    for fn in (overlap, shift_all, swap, reversed_offsets, huge, negative, shape_mismatch, shape_overflow, bad_dtype,
               float_shape, duplicate_metadata_type):
        add("data_offsets/shape: " + fn.__name__.replace("_", " "),
            edited(src, os.path.join(d, f"st_{fn.__name__}.safetensors"), offsets(fn)))
    # The model configuration inside a valid file (the weights' SHA-1 still matches).
    cfg_cases = [
        ("n_layers 10^12", "n_layers", 10 ** 12), ("d_model 10^9", "d_model", 10 ** 9),
        ("vocab_size -1", "vocab_size", -1), ("n_heads 0", "n_heads", 0), ("n_heads 3 (not a divisor)", "n_heads", 3),
        ("chunk_len 0", "chunk_len", 0), ("chunk_len 2^62", "chunk_len", 1 << 62), ("chunk_len 8.5", "chunk_len", 8.5),
        ("dropout 2", "dropout", 2.0), ("norm_eps -1", "norm_eps", -1.0), ("model unknown", "model", "gpt5"),
        ("model a number", "model", 5), ("unknown key", "no_such_key", 1), ("d_model a string", "d_model", "wide"),
        ("vocab_size a string", "vocab_size", "many"), ("chunk_len 2^30", "chunk_len", 1 << 30),
    ]
    for label, key, value in cfg_cases:
        add("config " + label, edited(src, os.path.join(d, f"st_cfg_{key}_{abs(hash(label))}.safetensors"),
                                      edit_config(key, value)))
    add("config not JSON", edited(src, os.path.join(d, "st_cfg_notjson.safetensors"), set_meta("scanlab.config", "{")))
    add("config a JSON list", edited(src, os.path.join(d, "st_cfg_list.safetensors"), set_meta("scanlab.config", "[]")))
    add("config deeply nested", edited(src, os.path.join(d, "st_cfg_deep.safetensors"),
                                       set_meta("scanlab.config", "[" * 100000 + "]" * 100000)))
    add("tokenizer unknown kind", edited(src, os.path.join(d, "st_tok.safetensors"),
                                         set_meta("scanlab.tokenizer", '{"kind":"morse"}')))
    add("weights SHA-1 edited", edited(src, os.path.join(d, "st_sha.safetensors"),
                                       set_meta("scanlab.weights_sha1", "0" * 40)))
    def bump_chunk_len(h, data):  # a valid config for the same weights: only the content hash can tell
        cfg = json.loads(h["__metadata__"]["scanlab.config"])
        cfg["chunk_len"] += 1
        h["__metadata__"]["scanlab.config"] = json.dumps(cfg)
        return h, data

    add("config edited that still parses (content hash kept)",
        edited(src, os.path.join(d, "st_cfg_hashed.safetensors"), bump_chunk_len, keep_content_hash=True))
    add("content SHA-1 edited", edited(src, os.path.join(d, "st_content_sha.safetensors"),
                                       set_meta("scanlab.content_sha1", "0" * 40), keep_content_hash=True))
    add("metadata value not a string", edited(src, os.path.join(d, "st_metanum.safetensors"), set_meta("scanlab.version", 3)))

    def nan_weight(h, data):
        names = sorted(k for k in h if k != "__metadata__")
        o = h[names[0]]["data_offsets"][0]
        data = data[:o] + struct.pack("<f", float("nan")) + data[o + 4:]
        del h["__metadata__"]["scanlab.weights_sha1"]
        return h, data

    add("a NaN weight (no SHA-1)", edited(src, os.path.join(d, "st_nan.safetensors"), nan_weight))
    # The other commands that read model files.
    bad = os.path.join(d, "st_flip0.safetensors")
    for label, args in [
        ("generate", ["generate", "--checkpoint", bad, "--prompt", "a"]),
        ("eval", ["eval", "--checkpoint", bad, "--config", os.path.join(ROOT, "configs", "mqar_cpu.toml")]),
        ("export", ["export", "--checkpoint", bad, "--out", os.path.join(d, "exported.safetensors")]),
        ("serve", ["serve", "--checkpoint", bad, "--port", "0"]),
        ("init-model --from-gpt2", ["init-model", "--model", "transformer_psm", "--from-gpt2", bad,
                                    "--out", os.path.join(d, "warm.safetensors")]),
    ]:
        cases.append(Case(S, f"{label} on a bit-flipped file", args, os.path.basename(bad)))
    return cases


def npz_cases(fx, d, full):
    S = "npz"
    cases = []
    src = fx["npz"]
    with open(src, "rb") as f:
        raw = f.read()

    def add(label, path, quick=True):
        cases.append(Case(S, label, ["nar", "inspect", path], os.path.basename(path), quick=quick))

    add("empty file", write_bytes(os.path.join(d, "npz_empty.npz"), b""))
    add("not a zip", write_bytes(os.path.join(d, "npz_text.npz"), b"PK not really a zip file"))
    add("/dev/zero", "/dev/zero")
    cuts = [10, 30, len(raw) // 2, len(raw) - 1]
    if full:
        cuts += list(range(1, len(raw), max(1, len(raw) // 100)))
    for i, cut in enumerate(sorted(set(cuts))):
        add(f"truncated to {cut} bytes", write_bytes(os.path.join(d, f"npz_cut{i}.npz"), raw[:cut]), quick=cut in cuts[:4])
    # Flips inside the members' stored bytes (the CRC-32 guards them); a flip in a zip header's
    # timestamp is harmless and not a bad input.
    spans = []
    with zipfile.ZipFile(src) as z:
        for info in z.infolist():
            name_len, extra_len = struct.unpack("<HH", raw[info.header_offset + 26:info.header_offset + 30])
            start = info.header_offset + 30 + name_len + extra_len
            spans.append((start, start + info.compress_size))
    flips = [(s + (e - s) * k // 4, k) for s, e in spans[:2] for k in range(4)]
    if full:
        flips += [(p, (p * 3) % 8) for s, e in spans for p in range(s, e, max(1, (e - s) // 40))]
    for i, (off, bit) in enumerate(flips):
        add(f"bit {bit} of byte {off} flipped", flipped(src, os.path.join(d, f"npz_flip{i}.npz"), off, bit), quick=i < 8)

    def npy(header, body):
        text = header.encode()
        text += b" " * (-(10 + len(text) + 1) % 64) + b"\n"
        return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text + body

    with zipfile.ZipFile(src) as z:
        members = {n: z.read(n) for n in z.namelist()}
    first = sorted(members)[0]

    def rezip(label, replace):
        path = os.path.join(d, f"npz_{len(cases)}.npz")
        with zipfile.ZipFile(path, "w") as z:
            for n, b in members.items():
                z.writestr(n, replace if n == first else b)
        add(label + f" ({first})", path)

    rezip("npy shape 2^40 x 2^40", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", b""))
    rezip("npy dtype object", npy("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", b"\0" * 16))
    rezip("npy fortran order", npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }", b"\0" * 32))
    rezip("npy header not a dict", npy("[1, 2, 3]", b""))
    rezip("npy body short", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000,), }", b"\0" * 8))
    rezip("npy negative shape", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-2,), }", b""))
    # A zip bomb in miniature: a member whose declared size is far beyond the file.
    path = os.path.join(d, "npz_bomb.npz")
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr(first, npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4000000,), }", b"\0" * 32000000))
    add("deflated member of 32 MB of zeros, wrong shape", path)
    return cases


def toml_cases(fx, d, full):
    S = "TOML"
    cases = []
    base = fx["toml_text"]

    def add(label, body, names=None, quick=True, extra=()):
        path = write_bytes(os.path.join(d, f"cfg_{len(cases)}.toml"), body)
        cases.append(Case(S, label, ["train", "--config", path, "--set", "train.out_dir=" + os.path.join(d, "run_toml"),
                                     "--stop-after", "0", *extra], names or os.path.basename(path), quick=quick))

    add("lone U+00A7 byte", b"\xa7")
    add("'[' then NUL", b"[\0")
    add("non-UTF-8 in a string", base + b'\nname2 = "\xff\xfe"\n')
    add("NUL in the middle", base[:50] + b"\0" + base[50:])
    add("UTF-16 BOM", b"\xff\xfe" + base)
    add("not TOML", b"this is = = not toml\n")
    add("unterminated string", b'name = "abc\n')
    add("duplicate key", base + b"\n[train]\nsteps = 3\n")
    add("nesting 100000 arrays", b"a = " + b"[" * 100000 + b"]" * 100000 + b"\n")
    add("inline tables 100000 deep", b"a = " + b"{b=" * 100000 + b"1" + b"}" * 100000 + b"\n")
    add("empty file", b"")
    for key, value in [("train.lr", "1e300"), ("train.lr", "nan"), ("train.lr", "inf"), ("train.steps", "-5"),
                       ("train.steps", "1.5"), ("train.batch_size", "0"),
                       ("train.batch_size", '"32"'), ("task.seq_len", "0"), ("task.vocab_size", "-1"),
                       ("model.n_embd", "0"), ("model.chunk_size", "0"), ("train.warmup_steps", "-1"),
                       ("train.weight_decay", "-0.5"), ("task.num_train", "99999999999999")]:
        section, name = key.split(".")
        cases.append(Case(S, f"--set {key}={value}", ["train", "--config", os.path.join(ROOT, "configs", "mqar_cpu.toml"),
                                                       "--set", "train.out_dir=" + os.path.join(d, "run_set"),
                                                       "--stop-after", "0", "--set", f"{key}={value}"],
                          [key, "mqar_cpu.toml"]))
    for key, value in [("train.lr", "1e300"), ("train.steps", "-5"), ("model.n_embd", "1.5")]:
        section, name = key.split(".")
        body = base.replace(f"[{section}]\n".encode(), f"[{section}]\n{name} = {value}\n".encode(), 1)
        add(f"{key} = {value} in the file (duplicate)", body, names=[key, os.path.basename(d)])
    for bad in ["train.lr=", "=3", "train.lr", "nosection=1", "train.lr=[1,2]", "train..lr=1"]:
        cases.append(Case(S, f"--set {bad!r}", ["train", "--config", os.path.join(ROOT, "configs", "mqar_cpu.toml"),
                                                "--set", bad], ["--set", bad.split("=")[0] or bad]))
    return cases


def json_cases(fx, d, full):
    S = "JSON"
    cases = []

    def metrics(label, body, extra_names=()):
        path = write_bytes(os.path.join(d, f"metrics_{len(cases)}.jsonl"), body)
        cases.append(Case(S, "plot: " + label, ["plot", "--metrics", path, "--out", os.path.join(d, f"p{len(cases)}.svg")],
                          [os.path.basename(path), *extra_names]))

    metrics("NaN loss", b'{"step": 1, "loss": NaN}\n{"step": 2, "loss": 1.0}\n')
    metrics("loss 1e999", b'{"step": 1, "loss": 1e999}\n{"step": 2, "loss": 1.0}\n')
    metrics("loss \"nan\"", b'{"step": 1, "loss": "nan"}\n{"step": 2, "loss": 1.0}\n')
    metrics("loss null everywhere", b'{"step": 1, "loss": null}\n')
    metrics("loss -1e308 and 1e308", b'{"step": 1, "loss": -1e308}\n{"step": 2, "loss": 1e308}\n')
    metrics("a line that is not JSON in the middle", b'{"step": 1, "loss": 1}\nnope\n{"step": 2, "loss": 1.0}\n')
    metrics("not UTF-8", b'{"step": 1, "loss": 1, "x": "\xff"}\n')
    metrics("empty file", b"")
    metrics("a JSON array per line", b"[1, 2]\n[3, 4]\n")
    metrics("nesting 100000 deep", b"[" * 100000 + b"]" * 100000 + b"\n")
    cases.append(Case(S, "plot: /dev/zero as metrics", ["plot", "--metrics", "/dev/zero", "--out", os.path.join(d, "z.svg")],
                      "/dev/zero"))
    # Model-file JSON (the tokenizer and config are covered in the safetensors set): nar eval's options.
    nar = fx["nar"]
    for label, value in [("not JSON", "{"), ("hidden -1", None), ("algorithm unknown", None), ("a list", "[]"),
                         ("hidden 10^9", None), ("steps a string", None)]:
        if value is None:
            opts = json.loads(read_safetensors(nar)[0]["__metadata__"]["scanlab_nar_options"])
            if label == "hidden -1":
                opts["hidden"] = -1
            elif label == "hidden 10^9":
                opts["hidden"] = 10 ** 9
            elif label == "algorithm unknown":
                opts["algorithm"] = "teleport"
            else:
                opts["steps"] = "many"
            value = json.dumps(opts)
        path = edited(nar, os.path.join(d, f"nar_{len(cases)}.safetensors"), set_meta("scanlab_nar_options", value))
        cases.append(Case(S, "nar eval: options " + label, ["nar", "eval", "--checkpoint", path, "--nodes", "4",
                                                              "--samples", "2"], os.path.basename(path)))
    # A Hugging Face folder for import-hf.
    hf = os.path.join(d, "hf")
    os.makedirs(hf, exist_ok=True)
    write_bytes(os.path.join(hf, "config.json"), b'{"n_embd": -5, "n_layer": 1e30, "vocab_size": "x"}')
    write_safetensors(os.path.join(hf, "model.safetensors"), {}, b"")
    cases.append(Case(S, "import-hf: config.json with bad sizes", ["import-hf", hf, "--out", os.path.join(d, "hf.safetensors")],
                      ["config.json", "hf"]))
    hf2 = os.path.join(d, "hf2")
    os.makedirs(hf2, exist_ok=True)
    write_bytes(os.path.join(hf2, "config.json"), b"{not json")
    cases.append(Case(S, "import-hf: config.json not JSON", ["import-hf", hf2, "--out", os.path.join(d, "hf2.safetensors")],
                      "config.json"))
    return cases


def state_cases(fx, d, full):
    S = "stream state"
    cases = []

    def add(label, model, path, names=None):
        cases.append(Case(S, label, ["generate", "--checkpoint", fx[model], "--resume-state", path, "--max-new-tokens", "2",
                                     "--temperature", "0"], names or os.path.basename(path)))

    def position(value, dtype="I64"):
        def edit(h, data):
            o = h["stream.position"]["data_offsets"][0]
            if dtype == "I64":
                data = data[:o] + struct.pack("<q", value) + data[o + 8:]
            else:
                h["stream.position"]["dtype"] = "F64"
                data = data[:o] + struct.pack("<d", value) + data[o + 8:]
            return h, data
        return edit

    for model in ("gla", "mamba", "psm"):
        st = fx[model + "_state"]
        for label, edit in [("position -1", position(-1)), ("position 2^62", position(1 << 62)),
                            ("position 16.5", position(16.5, "F64"))]:
            add(f"{model}: {label}", model, edited(st, os.path.join(d, f"state_{len(cases)}.safetensors"), edit))
    cases.append(Case(S, "gla state into a model of other weights", ["generate", "--checkpoint", fx["gla_other"],
                                                                       "--resume-state", fx["gla_state"]],
                      os.path.basename(fx["gla_state"])))
    cases.append(Case(S, "gla state into mamba", ["generate", "--checkpoint", fx["mamba"], "--resume-state", fx["gla_state"]],
                      os.path.basename(fx["gla_state"])))

    def nan_cache(h, data):
        name = sorted(k for k in h if k.startswith("stream.") and h[k]["dtype"] == "F32")[0]
        o = h[name]["data_offsets"][0]
        return h, data[:o] + struct.pack("<f", float("inf")) + data[o + 4:]

    def drop(h, data):
        name = sorted(k for k in h if k.startswith("stream.") and k != "stream.position")[0]
        del h[name]
        return h, data

    def shape(h, data):
        name = sorted(k for k in h if k.startswith("stream.") and k != "stream.position")[0]
        h[name]["shape"] = list(reversed(h[name]["shape"]))
        return h, data

    st = fx["gla_state"]
    for label, edit in [("an Inf in the cache", nan_cache), ("a cache tensor missing", drop),
                        ("a cache of the wrong shape", shape),
                        ("metadata of another config", edit_config("d_model", 64, "scanlab.generation_of")),
                        ("no weights hash", lambda h, data: (dict(h, __metadata__={}), data))]:
        add("gla: " + label, "gla", edited(st, os.path.join(d, f"state_{len(cases)}.safetensors"), edit))
    add("gla: truncated", "gla", write_bytes(os.path.join(d, "state_cut.safetensors"), open(st, "rb").read()[:300]))
    add("gla: a model file as state", "gla", fx["gla"], names=os.path.basename(fx["gla"]))
    add("gla: /dev/zero as state", "gla", "/dev/zero", names="/dev/zero")
    return cases


def token_cases(fx, d, full):
    S = "token files"
    cases = []

    def add(label, body, names=None, model="gla", flag="--tokens", cmd="score"):
        path = write_bytes(os.path.join(d, f"tokens_{len(cases)}.txt"), body)
        args = (["score", "--checkpoint", fx[model], flag, path] if cmd == "score"
                else ["generate", "--checkpoint", fx[model], "--prompt-tokens", path, "--max-new-tokens", "2"])
        cases.append(Case(S, label, args, names or os.path.basename(path)))

    add("id -1", b"1 2 -1 3\n")
    add("id = vocab size", b"1 256 2\n")
    add("id 2^70", b"1 1180591620717411303424 2\n")
    add("a word", b"1 two 3\n")
    add("a float", b"1 2.5 3\n")
    add("empty", b"")
    add("one token (nothing to predict)", b"7\n")
    add("binary bytes", bytes(range(256)))
    add("generate: id -1 in the prompt", b"1 -1\n", cmd="generate")
    add("generate: id 10^6 in the prompt", b"1 1000000\n", cmd="generate")
    for label, path in [("/dev/zero as --tokens", "/dev/zero"), ("/dev/zero as --text", "/dev/zero"),
                        ("a directory as --text", d)]:
        flag = "--text" if "--text" in label else "--tokens"
        cases.append(Case(S, label, ["score", "--checkpoint", fx["gla"], flag, path], [path, os.path.basename(path)]))
    cases.append(Case(S, "/dev/zero as generate --prompt-tokens", ["generate", "--checkpoint", fx["gla"], "--prompt-tokens",
                                                                    "/dev/zero"], "/dev/zero"))
    return cases


def device_cases(fx, d, full):
    S = "output targets"
    cases = []
    gla = fx["gla"]
    nul = "/dev/null"
    targets = [
        ("init-model --out /dev/null", ["init-model", "--model", "gla", "--preset", "small", "--out", nul], nul),
        ("score --dump-logits /dev/null", ["score", "--checkpoint", gla, "--tokens", fx["tokens"], "--dump-logits", nul], nul),
        ("export --out /dev/null", ["export", "--checkpoint", gla, "--out", nul], nul),
        ("generate --save-state /dev/null", ["generate", "--checkpoint", gla, "--prompt", "a", "--max-new-tokens", "1",
                                             "--save-state", nul], nul),
        ("nar sample --out /dev/null", ["nar", "sample", "--algorithm", "minimum", "--n", "4", "--out", nul], nul),
        ("plot --out /dev/null", ["plot", "--metrics", write_bytes(os.path.join(d, "ok.jsonl"), b'{"step":1,"loss":1}\n'),
                                  "--out", nul], nul),
        ("init-model --out a directory", ["init-model", "--model", "gla", "--preset", "small", "--out", d],
         os.path.basename(d)),
        ("init-model --out under a regular file", ["init-model", "--model", "gla", "--preset", "small", "--out",
                                                   os.path.join(gla, "x.safetensors")], os.path.basename(gla)),
        ("nar train --save /dev/null", ["nar", "train", "--algorithm", "minimum", "--steps", "1", "--hidden", "8", "--batch", "4",
                                        "--train-samples", "8", "--eval-samples", "4", "--train-nodes", "4", "--val-nodes",
                                        "4", "--test-nodes", "4", "--save", nul], nul),
        ("eval --out under a regular file", ["eval", "--checkpoint", gla, "--config",
                                             os.path.join(ROOT, "configs", "mqar_cpu.toml"), "--out",
                                             os.path.join(gla, "evaldir")], os.path.basename(gla)),
        ("train out_dir under a regular file", ["train", "--config", os.path.join(ROOT, "configs", "mqar_cpu.toml"), "--set",
                                                "train.out_dir=" + os.path.join(gla, "run")], os.path.basename(gla)),
        ("train out_dir in /proc", ["train", "--config", os.path.join(ROOT, "configs", "mqar_cpu.toml"), "--set",
                                    "train.out_dir=/proc/scanlab_run"], "/proc/scanlab_run"),
        ("bench decode --plot-dir /dev/null", ["bench", "decode", "--models", "gla", "--tokens", "16", "--width", "16",
                                               "--plot-dir", nul], nul),
        ("bench decode --csv a directory", ["bench", "decode", "--models", "gla", "--tokens", "16", "--width", "16",
                                            "--csv", d], os.path.basename(d)),
    ]
    for label, args, names in targets:
        cases.append(Case(S, label, args, names))
    return cases


def cli_cases(fx, d, full):
    S = "CLI values"
    gla = fx["gla"]
    cfg = os.path.join(ROOT, "configs", "mqar_cpu.toml")

    def nar_train(**flags):  # a run of one step on tiny splits, with `flags` replacing its defaults
        small = {"algorithm": "minimum", "steps": "1", "batch": "4", "train_samples": "8", "eval_samples": "4",
                 "train_nodes": "4", "val_nodes": "4", "test_nodes": "4"}
        small.update(flags)
        args = ["nar", "train"]
        for k, v in small.items():
            args += ["--" + k.replace("_", "-"), str(v)]
        return args

    rows = [
        ("--seed -1", ["--seed", "-1", "demo", "--chunks", "4"], "--seed", True),
        ("--seed 2^64", ["--seed", "18446744073709551616", "demo", "--chunks", "4"], "--seed", True),
        ("--seed 1.5", ["--seed", "1.5", "demo", "--chunks", "4"], "--seed", True),
        ("--threads 100000", ["--threads", "100000", "demo", "--chunks", "4"], "--threads", False),
        ("--threads -1", ["--threads", "-1", "demo", "--chunks", "4"], "--threads", False),
        ("--device tpu", ["--device", "tpu", "demo"], "--device", True),
        ("--device cuda:-1", ["--device", "cuda:-1", "demo", "--chunks", "4"], ["--device", "cuda:-1"], True),
        ("--device cuda:abc", ["--device", "cuda:abc", "demo", "--chunks", "4"], ["--device", "cuda:abc"], True),
        ("unknown flag before a missing required one", ["train", "--no-such-flag"], "--no-such-flag", True),
        ("unknown flag after a bad value", ["demo", "--chunks", "zero", "--no-such-flag"], ["--no-such-flag", "--chunks"], True),
        ("unknown subcommand", ["teleport"], "teleport", True),
        ("nar train --teacher-forcing 2", nar_train(teacher_forcing=2), "--teacher-forcing", True),
        ("nar train --teacher-forcing -0.1", nar_train(teacher_forcing=-0.1), "--teacher-forcing", True),
        ("nar train --hidden 0", nar_train(hidden=0), "--hidden", True),
        ("nar train --hidden -8", nar_train(hidden=-8), "--hidden", True),
        ("nar train --batch 0", nar_train(batch=0), "--batch", True),
        ("nar train --steps -1", nar_train(steps=-1), "--steps", True),
        ("nar train --lr nan", nar_train(lr="nan"), "--lr", True),
        ("nar train --lr -1", nar_train(lr=-1), "--lr", True),
        ("nar train --grad-clip -1", nar_train(grad_clip=-1), "--grad-clip", True),
        ("nar train --heads 0", nar_train(processor="gat", heads=0), "--heads", True),
        ("nar train --eval-every 0", nar_train(eval_every=0), "--eval-every", True),
        ("nar train --hint-feedback maybe", nar_train(hint_feedback="maybe"), "--hint-feedback", True),
        ("nar train --train-nodes 0", nar_train(train_nodes=0), "--train-nodes", True),
        ("nar train --hidden 1e9", nar_train(hidden=1000000000), "--hidden", True),
        ("nar train --train-nodes 10^6", nar_train(train_nodes=1000000), "--train-nodes", True),
        ("nar train --algorithm unknown", nar_train(algorithm="teleport"), "teleport", True),
        ("nar train --train-samples 10^12", nar_train(train_samples=10 ** 12), ["--train-samples", "1000000000000 samples"],
         True),
        ("nar train --warmup -1", nar_train(warmup=-1), "--warmup", True),
        ("nar sample --n 0", ["nar", "sample", "--algorithm", "minimum", "--n", "0", "--out", os.path.join(d, "x.npz")], ["--n", "n = 0"], True),
        ("nar sample --n 10^9", ["nar", "sample", "--algorithm", "minimum", "--n", "1000000000", "--out", os.path.join(d, "x.npz")],
         ["--n", "n = 1000000000"], True),
        ("nar sample --count 10^12", ["nar", "sample", "--algorithm", "minimum", "--n", "16", "--count", "1000000000000",
                                      "--out", os.path.join(d, "x.npz")], ["--count", "1000000000000 samples"], True),
        ("generate --temperature nan", ["generate", "--checkpoint", gla, "--prompt", "a", "--temperature", "nan"],
         "--temperature", True),
        ("generate --temperature inf", ["generate", "--checkpoint", gla, "--prompt", "a", "--temperature", "inf"],
         "--temperature", True),
        ("generate --top-p 0", ["generate", "--checkpoint", gla, "--prompt", "a", "--top-p", "0"], "--top-p", True),
        ("generate --top-k -1", ["generate", "--checkpoint", gla, "--prompt", "a", "--top-k", "-1"], "--top-k", True),
        ("generate --max-new-tokens 10^12", ["generate", "--checkpoint", gla, "--prompt", "a", "--max-new-tokens",
                                             "1000000000000"], "--max-new-tokens", True),
        ("generate --max-new-tokens 0", ["generate", "--checkpoint", gla, "--prompt", "a", "--max-new-tokens", "0"],
         "--max-new-tokens", True),
        ("generate empty --prompt", ["generate", "--checkpoint", gla, "--prompt", ""], "--prompt", True),
        ("bench scan --dim 1e9", ["bench", "scan", "--lengths", "4", "--dim", "1000000000", "-r", "1"], "--dim", True),
        ("bench scan --dim 1e9 as text", ["bench", "scan", "--lengths", "4", "--dim", "1e9", "-r", "1"], "--dim", True),
        ("bench scan --lengths 0", ["bench", "scan", "--lengths", "0", "-r", "1"], "--lengths", True),
        ("bench scan --lengths 2^40", ["bench", "scan", "--lengths", "1099511627776", "--dim", "8", "-r", "1"], "--lengths", True),
        ("bench ops --dim 1e9", ["bench", "ops", "--tokens", "64", "--lengths", "16", "--dim", "1000000000", "-r", "1"],
         "--dim", True),
        ("bench ops --heads 10^9", ["bench", "ops", "--tokens", "64", "--lengths", "16", "--heads", "1000000000", "-r", "1"],
         "--heads", True),
        ("bench decode --width 10^6", ["bench", "decode", "--models", "gla", "--tokens", "16", "--width", "1000000"],
         "--width", True),
        ("bench decode --batch 10^9", ["bench", "decode", "--models", "gla", "--tokens", "16", "--batch", "1000000000"],
         "--batch", True),
        ("bench decode --models ''", ["bench", "decode", "--models", "", "--tokens", "16"], ["--models", "unknown model ''"], True),
        ("bench train-step --dtype float8", ["bench", "train-step", "--models", "gla", "--lengths", "16", "--dtype", "float8"],
         "--dtype", True),
        ("bench train-step --lengths 0", ["bench", "train-step", "--models", "gla", "--lengths", "0"], ["--lengths", "length 0"], True),
        ("bench train-step --paths sideways", ["bench", "train-step", "--models", "gla", "--lengths", "16", "--paths",
                                               "sideways"], "--paths", True),
        ("demo --chunks 0", ["demo", "--chunks", "0"], "--chunks", True),
        ("demo --chunks -5", ["demo", "--chunks", "-5"], "--chunks", True),
        ("demo --dim 1e9", ["demo", "--chunks", "4", "--dim", "1000000000"], "--dim", True),
        ("train --nproc 0", ["train", "--config", cfg, "--nproc", "0"], "--nproc", True),
        ("train --dist-timeout -1", ["train", "--config", cfg, "--dist-timeout", "-1", "--stop-after", "0", "--set",
                                     "train.out_dir=" + os.path.join(d, "run_dt")], "--dist-timeout", True),
        ("train --bucket-mb 0", ["train", "--config", cfg, "--bucket-mb", "0", "--stop-after", "0", "--set",
                                 "train.out_dir=" + os.path.join(d, "run_bm")], "--bucket-mb", True),
        ("train --bucket-mb nan", ["train", "--config", cfg, "--bucket-mb", "nan", "--stop-after", "0", "--set",
                                   "train.out_dir=" + os.path.join(d, "run_bm2")], "--bucket-mb", True),
        ("eval --lengths 1", ["eval", "--checkpoint", gla, "--lengths", "1"], "--lengths", True),
        ("serve --port 70000", ["serve", "--checkpoint", gla, "--port", "70000"], "--port", True),
        ("serve --port -1", ["serve", "--checkpoint", gla, "--port", "-1"], "--port", True),
        ("serve --max-batch 0", ["serve", "--checkpoint", gla, "--port", "0", "--max-batch", "0"], "--max-batch", True),
        ("train-demo --steps -1", ["train-demo", "--steps", "-1"], "--steps", True),
        ("train-demo --target-accuracy 2", ["train-demo", "--target-accuracy", "2"], "--target-accuracy", True),
        ("SCANLAB_MEMORY_LIMIT=-5", ["demo", "--chunks", "4"], "SCANLAB_MEMORY_LIMIT", True),
    ]
    cases = []
    for label, args, names, threads in rows:
        env = {"SCANLAB_MEMORY_LIMIT": "-5"} if label.startswith("SCANLAB_MEMORY_LIMIT") else None
        cases.append(Case(S, label, args, names, env=env, threads=threads))
    return cases


SETS = [safetensors_cases, npz_cases, toml_cases, json_cases, state_cases, token_cases, device_cases, cli_cases]


# ---------------------------------------------------------------- running and judging

def limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))
    os.setsid()


def judge(case, scanlab, cwd):
    argv = [scanlab] + (["--threads", "1"] if case.threads else []) + case.args
    env = dict(os.environ)
    env.pop("SCANLAB_MEMORY_LIMIT", None)
    env.update(case.env)
    try:
        r = subprocess.run(argv, capture_output=True, timeout=TIMEOUT_S, env=env, cwd=cwd, preexec_fn=limit_memory,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        # the process group is killed with the child (start_new_session via setsid)
        return "crashed", f"still running after {TIMEOUT_S} s"
    err = r.stderr.decode("utf-8", "replace").strip()
    lines = [line for line in err.splitlines() if line.strip()]
    if r.returncode == 0:
        return "accepted", "exit 0" + (f"; stderr: {err[:200]}" if err else "")
    if r.returncode < 0:
        return "crashed", f"signal {-r.returncode}; stderr: {err[-300:]}"
    if r.returncode != 2:
        return "crashed", f"exit {r.returncode}; stderr: {err[:300]}"
    if len(lines) != 1:
        return "crashed", f"{len(lines)} lines on stderr: {err[:300]}"
    if "unexpected error" in err or "Exception raised from" in err or "frame #" in err:
        return "crashed", err[:300]
    if not any(n and n in err for n in case.names):
        return "unnamed", f"names none of {case.names}: {err[:300]}"
    return "clear", err[:300]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scanlab", required=True, help="the built scanlab binary")
    p.add_argument("--quick", action="store_true", help="the subset CTest runs (cli.bad_inputs)")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time")
    p.add_argument("--only", default="", help="run only the sets whose name contains this")
    p.add_argument("--verbose", action="store_true", help="print every case with its stderr")
    a = p.parse_args()
    scanlab = os.path.abspath(a.scanlab)
    with tempfile.TemporaryDirectory(prefix="scanlab_bad_inputs_") as d:
        fx = make_fixtures(scanlab, d)
        cases = [c for s in SETS for c in s(fx, d, not a.quick)]
        if a.quick:
            cases = [c for c in cases if c.quick]
        if a.only:
            cases = [c for c in cases if a.only.lower() in c.set_name.lower()]
        cwd = os.path.join(d, "cwd")
        os.makedirs(cwd)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            results = list(pool.map(lambda c: judge(c, scanlab, cwd), cases))
    kinds = ["clear", "unnamed", "accepted", "crashed"]
    table = {}
    for case, (kind, _) in zip(cases, results):
        row = table.setdefault(case.set_name, dict.fromkeys(kinds, 0))
        row[kind] += 1
    print("| set | tried | clear | exit 2, not naming its input | accepted wrongly | crashed |")
    print("| --- | --- | --- | --- | --- | --- |")
    total = dict.fromkeys(kinds, 0)
    for name, row in table.items():
        print(f"| {name} | {sum(row.values())} | " + " | ".join(str(row[k]) for k in kinds) + " |")
        for k in kinds:
            total[k] += row[k]
    print(f"| total | {sum(total.values())} | " + " | ".join(str(total[k]) for k in kinds) + " |")
    bad = [(c, r) for c, r in zip(cases, results) if r[0] != "clear"]
    for c, (kind, why) in bad:
        print(f"{kind}: [{c.set_name}] {c.label}: scanlab {' '.join(c.args)[:200]}\n    {why}")
    if a.verbose:
        for c, (kind, why) in zip(cases, results):
            if kind == "clear":
                print(f"clear: [{c.set_name}] {c.label}: {why}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
