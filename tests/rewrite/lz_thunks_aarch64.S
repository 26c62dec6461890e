/* SPDX-License-Identifier: MIT */
/*
 * Counting pass-throughs for test_libz.c: thunk i adds one to lz_counts[i]
 * and tail-branches to lz_origs[i] (the trampoline of the i-th libz
 * function) through x16, the intra-procedure-call scratch register a
 * veneer may use too. A tail branch passes every argument untouched.
 * hint #34 is BTI c (a NOP before Armv8.5).
 */
	.altmacro
	.macro LZ_THUNK i
	.p2align 4
	.type lz_thunk_\i, %function
lz_thunk_\i:
	hint #34
	adrp x16, lz_counts+8*\i
	add x16, x16, :lo12:lz_counts+8*\i
	ldr x17, [x16]
	add x17, x17, #1
	str x17, [x16]
	adrp x16, lz_origs+8*\i
	ldr x16, [x16, :lo12:lz_origs+8*\i]
	br x16
	.size lz_thunk_\i, .-lz_thunk_\i
	.endm

	.macro LZ_ADDR i
	.quad lz_thunk_\i
	.endm

	.text
	.set i, 0
	.rept 160
	LZ_THUNK %i
	.set i, i+1
	.endr

	.section .data.rel.ro, "aw"
	.p2align 3
	.globl lz_thunks
lz_thunks:
	.set i, 0
	.rept 160
	LZ_ADDR %i
	.set i, i+1
	.endr
	.size lz_thunks, .-lz_thunks

	.section .note.GNU-stack, "", %progbits
