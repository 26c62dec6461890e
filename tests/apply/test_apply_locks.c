/* SPDX-License-Identifier: MIT */
/*
 * hotpatch_apply while another thread holds a lock the patcher could
 * want: inside malloc (this binary routes every allocation through one
 * lock, tests/park/park_holders.h), inside dlopen() of a library whose
 * constructor sleeps (the loader lock), inside a dl_iterate_phdr()
 * callback that sleeps. Each holds it for 300 ms.
 *
 * Twice each: held while the action prepares (threads running: waiting
 * for it is allowed, and bounded by the hold), and taken after the
 * preparation, right before the stop (hp_park_test_before_stop), so that
 * the thread is parked holding it: nothing in the parked window may need
 * it. No deadlock (alarm turns one into a failure), success or a clean
 * HOTPATCH_EBUSY, within the deadline plus the hold plus a margin.
 */
#include "hp_test.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ap_util.h"
#include "hotpatch.h"
#include "park.h"
#include "park_holders.h"
#include "park_util.h"
#include "targets.h"

#define TIMEOUT_MS 1000

static hotpatch_patch *patch;
static const struct pu_holder *late;
static pthread_t late_thread;

static void hold_before_stop(void) {
  hp_park_test_before_stop = NULL;
  late_thread = pu_holder_start(late);
}

static void apply_beside(const struct pu_holder *h, int across_stop) {
  pthread_t t = 0;
  if (across_stop) {
    late = h;
    hp_park_test_before_stop = hold_before_stop;
  } else {
    t = pu_holder_start(h);
  }
  alarm(30);
  uint64_t t0 = ap_now_ms();
  struct hotpatch_opts o = {.timeout_ms = TIMEOUT_MS};
  int rc = hotpatch_apply(patch, &o);
  uint64_t ms = ap_now_ms() - t0;
  alarm(0);
  printf("apply: a thread inside %s %s: %s in %llu ms%s%s\n", h->what,
         across_stop ? "across the stop" : "during the preparation",
         rc ? hotpatch_err_name(rc) : "ok", (unsigned long long)ms,
         rc ? ": " : "", rc ? hotpatch_last_error() : "");
  if (across_stop) {
    assert_null(hp_park_test_before_stop); /* it was held at the stop */
    t = late_thread;
  }
  assert_true(rc == 0 || rc == HOTPATCH_EBUSY);
  /* The hold (waited for while preparing, or by what the action frees
   * after the release), and a margin for a loaded 2-CPU machine; qemu-user
   * prepares ten times slower. */
  assert_true(ms < TIMEOUT_MS + PU_HOLD_MS + (pu_under_qemu() ? 1500 : 250));
  pu_holder_join(h, t);
  if (rc == 0) {
    assert_int_equal(ap_value(5), 1006);
    assert_int_equal(hotpatch_revert(patch, NULL), 0);
  }
  assert_int_equal(ap_value(5), 6);
}

static void apply_beside_a_thread_inside_malloc(void **state) {
  (void)state;
  apply_beside(&pu_hold_malloc, 0);
  apply_beside(&pu_hold_malloc, 1);
}

static void apply_beside_a_thread_inside_dlopen(void **state) {
  (void)state;
  apply_beside(&pu_hold_dlopen, 0);
  apply_beside(&pu_hold_dlopen, 1);
}

static void apply_beside_a_thread_inside_dl_iterate_phdr(void **state) {
  (void)state;
  apply_beside(&pu_hold_phdr, 0);
  apply_beside(&pu_hold_phdr, 1);
}

int main(void) {
  patch = ap_register_value_other("locks");
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(apply_beside_a_thread_inside_malloc),
      cmocka_unit_test(apply_beside_a_thread_inside_dlopen),
      cmocka_unit_test(apply_beside_a_thread_inside_dl_iterate_phdr),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  hotpatch_unload(patch);
  return rc;
}
