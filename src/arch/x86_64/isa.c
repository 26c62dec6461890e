/* SPDX-License-Identifier: MIT */
/* x86_64 instruction-set backend: placeholder until the backend lands. */
#include "arch/isa.h"
const struct hp_isa hp_isa_x86_64 = {.name = "x86_64"};
