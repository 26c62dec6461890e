/* SPDX-License-Identifier: MIT */
/*
 * aarch64 trampolines, one test per relocated instruction class: explicit
 * input words at FN (0x10000000), the exact trampoline at TR (0x10100000).
 * The expected words were assembled with GNU as at those addresses, and
 * the trampolines are disassembled again with capstone.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include "a64_util.h"
#include "hotpatch.h"

/* Analyse `in` (n words at FN) for `need`, check the flags, and compare
 * the trampoline at TR with `want`. */
static void relocates(const uint32_t *in, size_t n, uint32_t need,
                      uint32_t flags, const uint32_t *want, size_t nwant,
                      struct hp_site *s) {
  struct a64_fn f;
  a64_fn(&f, FN, in, n, 0);
  a64_analyse_ok(&f, need, s);
  assert_int_equal(s->flags, flags);
  a64_expect_tramp(s, TR, want, nwant);
}

/* Relocate at TR and disassemble the first n words. */
static void disasm_is(const struct hp_site *s, size_t n,
                      const char *const *want) {
  uint8_t buf[HP_TRAMP_MAX];
  size_t len;
  assert_int_equal(hp_isa_aarch64.relocate(s, TR, buf, sizeof buf, &len), 0);
  assert_true(4 * n <= len);
  a64_expect_disasm(buf, n, TR, want);
}

