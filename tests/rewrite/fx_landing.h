/* SPDX-License-Identifier: MIT */
/*
 * fx_landing.c built twice: libfx_landing_marked.so with landing pads and
 * the GNU property that says so (BTI on aarch64, IBT and SHSTK on x86_64),
 * libfx_landing_plain.so with neither. Each copy's names carry its kind so
 * that the two can be linked into one program.
 */
#ifndef FX_LANDING_H
#define FX_LANDING_H

#define FXL_DECLARE(kind)                                                      \
  long fxl_##kind##_leaf(long a, long b);                                      \
  long fxl_##kind##_frame(long a, long b);                                     \
  long fxl_##kind##_probe(long a);                                             \
  long fxl_##kind##_leaf_repl(long a, long b);                                 \
  long fxl_##kind##_frame_repl(long a, long b);                                \
  extern long (*volatile fxl_##kind##_leaf_orig)(long, long);                  \
  extern long (*volatile fxl_##kind##_frame_orig)(long, long);                 \
  extern volatile long fxl_##kind##_calls;                                     \
  long fxl_##kind##_nopad_repl(long a, long b); /* aarch64 only */

FXL_DECLARE(marked)
FXL_DECLARE(plain)

#endif
