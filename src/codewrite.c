/* SPDX-License-Identifier: MIT */
/*
 * Writing existing code: the probe of what this process allows, then the
 * prepare / commit / finish phases (contract in codewrite.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/host.h"
#include "arch/syscall.h"
#include "codewrite.h"
#include "errors.h"
#include "log.h"
#include "maps.h"

#define HP_PROBE_BYTE 0xa5
#define HP_RX (PROT_READ | PROT_EXEC)

static pthread_once_t hp_probe_once = PTHREAD_ONCE_INIT;
/* Written once under hp_probe_once, read-only afterwards. */
static int hp_method;
static unsigned hp_avail;
static char hp_probe_detail[600];

const char *hp_write_method_name(int method) {
  switch (method) {
  case HP_WRITE_RWX:
    return "rwx";
  case HP_WRITE_RW:
    return "rw";
  case HP_WRITE_PROC_MEM:
    return "procmem";
  }
  return "none";
}

static size_t hp_page_size(void) { return (size_t)sysconf(_SC_PAGESIZE); }

static void *hp_map_file_rx(int fd, size_t pg) {
  void *p = MAP_FAILED;
  if (ftruncate(fd, (off_t)pg) == 0)
    p = mmap(NULL, pg, HP_RX, MAP_PRIVATE, fd, 0);
  int e = errno;
  close(fd);
  errno = e;
  return p;
}

/*
 * A private r-x page of a file. A file page matters: SELinux execmod
 * checks the gain of X on a COW'd private file page, which is what a
 * library's .text becomes once written, and anonymous memory is not
 * checked that way. A memfd needs no filesystem; a file in /tmp is next
 * (vm.memfd_noexec=2 or a seccomp filter may refuse memfd); anonymous
 * memory is the last resort, and the detail says which one was used.
 */
static volatile uint8_t *hp_scratch(size_t pg, const char **kind) {
  void *p = MAP_FAILED;
  int fd = memfd_create("hotpatch-probe", MFD_CLOEXEC);
  if (fd >= 0 && (p = hp_map_file_rx(fd, pg)) != MAP_FAILED) {
    *kind = "memfd";
    return p;
  }
  char path[] = "/tmp/hotpatch-probe-XXXXXX";
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0) {
    unlink(path);
    if ((p = hp_map_file_rx(fd, pg)) != MAP_FAILED) {
      *kind = "/tmp file";
      return p;
    }
  }
  *kind = "anonymous";
  p = mmap(NULL, pg, HP_RX, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* RX -> `wprot` -> write -> RX on a fresh scratch page; 0 or -1 with `why`. */
static int hp_probe_mprotect(int wprot, char *why, size_t cap) {
  size_t pg = hp_page_size();
  const char *kind;
  volatile uint8_t *p = hp_scratch(pg, &kind);
  if (!p) {
    snprintf(why, cap, "no scratch page: mmap: %s", strerror(errno));
    return -1;
  }
  const char *step = wprot & PROT_EXEC ? "mprotect(rwx)" : "mprotect(rw-)";
  int ok = 0;
  if (mprotect((void *)p, pg, wprot) != 0) {
    snprintf(why, cap, "%s of a %s page: %s", step, kind, strerror(errno));
  } else {
    p[0] = HP_PROBE_BYTE;
    if (mprotect((void *)p, pg, HP_RX) != 0)
      snprintf(why, cap, "mprotect(r-x) of a written %s page: %s", kind,
               strerror(errno));
    else if (p[0] != HP_PROBE_BYTE)
      snprintf(why, cap, "the byte written to a %s page did not read back",
               kind);
    else
      ok = 1;
  }
  if (ok)
    snprintf(why, cap, "ok (%s page)", kind);
  munmap((void *)p, pg);
  return ok ? 0 : -1;
}

static int hp_probe_procmem(char *why, size_t cap) {
  size_t pg = hp_page_size();
  const char *kind;
  volatile uint8_t *p = hp_scratch(pg, &kind);
  if (!p) {
    snprintf(why, cap, "no scratch page: mmap: %s", strerror(errno));
    return -1;
  }
  int ok = 0;
  int fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    snprintf(why, cap, "open /proc/self/mem: %s", strerror(errno));
  } else {
    uint8_t b = HP_PROBE_BYTE;
    ssize_t n = pwrite(fd, &b, 1, (off_t)(uintptr_t)p);
    if (n != 1)
      snprintf(why, cap, "pwrite to /proc/self/mem at a %s r-x page: %s", kind,
               n < 0 ? strerror(errno) : "short write");
    else if (p[0] != HP_PROBE_BYTE)
      /* e.g. an emulator whose guest addresses are not the host's. */
      snprintf(why, cap,
               "the byte written through /proc/self/mem did not "
               "read back");
    else
      ok = 1;
    close(fd);
  }
  if (ok)
    snprintf(why, cap, "ok (%s page)", kind);
  munmap((void *)p, pg);
  return ok ? 0 : -1;
}

