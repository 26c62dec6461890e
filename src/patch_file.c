/* SPDX-License-Identifier: MIT */
/*
 * The checks a patch file passes before dlopen(). dlopen() runs the object's
 * constructors and maps it; a file for another machine or a truncated one
 * must be refused before that, with an error that names the cause, not
 * dlerror()'s "invalid ELF header".
 */
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arch/arch.h"
#include "errors.h"
#include "patch.h"

static const char *hp_machine_name(unsigned m) {
  switch (m) {
  case EM_X86_64:
    return "x86_64";
  case EM_AARCH64:
    return "aarch64";
  case EM_386:
    return "i386";
  case EM_ARM:
    return "arm";
  case EM_RISCV:
    return "riscv";
  case EM_PPC64:
    return "ppc64";
  case EM_S390:
    return "s390";
  }
  return "another machine";
}

/* True if [off, off+len) lies inside a file of `size` bytes. */
static int hp_in_file(uint64_t off, uint64_t len, uint64_t size) {
  return off <= size && len <= size - off;
}

static int hp_check_header(const char *path, Elf *e, uint64_t size) {
  GElf_Ehdr eh;
  if (!gelf_getehdr(e, &eh))
    return hp_fail(HOTPATCH_EBADELF, "%s: unreadable ELF header: %s", path,
                   elf_errmsg(-1));
  if (eh.e_ident[EI_CLASS] != ELFCLASS64)
    return hp_fail(HOTPATCH_EFOREIGN, "%s: ELF class %d is not 64-bit", path,
                   eh.e_ident[EI_CLASS]);
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return hp_fail(HOTPATCH_EFOREIGN, "%s: not a little-endian ELF", path);
  if (eh.e_machine != HP_ARCH_ELF_MACHINE)
    return hp_fail(
        HOTPATCH_EFOREIGN,
        "%s: built for %s (e_machine %u), this process is " HP_ARCH_NAME, path,
        hp_machine_name(eh.e_machine), eh.e_machine);
  if (eh.e_type != ET_DYN)
    return hp_fail(HOTPATCH_EFOREIGN,
                   "%s: e_type %u is not ET_DYN; a patch is a shared object",
                   path, eh.e_type);
  if (!hp_in_file(eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize, size) ||
      eh.e_phnum == 0)
    return hp_fail(HOTPATCH_EBADELF,
                   "%s: program headers (%u at offset %llu) are not inside "
                   "the %llu-byte file",
                   path, eh.e_phnum, (unsigned long long)eh.e_phoff,
                   (unsigned long long)size);
  return 0;
}

static int hp_check_segments(const char *path, Elf *e, uint64_t size) {
  size_t n;
  if (elf_getphdrnum(e, &n) != 0)
    return hp_fail(HOTPATCH_EBADELF, "%s: %s", path, elf_errmsg(-1));
  int dynamic = 0;
  for (size_t i = 0; i < n; i++) {
    GElf_Phdr ph;
    if (!gelf_getphdr(e, (int)i, &ph))
      return hp_fail(HOTPATCH_EBADELF, "%s: program header %zu: %s", path, i,
                     elf_errmsg(-1));
    if (ph.p_type == PT_DYNAMIC)
      dynamic = 1;
    if ((ph.p_type == PT_LOAD || ph.p_type == PT_DYNAMIC) &&
        !hp_in_file(ph.p_offset, ph.p_filesz, size))
      return hp_fail(HOTPATCH_EBADELF,
                     "%s: segment %zu ends at byte %llu, past the end of the "
                     "%llu-byte file (truncated?)",
                     path, i, (unsigned long long)(ph.p_offset + ph.p_filesz),
                     (unsigned long long)size);
  }
  if (!dynamic)
    return hp_fail(HOTPATCH_EBADELF, "%s: no PT_DYNAMIC segment", path);
  return 0;
}

/* Sections are optional at run time, but a patch built by a linker has them
 * and we read its .dynsym; each must be inside the file. */
