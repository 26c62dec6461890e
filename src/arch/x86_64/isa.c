/* SPDX-License-Identifier: MIT */
/* x86_64 backend: the jumps it writes, messages, the backend table. */
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "arch/isa.h"
#include "arch/x86_64/x86.h"
#include "errors.h"

int hp_x86_open(csh *h) {
  if (cs_open(CS_ARCH_X86, CS_MODE_64, h) != CS_ERR_OK)
    return hp_fail(HOTPATCH_ENOMEM, "capstone: cannot open an x86_64 handle");
  if (cs_option(*h, CS_OPT_DETAIL, CS_OPT_ON) != CS_ERR_OK) {
    cs_close(h);
    return hp_fail(HOTPATCH_ENOMEM, "capstone: cannot enable details");
  }
  return 0;
}

void hp_x86_hex(const uint8_t *bytes, size_t len, char *out, size_t cap) {
  size_t o = 0;
  out[0] = '\0';
  for (size_t i = 0; i < len && i < 16 && o + 4 < cap; i++)
    o += (size_t)snprintf(out + o, cap - o, i ? " %02x" : "%02x", bytes[i]);
}

void hp_x86_text(const cs_insn *in, const uint8_t *bytes, size_t len, char *out,
                 size_t cap) {
  if (cap == 0)
    return;
  if (in) {
    snprintf(out, cap, "%s%s%s", in->mnemonic, in->op_str[0] ? " " : "",
             in->op_str);
    return;
  }
  char hex[64];
  hp_x86_hex(bytes, len < 8 ? len : 8, hex, sizeof hex);
  snprintf(out, cap, "(bad)%s%s", len ? " " : "", hex);
}

void hp_x86_describe(const uint8_t *bytes, size_t len, uint64_t addr, char *out,
                     size_t cap) {
  csh h;
  cs_insn *in = NULL;
  if (cap == 0)
    return;
  if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
    hp_x86_text(NULL, bytes, len, out, cap);
    return;
  }
  if (len && cs_disasm(h, bytes, len, addr, 1, &in) == 1) {
    hp_x86_text(in, bytes, len, out, cap);
    cs_free(in, 1);
  } else {
    hp_x86_text(NULL, bytes, len, out, cap);
  }
  cs_close(&h);
}

static int fits_rel32(uint64_t to, uint64_t from_end) {
  int64_t d = (int64_t)(to - from_end);
  return d >= INT32_MIN && d <= INT32_MAX;
}

/* jmp [rip+0]; the literal follows: no register, no push/ret. Tracked
 * (no notrack prefix, unlike the trampolines' jumps in relocate.c): the
 * entry jump and the stub go only to a replacement's entry, which starts
 * with endbr64 when it is built for IBT (-fcf-protection); a process
 * enforcing IBT has every object built so. */
static void put_abs_jmp(uint8_t *p, uint64_t to) {
  static const uint8_t jmp_rip[6] = {0xff, 0x25, 0, 0, 0, 0};
  memcpy(p, jmp_rip, sizeof jmp_rip);
  for (int i = 0; i < 8; i++)
    p[6 + i] = (uint8_t)(to >> (8 * i));
}

static int entry(const struct hp_site *s, uint64_t to, uint8_t *out) {
  if (!s || !out || s->len < 5 || s->len > HP_SITE_MAX)
    return hp_fail(HOTPATCH_EINVAL, "x86_64 entry: bad site");
  memset(out, 0xcc, s->len);
  if (fits_rel32(to, s->addr + 5)) {
    int32_t d = (int32_t)(int64_t)(to - (s->addr + 5));
    out[0] = 0xe9;
    for (int i = 0; i < 4; i++)
      out[1 + i] = (uint8_t)((uint32_t)d >> (8 * i));
    return 0;
  }
  if ((s->flags & HP_SITE_FAR) && s->len >= 14) {
    put_abs_jmp(out, to);
    return 0;
  }
  return hp_fail(HOTPATCH_ENONEAR,
                 "the entry jump at 0x%" PRIx64 " cannot reach 0x%" PRIx64
                 " (jmp rel32 reaches +-2 GiB) and the site (%" PRIu32
                 " bytes) was not analysed for the 14-byte absolute jump",
                 s->addr, to, s->len);
}

static int stub(uint64_t at, uint64_t to, uint8_t *out) {
  (void)at;
  if (!out)
    return hp_fail(HOTPATCH_EINVAL, "x86_64 stub: no buffer");
  put_abs_jmp(out, to);
  out[14] = 0xcc;
  out[15] = 0xcc;
  return 0;
}

const struct hp_isa hp_isa_x86_64 = {
    .name = "x86_64",
    .elf_machine = EM_X86_64,
    .near_jump_len = 5,
    .far_jump_len = 14,
    .stub_len = 16,
    .tramp_align = 16,
    .analyse = hp_x86_analyse,
    .relocate = hp_x86_relocate,
    .entry = entry,
    .stub = stub,
    .describe = hp_x86_describe,
};
