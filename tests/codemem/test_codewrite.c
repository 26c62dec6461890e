/* SPDX-License-Identifier: MIT */
/*
 * Writing existing code with the method the probe picks: bytes as written,
 * then exactly the originals; the pages' protections as they were; pages
 * straddled; changed bytes and non-code refused.
 */
#include "hp_test.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cm_util.h"
#include "codewrite.h"
#include "hotpatch.h"

static int (*volatile call42)(void) = fx_ret42;
static int (*volatile call7)(void) = fx_ret7;
static char not_code[64] = "data, not code";

static void assert_no_rwx(void) {
  char first[128];
  int n = cm_rwx_lines(first, sizeof first);
  if (n)
    fail_msg("%d writable+executable mapping(s), first: %s", n, first);
}

/* prepare + commit + finish; returns commit's result. */
static int write_code(uintptr_t addr, const uint8_t *expect,
                      const uint8_t *bytes, size_t len) {
  struct hp_write w;
  int rc = hp_write_prepare(&w, addr, len);
  if (rc) {
    print_error("prepare 0x%lx: %s\n", (unsigned long)addr,
                hotpatch_last_error());
    return rc;
  }
  rc = hp_write_commit(&w, expect, bytes);
  if (!rc)
    assert_int_equal(hp_write_verify(&w), 0);
  hp_write_finish(&w);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void probe_reports_a_method_and_leaves_no_rwx_mapping(void **state) {
  (void)state;
  int m = hp_write_method();
  if (m < 0)
    fail_msg("no write method: %s", hotpatch_last_error());
  assert_in_range(m, HP_WRITE_RWX, HP_WRITE_PROC_MEM);
  assert_true(hp_write_methods() & 1u << m);
  print_message("write method: %s (available mask 0x%x)%s\n",
                hp_write_method_name(m), hp_write_methods(),
                cm_under_qemu() ? " under qemu" : "");
  assert_string_equal(hp_write_method_name(HP_WRITE_PROC_MEM), "procmem");
  assert_string_equal(hp_write_method_name(HP_WRITE_NONE), "none");
  assert_no_rwx();
}

static void write_then_revert_gives_new_then_original_bytes(void **state) {
  (void)state;
  uintptr_t fn = (uintptr_t)fx_code_page;
  char p0[5], p1[5], a0[5], a1[5];
  assert_int_equal(cm_perms(fn, p0), 0);
  assert_int_equal(cm_perms(fn + CM_PAGE, p1), 0);
  assert_int_equal(p0[2], 'x');

  uint8_t orig[8], code[8];
  size_t len = cm_ret_code(code, 43);
  memcpy(orig, (void *)fn, len);
  assert_int_equal(call42(), 42);
  assert_int_equal(write_code(fn, orig, code, len), 0);
  assert_memory_equal((void *)fn, code, len);
  assert_int_equal(call42(), 43);
  assert_int_equal(call7(), 7); /* the other page is untouched */

  assert_int_equal(write_code(fn, code, orig, len), 0);
  assert_memory_equal((void *)fn, orig, len);
  assert_int_equal(call42(), 42);

  assert_int_equal(cm_perms(fn, a0), 0);
  assert_int_equal(cm_perms(fn + CM_PAGE, a1), 0);
  assert_string_equal(a0, p0);
  assert_string_equal(a1, p1);
  assert_no_rwx();
}

static void write_straddling_a_page_boundary_changes_both_pages(void **state) {
  (void)state;
  uintptr_t at = (uintptr_t)fx_code_page + CM_PAGE - 4;
  char p0[5], p1[5], a0[5], a1[5];
  assert_int_equal(cm_perms(at, p0), 0);
  assert_int_equal(cm_perms(at + 4, p1), 0);

  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, at, 8), 0);
  assert_int_equal(w.npages, 2);
  assert_int_equal(w.page[1] - w.page[0], w.pagesz);
  assert_int_equal(w.prot[0], PROT_READ | PROT_EXEC);
  assert_int_equal(w.prot[1], PROT_READ | PROT_EXEC);
  uint8_t orig[8], pat[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  memcpy(orig, (void *)at, 8);
  assert_int_equal(hp_write_commit(&w, orig, pat), 0);
  assert_memory_equal((void *)at, pat, 8);
  assert_int_equal(hp_write_verify(&w), 0);
  assert_int_equal(hp_write_commit(&w, pat, orig), 0);
  assert_memory_equal((void *)at, orig, 8);
  hp_write_finish(&w);

  assert_int_equal(cm_perms(at, a0), 0);
  assert_int_equal(cm_perms(at + 4, a1), 0);
  assert_string_equal(a0, p0);
  assert_string_equal(a1, p1);
  assert_int_equal(call42(), 42);
  assert_int_equal(call7(), 7);
  assert_no_rwx();
}

