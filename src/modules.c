/* SPDX-License-Identifier: MIT */
/*
 * The module snapshot. dl_iterate_phdr() is called once; its callback
 * collects into growable arrays, which are then packed into one block so
 * that the snapshot is a single allocation and lookups chase no pointers
 * out of it.
 */
#include <elf.h>
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "errors.h"
#include "modules.h"

#define HP_MAIN_PATH "/proc/self/exe"

/* A module while collecting: strings and segments are offsets into the
 * builder's arrays, which may still move. */
struct hp_mod_tmp {
  struct hp_module m;
  size_t name, base, path, seg;
};

struct hp_builder {
  struct hp_mod_tmp *mods;
  size_t nmods, capmods;
  struct hp_segment *segs;
  size_t nsegs, capsegs;
  char *strs;
  size_t nstrs, capstrs;
  const char *exe_base; /* basename of the main program's file */
  uintptr_t vdso_phdr;  /* where the vDSO's program headers are, or 0 */
  int oom;
};

static int hp_grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 8;
  while (n < need)
    n *= 2;
  void *q = realloc(*p, n * elem);
  if (!q)
    return -1;
  *p = q;
  *cap = n;
  return 0;
}

static size_t hp_add_str(struct hp_builder *b, const char *s) {
  size_t len = strlen(s) + 1, at = b->nstrs;
  if (hp_grow((void **)&b->strs, &b->capstrs, at + len, 1)) {
    b->oom = 1;
    return 0;
  }
  memcpy(b->strs + at, s, len);
  b->nstrs += len;
  return at;
}

static const char *hp_basename(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* The vDSO has no file; recognise it by where its headers are, which the
 * kernel tells us, rather than by a name the loader made up. */
static uintptr_t hp_vdso_phdr(void) {
  uintptr_t ehdr = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  if (!ehdr)
    return 0;
  return ehdr + ((const ElfW(Ehdr) *)ehdr)->e_phoff;
}

static int hp_is_vdso(const struct hp_builder *b,
                      const struct dl_phdr_info *info) {
  if (b->vdso_phdr && (uintptr_t)info->dlpi_phdr == b->vdso_phdr)
    return 1;
  const char *n = info->dlpi_name;
  return n && !strchr(n, '/') &&
         (!strncmp(n, "linux-vdso", 10) || !strncmp(n, "linux-gate", 10));
}

/* A PT_NOTE is read from memory only if a PT_LOAD maps it from the file;
 * a malformed header must not send us to an unmapped address. */
static int hp_note_is_mapped(const struct dl_phdr_info *info,
                             const ElfW(Phdr) * note) {
  for (size_t i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_LOAD && note->p_vaddr >= ph->p_vaddr &&
        note->p_filesz <= ph->p_filesz &&
        note->p_vaddr - ph->p_vaddr <= ph->p_filesz - note->p_filesz)
      return 1;
  }
  return 0;
}

#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY 0x6474e553
#endif
#ifndef NT_GNU_PROPERTY_TYPE_0
#define NT_GNU_PROPERTY_TYPE_0 5
#endif
#if defined(__x86_64__)
#define HP_FEATURE_1_AND 0xc0000002u /* GNU_PROPERTY_X86_FEATURE_1_AND */
#else
#define HP_FEATURE_1_AND 0xc0000000u /* GNU_PROPERTY_AARCH64_FEATURE_1_AND */
#endif

