/* SPDX-License-Identifier: MIT */
/*
 * aarch64 entry jumps, stubs and disassembly for messages: exact words
 * (assembled with GNU as at the same addresses), decoded again with
 * capstone.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include "a64_util.h"
#include "hotpatch.h"

#define MIB (UINT64_C(1) << 20)

static struct hp_site near_site(void) {
  struct hp_site s = {.func = FN, .addr = FN, .len = 4, .ninsn = 1};
  return s;
}

static void entry_is_a_b_within_128_mib(void **state) {
  (void)state;
  struct hp_site s = near_site();
  uint8_t out[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, FN + MIB, out), 0);
  assert_int_equal(a64_word_at(out, 0), 0x14040000); /* b 10100000 */
  /* The ends of the range: -128 MiB and +128 MiB - 4. */
  assert_int_equal(hp_isa_aarch64.entry(&s, FN - 128 * MIB, out), 0);
  assert_int_equal(a64_word_at(out, 0), 0x16000000); /* b 08000000 */
  assert_int_equal(hp_isa_aarch64.entry(&s, FN + 128 * MIB - 4, out), 0);
  assert_int_equal(a64_word_at(out, 0), 0x15ffffff); /* b 17fffffc */
  static const char *const dis[] = {"b #0x17fffffc"};
  a64_expect_disasm(out, 1, FN, dis);
}

static void entry_out_of_range_of_a_near_site_is_refused(void **state) {
  (void)state;
  struct hp_site s = near_site();
  uint8_t out[HP_SITE_MAX];
  memset(out, 0xee, sizeof out);
  int rc = hp_isa_aarch64.entry(&s, FN + 128 * MIB, out);
  fprintf(stderr, "  %s: %s\n", hotpatch_err_name(rc), hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_ENONEAR);
  assert_int_equal(hp_isa_aarch64.entry(&s, FN - 128 * MIB - 4, out),
                   HOTPATCH_ENONEAR);
  assert_int_equal(out[0], 0xee); /* nothing written */
  /* A misaligned target is no instruction. */
  assert_int_equal(hp_isa_aarch64.entry(&s, FN + 2, out), HOTPATCH_EINVAL);
}

static void entry_after_a_kept_bti_jumps_from_plus_4(void **state) {
  (void)state;
  struct hp_site s = {
      .func = FN, .addr = FN + 4, .len = 4, .ninsn = 1, .flags = HP_SITE_BTI};
  uint8_t out[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, FN + MIB, out), 0);
  assert_int_equal(a64_word_at(out, 0), 0x1403ffff); /* 10000004: b 10100000 */
}

static void far_site_entry_is_ldr_br_and_the_address(void **state) {
  (void)state;
  struct hp_site s = {
      .func = FN, .addr = FN, .len = 16, .ninsn = 4, .flags = HP_SITE_FAR};
  uint8_t out[HP_SITE_MAX];
  uint64_t far = UINT64_C(0x7f0012345670);
  assert_int_equal(hp_isa_aarch64.entry(&s, far, out), 0);
  static const uint32_t want[] = {
      0x58000050, /* 10000000: ldr x16, 10000008 */
      0xd61f0200, /* 10000004: br x16 */
      0x12345670, /* 10000008: .quad 0x7f0012345670 */
      0x00007f00,
  };
  for (size_t i = 0; i < NWORDS(want); i++)
    assert_int_equal(a64_word_at(out, i), want[i]);
  static const char *const dis[] = {"ldr x16, #0x10000008", "br x16"};
  a64_expect_disasm(out, 2, FN, dis);
}

static void far_site_entry_uses_b_when_in_range(void **state) {
  (void)state;
  struct hp_site s = {
      .func = FN, .addr = FN, .len = 16, .ninsn = 4, .flags = HP_SITE_FAR};
  uint8_t out[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, FN + MIB, out), 0);
  static const uint32_t want[] = {
      0x14040000, /* 10000000: b 10100000 */
      0xd4200000, /* 10000004: brk #0 */
      0xd4200000,
      0xd4200000,
  };
  for (size_t i = 0; i < NWORDS(want); i++)
    assert_int_equal(a64_word_at(out, i), want[i]);
}

