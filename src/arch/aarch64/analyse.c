/* SPDX-License-Identifier: MIT */
/*
 * aarch64 site analysis: which words to overwrite at a function's entry,
 * whether they can move, and where the trampoline and stub may live.
 *
 * Landing pads stay where indirect callers expect them: BTI c/j/jc is kept
 * and the site starts after it; PACIxSP becomes BTI c (both are hint-space
 * and PACIxSP is itself a landing pad) with the jump after it, and moves
 * to the trampoline's head, where SP and LR are still the caller's, so it
 * signs LR as the original would and the original's AUTIxSP matches.
 */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <string.h>

#include "arch/aarch64/a64.h"
#include "errors.h"

/* B reaches 128 MiB; 1 MiB is kept for the trampoline's own length. */
#define A64_REACH (UINT64_C(127) << 20)

struct scan {
  const struct hp_code *c;
  struct hp_site *s;
  uint64_t tramp_lo, tramp_hi;
};

static int is_kept_bti(uint32_t w) {
  return w == A64_BTI_C || w == A64_BTI_J || w == A64_BTI_JC;
}

static int is_pacisp(uint32_t w) {
  return w == A64_PACIASP || w == A64_PACIBSP;
}

/* What linkers pad code with: NOPs, or zero words (udf #0). */
static int is_padding(uint32_t w) { return w == A64_NOP || w == 0; }

static void describe_at(const uint8_t *p, uint64_t pc, char *out, size_t cap) {
  hp_a64_describe(p, 4, pc, out, cap);
}

/* Narrow [lo, hi] so that every byte of a block of `span` bytes placed in
 * it is within B range of `t` (and `t` of it). */
static void narrow(uint64_t *lo, uint64_t *hi, uint64_t t, uint64_t span) {
  uint64_t l = t > A64_REACH ? t - A64_REACH : 0;
  uint64_t h = t + A64_REACH - span;
  if (l > *lo)
    *lo = l;
  if (h < *hi)
    *hi = h;
}

/* Does [t, t + size) overlap the bytes the entry overwrites? */
static int reads_site(const struct hp_site *s, uint64_t t, unsigned size) {
  return t < s->addr + s->len && t + size > s->addr;
}

/* A reference from `pc` (outside the moved bytes unless `moved`) that the
 * patch would break, or that re-enters the replacement. */
static int check_reference(struct scan *sc, const uint8_t *p, uint64_t pc,
                           int moved) {
  struct hp_site *s = sc->s;
  struct a64_insn d = a64_decode(a64_get(p), pc);
  char dis[96];
  if (d.kind == A64_LDR_LIT && reads_site(s, d.target, d.size)) {
    describe_at(p, pc, dis, sizeof dis);
    return hp_fail(HOTPATCH_EBRANCHIN,
                   "%#" PRIx64 ": '%s' loads %u bytes at %#" PRIx64
                   ", overlapping the patched bytes [%#" PRIx64 ", %#" PRIx64
                   ")",
                   pc, dis, d.size, d.target, s->addr, s->addr + s->len);
  }
  /* A moved branch stays inside the trampoline; an ADR's address does
   * not follow the move. */
  if (!(a64_is_branch(d.kind) && !moved) && d.kind != A64_ADR)
    return 0;
  if (d.target > s->addr && d.target < s->addr + s->len) {
    describe_at(p, pc, dis, sizeof dis);
    return hp_fail(HOTPATCH_EBRANCHIN,
                   "%#" PRIx64 ": '%s' targets %#" PRIx64
                   ", inside the patched bytes [%#" PRIx64 ", %#" PRIx64 ")",
                   pc, dis, d.target, s->addr, s->addr + s->len);
  }
  if (d.target == s->func || d.target == s->addr)
    s->flags |= HP_SITE_ENTRY_LOOP;
  return 0;
}

/* Every word of a function or its cold part, moved ones excepted. The
 * words are classified by encoding alone: a word of data that happens to
 * look like a branch into the site is refused too, which errs safe. */
