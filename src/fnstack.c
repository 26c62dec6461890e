/* SPDX-License-Identifier: MIT */
/* The functions applied patches replace, and their layers (fnstack.h). */
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "fnstack.h"

static struct hp_fn *hp_fns; /* registry lock */

struct hp_fn *hp_fn_find(uintptr_t addr) {
  for (struct hp_fn *fn = hp_fns; fn; fn = fn->next)
    if (fn->t.addr == addr)
      return fn;
  return NULL;
}

struct hp_fn *hp_fn_first(void) {
  return hp_fns;
}

int hp_layer_prepare(struct hp_layer *l, struct hotpatch_patch *p,
                     const struct hp_func_rt *fr, int replace, int *made) {
  memset(l, 0, sizeof *l);
  l->p = p;
  l->fr = fr;
  *made = 0;
  uintptr_t repl = (uintptr_t)fr->f->replacement;
  struct hp_fn *fn = hp_fn_find(fr->t.addr);
  if (fn) {
    l->fn = fn;
    l->below = replace ? NULL : fn->top;
    return hp_site_jump(&fn->site, repl, &l->stub, l->entry);
  }
  fn = calloc(1, sizeof *fn);
  if (!fn)
    return hp_fail(HOTPATCH_ENOMEM, "out of memory for '%s'", fr->f->target);
  int rc = hp_site_prepare(&fn->site, &fr->t, repl);
  if (rc) {
    free(fn);
    return rc;
  }
  fn->t = fr->t;
  /* The site's entry jump (and stub) are this first layer's. */
  l->stub = fn->site.stub;
  memset(&fn->site.stub, 0, sizeof fn->site.stub);
  memcpy(l->entry, fn->site.entry, sizeof l->entry);
  l->fn = fn;
  *made = 1;
  return 0;
}

void hp_layer_release(struct hp_layer *l) { hp_near_free(&l->stub); }

void *hp_layer_original(const struct hp_layer *l) {
  return l->below ? l->below->fr->f->replacement
                  : hp_site_original(&l->fn->site);
}

void hp_fn_list(struct hp_fn *fn) {
  fn->next = hp_fns;
  hp_fns = fn;
  fn->listed = 1;
}

void hp_fn_free(struct hp_fn *fn) {
  if (!fn)
    return;
  if (fn->listed)
    for (struct hp_fn **pp = &hp_fns; *pp; pp = &(*pp)->next)
      if (*pp == fn) {
        *pp = fn->next;
        break;
      }
  hp_site_release(&fn->site);
  free(fn);
}
