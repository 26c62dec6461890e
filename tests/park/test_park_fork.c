/* SPDX-License-Identifier: MIT */
/*
 * fork() from another thread while stops run or while the action lock is
 * held: the child runs (its own action, prepare, stop, release, finish)
 * and exits 0; the parent goes on. The pthread_atfork handlers make fork()
 * wait for the action in progress.
 */
#include "hp_test.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hotpatch.h"
#include "park.h"
#include "park_util.h"
#include "patch.h"

static void *spin(void *v) {
  atomic_int *quit = v;
  while (!atomic_load(quit))
    hotpatch_safepoint();
  return NULL;
}

/* In the child: everything works with the one thread it has, and with
 * a thread it starts. Returns an exit code naming the step that failed. */
static int child_work(void) {
  alarm(20); /* a deadlock dies instead of hanging the parent */
  if (hp_action_begin("child"))
    return 10;
  struct hp_park p;
  if (hp_park_prepare(&p))
    return 11;
  if (hp_park_stop(&p, hp_now_ns() + 5000000000u)) {
    fprintf(stderr, "child: %s\n", hotpatch_last_error());
    return 12;
  }
  size_t alone = p.n;
  hp_park_release(&p);
  hp_park_finish(&p);
  if (alone != 0)
    return 13;
  atomic_int quit = 0;
  pthread_t t = pu_spawn(spin, &quit);
  if (hp_park_prepare(&p) || hp_park_stop(&p, hp_now_ns() + 5000000000u))
    return 14;
  int n = (int)p.n;
  hp_park_release(&p);
  hp_park_finish(&p);
  atomic_store(&quit, 1);
  pthread_join(t, NULL);
  if (n != 1)
    return 15;
  hp_action_end();
  if (hotpatch_thread_cooperative(1) || hotpatch_thread_cooperative(0))
    return 16;
  return 0;
}

/* Wait for `pid` at most 30 s; its exit status, or -1. */
static int reap(pid_t pid) { return pu_reap(pid, 30000); }

struct forker {
  int forks;
  atomic_int done;
  atomic_int bad; /* first non-zero child status */
  atomic_int tid;
};

static void *forker_main(void *v) {
  struct forker *f = v;
  atomic_store(&f->tid, pu_gettid());
  for (int i = 0; i < f->forks; i++) {
    pid_t pid = fork();
    if (pid == 0)
      _exit(child_work());
    int st = pid < 0 ? -2 : reap(pid);
    if (st && !atomic_load(&f->bad))
      atomic_store(&f->bad, st);
  }
  atomic_store(&f->done, 1);
  return NULL;
}

static void forks_during_stops(int with_action_lock) {
  struct forker f = {0};
  f.forks = pu_under_qemu() ? 5 : 20;
  /* Without the action lock, prepare once: prepare and finish allocate,
   * and an allocation racing with fork() can leave the child's allocator
   * locked where the allocator has no fork handlers (GCC 12's ASan). The
   * library allocates only under the action lock, which fork() waits
   * for. */
  struct hp_park p;
  if (!with_action_lock)
    assert_int_equal(hp_park_prepare(&p), 0);
  pthread_t t = pu_spawn(forker_main, &f);
  int stops = 0;
  while (!atomic_load(&f.done)) {
    if (with_action_lock) {
      assert_int_equal(hp_action_begin("test"), 0);
      assert_int_equal(hp_park_prepare(&p), 0);
    }
    assert_int_equal(hp_park_stop(&p, hp_now_ns() + 10000000000u), 0);
    hp_park_release(&p);
    if (with_action_lock) {
      hp_park_finish(&p);
      hp_action_end();
    }
    stops++;
    /* A signal restarts fork() from scratch: back-to-back stops would
     * starve it (docs/safety.md). */
    pu_sleep_ms(5);
  }
  if (!with_action_lock)
    hp_park_finish(&p);
  pthread_join(t, NULL);
  printf("park: %d forks during %d stops (%s): child status %d\n", f.forks,
         stops, with_action_lock ? "under the action lock" : "no lock",
         atomic_load(&f.bad));
  assert_int_equal(atomic_load(&f.bad), 0);
  /* The parent is fine. */
  assert_int_equal(pu_stop(&p, 5000), 0);
  hp_park_release(&p);
  hp_park_finish(&p);
}

