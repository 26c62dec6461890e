/* SPDX-License-Identifier: MIT */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "errors.h"
#include "hotpatch.h"

#define HP_DEFAULT_TIMEOUT_MS 1000u
/* SIGRTMIN itself and the next few are the ones other libraries take first
 * (glibc reserves below SIGRTMIN; some runtimes use SIGRTMIN..+2). */
#define HP_DEFAULT_SIGNAL_OFFSET 7

static pthread_mutex_t hp_config_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hp_config hp_cfg;
static int hp_cfg_ready, hp_cfg_frozen;

static int hp_parse_level(const char *s) {
  static const char *const names[] = {"error", "warn", "info", "debug"};
  for (int i = 0; i < 4; i++)
    if (strcasecmp(s, names[i]) == 0)
      return i + 1;
  if (strcasecmp(s, "warning") == 0)
    return HOTPATCH_LOG_WARN;
  return 0;
}

static struct hp_config hp_config_from_env(void) {
  struct hp_config c = {HOTPATCH_LOG_WARN, SIGRTMIN + HP_DEFAULT_SIGNAL_OFFSET,
                        HP_DEFAULT_TIMEOUT_MS};
  const char *s = getenv("HOTPATCH_LOG");
  if (s && hp_parse_level(s))
    c.log_level = hp_parse_level(s);
  s = getenv("HOTPATCH_SIGNAL");
  if (s) {
    long v = strtol(s, NULL, 10);
    if (v >= SIGRTMIN && v <= SIGRTMAX)
      c.park_signal = (int)v;
  }
  s = getenv("HOTPATCH_TIMEOUT_MS");
  if (s) {
    long v = strtol(s, NULL, 10);
    if (v > 0 && v <= 3600 * 1000L)
      c.timeout_ms = (uint32_t)v;
  }
  return c;
}

struct hp_config hp_config(void) {
  pthread_mutex_lock(&hp_config_lock);
  if (!hp_cfg_ready) {
    hp_cfg = hp_config_from_env();
    hp_cfg_ready = 1;
  }
  struct hp_config c = hp_cfg;
  pthread_mutex_unlock(&hp_config_lock);
  return c;
}

void hp_config_freeze(void) {
  (void)hp_config();
  pthread_mutex_lock(&hp_config_lock);
  hp_cfg_frozen = 1;
  pthread_mutex_unlock(&hp_config_lock);
}

int hotpatch_init(const struct hotpatch_config *cfg) {
  hp_clear_error();
  /* NULL re-reads the environment; a structure changes only the fields it
   * sets and keeps the others as they are now. */
  struct hp_config c = cfg ? hp_config() : hp_config_from_env();
  if (cfg) {
    if (cfg->log_level < 0 || cfg->log_level > HOTPATCH_LOG_DEBUG)
      return hp_fail(HOTPATCH_EINVAL,
                     "hotpatch_init: log_level %d is not a "
                     "HOTPATCH_LOG_* level",
                     cfg->log_level);
    if (cfg->park_signal &&
        (cfg->park_signal < SIGRTMIN || cfg->park_signal > SIGRTMAX))
      return hp_fail(HOTPATCH_EINVAL,
                     "hotpatch_init: park_signal %d is not a "
                     "real-time signal (%d..%d)",
                     cfg->park_signal, SIGRTMIN, SIGRTMAX);
    if (cfg->log_level)
      c.log_level = cfg->log_level;
    if (cfg->park_signal)
      c.park_signal = cfg->park_signal;
    if (cfg->timeout_ms)
      c.timeout_ms = cfg->timeout_ms;
  }
  pthread_mutex_lock(&hp_config_lock);
  /* The log level may always change; the rest is fixed once a patch exists
   * because later actions depend on the signal handler installed for it. */
  if (hp_cfg_frozen && hp_cfg_ready &&
      (c.park_signal != hp_cfg.park_signal ||
       c.timeout_ms != hp_cfg.timeout_ms)) {
    pthread_mutex_unlock(&hp_config_lock);
    return hp_fail(HOTPATCH_EBUSY, "hotpatch_init: patches are loaded; only "
                                   "the log level can change now");
  }
  hp_cfg = c;
  hp_cfg_ready = 1;
  pthread_mutex_unlock(&hp_config_lock);
  return 0;
}
