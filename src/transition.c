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
#include <stdio.h>
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
                                           hp_fn_bytes(fn, newtop), 0};
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

/* Undo changes [0, n) after a failed write; an undo that fails is
 * counted, and the report after the release says what each site holds.
 * AS-safe. */
static void hp_tx_undo(struct hp_tx *tx, size_t n) {
  while (n-- > 0) {
    struct hp_change *c = &tx->chg[n];
    if (!c->already && hp_site_commit(&c->fn->site, c->to, c->from))
      tx->undo_failed++;
  }
}

/*
 * While parked: every site must hold what the plan expects (or already
 * what it writes) before anything runs or is written, then the quiesced
 * hook, then the writes. A failed write undoes those done and, if the
 * hook flipped state already, runs its mirror so state and code agree
 * again. AS-safe (the hooks are, by contract).
 */
static int hp_tx_switch(struct hp_tx *tx) {
  for (size_t i = 0; i < tx->nchg; i++) {
    struct hp_change *c = &tx->chg[i];
    c->already = 0;
    if (hp_site_holds(&c->fn->site, c->from))
      continue;
    if (!hp_site_holds(&c->fn->site, c->to)) {
      tx->failed_chg = (int)i;
      return HOTPATCH_ECHANGED;
    }
    c->already = 1;
  }
  if (tx->quiesced_before)
    tx->quiesced_before(tx->p);
  for (size_t i = 0; i < tx->nchg; i++) {
    struct hp_change *c = &tx->chg[i];
    if (c->already)
      continue;
    if (hp_park_test_parked_hook)
      hp_park_test_parked_hook(i, tx->kind != HP_TX_REVERT);
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

/* What a function's bytes are now, in words (after the release: code
 * pages are readable, even one left writable by a failed mprotect). */
static void hp_tx_holds(const struct hp_tx *tx, const struct hp_change *c,
                        char *out, size_t cap) {
  const struct hp_site_rt *site = &c->fn->site;
  if (hp_site_holds(site, site->s.orig)) {
    snprintf(out, cap, "runs its original code");
    return;
  }
  const struct hp_layer *ls[] = {c->newtop, c->fn->top};
  for (size_t k = 0; k < 2; k++)
    for (const struct hp_layer *l = ls[k]; l; l = l->below)
      if (hp_site_holds(site, l->entry)) {
        if (l->p == tx->p)
          snprintf(out, cap, "jumps to its replacement");
        else
          snprintf(out, cap, "jumps to the replacement of patch '%s'",
                   l->p->desc->name);
        return;
      }
  snprintf(out, cap, "holds bytes of neither");
}

/*
 * After a failed switch, threads running: say why the write failed and,
 * for every site written (those before the failed one, undone or not, and
 * the failed one after HOTPATCH_EIO, which may have left its bytes in),
 * what it holds now if that is not what it held before. Any such site
 * sets tx->left_changed. Returns rc.
 */
static int hp_tx_report(struct hp_tx *tx, int rc) {
  const struct hp_change *bad = &tx->chg[tx->failed_chg];
  const struct hp_fn *fn = bad->fn;
  char cause[HP_ERROR_MAX / 2], left[HP_ERROR_MAX / 2];
  const char *pname = tx->p->desc->name, *obj = fn->t.object;
  /* The function's name as the patch changing it calls it. */
  const struct hp_layer *named = bad->newtop ? bad->newtop : fn->top;
  const char *fname = named ? named->fr->f->target : "?";
  if (rc == HOTPATCH_ECHANGED)
    snprintf(cause, sizeof cause,
             "the code of '%s' in %s changed since it was prepared "
             "(someone else patched it?)",
             fname, obj);
  else if (rc == HOTPATCH_ECODEWRITE)
    snprintf(cause, sizeof cause,
             "the code of '%s' in %s could not be written (the page could "
             "not be made writable, or the write was refused)",
             fname, obj);
  else if (rc == HOTPATCH_EIO)
    snprintf(cause, sizeof cause,
             "writing the code of '%s' in %s left a page without its "
             "protection (mprotect refused to restore it)",
             fname, obj);
  else
    snprintf(cause, sizeof cause, "writing the code of '%s' in %s failed (%s)",
             fname, obj, hotpatch_strerror(rc));
  struct hp_report r = {left, sizeof left, 0, 0};
  size_t written = (size_t)tx->failed_chg + (rc == HOTPATCH_EIO);
  for (size_t i = 0; i < written; i++) {
    const struct hp_change *c = &tx->chg[i];
    if (c->already)
      continue;
    int changed = !hp_site_holds(&c->fn->site, c->from);
    char prot[256] = "", holds[192];
    if (hp_site_verify(&c->fn->site)) {
      snprintf(prot, sizeof prot, ", %s", hotpatch_last_error());
      changed = 1;
    }
    if (!changed)
      continue;
    tx->left_changed = 1;
    const struct hp_layer *l = c->newtop ? c->newtop : c->fn->top;
    hp_tx_holds(tx, c, holds, sizeof holds);
    hp_report_add(&r, "'%s' %s%s", l ? l->fr->f->target : "?", holds, prot);
  }
  hp_report_end(&r);
  if (!tx->left_changed)
    return hp_fail(rc, "%s '%s': %s; nothing was changed", tx->verb, pname,
                   cause);
  hp_fail(rc,
          "%s '%s': %s, and the code could not be put back as it was "
          "(%d undo%s failed): %s",
          tx->verb, pname, cause, tx->undo_failed,
          tx->undo_failed == 1 ? "" : "s", left);
  /* Loudly, now: the summary line may be filtered out by a caller that
   * only looks at the return code. */
  hp_error("%s", hotpatch_last_error());
  return rc;
}

static const char *hp_tries(int n) { return n == 1 ? "y" : "ies"; }

/* Park, check, switch, release — retried until the deadline. No hp_fail
 * while parked (it formats): the detail is written after release. */
static int hp_tx_loop(struct hp_tx *tx) {
  uint64_t start = hp_now_ns();
  uint64_t deadline = start + (uint64_t)tx->timeout_ms * 1000000u;
  /* Back off 1 ms, doubling, capped at 10 ms: long enough for a thread to
   * leave a short function, short enough to try often before the
   * deadline. */
  uint64_t backoff = 1000000u;
  const char *name = tx->p->desc->name;
  int rc;
  for (;;) {
    tx->tries++;
    uint64_t t0 = hp_now_ns();
    rc = hp_park_stop(&tx->park, deadline);
    tx->resends += tx->park.retries_signal;
    if (!rc && hp_now_ns() - t0 > tx->stop_ns)
      tx->stop_ns = hp_now_ns() - t0;
    if (rc && tx->park.overflow && hp_now_ns() < deadline) {
      /* More threads than the slots: prepare for today's count. */
      hp_clear_error();
      hp_park_finish(&tx->park);
      if ((rc = hp_park_prepare(&tx->park)) != 0)
        return hp_fail_context(rc, "%s '%s': ", tx->verb, name);
      continue;
    }
    if (rc == HOTPATCH_EBUSY && !tx->park.overflow) {
      char buf[HP_ERROR_MAX - 128];
      hp_park_describe_stragglers(&tx->park, buf, sizeof buf);
      return hp_fail(HOTPATCH_EBUSY,
                     "%s '%s': not every thread stopped within %u ms "
                     "(%d tr%s): %s",
                     tx->verb, name, tx->timeout_ms, tx->tries,
                     hp_tries(tx->tries), buf);
    }
    if (rc) /* EIO, overflow at the deadline...: the stop's own detail */
      return hp_fail_context(rc, "%s '%s': after %d tr%s: ", tx->verb, name,
                             tx->tries, hp_tries(tx->tries));
    tx->who = NULL;
    tx->why = NULL;
    tx->reason = NULL;
    rc =
        hp_safepoint_check(&tx->sp, &tx->park, &tx->who, &tx->why, &tx->reason);
    if (!rc) {
      rc = hp_tx_switch(tx);
      /* Whatever was written: every core serialises (an extra). */
      hp_park_sync_core(&tx->park);
    }
    hp_park_release(&tx->park);
    uint64_t pause = tx->park.t_release_ns - tx->park.t_stop_ns;
    if (pause > tx->pause_ns)
      tx->pause_ns = pause;
    if (rc != HOTPATCH_EBUSY)
      break;
    /* Another try needs the backoff and a stop at least as slow as the
     * slowest so far: a stop cut short by the deadline would blame
     * threads that had no time to stop, and hide the verdict above. */
    if (hp_now_ns() + backoff + 2 * tx->stop_ns >= deadline)
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
  if (rc == HOTPATCH_EBUSY) {
    char buf[HP_ERROR_MAX - 128];
    hp_safepoint_describe(&tx->sp, buf, sizeof buf);
    return hp_fail(HOTPATCH_EBUSY,
                   "%s '%s': after %d tr%s in %u ms, not every thread is at "
                   "a safe point: %s",
                   tx->verb, name, tx->tries, hp_tries(tx->tries),
                   tx->timeout_ms, buf);
  }
  if (rc && tx->failed_chg < 0)
    return hp_fail(rc, "%s '%s': %s", tx->verb, name, hotpatch_strerror(rc));
  if (rc)
    return hp_tx_report(tx, rc);
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
  /* A half-switched apply keeps its originals: switched sites reach
   * replacements that call them. */
  if (rc && tx->kind != HP_TX_REVERT && !tx->left_changed)
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

void hp_tx_keep(struct hp_tx *tx) {
  /* Neither stack describes the sites now: keep both alive. The new
   * layers and the fns made for them are never freed. */
  tx->layers = NULL;
  tx->nmade = 0;
  tx->p->pinned = 1;
  hp_tx_abort(tx);
}
