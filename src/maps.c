/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "errors.h"
#include "maps.h"
#include "park.h"

static const char *hp_hex(const char *s, uintptr_t *out) {
  uintptr_t v = 0;
  const char *p = s;
  for (;; p++) {
    int d;
    if (*p >= '0' && *p <= '9')
      d = *p - '0';
    else if (*p >= 'a' && *p <= 'f')
      d = *p - 'a' + 10;
    else
      break;
    v = v << 4 | (uintptr_t)d;
  }
  *out = v;
  return p == s ? NULL : p;
}

/* "start-end perms ..." up to the newline; 0 if the line is not one. */
static int hp_parse_line(const char *s, struct hp_map *m) {
  s = hp_hex(s, &m->start);
  if (!s || *s++ != '-')
    return 0;
  s = hp_hex(s, &m->end);
  if (!s || *s++ != ' ')
    return 0;
  for (int i = 0; i < 4; i++)
    if (!(m->perms[i] = s[i]) || s[i] == '\n')
      return 0;
  m->perms[4] = '\0';
  m->prot = (s[0] == 'r' ? PROT_READ : 0) | (s[1] == 'w' ? PROT_WRITE : 0) |
            (s[2] == 'x' ? PROT_EXEC : 0);
  m->shared = s[3] == 's';
  /* The path is the last field, after offset, device and inode. */
  const char *nl = strchr(s, '\n');
  size_t n = nl ? (size_t)(nl - s) : strlen(s);
  m->heap = n >= 6 && memcmp(s + n - 6, "[heap]", 6) == 0;
  m->stack = n >= 7 && memcmp(s + n - 7, "[stack]", 7) == 0;
  return m->start < m->end;
}

/* The whole file in one buffer: read() of /proc/self/maps returns whole
 * lines, and the kernel resumes after the last line it returned. */
static int hp_slurp(const char *path, char **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return hp_fail(HOTPATCH_EIO, "cannot open /proc/self/maps: %s",
                   strerror(errno));
  size_t cap = 16384, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (buf && cap - n < 4096) {
      char *nb = realloc(buf, cap * 2);
      if (!nb)
        free(buf);
      buf = nb;
      cap *= 2;
    }
    if (!buf) {
      close(fd);
      return hp_fail(HOTPATCH_ENOMEM, "reading /proc/self/maps");
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      int e = errno;
      free(buf);
      close(fd);
      return hp_fail(HOTPATCH_EIO, "reading /proc/self/maps: %s", strerror(e));
    }
    if (r == 0)
      break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

int hp_maps_parse(const char *text, struct hp_maps *m) {
  m->v = NULL;
  m->n = 0;
  size_t lines = 1;
  for (const char *p = text; *p; p++)
    lines += *p == '\n';
  m->v = malloc(lines * sizeof *m->v);
  if (!m->v)
    return hp_fail(HOTPATCH_ENOMEM, "parsing /proc/self/maps");
  for (const char *s = text; *s;) {
    const char *nl = strchr(s, '\n');
    if (hp_parse_line(s, &m->v[m->n]))
      m->n++;
    if (!nl)
      break;
    s = nl + 1;
  }
  return 0;
}

int hp_maps_read(struct hp_maps *m) {
  m->v = NULL;
  m->n = 0;
  char *buf = NULL;
  size_t len = 0;
  int rc = hp_slurp("/proc/self/maps", &buf, &len);
  /* Empty: the group leader is a zombie (its pthread_exit), and
   * /proc/self/ shows its (gone) memory; the caller's own view is the
   * same address space. Not under qemu-user, which emulates only
   * /proc/self/maps. */
  if (!rc && len == 0 && !hp_park_emulated()) {
    free(buf);
    rc = hp_slurp("/proc/thread-self/maps", &buf, &len);
  }
  if (rc)
    return rc;
  rc = hp_maps_parse(buf, m);
  free(buf);
  return rc;
}

void hp_maps_free(struct hp_maps *m) {
  free(m->v);
  m->v = NULL;
  m->n = 0;
}

const struct hp_map *hp_maps_find(const struct hp_maps *m, uintptr_t addr) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (addr < m->v[mid].start)
      hi = mid;
    else if (addr >= m->v[mid].end)
      lo = mid + 1;
    else
      return &m->v[mid];
  }
  return NULL;
}
