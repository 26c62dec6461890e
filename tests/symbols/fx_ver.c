/* SPDX-License-Identifier: MIT */
/* Symbol versions the way a library keeps an old ABI: each implementation
 * has its own (hidden, see fx_ver.map) name and .symver gives it a
 * versioned one; "@@" marks the default that new links bind to. */
#include <stddef.h>

#include "fx_ver.h"

int fx_ver_v1(int v);
int fx_ver_v2(int v);
int fx_gone_v1(int v);
int fx_same_impl(int v);

int fx_ver_v1(int v) { return v + 1; }
int fx_ver_v2(int v) { return v * 2 + 2; }
int fx_gone_v1(int v) { return v - 3; }
int fx_same_impl(int v) { return v * 5 + 4; }

__asm__(".symver fx_ver_v1, fx_ver@VER_1");
__asm__(".symver fx_ver_v2, fx_ver@@VER_2");
__asm__(".symver fx_gone_v1, fx_gone@VER_1");
/* One function under two versions: the same address either way. */
__asm__(".symver fx_same_impl, fx_same@VER_1");
__asm__(".symver fx_same_impl, fx_same@@VER_2");

fx_ver_fn *fx_ver_impl(int which) {
  switch (which) {
  case FX_VER_V1:
    return &fx_ver_v1;
  case FX_VER_V2:
    return &fx_ver_v2;
  case FX_GONE_V1:
    return &fx_gone_v1;
  case FX_SAME:
    return &fx_same_impl;
  }
  return NULL;
}
