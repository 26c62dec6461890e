/* SPDX-License-Identifier: MIT */
/* Host operations on x86_64. */
#include <cpuid.h>

#include "arch/host.h"

const struct hp_isa *hp_isa_host(void) { return &hp_isa_x86_64; }

/*
 * CPUID is architecturally serialising: after it, this thread fetches the
 * bytes other cores wrote (Intel SDM vol. 3 §9.1.3, cross-modifying code).
 * Returning from a signal handler is not guaranteed to serialise (IRET
 * may, SYSRET does not), so parked threads run this before they resume.
 */
void hp_arch_serialise(void) {
  unsigned a = 0, b, c = 0, d;
  __cpuid(a, a, b, c, d);
  __asm__ __volatile__("" ::: "memory");
}

/* x86 instruction caches are coherent with stores: nothing to flush. */
void hp_arch_flush_code(uintptr_t addr, size_t len) {
  (void)addr;
  (void)len;
  __asm__ __volatile__("" ::: "memory");
}

uintptr_t hp_arch_ctx_pc(const ucontext_t *uc) {
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
}
uintptr_t hp_arch_ctx_sp(const ucontext_t *uc) {
  return (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
}
uintptr_t hp_arch_ctx_lr(const ucontext_t *uc) {
  (void)uc;
  return 0;
}
