/* SPDX-License-Identifier: MIT */
/* The runtime patch object and the registry of loaded patches. */
#ifndef HP_PATCH_H
#define HP_PATCH_H

#include <stddef.h>

#include "hotpatch.h"
#include "symbols.h"

struct hp_site_rt;

struct hp_func_rt {
  const struct hotpatch_func *f; /* the descriptor entry */
  struct hp_target t;            /* where it resolved */
  uintptr_t repl_lo, repl_hi;    /* the replacement's extent (revert's hot
                                    range), found at the first apply */
};

struct hotpatch_patch {
  struct hotpatch_patch *next; /* registry list, in load order */
  const struct hotpatch_desc *desc;
  void *dl;   /* dlopen handle (hotpatch_load), NULL if registered */
  char *path; /* the file loaded, NULL if registered */
  int applied;
  int reverted; /* was applied once and reverted (HOTPATCH_REAPPLYABLE) */
  int rc;
  struct hp_site_rt *sites; /* while applied: one per func (apply.c) */
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

/* Called with the registry lock held. */
struct hotpatch_patch *hp_registry_find(const char *name);
void hp_registry_add(struct hotpatch_patch *p);
void hp_registry_remove(struct hotpatch_patch *p);
/* Compares pointers only: safe with a stale handle. */
int hp_registry_contains(const struct hotpatch_patch *p);

void hp_patch_free(struct hotpatch_patch *p);

/* Check a patch file before dlopen(): see patch_file.c. */
int hp_patch_file_check(const char *path);

#endif
