/* SPDX-License-Identifier: MIT */
/*
 * Runs relocated code: every fixture of tests/rewrite/fx_x86_64.S is
 * analysed and its trampoline written into a page near it and into one
 * more than 4 GiB away (where every far form is taken), then called and
 * compared with the direct call. The trampoline jumps back into the
 * unpatched fixture, so this proves relocation alone, without the entry
 * jump. x86_64 hosts only; elsewhere the test is skipped, loudly.
 */
#include "hp_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)

#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>

#include "arch/isa.h"
#include "hotpatch.h"
#include "hp_maps.h"
#include "rewrite/fixtures.h"

#define PAGE 4096ull
#define GIB (1ull << 30)

/* Bounds the last fixture (fx_x86_64.S). */
long fx_x86_64_end(long a, long b);

/* Fixtures whose moved instructions have no far form: relocating them more
 * than 2 GiB from their data must be refused. */
static const char *const no_far_form[] = {"fx_push_rip", NULL};

static const struct hp_isa *isa = &hp_isa_x86_64;

static int in_list(const char *name, const char *const *list) {
  for (; *list; list++)
    if (strcmp(*list, name) == 0)
      return 1;
  return 0;
}

/* st_size from the dynamic symbol table (the test links with -rdynamic). */
static size_t fixture_size(const void *fn) {
  Dl_info info;
  const ElfW(Sym) *sym = NULL;
  if (!dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym ||
      info.dli_saddr != fn)
    return 0;
  return sym->st_size;
}

/* The next fixture after `addr`: the bytes before it are the tail. */
static uintptr_t next_fixture(uintptr_t addr) {
  uintptr_t best = (uintptr_t)fx_x86_64_end;
  for (const struct fx_case *c = fx_cases; c->name; c++) {
    uintptr_t a = (uintptr_t)c->fn;
    if (a > addr && a < best)
      best = a;
  }
  return best;
}

static void code_of(const struct fx_case *c, struct hp_code *code) {
  uintptr_t addr = (uintptr_t)c->fn;
  memset(code, 0, sizeof *code);
  code->addr = addr;
  code->bytes = (const uint8_t *)addr;
  code->size = fixture_size((const void *)addr);
  assert_true(code->size > 0);
  uintptr_t next = next_fixture(addr);
  assert_true(next >= addr + code->size);
  size_t tail = next - (addr + code->size);
  code->tail = tail < HP_TAIL_MAX ? tail : HP_TAIL_MAX;
}

