/* SPDX-License-Identifier: MIT */
/* The aarch64 fixtures of fx_aarch64.S and what patching each must do. */
#include "fixtures.h"

#include <stddef.h>

#include "arch/isa.h"
#include "hotpatch.h"

long fx_adrp_add(long a, long b);
long fx_ldr_x_lit(long a, long b);
long fx_ldr_q_lit(long a, long b);
long fx_cbz(long a, long b);
long fx_tbnz(long a, long b);
long fx_b_ne(long a, long b);
long fx_bl_call(long a, long b);
long fx_bti_c(long a, long b);
long fx_paciasp(long a, long b);
long fx_ret_padded(long a, long b);
long fx_ret_tight(long a, long b);
long fx_back_edge(long a, long b);

/* Argument pairs take both directions of every branch. */
const struct fx_case fx_cases[] = {
    {"fx_adrp_add", fx_adrp_add, 0, 0, 0, {{0, 0}, {1, 1}, {2, 2}, {3, 7}}, 0},
    {"fx_ldr_x_lit",
     fx_ldr_x_lit,
     0,
     0,
     0,
     {{0, 0}, {1, 0}, {-1, 0}, {5, 0}},
     0},
    {"fx_ldr_q_lit",
     fx_ldr_q_lit,
     0,
     0,
     0,
     {{1, 0}, {0, 1}, {3, 5}, {-2, 9}},
     0},
    {"fx_cbz", fx_cbz, 0, 0, 0, {{0, 5}, {3, 4}, {0, -7}, {9, 1}}, 0},
    {"fx_tbnz", fx_tbnz, 0, 0, 0, {{8, 3}, {7, 3}, {0x18, 5}, {1, 1}}, 0},
    {"fx_b_ne",
     fx_b_ne,
     0,
     HP_SITE_FAR,
     1,
     {{4, 4}, {9, 2}, {-3, -3}, {0, 1}},
     0},
    {"fx_bl_call",
     fx_bl_call,
     0,
     HP_SITE_CALL | HP_SITE_FAR,
     1,
     {{1, 2}, {0, 0}, {-5, 3}, {100, -1}},
     0},
    {"fx_bti_c",
     fx_bti_c,
     0,
     HP_SITE_BTI,
     0,
     {{1, 2}, {0, 0}, {-5, 3}, {7, 7}},
     0},
    {"fx_paciasp",
     fx_paciasp,
     0,
     HP_SITE_PAC,
     0,
     {{1, 2}, {0, 0}, {-5, 3}, {7, 7}},
     0},
    {"fx_ret_padded",
     fx_ret_padded,
     0,
     HP_SITE_PADDING | HP_SITE_FAR,
     1,
     {{1, 2}, {0, 0}, {-5, 3}, {7, 7}},
     0},
    /* The near B is 4 bytes: the whole function is the site, and its
     * trampoline's jump back (to the next symbol) is never reached. */
    {"fx_ret_tight",
     fx_ret_tight,
     0,
     0,
     0,
     {{1, 2}, {0, 0}, {-5, 3}, {7, 7}},
     0},
    {"fx_ret_tight",
     fx_ret_tight,
     HOTPATCH_ETOOSHORT,
     0,
     1,
     {{1, 2}, {0, 0}, {-5, 3}, {7, 7}},
     0},
    {"fx_back_edge",
     fx_back_edge,
     HOTPATCH_EBRANCHIN,
     0,
     1,
     {{1, 1}, {2, 3}, {5, 2}, {-1, 4}},
     0},
    {NULL, NULL, 0, 0, 0, {{0, 0}}, 0},
};
