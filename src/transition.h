/* SPDX-License-Identifier: MIT */
/*
 * One transition of the code: what an apply, a revert or a replace
 * changes, and the parked window that changes it (SPEC §3, §4).
 *
 *   hp_tx_plan_*  threads running, before any hook: make the new layers
 *                 (analysis, trampolines, stubs), list each function's
 *                 change (the bytes it holds now, the bytes it will hold)
 *                 and the hot ranges no parked thread may be in. Any
 *                 failure leaves nothing allocated and nothing changed.
 *   hp_tx_run     threads running, after the pre hook: set the `original`
 *                 pointers, prepare parking and the writes, then until the
 *                 deadline: park every other thread, check each is at a
 *                 safe point, and if so, in the window: verify every site,
 *                 run the quiesced hook, write every site (undoing all on
 *                 a failure), release. 0, or the failure with every byte as
 *                 it was (the `original` pointers of new layers reset).
 *   hp_tx_commit  after a successful run: the bookkeeping (tops, the
 *                 applied stack is the caller's), freeing what the
 *                 transition removed.
 *   hp_tx_abort   after a failed run or a veto: free what plan made.
 *   hp_tx_keep    after a replace that could not undo every write
 *                 (left_changed): the old stack stays as it is and the
 *                 new layers are leaked, since sites may reach either;
 *                 the patch is pinned (unload refuses it). A half-switched
 *                 apply is committed instead (the patch counts as APPLIED,
 *                 so a revert restores what is there), and a half-switched
 *                 revert just leaves the patch APPLIED.
 *
 * A site that already holds the bytes a change writes is left alone (a
 * revert after a half-switched action finds some sites done); one that
 * holds neither the bytes expected nor those is HOTPATCH_ECHANGED.
 *
 * The registry lock is held by the caller throughout plan, run, commit
 * and abort.
 */
#ifndef HP_TRANSITION_H
#define HP_TRANSITION_H

#include <stddef.h>
#include <stdint.h>

#include "fnstack.h"
#include "park.h"
#include "patch.h"
#include "safepoint.h"

enum hp_tx_kind { HP_TX_APPLY, HP_TX_REVERT, HP_TX_REPLACE };

/* One function's switch. */
struct hp_change {
  struct hp_fn *fn;
  struct hp_layer *newtop; /* NULL: back to the original bytes */
  const uint8_t *from, *to;
  int already; /* the site held `to` when the window opened: not written */
};

struct hp_tx {
  enum hp_tx_kind kind;
  struct hotpatch_patch *p; /* applied, reverted, or the cumulative one */
  const char *verb;         /* "apply", "revert", "replace" */
  uint32_t timeout_ms;
  /* Plan. */
  struct hp_layer *layers; /* p's new layers (apply, replace): p->nfuncs */
  struct hp_fn **made;     /* fns made for this transition */
  size_t nmade;
  struct hp_change *chg;
  size_t nchg;
  struct hp_hot *hot;
  size_t nhot, caphot;
  /* The hook run in the window: before the writes (apply, replace; its
   * undo, the revert hook, runs if the writes then fail) or after them
   * (revert). */
  void (*quiesced_before)(hotpatch_patch *);
  void (*quiesced_undo)(hotpatch_patch *);
  void (*quiesced_after)(hotpatch_patch *);
  /* Run. */
  struct hp_safepoint sp;
  struct hp_park park;
  int tries;
  int resends;       /* signals sent again, over every try */
  uint64_t pause_ns; /* the longest parked window */
  uint64_t stop_ns;  /* the longest time a stop took to park everyone */
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  int failed_chg;   /* index of a change whose write failed, or -1 */
  int undo_failed;  /* writes undoing a failed switch that failed too */
  int left_changed; /* after a failed switch: some site is not as before,
                       so what it may reach must stay (hp_tx_keep) */
};

int hp_tx_plan_apply(struct hp_tx *tx, struct hotpatch_patch *p);
int hp_tx_plan_revert(struct hp_tx *tx, struct hotpatch_patch *p);
int hp_tx_plan_replace(struct hp_tx *tx, struct hotpatch_patch *p);
int hp_tx_run(struct hp_tx *tx);
void hp_tx_commit(struct hp_tx *tx);
void hp_tx_abort(struct hp_tx *tx);
void hp_tx_keep(struct hp_tx *tx);

#endif
