/* SPDX-License-Identifier: MIT */
/*
 * Pools of executable memory near their users (contract in nearmem.h).
 *
 * A pool is one private anonymous r-x mapping of up to HP_POOL_SIZE bytes;
 * its blocks are runs of 16-byte granules marked in a bitmap, found first
 * fit. Pool descriptors are never freed: an empty pool's mapping is
 * unmapped and its descriptor reused, so that hp_near_contains can walk
 * the list at any moment without a lock and never touch freed memory.
 *
 * Writing a block keeps its page executable throughout, since other
 * threads may be running other blocks of that page: rwx then r-x, or
 * /proc/self/mem. When the process allows neither (only rw then r-x
 * works), blocks are whole pages of their own, so a block's pages hold
 * nothing another thread could be running while they are written (a block
 * is written before anything branches to it; writing a live block again
 * is then unsafe).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "arch/host.h"
#include "codewrite.h"
#include "errors.h"
#include "log.h"
#include "maps.h"
#include "nearmem.h"

#define HP_POOL_SIZE ((size_t)64 * 1024)
#define HP_GRAN 16
#define HP_GRANS (HP_POOL_SIZE / HP_GRAN)
#define HP_WORDS (HP_GRANS / 64)
#define HP_RX (PROT_READ | PROT_EXEC)
#define HP_SEARCH_ROUNDS 3
#define HP_MIN_ADDR ((uintptr_t)0x10000) /* default vm.mmap_min_addr */
/* Kept free above the brk heap, which cannot grow past a mapping. */
#define HP_BRK_ROOM ((uintptr_t)64 << 20)
/* At most this much of RLIMIT_STACK is kept free below the main stack:
 * windows are +-2 GiB, and keeping more would leave no room for code
 * mapped near the stack (unlimited stacks get this much too). */
#define HP_STACK_ROOM_MAX ((uintptr_t)1 << 30)

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

/*
 * Memory ordering, for hp_near_contains (a lock-free reader, possibly in a
 * signal handler, possibly on the thread that holds hp_near_lock):
 * - A descriptor is fully initialised before it is pushed on hp_pools with
 *   a release store; readers load hp_pools and next with acquire.
 * - base and size change only while seq is odd (a seqlock): the writer
 *   stores seq odd, issues a release fence, changes them, and stores seq
 *   even with release. The reader loads seq with acquire, then base, size
 *   and the bitmap word, then an acquire fence, then seq again, and trusts
 *   what it read only if seq was even and unchanged. It never waits: a
 *   pool whose seq is odd is being created or destroyed and holds no live
 *   block, so skipping it gives the right answer.
 * - used[] bits change with release stores while seq stays even (blocks
 *   come and go in a mapped pool); the reader loads them with acquire.
 */
struct hp_pool {
  struct hp_pool *_Atomic next; /* set before publication, then fixed */
  atomic_uint seq;
  atomic_uintptr_t base;
  atomic_size_t size; /* 0: no mapping; the descriptor is free */
  atomic_uint_least64_t used[HP_WORDS]; /* granules in live blocks */
  size_t nblocks;                       /* under hp_near_lock */
};

static pthread_mutex_t hp_near_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hp_pool *_Atomic hp_pools;
static atomic_size_t hp_mapped;

#define LOAD(p, mo) atomic_load_explicit(p, memory_order_##mo)
#define STORE(p, v, mo) atomic_store_explicit(p, v, memory_order_##mo)

static size_t hp_page(void) { return (size_t)sysconf(_SC_PAGESIZE); }

/* How pools are written: keep X (rwx, /proc/self/mem) if possible. */
static int hp_near_method(void) {
  unsigned m = hp_write_methods();
  if (m & 1u << HP_WRITE_RWX)
    return HP_WRITE_RWX;
  if (m & 1u << HP_WRITE_PROC_MEM)
    return HP_WRITE_PROC_MEM;
  if (m & 1u << HP_WRITE_RW)
    return HP_WRITE_RW;
  return HP_WRITE_NONE;
}

static int hp_align_up(uintptr_t x, size_t a, uintptr_t *out) {
  uintptr_t r = (x + (a - 1)) & ~(uintptr_t)(a - 1);
  if (r < x)
    return -1;
  *out = r;
  return 0;
}

/*
 * First fit for `need` bytes aligned to `align` with every byte inside
 * both [base, base + size) and [lo, hi]. `used` NULL means an empty pool.
 */
