/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <gnu/libc-version.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/syscall.h"
#include "errors.h"
#include "log.h"
#include "safepoint.h"
#include "unwind.h"

/* The kernel prints "%08lx-%08lx %c%c%c%c %08llx %02x:%02x %lu ": no line is
 * shorter than 40 bytes, so this many entries always hold a full buffer. */
#define HP_MAPS_MIN_LINE 32

/* The most libc's thread start may hold above its SP: a few words. */
#define HP_OUTERMOST_MAX 1024u

#define HP_MAPS_PATH "/proc/self/maps"
/* The same for the calling thread: /proc/self/maps reads the group
 * leader's, which is empty once the leader has called pthread_exit(). Not
 * under qemu-user, which emulates only /proc/self/maps (thread-self shows
 * the host's view of the emulator). */
#define HP_MAPS_THREAD_PATH "/proc/thread-self/maps"

/* Bytes in /proc/self/maps now (a libc read: threads are running). */
static int hp_maps_size(int fd, size_t *out) {
  char chunk[4096];
  size_t n = 0;
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return hp_fail(HOTPATCH_EIO, "reading " HP_MAPS_PATH ": %s",
                     strerror(errno));
    if (r == 0)
      break;
    n += (size_t)r;
  }
  *out = n;
  return 0;
}

static int hp_safepoint_prepare_unwind(struct hp_safepoint *sp);

int hp_safepoint_prepare(struct hp_safepoint *sp, const struct hp_hot *hot,
                         size_t nhot) {
  if (!sp || (nhot && !hot))
    return hp_fail(HOTPATCH_EINVAL, "safepoint: NULL %s",
                   sp ? "hot ranges" : "state");
  *sp = (struct hp_safepoint){.hot = hot, .nhot = nhot, .maps_fd = -1};
  sp->hot_lo = UINTPTR_MAX;
  for (size_t i = 0; i < nhot; i++) {
    if (hot[i].lo < sp->hot_lo)
      sp->hot_lo = hot[i].lo;
    if (hot[i].hi > sp->hot_hi)
      sp->hot_hi = hot[i].hi;
  }
  sp->maps_path = HP_MAPS_PATH;
  sp->maps_fd = open(HP_MAPS_PATH, O_RDONLY | O_CLOEXEC);
  if (sp->maps_fd < 0)
    return hp_fail(HOTPATCH_EIO, "cannot open " HP_MAPS_PATH ": %s",
                   strerror(errno));
  size_t size;
  int rc = hp_maps_size(sp->maps_fd, &size);
  if (!rc && size == 0 && !hp_park_emulated()) {
    /* A process always has mappings: the leader is a zombie. */
    int fd = open(HP_MAPS_THREAD_PATH, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      close(sp->maps_fd);
      sp->maps_fd = fd;
      sp->maps_path = HP_MAPS_THREAD_PATH;
      rc = hp_maps_size(sp->maps_fd, &size);
    }
  }
  if (!rc) {
    /* Twice today's size: room for the stacks of threads started before
     * the stop and for the mappings they split. */
    sp->maps_cap = 2 * size + (64u << 10);
    sp->maps_max = sp->maps_cap / HP_MAPS_MIN_LINE + 1;
    sp->maps_buf = malloc(sp->maps_cap);
    sp->maps = calloc(sp->maps_max, sizeof *sp->maps);
    if (!sp->maps_buf || !sp->maps)
      rc = hp_fail(HOTPATCH_ENOMEM, "safepoint: %zu bytes for " HP_MAPS_PATH,
                   sp->maps_cap + sp->maps_max * sizeof *sp->maps);
  }
  if (!rc)
    rc = hp_safepoint_prepare_unwind(sp);
  if (rc)
    hp_safepoint_finish(sp);
  return rc;
}

void hp_safepoint_finish(struct hp_safepoint *sp) {
  if (!sp)
    return;
  hp_unwind_finish(sp->uw);
  free(sp->maps_buf);
  free(sp->maps);
  if (sp->maps_fd >= 0)
    close(sp->maps_fd);
  *sp = (struct hp_safepoint){.maps_fd = -1};
}

/* ---- While parked: no libc beyond inline code, no allocation. ---- */

static const char *hp_hex(const char *s, const char *end, uintptr_t *out) {
  uintptr_t v = 0;
  const char *p = s;
  for (; p < end; p++) {
    unsigned d;
    if (*p >= '0' && *p <= '9')
      d = (unsigned)(*p - '0');
    else if (*p >= 'a' && *p <= 'f')
      d = (unsigned)(*p - 'a' + 10);
    else
      break;
    v = v << 4 | d;
  }
  *out = v;
  return p == s ? NULL : p;
}

