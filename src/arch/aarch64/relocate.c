/* SPDX-License-Identifier: MIT */
/*
 * aarch64 trampolines. Layout:
 *   landing pad     BTI c, or the original PACIxSP (HP_SITE_PAC)
 *   moved words     rewritten for their new address
 *   b <site end>    direct: BR or RET into a function body would trip BTI
 *                   or GCS
 *   literal pool    8-byte aligned (relative to the trampoline's start,
 *                   which is tramp_align-ed), one address per rewrite
 * Rewrites use no stack at all (no red zone on AArch64: a signal could
 * overwrite anything below SP) and only x16/x17 as scratch, which AAPCS64
 * lets any veneer clobber at a call, so they are dead at a function's entry,
 * where the moved words are.
 */
#include <capstone/capstone.h>
#include <inttypes.h>
#include <string.h>

#include "arch/aarch64/a64.h"
#include "errors.h"

#define MOVED_MAX (HP_SITE_MAX / 4)
/* Words: the pad, at most 3 per moved word, the jump back, alignment. */
#define WORDS_MAX (1 + 3 * MOVED_MAX + 2)

struct tramp {
  const struct hp_site *s;
  uint64_t at;
  uint32_t w[WORDS_MAX];
  size_t n;
  uint64_t lit[MOVED_MAX];
  size_t nlit;
  size_t fix[MOVED_MAX];    /* word index of the LDR that loads lit[i] */
  uint32_t copy[MOVED_MAX]; /* word index of the copy of orig word i */
};

static void emit(struct tramp *t, uint32_t w) { t->w[t->n++] = w; }

/* LDR Xrt, =v (patched with the pool offset at the end). */
static void emit_ldr_lit(struct tramp *t, unsigned rt, uint64_t v) {
  t->fix[t->nlit] = t->n;
  t->lit[t->nlit++] = v;
  emit(t, a64_ldr_x_lit(rt, 0));
}

/* Words the rewrite of `d` takes; they do not depend on the address, so
 * internal branch targets are known before emitting. */
static size_t words_for(const struct a64_insn *d) {
  if (d->kind == A64_LDR_LIT)
    return 2;
  return a64_is_cond_branch(d->kind) ? 3 : 1;
}

static uint64_t branch_dest(const struct tramp *t, uint64_t target) {
  const struct hp_site *s = t->s;
  if (!a64_internal(s, target))
    return target;
  if (target < s->addr) /* the entry's kept landing pad: ours */
    return t->at;
  return t->at + 4 * (uint64_t)t->copy[(target - s->addr) / 4];
}

static int emit_b(struct tramp *t, uint32_t link, uint64_t to, uint64_t orig_pc,
                  const uint8_t *orig) {
  uint64_t from = t->at + 4 * t->n;
  if (!a64_b_reaches(from, to)) {
    char dis[96] = "the jump back";
    if (orig)
      hp_a64_describe(orig, 4, orig_pc, dis, sizeof dis);
    return hp_fail(HOTPATCH_ENONEAR,
                   "trampoline at %#" PRIx64 ": a branch at %#" PRIx64
                   " cannot reach %#" PRIx64 " (%s at %#" PRIx64 ")",
                   t->at, from, to, dis, orig_pc);
  }
  emit(t, link ? a64_bl(from, to) : a64_b(from, to));
  return 0;
}

static int mentions(csh cs, const cs_insn *insn, unsigned reg) {
  cs_regs rd, wr;
  uint8_t nrd = 0, nwr = 0;
  if (cs_regs_access(cs, insn, rd, &nrd, wr, &nwr) != CS_ERR_OK)
    return 1;
  unsigned x = reg == 16 ? ARM64_REG_X16 : ARM64_REG_X17;
  unsigned w = reg == 16 ? ARM64_REG_W16 : ARM64_REG_W17;
  for (unsigned i = 0; i < nrd; i++)
    if (rd[i] == x || rd[i] == w)
      return 1;
  for (unsigned i = 0; i < nwr; i++)
    if (wr[i] == x || wr[i] == w)
      return 1;
  return 0;
}

/* x17, or x16 if a moved word before offset `off` may have written x17. A
 * mention (read or write) counts: cheap, and safe if capstone's access
 * lists are incomplete. */
static int pick_scratch(const struct hp_site *s, uint32_t first, uint32_t off,
                        unsigned *reg) {
  int used16 = 0, used17 = 0;
  csh cs;
  if (cs_open(CS_ARCH_ARM64, CS_MODE_ARM, &cs) != CS_ERR_OK)
    return hp_fail(HOTPATCH_ENOMEM, "capstone: cannot open an ARM64 handle");
  cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
  for (uint32_t o = first; o < off; o += 4) {
    cs_insn *insn = NULL;
    if (cs_disasm(cs, s->orig + o, 4, s->addr + o, 1, &insn) != 1) {
      used16 = used17 = 1;
      break;
    }
    used16 |= mentions(cs, insn, 16);
    used17 |= mentions(cs, insn, 17);
    cs_free(insn, 1);
  }
  cs_close(&cs);
  if (!used17 || !used16) {
    *reg = used17 ? 16 : 17;
    return 0;
  }
  char dis[96];
  hp_a64_describe(s->orig + off, 4, s->addr + off, dis, sizeof dis);
  return hp_fail(HOTPATCH_ERELOC,
                 "%#" PRIx64 ": '%s' needs a scratch register, and the "
                 "instructions before it use both x16 and x17",
                 s->addr + off, dis);
}