static void adrp_is_relocated(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xb0011a20, /* 10000000: adrp x0, 0x12345000 */
      0x9119e000, /* 10000004: add x0, x0, #0x678 */
      0xd65f03c0, /* 10000008: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000060, /* 10100004: ldr x0, 10100010 */
      0x17fbffff, /* 10100008: b 10000004 */
      0xd4200000, /* 1010000c: brk #0 (pool alignment) */
      0x12345000, /* 10100010: .quad 0x12345000 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  assert_int_equal(s.func, FN);
  assert_int_equal(s.addr, FN);
  assert_int_equal(s.len, 4);
  assert_int_equal(s.jump_off, 0);
  assert_int_equal(s.ninsn, 1);
  assert_memory_equal(s.orig, "\x20\x1a\x01\xb0", 4);
  static const char *const dis[] = {"hint #0x22", "ldr x0, #0x10100010",
                                    "b #0x10000004", "brk #0"};
  disasm_is(&s, 4, dis);
}

static void adrp_and_add_move_together_in_a_far_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xb0011a20, /* 10000000: adrp x0, 0x12345000 */
      0x9119e000, /* 10000004: add x0, x0, #0x678 */
      0xd65f03c0, /* 10000008: ret */
      0xd503201f, /* 1000000c: nop */
      0xd65f03c0, /* 10000010: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x580000a0, /* 10100004: ldr x0, 10100018 */
      0x9119e000, /* 10100008: add x0, x0, #0x678 */
      0xd65f03c0, /* 1010000c: ret */
      0xd503201f, /* 10100010: nop */
      0x17fbffff, /* 10100014: b 10000010 */
      0x12345000, /* 10100018: .quad 0x12345000 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 16, HP_SITE_FAR, want, NWORDS(want), &s);
  assert_int_equal(s.len, 16);
  assert_int_equal(s.ninsn, 4);
}

static void adr_is_relocated(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x10000403, /* 10000000: adr x3, 10000080 */
      0xd503201f, /* 10000004: nop */
      0xd65f03c0, /* 10000008: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000063, /* 10100004: ldr x3, 10100010 */
      0x17fbffff, /* 10100008: b 10000004 */
      0xd4200000, /* 1010000c: brk #0 */
      0x10000080, /* 10100010: .quad 0x10000080 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
}

static void ldr_x_literal_is_relocated(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x58000801, /* 10000000: ldr x1, 10000100 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000061, /* 10100004: ldr x1, 10100010 */
      0xf9400021, /* 10100008: ldr x1, [x1] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x10000100, /* 10100010: .quad 0x10000100 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "ldr x1, #0x10100010",
                                    "ldr x1, [x1]", "b #0x10000004"};
  disasm_is(&s, 4, dis);
}

static void ldr_w_literal_is_relocated(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x18000822, /* 10000000: ldr w2, 10000104 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000062, /* 10100004: ldr x2, 10100010 */
      0xb9400042, /* 10100008: ldr w2, [x2] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x10000104, /* 10100010: .quad 0x10000104 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "ldr x2, #0x10100010",
                                    "ldr w2, [x2]"};
  disasm_is(&s, 3, dis);
}

static void ldrsw_literal_is_relocated(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x98ff8005, /* 10000000: ldrsw x5, 0ffff000 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000065, /* 10100004: ldr x5, 10100010 */
      0xb98000a5, /* 10100008: ldrsw x5, [x5] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x0ffff000, /* 10100010: .quad 0x0ffff000 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "ldr x5, #0x10100010",
                                    "ldrsw x5, [x5]"};
  disasm_is(&s, 3, dis);
}

static void ldr_q_literal_goes_through_x17(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x9c001000, /* 10000000: ldr q0, 10000200 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000071, /* 10100004: ldr x17, 10100010 */
      0x3dc00220, /* 10100008: ldr q0, [x17] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x10000200, /* 10100010: .quad 0x10000200 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "ldr x17, #0x10100010",
                                    "ldr q0, [x17]"};
  disasm_is(&s, 3, dis);
}

static void ldr_s_literal_goes_through_x17(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x1c001021, /* 10000000: ldr s1, 10000204 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000071, /* 10100004: ldr x17, 10100010 */
      0xbd400221, /* 10100008: ldr s1, [x17] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x10000204, /* 10100010: .quad 0x10000204 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "ldr x17, #0x10100010",
                                    "ldr s1, [x17]"};
  disasm_is(&s, 3, dis);
}

static void ldr_d_literal_goes_through_x17(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x5c001042, /* 10000000: ldr d2, 10000208 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000071, /* 10100004: ldr x17, 10100010 */
      0xfd400222, /* 10100008: ldr d2, [x17] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x10000208, /* 10100010: .quad 0x10000208 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "ldr x17, #0x10100010",
                                    "ldr d2, [x17]"};
  disasm_is(&s, 3, dis);
}

static void ldr_q_literal_uses_x16_after_x17_is_written(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xaa0003f1, /* 10000000: mov x17, x0 */
      0x9c000fe1, /* 10000004: ldr q1, 10000200 */
      0x8b010000, /* 10000008: add x0, x0, x1 */
      0xd65f03c0, /* 1000000c: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0xaa0003f1, /* 10100004: mov x17, x0 */
      0x580000d0, /* 10100008: ldr x16, 10100020 */
      0x3dc00201, /* 1010000c: ldr q1, [x16] */
      0x8b010000, /* 10100010: add x0, x0, x1 */
      0xd65f03c0, /* 10100014: ret */
      0x17fbfffe, /* 10100018: b 10000010 */
      0xd4200000, /* 1010001c: brk #0 */
      0x10000200, /* 10100020: .quad 0x10000200 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 16, HP_SITE_FAR, want, NWORDS(want), &s);
}

static void refuses_ldr_q_literal_when_x16_and_x17_are_written(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xaa0003f1, /* 10000000: mov x17, x0 */
      0xaa0103f0, /* 10000004: mov x16, x1 */
      0x9c000fc1, /* 10000008: ldr q1, 10000200 */
      0xd65f03c0, /* 1000000c: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 16, &s);
  uint8_t buf[HP_TRAMP_MAX];
  size_t len;
  int rc = hp_isa_aarch64.relocate(&s, TR, buf, sizeof buf, &len);
  fprintf(stderr, "  %s: %s\n", hotpatch_err_name(rc), hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_ERELOC);
  assert_non_null(strstr(hotpatch_last_error(), "0x10000008"));
  assert_non_null(strstr(hotpatch_last_error(), "ldr q1"));
}

static void ldr_into_xzr_loads_through_x17(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x5800081f, /* 10000000: ldr xzr, 10000100 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x58000071, /* 10100004: ldr x17, 10100010 */
      0xf940023f, /* 10100008: ldr xzr, [x17] */
      0x17fbfffe, /* 1010000c: b 10000004 */
      0x10000100, /* 10100010: .quad 0x10000100 */
      0x00000000,
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
}

