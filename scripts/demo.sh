#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/demo.sh -- THE demo command: install what is missing, build, and run
# the demo (a server patched live while it serves requests).
#
# Builds in build/native with the same options as scripts/test.sh, so the two
# commands share one build tree. Expects a Debian 12 x86_64 host.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
jobs=${JOBS:-$(nproc)}

if [[ "${HOTPATCH_SKIP_DEPS:-0}" != 1 ]]; then
  scripts/deps.sh
fi

# Keep these options identical to stage_native in scripts/test.sh: a
# different cache would make the next test.sh run reconfigure everything.
cmake -S . -B build/native \
  -DCMAKE_BUILD_TYPE="${HOTPATCH_BUILD_TYPE:-RelWithDebInfo}" \
  -DHOTPATCH_WERROR=ON \
  -DHOTPATCH_REQUIRE_FOREIGN_CC=ON \
  -DHOTPATCH_FOREIGN_CC=aarch64-linux-gnu-gcc
cmake --build build/native -j "$jobs"

exec build/native/examples/demo_server build/native/examples/demo_patch.so
