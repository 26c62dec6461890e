/* SPDX-License-Identifier: MIT */
/* Helpers shared by the symbols tests. */
#ifndef SYM_UTIL_H
#define SYM_UTIL_H

#include <stddef.h>

#include "modules.h"
#include "symbols.h"

/* Route the library's log into a buffer (sym_log), and empty it. */
void sym_log_capture(void);
void sym_log_reset(void);
const char *sym_log(void);

/* Fail the test unless `text` contains `needle`; say what it was. */
void sym_expect_in(const char *text, const char *needle, const char *what);

/* Resolve and fail the test (with the detail) unless it succeeds. */
struct hp_target sym_resolve(const struct hp_modules *m, const char *object,
                             const char *target, const char *file);

/* Resolve `f`, expect exactly `code`, and a detail that names the symbol
 * and the object (`object_name`: what the detail calls it). */
void sym_expect_refusal(const struct hp_modules *m,
                        const struct hotpatch_func *f, int code,
                        const char *object_name);

/* The loaded module called `object` (as hp_modules_by_object), or fail. */
const struct hp_module *sym_module(const struct hp_modules *m,
                                   const char *object);

/* 1 if [a, a + len) is inside an executable segment of `mod`. */
int sym_in_code(const struct hp_module *mod, uintptr_t a, size_t len);

/* Copy a file (for fixtures that are replaced on disk). */
void sym_copy(const char *from, const char *to);

/* Number of open file descriptors of this process. */
int sym_count_fds(void);

#endif