uint32_t hp_gnu_property_features(const void *notes, size_t size,
                                  uint32_t pr_type) {
  const unsigned char *p = notes, *end = p + size;
  while ((size_t)(end - p) >= 12) {
    uint32_t namesz, descsz, type;
    memcpy(&namesz, p, 4);
    memcpy(&descsz, p + 4, 4);
    memcpy(&type, p + 8, 4);
    size_t name_pad = (namesz + 3u) & ~3u, desc_pad = (descsz + 7u) & ~7u;
    p += 12;
    if (name_pad > (size_t)(end - p) || descsz > (size_t)(end - p - name_pad))
      return 0;
    const unsigned char *desc = p + name_pad;
    if (type == NT_GNU_PROPERTY_TYPE_0 && namesz == 4 && !memcmp(p, "GNU", 4)) {
      /* pr_type, pr_datasz, data padded to 8 bytes, repeated. */
      for (size_t off = 0; descsz - off >= 8;) {
        uint32_t pt, sz;
        memcpy(&pt, desc + off, 4);
        memcpy(&sz, desc + off + 4, 4);
        if (sz > descsz - off - 8)
          return 0;
        if (pt == pr_type && sz >= 4) {
          uint32_t v;
          memcpy(&v, desc + off + 8, 4);
          return v;
        }
        off += 8 + ((sz + 7u) & ~7u);
        if (off > descsz)
          return 0;
      }
    }
    if (desc_pad > (size_t)(end - desc))
      return 0;
    p = desc + desc_pad;
  }
  return 0;
}

static void hp_read_phdrs(struct hp_builder *b, const struct dl_phdr_info *info,
                          struct hp_module *m) {
  m->lo = UINTPTR_MAX;
  for (size_t i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t start = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_GNU_EH_FRAME)
      m->eh_frame_hdr = start;
    if (ph->p_type == PT_GNU_PROPERTY && hp_note_is_mapped(info, ph))
      m->features = hp_gnu_property_features((const void *)start, ph->p_filesz,
                                             HP_FEATURE_1_AND);
    if (ph->p_type == PT_NOTE && !m->build_id_len &&
        hp_note_is_mapped(info, ph))
      m->build_id_len =
          hp_build_id_from_notes((const void *)start, ph->p_filesz, ph->p_align,
                                 m->build_id, sizeof m->build_id);
    if (ph->p_type != PT_LOAD)
      continue;
    if (hp_grow((void **)&b->segs, &b->capsegs, b->nsegs + 1,
                sizeof *b->segs)) {
      b->oom = 1;
      return;
    }
    struct hp_segment *s = &b->segs[b->nsegs++];
    s->start = start;
    s->end = start + ph->p_memsz;
    s->flags = ph->p_flags & (PF_R | PF_W | PF_X);
    m->nseg++;
    if (s->start < m->lo)
      m->lo = s->start;
    if (s->end > m->hi)
      m->hi = s->end;
  }
  if (!m->nseg)
    m->lo = 0;
}

static int hp_collect(struct dl_phdr_info *info, size_t size, void *arg) {
  struct hp_builder *b = arg;
  if (size <
      offsetof(struct dl_phdr_info, dlpi_phnum) + sizeof info->dlpi_phnum)
    return 0;
  if (hp_grow((void **)&b->mods, &b->capmods, b->nmods + 1, sizeof *b->mods)) {
    b->oom = 1;
    return 1;
  }
  struct hp_mod_tmp *t = &b->mods[b->nmods];
  memset(t, 0, sizeof *t);
  t->m.is_main = b->nmods == 0; /* the loader reports the program first */
  t->m.is_vdso = !t->m.is_main && hp_is_vdso(b, info);
  t->m.bias = info->dlpi_addr;
  const char *name = t->m.is_main || !info->dlpi_name ? "" : info->dlpi_name;
  t->name = hp_add_str(b, name);
  t->base = hp_add_str(b, t->m.is_main ? b->exe_base : hp_basename(name));
  t->path = hp_add_str(b, t->m.is_main   ? HP_MAIN_PATH
                          : t->m.is_vdso ? ""
                                         : name);
  t->seg = b->nsegs;
  hp_read_phdrs(b, info, &t->m);
  b->nmods++;
  return b->oom;
}