static void prfm_literal_becomes_a_nop(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd8001800, /* 10000000: prfm pldl1keep, 10000300 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0xd503201f, /* 10100004: nop */
      0x17fbffff, /* 10100008: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
}

static void b_is_relocated_near(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x14010000, /* 10000000: b 10040000 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x17fcffff, /* 10100004: b 10040000 */
      0x17fbffff, /* 10100008: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "b #0x10040000",
                                    "b #0x10000004"};
  disasm_is(&s, 3, dis);
}

static void b_out_of_range_of_the_trampoline_is_refused(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x14000000 | (0x4000000 / 4), /* 10000000: b 14000000 (+64 MiB) */
      0xd65f03c0,                   /* 10000004: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  /* The window keeps the target and the jump back in reach: 127 MiB
   * (1 MiB margin) below the target, above the jump back less the
   * largest trampoline, 16-aligned. */
  assert_int_equal(s.tramp_lo, FN + 0x4000000 - 0x7f00000);
  assert_int_equal(s.tramp_hi,
                   (FN + 4 + 0x7f00000 - HP_TRAMP_MAX) & ~UINT64_C(15));
  /* Both ends of the window work. */
  uint8_t buf[HP_TRAMP_MAX];
  size_t len;
  assert_int_equal(
      hp_isa_aarch64.relocate(&s, s.tramp_lo, buf, sizeof buf, &len), 0);
  uint64_t last = (s.tramp_hi - len + 1) & ~UINT64_C(15);
  assert_int_equal(hp_isa_aarch64.relocate(&s, last, buf, sizeof buf, &len), 0);
  /* 100 MiB below the function: the jump back reaches, the b does not. */
  uint64_t at = FN - (UINT64_C(100) << 20);
  int rc = hp_isa_aarch64.relocate(&s, at, buf, sizeof buf, &len);
  fprintf(stderr, "  %s: %s\n", hotpatch_err_name(rc), hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_ENONEAR);
  assert_non_null(strstr(hotpatch_last_error(), "0x14000000"));
  /* 200 MiB away the jump back is out of reach too. */
  assert_int_equal(hp_isa_aarch64.relocate(&s, FN + (UINT64_C(200) << 20), buf,
                                           sizeof buf, &len),
                   HOTPATCH_ENONEAR);
}

