/* SPDX-License-Identifier: MIT */
/*
 * The smallest patch the loader accepts: a name and one no-op hook (a
 * descriptor with neither funcs nor hooks is refused as "nothing to do").
 * Only hotpatch_descriptor may be exported; the hook stays hidden.
 */
#include <hotpatch.h>

static int check_pre_apply(hotpatch_patch *p) {
  (void)p;
  return 0;
}

HOTPATCH_DEFINE(.name = "install-check-patch",
                .hooks = {.pre_apply = check_pre_apply});
