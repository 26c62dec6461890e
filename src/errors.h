/* SPDX-License-Identifier: MIT */
/* Error detail: the thread-local text behind hotpatch_last_error(). */
#ifndef HP_ERRORS_H
#define HP_ERRORS_H

#include "hotpatch.h"

/* Record `code` with a printf-style detail for this thread and return
 * `code`, so a failure reads `return hp_fail(HOTPATCH_EBADELF, "...", ...)`.
 * Does not log: the public entry point logs the final error once. */
int hp_fail(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prepend context ("patch 'x': func[2] 'foo': ") to this thread's detail,
 * keeping the cause that a lower layer wrote. Returns `code`. */
int hp_fail_context(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Empty the detail; every fallible public call does this on entry. */
void hp_clear_error(void);

/* The detail's capacity, and a copy of it out and back in: for a search
 * whose tries may fail on the way although the search succeeds. */
#define HP_ERROR_MAX 1024
void hp_error_save(char buf[HP_ERROR_MAX]);
void hp_error_restore(const char buf[HP_ERROR_MAX]);

#endif
