/* SPDX-License-Identifier: MIT */
/*
 * The acceptance scenarios of semantics.md E.1, E.2 (and what maps of
 * E.3), through patch objects loaded with hotpatch_load, each with the
 * exact event log. Names in the tests are the scenario numbers.
 *
 * Where SPEC §3 and semantics D differ, SPEC wins:
 *  - Xen's load[]/unload[] hooks are our quiesced_apply/quiesced_revert
 *    (one each, not arrays);
 *  - on a replace, the replaced patches' hooks do not run, quiesced ones
 *    included (SPEC §3: "only the new patch's quiesced hook runs"); Xen
 *    runs their unload[] hooks (E21c, E22 differ here);
 *  - hotpatch_unload of an APPLIED patch is HOTPATCH_EINVAL (D.5);
 *  - handles, not names: E11's unknown name is hotpatch_find() == NULL.
 *
 * Dropped, with the reason:
 *  - E6, E7 (dependency chains, base build-id): descriptors have no
 *    `depends`; a target's own build_id is checked at load (EBUILDID,
 *    tests/load).
 *  - E8's second half (same build-id, other name): patches carry no
 *    build-id of their own; the name is the key.
 *  - E13 (expect bytes): descriptors have no `expect`; the code writer
 *    verifies every site holds what it read before writing
 *    (HOTPATCH_ECHANGED, E17 and E18 below).
 *  - E19, E20 as written (apply_action/revert_action replacing the
 *    library's own patching): there are no action hooks; E20's rule — never
 *    a mixed state — is shown by a two-function patch whose second entry
 *    changed (e20_...).
 *  - E.3, tier-2 per-object callbacks (E26-E32): there are no per-object
 *    callbacks and no late-object (dlopen-time) patching or asynchronous
 *    transitions. What maps: E33 (callbacks stay per patch) onto the
 *    vetoing hooks, E34/E35/E36 (replace runs only the new patch's hooks,
 *    un-patches what it does not carry, replaces three) onto quiesced
 *    hooks.
 */
#include "hp_test.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "codewrite.h"
#include "hp_maps.h"
#include "lc_util.h"

#define assert_log(expected) assert_string_equal(lc_log(), expected)
#define assert_st(p, applied_, rc_)                                            \
  do {                                                                         \
    struct hotpatch_status st_ = lc_st(p);                                     \
    assert_int_equal(st_.applied, applied_);                                   \
    assert_int_equal(st_.rc, rc_);                                             \
  } while (0)

static int setup(void **state) {
  (void)state;
  lc_reset();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  lc_reset();
  /* Every scenario leaves the targets as they were and no rwx page. */
  assert_string_equal(lc_f(), "orig");
  assert_string_equal(lc_g(), "orig");
  assert_string_equal(lc_h(), "orig");
  assert_int_equal(hp_test_count_rwx(), 0);
  return 0;
}

/* ---- E.1 basic lifecycle and stacking ---------------------------------- */

static void e1_basic_patching(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("p1"));
  assert_st(p, 0, 0);
  assert_string_equal(lc_f(), "orig");
  lc_apply_ok(p);
  assert_st(p, 1, 0);
  assert_string_equal(lc_f(), "P1");
  lc_revert_ok(p);
  assert_st(p, 0, 0);
  assert_int_equal(lc_st(p).reverted, 1);
  assert_string_equal(lc_f(), "orig");
  assert_int_equal(hotpatch_unload(p), 0);
  assert_null(hotpatch_find("P1"));
  assert_log("");
}

/* The quiesced hooks run with every other thread parked: a spinning
 * thread's counter does not move while they run. */
static atomic_long e2_spins;
static atomic_int e2_stop, e2_moved;
static void *e2_spinner(void *arg) {
  (void)arg;
  while (!atomic_load(&e2_stop))
    atomic_fetch_add(&e2_spins, 1);
  return NULL;
}

