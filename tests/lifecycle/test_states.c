/* SPDX-License-Identifier: MIT */
/*
 * The system-state scenarios of semantics.md E.4 (Linux klp_state rules)
 * and the static-check order of E51, through patch objects.
 *
 * Mapping: Linux runs the state callbacks as per-object pre_patch/
 * post_patch; here a cumulative patch may have no pre/post hooks (SPEC §3:
 * replace is refused with them), so the cumulative scenarios (E38, E39)
 * take over state in quiesced_apply/quiesced_revert, which run in the
 * parked window and log "taking over"/"restoring" there (no allocation:
 * the state data is static). E37, a single patch, keeps the four vetoing
 * hooks and is applied non-cumulatively (nothing is applied below it, so
 * the rules are the same).
 */
#include "hp_test.h"

#include <stdio.h>
#include <string.h>

#include "hp_maps.h"
#include "lc_util.h"

#define assert_log(expected) assert_string_equal(lc_log(), expected)

static int setup(void **state) {
  (void)state;
  lc_reset();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lc_reset();
  assert_string_equal(lc_h(), "orig");
  assert_int_equal(hp_test_count_rwx(), 0);
  return 0;
}

static void unload_all(hotpatch_patch **ps) {
  for (; *ps; ps++)
    assert_int_equal(hotpatch_unload(*ps), 0);
}

/* E37: in its hooks the patch sees its own state, no previous one. */
static void e37_cb(hotpatch_patch *p, const char *patch, const char *hook,
                   int rc) {
  (void)patch, (void)rc;
  static const char *const says[][2] = {{"pre_apply", "AS:alloc"},
                                        {"post_apply", "AS:fix"},
                                        {"pre_revert", "AS:restore"},
                                        {"post_revert", "AS:free"}};
  for (size_t i = 0; i < 4; i++)
    if (!strcmp(hook, says[i][0])) {
      lc_add(says[i][1]);
      lc_add(hotpatch_get_state(p, 1) ? "own" : "no own");
      lc_add(hotpatch_get_prev_state(1) ? "prev" : "no prev");
    }
}

static void e37_single_patch_with_a_state(void **state) {
  (void)state;
  hotpatch_patch *a = lc_load(LC_PATCH("as"));
  lc_set_cb(e37_cb);
  lc_apply_ok(a);
  assert_log("AS.pre_apply, AS:alloc, own, no prev, AS.post_apply(0), "
             "AS:fix, own, no prev");
  lc_reset();
  lc_set_cb(e37_cb);
  lc_revert_ok(a);
  assert_log("AS.pre_revert, AS:restore, own, no prev, AS.post_revert(0), "
             "AS:free, own, no prev");
  assert_int_equal(hotpatch_unload(a), 0);
}

/* E38: the previous state is the applied patch's, the same data. Runs in
 * the quiesced hooks: lc_add and the lookups only. */
static void *e38_a_data;
static void e38_cb(hotpatch_patch *p, const char *patch, const char *hook,
                   int rc) {
  (void)p, (void)rc;
  if (strcmp(patch, "B2"))
    return;
  struct hotpatch_state *prev = hotpatch_get_prev_state(1);
  if (!strcmp(hook, "quiesced_apply"))
    lc_add(prev && prev->data == e38_a_data && prev->version == 1
               ? "B2:taking over from A1"
               : "B2:no previous state");
  else if (!strcmp(hook, "quiesced_revert"))
    lc_add(prev ? "B2:previous state?" : "B2:restoring");
}

static void e38_cumulative_patch_takes_over_a_state(void **state) {
  (void)state;
  hotpatch_patch *a = lc_load(LC_PATCH("a1")), *b = lc_load(LC_PATCH("b2"));
  e38_a_data = hotpatch_get_state(a, 1)->data;
  assert_ptr_not_equal(e38_a_data, hotpatch_get_state(b, 1)->data);
  lc_set_cb(e38_cb);
  lc_apply_ok(a);
  lc_apply_ok(b);
  /* No hook of A1 runs when B2 replaces it. */
  assert_log("A1.quiesced_apply, B2.quiesced_apply, B2:taking over from A1");
  assert_string_equal(lc_h(), "B2");
  assert_int_equal(hotpatch_unload(a), 0);
  lc_reset();
  lc_set_cb(e38_cb);
  lc_revert_ok(b);
  assert_log("B2.quiesced_revert, B2:restoring");
  assert_int_equal(hotpatch_unload(b), 0);
}

static void e39_same_version_is_compatible(void **state) {
  (void)state;
  hotpatch_patch *b = lc_load(LC_PATCH("b2")), *c = lc_load(LC_PATCH("c2"));
  lc_apply_ok(b);
  lc_apply_ok(c);
  assert_string_equal(lc_h(), "C2");
  assert_int_equal(hotpatch_unload(b), 0);
  b = lc_load(LC_PATCH("b2"));
  lc_apply_ok(b); /* 2 >= 2: B2 takes over from C2 */
  assert_string_equal(lc_h(), "B2");
  assert_string_equal(lc_st(c).replaced_by, "B2");
  lc_revert_ok(b);
  unload_all((hotpatch_patch *[]){b, c, NULL});
}

static void e40_downgrade_is_rejected_before_any_hook(void **state) {
  (void)state;
  hotpatch_patch *b = lc_load(LC_PATCH("b2")), *a = lc_load(LC_PATCH("a1v"));
  lc_apply_ok(b);
  lc_reset();
  /* A1V also has vetoing hooks (E51: the state check comes first). */
  assert_int_equal(hotpatch_apply(a, NULL), HOTPATCH_EINVAL);
  const char *why = hotpatch_last_error();
  assert_non_null(strstr(why, "'A1V' is not compatible"));
  assert_non_null(strstr(why, "state 0x1 version 1"));
  assert_non_null(strstr(why, "version 2 in applied patch 'B2'"));
  assert_log("");
  assert_int_equal(lc_st(b).applied, 1);
  assert_int_equal(lc_st(a).rc, HOTPATCH_EINVAL);
  assert_string_equal(lc_h(), "B2");
  lc_revert_ok(b);
  unload_all((hotpatch_patch *[]){a, b, NULL});
}

