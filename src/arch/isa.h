/* SPDX-License-Identifier: MIT */
/*
 * The instruction-set backends: what to overwrite at a function's entry,
 * how to move the overwritten instructions into a trampoline, which jumps
 * to write. Pure functions over byte buffers with explicit addresses: they
 * never read or write the process's code, so both backends are compiled on
 * every host and unit-tested there (the aarch64 one on x86_64 through
 * capstone's ARM64 mode, and the other way round under qemu).
 *
 * Host-only operations (serialise, cache maintenance, reading a
 * ucontext_t) are in host.h.
 *
 * The flow, for one function (site.c):
 *   1. analyse(code, need)   -> struct hp_site: where to write, how many
 *      bytes, the original bytes, the window a trampoline must lie in.
 *   2. allocate a trampoline in that window (nearmem.c), then
 *      relocate(site, tramp) -> trampoline bytes: a landing pad, the moved
 *      instructions rewritten for their new address, a jump back to
 *      site->addr + site->len.
 *   3. if the replacement is out of direct-jump range of the entry jump,
 *      allocate a stub near the site: stub(stub_addr, repl).
 *   4. entry(site, to) -> the site->len bytes to write at site->addr.
 * Every function returns 0 or a negative HOTPATCH_E* code with an hp_fail
 * detail naming the instruction (address and disassembly) at fault.
 *
 * Thread-safety: every function here is reentrant (each call opens its own
 * capstone handle). None is async-signal-safe (capstone allocates); all of
 * them run before any thread is parked.
 */
#ifndef HP_ARCH_ISA_H
#define HP_ARCH_ISA_H

#include <stddef.h>
#include <stdint.h>

/* Bytes a site may overwrite, and a trampoline may hold. */
#define HP_SITE_MAX 32
#define HP_TRAMP_MAX 512
/* Bytes of padding after a function's end that analyse may be shown. */
#define HP_TAIL_MAX 32

/* The code of one function, as analyse sees it. */
struct hp_code {
  uint64_t addr;             /* runtime address of the entry */
  const uint8_t *bytes;      /* bytes[0 .. size + tail) */
  size_t size;               /* st_size; > 0 */
  size_t tail;               /* readable bytes after the end, not inside any
                                other symbol (0 .. HP_TAIL_MAX): may be used only
                                if they are verified padding (NOPs, int3/brk) */
  uint64_t cold_addr;        /* foo.cold, scanned for branches into the site; */
  const uint8_t *cold_bytes; /* NULL if none */
  size_t cold_size;
  unsigned flags; /* HP_CODE_* */
};

/* hp_code.flags */
#define HP_CODE_BTI 0x1u /* the object is BTI-enabled (aarch64 property) */

/* hp_site.flags: what analyse found. */
#define HP_SITE_ENDBR 0x01u /* x86: endbr64 kept at the entry, site at +4 */
#define HP_SITE_BTI 0x02u   /* aarch64: BTI c/jc kept, site at +4 */
#define HP_SITE_PAC                                                            \
  0x04u /* aarch64: PACIxSP at +0 is rewritten to                              \
           BTI c and moved to the trampoline */
#define HP_SITE_NOP_PAD                                                        \
  0x08u /* the site is a NOP pad                                               \
           (-fpatchable-function-entry): nothing to                            \
           relocate but the NOPs */
#define HP_SITE_PADDING                                                        \
  0x10u /* the site extends into verified padding                              \
           after the function's end */
#define HP_SITE_CALL                                                           \
  0x20u /* a call is relocated: return addresses may                           \
           point into the trampoline, which must live                          \
           as long as any thread may return there */
#define HP_SITE_ENTRY_LOOP                                                     \
  0x40u                   /* a branch targets the entry itself: after          \
                             patching it re-enters the replacement             \
                             (allowed, reported) */
#define HP_SITE_FAR 0x80u /* analysed for the far (absolute) entry */
#define HP_SITE_NO_WINDOW                                                      \
  0x100u /* kept on a failed analysis (HOTPATCH_ERELOC): the references are    \
            too far apart for one trampoline in direct range of them all;      \
            the far entry jump, which needs no such window, may still work */

