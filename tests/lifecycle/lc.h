/* SPDX-License-Identifier: MIT */
/*
 * What the lifecycle test programs export to their patch objects: the
 * functions patches replace, and the hook sink that records the event log
 * of semantics.md E ("P.pre_apply", "P.post_apply(-16)", ...).
 */
#ifndef LC_API_H
#define LC_API_H

#include <stddef.h>

#include <hotpatch.h>

/* The targets: they return "orig". f and h block first in lc_block()
 * when the calling thread asked to (lc_block_here), so that a worker can
 * sit inside them. */
const char *lc_f(void);
const char *lc_g(void);
const char *lc_h(void);

/* A thread that set lc_block_here blocks in lc_block() until
 * lc_unblock_all(); replacements call it too. */
int lc_should_block(void);
void lc_block(void);

/*
 * Every hook of a test patch calls this: it appends "<patch>.<hook>" (with
 * "(rc)" for a post hook) to the log, calls the scenario's callback if one
 * is set, and returns the value configured for a pre hook (0 unless
 * lc_set_ret said otherwise). Async-signal-safe: quiesced hooks call it
 * with every other thread parked.
 */
int lc_hook(hotpatch_patch *p, const char *patch, const char *hook, int rc);

#endif
