/* SPDX-License-Identifier: MIT */
/*
 * Threads that hold a lock a patcher could want, for a while: inside
 * malloc (every allocation of the binary goes through one lock: link with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free), inside
 * dlopen() of a library whose constructor sleeps (the loader lock), inside
 * a dl_iterate_phdr() callback that sleeps. Each holds for PU_HOLD_MS.
 */
#ifndef PARK_HOLDERS_H
#define PARK_HOLDERS_H

#include <stdatomic.h>
#include <sys/types.h>

#define PU_HOLD_MS 300

/* 0 before, 1 while the thread holds its lock, 2 after. */
struct pu_holder {
  const char *what;
  void *(*run)(void *);
  atomic_int *state;
};

extern const struct pu_holder pu_hold_malloc, pu_hold_dlopen, pu_hold_phdr;

/* Start the holder; returns once it holds its lock. Joins with
 * pu_holder_join, which checks that it finished (state 2, the library
 * loaded and callable). */
pthread_t pu_holder_start(const struct pu_holder *h);
void pu_holder_join(const struct pu_holder *h, pthread_t t);

/* Allocations made by thread `tid` from now on (0: stop counting). */
void pu_alloc_watch(pid_t tid);
int pu_alloc_watched(void);

#endif
