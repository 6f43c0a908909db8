#!/usr/bin/env bash
# usage: outside_plugin.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
umask 022
build=$1 src=$2
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig:$prefix/lib/x86_64-linux-gnu/pkgconfig"
mkdir -p "$prefix/outside"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror $(pkg-config --cflags dsbroker-plugin) \
   -o "$prefix/outside/outside.so" "$src/outside.c" $(pkg-config --libs dsbroker-plugin)
out=$("$prefix/bin/dsbroker" plugins -c "$prefix" -P "$prefix/outside")
echo "$out"
echo "$out" | grep -q '"name": "outside"'
test -f "$prefix/include/dsbroker/plugin.h"
test -x "$prefix/bin/dsbroker"
# the installed binary finds the installed plugins beside it by default
"$prefix/bin/dsbroker" plugins -c "$prefix" | grep -q '"name": "glue"'
echo "1 passed, 0 failed"
