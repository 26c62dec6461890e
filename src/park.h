/* SPDX-License-Identifier: MIT */
/*
 * Parking every other thread of the process at a known point, so code can
 * be switched while none of them runs (SPEC §4).
 *
 *   hp_park_prepare  before: allocate the slots, install the handler (once;
 *                    refuses a signal someone else handles), open
 *                    /proc/self/task. Allocates; no thread is stopped.
 *   hp_park_stop     signal every other thread with the park signal
 *                    (rt_tgsigqueueinfo carrying slot and generation), wait
 *                    on a futex until each has acknowledged from its
 *                    handler, rescan /proc/self/task until no new thread
 *                    appears; cooperative threads park in
 *                    hotpatch_safepoint() instead. io_uring workers
 *                    (PF_IO_WORKER) are skipped; threads that exit
 *                    meanwhile, and zombies (a group leader after its
 *                    pthread_exit), are dropped.
 *                    Deadline passed: everyone released, HOTPATCH_EBUSY,
 *                    and the slots say who did not acknowledge.
 *   (while stopped)  the caller checks the slots (safepoint.h) and writes
 *                    code; only raw syscalls, no malloc, no locks, no
 *                    dl_iterate_phdr (a parked thread may hold any of them)
 *   hp_park_sync_core  after the code writes, before the release:
 *                    membarrier SYNC_CORE where the kernel has it (an
 *                    extra; registered by the first prepare).
 *   hp_park_release  wake everyone; each parked thread serialises
 *                    (hp_arch_serialise) before it returns to its code.
 *   hp_park_finish   after: close and free what prepare made.
 *
 * The handler: async-signal-safe, preserves errno, SA_RESTART|SA_SIGINFO,
 * every signal blocked while it runs, no SA_ONSTACK; a signal of an older
 * generation (late, or resent) returns at once.
 *
 * One stop at a time: the caller holds the action lock (hp_action_begin).
 */
#ifndef HP_PARK_H
#define HP_PARK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <ucontext.h>

enum hp_slot_state {
  HP_SLOT_FREE = 0,
  HP_SLOT_SIGNALLED, /* sent, not acknowledged yet */
  HP_SLOT_PARKED,    /* in the handler (or hotpatch_safepoint), waiting */
  HP_SLOT_GONE,      /* exited before it could park (ESRCH) */
  HP_SLOT_CLAIMED,   /* its handler is filling the slot: not parked yet */
};

/* One thread, as its handler saw it when it parked. Written by the parked
 * thread before it acknowledges (release store of state), read by the
 * patcher after (acquire load). */
struct hp_slot {
  pid_t tid;
  uint32_t state;       /* enum hp_slot_state */
  int cooperative;      /* parked in hotpatch_safepoint() */
  int on_altstack;      /* interrupted on its sigaltstack */
  const ucontext_t *uc; /* its interrupted context (on its stack, valid
                           while parked); NULL if cooperative */
  uintptr_t pc, sp, lr; /* from uc (lr 0 on x86_64); cooperative: pc in
                           hotpatch_safepoint, sp its frame, lr the return
                           address (aarch64) */
  char name[16];        /* comm, read before the stop when known */
  /* The patcher's own bookkeeping. */
  uint64_t sent_ns;  /* last signal sent; 0: to send (EAGAIN, or none) */
  int coop_expected; /* cooperative: not signalled, parks in safepoint */
};

struct hp_park_tid; /* park.c: tid -> slot, comm read by prepare */

struct hp_park {
  struct hp_slot *slot; /* preallocated; cap entries */
  size_t n, cap;
  int task_fd;  /* /proc/self/task, opened by prepare */
  int stat_fd;  /* /proc/self/stat: the kernel's thread count */
  uint32_t gen; /* this stop's generation */
  /* The pause: from just before the first signal to the release store
   * (the moment parked threads may run again), CLOCK_MONOTONIC. */
  uint64_t t_stop_ns, t_release_ns;
  int retries_signal; /* resends of lost signals */
  int rescans;        /* final passes the thread count refuted */
  int overflow;       /* the stop failed: more threads than slots */
  int sync_core;      /* membarrier by hp_park_sync_core: 0 not issued,
                         1 done, -errno */
  /* Prepared by hp_park_prepare, internal to park.c. */
  int sig;                  /* the park signal */
  uid_t uid;                /* si_uid of what we send */
  int stopped;              /* threads may be parked: release pending */
  int emulated;             /* under qemu-user (see park.c) */
  const char *why;          /* a failed stop not due to stragglers */
  struct hp_park_tid *tids; /* open addressing, tids_cap a power of 2 */
  size_t tids_cap, tids_n;
  uint32_t pass_seq;                /* stamps of scan passes, per prepare */
  size_t last_listed, last_counted; /* the last refuted final pass */
  char *dents;                      /* getdents64 buffer */
  size_t dents_cap;
};

