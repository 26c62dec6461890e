/* SPDX-License-Identifier: MIT */
/*
 * The versioned system states (SPEC §3; Linux kernel/livepatch/state.c,
 * semantics.md A.2 and D.7): a patch's states are its array up to the
 * first entry with id 0; within one patch the first entry of an id counts.
 */
#include <stdatomic.h>

#include "errors.h"
#include "log.h"
#include "patch.h"
#include "state.h"

static const struct hotpatch_state *hp_state_of(const struct hotpatch_desc *d,
                                                unsigned long id) {
  for (const struct hotpatch_state *s = d->states; s && s->id; s++)
    if (s->id == id)
      return s;
  return NULL;
}

int hp_states_compatible(const struct hotpatch_patch *p, int cumulative) {
  for (const struct hotpatch_patch *q = hp_applied_bottom(); q; q = q->above) {
    if (q == p)
      continue;
    for (const struct hotpatch_state *old = q->desc->states; old && old->id;
         old++) {
      if (hp_state_of(q->desc, old->id) != old)
        continue; /* a later duplicate: only the first counts */
      const struct hotpatch_state *now = hp_state_of(p->desc, old->id);
      if (!now && cumulative)
        return hp_fail(HOTPATCH_EINVAL,
                       "patch '%s' is not compatible with the applied "
                       "patches: it is cumulative and does not carry state "
                       "%#lx (version %u in applied patch '%s')",
                       p->desc->name, old->id, old->version, q->desc->name);
      if (now && now->version < old->version)
        return hp_fail(HOTPATCH_EINVAL,
                       "patch '%s' is not compatible with the applied "
                       "patches: state %#lx version %u is older than version "
                       "%u in applied patch '%s'",
                       p->desc->name, old->id, now->version, old->version,
                       q->desc->name);
    }
  }
  return 0;
}

struct hotpatch_state *hotpatch_get_state(hotpatch_patch *p, unsigned long id) {
  if (!p || !id)
    return NULL;
  /* The descriptor is const to the library, not to its patch: klp hands
   * out a writable state for the patch to keep its data pointer in. */
  return (struct hotpatch_state *)hp_state_of(p->desc, id);
}

struct hotpatch_state *hotpatch_get_prev_state(unsigned long id) {
  static atomic_int warned;
  int locked = hp_read_begin();
  const struct hotpatch_patch *t = hp_transition_current();
  const struct hotpatch_state *found = NULL;
  if (t)
    for (const struct hotpatch_patch *q = hp_applied_bottom(); q;
         q = q->above) {
      if (q == t)
        continue;
      const struct hotpatch_state *s = hp_state_of(q->desc, id);
      if (s)
        found = s; /* the last match below the patch in transition */
    }
  hp_read_end(locked);
  if (!t && !atomic_exchange(&warned, 1))
    hp_warn("hotpatch_get_prev_state(%#lx) called outside a transition "
            "(only its hooks can ask): NULL",
            id);
  return (struct hotpatch_state *)found;
}
