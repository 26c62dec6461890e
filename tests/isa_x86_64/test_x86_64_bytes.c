/* SPDX-License-Identifier: MIT */
/*
 * The x86_64 backend over byte buffers at explicit addresses: what analyse
 * decides, the exact trampoline bytes relocate writes (near and more than
 * 2 GiB away), entry jumps and stubs. Pure: runs on every host. Expected
 * encodings are written out by hand, and a few are decoded again with
 * capstone to check mnemonics and targets independently.
 */
#include "hp_test.h"

#include <capstone/capstone.h>
#include <stdio.h>
#include <string.h>

#include "arch/isa.h"
#include "hotpatch.h"

/* A function at a typical PIE address, a trampoline 256 MiB above it and
 * one 8 GiB above it (beyond every rel32 and disp32). */
#define F 0x555500001000ull
#define NEAR (F + 0x10000000ull)
#define FAR (F + 0x200000000ull)
#define REACH (0x80000000ull - 0x1000000ull)

#define LE32(v)                                                                \
  (uint8_t)((uint32_t)(v)), (uint8_t)((uint32_t)(v) >> 8),                     \
      (uint8_t)((uint32_t)(v) >> 16), (uint8_t)((uint32_t)(v) >> 24)
#define LE64(v) LE32((uint64_t)(v)), LE32((uint64_t)(v) >> 32)
#define ENDBR 0xf3, 0x0f, 0x1e, 0xfa
#define RZ_DOWN 0x48, 0x8d, 0x64, 0x24, 0x80    /* lea rsp,[rsp-128] */
#define RZ_UP 0x48, 0x8d, 0xa4, 0x24, LE32(128) /* lea rsp,[rsp+128] */
#define JMP_ABS(t) 0xff, 0x25, LE32(0), LE64(t) /* jmp [rip]; .quad */
/* notrack jmp [rip]; .quad: a trampoline's absolute jumps land mid-code,
 * where IBT would want an endbr64 */
#define JMP_NT(t) 0x3e, JMP_ABS(t)
#define JMP_REL(t, end) 0xe9, LE32((t) - (end))

static const struct hp_isa *isa = &hp_isa_x86_64;

static int analyse_at(uint64_t addr, const uint8_t *b, size_t size, size_t tail,
                      uint32_t need, struct hp_site *s) {
  struct hp_code c = {.addr = addr, .bytes = b, .size = size, .tail = tail};
  return isa->analyse(&c, need, s);
}

static int analyse(const uint8_t *b, size_t size, size_t tail, uint32_t need,
                   struct hp_site *s) {
  return analyse_at(F, b, size, tail, need, s);
}

static void print_hex(const char *what, const uint8_t *b, size_t n) {
  fprintf(stderr, "%s (%zu):", what, n);
  for (size_t i = 0; i < n; i++)
    fprintf(stderr, " %02x", b[i]);
  fprintf(stderr, "\n");
}

/* relocate at `at` gives exactly `want`, twice (deterministic). */
static void expect_tramp(const struct hp_site *s, uint64_t at,
                         const uint8_t *want, size_t wlen, uint8_t *out) {
  uint8_t buf[HP_TRAMP_MAX], again[HP_TRAMP_MAX];
  size_t len = 0, len2 = 0;
  int rc = isa->relocate(s, at, buf, sizeof buf, &len);
  if (rc)
    fprintf(stderr, "relocate: %s\n", hotpatch_last_error());
  assert_int_equal(rc, 0);
  if (len != wlen || memcmp(buf, want, wlen) != 0) {
    print_hex("got ", buf, len);
    print_hex("want", want, wlen);
  }
  assert_int_equal(len, wlen);
  assert_memory_equal(buf, want, wlen);
  assert_int_equal(isa->relocate(s, at, again, sizeof again, &len2), 0);
  assert_int_equal(len2, len);
  assert_memory_equal(again, buf, len);
  if (out)
    memcpy(out, buf, len);
}

#define EXPECT_TRAMP(s, at, out, ...)                                          \
  do {                                                                         \
    const uint8_t want_[] = {__VA_ARGS__};                                     \
    expect_tramp(s, at, want_, sizeof want_, out);                             \
  } while (0)

/* Independent decoding of what relocate wrote. */
struct dis {
  char mn[32];
  char ops[160];
  uint64_t addr;
  uint64_t target; /* direct branch target, else 0 */
};

static size_t disasm(const uint8_t *b, size_t len, uint64_t at, struct dis *d,
                     size_t max) {
  csh h;
  cs_insn *in;
  assert_int_equal(cs_open(CS_ARCH_X86, CS_MODE_64, &h), CS_ERR_OK);
  cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
  size_t n = cs_disasm(h, b, len, at, 0, &in);
  assert_true(n > 0 && n <= max);
  size_t used = 0;
  for (size_t i = 0; i < n; i++) {
    snprintf(d[i].mn, sizeof d[i].mn, "%s", in[i].mnemonic);
    snprintf(d[i].ops, sizeof d[i].ops, "%s", in[i].op_str);
    d[i].addr = in[i].address;
    d[i].target = 0;
    const cs_x86 *x = &in[i].detail->x86;
    if (x->op_count == 1 && x->operands[0].type == X86_OP_IMM &&
        cs_insn_group(h, &in[i], X86_GRP_BRANCH_RELATIVE))
      d[i].target = (uint64_t)x->operands[0].imm;
    used += in[i].size;
  }
  cs_free(in, n);
  cs_close(&h);
  return used == len ? n : 0; /* every byte decoded */
}

/* d, decoded from out (at `at`), is notrack jmp [rip]. capstone 4 prints
 * the prefix as a DS override, later ones as notrack: check the byte. */
static void expect_notrack_jmp(const struct dis *d, const uint8_t *out,
                               uint64_t at) {
  assert_int_equal(out[d->addr - at], 0x3e);
  assert_non_null(strstr(d->mn, "jmp"));
  assert_non_null(strstr(d->ops, "[rip]"));
}

static void expect_detail(const char *needle) {
  const char *d = hotpatch_last_error();
  if (!strstr(d, needle))
    fprintf(stderr, "detail '%s' lacks '%s'\n", d, needle);
  assert_non_null(strstr(d, needle));
}

/* ---- RIP-relative operands ------------------------------------------ */

