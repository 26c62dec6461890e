/* SPDX-License-Identifier: MIT */
/*
 * A64 instruction words as the aarch64 backend reads and writes them: pure
 * functions over 32-bit little-endian words, so that they compile and are
 * tested on any host. Encodings from the Arm ARM (DDI 0487), section C4
 * "A64 Instruction Set Encoding".
 */
#ifndef HP_ARCH_AARCH64_A64_H
#define HP_ARCH_AARCH64_A64_H

#include <stddef.h>
#include <stdint.h>

#include "arch/isa.h"

#define A64_NOP 0xd503201fu
#define A64_BRK0 0xd4200000u /* brk #0: filler nobody may execute */
#define A64_BTI 0xd503241fu  /* accepts no indirect branch */
#define A64_BTI_C 0xd503245fu
#define A64_BTI_J 0xd503249fu
#define A64_BTI_JC 0xd50324dfu
#define A64_PACIASP 0xd503233fu
#define A64_PACIBSP 0xd503237fu
#define A64_LDR_X16_PC8 0x58000050u /* ldr x16, .+8 */
#define A64_BR_X16 0xd61f0200u      /* br x16 */
#define A64_B_PLUS8 0x14000002u     /* b .+8 */

/* Reach of B/BL (imm26 words). */
#define A64_B_MIN (-(INT64_C(1) << 27))
#define A64_B_MAX ((INT64_C(1) << 27) - 4)

