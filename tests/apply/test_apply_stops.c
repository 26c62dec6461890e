/* SPDX-License-Identifier: MIT */
/*
 * Stops through hotpatch_apply/hotpatch_revert, with the threads that make
 * stopping hard: a user thread that calls itself "iou-...", a real
 * io_uring worker, a zombie group leader, a thread that blocks the park
 * signal for 2 s, threads appearing faster than the slots prepared for,
 * a task list that cannot be read, and fork() from another thread while
 * actions run.
 */
#include "hp_test.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ap_util.h"
#include "config.h"
#include "hotpatch.h"
#include "park.h"
#include "park_util.h"
#include "targets.h"

static struct hotpatch_opts opts_ms(uint32_t ms) {
  return (struct hotpatch_opts){.timeout_ms = ms};
}

static void apply_revert_ok(hotpatch_patch *p, uint32_t ms) {
  struct hotpatch_opts o = opts_ms(ms);
  int rc = hotpatch_apply(p, &o);
  if (rc)
    fail_msg("apply: %s", hotpatch_last_error());
  assert_int_equal(ap_value(5), 1006);
  assert_int_equal(ap_other(5), 2015);
  rc = hotpatch_revert(p, &o);
  if (rc)
    fail_msg("revert: %s", hotpatch_last_error());
  assert_int_equal(ap_value(5), 6);
  assert_int_equal(ap_other(5), 15);
}

/* --- a user thread named like an io_uring worker ------------------------ */

static long new_sleep_in(long ms) { return ms + 70000; }

static void *iou_named_sleeper(void *arg) {
  prctl(PR_SET_NAME, "iou-app", 0, 0, 0);
  return (void *)(intptr_t)ap_sleep_in((long)(intptr_t)arg);
}

