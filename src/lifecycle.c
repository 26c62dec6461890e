/* SPDX-License-Identifier: MIT */
/*
 * hotpatch_apply, hotpatch_revert, hotpatch_replace: the lifecycle of
 * SPEC §3 around one transition (transition.h). docs/lifecycle.md has the
 * state machine; the order of one apply is
 *
 *   static checks   state versions (Linux klp rules), replace vs vetoing
 *                   hooks, LIFO for a revert, re-apply; nothing runs on a
 *                   failure, which becomes rc
 *   plan            analysis, trampolines, stubs (may still fail: ETOOSHORT,
 *                   ENONEAR...; nothing runs either)
 *   open            rc = HOTPATCH_EAGAIN, hotpatch_get_prev_state() works
 *   pre_apply       threads running, the registry lock released; a
 *                   non-zero return vetoes: it is returned and becomes rc
 *   run             park; at a safe point: quiesced_apply, switch; release
 *   bookkeeping     status, the applied stack (before post_apply, which
 *                   sees the patch APPLIED)
 *   post_apply(rc)  exactly once whenever pre_apply ran and returned 0
 *   close
 *
 * A revert mirrors it (pre_revert, switch then quiesced_revert,
 * post_revert). A replace is the apply of a cumulative patch that also
 * reverts every applied patch in the same parked window; it is refused
 * (HOTPATCH_EOPNOTSUPP) when any patch involved has a pre/post hook (Xen),
 * and only the new patch's quiesced hook runs (Linux).
 */
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "patch.h"
#include "state.h"
#include "transition.h"

static int hp_vetoing(const struct hotpatch_patch *p) {
  const struct hotpatch_hooks *h = &p->desc->hooks;
  return h->pre_apply || h->post_apply || h->pre_revert || h->post_revert;
}

/* Xen's rule (semantics B.7): replace only among patches without
 * pre/post hooks. */
static int hp_check_replace(const struct hotpatch_patch *p) {
  const struct hotpatch_patch *v = hp_vetoing(p) ? p : NULL;
  for (const struct hotpatch_patch *q = hp_applied_bottom(); q && !v;
       q = q->above)
    if (hp_vetoing(q))
      v = q;
  if (!v)
    return 0;
  return hp_fail(HOTPATCH_EOPNOTSUPP,
                 "replace with patch '%s': %s '%s' has pre/post hooks, which "
                 "a replace cannot run (use hotpatch_revert and "
                 "hotpatch_apply)",
                 p->desc->name, v == p ? "the patch" : "applied patch",
                 v->desc->name);
}

/* The static checks of an apply or replace, and its plan. */
static int hp_plan_apply(struct hp_tx *tx, struct hotpatch_patch *p,
                         int cumulative) {
  if (p->reverted && !(p->desc->flags & HOTPATCH_REAPPLYABLE))
    return hp_fail(HOTPATCH_EINVAL,
                   "patch '%s' was %s and is not HOTPATCH_REAPPLYABLE: load "
                   "it again to apply it",
                   p->desc->name, p->replaced_by[0] ? "replaced" : "reverted");
  int rc = hp_states_compatible(p, cumulative);
  if (!rc && cumulative)
    rc = hp_check_replace(p);
  if (rc)
    return rc;
  return cumulative ? hp_tx_plan_replace(tx, p) : hp_tx_plan_apply(tx, p);
}

static int hp_plan_revert(struct hp_tx *tx, struct hotpatch_patch *p) {
  const struct hotpatch_patch *top = hp_applied_top();
  if (top != p)
    return hp_fail(HOTPATCH_EBUSY,
                   "revert '%s': patch '%s' was applied after it; revert "
                   "that first (patches are reverted newest first)",
                   p->desc->name, top ? top->desc->name : "?");
  return hp_tx_plan_revert(tx, p);
}

