#!/bin/sh
# Builds `tinyflow` as the images ship it (images/*.Dockerfile use the same flags)
# and prints the executable's path on stdout; SwiftPM's output goes to stderr.
#
#   scripts/build-release.sh [SCRATCH]      # default .build-release-static
#
# The Swift runtime and Foundation are linked in (--static-swift-stdlib), by lld,
# exporting no symbols, with packed relative relocations where the C library
# loads them (glibc 2.36 and later): a process maps a quarter less code than one
# linked against the toolchain's shared libraries (docs/performance.md).
set -eu
cd "$(dirname "$0")/.."
scratch="${1:-.build-release-static}"
case "$scratch" in /*) ;; *) scratch="$PWD/$scratch" ;; esac
set -- -c release --static-swift-stdlib --scratch-path "$scratch" --product tinyflow \
    -Xswiftc -use-ld=lld -Xlinker --no-export-dynamic
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | sed -n 's/^glibc \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
if [ -n "$glibc" ] && [ "${glibc% *}" -ge 2 ] && { [ "${glibc% *}" -gt 2 ] || [ "${glibc#* }" -ge 36 ]; }; then
    set -- "$@" -Xlinker -z -Xlinker pack-relative-relocs
fi
"${SWIFT:-swift}" build "$@" >&2
echo "$scratch/release/tinyflow"
