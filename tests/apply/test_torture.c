/* SPDX-License-Identifier: MIT */
/*
 * Torture: 8 threads, pinned across the CPUs where sched_setaffinity
 * works, call two patched functions in tight loops while the main thread
 * applies and reverts the patch until it has done so successfully
 * HOTPATCH_TORTURE_CYCLES times (default 10000 natively, 2000 under
 * sanitizers, 300 under qemu: HOTPATCH_TEST_UNDER_QEMU=1). Every call must
 * return the old or the new result, never anything else, never a crash;
 * at least 95% of the actions must succeed (a caller inside a function at
 * every try until the deadline makes one fail with EBUSY, which changes
 * nothing); each caller must have run the serialising instruction between
 * two calls that saw different code (pitfalls §3), once per stop.
 *
 * It prints where a cycle's time goes: wall and main-thread CPU per
 * action, stops per action, and the longest pause.
 */
#include "hp_test.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ap_util.h"
#include "hotpatch.h"
#include "park.h"
#include "targets.h"

#define NTHREADS 8

static atomic_int stop;
struct caller {
  pthread_t th;
  int cpu; /* pinned there, or -1 */
  long calls, bad, flips, unserialised;
  unsigned long serialised;
};
static struct caller callers[NTHREADS];

static void *caller_main(void *arg) {
  struct caller *c = arg;
  if (c->cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(c->cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
      c->cpu = -1;
  }
  long n = 0, bad = 0;
  int last_new = -1;
  unsigned long flip_before = 0;
  /* Each thread spends a few percent of its time in the patched
   * functions: all eight are outside them at once often enough for the
   * switch to happen (a thread that never leaves them is never at a safe
   * point: EBUSY, tested in apply_patches). */
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    long x = n++ & 0xffff;
    unsigned long before = hp_park_serialised_self();
    long v = ap_value(x), w = ap_other(x);
    unsigned long after = hp_park_serialised_self();
    bad += (v != x + 1 && v != x + 1001) + (w != 3 * x && w != 3 * x + 2000);
    int is_new = v == x + 1001;
    if (is_new != last_new) {
      /* The switch behind this flip parked this thread after the call
       * that saw the other code began, and before this call: it must have
       * serialised in between. */
      if (last_new >= 0) {
        c->flips++;
        c->unserialised += after <= flip_before;
      }
      last_new = is_new;
      flip_before = before;
    }
    for (volatile int i = 0; i < 300; i++)
      ;
  }
  c->calls = n;
  c->bad = bad;
  c->serialised = hp_park_serialised_self();
  return NULL;
}

/* The summary line of each action: its longest pause, summed. */
static double pause_ms_sum, pause_ms_max;
static void summary(int level, const char *msg, void *arg) {
  (void)arg;
  const char *at = strstr(msg, "; pause ");
  double ms;
  if (at && sscanf(at, "; pause %lf ms", &ms) == 1) {
    pause_ms_sum += ms;
    if (ms > pause_ms_max)
      pause_ms_max = ms;
  }
  if (level <= HOTPATCH_LOG_WARN)
    fprintf(stderr, "%s\n", msg);
}

static int cycles(void) {
  return hp_test_rounds("HOTPATCH_TORTURE_CYCLES", 10000, 2000, 300);
}

/* The CPUs this process may run on, in order; how many. */
static int usable_cpus(int *cpu, int cap) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0)
    return 0;
  int n = 0;
  for (int i = 0; i < CPU_SETSIZE && n < cap; i++)
    if (CPU_ISSET(i, &set))
      cpu[n++] = i;
  return n;
}

/* Seconds this thread waited on a run queue (schedstat's run_delay),
 * or -1 if the kernel does not say. */
static double run_delay_s(void) {
  FILE *f = fopen("/proc/thread-self/schedstat", "r");
  unsigned long long run, wait;
  int ok = f && fscanf(f, "%llu %llu", &run, &wait) == 2;
  if (f)
    fclose(f);
  return ok ? wait / 1e9 : -1;
}