/* Read the whole file into maps_buf: opened afresh, since qemu-user serves
 * a snapshot per open; the prepared fd when no descriptor is left. */
static const char *hp_maps_load(struct hp_safepoint *sp, size_t *len) {
  long fd = hp_sys_openat(AT_FDCWD, sp->maps_path, O_RDONLY | O_CLOEXEC);
  int own = fd >= 0;
  if (!own)
    fd = sp->maps_fd;
  const char *why = NULL;
  size_t n = 0;
  for (;;) {
    if (n == sp->maps_cap) {
      why = HP_SP_MAPS_BIG;
      break;
    }
    long r =
        hp_sys_pread64((int)fd, sp->maps_buf + n, sp->maps_cap - n, (off_t)n);
    if (r == -EINTR)
      continue;
    if (r < 0) {
      why = HP_SP_MAPS_READ;
      break;
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  if (own)
    hp_sys_close((int)fd);
  *len = n;
  return why;
}

static const char *hp_dec(const char *s, const char *end, uint64_t *out) {
  uint64_t v = 0;
  const char *p = s;
  for (; p < end && *p >= '0' && *p <= '9'; p++)
    v = v * 10 + (uint64_t)(*p - '0');
  *out = v;
  return p == s ? NULL : p;
}

/* What the unwinder may read, from the name column: private memory with
 * no file behind it, and the vDSO. [vvar] and the like are never read. */
static unsigned hp_map_kind(const char *name, const char *eol, uint64_t inode,
                            unsigned flags) {
  size_t n = (size_t)(eol - name);
  if (n == 6 && !memcmp(name, "[vdso]", 6))
    return HP_MAP_VDSO;
  int anon = n == 0 || (n == 7 && !memcmp(name, "[stack]", 7)) ||
             (n == 6 && !memcmp(name, "[heap]", 6)) ||
             (n > 7 && !memcmp(name, "[stack:", 7)) ||
             (n > 6 && !memcmp(name, "[anon:", 6));
  return anon && !inode && (flags & HP_MAP_PRIVATE) ? HP_MAP_ANON : 0;
}

/* "start-end perms offset major:minor inode name" lines, in address
 * order, into sp->maps. */
static const char *hp_maps_parse(struct hp_safepoint *sp, size_t len) {
  const char *s = sp->maps_buf, *end = s + len;
  uintptr_t prev_end = 0;
  sp->nmaps = 0;
  while (s < end) {
    struct hp_sp_map m = {0};
    uintptr_t major, minor;
    s = hp_hex(s, end, &m.start);
    if (!s || s == end || *s++ != '-')
      return HP_SP_MAPS_BAD;
    s = hp_hex(s, end, &m.end);
    if (!s || end - s < 6 || *s++ != ' ')
      return HP_SP_MAPS_BAD;
    m.flags = (s[0] == 'r' ? HP_MAP_R : 0) | (s[1] == 'w' ? HP_MAP_W : 0) |
              (s[3] == 'p' ? HP_MAP_PRIVATE : 0);
    s += 4;
    if (*s++ != ' ' || !(s = hp_hex(s, end, &m.offset)) || s == end ||
        *s++ != ' ' || !(s = hp_hex(s, end, &major)) || s == end ||
        *s++ != ':' || !(s = hp_hex(s, end, &minor)) || s == end ||
        *s++ != ' ' || !(s = hp_dec(s, end, &m.inode)))
      return HP_SP_MAPS_BAD;
    m.dev = (uint64_t)major << 32 | minor;
    if (m.start >= m.end || m.start < prev_end)
      return HP_SP_MAPS_BAD;
    while (s < end && *s == ' ')
      s++;
    const char *name = s;
    while (s < end && *s != '\n')
      s++;
    if (s == end)
      return HP_SP_MAPS_BAD; /* a cut line: read() returns whole ones */
    m.flags |= hp_map_kind(name, s, m.inode, m.flags);
    s++;
    if (sp->nmaps == sp->maps_max)
      return HP_SP_MAPS_BIG;
    sp->maps[sp->nmaps++] = m;
    prev_end = m.end;
  }
  return NULL;
}

/* The mapping holding `addr`, or -1. */
static long hp_maps_find(const struct hp_safepoint *sp, uintptr_t addr) {
  size_t lo = 0, hi = sp->nmaps;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addr < sp->maps[mid].start)
      hi = mid;
    else if (addr >= sp->maps[mid].end)
      lo = mid + 1;
    else
      return (long)mid;
  }
  return -1;
}

/* The hot range a code address is in, if any. Return addresses and LR:
 * a value equal to a range's entry is a function pointer. */
