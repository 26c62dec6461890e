/* SPDX-License-Identifier: MIT */
/*
 * The host architecture. Every HP_ARCH_* macro is listed here:
 *   HP_ARCH_NAME         "x86_64" | "aarch64"
 *   HP_ARCH_ELF_MACHINE  e_machine of objects this process can load
 * Each backend directory defines them in its machine.h.
 */
#ifndef HP_ARCH_H
#define HP_ARCH_H

#if defined(__x86_64__)
#include "x86_64/machine.h"
#elif defined(__aarch64__)
#include "aarch64/machine.h"
#else
#error "hotpatch supports x86_64 and aarch64 only"
#endif

#endif
