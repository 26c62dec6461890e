/* SPDX-License-Identifier: MIT */
/*
 * A switch that fails half-way, through hotpatch_apply/hotpatch_revert:
 * the code of the second function changes under the engine
 * (HOTPATCH_ECHANGED), its page cannot be made writable and
 * /proc/self/mem cannot be written either (HOTPATCH_ECODEWRITE), or its
 * protection cannot be put back (HOTPATCH_EIO); and the undo of the first
 * function fails too. The detail must say which it was and what every function
 * runs now; a failed undo is logged at error level and keeps the patch APPLIED,
 * so that what the switched code reaches (trampolines, replacements) stays
 * alive; a replace that fails so keeps the applied stack and pins the new
 * patch.
 *
 * The changes are made by hp_park_test_parked_hook, called while every
 * other thread is parked right before each site is written; the refused
 * system calls by a seccomp filter on the patcher thread (natively only:
 * qemu-user refuses seccomp). Each case runs in a child process.
 */
#include "hp_test.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ap_util.h"
#include "codewrite.h"
#include "hotpatch.h"
#include "hp_maps.h"
#include "park.h"
#include "targets.h"

#define SKIP_CHILD 77

static hotpatch_patch *patch;
static uint8_t value_orig[16], other_orig[16], value_entry[16], other_entry[16];

static uintptr_t addr_of(long (*f)(long)) { return (uintptr_t)f; }
static uintptr_t page_of(long (*f)(long)) {
  return addr_of(f) & ~((uintptr_t)sysconf(_SC_PAGESIZE) - 1);
}

/* The entry bytes the patch writes, learnt from one good apply. */
static int learn(void) {
  memcpy(value_orig, (void *)addr_of(ap_value), 16);
  memcpy(other_orig, (void *)addr_of(ap_other), 16);
  patch = ap_register_value_other("switch");
  if (hotpatch_apply(patch, NULL))
    return 1;
  memcpy(value_entry, (void *)addr_of(ap_value), 16);
  memcpy(other_entry, (void *)addr_of(ap_other), 16);
  if (hotpatch_revert(patch, NULL))
    return 2;
  return memcmp(value_orig, (void *)addr_of(ap_value), 16) ? 3 : 0;
}

/* Lines logged at error level that are not the summary. */
static char loud[1024];
static void capture(int level, const char *msg, void *arg) {
  (void)arg;
  if (level == HOTPATCH_LOG_ERROR && strncmp(msg, "hotpatch_", 9) != 0 &&
      !loud[0])
    snprintf(loud, sizeof loud, "%s", msg);
}

#define CHECK(cond, code)                                                      \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child: %s:%d: %s\n  last error: %s\n", __FILE__,        \
              __LINE__, #cond, hotpatch_last_error());                         \
      return (code);                                                           \
    }                                                                          \
  } while (0)

static int has(const char *s) { return strstr(hotpatch_last_error(), s) != 0; }

/* A thread started before the seccomp filter (threads created after it
 * inherit it), which reverts when told. */
static pthread_t reverter;
static atomic_int revert_go;

static void *revert_when_told(void *v) {
  (void)v;
  while (!atomic_load(&revert_go))
    usleep(1000);
  return (void *)(intptr_t)hotpatch_revert(patch, NULL);
}

static void start_reverter(void) {
  if (pthread_create(&reverter, NULL, revert_when_told, NULL))
    abort();
}

static int revert_on_the_reverter(void) {
  void *rc;
  atomic_store(&revert_go, 1);
  pthread_join(reverter, &rc);
  return (int)(intptr_t)rc;
}

/* --- ECHANGED, undone --------------------------------------------------- */

static void change_other(size_t site, int install) {
  if (site == 1 && install) {
    uint8_t b[16];
    memcpy(b, other_orig, 16);
    b[0] ^= 0xff;
    ap_poke_code(addr_of(ap_other), b, 1);
  }
}

