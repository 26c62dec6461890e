/* SPDX-License-Identifier: MIT */
/*
 * Planning and running one transition (contract in transition.h).
 *
 * Hot ranges (SPEC §4.2): no parked thread's PC, LR or stack word may be
 * in them when the code switches.
 *   apply, for each func: the target (whole, and its .cold part), the
 *     replacements of the layers already on it and its trampoline (the
 *     code being replaced is theirs now); with HOTPATCH_FUNC_ALLOW_ACTIVE
 *     only the bytes overwritten.
 *   revert, for each func: its replacement (its object may be dlclosed
 *     next), its stub, the trampoline if it is the last layer (freed),
 *     and the bytes overwritten.
 *   replace: the revert ranges of every applied patch and the apply ranges
 *     of the new one, checked together in one window.
 * A stack word equal to a range's entry is taken for a function pointer
 * and skipped, but only for code that stays: for anything a transition
 * removes, an equal word may be a saved PC (a signal frame that
 * interrupted its first instruction), so it counts.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "transition.h"

#define HP_DOOMED 0 /* hp_hot.entry of code that goes away: no skip */

static int hp_hot_add(struct hp_tx *tx, uintptr_t lo, uintptr_t hi,
                      uintptr_t entry, int inner, const char *what) {
  if (lo >= hi)
    return 0;
  if (tx->nhot == tx->caphot) {
    size_t cap = tx->caphot ? 2 * tx->caphot : 16;
    struct hp_hot *h = realloc(tx->hot, cap * sizeof *h);
    if (!h)
      return hp_fail(HOTPATCH_ENOMEM, "out of memory");
    tx->hot = h;
    tx->caphot = cap;
  }
  tx->hot[tx->nhot++] = (struct hp_hot){lo, hi, entry, inner, what};
  return 0;
}

static int hp_hot_site(struct hp_tx *tx, const struct hp_fn *fn,
                       const char *what) {
  const struct hp_site *s = &fn->site.s;
  return hp_hot_add(tx, s->addr, s->addr + s->len, 0, 1, what);
}

/* The apply ranges of layer l (fn->top is still the old top). */
static int hp_hot_apply(struct hp_tx *tx, const struct hp_layer *l) {
  const struct hp_fn *fn = l->fn;
  const char *what = l->fr->f->target;
  if (l->fr->f->flags & HOTPATCH_FUNC_ALLOW_ACTIVE)
    return hp_hot_site(tx, fn, what);
  const struct hp_target *t = &fn->t;
  int rc = hp_hot_add(tx, t->addr, t->addr + t->size, t->addr, 0, what);
  if (!rc && t->cold_addr)
    rc = hp_hot_add(tx, t->cold_addr, t->cold_addr + t->cold_size, 0, 0, what);
  const struct hp_near *tr = &fn->site.tramp;
  if (!rc && fn->top)
    rc = hp_hot_add(tx, tr->addr, tr->addr + tr->size, tr->addr, 0, what);
  for (const struct hp_layer *b = fn->top; b && !rc; b = b->below)
    rc = hp_hot_add(tx, b->fr->repl_lo, b->fr->repl_hi,
                    (uintptr_t)b->fr->f->replacement, 0, what);
  return rc;
}

/* The revert ranges of layer l, going away. `last`: its fn goes too. */
static int hp_hot_revert(struct hp_tx *tx, const struct hp_layer *l, int last) {
  const struct hp_fn *fn = l->fn;
  const char *what = l->fr->f->target;
  int rc = hp_hot_add(tx, l->fr->repl_lo, l->fr->repl_hi, HP_DOOMED, 0, what);
  if (!rc)
    rc = hp_hot_add(tx, l->stub.addr, l->stub.addr + l->stub.size, HP_DOOMED, 0,
                    what);
  if (!rc && last)
    rc = hp_hot_add(tx, fn->site.tramp.addr,
                    fn->site.tramp.addr + fn->site.tramp.size, HP_DOOMED, 0,
                    what);
  if (!rc)
    rc = hp_hot_site(tx, fn, what);
  return rc;
}

static int hp_chg_add(struct hp_tx *tx, struct hp_fn *fn,
                      struct hp_layer *newtop) {
  for (size_t i = 0; i < tx->nchg; i++)
    if (tx->chg[i].fn == fn) {
      tx->chg[i].newtop = newtop;
      tx->chg[i].to = hp_fn_bytes(fn, newtop);
      return 0;
    }
  struct hp_change *c = realloc(tx->chg, (tx->nchg + 1) * sizeof *c);
  if (!c)
    return hp_fail(HOTPATCH_ENOMEM, "out of memory");
  tx->chg = c;
  tx->chg[tx->nchg++] = (struct hp_change){fn, newtop, hp_fn_bytes(fn, fn->top),
                                           hp_fn_bytes(fn, newtop)};
  return 0;
}