/* Status after a successful transition, before the post hook. */
static void hp_bookkeeping(struct hp_tx *tx) {
  struct hotpatch_patch *p = tx->p;
  if (tx->kind == HP_TX_REPLACE)
    for (struct hotpatch_patch *q = hp_applied_bottom(), *n; q; q = n) {
      n = q->above;
      if (q == p)
        continue;
      q->applied = 0;
      q->reverted = 1;
      q->rc = 0;
      snprintf(q->replaced_by, sizeof q->replaced_by, "%s", p->desc->name);
    }
  hp_tx_commit(tx); /* reads the applied stack: before it changes */
  if (tx->kind == HP_TX_REPLACE)
    while (hp_applied_bottom())
      hp_applied_remove(hp_applied_bottom());
  if (tx->kind == HP_TX_REVERT) {
    hp_applied_remove(p);
    p->applied = 0;
    p->reverted = 1;
  } else {
    hp_applied_push(p);
    p->applied = 1;
    p->replaced_by[0] = '\0';
  }
}

static const char *hp_kind_name(enum hp_tx_kind k) {
  return k == HP_TX_APPLY    ? "hotpatch_apply"
         : k == HP_TX_REVERT ? "hotpatch_revert"
                             : "hotpatch_replace";
}

/* A failed switch that could not undo every write (tx->left_changed):
 * keep alive what the sites may reach, and say what state that is. */
static void hp_keep_half_switched(struct hp_tx *tx) {
  struct hotpatch_patch *p = tx->p;
  char detail[HP_ERROR_MAX];
  hp_error_save(detail);
  if (tx->kind == HP_TX_APPLY) {
    hp_bookkeeping(tx);
    hp_error("patch '%s' is left APPLIED with part of its code switched: "
             "hotpatch_revert() restores what was written",
             p->desc->name);
  } else if (tx->kind == HP_TX_REVERT) {
    hp_tx_abort(tx);
    hp_error("patch '%s' stays APPLIED with part of its code reverted: "
             "hotpatch_revert() again finishes it",
             p->desc->name);
  } else {
    hp_tx_keep(tx);
    hp_error("replace with patch '%s' failed half-way: the applied patches "
             "stay APPLIED, and neither they nor '%s' can be unloaded; "
             "restart the process to be sure of its code",
             p->desc->name, p->desc->name);
  }
  hp_error_restore(detail);
}

/* What an action's summary line reports. */
struct hp_summary {
  const char *noop; /* why there was nothing to do, or NULL */
  int tries, resends;
  uint64_t pause_ns;
};

/* SPEC §7: one line per action, whatever happened: the result, the
 * longest pause, the stops tried and the signals sent again. */
static void hp_action_log(const char *what, const char *name, int rc,
                          const struct hp_summary *sum) {
  char stats[128];
  snprintf(stats, sizeof stats, "pause %.3f ms, %d tr%s, %d signal resend%s",
           sum->pause_ns / 1e6, sum->tries, sum->tries == 1 ? "y" : "ies",
           sum->resends, sum->resends == 1 ? "" : "s");
  if (!rc)
    hp_info("%s '%s': ok%s%s%s; %s", what, name, sum->noop ? " (" : "",
            sum->noop ? sum->noop : "", sum->noop ? ": nothing to do)" : "",
            stats);
  else
    hp_error("%s '%s': %s; %s: %s", what, name, hotpatch_err_name(rc), stats,
             hotpatch_last_error());
}

