/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the x86_64 analyser and relocator: how one decoded
 * instruction must be treated when it moves. analyse() and relocate() both
 * classify with the same function, so relocate() can work from the
 * original bytes kept in struct hp_site alone.
 *
 * hp_site.ninsn, for this backend, counts the instructions moved to the
 * trampoline: the function's own instructions at the site. Padding after
 * the function's end (HP_SITE_PADDING) and the NOPs of a NOP pad
 * (HP_SITE_NOP_PAD, ninsn 0) are overwritten but never moved.
 */
#ifndef HP_ARCH_X86_64_X86_H
#define HP_ARCH_X86_64_X86_H

#include <stdint.h>

#include <capstone/capstone.h>

#include "arch/isa.h"

/* rel32 reaches ±2 GiB; windows keep a margin for the code and data that
 * references are measured from (and for rounding by the allocator). */
#define HP_X86_REACH (0x80000000ull - 0x1000000ull)
#define HP_X86_ADDR_MIN 0x10000ull
#define HP_X86_ADDR_MAX 0x7fffffffffffull

enum hp_x86_kind {
  HP_X86_PLAIN,  /* copied verbatim */
  HP_X86_RIPREL, /* [rip + disp32] memory operand */
  HP_X86_JMP,    /* jmp rel8/rel32 */
  HP_X86_JCC,    /* jcc rel8/rel32 */
  HP_X86_CALL,   /* call rel32 */
  HP_X86_LOOP,   /* jrcxz/jecxz/loop/loope/loopne rel8 (no rel32 form) */
};

/* Scratch register numbers the far RIP-relative form may use. */
#define HP_X86_NO_SCRATCH 0xffu

struct hp_x86_insn {
  uint64_t addr;
  uint64_t target; /* RIPREL: the data's address; branches: the target */
  uint8_t len;
  uint8_t kind;      /* enum hp_x86_kind */
  uint8_t cc;        /* JCC: condition, the low nibble of the opcode */
  uint8_t modrm;     /* RIPREL: offset of the ModRM byte; disp32 follows */
  uint8_t scratch;   /* RIPREL: 0..7 (rax..rdi) for the far form, or
                        HP_X86_NO_SCRATCH when there is none */
  uint8_t is_call;   /* any call: its return address is in the trampoline */
  const char *nofar; /* RIPREL without a far form: why (for messages) */
  uint8_t bytes[16];
};

/* A capstone handle for x86_64 with details on; 0 or HOTPATCH_ENOMEM. */
int hp_x86_open(csh *h);

/*
 * Decode the instruction at `bytes` (at most `max` bytes) at `addr` into
 * `in` (a cs_malloc'ed buffer) and classify it into `out`.
 *   HOTPATCH_EDECODE  not an instruction within `max` bytes
 *   HOTPATCH_ERELOC   a PC-relative form this backend cannot move (xbegin,
 *                     an operand-size prefixed branch, a call to the next
 *                     instruction (get-PC), an unknown reader of RIP)
 */
int hp_x86_decode(csh h, const uint8_t *bytes, size_t max, uint64_t addr,
                  cs_insn *in, struct hp_x86_insn *out);

/* The hp_isa operations (isa.c holds the table). */
int hp_x86_analyse(const struct hp_code *c, uint32_t need, struct hp_site *s);
int hp_x86_relocate(const struct hp_site *s, uint64_t at, uint8_t *buf,
                    size_t cap, size_t *len);

/* "mnemonic op_str" of `in`, or "(bad) xx xx" of the bytes. */
void hp_x86_text(const cs_insn *in, const uint8_t *bytes, size_t len, char *out,
                 size_t cap);

/* describe(): one instruction at `addr` as text. */
void hp_x86_describe(const uint8_t *bytes, size_t len, uint64_t addr, char *out,
                     size_t cap);

/* "xx xx xx" of up to 16 bytes. */
void hp_x86_hex(const uint8_t *bytes, size_t len, char *out, size_t cap);

#endif