static void bl_is_relocated_and_reported(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x94000400, /* 10000000: bl 10001000 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x97fc03ff, /* 10100004: bl 10001000 */
      0x17fbffff, /* 10100008: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, HP_SITE_CALL, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "bl #0x10001000",
                                    "b #0x10000004"};
  disasm_is(&s, 3, dis);
}

/* BTI c stays at the entry; the BL after it moves, and its return
 * address is then in the trampoline. */
static void bl_after_bti_c_is_relocated_and_reported(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503245f, /* 10000000: bti c */
      0x940003ff, /* 10000004: bl 10001000 */
      0xd65f03c0, /* 10000008: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x97fc03ff, /* 10100004: bl 10001000 */
      0x17fc0000, /* 10100008: b 10000008 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, HP_SITE_BTI | HP_SITE_CALL, want, NWORDS(want),
            &s);
  assert_int_equal(s.addr, FN + 4);
  assert_int_equal(s.len, 4);
  assert_memory_equal(s.orig, "\xff\x03\x00\x94", 4);
  static const char *const dis[] = {"hint #0x22", "bl #0x10001000",
                                    "b #0x10000008"};
  disasm_is(&s, 3, dis);
}

static void b_ne_keeps_its_condition(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x54000101, /* 10000000: b.ne 10000020 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x54000041, /* 10100004: b.ne 1010000c */
      0x14000002, /* 10100008: b 10100010 */
      0x17fc0005, /* 1010000c: b 10000020 */
      0x17fbfffd, /* 10100010: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "b.ne #0x1010000c",
                                    "b #0x10100010", "b #0x10000020",
                                    "b #0x10000004"};
  disasm_is(&s, 5, dis);
}

static void cbz_keeps_its_register(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xb4000203, /* 10000000: cbz x3, 10000040 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0xb4000043, /* 10100004: cbz x3, 1010000c */
      0x14000002, /* 10100008: b 10100010 */
      0x17fc000d, /* 1010000c: b 10000040 */
      0x17fbfffd, /* 10100010: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "cbz x3, #0x1010000c",
                                    "b #0x10100010", "b #0x10000040"};
  disasm_is(&s, 4, dis);
}

static void cbnz_backwards_keeps_its_register(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x35fffe04, /* 10000000: cbnz w4, 0fffffc0 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x35000044, /* 10100004: cbnz w4, 1010000c */
      0x14000002, /* 10100008: b 10100010 */
      0x17fbffed, /* 1010000c: b 0fffffc0 */
      0x17fbfffd, /* 10100010: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "cbnz w4, #0x1010000c",
                                    "b #0x10100010", "b #0xfffffc0"};
  disasm_is(&s, 4, dis);
}

static void tbz_keeps_its_bit(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x361bffe0, /* 10000000: tbz w0, #3, 10007ffc */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0x36180040, /* 10100004: tbz w0, #3, 1010000c */
      0x14000002, /* 10100008: b 10100010 */
      0x17fc1ffc, /* 1010000c: b 10007ffc */
      0x17fbfffd, /* 10100010: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "tbz w0, #3, #0x1010000c",
                                    "b #0x10100010", "b #0x10007ffc"};
  disasm_is(&s, 4, dis);
}

static void tbnz_keeps_its_bit(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xb7fc0001, /* 10000000: tbnz x1, #63, 0fff8000 */
      0xd65f03c0, /* 10000004: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0xb7f80041, /* 10100004: tbnz x1, #63, 1010000c */
      0x14000002, /* 10100008: b 10100010 */
      0x17fbdffd, /* 1010000c: b 0fff8000 */
      0x17fbfffd, /* 10100010: b 10000004 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 4, 0, want, NWORDS(want), &s);
  static const char *const dis[] = {"hint #0x22", "tbnz x1, #0x3f, #0x1010000c",
                                    "b #0x10100010", "b #0xfff8000"};
  disasm_is(&s, 4, dis);
}

static void internal_branch_targets_the_moved_copy(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xb4000060, /* 10000000: cbz x0, 1000000c */
      0x91000400, /* 10000004: add x0, x0, #0x1 */
      0x91000800, /* 10000008: add x0, x0, #0x2 */
      0x91000c00, /* 1000000c: add x0, x0, #0x3 */
      0xd65f03c0, /* 10000010: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0xb4000040, /* 10100004: cbz x0, 1010000c */
      0x14000002, /* 10100008: b 10100010 */
      0x14000003, /* 1010000c: b 10100018 (the copy of 1000000c) */
      0x91000400, /* 10100010: add x0, x0, #0x1 */
      0x91000800, /* 10100014: add x0, x0, #0x2 */
      0x91000c00, /* 10100018: add x0, x0, #0x3 */
      0x17fbfffd, /* 1010001c: b 10000010 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 16, HP_SITE_FAR, want, NWORDS(want), &s);
}

static void internal_back_edge_to_the_entry_loops_in_the_copy(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xf1000421, /* 10000000: subs x1, x1, #0x1 */
      0x54ffffe1, /* 10000004: b.ne 10000000 */
      0xd503201f, /* 10000008: nop */
      0xd503201f, /* 1000000c: nop */
      0xd65f03c0, /* 10000010: ret */
  };
  static const uint32_t want[] = {
      0xd503245f, /* 10100000: bti c */
      0xf1000421, /* 10100004: subs x1, x1, #0x1 */
      0x54000041, /* 10100008: b.ne 10100010 */
      0x14000002, /* 1010000c: b 10100014 */
      0x17fffffd, /* 10100010: b 10100004 (the copy of 10000000) */
      0xd503201f, /* 10100014: nop */
      0xd503201f, /* 10100018: nop */
      0x17fbfffd, /* 1010001c: b 10000010 */
  };
  struct hp_site s;
  relocates(in, NWORDS(in), 16, HP_SITE_FAR, want, NWORDS(want), &s);
}

