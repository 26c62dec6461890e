/* SPDX-License-Identifier: MIT */
/* Logging to the user's callback (default: stderr). */
#ifndef HP_LOG_H
#define HP_LOG_H

#include "hotpatch.h"

/* Format into a stack buffer (no malloc) and hand it to the logger if
 * `level` is enabled. Not async-signal-safe: never call it while threads
 * are parked. */
void hp_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int hp_log_enabled(int level);

#define hp_error(...) hp_log(HOTPATCH_LOG_ERROR, __VA_ARGS__)
#define hp_warn(...) hp_log(HOTPATCH_LOG_WARN, __VA_ARGS__)
#define hp_info(...) hp_log(HOTPATCH_LOG_INFO, __VA_ARGS__)
#define hp_debug(...) hp_log(HOTPATCH_LOG_DEBUG, __VA_ARGS__)

#endif