static int changed_second_site_child(void) {
  int rc = learn();
  if (rc)
    return rc;
  hp_park_test_parked_hook = change_other;
  rc = hotpatch_apply(patch, NULL);
  hp_park_test_parked_hook = NULL;
  fprintf(stderr, "child: %s: %s\n", hotpatch_err_name(rc),
          hotpatch_last_error());
  CHECK(rc == HOTPATCH_ECHANGED, 10);
  CHECK(has("the code of 'ap_other'") && has("changed since it was prepared"),
        11);
  CHECK(has("nothing was changed"), 12);
  CHECK(hotpatch_is_applied(patch) == 0, 13);
  CHECK(!memcmp((void *)addr_of(ap_value), value_orig, 16), 14);
  ap_poke_code(addr_of(ap_other), other_orig, 1);
  CHECK(hotpatch_apply(patch, NULL) == 0 && ap_value(5) == 1006, 15);
  CHECK(hotpatch_revert(patch, NULL) == 0 && ap_value(5) == 6, 16);
  return 0;
}

static void a_changed_second_site_is_undone_and_said(void **state) {
  (void)state;
  assert_int_equal(ap_in_child(changed_second_site_child), 0);
}

/* --- ECHANGED, and the undo fails --------------------------------------- */

static void change_both(size_t site, int install) {
  if (site == 1 && install) {
    change_other(site, install);
    uint8_t b = value_entry[0] ^ 0x55; /* ap_value: now no one's code */
    ap_poke_code(addr_of(ap_value), &b, 1);
  }
}

static int failed_undo_child(void) {
  int rc = learn();
  if (rc)
    return rc;
  hotpatch_set_logger(capture, NULL);
  hp_park_test_parked_hook = change_both;
  rc = hotpatch_apply(patch, NULL);
  hp_park_test_parked_hook = NULL;
  fprintf(stderr, "child: %s: %s\n  logged: %s\n", hotpatch_err_name(rc),
          hotpatch_last_error(), loud);
  CHECK(rc == HOTPATCH_ECHANGED, 20);
  CHECK(has("could not be put back") && has("1 undo failed"), 21);
  CHECK(has("'ap_value' holds bytes of neither"), 22);
  CHECK(!has("nothing was changed"), 23);
  CHECK(strstr(loud, "could not be put back"), 24); /* loudly */
  /* Kept: unload would take away what the code may reach. */
  CHECK(hotpatch_is_applied(patch) == 1, 25);
  CHECK(hotpatch_unload(patch) == HOTPATCH_EINVAL, 26);
  /* Whoever wrote ap_value puts it back; revert then finishes. */
  ap_poke_code(addr_of(ap_value), value_orig, 16);
  ap_poke_code(addr_of(ap_other), other_orig, 16);
  CHECK(hotpatch_revert(patch, NULL) == 0, 27);
  CHECK(ap_value(5) == 6 && ap_other(5) == 15, 28);
  CHECK(hotpatch_unload(patch) == 0, 29);
  return 0;
}

static void an_undo_that_fails_is_loud_and_keeps_the_patch(void **state) {
  (void)state;
  assert_int_equal(ap_in_child(failed_undo_child), 0);
}

/* --- a replace that fails half-way --------------------------------------- */

static long (*cumul_old_value)(long);
static long cumul_value(long x) { return cumul_old_value(x) + 5000; }
static long cumul_other(long x) { return x * 3 + 7000; }

static hotpatch_patch *register_cumulative(void) {
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_value",
       .replacement = (void *)cumul_value,
       .original = (void **)&cumul_old_value},
      {.target = "ap_other", .replacement = (void *)cumul_other},
      {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "cumulative",
                                         .flags = HOTPATCH_REPLACE,
                                         .funcs = funcs};
  hotpatch_patch *p = NULL;
  if (hotpatch_register(&d, &p))
    fprintf(stderr, "child: register: %s\n", hotpatch_last_error());
  return p;
}

/* ap_value is the first change: already switched to the cumulative
 * patch when ap_other's turns comes. Both are spoilt: ap_other's write
 * meets changed bytes, ap_value's undo too. */
static void spoil_both(size_t site, int install) {
  if (site == 1 && install) {
    uint8_t b = other_entry[0] ^ 0xff;
    ap_poke_code(addr_of(ap_other), &b, 1);
    b = value_entry[0] ^ 0x55;
    ap_poke_code(addr_of(ap_value), &b, 1);
  }
}

