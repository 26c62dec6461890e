/* SPDX-License-Identifier: MIT */
/*
 * Real threads in real situations, stopped the way park.c stops them, so
 * the safe-point check can be tested without park.c: each worker runs a
 * scenario that ends blocked (sp_block) or spinning; sp_park signals it,
 * and its handler records the interrupted PC, SP, LR and whether it runs
 * on the alternate signal stack into an hp_slot, marks it PARKED and waits
 * on a futex until sp_unpark.
 */
#ifndef SP_HARNESS_H
#define SP_HARNESS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "hotpatch.h"
#include "park.h"
#include "safepoint.h"
#include "unwind.h"

struct sp_worker {
  void (*run)(struct sp_worker *); /* the scenario */
  size_t stack_size;               /* 0: the default */
  void *stack;                     /* !NULL: its stack (stack_size bytes) */
  int cooperative;                 /* parks itself in sp_coop_block */
  void *arg;                       /* the scenario's own */
  uint32_t ready;                  /* set right before it blocks or spins */
  uint32_t quit;                   /* futex: set to end the scenario */
  uintptr_t redirect_pc;           /* !0: the handler resumes there */
  uintptr_t stack_lo, stack_hi;    /* its pthread stack */
  /* private */
  pthread_t th;
  struct hp_slot *slot;
  uint32_t coop_req; /* futex: a cooperative park is requested */
};

/* Threads stopped together, described for hp_safepoint_check. */
struct sp_world {
  struct hp_park park;
  struct hp_slot slot[128];
  struct sp_worker **w;
  size_t n;
};

/* Start the thread and return once its scenario is blocked (ready, then a
 * pause so that it is inside its blocking call). */
void sp_start(struct sp_worker *w);
/* Set quit, wake it, join it. */
void sp_finish(struct sp_worker *w);

/* Stop these workers (one slot each, in order) until sp_unpark. */
void sp_park(struct sp_world *world, struct sp_worker **w, size_t n);
void sp_unpark(struct sp_world *world);

/* The scenarios' blocking call: sets ready, waits on quit (a futex). Not
 * inlined: it is "the helper F calls". */
void sp_block(struct sp_worker *w);
/* A cooperative thread's loop: parks when asked, recording its own SP
 * (uc NULL, pc and lr 0: only the stack tells where it is). */
void sp_coop_block(struct sp_worker *w);

/* A hot range for code [lo, hi) whose entry is lo. */
struct hp_hot sp_hot(const char *what, const void *lo, const void *hi,
                     int inner_only);

/* What the unwinder did in the last sp_check. */
struct sp_seen {
  int precise;                /* an unwinder was there */
  unsigned long stale;        /* hits it proved stale */
  unsigned long walks, steps; /* during the check */
  const char *stop;           /* why the last walk stopped */
  size_t nframes;             /* of the last walk */
  struct hp_frame frame[16];  /* its first frames */
};
extern struct sp_seen sp_seen;
/* sp_check without the unwinder: the scan's verdict alone. */
extern int sp_scan_only;

/* Run hp_safepoint_check once over the world; prints the verdict and
 * what the unwinder did (sp_seen). */
int sp_check(struct sp_world *world, const struct hp_hot *hot, size_t nhot,
             const struct hp_slot **who, const struct hp_hot **why,
             const char **reason);

/* Park worker w, already started, alone in `world`. */
void sp_park_one(struct sp_world *world, struct sp_worker *w);
/* The scenario `run` on worker w, started and parked alone in `world`
 * (scan-only mode off, whatever a failed test left). */
void sp_start_parked(struct sp_world *world, struct sp_worker *w,
                     void (*run)(struct sp_worker *));
void sp_unpark_finish(struct sp_world *world, struct sp_worker *w);
/* The check over the one parked worker: unsafe for want_why and
 * want_reason, or safe. */
void sp_expect_unsafe(struct sp_world *world, const struct hp_hot *hot,
                      size_t nhot, const struct hp_hot *want_why,
                      const char *want_reason);
void sp_expect_safe(struct sp_world *world, const struct hp_hot *hot,
                    size_t nhot);

uint64_t sp_now_ns(void);

#endif