static void lea_rip_near_has_its_displacement_adjusted(void **state) {
  (void)state;
  /* lea rax, [rip + 0xff9] -> F + 0x1000; ret */
  const uint8_t code[] = {0x48, 0x8d, 0x05, LE32(0xff9), 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.func, F);
  assert_int_equal(s.addr, F);
  assert_int_equal(s.len, 7);
  assert_int_equal(s.ninsn, 1);
  assert_int_equal(s.flags, 0);
  assert_memory_equal(s.orig, code, 7);
  /* The window holds the data (F+0x1000) and the jump back (F+7). */
  assert_int_equal(s.tramp_lo, F + 0x1000 - REACH);
  assert_int_equal(s.tramp_hi, F + 7 + REACH - HP_TRAMP_MAX);
  assert_int_equal(s.stub_lo, F + 5 - REACH);
  assert_int_equal(s.stub_hi, F + 5 + REACH - 16);

  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x48, 0x8d, 0x05,
               LE32(F + 0x1000 - (NEAR + 11)), JMP_REL(F + 7, NEAR + 16));
  struct dis d[8];
  char want[64];
  assert_int_equal(disasm(out, 16, NEAR, d, 8), 3);
  assert_string_equal(d[0].mn, "endbr64");
  assert_string_equal(d[1].mn, "lea");
  snprintf(want, sizeof want, "rax, [rip - 0x%llx]",
           (unsigned long long)(NEAR + 11 - (F + 0x1000)));
  assert_string_equal(d[1].ops, want);
  assert_string_equal(d[2].mn, "jmp");
  assert_int_equal(d[2].target, F + 7);
}

static void
lea_rip_far_loads_through_a_scratch_register_below_the_red_zone(void **state) {
  (void)state;
  const uint8_t code[] = {0x48, 0x8d, 0x05, LE32(0xff9), 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  uint8_t out[HP_TRAMP_MAX];
  /* rax is written: rcx is the scratch. */
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x51, 0x48, 0xb9, LE64(F + 0x1000),
               0x48, 0x8d, 0x81, LE32(0), 0x59, RZ_UP, JMP_NT(F + 7));
  struct dis d[12];
  assert_int_equal(disasm(out, 43, FAR, d, 12), 8);
  assert_string_equal(d[1].mn, "lea");
  assert_string_equal(d[1].ops, "rsp, [rsp - 0x80]");
  assert_string_equal(d[2].mn, "push");
  assert_string_equal(d[2].ops, "rcx");
  assert_string_equal(d[3].mn, "movabs");
  assert_string_equal(d[4].mn, "lea");
  assert_string_equal(d[4].ops, "rax, [rcx]");
  assert_string_equal(d[5].mn, "pop");
  assert_string_equal(d[5].ops, "rcx");
  assert_string_equal(d[6].ops, "rsp, [rsp + 0x80]");
  expect_notrack_jmp(&d[7], out, FAR);
}

static void
cmp_rip_imm8_keeps_the_immediate_after_the_displacement(void **state) {
  (void)state;
  /* cmp dword ptr [rip + 0x2000], 5; ret */
  const uint8_t code[] = {0x83, 0x3d, LE32(0x2000), 0x05, 0xc3};
  const uint64_t t = F + 7 + 0x2000;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 7);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x83, 0x3d, LE32(t - (NEAR + 11)), 0x05,
               JMP_REL(F + 7, NEAR + 16));
  /* Far: nothing but flags is written, rax is the scratch. */
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x50, 0x48, 0xb8, LE64(t), 0x83,
               0xb8, LE32(0), 0x05, 0x58, RZ_UP, JMP_NT(F + 7));
  struct dis d[12];
  assert_int_equal(disasm(out, 43, FAR, d, 12), 8);
  assert_string_equal(d[4].mn, "cmp");
  assert_string_equal(d[4].ops, "dword ptr [rax], 5");
}

static void cmp_rip_imm32_far_keeps_the_whole_immediate(void **state) {
  (void)state;
  /* cmp dword ptr [rip + 0x2000], 0x12345678; ret */
  const uint8_t code[] = {0x81, 0x3d, LE32(0x2000), LE32(0x12345678), 0xc3};
  const uint64_t t = F + 10 + 0x2000;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 10);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x81, 0x3d, LE32(t - (NEAR + 14)),
               LE32(0x12345678), JMP_REL(F + 10, NEAR + 19));
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, RZ_DOWN, 0x50, 0x48, 0xb8, LE64(t), 0x81,
               0xb8, LE32(0), LE32(0x12345678), 0x58, RZ_UP, JMP_NT(F + 10));
}

static void vmovdqu_vex_rip_is_relocated(void **state) {
  (void)state;
  /* vmovdqu ymm0, ymmword ptr [rip + 0x3000]; ret (2-byte VEX) */
  const uint8_t code[] = {0xc5, 0xfe, 0x6f, 0x05, LE32(0x3000), 0xc3};
  const uint64_t t = F + 8 + 0x3000;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 8);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0xc5, 0xfe, 0x6f, 0x05,
               LE32(t - (NEAR + 12)), JMP_REL(F + 8, NEAR + 17));
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x50, 0x48, 0xb8, LE64(t), 0xc5,
               0xfe, 0x6f, 0x80, LE32(0), 0x58, RZ_UP, JMP_NT(F + 8));
  struct dis d[12];
  assert_int_equal(disasm(out, 44, FAR, d, 12), 8);
  assert_string_equal(d[4].mn, "vmovdqu");
  assert_string_equal(d[4].ops, "ymm0, ymmword ptr [rax]");
}

static void vex3_far_form_clears_the_b_extension(void **state) {
  (void)state;
  /* c4 c1 7e 6f 05: 3-byte VEX with ~B = 0, which RIP-relative ignores but
   * [rax] would read as [r8]. */
  const uint8_t code[] = {0xc4, 0xc1, 0x7e, 0x6f, 0x05, LE32(0x3000), 0xc3};
  const uint64_t t = F + 9 + 0x3000;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x50, 0x48, 0xb8, LE64(t), 0xc4,
               0xe1, 0x7e, 0x6f, 0x80, LE32(0), 0x58, RZ_UP, JMP_NT(F + 9));
  struct dis d[12];
  assert_int_equal(disasm(out, 45, FAR, d, 12), 8);
  assert_string_equal(d[4].ops, "ymm0, ymmword ptr [rax]");
}

static void rex_b_far_form_clears_the_b_extension(void **state) {
  (void)state;
  /* 49 8b 05: mov rax, [rip + x] with a (meaningless) REX.B */
  const uint8_t code[] = {0x49, 0x8b, 0x05, LE32(0x100), 0xc3};
  const uint64_t t = F + 7 + 0x100;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x51, 0x48, 0xb9, LE64(t), 0x48,
               0x8b, 0x81, LE32(0), 0x59, RZ_UP, JMP_NT(F + 7));
  struct dis d[12];
  assert_int_equal(disasm(out, 43, FAR, d, 12), 8);
  assert_string_equal(d[4].ops, "rax, qword ptr [rcx]");
}

