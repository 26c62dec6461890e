/* SPDX-License-Identifier: MIT */
/*
 * Executable memory for trampolines and stubs, placed within jump range of
 * the code that branches to it.
 *
 * Pools are private anonymous mappings found with an address hint and then
 * verified, or in a gap of /proc/self/maps; never MAP_FIXED over anything,
 * and never where the brk heap or the main stack would grow.
 * They are not memfd double mappings: a MAP_SHARED view survives fork()
 * shared, and parent and child would then hand out the same slots.
 *
 * A block is written once, before any thread can branch to it, and freed
 * only when nothing can return into it (the caller decides when: the
 * parking engine checks return addresses against live blocks).
 *
 * Writes keep the page executable (rwx then r-x, or /proc/self/mem), as
 * other blocks of the page may be running. Where only rw- then r-x works
 * (hp_write_methods()), blocks are whole pages of their own instead, so
 * the page written holds nothing anyone could be running yet: writing a
 * block again once it is in use is then unsafe.
 *
 * Pools are at most 64 KiB (smaller where only a smaller gap is free in
 * the window); an empty pool is unmapped. After fork() the child has its
 * own copy of the pools and their bookkeeping.
 *
 * Thread-safety: alloc/write/free take an internal lock; they allocate and
 * are not async-signal-safe. hp_near_contains takes no lock and allocates
 * nothing (it reads a list published with release stores).
 */
#ifndef HP_NEARMEM_H
#define HP_NEARMEM_H

#include <stddef.h>
#include <stdint.h>

struct hp_near {
  uint64_t addr; /* executable address; 0 = no block */
  size_t size;   /* usable bytes (>= the size asked for) */
  void *pool;    /* internal */
};

/*
 * A block of `size` bytes, aligned to `align` (a power of two <= 64), with
 * every byte inside [lo, hi]; lo = hi = 0 means anywhere.
 *   HOTPATCH_ENONEAR  no free address range in the window (the detail
 *                     names the window)
 *   HOTPATCH_ENOMEM, HOTPATCH_EINVAL (size 0 or > a pool)
 */
int hp_near_alloc(uint64_t lo, uint64_t hi, size_t size, size_t align,
                  struct hp_near *out);

/*
 * Copy `len` bytes to the start of block `b`, then make them visible to
 * instruction fetch (hp_arch_flush_code). Other threads may be running
 * code in other blocks of the same page meanwhile: the page never loses
 * PROT_EXEC. Returns HOTPATCH_ECODEWRITE if no write method works, or if
 * r-x could not be put back after an rwx/rw write: the pages are then left
 * r-- (or ---), never writable and executable, and the other blocks there
 * stop working (the error log and the detail name the pages).
 */
int hp_near_write(const struct hp_near *b, const void *bytes, size_t len);

/* Return the block to its pool; an empty pool is unmapped. NULL-safe. */
void hp_near_free(struct hp_near *b);

/* Is `pc` inside a live block? Async-signal-safe, lock-free. */
int hp_near_contains(uintptr_t pc);

/*
 * Where a new pool may go, from a snapshot of the maps (pure; tests feed it
 * synthetic snapshots): both ends of every gap that meets the window
 * [lo, hi], clipped to its pages, a gap smaller than a pool giving a pool
 * its size, nearest the window's middle first. Room is kept for the brk
 * heap above [heap] (64 MiB) and for the main stack below [stack]
 * (`stack_room` bytes; a gap smaller than that gets no pool). `out` holds
 * 2 * (maps->n + 1) entries; returns how many were written.
 */
struct hp_maps;
struct hp_near_cand {
  uintptr_t addr;
  size_t size;
  uintptr_t dist; /* of its middle from the window's middle */
};
size_t hp_near_candidates(const struct hp_maps *maps, uintptr_t lo,
                          uintptr_t hi, size_t need, size_t align,
                          size_t stack_room, struct hp_near_cand *out);

/* The room kept below [stack]: RLIMIT_STACK (at most 1 GiB, which is also
 * what an unlimited stack gets) plus the kernel's stack guard gap. */
size_t hp_near_stack_room(void);

/* Bytes mapped for pools (for tests and bench). */
size_t hp_near_mapped(void);

/* fork(): the lock is taken before and released after, in both processes
 * (park.c registers these with pthread_atfork). */
void hp_near_atfork_prepare(void);
void hp_near_atfork_parent(void);
void hp_near_atfork_child(void);

#endif
