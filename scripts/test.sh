#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/test.sh -- THE test command: every build and every test.
#
# Expects an x86_64 Debian 12 host (installs what is missing through
# scripts/deps.sh, as root or with sudo). Stages, in order; the first failure
# stops the run with a non-zero exit and a summary line per stage:
#
#   deps            scripts/deps.sh
#   native          x86_64 build (-Werror, aarch64 foreign fixture) + ctest
#   cross           aarch64 cross build + ctest under qemu-aarch64 -L /
#   sanitize        x86_64 build with -fsanitize=address,undefined + ctest
#   install-native  install build/native, build and run a consumer against it
#   install-cross   install build/aarch64, same consumer, run under qemu
#
# Usage: scripts/test.sh [STAGE...]     (default: all, in the order above)
# Build trees: build/native, build/aarch64, build/asan (reused between runs).
# Environment:
#   HOTPATCH_SKIP_DEPS=1     do not run scripts/deps.sh
#   HOTPATCH_BUILD_TYPE=...  CMAKE_BUILD_TYPE of native and cross (default
#                            RelWithDebInfo; the sanitizer build uses Debug)
#   JOBS=N                   parallelism (default: nproc)
#   CTEST_ARGS="..."         extra ctest arguments, e.g. "-R symbols"
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

jobs=${JOBS:-$(nproc)}
build_type=${HOTPATCH_BUILD_TYPE:-RelWithDebInfo}
toolchain=$root/cmake/toolchains/aarch64-linux-gnu.cmake
read -r -a ctest_extra <<<"${CTEST_ARGS:-}"
all_stages=(deps native cross sanitize install-native install-cross)

# ---- stages ----------------------------------------------------------------

stage_deps() {
  if [[ "${HOTPATCH_SKIP_DEPS:-0}" == 1 ]]; then
    echo "HOTPATCH_SKIP_DEPS=1: not checking system packages"
    return 0
  fi
  "$root/scripts/deps.sh"
}

# configure_build <dir> <cmake args...>: configure (reusing the cache) and build.
configure_build() {
  local dir=$1
  shift
  cmake -S "$root" -B "$dir" "$@"
  cmake --build "$dir" -j "$jobs"
}

run_ctest() {
  local dir=$1
  shift
  # --no-tests=error: a configure that registered nothing must not pass.
  ctest --test-dir "$dir" --output-on-failure --no-tests=error \
    -j "$jobs" --timeout 600 \
    "$@" "${ctest_extra[@]}"
  # ctest counts a program as passed when some of its cmocka tests skipped
  # (a check this platform cannot make): list them, loudly.
  local log=$dir/Testing/Temporary/LastTest.log
  if [[ -f $log ]] && grep -q '^\[  SKIPPED \] [^0-9]' "$log"; then
    echo "test.sh: cmocka tests SKIPPED in $dir (the reason is printed above each in $log):"
    grep '^\[  SKIPPED \] [^0-9]' "$log" | sort -u | sed 's/^/  /'
  fi
}

stage_native() {
  # Same options as scripts/demo.sh uses for build/native.
  configure_build build/native \
    -DCMAKE_BUILD_TYPE="$build_type" \
    -DHOTPATCH_WERROR=ON \
    -DHOTPATCH_REQUIRE_FOREIGN_CC=ON \
    -DHOTPATCH_FOREIGN_CC=aarch64-linux-gnu-gcc
  run_ctest build/native
}

stage_cross() {
  # The toolchain file sets CMAKE_CROSSCOMPILING_EMULATOR to qemu-aarch64 -L /
  # (the multiarch arm64 libc; see docs/testing.md). The foreign-arch fixture
  # of the aarch64 build is an x86_64 object, built by the host gcc.
  configure_build build/aarch64 \
    -DCMAKE_TOOLCHAIN_FILE="$toolchain" \
    -DCMAKE_BUILD_TYPE="$build_type" \
    -DHOTPATCH_WERROR=ON \
    -DHOTPATCH_REQUIRE_FOREIGN_CC=ON \
    -DHOTPATCH_FOREIGN_CC=gcc
  # qemu-user is slower and its timing is not a real CPU's; tests can relax.
  HOTPATCH_TEST_UNDER_QEMU=1 run_ctest build/aarch64
}

stage_sanitize() {
  configure_build build/asan \
    -DCMAKE_BUILD_TYPE=Debug \
    -DHOTPATCH_SANITIZE=address,undefined \
    -DHOTPATCH_REQUIRE_FOREIGN_CC=ON \
    -DHOTPATCH_FOREIGN_CC=aarch64-linux-gnu-gcc
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
    run_ctest build/asan
}

stage_install_native() {
  "$root/tests/install/check-install.sh" build/native
}

stage_install_cross() {
  "$root/tests/install/check-install.sh" build/aarch64 "$toolchain"
}

# ---- driver ----------------------------------------------------------------

if (($#)); then
  stages=("$@")
  for s in "${stages[@]}"; do
    if [[ " ${all_stages[*]} " != *" $s "* ]]; then
      echo "test.sh: unknown stage '$s' (stages: ${all_stages[*]})" >&2
      exit 2
    fi
  done
else
  stages=("${all_stages[@]}")
fi

if [[ "$(uname -m)" != x86_64 ]]; then
  echo "test.sh: warning: expects an x86_64 Debian 12 host, this is $(uname -m)" >&2
fi

summary=()
print_summary() {
  echo
  echo "==================== scripts/test.sh summary ===================="
  local line
  for line in "${summary[@]}"; do echo "$line"; done
  echo "================================================================="
}

t_all=$SECONDS
for i in "${!stages[@]}"; do
  s=${stages[$i]}
  echo
  echo "======== [$s] start ========"
  t0=$SECONDS
  # A subshell with errexit of its own: any failing command ends the stage.
  set +e
  (
    set -e
    "stage_${s//-/_}"
  )
  rc=$?
  set -e
  dt=$((SECONDS - t0))
  if ((rc != 0)); then
    summary+=("$(printf 'FAIL     %-15s %4ds  (exit %d)' "$s" "$dt" "$rc")")
    for s2 in "${stages[@]:$((i + 1))}"; do
      summary+=("$(printf 'NOT RUN  %-15s' "$s2")")
    done
    print_summary
    echo "test.sh: FAILED in stage '$s' after $((SECONDS - t_all))s" >&2
    exit 1
  fi
  summary+=("$(printf 'PASS     %-15s %4ds' "$s" "$dt")")
  echo "======== [$s] PASS (${dt}s) ========"
done
print_summary
echo "test.sh: all ${#stages[@]} stage(s) passed in $((SECONDS - t_all))s"