/* 0 or HOTPATCH_ENOMEM, HOTPATCH_EBUSY (the park signal has another
 * handler: the detail names the signal and the handler), HOTPATCH_EIO. */
int hp_park_prepare(struct hp_park *p);

/* 0 with every other thread parked, or HOTPATCH_EBUSY after deadline_ns
 * (CLOCK_MONOTONIC) with every thread released: slots still SIGNALLED (or
 * CLAIMED) did not acknowledge. Also HOTPATCH_EBUSY, everyone released,
 * when more threads appear than prepare made slots for ("threads keep
 * appearing": prepare again) or another stop is in progress; HOTPATCH_EIO
 * if /proc/self/task cannot be read. May be called again after a release
 * with the same prepare. No malloc, no lock until it returns (the detail
 * of a failure is formatted after the release). */
int hp_park_stop(struct hp_park *p, uint64_t deadline_ns);

/* While stopped, after writing code: membarrier SYNC_CORE if registered
 * (p->sync_core says what it returned). Raw syscall. */
void hp_park_sync_core(struct hp_park *p);

/* Wake every parked thread (no-op for a slot that is not parked). */
void hp_park_release(struct hp_park *p);

void hp_park_finish(struct hp_park *p);

/* For reports after a failed stop: fills `out` with "tid 1234 'name'
 * (state S (sleeping), blocks signal 41)" entries, separated by "; ", for
 * the slots that did not acknowledge, read from
 * /proc/self/task/<tid>/status ("cooperative thread tid N 'name' did not
 * reach hotpatch_safepoint()" for those), after the reason when the stop
 * failed for another one. Call after release (it reads files). */
void hp_park_describe_stragglers(const struct hp_park *p, char *out,
                                 size_t cap);

/* A "; "-separated list of items in out[cap] that ends in "; and N more"
 * once the next item would not fit. Not async-signal-safe (vsnprintf):
 * after the release. */
struct hp_report {
  char *out;
  size_t cap, len, more;
};
void hp_report_add(struct hp_report *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void hp_report_end(struct hp_report *r);

uint64_t hp_now_ns(void); /* CLOCK_MONOTONIC, by raw syscall */

/* Under qemu-user (its own threads are in /proc/self/task; only
 * /proc/self/ files are emulated). Computed once; not async-signal-safe
 * the first time. */
int hp_park_emulated(void);

/* ---- For tests ---------------------------------------------------------
 * Process-wide tallies since start (relaxed atomics: AS-safe to update,
 * exact once the counted threads are quiet): stops begun, threads that
 * parked (handler or hotpatch_safepoint), hp_arch_serialise calls by
 * released threads, membarrier SYNC_CORE calls that succeeded. */
struct hp_park_counters {
  unsigned long stops, parked, serialised, sync_core;
};
void hp_park_counters(struct hp_park_counters *c);
/* hp_arch_serialise calls by the calling thread on its way out of a park
 * (initial-exec TLS). */
unsigned long hp_park_serialised_self(void);
/* Whether the first prepare registered membarrier SYNC_CORE. */
int hp_park_sync_core_available(void);
/* Non-zero: hp_park_sync_core does nothing, as where the kernel lacks it. */
extern int hp_park_test_no_sync_core;
/* Called by the patcher while every other thread is parked, before it
 * writes change `site` (transition.c, hp_tx_switch): a test may change
 * the code under the engine there. Raw syscalls only. */
extern void (*hp_park_test_parked_hook)(size_t site, int install);
/* Added to the kernel's thread count by the stop's completeness check:
 * non-zero makes every final pass look as if a thread was missed. */
extern int hp_park_test_count_bias;
/* Called by hp_park_stop before it signals anyone (threads running). */
extern void (*hp_park_test_before_stop)(void);

/*
 * fork(): handlers registered once (pthread_atfork) by the first action,
 * prepare or cooperative registration. Prepare takes the registry lock
 * (unless the forking thread is inside an action: it keeps it) and the
 * near-memory lock, so fork() waits for an action in progress; the child
 * releases them, and starts with no stop active and only the forking
 * thread in the cooperative registry.
 */
void hp_fork_handlers_once(void);
/* registry.c */
void hp_registry_atfork_prepare(void);
void hp_registry_atfork_parent(void);
void hp_registry_atfork_child(void);

#endif
