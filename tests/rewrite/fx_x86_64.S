/* SPDX-License-Identifier: MIT */
/*
 * x86_64 rewriting fixtures: `long fx_<name>(long a, long b)`, a in rdi,
 * b in rsi, result in rax. The first bytes of each are the case under
 * test (pitfalls.md §1, "Tests that catch these"); the rest makes the
 * result depend on what those bytes did. fixtures_x86_64.c says what
 * patching each must do. Byte sequences are in the comments.
 */
        .intel_syntax noprefix

        .section .rodata
        .p2align 5
fx_data_y:                              /* 32 bytes for vmovdqu ymm */
        .quad 11, 2200, 330000, 44000000
fx_data_q:
        .quad 1000003
fx_data_d:
        .long 5

        .text

/* lea rax, [rip + x] first: 48 8d 05 rel32 */
        .p2align 4
        .globl fx_lea_rip
        .type fx_lea_rip, @function
fx_lea_rip:
        lea rax, [rip + fx_data_q]
        mov rax, [rax]
        add rax, rdi
        sub rax, rsi
        ret
        .size fx_lea_rip, . - fx_lea_rip

/* cmp dword [rip + x], imm8: 83 3d rel32 05, the displacement before the
 * immediate. The flag it sets is folded into the result. */
        .p2align 4
        .globl fx_cmp_rip_imm
        .type fx_cmp_rip_imm, @function
fx_cmp_rip_imm:
        cmp dword ptr [rip + fx_data_d], 5
        sete al
        movzx eax, al
        lea rax, [rax + rdi * 2]
        sub rax, rsi
        ret
        .size fx_cmp_rip_imm, . - fx_cmp_rip_imm

/* vmovdqu ymm0, [rip + x]: c5 fe 6f 05 rel32 (VEX); every quarter of the
 * loaded data reaches the result. */
        .p2align 4
        .globl fx_vmovdqu_rip
        .type fx_vmovdqu_rip, @function
fx_vmovdqu_rip:
        vmovdqu ymm0, ymmword ptr [rip + fx_data_y]
        vmovq rax, xmm0
        vpextrq rcx, xmm0, 1
        add rax, rcx
        vextractf128 xmm1, ymm0, 1
        vmovq rcx, xmm1
        add rax, rcx
        vpextrq rcx, xmm1, 1
        add rax, rcx
        add rax, rdi
        sub rax, rsi
        vzeroupper
        ret
        .size fx_vmovdqu_rip, . - fx_vmovdqu_rip

/* push qword [rip + x]: ff 35 rel32, then pop */
        .p2align 4
        .globl fx_push_rip
        .type fx_push_rip, @function
fx_push_rip:
        push qword ptr [rip + fx_data_q]
        pop rax
        add rax, rdi
        sub rax, rsi
        ret
        .size fx_push_rip, . - fx_push_rip

/* cmp rdi, rsi; jne rel8: 48 39 f7 75 xx */
        .p2align 4
        .globl fx_jne_rel8
        .type fx_jne_rel8, @function
fx_jne_rel8:
        cmp rdi, rsi
        jne 1f
        lea rax, [rdi + rsi]
        ret
1:      mov rax, rdi
        sub rax, rsi
        ret
        .size fx_jne_rel8, . - fx_jne_rel8

/* mov rcx, rdi; jrcxz rel8: 48 89 f9 e3 xx */
        .p2align 4
        .globl fx_jrcxz
        .type fx_jrcxz, @function
fx_jrcxz:
        mov rcx, rdi
        jrcxz 1f
        lea rax, [rsi + rcx * 2]
        ret
1:      lea rax, [rsi - 100]
        ret
        .size fx_jrcxz, . - fx_jrcxz

/* mov rcx, rdi; loop rel8: 48 89 f9 e2 xx. Both paths see the
 * decremented rcx. */
        .p2align 4
        .globl fx_loop
        .type fx_loop, @function
fx_loop:
        mov rcx, rdi
        loop 1f
        lea rax, [rsi + rcx + 1000]
        ret
1:      lea rax, [rsi + rcx * 4]
        ret
        .size fx_loop, . - fx_loop

/* jmp rel8 in the first bytes: 48 89 f8 eb xx */
        .p2align 4
        .globl fx_jmp_rel8
        .type fx_jmp_rel8, @function
fx_jmp_rel8:
        mov rax, rdi
        jmp 1f
        ud2
1:      add rax, rsi
        ret
        .size fx_jmp_rel8, . - fx_jmp_rel8

/* endbr64 (f3 0f 1e fa) kept, then a frame-pointer prologue */
        .p2align 4
        .globl fx_endbr
        .type fx_endbr, @function
fx_endbr:
        endbr64
        push rbp
        mov rbp, rsp
        lea rax, [rdi + rsi * 2]
        pop rbp
        ret
        .size fx_endbr, . - fx_endbr

/* call rel32 to a local helper first: e8 rel32 */
        .p2align 4
        .globl fx_call_local
        .type fx_call_local, @function
fx_call_local:
        call fx_call_helper
        add rax, rsi
        ret
        .size fx_call_local, . - fx_call_local

        .p2align 4
        .type fx_call_helper, @function
fx_call_helper:
        lea rax, [rdi * 2 + 1]
        ret
        .size fx_call_helper, . - fx_call_helper

