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
  uint64_t pause_ns; /* the longest parked window */
  /* Why the last try failed, kept until the threads run again. */
  const struct hp_slot *who;
  const struct hp_hot *why;
  const char *reason;
  pid_t who_tid;
  char who_name[16];
  int failed_site; /* index of a site whose write failed, or -1 */
};

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
 * failure undo the ones done, so the process is as before. AS-safe. */
static int hp_switch(struct hp_action *a, int install) {
  struct hp_site_rt *s = a->p->sites;
  size_t n = a->p->nfuncs;
  for (size_t i = 0; i < n; i++) {
    int rc = install ? hp_site_install(&s[i]) : hp_site_remove(&s[i]);
    if (rc) {
      a->failed_site = (int)i;
      while (i-- > 0)
        (void)(install ? hp_site_remove(&s[i]) : hp_site_install(&s[i]));
      return rc;
    }
  }
  return 0;
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
    rc = hp_park_stop(&a->park, deadline);
    if (rc) {
      char buf[512];
      hp_park_describe_stragglers(&a->park, buf, sizeof buf);
      return hp_fail(HOTPATCH_EBUSY,
                     "%s '%s': not every thread stopped within %u ms "
                     "(%d tries): %s",
                     a->verb, a->p->desc->name, a->timeout_ms, a->tries, buf);
    }
    rc = hp_safepoint_check(&a->sp, &a->park, &a->who, &a->why, &a->reason);
    if (!rc)
      rc = hp_switch(a, install);
    else if (a->who) {
      a->who_tid = a->who->tid;
      memcpy(a->who_name, a->who->name, sizeof a->who_name);
    }
    hp_park_release(&a->park);
    uint64_t pause = a->park.t_release_ns - a->park.t_stop_ns;
    if (pause > a->pause_ns)
      a->pause_ns = pause;
    if (rc != HOTPATCH_EBUSY)
      break;
    if (hp_now_ns() + backoff >= deadline)
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
  if (rc == HOTPATCH_EBUSY)
    return hp_fail(HOTPATCH_EBUSY,
                   "%s '%s': after %d tries in %u ms, thread %d '%s' is %s%s",
                   a->verb, a->p->desc->name, a->tries, a->timeout_ms,
                   (int)a->who_tid, a->who_name, a->why ? "inside " : "",
                   a->why ? a->why->what : a->reason);
  if (rc) {
    const struct hp_func_rt *f = &a->p->funcs[a->failed_site];
    return hp_fail(rc,
                   "%s '%s': the code of '%s' in %s changed since it was "
                   "prepared (someone else patched it?); nothing was changed",
                   a->verb, a->p->desc->name, f->f->target, f->t.object);
  }
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
    a->hot[a->nhot++] =
        (struct hp_hot){s->tramp.addr, s->tramp.addr + s->tramp.size,
                        s->tramp.addr, 0, f->f->target};
    if (s->stub.addr)
      a->hot[a->nhot++] =
          (struct hp_hot){s->stub.addr, s->stub.addr + s->stub.size,
                          s->stub.addr, 0, f->f->target};
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

static int hp_apply_locked(struct hotpatch_patch *p,
                           const struct hotpatch_opts *o) {
  if (p->applied)
    return 0; /* SPEC §3: apply of an APPLIED patch does nothing */
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
  if (rc) {
    hp_set_originals(p, 0);
    hp_sites_release(p);
    return rc;
  }
  p->applied = 1;
  hp_info("applied patch '%s': %zu function(s), pause %.3f ms, %d tr%s",
          p->desc->name, p->nfuncs, a.pause_ns / 1e6, a.tries,
          a.tries == 1 ? "y" : "ies");
  return 0;
}

static int hp_revert_locked(struct hotpatch_patch *p,
                            const struct hotpatch_opts *o) {
  if (!p->applied)
    return 0; /* SPEC §3: revert of a LOADED patch does nothing */
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
  if (rc)
    return rc;
  /* No thread is in a trampoline or a replacement, or returns into one:
   * the check above proved it while they were parked. */
  hp_set_originals(p, 0);
  hp_sites_release(p);
  p->applied = 0;
  p->reverted = 1;
  hp_info("reverted patch '%s': %zu function(s), pause %.3f ms, %d tr%s",
          p->desc->name, p->nfuncs, a.pause_ns / 1e6, a.tries,
          a.tries == 1 ? "y" : "ies");
  return 0;
}

static int hp_action(hotpatch_patch *p, const struct hotpatch_opts *o,
                     int apply) {
  const char *what = apply ? "hotpatch_apply" : "hotpatch_revert";
  hp_clear_error();
  if (!p)
    return hp_fail(HOTPATCH_EINVAL, "%s: NULL handle", what);
  int rc = hp_action_begin(what);
  if (rc)
    return rc;
  if (!hp_registry_contains(p)) {
    rc = hp_fail(HOTPATCH_EINVAL, "%s: not a loaded patch", what);
  } else {
    rc = apply ? hp_apply_locked(p, o) : hp_revert_locked(p, o);
    p->rc = rc;
    if (rc)
      hp_error("%s '%s': %s: %s", what, p->desc->name, hotpatch_err_name(rc),
               hotpatch_last_error());
  }
  hp_action_end();
  return rc;
}

int hotpatch_apply(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_action(p, o, 1);
}

int hotpatch_revert(hotpatch_patch *p, const struct hotpatch_opts *o) {
  return hp_action(p, o, 0);
}