static inline uint32_t a64_get(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static inline void a64_put(uint8_t *p, uint32_t w) {
  p[0] = (uint8_t)w;
  p[1] = (uint8_t)(w >> 8);
  p[2] = (uint8_t)(w >> 16);
  p[3] = (uint8_t)(w >> 24);
}

static inline void a64_put64(uint8_t *p, uint64_t v) {
  a64_put(p, (uint32_t)v);
  a64_put(p + 4, (uint32_t)(v >> 32));
}

/* The low `bits` bits of v as a signed number. */
static inline int64_t a64_sext(uint64_t v, unsigned bits) {
  uint64_t sign = UINT64_C(1) << (bits - 1);
  v &= (sign << 1) - 1;
  return (int64_t)((v ^ sign) - sign);
}

/* The PC-relative classes; A64_OTHER does not depend on its address. */
enum a64_kind {
  A64_OTHER,
  A64_ADR,
  A64_ADRP,
  A64_LDR_LIT,  /* LDR W/X/S/D/Q, LDRSW (literal) */
  A64_PRFM_LIT, /* PRFM (literal) */
  A64_LIT_BAD,  /* load (literal) with an unallocated opc/V */
  A64_B,
  A64_BL,
  A64_BCOND, /* B.cond, and BC.cond (FEAT_HBC, bit 4 set) */
  A64_CB,    /* CBZ, CBNZ */
  A64_TB,    /* TBZ, TBNZ */
};

/* What a load (literal) loads; indexes a64_ldr_base(). */
enum a64_lit {
  A64_LIT_W,
  A64_LIT_X,
  A64_LIT_SW,
  A64_LIT_S,
  A64_LIT_D,
  A64_LIT_Q
};

struct a64_insn {
  enum a64_kind kind;
  enum a64_lit lit; /* A64_LDR_LIT */
  unsigned rt;      /* Rd of ADR/ADRP, Rt of a load (literal) */
  unsigned size;    /* bytes a load (literal) reads */
  uint64_t target;  /* branch target, literal address, ADR/ADRP result */
};

static inline int a64_is_branch(enum a64_kind k) {
  return k == A64_B || k == A64_BL || k == A64_BCOND || k == A64_CB ||
         k == A64_TB;
}

static inline int a64_is_cond_branch(enum a64_kind k) {
  return k == A64_BCOND || k == A64_CB || k == A64_TB;
}

/* Classify the word `w` at address `pc`. */
static inline struct a64_insn a64_decode(uint32_t w, uint64_t pc) {
  struct a64_insn d = {.kind = A64_OTHER};
  if ((w & 0x1f000000u) == 0x10000000u) { /* PC-rel. addressing */
    int64_t imm =
        a64_sext((uint64_t)((w >> 5) & 0x7ffffu) << 2 | ((w >> 29) & 3u), 21);
    d.rt = w & 31u;
    if (w & 0x80000000u) {
      d.kind = A64_ADRP;
      d.target = (pc & ~UINT64_C(0xfff)) + (uint64_t)(imm * 4096);
    } else {
      d.kind = A64_ADR;
      d.target = pc + (uint64_t)imm;
    }
  } else if ((w & 0x7c000000u) == 0x14000000u) { /* B, BL */
    d.kind = (w & 0x80000000u) ? A64_BL : A64_B;
    d.target = pc + (uint64_t)(a64_sext(w, 26) * 4);
  } else if ((w & 0xff000000u) == 0x54000000u) { /* B.cond, BC.cond */
    d.kind = A64_BCOND;
    d.target = pc + (uint64_t)(a64_sext(w >> 5, 19) * 4);
  } else if ((w & 0x7e000000u) == 0x34000000u) { /* CBZ, CBNZ */
    d.kind = A64_CB;
    d.target = pc + (uint64_t)(a64_sext(w >> 5, 19) * 4);
  } else if ((w & 0x7e000000u) == 0x36000000u) { /* TBZ, TBNZ */
    d.kind = A64_TB;
    d.target = pc + (uint64_t)(a64_sext(w >> 5, 14) * 4);
  } else if ((w & 0x3b000000u) == 0x18000000u) { /* load (literal) */
    static const enum a64_lit lits[2][3] = {{A64_LIT_W, A64_LIT_X, A64_LIT_SW},
                                            {A64_LIT_S, A64_LIT_D, A64_LIT_Q}};
    static const unsigned sizes[2][3] = {{4, 8, 4}, {4, 8, 16}};
    unsigned opc = w >> 30, v = (w >> 26) & 1u;
    d.rt = w & 31u;
    d.target = pc + (uint64_t)(a64_sext(w >> 5, 19) * 4);
    if (opc == 3) {
      d.kind = v ? A64_LIT_BAD : A64_PRFM_LIT;
    } else {
      d.kind = A64_LDR_LIT;
      d.lit = lits[v][opc];
      d.size = sizes[v][opc];
    }
  }
  return d;
}

static inline int a64_b_reaches(uint64_t from, uint64_t to) {
  int64_t d = (int64_t)(to - from);
  return !(d & 3) && d >= A64_B_MIN && d <= A64_B_MAX;
}

/* B / BL from `from` to `to`; the caller has checked a64_b_reaches. */
static inline uint32_t a64_b(uint64_t from, uint64_t to) {
  return 0x14000000u | ((uint32_t)((int64_t)(to - from) >> 2) & 0x03ffffffu);
}

static inline uint32_t a64_bl(uint64_t from, uint64_t to) {
  return 0x80000000u | a64_b(from, to);
}

/* LDR Xt, <pc + off> (literal); off is a multiple of 4 within 1 MiB. */
static inline uint32_t a64_ldr_x_lit(unsigned rt, int64_t off) {
  return 0x58000000u | ((uint32_t)(off >> 2) & 0x7ffffu) << 5 | (rt & 31u);
}

/* The conditional branch `w` (B.cond, CBZ/CBNZ, TBZ/TBNZ) with its
 * condition, register and bit kept and its offset replaced by `off`. */
static inline uint32_t a64_cond_retarget(uint32_t w, int64_t off) {
  if ((w & 0x7e000000u) == 0x36000000u) /* TBZ/TBNZ: imm14 */
    return (w & ~(0x3fffu << 5)) | ((uint32_t)(off >> 2) & 0x3fffu) << 5;
  return (w & ~(0x7ffffu << 5)) | ((uint32_t)(off >> 2) & 0x7ffffu) << 5;
}

/* LDR/LDRSW (immediate, unsigned offset 0): the load `lit` from [Xn]. */
static inline uint32_t a64_ldr_base(enum a64_lit lit, unsigned rt,
                                    unsigned rn) {
  static const uint32_t op[] = {
      [A64_LIT_W] = 0xb9400000u,  [A64_LIT_X] = 0xf9400000u,
      [A64_LIT_SW] = 0xb9800000u, [A64_LIT_S] = 0xbd400000u,
      [A64_LIT_D] = 0xfd400000u,  [A64_LIT_Q] = 0x3dc00000u,
  };
  return op[lit] | (rn & 31u) << 5 | (rt & 31u);
}

/* Does a branch to `t` from the moved instructions stay in the trampoline?
 * The moved bytes, and the function's entry when a landing pad is kept
 * there (the trampoline starts with the same pad). */
static inline int a64_internal(const struct hp_site *s, uint64_t t) {
  return !(t & 3) && (t == s->func || (t >= s->addr && t < s->addr + s->len));
}

/* Does an indirect branch through x16/x17 (BTYPE 01: the far entry
 * jump, a stub, a PLT) land on `w` without a branch-target exception on
 * a guarded page? BTI c, j and jc all accept it, and PACIxSP is an
 * implicit BTI c. */
static inline int a64_is_x16_landing_pad(uint32_t w) {
  return w == A64_BTI_C || w == A64_BTI_J || w == A64_BTI_JC ||
         w == A64_PACIASP || w == A64_PACIBSP;
}

/* Tests only: a far site's entry is the absolute LDR x16 / BR x16 jump
 * even when a B would reach (production prefers the B, which no landing
 * pad constrains), so that tests run the BR x16 path. */
extern int hp_a64_abs_entry;

/* The backend's functions, shared by analyse.c, relocate.c and isa.c. */
int hp_a64_analyse(const struct hp_code *c, uint32_t need, struct hp_site *s);
int hp_a64_relocate(const struct hp_site *s, uint64_t at, uint8_t *buf,
                    size_t cap, size_t *len);
void hp_a64_describe(const uint8_t *bytes, size_t len, uint64_t addr, char *out,
                     size_t cap);

#endif
