/* SPDX-License-Identifier: MIT */
/*
 * Host operations on aarch64.
 *
 * Cache maintenance follows Arm ARM B2.4.4 ("Concurrent modification and
 * execution of instructions") and libgcc's __aarch64_sync_cache_range, but
 * is ours: older libgcc copies skip the last line of an unaligned range.
 * qemu-user cannot show a mistake here (TCG invalidates translations on
 * any store to code), so this file is kept small enough to review by eye.
 */
#include "arch/host.h"

const struct hp_isa *hp_isa_host(void) { return &hp_isa_aarch64; }

/*
 * ISB is the context synchronisation event that discards instructions this
 * core fetched before other cores' code writes became visible. Return from
 * a signal handler (ERET) is one too today, but an explicit ISB does not
 * depend on the kernel's SCTLR_EL1.EOS choice.
 */
void hp_arch_serialise(void) { __asm__ __volatile__("isb" ::: "memory"); }

/* CTR_EL0 (readable from EL0 on Linux, which traps and emulates it where
 * needed): IminLine [3:0], DminLine [19:16] as log2 of words; IDC [28]: no
 * D-cache clean needed for coherence; DIC [29]: no I-cache invalidation. */
static uint64_t hp_ctr(void) {
  uint64_t ctr;
  __asm__ __volatile__("mrs %0, ctr_el0" : "=r"(ctr));
  return ctr;
}

void hp_arch_flush_code(uintptr_t addr, size_t len) {
  if (!len)
    return;
  uint64_t ctr = hp_ctr();
  uintptr_t end = addr + len;
  if (!(ctr & (1ull << 28))) {
    uintptr_t dline = 4u << ((ctr >> 16) & 0xf);
    /* Align down, or the last line of an unaligned range is missed. */
    for (uintptr_t p = addr & ~(dline - 1); p < end; p += dline)
      __asm__ __volatile__("dc cvau, %0" ::"r"(p) : "memory");
  }
  __asm__ __volatile__("dsb ish" ::: "memory");
  if (!(ctr & (1ull << 29))) {
    uintptr_t iline = 4u << (ctr & 0xf);
    for (uintptr_t p = addr & ~(iline - 1); p < end; p += iline)
      __asm__ __volatile__("ic ivau, %0" ::"r"(p) : "memory");
    __asm__ __volatile__("dsb ish" ::: "memory");
  }
  __asm__ __volatile__("isb" ::: "memory");
}

uintptr_t hp_arch_ctx_pc(const ucontext_t *uc) {
  return (uintptr_t)uc->uc_mcontext.pc;
}
uintptr_t hp_arch_ctx_sp(const ucontext_t *uc) {
  return (uintptr_t)uc->uc_mcontext.sp;
}
uintptr_t hp_arch_ctx_lr(const ucontext_t *uc) {
  return (uintptr_t)uc->uc_mcontext.regs[30];
}
