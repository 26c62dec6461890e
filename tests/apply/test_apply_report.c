/* SPDX-License-Identifier: MIT */
/*
 * What an action says and does around the switch, through
 * hotpatch_apply/hotpatch_revert: every thread in the way is named (and a
 * long list is cut), one summary line per call, membarrier SYNC_CORE
 * issued after each switch where the kernel has it (and nothing breaks
 * where it does not), and a revert refuses while a thread holds the
 * trampoline's address about to be freed.
 */
#include "hp_test.h"

#include <linux/membarrier.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ap_util.h"
#include "errors.h"
#include "hotpatch.h"
#include "park.h"
#include "park_util.h"
#include "targets.h"

static struct hotpatch_opts opts_ms(uint32_t ms) {
  return (struct hotpatch_opts){.timeout_ms = ms};
}

/* --- every thread in the way, named -------------------------------------- */

static long new_sleep_in(long ms) { return ms + 70000; }

static hotpatch_patch *register_sleep_in(const char *name) {
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_sleep_in", .replacement = (void *)new_sleep_in}, {0}};
  return ap_register(name, funcs);
}

struct sleeper {
  pthread_t th;
  atomic_int tid;
  long ms, result;
};

static void *sleeper_main(void *v) {
  struct sleeper *s = v;
  atomic_store(&s->tid, pu_gettid());
  s->result = ap_sleep_in(s->ms);
  return NULL;
}

/* n threads asleep inside ap_sleep_in for `ms`; EBUSY; returns the
 * detail. */
static const char *busy_with_sleepers(struct sleeper *s, int n, long ms,
                                      hotpatch_patch *p) {
  for (int i = 0; i < n; i++) {
    s[i] = (struct sleeper){.ms = ms};
    s[i].th = pu_spawn(sleeper_main, &s[i]);
  }
  for (int i = 0; i < n; i++)
    while (!atomic_load(&s[i].tid))
      pu_sleep_ms(1);
  pu_sleep_ms(pu_under_qemu() ? 500 : 100); /* all asleep inside now */
  struct hotpatch_opts o = opts_ms(200);
  assert_int_equal(hotpatch_apply(p, &o), HOTPATCH_EBUSY);
  return hotpatch_last_error();
}

