/* SPDX-License-Identifier: MIT */
/*
 * Cooperative threads: never signalled, they park in hotpatch_safepoint();
 * one that does not get there in time fails the stop and is named.
 */
#include "hp_test.h"

#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "hotpatch.h"
#include "park.h"
#include "park_util.h"

struct coop {
  atomic_int tid;
  atomic_ulong count;
  atomic_int quit;
  int sleep_ms;  /* first sleep this long without a safepoint */
  int leave;     /* unregister before looping (no safepoint calls) */
  int flip;      /* register and unregister in a loop */
  atomic_int rc; /* of hotpatch_thread_cooperative */
};

static void *coop_main(void *v) {
  struct coop *c = v;
  /* Block the park signal: only hotpatch_safepoint() can park it. */
  if (!c->leave) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, hp_config().park_signal);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
  }
  atomic_store(&c->rc, hotpatch_thread_cooperative(1));
  if (c->leave)
    atomic_store(&c->rc, hotpatch_thread_cooperative(0));
  atomic_store(&c->tid, pu_gettid());
  if (c->sleep_ms)
    pu_sleep_ms(c->sleep_ms);
  while (!atomic_load(&c->quit)) {
    if (c->flip) {
      hotpatch_thread_cooperative(1);
      for (int i = 0; i < 100; i++) {
        hotpatch_safepoint();
        atomic_fetch_add(&c->count, 1);
      }
      hotpatch_thread_cooperative(0);
    }
    if (!c->leave)
      hotpatch_safepoint();
    atomic_fetch_add(&c->count, 1);
  }
  hotpatch_thread_cooperative(0);
  return NULL;
}

static pthread_t start(struct coop *c) {
  pthread_t t = pu_spawn(coop_main, c);
  while (!atomic_load(&c->tid))
    pu_sleep_ms(1);
  assert_int_equal(atomic_load(&c->rc), 0);
  return t;
}

static void frozen_then_runs(const struct hp_park *p, struct coop *c) {
  unsigned long c0 = atomic_load(&c->count);
  pu_sleep_ms(30);
  assert_int_equal(atomic_load(&c->count), c0);
  (void)p;
}

static void a_cooperative_thread_parks_in_hotpatch_safepoint(void **state) {
  (void)state;
  struct coop c = {0};
  pthread_t t = start(&c);
  int runs = pu_under_qemu() ? 5 : 20;
  for (int i = 0; i < runs; i++) {
    struct hp_park p;
    assert_int_equal(pu_stop(&p, 5000), 0);
    const struct hp_slot *s = pu_slot_of(&p, atomic_load(&c.tid));
    assert_non_null(s);
    assert_int_equal(s->state, HP_SLOT_PARKED);
    assert_int_equal(s->cooperative, 1);
    assert_int_equal(s->coop_expected, 1);
    assert_null(s->uc);
    assert_true(s->sp != 0 && s->pc != 0);
    if (i == 0)
      frozen_then_runs(&p, &c);
    hp_park_release(&p);
    hp_park_finish(&p);
    unsigned long c0 = atomic_load(&c.count);
    while (atomic_load(&c.count) == c0)
      pu_sleep_ms(1);
  }
  atomic_store(&c.quit, 1);
  pthread_join(t, NULL);
}

static void
a_cooperative_thread_that_does_not_reach_a_safepoint_is_named(void **state) {
  (void)state;
  struct coop c = {0};
  c.sleep_ms = 2000;
  pthread_t t = start(&c);
  struct hp_park p;
  assert_int_equal(hp_park_prepare(&p), 0);
  uint64_t t0 = hp_now_ns();
  int rc = hp_park_stop(&p, t0 + 500000000u);
  uint64_t ms = (hp_now_ns() - t0) / 1000000u;
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_true(ms < 1500);
  char buf[512], want[96];
  hp_park_describe_stragglers(&p, buf, sizeof buf);
  printf("park: after %llu ms: %s\n", (unsigned long long)ms, buf);
  snprintf(want, sizeof want, "cooperative thread tid %d ",
           atomic_load(&c.tid));
  assert_non_null(strstr(buf, want));
  assert_non_null(strstr(buf, "did not reach hotpatch_safepoint()"));
  assert_non_null(strstr(hotpatch_last_error(), want));
  assert_int_equal(p.retries_signal, 0); /* never signalled */
  /* Once it loops through safepoints again, a stop succeeds. */
  while (atomic_load(&c.count) == 0)
    pu_sleep_ms(10);
  assert_int_equal(hp_park_stop(&p, hp_now_ns() + 5000000000u), 0);
  assert_int_equal(pu_slot_of(&p, atomic_load(&c.tid))->cooperative, 1);
  hp_park_release(&p);
  hp_park_finish(&p);
  atomic_store(&c.quit, 1);
  pthread_join(t, NULL);
}