static int hp_find_descriptor(const char *path, Elf *e, uint64_t size) {
  GElf_Ehdr eh;
  gelf_getehdr(e, &eh);
  /* Take the count from the header itself: on a truncated file libelf may
   * report no sections at all instead of an error. */
  size_t shnum = eh.e_shnum;
  if ((shnum == 0 && eh.e_shoff && elf_getshdrnum(e, &shnum) != 0) ||
      !hp_in_file(eh.e_shoff, (uint64_t)shnum * eh.e_shentsize, size))
    return hp_fail(HOTPATCH_EBADELF,
                   "%s: section headers are not inside the %llu-byte file "
                   "(truncated?)",
                   path, (unsigned long long)size);
  int found_hidden = 0;
  for (Elf_Scn *s = NULL; (s = elf_nextscn(e, s));) {
    GElf_Shdr sh;
    if (!gelf_getshdr(s, &sh))
      return hp_fail(HOTPATCH_EBADELF, "%s: %s", path, elf_errmsg(-1));
    if (sh.sh_type != SHT_NOBITS && !hp_in_file(sh.sh_offset, sh.sh_size, size))
      return hp_fail(HOTPATCH_EBADELF,
                     "%s: section %zu ends past the end of the file "
                     "(truncated?)",
                     path, elf_ndxscn(s));
    if ((sh.sh_type != SHT_DYNSYM && sh.sh_type != SHT_SYMTAB) ||
        sh.sh_entsize == 0)
      continue;
    Elf_Data *d = elf_getdata(s, NULL);
    if (!d)
      return hp_fail(HOTPATCH_EBADELF, "%s: symbol table: %s", path,
                     elf_errmsg(-1));
    for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
      GElf_Sym sym;
      if (!gelf_getsym(d, (int)i, &sym))
        break;
      const char *name = elf_strptr(e, sh.sh_link, sym.st_name);
      if (!name || strcmp(name, "hotpatch_descriptor") != 0 ||
          sym.st_shndx == SHN_UNDEF)
        continue;
      if (sh.sh_type == SHT_SYMTAB) {
        found_hidden = 1;
        continue;
      }
      if (GELF_ST_TYPE(sym.st_info) != STT_OBJECT ||
          sym.st_size < 2 * sizeof(uint32_t))
        return hp_fail(HOTPATCH_ENODESC,
                       "%s: hotpatch_descriptor is not a data object of at "
                       "least 8 bytes",
                       path);
      return 0;
    }
  }
  return hp_fail(HOTPATCH_ENODESC,
                 found_hidden
                     ? "%s: hotpatch_descriptor is defined but not exported "
                       "(declare it with HOTPATCH_DEFINE)"
                     : "%s: no hotpatch_descriptor; define one with "
                       "HOTPATCH_DEFINE",
                 path);
}

int hp_patch_file_check(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return hp_fail(-errno, "%s: %s", path, strerror(errno));
  int rc;
  struct stat st;
  unsigned char ident[EI_NIDENT];
  if (fstat(fd, &st) != 0) {
    rc = hp_fail(-errno, "%s: %s", path, strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    rc = hp_fail(HOTPATCH_ENOTELF, "%s: not a regular file", path);
  } else if (pread(fd, ident, sizeof ident, 0) != (ssize_t)sizeof ident ||
             memcmp(ident, ELFMAG, SELFMAG) != 0) {
    rc = hp_fail(HOTPATCH_ENOTELF,
                 "%s: no ELF magic at the start of the "
                 "%lld-byte file",
                 path, (long long)st.st_size);
  } else {
    elf_version(EV_CURRENT);
    Elf *e = elf_begin(fd, ELF_C_READ, NULL);
    if (!e || elf_kind(e) != ELF_K_ELF)
      rc = hp_fail(HOTPATCH_EBADELF, "%s: %s", path, elf_errmsg(-1));
    else if (!(rc = hp_check_header(path, e, (uint64_t)st.st_size)) &&
             !(rc = hp_check_segments(path, e, (uint64_t)st.st_size)))
      rc = hp_find_descriptor(path, e, (uint64_t)st.st_size);
    elf_end(e);
  }
  close(fd);
  return rc;
}
