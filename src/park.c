/* SPDX-License-Identifier: MIT */
/*
 * Parking every other thread (contract in park.h; protocol in
 * docs/safety.md).
 *
 * The patcher publishes a generation, then sends each thread the park
 * signal carrying its slot index and that generation. The handler fills
 * the slot from its ucontext, marks it PARKED, bumps the acknowledgement
 * counter and sleeps on a futex until the release word stops holding its
 * generation. Cooperative threads are not signalled: they find their slot
 * in the cooperative registry when they call hotpatch_safepoint() and park
 * there the same way. Everything that runs while threads are parked
 * (handler, safepoint, hp_park_stop, hp_park_release) uses raw system
 * calls and atomics only: a parked thread may hold malloc's, stdio's or
 * the loader's lock, and libc's own pages may be the ones being patched.
 *
 * Memory ordering (every rule is restated where it applies):
 * - Publication: the patcher writes hp_cur_slot/hp_cur_cap, hp_stop_pid
 *   and the release word, then stores hp_active_gen (seq_cst, a release);
 *   a parker that loads hp_active_gen == its generation (seq_cst, an
 *   acquire) sees all of them.
 * - A slot's tid/name are written before its state becomes SIGNALLED
 *   (release); the parker reads them after loading SIGNALLED (acquire).
 * - The parker writes tid/uc/pc/sp/lr/on_altstack before storing PARKED
 *   (release); the patcher reads them after loading PARKED (acquire).
 * - Slot lifetime: a parker increments hp_inflight before it checks the
 *   generation and decrements it once it no longer touches its slot. The
 *   patcher ends a stop by storing hp_active_gen = 0 and then waiting for
 *   hp_inflight == 0 (both seq_cst: either the parker sees 0 and leaves,
 *   or the patcher sees its increment and waits), so no late handler ever
 *   writes a slot array that hp_park_finish may free, or a stop that ended.
 * - Release: the patcher's code writes happen before its release store of
 *   the release word; a parked thread's acquire load of it, followed by
 *   hp_arch_serialise(), makes those writes visible to its fetches.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch/host.h"
#include "arch/syscall.h"
#include "config.h"
#include "errors.h"
#include "hotpatch.h"
#include "log.h"
#include "nearmem.h"
#include "park.h"

#define HP_MS 1000000ull
#define HP_RESEND_NS (100 * HP_MS) /* a signal not acknowledged: resend */
#define HP_PROBE_NS (5 * HP_MS)    /* how often to look for exited threads */
#define HP_COOP_MAX 1024           /* cooperative threads at most */
#define HP_DENTS_CAP (16u << 10)   /* getdents64 buffer */
#define HP_TID_SKIP (-2)           /* io_uring or emulator thread */
#define HP_TID_NONE (-1)           /* known, no slot in this stop */

/* tid -> slot index of this stop, and comm read by prepare. */
struct hp_park_tid {
  pid_t tid;     /* 0: empty */
  int32_t slot;  /* index, HP_TID_NONE or HP_TID_SKIP */
  uint32_t pass; /* the last pass that listed it (see hp_settled) */
  char name[16];
};

/* Shared between the patcher and the parkers (ordering: top of file). */
static atomic_uint hp_active_gen; /* 0: no stop in progress */
static atomic_uint hp_release;    /* futex: == gen while parked */
static atomic_uint hp_acks;       /* futex: bumped by each parker */
static atomic_uint hp_inflight;   /* parkers that may touch a slot */
static atomic_int hp_stop_pid;    /* si_pid of our own signals */
static struct hp_slot *_Atomic hp_cur_slot;
static atomic_size_t hp_cur_cap;
static atomic_int hp_stop_busy; /* one stop at a time */
static uint32_t hp_gen_counter; /* patcher only */

/* Counters for the tests (park.h), relaxed: each is a plain tally. The
 * per-thread one is initial-exec TLS, so the handler's access is one
 * thread-pointer-relative load (see hp_coop_self). */
static atomic_ulong hp_n_stops, hp_n_parked, hp_n_serialised, hp_n_sync_core;
static _Thread_local unsigned long hp_serialised_self
    __attribute__((tls_model("initial-exec")));

/* membarrier SYNC_CORE: 0 not probed yet, 1 registered, -1 unavailable.
 * Probed and registered by the first prepare (threads running). */
static atomic_int hp_sync_core_state;
int hp_park_test_no_sync_core;
int hp_park_test_count_bias;
void (*hp_park_test_parked_hook)(size_t site, int install);
void (*hp_park_test_before_stop)(void);

#define LD(p, mo) atomic_load_explicit(p, memory_order_##mo)
#define ST(p, v, mo) atomic_store_explicit(p, v, memory_order_##mo)
/* Slot states are plain uint32_t in the header: GNU atomics on them. */
#define SLD(s) __atomic_load_n(&(s)->state, __ATOMIC_ACQUIRE)
#define SST(s, v) __atomic_store_n(&(s)->state, (uint32_t)(v), __ATOMIC_RELEASE)

static int hp_state_cas(struct hp_slot *s, uint32_t from, uint32_t to) {
  return __atomic_compare_exchange_n(&s->state, &from, to, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE);
}

uint64_t hp_now_ns(void) {
  struct timespec ts;
  if (hp_sys_clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
    return 0;
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void hp_futex_wait(atomic_uint *w, uint32_t val, uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000ull),
                        (long)(ns % 1000000000ull)};
  hp_sys_futex((uint32_t *)w, FUTEX_WAIT_PRIVATE, val, ns ? &ts : NULL);
}

static void hp_futex_wake(atomic_uint *w, int n) {
  hp_sys_futex((uint32_t *)w, FUTEX_WAKE_PRIVATE, (uint32_t)n, NULL);
}

/* ------------------------------------------------------------------------ */
/* The parked side: the handler and hotpatch_safepoint                       */
/* ------------------------------------------------------------------------ */

static int hp_on_altstack(void) {
  stack_t ss;
  if (hp_sys_sigaltstack(NULL, &ss) < 0)
    return 0;
  return (ss.ss_flags & SS_ONSTACK) != 0;
}

/*
 * Take slot `idx` of generation `gen` for the calling thread, park until
 * released, serialise. Returns at once if the generation is not the
 * active one or the slot is not this thread's to take. Raw syscalls and
 * atomics only: this runs in a signal handler, and its wait must not enter
 * a libc page the patcher may be writing.
 */