static void hp_tx_init(struct hp_tx *tx, enum hp_tx_kind kind,
                       struct hotpatch_patch *p) {
  memset(tx, 0, sizeof *tx);
  tx->kind = kind;
  tx->p = p;
  tx->verb = kind == HP_TX_APPLY    ? "apply"
             : kind == HP_TX_REVERT ? "revert"
                                    : "replace";
  tx->failed_chg = -1;
}

/* p's new layers, one per func; on a failure nothing stays. */
static int hp_tx_layers(struct hp_tx *tx, int replace) {
  struct hotpatch_patch *p = tx->p;
  if (!p->nfuncs)
    return 0;
  tx->layers = calloc(p->nfuncs, sizeof *tx->layers);
  tx->made = calloc(p->nfuncs, sizeof *tx->made);
  if (!tx->layers || !tx->made)
    return hp_fail(HOTPATCH_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->nfuncs; i++) {
    const struct hp_func_rt *fr = &p->funcs[i];
    int made = 0;
    int rc = hp_layer_prepare(&tx->layers[i], p, fr, replace, &made);
    if (rc)
      return hp_fail_context(rc, "patch '%s': func[%zu] '%s' in %s: ",
                             p->desc->name, i, fr->f->target, fr->t.object);
    if (made)
      tx->made[tx->nmade++] = tx->layers[i].fn;
  }
  return 0;
}

/* Apply, or replace: the same, after every applied patch's functions are
 * planned back to their original bytes (unless p replaces them too: its
 * change then overrides that). Linux's rule for a replace: only the new
 * patch takes over, the replaced ones' hooks do not run (SPEC §3). */
static int hp_tx_plan_new(struct hp_tx *tx, struct hotpatch_patch *p,
                          enum hp_tx_kind kind) {
  hp_tx_init(tx, kind, p);
  tx->quiesced_before = p->desc->hooks.quiesced_apply;
  tx->quiesced_undo = p->desc->hooks.quiesced_revert;
  int rc = hp_tx_layers(tx, kind == HP_TX_REPLACE);
  for (struct hotpatch_patch *q = hp_applied_bottom();
       kind == HP_TX_REPLACE && q && !rc; q = q->above)
    for (size_t i = 0; i < q->nfuncs && !rc; i++) {
      struct hp_layer *l = &q->layers[i];
      rc = hp_hot_revert(tx, l, 1);
      if (!rc)
        rc = hp_chg_add(tx, l->fn, NULL);
    }
  for (size_t i = 0; i < p->nfuncs && !rc; i++) {
    rc = hp_hot_apply(tx, &tx->layers[i]);
    if (!rc)
      rc = hp_chg_add(tx, tx->layers[i].fn, &tx->layers[i]);
  }
  if (rc)
    hp_tx_abort(tx);
  return rc;
}

int hp_tx_plan_apply(struct hp_tx *tx, struct hotpatch_patch *p) {
  return hp_tx_plan_new(tx, p, HP_TX_APPLY);
}

int hp_tx_plan_replace(struct hp_tx *tx, struct hotpatch_patch *p) {
  return hp_tx_plan_new(tx, p, HP_TX_REPLACE);
}