struct hp_site {
  uint64_t func;     /* the function's entry (hp_code.addr) */
  uint64_t addr;     /* first byte overwritten (func, or func + 4 after a
                        landing pad kept in place, or func for PAC) */
  uint32_t len;      /* bytes overwritten: whole instructions, >= need */
  uint32_t jump_off; /* offset in the overwritten bytes where the entry
                        jump goes (4 for PAC: BTI c comes first), else 0 */
  uint32_t flags;    /* HP_SITE_* */
  uint32_t ninsn;    /* instructions in the overwritten bytes */
  uint8_t orig[HP_SITE_MAX]; /* the original bytes at addr */
  /* Where the trampoline may be placed: every byte of it in [lo, hi], so
   * that the jump back and every relocated PC-relative reference stay in
   * direct range. lo <= hi; both 0 when the backend can reach anything. */
  uint64_t tramp_lo, tramp_hi;
  /* Where a stub may be placed: within direct-jump range of the site's
   * entry jump. */
  uint64_t stub_lo, stub_hi;
};

struct hp_isa {
  const char *name;       /* "x86_64", "aarch64" */
  unsigned elf_machine;   /* EM_X86_64, EM_AARCH64 */
  uint32_t near_jump_len; /* entry jump in direct range: 5, 4 */
  uint32_t far_jump_len;  /* absolute entry jump: 14, 16 */
  uint32_t stub_len;      /* bytes of a stub */
  uint32_t tramp_align;   /* alignment of trampolines and stubs */

  /*
   * Decide the site for a jump of `need` bytes (near_jump_len, or
   * far_jump_len when no memory is near: then the entry jump itself is
   * absolute and the trampoline may be anywhere). Fills *s.
   *   HOTPATCH_ETOOSHORT  the function (plus verified padding) is shorter
   *   HOTPATCH_EBRANCHIN  a direct branch in the function or its .cold part
   *                       lands inside (addr, addr + len)
   *   HOTPATCH_ERELOC     an instruction in the bytes to move cannot be
   *                       relocated (xbegin, an unknown PC-relative form)
   *   HOTPATCH_EDECODE    an instruction in the bytes to move cannot be
   *                       decoded
   */
  int (*analyse)(const struct hp_code *c, uint32_t need, struct hp_site *s);

  /*
   * Write the trampoline for `s` as it will run at address `at` into buf
   * (cap bytes), set *len. It starts with a landing pad (endbr64 / BTI c,
   * or PACIxSP for HP_SITE_PAC), then the moved instructions, then a
   * jump back to s->addr + s->len (direct when in range; x86_64 has
   * absolute forms for everything but a few memory operands).
   *   HOTPATCH_ENONEAR  aarch64: `at` is outside [tramp_lo, tramp_hi] (its
   *                     branches have no far form that keeps BTI and GCS)
   *   HOTPATCH_ERELOC   x86_64: an instruction with no far form (push/pop/
   *                     call/jmp [rip+x], a RIP-relative use of rsp) is out
   *                     of disp32 range from `at`
   *   HOTPATCH_EINVAL   aarch64: `at` is not 4-aligned
   *   HOTPATCH_ENOMEM   cap too small
   */
  int (*relocate)(const struct hp_site *s, uint64_t at, uint8_t *buf,
                  size_t cap, size_t *len);

  /*
   * The s->len bytes to write at s->addr: [prefix,] a jump to `to`, and
   * filler (int3 / brk) up to s->len. `to` must be in direct range unless
   * the site was analysed with HP_SITE_FAR.
   *   HOTPATCH_ENONEAR  `to` is out of range for this site
   */
  int (*entry)(const struct hp_site *s, uint64_t to, uint8_t *out);

  /* A stub at `at` that jumps to `to` anywhere (stub_len bytes). */
  int (*stub)(uint64_t at, uint64_t to, uint8_t *out);

  /* Disassemble one instruction for messages: "lea rax, [rip + 0x10]". */
  void (*describe)(const uint8_t *bytes, size_t len, uint64_t addr, char *out,
                   size_t cap);
};

extern const struct hp_isa hp_isa_x86_64;
extern const struct hp_isa hp_isa_aarch64;

#endif
