/* SPDX-License-Identifier: MIT */
#include "fx_exe.h"

static int fx_helper(void) { return 11; }

fx_exe_fn *fx_exe_a_helper(void) { return &fx_helper; }

int fx_exe_global(void) { return 33; }
