/* SPDX-License-Identifier: MIT */
/* The x86_64 fixtures of fx_x86_64.S and what patching each must do. */
#include "fixtures.h"

#include <stddef.h>

#include "arch/isa.h"
#include "hotpatch.h"

long fx_lea_rip(long a, long b);
long fx_cmp_rip_imm(long a, long b);
long fx_vmovdqu_rip(long a, long b);
long fx_push_rip(long a, long b);
long fx_jne_rel8(long a, long b);
long fx_jrcxz(long a, long b);
long fx_loop(long a, long b);
long fx_jmp_rel8(long a, long b);
long fx_endbr(long a, long b);
long fx_call_local(long a, long b);
long fx_internal_loop(long a, long b);
long fx_nop_pad(long a, long b);
long fx_short3_pad(long a, long b);
long fx_short4_pad(long a, long b);
long fx_back_edge(long a, long b);
long fx_red_zone(long a, long b);
long fx_short3_tight(long a, long b);
long fx_short4_tight(long a, long b);
long fx_ret1_tight(long a, long b);
long fx_after_tight(long a, long b);
long fx_ret1_pad(long a, long b);
long fx_get_pc(long a, long b);

/* Argument pairs take both directions of every branch. fx_ret1_tight
 * returns whatever rax held: it is only ever refused. */
const struct fx_case fx_cases[] = {
    {"fx_lea_rip", fx_lea_rip, 0, 0, 0, {{0, 0}, {1, 2}, {-7, 3}, {100, 1}}, 0},
    {"fx_cmp_rip_imm",
     fx_cmp_rip_imm,
     0,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_vmovdqu_rip",
     fx_vmovdqu_rip,
     0,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_push_rip",
     fx_push_rip,
     0,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_jne_rel8",
     fx_jne_rel8,
     0,
     0,
     0,
     {{3, 3}, {5, 2}, {-1, -1}, {0, 9}},
     0},
    {"fx_jrcxz", fx_jrcxz, 0, 0, 0, {{0, 5}, {3, 4}, {0, -7}, {-2, 1}}, 0},
    {"fx_loop", fx_loop, 0, 0, 0, {{1, 5}, {5, 4}, {0, 7}, {1, -3}}, 0},
    {"fx_jmp_rel8", fx_jmp_rel8, 0, 0, 0, {{0, 0}, {1, 2}, {-7, 3}, {9, 9}}, 0},
    {"fx_endbr",
     fx_endbr,
     0,
     HP_SITE_ENDBR,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_call_local",
     fx_call_local,
     0,
     HP_SITE_CALL,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_internal_loop",
     fx_internal_loop,
     0,
     0,
     0,
     {{3, 1}, {1, 5}, {0, 2}, {-4, 8}},
     0},
    {"fx_nop_pad",
     fx_nop_pad,
     0,
     HP_SITE_NOP_PAD,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_short3_pad",
     fx_short3_pad,
     0,
     HP_SITE_PADDING,
     0,
     {{0, 0}, {1, 2}, {7, 3}, {100, 1}},
     0},
    {"fx_short4_pad",
     fx_short4_pad,
     0,
     HP_SITE_PADDING,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_back_edge",
     fx_back_edge,
     HOTPATCH_EBRANCHIN,
     0,
     0,
     {{1, 1}, {2, 3}, {5, 2}, {-1, 4}},
     0},
    {"fx_red_zone",
     fx_red_zone,
     0,
     HP_SITE_FAR,
     1,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_short3_tight",
     fx_short3_tight,
     HOTPATCH_ETOOSHORT,
     0,
     0,
     {{0, 0}, {1, 2}, {7, 3}, {100, 1}},
     0},
    {"fx_short4_tight",
     fx_short4_tight,
     HOTPATCH_ETOOSHORT,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_ret1_pad",
     fx_ret1_pad,
     0,
     HP_SITE_PADDING,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     1},
    {"fx_ret1_tight",
     fx_ret1_tight,
     HOTPATCH_ETOOSHORT,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_after_tight",
     fx_after_tight,
     0,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {"fx_get_pc",
     fx_get_pc,
     HOTPATCH_ERELOC,
     0,
     0,
     {{0, 0}, {1, 2}, {-7, 3}, {100, 1}},
     0},
    {NULL, NULL, 0, 0, 0, {{0, 0}}, 0},
};
