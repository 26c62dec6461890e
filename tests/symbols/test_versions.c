/* SPDX-License-Identifier: MIT */
/*
 * Symbol versions. libfx_ver.so has fx_ver@VER_1 (old) and fx_ver@@VER_2
 * (default) at different addresses, fx_gone only as fx_gone@VER_1, and
 * fx_same under both versions at one address. It is loaded twice: as
 * built (.symtab spells versions in the names) and stripped to .dynsym
 * (versions only in .gnu.version / .gnu.version_d). Every resolved address
 * must equal what the fixture's own code and dlvsym() say. Then the C
 * library, whose functions have several versions, against dlsym().
 */
#include "hp_test.h"

#include <dlfcn.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "fx_ver.h"
#include "sym_util.h"

#define VER_LIB "libfx_ver.so"
#define VER_STRIPPED "libfx_ver.stripped.so"

static struct hp_modules *snap;

/* The fixture as built and as stripped: what each test runs against. */
struct ver_obj {
  const char *name, *path;
  int has_symtab;
  void *h;
};
static struct ver_obj objs[] = {{VER_LIB, FX_VER, 1, NULL},
                                {VER_STRIPPED, FX_VER_STRIPPED, 0, NULL}};
#define NOBJS (sizeof objs / sizeof *objs)

static void *libc;

static int setup(void **state) {
  (void)state;
  sym_log_capture();
  for (size_t i = 0; i < NOBJS; i++)
    if (!(objs[i].h = dlopen(objs[i].path, RTLD_NOW | RTLD_LOCAL))) {
      fprintf(stderr, "dlopen %s: %s\n", objs[i].path, dlerror());
      return -1;
    }
  libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  if (!libc) {
    fprintf(stderr, "libc.so.6 is not loaded: %s\n", dlerror());
    return -1;
  }
  return hp_modules_snapshot(&snap) ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  hp_modules_free(snap);
  dlclose(libc);
  for (size_t i = 0; i < NOBJS; i++)
    dlclose(objs[i].h);
  hotpatch_set_logger(NULL, NULL);
  return 0;
}

/* Where the fixture's own code says implementation `which` is. */
static uintptr_t impl(const struct ver_obj *o, int which) {
  fx_ver_fn *(*get)(int) = (fx_ver_fn * (*)(int)) dlsym(o->h, "fx_ver_impl");
  assert_non_null(get);
  uintptr_t a = (uintptr_t)get(which);
  assert_true(a != 0);
  return a;
}

/* Where the dynamic linker says version `ver` of `name` is. */
static uintptr_t vsym(void *h, const char *name, const char *ver) {
  void *a = dlvsym(h, name, ver);
  if (!a)
    fail_msg("dlvsym(%s, %s): %s", name, ver, dlerror());
  return (uintptr_t)a;
}

static void refuse(const struct ver_obj *o, const char *target, int code) {
  struct hotpatch_func f = {.target = target, .object = o->name};
  sym_expect_refusal(snap, &f, code, o->name);
}

/* ------------------------------------------------------------------------ */

static int file_has_symtab(const char *path) {
  int fd;
  Elf *elf;
  assert_int_equal(hp_elf_open(path, &fd, &elf), 0);
  int found = 0;
  Elf_Scn *scn = NULL;
  GElf_Shdr sh;
  while ((scn = elf_nextscn(elf, scn)) != NULL)
    found |= gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB;
  hp_elf_close(fd, elf);
  return found;
}

static void fixture_has_versions_in_both_kinds_of_table(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++)
    assert_int_equal(file_has_symtab(objs[i].path), objs[i].has_symtab);
  /* The fixture works, and the versions are where it says they are. */
  const struct ver_obj *o = &objs[0];
  assert_int_equal(((fx_ver_fn *)impl(o, FX_VER_V1))(1), 2);
  assert_int_equal(((fx_ver_fn *)impl(o, FX_VER_V2))(1), 4);
  assert_int_equal(vsym(o->h, "fx_ver", "VER_1"), impl(o, FX_VER_V1));
  assert_int_equal(vsym(o->h, "fx_ver", "VER_2"), impl(o, FX_VER_V2));
  assert_int_equal((uintptr_t)dlsym(o->h, "fx_ver"), impl(o, FX_VER_V2));
  assert_int_not_equal(impl(o, FX_VER_V1), impl(o, FX_VER_V2));
}

