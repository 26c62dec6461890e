/* SPDX-License-Identifier: MIT */
/*
 * x86_64 trampolines: endbr64, the moved instructions rewritten for their
 * new address, a jump back. Each reference takes the short form when the
 * real distance from the trampoline allows it, else an absolute form that
 * neither pushes a fake return address nor returns to one (shadow stacks).
 */
#include <inttypes.h>
#include <string.h>

#include "arch/isa.h"
#include "arch/x86_64/x86.h"
#include "errors.h"

/* Extra bytes of the far RIP-relative form around the instruction:
 * lea rsp,[rsp-128]; push r; mov r,imm64; ...; pop r; lea rsp,[rsp+128]. */
#define FAR_RIPREL_EXTRA (5 + 1 + 10 + 1 + 8)
/* notrack jmp [rip+0] and the address (see put_abs_jmp). */
#define FAR_JMP_LEN 15

struct rel {
  struct hp_x86_insn x;
  int internal; /* index of the moved instruction it branches to, or -1 */
  int far;
  uint32_t off; /* in the trampoline */
};

static int fits_rel32(uint64_t to, uint64_t from_end) {
  int64_t d = (int64_t)(to - from_end);
  return d >= INT32_MIN && d <= INT32_MAX;
}

static uint32_t rel_size(const struct rel *r) {
  switch (r->x.kind) {
  case HP_X86_RIPREL:
    return r->far ? r->x.len + FAR_RIPREL_EXTRA : r->x.len;
  case HP_X86_JMP:
    return r->far ? FAR_JMP_LEN : 5;
  case HP_X86_JCC:
    return r->far ? 2 + FAR_JMP_LEN : 6;
  case HP_X86_CALL:
    return r->far ? 16 : 5;
  case HP_X86_LOOP:
    return r->x.len + 2 + (r->far ? FAR_JMP_LEN : 5);
  default:
    return r->x.len;
  }
}

/* Where the near form's rel32/disp32 is measured from, from r->off. */
static uint32_t near_end(const struct rel *r) {
  switch (r->x.kind) {
  case HP_X86_JMP:
  case HP_X86_CALL:
    return 5;
  case HP_X86_JCC:
    return 6;
  case HP_X86_LOOP:
    return r->x.len + 2 + 5;
  default:
    return r->x.len;
  }
}

static uint64_t target_of(const struct rel *rs, const struct rel *r,
                          uint64_t at) {
  return r->internal >= 0 ? at + rs[r->internal].off : r->x.target;
}

struct out {
  uint8_t *p;
  uint32_t n;
};

static void putn(struct out *o, const uint8_t *b, size_t n) {
  memcpy(o->p + o->n, b, n);
  o->n += (uint32_t)n;
}
#define PUT(o, ...)                                                            \
  putn(o, (const uint8_t[]){__VA_ARGS__},                                      \
       sizeof((const uint8_t[]){__VA_ARGS__}))

static void put32(struct out *o, uint32_t v) {
  PUT(o, (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24));
}
static void put64(struct out *o, uint64_t v) {
  put32(o, (uint32_t)v);
  put32(o, (uint32_t)(v >> 32));
}
static void put_rel32(struct out *o, uint64_t to, uint64_t at) {
  /* The field is the last 4 bytes of the instruction. */
  put32(o, (uint32_t)(to - (at + o->n + 4)));
}
/*
 * notrack jmp [rip+0] and the address: no register, no push/ret. Every
 * absolute jump of a trampoline lands in the middle of code (the jump
 * back, a moved jmp/jcc/loop's target), where there is no endbr64: under
 * IBT a tracked indirect jump there faults. The 3e prefix (a DS override,
 * ignored in 64-bit mode without CET) marks it untracked. User-space IBT
 * has to honour notrack: GCC's -fcf-protection emits `notrack jmp` for
 * switch tables, whose case labels have no endbr64 either. Calls stay
 * tracked (call [rip+2]): their targets are function entries.
 */
static void put_abs_jmp(struct out *o, uint64_t to) {
  PUT(o, 0x3e, 0xff, 0x25, 0, 0, 0, 0);
  put64(o, to);
}

