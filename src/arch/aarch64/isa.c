/* SPDX-License-Identifier: MIT */
/*
 * aarch64 instruction-set backend: entry jumps, stubs, disassembly for
 * messages, and the hp_isa table (analysis and trampolines are in
 * analyse.c and relocate.c).
 *
 * The far forms load the target into x16, the register PLT stubs and
 * veneers use: dead at a function's entry per AAPCS64, and a `BR x16` may
 * land on the BTI c of a guarded replacement.
 */
#include <capstone/capstone.h>
#include <elf.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "arch/aarch64/a64.h"
#include "errors.h"

int hp_a64_abs_entry;

/* ldr x16, .+8 ; br x16 ; .quad to */
static void far_jump(uint8_t *out, uint64_t to) {
  a64_put(out, A64_LDR_X16_PC8);
  a64_put(out + 4, A64_BR_X16);
  a64_put64(out + 8, to);
}

static int a64_entry(const struct hp_site *s, uint64_t to, uint8_t *out) {
  if (s->len > HP_SITE_MAX || (s->len & 3) || s->jump_off + 4 > s->len ||
      (to & 3))
    return hp_fail(HOTPATCH_EINVAL,
                   "aarch64: no entry for a %u-byte site at %#" PRIx64
                   " to %#" PRIx64,
                   s->len, s->addr, to);
  uint64_t j = s->addr + s->jump_off;
  uint8_t buf[HP_SITE_MAX];
  for (uint32_t o = 0; o < s->len; o += 4)
    a64_put(buf + o, A64_BRK0);
  /* PACIxSP was a landing pad for indirect callers: BTI c stays one. */
  if (s->flags & HP_SITE_PAC)
    a64_put(buf, A64_BTI_C);
  int far = (s->flags & HP_SITE_FAR) && s->jump_off + 16 <= s->len;
  if (a64_b_reaches(j, to) && !(far && hp_a64_abs_entry)) {
    a64_put(buf + s->jump_off, a64_b(j, to));
  } else if (far) {
    far_jump(buf + s->jump_off, to);
  } else {
    return hp_fail(HOTPATCH_ENONEAR,
                   "%#" PRIx64 " is out of B range (128 MiB) of the entry "
                   "jump at %#" PRIx64 "%s",
                   to, j,
                   (s->flags & HP_SITE_FAR) ? "" : " and the site is not far");
  }
  memcpy(out, buf, s->len);
  return 0;
}

static int a64_stub(uint64_t at, uint64_t to, uint8_t *out) {
  if ((at & 3) || (to & 3))
    return hp_fail(HOTPATCH_EINVAL,
                   "aarch64: no stub at %#" PRIx64 " to %#" PRIx64, at, to);
  far_jump(out, to);
  return 0;
}

/* Names capstone 4 lacks (it prints "hint #0x22" or fails). */
static const char *known_word(uint32_t w) {
  switch (w) {
  case A64_BTI:
    return "bti";
  case A64_BTI_C:
    return "bti c";
  case A64_BTI_J:
    return "bti j";
  case A64_BTI_JC:
    return "bti jc";
  case A64_PACIASP:
    return "paciasp";
  case A64_PACIBSP:
    return "pacibsp";
  case 0xd50323bfu:
    return "autiasp";
  case 0xd50323ffu:
    return "autibsp";
  case 0xd65f0bffu:
    return "retaa";
  case 0xd65f0fffu:
    return "retab";
  case 0:
    return "udf #0";
  }
  return NULL;
}

void hp_a64_describe(const uint8_t *bytes, size_t len, uint64_t addr, char *out,
                     size_t cap) {
  if (!cap)
    return;
  if (len < 4) {
    snprintf(out, cap, "(bad) %zu bytes", len);
    return;
  }
  uint32_t w = a64_get(bytes);
  const char *name = known_word(w);
  if (name) {
    snprintf(out, cap, "%s", name);
    return;
  }
  csh cs;
  cs_insn *insn = NULL;
  if (cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &cs) != CS_ERR_OK) {
    snprintf(out, cap, "(bad) %08" PRIx32, w);
    return;
  }
  if (cs_disasm(cs, bytes, 4, addr, 1, &insn) == 1) {
    snprintf(out, cap, "%s%s%s", insn->mnemonic, insn->op_str[0] ? " " : "",
             insn->op_str);
    cs_free(insn, 1);
  } else {
    snprintf(out, cap, "(bad) %08" PRIx32, w);
  }
  cs_close(&cs);
}

const struct hp_isa hp_isa_aarch64 = {
    .name = "aarch64",
    .elf_machine = EM_AARCH64,
    .near_jump_len = 4,
    .far_jump_len = 16,
    .stub_len = 16,
    .tramp_align = 16,
    .analyse = hp_a64_analyse,
    .relocate = hp_a64_relocate,
    .entry = a64_entry,
    .stub = a64_stub,
    .describe = hp_a64_describe,
};
