/* SPDX-License-Identifier: MIT */
/*
 * Each write method forced with HOTPATCH_WRITE_METHOD, and PR_SET_MDWE.
 *
 * The probe runs once per process, and a forked child inherits its result:
 * this test's parent never probes, so each child starts fresh.
 */
#include "hp_test.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cm_util.h"
#include "codewrite.h"
#include "hotpatch.h"
#include "nearmem.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN (1UL << 0)
#endif

typedef int ret_fn(void);

static int forced; /* the method the next child forces */

/* A private r-x page of a file holding "return 42": code outside this
 * program, as a shared library's text is. */
static uint8_t *map_code_file(void) {
  char path[] = "/tmp/hp-codemem-XXXXXX";
  int fd = mkstemp(path);
  CM_CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
  unlink(path);
  static uint8_t page[4096];
  cm_ret_code(page, 42);
  CM_CHECK(write(fd, page, sizeof page) == (ssize_t)sizeof page, "write");
  uint8_t *p =
      mmap(NULL, sizeof page, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
  CM_CHECK(p != MAP_FAILED, "mmap r-x of a /tmp file: %s", strerror(errno));
  close(fd);
  return p;
}

/* Whether this environment itself lets `method` work, tested without the
 * library: a refusal here is the environment's, a skip; a refusal by the
 * library's probe only is a failure. */
static int env_allows(int method, char *why, size_t cap) {
  uint8_t *p = map_code_file();
  int ok = 0;
  if (method == HP_WRITE_PROC_MEM) {
    int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    uint8_t b = 0x5a;
    if (fd < 0)
      snprintf(why, cap, "open /proc/self/mem: %s", strerror(errno));
    else if (pwrite(fd, &b, 1, (off_t)(uintptr_t)p) != 1)
      snprintf(why, cap, "pwrite /proc/self/mem: %s", strerror(errno));
    else if (*(volatile uint8_t *)p != 0x5a)
      snprintf(why, cap,
               "a byte written through /proc/self/mem did not "
               "read back (guest and host addresses differ)");
    else
      ok = 1;
    if (fd >= 0)
      close(fd);
  } else {
    int w = method == HP_WRITE_RWX ? PROT_READ | PROT_WRITE | PROT_EXEC
                                   : PROT_READ | PROT_WRITE;
    if (mprotect(p, 4096, w) != 0)
      snprintf(why, cap, "mprotect(%s): %s", hp_write_method_name(method),
               strerror(errno));
    else if ((((volatile uint8_t *)p)[0] = 0x5a,
              mprotect(p, 4096, PROT_READ | PROT_EXEC)) != 0)
      snprintf(why, cap, "mprotect(r-x) after writing: %s", strerror(errno));
    else
      ok = 1;
  }
  munmap(p, 4096);
  return ok;
}

static void check_no_rwx(void) {
  char first[128];
  int n = cm_rwx_lines(first, sizeof first);
  CM_CHECK(n == 0, "%d rwx mapping(s), first %s", n, first);
}

/* Write "return n" over the "return m" at addr, call it, check maps. */
static void rewrite(uintptr_t addr, int m, int n) {
  uint8_t old[8], neu[8];
  size_t len = cm_ret_code(old, m);
  cm_ret_code(neu, n);
  char before[5], after[5];
  CM_CHECK(cm_perms(addr, before) == 0, "unmapped");
  struct hp_write w;
  int rc = hp_write_prepare(&w, addr, len);
  CM_CHECK(rc == 0, "prepare: %s", hotpatch_last_error());
  rc = hp_write_commit(&w, old, neu);
  CM_CHECK(rc == 0, "commit (%s): %s", hp_write_method_name(w.method),
           hotpatch_err_name(rc));
  CM_CHECK(hp_write_verify(&w) == 0, "%s", hotpatch_last_error());
  hp_write_finish(&w);
  CM_CHECK(memcmp((void *)addr, neu, len) == 0, "bytes not written");
  CM_CHECK(cm_perms(addr, after) == 0 && strcmp(before, after) == 0,
           "perms %s before, %s after", before, after);
  int got = ((ret_fn *)addr)();
  CM_CHECK(got == n, "the code returns %d, not %d", got, n);
}

static void near_blocks_work(uintptr_t near, int expect_page_blocks) {
  uint64_t lo = near - (64u << 20), hi = near + (64u << 20);
  struct hp_near a, b;
  int rc = hp_near_alloc(lo, hi, 24, 16, &a);
  CM_CHECK(rc == 0, "near alloc: %s", hotpatch_last_error());
  rc = hp_near_alloc(lo, hi, 24, 16, &b);
  CM_CHECK(rc == 0, "near alloc: %s", hotpatch_last_error());
  CM_CHECK(a.addr >= lo && b.addr + b.size - 1 <= hi, "outside the window");
  int same_page = a.addr / CM_PAGE == b.addr / CM_PAGE;
  if (expect_page_blocks)
    CM_CHECK(!same_page && a.size % CM_PAGE == 0 && a.addr % CM_PAGE == 0,
             "rw-only blocks must be pages of their own: 0x%lx+%zu 0x%lx",
             (unsigned long)a.addr, a.size, (unsigned long)b.addr);
  else
    CM_CHECK(same_page && a.size == 32, "blocks 0x%lx+%zu 0x%lx",
             (unsigned long)a.addr, a.size, (unsigned long)b.addr);
  uint8_t code[8];
  size_t len = cm_ret_code(code, 5);
  rc = hp_near_write(&a, code, len);
  CM_CHECK(rc == 0, "near write: %s", hotpatch_last_error());
  cm_ret_code(code, 6);
  rc = hp_near_write(&b, code, len);
  CM_CHECK(rc == 0, "near write: %s", hotpatch_last_error());
  CM_CHECK(((ret_fn *)a.addr)() == 5, "block a");
  CM_CHECK(((ret_fn *)b.addr)() == 6, "block b");
  char perms[5];
  CM_CHECK(cm_perms(a.addr, perms) == 0 && strcmp(perms, "r-xp") == 0,
           "pool page is %s", perms);
  CM_CHECK(cm_perms(b.addr, perms) == 0 && strcmp(perms, "r-xp") == 0,
           "pool page is %s", perms);
  hp_near_free(&a);
  hp_near_free(&b);
  CM_CHECK(hp_near_mapped() == 0, "%zu bytes still mapped", hp_near_mapped());
}

static void child_forced_method(void) {
  const char *name = hp_write_method_name(forced);
  char why[200];
  if (!env_allows(forced, why, sizeof why)) {
    fprintf(stderr, "SKIP: method %s is refused by this environment%s: %s\n",
            name, cm_under_qemu() ? " (qemu-user)" : "", why);
    exit(CM_SKIP);
  }
  setenv("HOTPATCH_WRITE_METHOD", name, 1);
  int m = hp_write_method();
  CM_CHECK(m == forced, "method %d: %s", m, hotpatch_last_error());
  CM_CHECK(hp_write_methods() == 1u << forced, "mask 0x%x", hp_write_methods());

  /* Code of another file, as a library's. Under qemu-user a write through
   * /proc/self/mem bypasses the emulator, which keeps running what it
   * translated before: there the code is run only after it is written. */
  uint8_t *ext = map_code_file();
  int stale = cm_under_qemu() && forced == HP_WRITE_PROC_MEM;
  if (!stale)
    CM_CHECK(((ret_fn *)ext)() == 42, "fresh code");
  rewrite((uintptr_t)ext, 42, 43);
  if (!stale)
    rewrite((uintptr_t)ext, 43, 42);
  munmap(ext, 4096);

  /* This program's own code (the library is linked into it). */
  uintptr_t own = (uintptr_t)fx_ret42;
  if (forced == HP_WRITE_RW) {
    struct hp_write w;
    int rc = hp_write_prepare(&w, own, 4);
    CM_CHECK(rc == HOTPATCH_ECODEWRITE, "rw on own code gave %s",
             hotpatch_err_name(rc));
    CM_CHECK(strstr(hotpatch_last_error(), "own code") != NULL, "%s",
             hotpatch_last_error());
  } else if (!stale) {
    rewrite(own, 42, 44);
    rewrite(own, 44, 42);
  } else {
    fprintf(stderr, "note: qemu-user: /proc/self/mem writes bypass its "
                    "translation cache; own code (already run) not "
                    "rewritten\n");
  }
  near_blocks_work(own, forced == HP_WRITE_RW);
  check_no_rwx();
}

static void run_forced(int method) {
  forced = method;
  CM_RUN(child_forced_method);
}

static void forced_rwx_writes_and_restores(void **state) {
  (void)state;
  run_forced(HP_WRITE_RWX);
}

static void forced_rw_writes_foreign_code_and_refuses_its_own(void **state) {
  (void)state;
  run_forced(HP_WRITE_RW);
}

static void forced_procmem_writes_and_restores(void **state) {
  (void)state;
  run_forced(HP_WRITE_PROC_MEM);
}

/* A thread inside dl_iterate_phdr holds the loader's lock until it is
 * told to go (or 10 s pass: only so that a regression ends). */
static int phdr_pipe[2];
static atomic_int
    phdr_state; /* 1 inside the callback, 2 released, 3 timed out */

static int phdr_wait_cb(struct dl_phdr_info *info, size_t size, void *arg) {
  (void)info;
  (void)size;
  (void)arg;
  atomic_store(&phdr_state, 1);
  struct pollfd p = {phdr_pipe[0], POLLIN, 0};
  atomic_store(&phdr_state, poll(&p, 1, 10000) == 1 ? 2 : 3);
  return 1;
}

static void *phdr_holder(void *arg) {
  (void)arg;
  dl_iterate_phdr(phdr_wait_cb, NULL);
  return NULL;
}

/* Preparing a write (here rw, which checks for the library's own code)
 * does not wait for the loader's lock. */
static void child_prepare_while_the_loader_lock_is_held(void) {
  setenv("HOTPATCH_WRITE_METHOD", "rw", 1);
  CM_CHECK(hp_write_method() == HP_WRITE_RW, "%s", hotpatch_last_error());
  CM_CHECK(pipe(phdr_pipe) == 0, "pipe: %s", strerror(errno));
  pthread_t t;
  CM_CHECK(pthread_create(&t, NULL, phdr_holder, NULL) == 0, "thread");
  while (atomic_load(&phdr_state) == 0)
    usleep(1000);
  struct hp_write w;
  int own = hp_write_prepare(&w, (uintptr_t)fx_ret42, 4);
  char own_detail[256];
  snprintf(own_detail, sizeof own_detail, "%s", hotpatch_last_error());
  uint8_t *ext = map_code_file();
  int ext_rc = hp_write_prepare(&w, (uintptr_t)ext, 4);
  int state = atomic_load(&phdr_state);
  CM_CHECK(write(phdr_pipe[1], "x", 1) == 1, "release");
  pthread_join(t, NULL);
  CM_CHECK(state == 1,
           "hp_write_prepare returned only after the thread holding the "
           "loader's lock %s",
           state == 2 ? "was released" : "gave up after 10 s");
  CM_CHECK(own == HOTPATCH_ECODEWRITE && strstr(own_detail, "own code"),
           "own code: %s: %s", hotpatch_err_name(own), own_detail);
  CM_CHECK(ext_rc == 0 && w.method == HP_WRITE_RW, "foreign code: %s",
           hotpatch_err_name(ext_rc));
  hp_write_finish(&w);
  munmap(ext, 4096);
}

static void preparing_a_write_does_not_wait_for_the_loader_lock(void **state) {
  (void)state;
  assert_int_equal(cm_run_child(child_prepare_while_the_loader_lock_is_held),
                   0);
}

static void child_bogus(void) {
  setenv("HOTPATCH_WRITE_METHOD", "bogus", 1);
  CM_CHECK(hp_write_method() == HOTPATCH_ECODEWRITE, "accepted 'bogus'");
  CM_CHECK(strstr(hotpatch_last_error(), "'bogus'") != NULL, "%s",
           hotpatch_last_error());
  CM_CHECK(hp_write_methods() == 0, "mask 0x%x", hp_write_methods());
  struct hp_write w;
  CM_CHECK(hp_write_prepare(&w, (uintptr_t)fx_ret42, 4) == HOTPATCH_ECODEWRITE,
           "prepare without a method");
}

static void unknown_forced_method_is_refused(void **state) {
  (void)state;
  assert_int_equal(cm_run_child(child_bogus), 0);
}

static void child_mdwe(void) {
  if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) {
    CM_CHECK(errno == EINVAL, "prctl(PR_SET_MDWE): %s", strerror(errno));
    if (cm_under_qemu())
      fprintf(stderr, "SKIP: qemu-user refuses PR_SET_MDWE (EINVAL): it "
                      "does not pass that prctl to the kernel\n");
    else
      fprintf(stderr, "SKIP: this kernel lacks PR_SET_MDWE (Linux >= 6.3): "
                      "prctl returned EINVAL\n");
    exit(CM_SKIP);
  }
  /* Is it enforced on what this program sees? qemu-user passes the prctl
   * to the host but emulates mprotect for the guest. */
  void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  CM_CHECK(p != MAP_FAILED, "mmap: %s", strerror(errno));
  int gained = mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) == 0;
  munmap(p, 4096);
  if (gained && cm_under_qemu()) {
    fprintf(stderr, "SKIP: qemu-user accepted PR_SET_MDWE but still lets "
                    "the guest mprotect r-x to rwx (it emulates mprotect)\n");
    exit(CM_SKIP);
  }
  CM_CHECK(!gained, "MDWE set but mprotect(rwx) succeeded");

  int m = hp_write_method();
  CM_CHECK(m == HP_WRITE_PROC_MEM, "method %s: %s", hp_write_method_name(m),
           hotpatch_last_error());
  rewrite((uintptr_t)fx_ret42, 42, 45);
  rewrite((uintptr_t)fx_ret42, 45, 42);
  near_blocks_work((uintptr_t)fx_ret42, 0);
  check_no_rwx();
}