static void evex_rip_is_relocated(void **state) {
  (void)state;
  /* vmovdqu64 zmm0, zmmword ptr [rip + 0x4000]; ret (EVEX, P0 with ~B=0) */
  const uint8_t code[] = {0x62, 0xd1, 0xfe,         0x48,
                          0x6f, 0x05, LE32(0x4000), 0xc3};
  const uint64_t t = F + 10 + 0x4000;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 10);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x62, 0xd1, 0xfe, 0x48, 0x6f, 0x05,
               LE32(t - (NEAR + 14)), JMP_REL(F + 10, NEAR + 19));
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x50, 0x48, 0xb8, LE64(t), 0x62,
               0xf1, 0xfe, 0x48, 0x6f, 0x80, LE32(0), 0x58, RZ_UP,
               JMP_NT(F + 10));
  struct dis d[12];
  assert_int_equal(disasm(out, 46, FAR, d, 12), 8);
  assert_string_equal(d[4].mn, "vmovdqu64");
  assert_string_equal(d[4].ops, "zmm0, zmmword ptr [rax]");
}

static void
scratch_register_avoids_the_registers_the_instruction_uses(void **state) {
  (void)state;
  /* lock cmpxchg qword ptr [rip + 0x100], rcx: reads rax and rcx */
  const uint8_t code[] = {0xf0, 0x48, 0x0f, 0xb1, 0x0d, LE32(0x100), 0xc3};
  const uint64_t t = F + 9 + 0x100;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, FAR, out, ENDBR, RZ_DOWN, 0x52, 0x48, 0xba, LE64(t), 0xf0,
               0x48, 0x0f, 0xb1, 0x8a, LE32(0), 0x5a, RZ_UP, JMP_NT(F + 9));
  struct dis d[12];
  assert_int_equal(disasm(out, 45, FAR, d, 12), 8);
  assert_string_equal(d[4].ops, "qword ptr [rdx], rcx");
}

static void push_rip_near_is_relocated_and_far_is_refused(void **state) {
  (void)state;
  /* push qword ptr [rip + 0x1000]; pop rax; add rax, rdi; sub rax, rsi; ret */
  const uint8_t code[] = {0xff, 0x35, LE32(0x1000), 0x58, 0x48, 0x01,
                          0xf8, 0x48, 0x29,         0xf0, 0xc3};
  const uint64_t t = F + 6 + 0x1000;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 6);
  assert_int_equal(s.flags & HP_SITE_CALL, 0);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0xff, 0x35, LE32(t - (NEAR + 10)),
               JMP_REL(F + 6, NEAR + 15));
  uint8_t buf[HP_TRAMP_MAX];
  size_t len = 0;
  assert_int_equal(isa->relocate(&s, FAR, buf, sizeof buf, &len),
                   HOTPATCH_ERELOC);
  expect_detail("push qword ptr [rip + 0x1000]");
  expect_detail("stack pointer");

  /* Analysed for the far entry, the trampoline is still bound to the data
   * push reads: it has no absolute form. */
  assert_int_equal(analyse(code, sizeof code, 0, 14, &s), 0);
  assert_true(s.flags & HP_SITE_FAR);
  assert_int_equal(s.len, 14);
  assert_int_equal(s.tramp_lo, t - REACH);
  assert_int_equal(s.tramp_hi, t + REACH - HP_TRAMP_MAX);
}

static void jmp_and_lea_rsp_through_rip_have_no_far_form(void **state) {
  (void)state;
  /* jmp qword ptr [rip + 0x100] */
  const uint8_t jmp[] = {0xff, 0x25, LE32(0x100), 0xcc};
  /* lea rsp, [rip + 0x100]; ret */
  const uint8_t lea[] = {0x48, 0x8d, 0x25, LE32(0x100), 0xc3};
  struct hp_site s;
  uint8_t buf[HP_TRAMP_MAX];
  size_t len;
  assert_int_equal(analyse(jmp, 6, 0, 5, &s), 0);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0xff, 0x25,
               LE32(F + 6 + 0x100 - (NEAR + 10)), JMP_REL(F + 6, NEAR + 15));
  assert_int_equal(isa->relocate(&s, FAR, buf, sizeof buf, &len),
                   HOTPATCH_ERELOC);
  expect_detail("transfers control");
  assert_int_equal(analyse(lea, sizeof lea, 0, 5, &s), 0);
  assert_int_equal(isa->relocate(&s, FAR, buf, sizeof buf, &len),
                   HOTPATCH_ERELOC);
  expect_detail("stack pointer");
}

/* ---- Relative branches ---------------------------------------------- */

static void
jne_rel8_is_widened_near_and_inverted_over_an_absolute_jump_far(void **state) {
  (void)state;
  /* cmp rdi, rsi; jne F+10; lea rax, [rdi+rsi]; ret; mov rax, rdi; ret */
  const uint8_t code[] = {0x48, 0x39, 0xf7, 0x75, 0x05, 0x48, 0x8d,
                          0x04, 0x37, 0xc3, 0x48, 0x89, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.ninsn, 2);
  /* The window also holds the branch target. */
  assert_int_equal(s.tramp_lo, F + 10 - REACH);
  assert_int_equal(s.tramp_hi, F + 5 + REACH - HP_TRAMP_MAX);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x48, 0x39, 0xf7, 0x0f, 0x85,
               LE32(F + 10 - (NEAR + 13)), JMP_REL(F + 5, NEAR + 18));
  struct dis d[8];
  assert_int_equal(disasm(out, 18, NEAR, d, 8), 4);
  assert_string_equal(d[2].mn, "jne");
  assert_int_equal(d[2].target, F + 10);
  EXPECT_TRAMP(&s, FAR, out, ENDBR, 0x48, 0x39, 0xf7, 0x74, 0x0f,
               JMP_NT(F + 10), JMP_NT(F + 5));
  assert_int_equal(disasm(out, 16, FAR, d, 8), 4);
  assert_string_equal(d[2].mn, "je");
  assert_int_equal(d[2].target, FAR + 24); /* over the absolute jump */
  expect_notrack_jmp(&d[3], out, FAR);
}

static void jmp_rel8_becomes_a_rel32_or_absolute_jump(void **state) {
  (void)state;
  /* jmp F+5; ud2; int3 | add rax, rsi; ret */
  const uint8_t code[] = {0xeb, 0x03, 0x0f, 0x0b, 0xcc, 0x48, 0x01, 0xf0, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.ninsn, 3);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, JMP_REL(F + 5, NEAR + 9), 0x0f, 0x0b,
               0xcc, JMP_REL(F + 5, NEAR + 17));
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, JMP_NT(F + 5), 0x0f, 0x0b, 0xcc,
               JMP_NT(F + 5));
}

