/* SPDX-License-Identifier: MIT */
/*
 * A function whose very first instruction is `bl helper` (fx_bl_first in
 * fx_aarch64.S), through the real pipeline with the near 4-byte site: the
 * BL alone moves to the trampoline, so the helper returns into the
 * trampoline, which jumps back into the function. Such a function cannot
 * return to LR (its BL overwrote it); it returns to x19, set by the
 * fx_call_x19 thunk, and its replacement (fx_bl_first_repl, asm) keeps
 * that convention. Patched, original through the trampoline and direct
 * calls must agree; removal restores the bytes. aarch64 only.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include "hp_maps.h"
#include "modules.h"
#include "site.h"
#include "symbols.h"

long fx_bl_first(long a, long b);
long fx_bl_first_repl(long a, long b);
long fx_call_x19(long a, long b, long (*fn)(long, long));
extern volatile long fx_bl_first_calls;
extern long (*volatile fx_bl_first_orig)(long, long);

static const long args[][2] = {{1, 2}, {0, 0}, {-5, 3}, {100, -1}};
#define NARGS (sizeof args / sizeof args[0])

static void bl_first_runs_patched(void **state) {
  (void)state;
  long want[NARGS];
  for (size_t i = 0; i < NARGS; i++) {
    want[i] = fx_call_x19(args[i][0], args[i][1], fx_bl_first);
    assert_int_equal(want[i], 2 * args[i][0] + args[i][1] + 1);
  }
  struct hp_modules *m = NULL;
  assert_int_equal(hp_modules_snapshot(&m), 0);
  struct hotpatch_func f = {.target = "fx_bl_first"};
  struct hp_target t;
  assert_int_equal(hp_resolve(m, &f, &t), 0);
  hp_modules_free(m);
  uint8_t before[16];
  assert_true(t.size <= sizeof before);
  memcpy(before, (const void *)t.addr, t.size);

  struct hp_site_rt rt;
  int rc = hp_site_prepare(&rt, &t, (uintptr_t)fx_bl_first_repl);
  if (rc)
    fprintf(stderr, "fx_bl_first: %s\n", hotpatch_last_error());
  assert_int_equal(rc, 0);
  /* The near site is the BL alone, a call the trampoline now returns to. */
  assert_int_equal(rt.s.addr, t.addr);
  assert_int_equal(rt.s.len, 4);
  assert_int_equal(rt.s.flags & (HP_SITE_CALL | HP_SITE_FAR), HP_SITE_CALL);
  fx_bl_first_orig = (long (*)(long, long))hp_site_original(&rt);

  assert_int_equal(hp_site_arm(&rt), 0);
  assert_int_equal(hp_site_install(&rt), 0);
  hp_site_disarm(&rt);
  assert_memory_equal((const void *)t.addr, rt.entry, 4);
  assert_int_equal(hp_test_count_rwx(), 0);
  for (size_t i = 0; i < NARGS; i++) {
    long calls = fx_bl_first_calls;
    assert_int_equal(fx_call_x19(args[i][0], args[i][1], fx_bl_first), want[i]);
    assert_int_equal(fx_bl_first_calls, calls + 1);
    assert_int_equal(fx_call_x19(args[i][0], args[i][1], fx_bl_first_orig),
                     want[i]);
    assert_int_equal(fx_bl_first_calls, calls + 1);
  }

  assert_int_equal(hp_site_arm(&rt), 0);
  assert_int_equal(hp_site_remove(&rt), 0);
  hp_site_disarm(&rt);
  assert_memory_equal((const void *)t.addr, before, t.size);
  long calls = fx_bl_first_calls;
  for (size_t i = 0; i < NARGS; i++)
    assert_int_equal(fx_call_x19(args[i][0], args[i][1], fx_bl_first), want[i]);
  assert_int_equal(fx_bl_first_calls, calls);
  hp_site_release(&rt);
  fx_bl_first_orig = NULL;
  assert_int_equal(hp_test_count_rwx(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(bl_first_runs_patched),
  };
  return cmocka_run_group_tests_name("rewrite_bl_first", tests, NULL, NULL);
}