static const struct hp_hot *hp_hot_find(const struct hp_safepoint *sp,
                                        uintptr_t v, int is_pc) {
  if (v < sp->hot_lo || v >= sp->hot_hi)
    return NULL;
  for (size_t i = 0; i < sp->nhot; i++) {
    const struct hp_hot *h = &sp->hot[i];
    if (v < h->lo || v >= h->hi)
      continue;
    if (h->inner_only && v == h->lo)
      continue;
    if (!is_pc && v == h->entry)
      continue;
    return h;
  }
  return NULL;
}

/* Stripping leaves the low bits alone (the PAC field starts at the VA
 * size, 36 bits at the least on Linux): a word whose low 32 bits cannot
 * be those of a hot address is skipped without it. Emulators make XPACLRI
 * a helper call; this makes the scan about as fast there as elsewhere. */
#define HP_LOW_MASK (((uintptr_t)1 << 32) - 1)

/* The first hot word in [*at, hi), its address left in *at. Other
 * threads' stacks hold the sanitizer's poisoned redzones: the words are
 * read as raw memory, uninstrumented. */
__attribute__((no_sanitize_address)) static const struct hp_hot *
hp_scan_words(const struct hp_safepoint *sp, uintptr_t *at, uintptr_t hi) {
  uintptr_t hot_lo = sp->hot_lo;
  uintptr_t span = sp->hot_hi > hot_lo ? sp->hot_hi - hot_lo : 0;
  int low_filter = span <= HP_LOW_MASK;
  for (uintptr_t a = *at; a < hi; a += sizeof(uintptr_t)) {
    uintptr_t w = *(const volatile uintptr_t *)a;
    if (low_filter && ((w - hot_lo) & HP_LOW_MASK) >= span)
      continue;
    w = hp_strip_pac(w);
    if (w - hot_lo >= span)
      continue;
    const struct hp_hot *h = hp_hot_find(sp, w, 0);
    if (h) {
      *at = a;
      return h;
    }
  }
  return NULL;
}

/* [SP & ~7, top): the mapping holding SP and the private read-write
 * mappings directly above it (a stack split by mlock or madvise). A hit
 * the unwinder proves stale is passed over (only with the interrupted
 * context: a cooperative thread's stays); so are the words of the hot
 * table itself. */
static const char *hp_scan_stack(struct hp_safepoint *sp,
                                 const struct hp_slot *s,
                                 const struct hp_hot **why) {
  long i = hp_maps_find(sp, s->sp);
  if (i < 0 || !(sp->maps[i].flags & HP_MAP_R))
    return HP_SP_UNMAPPED;
  uintptr_t lo = s->sp & ~(uintptr_t)(sizeof(uintptr_t) - 1);
  uintptr_t top = sp->maps[i].end;
  const unsigned rwp = HP_MAP_R | HP_MAP_W | HP_MAP_PRIVATE;
  for (size_t j = (size_t)i + 1; j < sp->nmaps; j++) {
    if (top - lo > HP_SCAN_MAX)
      break;
    if (sp->maps[j].start != top || (sp->maps[j].flags & rwp) != rwp)
      break;
    top = sp->maps[j].end;
  }
  if (top - lo > HP_SCAN_MAX)
    return HP_SP_TOO_LARGE;
  int walking = 0;
  uintptr_t tbl_lo = (uintptr_t)sp->hot,
            tbl_hi = (uintptr_t)(sp->hot + sp->nhot);
  for (uintptr_t a = lo; (*why = hp_scan_words(sp, &a, top)) != NULL;
       a += sizeof(uintptr_t)) {
    /* The hot-range table itself, read where a malloc arena lies right
     * above a stack (the scan reads on into adjacent mappings; seen under
     * ASan and qemu-user): its words are the ranges, never a frame's. */
    if (a >= tbl_lo && a < tbl_hi)
      continue;
    if (!sp->uw || !s->uc)
      return HP_SP_STACK;
    if (!walking)
      hp_unwind_start(sp->uw, s->uc, lo, top);
    walking = 1;
    if (hp_unwind_stale(sp->uw, a)) {
      sp->stale++;
      continue;
    }
    /* Above libc's thread start (the outermost frame of every thread
     * pthread_create made, reached cleanly) nothing returns: its TLS and
     * descriptor, then adjacent memory the scan read on into (qemu-user's
     * guest stacks share host mappings with malloc arenas). Only that
     * frame: a walk that ends elsewhere keeps the scan's verdict. */
    uintptr_t outer, ip;
    if (!hp_unwind_outermost(sp->uw, &outer, &ip) || ip < sp->libc_lo ||
        ip >= sp->libc_hi || a < outer + HP_OUTERMOST_MAX)
      return HP_SP_STACK;
    sp->stale++;
    return NULL;
  }
  return NULL;
}

