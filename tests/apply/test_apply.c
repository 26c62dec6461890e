/* SPDX-License-Identifier: MIT */
/*
 * hotpatch_apply / hotpatch_revert end to end: a patch .so loaded with
 * hotpatch_load, in-process descriptors, a thread sleeping inside the
 * function being replaced (refused, then allowed with
 * HOTPATCH_FUNC_ALLOW_ACTIVE), threads running and blocked meanwhile.
 */
#include "hp_test.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hotpatch.h"
#include "hp_maps.h"
#include "targets.h"

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void patch_from_a_file_applies_and_reverts(void **state) {
  (void)state;
  uint8_t before[16];
  memcpy(before, (const void *)(uintptr_t)ap_value, sizeof before);
  hotpatch_patch *p;
  int rc = hotpatch_load(AP_PATCH, &p);
  if (rc)
    fail_msg("load: %s", hotpatch_last_error());
  assert_int_equal(ap_value(5), 6);
  rc = hotpatch_apply(p, NULL);
  if (rc)
    fail_msg("apply: %s", hotpatch_last_error());
  assert_int_equal(hotpatch_is_applied(p), 1);
  assert_int_equal(ap_value(5), 1006); /* new, through the original */
  assert_int_equal(ap_other(5), 2015);
  assert_int_equal(hotpatch_apply(p, NULL), 0); /* no-op */
  assert_int_equal(hp_test_count_rwx(), 0);
  assert_int_equal(hotpatch_unload(p), HOTPATCH_EINVAL); /* applied */

  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_is_applied(p), 0);
  assert_int_equal(ap_value(5), 6);
  assert_int_equal(ap_other(5), 15);
  assert_memory_equal((const void *)(uintptr_t)ap_value, before, sizeof before);
  assert_int_equal(hotpatch_revert(p, NULL), 0); /* no-op */
  /* HOTPATCH_REAPPLYABLE: again. */
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  assert_int_equal(ap_value(1), 1002);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_rc(p), 0);
  assert_int_equal(hotpatch_unload(p), 0);
  assert_int_equal(hp_test_count_rwx(), 0);
}

static long new_value(long x) { return -x; }

static void reverted_patch_needs_reapplyable(void **state) {
  (void)state;
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_value", .replacement = (void *)new_value}, {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "once",
                                         .funcs = funcs};
  hotpatch_patch *p;
  assert_int_equal(hotpatch_register(&d, &p), 0);
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  assert_int_equal(ap_value(4), -4);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_apply(p, NULL), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "REAPPLYABLE"));
  assert_int_equal(hotpatch_rc(p), HOTPATCH_EINVAL);
  assert_int_equal(ap_value(4), 5);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- a thread inside the function being replaced ----------------------- */

static long sleeper_result;
static void *sleeper(void *arg) {
  sleeper_result = ap_sleep_in((long)(intptr_t)arg);
  return NULL;
}

static long new_sleep_in(long ms) { return ms + 70000; }

static void refuses_while_a_thread_sleeps_inside(void **state) {
  (void)state;
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_sleep_in", .replacement = (void *)new_sleep_in}, {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "busy",
                                         .funcs = funcs};
  hotpatch_patch *p;
  assert_int_equal(hotpatch_register(&d, &p), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sleeper, (void *)(intptr_t)1500),
                   0);
  usleep(100 * 1000); /* it is asleep inside ap_sleep_in now */
  uint64_t t0 = now_ms();
  int rc = hotpatch_apply(p, &(struct hotpatch_opts){.timeout_ms = 300});
  uint64_t took = now_ms() - t0;
  fprintf(stderr, "apply with a sleeper: %s after %lu ms: %s\n",
          hotpatch_err_name(rc), (unsigned long)took, hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_non_null(strstr(hotpatch_last_error(), "ap_sleep_in"));
  assert_non_null(strstr(hotpatch_last_error(), "thread "));
  assert_true(took < 1300);
  assert_int_equal(hotpatch_is_applied(p), 0);
  assert_int_equal(hotpatch_rc(p), HOTPATCH_EBUSY);
  pthread_join(t, NULL);
  assert_int_equal(sleeper_result, 1507); /* untouched: old code */
  /* Nobody inside now: it applies. */
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  assert_int_equal(ap_sleep_in(1), 70001);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_unload(p), 0);
}

static void allow_active_lets_the_old_frame_finish(void **state) {
  (void)state;
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_sleep_in",
       .replacement = (void *)new_sleep_in,
       .flags = HOTPATCH_FUNC_ALLOW_ACTIVE},
      {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "active",
                                         .funcs = funcs};
  hotpatch_patch *p;
  assert_int_equal(hotpatch_register(&d, &p), 0);
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, sleeper, (void *)(intptr_t)600), 0);
  usleep(100 * 1000);
  int rc = hotpatch_apply(p, &(struct hotpatch_opts){.timeout_ms = 300});
  if (rc)
    fail_msg("apply: %s", hotpatch_last_error());
  assert_int_equal(ap_sleep_in(1), 70001); /* new calls: new code */
  pthread_join(t, NULL);
  assert_int_equal(sleeper_result, 607); /* the old frame finished old */
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- other threads running and blocked ---------------------------------- */

static volatile int stop_workers;
static int pipe_fd[2];

static void *busy(void *arg) {
  (void)arg;
  long bad = 0;
  /* Busy, mostly outside the patched function: a thread that is always
   * inside it is never at a safe point (see the sleeper tests). */
  while (!stop_workers) {
    long v = ap_value(10);
    bad += v != 11 && v != 1011;
    for (volatile int i = 0; i < 2000; i++)
      ;
  }
  return (void *)bad;
}

static void *reader(void *arg) {
  (void)arg;
  char c;
  ssize_t n = read(pipe_fd[0], &c, 1); /* blocked for the whole test */
  return (void *)(intptr_t)(n == 1 ? 0 : 1);
}

static void applies_while_threads_run_and_block(void **state) {
  (void)state;
  hotpatch_patch *p;
  assert_int_equal(hotpatch_load(AP_PATCH, &p), 0);
  assert_int_equal(pipe(pipe_fd), 0);
  pthread_t b[4], r[4];
  stop_workers = 0;
  for (int i = 0; i < 4; i++) {
    assert_int_equal(pthread_create(&b[i], NULL, busy, NULL), 0);
    assert_int_equal(pthread_create(&r[i], NULL, reader, NULL), 0);
  }
  usleep(50 * 1000);
  for (int k = 0; k < 20; k++) {
    int rc = hotpatch_apply(p, NULL);
    if (rc)
      fail_msg("apply %d: %s", k, hotpatch_last_error());
    assert_int_equal(hotpatch_revert(p, NULL), 0);
  }
  stop_workers = 1;
  assert_int_equal(write(pipe_fd[1], "abcd", 4), 4);
  for (int i = 0; i < 4; i++) {
    void *bad, *err;
    pthread_join(b[i], &bad);
    pthread_join(r[i], &err);
    assert_null(bad);
    assert_null(err); /* read() restarted, no EINTR */
  }
  close(pipe_fd[0]);
  close(pipe_fd[1]);
  assert_int_equal(hotpatch_unload(p), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(patch_from_a_file_applies_and_reverts),
      cmocka_unit_test(reverted_patch_needs_reapplyable),
      cmocka_unit_test(refuses_while_a_thread_sleeps_inside),
      cmocka_unit_test(allow_active_lets_the_old_frame_finish),
      cmocka_unit_test(applies_while_threads_run_and_block),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