static void a_user_thread_named_iou_is_parked_and_checked(void **state) {
  (void)state;
  static const struct hotpatch_func funcs[] = {
      {.target = "ap_sleep_in", .replacement = (void *)new_sleep_in}, {0}};
  static const struct hotpatch_desc d = {.magic = HOTPATCH_MAGIC,
                                         .abi = HOTPATCH_ABI,
                                         .name = "iou-named",
                                         .funcs = funcs};
  hotpatch_patch *p;
  assert_int_equal(hotpatch_register(&d, &p), 0);
  pthread_t t = pu_spawn(iou_named_sleeper,
                         (void *)(intptr_t)(pu_under_qemu() ? 3000 : 1200));
  pu_sleep_ms(pu_under_qemu() ? 500 : 100); /* asleep inside ap_sleep_in */
  /* Skipped, it would not be checked, and the switch would happen under
   * it: it must be parked, found inside, and named. */
  struct hotpatch_opts o = opts_ms(300);
  int rc = hotpatch_apply(p, &o);
  fprintf(stderr, "apply with 'iou-app' inside: %s: %s\n",
          hotpatch_err_name(rc), hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_non_null(strstr(hotpatch_last_error(), "'iou-app' in ap_sleep_in"));
  void *res;
  pthread_join(t, &res);
  assert_true((long)(intptr_t)res > 7 && (long)(intptr_t)res < 70000);
  assert_int_equal(hotpatch_apply(p, NULL), 0);
  assert_int_equal(hotpatch_revert(p, NULL), 0);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- a real io_uring worker --------------------------------------------- */

#define PF_IO_WORKER 0x10ul

/* The flags (field 9) of /proc/self/task/<tid>/stat; 0 if unreadable. */
static unsigned long task_flags(pid_t tid, char *comm, size_t cap) {
  char state;
  unsigned long flags;
  return pu_task_stat(tid, &state, &flags, comm, cap) ? 0 : flags;
}

/* A tid of ours with PF_IO_WORKER, or 0. */
static pid_t find_io_worker(char *comm, size_t cap) {
  pid_t tids[512];
  size_t n = pu_tasks(tids, 512);
  for (size_t i = 0; i < n; i++)
    if (task_flags(tids[i], comm, cap) & PF_IO_WORKER)
      return tids[i];
  return 0;
}

struct ring {
  int fd;
  void *sq, *cq;
  size_t sq_len, cq_len;
  struct io_uring_sqe *sqes;
  size_t sqes_len;
  struct io_uring_params prm;
};

/* io_uring_setup and a read of one byte from `rfd` forced to a worker
 * (IOSQE_ASYNC), by raw system calls. 0, or -errno from the kernel. */
static int ring_read_async(struct ring *r, int rfd, char *buf) {
  memset(r, 0, sizeof *r);
  long fd = syscall(__NR_io_uring_setup, 4, &r->prm);
  if (fd < 0)
    return -errno;
  r->fd = (int)fd;
  r->sq_len = r->prm.sq_off.array + r->prm.sq_entries * sizeof(unsigned);
  r->cq_len =
      r->prm.cq_off.cqes + r->prm.cq_entries * sizeof(struct io_uring_cqe);
  if (r->prm.features & IORING_FEAT_SINGLE_MMAP)
    r->sq_len = r->cq_len = r->sq_len > r->cq_len ? r->sq_len : r->cq_len;
  r->sq = mmap(NULL, r->sq_len, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQ_RING);
  r->sqes_len = r->prm.sq_entries * sizeof(struct io_uring_sqe);
  r->sqes = mmap(NULL, r->sqes_len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_SQES);
  if (r->sq == MAP_FAILED || r->sqes == MAP_FAILED)
    return -ENOMEM;
  char *sq = r->sq;
  unsigned *tail = (unsigned *)(sq + r->prm.sq_off.tail);
  unsigned mask = *(unsigned *)(sq + r->prm.sq_off.ring_mask);
  unsigned *array = (unsigned *)(sq + r->prm.sq_off.array);
  unsigned idx = *tail & mask;
  struct io_uring_sqe *e = &r->sqes[idx];
  memset(e, 0, sizeof *e);
  e->opcode = IORING_OP_READ;
  e->flags = IOSQE_ASYNC;
  e->fd = rfd;
  e->addr = (uint64_t)(uintptr_t)buf;
  e->len = 1;
  e->off = (uint64_t)-1; /* the pipe's current position */
  array[idx] = idx;
  __atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
  if (syscall(__NR_io_uring_enter, r->fd, 1, 0, 0, NULL, 0) != 1)
    return -errno;
  return 0;
}

/* The result of the one completion, waiting for it. */
static int ring_reap(struct ring *r) {
  if (syscall(__NR_io_uring_enter, r->fd, 0, 1, IORING_ENTER_GETEVENTS, NULL,
              0) < 0)
    return -errno;
  char *cq = r->prm.features & IORING_FEAT_SINGLE_MMAP ? r->sq : r->cq;
  unsigned *head = (unsigned *)(cq + r->prm.cq_off.head);
  struct io_uring_cqe *cqes = (struct io_uring_cqe *)(cq + r->prm.cq_off.cqes);
  unsigned mask = *(unsigned *)(cq + r->prm.cq_off.ring_mask);
  int res = cqes[*head & mask].res;
  __atomic_store_n(head, *head + 1, __ATOMIC_RELEASE);
  return res;
}

static void ring_close(struct ring *r) {
  if (r->sqes && r->sqes != MAP_FAILED)
    munmap(r->sqes, r->sqes_len);
  if (r->sq && r->sq != MAP_FAILED)
    munmap(r->sq, r->sq_len);
  if (r->cq && r->cq != MAP_FAILED && r->cq != r->sq)
    munmap(r->cq, r->cq_len);
  close(r->fd);
}

static void a_real_io_uring_worker_is_skipped(void **state) {
  (void)state;
  int pfd[2];
  assert_int_equal(pipe(pfd), 0);
  static char buf[1];
  struct ring r;
  int rc = ring_read_async(&r, pfd[0], buf);
  if (rc) {
    close(pfd[0]);
    close(pfd[1]);
    if (r.fd > 0)
      close(r.fd);
    printf("SKIPPED: io_uring refused by the kernel or emulator: %s "
           "(/proc/sys/kernel/io_uring_disabled, seccomp, qemu-user)\n",
           strerror(-rc));
    skip();
  }
  char comm[32] = "";
  pid_t w = 0;
  for (int i = 0; i < 2000 && !(w = find_io_worker(comm, sizeof comm)); i++)
    pu_sleep_ms(1);
  if (!w)
    fail_msg("no PF_IO_WORKER thread appeared for an IOSQE_ASYNC read");
  printf("apply: io_uring worker tid %d '%s' (PF_IO_WORKER), blocked in a "
         "pipe read\n",
         (int)w, comm);
  hotpatch_patch *p = ap_register_value_other("io-uring");
  /* Waited for, it would never acknowledge: EBUSY after 2 s. */
  uint64_t t0 = ap_now_ms();
  apply_revert_ok(p, 2000);
  uint64_t ms = ap_now_ms() - t0;
  printf("apply: apply and revert beside the worker in %llu ms\n",
         (unsigned long long)ms);
  assert_true(ms < 2000);
  assert_int_equal(find_io_worker(comm, sizeof comm), w); /* still there */
  assert_int_equal(write(pfd[1], "z", 1), 1);
  assert_int_equal(ring_reap(&r), 1);
  assert_int_equal(buf[0], 'z');
  ring_close(&r);
  close(pfd[0]);
  close(pfd[1]);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- a zombie group leader ---------------------------------------------- */

static hotpatch_patch *zombie_patch;

static void *after_the_leader(void *v) {
  (void)v;
  if (!pu_wait_state(getpid(), 'Z', 5000))
    _exit(20);
  struct hotpatch_opts o = opts_ms(2000);
  for (int k = 0; k < 3; k++) {
    if (hotpatch_apply(zombie_patch, &o)) {
      fprintf(stderr, "child: apply beside a zombie leader: %s\n",
              hotpatch_last_error());
      _exit(21);
    }
    if (ap_value(5) != 1006 || ap_other(5) != 2015)
      _exit(22);
    if (hotpatch_revert(zombie_patch, &o)) {
      fprintf(stderr, "child: revert beside a zombie leader: %s\n",
              hotpatch_last_error());
      _exit(23);
    }
    if (ap_value(5) != 6 || ap_other(5) != 15)
      _exit(24);
  }
  _exit(0);
}

static int zombie_child(void) {
  zombie_patch = ap_register_value_other("zombie");
  pthread_t t;
  if (pthread_create(&t, NULL, after_the_leader, NULL))
    return 2;
  pthread_exit(NULL); /* the leader stays listed, state Z */
}

static void actions_work_after_the_main_thread_exits(void **state) {
  (void)state;
  if (pu_under_qemu()) {
    /* qemu-user 7.2 builds the guest's /proc/self/maps from the host's,
     * which is empty once the leader has exited, and /proc/thread-self
     * would show the host's view of the emulator. */
    printf("SKIPPED: under qemu-user /proc/self/maps is empty once the "
           "main thread has exited\n");
    skip();
  }
  int st = ap_in_child(zombie_child);
  printf("apply: child whose main thread called pthread_exit: exit %d\n", st);
  assert_int_equal(st, 0);
}

/* --- a thread that blocks the park signal for 2 s ------------------------ */

static atomic_int blocker_phase; /* 1 blocked, 2 unblocked */
static atomic_int blocker_tid;

static void *blocker(void *v) {
  (void)v;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, hp_config().park_signal);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  atomic_store(&blocker_tid, pu_gettid());
  atomic_store(&blocker_phase, 1);
  pu_sleep_ms(2000);
  pthread_sigmask(SIG_UNBLOCK, &set, NULL);
  atomic_store(&blocker_phase, 2);
  while (atomic_load(&blocker_phase) != 3)
    pu_sleep_ms(1);
  return NULL;
}

static void a_thread_blocking_the_signal_fails_in_time_and_is_named(void **s) {
  (void)s;
  hotpatch_patch *p = ap_register_value_other("blocked");
  atomic_store(&blocker_phase, 0);
  pthread_t t = pu_spawn(blocker, NULL);
  while (!atomic_load(&blocker_phase))
    pu_sleep_ms(1);
  pid_t tid = atomic_load(&blocker_tid);
  uint64_t t0 = ap_now_ms();
  struct hotpatch_opts o = opts_ms(500);
  int rc = hotpatch_apply(p, &o);
  uint64_t ms = ap_now_ms() - t0;
  printf("apply: a thread blocking the signal: %s after %llu ms (deadline "
         "500 ms): %s\n",
         hotpatch_err_name(rc), (unsigned long long)ms, hotpatch_last_error());
  assert_int_equal(rc, HOTPATCH_EBUSY);
  assert_true(ms >= 500);
  /* The margin: preparing the sites before the deadline starts, and
   * reading each straggler's status after it (natively ~10 ms of both);
   * qemu-user runs the analysis and relocation ten times slower or
   * more. */
  assert_true(ms < (pu_under_qemu() ? 500 + 750 : 500 + 250));
  assert_int_equal(atomic_load(&blocker_phase), 1); /* still blocked */
  char want[32];
  snprintf(want, sizeof want, "tid %d ", (int)tid);
  assert_non_null(strstr(hotpatch_last_error(), want));
  if (!pu_under_qemu()) /* qemu: the kernel sees the emulator's mask */
    assert_non_null(strstr(hotpatch_last_error(), "blocks signal"));
  assert_int_equal(ap_value(5), 6); /* nothing changed */
  while (atomic_load(&blocker_phase) != 2)
    pu_sleep_ms(5);
  apply_revert_ok(p, 1000);
  atomic_store(&blocker_phase, 3);
  pthread_join(t, NULL);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- more threads than the slots prepared -------------------------------- */

#define BURST 150
static atomic_int burst_quit, burst_started;
static pthread_t burst[BURST];

static void *burst_wait(void *v) {
  (void)v;
  atomic_fetch_add(&burst_started, 1);
  while (!atomic_load(&burst_quit))
    pu_sleep_ms(2);
  return NULL;
}

static void spawn_burst_once(void) {
  /* Between prepare and the stop: more threads than 2 x (threads at
   * prepare) + 64 slots. */
  hp_park_test_before_stop = NULL;
  for (int i = 0; i < BURST; i++)
    burst[i] = pu_spawn(burst_wait, NULL);
  while (atomic_load(&burst_started) < BURST)
    pu_sleep_ms(1);
}

static void more_threads_than_slots_are_prepared_for_again(void **state) {
  (void)state;
  hotpatch_patch *p = ap_register_value_other("burst");
  struct hp_park_counters c0, c1;
  hp_park_counters(&c0);
  hp_park_test_before_stop = spawn_burst_once;
  struct hotpatch_opts o = opts_ms(5000);
  int rc = hotpatch_apply(p, &o);
  hp_park_counters(&c1);
  printf("apply: %d threads appeared before the stop: %s after %lu stops: "
         "%s\n",
         BURST, rc ? hotpatch_err_name(rc) : "ok", c1.stops - c0.stops,
         rc ? hotpatch_last_error() : "");
  assert_null(hp_park_test_before_stop); /* the burst happened */
  assert_int_equal(rc, 0);
  assert_true(c1.stops - c0.stops >= 2); /* one overflowed, one went in */
  assert_true(c1.parked - c0.parked >= BURST);
  assert_int_equal(ap_value(5), 1006);
  /* Reverted beside the burst: their stacks' neighbours (malloc arenas
   * holding this action's own tables) are read by the scan and must not
   * keep it EBUSY. */
  assert_int_equal(hotpatch_revert(p, &o), 0);
  atomic_store(&burst_quit, 1);
  for (int i = 0; i < BURST; i++)
    pthread_join(burst[i], NULL);
  assert_int_equal(hotpatch_unload(p), 0);
}

/* --- the task list cannot be read ---------------------------------------- */

static int deny_failed;

static void deny_getdents(void) {
  hp_park_test_before_stop = NULL;
  deny_failed = ap_deny_syscall(SYS_getdents64, 0, 0, 0, -1, 0);
}

static int unreadable_task_list_child(void) {
  hotpatch_patch *p = ap_register_value_other("no-getdents");
  hp_park_test_before_stop = deny_getdents;
  struct hotpatch_opts o = opts_ms(500);
  int rc = hotpatch_apply(p, &o);
  if (deny_failed)
    return 77;
  fprintf(stderr, "child: apply with getdents64 refused: %s: %s\n",
          hotpatch_err_name(rc), hotpatch_last_error());
  if (rc != HOTPATCH_EIO)
    return 1;
  if (!strstr(hotpatch_last_error(), "/proc/self/task") ||
      strstr(hotpatch_last_error(), "not every thread stopped"))
    return 2;
  if (ap_value(5) != 6 || hotpatch_is_applied(p) != 0)
    return 3;
  return 0;
}

static void an_unreadable_task_list_is_an_io_error(void **state) {
  (void)state;
  int st = ap_in_child(unreadable_task_list_child);
  if (st == 77) {
    printf("SKIPPED: seccomp filters are not available here (qemu-user "
           "refuses them)\n");
    skip();
  }
  assert_int_equal(st, 0);
}

/* --- fork() from another thread while actions run ------------------------ */

static hotpatch_patch *fork_patch;

/* In the child: patch and unpatch, whatever state it inherited. */
static int fork_child_work(void) {
  struct hotpatch_opts o = opts_ms(2000);
  int applied = hotpatch_is_applied(fork_patch);
  if (applied < 0)
    return 30;
  if (ap_value(5) != (applied ? 1006 : 6))
    return 31;
  for (int k = 0; k < 2; k++) {
    int rc = applied ? hotpatch_revert(fork_patch, &o)
                     : hotpatch_apply(fork_patch, &o);
    if (rc) {
      fprintf(stderr, "fork child: %s: %s\n", applied ? "revert" : "apply",
              hotpatch_last_error());
      return 32;
    }
    applied = !applied;
    if (ap_value(5) != (applied ? 1006 : 6) ||
        ap_other(5) != (applied ? 2015 : 15))
      return 33;
  }
  return 0;
}

struct forker {
  int forks, failed, first_status;
  atomic_int done;
};

static void *forker_main(void *v) {
  struct forker *f = v;
  for (int i = 0; i < f->forks; i++) {
    int st = ap_in_child(fork_child_work);
    if (st != 0 && f->failed++ == 0)
      f->first_status = st;
  }
  atomic_store(&f->done, 1);
  return NULL;
}

static void a_child_forked_during_actions_can_patch(void **state) {
  (void)state;
  fork_patch = ap_register_value_other("forked");
  struct forker f = {.forks = pu_under_qemu() ? 4 : 20};
  pthread_t t = pu_spawn(forker_main, &f);
  int cycles = 0;
  struct hotpatch_opts o = opts_ms(2000);
  while (!atomic_load(&f.done)) {
    int rc = hotpatch_apply(fork_patch, &o);
    if (rc)
      fail_msg("parent apply: %s", hotpatch_last_error());
    rc = hotpatch_revert(fork_patch, &o);
    if (rc)
      fail_msg("parent revert: %s", hotpatch_last_error());
    cycles++;
  }
  pthread_join(t, NULL);
  printf("apply: %d children forked during %d apply/revert cycles, %d "
         "failed (first exit status %d)\n",
         f.forks, cycles, f.failed, f.first_status);
  assert_int_equal(f.failed, 0);
  assert_int_equal(ap_value(5), 6);
  assert_int_equal(hotpatch_unload(fork_patch), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(a_user_thread_named_iou_is_parked_and_checked),
      cmocka_unit_test(a_real_io_uring_worker_is_skipped),
      cmocka_unit_test(actions_work_after_the_main_thread_exits),
      cmocka_unit_test(a_thread_blocking_the_signal_fails_in_time_and_is_named),
      cmocka_unit_test(more_threads_than_slots_are_prepared_for_again),
      cmocka_unit_test(an_unreadable_task_list_is_an_io_error),
      cmocka_unit_test(a_child_forked_during_actions_can_patch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
