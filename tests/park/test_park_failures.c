/* SPDX-License-Identifier: MIT */
/*
 * Stops that fail, and signals that must not park anyone: a thread that
 * blocks the park signal, a park signal someone else handles, a signal of
 * an old generation arriving late, more threads than prepared for, a
 * thread count that never agrees with the thread list.
 */
#include "hp_test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "hotpatch.h"
#include "park.h"
#include "park_util.h"

enum { RUN, BLOCK, UNBLOCK_LATER, QUIT };

struct subject {
  atomic_int tid;
  atomic_int cmd;     /* what to do next */
  atomic_int acked;   /* the last command done */
  atomic_ulong count; /* runs while not parked */
  int hold_ms;        /* UNBLOCK_LATER: how long still blocked */
};

static void *subject_main(void *v) {
  struct subject *s = v;
  int sig = hp_config().park_signal;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  atomic_store(&s->tid, pu_gettid());
  for (;;) {
    int c = atomic_load(&s->cmd);
    if (c == QUIT)
      break;
    if (c == BLOCK && atomic_load(&s->acked) != BLOCK) {
      pthread_sigmask(SIG_BLOCK, &set, NULL);
      atomic_store(&s->acked, BLOCK);
    }
    if (c == UNBLOCK_LATER && atomic_load(&s->acked) != UNBLOCK_LATER) {
      uint64_t until = hp_now_ns() + (uint64_t)s->hold_ms * 1000000u;
      while (hp_now_ns() < until)
        atomic_fetch_add(&s->count, 1);
      pthread_sigmask(SIG_UNBLOCK, &set, NULL);
      atomic_store(&s->acked, UNBLOCK_LATER);
    }
    atomic_fetch_add(&s->count, 1);
  }
  return NULL;
}

static pthread_t start_subject(struct subject *s) {
  memset(s, 0, sizeof *s);
  pthread_t t = pu_spawn(subject_main, s);
  while (!atomic_load(&s->tid))
    pu_sleep_ms(1);
  return t;
}

static void command(struct subject *s, int c) {
  atomic_store(&s->cmd, c);
  while (atomic_load(&s->acked) != c)
    pu_sleep_ms(1);
}

static void runs_on(struct subject *s) {
  unsigned long c0 = atomic_load(&s->count);
  for (int i = 0; i < 5000 && atomic_load(&s->count) == c0; i++)
    pu_sleep_ms(1);
  assert_true(atomic_load(&s->count) != c0);
}

static void is_parked(const struct hp_park *p, struct subject *s) {
  const struct hp_slot *sl = pu_slot_of(p, atomic_load(&s->tid));
  assert_non_null(sl);
  assert_int_equal(sl->state, HP_SLOT_PARKED);
  unsigned long c0 = atomic_load(&s->count);
  pu_sleep_ms(50);
  assert_int_equal(atomic_load(&s->count), c0);
}

/* The stop now succeeds, parks the subject, releases it; then it ends. */
static void stops_then_quits(struct hp_park *p, struct subject *s,
                             pthread_t t) {
  assert_int_equal(hp_park_stop(p, hp_now_ns() + 5000000000u), 0);
  assert_int_equal(p->rescans, 0);
  is_parked(p, s);
  hp_park_release(p);
  hp_park_finish(p);
  runs_on(s);
  atomic_store(&s->cmd, QUIT);
  pthread_join(t, NULL);
}

static void
a_thread_blocking_the_signal_fails_the_stop_in_time_and_is_named(void **state) {
  (void)state;
  struct subject s;
  pthread_t t = start_subject(&s);
  s.hold_ms = 2000;
  command(&s, BLOCK);
  atomic_store(&s.cmd, UNBLOCK_LATER); /* blocked for 2 s from now */

  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  uint64_t t0 = hp_now_ns();
  int rc = hp_park_stop(&p, t0 + 500000000u);
  uint64_t ms = (hp_now_ns() - t0) / 1000000u;
  printf("park: stop with a thread blocking the signal failed after %llu ms "
         "(deadline 500 ms), %d resends\n",
         (unsigned long long)ms, p.retries_signal);
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_true(ms >= 499 && ms < 1500);
  assert_true(p.retries_signal >= 1); /* resent after 100 ms */
  char want[64], buf[512];
  snprintf(want, sizeof want, "tid %d ", atomic_load(&s.tid));
  assert_non_null(strstr(hotpatch_last_error(), want));
  hp_park_describe_stragglers(&p, buf, sizeof buf);
  printf("park: stragglers: %s\n", buf);
  assert_non_null(strstr(buf, want));
  if (pu_under_qemu())
    printf("park: NOTE: under qemu the kernel sees the emulator's signal "
           "mask, not the guest's: 'blocks signal' is not checked\n");
  else
    assert_non_null(strstr(buf, "blocks signal"));
  /* Released: the subject runs while it waits out its 2 s. */
  assert_int_equal(atomic_load(&s.acked), BLOCK);
  runs_on(&s);

  while (atomic_load(&s.acked) != UNBLOCK_LATER)
    pu_sleep_ms(10);
  stops_then_quits(&p, &s, t);
}

static void foreign_handler(int sig) { (void)sig; }

