/* SPDX-License-Identifier: MIT */
/*
 * The check's rules on hand-made slots and stacks: range boundaries for
 * PC, LR and stack words, the entry rule, which mappings above SP count
 * as stack, unmapped and unreadable stacks, slots not parked, maps that
 * outgrow the prepared buffer, and no descriptor left.
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

#include "hotpatch.h"
#include "safepoint.h"

/* Pretend code: the check compares numbers, it never reads the code. */
#define LO ((uintptr_t)0x10000000)
#define HI ((uintptr_t)0x10000100)

static struct hp_slot slot;
static struct hp_park park = {.slot = &slot, .n = 1, .cap = 1, .task_fd = -1};

/*
 * A stack: [guard][stack][guard] — one read-write page between two
 * PROT_NONE ones, so nothing above it is scanned; the parked SP is its
 * bottom.
 */
static long page;
static char *region;

static int setup(void **st) {
  page = sysconf(_SC_PAGESIZE);
  region = mmap(NULL, 3 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(region != MAP_FAILED);
  assert_int_equal(mprotect(region + page, page, PROT_READ | PROT_WRITE), 0);
  return 0;
}

static int teardown(void **st) {
  munmap(region, 3 * page);
  return 0;
}

static uintptr_t *stack_words(void) { return (uintptr_t *)(region + page); }

static void park_at(uintptr_t pc, uintptr_t sp, uintptr_t lr) {
  memset(stack_words(), 0, page);
  slot = (struct hp_slot){
      .tid = 1, .state = HP_SLOT_PARKED, .pc = pc, .sp = sp, .lr = lr};
}

static int check(const struct hp_hot *hot, size_t n, const char **reason,
                 const struct hp_hot **why) {
  struct hp_safepoint sp;
  const struct hp_slot *who;
  const char *r;
  const struct hp_hot *w;
  assert_int_equal(hp_safepoint_prepare(&sp, hot, n), 0);
  int rc = hp_safepoint_check(&sp, &park, &who, why ? why : &w, &r);
  hp_safepoint_finish(&sp);
  assert_ptr_equal(who, rc ? &slot : NULL);
  if (reason)
    *reason = rc ? r : "safe";
  return rc;
}

static const char *verdict(const struct hp_hot *hot) {
  const char *r;
  check(hot, 1, &r, NULL);
  return r;
}

static const struct hp_hot whole = {LO, HI, LO, 0, "whole"};
static const struct hp_hot inner = {LO, LO + 5, 0, 1, "entry bytes"};

static void pc_counts_from_the_entry_and_inner_ranges_exclude_it(void **st) {
  uintptr_t sp = (uintptr_t)stack_words();
  struct {
    uintptr_t pc;
    const char *whole, *inner;
  } c[] = {
      {LO - 1, "safe", "safe"},     {LO, HP_SP_PC, "safe"},
      {LO + 1, HP_SP_PC, HP_SP_PC}, {LO + 4, HP_SP_PC, HP_SP_PC},
      {LO + 5, HP_SP_PC, "safe"},   {HI - 1, HP_SP_PC, "safe"},
      {HI, "safe", "safe"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    park_at(c[i].pc, sp, 0);
    assert_string_equal(verdict(&whole), c[i].whole);
    assert_string_equal(verdict(&inner), c[i].inner);
  }
}

static void stack_words_equal_to_the_entry_are_function_pointers(void **st) {
  uintptr_t *w = stack_words();
  struct {
    uintptr_t word;
    const char *whole, *inner;
  } c[] = {
      {LO - 1, "safe", "safe"},           {LO, "safe", "safe"},
      {LO + 1, HP_SP_STACK, HP_SP_STACK}, {LO + 5, HP_SP_STACK, "safe"},
      {HI - 1, HP_SP_STACK, "safe"},      {HI, "safe", "safe"},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    park_at(0, (uintptr_t)w, 0);
    w[page / 8 - 1] = c[i].word; /* the last word below the guard */
    assert_string_equal(verdict(&whole), c[i].whole);
    assert_string_equal(verdict(&inner), c[i].inner);
  }
  /* Below SP is dead: not read. */
  park_at(0, (uintptr_t)&w[8], 0);
  w[7] = LO + 1;
  assert_string_equal(verdict(&whole), "safe");
  /* An unaligned SP starts at the word that holds it. */
  park_at(0, (uintptr_t)&w[8] + 3, 0);
  w[8] = LO + 1;
  assert_string_equal(verdict(&whole), HP_SP_STACK);
  /* Several ranges: the one that holds the word is named. */
  struct hp_hot two[2] = {{0x20000000, 0x20000100, 0x20000000, 0, "a"},
                          {LO, HI, LO, 0, "b"}};
  const struct hp_hot *why;
  park_at(0, (uintptr_t)w, 0);
  w[3] = LO + 9;
  assert_int_equal(check(two, 2, NULL, &why), HOTPATCH_EBUSY);
  assert_ptr_equal(why, &two[1]);
}

static void lr_is_a_return_address_on_aarch64_only(void **st) {
  uintptr_t sp = (uintptr_t)stack_words();
#if defined(__aarch64__)
  park_at(0, sp, LO + 8);
  assert_string_equal(verdict(&whole), HP_SP_LR);
  park_at(0, sp, LO); /* a function pointer left in x30 */
  assert_string_equal(verdict(&whole), "safe");
  park_at(0, sp, LO + 2);
  assert_string_equal(verdict(&inner), HP_SP_LR);
  if (getauxval(AT_HWCAP) & HWCAP_PACA) {
    /* An authentication code in the top bits is cleared before the
     * comparison, for LR and for stack words alike (bit 55, which says
     * which half of the address space, stays clear). */
    uintptr_t signed_ra = (LO + 8) | ((uintptr_t)0x2a << 48);
    assert_true(hp_strip_pac(signed_ra) == LO + 8);
    park_at(0, sp, signed_ra);
    assert_string_equal(verdict(&whole), HP_SP_LR);
    park_at(0, sp, 0);
    stack_words()[5] = signed_ra;
    assert_string_equal(verdict(&whole), HP_SP_STACK);
  } else {
    fprintf(stderr, "NOTE: no pointer authentication on this CPU: the "
                    "stripping of PAC bits is not exercised here\n");
  }
#else
  park_at(0, sp, LO + 8); /* x86_64 has no LR: the field is ignored */
  assert_string_equal(verdict(&whole), "safe");
#endif
}

static void stack_not_in_a_readable_mapping_is_unsafe(void **st) {
  park_at(0, 0x1000, 0); /* below mmap_min_addr: never mapped */
  assert_string_equal(verdict(&whole), HP_SP_UNMAPPED);
  park_at(0, (uintptr_t)region + 8, 0); /* the guard page */
  assert_string_equal(verdict(&whole), HP_SP_UNMAPPED);
  park_at(0, 0, 0);
  assert_string_equal(verdict(&whole), HP_SP_UNMAPPED);
}

/*
 * Above SP's mapping, the scan goes on over adjacent private read-write
 * mappings only. Five pages: [none][anon rw: SP][p2][none][anon rw], with
 * p2 a private writable file mapping (a separate mapping the kernel does
 * not merge with the anonymous one), then the same shared, then read-only.
 */
static void scan_extends_over_adjacent_private_writable_mappings(void **st) {
  char *r = mmap(NULL, 5 * page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(r != MAP_FAILED);
  FILE *f = tmpfile();
  assert_non_null(f);
  int fd = fileno(f);
  assert_int_equal(ftruncate(fd, page), 0);
  assert_true(mmap(r + page, page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                   0) != MAP_FAILED);
  assert_true(mmap(r + 4 * page, page, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
                   0) != MAP_FAILED);
  struct {
    int prot, flags;
    const char *verdict;
  } c[] = {
      {PROT_READ | PROT_WRITE, MAP_PRIVATE, HP_SP_STACK},
      {PROT_READ | PROT_WRITE, MAP_SHARED, "safe"},
      {PROT_READ, MAP_PRIVATE, "safe"},
  };
  uintptr_t *top = (uintptr_t *)(r + 4 * page); /* above the gap */
  top[0] = LO + 1;
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    uintptr_t *p2 = mmap(r + 2 * page, page, PROT_READ | PROT_WRITE,
                         c[i].flags | MAP_FIXED, fd, 0);
    assert_true(p2 != MAP_FAILED);
    p2[page / 8 - 1] = LO + 1;
    if (c[i].prot != (PROT_READ | PROT_WRITE))
      assert_int_equal(mprotect(p2, page, c[i].prot), 0);
    slot = (struct hp_slot){
        .tid = 1, .state = HP_SLOT_PARKED, .sp = (uintptr_t)(r + page)};
    memset(r + page, 0, page);
    fprintf(stderr, "  p2 %s %s: %s\n",
            c[i].flags == MAP_SHARED ? "shared" : "private",
            c[i].prot & PROT_WRITE ? "rw" : "r-", verdict(&whole));
    assert_string_equal(verdict(&whole), c[i].verdict);
    if (c[i].flags == MAP_SHARED)
      p2[page / 8 - 1] = 0; /* the file: read again by the next case */
  }
  /* SP in the file mapping itself: any readable mapping holds a stack. */
  slot.sp = (uintptr_t)(r + 2 * page);
  assert_string_equal(verdict(&whole), HP_SP_STACK);
  fclose(f);
  munmap(r, 5 * page);
}

static void slots_not_parked_are_unsafe_and_empty_ones_skipped(void **st) {
  park_at(LO + 1, (uintptr_t)stack_words(), 0);
  slot.state = HP_SLOT_SIGNALLED;
  assert_string_equal(verdict(&whole), HP_SP_NOT_PARKED);
  slot.state = HP_SLOT_FREE;
  assert_string_equal(verdict(&whole), "safe");
  slot.state = HP_SLOT_GONE;
  assert_string_equal(verdict(&whole), "safe");
  slot.state = HP_SLOT_PARKED;
  slot.on_altstack = 1;
  const struct hp_hot *why;
  const char *r;
  assert_int_equal(check(&whole, 1, &r, &why), HOTPATCH_EBUSY);
  assert_string_equal(r, HP_SP_ALTSTACK);
  assert_null(why);
  /* No slot at all: nothing to check. */
  struct hp_park none = {.slot = &slot, .n = 0};
  struct hp_safepoint sp;
  const struct hp_slot *who;
  assert_int_equal(hp_safepoint_prepare(&sp, &whole, 1), 0);
  assert_int_equal(hp_safepoint_check(&sp, &none, &who, &why, &r), 0);
  hp_safepoint_finish(&sp);
}

static void maps_larger_than_prepared_are_unsafe(void **st) {
  struct hp_safepoint sp;
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *r;
  park_at(0, (uintptr_t)stack_words(), 0);
  assert_int_equal(hp_safepoint_prepare(&sp, &whole, 1), 0);
  fprintf(stderr, "  prepared: %zu bytes of text, %zu lines\n", sp.maps_cap,
          sp.maps_max);
  size_t cap = sp.maps_cap, max = sp.maps_max;
  sp.maps_cap = 256; /* the text does not fit */
  assert_int_equal(hp_safepoint_check(&sp, &park, &who, &why, &r),
                   HOTPATCH_EBUSY);
  assert_string_equal(r, HP_SP_MAPS_BIG);
  assert_ptr_equal(who, &slot);
  assert_null(why);
  sp.maps_cap = cap;
  sp.maps_max = 3; /* the lines do not */
  assert_int_equal(hp_safepoint_check(&sp, &park, &who, &why, &r),
                   HOTPATCH_EBUSY);
  assert_string_equal(r, HP_SP_MAPS_BIG);
  sp.maps_max = max;
  assert_int_equal(hp_safepoint_check(&sp, &park, &who, &why, &r), 0);
  assert_true(sp.nmaps > 3);
  hp_safepoint_finish(&sp);
}

/* With every descriptor taken, the check reads the one prepare opened. */
static void without_a_free_descriptor_the_prepared_one_is_read(void **st) {
  struct hp_safepoint sp;
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *r;
  struct rlimit old, low;
  uintptr_t *w = stack_words();
  park_at(0, (uintptr_t)w, 0);
  assert_int_equal(hp_safepoint_prepare(&sp, &whole, 1), 0);
  int lowest = dup(0);
  assert_true(lowest >= 0);
  close(lowest);
  assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
  low = old;
  low.rlim_cur = (rlim_t)lowest;
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
  int probe = dup(0);
  int rc_safe = hp_safepoint_check(&sp, &park, &who, &why, &r);
  w[9] = LO + 3;
  int rc_unsafe = hp_safepoint_check(&sp, &park, &who, &why, &r);
  assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
  hp_safepoint_finish(&sp);
  if (probe >= 0) {
    close(probe);
    fprintf(stderr, "SKIPPED: RLIMIT_NOFILE did not take descriptors away "
                    "here (qemu?): the fallback was not exercised\n");
    skip();
  }
  assert_int_equal(rc_safe, 0);
  assert_int_equal(rc_unsafe, HOTPATCH_EBUSY);
  assert_string_equal(r, HP_SP_STACK);
}

static void prepare_refuses_null_and_finish_is_idempotent(void **st) {
  struct hp_safepoint sp;
  assert_int_equal(hp_safepoint_prepare(NULL, &whole, 1), HOTPATCH_EINVAL);
  assert_int_equal(hp_safepoint_prepare(&sp, NULL, 1), HOTPATCH_EINVAL);
  assert_int_equal(hp_safepoint_prepare(&sp, NULL, 0), 0);
  assert_int_equal(sp.nhot, 0);
  assert_true(sp.maps_fd >= 0);
  hp_safepoint_finish(&sp);
  assert_int_equal(sp.maps_fd, -1);
  hp_safepoint_finish(&sp);
  hp_safepoint_finish(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(pc_counts_from_the_entry_and_inner_ranges_exclude_it),
      cmocka_unit_test(stack_words_equal_to_the_entry_are_function_pointers),
      cmocka_unit_test(lr_is_a_return_address_on_aarch64_only),
      cmocka_unit_test(stack_not_in_a_readable_mapping_is_unsafe),
      cmocka_unit_test(scan_extends_over_adjacent_private_writable_mappings),
      cmocka_unit_test(slots_not_parked_are_unsafe_and_empty_ones_skipped),
      cmocka_unit_test(maps_larger_than_prepared_are_unsafe),
      cmocka_unit_test(without_a_free_descriptor_the_prepared_one_is_read),
      cmocka_unit_test(prepare_refuses_null_and_finish_is_idempotent),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
