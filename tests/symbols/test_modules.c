/* SPDX-License-Identifier: MIT */
/*
 * The module snapshot, build-ids (memory, file, readelf), lookup of objects
 * by name, path and soname, and objects whose file on disk changed after
 * they were loaded.
 */
#include "hp_test.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "errors.h"
#include "fx_lib.h"
#include "fx_readelf.h"
#include "sym_util.h"

typedef int fx_bid_fn(int);

static char tmpdir[64];

static int setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/hp-symbols-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return rmdir(tmpdir);
}

/* A path in the test's temporary directory. */
static const char *tmp_path(char *buf, size_t cap, const char *name) {
  snprintf(buf, cap, "%s/%s", tmpdir, name);
  return buf;
}

static void *open_lib(const char *path) {
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h)
    fail_msg("dlopen %s: %s", path, dlerror());
  return h;
}

static struct hp_modules *snapshot(void) {
  struct hp_modules *m;
  assert_int_equal(hp_modules_snapshot(&m), 0);
  assert_non_null(m);
  assert_true(m->n >= 2);
  return m;
}

static const char *hex(const unsigned char *id, size_t len) {
  static char buf[HP_BUILD_ID_HEX_MAX];
  hp_build_id_format(id, len, buf, sizeof buf);
  return buf;
}

/* ------------------------------------------------------------------------ */

static void snapshot_lists_the_main_program_first(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  const struct hp_module *main_mod = &m->mod[0];
  assert_true(main_mod->is_main);
  assert_false(main_mod->is_vdso);
  assert_string_equal(main_mod->name, "");
  assert_string_equal(main_mod->path, "/proc/self/exe");
  assert_string_equal(main_mod->basename, "symbols_modules");
  assert_ptr_equal(hp_modules_by_object(m, NULL), main_mod);
  assert_ptr_equal(hp_modules_by_object(m, ""), main_mod);
  assert_ptr_equal(hp_modules_by_object(m, "symbols_modules"), main_mod);
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  assert_true(n > 0);
  exe[n] = '\0';
  assert_ptr_equal(hp_modules_by_object(m, exe), main_mod);
  for (size_t i = 1; i < m->n; i++)
    assert_false(m->mod[i].is_main);
  hp_modules_free(m);
}

static void module_by_address_finds_the_owner(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  const struct hp_module *lib = sym_module(m, "libfx_lib.so");
  assert_ptr_equal(hp_modules_by_addr(m, (uintptr_t)&snapshot), &m->mod[0]);
  assert_ptr_equal(hp_modules_by_addr(m, (uintptr_t)fx_split_addr()), lib);
  assert_ptr_equal(hp_modules_by_addr(m, (uintptr_t)&tmpdir), &m->mod[0]);
  int local;
  assert_null(hp_modules_by_addr(m, (uintptr_t)&local));
  assert_null(hp_modules_by_addr(m, (uintptr_t)m)); /* the heap */
  assert_null(hp_modules_by_addr(m, 0));
  /* lo/hi span the segments, and the segments are the object's. */
  assert_true(lib->nseg >= 2);
  for (size_t i = 0; i < lib->nseg; i++) {
    assert_true(lib->seg[i].start >= lib->lo && lib->seg[i].end <= lib->hi);
    assert_ptr_equal(hp_modules_by_addr(m, lib->seg[i].start), lib);
    assert_ptr_equal(hp_modules_by_addr(m, lib->seg[i].end - 1), lib);
  }
  hp_modules_free(m);
}

/* An independent witness for the PT_LOAD ranges: the kernel's own view. */
static int maps_has_exec(uintptr_t page) {
  FILE *f = fopen("/proc/self/maps", "r");
  assert_non_null(f);
  char line[512];
  int found = 0;
  while (!found && fgets(line, sizeof line, f)) {
    unsigned long lo, hi;
    char perms[8];
    if (sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3)
      found = page >= lo && page < hi && perms[2] == 'x';
  }
  fclose(f);
  return found;
}