static void relocate_refuses_an_unallocated_literal_load(void **state) {
  (void)state;
  /* Load (literal) with V=1, opc=11: unallocated. Analysis refuses it
   * (capstone cannot decode it); relocate, handed such a site anyway,
   * refuses too rather than copy a PC-relative word. */
  struct hp_site s = {.func = FN, .addr = FN, .len = 4, .ninsn = 1};
  static const uint8_t word[] = {0x40, 0x00, 0x00, 0xdc}; /* dc000040 */
  memcpy(s.orig, word, 4);
  uint8_t buf[HP_TRAMP_MAX];
  size_t len;
  assert_int_equal(hp_isa_aarch64.relocate(&s, TR, buf, sizeof buf, &len),
                   HOTPATCH_ERELOC);
  assert_non_null(strstr(hotpatch_last_error(), "dc000040"));
}

static void relocate_refuses_a_misaligned_address(void **state) {
  (void)state;
  struct hp_site s = {.func = FN, .addr = FN, .len = 4, .ninsn = 1};
  uint8_t buf[HP_TRAMP_MAX];
  size_t len;
  assert_int_equal(hp_isa_aarch64.relocate(&s, TR + 2, buf, sizeof buf, &len),
                   HOTPATCH_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(adrp_is_relocated),
      cmocka_unit_test(adrp_and_add_move_together_in_a_far_site),
      cmocka_unit_test(adr_is_relocated),
      cmocka_unit_test(ldr_x_literal_is_relocated),
      cmocka_unit_test(ldr_w_literal_is_relocated),
      cmocka_unit_test(ldrsw_literal_is_relocated),
      cmocka_unit_test(ldr_q_literal_goes_through_x17),
      cmocka_unit_test(ldr_s_literal_goes_through_x17),
      cmocka_unit_test(ldr_d_literal_goes_through_x17),
      cmocka_unit_test(ldr_q_literal_uses_x16_after_x17_is_written),
      cmocka_unit_test(refuses_ldr_q_literal_when_x16_and_x17_are_written),
      cmocka_unit_test(ldr_into_xzr_loads_through_x17),
      cmocka_unit_test(prfm_literal_becomes_a_nop),
      cmocka_unit_test(b_is_relocated_near),
      cmocka_unit_test(b_out_of_range_of_the_trampoline_is_refused),
      cmocka_unit_test(bl_is_relocated_and_reported),
      cmocka_unit_test(bl_after_bti_c_is_relocated_and_reported),
      cmocka_unit_test(b_ne_keeps_its_condition),
      cmocka_unit_test(cbz_keeps_its_register),
      cmocka_unit_test(cbnz_backwards_keeps_its_register),
      cmocka_unit_test(tbz_keeps_its_bit),
      cmocka_unit_test(tbnz_keeps_its_bit),
      cmocka_unit_test(internal_branch_targets_the_moved_copy),
      cmocka_unit_test(internal_back_edge_to_the_entry_loops_in_the_copy),
      cmocka_unit_test(relocate_refuses_an_unallocated_literal_load),
      cmocka_unit_test(relocate_refuses_a_misaligned_address),
  };
  return cmocka_run_group_tests_name("isa_aarch64_relocate", tests, NULL, NULL);
}
