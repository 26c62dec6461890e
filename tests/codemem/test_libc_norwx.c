/* SPDX-License-Identifier: MIT */
/*
 * A libc function patched with hotpatch_apply while writable-and-executable
 * memory is forbidden, other threads calling it all along (pitfalls.md
 * §6): glibc's getppid (mov eax, 110; syscall; ret on x86_64), reached
 * through the PLT, replaced by one returning minus the parent's pid
 * through `original`.
 *
 *   seccomp  a filter refusing mprotect with PROT_WRITE|PROT_EXEC: the
 *            probe picks rw, so libc's page loses X while it is written,
 *            with every other thread parked
 *   MDWE     PR_SET_MDWE(PR_MDWE_REFUSE_EXEC_GAIN) (Linux >= 6.3): X can
 *            never come back, so /proc/self/mem
 *
 * Each runs in a forked child (a filter and MDWE are irrevocable). The
 * workers must survive, see the new value once hotpatch_apply has returned
 * and the old one once hotpatch_revert has; libc's bytes come back; no
 * mapping is ever writable and executable.
 */
#include "hp_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cm_util.h"
#include "codewrite.h"
#include "hotpatch.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN (1UL << 0)
#endif

#define NWORKERS 3

/* Workers check a value against the phase they read before the call:
 * BEFORE and REVERTING allow either value. */
enum { BEFORE, APPLIED, REVERTING, REVERTED, STOP };

static atomic_int phase;
static long real_ppid;
static pid_t (*old_getppid)(void);

static pid_t new_getppid(void) { return -old_getppid(); }

struct worker {
  pthread_t t;
  atomic_long calls, saw_new, saw_old_after_revert, wrong;
  long first_wrong, first_wrong_phase; /* the first wrong value, its phase */
};
static struct worker workers[NWORKERS];

/* Calls getppid through the PLT, mostly outside it (a thread always inside
 * the function would never be at a safe point). A value read after a phase
 * began must be that phase's. */
static void *work(void *arg) {
  struct worker *w = arg;
  for (;;) {
    int ph = atomic_load(&phase);
    if (ph == STOP)
      break;
    long v = getppid();
    atomic_fetch_add(&w->calls, 1);
    if (v == -real_ppid)
      atomic_fetch_add(&w->saw_new, 1);
    else if (ph == REVERTED && v == real_ppid)
      atomic_fetch_add(&w->saw_old_after_revert, 1);
    if ((v != real_ppid && v != -real_ppid) ||
        (ph == APPLIED && v != -real_ppid) ||
        (ph == REVERTED && v != real_ppid)) {
      if (atomic_fetch_add(&w->wrong, 1) == 0) {
        w->first_wrong = v;
        w->first_wrong_phase = ph;
      }
    }
    for (volatile int i = 0; i < 3000; i++)
      ;
  }
  return NULL;
}

/* Until every worker's counter passes `min` (or 20 s: only so that a
 * failure ends). */
static int wait_all(atomic_long *(*field)(struct worker *), long min) {
  for (int ms = 0; ms < 20000; ms++) {
    int ok = 1;
    for (int i = 0; i < NWORKERS; i++)
      ok &= atomic_load(field(&workers[i])) >= min;
    if (ok)
      return 1;
    usleep(1000);
  }
  return 0;
}
static atomic_long *calls_of(struct worker *w) { return &w->calls; }
static atomic_long *new_of(struct worker *w) { return &w->saw_new; }
static atomic_long *old_of(struct worker *w) {
  return &w->saw_old_after_revert;
}

static void check_no_rwx(const char *when) {
  char first[128];
  int n = cm_rwx_lines(first, sizeof first);
  CM_CHECK(n == 0, "%s: %d rwx mapping(s), first %s", when, n, first);
}

