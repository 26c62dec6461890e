/* SPDX-License-Identifier: MIT */
/*
 * Host-only architecture operations (the pure instruction-set backends are
 * in isa.h). Implemented by src/arch/<host>/host.c; only the host's file is
 * compiled.
 */
#ifndef HP_ARCH_HOST_H
#define HP_ARCH_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#include "arch/isa.h"

/* The backend for the code of this process. */
const struct hp_isa *hp_isa_host(void);

/*
 * Make code written by this or another thread visible to the instruction
 * stream of the calling thread: CPUID on x86_64, ISB on aarch64.
 * Async-signal-safe; every parked thread calls it before it resumes.
 */
void hp_arch_serialise(void);

/*
 * After writing [addr, addr + len) through any mapping: make the bytes
 * visible to instruction fetch on every core (aarch64: DC CVAU, DSB ISH,
 * IC IVAU, DSB ISH, ISB honouring CTR_EL0 line sizes and IDC/DIC; nothing
 * on x86_64, whose caches are coherent). Other threads still need
 * hp_arch_serialise. Async-signal-safe.
 */
void hp_arch_flush_code(uintptr_t addr, size_t len);

/* Registers of an interrupted thread. lr is 0 on x86_64. AS-safe. */
uintptr_t hp_arch_ctx_pc(const ucontext_t *uc);
uintptr_t hp_arch_ctx_sp(const ucontext_t *uc);
uintptr_t hp_arch_ctx_lr(const ucontext_t *uc);

#endif