/* A loop entirely inside the moved bytes, back to the entry:
 * ff cf (dec edi) 7f fc (jg func) 48 8d 04 3e (lea). The copy must loop
 * inside the trampoline. */
        .p2align 4
        .globl fx_internal_loop
        .type fx_internal_loop, @function
fx_internal_loop:
0:      dec edi
        jg 0b
        lea rax, [rsi + rdi]
        ret
        .size fx_internal_loop, . - fx_internal_loop

/* -fpatchable-function-entry style: a 5-byte nopl 0(rax,rax,1) at the
 * entry (0f 1f 44 00 00) */
        .p2align 4
        .globl fx_nop_pad
        .type fx_nop_pad, @function
fx_nop_pad:
        .byte 0x0f, 0x1f, 0x44, 0x00, 0x00
        lea rax, [rdi + rsi * 8]
        ret
        .size fx_nop_pad, . - fx_nop_pad

/* 3 bytes (89 f8 c3: mov eax, edi; ret), then int3 up to the next 16 */
        .p2align 4
        .globl fx_short3_pad
        .type fx_short3_pad, @function
fx_short3_pad:
        .byte 0x89, 0xf8, 0xc3
        .size fx_short3_pad, . - fx_short3_pad
        .fill 13, 1, 0xcc

/* 4 bytes (48 89 f8 c3: mov rax, rdi; ret), then two 6-byte NOPs
 * (66 0f 1f 44 00 00) up to the next 16 */
        .p2align 4
        .globl fx_short4_pad
        .type fx_short4_pad, @function
fx_short4_pad:
        .byte 0x48, 0x89, 0xf8, 0xc3
        .size fx_short4_pad, . - fx_short4_pad
        .byte 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00
        .byte 0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00

/* A loop whose back edge lands at func+2, inside the entry jump:
 * 31 c0 | 48 01 f0 48 ff cf 7f f8 c3 */
        .p2align 4
        .globl fx_back_edge
        .type fx_back_edge, @function
fx_back_edge:
        xor eax, eax
1:      add rax, rsi
        dec rdi
        jg 1b
        ret
        .size fx_back_edge, . - fx_back_edge

/* A leaf that keeps a value in its red zone across a RIP-relative load:
 * 48 89 7c 24 f8 (mov [rsp-8], rdi) 48 8b 05 rel32 (mov rax, [rip+x])
 * 48 03 44 24 f8 (add rax, [rsp-8]). With the far entry all three move,
 * and a far trampoline loads through a scratch register it must save
 * below the red zone. */
        .p2align 4
        .globl fx_red_zone
        .type fx_red_zone, @function
fx_red_zone:
        mov [rsp - 8], rdi
        mov rax, [rip + fx_data_q]
        add rax, [rsp - 8]
        sub rax, rsi
        ret
        .size fx_red_zone, . - fx_red_zone

/* Short functions with no padding: each symbol starts where the previous
 * one ends (no alignment in between). */
        .p2align 4
        .globl fx_short3_tight
        .type fx_short3_tight, @function
fx_short3_tight:
        .byte 0x89, 0xf8, 0xc3          /* mov eax, edi; ret */
        .size fx_short3_tight, . - fx_short3_tight

        .globl fx_short4_tight
        .type fx_short4_tight, @function
fx_short4_tight:
        .byte 0x48, 0x89, 0xf8, 0xc3    /* mov rax, rdi; ret */
        .size fx_short4_tight, . - fx_short4_tight

        .globl fx_ret1_tight
        .type fx_ret1_tight, @function
fx_ret1_tight:
        .byte 0xc3                      /* ret */
        .size fx_ret1_tight, . - fx_ret1_tight

        .globl fx_after_tight
        .type fx_after_tight, @function
fx_after_tight:
        .byte 0x48, 0x8d, 0x04, 0xb7    /* lea rax, [rdi + rsi * 4] */
        .byte 0xc3                      /* ret */
        .size fx_after_tight, . - fx_after_tight

/* 1 byte (c3: ret), then int3 padding up to the next 16: the 5-byte jump
 * covers the ret and four padding bytes. */
        .p2align 4
        .globl fx_ret1_pad
        .type fx_ret1_pad, @function
fx_ret1_pad:
        .byte 0xc3
        .size fx_ret1_pad, . - fx_ret1_pad
        .fill 15, 1, 0xcc

/* The get-PC idiom: e8 00 00 00 00 (call the next instruction), 58 (pop
 * rax): rax is the address of the pop. Moved, the call would push the
 * trampoline's address instead (refused). The result is a - b only when
 * rax is the pop's own address. */
        .p2align 4
        .globl fx_get_pc
        .type fx_get_pc, @function
fx_get_pc:
        call 1f
1:      pop rax
        lea rcx, [rip + 1b]
        sub rax, rcx
        add rax, rdi
        sub rax, rsi
        ret
        .size fx_get_pc, . - fx_get_pc

/* Bounds the last fixture for tests that find the next symbol by hand. */
        .p2align 4
        .globl fx_x86_64_end
        .type fx_x86_64_end, @function
fx_x86_64_end:
        ret
        .size fx_x86_64_end, . - fx_x86_64_end

        .section .note.GNU-stack, "", @progbits