static void patch_getppid_under_running_threads(int want_method) {
  int m = hp_write_method();
  CM_CHECK(m == want_method, "write method %s, expected %s: %s",
           hp_write_method_name(m), hp_write_method_name(want_method),
           hotpatch_last_error());
  real_ppid = syscall(SYS_getppid);
  const uint8_t *code = (const uint8_t *)(uintptr_t)&getppid;
  uint8_t before[16];
  memcpy(before, code, sizeof before);

  static const struct hotpatch_func funcs[] = {
      {.target = "getppid",
       .object = "libc.so.6",
       .replacement = (void *)new_getppid,
       .original = (void **)&old_getppid},
      {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "libc-getppid",
                                         .funcs = funcs};
  hotpatch_patch *p;
  CM_CHECK(hotpatch_register(&d, &p) == 0, "%s", hotpatch_last_error());

  for (int i = 0; i < NWORKERS; i++)
    CM_CHECK(pthread_create(&workers[i].t, NULL, work, &workers[i]) == 0,
             "pthread_create");
  CM_CHECK(wait_all(calls_of, 100), "workers do not run");

  const struct hotpatch_opts opts = {.timeout_ms = 10000};
  int rc = hotpatch_apply(p, &opts);
  CM_CHECK(rc == 0, "apply: %s: %s", hotpatch_err_name(rc),
           hotpatch_last_error());
  atomic_store(&phase, APPLIED);
  CM_CHECK(getppid() == -real_ppid, "main thread: getppid %d", getppid());
  CM_CHECK(memcmp(code, before, 5) != 0, "libc's getppid is unchanged");
  check_no_rwx("applied");
  CM_CHECK(wait_all(new_of, 1000), "a worker does not see the new getppid");

  atomic_store(&phase, REVERTING);
  rc = hotpatch_revert(p, &opts);
  CM_CHECK(rc == 0, "revert: %s: %s", hotpatch_err_name(rc),
           hotpatch_last_error());
  atomic_store(&phase, REVERTED);
  CM_CHECK(getppid() == real_ppid, "main thread after revert: %d", getppid());
  CM_CHECK(memcmp(code, before, sizeof before) == 0,
           "libc's getppid bytes are not restored");
  check_no_rwx("reverted");
  CM_CHECK(wait_all(old_of, 1000), "a worker does not see the old getppid");

  atomic_store(&phase, STOP);
  for (int i = 0; i < NWORKERS; i++) {
    pthread_join(workers[i].t, NULL);
    CM_CHECK(atomic_load(&workers[i].wrong) == 0,
             "worker %d saw %ld wrong value(s) of %ld calls, the first %ld "
             "in phase %ld (ppid %ld)",
             i, atomic_load(&workers[i].wrong), atomic_load(&workers[i].calls),
             workers[i].first_wrong, workers[i].first_wrong_phase, real_ppid);
    fprintf(stderr, "worker %d: %ld calls, %ld new\n", i,
            atomic_load(&workers[i].calls), atomic_load(&workers[i].saw_new));
  }
  CM_CHECK(hotpatch_unload(p) == 0, "%s", hotpatch_last_error());
}

static void child_seccomp(void) {
  cm_deny_mprotect(PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC);
  void *q = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  CM_CHECK(mprotect(q, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0 &&
               errno == EACCES,
           "the filter does not refuse rwx");
  munmap(q, 4096);
  patch_getppid_under_running_threads(HP_WRITE_RW);
}

static void child_mdwe(void) {
  if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
    CM_CHECK(errno == EINVAL, "prctl(PR_SET_MDWE): %s", strerror(errno));
    fprintf(stderr, "SKIP: %s refuses PR_SET_MDWE (EINVAL)\n",
            cm_under_qemu() ? "qemu-user" : "this kernel (< 6.3)");
    exit(CM_SKIP);
  }
  void *q = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  int gained = mprotect(q, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) == 0;
  munmap(q, 4096);
  if (gained && cm_under_qemu()) {
    fprintf(stderr, "SKIP: qemu-user accepted PR_SET_MDWE but emulates "
                    "mprotect, which still gives rwx\n");
    exit(CM_SKIP);
  }
  CM_CHECK(!gained, "MDWE set but mprotect(rwx) succeeded");
  patch_getppid_under_running_threads(HP_WRITE_PROC_MEM);
}

static void libc_getppid_is_patched_with_rwx_refused_by_seccomp(void **state) {
  (void)state;
  CM_RUN(child_seccomp);
}

static void libc_getppid_is_patched_under_mdwe(void **state) {
  (void)state;
  CM_RUN(child_mdwe);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(libc_getppid_is_patched_with_rwx_refused_by_seccomp),
      cmocka_unit_test(libc_getppid_is_patched_under_mdwe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
