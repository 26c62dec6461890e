/* SPDX-License-Identifier: MIT */
/*
 * The lines hp_arch_flush_code (host.c) cleans and invalidates for a
 * range, as a pure function of CTR_EL0 and the range: the asm loops in
 * host.c only walk what this returns, so the arithmetic (alignment, the
 * last line of an unaligned range, IDC/DIC) is unit-tested on any host
 * (tests/isa_aarch64/test_cache.c). Only real arm64 hardware proves the
 * instructions themselves: qemu-user retranslates written code on its own.
 *
 * CTR_EL0 (Arm ARM D23.2, "CTR_EL0, Cache Type Register"):
 *   IminLine [3:0]    log2 of the smallest I-cache line, in 4-byte words
 *   DminLine [19:16]  log2 of the smallest D-cache line, in words
 *   IDC [28]          no D-cache clean to PoU needed for I/D coherence
 *   DIC [29]          no I-cache invalidation to PoU needed
 * The smallest line is the safe stride: every line of a cache with larger
 * lines still gets at least one operation.
 */
#ifndef HP_ARCH_AARCH64_CACHE_H
#define HP_ARCH_AARCH64_CACHE_H

#include <stdint.h>

#define A64_CTR_IDC (UINT64_C(1) << 28)
#define A64_CTR_DIC (UINT64_C(1) << 29)

/* DC CVAU at d_start + k * dline for k < d_lines, then DSB ISH; IC IVAU
 * likewise over the I lines, then DSB ISH; then ISB. Counts rather than
 * end addresses: the end of the last line may wrap, the count cannot. */
struct a64_flush {
  uint64_t dline, iline; /* bytes */
  uint64_t d_start, d_lines;
  uint64_t i_start, i_lines;
  int need_dc; /* IDC clear: clean the D lines */
  int need_ic; /* DIC clear: invalidate the I lines (and the DSB after) */
};

/* The lines of `line` bytes (a power of two) that [addr, addr + len)
 * touches; len > 0 and addr + len - 1 must not wrap. Starting at addr
 * itself would skip the last line of an unaligned range (as older
 * libgcc __aarch64_sync_cache_range copies do). */
static inline void a64_lines(uint64_t line, uint64_t addr, uint64_t len,
                             uint64_t *start, uint64_t *n) {
  uint64_t first = addr & ~(line - 1);
  uint64_t last = (addr + len - 1) & ~(line - 1);
  *start = first;
  *n = (last - first) / line + 1;
}

static inline struct a64_flush a64_flush_plan(uint64_t ctr, uint64_t addr,
                                              uint64_t len) {
  struct a64_flush f = {.dline = UINT64_C(4) << ((ctr >> 16) & 0xf),
                        .iline = UINT64_C(4) << (ctr & 0xf),
                        .need_dc = !(ctr & A64_CTR_IDC),
                        .need_ic = !(ctr & A64_CTR_DIC)};
  if (!len)
    return f;
  if (f.need_dc)
    a64_lines(f.dline, addr, len, &f.d_start, &f.d_lines);
  if (f.need_ic)
    a64_lines(f.iline, addr, len, &f.i_start, &f.i_lines);
  return f;
}

#endif
