/* SPDX-License-Identifier: MIT */
/*
 * Every hand-written fixture of this architecture (fx_<arch>.S, listed in
 * fixtures_<arch>.c) goes through the real pipeline: resolved by name in
 * this program, analysed, given a trampoline and an entry jump, installed,
 * called, removed. A patched fixture must give the same results as the
 * direct call before patching, through a replacement that calls the
 * original through its trampoline; the trampoline called directly must
 * too; after removal every byte of the function and of the padding after
 * it that the site may use is the original one, and after every test no
 * mapping of the process is writable and executable.
 */
#include "hp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "errors.h"
#include "fixtures.h"
#include "hp_maps.h"
#include "modules.h"
#include "nearmem.h"
#include "site.h"
#include "symbols.h"

static long (*volatile g_orig)(long, long);
static volatile long g_calls;

/* The replacement: counts, and continues in the original. */
static long pass_through(long a, long b) {
  g_calls++;
  return g_orig(a, b);
}

static void resolve(const char *name, struct hp_target *t) {
  struct hp_modules *m = NULL;
  assert_int_equal(hp_modules_snapshot(&m), 0);
  struct hotpatch_func f = {.target = name};
  int rc = hp_resolve(m, &f, t);
  if (rc)
    fprintf(stderr, "resolve %s: %s\n", name, hotpatch_last_error());
  assert_int_equal(rc, 0);
  hp_modules_free(m);
}

/* Each write is followed by the check the engine makes once threads are
 * released: the pages have their original protection again. */
static void install(struct hp_site_rt *rt) {
  assert_int_equal(hp_site_arm(rt), 0);
  assert_int_equal(hp_site_install(rt), 0);
  hp_site_disarm(rt);
  assert_int_equal(hp_site_verify(rt), 0);
}

static void uninstall(struct hp_site_rt *rt) {
  assert_int_equal(hp_site_arm(rt), 0);
  assert_int_equal(hp_site_remove(rt), 0);
  hp_site_disarm(rt);
  assert_int_equal(hp_site_verify(rt), 0);
}

/* The bytes the analyser sees (the function and the padding after it a
 * site may extend into), copied to `buf` (t->size + HP_TAIL_MAX bytes);
 * returns how many. */
static size_t snapshot(const struct hp_target *t, uint8_t *buf) {
  struct hp_code code;
  assert_int_equal(hp_site_read_code(t, buf, NULL, &code), 0);
  return code.size + code.tail;
}

/* Every byte of the snapshot is back, the whole site included. */
static void bytes_are_restored(const struct hp_target *t, const uint8_t *before,
                               size_t n, const struct hp_site *s) {
  if (s->len) {
    assert_true(s->addr >= t->addr && s->addr + s->len <= t->addr + n);
    assert_memory_equal((const void *)(uintptr_t)s->addr,
                        before + (s->addr - t->addr), s->len);
  }
  assert_memory_equal((const void *)t->addr, before, n);
}

static void refused_as_expected(const struct fx_case *c,
                                const struct hp_target *t,
                                const uint8_t *before, size_t n) {
  struct hp_site_rt rt;
  size_t mapped = hp_near_mapped();
  hp_site_force_far = c->force_far;
  int rc = hp_site_prepare(&rt, t, (uintptr_t)pass_through);
  hp_site_force_far = 0;
  const char *detail = hotpatch_last_error();
  fprintf(stderr, "%s: %s (%s)\n", c->name, hotpatch_err_name(rc), detail);
  assert_int_equal(rc, c->expect);
  assert_true(strlen(detail) > 0);
  /* Nothing kept, nothing written. */
  assert_int_equal(hp_near_mapped(), mapped);
  assert_memory_equal((const void *)t->addr, before, n);
  assert_int_equal(hp_test_count_rwx(), 0);
}