static void jmp_rel32_is_retargeted_near_and_absolute_far(void **state) {
  (void)state;
  /* jmp F+0x105 (e9 rel32); then code the site does not reach */
  const uint8_t code[] = {0xe9, LE32(0x100), 0x48, 0x01, 0xf0, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.ninsn, 1);
  assert_int_equal(s.tramp_lo, F + 0x105 - REACH);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, JMP_REL(F + 0x105, NEAR + 9),
               JMP_REL(F + 5, NEAR + 14));
  struct dis d[4];
  assert_int_equal(disasm(out, 14, NEAR, d, 4), 3);
  assert_string_equal(d[1].mn, "jmp");
  assert_int_equal(d[1].target, F + 0x105);
  EXPECT_TRAMP(&s, FAR, out, ENDBR, JMP_NT(F + 0x105), JMP_NT(F + 5));
  /* Backwards, 1 MiB. */
  const uint8_t back[] = {0xe9, LE32(-0x100000), 0xc3};
  assert_int_equal(analyse(back, sizeof back, 0, 5, &s), 0);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, JMP_REL(F + 5 - 0x100000, NEAR + 9),
               JMP_REL(F + 5, NEAR + 14));
}

static void jcc_rel32_is_retargeted_near_and_inverted_far(void **state) {
  (void)state;
  /* je F+0x206 (0f 84 rel32); mov rax, rdi; ret */
  const uint8_t code[] = {0x0f, 0x84, LE32(0x200), 0x48, 0x89, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 6);
  assert_int_equal(s.ninsn, 1);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x0f, 0x84, LE32(F + 0x206 - (NEAR + 10)),
               JMP_REL(F + 6, NEAR + 15));
  struct dis d[4];
  assert_int_equal(disasm(out, 15, NEAR, d, 4), 3);
  assert_string_equal(d[1].mn, "je");
  assert_int_equal(d[1].target, F + 0x206);
  /* Far: jne over the absolute jump to the target. */
  EXPECT_TRAMP(&s, FAR, out, ENDBR, 0x75, 0x0f, JMP_NT(F + 0x206),
               JMP_NT(F + 6));
  assert_int_equal(disasm(out, 13, FAR, d, 4), 3);
  assert_string_equal(d[1].mn, "jne");
  assert_int_equal(d[1].target, FAR + 21);
  expect_notrack_jmp(&d[2], out, FAR);
  /* jl backwards (0f 8c), every condition keeps its own nibble. */
  const uint8_t jl[] = {0x0f, 0x8c, LE32(-0x3000), 0xc3};
  assert_int_equal(analyse(jl, sizeof jl, 0, 5, &s), 0);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x0f, 0x8c,
               LE32(F + 6 - 0x3000 - (NEAR + 10)), JMP_REL(F + 6, NEAR + 15));
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, 0x7d, 0x0f, JMP_NT(F + 6 - 0x3000),
               JMP_NT(F + 6));
}

static void call_rel32_is_relocated_and_flagged(void **state) {
  (void)state;
  /* call F+0x105; add rax, rsi; ret */
  const uint8_t code[] = {0xe8, LE32(0x100), 0x48, 0x01, 0xf0, 0xc3};
  const uint64_t t = F + 5 + 0x100;
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 5);
  assert_true(s.flags & HP_SITE_CALL);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0xe8, LE32(t - (NEAR + 9)),
               JMP_REL(F + 5, NEAR + 14));
  uint8_t out[HP_TRAMP_MAX];
  /* call [rip+2]; jmp +8 over the literal: no push/ret emulation. */
  EXPECT_TRAMP(&s, FAR, out, ENDBR, 0xff, 0x15, LE32(2), 0xeb, 0x08, LE64(t),
               JMP_NT(F + 5));
  struct dis d[8];
  assert_int_equal(disasm(out, 12, FAR, d, 8), 3);
  assert_string_equal(d[1].mn, "call");
  assert_string_equal(d[1].ops, "qword ptr [rip + 2]");
  assert_string_equal(d[2].mn, "jmp");
  assert_int_equal(d[2].target, FAR + 20);
}

static void call_to_the_next_instruction_is_refused(void **state) {
  (void)state;
  /* call F+5; pop rax; sub rax, rdi; ret: the get-PC idiom */
  const uint8_t code[] = {0xe8, LE32(0), 0x58, 0x48, 0x29, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_ERELOC);
  expect_detail("call 0x555500001005");
  expect_detail("next instruction");
  expect_detail("0x555500001000");
  /* After an endbr64, and analysed for the far entry, the same. */
  const uint8_t endbr[] = {ENDBR, 0xe8, LE32(0), 0x58, 0x48, 0x29,
                           0xf8,  0x48, 0x89,    0xc0, 0xc3};
  assert_int_equal(analyse(endbr, sizeof endbr, 0, 5, &s), HOTPATCH_ERELOC);
  expect_detail("get-PC");
  assert_int_equal(analyse(endbr, sizeof endbr, 0, 14, &s), HOTPATCH_ERELOC);
  /* A call one byte further is an ordinary call. */
  const uint8_t other[] = {0xe8, LE32(1), 0xcc, 0x58, 0xc3};
  assert_int_equal(analyse(other, sizeof other, 0, 5, &s), 0);
  assert_true(s.flags & HP_SITE_CALL);
}

static void jrcxz_keeps_the_instruction_over_a_jump(void **state) {
  (void)state;
  /* mov rcx, rdi; jrcxz F+10; ... */
  const uint8_t code[] = {0x48, 0x89, 0xf9, 0xe3, 0x05, 0x48, 0x8d, 0x04,
                          0x4e, 0xc3, 0x48, 0x8d, 0x46, 0x9c, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 5);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x48, 0x89, 0xf9, 0xe3, 0x02, 0xeb, 0x05,
               JMP_REL(F + 10, NEAR + 16), JMP_REL(F + 5, NEAR + 21));
  struct dis d[8];
  assert_int_equal(disasm(out, 21, NEAR, d, 8), 6);
  assert_string_equal(d[2].mn, "jrcxz");
  assert_int_equal(d[2].target, NEAR + 11);
  assert_string_equal(d[3].mn, "jmp");
  assert_int_equal(d[3].target, NEAR + 16);
  assert_int_equal(d[4].target, F + 10);
  assert_int_equal(d[5].target, F + 5);
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, 0x48, 0x89, 0xf9, 0xe3, 0x02, 0xeb, 0x0f,
               JMP_NT(F + 10), JMP_NT(F + 5));
}

static void loop_keeps_the_instruction_over_a_jump(void **state) {
  (void)state;
  /* mov rcx, rdi; loop F+14; ... */
  const uint8_t code[] = {0x48, 0x89, 0xf9, 0xe2,       0x09, 0x48,
                          0x8d, 0x84, 0x0e, LE32(1000), 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x48, 0x89, 0xf9, 0xe2, 0x02, 0xeb, 0x05,
               JMP_REL(F + 14, NEAR + 16), JMP_REL(F + 5, NEAR + 21));
  struct dis d[8];
  assert_int_equal(disasm(out, 21, NEAR, d, 8), 6);
  assert_string_equal(d[2].mn, "loop");
  assert_int_equal(d[2].target, NEAR + 11);
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, 0x48, 0x89, 0xf9, 0xe2, 0x02, 0xeb, 0x0f,
               JMP_NT(F + 14), JMP_NT(F + 5));
}