static void hp_park_here(uint32_t gen, uint32_t idx, const ucontext_t *uc,
                         uintptr_t pc, uintptr_t sp, uintptr_t lr, int coop) {
  /* Counted before the generation check: see "Slot lifetime" above. */
  atomic_fetch_add_explicit(&hp_inflight, 1, memory_order_seq_cst);
  /* Acquire (seq_cst): pairs with the patcher's store of the generation,
   * which published hp_cur_slot, hp_cur_cap and the release word. */
  if (gen == 0 || LD(&hp_active_gen, seq_cst) != gen) {
    atomic_fetch_sub_explicit(&hp_inflight, 1, memory_order_release);
    return;
  }
  struct hp_slot *slots = LD(&hp_cur_slot, relaxed);
  struct hp_slot *s = idx < LD(&hp_cur_cap, relaxed) ? &slots[idx] : NULL;
  pid_t tid = (pid_t)hp_sys_gettid();
  /* Acquire: the patcher wrote tid before its release store of
   * SIGNALLED. The CAS makes a duplicate (a resent signal handled while
   * hotpatch_safepoint parks, say) back off. */
  if (!s || SLD(s) != HP_SLOT_SIGNALLED || s->tid != tid ||
      !hp_state_cas(s, HP_SLOT_SIGNALLED, HP_SLOT_CLAIMED)) {
    atomic_fetch_sub_explicit(&hp_inflight, 1, memory_order_release);
    return;
  }
  s->uc = uc;
  s->pc = pc;
  s->sp = sp;
  s->lr = lr;
  s->cooperative = coop;
  s->on_altstack = hp_on_altstack();
  /* Release: the patcher's acquire load of PARKED sees every field. */
  SST(s, HP_SLOT_PARKED);
  atomic_fetch_add_explicit(&hp_n_parked, 1, memory_order_relaxed);
  /* The slot is no longer touched: hp_park_finish may free it. */
  atomic_fetch_sub_explicit(&hp_inflight, 1, memory_order_release);
  atomic_fetch_add_explicit(&hp_acks, 1, memory_order_release);
  hp_futex_wake(&hp_acks, 1);
  /* Acquire: pairs with hp_park_release's release store, after which the
   * patcher's code writes are visible to this thread's loads. The signal
   * is not authoritative, the word is: loop over spurious wakeups and
   * EINTR (another signal cannot interrupt: the handler blocks them). */
  while (LD(&hp_release, acquire) == gen)
    hp_futex_wait(&hp_release, gen, 0);
  /* Returning from a handler does not serialise the instruction stream
   * (pitfalls §3.2): fetch the new code from here on. */
  hp_arch_serialise();
  hp_serialised_self++;
  atomic_fetch_add_explicit(&hp_n_serialised, 1, memory_order_relaxed);
}

static void hp_park_handler(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  /* Raw syscalls never write errno; kept anyway for the contract. */
  int saved = errno;
  const ucontext_t *uc = ucv;
  /* Only our own queued signal carries a slot: anything else (kill(1) of
   * this number from outside) is ignored. */
  if (si->si_code == SI_QUEUE && si->si_pid == LD(&hp_stop_pid, relaxed)) {
    uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    hp_park_here((uint32_t)v, (uint32_t)(v >> 32), uc, hp_arch_ctx_pc(uc),
                 hp_arch_ctx_sp(uc), hp_arch_ctx_lr(uc), 0);
  }
  errno = saved;
}

/*
 * The cooperative registry: a fixed array of tids, claimed by CAS. The
 * patcher writes a thread's assignment (generation << 32 | slot) into its
 * entry instead of signalling it; the thread reads it in
 * hotpatch_safepoint(). Unregistering and assigning race; both sides
 * store then load seq_cst (Dekker): the patcher stores the assignment and
 * reloads the tid, the thread stores tid 0 and reloads the assignment, so
 * at least one sees the other: either the patcher signals the thread, or
 * the thread parks before it leaves (or both, and the slot's CAS keeps
 * one).
 */
struct hp_coop {
  atomic_int tid;
  atomic_ullong assign;
};

static struct hp_coop hp_coop[HP_COOP_MAX];
static atomic_uint hp_coop_hw; /* entries [0, hw) were ever used */
/* Read by hotpatch_safepoint(), which is async-signal-safe: initial-exec,
 * so that in a dlopen()ed libhotpatch.so the access is not a call to
 * __tls_get_addr, which may allocate the thread's block on first use
 * (malloc, in a handler). docs/safety.md: "Thread-local storage". */
static _Thread_local struct hp_coop *hp_coop_self
    __attribute__((tls_model("initial-exec")));
static pthread_key_t hp_coop_key;
static pthread_once_t hp_coop_once = PTHREAD_ONCE_INIT;

static struct hp_coop *hp_coop_find(pid_t tid) {
  unsigned hw = LD(&hp_coop_hw, acquire);
  for (unsigned i = 0; i < hw && i < HP_COOP_MAX; i++)
    if (LD(&hp_coop[i].tid, seq_cst) == tid)
      return &hp_coop[i];
  return NULL;
}

static uintptr_t hp_current_sp(void) {
  uintptr_t sp;
#if defined(__x86_64__)
  __asm__ __volatile__("mov %%rsp, %0" : "=r"(sp));
#else
  __asm__ __volatile__("mov %0, sp" : "=r"(sp));
#endif
  return sp;
}

/* Not inlined: its frame (and the saved return addresses above it) is
 * what the safe-point scan starts from. */
__attribute__((noinline)) static void hp_coop_park(struct hp_coop *e) {
  uint64_t a = LD(&e->assign, seq_cst);
  if (!a || (uint32_t)a != LD(&hp_active_gen, relaxed))
    return; /* none, or of a stop that is over (rechecked below) */
  uintptr_t lr = 0;
#if defined(__aarch64__)
  lr = (uintptr_t)__builtin_extract_return_addr(__builtin_return_address(0));
#endif
  /* No signal may arrive in the middle, as none can in the handler: the
   * park signal (the patcher signals a thread that unregisters meanwhile)
   * or a handler calling hotpatch_safepoint() would park on top of this
   * frame while it counts in hp_inflight, and hp_park_end would wait for
   * that count forever. Delivered after, they find the stop over. */
  uint64_t block = ~(1ull << (SIGSEGV - 1) | 1ull << (SIGBUS - 1) |
                     1ull << (SIGILL - 1) | 1ull << (SIGFPE - 1) |
                     1ull << (SIGTRAP - 1) | 1ull << (SIGABRT - 1)),
           old;
  hp_sys_rt_sigprocmask(SIG_BLOCK, &block, &old);
  hp_park_here((uint32_t)a, (uint32_t)(a >> 32), NULL, (uintptr_t)&hp_coop_park,
               hp_current_sp(), lr, 1);
  hp_sys_rt_sigprocmask(SIG_SETMASK, &old, NULL);
}