static void under_mdwe_the_probe_picks_procmem_and_writes_work(void **state) {
  (void)state;
  CM_RUN(child_mdwe);
}

/* A seccomp filter refusing (EACCES) any mprotect asking for both write
 * and execute, as a hardened service's might. */
static void deny_rwx_mprotect(void) {
  cm_deny_mprotect(PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC);
  void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  CM_CHECK(mprotect(p, 4096, PROT_READ | PROT_WRITE | PROT_EXEC) != 0 &&
               errno == EACCES,
           "the filter does not refuse rwx");
  munmap(p, 4096);
}

static void child_seccomp_before_probe(void) {
  deny_rwx_mprotect();
  int m = hp_write_method();
  CM_CHECK(m == HP_WRITE_RW, "method %s: %s", hp_write_method_name(m),
           hotpatch_last_error());
  CM_CHECK(hp_write_methods() == (1u << HP_WRITE_RW | 1u << HP_WRITE_PROC_MEM),
           "mask 0x%x", hp_write_methods());
  /* Foreign code goes rw-; this program's own falls back to procmem. */
  uint8_t *ext = map_code_file();
  struct hp_write w;
  CM_CHECK(hp_write_prepare(&w, (uintptr_t)ext, 4) == 0, "%s",
           hotpatch_last_error());
  CM_CHECK(w.method == HP_WRITE_RW, "foreign code: %d", w.method);
  hp_write_finish(&w);
  rewrite((uintptr_t)ext, 42, 43);
  munmap(ext, 4096);
  CM_CHECK(hp_write_prepare(&w, (uintptr_t)fx_ret42, 4) == 0, "%s",
           hotpatch_last_error());
  CM_CHECK(w.method == HP_WRITE_PROC_MEM, "own code: %d", w.method);
  hp_write_finish(&w);
  rewrite((uintptr_t)fx_ret42, 42, 46);
  rewrite((uintptr_t)fx_ret42, 46, 42);
  /* Pools are written through /proc/self/mem, so blocks share pages. */
  near_blocks_work((uintptr_t)fx_ret42, 0);
  check_no_rwx();
}

