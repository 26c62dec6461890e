/* SPDX-License-Identifier: MIT */
/*
 * The cache lines hp_arch_flush_code cleans and invalidates
 * (a64_flush_plan, src/arch/aarch64/cache.h), on every host: CTR_EL0
 * line sizes, IDC and DIC, unaligned ranges. What this cannot show is that
 * DC CVAU / IC IVAU / DSB / ISB are the right instructions and work: under
 * qemu-user a missing one passes, so only real arm64 hardware proves that
 * (docs/testing.md).
 */
#include "hp_test.h"

#include <stdio.h>

#include "arch/aarch64/cache.h"

/* CTR_EL0 with DminLine and IminLine as log2 of words, and IDC/DIC. */
static uint64_t ctr(unsigned dlog, unsigned ilog, int idc, int dic) {
  return UINT64_C(0x80000000) /* RES1 */ | (uint64_t)dlog << 16 | ilog |
         (idc ? A64_CTR_IDC : 0) | (dic ? A64_CTR_DIC : 0);
}

static void sixty_four_byte_lines_cover_one_aligned_line(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 0, 0), 0x1000, 64);
  assert_int_equal(f.dline, 64);
  assert_int_equal(f.iline, 64);
  assert_true(f.need_dc && f.need_ic);
  assert_int_equal(f.d_start, 0x1000);
  assert_int_equal(f.d_lines, 1);
  assert_int_equal(f.i_start, 0x1000);
  assert_int_equal(f.i_lines, 1);
}

/* 16 bytes at 0x1038 touch the lines at 0x1000 and 0x1040. A loop from
 * 0x1038 in steps of 64 stops at 0x1078 >= 0x1048 and never reaches the
 * second line: the bug of older libgcc copies. */
static void unaligned_start_covers_the_last_line(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 0, 0), 0x1038, 16);
  assert_int_equal(f.d_start, 0x1000);
  assert_int_equal(f.d_lines, 2);
  assert_int_equal(f.i_start, 0x1000);
  assert_int_equal(f.i_lines, 2);
}

static void range_ending_on_a_boundary_takes_no_extra_line(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 0, 0), 0x1000, 0x80);
  assert_int_equal(f.d_lines, 2);
  f = a64_flush_plan(ctr(4, 4, 0, 0), 0x1000, 0x81);
  assert_int_equal(f.d_lines, 3);
  f = a64_flush_plan(ctr(4, 4, 0, 0), 0x103f, 1);
  assert_int_equal(f.d_start, 0x1000);
  assert_int_equal(f.d_lines, 1);
}

/* DminLine = IminLine = 0: one word per line, every word of the range. */
static void four_byte_lines_step_by_words(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(0, 0, 0, 0), 0x2004, 16);
  assert_int_equal(f.dline, 4);
  assert_int_equal(f.iline, 4);
  assert_int_equal(f.d_start, 0x2004);
  assert_int_equal(f.d_lines, 4);
  assert_int_equal(f.i_start, 0x2004);
  assert_int_equal(f.i_lines, 4);
  /* A site of 16 bytes at 0x2006 would touch 5 words. */
  f = a64_flush_plan(ctr(0, 0, 0, 0), 0x2006, 16);
  assert_int_equal(f.d_start, 0x2004);
  assert_int_equal(f.d_lines, 5);
}

/* The two caches' lines are decoded from their own fields. */
static void d_and_i_lines_are_sized_separately(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 3, 0, 0), 0x1010, 0x60);
  assert_int_equal(f.dline, 64);
  assert_int_equal(f.iline, 32);
  assert_int_equal(f.d_start, 0x1000);
  assert_int_equal(f.d_lines, 2); /* 0x1000, 0x1040 */
  assert_int_equal(f.i_start, 0x1000);
  assert_int_equal(f.i_lines, 4); /* 0x1000 .. 0x1060 */
}

static void idc_set_skips_the_d_cache_clean(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 1, 0), 0x1038, 16);
  assert_false(f.need_dc);
  assert_int_equal(f.d_lines, 0);
  assert_true(f.need_ic);
  assert_int_equal(f.i_lines, 2);
}