void hotpatch_safepoint(void) {
  /* The cost when nothing is pending: one relaxed load. */
  if (__builtin_expect(LD(&hp_active_gen, relaxed) == 0, 1))
    return;
  struct hp_coop *e = hp_coop_self;
  if (e)
    hp_coop_park(e);
}

static void hp_coop_leave(struct hp_coop *e) {
  /* Dekker with hp_scan's assignment: store, then load (both seq_cst). */
  ST(&e->tid, 0, seq_cst);
  hp_coop_park(e);
  /* The assignment stays: clearing it could erase one the patcher makes
   * for this thread if it registers again at once (a stale one is
   * harmless: hp_park_here checks the generation, the tid and the
   * state). */
  hp_coop_self = NULL;
}

static void hp_coop_exit(void *v) { hp_coop_leave(v); }

static void hp_coop_init(void) {
  (void)pthread_key_create(&hp_coop_key, hp_coop_exit);
}

int hotpatch_thread_cooperative(int on) {
  hp_clear_error();
  hp_fork_handlers_once();
  pthread_once(&hp_coop_once, hp_coop_init);
  struct hp_coop *e = hp_coop_self;
  if (!on) {
    if (e) {
      (void)pthread_setspecific(hp_coop_key, NULL);
      hp_coop_leave(e);
    }
    return 0;
  }
  if (e)
    return 0;
  int tid = (int)hp_sys_gettid();
  for (unsigned i = 0; i < HP_COOP_MAX; i++) {
    int zero = 0;
    if (LD(&hp_coop[i].tid, relaxed) != 0 ||
        !atomic_compare_exchange_strong(&hp_coop[i].tid, &zero, tid))
      continue;
    e = &hp_coop[i];
    unsigned hw = LD(&hp_coop_hw, relaxed);
    while (hw < i + 1 && !atomic_compare_exchange_weak(&hp_coop_hw, &hw, i + 1))
      ;
    hp_coop_self = e;
    /* The destructor unregisters a thread that exits registered, so a
     * recycled tid is not taken for a cooperative thread. */
    if (pthread_setspecific(hp_coop_key, e) != 0) {
      hp_coop_leave(e);
      return hp_fail(HOTPATCH_ENOMEM,
                     "hotpatch_thread_cooperative: no thread-specific slot");
    }
    return 0;
  }
  return hp_fail(HOTPATCH_ENOMEM,
                 "hotpatch_thread_cooperative: more than %d cooperative "
                 "threads",
                 HP_COOP_MAX);
}

/* ------------------------------------------------------------------------ */
/* fork()                                                                    */
/* ------------------------------------------------------------------------ */

static void hp_fork_prepare(void) {
  /* Order: registry, then near memory (an action holds the first while
   * it takes the second). */
  hp_registry_atfork_prepare();
  hp_near_atfork_prepare();
}

static void hp_fork_parent(void) {
  hp_near_atfork_parent();
  hp_registry_atfork_parent();
}

static void hp_fork_child(void) {
  hp_near_atfork_child();
  hp_registry_atfork_child();
  /* Only this thread exists here: no stop, nobody parked, nobody else
   * cooperative (its tid is new). */
  ST(&hp_active_gen, 0, relaxed);
  ST(&hp_release, 0, relaxed);
  ST(&hp_acks, 0, relaxed);
  ST(&hp_inflight, 0, relaxed);
  ST(&hp_stop_busy, 0, relaxed);
  ST(&hp_cur_slot, NULL, relaxed);
  ST(&hp_cur_cap, 0, relaxed);
  /* Registered again by the child's first prepare. */
  ST(&hp_sync_core_state, 0, relaxed);
  for (unsigned i = 0; i < HP_COOP_MAX; i++) {
    ST(&hp_coop[i].tid, 0, relaxed);
    ST(&hp_coop[i].assign, 0, relaxed);
  }
  if (hp_coop_self)
    ST(&hp_coop_self->tid, (int)hp_sys_gettid(), seq_cst);
}

static pthread_once_t hp_fork_once = PTHREAD_ONCE_INIT;

static void hp_fork_register(void) {
  if (pthread_atfork(hp_fork_prepare, hp_fork_parent, hp_fork_child) != 0)
    hp_warn("pthread_atfork failed: fork() during an action may deadlock "
            "the child");
}

void hp_fork_handlers_once(void) {
  pthread_once(&hp_fork_once, hp_fork_register);
}

/* ------------------------------------------------------------------------ */
/* Before the stop: the handler, the slots, the known threads                */
/* ------------------------------------------------------------------------ */

/* glibc's SIGRTMIN is a function: name the number for humans. */
static void hp_sig_name(int sig, char *out, size_t cap) {
  if (sig >= SIGRTMIN && sig <= SIGRTMAX)
    snprintf(out, cap, "signal %d (SIGRTMIN+%d)", sig, sig - SIGRTMIN);
  else
    snprintf(out, cap, "signal %d", sig);
}

static int hp_foreign_handler(int sig, const struct sigaction *old) {
  void *h = old->sa_flags & SA_SIGINFO ? (void *)old->sa_sigaction
                                       : (void *)old->sa_handler;
  if (h == (void *)hp_park_handler || old->sa_handler == SIG_DFL ||
      old->sa_handler == SIG_IGN)
    return 0;
  Dl_info di;
  const char *sym = "?", *obj = "?";
  if (dladdr(h, &di)) {
    sym = di.dli_sname ? di.dli_sname : "?";
    obj = di.dli_fname ? di.dli_fname : "?";
  }
  char name[48];
  hp_sig_name(sig, name, sizeof name);
  return hp_fail(HOTPATCH_EBUSY,
                 "%s, the park signal, already has a handler: %p (%s in %s); "
                 "choose another with HOTPATCH_SIGNAL=N or "
                 "hotpatch_init(park_signal)",
                 name, h, sym, obj);
}

/*
 * Our handler on `sig`: every signal blocked while it runs except the
 * synchronous ones (a fault in it must still kill), no SA_ONSTACK
 * (alternate stacks are small; a thread already on one stays there).
 */
static int hp_install(int sig) {
  struct sigaction old, sa;
  if (sigaction(sig, NULL, &old) != 0)
    return hp_fail(HOTPATCH_EINVAL, "park signal %d: sigaction: %s", sig,
                   strerror(errno));
  int rc = hp_foreign_handler(sig, &old);
  if (rc)
    return rc;
  if ((old.sa_flags & SA_SIGINFO) && old.sa_sigaction == hp_park_handler)
    return 0;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = hp_park_handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&sa.sa_mask);
  static const int sync_sigs[] = {SIGSEGV, SIGBUS,  SIGILL,
                                  SIGFPE,  SIGTRAP, SIGABRT};
  for (size_t i = 0; i < sizeof sync_sigs / sizeof *sync_sigs; i++)
    sigdelset(&sa.sa_mask, sync_sigs[i]);
  if (sigaction(sig, &sa, &old) != 0)
    return hp_fail(HOTPATCH_EINVAL, "park signal %d: sigaction: %s", sig,
                   strerror(errno));
  /* Someone installed theirs between the two calls: give it back. */
  if ((rc = hp_foreign_handler(sig, &old))) {
    sigaction(sig, &old, NULL);
    return rc;
  }
  return 0;
}