static int failed_replace_child(void) {
  int rc = learn();
  if (rc)
    return rc;
  CHECK(hotpatch_apply(patch, NULL) == 0 && ap_value(5) == 1006, 60);
  hotpatch_patch *cumul = register_cumulative();
  CHECK(cumul != NULL, 61);
  hotpatch_set_logger(capture, NULL);
  hp_park_test_parked_hook = spoil_both;
  rc = hotpatch_apply(cumul, NULL);
  hp_park_test_parked_hook = NULL;
  fprintf(stderr, "child: %s: %s\n  logged: %s\n", hotpatch_err_name(rc),
          hotpatch_last_error(), loud);
  CHECK(rc == HOTPATCH_ECHANGED, 62);
  CHECK(has("replace 'cumulative'") && has("could not be put back"), 63);
  CHECK(has("'ap_value' holds bytes of neither"), 64);
  CHECK(strstr(loud, "could not be put back"), 65);
  /* Neither stack describes the code: the applied one stays, and the new
   * one can never be unloaded (its replacements may be reached). */
  CHECK(hotpatch_is_applied(patch) == 1 && hotpatch_is_applied(cumul) == 0, 66);
  CHECK(hotpatch_unload(cumul) == HOTPATCH_EBUSY && has("stays loaded"), 67);
  /* Whoever spoilt the bytes puts the applied patch's back: its code,
   * trampolines and originals are all alive, and it reverts. */
  ap_poke_code(addr_of(ap_value), value_entry, 16);
  ap_poke_code(addr_of(ap_other), other_entry, 16);
  CHECK(ap_value(5) == 1006 && ap_other(5) == 2015, 68);
  CHECK(hotpatch_revert(patch, NULL) == 0, 69);
  CHECK(ap_value(5) == 6 && ap_other(5) == 15, 70);
  CHECK(!memcmp((void *)addr_of(ap_value), value_orig, 16), 71);
  return 0;
}

static void a_replace_that_fails_half_way_keeps_both_alive(void **state) {
  (void)state;
  assert_int_equal(ap_in_child(failed_replace_child), 0);
}

/* --- ECHANGED on revert, undone ----------------------------------------- */

static void change_other_entry(size_t site, int install) {
  if (site == 1 && !install) {
    uint8_t b = other_entry[0] ^ 0xff;
    ap_poke_code(addr_of(ap_other), &b, 1);
  }
}

static int changed_on_revert_child(void) {
  int rc = learn();
  if (rc)
    return rc;
  CHECK(hotpatch_apply(patch, NULL) == 0, 30);
  hp_park_test_parked_hook = change_other_entry;
  rc = hotpatch_revert(patch, NULL);
  hp_park_test_parked_hook = NULL;
  fprintf(stderr, "child: %s: %s\n", hotpatch_err_name(rc),
          hotpatch_last_error());
  CHECK(rc == HOTPATCH_ECHANGED, 31);
  CHECK(has("revert 'switch'") && has("nothing was changed"), 32);
  CHECK(hotpatch_is_applied(patch) == 1 && ap_value(5) == 1006, 33);
  ap_poke_code(addr_of(ap_other), other_entry, 1);
  CHECK(ap_other(5) == 2015, 34);
  CHECK(hotpatch_revert(patch, NULL) == 0 && ap_value(5) == 6, 35);
  return 0;
}

static void a_revert_that_meets_changed_code_is_undone(void **state) {
  (void)state;
  assert_int_equal(ap_in_child(changed_on_revert_child), 0);
}

/* --- ECODEWRITE and EIO, from refused mprotect calls --------------------- */

static int deny_rc;
static long deny_prot; /* -1: any protection */

static void deny_mprotect(size_t site, int install) {
  if (site != 1 || !install)
    return;
  /* The pages of both functions (one filter if they share one). */
  deny_rc = ap_deny_syscall(SYS_mprotect, 0, ~0ull, page_of(ap_other),
                            deny_prot < 0 ? -1 : 2, (uint64_t)deny_prot);
  if (!deny_rc && page_of(ap_value) != page_of(ap_other))
    deny_rc = ap_deny_syscall(SYS_mprotect, 0, ~0ull, page_of(ap_value),
                              deny_prot < 0 ? -1 : 2, (uint64_t)deny_prot);
  /* And the commit's fallback, a pwrite to /proc/self/mem: no method is
   * left for this thread. */
  if (!deny_rc && deny_prot < 0)
    deny_rc = ap_deny_syscall(SYS_pwrite64, 0, 0, 0, -1, 0);
}

