# SPDX-License-Identifier: MIT
# Cross-build for aarch64 with Debian's cross gcc and multiarch arm64
# libraries (dpkg --add-architecture arm64). Tests run under qemu-aarch64
# with -L / : the multiarch arm64 libc in /lib/aarch64-linux-gnu. Pointing
# qemu at the cross toolchain's own libc (/usr/aarch64-linux-gnu) instead
# mixes two libcs and hangs at the first pthread_create.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
