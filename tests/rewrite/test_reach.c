/* SPDX-License-Identifier: MIT */
/*
 * Reachability: a replacement farther than a direct jump reaches, and a
 * target whose whole jump window is taken. Patching either goes through a
 * stub, uses the far (absolute) entry jump, or fails cleanly with
 * HOTPATCH_ENONEAR and nothing changed — never a wrong jump.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/host.h"
#include "fixtures.h"
#include "hp_maps.h"
#include "modules.h"
#include "nearmem.h"
#include "site.h"
#include "symbols.h"

#if defined(__x86_64__)
#define RANGE (2ull << 30)     /* rel32 */
#define FAR_OK "fx_red_zone"   /* 14+ relocatable bytes */
#define SHORT "fx_after_tight" /* 5 bytes, 3 of padding */
#else
#define RANGE (128ull << 20) /* B imm26 */
#define FAR_OK "fx_b_ne"
#define SHORT "fx_adrp_add"
#endif

static long (*volatile g_orig)(long, long);
static volatile long g_calls;

static long pass_through(long a, long b) {
  g_calls++;
  return g_orig(a, b);
}

static const struct fx_case *fixture(const char *name) {
  for (const struct fx_case *c = fx_cases; c->name; c++)
    if (!strcmp(c->name, name))
      return c;
  fail_msg("no fixture %s", name);
  return NULL;
}

static void resolve(const char *name, struct hp_target *t) {
  struct hp_modules *m = NULL;
  assert_int_equal(hp_modules_snapshot(&m), 0);
  struct hotpatch_func f = {.target = name};
  assert_int_equal(hp_resolve(m, &f, t), 0);
  hp_modules_free(m);
}

/* Patch, call, compare, remove, compare bytes. */
static void patch_and_call(struct hp_site_rt *rt, const struct fx_case *c,
                           const struct hp_target *t) {
  long want[FX_NARGS];
  for (int i = 0; i < FX_NARGS; i++)
    want[i] = c->fn(c->args[i][0], c->args[i][1]);
  g_orig = (long (*)(long, long))hp_site_original(rt);
  assert_int_equal(hp_site_arm(rt), 0);
  assert_int_equal(hp_site_install(rt), 0);
  hp_site_disarm(rt);
  assert_int_equal(hp_site_verify(rt), 0);
  long calls = g_calls;
  for (int i = 0; i < FX_NARGS; i++)
    assert_int_equal(c->fn(c->args[i][0], c->args[i][1]), want[i]);
  assert_int_equal(g_calls, calls + FX_NARGS);
  assert_int_equal(hp_site_arm(rt), 0);
  assert_int_equal(hp_site_remove(rt), 0);
  hp_site_disarm(rt);
  assert_int_equal(hp_site_verify(rt), 0);
  assert_memory_equal((const void *)rt->s.addr, rt->s.orig, rt->s.len);
  (void)t;
}

