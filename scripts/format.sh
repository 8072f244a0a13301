#!/usr/bin/env bash
# Applies .clang-format (Google style, 120 columns) to every C++ and CUDA source of the project, or
# with --check lists the files that differ from it and exits 1 (nothing is changed).
# Needs clang-format (Debian: apt-get install clang-format-14).
set -euo pipefail
cd "$(dirname "$0")/.."
fmt="${CLANG_FORMAT:-$(command -v clang-format-14 || command -v clang-format || true)}"
[[ -n $fmt ]] || { echo "format.sh: clang-format not found (Debian: apt-get install clang-format-14)" >&2; exit 2; }
mapfile -t files < <(git ls-files 'src/*' 'tests/*' 'bench/*' 'fuzz/*' 'python/*' | grep -E '\.(cpp|h|cu|cuh)$')
case "${1:-}" in
  --check)
    drift=0
    for f in "${files[@]}"; do
      if ! "$fmt" --style=file "$f" | cmp -s - "$f"; then echo "$f"; drift=1; fi
    done
    exit "$drift" ;;
  "") "$fmt" --style=file -i "${files[@]}" ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac
