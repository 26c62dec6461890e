/* SPDX-License-Identifier: MIT */
/*
 * every_error_code_has_name_and_text: walks HOTPATCH_ERRNO_MAP, the one
 * source of the error enum, hotpatch_strerror() and hotpatch_err_name().
 * Linked against the shared library, as a program would be.
 */
#include "hp_test.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <hotpatch.h>

struct code {
  int value;
  const char *name; /* "ENOENT" */
  const char *msg;
};

static const struct code codes[] = {
#define XX(name, value, msg) {HOTPATCH_##name, #name, msg},
    HOTPATCH_ERRNO_MAP(XX)
#undef XX
};
#define NCODES (sizeof codes / sizeof codes[0])

/* The library's texts for values it does not know; a listed code must
 * never get one of these. */
static const char *generic_texts[3];

static int setup(void **state) {
  (void)state;
  generic_texts[0] = hotpatch_strerror(0);
  generic_texts[1] = hotpatch_strerror(1);
  generic_texts[2] = hotpatch_strerror(-4099); /* reserved, unassigned */
  return 0;
}

static int is_generic(const char *s) {
  for (size_t i = 0; i < 3; i++)
    if (generic_texts[i] && strcmp(s, generic_texts[i]) == 0)
      return 1;
  return 0;
}

static void test_every_code_is_negative_and_distinct(void **state) {
  (void)state;
  assert_true(NCODES > 0);
  for (size_t i = 0; i < NCODES; i++) {
    if (codes[i].value >= 0)
      fail_msg("HOTPATCH_%s = %d is not negative", codes[i].name,
               codes[i].value);
    for (size_t j = i + 1; j < NCODES; j++) {
      if (codes[i].value == codes[j].value)
        fail_msg("HOTPATCH_%s and HOTPATCH_%s are both %d", codes[i].name,
                 codes[j].name, codes[i].value);
      if (strcmp(codes[i].name, codes[j].name) == 0)
        fail_msg("HOTPATCH_%s is listed twice", codes[i].name);
    }
  }
}

static void test_every_code_has_its_own_text(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    const char *s = hotpatch_strerror(codes[i].value);
    assert_non_null(s);
    if (s[0] == '\0')
      fail_msg("hotpatch_strerror(HOTPATCH_%s) is empty", codes[i].name);
    if (is_generic(s))
      fail_msg("hotpatch_strerror(HOTPATCH_%s) is the generic text \"%s\"",
               codes[i].name, s);
    assert_string_equal(s, codes[i].msg);
  }
}

static void test_every_code_has_its_name(void **state) {
  (void)state;
  char want[64];
  for (size_t i = 0; i < NCODES; i++) {
    snprintf(want, sizeof want, "HOTPATCH_%s", codes[i].name);
    const char *got = hotpatch_err_name(codes[i].value);
    assert_non_null(got);
    assert_string_equal(got, want);
  }
}

static void test_errno_valued_codes_equal_minus_errno(void **state) {
  (void)state;
  /* Outside the reserved range a code must be an errno, negated, and its
   * name must be that errno's name (glibc's strerrorname_np). */
  int errno_codes = 0;
  for (size_t i = 0; i < NCODES; i++) {
    int v = codes[i].value;
    if (v <= -4000 && v >= -4099)
      continue;
    errno_codes++;
    const char *ename = strerrorname_np(-v);
    if (!ename)
      fail_msg("HOTPATCH_%s = %d is outside -4000..-4099 but %d is no errno",
               codes[i].name, v, -v);
    if (strcmp(ename, codes[i].name) != 0)
      fail_msg("HOTPATCH_%s = %d, but -%d is -%s", codes[i].name, v, -v,
               ename);
  }
  assert_true(errno_codes > 0);
  /* The lifecycle codes of the contract, spelled out. */
  assert_int_equal(HOTPATCH_ENOENT, -ENOENT);
  assert_int_equal(HOTPATCH_EEXIST, -EEXIST);
  assert_int_equal(HOTPATCH_EINVAL, -EINVAL);
  assert_int_equal(HOTPATCH_EBUSY, -EBUSY);
  assert_int_equal(HOTPATCH_EOPNOTSUPP, -EOPNOTSUPP);
  assert_int_equal(HOTPATCH_ENOMEM, -ENOMEM);
}

static void test_reserved_codes_are_in_range(void **state) {
  (void)state;
  for (size_t i = 0; i < NCODES; i++) {
    int v = codes[i].value;
    if (v > -4000)
      continue;
    if (v < -4099)
      fail_msg("HOTPATCH_%s = %d is below the reserved range -4000..-4099",
               codes[i].name, v);
  }
}

static void test_strerror_of_unlisted_values_is_sane(void **state) {
  (void)state;
  /* 0, a hook's positive veto value, an unknown negative value, and the
   * extremes all get some non-empty static text; never NULL. */
  const int values[] = {0, 1, 42, -1, -3999, -4099, -4100, -1000000,
                        2147483647, -2147483647 - 1};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    const char *s = hotpatch_strerror(values[i]);
    assert_non_null(s);
    if (s[0] == '\0')
      fail_msg("hotpatch_strerror(%d) is empty", values[i]);
  }
  /* Success does not read like a failure, and differs from unknown codes. */
  assert_string_not_equal(hotpatch_strerror(0), hotpatch_strerror(-4099));
  /* An unknown code is not mistaken for a listed one. */
  for (size_t i = 0; i < NCODES; i++) {
    assert_string_not_equal(hotpatch_strerror(-4099), codes[i].msg);
    assert_string_not_equal(hotpatch_strerror(0), codes[i].msg);
    assert_string_not_equal(hotpatch_strerror(42), codes[i].msg);
  }
  /* A hook's positive value is passed back verbatim, so strerror must
   * not treat it as -value. */
  assert_string_not_equal(hotpatch_strerror(2), hotpatch_strerror(-2));
}

static void test_err_name_of_unlisted_values(void **state) {
  (void)state;
  const int values[] = {0, 1, -4099, -1000000};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    const char *s = hotpatch_err_name(values[i]);
    assert_non_null(s);
    assert_string_equal(s, "HOTPATCH_UNKNOWN");
  }
}

static void test_last_error_is_never_null(void **state) {
  (void)state;
  assert_non_null(hotpatch_last_error());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_code_is_negative_and_distinct),
      cmocka_unit_test(test_every_code_has_its_own_text),
      cmocka_unit_test(test_every_code_has_its_name),
      cmocka_unit_test(test_errno_valued_codes_equal_minus_errno),
      cmocka_unit_test(test_reserved_codes_are_in_range),
      cmocka_unit_test(test_strerror_of_unlisted_values_is_sane),
      cmocka_unit_test(test_err_name_of_unlisted_values),
      cmocka_unit_test(test_last_error_is_never_null),
  };
  return cmocka_run_group_tests_name("every_error_code_has_name_and_text",
                                     tests, setup, NULL);
}