static int hp_parse_method(const char *s) {
  for (int m = HP_WRITE_RWX; m <= HP_WRITE_PROC_MEM; m++)
    if (strcasecmp(s, hp_write_method_name(m)) == 0)
      return m;
  return HP_WRITE_NONE;
}

/* Every probe runs, so the detail and the log say what each one got even
 * when the first succeeds; the first that works is the method. */
static void hp_probe(void) {
  char why[4][160];
  unsigned ok = 0;
  if (hp_probe_mprotect(PROT_READ | PROT_WRITE | PROT_EXEC, why[1],
                        sizeof why[1]) == 0)
    ok |= 1u << HP_WRITE_RWX;
  if (hp_probe_mprotect(PROT_READ | PROT_WRITE, why[2], sizeof why[2]) == 0)
    ok |= 1u << HP_WRITE_RW;
  if (hp_probe_procmem(why[3], sizeof why[3]) == 0)
    ok |= 1u << HP_WRITE_PROC_MEM;

  int n = snprintf(hp_probe_detail, sizeof hp_probe_detail,
                   "rwx: %s; rw: %s; procmem: %s", why[1], why[2], why[3]);
  const char *force = getenv("HOTPATCH_WRITE_METHOD");
  if (force && *force) {
    int m = hp_parse_method(force);
    hp_avail = m && (ok & 1u << m) ? 1u << m : 0;
    hp_method = hp_avail ? m : HP_WRITE_NONE;
    if (!m)
      snprintf(hp_probe_detail, sizeof hp_probe_detail,
               "HOTPATCH_WRITE_METHOD='%s' is not rwx, rw or procmem", force);
    else if (!hp_avail && n > 0 && (size_t)n < sizeof hp_probe_detail)
      snprintf(hp_probe_detail + n, sizeof hp_probe_detail - (size_t)n,
               " (HOTPATCH_WRITE_METHOD=%s, which does not work here)",
               hp_write_method_name(m));
  } else {
    hp_avail = ok;
    hp_method = HP_WRITE_NONE;
    for (int m = HP_WRITE_RWX; m <= HP_WRITE_PROC_MEM && !hp_method; m++)
      if (ok & 1u << m)
        hp_method = m;
  }
  hp_debug("code writing: method %s%s; probes: %s",
           hp_write_method_name(hp_method), force && *force ? " (forced)" : "",
           hp_probe_detail);
}

int hp_write_method(void) {
  pthread_once(&hp_probe_once, hp_probe);
  if (hp_method == HP_WRITE_NONE)
    return hp_fail(HOTPATCH_ECODEWRITE, "no way to write code here: %s",
                   hp_probe_detail);
  return hp_method;
}

unsigned hp_write_methods(void) {
  pthread_once(&hp_probe_once, hp_probe);
  return hp_avail;
}

/*
 * The executable segments of the object this library is linked into,
 * found once from its own program headers: the linker defines
 * __ehdr_start at its ELF header (GNU ld >= 2.23, gold, lld). No
 * dl_iterate_phdr: a thread inside it (unwinding, or a callback that
 * sleeps) holds the loader's lock, and waiting for it would hold up an
 * apply past its deadline.
 */
extern const ElfW(Ehdr) __ehdr_start __attribute__((visibility("hidden")));

static pthread_once_t hp_own_once = PTHREAD_ONCE_INIT;
static struct {
  uintptr_t lo[8], hi[8];
  int n;
} hp_own; /* written once under hp_own_once */

static void hp_own_find(void) {
  const ElfW(Ehdr) *eh = &__ehdr_start;
  if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
    return;
  const ElfW(Phdr) *ph =
      (const ElfW(Phdr) *)(const void *)((const char *)eh + eh->e_phoff);
  /* The header is mapped at the start of the segment at file offset 0. */
  uintptr_t bias = 0;
  int found = 0;
  for (int i = 0; i < eh->e_phnum && !found; i++)
    if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
      bias = (uintptr_t)eh - ph[i].p_vaddr;
      found = 1;
    }
  for (int i = 0; found && i < eh->e_phnum && hp_own.n < 8; i++) {
    if (ph[i].p_type != PT_LOAD || !(ph[i].p_flags & PF_X))
      continue;
    hp_own.lo[hp_own.n] = bias + ph[i].p_vaddr;
    hp_own.hi[hp_own.n] = hp_own.lo[hp_own.n] + ph[i].p_memsz;
    hp_own.n++;
  }
}

