/* SPDX-License-Identifier: MIT */
/*
 * demo_server: a stand-in for a long-running daemon with a bug in a static
 * function, patched live while it serves.
 *
 * A client thread sends requests through a pipe; four workers block in
 * read(), handle each request and count the replies. A second into the
 * run the main thread loads the patch and applies it while the workers
 * serve; the nameless requests, answered wrongly before, are answered
 * right from then on; then it reverts and unloads. No request fails, no
 * worker restarts.
 *
 *   demo_server build/examples/demo_patch.so
 */
#define _GNU_SOURCE /* usleep, clock_gettime with -std=c11 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hotpatch.h>

/* The bug: a request without a name gets "hello, " and no name. */
static __attribute__((noinline)) int format_reply(char *out, size_t cap,
                                                  const char *name) {
  return snprintf(out, cap, "hello, %s", name[0] ? name : "");
}

__attribute__((noinline)) int handle_request(const char *req, char *out,
                                             size_t cap) {
  const char *name = strncmp(req, "GET ", 4) == 0 ? req + 4 : "";
  return format_reply(out, cap, name);
}

#define NWORKERS 4
#define REQ_LEN 16 /* fixed-size requests: one read() is one request */

static int req_pipe[2];
static atomic_int running = 1;
static atomic_long served, nameless_ok, nameless_bad;

static void *client(void *arg) {
  (void)arg;
  static const char *const reqs[] = {"GET alice", "GET ", "GET bob"};
  for (unsigned i = 0; atomic_load(&running); i++) {
    char r[REQ_LEN] = {0};
    snprintf(r, sizeof r, "%s", reqs[i % 3]);
    if (write(req_pipe[1], r, sizeof r) != sizeof r)
      break;
    usleep(200);
  }
  close(req_pipe[1]);
  return NULL;
}

static void *worker(void *arg) {
  (void)arg;
  char req[REQ_LEN], reply[64];
  while (read(req_pipe[0], req, sizeof req) == sizeof req) {
    req[REQ_LEN - 1] = '\0';
    handle_request(req, reply, sizeof reply);
    if (!strcmp(req, "GET "))
      atomic_fetch_add(strcmp(reply, "hello, ") ? &nameless_ok : &nameless_bad,
                       1);
    atomic_fetch_add(&served, 1);
  }
  return NULL;
}

static void report(const char *phase) {
  char reply[64];
  handle_request("GET ", reply, sizeof reply);
  printf("  %-10s served %6ld  nameless answered wrong %5ld, right %5ld  "
         "(now: \"%s\")\n",
         phase, atomic_load(&served), atomic_load(&nameless_bad),
         atomic_load(&nameless_ok), reply);
  fflush(stdout);
}

static int fail(const char *what, int rc) {
  fprintf(stderr, "demo_server: %s: %s (%s): %s\n", what, hotpatch_err_name(rc),
          hotpatch_strerror(rc), hotpatch_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATCH.so\n", argv[0]);
    return 2;
  }
  /* Show the library's one-line summary of each action (pause, tries). */
  hotpatch_init(&(struct hotpatch_config){.log_level = HOTPATCH_LOG_INFO});
  printf("demo_server: %d workers serving (libhotpatch %s)\n", NWORKERS,
         hotpatch_version_string());
  if (pipe(req_pipe))
    return 1;
  pthread_t c, w[NWORKERS];
  pthread_create(&c, NULL, client, NULL);
  for (int i = 0; i < NWORKERS; i++)
    pthread_create(&w[i], NULL, worker, NULL);

  sleep(1);
  report("before");
  hotpatch_patch *p;
  int rc = hotpatch_load(argv[1], &p);
  if (rc)
    return fail("load", rc);
  const struct hotpatch_desc *d = hotpatch_desc_of(p);
  printf("demo_server: loaded '%s': %s\n", hotpatch_name(p),
         d->description ? d->description : "");
  struct hotpatch_func_info fi;
  for (size_t i = 0; hotpatch_func_info(p, i, &fi) == 0; i++)
    printf("  %s in %s at %p (%zu bytes)\n", fi.target, fi.object, fi.address,
           fi.size);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  if ((rc = hotpatch_apply(p, NULL)) != 0)
    return fail("apply", rc);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("demo_server: applied live in %.2f ms (all of it, including the "
         "parked window)\n",
         (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6);
  /* A reply formatted just before the switch may be counted just after. */
  usleep(100 * 1000);
  long bad_at_apply = atomic_load(&nameless_bad);
  usleep(900 * 1000);
  report("patched");
  long bad_at_revert = atomic_load(&nameless_bad);
  if ((rc = hotpatch_revert(p, NULL)) != 0)
    return fail("revert", rc);
  printf("demo_server: reverted\n");
  usleep(300 * 1000);
  report("reverted");
  if ((rc = hotpatch_unload(p)) != 0)
    return fail("unload", rc);

  atomic_store(&running, 0);
  pthread_join(c, NULL);
  for (int i = 0; i < NWORKERS; i++)
    pthread_join(w[i], NULL);
  long wrong = bad_at_revert - bad_at_apply;
  printf("demo_server: %ld requests served by the same workers; wrong "
         "answers while patched: %ld\n",
         atomic_load(&served), wrong);
  return wrong ? 1 : 0;
}
