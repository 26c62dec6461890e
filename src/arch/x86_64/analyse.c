/* SPDX-License-Identifier: MIT */
/*
 * x86_64 site analysis: which whole instructions the entry jump replaces,
 * how each must be rewritten when it moves, whether anything branches into
 * the bytes, and where the trampoline may live (pitfalls.md §1).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "arch/isa.h"
#include "arch/x86_64/x86.h"
#include "errors.h"

static const uint8_t endbr64[4] = {0xf3, 0x0f, 0x1e, 0xfa};

static int is_legacy_prefix(uint8_t b) {
  switch (b) {
  case 0xf0:
  case 0xf2:
  case 0xf3:
  case 0x2e:
  case 0x36:
  case 0x3e:
  case 0x26:
  case 0x64:
  case 0x65:
  case 0x66:
  case 0x67:
    return 1;
  default:
    return 0;
  }
}

/* The general-purpose register family (0 rax .. 7 rdi, 8.. r8..) of a
 * capstone register, or -1. */
static int gpr_family(unsigned r) {
  switch (r) {
  case X86_REG_AL:
  case X86_REG_AH:
  case X86_REG_AX:
  case X86_REG_EAX:
  case X86_REG_RAX:
    return 0;
  case X86_REG_CL:
  case X86_REG_CH:
  case X86_REG_CX:
  case X86_REG_ECX:
  case X86_REG_RCX:
    return 1;
  case X86_REG_DL:
  case X86_REG_DH:
  case X86_REG_DX:
  case X86_REG_EDX:
  case X86_REG_RDX:
    return 2;
  case X86_REG_BL:
  case X86_REG_BH:
  case X86_REG_BX:
  case X86_REG_EBX:
  case X86_REG_RBX:
    return 3;
  case X86_REG_SPL:
  case X86_REG_SP:
  case X86_REG_ESP:
  case X86_REG_RSP:
    return 4;
  case X86_REG_BPL:
  case X86_REG_BP:
  case X86_REG_EBP:
  case X86_REG_RBP:
    return 5;
  case X86_REG_SIL:
  case X86_REG_SI:
  case X86_REG_ESI:
  case X86_REG_RSI:
    return 6;
  case X86_REG_DIL:
  case X86_REG_DI:
  case X86_REG_EDI:
  case X86_REG_RDI:
    return 7;
  default:
    return -1;
  }
}

static int is_rip(unsigned r) {
  return r == X86_REG_RIP || r == X86_REG_EIP || r == X86_REG_IP;
}

/*
 * The far form of a RIP-relative operand loads the absolute address into a
 * scratch register it saves on the stack below the red zone. That needs a
 * low register the instruction neither reads nor writes, and an instruction
 * that neither uses the stack pointer nor transfers control (the pop would
 * never run; push/ret emulation would break shadow stacks).
 */
static void choose_scratch(csh h, const cs_insn *in, struct hp_x86_insn *x) {
  static const uint8_t order[] = {0, 1, 2, 3, 6, 7};
  cs_regs rd, wr;
  uint8_t nrd = 0, nwr = 0;
  unsigned used = 0;

  x->scratch = HP_X86_NO_SCRATCH;
  if (cs_insn_group(h, in, X86_GRP_CALL) ||
      cs_insn_group(h, in, X86_GRP_JUMP) || cs_insn_group(h, in, X86_GRP_RET) ||
      cs_insn_group(h, in, X86_GRP_IRET) || cs_insn_group(h, in, X86_GRP_INT)) {
    x->nofar = "it transfers control, so no register can be restored after "
               "it (and push/ret emulation would break shadow stacks)";
    return;
  }
  if (cs_regs_access(h, in, rd, &nrd, wr, &nwr) != CS_ERR_OK) {
    x->nofar = "capstone cannot tell which registers it uses";
    return;
  }
  for (unsigned i = 0; i < nrd; i++)
    if (gpr_family(rd[i]) >= 0)
      used |= 1u << gpr_family(rd[i]);
  for (unsigned i = 0; i < nwr; i++)
    if (gpr_family(wr[i]) >= 0)
      used |= 1u << gpr_family(wr[i]);
  const cs_x86 *d = &in->detail->x86;
  for (unsigned i = 0; i < d->op_count; i++) {
    const cs_x86_op *op = &d->operands[i];
    if (op->type == X86_OP_REG && gpr_family(op->reg) >= 0)
      used |= 1u << gpr_family(op->reg);
    if (op->type == X86_OP_MEM && gpr_family(op->mem.index) >= 0)
      used |= 1u << gpr_family(op->mem.index);
  }
  if (used & (1u << 4)) {
    x->nofar = "it uses the stack pointer, which the far form moves";
    return;
  }
  for (unsigned i = 0; i < sizeof order; i++) {
    if (!(used & (1u << order[i]))) {
      x->scratch = order[i];
      return;
    }
  }
  x->nofar = "it uses every scratch candidate (rax, rcx, rdx, rbx, rsi, rdi)";
}

