/* SPDX-License-Identifier: MIT */
/* The test side of lc.h: the event log, hook return values, blocking. */
#ifndef LC_UTIL_H
#define LC_UTIL_H

#include "lc.h"

/* The patch object of a variant (tests/lifecycle/CMakeLists.txt). */
#define LC_PATCH(v) LC_DIR "/lc_" v ".so"

/* Empty the log, forget return values and the callback. */
void lc_reset(void);

/* Append an entry of the scenario's own ("A:alloc"). AS-safe. */
void lc_add(const char *ev);

/* The log as one string, entries separated by ", ". */
const char *lc_log(void);

/* Make `patch`'s pre hook `hook` return `rc` (every call from now on; the
 * first `times` calls only if times > 0). */
void lc_set_ret(const char *patch, const char *hook, int rc, int times);

/* Called by lc_hook after it logged, with the same arguments; NULL: none.
 * Runs inside quiesced hooks too: it must be AS-safe there. */
void lc_set_cb(void (*cb)(hotpatch_patch *p, const char *patch,
                          const char *hook, int rc));

/* Blocking in lc_block(): the calling thread opts in, waits until
 * lc_blocked() threads are in, releases them. */
void lc_block_here(int on);
int lc_blocked(void);
void lc_wait_blocked(int n);
void lc_unblock_all(void);

/* Load a variant, failing the test with the detail if it does not load. */
hotpatch_patch *lc_load(const char *variant_path);

/* Apply / revert, failing the test with the detail on an error. */
void lc_apply_ok(hotpatch_patch *p);
void lc_revert_ok(hotpatch_patch *p);

/* The status of p, for assertions. */
struct hotpatch_status lc_st(const hotpatch_patch *p);

#endif