static void fixture_runs_patched(void **state) {
  const struct fx_case *c = *state;
  struct hp_target t;
  resolve(c->name, &t);
  assert_int_equal(t.addr, (uintptr_t)c->fn);
  uint8_t *before = malloc(t.size + HP_TAIL_MAX);
  assert_non_null(before);
  size_t nbefore = snapshot(&t, before);
  long want[FX_NARGS];
  for (int i = 0; i < FX_NARGS; i++)
    want[i] = c->fn(c->args[i][0], c->args[i][1]);

  if (c->expect) {
    refused_as_expected(c, &t, before, nbefore);
    free(before);
    return;
  }
  struct hp_site_rt rt;
  hp_site_force_far = c->force_far;
  int rc = hp_site_prepare(&rt, &t, (uintptr_t)pass_through);
  hp_site_force_far = 0;
  if (rc)
    fprintf(stderr, "%s: %s\n", c->name, hotpatch_last_error());
  assert_int_equal(rc, 0);
  assert_int_equal(rt.s.flags & c->want_flags, c->want_flags);
  /* Without verified padding after it, the site stays in the function. */
  if (!(rt.s.flags & HP_SITE_PADDING))
    assert_true(rt.s.addr + rt.s.len <= t.addr + t.size);
  if (c->force_far) {
    assert_true(rt.s.flags & HP_SITE_FAR);
    uint64_t d = rt.tramp.addr > t.addr ? rt.tramp.addr - t.addr
                                        : t.addr - rt.tramp.addr;
    if (d < (1ull << 31))
      fprintf(stderr,
              "NOTE %s: the trampoline landed within 2 GiB of the "
              "function; its far forms were not needed\n",
              c->name);
  }
  g_orig = (long (*)(long, long))hp_site_original(&rt);
  install(&rt);
  assert_memory_equal((const void *)rt.s.addr, rt.entry, rt.s.len);
  assert_int_equal(hp_test_count_rwx(), 0);

  for (int i = 0; i < FX_NARGS; i++) {
    long calls = g_calls;
    long got = c->fn(c->args[i][0], c->args[i][1]);
    assert_int_equal(g_calls, calls + 1);
    long orig = g_orig(c->args[i][0], c->args[i][1]);
    assert_int_equal(g_calls, calls + 1);
    if (!c->no_result) {
      assert_int_equal(got, want[i]);
      assert_int_equal(orig, want[i]);
    }
  }

  uninstall(&rt);
  bytes_are_restored(&t, before, nbefore, &rt.s);
  long calls = g_calls;
  for (int i = 0; i < FX_NARGS; i++) {
    long got = c->fn(c->args[i][0], c->args[i][1]);
    if (!c->no_result)
      assert_int_equal(got, want[i]);
  }
  assert_int_equal(g_calls, calls);
  hp_site_release(&rt);
  assert_int_equal(hp_test_count_rwx(), 0);
  free(before);
}

/* Installing over bytes someone else changed, or removing after someone
 * else patched over us, is refused and writes nothing. */
static void refuses_a_site_changed_under_it(void **state) {
  (void)state;
  const struct fx_case *c = &fx_cases[0];
  struct hp_target t;
  resolve(c->name, &t);
  struct hp_site_rt rt;
  assert_int_equal(hp_site_prepare(&rt, &t, (uintptr_t)pass_through), 0);
  g_orig = (long (*)(long, long))hp_site_original(&rt);
  install(&rt);
  /* Another patcher rewrites the entry (here: our own writer, with the
   * original bytes as the "foreign" content). */
  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, rt.s.addr, rt.s.len), 0);
  assert_int_equal(hp_write_commit(&w, rt.entry, rt.s.orig), 0);
  assert_int_equal(hp_site_arm(&rt), 0);
  assert_int_equal(hp_site_remove(&rt), HOTPATCH_ECHANGED);
  hp_site_disarm(&rt);
  assert_memory_equal((const void *)rt.s.addr, rt.s.orig, rt.s.len);
  /* And an install over bytes that are not the original ones. */
  assert_int_equal(hp_write_commit(&w, rt.s.orig, rt.entry), 0);
  rt.installed = 0;
  assert_int_equal(hp_site_arm(&rt), 0);
  assert_int_equal(hp_site_install(&rt), HOTPATCH_ECHANGED);
  hp_site_disarm(&rt);
  assert_memory_equal((const void *)rt.s.addr, rt.entry, rt.s.len);
  assert_int_equal(hp_write_commit(&w, rt.entry, rt.s.orig), 0);
  hp_write_finish(&w);
  hp_site_release(&rt);
  assert_int_equal(hp_test_count_rwx(), 0);
}

/* The check after the window names a written page whose protection is
 * not the original one (here: made rwx behind the site's back). */