static int reads_rip(csh h, const cs_insn *in) {
  cs_regs rd, wr;
  uint8_t nrd = 0, nwr = 0;
  if (cs_regs_access(h, in, rd, &nrd, wr, &nwr) != CS_ERR_OK)
    return 0;
  for (unsigned i = 0; i < nrd; i++)
    if (is_rip(rd[i]))
      return 1;
  return 0;
}

static int imm_target(const cs_insn *in, uint64_t *target) {
  const cs_x86 *d = &in->detail->x86;
  for (unsigned i = 0; i < d->op_count; i++) {
    if (d->operands[i].type == X86_OP_IMM) {
      *target = (uint64_t)d->operands[i].imm;
      return 1;
    }
  }
  return 0;
}

int hp_x86_decode(csh h, const uint8_t *bytes, size_t max, uint64_t addr,
                  cs_insn *in, struct hp_x86_insn *x) {
  const uint8_t *p = bytes;
  size_t n = max;
  uint64_t a = addr;
  char text[160];

  memset(x, 0, sizeof *x);
  x->scratch = HP_X86_NO_SCRATCH;
  if (max == 0 || !cs_disasm_iter(h, &p, &n, &a, in)) {
    hp_x86_text(NULL, bytes, max, text, sizeof text);
    return hp_fail(HOTPATCH_EDECODE,
                   "undecodable instruction at 0x%" PRIx64 ": %s", addr, text);
  }
  x->addr = addr;
  x->len = (uint8_t)in->size;
  memcpy(x->bytes, bytes, in->size);
  x->kind = HP_X86_PLAIN;
  x->is_call = cs_insn_group(h, in, X86_GRP_CALL) ? 1 : 0;
  hp_x86_text(in, bytes, in->size, text, sizeof text);

  if (in->id == X86_INS_XBEGIN)
    return hp_fail(HOTPATCH_ERELOC,
                   "%s at 0x%" PRIx64 ": the transaction's abort target is "
                   "relative and xbegin cannot be moved",
                   text, addr);

  unsigned i = 0, opsize = 0;
  while (i < x->len && is_legacy_prefix(x->bytes[i])) {
    if (x->bytes[i] == 0x66)
      opsize = 1;
    i++;
  }
  if (i < x->len && (x->bytes[i] & 0xf0) == 0x40)
    i++;
  uint8_t op = i < x->len ? x->bytes[i] : 0;
  uint8_t op2 = i + 1 < x->len ? x->bytes[i + 1] : 0;

  if (in->id == X86_INS_JMP && (op == 0xeb || op == 0xe9)) {
    x->kind = HP_X86_JMP;
  } else if (op >= 0x70 && op <= 0x7f) {
    x->kind = HP_X86_JCC;
    x->cc = op & 0xf;
  } else if (op == 0x0f && (op2 & 0xf0) == 0x80) {
    x->kind = HP_X86_JCC;
    x->cc = op2 & 0xf;
  } else if (in->id == X86_INS_CALL && op == 0xe8) {
    x->kind = HP_X86_CALL;
  } else if (op >= 0xe0 && op <= 0xe3 && i + 2 == x->len) {
    x->kind = HP_X86_LOOP; /* rel8 is the last byte */
  }
  if (x->kind != HP_X86_PLAIN) {
    if (opsize)
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 ": a relative branch with an "
                     "operand-size prefix is not relocated",
                     text, addr);
    if (!imm_target(in, &x->target))
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 ": relative branch without a target",
                     text, addr);
    /* call next; pop reg: the get-PC idiom. Moved, the pushed address
     * would be the trampoline's, and the code would compute its data's
     * addresses from there. */
    if (x->kind == HP_X86_CALL && x->target == addr + x->len)
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 ": a call to the next instruction "
                     "reads its own address (get-PC idiom); moved to a "
                     "trampoline it would push the trampoline's address",
                     text, addr);
    return 0;
  }

  const cs_x86 *d = &in->detail->x86;
  for (unsigned k = 0; k < d->op_count; k++) {
    if (d->operands[k].type != X86_OP_MEM || !is_rip(d->operands[k].mem.base))
      continue;
    if (d->operands[k].mem.base != X86_REG_RIP)
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 ": an EIP-relative operand (address-"
                     "size prefix) wraps at 4 GiB and is not relocated",
                     text, addr);
    unsigned m = d->encoding.modrm_offset;
    /* Trust capstone's offsets only when the bytes agree: mod=00 rm=101
     * and a whole disp32 inside the instruction. */
    if (m == 0 || m + 5u > x->len || (x->bytes[m] & 0xc7) != 0x05)
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 ": RIP-relative operand in an "
                     "encoding this backend does not know",
                     text, addr);
    int32_t disp =
        (int32_t)((uint32_t)x->bytes[m + 1] | (uint32_t)x->bytes[m + 2] << 8 |
                  (uint32_t)x->bytes[m + 3] << 16 |
                  (uint32_t)x->bytes[m + 4] << 24);
    x->kind = HP_X86_RIPREL;
    x->modrm = (uint8_t)m;
    x->target = addr + x->len + (uint64_t)(int64_t)disp;
    choose_scratch(h, in, x);
    return 0;
  }

  if (reads_rip(h, in) || cs_insn_group(h, in, X86_GRP_BRANCH_RELATIVE))
    return hp_fail(HOTPATCH_ERELOC,
                   "%s at 0x%" PRIx64 ": reads RIP in a form this backend "
                   "does not relocate",
                   text, addr);
  return 0;
}

