/* SPDX-License-Identifier: MIT */
/*
 * Code whose shape a C compiler does not promise:
 *
 *   fx_leaf_spin(uint32_t *ready, const uint32_t *quit): a leaf that touches
 *     neither the stack nor LR; sets *ready, spins until *quit. On aarch64
 *     its caller's return address is then only in x30.
 *   fx_spin_at_entry(void): a branch to itself at its first byte, so the PC
 *     of a thread in it is its entry; left only when the test's park
 *     handler moves the PC to fx_spin_exit (a bare return).
 *
 * fx_X_end marks where fx_X ends: the end of its hot range.
 */
        .text
        .p2align 4
        .globl fx_leaf_spin
        .type fx_leaf_spin, %function
fx_leaf_spin:
#if defined(__x86_64__)
        movl $1, (%rdi)
1:      pause
        cmpl $0, (%rsi)
        je 1b
        ret
#elif defined(__aarch64__)
        mov w2, #1
        stlr w2, [x0]
1:      yield
        ldar w2, [x1]
        cbz w2, 1b
        ret
#endif
        .size fx_leaf_spin, . - fx_leaf_spin
        .globl fx_leaf_spin_end
fx_leaf_spin_end:

        .p2align 4
        .globl fx_spin_at_entry
        .type fx_spin_at_entry, %function
fx_spin_at_entry:
#if defined(__x86_64__)
        jmp fx_spin_at_entry
#elif defined(__aarch64__)
        b fx_spin_at_entry
#endif
        .size fx_spin_at_entry, . - fx_spin_at_entry
        .globl fx_spin_at_entry_end
fx_spin_at_entry_end:

        .p2align 4
        .globl fx_spin_exit
        .type fx_spin_exit, %function
fx_spin_exit:
        ret
        .size fx_spin_exit, . - fx_spin_exit
        .globl fx_spin_exit_end
fx_spin_exit_end:

        .section .note.GNU-stack, "", %progbits
