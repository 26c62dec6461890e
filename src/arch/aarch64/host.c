/* SPDX-License-Identifier: MIT */
/* Host operations on aarch64: placeholder until the backend lands. */
#include "arch/host.h"