static void loope_and_loopne_keep_the_instruction_over_a_jump(void **state) {
  (void)state;
  static const uint8_t ops[2] = {0xe1, 0xe0};
  static const char *const names[2] = {"loope", "loopne"};
  for (int k = 0; k < 2; k++) {
    /* mov rcx, rdi; loope/loopne F+10; ... */
    const uint8_t code[] = {0x48, 0x89, 0xf9, ops[k], 0x05, 0x48, 0x8d, 0x04,
                            0x4e, 0xc3, 0x48, 0x8d,   0x46, 0x9c, 0xc3};
    struct hp_site s;
    assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
    assert_int_equal(s.len, 5);
    assert_int_equal(s.ninsn, 2);
    uint8_t out[HP_TRAMP_MAX];
    EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0x48, 0x89, 0xf9, ops[k], 0x02, 0xeb,
                 0x05, JMP_REL(F + 10, NEAR + 16), JMP_REL(F + 5, NEAR + 21));
    struct dis d[8];
    assert_int_equal(disasm(out, 21, NEAR, d, 8), 6);
    assert_string_equal(d[2].mn, names[k]);
    assert_int_equal(d[2].target, NEAR + 11);
    assert_int_equal(d[3].target, NEAR + 16);
    assert_int_equal(d[4].target, F + 10);
    EXPECT_TRAMP(&s, FAR, NULL, ENDBR, 0x48, 0x89, 0xf9, ops[k], 0x02, 0xeb,
                 0x0f, JMP_NT(F + 10), JMP_NT(F + 5));
  }
}

static void jecxz_keeps_its_address_size_prefix(void **state) {
  (void)state;
  /* jecxz F+8; mov rcx, rdi; ... */
  const uint8_t code[] = {0x67, 0xe3, 0x05, 0x48, 0x89, 0xf9, 0xc3, 0xcc, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 6);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x67, 0xe3, 0x02, 0xeb, 0x05,
               JMP_REL(F + 8, NEAR + 14), 0x48, 0x89, 0xf9,
               JMP_REL(F + 6, NEAR + 22));
}

static void branch_inside_the_moved_bytes_targets_the_moved_copy(void **state) {
  (void)state;
  /* 0: dec edi; 2: jg 0; 4: lea rax, [rsi + rdi]; 8: ret */
  const uint8_t code[] = {0xff, 0xcf, 0x7f, 0xfc, 0x48, 0x8d, 0x04, 0x3e, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 8);
  assert_int_equal(s.ninsn, 3);
  assert_int_equal(s.flags, 0); /* not an entry loop: it moves along */
  uint8_t out[HP_TRAMP_MAX];
  EXPECT_TRAMP(&s, NEAR, out, ENDBR, 0xff, 0xcf, 0x0f, 0x8f, LE32(-8), 0x48,
               0x8d, 0x04, 0x3e, JMP_REL(F + 8, NEAR + 21));
  struct dis d[8];
  assert_int_equal(disasm(out, 21, NEAR, d, 8), 5);
  assert_string_equal(d[2].mn, "jg");
  assert_int_equal(d[2].target, NEAR + 4);
  /* Far away it still loops in the copy. */
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, 0xff, 0xcf, 0x0f, 0x8f, LE32(-8), 0x48,
               0x8d, 0x04, 0x3e, JMP_NT(F + 8));
}

static void
branch_into_the_middle_of_a_moved_instruction_is_refused(void **state) {
  (void)state;
  /* jmp F+3 (inside mov rax, rdi at F+2); mov rax, rdi; ret */
  const uint8_t code[] = {0xeb, 0x01, 0x48, 0x89, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_ERELOC);
  expect_detail("jmp");
}

static void operand_size_prefixed_branch_is_refused(void **state) {
  (void)state;
  /* 66 e9 rel16: a jump that truncates rip on some cpus */
  const uint8_t code[] = {0x66, 0xe9, 0x10, 0x00, 0xc3, 0xc3, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_ERELOC);
  expect_detail("operand-size");
}

static void eip_relative_operand_is_refused(void **state) {
  (void)state;
  /* lea rax, [eip + 0x10]: the address-size prefix wraps it at 4 GiB */
  const uint8_t code[] = {0x67, 0x48, 0x8d, 0x05, LE32(0x10), 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_ERELOC);
  expect_detail("EIP-relative");
}

static void syscall_and_int3_are_copied_verbatim(void **state) {
  (void)state;
  const uint8_t code[] = {0x0f, 0x05, 0xcc, 0x48, 0x89, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 6);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x0f, 0x05, 0xcc, 0x48, 0x89, 0xf8,
               JMP_REL(F + 6, NEAR + 15));
}

static void xbegin_is_refused(void **state) {
  (void)state;
  /* xbegin F+0x16; ... */
  const uint8_t code[] = {0xc7, 0xf8, LE32(0x10), 0x48, 0x89, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_ERELOC);
  expect_detail("xbegin");
  expect_detail("0x555500001000");
}

static void undecodable_first_bytes_are_refused(void **state) {
  (void)state;
  /* 06 (push es) does not exist in 64-bit mode */
  const uint8_t code[] = {0x06, 0x06, 0x06, 0x06, 0x06, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_EDECODE);
  expect_detail("0x555500001000");
  expect_detail("06");
}

static void undecodable_bytes_later_do_not_stop_the_scan(void **state) {
  (void)state;
  /* mov rax, rdi; add rax, rsi; ret; 06 06 (data); jmp F+2 after them */
  const uint8_t ok[] = {0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3, 0x06, 0x06};
  struct hp_site s;
  assert_int_equal(analyse(ok, sizeof ok, 0, 5, &s), 0);
  const uint8_t bad[] = {0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0,
                         0xc3, 0x06, 0xeb, 0xf7, 0xc3};
  assert_int_equal(analyse(bad, sizeof bad, 0, 5, &s), HOTPATCH_EBRANCHIN);
  expect_detail("0x555500001008");
}

/* ---- Landing pads and NOP pads -------------------------------------- */

static void endbr64_is_kept_and_the_site_starts_after_it(void **state) {
  (void)state;
  /* endbr64; push rbp; mov rbp, rsp; lea rax, [rdi + rsi*2]; pop rbp; ret */
  const uint8_t code[] = {ENDBR, 0x55, 0x48, 0x89, 0xe5, 0x48,
                          0x8d,  0x04, 0x77, 0x5d, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.func, F);
  assert_int_equal(s.addr, F + 4);
  assert_int_equal(s.len, 8);
  assert_int_equal(s.ninsn, 3);
  assert_int_equal(s.jump_off, 0);
  assert_int_equal(s.flags, HP_SITE_ENDBR);
  assert_memory_equal(s.orig, code + 4, 8);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x55, 0x48, 0x89, 0xe5, 0x48, 0x8d, 0x04,
               0x77, JMP_REL(F + 12, NEAR + 17));
  uint8_t e[HP_SITE_MAX];
  assert_int_equal(isa->entry(&s, NEAR, e), 0);
  const uint8_t want[] = {JMP_REL(NEAR, F + 9), 0xcc, 0xcc, 0xcc};
  assert_memory_equal(e, want, sizeof want);
}

