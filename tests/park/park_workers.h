/* SPDX-License-Identifier: MIT */
/*
 * Threads of four kinds for the parking and apply tests: busy (a counter
 * loop), blocked in read() on a pipe (one read, which must return its
 * byte), in nanosleep(60 s) or in epoll_wait(60 s) on a pipe, in a loop
 * that counts how each call returned.
 */
#ifndef PARK_WORKERS_H
#define PARK_WORKERS_H

#include <pthread.h>
#include <stdatomic.h>

enum pu_kind { PU_BUSY, PU_READ, PU_NANOSLEEP, PU_EPOLL };
extern const char *const pu_kind_name[4];

struct pu_worker {
  pthread_t th;
  atomic_int tid;
  enum pu_kind kind;
  int pipe[2];
  int ep;
  atomic_ulong count;   /* busy: iterations */
  atomic_int calls;     /* blocking: calls returned */
  atomic_int eintr;     /* blocking: calls that returned EINTR */
  atomic_int other;     /* blocking: any other failure */
  atomic_long last_ret; /* read: the last result */
  atomic_int quit;
};

/* Start n workers of kind k; returns once each knows its tid. cmocka
 * failures on error. */
void pu_workers_start(struct pu_worker *w, int n, enum pu_kind k);

/* Blocking kinds: wait until every worker is back in its call (state S),
 * so that the next stop interrupts it. */
void pu_workers_wait_blocked(struct pu_worker *w, int n);

/* Nanosleep and epoll_wait workers: wait until each has returned from
 * `calls` calls (after a stop, before the next: a worker still parked
 * looks blocked too, state S in the handler's futex wait). */
void pu_workers_wait_calls(struct pu_worker *w, int n, int calls);

/* Busy kind: wait until every worker has counted on. */
void pu_workers_wait_running(struct pu_worker *w, int n);

/* Nanosleep and epoll_wait workers: each of the `stops` stops since they
 * started interrupted its call once, with EINTR (signal(7): never
 * restarted), and nothing else ended one. Waits for the last to return. */
void pu_workers_check_interrupted(struct pu_worker *w, int n, int stops);

/* Stop and join them (writing to the pipes, signalling nanosleepers with
 * SIGUSR2, which needs pu_workers_init's handler), close what they used.
 * Read workers: asserts their one read returned the byte, without EINTR. */
void pu_workers_end(struct pu_worker *w, int n);

/* Install a no-op SIGUSR2 handler (ends nanosleep with EINTR). */
void pu_workers_init(void);

#endif
