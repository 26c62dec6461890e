/* SPDX-License-Identifier: MIT */
/*
 * hotpatch.h compiled as C11 with -pedantic. Apart from the test's own
 * header_abi.h, this file includes only <hotpatch.h>: the header must be
 * self-contained.
 */
#include <hotpatch.h>

#include "header_abi.h"

static int c_replacement(void) { return 42; }
static void *c_original;

static const struct hotpatch_func c_funcs[] = {
    {.target = "some_function",
     .object = "",
     .file = "some.c",
     .build_id = "0123abcd",
     /* ISO C has no function-to-object pointer conversion (POSIX does,
      * for dlsym); __extension__ keeps -pedantic quiet. */
     .replacement = __extension__(void *) c_replacement,
     .original = &c_original,
     .flags = HOTPATCH_FUNC_ALLOW_ACTIVE},
    {0}};
static const struct hotpatch_state c_states[] = {{.id = 1, .version = 2},
                                                 {0}};
static int c_pre_apply(hotpatch_patch *p) { return p ? 0 : -1; }
static void c_post_apply(hotpatch_patch *p, int rc) { (void)p, (void)rc; }

/* HOTPATCH_DEFINE is for C (designated initialisers): it must compile with
 * every field of struct hotpatch_desc that a patch author sets. */
HOTPATCH_DEFINE(.name = "abi-header-c", .description = "header test",
                .funcs = c_funcs, .states = c_states,
                .hooks = {.pre_apply = c_pre_apply,
                          .post_apply = c_post_apply},
                .flags = HOTPATCH_REPLACE | HOTPATCH_REAPPLYABLE);

/* Every X-macro entry is an enum constant with the listed value, negative,
 * with a non-empty message. */
#define C_CHECK_(name, value, msg)                                             \
  _Static_assert(HOTPATCH_##name == (value), "HOTPATCH_" #name);               \
  _Static_assert((value) < 0, "HOTPATCH_" #name " is negative");               \
  _Static_assert(sizeof(msg) > 1, "HOTPATCH_" #name " has a message");
HOTPATCH_ERRNO_MAP(C_CHECK_)
#undef C_CHECK_

_Static_assert(HOTPATCH_VERSION_HEX ==
                   ((HOTPATCH_VERSION_MAJOR << 16) |
                    (HOTPATCH_VERSION_MINOR << 8) | HOTPATCH_VERSION_PATCH),
               "HOTPATCH_VERSION_HEX is built from the parts");

void hp_abi_fill_c(struct hp_abi_facts *f) { hp_abi_fill(f); }

unsigned long hp_abi_c_descriptor_magic(void) {
  return hotpatch_descriptor.magic == HOTPATCH_MAGIC &&
                 hotpatch_descriptor.abi == HOTPATCH_ABI
             ? hotpatch_descriptor.magic
             : 0;
}