static void seccomp_denying_rwx_leads_to_rw_and_procmem(void **state) {
  (void)state;
  CM_RUN(child_seccomp_before_probe);
}

/* mprotect(rwx) worked at the probe, and a seccomp filter refuses it by
 * the time of the commit. */
static void commit_under_a_late_filter(int expect_fallback) {
  CM_CHECK(hp_write_method() == HP_WRITE_RWX, "%s", hotpatch_last_error());
  CM_CHECK(!!(hp_write_methods() & 1u << HP_WRITE_PROC_MEM) == expect_fallback,
           "mask 0x%x", hp_write_methods());
  struct hp_write w;
  uintptr_t own = (uintptr_t)fx_ret42;
  CM_CHECK(hp_write_prepare(&w, own, 4) == 0, "%s", hotpatch_last_error());
  CM_CHECK(w.method == HP_WRITE_RWX, "method %d", w.method);
  deny_rwx_mprotect();
  uint8_t old[8], neu[8];
  size_t len = cm_ret_code(old, 42);
  cm_ret_code(neu, 47);
  char before[5], after[5];
  CM_CHECK(cm_perms(own, before) == 0, "unmapped");
  int rc = hp_write_commit(&w, old, neu);
  CM_CHECK(cm_perms(own, after) == 0 && strcmp(before, after) == 0,
           "perms %s before, %s after", before, after);
  CM_CHECK(hp_write_verify(&w) == 0, "%s", hotpatch_last_error());
  if (expect_fallback) {
    /* Through the /proc/self/mem opened at prepare: written, and the
     * protection never changed. */
    CM_CHECK(rc == 0, "commit gave %s", hotpatch_err_name(rc));
    CM_CHECK(memcmp((void *)own, neu, len) == 0, "bytes not written");
    CM_CHECK(fx_ret42() == 47, "own code returns %d", fx_ret42());
    CM_CHECK(hp_write_commit(&w, neu, old) == 0, "writing back");
  } else {
    CM_CHECK(rc == HOTPATCH_ECODEWRITE, "commit gave %s",
             hotpatch_err_name(rc));
  }
  CM_CHECK(memcmp((void *)own, old, len) == 0, "bytes changed");
  hp_write_finish(&w);
  CM_CHECK(fx_ret42() == 42, "own code");
  /* Pools fall back to /proc/self/mem, or refuse. */
  if (expect_fallback) {
    near_blocks_work(own, 0);
  } else {
    struct hp_near b;
    CM_CHECK(hp_near_alloc(own - (64u << 20), own + (64u << 20), 16, 16, &b) ==
                 0,
             "%s", hotpatch_last_error());
    CM_CHECK(hp_near_write(&b, neu, len) == HOTPATCH_ECODEWRITE, "near write");
    hp_near_free(&b);
  }
  check_no_rwx();
}