static void e2_cb(hotpatch_patch *p, const char *patch, const char *hook,
                  int rc) {
  (void)p, (void)patch, (void)rc;
  long before = atomic_load(&e2_spins);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  do
    clock_gettime(CLOCK_MONOTONIC, &t);
  while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) <
         2000000L);
  if (atomic_load(&e2_spins) != before)
    atomic_store(&e2_moved, 1);
  /* Before the switch on apply, after it on revert: the original. */
  lc_add(lc_f()[0] == 'o' ? "f=orig" : "f=patched");
}

static void e2_quiesced_hooks_and_reapply(void **state) {
  (void)state;
  pthread_t t;
  atomic_store(&e2_stop, 0);
  assert_int_equal(pthread_create(&t, NULL, e2_spinner, NULL), 0);
  while (atomic_load(&e2_spins) == 0)
    ;
  lc_set_cb(e2_cb);
  hotpatch_patch *p = lc_load(LC_PATCH("q1"));
  lc_apply_ok(p);
  assert_log("Q1.quiesced_apply, f=orig");
  assert_string_equal(lc_f(), "Q1");
  lc_reset();
  lc_set_cb(e2_cb);
  lc_revert_ok(p);
  assert_log("Q1.quiesced_revert, f=orig");
  assert_int_equal(atomic_load(&e2_moved), 0);
  lc_reset();
  /* Not reapplyable: EINVAL, no hook, rc kept. */
  assert_int_equal(hotpatch_apply(p, NULL), HOTPATCH_EINVAL);
  assert_log("");
  assert_st(p, 0, HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_unload(p), 0);
  p = lc_load(LC_PATCH("q1"));
  lc_apply_ok(p);
  lc_revert_ok(p);
  assert_int_equal(hotpatch_unload(p), 0);
  /* Variant: reapplyable. */
  lc_reset();
  p = lc_load(LC_PATCH("q1r"));
  lc_apply_ok(p);
  lc_revert_ok(p);
  lc_apply_ok(p);
  assert_string_equal(lc_f(), "Q1R");
  lc_revert_ok(p);
  assert_log("Q1R.quiesced_apply, Q1R.quiesced_revert, Q1R.quiesced_apply, "
             "Q1R.quiesced_revert");
  assert_int_equal(hotpatch_unload(p), 0);
  atomic_store(&e2_stop, 1);
  pthread_join(t, NULL);
}

static void e3_independent_stacked_patches(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("p1")), *p2 = lc_load(LC_PATCH("p2"));
  lc_apply_ok(p1);
  lc_apply_ok(p2);
  assert_string_equal(lc_f(), "P1");
  assert_string_equal(lc_g(), "P2");
  lc_revert_ok(p2);
  assert_string_equal(lc_f(), "P1");
  assert_string_equal(lc_g(), "orig");
  lc_revert_ok(p1);
  assert_int_equal(hotpatch_unload(p1), 0);
  assert_int_equal(hotpatch_unload(p2), 0);
}

typedef const char *(*lc_fn)(void);

static lc_fn original_of(hotpatch_patch *p, size_t i) {
  return *(lc_fn *)hotpatch_desc_of(p)->funcs[i].original;
}

static void e4_same_function_twice_last_wins(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("p1")), *p2 = lc_load(LC_PATCH("p2f"));
  uint8_t before[16];
  memcpy(before, (const void *)(uintptr_t)lc_f, sizeof before);
  lc_apply_ok(p1);
  lc_apply_ok(p2);
  assert_string_equal(lc_f(), "P2f");
  /* The newer patch's original is the patch below; the bottom one's is
   * the original code, through the trampoline. */
  assert_string_equal(original_of(p2, 0)(), "P1");
  assert_string_equal(original_of(p1, 0)(), "orig");
  lc_revert_ok(p2);
  assert_string_equal(lc_f(), "P1");
  assert_null(original_of(p2, 0));
  assert_string_equal(original_of(p1, 0)(), "orig");
  lc_revert_ok(p1);
  assert_memory_equal((const void *)(uintptr_t)lc_f, before, sizeof before);
  assert_int_equal(hotpatch_unload(p1), 0);
  assert_int_equal(hotpatch_unload(p2), 0);
}