/* jmp rel32, or the absolute form when `to` is out of rel32 range. */
static void put_jmp(struct out *o, uint64_t to, uint64_t at, int far) {
  if (far) {
    put_abs_jmp(o, to);
  } else {
    PUT(o, 0xe9);
    put_rel32(o, to, at);
  }
}

/* The instruction with [rip+disp32] turned into [r+0] (mod=10, rm=r, the
 * same length), and the B extension bit cleared so r is a low register. */
static void put_via_scratch(struct out *o, const struct hp_x86_insn *x) {
  uint8_t b[17] = {0};
  unsigned i = 0;
  memcpy(b, x->bytes, x->len);
  while (i < x->len &&
         (b[i] == 0xf0 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0x2e ||
          b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 ||
          b[i] == 0x65 || b[i] == 0x66 || b[i] == 0x67))
    i++;
  if ((b[i] & 0xf0) == 0x40)
    b[i] &= (uint8_t)~0x01; /* REX.B */
  else if (b[i] == 0xc4 || b[i] == 0x62 ||
           (b[i] == 0x8f && (b[i + 1] & 0x1f) >= 8))
    b[i + 1] |= 0x20; /* VEX3/EVEX/XOP store ~B */
  b[x->modrm] = (uint8_t)((b[x->modrm] & 0x38) | 0x80 | x->scratch);
  memset(b + x->modrm + 1, 0, 4);
  putn(o, b, x->len);
}

static void emit(const struct rel *rs, const struct rel *r, uint64_t at,
                 struct out *o) {
  const struct hp_x86_insn *x = &r->x;
  uint64_t t = target_of(rs, r, at);

  switch (x->kind) {
  case HP_X86_RIPREL:
    if (!r->far) {
      uint32_t start = o->n;
      putn(o, x->bytes, x->len);
      uint32_t d = (uint32_t)(t - (at + start + x->len));
      for (int i = 0; i < 4; i++)
        o->p[start + x->modrm + 1 + i] = (uint8_t)(d >> (8 * i));
      return;
    }
    /* Step over the red zone first: leaf code may already keep data in
     * [rsp-128, rsp), which the push would overwrite. */
    PUT(o, 0x48, 0x8d, 0x64, 0x24, 0x80);       /* lea rsp,[rsp-128] */
    PUT(o, (uint8_t)(0x50 + x->scratch));       /* push r */
    PUT(o, 0x48, (uint8_t)(0xb8 + x->scratch)); /* mov r, imm64 */
    put64(o, t);
    put_via_scratch(o, x);
    PUT(o, (uint8_t)(0x58 + x->scratch));          /* pop r */
    PUT(o, 0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0); /* lea rsp,[rsp+128] */
    return;
  case HP_X86_JMP:
    put_jmp(o, t, at, r->far);
    return;
  case HP_X86_JCC:
    if (r->far) {
      /* The inverted condition skips the absolute jump. */
      PUT(o, (uint8_t)(0x70 | (x->cc ^ 1)), FAR_JMP_LEN);
      put_abs_jmp(o, t);
    } else {
      PUT(o, 0x0f, (uint8_t)(0x80 | x->cc));
      put_rel32(o, t, at);
    }
    return;
  case HP_X86_CALL:
    if (r->far) {
      /* call [rip+2]; jmp over the literal; the literal. A real call: the
       * return address is the one the shadow stack holds. */
      PUT(o, 0xff, 0x15, 2, 0, 0, 0, 0xeb, 8);
      put64(o, t);
    } else {
      PUT(o, 0xe8);
      put_rel32(o, t, at);
    }
    return;
  case HP_X86_LOOP:
    /* These have no rel32 form. Keep the instruction (loop must still
     * decrement rcx) with rel8 = +2 onto a jump to the target; falling
     * through jumps over that jump. */
    putn(o, x->bytes, x->len - 1u);
    PUT(o, 2, 0xeb, r->far ? FAR_JMP_LEN : 5);
    put_jmp(o, t, at, r->far);
    return;
  default:
    putn(o, x->bytes, x->len);
    return;
  }
}

