/* SPDX-License-Identifier: MIT */
/*
 * aarch64 site analysis: landing pads (BTI, PAC), NOP pads, padding after a
 * short function, and the refusals (too short, branches and references
 * into the patched bytes, undecodable words). Functions are explicit words
 * at FN (0x10000000); expected words were assembled with GNU as.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include "a64_util.h"
#include "hotpatch.h"

#define MIB (UINT64_C(1) << 20)

static const uint32_t bti_c = 0xd503245f;
static const uint32_t nop = 0xd503201f;
static const uint32_t ret = 0xd65f03c0;

static void site_is(const struct hp_site *s, uint64_t addr, uint32_t len,
                    uint32_t jump_off, uint32_t flags) {
  assert_int_equal(s->func, FN);
  assert_int_equal(s->addr, addr);
  assert_int_equal(s->len, len);
  assert_int_equal(s->jump_off, jump_off);
  assert_int_equal(s->ninsn, len / 4);
  assert_int_equal(s->flags, flags);
}

static void bti_c_entry_is_kept_and_the_site_follows_it(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503245f, /* 10000000: bti c */
      0x8b010000, /* 10000004: add x0, x0, x1 */
      0xd65f03c0, /* 10000008: ret */
  };
  static const uint32_t tramp[] = {
      0xd503245f, /* 10100000: bti c */
      0x8b010000, /* 10100004: add x0, x0, x1 */
      0x17fc0000, /* 10100008: b 10000008 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN + 4, 4, 0, HP_SITE_BTI);
  assert_memory_equal(s.orig, "\x00\x00\x01\x8b", 4);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
  /* The stub window is around the jump at +4. */
  assert_int_equal(s.stub_lo, FN + 4 - 127 * MIB + 12);
  assert_int_equal(s.stub_hi, FN + 4 + 127 * MIB - 16 - 4);
}

static void bti_jc_entry_is_kept_and_the_site_follows_it(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd50324df, /* 10000000: bti jc */
      0x8b010000, /* 10000004: add x0, x0, x1 */
      0xd65f03c0, /* 10000008: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN + 4, 4, 0, HP_SITE_BTI);
}

static void paciasp_entry_becomes_bti_c_and_moves(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503233f, /* 10000000: paciasp */
      0xa9bf7bfd, /* 10000004: stp x29, x30, [sp, #-16]! */
      0x910003fd, /* 10000008: mov x29, sp */
      0x8b010000, /* 1000000c: add x0, x0, x1 */
      0xa8c17bfd, /* 10000010: ldp x29, x30, [sp], #16 */
      0xd50323bf, /* 10000014: autiasp */
      0xd65f03c0, /* 10000018: ret */
  };
  static const uint32_t tramp[] = {
      0xd503233f, /* 10100000: paciasp (signs as the original would) */
      0xa9bf7bfd, /* 10100004: stp x29, x30, [sp, #-16]! */
      0x17fc0000, /* 10100008: b 10000008 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 8, 4, HP_SITE_PAC);
  assert_memory_equal(s.orig, "\x3f\x23\x03\xd5\xfd\x7b\xbf\xa9", 8);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
  /* The entry: bti c; b to. */
  uint8_t entry[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, TR, entry), 0);
  assert_int_equal(a64_word_at(entry, 0), 0xd503245f); /* bti c */
  assert_int_equal(a64_word_at(entry, 1), 0x1403ffff); /* b 10100000 */
  static const char *const dis[] = {"hint #0x22", "b #0x10100000"};
  a64_expect_disasm(entry, 2, FN, dis);
  assert_int_equal(s.stub_lo, FN + 4 - 127 * MIB + 12);
}

