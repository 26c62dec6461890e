/* SPDX-License-Identifier: MIT */
/*
 * Functions whose entries are landing pads, and replacements for them that
 * live in the same object (so, in the marked copy, on guarded pages too).
 * The compiler writes the pads: with -mbranch-protection=standard a leaf
 * starts with BTI c and a function that saves LR with PACIASP; with
 * -fcf-protection=full both start with endbr64. test_landing.c checks the
 * entry words rather than trusting this.
 *
 * Arithmetic is unsigned so that the sanitizer build adds no overflow
 * checks to the entries.
 */
#include "fx_landing.h"

#define FXL_CAT(k, n) fxl_##k##_##n
#define FXL_EXPAND(k, n) FXL_CAT(k, n)
#define FXL(n) FXL_EXPAND(FXL_KIND, n)

long (*volatile FXL(leaf_orig))(long, long);
long (*volatile FXL(frame_orig))(long, long);
volatile long FXL(calls);

/* Never inlined, so that frame keeps a call and saves LR. */
__attribute__((noipa)) static long FXL(helper)(long a, long b) {
  return (long)((unsigned long)a - (unsigned long)b);
}

long FXL(leaf)(long a, long b) {
  unsigned long x = (unsigned long)a, y = (unsigned long)b;
  return (long)((x * 7 + y) ^ (x >> 3) ^ (y << 2));
}

long FXL(frame)(long a, long b) {
  return (long)((unsigned long)FXL(helper)(a, b) * 3 + (unsigned long)a);
}

/* Never patched: its body, past the landing pad, is where a stray
 * indirect branch lands in the BTI checks. */
long FXL(probe)(long a) { return (long)((unsigned long)a + 1); }

long FXL(leaf_repl)(long a, long b) {
  FXL(calls)++;
  return FXL(leaf_orig)(a, b);
}

long FXL(frame_repl)(long a, long b) {
  FXL(calls)++;
  return FXL(frame_orig)(a, b);
}

#if defined(__aarch64__)
/* A hand-written replacement for leaf with no landing pad: a + b. On a
 * guarded page only a direct B may reach it. */
#define FXL_STR(x) #x
#define FXL_XSTR(x) FXL_STR(x)
#define FXL_NOPAD FXL_XSTR(FXL(nopad_repl))
__asm__(".text\n"
        ".p2align 4\n"
        ".globl " FXL_NOPAD "\n"
        ".type " FXL_NOPAD ", %function\n" FXL_NOPAD ":\n"
        "add x0, x0, x1\n"
        "ret\n"
        ".size " FXL_NOPAD ", .-" FXL_NOPAD "\n");
#endif
