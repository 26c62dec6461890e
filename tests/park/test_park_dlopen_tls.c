/* SPDX-License-Identifier: MIT */
/*
 * libhotpatch.so dlopen()ed, not linked: a thread created after the
 * dlopen that never called the library is parked by an action, and its
 * handler must not allocate. With the general-dynamic TLS model the
 * handler's first touch of the library's thread-locals would go through
 * __tls_get_addr, which allocates the thread's block with malloc, in a
 * signal handler that may have interrupted malloc. The library's
 * thread-locals are initial-exec (docs/safety.md, "Thread-local
 * storage"): dlopen() places them in the static TLS surplus of every
 * thread.
 *
 * This binary does not link libhotpatch.
 */
#include "hp_test.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hotpatch.h"

/* Arenas of the allocator (malloc_info's <heap nr=...>): a thread's first
 * allocation gives it one, and the spinner below allocates nothing. The
 * dynamic loader allocates TLS blocks with libc's malloc directly, past
 * any interposed one: this is how it shows. */
static int arenas(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  assert_int_equal(malloc_info(0, f), 0);
  fclose(f);
  int n = 0;
  for (const char *s = buf; (s = strstr(s, "<heap nr=")); s++)
    n++;
  free(buf);
  return n;
}

__attribute__((noinline, noipa, used)) long tls_target(long x) { return x + 1; }
static long tls_replacement(long x) { return x + 100; }

static atomic_int spinner_tid, spin_quit;

static void *spinner(void *v) {
  (void)v;
  atomic_store(&spinner_tid, (int)syscall(SYS_gettid));
  while (!atomic_load_explicit(&spin_quit, memory_order_relaxed))
    ;
  return NULL;
}

#define SYM(h, name) ((__typeof__(&name))dlsym(h, #name))

static void a_thread_parked_by_a_dlopened_library_does_not_allocate(void **s) {
  (void)s;
#if defined(__SANITIZE_ADDRESS__)
  printf("SKIPPED: under AddressSanitizer malloc is the sanitizer's, which "
         "malloc_info does not describe\n");
  skip();
#endif
  void *h = dlopen(HOTPATCH_SO, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    fail_msg("dlopen %s: %s", HOTPATCH_SO, dlerror());
  __typeof__(&hotpatch_register) reg = SYM(h, hotpatch_register);
  __typeof__(&hotpatch_apply) apply = SYM(h, hotpatch_apply);
  __typeof__(&hotpatch_revert) revert = SYM(h, hotpatch_revert);
  __typeof__(&hotpatch_unload) unload = SYM(h, hotpatch_unload);
  __typeof__(&hotpatch_last_error) last_error = SYM(h, hotpatch_last_error);
  assert_true(reg && apply && revert && unload && last_error);
  static const struct hotpatch_func funcs[] = {
      {.target = "tls_target", .replacement = (void *)tls_replacement}, {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "dlopen-tls",
                                         .flags = HOTPATCH_REAPPLYABLE,
                                         .funcs = funcs};
  hotpatch_patch *p;
  if (reg(&d, &p))
    fail_msg("register: %s", last_error());
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, spinner, NULL), 0);
  while (!atomic_load(&spinner_tid))
    usleep(1000);
  int arenas0 = arenas();
  for (int k = 0; k < 3; k++) {
    if (apply(p, NULL))
      fail_msg("apply: %s", last_error());
    assert_int_equal(tls_target(1), 101);
    if (revert(p, NULL))
      fail_msg("revert: %s", last_error());
    assert_int_equal(tls_target(1), 2);
  }
  int allocs = arenas() - arenas0;
  atomic_store(&spin_quit, 1);
  pthread_join(t, NULL);
  printf("park: a thread parked 6 times by a dlopen()ed libhotpatch.so: %d "
         "new allocator arena(s) (%d before)\n",
         allocs, arenas0);
  assert_int_equal(allocs, 0);
  assert_int_equal(unload(p), 0);
  /* Not dlclose()d: the park signal's handler stays installed. */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_thread_parked_by_a_dlopened_library_does_not_allocate),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
