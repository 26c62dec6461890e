#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# scripts/deps.sh -- install the Debian packages hotpatch needs, if missing.
#
# Idempotent and quick when everything is there: it asks dpkg first and only
# touches apt (dpkg --add-architecture arm64, apt-get update, apt-get install)
# when a package is missing. Runs as root (CI) or through sudo. Never prompts
# (apt runs non-interactively; sudo may ask for your password).
#
# Expects a Debian 12 (bookworm) x86_64 host: the cross side installs the
# aarch64 cross compiler, qemu-user and the arm64 multiarch -dev packages.
# On a non-amd64 Debian host only the native packages are installed.
#
# Environment:
#   HOTPATCH_DEPS_NATIVE_ONLY=1   skip the cross/qemu/arm64 packages
set -euo pipefail

native_pkgs=(
  cmake gcc g++ make pkg-config binutils
  libelf-dev libunwind-dev libcapstone-dev libcmocka-dev zlib1g-dev
)
cross_pkgs=(
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu binutils-aarch64-linux-gnu
  qemu-user
  libelf-dev:arm64 libunwind-dev:arm64 libcapstone-dev:arm64
  libcmocka-dev:arm64 zlib1g-dev:arm64
  # analysed by scripts/acceptance.sh (docs/acceptance.md)
  libssl3:arm64 libsqlite3-0:arm64
)

log() { printf 'deps: %s\n' "$*" >&2; }

if ! command -v dpkg-query >/dev/null 2>&1; then
  log "this script needs a Debian-based system (dpkg/apt); install by hand:"
  log "  ${native_pkgs[*]} ${cross_pkgs[*]}"
  exit 1
fi

host_arch=$(dpkg --print-architecture)
want=("${native_pkgs[@]}")
if [[ "${HOTPATCH_DEPS_NATIVE_ONLY:-0}" == 1 ]]; then
  :
elif [[ "$host_arch" == amd64 ]]; then
  want+=("${cross_pkgs[@]}")
else
  log "host architecture is '$host_arch', not amd64: installing native packages only"
  log "(the cross-aarch64 stage of scripts/test.sh expects an x86_64 host)"
fi

# A package counts as present only when dpkg says "installed" (not merely
# "config-files" after a removal, nor half-installed). An unqualified name
# means the host's architecture: once libelf-dev:arm64 is installed, a bare
# "libelf-dev" query would match both instances. Architecture-all packages
# have no ":amd64" instance, hence the fallback to the bare name.
status_of() {
  dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null || true
}
is_installed() {
  local p=$1 s
  if [[ "$p" == *:* ]]; then
    s=$(status_of "$p")
  else
    s=$(status_of "$p:$host_arch")
    [[ -n "$s" ]] || s=$(status_of "$p")
  fi
  [[ "$s" == installed ]]
}

missing=()
need_arm64=0
for p in "${want[@]}"; do
  if ! is_installed "$p"; then
    missing+=("$p")
    [[ "$p" == *:arm64 ]] && need_arm64=1
  fi
done

if ((${#missing[@]} == 0)); then
  log "all ${#want[@]} packages present"
  exit 0
fi
log "missing: ${missing[*]}"

if [[ $(id -u) -eq 0 ]]; then
  as_root=(env)
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo env)
else
  log "not root and no sudo: run as root, or install: ${missing[*]}"
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q --no-install-recommends
  -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold
  -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3)

if ((need_arm64)) && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "adding dpkg architecture arm64"
  "${as_root[@]}" dpkg --add-architecture arm64
fi

log "apt-get update"
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive \
  apt-get -q -o DPkg::Lock::Timeout=300 -o Acquire::Retries=3 update
log "apt-get install ${missing[*]}"
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive \
  apt-get install "${apt_opts[@]}" "${missing[@]}" </dev/null

still=()
for p in "${missing[@]}"; do is_installed "$p" || still+=("$p"); done
if ((${#still[@]})); then
  log "still missing after apt-get install: ${still[*]}"
  exit 1
fi
log "installed ${#missing[@]} package(s)"
