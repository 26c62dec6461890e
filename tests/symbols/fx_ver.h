/* SPDX-License-Identifier: MIT */
/*
 * The fixture library libfx_ver.so (fx_ver.c, linked with fx_ver.map): one
 * name in several symbol versions. fx_ver_impl() returns the address of
 * each implementation as the fixture's own code sees it.
 */
#ifndef FX_VER_H
#define FX_VER_H

typedef int fx_ver_fn(int);

enum fx_ver_which {
  FX_VER_V1,  /* fx_ver@VER_1: the old implementation */
  FX_VER_V2,  /* fx_ver@@VER_2: the default one */
  FX_GONE_V1, /* fx_gone@VER_1: only an old version, no default */
  FX_SAME     /* fx_same@VER_1 and fx_same@@VER_2: one function */
};

fx_ver_fn *fx_ver_impl(int which);

#endif