int hp_tx_plan_revert(struct hp_tx *tx, struct hotpatch_patch *p) {
  hp_tx_init(tx, HP_TX_REVERT, p);
  tx->quiesced_after = p->desc->hooks.quiesced_revert;
  int rc = 0;
  for (size_t i = 0; i < p->nfuncs && !rc; i++) {
    struct hp_layer *l = &p->layers[i];
    rc = hp_hot_revert(tx, l, l->below == NULL);
    if (!rc)
      rc = hp_chg_add(tx, l->fn, l->below);
  }
  if (rc)
    hp_tx_abort(tx);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The parked window                                                        */

static void hp_sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* Undo changes [0, n) after a failed write. AS-safe. */
static void hp_tx_undo(struct hp_tx *tx, size_t n) {
  while (n-- > 0) {
    struct hp_change *c = &tx->chg[n];
    int rc = hp_site_commit(&c->fn->site, c->to, c->from);
    if (rc && !tx->rollback_rc)
      tx->rollback_rc = rc;
  }
}

/*
 * While parked: every site must hold what the plan expects before
 * anything runs or is written, then the quiesced hook, then the writes.
 * A failed write undoes those done and, if the hook flipped state
 * already, runs its mirror so state and code agree again. AS-safe (the
 * hooks are, by contract).
 */
static int hp_tx_switch(struct hp_tx *tx) {
  for (size_t i = 0; i < tx->nchg; i++)
    if (!hp_site_holds(&tx->chg[i].fn->site, tx->chg[i].from)) {
      tx->failed_chg = (int)i;
      return HOTPATCH_ECHANGED;
    }
  if (tx->quiesced_before)
    tx->quiesced_before(tx->p);
  for (size_t i = 0; i < tx->nchg; i++) {
    struct hp_change *c = &tx->chg[i];
    int rc = hp_site_commit(&c->fn->site, c->from, c->to);
    if (rc) {
      tx->failed_chg = (int)i;
      hp_tx_undo(tx, i);
      if (tx->quiesced_before && tx->quiesced_undo)
        tx->quiesced_undo(tx->p);
      return rc;
    }
  }
  if (tx->quiesced_after)
    tx->quiesced_after(tx->p);
  return 0;
}

/* Park, check, switch, release — retried until the deadline. No hp_fail
 * while parked (it formats): the detail is written after release. */
static int hp_tx_loop(struct hp_tx *tx) {
  uint64_t start = hp_now_ns();
  uint64_t deadline = start + (uint64_t)tx->timeout_ms * 1000000u;
  /* Back off 1 ms, doubling, capped at 10 ms: long enough for a thread to
   * leave a short function, short enough to try often before the
   * deadline. */
  uint64_t backoff = 1000000u;
  int rc;
  for (;;) {
    tx->tries++;
    rc = hp_park_stop(&tx->park, deadline);
    if (rc) {
      char buf[512];
      hp_park_describe_stragglers(&tx->park, buf, sizeof buf);
      return hp_fail(HOTPATCH_EBUSY,
                     "%s '%s': not every thread stopped within %u ms "
                     "(%d tries): %s",
                     tx->verb, tx->p->desc->name, tx->timeout_ms, tx->tries,
                     buf);
    }
    tx->who = NULL;
    tx->why = NULL;
    tx->reason = NULL;
    rc =
        hp_safepoint_check(&tx->sp, &tx->park, &tx->who, &tx->why, &tx->reason);
    if (!rc)
      rc = hp_tx_switch(tx);
    else if (tx->who) {
      tx->who_tid = tx->who->tid;
      memcpy(tx->who_name, tx->who->name, sizeof tx->who_name);
    }
    hp_park_release(&tx->park);
    uint64_t pause = tx->park.t_release_ns - tx->park.t_stop_ns;
    if (pause > tx->pause_ns)
      tx->pause_ns = pause;
    if (rc != HOTPATCH_EBUSY)
      break;
    if (hp_now_ns() + backoff >= deadline)
      break;
    if (tx->reason && !strcmp(tx->reason, HP_SP_MAPS_BIG)) {
      /* Threads started meanwhile outgrew the buffer: a bigger one. */
      hp_safepoint_finish(&tx->sp);
      if ((rc = hp_safepoint_prepare(&tx->sp, tx->hot, tx->nhot)) != 0)
        return rc;
    }
    hp_sleep_ns(backoff);
    backoff = backoff * 2 > 10000000u ? 10000000u : backoff * 2;
  }
  if (rc == HOTPATCH_EBUSY)
    return hp_fail(HOTPATCH_EBUSY,
                   "%s '%s': after %d tries in %u ms, thread %d '%s' is %s%s",
                   tx->verb, tx->p->desc->name, tx->tries, tx->timeout_ms,
                   (int)tx->who_tid, tx->who_name, tx->why ? "inside " : "",
                   tx->why ? tx->why->what : tx->reason);
  if (rc && tx->failed_chg < 0)
    return hp_fail(rc, "%s '%s': %s", tx->verb, tx->p->desc->name,
                   hotpatch_strerror(rc));
  if (rc) {
    const struct hp_fn *fn = tx->chg[tx->failed_chg].fn;
    if (tx->rollback_rc)
      return hp_fail(rc,
                     "%s '%s': writing the entry of the function at %#lx in "
                     "%s failed (%s), and undoing the writes before it "
                     "failed too (%s): some functions may be switched",
                     tx->verb, tx->p->desc->name, (unsigned long)fn->t.addr,
                     fn->t.object, hotpatch_err_name(rc),
                     hotpatch_err_name(tx->rollback_rc));
    if (rc == HOTPATCH_ECHANGED)
      return hp_fail(rc,
                     "%s '%s': the code at %#lx in %s changed since it was "
                     "prepared (someone else patched it?); nothing was "
                     "changed",
                     tx->verb, tx->p->desc->name, (unsigned long)fn->t.addr,
                     fn->t.object);
    return hp_fail(rc,
                   "%s '%s': writing the entry of the function at %#lx in %s "
                   "failed (%s); nothing was changed",
                   tx->verb, tx->p->desc->name, (unsigned long)fn->t.addr,
                   fn->t.object, hotpatch_strerror(rc));
  }
  return 0;
}

/* The `original` pointers: new layers' before the switch (a replacement
 * may call its original at once), cleared on failure; removed layers'
 * cleared after. */
static void hp_set_originals(struct hp_layer *ls, size_t n, int on) {
  for (size_t i = 0; ls && i < n; i++)
    if (ls[i].fr->f->original)
      *ls[i].fr->f->original = on ? hp_layer_original(&ls[i]) : NULL;
}

static int hp_tx_prepare_window(struct hp_tx *tx) {
  int rc = hp_safepoint_prepare(&tx->sp, tx->hot, tx->nhot);
  if (rc)
    return rc;
  rc = hp_park_prepare(&tx->park);
  if (rc) {
    hp_safepoint_finish(&tx->sp);
    return rc;
  }
  for (size_t i = 0; i < tx->nchg && !rc; i++)
    rc = hp_site_arm(&tx->chg[i].fn->site);
  if (rc) {
    for (size_t i = 0; i < tx->nchg; i++)
      hp_site_disarm(&tx->chg[i].fn->site);
    hp_park_finish(&tx->park);
    hp_safepoint_finish(&tx->sp);
  }
  return rc;
}

int hp_tx_run(struct hp_tx *tx) {
  if (!tx->timeout_ms)
    tx->timeout_ms = hp_config().timeout_ms;
  int rc = hp_tx_prepare_window(tx);
  if (rc)
    return rc;
  if (tx->kind != HP_TX_REVERT)
    hp_set_originals(tx->layers, tx->p->nfuncs, 1);
  rc = hp_tx_loop(tx);
  for (size_t i = 0; i < tx->nchg; i++)
    hp_site_disarm(&tx->chg[i].fn->site);
  hp_park_finish(&tx->park);
  hp_safepoint_finish(&tx->sp);
  if (rc && tx->kind != HP_TX_REVERT)
    hp_set_originals(tx->layers, tx->p->nfuncs, 0);
  return rc;
}

/* Free the layers of q, which no thread can be in any more. */
static void hp_layers_drop(struct hotpatch_patch *q) {
  hp_set_originals(q->layers, q->nfuncs, 0);
  for (size_t i = 0; q->layers && i < q->nfuncs; i++)
    hp_layer_release(&q->layers[i]);
  free(q->layers);
  q->layers = NULL;
}

void hp_tx_commit(struct hp_tx *tx) {
  for (size_t i = 0; i < tx->nmade; i++)
    hp_fn_list(tx->made[i]);
  tx->nmade = 0;
  for (size_t i = 0; i < tx->nchg; i++)
    tx->chg[i].fn->top = tx->chg[i].newtop;
  if (tx->kind == HP_TX_REVERT)
    hp_layers_drop(tx->p);
  if (tx->kind == HP_TX_REPLACE)
    for (struct hotpatch_patch *q = hp_applied_bottom(); q; q = q->above)
      hp_layers_drop(q);
  if (tx->kind != HP_TX_REVERT) {
    tx->p->layers = tx->layers;
    tx->layers = NULL;
  }
  /* A function no layer is on any more: its trampoline goes too (the
   * check proved no thread is in it or returns into it). */
  for (size_t i = 0; i < tx->nchg; i++)
    if (!tx->chg[i].fn->top)
      hp_fn_free(tx->chg[i].fn);
  hp_tx_abort(tx);
}

void hp_tx_abort(struct hp_tx *tx) {
  if (tx->layers) {
    /* Stubs first: a made fn's release frees its trampoline only. */
    for (size_t i = 0; tx->p && i < tx->p->nfuncs; i++)
      hp_layer_release(&tx->layers[i]);
    free(tx->layers);
    tx->layers = NULL;
  }
  for (size_t i = 0; i < tx->nmade; i++)
    hp_fn_free(tx->made[i]);
  free(tx->made);
  tx->made = NULL;
  tx->nmade = 0;
  free(tx->chg);
  tx->chg = NULL;
  tx->nchg = 0;
  free(tx->hot);
  tx->hot = NULL;
  tx->nhot = tx->caphot = 0;
}