static void pacibsp_entry_becomes_bti_c_and_moves(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503237f, /* 10000000: pacibsp */
      0xa9bf7bfd, /* 10000004: stp x29, x30, [sp, #-16]! */
      0xa8c17bfd, /* 10000008: ldp x29, x30, [sp], #16 */
      0xd50323ff, /* 1000000c: autibsp */
      0xd65f03c0, /* 10000010: ret */
  };
  static const uint32_t tramp[] = {
      0xd503237f, /* 10100000: pacibsp */
      0xa9bf7bfd, /* 10100004: stp x29, x30, [sp, #-16]! */
      0x17fc0000, /* 10100008: b 10000008 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 8, 4, HP_SITE_PAC);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
  uint8_t entry[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, TR, entry), 0);
  assert_int_equal(a64_word_at(entry, 0), 0xd503245f);
}

static void paciasp_entry_with_a_far_jump(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503233f, /* 10000000: paciasp */
      0xa9bf7bfd, /* 10000004: stp x29, x30, [sp, #-16]! */
      0x910003fd, /* 10000008: mov x29, sp */
      0x8b010000, /* 1000000c: add x0, x0, x1 */
      0xa8c17bfd, /* 10000010: ldp x29, x30, [sp], #16 */
      0xd50323bf, /* 10000014: autiasp */
      0xd65f03c0, /* 10000018: ret */
  };
  static const uint32_t tramp[] = {
      0xd503233f, /* 10100000: paciasp */
      0xa9bf7bfd, /* 10100004: stp x29, x30, [sp, #-16]! */
      0x910003fd, /* 10100008: mov x29, sp */
      0x8b010000, /* 1010000c: add x0, x0, x1 */
      0xa8c17bfd, /* 10100010: ldp x29, x30, [sp], #16 */
      0x17fc0000, /* 10100014: b 10000014 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 16, &s);
  site_is(&s, FN, 20, 4, HP_SITE_PAC | HP_SITE_FAR);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
  uint8_t entry[HP_SITE_MAX];
  uint64_t far = UINT64_C(0x7f0012345670);
  assert_int_equal(hp_isa_aarch64.entry(&s, far, entry), 0);
  static const uint32_t want[] = {
      0xd503245f, /* 10000000: bti c */
      0x58000050, /* 10000004: ldr x16, 1000000c */
      0xd61f0200, /* 10000008: br x16 */
      0x12345670, /* 1000000c: .quad 0x7f0012345670 */
      0x00007f00,
  };
  for (size_t i = 0; i < NWORDS(want); i++)
    assert_int_equal(a64_word_at(entry, i), want[i]);
}

static void bti_c_then_paciasp_moves_only_the_paciasp(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503245f, /* 10000000: bti c */
      0xd503233f, /* 10000004: paciasp */
      0xa9bf7bfd, /* 10000008: stp x29, x30, [sp, #-16]! */
      0xa8c17bfd, /* 1000000c: ldp x29, x30, [sp], #16 */
      0xd50323bf, /* 10000010: autiasp */
      0xd65f03c0, /* 10000014: ret */
  };
  static const uint32_t tramp[] = {
      0xd503245f, /* 10100000: bti c */
      0xd503233f, /* 10100004: paciasp */
      0x17fc0000, /* 10100008: b 10000008 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN + 4, 4, 0, HP_SITE_BTI);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
}

static void nop_pad_is_the_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503201f, /* 10000000: nop */
      0xd503201f, /* 10000004: nop */
      0xd503201f, /* 10000008: nop */
      0xd503201f, /* 1000000c: nop */
      0x8b010000, /* 10000010: add x0, x0, x1 */
      0xd65f03c0, /* 10000014: ret */
  };
  static const uint32_t tramp[] = {
      0xd503245f, /* 10100000: bti c */
      0xd503201f, /* 10100004: nop */
      0xd503201f, /* 10100008: nop */
      0xd503201f, /* 1010000c: nop */
      0xd503201f, /* 10100010: nop */
      0x17fbffff, /* 10100014: b 10000010 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 4, 0, HP_SITE_NOP_PAD);
  a64_analyse_ok(&f, 16, &s);
  site_is(&s, FN, 16, 0, HP_SITE_NOP_PAD | HP_SITE_FAR);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
}

static void nop_pad_after_bti_c_is_the_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503245f, /* 10000000: bti c */
      0xd503201f, /* 10000004: nop */
      0xd503201f, /* 10000008: nop */
      0x8b010000, /* 1000000c: add x0, x0, x1 */
      0xd65f03c0, /* 10000010: ret */
  };
  static const uint32_t tramp[] = {
      0xd503245f, /* 10100000: bti c */
      0xd503201f, /* 10100004: nop */
      0x17fc0000, /* 10100008: b 10000008 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN + 4, 4, 0, HP_SITE_BTI | HP_SITE_NOP_PAD);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
}

static void short_function_extends_into_nop_padding(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd65f03c0, /* 10000000: ret (the whole function) */
      0xd503201f, /* 10000004: nop (padding) */
      0xd503201f, /* 10000008: nop */
      0xd503201f, /* 1000000c: nop */
  };
  static const uint32_t tramp[] = {
      0xd503245f, /* 10100000: bti c */
      0xd65f03c0, /* 10100004: ret */
      0xd503201f, /* 10100008: nop */
      0xd503201f, /* 1010000c: nop */
      0xd503201f, /* 10100010: nop */
      0x17fbffff, /* 10100014: b 10000010 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, 1, 3);
  struct hp_site s;
  a64_analyse_ok(&f, 16, &s);
  site_is(&s, FN, 16, 0, HP_SITE_PADDING | HP_SITE_FAR);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
  /* The near jump fits in the function itself. */
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 4, 0, 0);
}