static void e5_lifo_enforcement(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("pv")), *p2 = lc_load(LC_PATCH("p2"));
  lc_apply_ok(p1);
  lc_apply_ok(p2);
  assert_int_equal(hotpatch_revert(p1, NULL), HOTPATCH_EBUSY);
  assert_non_null(strstr(hotpatch_last_error(), "'P2'"));
  assert_st(p1, 1, HOTPATCH_EBUSY);
  assert_st(p2, 1, 0);
  assert_log(""); /* PV's pre_revert did not run */
  assert_string_equal(lc_f(), "PV");
  lc_revert_ok(p2);
  lc_revert_ok(p1);
  assert_log("PV.pre_revert");
  assert_int_equal(hotpatch_unload(p1), 0);
  assert_int_equal(hotpatch_unload(p2), 0);
}

static void e8_duplicate_name_at_load(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("p1")), *q = (hotpatch_patch *)1;
  assert_int_equal(hotpatch_load(LC_PATCH("p1"), &q), HOTPATCH_EEXIST);
  assert_null(q);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e9_no_op_requests(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  assert_int_equal(hotpatch_revert(p, NULL), 0); /* LOADED: nothing */
  assert_log("");
  lc_apply_ok(p);
  lc_reset();
  assert_int_equal(hotpatch_apply(p, NULL), 0); /* APPLIED: nothing */
  assert_log("");
  assert_st(p, 1, 0);
  lc_revert_ok(p);
  lc_reset();
  /* rc untouched by a no-op: make it non-zero first. */
  lc_set_ret("HK", "pre_apply", -EPERM, 1);
  assert_int_equal(hotpatch_apply(p, NULL), -EPERM);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_st(p, 0, -EPERM);
  assert_log("HK.pre_apply");
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e10_unload_rules(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("p1"));
  lc_apply_ok(p);
  assert_int_equal(hotpatch_unload(p), HOTPATCH_EINVAL);
  assert_st(p, 1, 0);
  assert_string_equal(lc_f(), "P1");
  lc_revert_ok(p);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e11_unknown_patch(void **state) {
  (void)state;
  assert_null(hotpatch_find("nope"));
  assert_int_equal(hotpatch_apply(NULL, NULL), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_revert(NULL, NULL), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_replace(NULL, NULL), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_unload(NULL), HOTPATCH_EINVAL);
}

static void e12_descriptor_validation(void **state) {
  (void)state;
  hotpatch_patch *p = (hotpatch_patch *)1;
  assert_int_equal(hotpatch_load(LC_PATCH("none"), &p), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "nothing to do"));
  assert_null(p);
  /* Hooks only, no funcs: loads, applies, reverts. */
  p = lc_load(LC_PATCH("qo"));
  lc_apply_ok(p);
  assert_log("QO.quiesced_apply");
  assert_st(p, 1, 0);
  lc_revert_ok(p);
  assert_log("QO.quiesced_apply, QO.quiesced_revert");
  assert_int_equal(hotpatch_unload(p), 0);
}

/* ---- E.2 vetoing hooks ------------------------------------------------- */

/* In each hook: what lc_f() returns now, hotpatch_rc and the status. */
static void e14_cb(hotpatch_patch *p, const char *patch, const char *hook,
                   int rc) {
  (void)patch, (void)rc;
  struct hotpatch_status st = lc_st(p);
  char buf[64];
  snprintf(buf, sizeof buf, "%s:f=%s,applied=%d,rc=%d", hook, lc_f(),
           st.applied, hotpatch_rc(p));
  lc_add(buf);
}