/* A NOP the compiler or assembler emits: 90, 66 90, 0f 1f /0 with any
 * 66/2e prefixes. */
static int is_nop(const cs_insn *in, const uint8_t *b) {
  unsigned i = 0;
  if (in->id != X86_INS_NOP)
    return 0;
  while (i < in->size && (b[i] == 0x66 || b[i] == 0x2e))
    i++;
  if (i < in->size && b[i] == 0x90)
    return i + 1 == in->size;
  return i + 2 < in->size && b[i] == 0x0f && b[i + 1] == 0x1f &&
         (b[i + 2] & 0x38) == 0;
}

/* The length of the padding instruction (int3 or NOP) at b, or 0. */
static size_t padding_len(csh h, cs_insn *in, const uint8_t *b, size_t max,
                          uint64_t addr) {
  const uint8_t *p = b;
  size_t n = max;
  uint64_t a = addr;
  if (max == 0)
    return 0;
  if (b[0] == 0xcc)
    return 1;
  if (!cs_disasm_iter(h, &p, &n, &a, in) || !is_nop(in, b))
    return 0;
  return in->size;
}

/* Whole NOPs at bytes[off..size) covering need, or 0. */
static size_t nop_pad(csh h, cs_insn *in, const struct hp_code *c, size_t off,
                      uint32_t need) {
  size_t pos = off;
  while (pos - off < need) {
    const uint8_t *p = c->bytes + pos;
    size_t n = c->size - pos;
    uint64_t a = c->addr + pos;
    if (pos >= c->size || !cs_disasm_iter(h, &p, &n, &a, in) ||
        !is_nop(in, c->bytes + pos))
      return 0;
    pos += in->size;
  }
  return pos - off;
}

static int too_short(const struct hp_code *c, size_t off, size_t pos,
                     uint32_t need) {
  char what[128];
  size_t after = pos > c->size ? pos - c->size : 0;
  if (c->tail == 0) {
    snprintf(what, sizeof what, "nothing that is known padding follows it");
  } else if (pos < c->size + c->tail) {
    char hex[64];
    size_t k = c->size + c->tail - pos;
    hp_x86_hex(c->bytes + pos, k < 8 ? k : 8, hex, sizeof hex);
    snprintf(what, sizeof what,
             "the bytes at 0x%" PRIx64 " are not padding: %s", c->addr + pos,
             hex);
  } else {
    snprintf(what, sizeof what, "only %zu byte(s) of padding follow it", after);
  }
  return hp_fail(HOTPATCH_ETOOSHORT,
                 "function at 0x%" PRIx64 " (size %zu, %zu from the patch "
                 "site at 0x%" PRIx64 ") is shorter than the %" PRIu32
                 "-byte entry jump; %s",
                 c->addr, c->size, c->size > off ? c->size - off : 0,
                 c->addr + off, need, what);
}

/* Intersect [lo, hi] with the addresses a trampoline (every byte of it)
 * may take to reach t with a 32-bit displacement, clamped to user space. */
static void window_add(uint64_t *lo, uint64_t *hi, uint64_t t) {
  uint64_t l =
      t > HP_X86_ADDR_MIN + HP_X86_REACH ? t - HP_X86_REACH : HP_X86_ADDR_MIN;
  uint64_t h = t > HP_X86_ADDR_MAX - HP_X86_REACH + HP_TRAMP_MAX
                   ? HP_X86_ADDR_MAX
                   : t + HP_X86_REACH - HP_TRAMP_MAX;
  if (l > *lo)
    *lo = l;
  if (h < *hi)
    *hi = h;
}

