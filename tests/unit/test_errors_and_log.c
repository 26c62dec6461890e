/* SPDX-License-Identifier: MIT */
/* The error detail (thread-local), the logger and the configuration. */
#include "hp_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "hotpatch.h"
#include "log.h"

static char logged[8][1024];
static int logged_level[8], nlogged;

static void capture(int level, const char *msg, void *arg) {
  (void)arg;
  if (nlogged < 8) {
    logged_level[nlogged] = level;
    snprintf(logged[nlogged++], sizeof logged[0], "%s", msg);
  }
}

static void *fail_in_thread(void *arg) {
  (void)arg;
  hp_fail(HOTPATCH_EBADELF, "from the other thread");
  return (void *)hotpatch_last_error();
}

static void last_error_is_per_thread(void **state) {
  (void)state;
  assert_int_equal(hp_fail(HOTPATCH_ENOSIZE, "symbol %s has size %d", "f", 0),
                   HOTPATCH_ENOSIZE);
  assert_string_equal(hotpatch_last_error(), "symbol f has size 0");
  pthread_t t;
  void *other;
  pthread_create(&t, NULL, fail_in_thread, NULL);
  pthread_join(t, &other);
  assert_string_equal(hotpatch_last_error(), "symbol f has size 0");
  hp_clear_error();
  assert_string_equal(hotpatch_last_error(), "");
}

static void failing_call_clears_then_sets_detail(void **state) {
  (void)state;
  hp_fail(HOTPATCH_EIO, "stale text from an earlier failure");
  hotpatch_patch *p;
  assert_int_equal(hotpatch_load(NULL, &p), HOTPATCH_EINVAL);
  assert_string_equal(hotpatch_last_error(), "hotpatch_load: NULL argument");
  assert_null(hotpatch_find("nothing"));
  hp_fail(HOTPATCH_EIO, "stale");
  assert_int_equal(hotpatch_init(NULL), 0);
  assert_string_equal(hotpatch_last_error(), "");
}

static void context_is_prepended_to_the_cause(void **state) {
  (void)state;
  hp_fail(HOTPATCH_EAMBIGUOUS, "helper is defined in a.c and b.c");
  assert_int_equal(hp_fail_context(HOTPATCH_EAMBIGUOUS, "patch '%s': ", "x"),
                   HOTPATCH_EAMBIGUOUS);
  assert_string_equal(hotpatch_last_error(),
                      "patch 'x': helper is defined in a.c and b.c");
  hp_clear_error();
  hp_fail_context(HOTPATCH_ENOMEM, "loading: ");
  assert_string_equal(hotpatch_last_error(), "loading: out of memory");
}

static void detail_is_truncated_not_overflowed(void **state) {
  (void)state;
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  hp_fail(HOTPATCH_EINVAL, "%s", big);
  assert_int_equal(strlen(hotpatch_last_error()), 1023);
  hp_fail_context(HOTPATCH_EINVAL, "%s", big);
  assert_int_equal(strlen(hotpatch_last_error()), 1023);
}

static void logger_gets_messages_up_to_the_level(void **state) {
  (void)state;
  nlogged = 0;
  hotpatch_set_logger(capture, NULL);
  assert_int_equal(
      hotpatch_init(&(struct hotpatch_config){.log_level = HOTPATCH_LOG_INFO}),
      0);
  hp_log(HOTPATCH_LOG_ERROR, "e %d", 1);
  hp_log(HOTPATCH_LOG_INFO, "i %d", 2);
  hp_log(HOTPATCH_LOG_DEBUG, "d %d", 3);
  assert_int_equal(nlogged, 2);
  assert_string_equal(logged[0], "e 1");
  assert_int_equal(logged_level[0], HOTPATCH_LOG_ERROR);
  assert_string_equal(logged[1], "i 2");
  assert_true(hp_log_enabled(HOTPATCH_LOG_INFO));
  assert_false(hp_log_enabled(HOTPATCH_LOG_DEBUG));
  hotpatch_set_logger(NULL, NULL);
}

static void environment_sets_level_signal_and_timeout(void **state) {
  (void)state;
  setenv("HOTPATCH_LOG", "debug", 1);
  setenv("HOTPATCH_SIGNAL", "40", 1);
  setenv("HOTPATCH_TIMEOUT_MS", "250", 1);
  assert_int_equal(hotpatch_init(NULL), 0);
  struct hp_config c = hp_config();
  assert_int_equal(c.log_level, HOTPATCH_LOG_DEBUG);
  assert_int_equal(c.park_signal, 40);
  assert_int_equal(c.timeout_ms, 250);
  /* Nonsense values keep the defaults. */
  setenv("HOTPATCH_LOG", "loud", 1);
  setenv("HOTPATCH_SIGNAL", "9", 1);
  setenv("HOTPATCH_TIMEOUT_MS", "-3", 1);
  assert_int_equal(hotpatch_init(NULL), 0);
  c = hp_config();
  assert_int_equal(c.log_level, HOTPATCH_LOG_WARN);
  assert_int_equal(c.park_signal, SIGRTMIN + 7);
  assert_int_equal(c.timeout_ms, 1000);
  unsetenv("HOTPATCH_LOG");
  unsetenv("HOTPATCH_SIGNAL");
  unsetenv("HOTPATCH_TIMEOUT_MS");
}

static void init_refuses_out_of_range_settings(void **state) {
  (void)state;
  assert_int_equal(
      hotpatch_init(&(struct hotpatch_config){.park_signal = SIGUSR1}),
      HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "real-time"));
  assert_int_equal(hotpatch_init(&(struct hotpatch_config){.log_level = 9}),
                   HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_init(&(struct hotpatch_config){
                       .park_signal = SIGRTMIN + 3, .timeout_ms = 20}),
                   0);
  assert_int_equal(hp_config().park_signal, SIGRTMIN + 3);
  assert_int_equal(hp_config().timeout_ms, 20);
}

static void
settings_other_than_log_level_freeze_once_patches_exist(void **state) {
  (void)state;
  assert_int_equal(hotpatch_init(NULL), 0);
  hp_config_freeze();
  assert_int_equal(
      hotpatch_init(&(struct hotpatch_config){.log_level = HOTPATCH_LOG_ERROR}),
      0);
  assert_int_equal(hp_config().log_level, HOTPATCH_LOG_ERROR);
  assert_int_equal(hotpatch_init(&(struct hotpatch_config){.timeout_ms = 5}),
                   HOTPATCH_EBUSY);
  assert_int_equal(hp_config().timeout_ms, 1000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(last_error_is_per_thread),
      cmocka_unit_test(failing_call_clears_then_sets_detail),
      cmocka_unit_test(context_is_prepended_to_the_cause),
      cmocka_unit_test(detail_is_truncated_not_overflowed),
      cmocka_unit_test(logger_gets_messages_up_to_the_level),
      cmocka_unit_test(environment_sets_level_signal_and_timeout),
      cmocka_unit_test(init_refuses_out_of_range_settings),
      cmocka_unit_test(settings_other_than_log_level_freeze_once_patches_exist),
  };
  return cmocka_run_group_tests_name("unit_errors_and_log", tests, NULL, NULL);
}