static void bare_name_resolves_to_the_default_version(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++) {
    const struct ver_obj *o = &objs[i];
    struct hp_target t = sym_resolve(snap, o->name, "fx_ver", NULL);
    assert_int_equal(t.addr, impl(o, FX_VER_V2));
    assert_int_equal(t.addr, vsym(o->h, "fx_ver", "VER_2"));
    assert_true(t.notes & HP_TARGET_GLOBAL);
    assert_true(t.size > 0);
    assert_string_equal(t.object, o->name);
  }
}

static void named_version_resolves_to_exactly_that_version(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++) {
    const struct ver_obj *o = &objs[i];
    struct hp_target v1 = sym_resolve(snap, o->name, "fx_ver@VER_1", NULL);
    assert_int_equal(v1.addr, impl(o, FX_VER_V1));
    assert_int_equal(v1.addr, vsym(o->h, "fx_ver", "VER_1"));
    struct hp_target v2 = sym_resolve(snap, o->name, "fx_ver@@VER_2", NULL);
    assert_int_equal(v2.addr, impl(o, FX_VER_V2));
    /* One "@" names a version whether or not it is the default. */
    struct hp_target any = sym_resolve(snap, o->name, "fx_ver@VER_2", NULL);
    assert_int_equal(any.addr, v2.addr);
  }
}

static void default_marker_on_an_old_version_is_refused(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++) {
    refuse(&objs[i], "fx_ver@@VER_1", HOTPATCH_ENOENT);
    sym_expect_in(hotpatch_last_error(), "fx_ver@VER_1", "the detail");
    sym_expect_in(hotpatch_last_error(), "fx_ver@@VER_2", "the detail");
    sym_expect_in(hotpatch_last_error(), "'@@'", "the detail");
  }
}

static void
unknown_version_is_refused_with_the_versions_there_are(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++) {
    refuse(&objs[i], "fx_ver@VER_9", HOTPATCH_ENOENT);
    sym_expect_in(hotpatch_last_error(), "fx_ver@VER_1", "the detail");
    sym_expect_in(hotpatch_last_error(), "fx_ver@@VER_2", "the detail");
    refuse(&objs[i], "fx_nothing@VER_1", HOTPATCH_ENOENT);
  }
}

static void
name_with_only_old_versions_is_refused_until_one_is_named(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++) {
    const struct ver_obj *o = &objs[i];
    refuse(o, "fx_gone", HOTPATCH_ENOENT);
    sym_expect_in(hotpatch_last_error(), "no default version", "the detail");
    sym_expect_in(hotpatch_last_error(), "fx_gone@VER_1", "the detail");
    sym_expect_in(hotpatch_last_error(), "name the version", "the detail");
    struct hp_target t = sym_resolve(snap, o->name, "fx_gone@VER_1", NULL);
    assert_int_equal(t.addr, impl(o, FX_GONE_V1));
    assert_int_equal(t.addr, vsym(o->h, "fx_gone", "VER_1"));
  }
}

static void versions_at_one_address_are_one_function(void **state) {
  (void)state;
  for (size_t i = 0; i < NOBJS; i++) {
    const struct ver_obj *o = &objs[i];
    static const char *const names[] = {"fx_same", "fx_same@VER_1",
                                        "fx_same@@VER_2"};
    for (size_t n = 0; n < sizeof names / sizeof *names; n++) {
      sym_log_reset();
      struct hp_target t = sym_resolve(snap, o->name, names[n], NULL);
      assert_int_equal(t.addr, impl(o, FX_SAME));
      /* Its other version is not reported as another name of it; the
       * implementation's own (local) name, in .symtab only, is. */
      const char *aliases = strstr(sym_log(), "same address as");
      if (aliases && strstr(aliases, "fx_same@"))
        fail_msg("'%s': a version reported as an alias: %s", names[n],
                 sym_log());
      if (o->has_symtab) {
        assert_true(t.notes & HP_TARGET_HAS_ALIAS);
        sym_expect_in(sym_log(), "fx_same_impl", "the warning");
      } else {
        assert_false(t.notes & HP_TARGET_HAS_ALIAS);
      }
    }
    assert_int_equal(vsym(o->h, "fx_same", "VER_1"),
                     vsym(o->h, "fx_same", "VER_2"));
  }
}