/* The rewrite of the moved word at s->orig + off. */
static int relocate_one(struct tramp *t, uint32_t first, uint32_t off) {
  const struct hp_site *s = t->s;
  const uint8_t *p = s->orig + off;
  uint64_t pc = s->addr + off;
  uint32_t w = a64_get(p);
  struct a64_insn d = a64_decode(w, pc);
  unsigned scratch = 17;
  int rc;
  switch (d.kind) {
  case A64_OTHER:
    emit(t, w);
    return 0;
  case A64_ADR:
  case A64_ADRP:
    emit_ldr_lit(t, d.rt, d.target);
    return 0;
  case A64_LDR_LIT:
    /* Load the address into Rt itself, which the load overwrites anyway;
     * FP/SIMD destinations and the zero register need a scratch. */
    if (d.lit == A64_LIT_S || d.lit == A64_LIT_D || d.lit == A64_LIT_Q ||
        d.rt == 31) {
      if ((rc = pick_scratch(s, first, off, &scratch)) != 0)
        return rc;
    } else {
      scratch = d.rt;
    }
    emit_ldr_lit(t, scratch, d.target);
    emit(t, a64_ldr_base(d.lit, d.rt, scratch));
    return 0;
  case A64_PRFM_LIT:
    /* A prefetch is a hint with no architectural effect: drop it. */
    emit(t, A64_NOP);
    return 0;
  case A64_B:
  case A64_BL:
    return emit_b(t, d.kind == A64_BL, branch_dest(t, d.target), pc, p);
  case A64_BCOND:
  case A64_CB:
  case A64_TB:
    /* Same condition, flags and registers untouched:
     *   <cond> .+8 ; b .+8 ; b target */
    emit(t, a64_cond_retarget(w, 8));
    emit(t, A64_B_PLUS8);
    return emit_b(t, 0, branch_dest(t, d.target), pc, p);
  case A64_LIT_BAD:
    break;
  }
  char dis[96];
  hp_a64_describe(p, 4, pc, dis, sizeof dis);
  return hp_fail(HOTPATCH_ERELOC, "%#" PRIx64 ": '%s' cannot be relocated", pc,
                 dis);
}

int hp_a64_relocate(const struct hp_site *s, uint64_t at, uint8_t *buf,
                    size_t cap, size_t *len) {
  uint32_t first = (s->flags & HP_SITE_PAC) ? 4 : 0;
  if (!s->len || s->len > HP_SITE_MAX || (s->len & 3) || (at & 3) ||
      (s->addr & 3) || first >= s->len)
    return hp_fail(HOTPATCH_EINVAL,
                   "aarch64: cannot relocate a %u-byte site at %#" PRIx64
                   " to %#" PRIx64,
                   s->len, s->addr, at);
  struct tramp t = {.s = s, .at = at};

  /* Where each original word's rewrite starts; a PACIxSP is the pad, word
   * 0 (t.copy[0] == 0). */
  size_t pos = 1;
  for (uint32_t o = first; o < s->len; o += 4) {
    struct a64_insn d = a64_decode(a64_get(s->orig + o), s->addr + o);
    t.copy[o / 4] = (uint32_t)pos;
    pos += words_for(&d);
  }

  emit(&t, first ? a64_get(s->orig) : A64_BTI_C);
  int rc = 0;
  for (uint32_t o = first; !rc && o < s->len; o += 4)
    rc = relocate_one(&t, first, o);
  if (!rc)
    rc = emit_b(&t, 0, s->addr + s->len, s->addr + s->len, NULL);
  if (rc)
    return rc;

  if (t.nlit && (t.n & 1))
    emit(&t, A64_BRK0);
  size_t pool = 4 * t.n;
  size_t total = pool + 8 * t.nlit;
  if (total > cap)
    return hp_fail(HOTPATCH_ENOMEM,
                   "trampoline for %#" PRIx64 " needs %zu bytes, %zu given",
                   s->addr, total, cap);
  for (size_t i = 0; i < t.nlit; i++) {
    size_t k = t.fix[i];
    t.w[k] = a64_ldr_x_lit(t.w[k] & 31u, (int64_t)(pool + 8 * i - 4 * k));
  }
  for (size_t i = 0; i < t.n; i++)
    a64_put(buf + 4 * i, t.w[i]);
  for (size_t i = 0; i < t.nlit; i++)
    a64_put64(buf + pool + 8 * i, t.lit[i]);
  *len = total;
  return 0;
}