static void executable_segments_are_mapped_executable(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  long pg = sysconf(_SC_PAGESIZE);
  size_t checked = 0;
  for (size_t i = 0; i < m->n; i++) {
    const struct hp_module *mod = &m->mod[i];
    for (size_t s = 0; s < mod->nseg; s++) {
      if (!(mod->seg[s].flags & PF_X))
        continue;
      uintptr_t first = mod->seg[s].start & ~(uintptr_t)(pg - 1);
      if (!maps_has_exec(first) || !maps_has_exec(mod->seg[s].end - 1))
        fail_msg("%s: segment %#lx-%#lx is not executable in /proc/self/maps",
                 mod->basename, (unsigned long)mod->seg[s].start,
                 (unsigned long)mod->seg[s].end);
      checked++;
    }
  }
  assert_true(checked >= 2);
  hp_modules_free(m);
}

static void eh_frame_hdr_is_recorded(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  const struct hp_module *mods[] = {&m->mod[0], sym_module(m, "libfx_lib.so")};
  for (size_t i = 0; i < 2; i++) {
    uintptr_t hdr = mods[i]->eh_frame_hdr;
    assert_int_not_equal(hdr, 0);
    assert_ptr_equal(hp_modules_by_addr(m, hdr), mods[i]);
    assert_int_equal(*(const unsigned char *)hdr, 1); /* its version */
  }
  hp_modules_free(m);
}

static void vdso_is_flagged_and_has_no_file(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  uintptr_t ehdr = (uintptr_t)getauxval(AT_SYSINFO_EHDR);
  size_t n = 0;
  for (size_t i = 0; i < m->n; i++) {
    const struct hp_module *mod = &m->mod[i];
    if (!mod->is_vdso)
      continue;
    n++;
    assert_string_equal(mod->path, "");
    assert_ptr_equal(hp_modules_by_addr(m, ehdr), mod);
    struct hotpatch_func f = {.target = "__vdso_clock_gettime",
                              .object = mod->basename};
    sym_expect_refusal(m, &f, HOTPATCH_EOPNOTSUPP, mod->basename);
  }
  /* qemu-user may give the guest no vDSO; then nothing is flagged. */
  assert_int_equal(n, ehdr ? 1 : 0);
  if (!ehdr)
    fprintf(stderr, "NOTE vdso_is_flagged_and_has_no_file: this process has "
                    "no vDSO (qemu-user gives none), so only 'nothing is "
                    "flagged' was checked; the vDSO path runs natively\n");
  hp_modules_free(m);
}

static void build_id_from_memory_equals_file(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  size_t with_id = 0;
  for (size_t i = 0; i < m->n; i++) {
    const struct hp_module *mod = &m->mod[i];
    if (mod->is_vdso)
      continue;
    unsigned char id[HP_BUILD_ID_MAX];
    size_t len;
    if (hp_build_id_from_file(mod->path, id, sizeof id, &len))
      fail_msg("%s: %s", mod->path, hotpatch_last_error());
    if (len != mod->build_id_len || memcmp(id, mod->build_id, len))
      fail_msg("%s: file has %s, memory has %s", mod->path, hex(id, len),
               hex(mod->build_id, mod->build_id_len));
    with_id += len > 0;
  }
  assert_true(with_id >= 2); /* at least the program and libfx_lib.so */
  hp_modules_free(m);
}

/* dlopen `path`, and check the build-id it has in memory and in its file
 * against the one readelf printed at build time. */
static void check_build_id(const char *path, size_t want_len,
                           const char *readelf_hex) {
  void *h = open_lib(path);
  struct hp_modules *m = snapshot();
  const struct hp_module *mod = sym_module(m, path);
  unsigned char id[HP_BUILD_ID_MAX];
  size_t len;
  assert_int_equal(hp_build_id_from_file(path, id, sizeof id, &len), 0);
  assert_int_equal(mod->build_id_len, want_len);
  assert_int_equal(len, want_len);
  assert_memory_equal(id, mod->build_id, len);
  assert_string_equal(hex(mod->build_id, len), readelf_hex);
  hp_modules_free(m);
  dlclose(h);
}

static void sha1_build_id_is_20_bytes(void **state) {
  (void)state;
  check_build_id(FX_BID_SHA1, 20, FX_READELF_BUILD_ID_SHA1);
}

static void md5_build_id_is_16_bytes(void **state) {
  (void)state;
  check_build_id(FX_BID_MD5, 16, FX_READELF_BUILD_ID_MD5);
}

static void custom_build_id_is_byte_exact(void **state) {
  (void)state;
  check_build_id(FX_BID_CUSTOM, 8, FX_READELF_BUILD_ID_CUSTOM);
  static const unsigned char want[] = {1, 2, 3, 4, 5, 6, 7, 8};
  void *h = open_lib(FX_BID_CUSTOM);
  struct hp_modules *m = snapshot();
  assert_memory_equal(sym_module(m, FX_BID_CUSTOM)->build_id, want, 8);
  hp_modules_free(m);
  dlclose(h);
}

