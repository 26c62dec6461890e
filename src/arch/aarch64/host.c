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
#include "arch/aarch64/cache.h"

const struct hp_isa *hp_isa_host(void) { return &hp_isa_aarch64; }

/*
 * ISB is the context synchronisation event that discards instructions this
 * core fetched before other cores' code writes became visible. Return from
 * a signal handler (ERET) is one too today, but an explicit ISB does not
 * depend on the kernel's SCTLR_EL1.EOS choice.
 */
void hp_arch_serialise(void) { __asm__ __volatile__("isb" ::: "memory"); }

/* CTR_EL0 is readable from EL0 on Linux (which traps and emulates it where
 * needed); cache.h decodes it. */
static uint64_t hp_ctr(void) {
  uint64_t ctr;
  __asm__ __volatile__("mrs %0, ctr_el0" : "=r"(ctr));
  return ctr;
}

/* Clean to PoU so that instruction fetch sees the stores, wait for that,
 * invalidate stale I lines, wait, discard what this core already fetched.
 * The bounds are a64_flush_plan's (tested on every host); these loops
 * only walk them. */
void hp_arch_flush_code(uintptr_t addr, size_t len) {
  if (!len)
    return;
  struct a64_flush f = a64_flush_plan(hp_ctr(), addr, len);
  for (uint64_t k = 0; k < f.d_lines; k++)
    __asm__ __volatile__("dc cvau, %0" ::"r"(f.d_start + k * f.dline)
                         : "memory");
  __asm__ __volatile__("dsb ish" ::: "memory");
  if (f.need_ic) {
    for (uint64_t k = 0; k < f.i_lines; k++)
      __asm__ __volatile__("ic ivau, %0" ::"r"(f.i_start + k * f.iline)
                           : "memory");
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