/* A direct branch's target, if `in` is one. */
static int direct_target(csh h, const cs_insn *in, uint64_t *t) {
  if (!cs_insn_group(h, in, X86_GRP_BRANCH_RELATIVE) &&
      in->id != X86_INS_XBEGIN)
    return 0;
  return imm_target(in, t);
}

/*
 * Linear sweep of [addr, addr + size) for direct branches into the open
 * interval (s->addr, s->addr + s->len); instructions in [skip_lo, skip_hi)
 * are the moved ones (their branches are retargeted by relocate).
 */
static int scan_branches(csh h, cs_insn *in, const uint8_t *bytes, size_t size,
                         uint64_t addr, uint64_t skip_lo, uint64_t skip_hi,
                         const char *part, struct hp_site *s) {
  const uint8_t *p = bytes;
  size_t n = size;
  uint64_t a = addr;
  while (n > 0) {
    uint64_t at = a;
    const uint8_t *ib = p;
    if (!cs_disasm_iter(h, &p, &n, &a, in)) {
      /* A linear sweep resynchronises: data or padding, skip a byte. */
      p++;
      n--;
      a++;
      continue;
    }
    uint64_t t;
    if ((at >= skip_lo && at < skip_hi) || !direct_target(h, in, &t))
      continue;
    if (t > s->addr && t < s->addr + s->len) {
      char text[160];
      hp_x86_text(in, ib, in->size, text, sizeof text);
      return hp_fail(HOTPATCH_EBRANCHIN,
                     "%s at 0x%" PRIx64 " (%s) branches to 0x%" PRIx64
                     ", inside the %" PRIu32 " bytes overwritten at 0x%" PRIx64,
                     part, at, text, t, s->len, s->addr);
    }
    if (t == s->func || t == s->addr)
      s->flags |= HP_SITE_ENTRY_LOOP;
  }
  return 0;
}

static int check_moved(const struct hp_x86_insn *mv, unsigned nmv,
                       struct hp_site *s) {
  for (unsigned i = 0; i < nmv; i++) {
    const struct hp_x86_insn *x = &mv[i];
    if (x->is_call)
      s->flags |= HP_SITE_CALL;
    if (x->kind == HP_X86_PLAIN || x->kind == HP_X86_RIPREL)
      continue;
    if (x->target == s->func && s->func != s->addr)
      s->flags |= HP_SITE_ENTRY_LOOP;
    if (x->target < s->addr || x->target >= s->addr + s->len)
      continue;
    int ok = 0;
    for (unsigned k = 0; k < nmv; k++)
      ok |= mv[k].addr == x->target;
    if (!ok) {
      char text[160];
      hp_x86_describe(x->bytes, x->len, x->addr, text, sizeof text);
      return hp_fail(HOTPATCH_ERELOC,
                     "%s at 0x%" PRIx64 " branches to 0x%" PRIx64
                     ", inside the overwritten bytes but not to a moved "
                     "instruction",
                     text, x->addr, x->target);
    }
  }
  return 0;
}

static int set_windows(const struct hp_x86_insn *mv, unsigned nmv,
                       struct hp_site *s) {
  uint64_t lo = HP_X86_ADDR_MIN, hi = HP_X86_ADDR_MAX;
  int constrained = 0;
  int far = (s->flags & HP_SITE_FAR) != 0;

  if (!far) {
    window_add(&lo, &hi, s->addr + s->len);
    constrained = 1;
  }
  for (unsigned i = 0; i < nmv; i++) {
    const struct hp_x86_insn *x = &mv[i];
    if (x->kind == HP_X86_PLAIN)
      continue;
    if (x->kind != HP_X86_RIPREL && x->target >= s->addr &&
        x->target < s->addr + s->len)
      continue; /* moves with the trampoline */
    /* Far entries place the trampoline anywhere: only references without
     * an absolute form still bind it. */
    if (far && !(x->kind == HP_X86_RIPREL && x->nofar))
      continue;
    window_add(&lo, &hi, x->target);
    constrained = 1;
  }
  if (constrained && lo > hi) {
    s->flags |= HP_SITE_NO_WINDOW;
    return hp_fail(HOTPATCH_ERELOC,
                   "the instructions at 0x%" PRIx64 " reference addresses too "
                   "far apart for one trampoline to reach them all",
                   s->addr);
  }
  if (constrained) {
    s->tramp_lo = lo;
    s->tramp_hi = hi;
  }
  /* The stub is reached by the entry's jmp rel32, measured from its end. */
  uint64_t e = s->addr + 5;
  s->stub_lo =
      e > HP_X86_ADDR_MIN + HP_X86_REACH ? e - HP_X86_REACH : HP_X86_ADDR_MIN;
  s->stub_hi = e > HP_X86_ADDR_MAX - HP_X86_REACH + 16 ? HP_X86_ADDR_MAX
                                                       : e + HP_X86_REACH - 16;
  return 0;
}