static void e14_full_order_and_markers(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  lc_set_cb(e14_cb);
  lc_apply_ok(p);
  char want[512];
  snprintf(want, sizeof want,
           "HK.pre_apply, pre_apply:f=orig,applied=0,rc=%d, "
           "HK.post_apply(0), post_apply:f=HK,applied=1,rc=0",
           HOTPATCH_EAGAIN);
  assert_log(want);
  lc_reset();
  lc_set_cb(e14_cb);
  lc_revert_ok(p);
  snprintf(want, sizeof want,
           "HK.pre_revert, pre_revert:f=HK,applied=1,rc=%d, "
           "HK.post_revert(0), post_revert:f=orig,applied=0,rc=0",
           HOTPATCH_EAGAIN);
  assert_log(want);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e15_veto_on_apply(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  lc_set_ret("HK", "pre_apply", -EINVAL, 0);
  assert_int_equal(hotpatch_apply(p, NULL), -EINVAL);
  assert_log("HK.pre_apply");
  assert_st(p, 0, -EINVAL);
  assert_string_equal(lc_f(), "orig");
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_log("HK.pre_apply");
  /* A vetoing patch cannot replace (E21). */
  assert_int_equal(hotpatch_replace(p, NULL), HOTPATCH_EOPNOTSUPP);
  assert_log("HK.pre_apply");
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e16_veto_on_revert_then_retry(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  lc_set_ret("HK", "pre_revert", -1, 1);
  lc_apply_ok(p);
  assert_log("HK.pre_apply, HK.post_apply(0)");
  lc_reset();
  lc_set_ret("HK", "pre_revert", -1, 1);
  assert_int_equal(hotpatch_revert(p, NULL), -1);
  assert_log("HK.pre_revert");
  assert_st(p, 1, -1);
  assert_string_equal(lc_f(), "HK");
  lc_revert_ok(p);
  assert_log("HK.pre_revert, HK.pre_revert, HK.post_revert(0)");
  assert_st(p, 0, 0);
  assert_int_equal(hotpatch_unload(p), 0);
}

/*
 * Someone else writes a target's entry between the analysis and the
 * switch (here: the pre hook, through the library's own code writer): the
 * switch refuses it (HOTPATCH_ECHANGED), writes nothing, and the post hook
 * sees that rc. Mapped from E17/E18 (a failed action reaches the post
 * hook) and E20 (never a mixed state).
 */
static uintptr_t e17_site;
static uint8_t e17_saved[8];

static void e17_scribble(uintptr_t at) {
  struct hp_write w;
  uint8_t now[8], bad[8];
  memcpy(now, (const void *)at, sizeof now);
  for (int i = 0; i < 8; i++)
    bad[i] = now[i] ^ 0xff;
  assert_int_equal(hp_write_prepare(&w, at, sizeof now), 0);
  assert_int_equal(hp_write_commit(&w, now, bad), 0);
  hp_write_finish(&w);
  e17_site = at;
  memcpy(e17_saved, now, sizeof now);
}

static void e17_unscribble(void) {
  struct hp_write w;
  uint8_t now[8];
  memcpy(now, (const void *)e17_site, sizeof now);
  assert_int_equal(hp_write_prepare(&w, e17_site, sizeof now), 0);
  assert_int_equal(hp_write_commit(&w, now, e17_saved), 0);
  hp_write_finish(&w);
}

static uintptr_t e17_target;
static void e17_cb(hotpatch_patch *p, const char *patch, const char *hook,
                   int rc) {
  (void)p, (void)patch, (void)rc;
  if (!strncmp(hook, "pre_", 4))
    e17_scribble(e17_target);
  else if (!strncmp(hook, "post_", 5))
    e17_unscribble();
}

static void e17_failed_switch_reaches_post_apply(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  e17_target = (uintptr_t)lc_f;
  lc_set_cb(e17_cb);
  char want[128];
  snprintf(want, sizeof want, "HK.pre_apply, HK.post_apply(%d)",
           HOTPATCH_ECHANGED);
  assert_int_equal(hotpatch_apply(p, NULL), HOTPATCH_ECHANGED);
  assert_log(want);
  assert_non_null(strstr(hotpatch_last_error(), "changed"));
  assert_st(p, 0, HOTPATCH_ECHANGED);
  assert_string_equal(lc_f(), "orig");
  lc_reset();
  lc_apply_ok(p);
  assert_int_equal(hotpatch_unload(p), HOTPATCH_EINVAL);
  lc_revert_ok(p);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e18_failed_switch_reaches_post_revert(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  lc_apply_ok(p);
  lc_reset();
  e17_target = (uintptr_t)lc_f;
  lc_set_cb(e17_cb);
  char want[128];
  snprintf(want, sizeof want, "HK.pre_revert, HK.post_revert(%d)",
           HOTPATCH_ECHANGED);
  assert_int_equal(hotpatch_revert(p, NULL), HOTPATCH_ECHANGED);
  assert_log(want);
  assert_st(p, 1, HOTPATCH_ECHANGED);
  assert_string_equal(lc_f(), "HK");
  lc_reset();
  lc_revert_ok(p);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e20_never_a_mixed_state(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hkfg"));
  uint8_t f_before[16];
  memcpy(f_before, (const void *)(uintptr_t)lc_f, sizeof f_before);
  e17_target = (uintptr_t)lc_g; /* the second of two functions */
  lc_set_cb(e17_cb);
  assert_int_equal(hotpatch_apply(p, NULL), HOTPATCH_ECHANGED);
  assert_st(p, 0, HOTPATCH_ECHANGED);
  /* The first function was not switched either. */
  assert_string_equal(lc_f(), "orig");
  assert_memory_equal((const void *)(uintptr_t)lc_f, f_before, sizeof f_before);
  assert_string_equal(lc_g(), "orig");
  assert_int_equal(hotpatch_unload(p), 0);
}

static void e21_replace_refused_with_vetoing_hooks(void **state) {
  (void)state;
  /* (a) the new patch has post_apply. */
  hotpatch_patch *p1 = lc_load(LC_PATCH("p1")), *rp = lc_load(LC_PATCH("rp"));
  lc_apply_ok(p1);
  assert_int_equal(hotpatch_replace(rp, NULL), HOTPATCH_EOPNOTSUPP);
  assert_int_equal(hotpatch_apply(rp, NULL), HOTPATCH_EOPNOTSUPP); /* flag */
  assert_log("");
  assert_st(p1, 1, 0);
  assert_st(rp, 0, HOTPATCH_EOPNOTSUPP);
  lc_revert_ok(p1);
  /* (b) an applied patch has pre_revert. */
  hotpatch_patch *pv = lc_load(LC_PATCH("pv")), *r = lc_load(LC_PATCH("r"));
  lc_apply_ok(pv);
  assert_int_equal(hotpatch_replace(r, NULL), HOTPATCH_EOPNOTSUPP);
  assert_non_null(strstr(hotpatch_last_error(), "'PV'"));
  assert_st(pv, 1, 0);
  lc_revert_ok(pv);
  lc_reset();
  /* (c) quiesced hooks do not veto a replace; per SPEC the replaced
   * patch's quiesced_revert does not run (Xen would run its unload[]). */
  hotpatch_patch *q1 = lc_load(LC_PATCH("q1"));
  lc_apply_ok(q1);
  assert_int_equal(hotpatch_replace(r, NULL), 0);
  assert_log("Q1.quiesced_apply");
  assert_string_equal(lc_f(), "orig");
  assert_string_equal(lc_h(), "R");
  lc_revert_ok(r);
  for (hotpatch_patch **q = (hotpatch_patch *[]){p1, rp, pv, r, q1, NULL}; *q;
       q++)
    assert_int_equal(hotpatch_unload(*q), 0);
}

static void e22_plain_replace_of_two_stacked(void **state) {
  (void)state;
  hotpatch_patch *q1 = lc_load(LC_PATCH("q1")), *q2 = lc_load(LC_PATCH("q2"));
  hotpatch_patch *r = lc_load(LC_PATCH("r"));
  lc_apply_ok(q1);
  lc_apply_ok(q2);
  lc_reset();
  assert_int_equal(hotpatch_apply(r, NULL), 0); /* HOTPATCH_REPLACE */
  assert_log(""); /* SPEC: the replaced patches' hooks do not run */
  assert_string_equal(lc_f(), "orig");
  assert_string_equal(lc_g(), "orig");
  assert_string_equal(lc_h(), "R");
  for (hotpatch_patch **q = (hotpatch_patch *[]){q1, q2, NULL}; *q; q++) {
    struct hotpatch_status st = lc_st(*q);
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.rc, 0);
    assert_int_equal(st.reverted, 1);
    assert_string_equal(st.replaced_by, "R");
  }
  assert_st(r, 1, 0);
  assert_null(original_of(q1, 0));
  assert_int_equal(hotpatch_unload(q1), 0);
  lc_revert_ok(r);
  assert_int_equal(hotpatch_unload(q2), 0);
  assert_int_equal(hotpatch_unload(r), 0);
}

/* A worker blocked in a callee of the function (or of its replacement):
 * the function is on its stack, the deadline passes. */
static void *e23_worker(void *arg) {
  lc_block_here(1);
  const char *r = ((lc_fn)arg)();
  lc_block_here(0);
  return (void *)r;
}

static void e23_quiesce_timeout_during_apply(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, e23_worker, (void *)lc_f), 0);
  lc_wait_blocked(1);
  struct hotpatch_opts o = {.timeout_ms = 50};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  assert_int_equal(hotpatch_apply(p, &o), HOTPATCH_EBUSY);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  char want[128];
  snprintf(want, sizeof want, "HK.pre_apply, HK.post_apply(%d)",
           HOTPATCH_EBUSY);
  assert_log(want);
  assert_non_null(strstr(hotpatch_last_error(), "lc_f"));
  assert_st(p, 0, HOTPATCH_EBUSY);
  assert_string_equal(lc_f(), "orig");
  long ms =
      (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
  print_message("  apply with a 50 ms deadline returned after %ld ms\n", ms);
  lc_unblock_all();
  void *r;
  pthread_join(t, &r);
  assert_string_equal((const char *)r, "orig"); /* finished in old code */
  lc_reset();
  lc_apply_ok(p);
  lc_revert_ok(p);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* E24 and E52: one transition at a time; the status during one. */
static atomic_int e24_in_pre, e24_go;
static void e24_cb(hotpatch_patch *p, const char *patch, const char *hook,
                   int rc) {
  (void)p, (void)rc;
  if (strcmp(patch, "HK") || strcmp(hook, "pre_apply"))
    return;
  /* From inside a hook: every action is EBUSY. */
  hotpatch_patch *other = hotpatch_find("HK2");
  char buf[128];
  snprintf(buf, sizeof buf, "nested:%d,%d,%d,%d", hotpatch_apply(other, NULL),
           hotpatch_revert(p, NULL), hotpatch_unload(other),
           hotpatch_replace(other, NULL));
  lc_add(buf);
  atomic_store(&e24_in_pre, 1);
  while (!atomic_load(&e24_go))
    usleep(1000);
}

static void *e24_applier(void *arg) {
  return (void *)(intptr_t)hotpatch_apply(arg, NULL);
}

static void e24_one_transition_at_a_time(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("hk")), *p2 = lc_load(LC_PATCH("hk2"));
  hotpatch_patch *p3 = lc_load(LC_PATCH("p3"));
  lc_apply_ok(p3);
  lc_reset();
  lc_set_cb(e24_cb);
  atomic_store(&e24_in_pre, 0);
  atomic_store(&e24_go, 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, e24_applier, p1), 0);
  while (!atomic_load(&e24_in_pre))
    usleep(1000);
  /* E52: the status of the patch in transition, from another thread. */
  struct hotpatch_status st = lc_st(p1);
  assert_int_equal(st.applied, 0);
  assert_int_equal(st.rc, HOTPATCH_EAGAIN);
  assert_int_equal(st.in_transition, 1);
  /* E24: another thread's action is refused at once, no hook runs. */
  assert_int_equal(hotpatch_apply(p2, NULL), HOTPATCH_EBUSY);
  assert_st(p2, 0, HOTPATCH_EBUSY);
  /* E51, last row: another transition (#2) before the no-op (#3). */
  assert_int_equal(hotpatch_apply(p3, NULL), HOTPATCH_EBUSY);
  assert_int_equal(hotpatch_unload(p2), HOTPATCH_EBUSY);
  /* Readers still work. */
  assert_ptr_equal(hotpatch_find("HK"), p1);
  atomic_store(&e24_go, 1);
  void *rc;
  pthread_join(t, &rc);
  assert_int_equal((intptr_t)rc, 0);
  char want[256];
  snprintf(want, sizeof want,
           "HK.pre_apply, nested:%d,%d,%d,%d, "
           "HK.post_apply(0)",
           HOTPATCH_EBUSY, HOTPATCH_EBUSY, HOTPATCH_EBUSY, HOTPATCH_EBUSY);
  assert_log(want);
  st = lc_st(p1);
  assert_int_equal(st.applied, 1);
  assert_int_equal(st.rc, 0);
  assert_int_equal(st.in_transition, 0);
  assert_string_equal(lc_f(), "HK");
  lc_reset();
  lc_revert_ok(p1);
  lc_revert_ok(p3);
  for (hotpatch_patch **q = (hotpatch_patch *[]){p1, p2, p3, NULL}; *q; q++)
    assert_int_equal(hotpatch_unload(*q), 0);
}

static void e25_quiesce_timeout_during_revert(void **state) {
  (void)state;
  hotpatch_patch *p = lc_load(LC_PATCH("hk"));
  lc_apply_ok(p);
  lc_reset();
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, e23_worker, (void *)lc_f), 0);
  lc_wait_blocked(1); /* inside HK's replacement */
  struct hotpatch_opts o = {.timeout_ms = 50};
  assert_int_equal(hotpatch_revert(p, &o), HOTPATCH_EBUSY);
  char want[128];
  snprintf(want, sizeof want, "HK.pre_revert, HK.post_revert(%d)",
           HOTPATCH_EBUSY);
  assert_log(want);
  assert_st(p, 1, HOTPATCH_EBUSY);
  assert_string_equal(lc_f(), "HK");
  lc_unblock_all();
  void *r;
  pthread_join(t, &r);
  assert_string_equal((const char *)r, "HK");
  lc_revert_ok(p);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* ---- what maps of E.3 -------------------------------------------------- */

