/* SPDX-License-Identifier: MIT */
/*
 * Build-ids (NT_GNU_BUILD_ID) from memory and from files, and the libelf
 * plumbing the other ELF readers share.
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "modules.h"

#ifndef NT_GNU_BUILD_ID
#define NT_GNU_BUILD_ID 3
#endif

static pthread_once_t hp_elf_once = PTHREAD_ONCE_INIT;
static int hp_elf_ok;

static void hp_elf_init(void) {
  hp_elf_ok = elf_version(EV_CURRENT) != EV_NONE;
}

static int hp_open_errno(int err) {
  switch (err) {
  case ENOENT:
  case ENOTDIR:
    return HOTPATCH_ENOENT;
  case EACCES:
  case EPERM:
    return HOTPATCH_EACCES;
  default:
    return HOTPATCH_EIO;
  }
}

int hp_elf_open(const char *path, int *fd, struct Elf **elf) {
  *fd = -1;
  *elf = NULL;
  pthread_once(&hp_elf_once, hp_elf_init);
  if (!hp_elf_ok)
    return hp_fail(HOTPATCH_EIO, "libelf refused version %d: %s", EV_CURRENT,
                   elf_errmsg(-1));
  int f = open(path, O_RDONLY | O_CLOEXEC);
  if (f < 0) {
    int err = errno;
    return hp_fail(hp_open_errno(err), "cannot open %s: %s", path,
                   strerror(err));
  }
  Elf *e = elf_begin(f, ELF_C_READ_MMAP, NULL);
  if (!e) {
    close(f);
    return hp_fail(HOTPATCH_EBADELF, "%s: %s", path, elf_errmsg(-1));
  }
  if (elf_kind(e) != ELF_K_ELF) {
    elf_end(e);
    close(f);
    return hp_fail(HOTPATCH_ENOTELF, "%s is not an ELF file", path);
  }
  *fd = f;
  *elf = e;
  return 0;
}

void hp_elf_close(int fd, struct Elf *elf) {
  if (elf)
    elf_end(elf);
  if (fd >= 0)
    close(fd);
}

/* ------------------------------------------------------------------------ */

static size_t hp_align_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

static int hp_is_gnu_build_id(uint32_t namesz, const void *name,
                              uint32_t type) {
  return type == NT_GNU_BUILD_ID && namesz == 4 && memcmp(name, "GNU", 4) == 0;
}

size_t hp_build_id_from_notes(const void *notes, size_t size, size_t align,
                              unsigned char *buf, size_t cap) {
  const unsigned char *p = notes;
  /* Anything but 8 is the classic 4-byte layout (p_align may say 0 or 1). */
  align = align == 8 ? 8 : 4;
  size_t off = 0;
  while (size - off >= 12) {
    uint32_t hdr[3]; /* namesz, descsz, type: 4 bytes each in both classes */
    memcpy(hdr, p + off, sizeof hdr);
    size_t name = off + 12;
    if (hdr[0] > size - name)
      return 0;
    size_t desc = hp_align_up(name + hdr[0], align);
    if (desc > size || hdr[1] > size - desc)
      return 0;
    if (hp_is_gnu_build_id(hdr[0], p + name, hdr[2]))
      return hdr[1] <= cap ? (memcpy(buf, p + desc, hdr[1]), hdr[1]) : 0;
    off = hp_align_up(desc + hdr[1], align);
    if (off > size)
      return 0;
  }
  return 0;
}

/* Scan one note buffer that libelf has typed (ELF_T_NHDR or ELF_T_NHDR8, so
 * gelf_getnote knows the padding). 1 found, 0 not found, -1 too long. */
static int hp_scan_elf_notes(Elf_Data *d, unsigned char *buf, size_t cap,
                             size_t *len) {
  GElf_Nhdr nh;
  size_t off = 0, name, desc, next;
  while ((next = gelf_getnote(d, off, &nh, &name, &desc)) > 0) {
    if (hp_is_gnu_build_id(nh.n_namesz, (const char *)d->d_buf + name,
                           nh.n_type)) {
      if (nh.n_descsz > cap)
        return -1;
      memcpy(buf, (const char *)d->d_buf + desc, nh.n_descsz);
      *len = nh.n_descsz;
      return 1;
    }
    off = next;
  }
  return 0;
}

static int hp_build_id_from_sections(Elf *elf, unsigned char *buf, size_t cap,
                                     size_t *len, int *seen) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(elf, scn)) != NULL) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE)
      continue;
    *seen = 1;
    Elf_Data *d = elf_getdata(scn, NULL);
    int r = d ? hp_scan_elf_notes(d, buf, cap, len) : 0;
    if (r)
      return r;
  }
  return 0;
}

/* For files whose section headers were stripped: the PT_NOTE segments. */
static int hp_build_id_from_segments(Elf *elf, unsigned char *buf, size_t cap,
                                     size_t *len) {
  size_t n;
  if (elf_getphdrnum(elf, &n) != 0)
    return 0;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_NOTE)
      continue;
    Elf_Data *d =
        elf_getdata_rawchunk(elf, (int64_t)ph.p_offset, ph.p_filesz,
                             ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
    int r = d ? hp_scan_elf_notes(d, buf, cap, len) : 0;
    if (r)
      return r;
  }
  return 0;
}

int hp_build_id_from_elf(struct Elf *elf, const char *path, unsigned char *buf,
                         size_t cap, size_t *len) {
  int seen = 0;
  *len = 0;
  int r = hp_build_id_from_sections(elf, buf, cap, len, &seen);
  if (r == 0 && !seen)
    r = hp_build_id_from_segments(elf, buf, cap, len);
  if (r < 0) {
    *len = 0;
    return hp_fail(HOTPATCH_EBADELF, "%s: build-id is longer than %zu bytes",
                   path, cap);
  }
  return 0;
}

int hp_build_id_from_file(const char *path, unsigned char *buf, size_t cap,
                          size_t *len) {
  int fd;
  Elf *elf;
  *len = 0;
  int rc = hp_elf_open(path, &fd, &elf);
  if (rc == 0)
    rc = hp_build_id_from_elf(elf, path, buf, cap, len);
  hp_elf_close(fd, elf);
  return rc;
}

/* ------------------------------------------------------------------------ */

static int hp_hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int hp_build_id_parse(const char *hex, unsigned char *buf, size_t cap,
                      size_t *len) {
  *len = 0;
  if (!hex || !*hex)
    return hp_fail(HOTPATCH_EINVAL, "empty build-id");
  size_t n = strlen(hex);
  if (n % 2)
    return hp_fail(HOTPATCH_EINVAL,
                   "build-id '%s' has an odd number of hex digits", hex);
  if (n / 2 > cap)
    return hp_fail(HOTPATCH_EINVAL, "build-id '%s' is longer than %zu bytes",
                   hex, cap);
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hp_hex_digit(hex[2 * i]), lo = hp_hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return hp_fail(HOTPATCH_EINVAL, "build-id '%s' is not hexadecimal", hex);
    buf[i] = (unsigned char)(hi << 4 | lo);
  }
  *len = n / 2;
  return 0;
}

void hp_build_id_format(const unsigned char *id, size_t len, char *out,
                        size_t cap) {
  static const char digits[] = "0123456789abcdef";
  if (cap == 0)
    return;
  size_t o = 0;
  for (size_t i = 0; i < len && o + 2 < cap; i++) {
    out[o++] = digits[id[i] >> 4];
    out[o++] = digits[id[i] & 0xf];
  }
  out[o] = '\0';
}