static void *map_at(uintptr_t hint) {
  void *p = mmap((void *)hint, PAGE, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* A page with every byte in [lo, hi], found by hints around `around`. */
static void *map_near(uintptr_t around, uint64_t lo, uint64_t hi) {
  for (uint64_t k = 1; k < 64; k++) {
    for (int sign = -1; sign <= 1; sign += 2) {
      uint64_t step = k * (32ull << 20);
      uintptr_t hint = (around & ~(PAGE - 1)) + (sign > 0 ? step : -step);
      if (hint < lo || hint + PAGE - 1 > hi)
        continue;
      void *p = map_at(hint);
      if (!p)
        continue;
      if ((uintptr_t)p >= lo && (uintptr_t)p + PAGE - 1 <= hi)
        return p;
      munmap(p, PAGE);
    }
  }
  return NULL;
}

/* A page more than 4 GiB from `from`. */
static void *map_far(uintptr_t from) {
  for (uint64_t k = 1; k < 32; k++) {
    uintptr_t hints[2] = {from + k * 8 * GIB,
                          from > k * 8 * GIB ? from - k * 8 * GIB : 0};
    for (int i = 0; i < 2; i++) {
      if (hints[i] < (1ull << 32) || hints[i] > 0x7f0000000000ull)
        continue;
      void *p = map_at(hints[i] & ~(PAGE - 1));
      if (!p)
        continue;
      uintptr_t a = (uintptr_t)p;
      if ((a > from ? a - from : from - a) > 4 * GIB)
        return p;
      munmap(p, PAGE);
    }
  }
  return NULL;
}

/* Relocate into `page`, make it executable, compare every argument pair
 * with the direct call. */
static void run_in(const struct fx_case *c, const struct hp_site *s, void *page,
                   const char *where) {
  size_t len = 0;
  int rc = isa->relocate(s, (uintptr_t)page, page, PAGE, &len);
  if (rc)
    fprintf(stderr, "%s %s: %s\n", c->name, where, hotpatch_last_error());
  assert_int_equal(rc, 0);
  assert_true(len > 4 && len <= HP_TRAMP_MAX);
  assert_int_equal(mprotect(page, PAGE, PROT_READ | PROT_EXEC), 0);
  long (*tramp)(long, long) = (long (*)(long, long))page;
  for (int i = 0; i < FX_NARGS; i++) {
    long a = c->args[i][0], b = c->args[i][1];
    long want = c->fn(a, b);
    long got = tramp(a, b);
    if (c->no_result) /* it ran and came back: all a lone ret can show */
      continue;
    if (got != want)
      fprintf(stderr, "%s %s (%ld, %ld): %ld, direct %ld\n", c->name, where, a,
              b, got, want);
    assert_int_equal(got, want);
  }
}

static void fixture_runs_relocated(void **state) {
  const struct fx_case *c = *state;
  struct hp_code code;
  struct hp_site s;

  if (strcmp(c->name, "fx_vmovdqu_rip") == 0 &&
      !__builtin_cpu_supports("avx")) {
    fprintf(stderr, "SKIP %s: this CPU has no AVX, the fixture cannot run\n",
            c->name);
    skip();
  }
  code_of(c, &code);
  uint32_t need = c->force_far ? isa->far_jump_len : isa->near_jump_len;
  int rc = isa->analyse(&code, need, &s);
  if (rc)
    fprintf(stderr, "%s: %s: %s\n", c->name, hotpatch_err_name(rc),
            hotpatch_last_error());
  assert_int_equal(rc, c->expect);
  if (c->expect)
    return;
  assert_int_equal(s.flags & c->want_flags, c->want_flags);
  assert_int_equal(!!(s.flags & HP_SITE_FAR), !!c->force_far);

  uint64_t lo = s.tramp_lo, hi = s.tramp_hi;
  if (lo == 0 && hi == 0) {
    lo = code.addr - GIB;
    hi = code.addr + GIB;
  }
  void *near = map_near(code.addr, lo, hi);
  assert_non_null(near);
  run_in(c, &s, near, "near");
  munmap(near, PAGE);

  void *far = map_far(code.addr);
  assert_non_null(far);
  if (in_list(c->name, no_far_form)) {
    size_t len;
    assert_int_equal(isa->relocate(&s, (uintptr_t)far, far, PAGE, &len),
                     HOTPATCH_ERELOC);
    fprintf(stderr, "%s far: refused as it must be: %s\n", c->name,
            hotpatch_last_error());
  } else {
    run_in(c, &s, far, "far");
  }
  munmap(far, PAGE);
}

int main(void) {
  size_t n = 0;
  while (fx_cases[n].name)
    n++;
  struct CMUnitTest *tests = calloc(n, sizeof *tests);
  char **names = calloc(n, sizeof *names);
  if (!tests || !names)
    return 1;
  for (size_t i = 0; i < n; i++) {
    const struct fx_case *c = &fx_cases[i];
    if (asprintf(&names[i], "%s_%s", c->expect ? "analysis_refuses" : "runs",
                 c->name) < 0)
      return 1;
    tests[i].name = names[i];
    tests[i].test_func = fixture_runs_relocated;
    tests[i].initial_state = (void *)c;
    tests[i].teardown_func = hp_test_no_rwx_left;
  }
  int rc = _cmocka_run_group_tests("isa_x86_64_run", tests, n, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
  free(tests);
  return rc;
}

#else

static void relocated_fixtures_run_on_x86_64_only(void **state) {
  (void)state;
  fprintf(stderr, "SKIPPED: running x86_64 trampolines needs an x86_64 "
                  "host; this host is not one (the byte-level tests in "
                  "isa_x86_64_bytes still ran)\n");
  skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(relocated_fixtures_run_on_x86_64_only),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
