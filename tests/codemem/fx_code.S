/* SPDX-License-Identifier: MIT */
/*
 * Two pages of code of their own (no other code shares them), so tests can
 * write them, even without X, while the test's own code keeps running:
 * fx_ret42 at the start of the first page, fx_ret7 64 bytes into the
 * second, padding in between (where the page-straddling write goes).
 */
        .pushsection .text.hp_fx_code, "ax", %progbits
        .balign 4096
        .globl fx_code_page
        .type fx_code_page, %object
fx_code_page:
        .globl fx_ret42
        .type fx_ret42, %function
fx_ret42:
#if defined(__x86_64__)
        movl $42, %eax
        ret
#elif defined(__aarch64__)
        mov w0, #42
        ret
#endif
        .size fx_ret42, . - fx_ret42
        .balign 4096
        .skip 64
        .globl fx_ret7
        .type fx_ret7, %function
fx_ret7:
#if defined(__x86_64__)
        movl $7, %eax
        ret
#elif defined(__aarch64__)
        mov w0, #7
        ret
#endif
        .size fx_ret7, . - fx_ret7
        .balign 4096
        .size fx_code_page, . - fx_code_page
        .popsection
        .section .note.GNU-stack, "", %progbits