static void nop_pad_is_used_without_moving_anything(void **state) {
  (void)state;
  /* nopl 0(rax,rax,1); lea rax, [rdi + rsi*8]; ret */
  const uint8_t code[] = {0x0f, 0x1f, 0x44, 0x00, 0x00,
                          0x48, 0x8d, 0x04, 0xf7, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.addr, F);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.ninsn, 0);
  assert_int_equal(s.flags, HP_SITE_NOP_PAD);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, JMP_REL(F + 5, NEAR + 9));
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, JMP_NT(F + 5));
}

static void nop_pads_take_whole_nops(void **state) {
  (void)state;
  /* 66 2e 0f 1f 84 00 00 00 00 00: a 10-byte nopw cs: */
  const uint8_t ten[] = {0x66, 0x2e, 0x0f, 0x1f, 0x84, 0x00,
                         0x00, 0x00, 0x00, 0x00, 0xc3};
  /* three 66 90 */
  const uint8_t twos[] = {0x66, 0x90, 0x66, 0x90, 0x66, 0x90, 0xc3};
  /* endbr64 then the patchable NOPs (LLVM's order) */
  const uint8_t endbr[] = {ENDBR, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(ten, sizeof ten, 0, 5, &s), 0);
  assert_int_equal(s.len, 10);
  assert_int_equal(s.flags, HP_SITE_NOP_PAD);
  assert_int_equal(analyse(twos, sizeof twos, 0, 5, &s), 0);
  assert_int_equal(s.len, 6);
  assert_int_equal(s.flags, HP_SITE_NOP_PAD);
  assert_int_equal(analyse(endbr, sizeof endbr, 0, 5, &s), 0);
  assert_int_equal(s.addr, F + 4);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.flags, HP_SITE_NOP_PAD | HP_SITE_ENDBR);
  /* Too few NOPs: they move like any instruction. */
  const uint8_t one[] = {0x90, 0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3};
  assert_int_equal(analyse(one, sizeof one, 0, 5, &s), 0);
  assert_int_equal(s.flags, 0);
  assert_int_equal(s.ninsn, 3);
  assert_int_equal(s.len, 7);
}

/* ---- Short functions ------------------------------------------------ */

static void one_byte_function_uses_int3_padding(void **state) {
  (void)state;
  const uint8_t code[] = {0xc3, 0xcc, 0xcc, 0xcc, 0xcc, 0xcc};
  struct hp_site s;
  assert_int_equal(analyse(code, 1, 5, 5, &s), 0);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.ninsn, 1);
  assert_int_equal(s.flags, HP_SITE_PADDING);
  assert_memory_equal(s.orig, code, 5);
  /* The padding is overwritten but not copied. */
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0xc3, JMP_REL(F + 5, NEAR + 10));
}

static void one_byte_function_without_padding_is_too_short(void **state) {
  (void)state;
  const uint8_t code[] = {0xc3, 0x55, 0x48, 0x89, 0xe5, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, 1, 0, 5, &s), HOTPATCH_ETOOSHORT);
  expect_detail("size 1");
  expect_detail("5-byte");
  /* Readable bytes that are not padding do not count either. */
  assert_int_equal(analyse(code, 1, 5, 5, &s), HOTPATCH_ETOOSHORT);
  expect_detail("not padding: 55 48 89 e5");
}

static void three_byte_function_uses_nop_padding(void **state) {
  (void)state;
  /* mov eax, edi; ret | nopl 0(rax) (4 bytes) */
  const uint8_t code[] = {0x89, 0xf8, 0xc3, 0x0f, 0x1f, 0x40, 0x00};
  struct hp_site s;
  assert_int_equal(analyse(code, 3, 4, 5, &s), 0);
  assert_int_equal(s.len, 7); /* whole NOPs */
  assert_int_equal(s.ninsn, 2);
  assert_int_equal(s.flags, HP_SITE_PADDING);
  EXPECT_TRAMP(&s, NEAR, NULL, ENDBR, 0x89, 0xf8, 0xc3,
               JMP_REL(F + 7, NEAR + 12));
  assert_int_equal(analyse(code, 3, 0, 5, &s), HOTPATCH_ETOOSHORT);
  expect_detail("size 3");
  /* One int3 is not enough. */
  const uint8_t one_cc[] = {0x89, 0xf8, 0xc3, 0xcc};
  assert_int_equal(analyse(one_cc, 3, 1, 5, &s), HOTPATCH_ETOOSHORT);
  expect_detail("only 1 byte(s) of padding");
}

static void four_byte_function_uses_padding_only_when_present(void **state) {
  (void)state;
  const uint8_t code[] = {0x48, 0x89, 0xf8, 0xc3, 0xcc, 0xcc, 0xcc, 0xcc};
  struct hp_site s;
  assert_int_equal(analyse(code, 4, 4, 5, &s), 0);
  assert_int_equal(s.len, 5);
  assert_int_equal(s.flags, HP_SITE_PADDING);
  assert_int_equal(analyse(code, 4, 0, 5, &s), HOTPATCH_ETOOSHORT);
  expect_detail("size 4");
}

static void instruction_crossing_the_end_is_refused(void **state) {
  (void)state;
  /* size says 2, but lea rax, [rdi + rsi] is 4 bytes */
  const uint8_t code[] = {0x48, 0x8d, 0x04, 0x37, 0xc3, 0xcc, 0xcc, 0xcc};
  struct hp_site s;
  assert_int_equal(analyse(code, 2, 6, 5, &s), HOTPATCH_EDECODE);
  expect_detail("crosses the end");
}

/* ---- Branches into the site ----------------------------------------- */

static void back_edge_into_the_site_is_refused(void **state) {
  (void)state;
  /* xor eax, eax; 2: add rax, rsi; dec rdi; 8: jg 2; ret */
  const uint8_t code[] = {0x31, 0xc0, 0x48, 0x01, 0xf0, 0x48,
                          0xff, 0xcf, 0x7f, 0xf8, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), HOTPATCH_EBRANCHIN);
  expect_detail("0x555500001008");
  expect_detail("jg 0x555500001002");
  expect_detail("branches to 0x555500001002");
}

static void branch_to_the_entry_is_allowed_and_reported(void **state) {
  (void)state;
  /* 0: sub rdi, 1; add rsi, 2; test rdi, rdi; 11: jg 0; mov rax, rsi; ret */
  const uint8_t code[] = {0x48, 0x83, 0xef, 0x01, 0x48, 0x83, 0xc6, 0x02, 0x48,
                          0x85, 0xff, 0x7f, 0xf3, 0x48, 0x89, 0xf0, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 8);
  assert_int_equal(s.flags, HP_SITE_ENTRY_LOOP);
}