/* Under qemu-user /proc/self/exe names the guest program and the task
 * entries name qemu itself. The caller's own entry: the main thread's is
 * unreadable once it has called pthread_exit(). */
static int hp_detect_emulation(void) {
  char a[PATH_MAX], b[PATH_MAX], path[64];
  ssize_t na = readlink("/proc/self/exe", a, sizeof a - 1);
  snprintf(path, sizeof path, "/proc/self/task/%d/exe", (int)hp_sys_gettid());
  ssize_t nb = readlink(path, b, sizeof b - 1);
  if (na <= 0 || nb <= 0)
    return 0;
  return na != nb || memcmp(a, b, (size_t)na) != 0;
}

int hp_park_emulated(void) {
  static atomic_int emulated = -1; /* a race computes it twice: harmless */
  int e = LD(&emulated, relaxed);
  if (e < 0)
    ST(&emulated, e = hp_detect_emulation(), relaxed);
  return e;
}

/* Decimal tid into `out` (no snprintf: used while parked). */
static size_t hp_utoa(unsigned v, char *out) {
  char tmp[12];
  size_t n = 0, i = 0;
  do
    tmp[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n)
    out[i++] = tmp[--n];
  out[i] = 0;
  return i;
}

/* Read `<tid>/<what>` under the task directory with raw syscalls. */
static long hp_task_read(int task_fd, pid_t tid, const char *what, char *buf,
                         size_t cap) {
  char path[48];
  size_t n = hp_utoa((unsigned)tid, path);
  path[n++] = '/';
  size_t w = strlen(what);
  if (n + w + 1 > sizeof path)
    return -ENAMETOOLONG;
  memcpy(path + n, what, w + 1);
  long fd = hp_sys_openat(task_fd, path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return fd;
  long got = 0, r;
  while ((size_t)got < cap - 1 &&
         (r = hp_sys_read((int)fd, buf + got, cap - 1 - (size_t)got)) > 0)
    got += r;
  hp_sys_close((int)fd);
  buf[got] = 0;
  return got;
}

static void hp_read_comm(int task_fd, pid_t tid, char name[16]) {
  char buf[32];
  long n = hp_task_read(task_fd, tid, "comm", buf, sizeof buf);
  if (n < 0)
    n = 0;
  while (n > 0 && buf[n - 1] == '\n')
    n--;
  if (n > 15)
    n = 15;
  memcpy(name, buf, (size_t)n);
  name[n] = 0;
}

#define HP_PF_IO_WORKER 0x10u /* include/linux/sched.h */

enum { HP_TASK_RUNS = 0, HP_TASK_IO_WORKER, HP_TASK_DEAD };

/*
 * A stat line, "pid (comm) S ppid pgrp ...": comm may hold anything, ')'
 * included, so fields count from the last ')'. hp_stat_state: field 3
 * (the state letter), or NULL; hp_stat_skip: the start of the field `k`
 * fields after `f`, or NULL; hp_stat_num: the decimal number at f into
 * *v, 0 if there is none (and *v untouched). Raw memory only: also used
 * while threads are parked.
 */
static const char *hp_stat_state(const char *buf, const char *end) {
  const char *f = NULL;
  for (const char *c = buf; c < end; c++)
    if (*c == ')')
      f = c;
  return f && f + 2 < end ? f + 2 : NULL;
}

static const char *hp_stat_skip(const char *f, const char *end, int k) {
  for (; f && f < end && k > 0; f++)
    if (*f == ' ')
      k--;
  return f && f < end && k == 0 ? f : NULL;
}

static int hp_stat_num(const char *f, const char *end, unsigned long *v) {
  if (!f || f >= end || *f < '0' || *f > '9')
    return 0;
  unsigned long x = 0;
  for (; f < end && *f >= '0' && *f <= '9'; f++)
    x = x * 10 + (unsigned long)(*f - '0');
  *v = x;
  return 1;
}

/*
 * What `<tid>/stat` says about a thread (raw syscalls: also used during
 * the stop). io_uring workers (PF_IO_WORKER in the flags, field 9) are
 * kernel threads in our group that never run user code: never signalled,
 * never waited for. Their comm ("iou-wrk-N") is not the test: any user
 * thread may call itself that. A zombie or dead task (state Z or X, field
 * 3) is a thread that exited, or the group leader after its
 * pthread_exit(): the kernel still lists it and accepts signals for it,
 * but nothing will ever run there to acknowledge. ENOENT or ESRCH: the
 * thread is gone; any other failure proves nothing, so it counts as
 * running (it is signalled and waited for: the safe side).
 */
static int hp_task_kind(int task_fd, pid_t tid) {
  char buf[512];
  long n = hp_task_read(task_fd, tid, "stat", buf, sizeof buf);
  if (n == -ENOENT || n == -ESRCH)
    return HP_TASK_DEAD;
  if (n <= 0)
    return HP_TASK_RUNS; /* EMFILE, say: no proof it is gone, wait for it */
  const char *end = buf + n, *f = hp_stat_state(buf, end);
  if (!f)
    return HP_TASK_RUNS; /* unparsable: signal it, as before */
  if (*f == 'Z' || *f == 'X' || *f == 'x')
    return HP_TASK_DEAD;
  /* Fields 4 to 8 (ppid pgrp session tty_nr tpgid), then the flags. */
  unsigned long flags = 0;
  hp_stat_num(hp_stat_skip(f, end, 6), end, &flags);
  return flags & HP_PF_IO_WORKER ? HP_TASK_IO_WORKER : HP_TASK_RUNS;
}

/*
 * Under qemu-user the emulator's own threads (its RCU thread) are in
 * /proc/self/task; they block every host signal forever and would never
 * acknowledge. Guest threads' masks are emulated: their host mask is
 * empty but for moments when qemu blocks everything (creating a thread,
 * emulating sigprocmask, forking). qemu's own threads block everything
 * except the synchronous SIGSEGV, SIGFPE and SIGILL (qemu_thread_create);
 * right after fork() the child's new RCU thread blocks everything for a
 * few milliseconds first. So: a thread whose host mask has that pattern
 * at three readings is the emulator's; one that stops blocking the
 * real-time signals is a guest's; undecided after 100 ms, a guest's (the
 * stop then waits for it and fails: the safe side).
 */
static int hp_is_emulator_thread(int task_fd, pid_t tid) {
  unsigned long long rt = ~0ull << (SIGRTMIN - 1);
  unsigned long long sync =
      1ull << (SIGSEGV - 1) | 1ull << (SIGFPE - 1) | 1ull << (SIGILL - 1);
  int seen = 0;
  for (int i = 0; i < 100; i++) {
    char buf[2048];
    if (hp_task_read(task_fd, tid, "status", buf, sizeof buf) < 0)
      return 0;
    const char *l = strstr(buf, "\nSigBlk:");
    if (!l)
      return 0;
    unsigned long long m = strtoull(l + 8, NULL, 16);
    if ((m & rt) != rt)
      return 0;
    if (!(m & sync) && ++seen == 3)
      return 1;
    usleep(1000);
  }
  return 0;
}

static struct hp_park_tid *hp_tid_slot(struct hp_park *p, pid_t tid,
                                       int insert) {
  size_t mask = p->tids_cap - 1;
  for (size_t i = ((size_t)tid * 2654435761u) & mask, k = 0; k < p->tids_cap;
       i = (i + 1) & mask, k++) {
    struct hp_park_tid *e = &p->tids[i];
    if (e->tid == tid)
      return e;
    if (e->tid == 0) {
      /* Keep one in four free: probes stay short and always end. */
      if (!insert || (p->tids_n + 1) * 4 > p->tids_cap * 3)
        return NULL;
      e->tid = tid;
      e->slot = HP_TID_NONE;
      e->name[0] = 0;
      p->tids_n++;
      return e;
    }
  }
  return NULL;
}

/* A tid whose slot went GONE for good (a zombie, an io_uring worker): the
 * next scan must not take it for a new thread that reused the tid. */
static void hp_tid_forget(struct hp_park *p, pid_t tid) {
  struct hp_park_tid *e = hp_tid_slot(p, tid, 0);
  if (e)
    e->slot = HP_TID_SKIP;
}

struct hp_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static pid_t hp_dirent_tid(const struct hp_dirent64 *d) {
  long v = 0;
  const char *s = d->d_name;
  if (!*s)
    return 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9' || v > INT_MAX / 10)
      return 0;
    v = v * 10 + (*s - '0');
  }
  return (pid_t)v;
}

