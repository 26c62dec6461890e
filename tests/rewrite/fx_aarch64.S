/* SPDX-License-Identifier: MIT */
/*
 * aarch64 fixtures for the rewriting tests (see fixtures.h): each is
 * `long fx_<name>(long a, long b)` with exactly these instructions, one
 * relocated class (or refusal) at its entry. Hint-space instructions are
 * spelled as hints so that any assembler takes them: hint #34 is BTI c,
 * hint #25 PACIASP, hint #29 AUTIASP (NOPs before Armv8.3/8.5).
 * Literal pools sit after a fixture's .size, outside the function.
 */
	.macro FX_BEGIN name
	.text
	.p2align 4
	.globl fx_\name
	.type fx_\name, %function
fx_\name:
	.endm

	.macro FX_END name
	.size fx_\name, .-fx_\name
	.endm

	.section .rodata
	.p2align 3
fx_adrp_table:
	.quad 0x0123456789abcdef, 0x1122334455667788
	.quad 0x7ff0000000000001, 0x00000000deadbeef

/* table[b & 3]: ADRP (and its ADD) first. */
FX_BEGIN adrp_add
	adrp x0, fx_adrp_table
	add x0, x0, :lo12:fx_adrp_table
	and x1, x1, #3
	ldr x0, [x0, x1, lsl #3]
	ret
FX_END adrp_add

/* a ^ literal: LDR Xt (literal) first. */
FX_BEGIN ldr_x_lit
	ldr x1, .Lfx_x_lit
	eor x0, x0, x1
	ret
FX_END ldr_x_lit
	.p2align 3
.Lfx_x_lit:
	.quad 0x0123456789abcdef

/* a * lane0 + b * lane1: LDR Qt (literal) first. */
FX_BEGIN ldr_q_lit
	ldr q0, .Lfx_q_lit
	mov x2, v0.d[0]
	mov x3, v0.d[1]
	mul x0, x0, x2
	madd x0, x1, x3, x0
	ret
FX_END ldr_q_lit
	.p2align 4
.Lfx_q_lit:
	.quad 0x100000003, 0x7

/* a == 0 ? -b : a + b: CBZ first. */
FX_BEGIN cbz
	cbz x0, 1f
	add x0, x0, x1
	ret
1:	sub x0, x0, x1
	ret
FX_END cbz

/* bit 3 of a set ? a ^ b : a + b: TBNZ first. */
FX_BEGIN tbnz
	tbnz w0, #3, 1f
	add x0, x0, x1
	ret
1:	eor x0, x0, x1
	ret
FX_END tbnz

/* a != b ? a - b : a + b: CMP then B.NE, both moved by the far (16-byte)
 * site; flags at a function's entry are not the caller's to rely on, so
 * the branch cannot come first. */
FX_BEGIN b_ne
	cmp x0, x1
	b.ne 1f
	add x0, x0, x1
	ret
1:	sub x0, x0, x1
	ret
FX_END b_ne

/* 2a + b + 1 through a call: a BL in the moved (far, 16-byte) site. It
 * cannot be the very first instruction, which would lose the return
 * address; x9 keeps it (the helper leaves x9 alone). */
FX_BEGIN bl_call
	mov x9, x30
	bl fx_bl_helper
	mov x30, x9
	add x0, x0, #1
	ret
FX_END bl_call

	.text
	.p2align 4
	.type fx_bl_helper, %function
fx_bl_helper:
	lsl x0, x0, #1
	add x0, x0, x1
	ret
	.size fx_bl_helper, .-fx_bl_helper

/* 2a + b + 1 with a BL as the very first instruction, the near site.
 * That BL overwrites LR at once, so this cannot return to LR: its callers
 * pass the return address in x19 (callee-saved, so the helper keeps it)
 * through fx_call_x19. */
FX_BEGIN bl_first
	bl fx_bl_helper
	add x0, x0, #1
	ret x19
FX_END bl_first

/* long fx_call_x19(long a, long b, long (*fn)(long, long)): fn(a, b)
 * under fx_bl_first's convention, from C. */
	.text
	.p2align 4
	.globl fx_call_x19
	.type fx_call_x19, %function
fx_call_x19:
	stp x19, x30, [sp, #-16]!
	adr x19, 1f
	blr x2
1:	ldp x19, x30, [sp], #16
	ret
	.size fx_call_x19, .-fx_call_x19

/* The replacement for fx_bl_first, under its convention: counts in
 * fx_bl_first_calls and calls the original through fx_bl_first_orig
 * (the trampoline, set by the test). fx_call_x19 keeps x19. */
	.text
	.p2align 4
	.globl fx_bl_first_repl
	.type fx_bl_first_repl, %function
fx_bl_first_repl:
	adrp x9, fx_bl_first_calls
	ldr x10, [x9, :lo12:fx_bl_first_calls]
	add x10, x10, #1
	str x10, [x9, :lo12:fx_bl_first_calls]
	adrp x9, fx_bl_first_orig
	ldr x2, [x9, :lo12:fx_bl_first_orig]
	bl fx_call_x19
	ret x19
	.size fx_bl_first_repl, .-fx_bl_first_repl

	.data
	.p2align 3
	.globl fx_bl_first_calls, fx_bl_first_orig
fx_bl_first_calls:
	.quad 0
fx_bl_first_orig:
	.quad 0

/* a + b behind BTI c. */
FX_BEGIN bti_c
	hint #34
	add x0, x0, x1
	ret
FX_END bti_c

/* 2(a + b) with a signed return address: PACIASP first, AUTIASP last. */
FX_BEGIN paciasp
	hint #25
	stp x29, x30, [sp, #-16]!
	mov x29, sp
	add x0, x0, x1
	lsl x0, x0, #1
	ldp x29, x30, [sp], #16
	hint #29
	ret
FX_END paciasp

/* a: a 4-byte function, then NOP padding up to the next fixture. */
FX_BEGIN ret_padded
	ret
FX_END ret_padded
	nop
	nop
	nop

/* a: a 4-byte function with the next symbol right after it. */
FX_BEGIN ret_tight
	ret
FX_END ret_tight
	.globl fx_ret_tight_next
	.type fx_ret_tight_next, %function
fx_ret_tight_next:
	mov x0, x1
	ret
	.size fx_ret_tight_next, .-fx_ret_tight_next

/* a * b + b (b >= 1): a loop whose back edge lands on the second
 * instruction, inside a 16-byte site. */
FX_BEGIN back_edge
	mov x2, #0
1:	add x2, x2, x0
	add x2, x2, #1
	sub x1, x1, #1
	cbnz x1, 1b
	mov x0, x2
	ret
FX_END back_edge

	.section .note.GNU-stack, "", %progbits
