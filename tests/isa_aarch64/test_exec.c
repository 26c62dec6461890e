/* SPDX-License-Identifier: MIT */
/*
 * The aarch64 fixtures (tests/rewrite/fx_aarch64.S) analysed as the table
 * says, and their trampolines run: relocated into a page within branch
 * range, called, and compared with the direct call. The trampoline runs
 * the moved instructions and jumps back into the unpatched function, so
 * this needs no patching of the fixture itself. aarch64 hosts only (qemu
 * in the cross build).
 */
#include "hp_test.h"

#include <stdio.h>

#if defined(__aarch64__)

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/host.h"
#include "hotpatch.h"
#include "modules.h"
#include "rewrite/fixtures.h"
#include "symbols.h"

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

/* The fixture's code as site.c shows it to analyse: the bytes after it up
 * to the next symbol (at most HP_TAIL_MAX) may be padding. */
static void code_of(const struct hp_target *t, struct hp_code *c) {
  uintptr_t end = t->addr + t->size;
  size_t tail = HP_TAIL_MAX;
  if (t->limit && t->limit >= end && t->limit - end < tail)
    tail = t->limit - end;
  if (t->code_end && t->code_end >= end && t->code_end - end < tail)
    tail = t->code_end - end;
  memset(c, 0, sizeof *c);
  c->addr = t->addr;
  c->bytes = (const uint8_t *)t->addr;
  c->size = t->size;
  c->tail = tail;
  if (t->cold_addr) {
    c->cold_addr = t->cold_addr;
    c->cold_bytes = (const uint8_t *)t->cold_addr;
    c->cold_size = t->cold_size;
  }
}

