/* SPDX-License-Identifier: MIT */
/*
 * Precise unwinding of a parked thread, to confirm the conservative scan's
 * hits (safepoint.c): is the stack word at address A that holds a hot code
 * address a live return address, or stale data?
 *
 * libunwind's remote API, in-process: an address space with our own
 * accessors (unw_create_addr_space), so that nothing it does while threads
 * are parked reaches dl_iterate_phdr or malloc:
 *   find_proc_info  the module snapshot (modules.h) and each object's
 *                   .eh_frame_hdr binary-search table, through
 *                   _U<arch>_dwarf_search_unwind_table (what
 *                   libunwind-ptrace uses) on a REMOTE_TABLE;
 *   access_mem      only words inside readable mappings of the maps the
 *                   check has just parsed: private anonymous memory
 *                   (stacks) and the file mappings of snapshot objects that
 *                   are still the files they were when prepared; nothing
 *                   else (no [vvar], no device mapping);
 *   access_reg      the thread's interrupted context (slot->uc).
 * Caching is off (UNW_CACHE_NONE): libunwind's register-state cache is
 * keyed by IP alone, not by "IP or IP-1", and would need flushing when
 * objects are unloaded; nothing outlives hp_unwind_finish.
 *
 * The walk starts at the interrupted PC itself: unw_init_remote does not
 * back the first IP up (the remote equivalent of UNW_INIT_SIGNAL_FRAME);
 * each step checks that libunwind looked the frame up at PC (frame 0) or
 * at the return address minus one (the others).
 *
 * A step is trusted only if: exactly one lookup was made and it found an
 * FDE (libunwind guesses from frame pointers or LR when DWARF fails: never
 * accepted); no read was refused; the new IP is not PAC-signed (aarch64,
 * libunwind < 1.7 cannot strip it); SP grows (equal only out of an aarch64
 * leaf at frame 0) and stays inside the stack being scanned; the return
 * address was read from memory inside the frame it leaves (x86_64: exactly
 * CFA-8) and that word holds it — or, only out of frame 0 on aarch64, it
 * is still in x30; the instruction before it is a call (a signal frame or
 * a wrong CFA is not); at most HP_UNWIND_MAX_FRAMES frames. The first step
 * that is not trusted ends the walk: what it covered stays covered, the
 * rest is not. The walk also ends at the outermost frame (unw_step 0): the
 * words of that last frame are not covered either.
 *
 * A hit at A is stale when A lies below the SP of the last trusted frame
 * (every return-address slot below that is known) and is none of those
 * slots. Each thread is walked at most once per check, lazily: only as far
 * as its highest hit needs.
 *
 * Locks: libunwind takes its own mutexes (its memory pools) with every
 * signal blocked, so no parked thread can be holding one.
 */
#ifndef HP_UNWIND_H
#define HP_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <ucontext.h>

#define HP_UNWIND_MAX_FRAMES 1024

struct hp_safepoint;
struct hp_unwind;

/* One frame of a walk. */
struct hp_frame {
  uintptr_t ip;    /* frame 0: the PC; else its return address as stored */
  uintptr_t sp;    /* frame 0: the SP; else the CFA of the frame below */
  uintptr_t ra_at; /* where ip was read from; 0: a register (or frame 0) */
  uintptr_t start; /* its function's first byte (its FDE); 0: not looked up */
};

/*
 * Before parking, after hp_safepoint_prepare has parsed the maps into sp:
 * the address space, the module snapshot (each object's file identity
 * taken from those maps), the frame buffers, and one walk of the calling
 * thread so that libunwind's one-time initialisation and first pool
 * allocation happen now. 0 with *out set; 0 with *out NULL when precise
 * unwinding is not available (libunwind older than 1.6, no remote API:
 * logged at info level) — the scan's verdicts then stand; HOTPATCH_ENOMEM.
 */
int hp_unwind_prepare(struct hp_unwind **out, const struct hp_safepoint *sp);
void hp_unwind_finish(struct hp_unwind *u);

/* ---- While parked: no malloc, no dl_iterate_phdr, no lock a parked
 * thread may hold. The maps in sp are the ones the check parsed. ---- */

/* A new check: the objects are verified against the current maps again. */
void hp_unwind_new_check(struct hp_unwind *u);

/* Begin the walk of one thread from its interrupted context; its stack is
 * [lo, hi) (what the scan reads). */
void hp_unwind_start(struct hp_unwind *u, const ucontext_t *uc, uintptr_t lo,
                     uintptr_t hi);

/* 1 if the word at `addr` is proven stale (see above), else 0. Walks on as
 * far as needed. */
int hp_unwind_stale(struct hp_unwind *u, uintptr_t addr);

/* The frames walked so far (tests, reports); why the walk stopped (NULL
 * while it can go on); walks begun and steps taken since prepare. */
size_t hp_unwind_frames(const struct hp_unwind *u, const struct hp_frame **f);
const char *hp_unwind_stop_reason(const struct hp_unwind *u);
void hp_unwind_counts(const struct hp_unwind *u, unsigned long *walks,
                      unsigned long *steps);

/* 1 if libunwind strips pointer-authentication codes itself (>= 1.7). */
int hp_unwind_strips_pac(void);

/* Walk on to the end (tests). */
void hp_unwind_walk_all(struct hp_unwind *u);

/* 1 and *sp, *ip = the outermost frame's SP and IP if the walk has reached it
 * cleanly (its return address is marked undefined: libc's thread start,
 * _start), else 0 (it stopped on a doubt, or has not got there yet).
 * AS-safe. */
int hp_unwind_outermost(const struct hp_unwind *u, uintptr_t *sp,
                        uintptr_t *ip);

/* The reasons a walk stops. */
#define HP_UW_END "outermost frame"
#define HP_UW_STEP "unw_step failed"
#define HP_UW_NO_MODULE "IP in no loaded object"
#define HP_UW_NO_FDE "IP without unwind info"
#define HP_UW_CHANGED "object changed since prepare"
#define HP_UW_READ "read outside the readable memory"
#define HP_UW_LOOKUP "lookup not at the expected IP"
#define HP_UW_PAC "PAC-signed return address (libunwind < 1.7)"
#define HP_UW_SP "SP does not grow or leaves the stack"
#define HP_UW_SLOT "return address not read from its frame"
#define HP_UW_CALL "return address not after a call"
#define HP_UW_DEPTH "deeper than HP_UNWIND_MAX_FRAMES"

#endif
