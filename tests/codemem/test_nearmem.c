/* SPDX-License-Identifier: MIT */
/*
 * Near memory: blocks inside their window, aligned, reused, pools unmapped
 * when empty, written while staying r-x, ENONEAR when the window is full,
 * a free gap at a window's edge found, and allocation in a forked child.
 */
#include "hp_maps.h"
#include "hp_test.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cm_util.h"
#include "hotpatch.h"
#include "maps.h"
#include "nearmem.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

typedef int ret_fn(void);

static int data_word = 1;

static void check_empty(void) {
  if (hp_near_mapped() != 0)
    fail_msg("%zu bytes of pools still mapped after every block was freed",
             hp_near_mapped());
}

static struct hp_near alloc_in(uint64_t lo, uint64_t hi, size_t size,
                               size_t align) {
  struct hp_near b;
  int rc = hp_near_alloc(lo, hi, size, align, &b);
  if (rc)
    fail_msg("alloc %zu in [0x%llx, 0x%llx]: %s: %s", size,
             (unsigned long long)lo, (unsigned long long)hi,
             hotpatch_err_name(rc), hotpatch_last_error());
  assert_true(b.addr >= lo && b.addr + b.size - 1 <= hi);
  assert_true(b.size >= size);
  assert_int_equal(b.addr % align, 0);
  return b;
}

static void write_and_call(const struct hp_near *b, int n) {
  uint8_t code[8];
  size_t len = cm_ret_code(code, n);
  int rc = hp_near_write(b, code, len);
  if (rc)
    fail_msg("write: %s", hotpatch_last_error());
  assert_memory_equal((void *)b->addr, code, len);
  assert_int_equal(((ret_fn *)b->addr)(), n);
  char perms[5];
  assert_int_equal(cm_perms(b->addr, perms), 0);
  assert_string_equal(perms, "r-xp");
}

/* ------------------------------------------------------------------------ */

static void check_window(uintptr_t center, uint64_t radius, int n) {
  uint64_t lo = center - radius, hi = center + radius - 1;
  struct hp_near b = alloc_in(lo, hi, 40, 8);
  assert_true(hp_near_contains(b.addr));
  write_and_call(&b, n);
  hp_near_free(&b);
  assert_int_equal(b.addr, 0);
}