/* Calls fn(p, tid) for each entry; raw syscalls only. <0: -errno. */
static long hp_task_each(struct hp_park *p,
                         int (*fn)(struct hp_park *, pid_t, void *),
                         void *arg) {
  long r = hp_sys_lseek(p->task_fd, 0, SEEK_SET);
  if (r < 0)
    return r;
  while ((r = hp_sys_getdents64(p->task_fd, p->dents, p->dents_cap)) > 0) {
    for (long off = 0; off < r;) {
      const struct hp_dirent64 *d = (const void *)(p->dents + off);
      off += d->d_reclen;
      pid_t tid = hp_dirent_tid(d);
      if (tid > 0) {
        int rc = fn(p, tid, arg);
        if (rc)
          return rc;
      }
    }
  }
  return r;
}

static int hp_prepare_known(struct hp_park *p, pid_t tid, void *self) {
  if (tid == *(pid_t *)self)
    return 0;
  struct hp_park_tid *e = hp_tid_slot(p, tid, 1);
  if (!e)
    return 0; /* the stop will meet it as new */
  hp_read_comm(p->task_fd, tid, e->name);
  /* A dead task stays dead (a zombie leader stays listed): never again
   * in this prepare. */
  if (hp_task_kind(p->task_fd, tid) != HP_TASK_RUNS ||
      (p->emulated && hp_is_emulator_thread(p->task_fd, tid)))
    e->slot = HP_TID_SKIP;
  return 0;
}

static int hp_count(struct hp_park *p, pid_t tid, void *n) {
  (void)p;
  (void)tid;
  ++*(size_t *)n;
  return 0;
}

/*
 * membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE) after the code
 * writes makes every thread of the process that runs at that moment
 * execute a core-serialising instruction, and the others before they
 * next return to user space (Linux >= 4.16, x86_64 and arm64). It is an
 * extra: parked threads serialise themselves (hp_arch_serialise). The
 * process must register first; done once here, before any stop. Under
 * the action lock: no race on the state.
 */
static void hp_sync_core_register(void) {
  if (LD(&hp_sync_core_state, relaxed))
    return;
  long q = hp_syscall3(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
  long r = -EOPNOTSUPP;
  if (q >= 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE))
    r = hp_syscall3(SYS_membarrier,
                    MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0);
  ST(&hp_sync_core_state, r == 0 ? 1 : -1, relaxed);
  if (r == 0)
    hp_debug("membarrier SYNC_CORE registered: issued after each code "
             "switch, besides each parked thread's own serialisation");
  else
    hp_debug("membarrier SYNC_CORE not available (%s): parked threads "
             "serialise themselves only",
             q < 0              ? strerror((int)-q)
             : r == -EOPNOTSUPP ? "not supported"
                                : strerror((int)-r));
}

int hp_park_sync_core_available(void) {
  return LD(&hp_sync_core_state, relaxed) == 1;
}

void hp_park_counters(struct hp_park_counters *c) {
  c->stops = atomic_load_explicit(&hp_n_stops, memory_order_relaxed);
  c->parked = atomic_load_explicit(&hp_n_parked, memory_order_relaxed);
  c->serialised = atomic_load_explicit(&hp_n_serialised, memory_order_relaxed);
  c->sync_core = atomic_load_explicit(&hp_n_sync_core, memory_order_relaxed);
}

unsigned long hp_park_serialised_self(void) { return hp_serialised_self; }