static void object_without_build_id_has_none(void **state) {
  (void)state;
  check_build_id(FX_BID_NONE, 0, FX_READELF_BUILD_ID_NONE);
  assert_string_equal(FX_READELF_BUILD_ID_NONE, "");
}

static void build_id_hex_is_parsed_case_insensitively(void **state) {
  (void)state;
  unsigned char id[HP_BUILD_ID_MAX];
  size_t len;
  assert_int_equal(hp_build_id_parse("0a0B10fF", id, sizeof id, &len), 0);
  assert_int_equal(len, 4);
  assert_memory_equal(id, "\x0a\x0b\x10\xff", 4);
  char out[HP_BUILD_ID_HEX_MAX];
  hp_build_id_format(id, len, out, sizeof out);
  assert_string_equal(out, "0a0b10ff");
  hp_build_id_format(id, len, out, 5); /* truncates at whole bytes */
  assert_string_equal(out, "0a0b");
  static const char *const bad[] = {"", "abc", "0g", "0x01", "a b0"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    assert_int_equal(hp_build_id_parse(bad[i], id, sizeof id, &len),
                     HOTPATCH_EINVAL);
  char long_hex[2 * HP_BUILD_ID_MAX + 3];
  memset(long_hex, 'a', sizeof long_hex - 1);
  long_hex[sizeof long_hex - 1] = '\0';
  assert_int_equal(hp_build_id_parse(long_hex, id, sizeof id, &len),
                   HOTPATCH_EINVAL);
  long_hex[2 * HP_BUILD_ID_MAX] = '\0'; /* exactly the maximum */
  assert_int_equal(hp_build_id_parse(long_hex, id, sizeof id, &len), 0);
  assert_int_equal(len, HP_BUILD_ID_MAX);
}

/* Append one note (header, name, desc) padded the way a PT_NOTE with
 * p_align `align` lays it out. */
static size_t put_note(unsigned char *buf, size_t at, size_t align,
                       const char *name, uint32_t type,
                       const unsigned char *desc, uint32_t descsz) {
  uint32_t hdr[3] = {(uint32_t)strlen(name) + 1, descsz, type};
  memcpy(buf + at, hdr, sizeof hdr);
  memcpy(buf + at + 12, name, hdr[0]);
  at = (at + 12 + hdr[0] + align - 1) / align * align;
  memcpy(buf + at, desc, descsz);
  return (at + descsz + align - 1) / align * align;
}

static void notes_are_walked_with_the_segment_alignment(void **state) {
  (void)state;
  static const unsigned char id[] = {1, 2, 3, 4, 5, 6, 7, 8};
  static const unsigned char other[12] = {0xee};
  unsigned char notes[128], got[HP_BUILD_ID_MAX];
  for (size_t align = 4; align <= 8; align += 4) {
    memset(notes, 0xff, sizeof notes);
    /* A note before the build-id whose desc (12 bytes) needs padding to 8
     * but not to 4, and one whose name ("Linux") needs padding to both. */
    size_t n = put_note(notes, 0, align, "GNU", 5, other, sizeof other);
    n = put_note(notes, n, align, "Linux", 1, other, 5);
    size_t end = put_note(notes, n, align, "GNU", 3, id, sizeof id);
    memset(got, 0, sizeof got);
    assert_int_equal(hp_build_id_from_notes(notes, end, align, got, sizeof got),
                     sizeof id);
    assert_memory_equal(got, id, sizeof id);
    /* Longer than the caller's buffer, or cut short: no id. */
    assert_int_equal(hp_build_id_from_notes(notes, end, align, got, 4), 0);
    assert_int_equal(
        hp_build_id_from_notes(notes, end - 1, align, got, sizeof got), 0);
  }
}

static void object_is_found_by_basename_path_and_soname(void **state) {
  (void)state;
  void *h = open_lib(FX_BID_CUSTOM);
  struct hp_modules *m = snapshot();
  const struct hp_module *by_path = hp_modules_by_object(m, FX_BID_CUSTOM);
  assert_non_null(by_path);
  assert_string_equal(by_path->name, FX_BID_CUSTOM);
  assert_ptr_equal(hp_modules_by_object(m, "libfx_bid_custom.so"), by_path);
  assert_ptr_equal(hp_modules_by_object(m, "libfx_soname_alias.so.1"), by_path);
  /* And resolution through the soname lands in that object. */
  struct hp_target t =
      sym_resolve(m, "libfx_soname_alias.so.1", "fx_bid_probe", NULL);
  assert_int_equal(t.addr, (uintptr_t)dlsym(h, "fx_bid_probe"));
  assert_string_equal(t.object, "libfx_bid_custom.so");
  hp_modules_free(m);
  dlclose(h);
}

static void unknown_object_is_refused(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  assert_null(hp_modules_by_object(m, "libfx_not_loaded.so.3"));
  sym_expect_in(hotpatch_last_error(), "libfx_not_loaded.so.3", "the detail");
  assert_null(hp_modules_by_object(m, "/nowhere/libfx_lib.so"));
  struct hotpatch_func f = {.target = "fx_split",
                            .object = "libfx_not_loaded.so.3"};
  sym_expect_refusal(m, &f, HOTPATCH_ENOOBJ, "libfx_not_loaded.so.3");
  hp_modules_free(m);
}

static void same_basename_twice_needs_a_path(void **state) {
  (void)state;
  char copy[128];
  tmp_path(copy, sizeof copy, "libfx_bid_sha1.so");
  sym_copy(FX_BID_SHA1, copy);
  void *h1 = open_lib(FX_BID_SHA1), *h2 = open_lib(copy);
  struct hp_modules *m = snapshot();
  /* Ambiguous, not absent: both are loaded, the name fits either. */
  const struct hp_module *mod = &m->mod[0];
  assert_int_equal(hp_modules_find(m, "libfx_bid_sha1.so", &mod),
                   HOTPATCH_EAMBIGUOUS);
  assert_null(mod);
  sym_expect_in(hotpatch_last_error(), copy, "the detail");
  sym_expect_in(hotpatch_last_error(), FX_BID_SHA1, "the detail");
  sym_expect_in(hotpatch_last_error(), "full path", "the detail");
  assert_null(hp_modules_by_object(m, "libfx_bid_sha1.so"));
  struct hotpatch_func f = {.target = "fx_bid_probe",
                            .object = "libfx_bid_sha1.so"};
  sym_expect_refusal(m, &f, HOTPATCH_EAMBIGUOUS, "libfx_bid_sha1.so");
  sym_expect_in(hotpatch_last_error(), copy, "the detail");
  /* The full path picks one. */
  f.object = copy;
  struct hp_target t;
  assert_int_equal(hp_resolve(m, &f, &t), 0);
  assert_int_equal(t.addr, (uintptr_t)dlsym(h2, "fx_bid_probe"));
  const struct hp_module *a = hp_modules_by_object(m, FX_BID_SHA1);
  const struct hp_module *b = hp_modules_by_object(m, copy);
  assert_non_null(a);
  assert_non_null(b);
  assert_ptr_not_equal(a, b);
  hp_modules_free(m);
  dlclose(h2);
  dlclose(h1);
  unlink(copy);
}

/* The soname lookup opens every loaded object's file; one that cannot be
 * opened (deleted here) must not leave its error behind a lookup that
 * succeeds, while a lookup that fails still explains itself. */
static void successful_soname_lookup_leaves_no_stale_detail(void **state) {
  (void)state;
  char gone[128];
  tmp_path(gone, sizeof gone, "libfx_vanished.so");
  sym_copy(FX_BID_SHA1, gone);
  void *h = open_lib(FX_BID_CUSTOM), *g = open_lib(gone);
  assert_int_equal(unlink(gone), 0);
  struct hp_modules *m = snapshot();
  hp_clear_error();
  const struct hp_module *mod = NULL;
  assert_int_equal(hp_modules_find(m, "libfx_soname_alias.so.1", &mod), 0);
  assert_non_null(mod);
  assert_string_equal(hotpatch_last_error(), "");
  assert_ptr_equal(hp_modules_by_object(m, "libfx_soname_alias.so.1"), mod);
  assert_string_equal(hotpatch_last_error(), "");
  struct hotpatch_func f = {.target = "fx_bid_probe",
                            .object = "libfx_soname_alias.so.1"};
  struct hp_target t;
  assert_int_equal(hp_resolve(m, &f, &t), 0);
  assert_int_equal(t.addr, (uintptr_t)dlsym(h, "fx_bid_probe"));
  assert_string_equal(hotpatch_last_error(), "");
  assert_int_equal(hp_modules_find(m, "libfx_not_loaded.so.3", &mod),
                   HOTPATCH_ENOOBJ);
  assert_null(mod);
  sym_expect_in(hotpatch_last_error(), "is not loaded", "the detail");
  hp_modules_free(m);
  dlclose(g);
  dlclose(h);
}

static void required_build_id_is_checked(void **state) {
  (void)state;
  void *h = open_lib(FX_BID_SHA1), *none = open_lib(FX_BID_NONE);
  struct hp_modules *m = snapshot();
  char upper[64];
  snprintf(upper, sizeof upper, "%s", FX_READELF_BUILD_ID_SHA1);
  for (char *p = upper; *p; p++)
    *p = (char)(*p >= 'a' && *p <= 'f' ? *p - 'a' + 'A' : *p);
  struct hotpatch_func f = {.target = "fx_bid_probe",
                            .object = "libfx_bid_sha1.so",
                            .build_id = upper};
  struct hp_target t;
  assert_int_equal(hp_resolve(m, &f, &t), 0);
  assert_int_equal(t.addr, (uintptr_t)dlsym(h, "fx_bid_probe"));

  f.build_id = "0102030405060708";
  sym_expect_refusal(m, &f, HOTPATCH_EBUILDID, "libfx_bid_sha1.so");
  sym_expect_in(hotpatch_last_error(), "0102030405060708", "the detail");
  sym_expect_in(hotpatch_last_error(), FX_READELF_BUILD_ID_SHA1, "the detail");

  f.build_id = "not-hex";
  sym_expect_refusal(m, &f, HOTPATCH_EINVAL, "libfx_bid_sha1.so");

  f.object = "libfx_bid_none.so";
  f.build_id = FX_READELF_BUILD_ID_SHA1;
  sym_expect_refusal(m, &f, HOTPATCH_EBUILDID, "libfx_bid_none.so");
  sym_expect_in(hotpatch_last_error(), "no build-id", "the detail");
  /* Without a required id, an object without one resolves. */
  f.build_id = NULL;
  assert_int_equal(hp_resolve(m, &f, &t), 0);
  assert_int_equal(t.addr, (uintptr_t)dlsym(none, "fx_bid_probe"));
  hp_modules_free(m);
  dlclose(none);
  dlclose(h);
}

/* Load a copy of libfx_bid_sha1.so as `name`, then put `replacement` at
 * its path the way a package upgrade does (rename over it). */
struct swapped {
  char path[128];
  void *h;
  struct hp_modules *m;
};

static void load_then_replace(struct swapped *s, const char *name,
                              const char *replacement) {
  char next[160];
  tmp_path(s->path, sizeof s->path, name);
  sym_copy(FX_BID_SHA1, s->path);
  s->h = open_lib(s->path);
  s->m = snapshot();
  /* Before the swap the object resolves: only the file will change. */
  struct hp_target t = sym_resolve(s->m, name, "fx_bid_local", NULL);
  fx_bid_fn *(*local_addr)(void) =
      (fx_bid_fn * (*)(void)) dlsym(s->h, "fx_bid_local_addr");
  assert_non_null(local_addr);
  assert_int_equal(t.addr, (uintptr_t)local_addr());
  if (!replacement) {
    assert_int_equal(unlink(s->path), 0);
    return;
  }
  snprintf(next, sizeof next, "%s.new", s->path);
  sym_copy(replacement, next);
  assert_int_equal(rename(next, s->path), 0);
}

static void unload_swapped(struct swapped *s) {
  hp_modules_free(s->m);
  dlclose(s->h);
  unlink(s->path);
}

static void stale_file_on_disk_is_detected(void **state) {
  (void)state;
  struct swapped s;
  load_then_replace(&s, "libfx_stale.so", FX_BID_MD5);
  struct hotpatch_func f = {.target = "fx_bid_probe",
                            .object = "libfx_stale.so"};
  sym_expect_refusal(s.m, &f, HOTPATCH_ESTALEFILE, "libfx_stale.so");
  sym_expect_in(hotpatch_last_error(), s.path, "the detail");
  sym_expect_in(hotpatch_last_error(), FX_READELF_BUILD_ID_MD5, "the detail");
  sym_expect_in(hotpatch_last_error(), FX_READELF_BUILD_ID_SHA1, "the detail");
  unload_swapped(&s);
}

static void deleted_file_on_disk_is_detected(void **state) {
  (void)state;
  struct swapped s;
  load_then_replace(&s, "libfx_deleted.so", NULL);
  struct hotpatch_func f = {.target = "fx_bid_probe",
                            .object = "libfx_deleted.so"};
  sym_expect_refusal(s.m, &f, HOTPATCH_ESTALEFILE, "libfx_deleted.so");
  unload_swapped(&s);
}

static void stripped_file_falls_back_to_dynsym(void **state) {
  (void)state;
  struct swapped s;
  load_then_replace(&s, "libfx_stripped.so", FX_BID_STRIPPED);
  struct hp_target t =
      sym_resolve(s.m, "libfx_stripped.so", "fx_bid_probe", NULL);
  assert_int_equal(t.addr, (uintptr_t)dlsym(s.h, "fx_bid_probe"));
  assert_true(t.notes & HP_TARGET_GLOBAL);
  /* Static functions are only in .symtab, which is gone. */
  struct hotpatch_func f = {.target = "fx_bid_local",
                            .object = "libfx_stripped.so"};
  sym_expect_refusal(s.m, &f, HOTPATCH_ENOENT, "libfx_stripped.so");
  sym_expect_in(hotpatch_last_error(), ".symtab", "the detail");
  unload_swapped(&s);
}

static void file_without_symbol_tables_is_refused(void **state) {
  (void)state;
  struct swapped s;
  load_then_replace(&s, "libfx_nosym.so", FX_BID_NOSYM);
  struct hotpatch_func f = {.target = "fx_bid_probe",
                            .object = "libfx_nosym.so"};
  sym_expect_refusal(s.m, &f, HOTPATCH_ENOSYMTAB, "libfx_nosym.so");
  unload_swapped(&s);
}

static void resolving_leaves_no_descriptor_open(void **state) {
  (void)state;
  struct hp_modules *m = snapshot();
  int before = sym_count_fds();
  static const char *const targets[] = {"fx_split",  "fx_pick", "fx_nosize",
                                        "fx_helper", "fx_none", "fx_datafunc"};
  for (int round = 0; round < 10; round++)
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
      struct hotpatch_func f = {.target = targets[i], .object = "libfx_lib.so"};
      struct hp_target t;
      hp_resolve(m, &f, &t);
    }
  assert_null(hp_modules_by_object(m, "libfx_by_soname_only.so"));
  assert_int_equal(sym_count_fds(), before);
  hp_modules_free(m);
}