static void a_thread_that_leaves_cooperation_is_signalled_again(void **state) {
  (void)state;
  struct coop c = {0};
  c.leave = 1;
  pthread_t t = start(&c);
  struct hp_park p;
  assert_int_equal(pu_stop(&p, 5000), 0);
  const struct hp_slot *s = pu_slot_of(&p, atomic_load(&c.tid));
  assert_non_null(s);
  assert_int_equal(s->state, HP_SLOT_PARKED);
  assert_int_equal(s->cooperative, 0);
  assert_non_null(s->uc);
  hp_park_release(&p);
  hp_park_finish(&p);
  atomic_store(&c.quit, 1);
  pthread_join(t, NULL);
}

/* Registration and unregistration racing with stops: every stop must
 * park the thread one way or the other. */
static void joining_and_leaving_during_stops_never_escapes(void **state) {
  (void)state;
  struct coop c = {0};
  c.leave = 1; /* signal not blocked: it parks either way */
  c.flip = 1;
  pthread_t t = start(&c);
  int runs = pu_under_qemu() ? 30 : 200, coop = 0;
  for (int i = 0; i < runs; i++) {
    struct hp_park p;
    assert_int_equal(pu_stop(&p, 5000), 0);
    const struct hp_slot *s = pu_slot_of(&p, atomic_load(&c.tid));
    assert_non_null(s);
    assert_int_equal(s->state, HP_SLOT_PARKED);
    coop += s->cooperative;
    unsigned long c0 = atomic_load(&c.count);
    pu_sleep_ms(2);
    assert_int_equal(atomic_load(&c.count), c0);
    hp_park_release(&p);
    hp_park_finish(&p);
  }
  printf("park: %d of %d stops parked it in hotpatch_safepoint()\n", coop,
         runs);
  atomic_store(&c.quit, 1);
  pthread_join(t, NULL);
}

static void on_usr1(int sig) {
  (void)sig;
  hotpatch_safepoint();
}

static atomic_int pester_quit;

static void *pester(void *v) {
  pthread_t target = *(pthread_t *)v;
  while (!atomic_load(&pester_quit)) {
    pthread_kill(target, SIGUSR1);
    sched_yield();
  }
  return NULL;
}

/* hotpatch_safepoint() from a handler that interrupts it: no deadlock. */
static void a_safepoint_in_a_signal_handler_is_safe(void **state) {
  (void)state;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigaction(SIGUSR1, &sa, NULL);
  struct coop c = {0};
  pthread_t t = start(&c);
  pthread_t ps = pu_spawn(pester, &t);
  int runs = pu_under_qemu() ? 30 : 200;
  for (int i = 0; i < runs; i++) {
    struct hp_park p;
    assert_int_equal(pu_stop(&p, 5000), 0);
    const struct hp_slot *s = pu_slot_of(&p, atomic_load(&c.tid));
    assert_non_null(s);
    assert_int_equal(s->state, HP_SLOT_PARKED);
    assert_int_equal(s->cooperative, 1);
    hp_park_release(&p);
    hp_park_finish(&p);
  }
  atomic_store(&pester_quit, 1);
  pthread_join(ps, NULL);
  atomic_store(&c.quit, 1);
  pthread_join(t, NULL);
  signal(SIGUSR1, SIG_DFL);
}

static void
registering_twice_or_leaving_unregistered_does_nothing(void **state) {
  (void)state;
  assert_int_equal(hotpatch_thread_cooperative(0), 0);
  assert_int_equal(hotpatch_thread_cooperative(1), 0);
  assert_int_equal(hotpatch_thread_cooperative(1), 0);
  hotpatch_safepoint(); /* no stop: returns at once */
  assert_int_equal(hotpatch_thread_cooperative(0), 0);
  assert_int_equal(hotpatch_thread_cooperative(0), 0);
  assert_string_equal(hotpatch_last_error(), "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_cooperative_thread_parks_in_hotpatch_safepoint),
      cmocka_unit_test(
          a_cooperative_thread_that_does_not_reach_a_safepoint_is_named),
      cmocka_unit_test(a_thread_that_leaves_cooperation_is_signalled_again),
      cmocka_unit_test(joining_and_leaving_during_stops_never_escapes),
      cmocka_unit_test(a_safepoint_in_a_signal_handler_is_safe),
      cmocka_unit_test(registering_twice_or_leaving_unregistered_does_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
