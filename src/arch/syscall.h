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

static inline long hp_sys_getpid(void) { return hp_syscall0(SYS_getpid); }

static inline long hp_sys_sched_yield(void) {
  return hp_syscall0(SYS_sched_yield);
}

static inline long hp_sys_nanosleep(const void *req) {
  return hp_syscall3(SYS_nanosleep, (long)req, 0, 0);
}

/* Queue `sig` with `info` (si_code SI_QUEUE) to thread `tid` of `tgid`. */
static inline long hp_sys_rt_tgsigqueueinfo(int tgid, int tid, int sig,
                                            void *info) {
  return hp_syscall4(SYS_rt_tgsigqueueinfo, tgid, tid, sig, (long)info);
}

static inline long hp_sys_sigaltstack(const void *ss, void *old) {
  return hp_syscall3(SYS_sigaltstack, (long)ss, (long)old, 0);
}

/* how: SIG_BLOCK/SIG_UNBLOCK/SIG_SETMASK; the kernel's 64-bit sigset. */
static inline long hp_sys_rt_sigprocmask(int how, const uint64_t *set,
                                         uint64_t *old) {
  return hp_syscall4(SYS_rt_sigprocmask, how, (long)set, (long)old, 8);
}

static inline long hp_sys_openat(int dirfd, const char *path, int flags) {
  return hp_syscall4(SYS_openat, dirfd, (long)path, flags, 0);
}

static inline long hp_sys_read(int fd, void *buf, size_t len) {
  return hp_syscall3(SYS_read, fd, (long)buf, (long)len);
}

static inline long hp_sys_close(int fd) {
  return hp_syscall3(SYS_close, fd, 0, 0);
}

static inline long hp_sys_lseek(int fd, off_t off, int whence) {
  return hp_syscall3(SYS_lseek, fd, (long)off, whence);
}

/* Fills `buf` with struct linux_dirent64 records; 0 at the end. */
static inline long hp_sys_getdents64(int fd, void *buf, size_t len) {
  return hp_syscall3(SYS_getdents64, fd, (long)buf, (long)len);
}

/* The kernel's struct timespec, which is libc's on both 64-bit hosts. */
static inline long hp_sys_clock_gettime(int clk, void *ts) {
  return hp_syscall3(SYS_clock_gettime, clk, (long)ts, 0);
}

/* futex(uaddr, op, val, timeout): the 4-argument forms (WAIT, WAKE). */
static inline long hp_sys_futex(uint32_t *uaddr, int op, uint32_t val,
                                const void *timeout) {
  return hp_syscall4(SYS_futex, (long)uaddr, op, (long)val, (long)timeout);
}

#endif
