/* SPDX-License-Identifier: MIT */
/*
 * Counting pass-throughs for test_libz.c: thunk i adds one to lz_counts[i]
 * and tail-jumps to lz_origs[i] (the trampoline of the i-th libz function).
 * A tail jump passes every argument (registers, stack, varargs) untouched,
 * so one thunk serves any signature.
 */
	.altmacro
	.macro LZ_THUNK i
	.p2align 4
	.type lz_thunk_\i, @function
lz_thunk_\i:
	endbr64
	addq $1, lz_counts+8*\i(%rip)
	jmp *lz_origs+8*\i(%rip)
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

	.section .note.GNU-stack, "", @progbits