static void
verify_names_a_written_page_left_with_another_protection(void **state) {
  (void)state;
  const struct fx_case *c = &fx_cases[0];
  struct hp_target t;
  resolve(c->name, &t);
  struct hp_site_rt rt;
  assert_int_equal(hp_site_prepare(&rt, &t, (uintptr_t)pass_through), 0);
  g_orig = (long (*)(long, long))hp_site_original(&rt);
  assert_int_equal(hp_site_verify(&rt), 0); /* nothing written yet */
  install(&rt);
  uintptr_t page = rt.wr.page[0];
  assert_int_equal(
      mprotect((void *)page, rt.wr.pagesz, PROT_READ | PROT_WRITE | PROT_EXEC),
      0);
  int rc = hp_site_verify(&rt);
  assert_int_equal(mprotect((void *)page, rt.wr.pagesz, PROT_READ | PROT_EXEC),
                   0);
  assert_int_equal(rc, HOTPATCH_ECODEWRITE);
  char want[64];
  snprintf(want, sizeof want, "code page %#lx is rwxp", (unsigned long)page);
  if (!strstr(hotpatch_last_error(), want))
    fail_msg("'%s' lacks '%s'", hotpatch_last_error(), want);
  assert_int_equal(hp_site_verify(&rt), 0);
  uninstall(&rt);
  hp_site_release(&rt);
}

/* Allocating the copies of the code fails (a cold part claimed to be
 * larger than memory): HOTPATCH_ENOMEM with a detail saying what for,
 * nothing allocated, nothing written. */
static void out_of_memory_is_refused_with_a_detail(void **state) {
  (void)state;
  const struct fx_case *c = &fx_cases[0];
  struct hp_target t;
  resolve(c->name, &t);
  uint8_t before[64];
  memcpy(before, (const void *)t.addr, t.size < 64 ? t.size : 64);
  t.cold_addr = t.addr;
  t.cold_size = (size_t)1 << 62;
  hp_clear_error();
  size_t mapped = hp_near_mapped();
  struct hp_site_rt rt;
  assert_int_equal(hp_site_prepare(&rt, &t, (uintptr_t)pass_through),
                   HOTPATCH_ENOMEM);
  const char *detail = hotpatch_last_error();
  fprintf(stderr, "%s\n", detail);
  assert_non_null(strstr(detail, "out of memory"));
  char addr[32];
  snprintf(addr, sizeof addr, "%#lx", (unsigned long)t.addr);
  assert_non_null(strstr(detail, addr));
  assert_int_equal(hp_near_mapped(), mapped);
  assert_memory_equal((const void *)t.addr, before, t.size < 64 ? t.size : 64);
}

/* The allocation above is meant to fail: under AddressSanitizer, malloc
 * then returns NULL rather than ending the program. Exported: the
 * sanitizer runtime looks it up dynamically, and the build hides symbols by
 * default. */
__attribute__((visibility("default"))) const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *
__asan_default_options(void) {
  return "allocator_may_return_null=1";
}

int main(void) {
  size_t n = 0;
  while (fx_cases[n].name)
    n++;
  struct CMUnitTest *tests = calloc(n + 3, sizeof *tests);
  char **names = calloc(n, sizeof *names);
  if (!tests || !names)
    return 1;
  for (size_t i = 0; i < n; i++) {
    const struct fx_case *c = &fx_cases[i];
    if (asprintf(&names[i], "%s_%s", c->expect ? "refuses" : "patches",
                 c->name) < 0)
      return 1;
    tests[i].name = names[i];
    tests[i].test_func = fixture_runs_patched;
    tests[i].initial_state = (void *)c;
    tests[i].teardown_func = hp_test_no_rwx_left;
  }
  tests[n].name = "refuses_a_site_changed_under_it";
  tests[n].test_func = refuses_a_site_changed_under_it;
  tests[n].teardown_func = hp_test_no_rwx_left;
  tests[n + 1].name = "out_of_memory_is_refused_with_a_detail";
  tests[n + 1].test_func = out_of_memory_is_refused_with_a_detail;
  tests[n + 1].teardown_func = hp_test_no_rwx_left;
  tests[n + 2].name =
      "verify_names_a_written_page_left_with_another_protection";
  tests[n + 2].test_func =
      verify_names_a_written_page_left_with_another_protection;
  tests[n + 2].teardown_func = hp_test_no_rwx_left;
  int rc = _cmocka_run_group_tests("rewrite_sites", tests, n + 3, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(tests);
  return rc;
}
