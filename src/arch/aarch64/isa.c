/* SPDX-License-Identifier: MIT */
/* aarch64 instruction-set backend: placeholder until the backend lands. */
#include "arch/isa.h"
const struct hp_isa hp_isa_aarch64 = {.name = "aarch64"};