/* Pack the builder into one block: header, modules, segments, strings. */
static struct hp_modules *hp_pack(const struct hp_builder *b) {
  size_t a = _Alignof(max_align_t);
  size_t off_mod = (sizeof(struct hp_modules) + a - 1) / a * a;
  size_t off_seg = off_mod + b->nmods * sizeof(struct hp_module);
  size_t off_str = off_seg + b->nsegs * sizeof(struct hp_segment);
  char *blk = malloc(off_str + b->nstrs);
  if (!blk)
    return NULL;
  struct hp_modules *out = (struct hp_modules *)(void *)blk;
  struct hp_module *mods = (struct hp_module *)(void *)(blk + off_mod);
  struct hp_segment *segs = (struct hp_segment *)(void *)(blk + off_seg);
  char *strs = blk + off_str;
  if (b->nsegs)
    memcpy(segs, b->segs, b->nsegs * sizeof *segs);
  memcpy(strs, b->strs, b->nstrs);
  for (size_t i = 0; i < b->nmods; i++) {
    const struct hp_mod_tmp *t = &b->mods[i];
    mods[i] = t->m;
    mods[i].name = strs + t->name;
    mods[i].basename = strs + t->base;
    mods[i].path = strs + t->path;
    mods[i].seg = segs + t->seg;
  }
  out->n = b->nmods;
  out->mod = mods;
  return out;
}

/* The main program's file name; " (deleted)" is dropped so that a program
 * whose file was replaced still answers to its name. "" if unknown. */
static void hp_exe_path(char *path, size_t cap) {
  ssize_t n = readlink(HP_MAIN_PATH, path, cap - 1);
  if (n <= 0)
    n = 0;
  path[n] = '\0';
  static const char deleted[] = " (deleted)";
  size_t dl = sizeof deleted - 1;
  if ((size_t)n > dl && !strcmp(path + n - dl, deleted))
    path[n - dl] = '\0';
}

static void hp_exe_basename(char *buf, size_t cap) {
  char path[PATH_MAX];
  hp_exe_path(path, sizeof path);
  const char *base = hp_basename(path);
  size_t len = strlen(base);
  if (len >= cap)
    len = cap - 1;
  memcpy(buf, base, len);
  buf[len] = '\0';
}

int hp_modules_snapshot(struct hp_modules **out) {
  char exe_base[NAME_MAX + 1];
  hp_exe_basename(exe_base, sizeof exe_base);
  struct hp_builder b = {.exe_base = exe_base, .vdso_phdr = hp_vdso_phdr()};
  dl_iterate_phdr(hp_collect, &b);
  *out = b.oom || !b.nmods ? NULL : hp_pack(&b);
  free(b.mods);
  free(b.segs);
  free(b.strs);
  if (!*out)
    return hp_fail(HOTPATCH_ENOMEM,
                   "no memory for the module snapshot (%zu "
                   "objects)",
                   b.nmods);
  return 0;
}

void hp_modules_free(struct hp_modules *m) { free(m); }

int hp_module_has_code(const struct hp_module *mod, uintptr_t addr,
                       size_t len) {
  for (size_t i = 0; i < mod->nseg; i++) {
    const struct hp_segment *s = &mod->seg[i];
    if ((s->flags & PF_X) && addr >= s->start && addr < s->end &&
        len <= s->end - addr)
      return 1;
  }
  return 0;
}