static void child_seccomp_after_probe(void) { commit_under_a_late_filter(1); }

static void
rwx_refused_after_the_probe_falls_back_to_procmem_and_pools_too(void **state) {
  (void)state;
  CM_RUN(child_seccomp_after_probe);
}

/* Forced rwx: /proc/self/mem is not among the methods, so nothing to fall
 * back to: refused, nothing written. */
static void child_seccomp_after_forced_rwx(void) {
  setenv("HOTPATCH_WRITE_METHOD", "rwx", 1);
  commit_under_a_late_filter(0);
}

static void
rwx_refused_after_the_probe_without_procmem_writes_nothing(void **state) {
  (void)state;
  CM_RUN(child_seccomp_after_forced_rwx);
}

/* After an rwx write to a pool, mprotect back to r-x is refused (a filter
 * refusing exactly r-x): the pool page must not stay rwx. */
static void child_rx_refused_after_a_pool_write(void) {
  CM_CHECK(hp_write_method() == HP_WRITE_RWX, "%s", hotpatch_last_error());
  uintptr_t own = (uintptr_t)fx_ret42;
  struct hp_near b;
  CM_CHECK(hp_near_alloc(own - (64u << 20), own + (64u << 20), 16, 16, &b) == 0,
           "%s", hotpatch_last_error());
  cm_deny_mprotect(PROT_READ | PROT_WRITE | PROT_EXEC, PROT_READ | PROT_EXEC);
  uint8_t code[8];
  size_t len = cm_ret_code(code, 5);
  int rc = hp_near_write(&b, code, len);
  CM_CHECK(rc == HOTPATCH_ECODEWRITE, "near write gave %s",
           hotpatch_err_name(rc));
  CM_CHECK(strstr(hotpatch_last_error(), "left r--") != NULL, "%s",
           hotpatch_last_error());
  char perms[5];
  CM_CHECK(cm_perms(b.addr, perms) == 0 && strcmp(perms, "r--p") == 0,
           "pool page is %s", perms);
  check_no_rwx();
  hp_near_free(&b);
}

static void a_pool_page_is_never_left_rwx_when_rx_is_refused(void **state) {
  (void)state;
  CM_RUN(child_rx_refused_after_a_pool_write);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(forced_rwx_writes_and_restores),
      cmocka_unit_test(forced_rw_writes_foreign_code_and_refuses_its_own),
      cmocka_unit_test(forced_procmem_writes_and_restores),
      cmocka_unit_test(preparing_a_write_does_not_wait_for_the_loader_lock),
      cmocka_unit_test(unknown_forced_method_is_refused),
      cmocka_unit_test(under_mdwe_the_probe_picks_procmem_and_writes_work),
      cmocka_unit_test(seccomp_denying_rwx_leads_to_rw_and_procmem),
      cmocka_unit_test(
          rwx_refused_after_the_probe_falls_back_to_procmem_and_pools_too),
      cmocka_unit_test(
          rwx_refused_after_the_probe_without_procmem_writes_nothing),
      cmocka_unit_test(a_pool_page_is_never_left_rwx_when_rx_is_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
