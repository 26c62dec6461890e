/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include <errno.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "sp_harness.h"

/* Not park.c's signal: this harness stands in for it. */
#define SP_PARK_SIG (SIGRTMIN + 4)
#define SP_DEADLINE_NS (20ull * 1000000000ull)

static uint32_t sp_release_gen;

uint64_t sp_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sp_futex_wait(uint32_t *w, uint32_t val, long timeout_ns) {
  struct timespec ts = {0, timeout_ns};
  syscall(SYS_futex, w, FUTEX_WAIT, val, timeout_ns ? &ts : NULL, NULL, 0);
}

static void sp_futex_wake(uint32_t *w) {
  syscall(SYS_futex, w, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
}

static void sp_record(struct hp_slot *s, const ucontext_t *uc) {
  s->uc = uc;
#if defined(__x86_64__)
  s->pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
  s->sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
  s->lr = 0;
#elif defined(__aarch64__)
  s->pc = (uintptr_t)uc->uc_mcontext.pc;
  s->sp = (uintptr_t)uc->uc_mcontext.sp;
  s->lr = (uintptr_t)uc->uc_mcontext.regs[30];
#endif
}

/* Park and wait for the release generation to move; then, if asked, move
 * the interrupted PC. Async-signal-safe, like park.c's. */
static void sp_park_until_released(struct sp_worker *w) {
  struct hp_slot *s = w->slot;
  uint32_t gen = __atomic_load_n(&sp_release_gen, __ATOMIC_ACQUIRE);
  __atomic_store_n(&s->state, HP_SLOT_PARKED, __ATOMIC_RELEASE);
  sp_futex_wake(&s->state);
  while (__atomic_load_n(&sp_release_gen, __ATOMIC_ACQUIRE) == gen)
    sp_futex_wait(&sp_release_gen, gen, 0);
}

static void sp_on_park(int sig, siginfo_t *si, void *ctx) {
  int e = errno;
  struct sp_worker *w = si->si_value.sival_ptr;
  struct hp_slot *s = w->slot;
  ucontext_t *uc = ctx;
  stack_t ss;
  (void)sig;
  s->tid = gettid();
  sp_record(s, uc);
  s->on_altstack = sigaltstack(NULL, &ss) == 0 && (ss.ss_flags & SS_ONSTACK);
  sp_park_until_released(w);
  if (w->redirect_pc) {
#if defined(__x86_64__)
    uc->uc_mcontext.gregs[REG_RIP] = (greg_t)w->redirect_pc;
#elif defined(__aarch64__)
    uc->uc_mcontext.pc = w->redirect_pc;
#endif
    w->redirect_pc = 0;
  }
  __atomic_store_n(&s->state, HP_SLOT_FREE, __ATOMIC_RELEASE);
  sp_futex_wake(&s->state);
  errno = e;
}

static void sp_install_once(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = sp_on_park;
  sa.sa_flags = SA_SIGINFO | SA_RESTART; /* no SA_ONSTACK, as park.c */
  sigfillset(&sa.sa_mask);
  if (sigaction(SP_PARK_SIG, &sa, NULL))
    abort();
}

static void sp_install(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, sp_install_once);
}

__attribute__((noinline)) void sp_block(struct sp_worker *w) {
  __atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
  sp_futex_wake(&w->ready);
  while (!__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE))
    sp_futex_wait(&w->quit, 0, 0);
}

static uintptr_t sp_current_sp(void) {
  uintptr_t v;
#if defined(__x86_64__)
  __asm__ volatile("mov %%rsp, %0" : "=r"(v));
#elif defined(__aarch64__)
  __asm__ volatile("mov %0, sp" : "=r"(v));
#endif
  return v;
}