static void e41_cumulative_patch_must_carry_every_state(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("ps1")), *r0 = lc_load(LC_PATCH("r0"));
  hotpatch_patch *r1 = lc_load(LC_PATCH("r1")), *r5 = lc_load(LC_PATCH("r5"));
  lc_apply_ok(p);
  assert_int_equal(hotpatch_apply(r0, NULL), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "does not carry state 0x1"));
  lc_apply_ok(r1);
  lc_apply_ok(r5); /* S1 v5 and a new S2 v0 */
  assert_string_equal(lc_h(), "R5");
  lc_revert_ok(r5);
  unload_all((hotpatch_patch *[]){p, r0, r1, r5, NULL});
}

static void e42_rules_for_non_cumulative_patches(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("ps3"));
  lc_apply_ok(p);
  /* No states, a new id, the same version, a newer one: all fine. */
  static const char *const fine[] = {LC_PATCH("qn"), LC_PATCH("qs2"),
                                     LC_PATCH("qs13"), LC_PATCH("qs14")};
  for (size_t i = 0; i < 4; i++) {
    hotpatch_patch *q = lc_load(fine[i]);
    lc_apply_ok(q);
    lc_revert_ok(q);
    assert_int_equal(hotpatch_unload(q), 0);
  }
  hotpatch_patch *q = lc_load(LC_PATCH("qs12"));
  assert_int_equal(hotpatch_apply(q, NULL), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_unload(q), 0);
  /* Every applied patch counts: X7 above PS3 does not hide it. */
  hotpatch_patch *x = lc_load(LC_PATCH("x7"));
  lc_apply_ok(x);
  q = lc_load(LC_PATCH("qs11"));
  assert_int_equal(hotpatch_apply(q, NULL), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "applied patch 'PS3'"));
  lc_revert_ok(x);
  lc_revert_ok(p);
  unload_all((hotpatch_patch *[]){p, q, x, NULL});
}

/* E43: the previous state, during a transition only, from below. */
static void *e43_p1_data, *e43_p2_data;
static void e43_cb(hotpatch_patch *p, const char *patch, const char *hook,
                   int rc) {
  (void)p, (void)rc;
  struct hotpatch_state *s = hotpatch_get_prev_state(1);
  char buf[64];
  snprintf(buf, sizeof buf, "%s.%s:prev=%s", patch, hook,
           !s                       ? "none"
           : s->data == e43_p1_data ? "P1S"
           : s->data == e43_p2_data ? "P2S"
                                    : "?");
  lc_add(buf);
}

static void e43_get_prev_state_semantics(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("p1s")), *p2 = lc_load(LC_PATCH("p2s"));
  hotpatch_patch *p3 = lc_load(LC_PATCH("p3s"));
  e43_p1_data = hotpatch_get_state(p1, 1)->data;
  e43_p2_data = hotpatch_get_state(p2, 1)->data;
  assert_null(hotpatch_get_prev_state(1)); /* no transition: NULL, warns */
  lc_apply_ok(p1);
  lc_apply_ok(p2);
  lc_set_cb(e43_cb);
  lc_apply_ok(p3);
  lc_revert_ok(p3);
  lc_revert_ok(p2);
  assert_log("P3S.pre_apply, P3S.pre_apply:prev=P2S, P2S.pre_revert, "
             "P2S.pre_revert:prev=P1S");
  lc_revert_ok(p1);
  unload_all((hotpatch_patch *[]){p1, p2, p3, NULL});
}

static void e44_edge_cases_of_the_state_array(void **state) {
  (void)state;
  hotpatch_patch *a = lc_load(LC_PATCH("ea")), *b = lc_load(LC_PATCH("eb"));
  hotpatch_patch *c = lc_load(LC_PATCH("ec"));
  /* Version 0 is legal; id 2 after the terminator does not exist. */
  assert_non_null(hotpatch_get_state(a, 1));
  assert_int_equal(hotpatch_get_state(a, 1)->version, 0);
  assert_null(hotpatch_get_state(a, 2));
  /* The first entry of an id wins. */
  assert_int_equal(hotpatch_get_state(b, 1)->version, 1);
  /* A first id 0 declares no states. */
  assert_null(hotpatch_get_state(c, 3));
  /* EB (S1 v1) on top of EA (S1 v0): fine; EB's second S1 v9 does not
   * count, so a later patch with S1 v2 is fine on top of EB. */
  lc_apply_ok(a);
  lc_apply_ok(b);
  lc_apply_ok(c);
  hotpatch_patch *q = lc_load(LC_PATCH("qs12"));
  lc_apply_ok(q);
  lc_revert_ok(q);
  lc_revert_ok(c);
  lc_revert_ok(b);
  lc_revert_ok(a);
  unload_all((hotpatch_patch *[]){a, b, c, q, NULL});
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
      T(e37_single_patch_with_a_state),
      T(e38_cumulative_patch_takes_over_a_state),
      T(e39_same_version_is_compatible),
      T(e40_downgrade_is_rejected_before_any_hook),
      T(e41_cumulative_patch_must_carry_every_state),
      T(e42_rules_for_non_cumulative_patches),
      T(e43_get_prev_state_semantics),
      T(e44_edge_cases_of_the_state_array),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
