/* SPDX-License-Identifier: MIT */
/*
 * The functions applied patches replace, each with its stack of layers
 * (SPEC §3 "stacking"; Linux klp's func_stack).
 *
 * A function patched by several applied patches is analysed once, by the
 * first: that hp_fn owns the site (where the entry jump goes, the original
 * bytes) and the trampoline that runs the original code. Each patch that
 * replaces it adds a layer: its replacement, the entry bytes that jump
 * there (and a stub when the replacement is out of direct range). The
 * newest layer wins: its entry bytes are the ones installed. A layer's
 * `original` reaches the layer below (its replacement), the bottom one's
 * reaches the trampoline.
 *
 * Lifetimes: layers are made before a transition parks anything and
 * freed after one that removed them; an hp_fn (with its trampoline) lives
 * while any layer is on it. Every change of fn->top happens in a
 * transition, under the registry lock.
 */
#ifndef HP_FNSTACK_H
#define HP_FNSTACK_H

#include <stdint.h>

#include "patch.h"
#include "site.h"

struct hp_fn;

struct hp_layer {
  struct hp_fn *fn;
  struct hp_layer *below; /* the older layer on fn; NULL: the original */
  struct hotpatch_patch *p;
  const struct hp_func_rt *fr;
  struct hp_near stub;        /* absolute jump to the replacement, if far */
  uint8_t entry[HP_SITE_MAX]; /* the site's bytes while this layer is on top */
};

struct hp_fn {
  struct hp_fn *next;     /* every patched function (registry lock) */
  struct hp_target t;     /* where it is (the first layer's resolution) */
  struct hp_site_rt site; /* analysis, original bytes, trampoline, write */
  struct hp_layer *top;   /* whose entry is installed; NULL: the original */
  int listed;             /* on the list (a fn made for a transition that
                             failed never is) */
};

/* The listed fn of the function at `addr`, or NULL. */
struct hp_fn *hp_fn_find(uintptr_t addr);

/*
 * Prepare layer `l` of patch p's func `fr` for an apply or a replace,
 * before parking: on the function's existing hp_fn (below = its top, or
 * NULL for a replace, which removes every other layer), or on a new one
 * (analysis and trampoline; *made = 1, the caller frees it with
 * hp_fn_free if the transition fails). 0 or the analyser's, allocator's
 * or writer's error with a detail naming the function.
 */
int hp_layer_prepare(struct hp_layer *l, struct hotpatch_patch *p,
                     const struct hp_func_rt *fr, int replace, int *made);

/* Free a layer's stub (after the transition that removed it, or one that
 * failed to install it). */
void hp_layer_release(struct hp_layer *l);

/* What the layer's `original` calls: the layer below's replacement, or
 * the trampoline. */
void *hp_layer_original(const struct hp_layer *l);

/* The bytes at fn's site while `top` is on top (NULL: the original). */
static inline const uint8_t *hp_fn_bytes(const struct hp_fn *fn,
                                         const struct hp_layer *top) {
  return top ? top->entry : fn->site.s.orig;
}

/* Put a fn made for a transition on the list, or take one off it and
 * free it with its trampoline (only once no thread can be in it). */
void hp_fn_list(struct hp_fn *fn);
void hp_fn_free(struct hp_fn *fn);

/* Iterate over every listed fn: for (fn = hp_fn_first(); fn; fn = fn->next) */
struct hp_fn *hp_fn_first(void);

#endif