/* The action under the transition token; *sum filled for the log. */
static int hp_transition_locked(hotpatch_patch *p,
                                const struct hotpatch_opts *o,
                                enum hp_tx_kind kind, struct hp_summary *sum) {
  const char *what = hp_kind_name(kind);
  if (!hp_registry_contains(p))
    return hp_fail(HOTPATCH_EINVAL, "%s: not a loaded patch", what);
  if (kind == HP_TX_APPLY && (p->desc->flags & HOTPATCH_REPLACE))
    kind = HP_TX_REPLACE;
  /* SPEC §3: apply of an APPLIED patch, revert of a LOADED one: 0, and
   * nothing else happens (rc untouched, no hook). */
  if (p->applied != (kind == HP_TX_REVERT)) {
    sum->noop = p->applied ? "already applied" : "not applied";
    return 0;
  }
  struct hp_tx tx;
  int rc = kind == HP_TX_REVERT ? hp_plan_revert(&tx, p)
                                : hp_plan_apply(&tx, p, kind == HP_TX_REPLACE);
  if (rc) {
    p->rc = rc;
    return rc;
  }
  tx.timeout_ms = o ? o->timeout_ms : 0;
  const struct hotpatch_hooks *h = &p->desc->hooks;
  int (*pre)(hotpatch_patch *) =
      kind == HP_TX_REVERT ? h->pre_revert : h->pre_apply;
  void (*post)(hotpatch_patch *, int) =
      kind == HP_TX_REVERT ? h->post_revert : h->post_apply;
  hp_transition_open(p);
  if (pre) {
    hp_transition_unlock();
    rc = pre(p);
    hp_transition_relock();
    if (rc) {
      hp_tx_abort(&tx);
      p->rc = rc;
      hp_transition_close(p);
      return hp_fail(rc, "%s '%s': vetoed by its %s hook (it returned %d)",
                     what, p->desc->name,
                     kind == HP_TX_REVERT ? "pre_revert" : "pre_apply", rc);
    }
  }
  rc = hp_tx_run(&tx);
  sum->tries = tx.tries;
  sum->resends = tx.resends;
  sum->pause_ns = tx.pause_ns;
  if (!rc)
    hp_bookkeeping(&tx);
  else if (tx.left_changed)
    hp_keep_half_switched(&tx);
  else
    hp_tx_abort(&tx);
  p->rc = rc;
  char detail[HP_ERROR_MAX];
  hp_error_save(detail);
  if (post) {
    hp_transition_unlock();
    post(p, rc);
    hp_transition_relock();
  }
  hp_transition_close(p);
  hp_error_restore(detail); /* the post hook may have called the library */
  return rc;
}

static int hp_transition(hotpatch_patch *p, const struct hotpatch_opts *o,
                         enum hp_tx_kind kind) {
  const char *what = hp_kind_name(kind);
  struct hp_summary sum = {0};
  hp_clear_error();
  int rc = p ? hp_transition_begin(what, p)
             : hp_fail(HOTPATCH_EINVAL, "%s: NULL handle", what);
  if (rc) {
    hp_action_log(what, p ? "?" : "(null)", rc, &sum);
    return rc;
  }
  /* Copied while the token is held: the line is logged after it is
   * given back, when another thread may unload the patch. */
  char name[HP_NAME_MAX + 1] = "?";
  if (hp_registry_contains(p))
    snprintf(name, sizeof name, "%s", p->desc->name);
  rc = hp_transition_locked(p, o, kind, &sum);
  hp_transition_end();
  hp_action_log(what, name, rc, &sum);
  return rc;
}

int hotpatch_apply(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_transition(p, o, HP_TX_APPLY);
}

int hotpatch_revert(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_transition(p, o, HP_TX_REVERT);
}

int hotpatch_replace(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_transition(p, o, HP_TX_REPLACE);
}

int hotpatch_status(const hotpatch_patch *p, struct hotpatch_status *out) {
  if (!p || !out)
    return HOTPATCH_EINVAL;
  int locked = hp_read_begin();
  int rc = HOTPATCH_EINVAL;
  if (hp_registry_contains(p)) {
    out->applied = p->applied;
    out->rc = p->rc;
    out->reverted = p->reverted;
    out->in_transition = p->in_transition;
    snprintf(out->replaced_by, sizeof out->replaced_by, "%s", p->replaced_by);
    rc = 0;
  }
  hp_read_end(locked);
  return rc;
}
