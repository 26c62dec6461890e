/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cm_util.h"

int cm_under_qemu(void) {
  const char *s = getenv("HOTPATCH_TEST_UNDER_QEMU");
  return s && *s && strcmp(s, "0") != 0;
}

struct cm_line {
  unsigned long start, end;
  char perms[5];
};

/* Calls fn for each line until it returns non-zero; returns that. */
static int cm_each(int (*fn)(const struct cm_line *, void *), void *arg) {
  FILE *f = fopen("/proc/self/maps", "re");
  if (!f) {
    perror("/proc/self/maps");
    abort();
  }
  char line[4096];
  int rc = 0;
  while (!rc && fgets(line, sizeof line, f)) {
    struct cm_line l;
    if (sscanf(line, "%lx-%lx %4s", &l.start, &l.end, l.perms) == 3)
      rc = fn(&l, arg);
  }
  fclose(f);
  return rc;
}

struct cm_find {
  uintptr_t addr;
  char *perms;
};

static int cm_find_cb(const struct cm_line *l, void *arg) {
  struct cm_find *f = arg;
  if (f->addr < l->start || f->addr >= l->end)
    return 0;
  memcpy(f->perms, l->perms, 5);
  return 1;
}

int cm_perms(uintptr_t addr, char perms[5]) {
  struct cm_find f = {addr, perms};
  perms[0] = '\0';
  return cm_each(cm_find_cb, &f) ? 0 : -1;
}

static int cm_count_cb(const struct cm_line *l, void *arg) {
  (void)l;
  ++*(int *)arg;
  return 0;
}

int cm_maps_lines(void) {
  int n = 0;
  cm_each(cm_count_cb, &n);
  return n;
}

struct cm_rwx {
  int n;
  char *first;
  size_t cap;
};

static int cm_rwx_cb(const struct cm_line *l, void *arg) {
  struct cm_rwx *r = arg;
  if (l->perms[1] == 'w' && l->perms[2] == 'x' && r->n++ == 0 && r->cap)
    snprintf(r->first, r->cap, "%lx-%lx %s", l->start, l->end, l->perms);
  return 0;
}

int cm_rwx_lines(char *first, size_t cap) {
  struct cm_rwx r = {0, first, cap};
  if (cap)
    first[0] = '\0';
  cm_each(cm_rwx_cb, &r);
  return r.n;
}

struct cm_gap {
  size_t len;
  unsigned long prev_end, best;
};

static int cm_gap_cb(const struct cm_line *l, void *arg) {
  struct cm_gap *g = arg;
  /* The gap must leave `len` free on each side of the area returned. */
  if (g->prev_end && l->start > g->prev_end &&
      l->start - g->prev_end >= 3 * g->len && l->start <= (1ul << 47))
    g->best = g->prev_end + g->len;
  if (l->end > g->prev_end)
    g->prev_end = l->end;
  return 0;
}

uintptr_t cm_free_area(size_t len) {
  struct cm_gap g = {len, 0, 0};
  cm_each(cm_gap_cb, &g);
  /* Above the last mapping (qemu-user lists nothing high up). */
  struct cm_line top = {1ul << 47, 1ul << 47, "----"};
  cm_gap_cb(&top, &g);
  return (uintptr_t)g.best & ~(CM_PAGE - 1);
}

size_t cm_ret_code(uint8_t *buf, int n) {
#if defined(__x86_64__)
  buf[0] = 0xb8; /* mov $n, %eax; ret */
  memcpy(buf + 1, &n, 4);
  buf[5] = 0xc3;
  return 6;
#elif defined(__aarch64__)
  uint32_t insn[2] = {0x52800000u | ((uint32_t)n & 0xffff) << 5, /* mov w0 */
                      0xd65f03c0u};                              /* ret */
  memcpy(buf, insn, 8);
  return 8;
#endif
}

int cm_run_child(void (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    perror("fork");
    return -1;
  }
  if (pid == 0) {
    fn();
    fflush(NULL);
    _exit(0);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0)
    ;
  if (WIFSIGNALED(st)) {
    fprintf(stderr, "child killed by signal %d\n", WTERMSIG(st));
    return 128 + WTERMSIG(st);
  }
  return WEXITSTATUS(st);
}

void cm_deny_mprotect(int mask, int value) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_mprotect, 0, 4),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
               offsetof(struct seccomp_data, args[2])),
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, (unsigned)mask),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)value, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof f / sizeof *f, f};
  CM_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) == 0, "%s",
           strerror(errno));
  int rc = prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
  if (rc != 0 && errno == EINVAL && cm_under_qemu()) {
    fprintf(stderr, "SKIP: qemu-user refuses PR_SET_SECCOMP (EINVAL), so "
                    "that a guest cannot block the host calls it needs\n");
    exit(CM_SKIP);
  }
  CM_CHECK(rc == 0, "PR_SET_SECCOMP: %s", strerror(errno));
}
