/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

struct hp_logger {
  void (*fn)(int level, const char *msg, void *arg);
  void *arg;
};

/* Replaced as a whole under this lock; hp_log copies it under the same lock
 * so a message never goes to a new callback with the old argument. */
static pthread_mutex_t hp_logger_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hp_logger hp_logger;

void hotpatch_set_logger(void (*fn)(int, const char *, void *), void *arg) {
  pthread_mutex_lock(&hp_logger_lock);
  hp_logger.fn = fn;
  hp_logger.arg = arg;
  pthread_mutex_unlock(&hp_logger_lock);
}

int hp_log_enabled(int level) { return level <= hp_config().log_level; }

static const char *const hp_level_names[] = {"?", "error", "warning", "info",
                                             "debug"};

void hp_log(int level, const char *fmt, ...) {
  if (!hp_log_enabled(level))
    return;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);

  pthread_mutex_lock(&hp_logger_lock);
  struct hp_logger l = hp_logger;
  pthread_mutex_unlock(&hp_logger_lock);
  if (l.fn) {
    l.fn(level, msg, l.arg);
    return;
  }
  /* One write() per line so lines of concurrent threads do not interleave. */
  char line[1100];
  int n = snprintf(line, sizeof line, "hotpatch[%d]: %s: %s\n", (int)getpid(),
                   hp_level_names[level >= 1 && level <= 4 ? level : 0], msg);
  if (n > (int)sizeof line - 1)
    n = (int)sizeof line - 1;
  if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
    /* Nowhere left to report a failed log write. */
  }
}