static void forking_while_stops_run_leaves_a_working_child(void **state) {
  (void)state;
  forks_during_stops(0);
}

static void forking_while_actions_run_leaves_a_working_child(void **state) {
  (void)state;
  forks_during_stops(1);
}

static atomic_ullong fork_returned_ns;

static void *fork_once(void *v) {
  struct forker *f = v;
  pid_t pid = fork();
  if (pid == 0)
    _exit(child_work());
  atomic_store(&fork_returned_ns, hp_now_ns());
  atomic_store(&f->bad, pid < 0 ? -2 : reap(pid));
  atomic_store(&f->done, 1);
  return NULL;
}

static void fork_waits_for_the_action_in_progress(void **state) {
  (void)state;
  struct forker f = {0};
  assert_int_equal(hp_action_begin("test"), 0);
  pthread_t t = pu_spawn(fork_once, &f);
  pu_sleep_ms(300);
  uint64_t ended = hp_now_ns();
  hp_action_end();
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&f.bad), 0);
  /* fork() returned only once the action had ended. */
  assert_true(atomic_load(&fork_returned_ns) >= ended);
}

static void fork_inside_an_action_keeps_it_in_both_processes(void **state) {
  (void)state;
  assert_int_equal(hp_action_begin("test"), 0);
  pid_t pid = fork();
  if (pid == 0) {
    alarm(20);
    if (!hp_registry_held())
      _exit(20);
    hp_action_end();
    _exit(child_work());
  }
  assert_true(pid > 0);
  assert_true(hp_registry_held());
  hp_action_end();
  assert_int_equal(reap(pid), 0);
}

struct child_ctx {
  struct hp_park p;
  pid_t me;
  atomic_int rc, coop, quit;
};

/* In the child: a new thread stops the world; the cooperative one parks
 * in hotpatch_safepoint(). */
static void *child_patcher(void *v) {
  struct child_ctx *c = v;
  int rc = pu_stop(&c->p, 5000);
  const struct hp_slot *s = rc ? NULL : pu_slot_of(&c->p, c->me);
  atomic_store(&c->coop, s ? s->cooperative : -1);
  hp_park_release(&c->p);
  hp_park_finish(&c->p);
  atomic_store(&c->rc, rc);
  atomic_store(&c->quit, 1);
  return NULL;
}

static void *coop_forker(void *v) {
  struct forker *f = v;
  if (hotpatch_thread_cooperative(1)) {
    atomic_store(&f->bad, -3);
    return NULL;
  }
  pid_t pid = fork();
  if (pid == 0) {
    /* Still cooperative, under its new tid. */
    alarm(20);
    static struct child_ctx c;
    c.me = pu_gettid();
    pthread_t t = pu_spawn(child_patcher, &c);
    while (!atomic_load(&c.quit))
      hotpatch_safepoint();
    pthread_join(t, NULL);
    _exit(atomic_load(&c.rc) ? 30 : atomic_load(&c.coop) == 1 ? 0 : 31);
  }
  atomic_store(&f->bad, pid < 0 ? -2 : reap(pid));
  hotpatch_thread_cooperative(0);
  return NULL;
}

static void
a_cooperative_thread_that_forks_is_cooperative_in_the_child(void **state) {
  (void)state;
  struct forker f = {0};
  pthread_t t = pu_spawn(coop_forker, &f);
  pthread_join(t, NULL);
  assert_int_equal(atomic_load(&f.bad), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(forking_while_stops_run_leaves_a_working_child),
      cmocka_unit_test(forking_while_actions_run_leaves_a_working_child),
      cmocka_unit_test(fork_waits_for_the_action_in_progress),
      cmocka_unit_test(fork_inside_an_action_keeps_it_in_both_processes),
      cmocka_unit_test(
          a_cooperative_thread_that_forks_is_cooperative_in_the_child),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
