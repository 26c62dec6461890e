/* SPDX-License-Identifier: MIT */
/*
 * hp_resolve against the executable's own fixture CUs (fx_exe_a.c,
 * fx_exe_b.c) and libfx_lib.so. Built twice, as a PIE (FX_PIE=1) and with
 * -no-pie (FX_PIE=0): every resolved address must equal the address the
 * fixture itself takes of the function.
 */
#include "hp_test.h"

#include <elf.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "errors.h"
#include "fx_exe.h"
#include "fx_lib.h"
#include "fx_readelf.h"
#include "sym_util.h"

#define LIB "libfx_lib.so"

static struct hp_modules *snap;
static const char *exe_name; /* how the details name the main program */

static int setup(void **state) {
  (void)state;
  sym_log_capture();
  if (hp_modules_snapshot(&snap))
    return -1;
  exe_name = snap->mod[0].basename;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  hp_modules_free(snap);
  hotpatch_set_logger(NULL, NULL);
  return 0;
}

static uintptr_t addr_of(fx_exe_fn *fn) { return (uintptr_t)fn; }

static uintptr_t lib_bias(void) { return sym_module(snap, LIB)->bias; }

static void refuse(const char *object, const char *target, const char *file,
                   int code) {
  struct hotpatch_func f = {.target = target, .object = object, .file = file};
  sym_expect_refusal(snap, &f, code, object ? object : exe_name);
}

/* ------------------------------------------------------------------------ */

static void static_helper_is_disambiguated_by_file(void **state) {
  (void)state;
  struct hp_target a = sym_resolve(snap, NULL, "fx_helper", "fx_exe_a.c");
  assert_int_equal(a.addr, addr_of(fx_exe_a_helper()));
  assert_true(a.size > 0);
  assert_false(a.notes & HP_TARGET_GLOBAL);
  assert_string_equal(a.object, exe_name);
  /* A path names the file by its basename too. */
  struct hp_target b =
      sym_resolve(snap, "", "fx_helper", "/src/elsewhere/fx_exe_b.c");
  assert_int_equal(b.addr, addr_of(fx_exe_b_helper()));
  assert_int_not_equal(a.addr, b.addr);
}

static void static_helper_in_library_is_disambiguated_by_file(void **state) {
  (void)state;
  struct hp_target a = sym_resolve(snap, LIB, "fx_helper", "fx_lib_a.c");
  struct hp_target b = sym_resolve(snap, LIB, "fx_helper", "fx_lib_b.c");
  assert_int_equal(a.addr, (uintptr_t)fx_lib_a_helper());
  assert_int_equal(b.addr, (uintptr_t)fx_lib_b_helper());
  assert_string_equal(a.object, LIB);
}

static void ambiguous_static_name_is_refused(void **state) {
  (void)state;
  refuse(NULL, "fx_helper", NULL, HOTPATCH_EAMBIGUOUS);
  sym_expect_in(hotpatch_last_error(), "fx_exe_a.c", "the detail");
  sym_expect_in(hotpatch_last_error(), "fx_exe_b.c", "the detail");
  refuse(LIB, "fx_helper", NULL, HOTPATCH_EAMBIGUOUS);
  sym_expect_in(hotpatch_last_error(), "fx_lib_a.c", "the detail");
  sym_expect_in(hotpatch_last_error(), "fx_lib_b.c", "the detail");
}

static void file_that_has_no_such_static_is_refused(void **state) {
  (void)state;
  refuse(NULL, "fx_helper", "fx_nowhere.c", HOTPATCH_ENOENT);
  sym_expect_in(hotpatch_last_error(), "fx_nowhere.c", "the detail");
  sym_expect_in(hotpatch_last_error(), "fx_exe_a.c", "the detail");
  refuse(LIB, "fx_helper", "fx_exe_a.c", HOTPATCH_ENOENT);
  sym_expect_in(hotpatch_last_error(), "fx_lib_b.c", "the detail");
}

static void file_given_for_a_global_function_is_refused(void **state) {
  (void)state;
  refuse(NULL, "fx_exe_global", "fx_exe_a.c", HOTPATCH_ENOENT);
  sym_expect_in(hotpatch_last_error(), "global", "the detail");
  refuse(LIB, "fx_split", "fx_lib_a.c", HOTPATCH_ENOENT);
  sym_expect_in(hotpatch_last_error(), "omit .file", "the detail");
}