static uint64_t dist(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

/* A page at least 2 * RANGE away from `near`, holding an absolute jump to
 * pass_through: a replacement no direct jump from the site can reach. */
static void *far_replacement(uintptr_t near) {
  for (uint64_t k = 4; k < 64; k *= 2) {
    uintptr_t hint = (near + k * RANGE) & ~(uintptr_t)0xffff;
    void *p = mmap((void *)hint, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
      continue;
    if (dist((uintptr_t)p, near) > 2 * RANGE) {
      const struct hp_isa *isa = hp_isa_host();
      uint8_t code[64];
      assert_int_equal(isa->stub((uintptr_t)p, (uintptr_t)pass_through, code),
                       0);
      memcpy(p, code, isa->stub_len);
      assert_int_equal(mprotect(p, 4096, PROT_READ | PROT_EXEC), 0);
      hp_arch_flush_code((uintptr_t)p, isa->stub_len);
      return p;
    }
    munmap(p, 4096);
  }
  fail_msg("no free page far from %#lx", (unsigned long)near);
  return NULL;
}

static void far_replacement_is_reached_through_a_stub(void **state) {
  (void)state;
  const struct fx_case *c = fixture(SHORT);
  struct hp_target t;
  resolve(c->name, &t);
  void *repl = far_replacement(t.addr);
  struct hp_site_rt rt;
  int rc = hp_site_prepare(&rt, &t, (uintptr_t)repl);
  if (rc)
    fprintf(stderr, "%s\n", hotpatch_last_error());
  assert_int_equal(rc, 0);
  assert_true(rt.stub.addr != 0);
  assert_true(dist(rt.stub.addr, rt.s.addr) < RANGE);
  patch_and_call(&rt, c, &t);
  hp_site_release(&rt);
  munmap(repl, 4096);
  assert_int_equal(hp_test_count_rwx(), 0);
}

/* The window around the fixtures filled with PROT_NONE reservations. */
static uintptr_t win_lo, win_hi;

static int fill_window(void **state) {
  (void)state;
  struct hp_target t;
  resolve(FAR_OK, &t);
  win_lo =
      t.addr > RANGE + 0x10000 ? (t.addr - RANGE) & ~(uintptr_t)0xfff : 0x10000;
  win_hi = (t.addr + RANGE) & ~(uintptr_t)0xfff;
  hp_test_reserve_window(win_lo, win_hi);
  return 0;
}

static int empty_window(void **state) {
  hp_test_unreserve_window(win_lo, win_hi);
  return hp_test_no_rwx_left(state);
}

static void full_window_uses_the_far_entry_or_fails_cleanly(void **state) {
  (void)state;
  const struct fx_case *c = fixture(FAR_OK);
  struct hp_target t;
  resolve(c->name, &t);
  uint8_t before[64];
  memcpy(before, (const void *)t.addr, t.size < 64 ? t.size : 64);
  size_t mapped = hp_near_mapped();
  struct hp_site_rt rt;
  int rc = hp_site_prepare(&rt, &t, (uintptr_t)pass_through);
  fprintf(stderr, "%s with its window full: %s %s\n", c->name,
          rc ? hotpatch_err_name(rc) : "patched",
          rc ? hotpatch_last_error() : "");
#if defined(__x86_64__)
  /* x86_64 has absolute forms for all of it: the far entry jump. */
  assert_int_equal(rc, 0);
  assert_true(rt.s.flags & HP_SITE_FAR);
  assert_true(rt.tramp.addr < win_lo || rt.tramp.addr >= win_hi);
  patch_and_call(&rt, c, &t);
  hp_site_release(&rt);
#else
  /* aarch64 jumps back with B only (BTI, GCS): nothing near, no patch. */
  assert_int_equal(rc, HOTPATCH_ENONEAR);
  assert_int_equal(hp_near_mapped(), mapped);
#endif
  assert_memory_equal((const void *)t.addr, before, t.size < 64 ? t.size : 64);
  assert_int_equal(hp_test_count_rwx(), 0);
  (void)mapped;
}

static void full_window_refuses_a_short_function_cleanly(void **state) {
  (void)state;
  const struct fx_case *c = fixture(SHORT);
  struct hp_target t;
  resolve(c->name, &t);
  uint8_t before[64];
  memcpy(before, (const void *)t.addr, t.size < 64 ? t.size : 64);
  size_t mapped = hp_near_mapped();
  struct hp_site_rt rt;
  int rc = hp_site_prepare(&rt, &t, (uintptr_t)pass_through);
  fprintf(stderr, "%s: %s\n", hotpatch_err_name(rc), hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_ENONEAR);
  assert_non_null(strstr(hotpatch_last_error(), "far entry jump"));
  assert_int_equal(hp_near_mapped(), mapped);
  assert_memory_equal((const void *)t.addr, before, t.size < 64 ? t.size : 64);
  assert_int_equal(hp_test_count_rwx(), 0);
}

#if defined(__x86_64__)
/* Code at a low address whose first instruction computes an address
 * beyond user space (lea rax, [rip + d] = 0xfffffffffffff000; add rax,
 * rdi; sub rax, rsi; ret): no trampoline can have it in disp32 reach, so
 * the near plan is refused (HP_SITE_NO_WINDOW), and the pipeline takes the
 * far entry jump with the lea's absolute form instead. */
static void an_unreachable_reference_takes_the_far_entry(void **state) {
  (void)state;
  void *page = NULL;
  for (uintptr_t a = 0x10000; a < 0x40000000 && !page; a += 0x10000) {
    void *p = mmap((void *)a, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (p == (void *)a)
      page = p;
    else if (p != MAP_FAILED)
      munmap(p, 4096);
  }
  if (!page)
    fail_msg("no free page below 1 GiB for code that references past the "
             "end of user space");
  uintptr_t at = (uintptr_t)page;
  uint32_t d = (uint32_t)(-(int64_t)(at + 7 + 0x1000));
  const uint8_t code[] = {0x48,
                          0x8d,
                          0x05,
                          (uint8_t)d,
                          (uint8_t)(d >> 8),
                          (uint8_t)(d >> 16),
                          (uint8_t)(d >> 24),
                          0x48,
                          0x01,
                          0xf8,
                          0x48,
                          0x29,
                          0xf0,
                          0xc3};
  memset(page, 0xcc, 4096);
  memcpy(page, code, sizeof code);
  assert_int_equal(mprotect(page, 4096, PROT_READ | PROT_EXEC), 0);
  struct fx_case c = {.name = "low page",
                      .fn = (long (*)(long, long))page,
                      .args = {{0, 0}, {1, 2}, {-7, 3}, {100, 1}}};
  for (int i = 0; i < FX_NARGS; i++)
    assert_int_equal(c.fn(c.args[i][0], c.args[i][1]),
                     -0x1000 + c.args[i][0] - c.args[i][1]);
  struct hp_target t = {.addr = at, .size = sizeof code, .code_end = at + 4096};
  snprintf(t.object, sizeof t.object, "a test page");
  struct hp_site_rt rt;
  int rc = hp_site_prepare(&rt, &t, (uintptr_t)pass_through);
  if (rc)
    fprintf(stderr, "%s\n", hotpatch_last_error());
  assert_int_equal(rc, 0);
  assert_true(rt.s.flags & HP_SITE_FAR);
  assert_int_equal(rt.s.len, sizeof code);
  patch_and_call(&rt, &c, &t);
  hp_site_release(&rt);
  assert_memory_equal(page, code, sizeof code);
  munmap(page, 4096);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_teardown(far_replacement_is_reached_through_a_stub,
                              hp_test_no_rwx_left),
#if defined(__x86_64__)
    cmocka_unit_test_teardown(an_unreachable_reference_takes_the_far_entry,
                              hp_test_no_rwx_left),
#endif
    cmocka_unit_test_setup_teardown(
        full_window_uses_the_far_entry_or_fails_cleanly, fill_window,
        empty_window),
    cmocka_unit_test_setup_teardown(
        full_window_refuses_a_short_function_cleanly, fill_window,
        empty_window),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
