/* SPDX-License-Identifier: MIT */
/* /proc/self/maps checks shared by tests. */
#ifndef HP_TEST_MAPS_H
#define HP_TEST_MAPS_H

#include <stddef.h>
#include <stdint.h>

/* Lines of /proc/self/maps whose permissions are rwx (writes them to
 * stderr). -1 if the file cannot be read. */
int hp_test_count_rwx(void);

/* A cmocka teardown: fails the test (-1, the mappings printed) if any
 * mapping is writable and executable. */
int hp_test_no_rwx_left(void **state);

/* The "rwxp" permission string of the mapping holding addr ("" if none). */
void hp_test_perms(uintptr_t addr, char out[5]);

/* Fill every gap of [lo, hi) with PROT_NONE reservations (never over an
 * existing mapping: MAP_FIXED_NOREPLACE, address checked); cmocka failure
 * if that cannot be done. The reservations are recorded: unreserve unmaps
 * exactly those inside [lo, hi), nothing else (a loader's guard regions
 * are PROT_NONE too). */
void hp_test_reserve_window(uintptr_t lo, uintptr_t hi);
/* One PROT_NONE reservation of `len` bytes exactly at `at`, or a failure;
 * not recorded: the caller unmaps it. */
void hp_test_reserve_at(uintptr_t at, size_t len);
void hp_test_unreserve_window(uintptr_t lo, uintptr_t hi);

#endif