static int scan_branches(struct scan *sc, const uint8_t *bytes, uint64_t base,
                         size_t size) {
  const struct hp_site *s = sc->s;
  for (size_t o = 0; o + 4 <= size; o += 4) {
    uint64_t pc = base + o;
    if (pc >= s->addr && pc < s->addr + s->len)
      continue;
    int rc = check_reference(sc, bytes + o, pc, 0);
    if (rc)
      return rc;
  }
  return 0;
}

/* Does capstone see a PC-relative operand in `insn`? A cross-check on the
 * classification by encoding: what it flags and we do not know is refused
 * rather than copied. */
static int cs_pc_relative(const cs_insn *insn) {
  const cs_detail *d = insn->detail;
  for (int i = 0; i < d->groups_count; i++)
    if (d->groups[i] == ARM64_GRP_BRANCH_RELATIVE)
      return 1;
  if (insn->id == ARM64_INS_ADR || insn->id == ARM64_INS_ADRP)
    return 1;
  if (insn->id != ARM64_INS_LDR && insn->id != ARM64_INS_LDRSW &&
      insn->id != ARM64_INS_PRFM)
    return 0;
  /* A literal load shows its address as an immediate, no memory operand. */
  int imm = 0;
  for (int i = 0; i < d->arm64.op_count; i++) {
    if (d->arm64.operands[i].type == ARM64_OP_MEM)
      return 0;
    imm |= d->arm64.operands[i].type == ARM64_OP_IMM;
  }
  return imm;
}

/* Decode and classify one moved instruction. */
static int check_moved(struct scan *sc, csh cs, uint32_t off) {
  struct hp_site *s = sc->s;
  const uint8_t *p = s->orig + off;
  uint64_t pc = s->addr + off;
  char dis[96];
  cs_insn *insn = NULL;
  if (cs_disasm(cs, p, 4, pc, 1, &insn) != 1)
    return hp_fail(HOTPATCH_EDECODE,
                   "%#" PRIx64 ": word %08" PRIx32
                   " in the bytes to move cannot be decoded",
                   pc, a64_get(p));
  int cs_pcrel = cs_pc_relative(insn);
  cs_free(insn, 1);
  struct a64_insn d = a64_decode(a64_get(p), pc);
  if (d.kind == A64_LIT_BAD || (d.kind == A64_OTHER && cs_pcrel)) {
    describe_at(p, pc, dis, sizeof dis);
    return hp_fail(HOTPATCH_ERELOC,
                   "%#" PRIx64 ": '%s' is PC-relative in a form that cannot "
                   "be relocated",
                   pc, dis);
  }
  if (d.kind == A64_BL)
    s->flags |= HP_SITE_CALL;
  /* Re-emitted as B/BL imm26 from the trampoline; ADR, ADRP and literal
   * loads go through absolute literals and reach anywhere. */
  if (a64_is_branch(d.kind) && !a64_internal(s, d.target))
    narrow(&sc->tramp_lo, &sc->tramp_hi, d.target, HP_TRAMP_MAX);
  return check_reference(sc, p, pc, 1);
}

/* Fill s->addr, len, jump_off, orig and the landing-pad and padding flags:
 * whole words covering `need` bytes of the jump, inside the function or in
 * verified padding after it. */
