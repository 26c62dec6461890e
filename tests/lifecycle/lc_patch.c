/* SPDX-License-Identifier: MIT */
/*
 * One source for the lifecycle tests' patch objects, built once per
 * variant by tests/lifecycle/CMakeLists.txt:
 *   LC_NAME    the patch name, also what its replacements return
 *   LC_F/G/H   1: replace lc_f / lc_g / lc_h
 *   LC_HOOKS   bit mask: 1 pre_apply, 2 post_apply, 4 pre_revert,
 *              8 post_revert, 16 quiesced_apply, 32 quiesced_revert
 *   LC_FLAGS   hotpatch_desc.flags
 *   LC_S1V, LC_S2V, LC_S7V  the version of state 1, 2, 7, if it has one
 *   LC_EDGE    1..3: the odd state arrays of semantics E44 instead
 * Every hook reports to lc_hook() in the test program.
 */
#include "lc.h"

#ifndef LC_HOOKS
#define LC_HOOKS 0
#endif
#ifndef LC_FLAGS
#define LC_FLAGS 0
#endif

/* The state data pointer tests compare (semantics E38, E43). */
__attribute__((unused)) static int lc_data;

static const struct hotpatch_state lc_states[] = {
#if defined(LC_EDGE) && LC_EDGE == 1
    {1, 0, &lc_data},
    {0, 0, NULL},
    {2, 9, &lc_data},
#elif defined(LC_EDGE) && LC_EDGE == 2
    {1, 1, &lc_data},
    {1, 9, &lc_data},
#elif defined(LC_EDGE) && LC_EDGE == 3
    {0, 0, NULL},
    {3, 3, &lc_data},
#else
#ifdef LC_S1V
    {1, LC_S1V, &lc_data},
#endif
#ifdef LC_S2V
    {2, LC_S2V, &lc_data},
#endif
#ifdef LC_S7V
    {7, LC_S7V, &lc_data},
#endif
#endif
    {0, 0, NULL}};

#define LC_REPL(fn)                                                            \
  __attribute__((unused)) static const char *(*orig_##fn)(void);               \
  __attribute__((unused)) static const char *new_##fn(void) {                  \
    if (lc_should_block())                                                     \
      lc_block();                                                              \
    return LC_NAME;                                                            \
  }

LC_REPL(f)
LC_REPL(g)
LC_REPL(h)

#define LC_FUNC(fn)                                                            \
  {.target = "lc_" #fn,                                                        \
   .replacement = (void *)new_##fn,                                            \
   .original = (void **)&orig_##fn},

static int pre_apply(hotpatch_patch *p) {
  return lc_hook(p, LC_NAME, "pre_apply", 0);
}
static void post_apply(hotpatch_patch *p, int rc) {
  lc_hook(p, LC_NAME, "post_apply", rc);
}
static int pre_revert(hotpatch_patch *p) {
  return lc_hook(p, LC_NAME, "pre_revert", 0);
}
static void post_revert(hotpatch_patch *p, int rc) {
  lc_hook(p, LC_NAME, "post_revert", rc);
}
static void quiesced_apply(hotpatch_patch *p) {
  lc_hook(p, LC_NAME, "quiesced_apply", 0);
}
static void quiesced_revert(hotpatch_patch *p) {
  lc_hook(p, LC_NAME, "quiesced_revert", 0);
}

#define LC_HOOK(bit, fn) .fn = (LC_HOOKS & (bit)) ? fn : NULL

HOTPATCH_DEFINE(
        .name = LC_NAME, .flags = LC_FLAGS,
        .funcs =
            (const struct hotpatch_func[]) {
#if LC_F
              LC_FUNC(f)
#endif
#if LC_G
              LC_FUNC(g)
#endif
#if LC_H
              LC_FUNC(h)
#endif
              {
                0
              }
            },
        .states = lc_states,
        .hooks = {LC_HOOK(1, pre_apply), LC_HOOK(2, post_apply),
                  LC_HOOK(4, pre_revert), LC_HOOK(8, post_revert),
                  LC_HOOK(16, quiesced_apply), LC_HOOK(32, quiesced_revert)});
