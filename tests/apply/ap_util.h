/* SPDX-License-Identifier: MIT */
/* Helpers shared by the apply tests. */
#ifndef AP_UTIL_H
#define AP_UTIL_H

#include <stdint.h>
#include <sys/types.h>

#include "hotpatch.h"

/* ms on CLOCK_MONOTONIC. */
uint64_t ap_now_ms(void);

/* A reapplyable patch of `funcs` (static), registered in-process; aborts
 * on failure. */
hotpatch_patch *ap_register(const char *name,
                            const struct hotpatch_func *funcs);

/* A patch of ap_value (x + 1 -> x + 1001, through its original) and
 * ap_other (3x -> 3x + 2000), reapplyable, registered in-process. */
hotpatch_patch *ap_register_value_other(const char *name);
/* The original of ap_value as the patch above set it (its trampoline). */
extern long (*ap_old_value)(long);

/* Run fn() in a child process with a 60 s alarm; its exit status (0 is
 * success; 128 + signal if it died), or -1 if it did not end in 90 s. */
int ap_in_child(int (*fn)(void));

/* Install a seccomp filter on the calling thread that fails with EPERM
 * the system call `nr` when its argument `arg` (0-5), masked with `mask`,
 * equals `val`, and when `arg2` >= 0, argument `arg2` also equals `val2`.
 * Returns 0, or -1 if seccomp is not available (qemu-user refuses it). */
int ap_deny_syscall(long nr, int arg, uint64_t mask, uint64_t val, int arg2,
                    uint64_t val2);

/* Make [addr, addr + n) writable, copy `bytes` there, restore r-x: for
 * tests that change code under the engine. Raw system calls. */
void ap_poke_code(uintptr_t addr, const void *bytes, size_t n);

#endif
