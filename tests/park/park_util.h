/* SPDX-License-Identifier: MIT */
/* Helpers shared by the parking tests. */
#ifndef PARK_UTIL_H
#define PARK_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "park.h"

/* HOTPATCH_TEST_UNDER_QEMU=1: fewer threads and iterations. */
int pu_under_qemu(void);

pid_t pu_gettid(void);

/* A thread with a small stack (256 threads must fit anywhere). */
pthread_t pu_spawn(void *(*fn)(void *), void *arg);

/* Wait until thread `tid` is in state `state` ('S', 'R'...) per
 * /proc/self/task/<tid>/stat, at most `ms`. 1 if it got there. */
int pu_wait_state(pid_t tid, char state, int ms);

/* From /proc/self/task/<tid>/stat: the state letter ('S', 'Z'...) and
 * the flags (field 9) if flags; comm into comm[cap] if comm. 0, or -1 if the
 * thread is gone or the line unreadable. */
int pu_task_stat(pid_t tid, char *state, unsigned long *flags, char *comm,
                 size_t cap);

/* Wait for child `pid` at most `ms`; its exit status (128 + signal if it
 * died), or -1 after killing it. */
int pu_reap(pid_t pid, int ms);

/* The slot of `tid` in the last stop (the last one made for it), or NULL. */
const struct hp_slot *pu_slot_of(const struct hp_park *p, pid_t tid);

/* Prepare and stop with a deadline `ms` from now; returns stop's code. */
int pu_stop(struct hp_park *p, int ms);

/* The tids of /proc/self/task, by raw getdents64 (no malloc: callable
 * while threads are parked). Returns how many were stored. */
size_t pu_tasks(pid_t *out, size_t cap);

uint64_t pu_median(uint64_t *v, size_t n);

void pu_sleep_ms(int ms);

/* Send the park signal to `tid` as hp_park_stop would, for slot `idx` of
 * generation `gen`. Returns the raw syscall's result. */
long pu_send_park(int sig, pid_t tid, uint32_t idx, uint32_t gen);

#endif