__attribute__((noinline)) void sp_coop_block(struct sp_worker *w) {
  __atomic_store_n(&w->ready, 1, __ATOMIC_RELEASE);
  sp_futex_wake(&w->ready);
  for (;;) {
    uint32_t req = __atomic_load_n(&w->coop_req, __ATOMIC_ACQUIRE);
    if (__atomic_load_n(&w->quit, __ATOMIC_ACQUIRE))
      return;
    if (!req) {
      sp_futex_wait(&w->coop_req, 0, 10000000);
      continue;
    }
    struct hp_slot *s = w->slot;
    s->tid = gettid();
    s->uc = NULL;
    s->pc = s->lr = 0;
    s->sp = sp_current_sp();
    s->on_altstack = 0;
    __atomic_store_n(&w->coop_req, 0, __ATOMIC_RELAXED);
    sp_park_until_released(w);
    __atomic_store_n(&s->state, HP_SLOT_FREE, __ATOMIC_RELEASE);
    sp_futex_wake(&s->state);
  }
}

static void *sp_thread(void *arg) {
  struct sp_worker *w = arg;
  pthread_attr_t a;
  void *lo;
  size_t size;
  if (pthread_getattr_np(pthread_self(), &a) == 0) {
    if (pthread_attr_getstack(&a, &lo, &size) == 0) {
      w->stack_lo = (uintptr_t)lo;
      w->stack_hi = (uintptr_t)lo + size;
    }
    pthread_attr_destroy(&a);
  }
  w->run(w);
  return NULL;
}

void sp_start(struct sp_worker *w) {
  pthread_attr_t a;
  sp_install();
  w->ready = w->quit = w->coop_req = 0;
  w->redirect_pc = 0;
  assert_int_equal(pthread_attr_init(&a), 0);
  if (w->stack)
    assert_int_equal(pthread_attr_setstack(&a, w->stack, w->stack_size), 0);
  else if (w->stack_size)
    assert_int_equal(pthread_attr_setstacksize(&a, w->stack_size), 0);
  assert_int_equal(pthread_create(&w->th, &a, sp_thread, w), 0);
  pthread_attr_destroy(&a);
  uint64_t end = sp_now_ns() + SP_DEADLINE_NS;
  while (!__atomic_load_n(&w->ready, __ATOMIC_ACQUIRE)) {
    if (sp_now_ns() > end)
      fail_msg("worker never reached its blocking point");
    sp_futex_wait(&w->ready, 0, 10000000);
  }
  usleep(20000); /* from "ready" into the kernel */
}

void sp_finish(struct sp_worker *w) {
  __atomic_store_n(&w->quit, 1, __ATOMIC_RELEASE);
  sp_futex_wake(&w->quit);
  sp_futex_wake(&w->coop_req);
  assert_int_equal(pthread_join(w->th, NULL), 0);
}

void sp_park(struct sp_world *world, struct sp_worker **w, size_t n) {
  assert_true(n <= sizeof world->slot / sizeof world->slot[0]);
  memset(world->slot, 0, sizeof world->slot);
  world->w = w;
  world->n = n;
  world->park =
      (struct hp_park){.slot = world->slot, .n = n, .cap = n, .task_fd = -1};
  for (size_t i = 0; i < n; i++) {
    struct hp_slot *s = &world->slot[i];
    w[i]->slot = s;
    s->cooperative = w[i]->cooperative;
    s->state = HP_SLOT_SIGNALLED;
    if (w[i]->cooperative) {
      __atomic_store_n(&w[i]->coop_req, 1, __ATOMIC_RELEASE);
      sp_futex_wake(&w[i]->coop_req);
    } else {
      union sigval v = {.sival_ptr = w[i]};
      assert_int_equal(pthread_sigqueue(w[i]->th, SP_PARK_SIG, v), 0);
    }
  }
  uint64_t end = sp_now_ns() + SP_DEADLINE_NS;
  for (size_t i = 0; i < n; i++) {
    uint32_t st;
    while ((st = __atomic_load_n(&world->slot[i].state, __ATOMIC_ACQUIRE)) !=
           HP_SLOT_PARKED) {
      if (sp_now_ns() > end)
        fail_msg("worker %zu did not park", i);
      sp_futex_wait(&world->slot[i].state, st, 10000000);
    }
  }
}