static void dic_set_skips_the_i_cache_invalidation(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 0, 1), 0x1038, 16);
  assert_true(f.need_dc);
  assert_int_equal(f.d_lines, 2);
  assert_false(f.need_ic);
  assert_int_equal(f.i_lines, 0);
  f = a64_flush_plan(ctr(4, 4, 1, 1), 0x1038, 16);
  assert_false(f.need_dc || f.need_ic);
  assert_int_equal(f.d_lines + f.i_lines, 0);
}

static void empty_range_touches_nothing(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 0, 0), 0x1038, 0);
  assert_int_equal(f.d_lines, 0);
  assert_int_equal(f.i_lines, 0);
}

/* The lines are exactly those holding a byte of the range: none missed,
 * none outside, for every line size CTR_EL0 can state up to 2 KiB and
 * every start and length in a few lines. */
static void lines_are_exactly_those_the_range_touches(void **state) {
  (void)state;
  for (unsigned lg = 0; lg <= 9; lg++) {
    uint64_t line = UINT64_C(4) << lg;
    for (uint64_t addr = 0x10000; addr < 0x10000 + 3 * line; addr += 4)
      for (uint64_t len = 1; len <= 3 * line; len += 3) {
        struct a64_flush f = a64_flush_plan(ctr(lg, lg, 0, 0), addr, len);
        uint64_t lo = f.d_start, hi = f.d_start + f.d_lines * line;
        if (lo % line || lo > addr || hi < addr + len || lo + line <= addr ||
            hi - line >= addr + len)
          fail_msg("line %llu, [%#llx, +%llu): lines [%#llx, %#llx)",
                   (unsigned long long)line, (unsigned long long)addr,
                   (unsigned long long)len, (unsigned long long)lo,
                   (unsigned long long)hi);
        assert_int_equal(f.i_start, f.d_start);
        assert_int_equal(f.i_lines, f.d_lines);
      }
  }
}

/* The range may end at the top of the address space without the count
 * wrapping. */
static void range_at_the_top_does_not_wrap(void **state) {
  (void)state;
  struct a64_flush f = a64_flush_plan(ctr(4, 4, 0, 0), UINT64_MAX - 15, 16);
  assert_int_equal(f.d_start, UINT64_MAX - 63);
  assert_int_equal(f.d_lines, 1);
}

#if defined(__aarch64__)
/* What this CPU (or qemu's model of one) reports, for the log. */
static void shows_this_cpus_plan(void **state) {
  (void)state;
  uint64_t v;
  __asm__ __volatile__("mrs %0, ctr_el0" : "=r"(v));
  struct a64_flush f = a64_flush_plan(v, 0x1038, 16);
  printf("CTR_EL0 %#llx: D lines %llu bytes%s, I lines %llu bytes%s\n",
         (unsigned long long)v, (unsigned long long)f.dline,
         f.need_dc ? "" : " (IDC: no clean)", (unsigned long long)f.iline,
         f.need_ic ? "" : " (DIC: no invalidation)");
  assert_true(f.dline >= 4 && f.iline >= 4);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(sixty_four_byte_lines_cover_one_aligned_line),
    cmocka_unit_test(unaligned_start_covers_the_last_line),
    cmocka_unit_test(range_ending_on_a_boundary_takes_no_extra_line),
    cmocka_unit_test(four_byte_lines_step_by_words),
    cmocka_unit_test(d_and_i_lines_are_sized_separately),
    cmocka_unit_test(idc_set_skips_the_d_cache_clean),
    cmocka_unit_test(dic_set_skips_the_i_cache_invalidation),
    cmocka_unit_test(empty_range_touches_nothing),
    cmocka_unit_test(lines_are_exactly_those_the_range_touches),
    cmocka_unit_test(range_at_the_top_does_not_wrap),
#if defined(__aarch64__)
    cmocka_unit_test(shows_this_cpus_plan),
#endif
  };
  return cmocka_run_group_tests_name("isa_aarch64_cache", tests, NULL, NULL);
}