/* With RW the page loses X while written: refuse a page of our own text,
 * the commit and everything it calls (flush, the caller's wait loop)
 * would fault there. The page of hp_write_commit is always counted, even
 * if the headers could not be read. */
static int hp_holds_own_code(const struct hp_write *w, uintptr_t *lo,
                             uintptr_t *hi) {
  pthread_once(&hp_own_once, hp_own_find);
  uintptr_t mask = ~(uintptr_t)(w->pagesz - 1);
  uintptr_t pc = (uintptr_t)&hp_write_commit;
  for (int p = 0; p < w->npages; p++)
    for (int i = 0; i <= hp_own.n; i++) {
      uintptr_t l = i < hp_own.n ? hp_own.lo[i] & mask : pc & mask;
      uintptr_t h = i < hp_own.n ? (hp_own.hi[i] + w->pagesz - 1) & mask
                                 : (pc & mask) + w->pagesz;
      if (w->page[p] >= l && w->page[p] < h) {
        *lo = l;
        *hi = h;
        return 1;
      }
    }
  return 0;
}

int hp_write_prepare(struct hp_write *w, uintptr_t addr, size_t len) {
  memset(w, 0, sizeof *w);
  w->mem_fd = -1;
  if (!len || len > HP_WRITE_MAX || addr + len < addr)
    return hp_fail(HOTPATCH_EINVAL, "code write of %zu bytes at 0x%lx", len,
                   (unsigned long)addr);
  int m = hp_write_method();
  if (m < 0)
    return m;
  w->addr = addr;
  w->len = len;
  w->pagesz = hp_page_size();
  uintptr_t mask = ~(uintptr_t)(w->pagesz - 1);
  w->page[0] = addr & mask;
  w->page[1] = (addr + len - 1) & mask;
  w->npages = w->page[1] != w->page[0] ? 2 : 1;

  struct hp_maps maps;
  int rc = hp_maps_read(&maps);
  if (rc)
    return rc;
  for (int i = 0; i < w->npages && !rc; i++) {
    const struct hp_map *mp = hp_maps_find(&maps, w->page[i]);
    if (!mp)
      rc = hp_fail(HOTPATCH_ENOTCODE,
                   "code write at 0x%lx (%zu bytes): page 0x%lx is not mapped",
                   (unsigned long)addr, len, (unsigned long)w->page[i]);
    else if (!(mp->prot & PROT_EXEC))
      rc = hp_fail(HOTPATCH_ENOTCODE,
                   "code write at 0x%lx (%zu bytes): page 0x%lx is mapped "
                   "%s, not executable",
                   (unsigned long)addr, len, (unsigned long)w->page[i],
                   mp->perms);
    else if (!(mp->prot & PROT_READ))
      rc = hp_fail(HOTPATCH_ECODEWRITE,
                   "code write at 0x%lx: page 0x%lx is execute-only (%s): "
                   "its bytes cannot be checked before writing",
                   (unsigned long)addr, (unsigned long)w->page[i], mp->perms);
    else if (mp->shared)
      rc = hp_fail(HOTPATCH_ECODEWRITE,
                   "code write at 0x%lx: page 0x%lx is a shared mapping (%s): "
                   "writing it would change the file or other processes",
                   (unsigned long)addr, (unsigned long)w->page[i], mp->perms);
    else
      w->prot[i] = mp->prot;
  }
  hp_maps_free(&maps);
  if (rc)
    return rc;

  uintptr_t lo, hi;
  if (m == HP_WRITE_RW && hp_holds_own_code(w, &lo, &hi)) {
    if (!(hp_avail & 1u << HP_WRITE_PROC_MEM))
      return hp_fail(HOTPATCH_ECODEWRITE,
                     "code write at 0x%lx: the only method is rw (no exec "
                     "while writing), and the page holds hotpatch's own code "
                     "(0x%lx-0x%lx), which would stop being executable",
                     (unsigned long)addr, (unsigned long)lo, (unsigned long)hi);
    m = HP_WRITE_PROC_MEM;
  }
  if (m == HP_WRITE_PROC_MEM) {
    w->mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (w->mem_fd < 0)
      return hp_fail(HOTPATCH_ECODEWRITE,
                     "code write at 0x%lx: open /proc/self/mem: %s",
                     (unsigned long)addr, strerror(errno));
  } else {
    /* If mprotect is refused at commit time although it worked at the
     * probe (a seccomp filter installed since). The commit opens the file
     * then: a descriptor held per prepared write would take one per
     * function of a large patch for the whole action. */
    w->procmem_fallback = (hp_avail & 1u << HP_WRITE_PROC_MEM) != 0;
  }
  w->method = m;
  return 0;
}

