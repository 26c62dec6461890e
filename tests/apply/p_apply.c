/* SPDX-License-Identifier: MIT */
/* A patch as users build it: replaces ap_value and ap_other in the
 * program; the new ap_value continues in the old one. */
#include <hotpatch.h>

static long (*old_value)(long);

static long new_value(long x) { return old_value(x) + 1000; } /* x + 1001 */
static long new_other(long x) { return x * 3 + 2000; }

HOTPATCH_DEFINE(.name = "apply-test", .description = "apply/revert test",
                .flags = HOTPATCH_REAPPLYABLE,
                .funcs = (const struct hotpatch_func[]){
                    {.target = "ap_value",
                     .replacement = (void *)new_value,
                     .original = (void **)&old_value},
                    {.target = "ap_other", .replacement = (void *)new_other},
                    {0}});
