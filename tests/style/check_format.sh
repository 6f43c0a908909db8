#!/usr/bin/env bash
# Fails when a C source or header of the tree is not formatted as
# .clang-format says (clang-format-14 from Debian, installed by
# scripts/setup.sh).  Prints what differs.  Usage: check_format.sh ROOT
# The frozen ABI 1.0 header (tests/plugins/abi10/) is left as it was
# published: it must stay byte for byte what 1.0 plugins were built with.
set -euo pipefail
root=$1
cd "$root"
fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$fmt" ]; then
  echo "check_format: clang-format-14 is not installed (scripts/setup.sh installs it)" >&2
  exit 1
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard '*.c' '*.h' |
                       grep -v '^tests/plugins/abi10/')
else
  mapfile -t files < <(find core plugins include tests -name '*.[ch]' |
                       grep -v '^tests/plugins/abi10/')
fi
bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || continue
  if ! "$fmt" --dry-run -Werror "$f" >/dev/null 2>&1; then
    echo "not formatted: $f (run: $fmt -i $f)"
    "$fmt" "$f" | diff -u "$f" - | head -20 || true
    bad=$((bad + 1))
  fi
done
echo "check_format: ${#files[@]} files, $bad not formatted"
[ "$bad" -eq 0 ]
