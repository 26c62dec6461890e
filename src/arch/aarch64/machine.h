/* SPDX-License-Identifier: MIT */
#ifndef HP_ARCH_AARCH64_MACHINE_H
#define HP_ARCH_AARCH64_MACHINE_H

#include <elf.h>

#define HP_ARCH_NAME "aarch64"
#define HP_ARCH_ELF_MACHINE EM_AARCH64

#endif