static double now_s(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void calls_see_old_or_new_while_patch_flips(void **state) {
  (void)state;
  hotpatch_patch *p = ap_register_value_other("torture");
  int cpu[CPU_SETSIZE];
  int ncpu = usable_cpus(cpu, CPU_SETSIZE);
  struct hp_park_counters c0, c1;
  hp_park_counters(&c0);
  for (int i = 0; i < NTHREADS; i++) {
    callers[i] = (struct caller){.cpu = ncpu ? cpu[i % ncpu] : -1};
    assert_int_equal(
        pthread_create(&callers[i].th, NULL, caller_main, &callers[i]), 0);
  }
  int target = cycles(), done = 0, actions = 0, failed = 0;
  /* Enough attempts for 95% success, and a few for small targets. */
  int max_actions = 2 * target + 2 * target / 19 + 20;
  double t0 = now_s(CLOCK_MONOTONIC), u0 = now_s(CLOCK_THREAD_CPUTIME_ID);
  double q0 = run_delay_s();
  while (done < target && actions < max_actions) {
    actions++;
    int rc = hotpatch_apply(p, NULL);
    if (rc == HOTPATCH_EBUSY) {
      failed++; /* nothing changed: try again */
      continue;
    }
    if (rc)
      fail_msg("apply %d: %s", done, hotpatch_last_error());
    for (;;) {
      actions++;
      rc = hotpatch_revert(p, NULL);
      if (rc != HOTPATCH_EBUSY)
        break;
      failed++;
      if (actions >= max_actions + 100)
        fail_msg("revert keeps failing: %s", hotpatch_last_error());
    }
    if (rc)
      fail_msg("revert %d: %s", done, hotpatch_last_error());
    done++;
  }
  double wall = now_s(CLOCK_MONOTONIC) - t0;
  double cpu_s = now_s(CLOCK_THREAD_CPUTIME_ID) - u0;
  double queued_s = q0 < 0 ? -1 : run_delay_s() - q0;
  atomic_store(&stop, 1);
  long bad = 0, total = 0, flips = 0, unserialised = 0;
  int pinned = 0;
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(callers[i].th, NULL);
    bad += callers[i].bad;
    total += callers[i].calls;
    flips += callers[i].flips;
    unserialised += callers[i].unserialised;
    pinned += callers[i].cpu >= 0;
  }
  hp_park_counters(&c1);
  unsigned long stops = c1.stops - c0.stops;
  fprintf(stderr,
          "torture: %d apply/revert cycles in %.1f s: %d actions, %d EBUSY "
          "(%.2f%%); %ld calls by %d threads (%d pinned over %d CPUs), %ld "
          "wrong results; %ld flips seen, %ld without a serialise\n",
          done, wall, actions, failed, 100.0 * failed / actions, total,
          NTHREADS, pinned, ncpu, bad, flips, unserialised);
  fprintf(stderr,
          "torture: per action %.2f ms wall: %.2f ms of it threads parked "
          "(longest %.2f ms), %.2f ms CPU of the patcher, %.2f ms it waited "
          "for a CPU; %.2f stops; membarrier SYNC_CORE %lu\n",
          1e3 * wall / actions, pause_ms_sum / actions, pause_ms_max,
          1e3 * cpu_s / actions, 1e3 * queued_s / actions,
          (double)stops / actions, c1.sync_core - c0.sync_core);
  assert_int_equal(bad, 0);
  assert_int_equal(done, target);
  assert_true(failed * 20 <= actions); /* >= 95% succeeded */
  assert_true(flips >= NTHREADS);      /* each saw the code change */
  assert_int_equal(unserialised, 0);
  /* Every stop parked every caller, and each serialised once per stop. */
  for (int i = 0; i < NTHREADS; i++)
    assert_int_equal(callers[i].serialised, stops);
  assert_int_equal(ap_value(1), 2);
  assert_int_equal(hotpatch_unload(p), 0);
}

int main(void) {
  struct hotpatch_config c = {.log_level = HOTPATCH_LOG_INFO};
  if (hotpatch_init(&c))
    return 1;
  hotpatch_set_logger(summary, NULL);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(calls_see_old_or_new_while_patch_flips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
