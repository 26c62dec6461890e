/* SPDX-License-Identifier: MIT */
/* Raw system calls on x86_64 (include arch/syscall.h, not this file). */
#ifndef HP_ARCH_X86_64_SYSCALL_H
#define HP_ARCH_X86_64_SYSCALL_H

/* The kernel clobbers rcx (return address) and r11 (rflags); arguments go
 * in rdi, rsi, rdx, r10, r8, r9; "memory" because the kernel may read or
 * write any buffer passed by address. */
static inline long hp_syscall0(long n) {
  long r;
  __asm__ __volatile__("syscall" : "=a"(r) : "a"(n) : "rcx", "r11", "memory");
  return r;
}

static inline long hp_syscall3(long n, long a, long b, long c) {
  long r;
  __asm__ __volatile__("syscall"
                       : "=a"(r)
                       : "a"(n), "D"(a), "S"(b), "d"(c)
                       : "rcx", "r11", "memory");
  return r;
}

static inline long hp_syscall4(long n, long a, long b, long c, long d) {
  long r;
  register long r10 __asm__("r10") = d;
  __asm__ __volatile__("syscall"
                       : "=a"(r)
                       : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                       : "rcx", "r11", "memory");
  return r;
}

static inline long hp_syscall6(long n, long a, long b, long c, long d, long e,
                               long f) {
  long r;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ __volatile__("syscall"
                       : "=a"(r)
                       : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8),
                         "r"(r9)
                       : "rcx", "r11", "memory");
  return r;
}

#endif
