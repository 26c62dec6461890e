/* SPDX-License-Identifier: MIT */
#include "ap_util.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "park_util.h"
#include "targets.h"

uint64_t ap_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

long (*ap_old_value)(long);
static long ap_new_value(long x) { return ap_old_value(x) + 1000; }
static long ap_new_other(long x) { return x * 3 + 2000; }

hotpatch_patch *ap_register(const char *name,
                            const struct hotpatch_func *funcs) {
  /* Kept on a list: a patch points at its descriptor, and one the test
   * unloaded must not show as a leak. */
  static struct ap_desc {
    struct hotpatch_desc d;
    struct ap_desc *next;
  } * all;
  struct ap_desc *e = calloc(1, sizeof *e);
  if (!e)
    abort();
  e->next = all;
  all = e;
  e->d = (struct hotpatch_desc){.magic = HOTPATCH_MAGIC,
                                .abi = HOTPATCH_ABI,
                                .name = name,
                                .flags = HOTPATCH_REAPPLYABLE,
                                .funcs = funcs};
  hotpatch_patch *p;
  if (hotpatch_register(&e->d, &p)) {
    fprintf(stderr, "register '%s': %s\n", name, hotpatch_last_error());
    abort();
  }
  return p;
}

hotpatch_patch *ap_register_value_other(const char *name) {
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_value",
       .replacement = (void *)ap_new_value,
       .original = (void **)&ap_old_value},
      {.target = "ap_other", .replacement = (void *)ap_new_other},
      {0}};
  return ap_register(name, funcs);
}

int ap_in_child(int (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    alarm(60); /* a deadlock dies instead of hanging the parent */
    _exit(fn());
  }
  return pu_reap(pid, 90000);
}

#if defined(__x86_64__)
#define AP_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define AP_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#include <linux/audit.h>

#define AP_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define AP_ARG_HI(i) (AP_ARG_LO(i) + 4)

int ap_deny_syscall(long nr, int arg, uint64_t mask, uint64_t val, int arg2,
                    uint64_t val2) {
  struct sock_filter f[32];
  int n = 0, jumps[8], nj = 0;
#define AP_LD(off)                                                             \
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define AP_AND(k)                                                              \
  f[n++] = (struct sock_filter)BPF_STMT(BPF_ALU | BPF_AND | BPF_K, (k))
#define AP_JNE_ALLOW(k)                                                        \
  do {                                                                         \
    jumps[nj++] = n;                                                           \
    f[n++] =                                                                   \
        (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, 0);    \
  } while (0)
  AP_LD(offsetof(struct seccomp_data, arch));
  AP_JNE_ALLOW(AP_AUDIT_ARCH);
  AP_LD(offsetof(struct seccomp_data, nr));
  AP_JNE_ALLOW((uint32_t)nr);
  AP_LD(AP_ARG_LO(arg));
  AP_AND((uint32_t)mask);
  AP_JNE_ALLOW((uint32_t)(val & mask));
  AP_LD(AP_ARG_HI(arg));
  AP_AND((uint32_t)(mask >> 32));
  AP_JNE_ALLOW((uint32_t)((val & mask) >> 32));
  if (arg2 >= 0) {
    AP_LD(AP_ARG_LO(arg2));
    AP_JNE_ALLOW((uint32_t)val2);
    AP_LD(AP_ARG_HI(arg2));
    AP_JNE_ALLOW((uint32_t)(val2 >> 32));
  }
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K,
                                        SECCOMP_RET_ERRNO | (EPERM & 0xffff));
  int allow = n;
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  for (int i = 0; i < nj; i++)
    f[jumps[i]].jf = (uint8_t)(allow - jumps[i] - 1);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return -1;
  /* This thread only (no TSYNC): the one that writes code. */
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
    return -1;
  return 0;
}

void ap_poke_code(uintptr_t addr, const void *bytes, size_t n) {
  uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t lo = addr & ~(pg - 1), hi = (addr + n + pg - 1) & ~(pg - 1);
  if (syscall(SYS_mprotect, lo, hi - lo, PROT_READ | PROT_WRITE | PROT_EXEC))
    abort();
  volatile uint8_t *d = (volatile uint8_t *)addr;
  for (size_t i = 0; i < n; i++)
    d[i] = ((const uint8_t *)bytes)[i];
  __builtin___clear_cache((char *)addr, (char *)addr + n);
  if (syscall(SYS_mprotect, lo, hi - lo, PROT_READ | PROT_EXEC))
    abort();
}
