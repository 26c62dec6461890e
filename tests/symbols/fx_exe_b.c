/* SPDX-License-Identifier: MIT */
#include "fx_exe.h"

static int fx_helper(void) { return 22; }

fx_exe_fn *fx_exe_b_helper(void) { return &fx_helper; }
