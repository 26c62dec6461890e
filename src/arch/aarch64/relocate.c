/* SPDX-License-Identifier: MIT */
/* Placeholder until it lands. */
#include "arch/isa.h"