static int choose_site(const struct hp_code *c, uint32_t need,
                       struct hp_site *s) {
  uint32_t w0 = c->size >= 4 ? a64_get(c->bytes) : 0;
  uint32_t off = 0;
  s->len = need;
  if (c->size >= 4 && is_kept_bti(w0)) {
    s->flags |= HP_SITE_BTI;
    off = 4;
  } else if (c->size >= 4 && is_pacisp(w0)) {
    s->flags |= HP_SITE_PAC;
    s->len = 4 + need;
    s->jump_off = 4;
  }
  s->addr = c->addr + off;
  s->ninsn = s->len / 4;
  size_t end = c->size & ~(size_t)3; /* whole words of the function */
  int nops = 1;
  for (uint32_t o = off + s->jump_off; o < off + s->len; o += 4) {
    if (o + 4 <= end) {
      nops &= a64_get(c->bytes + o) == A64_NOP;
      continue;
    }
    if (o + 4 > c->size + c->tail)
      return hp_fail(HOTPATCH_ETOOSHORT,
                     "function at %#" PRIx64 " is %zu bytes long, with %zu "
                     "readable bytes after it; the entry jump needs %u bytes "
                     "at +%u",
                     c->addr, c->size, c->tail, need, off + s->jump_off);
    if (!is_padding(a64_get(c->bytes + o)))
      return hp_fail(HOTPATCH_ETOOSHORT,
                     "function at %#" PRIx64 " is %zu bytes long and the "
                     "word %08" PRIx32 " after it at +%u is not padding; "
                     "the entry jump needs %u bytes at +%u",
                     c->addr, c->size, a64_get(c->bytes + o), o, need,
                     off + s->jump_off);
    s->flags |= HP_SITE_PADDING;
  }
  if (nops && !(s->flags & HP_SITE_PADDING))
    s->flags |= HP_SITE_NOP_PAD;
  memcpy(s->orig, c->bytes + off, s->len);
  return 0;
}

int hp_a64_analyse(const struct hp_code *c, uint32_t need, struct hp_site *s) {
  memset(s, 0, sizeof *s);
  if (!c || !c->bytes || !c->size || (c->addr & 3) || c->tail > HP_TAIL_MAX ||
      (need != 4 && need != 16))
    return hp_fail(HOTPATCH_EINVAL,
                   "aarch64: cannot analyse %zu bytes at %#" PRIx64
                   " for a %u-byte jump",
                   c ? c->size : 0, c ? c->addr : 0, need);
  s->func = c->addr;
  if (need == 16)
    s->flags |= HP_SITE_FAR;
  int rc = choose_site(c, need, s);
  if (rc)
    return rc;

  struct scan sc = {.c = c, .s = s, .tramp_lo = 0, .tramp_hi = UINT64_MAX};
  csh cs;
  if (cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &cs) != CS_ERR_OK)
    return hp_fail(HOTPATCH_ENOMEM, "capstone: cannot open an ARM64 handle");
  cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
  uint64_t func_end = c->addr + (c->size & ~(size_t)3);
  for (uint32_t o = s->jump_off; !rc && o < s->len; o += 4)
    if (s->addr + o < func_end) /* padding was checked by value */
      rc = check_moved(&sc, cs, o);
  cs_close(&cs);
  if (!rc)
    rc = scan_branches(&sc, c->bytes, c->addr, c->size);
  if (!rc && c->cold_bytes)
    rc = scan_branches(&sc, c->cold_bytes, c->cold_addr, c->cold_size);
  if (rc)
    return rc;

  /* The jump back is a direct B as well: never BR or RET into the middle
   * of a function (BTI guards it; GCS checks returns). */
  narrow(&sc.tramp_lo, &sc.tramp_hi, s->addr + s->len, HP_TRAMP_MAX);
  /* 16-aligned bounds keep the window's midpoint, where site.c sizes the
   * trampoline, a valid instruction address. */
  s->tramp_lo = (sc.tramp_lo + 15) & ~UINT64_C(15);
  s->tramp_hi = sc.tramp_hi & ~UINT64_C(15);
  uint64_t lo = 0, hi = UINT64_MAX;
  narrow(&lo, &hi, s->addr + s->jump_off, 16);
  s->stub_lo = (lo + 15) & ~UINT64_C(15);
  s->stub_hi = hi & ~UINT64_C(15);
  if (s->tramp_lo > s->tramp_hi)
    return hp_fail(HOTPATCH_ENONEAR,
                   "function at %#" PRIx64 ": no address is within branch "
                   "range of both the jump back and the moved branches",
                   c->addr);
  return 0;
}
