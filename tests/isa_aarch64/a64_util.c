/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include <capstone/capstone.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "a64_util.h"
#include "hotpatch.h"

static void put_word(uint8_t *p, uint32_t w) {
  p[0] = (uint8_t)w;
  p[1] = (uint8_t)(w >> 8);
  p[2] = (uint8_t)(w >> 16);
  p[3] = (uint8_t)(w >> 24);
}

uint32_t a64_word_at(const uint8_t *bytes, size_t i) {
  const uint8_t *p = bytes + 4 * i;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

void a64_fn(struct a64_fn *f, uint64_t addr, const uint32_t *w, size_t n,
            size_t tail) {
  memset(f, 0, sizeof *f);
  assert_true(4 * (n + tail) <= sizeof f->bytes);
  for (size_t i = 0; i < n + tail; i++)
    put_word(f->bytes + 4 * i, w[i]);
  f->code.addr = addr;
  f->code.bytes = f->bytes;
  f->code.size = 4 * n;
  f->code.tail = 4 * tail;
}

void a64_fn_cold(struct a64_fn *f, uint64_t addr, const uint32_t *w, size_t n) {
  assert_true(4 * n <= sizeof f->cold);
  for (size_t i = 0; i < n; i++)
    put_word(f->cold + 4 * i, w[i]);
  f->code.cold_addr = addr;
  f->code.cold_bytes = f->cold;
  f->code.cold_size = 4 * n;
}

void a64_analyse_ok(const struct a64_fn *f, uint32_t need, struct hp_site *s) {
  int rc = hp_isa_aarch64.analyse(&f->code, need, s);
  if (rc)
    fprintf(stderr, "analyse: %s: %s\n", hotpatch_err_name(rc),
            hotpatch_last_error());
  assert_int_equal(rc, 0);
}

void a64_analyse_refused(const struct a64_fn *f, uint32_t need, int code) {
  struct hp_site s;
  int rc = hp_isa_aarch64.analyse(&f->code, need, &s);
  fprintf(stderr, "  refused as expected? %s: %s\n", hotpatch_err_name(rc),
          hotpatch_last_error());
  assert_int_equal(rc, code);
  assert_true(strlen(hotpatch_last_error()) > 0);
}

void a64_expect_tramp(const struct hp_site *s, uint64_t at,
                      const uint32_t *want, size_t n) {
  uint8_t buf[HP_TRAMP_MAX];
  memset(buf, 0xee, sizeof buf);
  size_t len = 0;
  int rc = hp_isa_aarch64.relocate(s, at, buf, sizeof buf, &len);
  if (rc)
    fprintf(stderr, "relocate: %s: %s\n", hotpatch_err_name(rc),
            hotpatch_last_error());
  assert_int_equal(rc, 0);
  int same = len == 4 * n;
  for (size_t i = 0; same && i < n; i++)
    same = a64_word_at(buf, i) == want[i];
  if (!same) {
    fprintf(stderr, "trampoline at %#" PRIx64 ": %zu bytes, want %zu\n", at,
            len, 4 * n);
    for (size_t i = 0; i < len / 4 || i < n; i++)
      fprintf(stderr, "  +%-3zu got %08" PRIx32 "  want %08" PRIx32 "\n", 4 * i,
              i < len / 4 ? a64_word_at(buf, i) : 0, i < n ? want[i] : 0);
  }
  assert_true(same);
  /* Deterministic: the same bytes again, and nothing beyond len. */
  uint8_t again[HP_TRAMP_MAX];
  memset(again, 0xee, sizeof again);
  size_t len2 = 0;
  assert_int_equal(hp_isa_aarch64.relocate(s, at, again, len, &len2), 0);
  assert_int_equal(len2, len);
  assert_memory_equal(again, buf, sizeof buf);
  /* One byte short of room is refused. */
  assert_int_equal(hp_isa_aarch64.relocate(s, at, again, len - 1, &len2),
                   HOTPATCH_ENOMEM);
}

void a64_expect_disasm(const uint8_t *bytes, size_t n, uint64_t at,
                       const char *const *want) {
  csh cs;
  assert_int_equal(cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &cs), CS_ERR_OK);
  for (size_t i = 0; i < n; i++) {
    cs_insn *insn = NULL;
    char got[256] = "(bad)";
    if (cs_disasm(cs, bytes + 4 * i, 4, at + 4 * i, 1, &insn) == 1) {
      snprintf(got, sizeof got, "%s%s%s", insn->mnemonic,
               insn->op_str[0] ? " " : "", insn->op_str);
      cs_free(insn, 1);
    }
    if (strcmp(got, want[i]))
      fprintf(stderr, "  %#" PRIx64 ": '%s', want '%s'\n", at + 4 * i, got,
              want[i]);
    assert_string_equal(got, want[i]);
  }
  cs_close(&cs);
}