static void branch_to_the_end_of_the_site_is_allowed(void **state) {
  (void)state;
  /* 0: mov rax, rdi; 3: add rax, rsi; 6: dec rdi; 9: jg 6; ret */
  const uint8_t code[] = {0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0,
                          0x48, 0xff, 0xcf, 0x7f, 0xfb, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.len, 6);
  assert_int_equal(s.flags, 0);
}

static void cold_part_branching_into_the_site_is_refused(void **state) {
  (void)state;
  const uint64_t cold = F + 0x10000;
  /* test rdi, rdi; jne cold; mov rax, rsi; ret */
  const uint8_t code[] = {0x48, 0x85, 0xff, 0x0f, 0x85, LE32(cold - (F + 9)),
                          0x48, 0x89, 0xf0, 0xc3};
  /* cold: dec rdi; jmp F+3 (the jne, inside the site) */
  const uint8_t into[] = {0x48, 0xff, 0xcf, 0xe9, LE32(F + 3 - (cold + 8))};
  /* cold: dec rdi; jmp F (the entry) */
  const uint8_t entry[] = {0x48, 0xff, 0xcf, 0xe9, LE32(F - (cold + 8))};
  struct hp_code c = {.addr = F,
                      .bytes = code,
                      .size = sizeof code,
                      .cold_addr = cold,
                      .cold_bytes = into,
                      .cold_size = sizeof into};
  struct hp_site s;
  assert_int_equal(isa->analyse(&c, 5, &s), HOTPATCH_EBRANCHIN);
  expect_detail("cold part");
  expect_detail("0x555500011003");
  c.cold_bytes = entry;
  assert_int_equal(isa->analyse(&c, 5, &s), 0);
  assert_int_equal(s.len, 9);
  assert_int_equal(s.flags, HP_SITE_ENTRY_LOOP);
}

/* ---- Far analysis, windows, entry, stub ----------------------------- */

static void far_analysis_places_the_trampoline_anywhere(void **state) {
  (void)state;
  /* mov [rsp-8], rdi; mov rax, [rip+0x100]; add rax, [rsp-8]; sub; ret */
  const uint8_t code[] = {0x48, 0x89, 0x7c,        0x24, 0xf8, 0x48,
                          0x8b, 0x05, LE32(0x100), 0x48, 0x03, 0x44,
                          0x24, 0xf8, 0x48,        0x29, 0xf0, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse(code, sizeof code, 0, 14, &s), 0);
  assert_int_equal(s.len, 17);
  assert_int_equal(s.ninsn, 3);
  assert_int_equal(s.flags, HP_SITE_FAR);
  assert_int_equal(s.tramp_lo, 0);
  assert_int_equal(s.tramp_hi, 0);
  uint8_t e[HP_SITE_MAX];
  assert_int_equal(isa->entry(&s, FAR, e), 0);
  const uint8_t want[] = {JMP_ABS(FAR), 0xcc, 0xcc, 0xcc};
  assert_memory_equal(e, want, sizeof want);
  /* A near replacement still gets the short jump. */
  assert_int_equal(isa->entry(&s, NEAR, e), 0);
  const uint8_t want_near[] = {JMP_REL(NEAR, F + 5),
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc,
                               0xcc};
  assert_memory_equal(e, want_near, sizeof want_near);
  /* The red zone is stepped over before the scratch register is saved. */
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, 0x48, 0x89, 0x7c, 0x24, 0xf8, RZ_DOWN,
               0x51, 0x48, 0xb9, LE64(F + 12 + 0x100), 0x48, 0x8b, 0x81,
               LE32(0), 0x59, RZ_UP, 0x48, 0x03, 0x44, 0x24, 0xf8,
               JMP_NT(F + 17));
}

