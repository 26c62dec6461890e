/* SPDX-License-Identifier: MIT */
/*
 * Writing existing code (a function's entry) and restoring its exact
 * protection.
 *
 * How code may be written is probed once per process, in this order of
 * preference:
 *   HP_WRITE_RWX       mprotect(RWX), write, mprotect(original)
 *   HP_WRITE_RW        mprotect(RW, no X), write, mprotect(original): only
 *                      while every other thread is parked, and never on a
 *                      page that holds the writer's own code
 *   HP_WRITE_PROC_MEM  pwrite() to /proc/self/mem (works under
 *                      PR_SET_MDWE and SELinux execmod, where mprotect
 *                      cannot give X back)
 * A page is never left writable and executable: the original protection
 * read from /proc/self/maps at prepare time is put back.
 *
 * Each probe works on a fresh private r-x page of a scratch file (memfd,
 * else a file in /tmp, else anonymous memory): SELinux execmod refuses X
 * back on a written file page, as it would on a library's .text. Every
 * probe runs; the detail of HOTPATCH_ECODEWRITE and a debug log line say
 * what each got.
 *
 * HOTPATCH_WRITE_METHOD=rwx|rw|procmem (for tests) makes that method the
 * only one: if its probe fails, or the value is none of these,
 * hp_write_method() returns HOTPATCH_ECODEWRITE saying why.
 *
 * Two phases, so nothing that allocates or locks runs while threads are
 * parked:
 *   hp_write_prepare  before parking: reads /proc/self/maps, opens
 *                     /proc/self/mem if that is the method; allocates.
 *   hp_write_commit   while parked: raw syscalls and a byte loop only,
 *                     async-signal-safe, no lock, no malloc.
 *   hp_write_finish   after: closes what prepare opened.
 */
#ifndef HP_CODEWRITE_H
#define HP_CODEWRITE_H

#include <stddef.h>
#include <stdint.h>

enum hp_write_method {
  HP_WRITE_NONE = 0,
  HP_WRITE_RWX = 1,
  HP_WRITE_RW = 2,
  HP_WRITE_PROC_MEM = 3,
};

/* The probed method (probes on first call; thread-safe), or
 * HOTPATCH_ECODEWRITE with a detail saying what each probe got. */
int hp_write_method(void);
const char *hp_write_method_name(int method);

/* Every method whose probe worked, as a mask of 1u << HP_WRITE_*; only the
 * forced one under HOTPATCH_WRITE_METHOD. 0 if none. */
unsigned hp_write_methods(void);

#define HP_WRITE_MAX 64 /* bytes per write */

struct hp_write {
  uintptr_t addr;
  size_t len;
  int method; /* the one this write uses (see hp_write_prepare) */
  int npages; /* 1 or 2: a site may straddle a page boundary */
  uintptr_t page[2];
  int prot[2]; /* original PROT_* of each page (from the maps; the caller
                  may add bits they do not show, such as PROT_BTI) */
  int mem_fd;  /* /proc/self/mem for HP_WRITE_PROC_MEM, or -1 */
  int procmem_fallback; /* rwx/rw: /proc/self/mem worked at the probe, so
                           the commit writes through it if mprotect is
                           refused then */
  size_t pagesz;
};

/*
 * Prepare to write [addr, addr + len), len <= HP_WRITE_MAX, inside one or
 * two pages of mapped code.
 *   HOTPATCH_ECODEWRITE  no method works, or the method is HP_WRITE_RW and
 *                        the page holds this library's code (the text of
 *                        the object holding hp_write_commit) and
 *                        /proc/self/mem does not work either (when it
 *                        does, w->method is HP_WRITE_PROC_MEM instead);
 *                        or a page is execute-only or a shared mapping
 *   HOTPATCH_ENOTCODE    the range is not mapped executable
 *   HOTPATCH_EINVAL      len is 0 or > HP_WRITE_MAX
 * After a failure w needs no hp_write_finish (calling it is harmless).
 */
int hp_write_prepare(struct hp_write *w, uintptr_t addr, size_t len);

/*
 * If the bytes at w->addr equal `expect`, write `bytes` there and restore
 * the page protections; else HOTPATCH_ECHANGED and nothing is written.
 * On x86_64 the caller's parked threads serialise before resuming; on
 * aarch64 this does the cache maintenance for the range.
 * Async-signal-safe. Sets no error detail (the caller does, outside the
 * parked window).
 *   0                    written; every page has its original protection
 *   HOTPATCH_ECHANGED    the bytes differ from `expect`: nothing written
 *   HOTPATCH_ECODEWRITE  a page could not be made writable (mprotect
 *                        refused although the probe allowed it: a seccomp
 *                        filter or policy since) and /proc/self/mem, opened
 *                        then (raw openat) whenever its probe worked,
 *                        failed too; or pwrite failed: nothing written (a
 *                        partial pwrite is undone), protections as before
 *   HOTPATCH_EIO         a page's original protection could not be put
 *                        back (mprotect refused: ENOMEM from the map count
 *                        limit, or a policy refusing X again): the page is
 *                        left as mprotect last set it, writable (orig|W with
 *                        rwx, rw- without X with rw: code there faults),
 *                        and the new bytes are in place unless the failure
 *                        came while making the pages writable. Nothing more
 *                        can be tried while parked; after resuming, the
 *                        caller compares the bytes and reports it
 *                        (hp_write_verify names the page).
 */
int hp_write_commit(const struct hp_write *w, const uint8_t *expect,
                    const uint8_t *bytes);

void hp_write_finish(struct hp_write *w);

/*
 * After a commit, outside the parked window: 0 if every page written has
 * its original protection again, else HOTPATCH_ECODEWRITE naming the page
 * and what it has now. Reads /proc/self/maps; allocates.
 */
int hp_write_verify(const struct hp_write *w);

#endif