static void
a_signal_handled_by_someone_else_is_refused_and_named(void **state) {
  (void)state;
  int sig = hp_config().park_signal;
  struct sigaction saved, sa;
  assert_int_equal(sigaction(sig, NULL, &saved), 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = foreign_handler;
  assert_int_equal(sigaction(sig, &sa, NULL), 0);

  struct hp_park p;
  int rc = hp_park_prepare(&p);
  char want_sig[32], want_fn[32];
  snprintf(want_sig, sizeof want_sig, "signal %d ", sig);
  snprintf(want_fn, sizeof want_fn, "%p", (void *)foreign_handler);
  printf("park: %s\n", hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_non_null(strstr(hotpatch_last_error(), want_sig));
  assert_non_null(strstr(hotpatch_last_error(), want_fn));
  assert_non_null(strstr(hotpatch_last_error(), "HOTPATCH_SIGNAL"));
  /* Nothing was kept, and the other handler is still there. */
  assert_int_equal(p.task_fd, -1);
  assert_null(p.slot);
  struct sigaction now;
  sigaction(sig, NULL, &now);
  assert_ptr_equal(now.sa_handler, foreign_handler);

  assert_int_equal(sigaction(sig, &saved, NULL), 0);
  assert_int_equal(hp_park_prepare(&p), 0);
  hp_park_finish(&p);
}

static void a_late_signal_of_an_old_generation_is_ignored(void **state) {
  (void)state;
  int sig = hp_config().park_signal;
  struct subject s;
  pthread_t t = start_subject(&s);
  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  assert_int_equal(hp_park_stop(&p, hp_now_ns() + 5000000000u), 0);
  const struct hp_slot *sl = pu_slot_of(&p, atomic_load(&s.tid));
  assert_non_null(sl);
  uint32_t idx = (uint32_t)(sl - p.slot), old = p.gen;
  hp_park_release(&p);

  /* No stop active: the handler returns at once. So does it for a signal
   * that is not ours (SI_USER), sent to the whole process. */
  assert_int_equal(pu_send_park(sig, atomic_load(&s.tid), idx, old), 0);
  runs_on(&s);
  assert_int_equal(kill(getpid(), sig), 0);
  runs_on(&s);

  /* A stop is active and the old signal, for the same slot and tid, is
   * delivered before the new one (real-time signals queue in order): it
   * must not park the thread, or the new one would find the slot taken
   * and the thread would run on while reported parked. */
  command(&s, BLOCK);
  assert_int_equal(pu_send_park(sig, atomic_load(&s.tid), idx, old), 0);
  s.hold_ms = 200;
  atomic_store(&s.cmd, UNBLOCK_LATER);
  uint64_t t0 = hp_now_ns();
  assert_int_equal(hp_park_stop(&p, t0 + 5000000000u), 0);
  /* It parked when it unblocked (inside pthread_sigmask). */
  assert_true(hp_now_ns() - t0 >= 100000000u);
  assert_true(p.gen != old);
  is_parked(&p, &s);
  hp_park_release(&p);
  hp_park_finish(&p);
  while (atomic_load(&s.acked) != UNBLOCK_LATER)
    pu_sleep_ms(1);
  runs_on(&s);
  atomic_store(&s.cmd, QUIT);
  pthread_join(t, NULL);
}

static void *sleeper(void *v) {
  (void)v;
  pu_sleep_ms(1500);
  return NULL;
}

static void more_threads_than_prepared_for_fail_cleanly(void **state) {
  (void)state;
  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  size_t extra = p.cap + 8;
  pthread_t *t = calloc(extra, sizeof *t);
  for (size_t i = 0; i < extra; i++)
    t[i] = pu_spawn(sleeper, NULL);
  int rc = hp_park_stop(&p, hp_now_ns() + 5000000000u);
  printf("park: %s\n", hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_non_null(strstr(hotpatch_last_error(), "threads keep appearing"));
  char buf[256];
  hp_park_describe_stragglers(&p, buf, sizeof buf);
  assert_non_null(strstr(buf, "threads keep appearing"));
  hp_park_finish(&p);
  /* A new prepare sizes for them. */
  assert_int_equal(hp_park_prepare(&p), 0);
  assert_int_equal(hp_park_stop(&p, hp_now_ns() + 10000000000u), 0);
  assert_true(p.n >= extra);
  hp_park_release(&p);
  hp_park_finish(&p);
  for (size_t i = 0; i < extra; i++)
    pthread_join(t[i], NULL);
  free(t);
}

/* The stop's last pass is proved complete by the kernel's thread count
 * (park.c, hp_settled). One that never agrees must end in a clean EBUSY
 * at the deadline that names the cause, with everyone running again. */
static void
a_thread_count_that_never_agrees_fails_the_stop_cleanly(void **state) {
  (void)state;
  struct subject s;
  pthread_t t = start_subject(&s);
  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  hp_park_test_count_bias = 1;
  uint64_t t0 = hp_now_ns();
  int rc = hp_park_stop(&p, t0 + 300000000u);
  uint64_t ms = (hp_now_ns() - t0) / 1000000u;
  hp_park_test_count_bias = 0;
  printf("park: after %llu ms: %s\n", (unsigned long long)ms,
         hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_true(ms >= 299 && ms < 1500);
  assert_true(p.rescans > 0);
  assert_non_null(strstr(hotpatch_last_error(), "did not settle"));
  runs_on(&s);
  stops_then_quits(&p, &s, t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(
          a_thread_blocking_the_signal_fails_the_stop_in_time_and_is_named),
      cmocka_unit_test(a_signal_handled_by_someone_else_is_refused_and_named),
      cmocka_unit_test(a_late_signal_of_an_old_generation_is_ignored),
      cmocka_unit_test(more_threads_than_prepared_for_fail_cleanly),
      cmocka_unit_test(a_thread_count_that_never_agrees_fails_the_stop_cleanly),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