int hp_x86_relocate(const struct hp_site *s, uint64_t at, uint8_t *buf,
                    size_t cap, size_t *len) {
  struct rel rs[HP_SITE_MAX];
  unsigned n = 0;
  size_t pos = 0;
  csh h;
  cs_insn *in;
  int rc = 0;

  if (!s || !buf || !len || s->len > HP_SITE_MAX || s->ninsn > HP_SITE_MAX)
    return hp_fail(HOTPATCH_EINVAL, "x86_64 relocate: bad arguments");
  *len = 0;
  if ((rc = hp_x86_open(&h)) < 0)
    return rc;
  if (!(in = cs_malloc(h))) {
    cs_close(&h);
    return hp_fail(HOTPATCH_ENOMEM, "capstone: cannot allocate");
  }
  for (n = 0; n < s->ninsn; n++) {
    rc = hp_x86_decode(h, s->orig + pos, s->len - pos, s->addr + pos, in,
                       &rs[n].x);
    if (rc < 0)
      break;
    pos += rs[n].x.len;
  }
  cs_free(in, 1);
  cs_close(&h);
  if (rc < 0)
    return rc;

  for (unsigned i = 0; i < n; i++) {
    struct rel *r = &rs[i];
    r->internal = -1;
    r->far = 0;
    if (r->x.kind == HP_X86_PLAIN || r->x.kind == HP_X86_RIPREL)
      continue;
    if (r->x.target < s->addr || r->x.target >= s->addr + s->len)
      continue;
    for (unsigned k = 0; k < n; k++)
      if (rs[k].x.addr == r->x.target)
        r->internal = (int)k;
    if (r->internal < 0) {
      char text[160];
      hp_x86_describe(r->x.bytes, r->x.len, r->x.addr, text, sizeof text);
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 " branches into the overwritten bytes "
                     "but not to a moved instruction",
                     text, r->x.addr);
    }
  }

  /* Forms only grow (near -> far), so this settles within n + 1 rounds;
   * internal branches stay near: the trampoline is small. */
  int back_far = 0;
  uint32_t total = 0;
  for (unsigned round = 0; round <= n + 1; round++) {
    uint32_t off = 4;
    for (unsigned i = 0; i < n; i++) {
      rs[i].off = off;
      off += rel_size(&rs[i]);
    }
    int grew = 0;
    for (unsigned i = 0; i < n; i++) {
      struct rel *r = &rs[i];
      if (r->far || r->x.kind == HP_X86_PLAIN || r->internal >= 0)
        continue;
      if (!fits_rel32(r->x.target, at + r->off + near_end(r))) {
        r->far = 1;
        grew = 1;
      }
    }
    if (!back_far && !fits_rel32(s->addr + s->len, at + off + 5))
      back_far = 1;
    total = off + (back_far ? FAR_JMP_LEN : 5);
    if (!grew)
      break;
  }

  for (unsigned i = 0; i < n; i++) {
    const struct rel *r = &rs[i];
    if (r->far && r->x.kind == HP_X86_RIPREL &&
        r->x.scratch == HP_X86_NO_SCRATCH) {
      char text[160];
      hp_x86_describe(r->x.bytes, r->x.len, r->x.addr, text, sizeof text);
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 ": its data at 0x%" PRIx64
                     " is beyond disp32 reach of the trampoline at 0x%" PRIx64
                     " and it has no far form: %s",
                     text, r->x.addr, r->x.target, at, r->x.nofar);
    }
  }
  if (total > cap)
    return hp_fail(HOTPATCH_ENOMEM,
                   "the trampoline for 0x%" PRIx64 " needs %" PRIu32
                   " bytes, the buffer holds %zu",
                   s->addr, total, cap);

  /* endbr64: callers reach the trampoline through a pointer. The jump
   * back is direct whenever it reaches (no landing pad mid-function). */
  struct out o = {buf, 0};
  PUT(&o, 0xf3, 0x0f, 0x1e, 0xfa);
  for (unsigned i = 0; i < n; i++)
    emit(rs, &rs[i], at, &o);
  put_jmp(&o, s->addr + s->len, at, back_far);
  *len = o.n;
  return 0;
}