const struct hp_module *hp_modules_by_addr(const struct hp_modules *m,
                                           uintptr_t addr) {
  for (size_t i = 0; i < m->n; i++) {
    const struct hp_module *mod = &m->mod[i];
    if (addr < mod->lo || addr >= mod->hi)
      continue;
    for (size_t s = 0; s < mod->nseg; s++)
      if (addr >= mod->seg[s].start && addr < mod->seg[s].end)
        return mod;
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */

/* DT_SONAME of the file behind `mod`, into buf; "" if none or unreadable
 * (an unreadable file simply does not match). */
static void hp_read_soname(const struct hp_module *mod, char *buf, size_t cap) {
  int fd;
  Elf *elf;
  buf[0] = '\0';
  if (hp_elf_open(mod->path, &fd, &elf) == 0) {
    Elf_Scn *scn = NULL;
    while (!buf[0] && (scn = elf_nextscn(elf, scn)) != NULL) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC)
        continue;
      Elf_Data *d = elf_getdata(scn, NULL);
      size_t n = d && sh.sh_entsize ? sh.sh_size / sh.sh_entsize : 0;
      for (size_t i = 0; i < n; i++) {
        GElf_Dyn dyn;
        if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag == DT_NULL)
          break;
        const char *s = dyn.d_tag == DT_SONAME
                            ? elf_strptr(elf, sh.sh_link, dyn.d_un.d_val)
                            : NULL;
        if (s) {
          snprintf(buf, cap, "%s", s);
          break;
        }
      }
    }
  }
  hp_elf_close(fd, elf);
}

/* Several loaded objects answer to one name (two copies of a library from
 * different directories): refuse rather than patch one of them at random. */
static int hp_pick_one(const char *object, const struct hp_module *const *hits,
                       size_t nhits, const struct hp_module **out) {
  if (nhits == 1) {
    *out = hits[0];
    return 0;
  }
  char list[768] = "";
  size_t o = 0;
  for (size_t i = 0; i < nhits && o < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                          hits[i]->is_main ? HP_MAIN_PATH : hits[i]->name);
  return hp_fail(HOTPATCH_EAMBIGUOUS,
                 "%zu loaded objects are called '%s' (%s); give the full path "
                 "of the one to patch",
                 nhits, object, list);
}

#define HP_MAX_HITS 8
#define HP_SONAME_MAX 256

static int hp_not_loaded(const struct hp_modules *m, const char *object) {
  char list[768] = "";
  size_t o = 0;
  for (size_t i = 0; i < m->n && o < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "",
                          m->mod[i].basename);
  return hp_fail(HOTPATCH_ENOOBJ,
                 "object '%s' is not loaded (no loaded object has that file "
                 "name, path or soname; loaded: %s)",
                 object, list);
}

int hp_modules_find(const struct hp_modules *m, const char *object,
                    const struct hp_module **out) {
  *out = NULL;
  if (!object || !*object) {
    *out = &m->mod[0];
    return 0;
  }
  const struct hp_module *hits[HP_MAX_HITS];
  size_t n = 0;
  int is_path = strchr(object, '/') != NULL;
  for (size_t i = 0; i < m->n && n < HP_MAX_HITS; i++) {
    const struct hp_module *mod = &m->mod[i];
    if (is_path ? !strcmp(mod->name, object) : !strcmp(mod->basename, object))
      hits[n++] = mod;
  }
  /* The loader names the program "", so its path is asked of the kernel. */
  if (is_path && !n) {
    char exe[PATH_MAX];
    hp_exe_path(exe, sizeof exe);
    if (!strcmp(exe, object))
      hits[n++] = &m->mod[0];
  }
  /* The soname costs a file read per object: only when no name matched.
   * A file that cannot be read simply does not match; the detail its open
   * wrote is put back so that a lookup that succeeds leaves none. */
  if (!n && !is_path) {
    char saved[HP_ERROR_MAX];
    hp_error_save(saved);
    for (size_t i = 0; i < m->n && n < HP_MAX_HITS; i++) {
      const struct hp_module *mod = &m->mod[i];
      char soname[HP_SONAME_MAX];
      if (mod->is_vdso)
        continue;
      hp_read_soname(mod, soname, sizeof soname);
      if (!strcmp(soname, object))
        hits[n++] = mod;
    }
    hp_error_restore(saved);
  }
  return n ? hp_pick_one(object, hits, n, out) : hp_not_loaded(m, object);
}

const struct hp_module *hp_modules_by_object(const struct hp_modules *m,
                                             const char *object) {
  const struct hp_module *mod;
  return hp_modules_find(m, object, &mod) ? NULL : mod;
}
