/* SPDX-License-Identifier: MIT */
#ifndef HP_ARCH_X86_64_MACHINE_H
#define HP_ARCH_X86_64_MACHINE_H

#include <elf.h>

#define HP_ARCH_NAME "x86_64"
#define HP_ARCH_ELF_MACHINE EM_X86_64

#endif