static void windows_stay_inside_user_space(void **state) {
  (void)state;
  /* mov rax, rdi; add rax, rsi; ret at 0x20000: the low edge clamps */
  const uint8_t code[] = {0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3};
  struct hp_site s;
  assert_int_equal(analyse_at(0x20000, code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(s.tramp_lo, 0x10000);
  assert_int_equal(s.tramp_hi, 0x20006 + REACH - HP_TRAMP_MAX);
  assert_int_equal(s.stub_lo, 0x10000);
  assert_int_equal(analyse_at(0x7ffffff00000ull, code, sizeof code, 0, 5, &s),
                   0);
  assert_int_equal(s.tramp_hi, 0x7fffffffffffull);
  assert_int_equal(s.stub_hi, 0x7fffffffffffull);
  assert_int_equal(s.tramp_lo, 0x7ffffff00006ull - REACH);
}

static void
a_reference_no_trampoline_reaches_leaves_only_the_far_plan(void **state) {
  (void)state;
  /* At 0x20000: lea rax, [rip - 0x21007] = 0xfffffffffffff000, beyond user
   * space, where no trampoline has it in disp32 reach; add rax, rdi;
   * sub rax, rsi; ret. */
  const uint8_t code[] = {0x48, 0x8d, 0x05, LE32(-0x21007), 0x48, 0x01,
                          0xf8, 0x48, 0x29, 0xf0,           0xc3};
  struct hp_site s;
  assert_int_equal(analyse_at(0x20000, code, sizeof code, 0, 5, &s),
                   HOTPATCH_ERELOC);
  expect_detail("too far apart");
  /* The failed analysis says why, so the pipeline tries the far plan. */
  assert_int_equal(s.flags, HP_SITE_NO_WINDOW);
  assert_int_equal(s.len, 0);
  assert_int_equal(analyse_at(0x20000, code, sizeof code, 0, 14, &s), 0);
  assert_int_equal(s.flags, HP_SITE_FAR);
  assert_int_equal(s.len, 14);
  assert_int_equal(s.tramp_lo, 0);
  assert_int_equal(s.tramp_hi, 0);
  EXPECT_TRAMP(&s, FAR, NULL, ENDBR, RZ_DOWN, 0x51, 0x48, 0xb9,
               LE64(0xfffffffffffff000ull), 0x48, 0x8d, 0x81, LE32(0), 0x59,
               RZ_UP, 0x48, 0x01, 0xf8, 0x48, 0x29, 0xf0, 0xc3,
               JMP_NT(0x2000e));
  /* Other refusals are not marked: they are not worth a far plan. */
  const uint8_t xbegin[] = {0xc7, 0xf8, LE32(0x10), 0x48, 0x89, 0xf8, 0xc3};
  assert_int_equal(analyse(xbegin, sizeof xbegin, 0, 5, &s), HOTPATCH_ERELOC);
  assert_int_equal(s.flags, 0);
}

static void entry_is_refused_when_out_of_reach_of_a_near_site(void **state) {
  (void)state;
  const uint8_t code[] = {0x48, 0x8d, 0x05, LE32(0xff9), 0xc3};
  struct hp_site s;
  uint8_t e[HP_SITE_MAX];
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(isa->entry(&s, F + 0x1000000, e), 0);
  const uint8_t want[] = {JMP_REL(F + 0x1000000, F + 5), 0xcc, 0xcc};
  assert_memory_equal(e, want, sizeof want);
  /* Backwards, to the edge of rel32. */
  assert_int_equal(isa->entry(&s, F + 5 - 0x80000000ull, e), 0);
  const uint8_t edge[] = {0xe9, 0x00, 0x00, 0x00, 0x80, 0xcc, 0xcc};
  assert_memory_equal(e, edge, sizeof edge);
  assert_int_equal(isa->entry(&s, F + 5 - 0x80000001ull, e), HOTPATCH_ENONEAR);
  assert_int_equal(isa->entry(&s, FAR, e), HOTPATCH_ENONEAR);
  expect_detail("0x555500001000");
}

static void stub_is_an_absolute_jump(void **state) {
  (void)state;
  uint8_t out[16];
  assert_int_equal(isa->stub(NEAR, 0x7f1234567890ull, out), 0);
  const uint8_t want[] = {JMP_ABS(0x7f1234567890ull), 0xcc, 0xcc};
  assert_memory_equal(out, want, 16);
  assert_int_equal(isa->stub_len, 16);
  assert_int_equal(isa->near_jump_len, 5);
  assert_int_equal(isa->far_jump_len, 14);
  assert_int_equal(isa->tramp_align, 16);
  assert_string_equal(isa->name, "x86_64");
  assert_int_equal(isa->elf_machine, 62); /* EM_X86_64 */
}

static void relocate_reports_a_buffer_too_small(void **state) {
  (void)state;
  const uint8_t code[] = {0x48, 0x8d, 0x05, LE32(0xff9), 0xc3};
  struct hp_site s;
  uint8_t buf[HP_TRAMP_MAX];
  size_t len = 99;
  assert_int_equal(analyse(code, sizeof code, 0, 5, &s), 0);
  assert_int_equal(isa->relocate(&s, NEAR, buf, 15, &len), HOTPATCH_ENOMEM);
  assert_int_equal(isa->relocate(&s, NEAR, buf, 16, &len), 0);
  assert_int_equal(len, 16);
}

static void describe_prints_the_disassembly_or_the_bytes(void **state) {
  (void)state;
  char out[128];
  const uint8_t lea[] = {0x48, 0x8d, 0x05, LE32(0xff9)};
  isa->describe(lea, sizeof lea, F, out, sizeof out);
  assert_string_equal(out, "lea rax, [rip + 0xff9]");
  const uint8_t ret[] = {0xc3};
  isa->describe(ret, 1, F, out, sizeof out);
  assert_string_equal(out, "ret");
  const uint8_t bad[] = {0x06, 0x07};
  isa->describe(bad, sizeof bad, F, out, sizeof out);
  assert_string_equal(out, "(bad) 06 07");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lea_rip_near_has_its_displacement_adjusted),
      cmocka_unit_test(
          lea_rip_far_loads_through_a_scratch_register_below_the_red_zone),
      cmocka_unit_test(cmp_rip_imm8_keeps_the_immediate_after_the_displacement),
      cmocka_unit_test(cmp_rip_imm32_far_keeps_the_whole_immediate),
      cmocka_unit_test(vmovdqu_vex_rip_is_relocated),
      cmocka_unit_test(vex3_far_form_clears_the_b_extension),
      cmocka_unit_test(rex_b_far_form_clears_the_b_extension),
      cmocka_unit_test(evex_rip_is_relocated),
      cmocka_unit_test(
          scratch_register_avoids_the_registers_the_instruction_uses),
      cmocka_unit_test(push_rip_near_is_relocated_and_far_is_refused),
      cmocka_unit_test(jmp_and_lea_rsp_through_rip_have_no_far_form),
      cmocka_unit_test(
          jne_rel8_is_widened_near_and_inverted_over_an_absolute_jump_far),
      cmocka_unit_test(jmp_rel8_becomes_a_rel32_or_absolute_jump),
      cmocka_unit_test(jmp_rel32_is_retargeted_near_and_absolute_far),
      cmocka_unit_test(jcc_rel32_is_retargeted_near_and_inverted_far),
      cmocka_unit_test(call_rel32_is_relocated_and_flagged),
      cmocka_unit_test(call_to_the_next_instruction_is_refused),
      cmocka_unit_test(jrcxz_keeps_the_instruction_over_a_jump),
      cmocka_unit_test(loop_keeps_the_instruction_over_a_jump),
      cmocka_unit_test(loope_and_loopne_keep_the_instruction_over_a_jump),
      cmocka_unit_test(jecxz_keeps_its_address_size_prefix),
      cmocka_unit_test(branch_inside_the_moved_bytes_targets_the_moved_copy),
      cmocka_unit_test(
          branch_into_the_middle_of_a_moved_instruction_is_refused),
      cmocka_unit_test(operand_size_prefixed_branch_is_refused),
      cmocka_unit_test(eip_relative_operand_is_refused),
      cmocka_unit_test(syscall_and_int3_are_copied_verbatim),
      cmocka_unit_test(xbegin_is_refused),
      cmocka_unit_test(undecodable_first_bytes_are_refused),
      cmocka_unit_test(undecodable_bytes_later_do_not_stop_the_scan),
      cmocka_unit_test(endbr64_is_kept_and_the_site_starts_after_it),
      cmocka_unit_test(nop_pad_is_used_without_moving_anything),
      cmocka_unit_test(nop_pads_take_whole_nops),
      cmocka_unit_test(one_byte_function_uses_int3_padding),
      cmocka_unit_test(one_byte_function_without_padding_is_too_short),
      cmocka_unit_test(three_byte_function_uses_nop_padding),
      cmocka_unit_test(four_byte_function_uses_padding_only_when_present),
      cmocka_unit_test(instruction_crossing_the_end_is_refused),
      cmocka_unit_test(back_edge_into_the_site_is_refused),
      cmocka_unit_test(branch_to_the_entry_is_allowed_and_reported),
      cmocka_unit_test(branch_to_the_end_of_the_site_is_allowed),
      cmocka_unit_test(cold_part_branching_into_the_site_is_refused),
      cmocka_unit_test(far_analysis_places_the_trampoline_anywhere),
      cmocka_unit_test(windows_stay_inside_user_space),
      cmocka_unit_test(
          a_reference_no_trampoline_reaches_leaves_only_the_far_plan),
      cmocka_unit_test(entry_is_refused_when_out_of_reach_of_a_near_site),
      cmocka_unit_test(stub_is_an_absolute_jump),
      cmocka_unit_test(relocate_reports_a_buffer_too_small),
      cmocka_unit_test(describe_prints_the_disassembly_or_the_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
