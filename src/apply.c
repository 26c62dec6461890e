/* SPDX-License-Identifier: MIT */
/*
 * hotpatch_apply / hotpatch_revert for a patch's functions, through the
 * consistency engine:
 *
 *   prepare (threads running): resolve nothing new — the targets were
 *     resolved at load — but analyse each site, write its trampoline and
 *     stub, point each `original` at its trampoline, arm the writes, list
 *     the hot ranges, prepare the safe-point check and the parking slots;
 *   loop until the deadline: park every other thread; if one is not at a
 *     safe point, release all, back off, retry;
 *   switch (threads parked): write every site — on any failure undo the
 *     ones written — then release; each thread serialises as it resumes;
 *   after (threads running): report, free what is no longer needed.
 *
 * Hooks, states, stacking and replace are the lifecycle's (SPEC §3) and
 * not handled here yet: such patches are refused with HOTPATCH_EOPNOTSUPP
 * rather than applied without their hooks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "modules.h"
#include "park.h"
#include "patch.h"
#include "safepoint.h"
#include "site.h"

/* One action's working set. */
struct hp_action {
  struct hotpatch_patch *p;
  const char *verb; /* "apply", "revert" */
  struct hp_hot *hot;
  size_t nhot;
  struct hp_safepoint sp;
  struct hp_park park;
  uint32_t timeout_ms;
  int tries;
  int resends;       /* signals sent again, over every try */
  uint64_t pause_ns; /* the longest parked window */
  uint64_t stop_ns;  /* the longest time a stop took to park everyone */
  /* Why the last try failed, kept until the threads run again. */
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  int failed_site;  /* index of a site whose write failed, or -1 */
  int undo_failed;  /* sites the rollback could not put back */
  int left_changed; /* after a failed switch: some site is not as before */
};

/* What hp_action's summary line says. */
struct hp_summary {
  int noop; /* nothing to do (already applied, not applied) */
  int tries, resends;
  uint64_t pause_ns;
};

static void hp_summarise(struct hp_summary *sum, const struct hp_action *a) {
  sum->tries = a->tries;
  sum->resends = a->resends;
  sum->pause_ns = a->pause_ns;
}

static int hp_check_supported(const struct hotpatch_patch *p) {
  const struct hotpatch_desc *d = p->desc;
  const struct hotpatch_hooks *h = &d->hooks;
  if (h->pre_apply || h->post_apply || h->pre_revert || h->post_revert ||
      h->quiesced_apply || h->quiesced_revert)
    return hp_fail(HOTPATCH_EOPNOTSUPP,
                   "patch '%s' has hooks: they come with the patch lifecycle, "
                   "not supported yet",
                   d->name);
  if (d->states && d->states[0].id)
    return hp_fail(HOTPATCH_EOPNOTSUPP,
                   "patch '%s' has states: the state registry is not "
                   "supported yet",
                   d->name);
  if (d->flags & HOTPATCH_REPLACE)
    return hp_fail(HOTPATCH_EOPNOTSUPP,
                   "patch '%s' is cumulative (HOTPATCH_REPLACE): replace is "
                   "not supported yet",
                   d->name);
  return 0;
}

/* Stacking comes with the lifecycle: refuse a target another applied patch
 * has replaced. Runs under the registry lock (foreach nests in it). */
struct hp_stack_check {
  const struct hotpatch_patch *p;
  int rc;
};

static int hp_stack_cb(hotpatch_patch *q, void *arg) {
  struct hp_stack_check *c = arg;
  if (q == c->p || !q->applied)
    return 0;
  for (size_t i = 0; i < c->p->nfuncs; i++)
    for (size_t k = 0; k < q->nfuncs; k++)
      if (c->p->funcs[i].t.addr == q->funcs[k].t.addr) {
        c->rc =
            hp_fail(HOTPATCH_EOPNOTSUPP,
                    "patch '%s': '%s' is already replaced by applied "
                    "patch '%s'; stacking is not supported yet",
                    c->p->desc->name, c->p->funcs[i].f->target, q->desc->name);
        return 1;
      }
  return 0;
}