int hp_park_prepare(struct hp_park *p) {
  memset(p, 0, sizeof *p);
  p->task_fd = -1;
  p->stat_fd = -1;
  hp_fork_handlers_once();
  hp_sync_core_register();
  p->emulated = hp_park_emulated();
  p->sig = hp_config().park_signal;
  int rc = hp_install(p->sig);
  if (rc)
    return rc;
  p->task_fd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (p->task_fd < 0)
    return hp_fail(HOTPATCH_EIO, "park: open /proc/self/task: %s",
                   strerror(errno));
  /* Relative to the task directory, not "/proc/self/stat": qemu-user
   * fakes that path (its thread count is the guest's), while the task
   * list it passes through is the host's. */
  p->stat_fd = (int)hp_sys_openat(p->task_fd, "../stat", O_RDONLY | O_CLOEXEC);
  if (p->stat_fd < 0) {
    int e = -p->stat_fd;
    hp_park_finish(p);
    return hp_fail(HOTPATCH_EIO, "park: open /proc/self/stat: %s", strerror(e));
  }
  p->dents_cap = HP_DENTS_CAP;
  p->dents = malloc(p->dents_cap);
  size_t tasks = 0;
  long r = p->dents ? hp_task_each(p, hp_count, &tasks) : -ENOMEM;
  if (r < 0) {
    hp_park_finish(p);
    return r == -ENOMEM
               ? hp_fail(HOTPATCH_ENOMEM, "park: buffers")
               : hp_fail(HOTPATCH_EIO, "park: reading /proc/self/task: %s",
                         strerror((int)-r));
  }
  /* Generous: a stop cannot allocate, and threads may appear meanwhile. */
  p->cap = tasks * 2 + 64;
  p->tids_cap = 64;
  while (p->tids_cap < p->cap * 4)
    p->tids_cap *= 2;
  p->slot = calloc(p->cap, sizeof *p->slot);
  p->tids = calloc(p->tids_cap, sizeof *p->tids);
  if (!p->slot || !p->tids) {
    hp_park_finish(p);
    return hp_fail(HOTPATCH_ENOMEM, "park: %zu thread slots", p->cap);
  }
  p->uid = getuid();
  pid_t self = (pid_t)hp_sys_gettid();
  hp_task_each(p, hp_prepare_known, &self);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The stop (raw syscalls, no allocation, no lock)                           */
/* ------------------------------------------------------------------------ */

struct hp_scan {
  pid_t self;
  int added;
  int overflow;
  uint32_t pass; /* this pass's stamp (hp_park_tid.pass) */
  size_t listed; /* entries this pass listed */
};

static void hp_send(struct hp_park *p, struct hp_slot *s, size_t idx) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = p->sig;
  si.si_code = SI_QUEUE;
  si.si_pid = LD(&hp_stop_pid, relaxed);
  si.si_uid = p->uid;
  si.si_value.sival_ptr = (void *)(uintptr_t)((uint64_t)idx << 32 | p->gen);
  long r = hp_sys_rt_tgsigqueueinfo(si.si_pid, s->tid, p->sig, &si);
  if (r == -ESRCH) {
    hp_state_cas(s, HP_SLOT_SIGNALLED, HP_SLOT_GONE);
    return;
  }
  /* EAGAIN (the queue of pending signals is full): sent again on the next
   * wakeup. Any other error: retried like a lost signal. */
  s->sent_ns = r == -EAGAIN ? 0 : hp_now_ns() | 1;
}

static int hp_scan_one(struct hp_park *p, pid_t tid, void *arg) {
  struct hp_scan *sc = arg;
  sc->listed++;
  if (tid == sc->self)
    return 0;
  struct hp_park_tid *e = hp_tid_slot(p, tid, 0);
  if (e && e->slot == HP_TID_SKIP) {
    e->pass = sc->pass;
    return 0;
  }
  /* Known in this stop, unless it left and the tid came back. */
  if (e && e->slot >= 0 && SLD(&p->slot[e->slot]) != HP_SLOT_GONE)
    return 0;
  /* New, or a recycled tid: its comm is read now (raw syscalls). Threads
   * prepare saw keep the comm it read. */
  if (!e || e->slot >= 0) {
    if (!e && !(e = hp_tid_slot(p, tid, 1))) {
      sc->overflow = 1;
      return 1;
    }
    hp_read_comm(p->task_fd, tid, e->name);
    if (hp_task_kind(p->task_fd, tid) != HP_TASK_RUNS) {
      e->slot = HP_TID_SKIP;
      e->pass = sc->pass;
      return 0;
    }
  }
  if (p->n == p->cap) {
    sc->overflow = 1;
    return 1;
  }
  size_t idx = p->n++;
  struct hp_slot *s = &p->slot[idx];
  memset(s, 0, sizeof *s);
  s->tid = tid;
  memcpy(s->name, e->name, sizeof s->name);
  e->slot = (int32_t)idx;
  sc->added++;
  struct hp_coop *c = hp_coop_find(tid);
  s->coop_expected = c != NULL;
  /* Release: a parker that reads SIGNALLED sees tid (and the rest). */
  SST(s, HP_SLOT_SIGNALLED);
  if (c) {
    /* Dekker with hp_coop_leave: store the assignment, reload the tid. */
    ST(&c->assign, (uint64_t)idx << 32 | p->gen, seq_cst);
    if (LD(&c->tid, seq_cst) == tid)
      return 0;
    s->coop_expected = 0;
  }
  hp_send(p, s, idx);
  return 0;
}

/*
 * Whether a pass that found nobody new listed every thread. It may not
 * have: the kernel's walk of /proc/self/task ends early when the entry it
 * just returned exits (next_tid() sees it unhashed), and a later getdents
 * call resumes by position in a list that has shifted, so a live thread
 * can be left out of a whole pass; seen under qemu, where a creator
 * signalled but not yet parked made a thread just after a dying one.
 * The proof: the thread count the kernel keeps (signal->nr_threads, which
 * changes together with the list), read after the listing, equals the
 * number of listed threads still alive after that read. Parked threads
 * and this one cannot exit; skipped ones (the emulator's, io_uring
 * workers, a zombie leader: all counted by the kernel) are checked with
 * tgkill(0). Alive after the read means alive at it, so the threads that
 * existed then include the listed ones, and as many: nobody else. A
 * thread missed but gone by then no longer runs. 1 settled, 0 not,
 * -errno.
 */
static long hp_settled(struct hp_park *p, const struct hp_scan *sc) {
  char buf[1024];
  long n = hp_sys_pread64(p->stat_fd, buf, sizeof buf, 0);
  if (n < 0)
    return n;
  /* Fields 4 to 19 after the state, then num_threads (field 20). */
  unsigned long count;
  if (!hp_stat_num(hp_stat_skip(hp_stat_state(buf, buf + n), buf + n, 17),
                   buf + n, &count))
    return -EPROTO;
  count += (unsigned long)hp_park_test_count_bias;
  pid_t pid = LD(&hp_stop_pid, relaxed);
  size_t alive = sc->listed;
  for (size_t i = 0; i < p->tids_cap; i++) {
    const struct hp_park_tid *e = &p->tids[i];
    if (e->tid && e->slot == HP_TID_SKIP && e->pass == sc->pass &&
        hp_sys_tgkill(pid, e->tid, 0) != 0)
      alive--;
  }
  p->last_listed = alive;
  p->last_counted = (size_t)count;
  return (size_t)count == alive;
}

/* Wait until every slot is PARKED or GONE, resending lost signals and
 * dropping threads that exited. 0, or HOTPATCH_EBUSY at the deadline. */