static void entry_fills_a_longer_site_with_brk(void **state) {
  (void)state;
  /* A NOP pad of 8 bytes analysed for a near jump still writes all of
   * s->len: the jump, then brk #0. */
  struct hp_site s = {.func = FN, .addr = FN, .len = 8, .ninsn = 2};
  uint8_t out[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, FN + MIB, out), 0);
  assert_int_equal(a64_word_at(out, 0), 0x14040000);
  assert_int_equal(a64_word_at(out, 1), 0xd4200000);
  static const char *const dis[] = {"b #0x10100000", "brk #0"};
  a64_expect_disasm(out, 2, FN, dis);
}

static void stub_is_ldr_br_and_the_address(void **state) {
  (void)state;
  uint8_t out[16];
  uint64_t at = UINT64_C(0x7f0000001000);
  assert_int_equal(hp_isa_aarch64.stub(at, FN, out), 0);
  static const uint32_t want[] = {
      0x58000050, /* 7f0000001000: ldr x16, 7f0000001008 */
      0xd61f0200, /* 7f0000001004: br x16 */
      0x10000000, /* 7f0000001008: .quad 0x10000000 */
      0x00000000,
  };
  for (size_t i = 0; i < NWORDS(want); i++)
    assert_int_equal(a64_word_at(out, i), want[i]);
  static const char *const dis[] = {"ldr x16, #0x7f0000001008", "br x16"};
  a64_expect_disasm(out, 2, at, dis);
  assert_int_equal(hp_isa_aarch64.stub_len, 16);
}

static void describe_names_instructions(void **state) {
  (void)state;
  char out[96];
  static const uint8_t adrp[] = {0x20, 0x1a, 0x01, 0xb0};
  hp_isa_aarch64.describe(adrp, 4, FN, out, sizeof out);
  assert_string_equal(out, "adrp x0, #0x12345000");
  static const uint8_t ret[] = {0xc0, 0x03, 0x5f, 0xd6};
  hp_isa_aarch64.describe(ret, 4, FN, out, sizeof out);
  assert_string_equal(out, "ret");
  static const uint8_t bti[] = {0x5f, 0x24, 0x03, 0xd5};
  hp_isa_aarch64.describe(bti, 4, FN, out, sizeof out);
  assert_string_equal(out, "bti c");
  static const uint8_t pac[] = {0x3f, 0x23, 0x03, 0xd5};
  hp_isa_aarch64.describe(pac, 4, FN, out, sizeof out);
  assert_string_equal(out, "paciasp");
  static const uint8_t bad[] = {0x40, 0x00, 0x00, 0xdc};
  hp_isa_aarch64.describe(bad, 4, FN, out, sizeof out);
  assert_string_equal(out, "(bad) dc000040");
  hp_isa_aarch64.describe(bad, 2, FN, out, sizeof out);
  assert_string_equal(out, "(bad) 2 bytes");
  char tiny[5];
  hp_isa_aarch64.describe(adrp, 4, FN, tiny, sizeof tiny);
  assert_string_equal(tiny, "adrp");
}

static void the_table_describes_aarch64(void **state) {
  (void)state;
  assert_string_equal(hp_isa_aarch64.name, "aarch64");
  assert_int_equal(hp_isa_aarch64.elf_machine, 183); /* EM_AARCH64 */
  assert_int_equal(hp_isa_aarch64.near_jump_len, 4);
  assert_int_equal(hp_isa_aarch64.far_jump_len, 16);
  assert_int_equal(hp_isa_aarch64.tramp_align, 16);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(entry_is_a_b_within_128_mib),
      cmocka_unit_test(entry_out_of_range_of_a_near_site_is_refused),
      cmocka_unit_test(entry_after_a_kept_bti_jumps_from_plus_4),
      cmocka_unit_test(far_site_entry_is_ldr_br_and_the_address),
      cmocka_unit_test(far_site_entry_uses_b_when_in_range),
      cmocka_unit_test(entry_fills_a_longer_site_with_brk),
      cmocka_unit_test(stub_is_ldr_br_and_the_address),
      cmocka_unit_test(describe_names_instructions),
      cmocka_unit_test(the_table_describes_aarch64),
  };
  return cmocka_run_group_tests_name("isa_aarch64_jumps", tests, NULL, NULL);
}