static void changed_bytes_are_refused_and_nothing_is_written(void **state) {
  (void)state;
  uintptr_t fn = (uintptr_t)fx_ret7;
  uint8_t orig[8], wrong[8], code[8];
  size_t len = cm_ret_code(code, 8);
  memcpy(orig, (void *)fn, len);
  memcpy(wrong, orig, len);
  wrong[len - 1] ^= 0xff;
  assert_int_equal(write_code(fn, wrong, code, len), HOTPATCH_ECHANGED);
  assert_memory_equal((void *)fn, orig, len);
  assert_int_equal(call7(), 7);
}

static void non_executable_ranges_are_not_code(void **state) {
  (void)state;
  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)not_code, 8),
                   HOTPATCH_ENOTCODE);
  assert_non_null(strstr(hotpatch_last_error(), "not executable"));
  hp_write_finish(&w);

  void *gone = mmap(NULL, CM_PAGE, PROT_READ | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(gone != MAP_FAILED);
  munmap(gone, CM_PAGE);
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)gone, 4), HOTPATCH_ENOTCODE);
  assert_non_null(strstr(hotpatch_last_error(), "not mapped"));
}

static void a_range_running_into_a_data_page_is_not_code(void **state) {
  (void)state;
  uint8_t *two = mmap(NULL, 2 * CM_PAGE, PROT_READ | PROT_EXEC,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(two != MAP_FAILED);
  assert_int_equal(mprotect(two + CM_PAGE, CM_PAGE, PROT_READ), 0);
  char perms[5];
  assert_int_equal(cm_perms((uintptr_t)two + CM_PAGE, perms), 0);
  if (cm_under_qemu() && strcmp(perms, "r--p") != 0) {
    munmap(two, 2 * CM_PAGE);
    print_message("SKIP: qemu-user lists a page mprotect()ed from r-x to r-- "
                  "as %s: its /proc/self/maps shows one protection per host "
                  "mapping, and the host pages (never executable under qemu) "
                  "did not split\n",
                  perms);
    skip();
  }
  assert_string_equal(perms, "r--p");
  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)two + CM_PAGE - 2, 4),
                   HOTPATCH_ENOTCODE);
  assert_non_null(strstr(hotpatch_last_error(), "not executable"));
  munmap(two, 2 * CM_PAGE);
}

static void bad_lengths_are_invalid(void **state) {
  (void)state;
  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)fx_ret42, 0),
                   HOTPATCH_EINVAL);
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)fx_ret42, HP_WRITE_MAX + 1),
                   HOTPATCH_EINVAL);
  assert_int_equal(hp_write_prepare(&w, UINTPTR_MAX - 2, 8), HOTPATCH_EINVAL);
}

static void an_rwx_page_stays_rwx(void **state) {
  (void)state;
  uint8_t *p = mmap(NULL, CM_PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    print_message("SKIP: this environment refuses an rwx mapping (%s), so "
                  "there is no rwx page whose protection to keep\n",
                  strerror(errno));
    skip();
  }
  memset(p, 0x11, 16);
  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)p + 4, 4), 0);
  assert_int_equal(w.prot[0], PROT_READ | PROT_WRITE | PROT_EXEC);
  uint8_t old[4] = {0x11, 0x11, 0x11, 0x11}, neu[4] = {9, 9, 9, 9};
  assert_int_equal(hp_write_commit(&w, old, neu), 0);
  hp_write_finish(&w);
  assert_memory_equal(p + 4, neu, 4);
  char perms[5];
  assert_int_equal(cm_perms((uintptr_t)p, perms), 0);
  assert_string_equal(perms, "rwxp");
  munmap(p, CM_PAGE);
}

static void verify_names_a_page_whose_protection_changed(void **state) {
  (void)state;
  uint8_t *p = mmap(NULL, CM_PAGE, PROT_READ | PROT_EXEC,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  assert_true(p != MAP_FAILED);
  struct hp_write w;
  assert_int_equal(hp_write_prepare(&w, (uintptr_t)p, 4), 0);
  assert_int_equal(hp_write_verify(&w), 0);
  assert_int_equal(mprotect(p, CM_PAGE, PROT_READ), 0);
  assert_int_equal(hp_write_verify(&w), HOTPATCH_ECODEWRITE);
  char want[32];
  snprintf(want, sizeof want, "0x%lx is r--", (unsigned long)p);
  if (!strstr(hotpatch_last_error(), want))
    fail_msg("detail '%s' lacks '%s'", hotpatch_last_error(), want);
  hp_write_finish(&w);
  munmap(p, CM_PAGE);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(probe_reports_a_method_and_leaves_no_rwx_mapping),
      cmocka_unit_test(write_then_revert_gives_new_then_original_bytes),
      cmocka_unit_test(write_straddling_a_page_boundary_changes_both_pages),
      cmocka_unit_test(changed_bytes_are_refused_and_nothing_is_written),
      cmocka_unit_test(non_executable_ranges_are_not_code),
      cmocka_unit_test(a_range_running_into_a_data_page_is_not_code),
      cmocka_unit_test(bad_lengths_are_invalid),
      cmocka_unit_test(an_rwx_page_stays_rwx),
      cmocka_unit_test(verify_names_a_page_whose_protection_changed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
