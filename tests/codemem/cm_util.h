/* SPDX-License-Identifier: MIT */
/* Helpers for the code-memory tests: /proc/self/maps, fixtures, children. */
#ifndef CM_UTIL_H
#define CM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* fx_code.S: two pages of code nothing else shares. */
extern char fx_code_page[];
int fx_ret42(void);
int fx_ret7(void);

#define CM_PAGE ((uintptr_t)4096)

int cm_under_qemu(void);

/* The perms ("r-xp") of the mapping holding addr, read with a parser of
 * the test's own; "" if unmapped. Returns 0 if mapped. */
int cm_perms(uintptr_t addr, char perms[5]);
/* Number of lines in /proc/self/maps. */
int cm_maps_lines(void);
/* Number of writable and executable mappings; the first one in `first`. */
int cm_rwx_lines(char *first, size_t cap);
/* Start of a free gap of at least `len` bytes (plus `len` of margin on
 * each side) in the upper part of the address space, or 0. */
uintptr_t cm_free_area(size_t len);

/* Install a seccomp filter (irrevocable: in a child) refusing with EACCES
 * every mprotect whose prot & mask == value; exits CM_SKIP under qemu-user,
 * which refuses seccomp for its guests. */
void cm_deny_mprotect(int mask, int value);

/* Machine code for "return n" (int), and its length. */
size_t cm_ret_code(uint8_t *buf, int n);

/*
 * Run fn in a forked child and return how it ended: 0 passed, CM_SKIP
 * skipped (it printed why), anything else failed. A child must not use
 * cmocka assertions (they would jump back into cmocka's state in the
 * child); it uses CM_CHECK, which prints and exits.
 */
#define CM_SKIP 77
int cm_run_child(void (*fn)(void));

/* In a cmocka test: run fn in a child; a child that skipped skips the
 * test (loudly), any other failure fails it. */
#define CM_RUN(fn)                                                             \
  do {                                                                         \
    int cm_rc_ = cm_run_child(fn);                                             \
    if (cm_rc_ == CM_SKIP) {                                                   \
      print_message("SKIPPED: see the child's reason above\n");                \
      skip();                                                                  \
    }                                                                          \
    assert_int_equal(cm_rc_, 0);                                               \
  } while (0)

#define CM_CHECK(cond, ...)                                                    \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "child %s:%d: check failed: %s: ", __FILE__, __LINE__,   \
              #cond);                                                          \
      fprintf(stderr, __VA_ARGS__);                                            \
      fprintf(stderr, "\n");                                                   \
      exit(1);                                                                 \
    }                                                                          \
  } while (0)

#endif