static void global_function_is_resolved_and_marked_global(void **state) {
  (void)state;
  struct hp_target t = sym_resolve(snap, NULL, "fx_exe_global", NULL);
  assert_int_equal(t.addr, addr_of(&fx_exe_global));
  assert_true(t.notes & HP_TARGET_GLOBAL);
  t = sym_resolve(snap, LIB, "fx_split", NULL);
  assert_int_equal(t.addr, (uintptr_t)fx_split_addr());
  assert_true(t.notes & HP_TARGET_GLOBAL);
}

static void ifunc_is_refused(void **state) {
  (void)state;
  assert_int_equal(fx_pick(), 42); /* the fixture works */
  refuse(LIB, "fx_pick", NULL, HOTPATCH_EIFUNC);
  sym_expect_in(hotpatch_last_error(), "IFUNC", "the detail");
}

static void alias_is_reported(void **state) {
  (void)state;
  sym_log_reset();
  struct hp_target t = sym_resolve(snap, LIB, "fx_aliased", NULL);
  assert_int_equal(t.addr, (uintptr_t)fx_aliased_addr());
  assert_true(t.notes & HP_TARGET_HAS_ALIAS);
  sym_expect_in(sym_log(), "fx_alias_name", "the warning");
  sym_log_reset();
  struct hp_target u = sym_resolve(snap, LIB, "fx_alias_name", NULL);
  assert_int_equal(u.addr, t.addr);
  assert_true(u.notes & HP_TARGET_HAS_ALIAS);
  sym_expect_in(sym_log(), "same address as fx_aliased", "the warning");
  /* A function without other names gets no such note. */
  t = sym_resolve(snap, LIB, "fx_split", NULL);
  assert_false(t.notes & HP_TARGET_HAS_ALIAS);
}

static void cold_part_is_found_and_refused_as_target(void **state) {
  (void)state;
  if (!FX_READELF_FX_SPLIT_COLD_FX_LIB_A_C)
    fail_msg("readelf finds no fx_split.cold in " LIB
             ": the compiler did not split it (see CMakeLists.txt)");
  const struct hp_module *lib = sym_module(snap, LIB);
  struct hp_target t = sym_resolve(snap, LIB, "fx_split", NULL);
  assert_true(t.notes & HP_TARGET_HAS_COLD);
  assert_int_equal(t.cold_addr,
                   lib->bias + FX_READELF_FX_SPLIT_COLD_FX_LIB_A_C);
  assert_int_equal(t.cold_size, FX_READELF_FX_SPLIT_COLD_FX_LIB_A_C_SIZE);
  assert_true(sym_in_code(lib, t.cold_addr, t.cold_size));
  assert_int_not_equal(t.cold_addr, t.addr);
  refuse(LIB, "fx_split.cold", NULL, HOTPATCH_ECLONE);
  sym_expect_in(hotpatch_last_error(), "patch 'fx_split'", "the detail");
  /* A .cold name that does not exist is simply not there. */
  refuse(LIB, "fx_aliased.cold", NULL, HOTPATCH_ENOENT);
}

static void cold_part_pairs_with_static_of_the_same_file(void **state) {
  (void)state;
  if (!FX_READELF_FX_TWIN_COLD_FX_LIB_A_C ||
      !FX_READELF_FX_TWIN_COLD_FX_LIB_B_C)
    fail_msg("readelf finds no fx_twin.cold in both CUs of " LIB
             ": the compiler did not split them (see CMakeLists.txt)");
  uintptr_t bias = lib_bias();
  struct hp_target a = sym_resolve(snap, LIB, "fx_twin", "fx_lib_a.c");
  struct hp_target b = sym_resolve(snap, LIB, "fx_twin", "fx_lib_b.c");
  assert_int_equal(a.addr, (uintptr_t)fx_lib_a_twin());
  assert_int_equal(b.addr, (uintptr_t)fx_lib_b_twin());
  assert_true(a.notes & b.notes & HP_TARGET_HAS_COLD);
  assert_int_equal(a.cold_addr, bias + FX_READELF_FX_TWIN_COLD_FX_LIB_A_C);
  assert_int_equal(b.cold_addr, bias + FX_READELF_FX_TWIN_COLD_FX_LIB_B_C);
  refuse(LIB, "fx_twin", NULL, HOTPATCH_EAMBIGUOUS);
}

static void clones_are_reported(void **state) {
  (void)state;
  sym_log_reset();
  struct hp_target t = sym_resolve(snap, LIB, "fx_scaled", NULL);
  assert_int_equal(t.addr, (uintptr_t)fx_scaled_addr());
  assert_true(t.notes & HP_TARGET_HAS_CLONES);
  sym_expect_in(sym_log(), "fx_scaled.constprop.0", "the warning");
  sym_expect_in(sym_log(), "not redirected", "the warning");
  t = sym_resolve(snap, LIB, "fx_aliased", NULL);
  assert_false(t.notes & HP_TARGET_HAS_CLONES);
}

