/* SPDX-License-Identifier: MIT */
#ifndef HP_STATE_H
#define HP_STATE_H

#include "patch.h"

/*
 * Linux's klp_is_patch_compatible over every applied patch other than p
 * (registry lock held): for each state of theirs, p must carry the same id
 * with a version at least as new; a missing id is an error only when p is
 * cumulative. HOTPATCH_EINVAL naming the state, both versions and the
 * applied patch.
 */
int hp_states_compatible(const struct hotpatch_patch *p, int cumulative);

#endif