static void short_function_extends_into_zero_padding(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd65f03c0, /* 10000000: ret */
      0x00000000, /* 10000004: udf #0 (linker padding) */
      0x00000000,
      0x00000000,
  };
  static const uint32_t tramp[] = {
      0xd503245f, /* 10100000: bti c */
      0xd65f03c0, /* 10100004: ret */
      0x00000000, /* 10100008: udf #0, copied: never reached */
      0x00000000, 0x00000000, 0x17fbffff, /* 10100014: b 10000010 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, 1, 3);
  struct hp_site s;
  a64_analyse_ok(&f, 16, &s);
  site_is(&s, FN, 16, 0, HP_SITE_PADDING | HP_SITE_FAR);
  a64_expect_tramp(&s, TR, tramp, NWORDS(tramp));
}

static void short_function_without_padding_is_too_short(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd65f03c0, /* 10000000: ret */
      0xd503201f, /* 10000004: nop */
      0xd503201f, /* 10000008: nop */
      0xaa0103e0, /* 1000000c: mov x0, x1 (not padding) */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, 1, 0); /* the next symbol follows at once */
  a64_analyse_refused(&f, 16, HOTPATCH_ETOOSHORT);
  a64_fn(&f, FN, in, 1, 2); /* not enough padding */
  a64_analyse_refused(&f, 16, HOTPATCH_ETOOSHORT);
  a64_fn(&f, FN, in, 1, 3); /* a word that is not padding */
  a64_analyse_refused(&f, 16, HOTPATCH_ETOOSHORT);
  assert_non_null(strstr(hotpatch_last_error(), "aa0103e0"));
}

static void bti_c_alone_is_too_short(void **state) {
  (void)state;
  struct a64_fn f;
  a64_fn(&f, FN, &bti_c, 1, 0);
  a64_analyse_refused(&f, 4, HOTPATCH_ETOOSHORT);
  static const uint32_t in[] = {0xd503245f, 0xd65f03c0}; /* bti c; ret */
  a64_fn(&f, FN, in, 2, 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  a64_analyse_refused(&f, 16, HOTPATCH_ETOOSHORT);
}

static void refuses_a_back_edge_into_the_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd2800002, /* 10000000: mov x2, #0x0 */
      0x8b000042, /* 10000004: add x2, x2, x0 */
      0x91000442, /* 10000008: add x2, x2, #0x1 */
      0xd1000421, /* 1000000c: sub x1, x1, #0x1 */
      0xb5ffffa1, /* 10000010: cbnz x1, 10000004 */
      0xaa0203e0, /* 10000014: mov x0, x2 */
      0xd65f03c0, /* 10000018: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  a64_analyse_refused(&f, 16, HOTPATCH_EBRANCHIN);
  assert_non_null(strstr(hotpatch_last_error(), "0x10000010"));
  assert_non_null(strstr(hotpatch_last_error(), "cbnz x1"));
  assert_non_null(strstr(hotpatch_last_error(), "0x10000004"));
  /* A 4-byte site ends where the back edge lands: fine. */
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 4, 0, 0);
}

