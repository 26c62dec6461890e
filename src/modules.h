/* SPDX-License-Identifier: MIT */
/*
 * The module snapshot: every object mapped in the process (the main program
 * and each shared object), with its load bias, PT_LOAD ranges and build-id,
 * taken once with dl_iterate_phdr() and then read without it.
 *
 * Why a snapshot: while other threads are parked one of them may hold the
 * loader lock, so code that runs then (the safe-point check) must never call
 * dl_iterate_phdr(). It reads a snapshot taken before the stop instead.
 * hp_modules_by_addr() allocates nothing and takes no lock; it is
 * async-signal-safe as long as the snapshot is not freed meanwhile.
 */
#ifndef HP_MODULES_H
#define HP_MODULES_H

#include <stddef.h>
#include <stdint.h>

#define HP_BUILD_ID_MAX 64

struct hp_segment {
  uintptr_t start, end; /* runtime [start, end) of one PT_LOAD */
  unsigned flags;       /* PF_R | PF_W | PF_X of that segment */
};

struct hp_module {
  const char *name;     /* dlpi_name as the loader has it; "" for main */
  const char *basename; /* last path component of name; main: of exe */
  const char *path;     /* file to read: "/proc/self/exe" for main */
  int is_main;
  int is_vdso;      /* no file behind it */
  uintptr_t bias;   /* dlpi_addr: runtime = bias + st_value */
  uintptr_t lo, hi; /* span of all PT_LOAD segments */
  size_t nseg;
  const struct hp_segment *seg;
  unsigned char build_id[HP_BUILD_ID_MAX]; /* NT_GNU_BUILD_ID from memory */
  size_t build_id_len;                     /* 0: the object has none */
  uintptr_t eh_frame_hdr;                  /* PT_GNU_EH_FRAME, 0 if none */
  uint32_t features; /* GNU_PROPERTY_{X86,AARCH64}_FEATURE_1_AND of the
                        PT_GNU_PROPERTY note, for this machine: IBT/SHSTK
                        on x86_64, BTI/PAC on aarch64 (HP_FEATURE_*) */
};

/* hp_module.features bits (the ELF property bits of the host machine). */
#define HP_FEATURE_IBT 0x1u   /* x86_64 GNU_PROPERTY_X86_FEATURE_1_IBT */
#define HP_FEATURE_SHSTK 0x2u /* x86_64 GNU_PROPERTY_X86_FEATURE_1_SHSTK */
#define HP_FEATURE_BTI 0x1u   /* aarch64 GNU_PROPERTY_AARCH64_FEATURE_1_BTI */
#define HP_FEATURE_PAC 0x2u   /* aarch64 GNU_PROPERTY_AARCH64_FEATURE_1_PAC */

/* The FEATURE_1_AND word of type `pr_type` in `size` bytes of a mapped
 * NT_GNU_PROPERTY_TYPE_0 note (ELF64 layout: properties 8-aligned).
 * Reads nothing outside the range; 0 when absent or malformed. */
uint32_t hp_gnu_property_features(const void *notes, size_t size,
                                  uint32_t pr_type);

struct hp_modules {
  size_t n;
  const struct hp_module *mod; /* mod[0] is the main program */
};

/* Take a snapshot. Returns 0 or HOTPATCH_ENOMEM. Not async-signal-safe. */
int hp_modules_snapshot(struct hp_modules **out);
void hp_modules_free(struct hp_modules *m);

/* 1 if [addr, addr+len) lies inside one executable PT_LOAD of `mod`.
 * Allocates nothing, takes no lock. */
int hp_module_has_code(const struct hp_module *mod, uintptr_t addr, size_t len);

/* The module whose PT_LOAD segments contain `addr`, or NULL. */
const struct hp_module *hp_modules_by_addr(const struct hp_modules *m,
                                           uintptr_t addr);

/* The module that `object` names: NULL or "" = main program; else a
 * basename, full path, or DT_SONAME of a loaded object (the soname is read
 * from the files only when no basename or path matches). Returns 0 with
 * *out set, or with *out NULL and hp_fail detail:
 *   HOTPATCH_ENOOBJ      no loaded object has that name (the detail lists
 *                        the loaded ones)
 *   HOTPATCH_EAMBIGUOUS  several loaded objects have it, e.g. one library
 *                        loaded from two directories (the detail lists their
 *                        paths and asks for the full path)
 * A lookup that succeeds leaves the detail as it found it. */
int hp_modules_find(const struct hp_modules *m, const char *object,
                    const struct hp_module **out);

/* hp_modules_find's module, or NULL on ENOOBJ or EAMBIGUOUS (with the
 * same detail; call hp_modules_find to tell the two apart). */
const struct hp_module *hp_modules_by_object(const struct hp_modules *m,
                                             const char *object);

/* Build-id parsing. hp_build_id_from_file reads the NT_GNU_BUILD_ID note of
 * an ELF file with libelf (len 0 if it has none). hp_build_id_parse turns a
 * hex string (case-insensitive) into bytes. hp_build_id_format writes hex.
 * All return 0 or a negative HOTPATCH_ code with hp_fail detail. */
int hp_build_id_from_file(const char *path, unsigned char *buf, size_t cap,
                          size_t *len);
int hp_build_id_parse(const char *hex, unsigned char *buf, size_t cap,
                      size_t *len);
void hp_build_id_format(const unsigned char *id, size_t len, char *out,
                        size_t cap);

/* hp_build_id_format output size for any id: two digits a byte and a NUL. */
#define HP_BUILD_ID_HEX_MAX (2 * HP_BUILD_ID_MAX + 1)

/*
 * ELF file helpers shared by build_id.c, modules.c and symbols.c. They take
 * libelf's `Elf` (declared here as its struct tag so that this header does
 * not pull in libelf.h).
 *
 * hp_elf_open opens `path` read-only and begins a libelf descriptor on it
 * (elf_version() is called once per process). On failure nothing is left
 * open and the code is HOTPATCH_ENOENT, HOTPATCH_EACCES or HOTPATCH_EIO
 * (open), HOTPATCH_ENOTELF or HOTPATCH_EBADELF. hp_elf_close accepts what a
 * failed open left (-1, NULL).
 */
struct Elf;
int hp_elf_open(const char *path, int *fd, struct Elf **elf);
void hp_elf_close(int fd, struct Elf *elf);

/* The NT_GNU_BUILD_ID of an open file: SHT_NOTE sections, else PT_NOTE
 * segments. *len is 0 if it has none. 0 or HOTPATCH_EBADELF. */
int hp_build_id_from_elf(struct Elf *elf, const char *path, unsigned char *buf,
                         size_t cap, size_t *len);

/* The NT_GNU_BUILD_ID in `size` bytes of notes laid out with `align` (4 or
 * 8: the PT_NOTE's p_align) as they are mapped in memory. Reads nothing
 * outside [notes, notes + size). Returns the id's length, 0 if there is
 * none or it is longer than `cap`. */
size_t hp_build_id_from_notes(const void *notes, size_t size, size_t align,
                              unsigned char *buf, size_t cap);

#endif
