/* SPDX-License-Identifier: MIT */
/*
 * Functions the apply tests replace. Built with -fno-ipa-ra (docs/
 * writing-patches.md: callers must not rely on a callee's register use)
 * and kept out of line and out of inter-procedural analysis, so every call
 * goes through the entry that gets patched.
 */
#include <time.h>

#include "targets.h"

#define HP_TARGET __attribute__((noinline, noipa, used))

HP_TARGET long ap_value(long x) { return x + 1; }

HP_TARGET long ap_other(long x) { return x * 3; }

HP_TARGET long ap_sleep_in(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
  return ms + 7;
}
