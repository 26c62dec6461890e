/* SPDX-License-Identifier: MIT */
#include "lc_util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hp_test.h"

#define LC_MAX 128
#define LC_LEN 64

static char lc_ev[LC_MAX][LC_LEN];
static atomic_int lc_n;
static void (*lc_cb)(hotpatch_patch *, const char *, const char *, int);

static struct {
  char patch[32], hook[32];
  int rc, times;
} lc_rets[16];
static int lc_nrets;

/* Byte loops, not libc: this runs with every other thread parked. */
static int lc_eq(const char *a, const char *b) {
  while (*a && *a == *b)
    a++, b++;
  return *a == *b;
}

static size_t lc_cat(char *dst, size_t at, const char *s) {
  while (*s && at < LC_LEN - 1)
    dst[at++] = *s++;
  dst[at] = '\0';
  return at;
}

static size_t lc_cat_int(char *dst, size_t at, int v) {
  char tmp[16];
  int n = 0;
  unsigned u = v < 0 ? -(unsigned)v : (unsigned)v;
  do
    tmp[n++] = (char)('0' + u % 10);
  while ((u /= 10) && n < 15);
  if (v < 0 && at < LC_LEN - 1)
    dst[at++] = '-';
  while (n && at < LC_LEN - 1)
    dst[at++] = tmp[--n];
  dst[at] = '\0';
  return at;
}

static char *lc_slot(void) {
  int i = atomic_fetch_add(&lc_n, 1);
  return i < LC_MAX ? lc_ev[i] : NULL;
}

void lc_add(const char *ev) {
  char *e = lc_slot();
  if (e)
    lc_cat(e, 0, ev);
}

int lc_hook(hotpatch_patch *p, const char *patch, const char *hook, int rc) {
  char *e = lc_slot();
  int post = hook[0] == 'p' && hook[1] == 'o';
  if (e) {
    size_t at = lc_cat(e, 0, patch);
    at = lc_cat(e, at, ".");
    at = lc_cat(e, at, hook);
    if (post) {
      at = lc_cat(e, at, "(");
      at = lc_cat_int(e, at, rc);
      lc_cat(e, at, ")");
    }
  }
  if (lc_cb)
    lc_cb(p, patch, hook, rc);
  for (int i = 0; i < lc_nrets; i++)
    if (lc_eq(lc_rets[i].patch, patch) && lc_eq(lc_rets[i].hook, hook)) {
      if (lc_rets[i].times < 0)
        continue;
      int r = lc_rets[i].rc;
      if (lc_rets[i].times > 0 && --lc_rets[i].times == 0)
        lc_rets[i].times = -1; /* used up */
      return r;
    }
  return 0;
}

void lc_reset(void) {
  atomic_store(&lc_n, 0);
  lc_nrets = 0;
  lc_cb = NULL;
}

const char *lc_log(void) {
  static char buf[LC_MAX * (LC_LEN + 2)];
  buf[0] = '\0';
  int n = atomic_load(&lc_n);
  for (int i = 0; i < n && i < LC_MAX; i++) {
    if (i)
      strcat(buf, ", ");
    strcat(buf, lc_ev[i]);
  }
  return buf;
}

void lc_set_ret(const char *patch, const char *hook, int rc, int times) {
  snprintf(lc_rets[lc_nrets].patch, sizeof lc_rets[0].patch, "%s", patch);
  snprintf(lc_rets[lc_nrets].hook, sizeof lc_rets[0].hook, "%s", hook);
  lc_rets[lc_nrets].rc = rc;
  lc_rets[lc_nrets].times = times;
  lc_nrets++;
}

void lc_set_cb(void (*cb)(hotpatch_patch *, const char *, const char *, int)) {
  lc_cb = cb;
}

static _Thread_local int lc_here;
static pthread_mutex_t lc_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t lc_cv = PTHREAD_COND_INITIALIZER;
static int lc_in, lc_gen;

int lc_should_block(void) { return lc_here; }
void lc_block_here(int on) { lc_here = on; }

void lc_block(void) {
  pthread_mutex_lock(&lc_mu);
  int gen = lc_gen;
  lc_in++;
  pthread_cond_broadcast(&lc_cv);
  while (gen == lc_gen)
    pthread_cond_wait(&lc_cv, &lc_mu);
  lc_in--;
  pthread_mutex_unlock(&lc_mu);
}

int lc_blocked(void) {
  pthread_mutex_lock(&lc_mu);
  int n = lc_in;
  pthread_mutex_unlock(&lc_mu);
  return n;
}

void lc_wait_blocked(int n) {
  pthread_mutex_lock(&lc_mu);
  while (lc_in < n)
    pthread_cond_wait(&lc_cv, &lc_mu);
  pthread_mutex_unlock(&lc_mu);
}

void lc_unblock_all(void) {
  pthread_mutex_lock(&lc_mu);
  lc_gen++;
  pthread_cond_broadcast(&lc_cv);
  pthread_mutex_unlock(&lc_mu);
}

hotpatch_patch *lc_load(const char *path) {
  hotpatch_patch *p = NULL;
  int rc = hotpatch_load(path, &p);
  if (rc)
    fail_msg("load %s: %s: %s", path, hotpatch_err_name(rc),
             hotpatch_last_error());
  return p;
}

struct hotpatch_status lc_st(const hotpatch_patch *p) {
  struct hotpatch_status st;
  memset(&st, 0, sizeof st);
  if (hotpatch_status(p, &st))
    fail_msg("hotpatch_status: bad handle");
  return st;
}

void lc_apply_ok(hotpatch_patch *p) {
  int rc = hotpatch_apply(p, NULL);
  if (rc)
    fail_msg("apply %s: %s: %s", hotpatch_name(p), hotpatch_err_name(rc),
             hotpatch_last_error());
}

void lc_revert_ok(hotpatch_patch *p) {
  int rc = hotpatch_revert(p, NULL);
  if (rc)
    fail_msg("revert %s: %s: %s", hotpatch_name(p), hotpatch_err_name(rc),
             hotpatch_last_error());
}