static void blocks_lie_in_windows_around_code_data_and_far(void **state) {
  (void)state;
  /* The brk heap, not malloc: under ASan malloc's memory sits in the
   * allocator's reserved region, where nothing else can be mapped. */
  uintptr_t brk_end = (uintptr_t)sbrk(0);
  void *page = mmap(NULL, CM_PAGE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(page != MAP_FAILED);
  uintptr_t far = (uintptr_t)0x200000000000ull; /* 32 TiB, nothing there */
  const uintptr_t centers[] = {(uintptr_t)fx_ret42, (uintptr_t)&data_word,
                               brk_end, (uintptr_t)page, far};
  for (size_t i = 0; i < sizeof centers / sizeof *centers; i++) {
    check_window(centers[i], 128 * MIB, (int)i + 1);
    check_window(centers[i], 2 * GIB, (int)i + 11);
    check_window(centers[i], 1 * MIB, (int)i + 21);
  }
  munmap(page, CM_PAGE);
  check_empty();
}

static void blocks_are_aligned_exactly_and_do_not_overlap(void **state) {
  (void)state;
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  static const size_t sizes[] = {1, 17, 33, 48};
  struct hp_near b[1 + 7 * 4];
  int n = 0;
  b[n++] = alloc_in(lo, hi, 16, 16); /* the next granule is now odd */
  for (size_t align = 1; align <= 64; align *= 2)
    for (size_t s = 0; s < 4; s++) {
      b[n] = alloc_in(lo, hi, sizes[s], align);
      assert_int_equal(b[n].size % 16, 0);
      n++;
    }
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      assert_true(b[i].addr + b[i].size <= b[j].addr ||
                  b[j].addr + b[j].size <= b[i].addr);
  for (int i = 0; i < n; i++)
    hp_near_free(&b[i]);
  check_empty();
}

static volatile sig_atomic_t in_handler = -1;
static uintptr_t handler_pc;

static void on_usr1(int sig) {
  (void)sig;
  in_handler = hp_near_contains(handler_pc);
}

static void contains_is_true_in_live_blocks_only(void **state) {
  (void)state;
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  struct hp_near a = alloc_in(lo, hi, 32, 16);
  uintptr_t at = a.addr, end = a.addr + a.size;
  assert_true(hp_near_contains(at));
  assert_true(hp_near_contains(end - 1));
  assert_false(hp_near_contains(end)); /* the pool's next granule is free */
  assert_false(hp_near_contains(at - 1));
  assert_false(hp_near_contains((uintptr_t)fx_ret42));
  assert_false(hp_near_contains((uintptr_t)&data_word));

  /* From a signal handler, as the parking engine calls it. */
  struct sigaction sa = {.sa_handler = on_usr1}, old;
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
  handler_pc = at + 3;
  raise(SIGUSR1);
  assert_int_equal(in_handler, 1);

  hp_near_free(&a);
  assert_false(hp_near_contains(at));
  assert_false(hp_near_contains(end - 1));
  raise(SIGUSR1);
  assert_int_equal(in_handler, 0);
  sigaction(SIGUSR1, &old, NULL);
  check_empty();
}

struct churn {
  uint64_t lo, hi;
  int rc;
};

static void *churn_main(void *arg) {
  struct churn *c = arg;
  for (int i = 0; i < 2000 && !c->rc; i++) {
    struct hp_near b;
    c->rc = hp_near_alloc(c->lo, c->hi, 16 + (size_t)(i % 5) * 16, 16, &b);
    hp_near_free(&b);
  }
  return NULL;
}

static void contains_stays_true_while_other_threads_allocate(void **state) {
  (void)state;
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  struct hp_near live = alloc_in(lo, hi, 64, 16);
  struct churn c = {lo, hi, 0};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, churn_main, &c), 0);
  int bad = 0;
  for (int i = 0; i < 200000; i++)
    bad += !hp_near_contains(live.addr + (uintptr_t)(i % 64));
  pthread_join(t, NULL);
  assert_int_equal(c.rc, 0);
  assert_int_equal(bad, 0);
  hp_near_free(&live);
  check_empty();
}

static void freed_space_is_reused_in_the_same_pool(void **state) {
  (void)state;
  uint64_t lo = (uintptr_t)&data_word - 2 * GIB;
  uint64_t hi = (uintptr_t)&data_word + 2 * GIB;
  struct hp_near a = alloc_in(lo, hi, 100, 16);
  size_t mapped = hp_near_mapped();
  assert_true(mapped > 0);
  struct hp_near b = alloc_in(lo, hi, 100, 16);
  assert_int_equal(b.pool, a.pool);
  uintptr_t first = a.addr;
  hp_near_free(&a);
  struct hp_near c = alloc_in(lo, hi, 100, 16);
  assert_int_equal(c.addr, first);
  assert_int_equal(hp_near_mapped(), mapped);
  hp_near_free(&b);
  hp_near_free(&c);
  check_empty();
}

static void an_empty_pool_is_unmapped(void **state) {
  (void)state;
  size_t before = hp_near_mapped();
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  struct hp_near a = alloc_in(lo, hi, 48, 16);
  uintptr_t at = a.addr;
  char perms[5];
  assert_true(hp_near_mapped() > before);
  assert_int_equal(cm_perms(at, perms), 0);
  assert_string_equal(perms, "r-xp");
  hp_near_free(&a);
  assert_int_equal(hp_near_mapped(), before);
  if (cm_perms(at, perms) == 0)
    fail_msg("0x%lx is still mapped (%s) after its pool emptied",
             (unsigned long)at, perms);
  hp_near_free(&a); /* freeing an empty handle again is harmless */
  hp_near_free(NULL);
}

