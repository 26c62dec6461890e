/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include "hp_maps.h"

#include <errno.h>
#include <sys/mman.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hp_test_count_rwx(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f)
    return -1;
  char line[512];
  int n = 0;
  while (fgets(line, sizeof line, f)) {
    char perms[8] = "";
    if (sscanf(line, "%*x-%*x %7s", perms) == 1 && !strncmp(perms, "rwx", 3)) {
      fprintf(stderr, "rwx mapping: %s", line);
      n++;
    }
  }
  fclose(f);
  return n;
}

int hp_test_no_rwx_left(void **state) {
  (void)state;
  int n = hp_test_count_rwx();
  if (n != 0)
    print_error("%d writable and executable mapping(s) left\n", n);
  return n == 0 ? 0 : -1;
}

void hp_test_perms(uintptr_t addr, char out[5]) {
  out[0] = '\0';
  FILE *f = fopen("/proc/self/maps", "r");
  if (!f)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    uintptr_t lo, hi;
    char perms[8];
    if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %7s", &lo, &hi, perms) == 3 &&
        addr >= lo && addr < hi) {
      memcpy(out, perms, 4);
      out[4] = '\0';
      break;
    }
  }
  fclose(f);
}

/* A page-aligned block of `len` bytes mapped PROT_NONE exactly at `at`, or
 * a failure: MAP_FIXED_NOREPLACE and the address checked, so nothing that
 * is there is ever replaced. */
void hp_test_reserve_at(uintptr_t at, size_t len) {
  void *r = mmap(
      (void *)at, len, PROT_NONE,
      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
  if (r != MAP_FAILED && (uintptr_t)r != at)
    munmap(r, len);
  if ((uintptr_t)r != at)
    fail_msg("cannot reserve 0x%lx+0x%zx: %s", (unsigned long)at, len,
             r == MAP_FAILED ? strerror(errno) : "placed elsewhere");
}

/* The reservations hp_test_reserve_window made and has not undone: only
 * these are unmapped again, never a loader's guard region or another
 * PROT_NONE mapping that happens to lie in the window. */
static struct {
  uintptr_t at;
  size_t len;
} * g_resv;
static size_t g_nresv, g_capresv;

static void reserve_recorded(uintptr_t at, size_t len) {
  if (g_nresv == g_capresv) {
    size_t cap = g_capresv ? 2 * g_capresv : 64;
    void *v = realloc(g_resv, cap * sizeof *g_resv);
    assert_non_null(v);
    g_resv = v;
    g_capresv = cap;
  }
  hp_test_reserve_at(at, len);
  g_resv[g_nresv].at = at;
  g_resv[g_nresv].len = len;
  g_nresv++;
}

/* Every gap of [lo, hi) filled with PROT_NONE reservations. */
void hp_test_reserve_window(uintptr_t lo, uintptr_t hi) {
  for (int round = 0; round < 5; round++) {
    FILE *f = fopen("/proc/self/maps", "re");
    assert_non_null(f);
    char line[4096];
    uintptr_t cur = lo;
    int filled = 0;
    while (cur < hi && fgets(line, sizeof line, f)) {
      unsigned long s, e;
      if (sscanf(line, "%lx-%lx", &s, &e) != 2 || e <= cur)
        continue;
      if (s > cur) {
        reserve_recorded(cur, (s < hi ? s : hi) - cur);
        filled = 1;
      }
      cur = e;
    }
    fclose(f);
    if (cur < hi) {
      reserve_recorded(cur, hi - cur);
      filled = 1;
    }
    if (!filled)
      return;
  }
  fail_msg("the window [0x%lx, 0x%lx) keeps having gaps", (unsigned long)lo,
           (unsigned long)hi);
}

/* Unmaps the reservations hp_test_reserve_window made inside [lo, hi). */
void hp_test_unreserve_window(uintptr_t lo, uintptr_t hi) {
  size_t k = 0;
  for (size_t i = 0; i < g_nresv; i++) {
    if (g_resv[i].at >= lo && g_resv[i].at + g_resv[i].len <= hi)
      assert_int_equal(munmap((void *)g_resv[i].at, g_resv[i].len), 0);
    else
      g_resv[k++] = g_resv[i];
  }
  g_nresv = k;
}
