/* SPDX-License-Identifier: MIT */
/* Symbols only assembly can make: a function without .size, and a symbol
 * typed as a function that lies in writable data. */
__asm__(".pushsection .text\n"
        ".globl fx_nosize\n"
        ".type fx_nosize, %function\n"
        "fx_nosize:\n"
        "  ret\n"
        ".popsection\n"
        ".pushsection .data\n"
        ".globl fx_datafunc\n"
        ".type fx_datafunc, %function\n"
        "fx_datafunc:\n"
        "  .long 0\n"
        ".size fx_datafunc, 4\n"
        ".popsection\n");
