/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"

/* The errno-valued codes are spelled as numbers in the public header so it
 * needs no <errno.h>; check here that they are the host's errno values. */
#define HP_CHECK_ERRNO_(name, value, msg)                                      \
  _Static_assert((value) == -name, "HOTPATCH_" #name " must be -" #name);
HOTPATCH_SYS_ERRNO_MAP_(HP_CHECK_ERRNO_)
#undef HP_CHECK_ERRNO_

static _Thread_local char hp_detail[HP_ERROR_MAX];

const char *hotpatch_strerror(int err) {
  switch (err) {
#define HP_STR_(name, value, msg)                                              \
  case (value):                                                                \
    return msg;
    HOTPATCH_ERRNO_MAP(HP_STR_)
#undef HP_STR_
  case 0:
    return "success";
  }
  return err > 0 ? "refused by a patch hook" : "unknown error";
}

const char *hotpatch_err_name(int err) {
  switch (err) {
#define HP_NAME_(name, value, msg)                                             \
  case (value):                                                                \
    return "HOTPATCH_" #name;
    HOTPATCH_ERRNO_MAP(HP_NAME_)
#undef HP_NAME_
  }
  return "HOTPATCH_UNKNOWN";
}

const char *hotpatch_last_error(void) { return hp_detail; }

void hp_clear_error(void) { hp_detail[0] = '\0'; }

void hp_error_save(char buf[HP_ERROR_MAX]) {
  memcpy(buf, hp_detail, HP_ERROR_MAX);
}

void hp_error_restore(const char buf[HP_ERROR_MAX]) {
  memcpy(hp_detail, buf, HP_ERROR_MAX);
}

int hp_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(hp_detail, sizeof hp_detail, fmt, ap);
  va_end(ap);
  return code;
}

int hp_fail_context(int code, const char *fmt, ...) {
  char cause[HP_ERROR_MAX];
  memcpy(cause, hp_detail, sizeof cause);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(hp_detail, sizeof hp_detail, fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof hp_detail)
    snprintf(hp_detail + n, sizeof hp_detail - (size_t)n, "%s",
             cause[0] ? cause : hotpatch_strerror(code));
  return code;
}