static void writes_are_visible_and_the_page_stays_rx(void **state) {
  (void)state;
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  struct hp_near a = alloc_in(lo, hi, 16, 16);
  struct hp_near b = alloc_in(lo, hi, 16, 16);
  write_and_call(&a, 31);
  write_and_call(&b, 32);
  assert_int_equal(((ret_fn *)a.addr)(), 31); /* b's write kept a */
  char first[128];
  int rwx = cm_rwx_lines(first, sizeof first);
  if (rwx)
    fail_msg("%d rwx mapping(s): %s", rwx, first);
  uint8_t big[64] = {0};
  assert_int_equal(hp_near_write(&a, big, sizeof big), HOTPATCH_EINVAL);
  hp_near_free(&a);
  hp_near_free(&b);
  check_empty();
}

static void a_full_window_gives_enonear_and_maps_nothing(void **state) {
  (void)state;
  const uint64_t radius = 2 * GIB;
  uintptr_t area = cm_free_area(2 * radius);
  if (!area)
    fail_msg("no free area of 12 GiB below 128 TiB to build a full window");
  uintptr_t center = area + radius;
  /* A fresh mapping placed high, and the window around it filled. */
  hp_test_reserve_at(center, CM_PAGE);
  assert_int_equal(mprotect((void *)center, CM_PAGE, PROT_READ), 0);
  uintptr_t lo = center - radius, hi = center + radius;
  hp_test_reserve_window(lo, hi);

  int lines = cm_maps_lines();
  size_t mapped = hp_near_mapped();
  struct hp_near b;
  int rc = hp_near_alloc(lo, hi - 1, 64, 16, &b);
  int lines_after = cm_maps_lines();
  hp_test_unreserve_window(lo, hi);
  munmap((void *)center, CM_PAGE);

  assert_int_equal(rc, HOTPATCH_ENONEAR);
  assert_int_equal(b.addr, 0);
  char want[40];
  snprintf(want, sizeof want, "[0x%lx, 0x%lx]", (unsigned long)lo,
           (unsigned long)(hi - 1));
  if (!strstr(hotpatch_last_error(), want))
    fail_msg("detail '%s' does not name the window %s", hotpatch_last_error(),
             want);
  assert_int_equal(lines_after, lines);
  assert_int_equal(hp_near_mapped(), mapped);
}

/* A 1 MiB window reserved but for two pages at one edge. */
static void edge_gap(int high) {
  const size_t span = 1 * MIB, hole = 2 * CM_PAGE;
  uintptr_t lo = cm_free_area(span);
  assert_true(lo != 0);
  uintptr_t hi = lo + span;
  hp_test_reserve_at(lo, span);
  uintptr_t h = high ? hi - hole : lo;
  munmap((void *)h, hole);
  size_t before = hp_near_mapped();
  struct hp_near b;
  int rc = hp_near_alloc(lo, hi - 1, 64, 16, &b);
  if (rc)
    fail_msg("%s edge gap 0x%lx not found: %s", high ? "high" : "low",
             (unsigned long)h, hotpatch_last_error());
  assert_true(b.addr >= h && b.addr + b.size <= h + hole);
  assert_int_equal(hp_near_mapped() - before, hole);
  write_and_call(&b, 77);
  hp_near_free(&b);
  assert_int_equal(hp_near_mapped(), before);
  munmap((void *)lo, span);
}

static void a_free_gap_at_the_window_edge_is_found(void **state) {
  (void)state;
  edge_gap(1);
  edge_gap(0);
  check_empty();
}

/* The test helper that fills a window must undo only what it did: a
 * PROT_NONE mapping of someone else in the window (a loader's guard
 * region) stays, and a window cut into many gaps is emptied entirely. */
