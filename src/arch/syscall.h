/* SPDX-License-Identifier: MIT */
/*
 * Raw system calls for the parked window.
 *
 * While other threads are parked one of them may hold a libc lock, and the
 * page being made non-executable may hold libc's own wrapper (mprotect,
 * pwrite64, syscall): code that runs then calls the kernel from our own
 * text through these inline functions. They return the kernel's value:
 * >= 0 on success, -errno on failure; errno is never touched.
 */
#ifndef HP_ARCH_SYSCALL_H
#define HP_ARCH_SYSCALL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>

#if defined(__x86_64__)
#include "arch/x86_64/syscall.h"
#elif defined(__aarch64__)
#include "arch/aarch64/syscall.h"
#else
#error "hotpatch supports x86_64 and aarch64 hosts only"
#endif

static inline long hp_sys_mprotect(uintptr_t addr, size_t len, int prot) {
  return hp_syscall3(SYS_mprotect, (long)addr, (long)len, prot);
}

static inline long hp_sys_pwrite64(int fd, const void *buf, size_t len,
                                   off_t off) {
  return hp_syscall4(SYS_pwrite64, fd, (long)buf, (long)len, (long)off);
}

static inline long hp_sys_pread64(int fd, void *buf, size_t len, off_t off) {
  return hp_syscall4(SYS_pread64, fd, (long)buf, (long)len, (long)off);
}

static inline long hp_sys_gettid(void) { return hp_syscall0(SYS_gettid); }

static inline long hp_sys_tgkill(int tgid, int tid, int sig) {
  return hp_syscall3(SYS_tgkill, tgid, tid, sig);
}

/* futex(uaddr, op, val, timeout): the 4-argument forms (WAIT, WAKE). */
static inline long hp_sys_futex(uint32_t *uaddr, int op, uint32_t val,
                                const void *timeout) {
  return hp_syscall4(SYS_futex, (long)uaddr, op, (long)val, (long)timeout);
}

#endif