static int hp_wait_acks(struct hp_park *p, uint64_t deadline_ns) {
  pid_t pid = LD(&hp_stop_pid, relaxed);
  uint64_t last_probe = hp_now_ns();
  for (;;) {
    /* Read before the slots: an ack after this changes it, and the
     * futex wait below then returns at once. */
    uint32_t acks = LD(&hp_acks, acquire);
    uint64_t now = hp_now_ns();
    int probe = now - last_probe >= HP_PROBE_NS;
    if (probe)
      last_probe = now;
    size_t pending = 0;
    for (size_t i = 0; i < p->n; i++) {
      struct hp_slot *s = &p->slot[i];
      uint32_t st = SLD(s);
      if (st == HP_SLOT_PARKED || st == HP_SLOT_GONE)
        continue;
      /* Exited, or a zombie (tgkill still succeeds on a zombie group
       * leader, which never acknowledges): gone, and not listed again. */
      if (st == HP_SLOT_SIGNALLED && probe &&
          (hp_sys_tgkill(pid, s->tid, 0) == -ESRCH ||
           hp_task_kind(p->task_fd, s->tid) == HP_TASK_DEAD) &&
          hp_state_cas(s, HP_SLOT_SIGNALLED, HP_SLOT_GONE)) {
        hp_tid_forget(p, s->tid);
        continue;
      }
      pending++;
      if (st != HP_SLOT_SIGNALLED || s->coop_expected)
        continue;
      if (s->sent_ns == 0) {
        hp_send(p, s, i);
      } else if (now - s->sent_ns >= HP_RESEND_NS) {
        /* Its tid may now belong to an io_uring worker. */
        if (hp_task_kind(p->task_fd, s->tid) == HP_TASK_IO_WORKER &&
            hp_state_cas(s, HP_SLOT_SIGNALLED, HP_SLOT_GONE)) {
          hp_tid_forget(p, s->tid);
          continue;
        }
        p->retries_signal++;
        hp_send(p, s, i);
      }
    }
    if (!pending)
      return 0;
    if (now >= deadline_ns)
      return HOTPATCH_EBUSY;
    uint64_t wait = deadline_ns - now;
    hp_futex_wait(&hp_acks, acks, wait < HP_PROBE_NS ? wait : HP_PROBE_NS);
  }
}

/* End the stop: no parker touches a slot after this returns; everyone
 * parked is woken. */
static void hp_park_end(struct hp_park *p) {
  /* seq_cst, then wait for hp_inflight == 0: see "Slot lifetime". */
  ST(&hp_active_gen, 0, seq_cst);
  for (unsigned spins = 0; LD(&hp_inflight, seq_cst) != 0; spins++) {
    if (spins < 100)
      hp_sys_sched_yield();
    else
      hp_futex_wait(&hp_inflight, LD(&hp_inflight, relaxed), HP_MS);
  }
  /* Release: the code written while they were parked happens before
   * their acquire load of the word. The pause ends here, the moment they
   * may run: waking them all takes a while, and the first ones run
   * before FUTEX_WAKE returns. */
  p->t_release_ns = hp_now_ns();
  ST(&hp_release, 0, release);
  hp_futex_wake(&hp_release, INT_MAX);
  p->stopped = 0;
  ST(&hp_cur_slot, NULL, relaxed);
  ST(&hp_cur_cap, 0, relaxed);
  ST(&hp_stop_busy, 0, release);
}

static size_t hp_stragglers(const struct hp_park *p) {
  size_t k = 0;
  for (size_t i = 0; i < p->n; i++) {
    uint32_t st = SLD(&p->slot[i]);
    k += st == HP_SLOT_SIGNALLED || st == HP_SLOT_CLAIMED;
  }
  return k;
}

int hp_park_stop(struct hp_park *p, uint64_t deadline_ns) {
  if (!p->slot || p->task_fd < 0)
    return hp_fail(HOTPATCH_EINVAL, "park: stop without prepare");
  if (hp_park_test_before_stop)
    hp_park_test_before_stop();
  int idle = 0;
  if (!atomic_compare_exchange_strong(&hp_stop_busy, &idle, 1)) {
    p->n = 0;
    p->overflow = 0;
    p->why = "another stop is in progress";
    return hp_fail(HOTPATCH_EBUSY, "park: another stop is in progress");
  }
  p->n = 0;
  p->retries_signal = 0;
  p->rescans = 0;
  p->why = NULL;
  p->overflow = 0;
  p->sync_core = 0;
  atomic_fetch_add_explicit(&hp_n_stops, 1, memory_order_relaxed);
  p->t_release_ns = 0;
  for (size_t i = 0; i < p->tids_cap; i++)
    if (p->tids[i].slot >= 0)
      p->tids[i].slot = HP_TID_NONE;
  if (++hp_gen_counter == 0)
    hp_gen_counter = 1;
  p->gen = hp_gen_counter;
  ST(&hp_stop_pid, (int)hp_sys_getpid(), relaxed);
  ST(&hp_release, p->gen, relaxed);
  ST(&hp_acks, 0, relaxed);
  ST(&hp_cur_slot, p->slot, relaxed);
  ST(&hp_cur_cap, p->cap, relaxed);
  /* seq_cst (a release): publishes everything above to the parkers. */
  ST(&hp_active_gen, p->gen, seq_cst);
  p->stopped = 1;
  p->t_stop_ns = hp_now_ns();

  struct hp_scan sc = {(pid_t)hp_sys_gettid(), 0, 0, 0, 0};
  int rc = 0;
  long err = 0;
  /* Park what is listed, then list again: done when every listed thread
   * is parked or gone and a full pass finds nobody new (threads appear
   * only from threads that are not parked yet). */
  for (int pass = 0;; pass++) {
    sc.added = 0;
    sc.listed = 0;
    if (++p->pass_seq == 0)
      p->pass_seq = 1;
    sc.pass = p->pass_seq;
    err = hp_task_each(p, hp_scan_one, &sc);
    if (sc.overflow || err < 0)
      break;
    if (!sc.added) {
      /* Nobody new: done if the kernel's count agrees (hp_settled). */
      long settled = hp_settled(p, &sc);
      if (settled < 0) {
        err = settled;
        break;
      }
      if (settled)
        break;
      p->rescans++;
      if (hp_now_ns() >= deadline_ns) {
        p->why = "the thread list did not settle: /proc/self/task and "
                 "the kernel's thread count kept disagreeing";
        rc = HOTPATCH_EBUSY;
        break;
      }
      /* A missed thread is listed by the next pass; one that keeps the
       * count off (it does not happen) must not cost a CPU meanwhile. */
      if (p->rescans < 8) {
        hp_sys_sched_yield();
      } else {
        uint64_t left = deadline_ns - hp_now_ns();
        struct timespec ts = {0, (long)(left < HP_MS ? left : HP_MS)};
        hp_sys_nanosleep(&ts);
      }
      continue;
    }
    /* New threads at every rescan (each parks at once): the deadline
     * still holds. The first pass finds everyone: if the deadline passes
     * meanwhile, the wait below says who did not stop. */
    if (pass > 0 && hp_now_ns() >= deadline_ns) {
      p->why = "threads kept appearing until the deadline";
      rc = HOTPATCH_EBUSY;
      break;
    }
    if ((rc = hp_wait_acks(p, deadline_ns)))
      break;
  }
  if (!sc.overflow && err >= 0 && !rc)
    return 0;

  /* Everyone runs again before anything is formatted. */
  hp_park_end(p);
  if (sc.overflow) {
    p->overflow = 1;
    p->why = "threads keep appearing: more than the slots prepared";
    return hp_fail(HOTPATCH_EBUSY,
                   "park: threads keep appearing (more than %zu slots, "
                   "prepared for %zu threads); prepare again",
                   p->cap, (p->cap - 64) / 2);
  }
  if (err < 0) {
    p->why = "reading /proc/self/task or /proc/self/stat failed";
    return hp_fail(HOTPATCH_EIO, "park: reading /proc/self/task or stat: %s",
                   strerror((int)-err));
  }
  if (!hp_stragglers(p) && p->rescans)
    return hp_fail(HOTPATCH_EBUSY,
                   "park: %s (%zu threads listed and alive, %zu counted; "
                   "%d rescans)",
                   p->why, p->last_listed, p->last_counted, p->rescans);
  char buf[HP_ERROR_MAX - 128];
  hp_park_describe_stragglers(p, buf, sizeof buf);
  return hp_fail(HOTPATCH_EBUSY,
                 "park: %zu of %zu threads did not stop before the deadline: "
                 "%s",
                 hp_stragglers(p), p->n, buf);
}

