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
 * Those two have no CFI, as hand-written code often has none; the ones
 * after fx_spin_exit say what each CFI is for.
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

/*
 * fx_leaf_cfi_spin(ready, quit): fx_leaf_spin with CFI (a frame of its own
 * is none: CFA = SP+8 / SP, the return address at [SP] / in x30).
 */
        .p2align 4
        .globl fx_leaf_cfi_spin
        .type fx_leaf_cfi_spin, %function
fx_leaf_cfi_spin:
        .cfi_startproc
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
        .cfi_endproc
        .size fx_leaf_cfi_spin, . - fx_leaf_cfi_spin

/*
 * fx_nocfi_call(w, fn): calls fn(w) from a frame of its own, with no CFI
 * at all: an unwinder cannot step out of it without guessing.
 */
        .p2align 4
        .globl fx_nocfi_call
        .type fx_nocfi_call, %function
fx_nocfi_call:
#if defined(__x86_64__)
        sub $8, %rsp
        call *%rsi
        add $8, %rsp
        ret
#elif defined(__aarch64__)
        stp x29, x30, [sp, #-16]!
        mov x29, sp
        blr x1
        ldp x29, x30, [sp], #16
        ret
#endif
        .size fx_nocfi_call, . - fx_nocfi_call

/*
 * fx_cfi_prev: never run. At its last byte its CFI says CFA = SP+24
 * (x86_64) / SP+32 (aarch64); at the first byte of fx_cfi_entry_spin,
 * right after it, CFA = SP+8 / SP. A thread stopped on that entry and
 * looked up at PC-1 gets the wrong rule, and a wrong return address.
 * fx_cfi_entry_spin: a branch to itself, with CFI; left only when the
 * test's park handler moves the PC to fx_spin_exit.
 */
        .p2align 4
        .globl fx_cfi_prev
        .type fx_cfi_prev, %function
fx_cfi_prev:
        .cfi_startproc
#if defined(__x86_64__)
        push %rbx
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rbx, 0
        sub $8, %rsp
        .cfi_adjust_cfa_offset 8
        ud2
#elif defined(__aarch64__)
        stp x29, x30, [sp, #-32]!
        .cfi_def_cfa_offset 32
        .cfi_offset x29, -32
        .cfi_offset x30, -24
        brk #0
#endif
        .cfi_endproc
        .size fx_cfi_prev, . - fx_cfi_prev
        .globl fx_cfi_entry_spin
        .type fx_cfi_entry_spin, %function
fx_cfi_entry_spin:
        .cfi_startproc
#if defined(__x86_64__)
        jmp fx_cfi_entry_spin
#elif defined(__aarch64__)
        b fx_cfi_entry_spin
#endif
        .cfi_endproc
        .size fx_cfi_entry_spin, . - fx_cfi_entry_spin
        .globl fx_cfi_entry_spin_end
fx_cfi_entry_spin_end:

        .section .note.GNU-stack, "", %progbits
