/* SPDX-License-Identifier: MIT */
/*
 * Shadow variables, semantics.md E45 and E46 (Linux test_klp_shadow_vars
 * and shadow.c): three objects, ids 0x1234 and 0x1235.
 */
#include "hp_test.h"

#include <errno.h>
#include <string.h>

#include "hotpatch.h"

static int ctor_calls, dtor_calls;
static void *dtor_obj, *dtor_shadow;

/* Copies *arg (a pointer) into the new variable, as the Linux test. */
static int ctor(void *obj, void *shadow, void *arg) {
  (void)obj;
  ctor_calls++;
  /* The data is zero-filled before the constructor sees it. */
  for (size_t i = 0; i < sizeof(void *); i++)
    if (((unsigned char *)shadow)[i])
      return -EIO;
  *(void **)shadow = arg;
  return 0;
}

static void dtor(void *obj, void *shadow) {
  dtor_calls++;
  dtor_obj = obj;
  dtor_shadow = shadow;
}

static void e45_shadow_variable_api(void **state) {
  (void)state;
  int o[3], pa[3], pb[3];
  void *s1[3], *s2[3];
  assert_null(hotpatch_shadow_get(&o[0], 0x1234));
  for (int i = 0; i < 3; i++) {
    ctor_calls = 0;
    s1[i] = i == 1
                ? hotpatch_shadow_alloc(&o[i], 0x1234, 8, ctor, &pa[i])
                : hotpatch_shadow_get_or_alloc(&o[i], 0x1234, 8, ctor, &pa[i]);
    assert_non_null(s1[i]);
    assert_int_equal(ctor_calls, 1);
    assert_ptr_equal(*(void **)s1[i], &pa[i]);
    s2[i] = hotpatch_shadow_alloc(&o[i], 0x1235, 8, ctor, &pb[i]);
    assert_non_null(s2[i]);
  }
  for (int i = 0; i < 3; i++) {
    assert_ptr_equal(hotpatch_shadow_get(&o[i], 0x1234), s1[i]);
    assert_ptr_equal(hotpatch_shadow_get(&o[i], 0x1235), s2[i]);
    int other;
    ctor_calls = 0;
    assert_ptr_equal(
        hotpatch_shadow_get_or_alloc(&o[i], 0x1234, 8, ctor, &other), s1[i]);
    assert_int_equal(ctor_calls, 0);
    assert_ptr_equal(*(void **)s1[i], &pa[i]);
  }
  for (int i = 0; i < 3; i++) {
    dtor_calls = 0;
    hotpatch_shadow_free(&o[i], 0x1234, dtor);
    assert_int_equal(dtor_calls, 1);
    assert_ptr_equal(dtor_obj, &o[i]);
    assert_ptr_equal(dtor_shadow, s1[i]);
    assert_null(hotpatch_shadow_get(&o[i], 0x1234));
    assert_ptr_equal(hotpatch_shadow_get(&o[i], 0x1235), s2[i]);
  }
  dtor_calls = 0;
  hotpatch_shadow_free_all(0x1235, NULL);
  for (int i = 0; i < 3; i++)
    assert_null(hotpatch_shadow_get(&o[i], 0x1235));
  assert_int_equal(dtor_calls, 0);
}

static int failing_ctor(void *obj, void *shadow, void *arg) {
  (void)obj, (void)shadow, (void)arg;
  return -ENOMEM;
}

static void e46_shadow_variable_error_paths(void **state) {
  (void)state;
  int o, a, b;
  void *s = hotpatch_shadow_alloc(&o, 7, 8, ctor, &a);
  assert_non_null(s);
  /* An existing key: NULL, the data unchanged. */
  assert_null(hotpatch_shadow_alloc(&o, 7, 8, ctor, &b));
  assert_ptr_equal(*(void **)s, &a);
  /* A failing constructor inserts nothing. */
  assert_null(hotpatch_shadow_alloc(&o, 8, 8, failing_ctor, NULL));
  assert_null(hotpatch_shadow_get(&o, 8));
  /* No constructor: zero-filled. */
  unsigned char *z = hotpatch_shadow_alloc(&o, 9, 64, NULL, NULL);
  assert_non_null(z);
  for (int i = 0; i < 64; i++)
    assert_int_equal(z[i], 0);
  /* Freeing a missing key: nothing, no destructor. */
  dtor_calls = 0;
  hotpatch_shadow_free(&o, 10, dtor);
  assert_int_equal(dtor_calls, 0);
  /* Variables of one id on many objects (several per hash bucket). */
  static int many[5000];
  for (int i = 0; i < 5000; i++)
    assert_non_null(hotpatch_shadow_alloc(&many[i], 11, 16, NULL, NULL));
  for (int i = 0; i < 5000; i++)
    assert_non_null(hotpatch_shadow_get(&many[i], 11));
  hotpatch_shadow_free_all(11, dtor);
  assert_int_equal(dtor_calls, 5000);
  for (int i = 0; i < 5000; i += 97)
    assert_null(hotpatch_shadow_get(&many[i], 11));
  hotpatch_shadow_free(&o, 7, NULL);
  hotpatch_shadow_free(&o, 9, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(e45_shadow_variable_api),
      cmocka_unit_test(e46_shadow_variable_error_paths),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
