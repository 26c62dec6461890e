/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "park.h"
#include "patch.h"

static pthread_mutex_t hp_registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hotpatch_patch *hp_patches;         /* load order */
static struct hotpatch_patch *hp_bottom, *hp_top; /* the applied stack */
static _Thread_local int hp_holds_lock;

/*
 * The transition: at most one apply, revert, replace or unload at a time.
 * hp_busy is written under the registry lock; the lock itself is released
 * while the transition runs the patch's pre/post hooks (they may block,
 * and readers must see rc == -EAGAIN meanwhile), so a second action finds
 * hp_busy set and gets HOTPATCH_EBUSY instead of waiting behind a hook.
 */
static int hp_busy;
static pthread_t hp_busy_owner;
static struct hotpatch_patch *hp_transition_patch;

int hp_registry_held(void) { return hp_holds_lock; }

static int hp_lock(const char *what) {
  if (hp_holds_lock)
    return hp_fail(HOTPATCH_EBUSY,
                   "%s: called from inside another hotpatch "
                   "action or a hotpatch_foreach callback on this thread",
                   what);
  pthread_mutex_lock(&hp_registry_lock);
  hp_holds_lock = 1;
  return 0;
}

static void hp_unlock(void) {
  hp_holds_lock = 0;
  pthread_mutex_unlock(&hp_registry_lock);
}

int hp_action_begin(const char *what) {
  hp_fork_handlers_once();
  return hp_lock(what);
}

void hp_action_end(void) { hp_unlock(); }

int hp_transition_begin(const char *what, struct hotpatch_patch *p) {
  hp_fork_handlers_once();
  int rc = hp_lock(what);
  if (rc)
    return rc;
  if (!hp_busy) {
    hp_busy = 1;
    hp_busy_owner = pthread_self();
    return 0;
  }
  const struct hotpatch_patch *t = hp_transition_patch;
  rc = hp_fail(HOTPATCH_EBUSY,
               "%s: another action is in progress%s%s%s (called from one "
               "of its hooks, or from another thread)",
               what, t ? " on patch '" : "", t ? t->desc->name : "",
               t ? "'" : "");
  /* SPEC §3 / semantics D.9 #12: a refused action is the patch's rc, but
   * not for the patch in transition: its rc is that transition's. */
  if (p && p != t && hp_registry_contains(p))
    p->rc = rc;
  hp_unlock();
  return rc;
}

void hp_transition_open(struct hotpatch_patch *p) {
  hp_transition_patch = p;
  p->in_transition = 1;
  p->rc = HOTPATCH_EAGAIN;
}

void hp_transition_close(struct hotpatch_patch *p) {
  p->in_transition = 0;
  hp_transition_patch = NULL;
}

struct hotpatch_patch *hp_transition_current(void) {
  return hp_transition_patch;
}

void hp_transition_unlock(void) { hp_unlock(); }

void hp_transition_relock(void) {
  pthread_mutex_lock(&hp_registry_lock);
  hp_holds_lock = 1;
}

void hp_transition_end(void) {
  hp_busy = 0;
  hp_unlock();
}

void hp_applied_push(struct hotpatch_patch *p) {
  p->below = hp_top;
  p->above = NULL;
  if (hp_top)
    hp_top->above = p;
  else
    hp_bottom = p;
  hp_top = p;
}

void hp_applied_remove(struct hotpatch_patch *p) {
  if (p->below)
    p->below->above = p->above;
  else
    hp_bottom = p->above;
  if (p->above)
    p->above->below = p->below;
  else
    hp_top = p->below;
  p->above = p->below = NULL;
}

struct hotpatch_patch *hp_applied_bottom(void) {
  return hp_bottom;
}
struct hotpatch_patch *hp_applied_top(void) {
  return hp_top;
}

/*
 * fork(): the forking thread takes the lock so that the child never
 * inherits it held by a thread that does not exist there; a thread that
 * forks from inside an action already holds it, and so does its child.
 */
static int hp_fork_took_lock; /* written only by the forking thread */

void hp_registry_atfork_prepare(void) {
  if (hp_holds_lock)
    return;
  pthread_mutex_lock(&hp_registry_lock);
  hp_fork_took_lock = 1;
}

