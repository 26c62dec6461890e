/* SPDX-License-Identifier: MIT */
/*
 * The functions the lifecycle tests replace (semantics.md E: f, g, h
 * return "orig"). Built with -fno-ipa-ra and kept out of line, so every
 * call goes through the entry that gets patched.
 */
#include "lc.h"

#define LC_TARGET __attribute__((noinline, noipa, used))

LC_TARGET const char *lc_f(void) {
  if (lc_should_block())
    lc_block();
  return "orig";
}

LC_TARGET const char *lc_g(void) { return "orig"; }

LC_TARGET const char *lc_h(void) {
  if (lc_should_block())
    lc_block();
  return "orig";
}