static int refused_child(int eio) {
  if (hp_write_method() != HP_WRITE_RWX) {
    fprintf(stderr,
            "child: code is written with method %d, not mprotect "
            "to rwx: the filter would not bite\n",
            hp_write_method());
    return SKIP_CHILD;
  }
  int rc = learn();
  if (rc)
    return rc;
  hotpatch_set_logger(capture, NULL);
  start_reverter();
  deny_prot = eio ? PROT_READ | PROT_EXEC : -1;
  hp_park_test_parked_hook = deny_mprotect;
  rc = hotpatch_apply(patch, NULL);
  hp_park_test_parked_hook = NULL;
  if (deny_rc) {
    revert_on_the_reverter();
    return SKIP_CHILD;
  }
  fprintf(stderr, "child: %s: %s\n  logged: %s\n", hotpatch_err_name(rc),
          hotpatch_last_error(), loud);
  int shared = page_of(ap_value) == page_of(ap_other);
  if (!eio) {
    CHECK(rc == HOTPATCH_ECODEWRITE, 40);
    CHECK(has("the code of 'ap_other'") && has("could not be written"), 41);
    /* Its undo needed the same refused call. */
    CHECK(has("could not be put back") && loud[0], 42);
    CHECK(has("'ap_value' jumps to its replacement"), 43);
    CHECK(ap_other(5) == 15, 44);
  } else {
    CHECK(rc == HOTPATCH_EIO, 50);
    CHECK(has("left a page without its protection"), 51);
    /* The new bytes went in before the refusal: said, and kept alive. */
    CHECK(has("'ap_other' jumps to its replacement, code page"), 52);
    CHECK(loud[0], 53);
    CHECK(ap_other(5) == 2015, 54);
    if (shared) /* the undo of ap_value could not restore it either */
      CHECK(has("'ap_value' runs its original code, code page"), 55);
  }
  CHECK(!has("nothing was changed"), 45);
  CHECK(hotpatch_is_applied(patch) == 1, 46);
  /* What the switched code reaches is alive: calls work. */
  CHECK(ap_value(5) == (eio ? 6 : 1006), 47);
  CHECK(revert_on_the_reverter() == 0, 48);
  CHECK(ap_value(5) == 6 && ap_other(5) == 15, 49);
  CHECK(!memcmp((void *)addr_of(ap_value), value_orig, 16), 56);
  CHECK(!memcmp((void *)addr_of(ap_other), other_orig, 16), 57);
  char perms[5];
  hp_test_perms(addr_of(ap_other), perms);
  if (!eio)
    CHECK(!strcmp(perms, "r-xp"), 58);
  else /* the revert armed its writes with the protection it found */
    fprintf(stderr,
            "child: NOTE: after the revert the page is %s (the "
            "protection left by the refused mprotect)\n",
            perms);
  return 0;
}

static int refused_write_child(void) { return refused_child(0); }
static int refused_restore_child(void) { return refused_child(1); }

static void run_refused(int (*fn)(void)) {
  int st = ap_in_child(fn);
  if (st == SKIP_CHILD) {
    printf("SKIPPED: no seccomp here (qemu-user refuses it), or code is not "
           "written through mprotect\n");
    skip();
  }
  assert_int_equal(st, 0);
}

static void a_write_refused_with_a_failed_undo_is_kept_applied(void **state) {
  (void)state;
  run_refused(refused_write_child);
}

static void a_protection_not_restored_says_the_new_code_is_in(void **state) {
  (void)state;
  run_refused(refused_restore_child);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_changed_second_site_is_undone_and_said),
      cmocka_unit_test(an_undo_that_fails_is_loud_and_keeps_the_patch),
      cmocka_unit_test(a_replace_that_fails_half_way_keeps_both_alive),
      cmocka_unit_test(a_revert_that_meets_changed_code_is_undone),
      cmocka_unit_test(a_write_refused_with_a_failed_undo_is_kept_applied),
      cmocka_unit_test(a_protection_not_restored_says_the_new_code_is_in),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