static void
unreserving_a_window_undoes_only_its_own_reservations(void **state) {
  (void)state;
  const size_t n = 80, span = 2 * n * CM_PAGE;
  uintptr_t lo = cm_free_area(span);
  assert_true(lo != 0);
  /* Someone's readable pages at every other page, and one PROT_NONE page
   * of theirs: 79 gaps, more than a fixed table of 64 would hold. */
  uintptr_t guard = lo + CM_PAGE;
  for (size_t i = 0; i < n; i++)
    hp_test_reserve_at(lo + 2 * i * CM_PAGE, CM_PAGE);
  for (size_t i = 1; i < n; i++)
    assert_int_equal(
        mprotect((void *)(lo + 2 * i * CM_PAGE), CM_PAGE, PROT_READ), 0);
  hp_test_reserve_at(guard, CM_PAGE);
  /* lo itself stays PROT_NONE next to the guard: the kernel may show them
   * as one ---p line. */
  hp_test_reserve_window(lo, lo + span);
  char perms[5];
  for (size_t i = 0; i < 2 * n; i++) {
    hp_test_perms(lo + i * CM_PAGE, perms);
    assert_true(perms[0] != '\0');
  }
  hp_test_unreserve_window(lo, lo + span);
  hp_test_perms(lo, perms);
  assert_string_equal(perms, "---p");
  hp_test_perms(guard, perms);
  assert_string_equal(perms, "---p");
  for (size_t i = 1; i < n; i++) {
    hp_test_perms(lo + 2 * i * CM_PAGE, perms);
    assert_string_equal(perms, "r--p");
    hp_test_perms(lo + (2 * i + 1) * CM_PAGE, perms);
    if (perms[0])
      fail_msg("gap page 0x%lx still mapped %s after unreserving",
               (unsigned long)(lo + (2 * i + 1) * CM_PAGE), perms);
  }
  munmap((void *)lo, span);
}

/* Where pools may go, from a synthetic snapshot of the maps. */
static size_t candidates(const char *text, uint64_t lo, uint64_t hi,
                         size_t stack_room, struct hp_near_cand *c,
                         size_t cap) {
  struct hp_maps m;
  assert_int_equal(hp_maps_parse(text, &m), 0);
  assert_true(2 * (m.n + 1) <= cap);
  size_t n = hp_near_candidates(&m, lo, hi, 64, 16, stack_room, c);
  hp_maps_free(&m);
  return n;
}

/* The main stack grows down into the gap below [stack] up to its limit:
 * no pool goes there, however near the window's middle it is. */
static void pools_leave_the_main_stack_room_to_grow(void **state) {
  (void)state;
  const uint64_t stack = 0x7f0100000000ull, room = 9 * MIB;
  char text[512];
  snprintf(text, sizeof text,
           "555555554000-555555558000 r-xp 00000000 08:01 12 /usr/bin/x\n"
           "555555560000-555555581000 rw-p 00000000 00:00 0          "
           "[heap]\n"
           "7f0000000000-7f0000200000 r-xp 00000000 08:01 13 /l/libc.so.6\n"
           "%llx-%llx rw-p 00000000 00:00 0                          "
           "[stack]\n",
           (unsigned long long)stack, (unsigned long long)(stack + 0x21000));
  struct hp_maps m;
  assert_int_equal(hp_maps_parse(text, &m), 0);
  assert_int_equal(m.n, 4);
  assert_true(m.v[1].heap && !m.v[1].stack);
  assert_true(m.v[3].stack && !m.v[3].heap);
  assert_true(!m.v[0].stack && !m.v[2].stack);
  hp_maps_free(&m);

  /* A window from libc to past the stack, its middle just below it. */
  const uint64_t lo = 0x7f0000200000ull, hi = stack + 2 * GIB;
  struct hp_near_cand c[16];
  size_t n = candidates(text, lo, hi, room, c, 16);
  int at_edge = 0;
  assert_true(n > 0);
  for (size_t i = 0; i < n; i++) {
    uint64_t a = c[i].addr, e = c[i].addr + c[i].size;
    if (e > stack - room && a < stack)
      fail_msg("pool 0x%llx-0x%llx inside the stack's room 0x%llx-0x%llx",
               (unsigned long long)a, (unsigned long long)e,
               (unsigned long long)(stack - room), (unsigned long long)stack);
    at_edge |= e == stack - room;
  }
  assert_true(at_edge); /* the gap's high end moved down by the room */
  /* Without a room the same gap ends at the stack: the check above is
   * what keeps it free. */
  n = candidates(text, lo, hi, 0, c, 16);
  at_edge = 0;
  for (size_t i = 0; i < n; i++)
    at_edge |= c[i].addr + c[i].size == stack;
  assert_true(at_edge);

  /* A gap below the stack smaller than its room gets no pool at all. */
  snprintf(text, sizeof text,
           "7f0000000000-%llx r-xp 00000000 08:01 13 /l/libc.so.6\n"
           "%llx-%llx rw-p 00000000 00:00 0 [stack]\n",
           (unsigned long long)(stack - 4 * MIB), (unsigned long long)stack,
           (unsigned long long)(stack + 0x21000));
  n = candidates(text, lo, stack - 1, room, c, 16);
  for (size_t i = 0; i < n; i++)
    fail_msg("pool 0x%llx+0x%zx in a gap smaller than the stack's room",
             (unsigned long long)c[i].addr, c[i].size);
  n = candidates(text, lo, stack - 1, 0, c, 16);
  assert_true(n > 0);
}