static int hp_fit(uintptr_t base, size_t size,
                  const atomic_uint_least64_t *used, uintptr_t lo, uintptr_t hi,
                  size_t need, size_t align, uintptr_t *out) {
  uintptr_t from = base > lo ? base : lo;
  uintptr_t last = base + size - 1 < hi ? base + size - 1 : hi;
  uintptr_t s;
  if (from > last || hp_align_up(from, align, &s))
    return 0;
  while (s <= last && last - s + 1 >= need) {
    size_t g0 = (s - base) / HP_GRAN, n = need / HP_GRAN, j;
    for (j = g0; used && j < g0 + n; j++)
      if (LOAD(&used[j / 64], relaxed) >> (j % 64) & 1)
        break;
    if (!used || j == g0 + n) {
      *out = s;
      return 1;
    }
    if (hp_align_up(base + (j + 1) * HP_GRAN, align, &s))
      return 0;
  }
  return 0;
}

static void hp_mark(struct hp_pool *p, uintptr_t addr, size_t len, int set) {
  uintptr_t base = LOAD(&p->base, relaxed);
  size_t g0 = (addr - base) / HP_GRAN, n = len / HP_GRAN;
  for (size_t j = g0; j < g0 + n; j++) {
    uint_least64_t w = LOAD(&p->used[j / 64], relaxed);
    uint_least64_t bit = (uint_least64_t)1 << (j % 64);
    STORE(&p->used[j / 64], set ? w | bit : w & ~bit, release);
  }
}

/* Change a descriptor's mapping under the seqlock (see above). */
static void hp_pool_set(struct hp_pool *p, uintptr_t base, size_t size) {
  unsigned s = LOAD(&p->seq, relaxed);
  STORE(&p->seq, s + 1, relaxed);
  atomic_thread_fence(memory_order_release);
  STORE(&p->base, base, relaxed);
  STORE(&p->size, size, relaxed);
  STORE(&p->seq, s + 2, release);
}

static int hp_accept(void *r, size_t sz, uintptr_t lo, uintptr_t hi,
                     size_t need, size_t align) {
  uintptr_t a;
  if (r == MAP_FAILED)
    return 0;
  if (hp_fit((uintptr_t)r, sz, NULL, lo, hi, need, align, &a))
    return 1;
  munmap(r, sz);
  return 0;
}

static int hp_cand_cmp(const void *a, const void *b) {
  uintptr_t x = ((const struct hp_near_cand *)a)->dist;
  uintptr_t y = ((const struct hp_near_cand *)b)->dist;
  return x < y ? -1 : x > y;
}

static void hp_add_cand(struct hp_near_cand *c, size_t *n, uintptr_t addr,
                        size_t size, uintptr_t mid, uintptr_t lo, uintptr_t hi,
                        size_t need, size_t align) {
  uintptr_t a, m = addr + size / 2;
  if (!hp_fit(addr, size, NULL, lo, hi, need, align, &a))
    return;
  for (size_t i = 0; i < *n; i++)
    if (c[i].addr == addr && c[i].size == size)
      return;
  c[*n] = (struct hp_near_cand){addr, size, m > mid ? m - mid : mid - m};
  (*n)++;
}

size_t hp_near_stack_room(void) {
  struct rlimit rl;
  uintptr_t lim = HP_STACK_ROOM_MAX;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
      rl.rlim_cur < HP_STACK_ROOM_MAX)
    lim = (uintptr_t)rl.rlim_cur;
  /* The kernel keeps stack_guard_gap (256 pages by default) between a
   * growing stack and the mapping below it. */
  return lim + 256 * hp_page();
}

size_t hp_near_candidates(const struct hp_maps *maps, uintptr_t lo,
                          uintptr_t hi, size_t need, size_t align,
                          size_t stack_room, struct hp_near_cand *c) {
  size_t pg = hp_page();
  uintptr_t mask = ~(uintptr_t)(pg - 1);
  uintptr_t wlo = lo & mask;
  uintptr_t whi = hi + 1 == 0 ? mask : ((hi + 1 + pg - 1) & mask);
  if (whi == 0)
    whi = mask;
  uintptr_t mid = lo + (hi - lo) / 2;
  size_t n = 0;
  uintptr_t gs = HP_MIN_ADDR;
  int after_heap = 0;
  for (size_t i = 0; i <= maps->n; i++) {
    uintptr_t ge = i < maps->n ? maps->v[i].start : mask;
    uintptr_t g0 = gs > wlo ? gs : wlo, g1 = ge < whi ? ge : whi;
    if (after_heap && ge - gs > HP_BRK_ROOM && g0 < gs + HP_BRK_ROOM)
      g0 = gs + HP_BRK_ROOM;
    /* The main stack grows down into this gap up to its limit: a pool
     * there would cap it. A gap smaller than that room is left alone. */
    if (i < maps->n && maps->v[i].stack && ge >= gs) {
      uintptr_t top = ge - gs > stack_room ? (ge - stack_room) & mask : gs;
      if (g1 > top)
        g1 = top;
    }
    after_heap = i < maps->n && maps->v[i].heap;
    if (i < maps->n && maps->v[i].end > gs)
      gs = maps->v[i].end;
    if (g1 <= g0)
      continue;
    size_t sz = g1 - g0 < HP_POOL_SIZE ? g1 - g0 : HP_POOL_SIZE;
    hp_add_cand(c, &n, g0, sz, mid, lo, hi, need, align);
    hp_add_cand(c, &n, g1 - sz, sz, mid, lo, hi, need, align);
  }
  qsort(c, n, sizeof *c, hp_cand_cmp);
  return n;
}

