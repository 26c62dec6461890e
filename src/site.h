/* SPDX-License-Identifier: MIT */
/*
 * One patched function: the site at its entry, the trampoline that runs the
 * original, the stub that reaches a far replacement, and the prepared
 * writes that install and remove the entry jump.
 *
 *   hp_site_prepare   before parking: read the code, analyse it, allocate
 *                     and write the trampoline (and stub), compute the
 *                     entry bytes, prepare both writes. Changes nothing a
 *                     thread can run into: the new blocks are not yet
 *                     reachable.
 *   hp_site_arm       before parking, each time the site is about to be
 *                     written: read the pages' protections, open what the
 *                     write method needs (hp_write_prepare).
 *   hp_site_install   while parked (or single-threaded): verify the site
 *                     still holds the original bytes, write the entry.
 *   hp_site_remove    while parked: verify the site holds exactly our
 *                     entry, write the original bytes back.
 *   hp_site_disarm    after the parked window (debug builds verify the
 *                     pages' protections here, see hp_site_verify).
 *   hp_site_verify    after the parked window: are the written pages back
 *                     to their original protection? (reads the maps)
 *   hp_site_release   after: free the trampoline and stub. Only when no
 *                     thread can return into them (HP_SITE_CALL) or be
 *                     inside them.
 * install/remove are async-signal-safe and return HOTPATCH_ECHANGED,
 * without writing, when the bytes are not what they expect.
 */
#ifndef HP_SITE_H
#define HP_SITE_H

#include <stdint.h>

#include "arch/isa.h"
#include "codewrite.h"
#include "nearmem.h"
#include "symbols.h"

struct hp_site_rt {
  struct hp_site s;           /* analysis: where, how many bytes, originals */
  uint64_t repl;              /* the replacement */
  struct hp_near tramp;       /* runs the original: landing pad, moved
                                 instructions, jump back */
  struct hp_near stub;        /* absolute jump to repl, if it is out of range */
  uint8_t entry[HP_SITE_MAX]; /* the bytes installed at s.addr */
  struct hp_write wr;         /* prepared write of s.addr .. + s.len */
  int hidden_prot;            /* PROT_BTI by the object's marking: what
                                 each write adds to the protection it puts
                                 back (/proc/self/maps does not show it)
                                 when smaps cannot tell a page's real
                                 state */
  int armed;
  int installed;
  int written; /* a commit since hp_site_arm may have changed protections */
};

/*
 * Prepare patching the function `t` with `repl`. On success
 * rt->tramp.addr is the callable original. Any failure leaves nothing
 * allocated and returns the analyser's, allocator's or writer's code with
 * a detail naming the function.
 */
int hp_site_prepare(struct hp_site_rt *rt, const struct hp_target *t,
                    uintptr_t repl);
int hp_site_arm(struct hp_site_rt *rt);
void hp_site_disarm(struct hp_site_rt *rt);
int hp_site_install(struct hp_site_rt *rt);
int hp_site_remove(struct hp_site_rt *rt);
void hp_site_release(struct hp_site_rt *rt);

/*
 * After the parked window, once threads are released: 0 if nothing was
 * written since hp_site_arm or every page written has its original
 * protection again, else HOTPATCH_ECODEWRITE naming the page and what it
 * has now. Reads /proc/self/maps and allocates (hp_write_verify): never
 * while threads are parked. hp_site_disarm calls it in debug builds and
 * logs a failure; the engine may call it after releasing the threads.
 */
int hp_site_verify(const struct hp_site_rt *rt);

/*
 * Entry bytes that jump from the analysed site `rt` to `repl`: a direct
 * jump when in range, else through a new stub near the site (*stub; freed
 * with hp_near_free). For a patch stacked on one already applied: the
 * site's analysis and trampoline are the bottom patch's. Before parking.
 */
int hp_site_jump(const struct hp_site_rt *rt, uint64_t repl,
                 struct hp_near *stub, uint8_t entry[HP_SITE_MAX]);

/* While parked, an armed site: write `to` over the s.len bytes at s.addr
 * if they are `from`, else HOTPATCH_ECHANGED with nothing written (the
 * codes of hp_write_commit). Async-signal-safe. */
int hp_site_commit(struct hp_site_rt *rt, const uint8_t *from,
                   const uint8_t *to);

/* Whether the s.len bytes at s.addr are `bytes`. Async-signal-safe (a
 * byte loop: calls nothing that may be patched). */
int hp_site_holds(const struct hp_site_rt *rt, const uint8_t *bytes);

/* Tests only: analyse every site for the far (absolute) entry jump and
 * place its trampoline anywhere, as when nothing is near; on aarch64 the
 * entry is then LDR x16 / BR x16 even when a B would reach. */
extern int hp_site_force_far;

/* The callable original (the trampoline's address). */
static inline void *hp_site_original(const struct hp_site_rt *rt) {
  return (void *)(uintptr_t)rt->tramp.addr;
}

/*
 * The code of `t` as the analyser sees it: a copy of its bytes plus the
 * tail after its end up to HP_TAIL_MAX that lies in the same executable
 * segment and below t->limit. `buf` must hold t->size + HP_TAIL_MAX bytes;
 * cold bytes are copied to `cold_buf` (t->cold_size bytes) when present.
 */
int hp_site_read_code(const struct hp_target *t, uint8_t *buf,
                      uint8_t *cold_buf, struct hp_code *out);

#endif
