#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# tests/install/check-install.sh BUILD_DIR [TOOLCHAIN_FILE]
#
# Install a configured and built tree into a temporary prefix and use it the
# way a user would:
#   1. the installed files are there (header, .so with its SONAME links, .a,
#      CMake package files, hotpatch.pc);
#   2. tests/install/consumer: find_package(hotpatch 0.1), links
#      hotpatch::hotpatch and hotpatch::hotpatch_static, builds a patch with
#      the installed hotpatch_add_patch(); the patch exports
#      hotpatch_descriptor; both programs run, agree with the header, and load
#      and unload the patch;
#   3. the same main.c built with `pkg-config --cflags --libs hotpatch`
#      (shared), and with `pkg-config --static` against libhotpatch.a, run.
#
# With TOOLCHAIN_FILE (the aarch64 cross build) everything is built with the
# cross toolchain and run under qemu-aarch64 -L / (the multiarch arm64 libc).
#
# Environment: KEEP_INSTALL_TMP=1 keeps the temporary directory.
set -euo pipefail

usage() {
  echo "usage: $0 BUILD_DIR [TOOLCHAIN_FILE]" >&2
  exit 2
}
(($# >= 1 && $# <= 2)) || usage

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=$(cd "$1" && pwd)
toolchain=${2:-}
[[ -f "$build/CMakeCache.txt" ]] || {
  echo "check-install: $build is not a configured build tree" >&2
  exit 2
}
if [[ -n "$toolchain" ]]; then
  toolchain=$(cd "$(dirname "$toolchain")" && pwd)/$(basename "$toolchain")
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hotpatch-install.XXXXXX")
cleanup() {
  if [[ "${KEEP_INSTALL_TMP:-0}" == 1 ]]; then
    echo "check-install: kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

step() { printf '\n--- check-install: %s\n' "$*"; }
die() {
  echo "check-install: FAIL: $*" >&2
  exit 1
}

prefix=$tmp/prefix
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$2"; }

if [[ -n "$toolchain" ]]; then
  cc=aarch64-linux-gnu-gcc
  # -L / : the guest's libc is the multiarch one in /lib/aarch64-linux-gnu.
  # -E sets the variable for the guest only (the host qemu would otherwise
  # search LD_LIBRARY_PATH for its own libraries too).
  run() { qemu-aarch64 -L / "$@"; }
  run_with_libdir() {
    local libdir=$1
    shift
    qemu-aarch64 -L / -E "LD_LIBRARY_PATH=$libdir" "$@"
  }
  cmake_cross=(-DCMAKE_TOOLCHAIN_FILE="$toolchain")
else
  cc=${CC:-cc}
  run() { "$@"; }
  run_with_libdir() {
    local libdir=$1
    shift
    LD_LIBRARY_PATH=$libdir "$@"
  }
  cmake_cross=()
fi

# ---------------------------------------------------------------------------
step "install $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log"; die "cmake --install failed"; }

pc=$(find "$prefix" -name hotpatch.pc -print -quit)
[[ -n "$pc" ]] || die "no hotpatch.pc installed"
pcdir=$(dirname "$pc")
libdir=$(dirname "$pcdir")
echo "libdir: $libdir"

[[ -f "$prefix/include/hotpatch.h" ]] || die "include/hotpatch.h not installed"
for f in libhotpatch.a libhotpatch.so cmake/hotpatch/hotpatchConfig.cmake \
  cmake/hotpatch/hotpatchConfigVersion.cmake \
  cmake/hotpatch/hotpatchTargets.cmake cmake/hotpatch/HotpatchPatch.cmake; do
  [[ -e "$libdir/$f" ]] || die "$libdir/$f not installed"
done
# libhotpatch.so -> libhotpatch.so.X.Y (the SONAME) -> libhotpatch.so.X.Y.Z
soname=$(readelf -d "$libdir/libhotpatch.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[[ -n "$soname" ]] || die "libhotpatch.so has no SONAME"
[[ -L "$libdir/libhotpatch.so" && -e "$libdir/$soname" ]] ||
  die "libhotpatch.so is not a symlink to an installed $soname"
echo "SONAME: $soname"
# Nothing may point back into the build tree.
if grep -rl --exclude='*.a' --exclude='*.so*' "$build" "$prefix" >/dev/null 2>&1; then
  grep -rl --exclude='*.a' --exclude='*.so*' "$build" "$prefix" >&2
  die "installed files mention the build tree $build"
fi
# hotpatch.pc must name the prefix it was installed into, not the
# configure-time CMAKE_INSTALL_PREFIX.
grep -qx "prefix=$prefix" "$pc" ||
  die "hotpatch.pc has '$(grep '^prefix=' "$pc")', not prefix=$prefix"

# ---------------------------------------------------------------------------
step "CMake consumer: find_package(hotpatch 0.1) + hotpatch_add_patch()"
cbuild=$tmp/consumer
cmake -S "$here/consumer" -B "$cbuild" "${cmake_cross[@]}" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release \
  >"$tmp/consumer-configure.log" 2>&1 ||
  { cat "$tmp/consumer-configure.log"; die "consumer configure failed"; }
cmake --build "$cbuild" -j "${JOBS:-$(nproc)}" ||
  die "consumer build failed"

patch_so=$cbuild/consumer_patch.so
[[ -f "$patch_so" ]] || die "hotpatch_add_patch() did not produce $patch_so"
nm=$(cache_get CMAKE_NM "$cbuild/CMakeCache.txt")
[[ -n "$nm" ]] || die "no CMAKE_NM in the consumer's cache"
exported=$("$nm" -D --defined-only "$patch_so" | awk 'NF >= 3 {print $3}')
echo "patch exports: $(tr '\n' ' ' <<<"$exported")"
[[ "$exported" == *hotpatch_descriptor* ]] ||
  die "$nm -D shows no hotpatch_descriptor in $patch_so"
if [[ "$exported" != hotpatch_descriptor ]]; then
  die "$patch_so exports more than hotpatch_descriptor (visibility not hidden?)"
fi

version=""
for prog in consumer_shared consumer_static; do
  out=$(run "$cbuild/$prog" "$patch_so") || die "$prog failed"
  echo "$prog: OK (library $out)"
  [[ -z "$version" || "$version" == "$out" ]] || die "$prog reports $out, not $version"
  version=$out
done

# ---------------------------------------------------------------------------
step "pkg-config consumer"
if [[ -n "$toolchain" ]]; then
  # What a cross pkg-config does: only the target's .pc directories.
  export PKG_CONFIG_LIBDIR=$pcdir:/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig
  unset PKG_CONFIG_PATH
else
  export PKG_CONFIG_PATH=$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
fi
pkg-config --exists --print-errors 'hotpatch >= 0.1' || die "pkg-config does not find hotpatch >= 0.1"
modversion=$(pkg-config --modversion hotpatch)
[[ "$modversion" == "$version" ]] ||
  die "pkg-config --modversion is $modversion, the library says $version"
cflags=$(pkg-config --cflags hotpatch)
libs=$(pkg-config --libs hotpatch)
echo "cflags: $cflags"
echo "libs:   $libs"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/pc_shared" "$here/consumer/main.c" $cflags $libs ||
  die "build with pkg-config --cflags --libs failed"
out=$(run_with_libdir "$libdir" "$tmp/pc_shared" "$patch_so") || die "pc_shared failed"
echo "pc_shared: OK (library $out)"

# The static archive with Libs.private: proves the .pc lists what it needs.
static_libs=$(pkg-config --static --libs hotpatch)
static_libs=${static_libs/-lhotpatch/-l:libhotpatch.a}
echo "static: $static_libs"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Wextra -Werror -o "$tmp/pc_static" "$here/consumer/main.c" $cflags $static_libs ||
  die "build with pkg-config --static against libhotpatch.a failed"
if readelf -d "$tmp/pc_static" | grep -q 'libhotpatch\.so'; then
  die "pc_static links libhotpatch.so, not the archive"
fi
out=$(run "$tmp/pc_static" "$patch_so") || die "pc_static failed"
echo "pc_static: OK (library $out)"

echo
echo "check-install: OK ($([[ -n "$toolchain" ]] && echo aarch64 || echo native), hotpatch $version)"