/*
 * The candidates of hp_near_candidates in a fresh read of the maps, each
 * mapped with MAP_FIXED_NOREPLACE, which fails rather than replace
 * anything; kernels before 4.17 ignore the flag and take the address as a
 * hint, so the result is checked like any hint's.
 */
static int hp_search_gaps(uintptr_t lo, uintptr_t hi, size_t need, size_t align,
                          uintptr_t *base, size_t *size, size_t *tried) {
  struct hp_maps maps;
  int rc = hp_maps_read(&maps);
  if (rc)
    return rc;
  struct hp_near_cand *c = malloc((2 * maps.n + 2) * sizeof *c);
  if (!c) {
    hp_maps_free(&maps);
    return hp_fail(HOTPATCH_ENOMEM, "near memory: candidate list");
  }
  size_t n =
      hp_near_candidates(&maps, lo, hi, need, align, hp_near_stack_room(), c);
  hp_maps_free(&maps);
  int found = 0;
  for (size_t i = 0; i < n && !found; i++) {
    void *r = mmap((void *)c[i].addr, c[i].size, HP_RX,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    (*tried)++;
    if (hp_accept(r, c[i].size, lo, hi, need, align)) {
      *base = (uintptr_t)r;
      *size = c[i].size;
      found = 1;
    }
  }
  free(c);
  return found;
}

/* A new mapping for a pool that can hold the block; never MAP_FIXED. */
static int hp_pool_map(uintptr_t lo, uintptr_t hi, size_t need, size_t align,
                       uintptr_t *base, size_t *size) {
  int anywhere = lo == 0 && hi == UINTPTR_MAX;
  uintptr_t mid = lo + (hi - lo) / 2;
  uintptr_t hint = (mid & ~(uintptr_t)(hp_page() - 1));
  hint = hint > HP_POOL_SIZE / 2 ? hint - HP_POOL_SIZE / 2 : 0;
  void *r = mmap(anywhere ? NULL : (void *)hint, HP_POOL_SIZE, HP_RX,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (anywhere && r == MAP_FAILED)
    return hp_fail(HOTPATCH_ENOMEM, "near memory: mmap of %zu bytes: %s",
                   HP_POOL_SIZE, strerror(errno));
  if (hp_accept(r, HP_POOL_SIZE, lo, hi, need, align)) {
    *base = (uintptr_t)r;
    *size = HP_POOL_SIZE;
    return 0;
  }
  /* The map changes under us (other threads map and unmap): a few
   * rounds, each from a fresh read. */
  size_t tried = 1;
  for (int round = 0; round < HP_SEARCH_ROUNDS; round++) {
    int f = hp_search_gaps(lo, hi, need, align, base, size, &tried);
    if (f < 0)
      return f;
    if (f)
      return 0;
  }
  return hp_fail(HOTPATCH_ENONEAR,
                 "no free address range for %zu bytes (aligned to %zu) in "
                 "the window [0x%lx, 0x%lx] (%zu places tried)",
                 need, align, (unsigned long)lo, (unsigned long)hi, tried);
}

/* A descriptor for a new mapping: a free one, else a new one published. */
static struct hp_pool *hp_pool_new(uintptr_t base, size_t size) {
  for (struct hp_pool *p = LOAD(&hp_pools, relaxed); p;
       p = LOAD(&p->next, relaxed))
    if (!LOAD(&p->size, relaxed)) {
      hp_pool_set(p, base, size);
      return p;
    }
  struct hp_pool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  STORE(&p->base, base, relaxed);
  STORE(&p->size, size, relaxed);
  STORE(&p->next, LOAD(&hp_pools, relaxed), relaxed);
  STORE(&hp_pools, p, release);
  return p;
}

int hp_near_alloc(uint64_t lo, uint64_t hi, size_t size, size_t align,
                  struct hp_near *out) {
  memset(out, 0, sizeof *out);
  if (lo == 0 && hi == 0)
    hi = UINTPTR_MAX;
  if (!size || !align || (align & (align - 1)) || align > 64 || lo > hi)
    return hp_fail(HOTPATCH_EINVAL,
                   "near memory: %zu bytes aligned to %zu in [0x%llx, "
                   "0x%llx]",
                   size, align, (unsigned long long)lo, (unsigned long long)hi);
  /* Blocks are whole pages when pools can only be written without X. */
  size_t unit = hp_near_method() == HP_WRITE_RW ? hp_page() : HP_GRAN;
  size_t need = (size + unit - 1) / unit * unit;
  size_t al = align > unit ? align : unit;
  if (size > HP_POOL_SIZE || need > HP_POOL_SIZE || hp_page() > HP_POOL_SIZE)
    return hp_fail(HOTPATCH_EINVAL,
                   "near memory: %zu bytes is more than a pool (%zu bytes, "
                   "page %zu)",
                   size, HP_POOL_SIZE, hp_page());

  pthread_mutex_lock(&hp_near_lock);
  uintptr_t addr = 0;
  struct hp_pool *p;
  for (p = LOAD(&hp_pools, relaxed); p; p = LOAD(&p->next, relaxed)) {
    size_t psz = LOAD(&p->size, relaxed);
    if (psz && hp_fit(LOAD(&p->base, relaxed), psz, p->used, (uintptr_t)lo,
                      (uintptr_t)hi, need, al, &addr))
      break;
  }
  int rc = 0;
  if (!p) {
    uintptr_t base = 0;
    size_t psz = 0;
    rc = hp_pool_map((uintptr_t)lo, (uintptr_t)hi, need, al, &base, &psz);
    if (!rc && !(p = hp_pool_new(base, psz))) {
      munmap((void *)base, psz);
      rc = hp_fail(HOTPATCH_ENOMEM, "near memory: pool descriptor");
    }
    if (!rc) {
      atomic_fetch_add(&hp_mapped, psz);
      hp_debug("near memory: pool 0x%lx-0x%lx for the window [0x%lx, 0x%lx]",
               (unsigned long)base, (unsigned long)(base + psz),
               (unsigned long)lo, (unsigned long)hi);
      hp_fit(base, psz, p->used, (uintptr_t)lo, (uintptr_t)hi, need, al, &addr);
    }
  }
  if (!rc) {
    hp_mark(p, addr, need, 1);
    p->nblocks++;
    *out = (struct hp_near){addr, need, p};
  }
  pthread_mutex_unlock(&hp_near_lock);
  return rc;
}

void hp_near_free(struct hp_near *b) {
  if (!b || !b->addr)
    return;
  struct hp_pool *p = b->pool;
  pthread_mutex_lock(&hp_near_lock);
  uintptr_t base = LOAD(&p->base, relaxed);
  size_t size = LOAD(&p->size, relaxed);
  if (b->addr - base < size) {
    hp_mark(p, b->addr, b->size, 0);
    if (--p->nblocks == 0) {
      /* Unmapped under seq odd, so a reader never sees a range that
       * another mmap may already have reused. */
      unsigned s = LOAD(&p->seq, relaxed);
      STORE(&p->seq, s + 1, relaxed);
      atomic_thread_fence(memory_order_release);
      munmap((void *)base, size);
      atomic_fetch_sub(&hp_mapped, size);
      STORE(&p->base, 0, relaxed);
      STORE(&p->size, 0, relaxed);
      STORE(&p->seq, s + 2, release);
    }
  }
  pthread_mutex_unlock(&hp_near_lock);
  *b = (struct hp_near){0, 0, NULL};
}

/* mprotect `wprot`, copy, mprotect r-x. 1 (detail set) if the first
 * mprotect was refused and nothing changed; HOTPATCH_ECODEWRITE if r-x
 * could not be put back (the pages are then r--, or ---). */
static int hp_write_mprotect(uintptr_t addr, const void *bytes, size_t len,
                             int wprot) {
  uintptr_t mask = ~(uintptr_t)(hp_page() - 1);
  uintptr_t p0 = addr & mask, p1 = (addr + len + hp_page() - 1) & mask;
  const char *how = wprot & PROT_EXEC ? "rwx" : "rw-";
  if (mprotect((void *)p0, p1 - p0, wprot) != 0) {
    hp_fail(HOTPATCH_ECODEWRITE, "near memory 0x%lx: mprotect(%s): %s",
            (unsigned long)addr, how, strerror(errno));
    return 1;
  }
  memcpy((void *)addr, bytes, len);
  /* Never left writable: r-x again, retried (ENOMEM from the map count
   * can pass as other threads unmap), else r-- (the page's other blocks
   * stop running: a crash there is better than writable code), else
   * nothing. */
  int e = 0;
  for (int i = 0; i < 3; i++) {
    if (mprotect((void *)p0, p1 - p0, HP_RX) == 0)
      return 0;
    e = errno;
  }
  const char *left = "r--";
  if (mprotect((void *)p0, p1 - p0, PROT_READ) != 0)
    left = mprotect((void *)p0, p1 - p0, PROT_NONE) == 0 ? "---" : how;
  hp_error("near memory 0x%lx-0x%lx left %s: mprotect(r-x) after writing: "
           "%s",
           (unsigned long)p0, (unsigned long)p1, left, strerror(e));
  return hp_fail(HOTPATCH_ECODEWRITE,
                 "near memory 0x%lx-0x%lx left %s: mprotect(r-x) after "
                 "writing: %s",
                 (unsigned long)p0, (unsigned long)p1, left, strerror(e));
}

static int hp_write_procmem(uintptr_t addr, const void *bytes, size_t len) {
  int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return hp_fail(HOTPATCH_ECODEWRITE, "near memory: open /proc/self/mem: %s",
                   strerror(errno));
  /* Opened per write: a descriptor kept open would, after fork(), still
   * write the parent's memory. */
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, (const char *)bytes + done, len - done,
                       (off_t)(addr + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      close(fd);
      return hp_fail(HOTPATCH_ECODEWRITE,
                     "near memory 0x%lx: pwrite to /proc/self/mem: %s",
                     (unsigned long)(addr + done), strerror(e));
    }
    done += (size_t)n;
  }
  close(fd);
  return 0;
}

int hp_near_write(const struct hp_near *b, const void *bytes, size_t len) {
  if (!b || !b->addr || len > b->size || (len && !bytes))
    return hp_fail(HOTPATCH_EINVAL, "near memory write of %zu bytes to %s", len,
                   b && b->addr ? "a smaller block" : "no block");
  if (!len)
    return 0;
  int m = hp_near_method();
  if (m == HP_WRITE_NONE) {
    int rc = hp_write_method();
    return rc < 0 ? rc : hp_fail(HOTPATCH_ECODEWRITE, "no write method");
  }
  /* One writer at a time: two rwx writers in one page would otherwise
   * restore r-x under each other's copy. */
  pthread_mutex_lock(&hp_near_lock);
  int rc = 1;
  if (m != HP_WRITE_PROC_MEM)
    rc =
        hp_write_mprotect(b->addr, bytes, len,
                          m == HP_WRITE_RWX ? PROT_READ | PROT_WRITE | PROT_EXEC
                                            : PROT_READ | PROT_WRITE);
  /* The probe's page is a file's: a policy may still refuse rwx on
   * anonymous memory (SELinux execmem rather than execmod). */
  if (rc == 1 && (hp_write_methods() & 1u << HP_WRITE_PROC_MEM))
    rc = hp_write_procmem(b->addr, bytes, len);
  if (rc == 1)
    rc = HOTPATCH_ECODEWRITE;
  pthread_mutex_unlock(&hp_near_lock);
  if (!rc)
    hp_arch_flush_code(b->addr, len);
  return rc;
}

int hp_near_contains(uintptr_t pc) {
  for (struct hp_pool *p = LOAD(&hp_pools, acquire); p;
       p = LOAD(&p->next, acquire)) {
    unsigned s1 = LOAD(&p->seq, acquire);
    if (s1 & 1)
      continue;
    uintptr_t base = LOAD(&p->base, relaxed);
    size_t size = LOAD(&p->size, relaxed);
    if (pc - base >= size || size > HP_POOL_SIZE)
      continue;
    size_t g = (pc - base) / HP_GRAN;
    uint_least64_t w = LOAD(&p->used[g / 64], acquire);
    atomic_thread_fence(memory_order_acquire);
    if (LOAD(&p->seq, relaxed) != s1)
      continue;
    return (int)(w >> (g % 64) & 1);
  }
  return 0;
}

size_t hp_near_mapped(void) { return LOAD(&hp_mapped, relaxed); }

/* The forking thread holds the lock across fork(), so the child's copy of
 * the pools is never caught half-changed and its lock is free. */
void hp_near_atfork_prepare(void) { pthread_mutex_lock(&hp_near_lock); }
void hp_near_atfork_parent(void) { pthread_mutex_unlock(&hp_near_lock); }
void hp_near_atfork_child(void) { pthread_mutex_unlock(&hp_near_lock); }