void sp_unpark(struct sp_world *world) {
  __atomic_add_fetch(&sp_release_gen, 1, __ATOMIC_RELEASE);
  sp_futex_wake(&sp_release_gen);
  uint64_t end = sp_now_ns() + SP_DEADLINE_NS;
  for (size_t i = 0; i < world->n; i++) {
    uint32_t st;
    while ((st = __atomic_load_n(&world->slot[i].state, __ATOMIC_ACQUIRE)) !=
           HP_SLOT_FREE) {
      if (sp_now_ns() > end)
        fail_msg("worker %zu did not leave its park", i);
      sp_futex_wait(&world->slot[i].state, st, 10000000);
    }
  }
}

struct hp_hot sp_hot(const char *what, const void *lo, const void *hi,
                     int inner_only) {
  return (struct hp_hot){(uintptr_t)lo, (uintptr_t)hi,
                         inner_only ? 0 : (uintptr_t)lo, inner_only, what};
}

struct sp_seen sp_seen;
int sp_scan_only;

int sp_check(struct sp_world *world, const struct hp_hot *hot, size_t nhot,
             const struct hp_slot **who, const struct hp_hot **why,
             const char **reason) {
  struct hp_safepoint sp;
  assert_int_equal(hp_safepoint_prepare(&sp, hot, nhot), 0);
  if (sp_scan_only) {
    hp_unwind_finish(sp.uw);
    sp.uw = NULL;
  }
  int rc = hp_safepoint_check(&sp, &world->park, who, why, reason);
  memset(&sp_seen, 0, sizeof sp_seen);
  if (sp.uw) {
    const struct hp_frame *f;
    sp_seen.precise = 1;
    sp_seen.stale = sp.stale;
    hp_unwind_counts(sp.uw, &sp_seen.walks, &sp_seen.steps);
    sp_seen.stop = hp_unwind_stop_reason(sp.uw);
    sp_seen.nframes = hp_unwind_frames(sp.uw, &f);
    for (size_t i = 0; i < sp_seen.nframes && i < 16; i++)
      sp_seen.frame[i] = f[i];
  }
  hp_safepoint_finish(&sp);
  if (rc)
    fprintf(stderr, "  check: unsafe: slot %ld (tid %d): %s%s%s\n",
            *who ? (long)(*who - world->slot) : -1L, *who ? (*who)->tid : 0,
            *reason, *why ? ": " : "", *why ? (*why)->what : "");
  else
    fprintf(stderr, "  check: safe\n");
  if (sp_seen.walks)
    fprintf(stderr,
            "  unwind: %lu walk(s), %lu step(s), %lu stale hit(s); last walk: "
            "%zu frame(s), %s\n",
            sp_seen.walks, sp_seen.steps, sp_seen.stale, sp_seen.nframes,
            sp_seen.stop ? sp_seen.stop : "not finished");
  else if (!sp_seen.precise)
    fprintf(stderr, "  unwind: none (scan only)\n");
  return rc;
}

void sp_park_one(struct sp_world *world, struct sp_worker *w) {
  static struct sp_worker *one[1];
  one[0] = w;
  sp_park(world, one, 1);
}

void sp_start_parked(struct sp_world *world, struct sp_worker *w,
                     void (*run)(struct sp_worker *)) {
  sp_scan_only = 0;
  w->run = run;
  sp_start(w);
  sp_park_one(world, w);
}

void sp_unpark_finish(struct sp_world *world, struct sp_worker *w) {
  sp_unpark(world);
  sp_finish(w);
}

void sp_expect_unsafe(struct sp_world *world, const struct hp_hot *hot,
                      size_t nhot, const struct hp_hot *want_why,
                      const char *want_reason) {
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  assert_int_equal(sp_check(world, hot, nhot, &who, &why, &reason),
                   HOTPATCH_EBUSY);
  assert_ptr_equal(who, &world->slot[0]);
  assert_ptr_equal(why, want_why);
  assert_string_equal(reason, want_reason);
}

void sp_expect_safe(struct sp_world *world, const struct hp_hot *hot,
                    size_t nhot) {
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  assert_int_equal(sp_check(world, hot, nhot, &who, &why, &reason), 0);
  assert_null(who);
}