static void e33_hooks_stay_with_their_patch(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("hk")), *p2 = lc_load(LC_PATCH("hk2"));
  lc_apply_ok(p1);
  lc_apply_ok(p2);
  lc_revert_ok(p2);
  lc_revert_ok(p1);
  assert_log("HK.pre_apply, HK.post_apply(0), HK2.pre_apply, "
             "HK2.post_apply(0), HK2.pre_revert, HK2.post_revert(0), "
             "HK.pre_revert, HK.post_revert(0)");
  assert_int_equal(hotpatch_unload(p1), 0);
  assert_int_equal(hotpatch_unload(p2), 0);
}

static void e34_e35_replace_runs_only_the_new_hooks(void **state) {
  (void)state;
  hotpatch_patch *q1 = lc_load(LC_PATCH("q1")), *rq = lc_load(LC_PATCH("rq"));
  lc_apply_ok(q1);
  assert_string_equal(lc_f(), "Q1");
  lc_apply_ok(rq);
  assert_log("Q1.quiesced_apply, RQ.quiesced_apply");
  /* E35: f, which RQ does not carry, is back to the original. */
  assert_string_equal(lc_f(), "orig");
  assert_string_equal(lc_g(), "RQ");
  assert_int_equal(hotpatch_unload(q1), 0);
  assert_string_equal(lc_g(), "RQ");
  lc_reset();
  lc_revert_ok(rq);
  assert_log("RQ.quiesced_revert");
  assert_string_equal(lc_f(), "orig"); /* Q1 is not restored */
  assert_int_equal(hotpatch_unload(rq), 0);
}