static void refuses_a_cold_part_branching_into_the_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xaa0103e0, /* 10000000: mov x0, x1 */
      0x91000400, /* 10000004: add x0, x0, #0x1 */
      0x91000800, /* 10000008: add x0, x0, #0x2 */
      0x91000c00, /* 1000000c: add x0, x0, #0x3 */
      0xd65f03c0, /* 10000010: ret */
  };
  static const uint32_t cold[] = {
      0x17ffc002, /* 10010000: b 10000008 */
      0x54f7ffe0, /* 10010004: b.eq 10000000 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  a64_fn_cold(&f, FN + 0x10000, cold, 2);
  a64_analyse_refused(&f, 16, HOTPATCH_EBRANCHIN);
  assert_non_null(strstr(hotpatch_last_error(), "0x10010000"));
  /* Only the branch to the entry: accepted, and reported. */
  a64_fn_cold(&f, FN + 0x10000 + 4, cold + 1, 1);
  struct hp_site s;
  a64_analyse_ok(&f, 16, &s);
  site_is(&s, FN, 16, 0, HP_SITE_FAR | HP_SITE_ENTRY_LOOP);
}

static void branch_to_the_entry_is_reported_as_a_loop(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xf1000421, /* 10000000: subs x1, x1, #0x1 */
      0xd503201f, /* 10000004: nop */
      0xd503201f, /* 10000008: nop */
      0xd503201f, /* 1000000c: nop */
      0x54ffff81, /* 10000010: b.ne 10000000 */
      0xd65f03c0, /* 10000014: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 4, 0, HP_SITE_ENTRY_LOOP);
  a64_analyse_ok(&f, 16, &s);
  site_is(&s, FN, 16, 0, HP_SITE_FAR | HP_SITE_ENTRY_LOOP);
}

static void branch_past_a_kept_bti_is_reported_as_a_loop(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503245f, /* 10000000: bti c */
      0xf1000421, /* 10000004: subs x1, x1, #0x1 */
      0x54ffffe1, /* 10000008: b.ne 10000004 (the site itself) */
      0xd65f03c0, /* 1000000c: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN + 4, 4, 0, HP_SITE_BTI | HP_SITE_ENTRY_LOOP);
}

static void no_loop_without_a_branch_to_the_entry(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xd503245f, /* 10000000: bti c */
      0xf1000421, /* 10000004: subs x1, x1, #0x1 */
      0xd503201f, /* 10000008: nop */
      0xd65f03c0, /* 1000000c: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN + 4, 4, 0, HP_SITE_BTI);
}

static void refuses_an_adr_into_the_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xaa0103e0, /* 10000000: mov x0, x1 */
      0x91000400, /* 10000004: add x0, x0, #0x1 */
      0x91000800, /* 10000008: add x0, x0, #0x2 */
      0x91000c00, /* 1000000c: add x0, x0, #0x3 */
      0x10ffffc1, /* 10000010: adr x1, 10000008 */
      0xd65f03c0, /* 10000014: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  a64_analyse_refused(&f, 16, HOTPATCH_EBRANCHIN);
  assert_non_null(strstr(hotpatch_last_error(), "adr x1"));
  /* The same computed address from a moved ADR would not follow. */
  static const uint32_t moved[] = {
      0x10000040, /* 10000000: adr x0, 10000008 */
      0xd503201f, 0xd503201f, 0xd503201f, 0xd65f03c0, /* 10000010: ret */
  };
  a64_fn(&f, FN, moved, NWORDS(moved), 0);
  a64_analyse_refused(&f, 16, HOTPATCH_EBRANCHIN);
}

static void refuses_a_literal_load_from_the_site(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0xaa0103e0, /* 10000000: mov x0, x1 */
      0x91000400, /* 10000004: add x0, x0, #0x1 */
      0x58ffffa0, /* 10000008: ldr x0, 0ffffffc (8 bytes: into the entry) */
      0xd65f03c0, /* 1000000c: ret */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  a64_analyse_refused(&f, 4, HOTPATCH_EBRANCHIN);
  assert_non_null(strstr(hotpatch_last_error(), "0x10000008"));
}

static void refuses_an_undecodable_word_to_move(void **state) {
  (void)state;
  /* Load (literal) with V=1, opc=11 is unallocated: a PC-relative form
   * nobody can relocate, and capstone cannot decode it. */
  static const uint32_t in[] = {0xdc000040, 0xd65f03c0};
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  a64_analyse_refused(&f, 4, HOTPATCH_EDECODE);
  assert_non_null(strstr(hotpatch_last_error(), "dc000040"));
  /* A zero word inside the function is not padding. */
  static const uint32_t zero[] = {0x00000000, 0xd65f03c0};
  a64_fn(&f, FN, zero, NWORDS(zero), 0);
  a64_analyse_refused(&f, 4, HOTPATCH_EDECODE);
}