static void invalid_requests_are_refused(void **state) {
  (void)state;
  struct hp_near b;
  assert_int_equal(hp_near_alloc(0, 0, 0, 16, &b), HOTPATCH_EINVAL);
  assert_int_equal(hp_near_alloc(0, 0, 16, 3, &b), HOTPATCH_EINVAL);
  assert_int_equal(hp_near_alloc(0, 0, 16, 128, &b), HOTPATCH_EINVAL);
  assert_int_equal(hp_near_alloc(0, 0, 16, 0, &b), HOTPATCH_EINVAL);
  assert_int_equal(hp_near_alloc(0, 0, 64 * 1024 + 1, 16, &b), HOTPATCH_EINVAL);
  assert_int_equal(hp_near_alloc(0x2000, 0x1000, 16, 16, &b), HOTPATCH_EINVAL);
  /* Anywhere. */
  b = alloc_in(0, UINT64_MAX, 16, 16);
  hp_near_free(&b);
  assert_int_equal(hp_near_alloc(0, 0, 16, 16, &b), 0);
  hp_near_free(&b);
  check_empty();
}

static struct hp_near parent_block;

static void child_allocates_and_writes(void) {
  CM_CHECK(hp_near_contains(parent_block.addr), "parent block lost");
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  struct hp_near b;
  int rc = hp_near_alloc(lo, hi, 32, 16, &b);
  CM_CHECK(rc == 0, "alloc in child: %s", hotpatch_last_error());
  CM_CHECK(b.addr != parent_block.addr, "child got the parent's live block");
  uint8_t code[8];
  size_t len = cm_ret_code(code, 99);
  rc = hp_near_write(&b, code, len);
  CM_CHECK(rc == 0, "write in child: %s", hotpatch_last_error());
  CM_CHECK(((ret_fn *)b.addr)() == 99, "child code");
  hp_near_free(&b);
  hp_near_free(&parent_block);
  CM_CHECK(hp_near_mapped() == 0, "child: %zu bytes left", hp_near_mapped());
}

static void a_forked_child_allocates_and_writes(void **state) {
  (void)state;
  uint64_t lo = (uintptr_t)fx_ret42 - 128 * MIB;
  uint64_t hi = (uintptr_t)fx_ret42 + 128 * MIB;
  parent_block = alloc_in(lo, hi, 32, 16);
  write_and_call(&parent_block, 12);
  assert_int_equal(cm_run_child(child_allocates_and_writes), 0);
  /* The child's frees were its own. */
  assert_true(hp_near_contains(parent_block.addr));
  assert_int_equal(((ret_fn *)parent_block.addr)(), 12);
  hp_near_free(&parent_block);
  check_empty();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(blocks_lie_in_windows_around_code_data_and_far),
      cmocka_unit_test(blocks_are_aligned_exactly_and_do_not_overlap),
      cmocka_unit_test(contains_is_true_in_live_blocks_only),
      cmocka_unit_test(contains_stays_true_while_other_threads_allocate),
      cmocka_unit_test(freed_space_is_reused_in_the_same_pool),
      cmocka_unit_test(an_empty_pool_is_unmapped),
      cmocka_unit_test(writes_are_visible_and_the_page_stays_rx),
      cmocka_unit_test(a_full_window_gives_enonear_and_maps_nothing),
      cmocka_unit_test(a_free_gap_at_the_window_edge_is_found),
      cmocka_unit_test(unreserving_a_window_undoes_only_its_own_reservations),
      cmocka_unit_test(pools_leave_the_main_stack_room_to_grow),
      cmocka_unit_test(invalid_requests_are_refused),
      cmocka_unit_test(a_forked_child_allocates_and_writes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