static void e36_replace_of_three_patches(void **state) {
  (void)state;
  hotpatch_patch *p[3] = {lc_load(LC_PATCH("p1")), lc_load(LC_PATCH("p2")),
                          lc_load(LC_PATCH("p3"))};
  hotpatch_patch *r = lc_load(LC_PATCH("r"));
  for (int i = 0; i < 3; i++)
    lc_apply_ok(p[i]);
  assert_string_equal(lc_h(), "P3");
  assert_int_equal(hotpatch_replace(r, NULL), 0);
  for (int i = 0; i < 3; i++) {
    struct hotpatch_status st = lc_st(p[i]);
    assert_int_equal(st.applied, 0);
    assert_string_equal(st.replaced_by, "R");
  }
  assert_string_equal(lc_f(), "orig");
  assert_string_equal(lc_g(), "orig");
  assert_string_equal(lc_h(), "R");
  /* R's original is the original code, not P3's. */
  assert_string_equal(original_of(r, 0)(), "orig");
  for (int i = 2; i >= 0; i--)
    assert_int_equal(hotpatch_unload(p[i]), 0);
  assert_string_equal(lc_h(), "R");
  lc_revert_ok(r);
  assert_int_equal(hotpatch_unload(r), 0);
}

/* A replace that cannot park everyone at a safe point changes nothing:
 * the applied patches stay applied, in the same order. */