static void every_thread_inside_is_named(void **state) {
  (void)state;
  hotpatch_patch *p = register_sleep_in("three-inside");
  struct sleeper s[3];
  const char *e = busy_with_sleepers(s, 3, pu_under_qemu() ? 3000 : 1000, p);
  printf("apply: %s\n", e);
  for (int i = 0; i < 3; i++) {
    char want[64];
    snprintf(want, sizeof want, "thread %d '", atomic_load(&s[i].tid));
    if (!strstr(e, want))
      fail_msg("tid %d not named in: %s", atomic_load(&s[i].tid), e);
  }
  assert_non_null(strstr(e, "in ap_sleep_in"));
  assert_null(strstr(e, " more"));
  for (int i = 0; i < 3; i++) {
    pthread_join(s[i].th, NULL);
    assert_int_equal(s[i].result, s[i].ms + 7); /* finished in old code */
  }
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void a_long_list_of_threads_is_cut_and_counted(void **state) {
  (void)state;
  enum { N = 40 };
  hotpatch_patch *p = register_sleep_in("forty-inside");
  static struct sleeper s[N];
  const char *e = busy_with_sleepers(s, N, pu_under_qemu() ? 4000 : 1500, p);
  printf("apply: %zu bytes: %s\n", strlen(e), e);
  assert_true(strlen(e) < HP_ERROR_MAX);
  /* The threads it shows, and "and N more" for the rest: all 40. */
  int shown = 0;
  for (int i = 0; i < N; i++) {
    char want[64];
    snprintf(want, sizeof want, "thread %d '", atomic_load(&s[i].tid));
    shown += strstr(e, want) != NULL;
  }
  const char *more = strstr(e, "; and ");
  assert_non_null(more);
  int rest = atoi(more + 6);
  assert_non_null(strstr(more, " more"));
  assert_true(shown >= 3);
  assert_int_equal(shown + rest, N);
  for (int i = 0; i < N; i++)
    pthread_join(s[i].th, NULL);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- one summary line per action ---------------------------------------- */

#define MAX_LINES 64
static struct {
  int level;
  char msg[1024];
} lines[MAX_LINES];
static atomic_int nlines;

static void capture(int level, const char *msg, void *arg) {
  (void)arg;
  int i = atomic_fetch_add(&nlines, 1);
  if (i < MAX_LINES) {
    lines[i].level = level;
    snprintf(lines[i].msg, sizeof lines[i].msg, "%s", msg);
  }
}

/* The one line of this call starting with `prefix`; fails unless exactly
 * one. */
static const char *summary(const char *prefix, int *level) {
  const char *found = NULL;
  int n = 0;
  for (int i = 0; i < atomic_load(&nlines) && i < MAX_LINES; i++)
    if (!strncmp(lines[i].msg, prefix, strlen(prefix))) {
      found = lines[i].msg;
      *level = lines[i].level;
      n++;
    }
  if (n != 1)
    fail_msg("%d lines start with \"%s\"", n, prefix);
  assert_non_null(strstr(found, "pause "));
  assert_non_null(strstr(found, " ms, "));
  assert_non_null(strstr(found, " tr"));
  assert_non_null(strstr(found, "signal resend"));
  atomic_store(&nlines, 0);
  return found;
}

static void each_action_logs_one_summary_line(void **state) {
  (void)state;
  hotpatch_patch *p = ap_register_value_other("summary");
  atomic_store(&nlines, 0);
  hotpatch_set_logger(capture, NULL);
  int level;
  const char *l;

  assert_int_equal(hotpatch_apply(p, NULL), 0);
  l = summary("hotpatch_apply 'summary': ok; ", &level);
  assert_int_equal(level, HOTPATCH_LOG_INFO);
  assert_non_null(strstr(l, "1 try"));

  assert_int_equal(hotpatch_apply(p, NULL), 0);
  l = summary("hotpatch_apply 'summary': ok (already applied", &level);
  assert_int_equal(level, HOTPATCH_LOG_INFO);
  assert_non_null(strstr(l, "0 tries"));

  assert_int_equal(hotpatch_revert(p, NULL), 0);
  l = summary("hotpatch_revert 'summary': ok; ", &level);
  assert_int_equal(level, HOTPATCH_LOG_INFO);

  assert_int_equal(hotpatch_revert(p, NULL), 0);
  l = summary("hotpatch_revert 'summary': ok (not applied", &level);
  assert_int_equal(level, HOTPATCH_LOG_INFO);

  /* A failure: error level, with the detail. */
  hotpatch_patch *q = register_sleep_in("summary-busy");
  struct sleeper s[1];
  busy_with_sleepers(s, 1, pu_under_qemu() ? 3000 : 800, q);
  l = summary("hotpatch_apply 'summary-busy': HOTPATCH_EBUSY; ", &level);
  assert_int_equal(level, HOTPATCH_LOG_ERROR);
  assert_non_null(strstr(l, "not every thread is at a safe point"));
  printf("apply: %s\n", l);
  pthread_join(s[0].th, NULL);

  assert_int_equal(hotpatch_apply(NULL, NULL), HOTPATCH_EINVAL);
  l = summary("hotpatch_apply '(null)': HOTPATCH_EINVAL", &level);
  assert_int_equal(level, HOTPATCH_LOG_ERROR);

  hotpatch_set_logger(NULL, NULL);
  assert_int_equal(hotpatch_unload(q), 0);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- membarrier SYNC_CORE ----------------------------------------------- */

static void sync_core_is_issued_after_each_switch_where_available(void **st) {
  (void)st;
  long q = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  int kernel_has = q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE);
  hotpatch_patch *p = ap_register_value_other("sync-core");
  struct hp_park_counters c0, c1;
  hp_park_counters(&c0);
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  hp_park_counters(&c1);
  assert_int_equal(hp_park_sync_core_available(), kernel_has);
  printf("apply: membarrier SYNC_CORE %s; issued %lu times for 2 switches\n",
         kernel_has ? "available" : "not available",
         c1.sync_core - c0.sync_core);
  if (!kernel_has) {
    assert_int_equal(c1.sync_core, c0.sync_core);
    printf("SKIPPED: the kernel (or emulator) has no "
           "MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: only the "
           "'works without it' half is checked\n");
  } else {
    assert_int_equal(c1.sync_core - c0.sync_core, 2);
  }
  /* As on a kernel without it: everything still works, nothing issued. */
  hp_park_test_no_sync_core = 1;
  hp_park_counters(&c0);
  for (int k = 0; k < 3; k++) {
    assert_int_equal(hotpatch_apply(p, NULL), 0);
    assert_int_equal(ap_value(5), 1006);
    assert_int_equal(hotpatch_revert(p, NULL), 0);
    assert_int_equal(ap_value(5), 6);
  }
  hp_park_counters(&c1);
  hp_park_test_no_sync_core = 0;
  assert_int_equal(c1.sync_core, c0.sync_core);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- the trampoline's own address, held by a thread ---------------------- */

static atomic_int holder_phase;
static atomic_long holder_result;

/* Keeps the original (the trampoline's first address) in a live stack
 * slot, as a thread about to call it does, then calls it. Cooperative:
 * it parks in hotpatch_safepoint(), so there is no interrupted context to
 * unwind from and the scan's verdict stands (a signal-parked thread's
 * slot would be proved no return address, and passed: a copy of
 * `original` must not leave its replacement, docs/writing-patches.md). */
__attribute__((noinline)) static void *holder_main(void *v) {
  (void)v;
  if (hotpatch_thread_cooperative(1))
    abort();
  volatile uintptr_t keep = (uintptr_t)ap_old_value;
  atomic_store(&holder_phase, 1);
  while (atomic_load(&holder_phase) == 1) {
    hotpatch_safepoint();
    pu_sleep_ms(1);
  }
  long (*f)(long) = (long (*)(long))keep;
  atomic_store(&holder_result, f(41));
  hotpatch_thread_cooperative(0);
  return NULL;
}

static void revert_waits_for_a_thread_holding_the_trampoline(void **state) {
  (void)state;
  hotpatch_patch *p = ap_register_value_other("held");
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  atomic_store(&holder_phase, 0);
  pthread_t t = pu_spawn(holder_main, NULL);
  while (!atomic_load(&holder_phase))
    pu_sleep_ms(1);
  /* Freed now, the call below would run freed memory. */
  struct hotpatch_opts o = opts_ms(200);
  int rc = hotpatch_revert(p, &o);
  printf("revert while a thread holds the original: %s: %s\n",
         hotpatch_err_name(rc), hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_non_null(strstr(hotpatch_last_error(), "in ap_value"));
  assert_int_equal(hotpatch_is_applied(p), 1);
  atomic_store(&holder_phase, 2);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&holder_result), 42); /* the old code, alive */
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(ap_value(5), 6);
  assert_int_equal(hotpatch_unload(p), 0);
}

int main(void) {
  struct hotpatch_config c = {.log_level = HOTPATCH_LOG_INFO};
  if (hotpatch_init(&c))
    return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_thread_inside_is_named),
      cmocka_unit_test(a_long_list_of_threads_is_cut_and_counted),
      cmocka_unit_test(each_action_logs_one_summary_line),
      cmocka_unit_test(sync_core_is_issued_after_each_switch_where_available),
      cmocka_unit_test(revert_waits_for_a_thread_holding_the_trampoline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
