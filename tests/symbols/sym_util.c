/* SPDX-License-Identifier: MIT */
#include "hp_test.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "sym_util.h"

static char sym_log_buf[16384];
static size_t sym_log_len;

static void sym_logger(int level, const char *msg, void *arg) {
  (void)level;
  (void)arg;
  int n = snprintf(sym_log_buf + sym_log_len, sizeof sym_log_buf - sym_log_len,
                   "%s\n", msg);
  if (n > 0 && (size_t)n < sizeof sym_log_buf - sym_log_len)
    sym_log_len += (size_t)n;
}

void sym_log_capture(void) { hotpatch_set_logger(sym_logger, NULL); }

void sym_log_reset(void) {
  sym_log_len = 0;
  sym_log_buf[0] = '\0';
}

const char *sym_log(void) { return sym_log_buf; }

void sym_expect_in(const char *text, const char *needle, const char *what) {
  if (!strstr(text, needle))
    fail_msg("%s does not mention '%s': \"%s\"", what, needle, text);
}

struct hp_target sym_resolve(const struct hp_modules *m, const char *object,
                             const char *target, const char *file) {
  struct hotpatch_func f = {.target = target, .object = object, .file = file};
  struct hp_target t;
  int rc = hp_resolve(m, &f, &t);
  if (rc)
    fail_msg("resolving '%s' in '%s' failed: %s: %s", target,
             object ? object : "(main)", hotpatch_err_name(rc),
             hotpatch_last_error());
  return t;
}

void sym_expect_refusal(const struct hp_modules *m,
                        const struct hotpatch_func *f, int code,
                        const char *object_name) {
  struct hp_target t;
  hp_clear_error();
  int rc = hp_resolve(m, f, &t);
  if (rc != code)
    fail_msg("'%s': expected %s, got %s: %s", f->target,
             hotpatch_err_name(code), hotpatch_err_name(rc),
             hotpatch_last_error());
  sym_expect_in(hotpatch_last_error(), f->target, "the error detail");
  sym_expect_in(hotpatch_last_error(), object_name, "the error detail");
  assert_int_equal(t.addr, 0);
  assert_int_equal(t.size, 0);
}

const struct hp_module *sym_module(const struct hp_modules *m,
                                   const char *object) {
  const struct hp_module *mod = hp_modules_by_object(m, object);
  if (!mod)
    fail_msg("no module '%s': %s", object, hotpatch_last_error());
  return mod;
}

int sym_in_code(const struct hp_module *mod, uintptr_t a, size_t len) {
  for (size_t i = 0; i < mod->nseg; i++) {
    const struct hp_segment *s = &mod->seg[i];
    if ((s->flags & PF_X) && a >= s->start && a + len <= s->end)
      return 1;
  }
  return 0;
}

void sym_copy(const char *from, const char *to) {
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    fail_msg("open %s: %s", from, strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
  if (out < 0)
    fail_msg("create %s: %s", to, strerror(errno));
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    if (write(out, buf, (size_t)n) != n)
      fail_msg("write %s: %s", to, strerror(errno));
  assert_int_equal(n, 0);
  close(in);
  assert_int_equal(close(out), 0);
}

int sym_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}