static void failed_replace_leaves_everything_as_it_was(void **state) {
  (void)state;
  hotpatch_patch *p1 = lc_load(LC_PATCH("p1")), *p3 = lc_load(LC_PATCH("p3"));
  hotpatch_patch *r = lc_load(LC_PATCH("r"));
  lc_apply_ok(p1);
  lc_apply_ok(p3);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, e23_worker, (void *)lc_f), 0);
  lc_wait_blocked(1); /* inside P1's replacement of f */
  struct hotpatch_opts o = {.timeout_ms = 50};
  assert_int_equal(hotpatch_replace(r, &o), HOTPATCH_EBUSY);
  assert_st(r, 0, HOTPATCH_EBUSY);
  assert_st(p1, 1, 0);
  assert_st(p3, 1, 0);
  assert_string_equal(lc_st(p1).replaced_by, "");
  assert_string_equal(lc_h(), "P3");
  assert_string_equal(original_of(p1, 0)(), "orig");
  lc_unblock_all();
  void *res;
  pthread_join(t, &res);
  assert_string_equal((const char *)res, "P1");
  assert_string_equal(lc_f(), "P1");
  /* LIFO still holds: P3 is on top. */
  assert_int_equal(hotpatch_revert(p1, NULL), HOTPATCH_EBUSY);
  lc_revert_ok(p3);
  lc_revert_ok(p1);
  for (hotpatch_patch **q = (hotpatch_patch *[]){p1, p3, r, NULL}; *q; q++)
    assert_int_equal(hotpatch_unload(*q), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
      T(e1_basic_patching),
      T(e2_quiesced_hooks_and_reapply),
      T(e3_independent_stacked_patches),
      T(e4_same_function_twice_last_wins),
      T(e5_lifo_enforcement),
      T(e8_duplicate_name_at_load),
      T(e9_no_op_requests),
      T(e10_unload_rules),
      T(e11_unknown_patch),
      T(e12_descriptor_validation),
      T(e14_full_order_and_markers),
      T(e15_veto_on_apply),
      T(e16_veto_on_revert_then_retry),
      T(e17_failed_switch_reaches_post_apply),
      T(e18_failed_switch_reaches_post_revert),
      T(e20_never_a_mixed_state),
      T(e21_replace_refused_with_vetoing_hooks),
      T(e22_plain_replace_of_two_stacked),
      T(e23_quiesce_timeout_during_apply),
      T(e24_one_transition_at_a_time),
      T(e25_quiesce_timeout_during_revert),
      T(e33_hooks_stay_with_their_patch),
      T(e34_e35_replace_runs_only_the_new_hooks),
      T(e36_replace_of_three_patches),
      T(failed_replace_leaves_everything_as_it_was),
#undef T
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