int main(void) {
  sym_log_capture(); /* keep expected warnings out of the test output */
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(snapshot_lists_the_main_program_first),
      cmocka_unit_test(module_by_address_finds_the_owner),
      cmocka_unit_test(executable_segments_are_mapped_executable),
      cmocka_unit_test(eh_frame_hdr_is_recorded),
      cmocka_unit_test(vdso_is_flagged_and_has_no_file),
      cmocka_unit_test(build_id_from_memory_equals_file),
      cmocka_unit_test(sha1_build_id_is_20_bytes),
      cmocka_unit_test(md5_build_id_is_16_bytes),
      cmocka_unit_test(custom_build_id_is_byte_exact),
      cmocka_unit_test(object_without_build_id_has_none),
      cmocka_unit_test(build_id_hex_is_parsed_case_insensitively),
      cmocka_unit_test(notes_are_walked_with_the_segment_alignment),
      cmocka_unit_test(object_is_found_by_basename_path_and_soname),
      cmocka_unit_test(unknown_object_is_refused),
      cmocka_unit_test(same_basename_twice_needs_a_path),
      cmocka_unit_test(successful_soname_lookup_leaves_no_stale_detail),
      cmocka_unit_test(required_build_id_is_checked),
      cmocka_unit_test(stale_file_on_disk_is_detected),
      cmocka_unit_test(deleted_file_on_disk_is_detected),
      cmocka_unit_test(stripped_file_falls_back_to_dynsym),
      cmocka_unit_test(file_without_symbol_tables_is_refused),
      cmocka_unit_test(resolving_leaves_no_descriptor_open),
  };
  int rc = cmocka_run_group_tests(tests, setup, teardown);
  hotpatch_set_logger(NULL, NULL);
  return rc;
}
