/* SPDX-License-Identifier: MIT */
/*
 * Is a parked thread at a safe point? (SPEC §4.2)
 *
 * A thread is unsafe when its PC, its LR (aarch64), or any return address
 * in the live part of its stack lies in a "hot" range: a function being
 * replaced (apply) or a replacement being removed (revert), the bytes being
 * overwritten, a trampoline about to be freed. Ranges flagged inner_only
 * (HOTPATCH_FUNC_ALLOW_ACTIVE) only catch addresses strictly inside the
 * overwritten bytes.
 *
 * How: a conservative scan, run by the patcher while the threads are
 * parked: every aligned word from the thread's SP to the top of its stack
 * (the mapping holding SP and the adjacent private read-write mappings
 * above it, read from /proc/self/maps with raw syscalls into a buffer
 * prepared beforehand), compared with the hot ranges (on aarch64 with the
 * pointer-authentication bits stripped). A word equal to a function's
 * entry is a function pointer, not a return address, and is ignored. It
 * has no false negatives for return addresses stored on the stack; false
 * positives (a stale code address in a live frame) make the action retry
 * and, at worst, fail with HOTPATCH_EBUSY naming the function. Any doubt
 * is unsafe: a thread on its alternate signal stack, a stack not found in
 * the maps, a stack larger than HP_SCAN_MAX.
 *
 * Then precise confirmation of each hit (unwind.h): for a thread parked
 * by the signal, libunwind's remote API walks its frames from the
 * interrupted context, in-process, with accessors that never call
 * dl_iterate_phdr or malloc and never read outside verified mappings.
 * A hit the walk covers that is no frame's return-address slot is stale:
 * the scan passes over it and goes on. Whatever the walk cannot vouch for
 * keeps the scan's verdict: a cooperative thread (no context), a frame
 * without unwind info (hand-written code, trampolines, JIT), an object
 * loaded or replaced since prepare, a PAC-signed return address (libunwind
 * before 1.7), a signal frame, a wrong-looking step, more than
 * HP_UNWIND_MAX_FRAMES frames, and anything above the last frame it
 * trusted. Libunwind is not used alone: the scan decides what is looked
 * at, so an unwinder that stops early cannot hide a frame.
 *
 * The PC is compared with the whole range, its entry included: a thread
 * stopped on the first instruction of a trampoline or of a replacement
 * being removed would run code about to go away. (For a function being
 * replaced the entry is safe in fact — the thread runs the new jump — but
 * a thread is stopped there rarely enough that a retry costs nothing.)
 * The entry rule applies to stack words and to LR, which a non-leaf
 * aarch64 function may reuse as a scratch register.
 *
 * False positives, each costing a retry (and EBUSY if it persists until
 * the deadline), when the walk cannot confirm them (above):
 *  - stale return addresses in a live frame: padding, uninitialised
 *    locals or spill slots that held one in an earlier, deeper call;
 *  - code addresses that are data: a label address (computed goto),
 *    a saved PC in a jmp_buf that is not mangled, an address inside a
 *    function passed around (not its entry). Once the walk covers them
 *    they are passed over — a resume address saved by getcontext() or
 *    swapcontext() in a live frame too: it is no return address, and the
 *    frames it would resume are on a stack no thread is on (NOT SEEN);
 *  - the TLS and thread control block above a thread's stack, and any
 *    private read-write mapping that happens to sit right above it (a
 *    large one can push the scan past HP_SCAN_MAX: unsafe on every try);
 *    the walk never covers those: they lie above the outermost frame;
 *  - on aarch64, any word whose low bits fall in a hot range once the
 *    pointer-authentication field is cleared.
 *
 * NOT SEEN (docs/safety.md, "What the stack check cannot see", says what
 * users must do) — return addresses that live in no stack reachable from
 * a parked thread's SP:
 *  - suspended coroutines, fibers and green threads whose stacks were
 *    switched away from (swapcontext, Boost.Context, QEMU coroutines,
 *    user-space schedulers): their frames are in memory no parked thread
 *    points at, and a patched function suspended there resumes in code
 *    that may be gone. Applications that use them must reach a state with
 *    no such frame in a hot function before patching it (or use
 *    HOTPATCH_FUNC_ALLOW_ACTIVE where the old code may keep running);
 *  - a return address held only in a register other than LR (hand-written
 *    assembly): only the PC and LR of the interrupted context are read;
 *  - a return address stored at an address that is not 8-byte aligned
 *    (only aligned words are read; compilers never store one so).
 *
 * /proc/self/maps is opened afresh by each check (raw openat): qemu-user
 * serves it from a snapshot taken when it is opened, so the descriptor
 * opened by prepare would not show thread stacks mapped since; that one is
 * read only when the open fails (EMFILE), and is current on Linux.
 */
#ifndef HP_SAFEPOINT_H
#define HP_SAFEPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "park.h"

#define HP_SCAN_MAX (64u << 20) /* bytes of stack scanned at most */

/* The *reason strings of hp_safepoint_check. */
#define HP_SP_NOT_PARKED "did not park"
#define HP_SP_ALTSTACK "on its alternate signal stack"
#define HP_SP_PC "PC in a hot range"
#define HP_SP_LR "LR in a hot range"
#define HP_SP_STACK "return address on its stack in a hot range"
#define HP_SP_UNMAPPED "stack not mapped"
#define HP_SP_TOO_LARGE "stack larger than HP_SCAN_MAX"
#define HP_SP_MAPS_BIG "maps larger than prepared"
#define HP_SP_MAPS_READ "cannot read /proc/self/maps"
#define HP_SP_MAPS_BAD "unparsable /proc/self/maps"