static int hp_check_not_stacked(const struct hotpatch_patch *p) {
  struct hp_stack_check c = {p, 0};
  hotpatch_foreach(hp_stack_cb, &c);
  return c.rc;
}

static void hp_sleep_ns(uint64_t ns) {
  struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

/* Write (install) or restore (remove) every site while parked. On a
 * failure undo the ones done, so the process is as before; an undo that
 * fails is counted, and the report after the release says what each site
 * holds (hp_switch_report). AS-safe. */
static int hp_switch(struct hp_action *a, int install) {
  struct hp_site_rt *s = a->p->sites;
  size_t n = a->p->nfuncs;
  for (size_t i = 0; i < n; i++) {
    if (hp_park_test_parked_hook)
      hp_park_test_parked_hook(i, install);
    int rc = install ? hp_site_install(&s[i]) : hp_site_remove(&s[i]);
    if (rc) {
      a->failed_site = (int)i;
      while (i-- > 0)
        if (install ? hp_site_remove(&s[i]) : hp_site_install(&s[i]))
          a->undo_failed++;
      return rc;
    }
  }
  return 0;
}

enum { HP_HOLDS_ORIG, HP_HOLDS_OURS, HP_HOLDS_OTHER };

/* What a site's bytes are now (after the release: code pages are
 * readable, even one left writable by a failed mprotect). */
static int hp_site_holds(const struct hp_site_rt *s) {
  const void *at = (const void *)(uintptr_t)s->s.addr;
  if (!memcmp(at, s->s.orig, s->s.len))
    return HP_HOLDS_ORIG;
  return memcmp(at, s->entry, s->s.len) ? HP_HOLDS_OTHER : HP_HOLDS_OURS;
}

/*
 * After a failed switch, threads running: say why the write failed and
 * what every site written holds now. A write that failed with
 * HOTPATCH_EIO may have left its bytes in place, and an undo may have
 * failed: each such site's `installed` is set from its bytes, so that a
 * later revert removes what is there, and a->left_changed tells the
 * caller to keep the trampolines and stubs such sites may reach.
 * Returns rc.
 */
static int hp_switch_report(struct hp_action *a, int install, int rc) {
  struct hotpatch_patch *p = a->p;
  const struct hp_func_rt *f = &p->funcs[a->failed_site];
  char cause[HP_ERROR_MAX / 2], left[HP_ERROR_MAX / 2];
  const char *target = f->f->target, *obj = f->t.object;
  if (rc == HOTPATCH_ECHANGED)
    snprintf(cause, sizeof cause,
             "the code of '%s' in %s changed since it was prepared (someone "
             "else patched it?)",
             target, obj);
  else if (rc == HOTPATCH_ECODEWRITE)
    snprintf(cause, sizeof cause,
             "the code of '%s' in %s could not be written (the page could "
             "not be made writable, or the write was refused)",
             target, obj);
  else if (rc == HOTPATCH_EIO)
    snprintf(cause, sizeof cause,
             "writing the code of '%s' in %s left a page without its "
             "protection (mprotect refused to restore it)",
             target, obj);
  else
    snprintf(cause, sizeof cause, "writing the code of '%s' in %s failed",
             target, obj);
  struct hp_report r = {left, sizeof left, 0, 0};
  /* The sites written: those before the failed one (and undone, or not),
   * and the failed one after HOTPATCH_EIO, which may have left its bytes
   * in. The others were not touched: what they hold is not ours to
   * report (ECHANGED: someone else's bytes). */
  size_t written = (size_t)a->failed_site + (rc == HOTPATCH_EIO);
  for (size_t i = 0; i < written; i++) {
    struct hp_site_rt *s = &p->sites[i];
    int holds = hp_site_holds(s);
    s->installed = holds == HP_HOLDS_OURS;
    int changed = holds != (install ? HP_HOLDS_ORIG : HP_HOLDS_OURS);
    char prot[256] = "";
    if (hp_write_verify(&s->wr)) {
      snprintf(prot, sizeof prot, ", %s", hotpatch_last_error());
      changed = 1;
    }
    if (!changed)
      continue;
    a->left_changed = 1;
    hp_report_add(&r, "'%s' %s%s", p->funcs[i].f->target,
                  holds == HP_HOLDS_OURS   ? "jumps to its replacement"
                  : holds == HP_HOLDS_ORIG ? "runs its original code"
                                           : "holds bytes of neither",
                  prot);
  }
  hp_report_end(&r);
  if (!a->left_changed)
    return hp_fail(rc, "%s '%s': %s; nothing was changed", a->verb,
                   p->desc->name, cause);
  hp_fail(rc,
          "%s '%s': %s, and the code could not be put back as it was "
          "(%d undo%s failed): %s",
          a->verb, p->desc->name, cause, a->undo_failed,
          a->undo_failed == 1 ? "" : "s", left);
  /* Loudly, now: the summary line may be filtered out by a caller that
   * only looks at the return code. */
  hp_error("%s", hotpatch_last_error());
  return rc;
}

/*
 * Park, check, switch, release — retried until the deadline. Returns 0
 * with the code switched, or the failure with nothing changed. No hp_fail
 * while parked (it formats with snprintf): the detail is written after.
 */
static int hp_run(struct hp_action *a, int install) {
  uint64_t start = hp_now_ns();
  uint64_t deadline = start + (uint64_t)a->timeout_ms * 1000000u;
  /* Back off 1 ms, doubling, capped at 10 ms: long enough for a thread to
   * leave a short function, short enough to try often before the
   * deadline. */
  uint64_t backoff = 1000000u;
  int rc;
  for (;;) {
    a->tries++;
    uint64_t t0 = hp_now_ns();
    rc = hp_park_stop(&a->park, deadline);
    a->resends += a->park.retries_signal;
    if (!rc && hp_now_ns() - t0 > a->stop_ns)
      a->stop_ns = hp_now_ns() - t0;
    if (rc && a->park.overflow && hp_now_ns() < deadline) {
      /* More threads than the slots: prepare for today's count. */
      hp_clear_error();
      hp_park_finish(&a->park);
      if ((rc = hp_park_prepare(&a->park)) != 0)
        return hp_fail_context(rc, "%s '%s': ", a->verb, a->p->desc->name);
      continue;
    }
    if (rc == HOTPATCH_EBUSY && !a->park.overflow) {
      char buf[HP_ERROR_MAX - 128];
      hp_park_describe_stragglers(&a->park, buf, sizeof buf);
      return hp_fail(HOTPATCH_EBUSY,
                     "%s '%s': not every thread stopped within %u ms "
                     "(%d tr%s): %s",
                     a->verb, a->p->desc->name, a->timeout_ms, a->tries,
                     a->tries == 1 ? "y" : "ies", buf);
    }
    if (rc) /* EIO, overflow at the deadline...: the stop's own detail */
      return hp_fail_context(rc, "%s '%s': after %d tr%s: ", a->verb,
                             a->p->desc->name, a->tries,
                             a->tries == 1 ? "y" : "ies");
    rc = hp_safepoint_check(&a->sp, &a->park, &a->who, &a->why, &a->reason);
    if (!rc) {
      rc = hp_switch(a, install);
      /* Whatever was written: every core serialises (an extra). */
      hp_park_sync_core(&a->park);
    }
    hp_park_release(&a->park);
    uint64_t pause = a->park.t_release_ns - a->park.t_stop_ns;
    if (pause > a->pause_ns)
      a->pause_ns = pause;
    if (rc != HOTPATCH_EBUSY)
      break;
    /* Another try needs the backoff and a stop at least as slow as the
     * slowest so far: a stop cut short by the deadline would blame
     * threads that had no time to stop, and hide the verdict above. */
    if (hp_now_ns() + backoff + 2 * a->stop_ns >= deadline)
      break;
    if (a->reason && !strcmp(a->reason, HP_SP_MAPS_BIG)) {
      /* Threads started meanwhile outgrew the buffer: a bigger one. */
      hp_safepoint_finish(&a->sp);
      if ((rc = hp_safepoint_prepare(&a->sp, a->hot, a->nhot)) != 0)
        return rc;
    }
    hp_sleep_ns(backoff);
    backoff = backoff * 2 > 10000000u ? 10000000u : backoff * 2;
  }
  if (rc == HOTPATCH_EBUSY) {
    char buf[HP_ERROR_MAX - 128];
    hp_safepoint_describe(&a->sp, buf, sizeof buf);
    return hp_fail(HOTPATCH_EBUSY,
                   "%s '%s': after %d tr%s in %u ms, not every thread is at "
                   "a safe point: %s",
                   a->verb, a->p->desc->name, a->tries,
                   a->tries == 1 ? "y" : "ies", a->timeout_ms, buf);
  }
  if (rc)
    return hp_switch_report(a, install, rc);
  return 0;
}

static int hp_action_prepare(struct hp_action *a) {
  int rc = hp_safepoint_prepare(&a->sp, a->hot, a->nhot);
  if (rc)
    return rc;
  rc = hp_park_prepare(&a->park);
  if (rc) {
    hp_safepoint_finish(&a->sp);
    return rc;
  }
  for (size_t i = 0; i < a->p->nfuncs && !rc; i++)
    rc = hp_site_arm(&a->p->sites[i]);
  if (rc) {
    hp_park_finish(&a->park);
    hp_safepoint_finish(&a->sp);
  }
  return rc;
}

static void hp_action_finish(struct hp_action *a) {
  for (size_t i = 0; i < a->p->nfuncs; i++)
    hp_site_disarm(&a->p->sites[i]);
  hp_park_finish(&a->park);
  hp_safepoint_finish(&a->sp);
  free(a->hot);
}

static void hp_sites_release(struct hotpatch_patch *p) {
  for (size_t i = 0; p->sites && i < p->nfuncs; i++)
    hp_site_release(&p->sites[i]);
  free(p->sites);
  p->sites = NULL;
}

static uint32_t hp_timeout(const struct hotpatch_opts *o) {
  return o && o->timeout_ms ? o->timeout_ms : hp_config().timeout_ms;
}

/* Apply's hot ranges: each function being replaced (whole, and its .cold
 * part), or only its overwritten bytes with HOTPATCH_FUNC_ALLOW_ACTIVE. */
static int hp_apply_hot(struct hp_action *a) {
  struct hotpatch_patch *p = a->p;
  a->hot = calloc(2 * p->nfuncs, sizeof *a->hot);
  if (!a->hot)
    return hp_fail(HOTPATCH_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->nfuncs; i++) {
    const struct hp_func_rt *f = &p->funcs[i];
    const struct hp_site_rt *s = &p->sites[i];
    struct hp_hot *h = &a->hot[a->nhot++];
    h->what = f->f->target;
    if (f->f->flags & HOTPATCH_FUNC_ALLOW_ACTIVE) {
      *h = (struct hp_hot){s->s.addr, s->s.addr + s->s.len, 0, 1, f->f->target};
      continue;
    }
    *h = (struct hp_hot){f->t.addr, f->t.addr + f->t.size, f->t.addr, 0,
                         f->f->target};
    if (f->t.cold_addr)
      a->hot[a->nhot++] = (struct hp_hot){
          f->t.cold_addr, f->t.cold_addr + f->t.cold_size, 0, 0, f->f->target};
  }
  return 0;
}

/* Each replacement's extent, once per patch (it reads the object's file). */
static int hp_repl_extents(struct hotpatch_patch *p) {
  if (!p->nfuncs || p->funcs[0].repl_hi)
    return 0;
  struct hp_modules *m = NULL;
  int rc = hp_modules_snapshot(&m);
  for (size_t i = 0; i < p->nfuncs && !rc; i++)
    rc = hp_func_extent(m, (uintptr_t)p->funcs[i].f->replacement,
                        &p->funcs[i].repl_lo, &p->funcs[i].repl_hi);
  hp_modules_free(m);
  return rc;
}

/* Revert's: each replacement (its symbol's extent), each trampoline and
 * stub (freed after), and the bytes being restored. */
static int hp_revert_hot(struct hp_action *a) {
  struct hotpatch_patch *p = a->p;
  int rc = hp_repl_extents(p);
  if (rc)
    return rc;
  a->hot = calloc(4 * p->nfuncs, sizeof *a->hot);
  if (!a->hot)
    return hp_fail(HOTPATCH_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->nfuncs; i++) {
    const struct hp_func_rt *f = &p->funcs[i];
    const struct hp_site_rt *s = &p->sites[i];
    uintptr_t repl = (uintptr_t)f->f->replacement;
    a->hot[a->nhot++] =
        (struct hp_hot){f->repl_lo, f->repl_hi, repl, 0, f->f->target};
    /* Freed after: entry 0, so that a word equal to the first address
     * counts. It is no function pointer to skip: a saved PC in a signal
     * frame of a thread stopped on that first instruction looks the same,
     * and so does a copy of `original` about to be called. */
    a->hot[a->nhot++] = (struct hp_hot){
        s->tramp.addr, s->tramp.addr + s->tramp.size, 0, 0, f->f->target};
    if (s->stub.addr)
      a->hot[a->nhot++] = (struct hp_hot){
          s->stub.addr, s->stub.addr + s->stub.size, 0, 0, f->f->target};
    a->hot[a->nhot++] =
        (struct hp_hot){s->s.addr, s->s.addr + s->s.len, 0, 1, f->f->target};
  }
  return 0;
}

static void hp_set_originals(struct hotpatch_patch *p, int on) {
  for (size_t i = 0; i < p->nfuncs; i++)
    if (p->funcs[i].f->original)
      *p->funcs[i].f->original = on ? hp_site_original(&p->sites[i]) : NULL;
}

/* After a failed switch that could not be undone: the sites that still
 * jump to the replacement need their trampolines, stubs and originals,
 * and the patch object must not be unloaded under them. The patch counts
 * as APPLIED (the code says so), so hotpatch_unload refuses and
 * hotpatch_revert can restore what is there. */
static int hp_keep_half_applied(struct hotpatch_patch *p, int rc) {
  p->applied = 1;
  hp_error("patch '%s' is left APPLIED with part of its code switched: "
           "hotpatch_revert() restores what was written",
           p->desc->name);
  return rc;
}

static int hp_apply_locked(struct hotpatch_patch *p,
                           const struct hotpatch_opts *o,
                           struct hp_summary *sum) {
  if (p->applied) {
    sum->noop = 1;
    return 0; /* SPEC §3: apply of an APPLIED patch does nothing */
  }
  if (p->reverted && !(p->desc->flags & HOTPATCH_REAPPLYABLE))
    return hp_fail(HOTPATCH_EINVAL,
                   "patch '%s' was reverted and is not HOTPATCH_REAPPLYABLE",
                   p->desc->name);
  int rc = hp_check_supported(p);
  if (!rc)
    rc = hp_check_not_stacked(p);
  if (!rc) /* now, so that a revert need not read files */
    rc = hp_repl_extents(p);
  if (rc)
    return rc;
  if (!p->nfuncs)
    return 0;
  p->sites = calloc(p->nfuncs, sizeof *p->sites);
  if (!p->sites)
    return hp_fail(HOTPATCH_ENOMEM, "out of memory");
  for (size_t i = 0; i < p->nfuncs && !rc; i++) {
    const struct hp_func_rt *f = &p->funcs[i];
    rc = hp_site_prepare(&p->sites[i], &f->t, (uintptr_t)f->f->replacement);
    if (rc) {
      hp_fail_context(rc, "patch '%s': func[%zu] '%s' in %s: ", p->desc->name,
                      i, f->f->target, f->t.object);
      while (i-- > 0)
        hp_site_release(&p->sites[i]);
      free(p->sites);
      p->sites = NULL;
      return rc;
    }
  }
  struct hp_action a = {
      .p = p, .verb = "apply", .timeout_ms = hp_timeout(o), .failed_site = -1};
  rc = hp_apply_hot(&a);
  if (!rc)
    rc = hp_action_prepare(&a);
  if (rc) {
    free(a.hot);
    hp_sites_release(p);
    return rc;
  }
  /* Before the switch: the replacement may call its original at once. */
  hp_set_originals(p, 1);
  rc = hp_run(&a, 1);
  hp_action_finish(&a);
  hp_summarise(sum, &a);
  if (rc && a.left_changed)
    return hp_keep_half_applied(p, rc);
  if (rc) {
    hp_set_originals(p, 0);
    hp_sites_release(p);
    return rc;
  }
  p->applied = 1;
  return 0;
}

static int hp_revert_locked(struct hotpatch_patch *p,
                            const struct hotpatch_opts *o,
                            struct hp_summary *sum) {
  if (!p->applied) {
    sum->noop = 1;
    return 0; /* SPEC §3: revert of a LOADED patch does nothing */
  }
  struct hp_action a = {
      .p = p, .verb = "revert", .timeout_ms = hp_timeout(o), .failed_site = -1};
  int rc = hp_revert_hot(&a);
  if (!rc)
    rc = hp_action_prepare(&a);
  if (rc) {
    free(a.hot);
    return rc;
  }
  rc = hp_run(&a, 0);
  hp_action_finish(&a);
  hp_summarise(sum, &a);
  if (rc) /* still APPLIED: every site keeps what it reaches */
    return rc;
  /* No thread is in a trampoline or a replacement, or returns into one:
   * the check above proved it while they were parked. */
  hp_set_originals(p, 0);
  hp_sites_release(p);
  p->applied = 0;
  p->reverted = 1;
  return 0;
}

/* SPEC §7: one line per action, whatever happened: the result, the
 * longest pause, the stops tried and the signals sent again. */
static void hp_action_log(const char *what, const char *name, int rc,
                          const struct hp_summary *sum) {
  char stats[128];
  snprintf(stats, sizeof stats, "pause %.3f ms, %d tr%s, %d signal resend%s",
           sum->pause_ns / 1e6, sum->tries, sum->tries == 1 ? "y" : "ies",
           sum->resends, sum->resends == 1 ? "" : "s");
  if (!rc)
    hp_info("%s '%s': ok%s; %s", what, name,
            !sum->noop ? ""
            : !strcmp(what, "hotpatch_apply")
                ? " (already applied: nothing to do)"
                : " (not applied: nothing to do)",
            stats);
  else
    hp_error("%s '%s': %s; %s: %s", what, name, hotpatch_err_name(rc), stats,
             hotpatch_last_error());
}

static int hp_action(hotpatch_patch *p, const struct hotpatch_opts *o,
                     int apply) {
  const char *what = apply ? "hotpatch_apply" : "hotpatch_revert";
  struct hp_summary sum = {0};
  hp_clear_error();
  int rc = p ? hp_action_begin(what)
             : hp_fail(HOTPATCH_EINVAL, "%s: NULL handle", what);
  if (rc) {
    hp_action_log(what, p ? "?" : "(null)", rc, &sum);
    return rc;
  }
  const char *name = "?";
  if (!hp_registry_contains(p)) {
    rc = hp_fail(HOTPATCH_EINVAL, "%s: not a loaded patch", what);
  } else {
    name = p->desc->name;
    rc = apply ? hp_apply_locked(p, o, &sum) : hp_revert_locked(p, o, &sum);
    p->rc = rc;
  }
  hp_action_log(what, name, rc, &sum);
  hp_action_end();
  return rc;
}

int hotpatch_apply(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_action(p, o, 1);
}

int hotpatch_revert(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_action(p, o, 0);
}