int hp_x86_analyse(const struct hp_code *c, uint32_t need, struct hp_site *s) {
  csh h;
  cs_insn *in;
  struct hp_x86_insn mv[HP_SITE_MAX];
  unsigned nmv = 0;
  size_t off = 0, pos, moved_end;
  int rc;

  if (!s)
    return hp_fail(HOTPATCH_EINVAL, "x86_64 analyse: no site");
  memset(s, 0, sizeof *s);
  if (!c || !c->bytes || c->size == 0 || c->tail > HP_TAIL_MAX || need < 5 ||
      need > HP_SITE_MAX - 15)
    return hp_fail(HOTPATCH_EINVAL, "x86_64 analyse: bad code or need %" PRIu32,
                   need);
  if ((rc = hp_x86_open(&h)) < 0)
    return rc;
  if (!(in = cs_malloc(h))) {
    cs_close(&h);
    return hp_fail(HOTPATCH_ENOMEM, "capstone: cannot allocate");
  }

  s->func = c->addr;
  if (need >= 14)
    s->flags |= HP_SITE_FAR;
  /* The IBT landing pad stays: indirect callers must still find it. */
  if (c->size >= 4 && memcmp(c->bytes, endbr64, 4) == 0) {
    off = 4;
    s->flags |= HP_SITE_ENDBR;
  }
  s->addr = c->addr + off;

  size_t pad = nop_pad(h, in, c, off, need);
  if (pad) {
    s->flags |= HP_SITE_NOP_PAD;
    pos = off + pad;
    moved_end = off;
  } else {
    pos = off;
    while (pos < c->size && pos - off < need) {
      if (nmv == HP_SITE_MAX) { /* cannot happen: instructions are >= 1 */
        rc = hp_fail(HOTPATCH_EDECODE, "too many instructions");
        goto out;
      }
      rc = hp_x86_decode(h, c->bytes + pos, c->size - pos, c->addr + pos, in,
                         &mv[nmv]);
      if (rc == HOTPATCH_EDECODE && c->size - pos < 15 && c->tail) {
        /* Say so when the instruction only decodes across the end. */
        struct hp_x86_insn y;
        if (hp_x86_decode(h, c->bytes + pos, c->size + c->tail - pos,
                          c->addr + pos, in, &y) != HOTPATCH_EDECODE)
          rc = hp_fail(HOTPATCH_EDECODE,
                       "the instruction at 0x%" PRIx64 " crosses the end of "
                       "the function at 0x%" PRIx64 " (%zu bytes)",
                       c->addr + pos, c->addr, c->size);
      }
      if (rc < 0)
        goto out;
      pos += mv[nmv++].len;
    }
    moved_end = pos;
    /* Past the end only verified padding may be overwritten; it is never
     * executed by a function that ends there, so it is not moved. */
    while (pos - off < need) {
      size_t pl = padding_len(h, in, c->bytes + pos, c->size + c->tail - pos,
                              c->addr + pos);
      if (!pl) {
        rc = too_short(c, off, pos, need);
        goto out;
      }
      s->flags |= HP_SITE_PADDING;
      pos += pl;
    }
  }

  s->len = (uint32_t)(pos - off);
  s->ninsn = nmv;
  memcpy(s->orig, c->bytes + off, s->len);

  if ((rc = check_moved(mv, nmv, s)) < 0)
    goto out;
  if ((rc = scan_branches(h, in, c->bytes, c->size, c->addr, s->addr,
                          c->addr + moved_end, "the instruction", s)) < 0)
    goto out;
  if (c->cold_bytes && c->cold_size &&
      (rc = scan_branches(h, in, c->cold_bytes, c->cold_size, c->cold_addr, 0,
                          0, "the cold part's instruction", s)) < 0)
    goto out;
  rc = set_windows(mv, nmv, s);

out:
  cs_free(in, 1);
  cs_close(&h);
  if (rc < 0) {
    uint64_t func = s->func;
    uint32_t keep = s->flags & HP_SITE_NO_WINDOW;
    memset(s, 0, sizeof *s);
    s->func = func;
    s->flags = keep;
  }
  return rc;
}
