/* SPDX-License-Identifier: MIT */
/* The runtime patch object and the registry of loaded patches. */
#ifndef HP_PATCH_H
#define HP_PATCH_H

#include <stddef.h>

#include "hotpatch.h"
#include "symbols.h"

struct hp_layer;

struct hp_func_rt {
  const struct hotpatch_func *f; /* the descriptor entry */
  struct hp_target t;            /* where it resolved */
  uintptr_t repl_lo, repl_hi;    /* the replacement's extent (the hot range
                                    of a revert), found at load */
};

#define HP_NAME_MAX 127

struct hotpatch_patch {
  struct hotpatch_patch *next; /* registry list, in load order */
  const struct hotpatch_desc *desc;
  void *dl;   /* dlopen handle (hotpatch_load), NULL if registered */
  char *path; /* the file loaded, NULL if registered */
  int applied;
  int reverted;      /* was applied once and reverted (or replaced) */
  int in_transition; /* an action on it is between its checks and its end */
  int rc;            /* last action's result; HOTPATCH_EAGAIN meanwhile */
  int pinned;        /* a replace failed half-way: code may reach this patch's
                        replacements, so it is never unloaded (hp_tx_keep) */
  char replaced_by[HP_NAME_MAX + 1];    /* the cumulative patch that replaced
                                           it, "" if none */
  struct hotpatch_patch *below, *above; /* the applied stack, while applied */
  struct hp_layer *layers; /* while applied: one per func (fnstack.h) */
  size_t nfuncs;
  struct hp_func_rt *funcs;
};

/*
 * One action at a time, process-wide: load, register, unload (and, later,
 * apply/revert/replace) run under the registry lock. A thread that already
 * holds it (a callback of hotpatch_foreach, a patch constructor running
 * inside dlopen) gets HOTPATCH_EBUSY instead of deadlocking.
 * Readers (find, foreach, accessors) take the same lock unless this thread
 * already holds it.
 */
int hp_action_begin(const char *what);
void hp_action_end(void);
int hp_registry_held(void);

/*
 * Apply, revert, replace and unload are transitions: at most one at a time
 * (HOTPATCH_EBUSY for a second, which also becomes p's rc unless p is the
 * patch in transition). begin takes the registry lock and the transition;
 * unlock/relock let the patch's pre/post hooks run without the lock (they
 * may block; readers see rc == HOTPATCH_EAGAIN meanwhile); end gives both
 * up. open/close mark the patch in transition (hotpatch_get_prev_state).
 */
int hp_transition_begin(const char *what, struct hotpatch_patch *p);
void hp_transition_open(struct hotpatch_patch *p);
void hp_transition_close(struct hotpatch_patch *p);
struct hotpatch_patch *hp_transition_current(void);
void hp_transition_unlock(void);
void hp_transition_relock(void);
void hp_transition_end(void);

/* Readers: take the registry lock unless this thread holds it; returns
 * whether it took it, for hp_read_end. */
int hp_read_begin(void);
void hp_read_end(int locked);

/* Called with the registry lock held. */
struct hotpatch_patch *hp_registry_find(const char *name);
void hp_registry_add(struct hotpatch_patch *p);
void hp_registry_remove(struct hotpatch_patch *p);
/* Compares pointers only: safe with a stale handle. */
int hp_registry_contains(const struct hotpatch_patch *p);

/* The applied stack, bottom to top (->above). */
void hp_applied_push(struct hotpatch_patch *p);
void hp_applied_remove(struct hotpatch_patch *p);
struct hotpatch_patch *hp_applied_bottom(void);
struct hotpatch_patch *hp_applied_top(void);

void hp_patch_free(struct hotpatch_patch *p);

/* Check a patch file before dlopen(): see patch_file.c. */
int hp_patch_file_check(const char *path);

#endif