static void malformed_version_is_refused(void **state) {
  (void)state;
  static const char *const bad[] = {"fx_ver@", "fx_ver@@", "@VER_1", "@@VER_2",
                                    "fx_ver@VER_1@VER_2"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
    refuse(&objs[0], bad[i], HOTPATCH_EINVAL);
}

/* ------------------------------------------------------------------------ */
/* The C library: several of its functions have an old version next to the
 * default (on x86_64; aarch64 starts at GLIBC_2.17 with one version each).
 * dlsym() on libc's handle, not RTLD_DEFAULT, so that a sanitizer's
 * interceptors of the same names do not answer instead. */

static void libc_functions_resolve_to_the_version_dlsym_finds(void **state) {
  (void)state;
  static const char *const names[] = {
      "realpath", "pthread_cond_wait", "pthread_cond_signal",
      "regexec",  "sched_setaffinity", "fopen"};
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    void *want = dlsym(libc, names[i]);
    assert_non_null(want);
    struct hp_target t = sym_resolve(snap, "libc.so.6", names[i], NULL);
    if (t.addr != (uintptr_t)want)
      fail_msg("'%s' in libc.so.6: resolved %#lx, dlsym says %p", names[i],
               (unsigned long)t.addr, want);
  }
}

static void libc_memcpy_is_refused_as_an_ifunc_not_as_ambiguous(void **state) {
  (void)state;
  /* memcpy@@ (the default) is an IFUNC on both x86_64 and aarch64; on
   * x86_64 memcpy@GLIBC_2.2.5 is a plain function at another address. */
  struct hotpatch_func f = {.target = "memcpy", .object = "libc.so.6"};
  struct hp_target t;
  hp_clear_error();
  int rc = hp_resolve(snap, &f, &t);
  if (rc == 0)
    assert_int_equal(t.addr, (uintptr_t)dlsym(libc, "memcpy"));
  else if (rc != HOTPATCH_EIFUNC)
    fail_msg("memcpy: %s: %s", hotpatch_err_name(rc), hotpatch_last_error());
#if defined(__x86_64__)
  static const char *const old[][2] = {{"memcpy", "GLIBC_2.2.5"},
                                       {"realpath", "GLIBC_2.2.5"},
                                       {"pthread_cond_wait", "GLIBC_2.2.5"}};
  for (size_t i = 0; i < sizeof old / sizeof *old; i++) {
    char target[64];
    snprintf(target, sizeof target, "%s@%s", old[i][0], old[i][1]);
    t = sym_resolve(snap, "libc.so.6", target, NULL);
    assert_int_equal(t.addr, vsym(libc, old[i][0], old[i][1]));
    assert_int_not_equal(t.addr, (uintptr_t)dlsym(libc, old[i][0]));
  }
  t = sym_resolve(snap, "libc.so.6", "pthread_cond_wait@@GLIBC_2.3.2", NULL);
  assert_int_equal(t.addr, (uintptr_t)dlsym(libc, "pthread_cond_wait"));
#endif
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fixture_has_versions_in_both_kinds_of_table),
      cmocka_unit_test(bare_name_resolves_to_the_default_version),
      cmocka_unit_test(named_version_resolves_to_exactly_that_version),
      cmocka_unit_test(default_marker_on_an_old_version_is_refused),
      cmocka_unit_test(unknown_version_is_refused_with_the_versions_there_are),
      cmocka_unit_test(
          name_with_only_old_versions_is_refused_until_one_is_named),
      cmocka_unit_test(versions_at_one_address_are_one_function),
      cmocka_unit_test(malformed_version_is_refused),
      cmocka_unit_test(libc_functions_resolve_to_the_version_dlsym_finds),
      cmocka_unit_test(libc_memcpy_is_refused_as_an_ifunc_not_as_ambiguous),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