/* Raw syscalls and loops only from here to the end of hp_write_commit:
 * it runs while other threads are parked (see arch/syscall.h). */

static int hp_commit_procmem(const struct hp_write *w, const uint8_t *expect,
                             const uint8_t *bytes) {
  long n;
  do
    n = hp_sys_pwrite64(w->mem_fd, bytes, w->len, (off_t)w->addr);
  while (n == -EINTR);
  if (n == (long)w->len) {
    hp_arch_flush_code(w->addr, w->len);
    return 0;
  }
  if (n <= 0)
    return HOTPATCH_ECODEWRITE;
  /* A prefix went in (the second page refused it): put it back. */
  long u;
  do
    u = hp_sys_pwrite64(w->mem_fd, expect, (size_t)n, (off_t)w->addr);
  while (u == -EINTR);
  hp_arch_flush_code(w->addr, w->len);
  return u == n ? HOTPATCH_ECODEWRITE : HOTPATCH_EIO;
}

static int hp_commit_fallback(const struct hp_write *w, const uint8_t *expect,
                              const uint8_t *bytes) {
  struct hp_write t = *w;
  long fd = hp_sys_openat(AT_FDCWD, "/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (fd < 0)
    return HOTPATCH_ECODEWRITE;
  t.mem_fd = (int)fd;
  int rc = hp_commit_procmem(&t, expect, bytes);
  hp_sys_close((int)fd);
  return rc;
}

int hp_write_commit(const struct hp_write *w, const uint8_t *expect,
                    const uint8_t *bytes) {
  volatile uint8_t *dst = (volatile uint8_t *)w->addr;
  for (size_t i = 0; i < w->len; i++)
    if (dst[i] != expect[i])
      return HOTPATCH_ECHANGED;
  if (w->method == HP_WRITE_PROC_MEM)
    return hp_commit_procmem(w, expect, bytes);
  if (w->method != HP_WRITE_RWX && w->method != HP_WRITE_RW)
    return HOTPATCH_ECODEWRITE;

  int n = 0, bad = 0;
  for (; n < w->npages; n++) {
    int prot = w->method == HP_WRITE_RWX ? w->prot[n] | PROT_WRITE
                                         : PROT_READ | PROT_WRITE;
    if (hp_sys_mprotect(w->page[n], w->pagesz, prot) < 0)
      break;
  }
  if (n < w->npages) {
    while (n-- > 0)
      if (hp_sys_mprotect(w->page[n], w->pagesz, w->prot[n]) < 0)
        bad = 1;
    if (bad)
      return HOTPATCH_EIO;
    /* Nothing changed: /proc/self/mem needs no protection change. */
    return w->procmem_fallback ? hp_commit_fallback(w, expect, bytes)
                               : HOTPATCH_ECODEWRITE;
  }
  for (size_t i = 0; i < w->len; i++)
    dst[i] = bytes[i];
  /* Every page is tried even if one fails, so as few as possible stay
   * writable. */
  for (n = 0; n < w->npages; n++)
    if (hp_sys_mprotect(w->page[n], w->pagesz, w->prot[n]) < 0)
      bad = 1;
  hp_arch_flush_code(w->addr, w->len);
  return bad ? HOTPATCH_EIO : 0;
}

void hp_write_finish(struct hp_write *w) {
  if (w->mem_fd >= 0)
    close(w->mem_fd);
  w->mem_fd = -1;
}

int hp_write_verify(const struct hp_write *w) {
  struct hp_maps maps;
  int rc = hp_maps_read(&maps);
  if (rc)
    return rc;
  for (int i = 0; i < w->npages && !rc; i++) {
    const struct hp_map *mp = hp_maps_find(&maps, w->page[i]);
    /* The maps show only r, w and x (not a caller's PROT_BTI). */
    if (!mp ||
        mp->prot != (w->prot[i] & (PROT_READ | PROT_WRITE | PROT_EXEC))) {
      char was[4] = {w->prot[i] & PROT_READ ? 'r' : '-',
                     w->prot[i] & PROT_WRITE ? 'w' : '-',
                     w->prot[i] & PROT_EXEC ? 'x' : '-', '\0'};
      rc = hp_fail(HOTPATCH_ECODEWRITE,
                   "code page 0x%lx is %s after writing 0x%lx, was %s",
                   (unsigned long)w->page[i], mp ? mp->perms : "unmapped",
                   (unsigned long)w->addr, was);
    }
  }
  hp_maps_free(&maps);
  return rc;
}
