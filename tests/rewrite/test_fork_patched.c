/* SPDX-License-Identifier: MIT */
/*
 * fork() after hotpatch_apply (pitfalls §6.4): the child inherits the
 * patched pages and the trampolines, so it runs the new code; it has one
 * thread, and a registry copied from a parent that had more, so it must
 * still be able to revert and to apply again on its own, through the
 * public API. Two fixtures of fx_<arch>.S per architecture, one with a
 * landing pad or signed return address where the architecture has one.
 * The parent keeps a second thread blocked across the fork; the child's
 * actions must not wait for it.
 */
#include "hp_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hotpatch.h"
#include "hp_maps.h"

#if defined(__x86_64__)
long fx_lea_rip(long a, long b);
long fx_endbr(long a, long b);
#define FN0 fx_lea_rip
#define FN1 fx_endbr
#else
long fx_adrp_add(long a, long b);
long fx_paciasp(long a, long b);
#define FN0 fx_adrp_add
#define FN1 fx_paciasp
#endif
#define STR_(x) #x
#define STR(x) STR_(x)

#define NEW 1000
static long (*orig0)(long, long), (*orig1)(long, long);
static long new0(long a, long b) { return orig0(a, b) + NEW; }
static long new1(long a, long b) { return orig1(a, b) + NEW; }

static const struct hotpatch_func funcs[] = {{.target = STR(FN0),
                                              .replacement = (void *)new0,
                                              .original = (void **)&orig0},
                                             {.target = STR(FN1),
                                              .replacement = (void *)new1,
                                              .original = (void **)&orig1},
                                             {0}};
static const struct hotpatch_desc desc = {.magic = HOTPATCH_MAGIC,
                                          .abi = HOTPATCH_ABI,
                                          .name = "fork-patched",
                                          .funcs = funcs,
                                          .flags = HOTPATCH_REAPPLYABLE};

static const long args[][2] = {{1, 2}, {0, 0}, {-5, 3}, {7, 9}};
#define NARGS (sizeof args / sizeof args[0])
static long want0[NARGS], want1[NARGS];
static uint8_t before0[16], before1[16];

/* Every call gives the original's result plus `delta`. */
static int behaves(long delta) {
  for (size_t i = 0; i < NARGS; i++)
    if (FN0(args[i][0], args[i][1]) != want0[i] + delta ||
        FN1(args[i][0], args[i][1]) != want1[i] + delta)
      return 0;
  return 1;
}

static int bytes_restored(void) {
  return !memcmp((const void *)(uintptr_t)FN0, before0, sizeof before0) &&
         !memcmp((const void *)(uintptr_t)FN1, before1, sizeof before1);
}

/* The child's checks; its exit status is the first that failed. */
static int child(hotpatch_patch *p) {
  const struct hotpatch_opts o = {.timeout_ms = 2000};
  if (!behaves(NEW))
    return 1; /* inherited: the new code */
  if (hotpatch_revert(p, &o))
    return 2;
  if (!behaves(0) || !bytes_restored())
    return 3;
  if (hotpatch_apply(p, &o)) /* a second patch, in the child */
    return 4;
  if (!behaves(NEW))
    return 5;
  if (hotpatch_revert(p, &o) || !behaves(0) || !bytes_restored())
    return 6;
  if (hp_test_count_rwx())
    return 7;
  return 0;
}

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;
static int g_release;

static void *blocked(void *arg) {
  (void)arg;
  pthread_mutex_lock(&g_lock);
  while (!g_release)
    pthread_cond_wait(&g_cond, &g_lock);
  pthread_mutex_unlock(&g_lock);
  return NULL;
}

static void child_of_a_patched_process_reverts_and_applies(void **state) {
  (void)state;
  for (size_t i = 0; i < NARGS; i++) {
    want0[i] = FN0(args[i][0], args[i][1]);
    want1[i] = FN1(args[i][0], args[i][1]);
  }
  memcpy(before0, (const void *)(uintptr_t)FN0, sizeof before0);
  memcpy(before1, (const void *)(uintptr_t)FN1, sizeof before1);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, blocked, NULL), 0);

  hotpatch_patch *p;
  int rc = hotpatch_register(&desc, &p);
  if (rc)
    fail_msg("register: %s", hotpatch_last_error());
  rc = hotpatch_apply(p, NULL);
  if (rc)
    fail_msg("apply: %s", hotpatch_last_error());
  assert_true(behaves(NEW));

  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGILL, SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    int st = child(p);
    if (st)
      fprintf(stderr, "child: check %d failed: %s\n", st,
              hotpatch_last_error());
    _exit(st);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  if (WIFSIGNALED(st))
    fail_msg("the child died of signal %d (%s)", WTERMSIG(st),
             strsignal(WTERMSIG(st)));
  if (!WIFEXITED(st) || WEXITSTATUS(st))
    fail_msg("check %d in the child failed", WEXITSTATUS(st));

  /* The child's actions wrote its own copy of the pages only. */
  assert_true(behaves(NEW));
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_true(behaves(0));
  assert_true(bytes_restored());
  assert_int_equal(hotpatch_unload(p), 0);
  assert_int_equal(hp_test_count_rwx(), 0);

  pthread_mutex_lock(&g_lock);
  g_release = 1;
  pthread_cond_signal(&g_cond);
  pthread_mutex_unlock(&g_lock);
  pthread_join(t, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(child_of_a_patched_process_reverts_and_applies),
  };
  return cmocka_run_group_tests_name("rewrite_fork_patched", tests, NULL, NULL);
}
