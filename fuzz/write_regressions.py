#!/usr/bin/env python3
"""Writes fuzz/regressions/: inputs that once broke or fooled a parser (issue 21), one file each.
The stream-state ones edit the seed corpus (fuzz/corpus/stream_state/, written by the test suite with
SCANLAB_WRITE_FUZZ_SEEDS=1), so run this after the seeds exist. Usage: python3 fuzz/write_regressions.py"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    os.makedirs(os.path.join(HERE, "regressions", target), exist_ok=True)
    with open(os.path.join(HERE, "regressions", target, name), "wb") as f:
        f.write(data)


def safetensors(header, data):
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def parse(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), bytearray(data[8 + n:])


def unparse(header, body):
    return safetensors(header, bytes(body))


# TOML: toml++ 3.3 has undefined behaviour on a lone section sign and asserts on '[' + NUL.
write("toml_config", "lone-section-sign", b"\xa7")
write("toml_config", "bracket-nul", b"[\x00")
write("toml_config", "lr-1e300", b'name = "x"\n[task]\nkind = "mqar"\n[model]\nmodel = "gla"\n[train]\nlr = 1e300\n')
write("toml_config", "curriculum-negative",
      b'name = "x"\n[task]\nkind = "mqar"\n[model]\nmodel = "gla"\n[train]\ncurriculum = [-1, 4]\n')
# safetensors: offsets that add up but overlap or are shifted; a huge shape; a header length past the end.
write("safetensors", "overlapping-offsets", safetensors(
    {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
     "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)))
write("safetensors", "shifted-offsets", safetensors({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)))
write("safetensors", "huge-shape", safetensors(
    {"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 0]}}, b""))
write("safetensors", "header-length-past-end", struct.pack("<Q", 1 << 62) + b"{}")
write("token_ids", "negative", b"-1 2 3\n")
write("token_ids", "past-int64", b"99999999999999999999999\n")
write("npz", "truncated-local-header", b"PK\x03\x04\x14\x00")
# Model configs whose sizes the file's tensors contradict (built first, and killed for memory, before).
write("model_config", "trillion-inf-layers", json.dumps({
    "model": "transformer_psm", "vocab_size": 37, "n_positions": 32, "n_embd": 16, "n_head": 2,
    "n_layer_agg": 2, "n_layer_inf": 10**12, "chunk_size": 4}).encode())
write("model_config", "wide-gpt2", json.dumps({
    "model": "gpt2", "vocab_size": 37, "n_positions": 32, "n_embd": 24000, "n_head": 2, "n_layer": 2}).encode())
write("model_config", "mamba-huge-state", json.dumps({
    "model": "mamba", "vocab_size": 32, "d_model": 32, "n_layers": 2, "chunk_len": 8, "mlp_hidden": 48,
    "d_state": 10**9}).encode())
write("serve_request", "huge-max-tokens", b'\x00{"prompt": [1], "max_tokens": 1000000000000}')
write("serve_request", "deep-nesting", b"\x00" + b"[" * 20000)

# Stream states: a position of -1, 2^62 or 16.5 and a NaN cache, in the seed states of gpt2 (2), mamba (4)
# and transformer_psm (9), the registry's indices (one of each family; mamba took all four).
seeds = os.path.join(HERE, "corpus", "stream_state")
for seed in ("seed-2", "seed-4", "seed-9") if os.path.isdir(seeds) else []:
    raw = open(os.path.join(seeds, seed), "rb").read()
    model, (header, body) = raw[:1], parse(raw[1:])
    pos = header["stream.position"]
    start = pos["data_offsets"][0]
    for name, value in (("position-minus-1", -1), ("position-2-62", 1 << 62)):
        b = bytearray(body)
        b[start:start + 8] = struct.pack("<q", value)
        write("stream_state", f"{seed}-{name}", model + unparse(header, b))
    h = json.loads(json.dumps(header))
    h["stream.position"]["dtype"] = "F64"
    b = bytearray(body)
    b[start:start + 8] = struct.pack("<d", 16.5)
    write("stream_state", f"{seed}-position-16.5", model + unparse(h, b))
    for name, info in header.items():
        if name.startswith("stream.") and info.get("dtype") in ("F32", "F64") and info["data_offsets"][1] > info["data_offsets"][0]:
            b = bytearray(body)
            s = info["data_offsets"][0]
            b[s:s + (4 if info["dtype"] == "F32" else 8)] = struct.pack("<f" if info["dtype"] == "F32" else "<d", float("nan"))
            write("stream_state", f"{seed}-nan-cache", model + unparse(header, b))
            break
