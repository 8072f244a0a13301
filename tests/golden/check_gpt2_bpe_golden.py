# Cross-checks tests/golden/gpt2_bpe_encodings.json (made by the JavaScript encoder) against an
# independent Python implementation of OpenAI encoder.py semantics (needs python3-regex).
# Run from the repository root after scripts/fetch_data.sh: python3 tests/golden/check_gpt2_bpe_golden.py
import json, regex
enc = json.load(open('data/cache/gpt2/encoder.json'))
merges = open('data/cache/gpt2/vocab.bpe', encoding='utf-8').read().split('\n')[1:-1]
ranks = {tuple(m.split()): i for i, m in enumerate(merges)}
bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256)); cs = bs[:]; n = 0
for b in range(256):
    if b not in bs: bs.append(b); cs.append(256 + n); n += 1
be = dict(zip(bs, map(chr, cs)))
pat = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")
def bpe(w):
    w = list(w)
    while len(w) > 1:
        pairs = [(ranks.get((w[i], w[i+1]), 1e18), i) for i in range(len(w)-1)]
        r, _ = min(pairs)
        if r == 1e18: break
        a, b = merges[int(r)].split(); out = []; i = 0
        while i < len(w):
            if i + 1 < len(w) and w[i] == a and w[i+1] == b: out.append(a+b); i += 2
            else: out.append(w[i]); i += 1
        w = out
    return w
bad = 0
for c in json.load(open('tests/golden/gpt2_bpe_encodings.json'))['cases']:
    ids = [enc[s] for p in pat.findall(c['text']) for s in bpe(''.join(be[b] for b in p.encode('utf-8')))]
    if ids != c['ids']: bad += 1; print('DIFF', repr(c['text']), ids, c['ids'])
print("cases differing from the Python reference:", bad)
raise SystemExit(1 if bad else 0)