struct hp_hot {
  uintptr_t lo, hi; /* [lo, hi) */
  uintptr_t entry;  /* a word equal to this is a function pointer: skip;
                       0 for code about to be freed (a saved PC in a
                       signal frame, stopped on its first instruction,
                       looks like a pointer to it) */
  int inner_only;   /* ALLOW_ACTIVE: only (lo, hi) exclusive of lo counts */
  const char *what; /* for the report: "func 'foo' in libz.so.1" */
};

/* One parsed line of /proc/self/maps. */
struct hp_sp_map {
  uintptr_t start, end;
  uintptr_t offset; /* file offset of start */
  uint64_t dev;     /* major << 32 | minor */
  uint64_t inode;
  unsigned flags; /* HP_MAP_* */
};

enum {
  HP_MAP_R = 1,
  HP_MAP_W = 2,
  HP_MAP_PRIVATE = 4,
  HP_MAP_ANON = 8,  /* private, no file: "", [stack], [heap], [anon:...] */
  HP_MAP_VDSO = 16, /* [vdso] */
};

struct hp_unwind; /* unwind.h */

/* Unsafe threads recorded by a check, for the report (the rest are only
 * counted: the report says "and N more"). */
#define HP_SP_UNSAFE_MAX 32

struct hp_sp_unsafe {
  pid_t tid;
  char name[16];
  const struct hp_hot *why; /* NULL: doubt (see reason) */
  const char *reason;       /* HP_SP_* */
};

struct hp_safepoint {
  const struct hp_hot *hot;
  size_t nhot;
  char *maps_buf; /* prepared: raw /proc/self/maps text */
  size_t maps_cap;
  int maps_fd;            /* maps_path, opened by prepare */
  const char *maps_path;  /* /proc/self/maps; /proc/thread-self/maps when
                             the former is empty (a zombie group leader) */
  struct hp_sp_map *maps; /* prepared: the lines parsed by the last check */
  size_t maps_max, nmaps;
  uintptr_t hot_lo, hot_hi;   /* bounds of every hot range: a quick reject */
  uintptr_t libc_lo, libc_hi; /* the code mapping of libc's thread start */
  /* Filled by each check: the first HP_SP_UNSAFE_MAX unsafe slots, and
   * how many there were. */
  struct hp_sp_unsafe unsafe[HP_SP_UNSAFE_MAX];
  size_t nunsafe, nunsafe_all;
  struct hp_unwind *uw; /* precise confirmation; NULL: scan only */
  unsigned long stale;  /* hits the unwinder proved stale, all checks */
};

/* Before parking: buffers, fd. 0 or HOTPATCH_ENOMEM / HOTPATCH_EIO
 * (HOTPATCH_EINVAL for a NULL sp, or hot NULL with nhot). `hot` is kept,
 * not copied. After a failure, finish is harmless but not needed. */
int hp_safepoint_prepare(struct hp_safepoint *sp, const struct hp_hot *hot,
                         size_t nhot);

/*
 * While parked: check every parked slot. 0 if all are safe; else
 * HOTPATCH_EBUSY with *who = the first unsafe slot and *why = the hot
 * range (NULL for "doubt": altstack, unknown stack...) and *reason a static
 * string; every unsafe slot is recorded in sp->unsafe (the first
 * HP_SP_UNSAFE_MAX; sp->nunsafe_all counts them all). No malloc, no
 * dl_iterate_phdr, no lock a parked thread may hold: raw syscalls, the
 * prepared buffers, and libunwind (whose pool mutex it takes with every
 * signal blocked, so no parked thread holds it). A slot still SIGNALLED is
 * unsafe (HP_SP_NOT_PARKED); FREE and GONE ones are skipped. When the maps
 * cannot be read, every slot whose stack was to be scanned is unsafe with
 * that reason.
 */
int hp_safepoint_check(struct hp_safepoint *sp, const struct hp_park *p,
                       const struct hp_slot **who, const struct hp_hot **why,
                       const char **reason);

void hp_safepoint_finish(struct hp_safepoint *sp);

/* After the release: "thread 1234 'name' in func 'foo' (PC in a hot
 * range); thread ...; and N more" for the last check's unsafe slots. */
void hp_safepoint_describe(const struct hp_safepoint *sp, char *out,
                           size_t cap);

/* The mapping holding `addr` in the maps parsed last (by prepare, then by
 * each check), or NULL. AS-safe. */
const struct hp_sp_map *hp_sp_map_at(const struct hp_safepoint *sp,
                                     uintptr_t addr);

/* A code address with its pointer-authentication field cleared (aarch64:
 * XPACLRI, a NOP on CPUs without PAC, right for any VA size); the value
 * itself elsewhere. */
static inline uintptr_t hp_strip_pac(uintptr_t v) {
#if defined(__aarch64__)
  register uintptr_t x30 __asm__("x30") = v;
  __asm__("hint #7" : "+r"(x30)); /* xpaclri */
  return x30;
#else
  return v;
#endif
}

#endif