/* A page with every byte in [lo, hi]: hinted, never over a mapping. */
static void *map_near(uint64_t lo, uint64_t hi, size_t pg) {
  uint64_t mid = lo + (hi - lo) / 2;
  for (uint64_t d = 0; d < (hi - lo) / 2; d += UINT64_C(1) << 22) {
    for (int side = 0; side < 2; side++) {
      uint64_t hint = (side ? mid - d : mid + d) & ~(uint64_t)(pg - 1);
      if (hint < lo || hint + pg - 1 > hi)
        continue;
      void *p = mmap((void *)(uintptr_t)hint, pg, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
      if (p == MAP_FAILED)
        continue;
      if ((uint64_t)(uintptr_t)p >= lo && (uint64_t)(uintptr_t)p + pg - 1 <= hi)
        return p;
      munmap(p, pg); /* a kernel without NOREPLACE took it as a hint */
    }
  }
  return NULL;
}

static void fixture_trampoline_matches_the_direct_call(void **state) {
  const struct fx_case *c = *state;
  struct hp_target t;
  resolve(c->name, &t);
  assert_int_equal(t.addr, (uintptr_t)c->fn);
  struct hp_code code;
  code_of(&t, &code);
  struct hp_site s;
  uint32_t need =
      c->force_far ? hp_isa_aarch64.far_jump_len : hp_isa_aarch64.near_jump_len;
  int rc = hp_isa_aarch64.analyse(&code, need, &s);
  if (rc)
    fprintf(stderr, "%s: %s (%s)\n", c->name, hotpatch_err_name(rc),
            hotpatch_last_error());
  assert_int_equal(rc, c->expect);
  if (rc)
    return;
  assert_int_equal(s.flags & c->want_flags, c->want_flags);

  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  uint8_t *p = map_near(s.tramp_lo, s.tramp_hi, pg);
  assert_non_null(p);
  uint8_t buf[HP_TRAMP_MAX];
  size_t len = 0;
  assert_int_equal(
      hp_isa_aarch64.relocate(&s, (uintptr_t)p, buf, sizeof buf, &len), 0);
  memcpy(p, buf, len);
  assert_int_equal(mprotect(p, pg, PROT_READ | PROT_EXEC), 0);
  hp_arch_flush_code((uintptr_t)p, len);
  /* And the entry towards it is a near B. */
  uint8_t entry[HP_SITE_MAX];
  assert_int_equal(hp_isa_aarch64.entry(&s, (uintptr_t)p, entry), 0);

  long (*tramp)(long, long) = (long (*)(long, long))(uintptr_t)p;
  for (int i = 0; i < FX_NARGS; i++) {
    long a = c->args[i][0], b = c->args[i][1];
    long want = c->fn(a, b);
    long got = tramp(a, b);
    if (got != want)
      fprintf(stderr, "  %s(%ld, %ld): trampoline %ld, direct %ld\n", c->name,
              a, b, got, want);
    assert_int_equal(got, want);
  }
  munmap(p, pg);
}

long fx_bti_c(long a, long b);

/* A page farther than B reach (128 MiB) from `target`. */
static uint8_t *map_far(uintptr_t target, size_t pg) {
  const uintptr_t reach = (uintptr_t)1 << 27;
  for (uintptr_t d = (uintptr_t)1 << 30; d < ((uintptr_t)1 << 40); d <<= 1) {
    void *p = mmap((void *)((target + d) & ~(uintptr_t)(pg - 1)), pg,
                   PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      continue;
    uintptr_t a = (uintptr_t)p;
    if ((a > target ? a - target : target - a) > 2 * reach)
      return p;
    munmap(p, pg);
  }
  return NULL;
}

/* Run `len` bytes of code at `p` as fx_bti_c's entry and compare. */
static void runs_as_fx_bti_c(uint8_t *p, size_t pg, const uint8_t *code,
                             size_t len) {
  memcpy(p, code, len);
  assert_int_equal(mprotect(p, pg, PROT_READ | PROT_EXEC), 0);
  hp_arch_flush_code((uintptr_t)p, len);
  long (*fn)(long, long) = (long (*)(long, long))(uintptr_t)p;
  assert_int_equal(fn(3, 4), fx_bti_c(3, 4));
  assert_int_equal(fn(-9, 2), fx_bti_c(-9, 2));
  assert_int_equal(mprotect(p, pg, PROT_READ | PROT_WRITE), 0);
}

/* The absolute forms, executed: the far entry (plain and after BTI c for
 * a PACIxSP site) and the stub, each far from fx_bti_c, reach it through
 * x16. The rewrite pipeline's replacement is always near, so it never
 * runs them. */
static void far_entry_and_stub_reach_their_target(void **state) {
  (void)state;
  size_t pg = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t target = (uintptr_t)fx_bti_c;
  uint8_t *p = map_far(target, pg);
  if (!p) {
    fprintf(stderr, "SKIPPED: no page farther than 256 MiB from %#lx\n",
            (unsigned long)target);
    skip();
  }
  uint8_t code[HP_SITE_MAX];
  struct hp_site far = {.func = (uintptr_t)p,
                        .addr = (uintptr_t)p,
                        .len = 16,
                        .ninsn = 4,
                        .flags = HP_SITE_FAR};
  assert_int_equal(hp_isa_aarch64.entry(&far, target, code), 0);
  assert_int_equal(code[3], 0x58); /* ldr x16, .+8: the far form */
  runs_as_fx_bti_c(p, pg, code, far.len);

  struct hp_site pac = far;
  pac.len = 20;
  pac.ninsn = 5;
  pac.jump_off = 4;
  pac.flags = HP_SITE_FAR | HP_SITE_PAC;
  assert_int_equal(hp_isa_aarch64.entry(&pac, target, code), 0);
  runs_as_fx_bti_c(p, pg, code, pac.len);

  assert_int_equal(hp_isa_aarch64.stub((uintptr_t)p, target, code), 0);
  runs_as_fx_bti_c(p, pg, code, hp_isa_aarch64.stub_len);
  munmap(p, pg);
}

int main(void) {
  size_t n = 0;
  while (fx_cases[n].name)
    n++;
  struct CMUnitTest *tests = calloc(n + 1, sizeof *tests);
  if (!tests)
    return 1;
  for (size_t i = 0; i < n; i++) {
    tests[i].name = fx_cases[i].name;
    tests[i].test_func = fixture_trampoline_matches_the_direct_call;
    tests[i].initial_state = (void *)&fx_cases[i];
  }
  tests[n].name = "far_entry_and_stub_reach_their_target";
  tests[n].test_func = far_entry_and_stub_reach_their_target;
  int rc =
      _cmocka_run_group_tests("isa_aarch64_exec", tests, n + 1, NULL, NULL);
  free(tests);
  return rc;
}

#else

static void fixtures_run_only_on_aarch64(void **state) {
  (void)state;
  fprintf(stderr,
          "SKIPPED: running aarch64 trampolines needs an aarch64 host (or "
          "the aarch64 build under qemu); the byte-level isa_aarch64 tests "
          "cover the encodings here\n");
  skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fixtures_run_only_on_aarch64),
  };
  return cmocka_run_group_tests_name("isa_aarch64_exec", tests, NULL, NULL);
}

#endif