void hp_registry_atfork_parent(void) {
  if (hp_fork_took_lock) {
    hp_fork_took_lock = 0;
    pthread_mutex_unlock(&hp_registry_lock);
  }
}

void hp_registry_atfork_child(void) {
  /* A transition whose thread did not fork does not exist in the child:
   * its code was not switched there (the child has no parked window in
   * progress), so drop it; its patch keeps rc == HOTPATCH_EAGAIN. */
  if (hp_busy && !pthread_equal(hp_busy_owner, pthread_self())) {
    hp_busy = 0;
    if (hp_transition_patch)
      hp_transition_patch->in_transition = 0;
    hp_transition_patch = NULL;
  }
  hp_registry_atfork_parent();
}

/* Readers nest inside an action or foreach callback of the same thread. */
int hp_read_begin(void) {
  if (hp_holds_lock)
    return 0;
  pthread_mutex_lock(&hp_registry_lock);
  hp_holds_lock = 1;
  return 1;
}

void hp_read_end(int locked) {
  if (locked)
    hp_unlock();
}

struct hotpatch_patch *hp_registry_find(const char *name) {
  for (struct hotpatch_patch *p = hp_patches; p; p = p->next)
    if (strcmp(p->desc->name, name) == 0)
      return p;
  return NULL;
}

void hp_registry_add(struct hotpatch_patch *p) {
  struct hotpatch_patch **pp = &hp_patches;
  while (*pp)
    pp = &(*pp)->next;
  p->next = NULL;
  *pp = p;
}

int hp_registry_contains(const struct hotpatch_patch *p) {
  for (struct hotpatch_patch *q = hp_patches; q; q = q->next)
    if (q == p)
      return 1;
  return 0;
}

void hp_registry_remove(struct hotpatch_patch *p) {
  for (struct hotpatch_patch **pp = &hp_patches; *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      p->next = NULL;
      return;
    }
}

void hp_patch_free(struct hotpatch_patch *p) {
  if (!p)
    return;
  free(p->funcs);
  free(p->layers);
  free(p->path);
  free(p);
}

hotpatch_patch *hotpatch_find(const char *name) {
  if (!name)
    return NULL;
  int locked = hp_read_begin();
  struct hotpatch_patch *p = hp_registry_find(name);
  hp_read_end(locked);
  return p;
}

int hotpatch_foreach(int (*cb)(hotpatch_patch *p, void *arg), void *arg) {
  hp_clear_error();
  if (!cb)
    return hp_fail(HOTPATCH_EINVAL, "hotpatch_foreach: NULL callback");
  int locked = hp_read_begin();
  int rc = 0;
  /* `next` is read before the callback: it cannot unload anything (that
   * returns EBUSY here), but keep the walk independent of it anyway. */
  for (struct hotpatch_patch *p = hp_patches, *next; p && rc == 0; p = next) {
    next = p->next;
    rc = cb(p, arg);
  }
  hp_read_end(locked);
  return rc;
}

const char *hotpatch_name(const hotpatch_patch *p) {
  return p ? p->desc->name : NULL;
}

int hotpatch_is_applied(const hotpatch_patch *p) {
  if (!p)
    return HOTPATCH_EINVAL;
  int locked = hp_read_begin();
  int applied = p->applied;
  hp_read_end(locked);
  return applied;
}

int hotpatch_rc(const hotpatch_patch *p) {
  if (!p)
    return HOTPATCH_EINVAL;
  int locked = hp_read_begin();
  int rc = p->rc;
  hp_read_end(locked);
  return rc;
}

const struct hotpatch_desc *hotpatch_desc_of(const hotpatch_patch *p) {
  return p ? p->desc : NULL;
}

int hotpatch_func_info(const hotpatch_patch *p, size_t i,
                       struct hotpatch_func_info *out) {
  if (!p || !out)
    return HOTPATCH_EINVAL;
  if (i >= p->nfuncs)
    return HOTPATCH_ENOENT;
  const struct hp_func_rt *fr = &p->funcs[i];
  out->target = fr->f->target;
  out->object = fr->t.object;
  out->address = (void *)fr->t.addr;
  out->size = fr->t.size;
  out->replacement = fr->f->replacement;
  return 0;
}