static void missing_function_lists_its_clones(void **state) {
  (void)state;
  assert_int_equal(fx_use_lonely(1), 120 + 3 * 4 * 5 * 6 * 7);
  refuse(LIB, "fx_lonely", NULL, HOTPATCH_ENOENT);
  sym_expect_in(hotpatch_last_error(), "fx_lonely.constprop.0", "the detail");
}

static void missing_function_is_refused(void **state) {
  (void)state;
  refuse(NULL, "fx_no_such_function", NULL, HOTPATCH_ENOENT);
  refuse(LIB, "fx_no_such_function", NULL, HOTPATCH_ENOENT);
  /* A data object of that name is not a function. */
  refuse(NULL, "snap", NULL, HOTPATCH_ENOENT);
}

static void zero_size_symbol_is_refused(void **state) {
  (void)state;
  refuse(LIB, "fx_nosize", NULL, HOTPATCH_ENOSIZE);
}

static void function_symbol_outside_code_is_refused(void **state) {
  (void)state;
  refuse(LIB, "fx_datafunc", NULL, HOTPATCH_ENOTCODE);
}

static void target_name_is_required(void **state) {
  (void)state;
  struct hotpatch_func f = {.target = ""};
  struct hp_target t;
  assert_int_equal(hp_resolve(snap, &f, &t), HOTPATCH_EINVAL);
}

static int exe_elf_type(void) {
  unsigned char h[EI_NIDENT + 2];
  int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  assert_true(fd >= 0);
  assert_int_equal(read(fd, h, sizeof h), sizeof h);
  close(fd);
  return h[EI_NIDENT] | h[EI_NIDENT + 1] << 8; /* e_type, little-endian */
}

/* Both variants prove the same thing: runtime address = bias + st_value,
 * with bias 0 for ET_EXEC. */
static void main_program_address_equals_symbol_address(int pie) {
  const struct hp_module *main_mod = &snap->mod[0];
  assert_true(main_mod->is_main);
  assert_int_equal(exe_elf_type(), pie ? ET_DYN : ET_EXEC);
  if (pie)
    assert_int_not_equal(main_mod->bias, 0);
  else
    assert_int_equal(main_mod->bias, 0);
  struct hp_target t = sym_resolve(snap, NULL, "fx_helper", "fx_exe_a.c");
  assert_int_equal(t.addr, addr_of(fx_exe_a_helper()));
  assert_true(sym_in_code(main_mod, t.addr, t.size));
  assert_ptr_equal(hp_modules_by_addr(snap, t.addr), main_mod);
  t = sym_resolve(snap, NULL, "fx_exe_global", NULL);
  assert_int_equal(t.addr, addr_of(&fx_exe_global));
}

#if FX_PIE
static void pie_address_equals_symbol_address(void **state) {
  (void)state;
  main_program_address_equals_symbol_address(1);
}
#else
static void non_pie_address_equals_symbol_address(void **state) {
  (void)state;
  main_program_address_equals_symbol_address(0);
}
#endif

int main(void) {
  const struct CMUnitTest tests[] = {
#if FX_PIE
    cmocka_unit_test(pie_address_equals_symbol_address),
#else
    cmocka_unit_test(non_pie_address_equals_symbol_address),
#endif
    cmocka_unit_test(static_helper_is_disambiguated_by_file),
    cmocka_unit_test(static_helper_in_library_is_disambiguated_by_file),
    cmocka_unit_test(ambiguous_static_name_is_refused),
    cmocka_unit_test(file_that_has_no_such_static_is_refused),
    cmocka_unit_test(file_given_for_a_global_function_is_refused),
    cmocka_unit_test(global_function_is_resolved_and_marked_global),
    cmocka_unit_test(ifunc_is_refused),
    cmocka_unit_test(alias_is_reported),
    cmocka_unit_test(cold_part_is_found_and_refused_as_target),
    cmocka_unit_test(cold_part_pairs_with_static_of_the_same_file),
    cmocka_unit_test(clones_are_reported),
    cmocka_unit_test(missing_function_lists_its_clones),
    cmocka_unit_test(missing_function_is_refused),
    cmocka_unit_test(zero_size_symbol_is_refused),
    cmocka_unit_test(function_symbol_outside_code_is_refused),
    cmocka_unit_test(target_name_is_required),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
