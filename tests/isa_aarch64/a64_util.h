/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the aarch64 backend's byte-level tests: functions made of
 * explicit words at explicit addresses, trampolines compared word by word
 * and disassembled with capstone (ARM64 mode, on any host).
 */
#ifndef HP_TEST_A64_UTIL_H
#define HP_TEST_A64_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "arch/isa.h"

/* Where the test functions live, and where their trampolines go (1 MiB
 * further: in range of everything they branch to). */
#define FN UINT64_C(0x10000000)
#define TR UINT64_C(0x10100000)

#define NWORDS(a) (sizeof(a) / sizeof((a)[0]))

struct a64_fn {
  uint8_t bytes[512];
  uint8_t cold[64];
  struct hp_code code;
};

/* A function of `n` words at `addr` followed by `tail` readable words
 * (all taken from `w`). */
void a64_fn(struct a64_fn *f, uint64_t addr, const uint32_t *w, size_t n,
            size_t tail);

/* Add a cold part of `n` words at `addr`. */
void a64_fn_cold(struct a64_fn *f, uint64_t addr, const uint32_t *w, size_t n);

/* Analyse `f` for `need` bytes; asserts success. */
void a64_analyse_ok(const struct a64_fn *f, uint32_t need, struct hp_site *s);

/* Analyse `f` for `need` bytes; asserts the refusal `code` and prints the
 * detail, which must be non-empty. */
void a64_analyse_refused(const struct a64_fn *f, uint32_t need, int code);

/* Relocate `s` at `at`; the trampoline must be exactly `want` (words, the
 * literal pool as pairs of words). */
void a64_expect_tramp(const struct hp_site *s, uint64_t at,
                      const uint32_t *want, size_t n);

/* Disassemble `n` words at `bytes` (address `at`) with capstone and
 * compare each "mnemonic op_str" with want[i]. */
void a64_expect_disasm(const uint8_t *bytes, size_t n, uint64_t at,
                       const char *const *want);

/* The word at `bytes + 4 * i`. */
uint32_t a64_word_at(const uint8_t *bytes, size_t i);

#endif