/* Keep what the report needs of an unsafe slot (the slot may be reused
 * by the next stop before the report is written). */
static void hp_sp_record(struct hp_safepoint *sp, const struct hp_slot *s,
                         const struct hp_hot *h, const char *r) {
  if (sp->nunsafe < HP_SP_UNSAFE_MAX) {
    struct hp_sp_unsafe *u = &sp->unsafe[sp->nunsafe++];
    u->tid = s->tid;
    for (size_t k = 0; k < sizeof u->name; k++) /* no libc while parked */
      u->name[k] = s->name[k];
    u->name[sizeof u->name - 1] = 0;
    u->why = h;
    u->reason = r;
  }
  sp->nunsafe_all++;
}

int hp_safepoint_check(struct hp_safepoint *sp, const struct hp_park *p,
                       const struct hp_slot **who, const struct hp_hot **why,
                       const char **reason) {
  int have_maps = 0;
  const char *maps_err = NULL;
  *who = NULL;
  *why = NULL;
  *reason = NULL;
  sp->nunsafe = sp->nunsafe_all = 0;
  /* Every slot, not only up to the first unsafe one: the report names
   * each thread in the way (SPEC §4). */
  for (size_t i = 0; i < p->n; i++) {
    const struct hp_slot *s = &p->slot[i];
    uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (st == HP_SLOT_FREE || st == HP_SLOT_GONE)
      continue;
    const struct hp_hot *h = NULL;
    const char *r = NULL;
    if (st != HP_SLOT_PARKED)
      r = HP_SP_NOT_PARKED;
    else if (s->on_altstack)
      r = HP_SP_ALTSTACK; /* live frames on two stacks: doubt */
    else if ((h = hp_hot_find(sp, s->pc, 1)))
      r = HP_SP_PC;
#if defined(__aarch64__)
    /* A leaf, or any function before it stores x30, keeps its caller's
     * return address only there. */
    else if ((h = hp_hot_find(sp, hp_strip_pac(s->lr), 0)))
      r = HP_SP_LR;
#endif
    else {
      if (!have_maps && !maps_err) {
        size_t len;
        maps_err = hp_maps_load(sp, &len);
        if (!maps_err)
          maps_err = hp_maps_parse(sp, len);
        have_maps = !maps_err;
        if (have_maps && sp->uw)
          hp_unwind_new_check(sp->uw);
      }
      r = maps_err ? maps_err : hp_scan_stack(sp, s, &h);
    }
    if (r) {
      if (!*who) {
        *who = s;
        *why = h;
        *reason = r;
      }
      hp_sp_record(sp, s, h, r);
    }
  }
  return *who ? HOTPATCH_EBUSY : 0;
}

void hp_safepoint_describe(const struct hp_safepoint *sp, char *out,
                           size_t cap) {
  if (!cap)
    return;
  out[0] = 0;
  struct hp_report r = {out, cap, 0, 0};
  for (size_t i = 0; i < sp->nunsafe; i++) {
    const struct hp_sp_unsafe *u = &sp->unsafe[i];
    if (u->why)
      hp_report_add(&r, "thread %d '%s' in %s (%s)", (int)u->tid, u->name,
                    u->why->what, u->reason);
    else
      hp_report_add(&r, "thread %d '%s': %s", (int)u->tid, u->name, u->reason);
  }
  r.more += sp->nunsafe_all - sp->nunsafe;
  hp_report_end(&r);
}

const struct hp_sp_map *hp_sp_map_at(const struct hp_safepoint *sp,
                                     uintptr_t addr) {
  long i = hp_maps_find(sp, addr);
  return i < 0 ? NULL : &sp->maps[i];
}

/* The maps as they are now, for the unwinder to record which file each
 * object is, then the unwinder (which takes the module snapshot after:
 * an object swapped in between is caught as changed, never trusted). */
static int hp_safepoint_prepare_unwind(struct hp_safepoint *sp) {
  size_t len;
  const char *why = hp_maps_load(sp, &len);
  if (!why)
    why = hp_maps_parse(sp, len);
  if (why) {
    hp_info("safepoint: %s at prepare: no precise confirmation", why);
    return 0;
  }
  /* libc's code mapping, where its thread start is (a function of libc's
   * own: pthread_create may be a sanitizer's interceptor). */
  const struct hp_sp_map *m =
      hp_sp_map_at(sp, (uintptr_t)&gnu_get_libc_version);
  if (m) {
    sp->libc_lo = m->start;
    sp->libc_hi = m->end;
  }
  return hp_unwind_prepare(&sp->uw, sp);
}
