/* SPDX-License-Identifier: MIT */
#include "park_util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int pu_under_qemu(void) {
  const char *s = getenv("HOTPATCH_TEST_UNDER_QEMU");
  return s && *s && strcmp(s, "0") != 0;
}

pid_t pu_gettid(void) { return (pid_t)syscall(SYS_gettid); }

pthread_t pu_spawn(void *(*fn)(void *), void *arg) {
  pthread_attr_t a;
  pthread_t t;
  pthread_attr_init(&a);
  pthread_attr_setstacksize(&a, 512 * 1024);
  if (pthread_create(&t, &a, fn, arg) != 0) {
    perror("pthread_create");
    abort();
  }
  pthread_attr_destroy(&a);
  return t;
}

int pu_task_stat(pid_t tid, char *state, unsigned long *flags, char *comm,
                 size_t cap) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0)
    return -1;
  buf[n] = 0;
  const char *o = strchr(buf, '('), *c = strrchr(buf, ')');
  if (!o || !c || c[1] != ' ')
    return -1;
  if (comm)
    snprintf(comm, cap, "%.*s", (int)(c - o - 1), o + 1);
  /* After the state: ppid pgrp session tty_nr tpgid, then the flags. */
  unsigned long f;
  return sscanf(c + 2, "%c %*d %*d %*d %*d %*d %lu", state,
                flags ? flags : &f) == 2
             ? 0
             : -1;
}

static char pu_state(pid_t tid) {
  char st;
  unsigned long flags;
  return pu_task_stat(tid, &st, &flags, NULL, 0) ? 0 : st;
}

int pu_reap(pid_t pid, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    int st;
    pid_t r = waitpid(pid, &st, WNOHANG);
    if (r == pid)
      return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pu_sleep_ms(10);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  return -1;
}

int pu_wait_state(pid_t tid, char state, int ms) {
  for (int i = 0; i < ms; i++) {
    if (pu_state(tid) == state)
      return 1;
    pu_sleep_ms(1);
  }
  return pu_state(tid) == state;
}

const struct hp_slot *pu_slot_of(const struct hp_park *p, pid_t tid) {
  const struct hp_slot *found = NULL;
  for (size_t i = 0; i < p->n; i++)
    if (p->slot[i].tid == tid)
      found = &p->slot[i];
  return found;
}

int pu_stop(struct hp_park *p, int ms) {
  int rc = hp_park_prepare(p);
  if (rc)
    return rc;
  return hp_park_stop(p, hp_now_ns() + (uint64_t)ms * 1000000u);
}

struct pu_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

size_t pu_tasks(pid_t *out, size_t cap) {
  char buf[8192];
  size_t n = 0;
  long fd = syscall(SYS_openat, AT_FDCWD, "/proc/self/task",
                    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return 0;
  long r;
  while ((r = syscall(SYS_getdents64, (int)fd, buf, sizeof buf)) > 0)
    for (long off = 0; off < r;) {
      const struct pu_dirent64 *d = (const void *)(buf + off);
      off += d->d_reclen;
      if (d->d_name[0] >= '0' && d->d_name[0] <= '9' && n < cap)
        out[n++] = (pid_t)strtol(d->d_name, NULL, 10);
    }
  syscall(SYS_close, (int)fd);
  return n;
}

static int pu_cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

uint64_t pu_median(uint64_t *v, size_t n) {
  qsort(v, n, sizeof *v, pu_cmp);
  return n ? v[n / 2] : 0;
}

void pu_sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
}

long pu_send_park(int sig, pid_t tid, uint32_t idx, uint32_t gen) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  si.si_signo = sig;
  si.si_code = SI_QUEUE;
  si.si_pid = getpid();
  si.si_uid = getuid();
  si.si_value.sival_ptr = (void *)(uintptr_t)((uint64_t)idx << 32 | gen);
  return syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, sig, &si);
}