static void undecodable_words_elsewhere_are_skipped(void **state) {
  (void)state;
  static const uint32_t in[] = {
      0x8b010000, /* 10000000: add x0, x0, x1 */
      0xd65f03c0, /* 10000004: ret */
      0xdc000040, /* 10000008: (unallocated) */
      0x00000000, /* 1000000c: udf #0 */
  };
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  site_is(&s, FN, 4, 0, 0);
}

static void windows_keep_the_jump_back_and_the_stub_in_reach(void **state) {
  (void)state;
  static const uint32_t in[] = {0x8b010000, ret};
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  struct hp_site s;
  a64_analyse_ok(&f, 4, &s);
  /* Jump back to FN + 4: 127 MiB either way, less the largest trampoline
   * at the top, 16-aligned. */
  assert_int_equal(s.tramp_lo, FN + 4 - 127 * MIB + 12);
  assert_int_equal(s.tramp_hi,
                   (FN + 4 + 127 * MIB - HP_TRAMP_MAX) & ~UINT64_C(15));
  assert_int_equal(s.stub_lo, FN - 127 * MIB);
  assert_int_equal(s.stub_hi, FN + 127 * MIB - 16);
  /* Near the bottom of the address space the window starts at 0. */
  a64_fn(&f, 0x10000, in, NWORDS(in), 0);
  a64_analyse_ok(&f, 4, &s);
  assert_int_equal(s.tramp_lo, 0);
  assert_int_equal(s.stub_lo, 0);
  /* The far site keeps the window: its jump back is a B too. */
  a64_fn(&f, FN, (const uint32_t[]){nop, nop, nop, nop, ret}, 5, 0);
  a64_analyse_ok(&f, 16, &s);
  assert_int_equal(s.tramp_lo, FN + 16 - 127 * MIB);
  assert_int_equal(s.tramp_hi, FN + 16 + 127 * MIB - HP_TRAMP_MAX);
}

static void refuses_a_jump_length_it_has_no_form_for(void **state) {
  (void)state;
  static const uint32_t in[] = {nop, nop, nop, ret};
  struct a64_fn f;
  a64_fn(&f, FN, in, NWORDS(in), 0);
  a64_analyse_refused(&f, 8, HOTPATCH_EINVAL);
  a64_fn(&f, FN + 2, in, NWORDS(in), 0);
  a64_analyse_refused(&f, 4, HOTPATCH_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bti_c_entry_is_kept_and_the_site_follows_it),
      cmocka_unit_test(bti_jc_entry_is_kept_and_the_site_follows_it),
      cmocka_unit_test(paciasp_entry_becomes_bti_c_and_moves),
      cmocka_unit_test(pacibsp_entry_becomes_bti_c_and_moves),
      cmocka_unit_test(paciasp_entry_with_a_far_jump),
      cmocka_unit_test(bti_c_then_paciasp_moves_only_the_paciasp),
      cmocka_unit_test(nop_pad_is_the_site),
      cmocka_unit_test(nop_pad_after_bti_c_is_the_site),
      cmocka_unit_test(short_function_extends_into_nop_padding),
      cmocka_unit_test(short_function_extends_into_zero_padding),
      cmocka_unit_test(short_function_without_padding_is_too_short),
      cmocka_unit_test(bti_c_alone_is_too_short),
      cmocka_unit_test(refuses_a_back_edge_into_the_site),
      cmocka_unit_test(refuses_a_cold_part_branching_into_the_site),
      cmocka_unit_test(branch_to_the_entry_is_reported_as_a_loop),
      cmocka_unit_test(branch_past_a_kept_bti_is_reported_as_a_loop),
      cmocka_unit_test(no_loop_without_a_branch_to_the_entry),
      cmocka_unit_test(refuses_an_adr_into_the_site),
      cmocka_unit_test(refuses_a_literal_load_from_the_site),
      cmocka_unit_test(refuses_an_undecodable_word_to_move),
      cmocka_unit_test(undecodable_words_elsewhere_are_skipped),
      cmocka_unit_test(windows_keep_the_jump_back_and_the_stub_in_reach),
      cmocka_unit_test(refuses_a_jump_length_it_has_no_form_for),
  };
  return cmocka_run_group_tests_name("isa_aarch64_analyse", tests, NULL, NULL);
}