void hp_park_sync_core(struct hp_park *p) {
  if (!p->stopped || LD(&hp_sync_core_state, relaxed) != 1 ||
      hp_park_test_no_sync_core)
    return;
  long r = hp_syscall3(SYS_membarrier,
                       MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0);
  p->sync_core = r < 0 ? (int)r : 1;
  if (r == 0)
    atomic_fetch_add_explicit(&hp_n_sync_core, 1, memory_order_relaxed);
}

void hp_park_release(struct hp_park *p) {
  if (p->stopped)
    hp_park_end(p);
}

void hp_park_finish(struct hp_park *p) {
  if (p->stopped)
    hp_park_end(p);
  if (p->task_fd >= 0)
    close(p->task_fd);
  if (p->stat_fd >= 0)
    close(p->stat_fd);
  free(p->slot);
  free(p->tids);
  free(p->dents);
  memset(p, 0, sizeof *p);
  p->task_fd = -1;
  p->stat_fd = -1;
}

/* ------------------------------------------------------------------------ */
/* After a failed stop                                                       */
/* ------------------------------------------------------------------------ */

static void hp_appendf(char *out, size_t cap, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void hp_appendf(char *out, size_t cap, size_t *len, const char *fmt,
                       ...) {
  if (*len >= cap)
    return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(out + *len, cap - *len, fmt, ap);
  va_end(ap);
  if (n > 0)
    *len = *len + (size_t)n < cap ? *len + (size_t)n : cap - 1;
}

/* Room kept for the "; and N more" that ends a list cut short. */
#define HP_REPORT_TAIL 24

void hp_report_add(struct hp_report *r, const char *fmt, ...) {
  char item[320];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(item, sizeof item, fmt, ap);
  va_end(ap);
  size_t sep = r->len ? 2 : 0;
  if (n < 0 || r->more || r->len + sep + (size_t)n + HP_REPORT_TAIL >= r->cap) {
    r->more++;
    return;
  }
  hp_appendf(r->out, r->cap, &r->len, "%s%s", sep ? "; " : "", item);
}

void hp_report_end(struct hp_report *r) {
  if (r->more)
    hp_appendf(r->out, r->cap, &r->len, "%sand %zu more", r->len ? "; " : "",
               r->more);
}

/* "State:\tS (sleeping)" -> "S (sleeping)". */
static void hp_status_field(const char *status, const char *key, char *out,
                            size_t cap) {
  out[0] = 0;
  const char *l = status;
  size_t k = strlen(key);
  while (l && *l) {
    if (strncmp(l, key, k) == 0) {
      l += k;
      while (*l == ' ' || *l == '\t')
        l++;
      size_t n = strcspn(l, "\n");
      if (n >= cap)
        n = cap - 1;
      memcpy(out, l, n);
      out[n] = 0;
      return;
    }
    l = strchr(l, '\n');
    if (l)
      l++;
  }
}

void hp_park_describe_stragglers(const struct hp_park *p, char *out,
                                 size_t cap) {
  if (!cap)
    return;
  out[0] = 0;
  struct hp_report r = {out, cap, 0, 0};
  if (p->why)
    hp_report_add(&r, "%s", p->why);
  for (size_t i = 0; i < p->n; i++) {
    const struct hp_slot *s = &p->slot[i];
    uint32_t st = SLD(s);
    if (st != HP_SLOT_SIGNALLED && st != HP_SLOT_CLAIMED)
      continue;
    char name[16];
    if (p->task_fd >= 0)
      hp_read_comm(p->task_fd, s->tid, name);
    else
      name[0] = 0;
    if (!name[0])
      memcpy(name, s->name, sizeof name);
    if (s->coop_expected) {
      hp_report_add(&r,
                    "cooperative thread tid %d '%s' did not reach "
                    "hotpatch_safepoint()",
                    (int)s->tid, name);
      continue;
    }
    char status[4096], state[64], blk[32];
    long n = p->task_fd >= 0 ? hp_task_read(p->task_fd, s->tid, "status",
                                            status, sizeof status)
                             : -EBADF;
    if (n < 0) {
      hp_report_add(&r, "tid %d '%s' (exited)", (int)s->tid, name);
      continue;
    }
    hp_status_field(status, "State:", state, sizeof state);
    hp_status_field(status, "SigBlk:", blk, sizeof blk);
    unsigned long long m = strtoull(blk, NULL, 16);
    const char *mask = p->emulated ? "signal mask unknown under emulation"
                       : (m >> (p->sig - 1)) & 1 ? "blocks signal"
                                                 : "does not block signal";
    hp_report_add(&r, "tid %d '%s' (state %s, %s%s%d)", (int)s->tid, name,
                  state[0] ? state : "?", mask, p->emulated ? "; signal " : " ",
                  p->sig);
  }
  hp_report_end(&r);
  if (!r.len)
    hp_appendf(out, cap, &r.len, "no straggler");
}
