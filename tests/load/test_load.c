/* SPDX-License-Identifier: MIT */
/*
 * Loading patch objects: what is accepted, what is refused with which error,
 * and that a refusal leaves nothing behind (no registry entry, no mapping of
 * the object, no open file descriptor; leaks are caught by the ASan run).
 */
#include "hp_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hotpatch.h"

#define PATCH(name) HP_PATCH_DIR "/p_" name ".so"

int lt_target(int x);
void *lt_a_helper_addr(void);
void *lt_b_helper_addr(void);

/* ---- observing the process -------------------------------------------- */

static char last_log[1024];
static int last_log_level;

static void capture_log(int level, const char *msg, void *arg) {
  (void)arg;
  last_log_level = level;
  snprintf(last_log, sizeof last_log, "%s", msg);
}

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  for (struct dirent *e; (e = readdir(d));)
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* Is a file with this path mapped into the process? */
static int is_mapped(const char *path) {
  char real[4096];
  if (!realpath(path, real))
    snprintf(real, sizeof real, "%s", path);
  FILE *f = fopen("/proc/self/maps", "r");
  char line[8192];
  int found = 0;
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, real) != NULL;
  fclose(f);
  return found;
}

static int count_cb(hotpatch_patch *p, void *arg) {
  (void)p;
  ++*(int *)arg;
  return 0;
}

static int count_patches(void) {
  int n = 0;
  assert_int_equal(hotpatch_foreach(count_cb, &n), 0);
  return n;
}

struct before {
  int fds, patches;
};

static struct before snapshot(void) {
  return (struct before){count_fds(), count_patches()};
}

/* Load `path`, expect `err`, and check that nothing was kept. */
static void assert_refused(const char *path, int err, const char *name,
                           const char *detail_part) {
  struct before b = snapshot();
  hotpatch_patch *p = (hotpatch_patch *)0x1;
  last_log[0] = '\0';
  int rc = hotpatch_load(path, &p);
  if (rc != err)
    fail_msg("load %s: got %s (%d), want %s: %s", path, hotpatch_err_name(rc),
             rc, hotpatch_err_name(err), hotpatch_last_error());
  assert_null(p);
  if (detail_part && !strstr(hotpatch_last_error(), detail_part))
    fail_msg("detail '%s' does not mention '%s'", hotpatch_last_error(),
             detail_part);
  assert_int_equal(last_log_level, HOTPATCH_LOG_ERROR);
  assert_non_null(strstr(last_log, hotpatch_err_name(err)));
  if (name)
    assert_null(hotpatch_find(name));
  assert_int_equal(count_patches(), b.patches);
  assert_int_equal(count_fds(), b.fds);
  assert_false(is_mapped(path));
}

static int setup(void **state) {
  (void)state;
  hotpatch_set_logger(capture_log, NULL);
  return 0;
}

/* ---- accepted ----------------------------------------------------------- */

static void loads_patch_and_resolves_its_targets(void **state) {
  (void)state;
  struct before b = snapshot();
  hotpatch_patch *p = NULL;
  assert_int_equal(hotpatch_load(PATCH("good"), &p), 0);
  assert_string_equal(hotpatch_last_error(), "");
  assert_ptr_equal(hotpatch_find("good"), p);
  assert_string_equal(hotpatch_name(p), "good");
  assert_int_equal(hotpatch_is_applied(p), 0);
  assert_int_equal(hotpatch_rc(p), 0);
  assert_string_equal(hotpatch_desc_of(p)->description,
                      "valid two-function patch");
  assert_true(is_mapped(PATCH("good")));

  struct hotpatch_func_info fi;
  assert_int_equal(hotpatch_func_info(p, 0, &fi), 0);
  assert_string_equal(fi.target, "lt_target");
  assert_ptr_equal(fi.address, (void *)lt_target);
  assert_true(fi.size > 0);
  assert_ptr_equal(fi.replacement, hotpatch_desc_of(p)->funcs[0].replacement);
  assert_int_equal(hotpatch_func_info(p, 1, &fi), 0);
  assert_ptr_equal(fi.address, lt_a_helper_addr());
  assert_ptr_not_equal(fi.address, lt_b_helper_addr());
  assert_int_equal(hotpatch_func_info(p, 2, &fi), HOTPATCH_ENOENT);

  assert_int_equal(hotpatch_unload(p), 0);
  assert_null(hotpatch_find("good"));
  assert_false(is_mapped(PATCH("good")));
  assert_int_equal(count_patches(), b.patches);
  assert_int_equal(count_fds(), b.fds);
}

static int rp_replacement(int x) { return x - 1; }
/* Writable data: on aarch64 .rodata shares the executable segment. */
static int not_code = 5;

static const struct hotpatch_desc in_process = {
    .magic = HOTPATCH_MAGIC,
    .abi = HOTPATCH_ABI,
    .name = "in-process",
    .funcs = (const struct hotpatch_func[]){
        {.target = "lt_target", .replacement = (void *)rp_replacement}, {0}}};

static void registers_descriptor_already_in_process(void **state) {
  (void)state;
  hotpatch_patch *p = NULL, *q = (hotpatch_patch *)0x1;
  assert_int_equal(hotpatch_register(&in_process, &p), 0);
  assert_ptr_equal(hotpatch_desc_of(p), &in_process);
  assert_ptr_equal(hotpatch_find("in-process"), p);
  assert_int_equal(hotpatch_register(&in_process, &q), HOTPATCH_EEXIST);
  assert_null(q);
  assert_int_equal(hotpatch_unload(p), 0);
  assert_null(hotpatch_find("in-process"));
}

static int order_cb(hotpatch_patch *p, void *arg) {
  char *s = arg;
  strcat(s, hotpatch_name(p));
  strcat(s, ",");
  return strcmp(hotpatch_name(p), "stop-here") == 0 ? 77 : 0;
}

static void foreach_walks_load_order_and_stops_on_nonzero(void **state) {
  (void)state;
  static const struct hotpatch_func f[] = {
      {.target = "lt_target", .replacement = (void *)rp_replacement}, {0}};
  static const struct hotpatch_desc d1 = {
      HOTPATCH_MAGIC, HOTPATCH_ABI, "first", NULL, f, NULL, {0}, 0, NULL};
  static const struct hotpatch_desc d2 = {
      HOTPATCH_MAGIC, HOTPATCH_ABI, "stop-here", NULL, f, NULL, {0}, 0, NULL};
  hotpatch_patch *a, *b, *c;
  assert_int_equal(hotpatch_register(&d1, &a), 0);
  assert_int_equal(hotpatch_load(PATCH("good"), &b), 0);
  assert_int_equal(hotpatch_register(&d2, &c), 0);
  char seen[256] = "";
  assert_int_equal(hotpatch_foreach(order_cb, seen), 77);
  assert_string_equal(seen, "first,good,stop-here,");
  assert_int_equal(hotpatch_unload(b), 0);
  seen[0] = '\0';
  assert_int_equal(hotpatch_foreach(order_cb, seen), 77);
  assert_string_equal(seen, "first,stop-here,");
  assert_int_equal(hotpatch_unload(a), 0);
  assert_int_equal(hotpatch_unload(c), 0);
  assert_int_equal(hotpatch_foreach(NULL, NULL), HOTPATCH_EINVAL);
}

static int reentrant_cb(hotpatch_patch *p, void *arg) {
  hotpatch_patch *q = (hotpatch_patch *)0x1;
  int *rcs = arg;
  rcs[0] = hotpatch_load(PATCH("good_twin"), &q);
  rcs[1] = hotpatch_unload(p);
  rcs[2] = q == NULL;
  /* Readers still work from inside the callback. */
  rcs[3] = hotpatch_find(hotpatch_name(p)) == p;
  return 0;
}

static void actions_from_foreach_callback_are_busy(void **state) {
  (void)state;
  hotpatch_patch *p;
  assert_int_equal(hotpatch_load(PATCH("good"), &p), 0);
  int rcs[4] = {0};
  assert_int_equal(hotpatch_foreach(reentrant_cb, rcs), 0);
  assert_int_equal(rcs[0], HOTPATCH_EBUSY);
  assert_int_equal(rcs[1], HOTPATCH_EBUSY);
  assert_int_equal(rcs[2], 1);
  assert_int_equal(rcs[3], 1);
  assert_false(is_mapped(PATCH("good_twin")));
  assert_int_equal(hotpatch_unload(p), 0);
}

struct loader_arg {
  const char *path;
  int rc;
  hotpatch_patch *p;
};

static void *load_thread(void *arg) {
  struct loader_arg *a = arg;
  a->rc = hotpatch_load(a->path, &a->p);
  return NULL;
}

static void concurrent_loads_of_one_name_admit_exactly_one(void **state) {
  (void)state;
  struct loader_arg a[4] = {{PATCH("good"), 0, NULL},
                            {PATCH("good_twin"), 0, NULL},
                            {PATCH("good"), 0, NULL},
                            {PATCH("good_twin"), 0, NULL}};
  pthread_t t[4];
  for (int i = 0; i < 4; i++)
    pthread_create(&t[i], NULL, load_thread, &a[i]);
  for (int i = 0; i < 4; i++)
    pthread_join(t[i], NULL);
  int ok = 0;
  hotpatch_patch *winner = NULL;
  for (int i = 0; i < 4; i++) {
    if (a[i].rc == 0) {
      ok++;
      winner = a[i].p;
    } else {
      assert_int_equal(a[i].rc, HOTPATCH_EEXIST);
      assert_null(a[i].p);
    }
  }
  assert_int_equal(ok, 1);
  assert_ptr_equal(hotpatch_find("good"), winner);
  assert_int_equal(hotpatch_unload(winner), 0);
  assert_false(is_mapped(PATCH("good")));
  assert_false(is_mapped(PATCH("good_twin")));
}

/* ---- refused: the file ------------------------------------------------- */

static char tmpdir[] = "/tmp/hp-load-XXXXXX";

static const char *write_prefix(const char *name, const char *src, long len) {
  static char path[4200];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  int in = open(src, O_RDONLY),
      out = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(in >= 0 && out >= 0);
  char buf[65536];
  long done = 0;
  while (done < len) {
    ssize_t n = read(in, buf,
                     (size_t)(len - done) < sizeof buf ? (size_t)(len - done)
                                                       : sizeof buf);
    if (n <= 0)
      break;
    assert_int_equal(write(out, buf, (size_t)n), n);
    done += n;
  }
  close(in);
  close(out);
  return path;
}

static long file_size(const char *path) {
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  return (long)st.st_size;
}

static void refuses_truncated_elf(void **state) {
  (void)state;
  long size = file_size(PATCH("good"));
  /* Only the ELF header: the program headers are past the end. */
  assert_refused(write_prefix("header-only.so", PATCH("good"), 64),
                 HOTPATCH_EBADELF, "good", "program headers");
  /* Cut in the middle: segments or section headers run past the end. */
  assert_refused(write_prefix("half.so", PATCH("good"), size / 2),
                 HOTPATCH_EBADELF, "good", "truncated");
  /* One byte short: the section header table is cut. */
  assert_refused(write_prefix("short.so", PATCH("good"), size - 1),
                 HOTPATCH_EBADELF, "good", "truncated");
}

static void refuses_files_that_are_not_elf(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/text.so", tmpdir);
  FILE *f = fopen(path, "w");
  fputs("#!/bin/sh\necho not a patch\n", f);
  fclose(f);
  assert_refused(path, HOTPATCH_ENOTELF, NULL, "no ELF magic");
  snprintf(path, sizeof path, "%s/empty.so", tmpdir);
  fclose(fopen(path, "w"));
  assert_refused(path, HOTPATCH_ENOTELF, NULL, "no ELF magic");
  assert_refused(tmpdir, HOTPATCH_ENOTELF, NULL, "not a regular file");
  snprintf(path, sizeof path, "%s/missing.so", tmpdir);
  assert_refused(path, HOTPATCH_ENOENT, NULL, "missing.so");
}

static void refuses_patch_for_other_architecture(void **state) {
  (void)state;
  if (!HP_FOREIGN_SO[0]) {
    fprintf(stderr, "SKIPPED refuses_patch_for_other_architecture: this build "
                    "has no compiler for the other architecture "
                    "(HOTPATCH_FOREIGN_CC); CI always sets one\n");
    skip();
  }
#if defined(__x86_64__)
  const char *other = "built for aarch64";
#else
  const char *other = "built for x86_64";
#endif
  assert_refused(HP_FOREIGN_SO, HOTPATCH_EFOREIGN, "foreign", other);
}

static void refuses_shared_object_without_descriptor(void **state) {
  (void)state;
  assert_refused(PATCH("nodesc"), HOTPATCH_ENODESC, NULL, "HOTPATCH_DEFINE");
  assert_refused(PATCH("hidden_desc"), HOTPATCH_ENODESC, "hidden",
                 "not exported");
}

static void refuses_object_that_dlopen_rejects(void **state) {
  (void)state;
  assert_refused(PATCH("undefined"), HOTPATCH_EDLOPEN, "undefined",
                 "hp_fixture_symbol_that_does_not_exist");
}

/* ---- refused: the descriptor ------------------------------------------- */

static void refuses_wrong_magic(void **state) {
  (void)state;
  assert_refused(PATCH("badmagic"), HOTPATCH_EMAGIC, "badmagic", "0xdeadbeef");
}

static void refuses_wrong_abi(void **state) {
  (void)state;
  assert_refused(PATCH("badabi"), HOTPATCH_EABI, "badabi", "ABI version 42");
}

static void refuses_empty_name(void **state) {
  (void)state;
  assert_refused(PATCH("noname"), HOTPATCH_EINVAL, NULL, "no name");
}

static void refuses_func_without_replacement(void **state) {
  (void)state;
  assert_refused(PATCH("noreplacement"), HOTPATCH_EINVAL, "noreplacement",
                 "has no replacement");
}

static void refuses_duplicate_name(void **state) {
  (void)state;
  hotpatch_patch *p;
  assert_int_equal(hotpatch_load(PATCH("good"), &p), 0);
  assert_refused(PATCH("good_twin"), HOTPATCH_EEXIST, NULL, "'good'");
  assert_ptr_equal(hotpatch_find("good"), p);
  /* The same file again: dlopen hands back the same object; refusing it must
   * not unmap the copy the first patch still uses. */
  struct before b = snapshot();
  hotpatch_patch *q = (hotpatch_patch *)0x1;
  assert_int_equal(hotpatch_load(PATCH("good"), &q), HOTPATCH_EEXIST);
  assert_null(q);
  assert_int_equal(count_patches(), b.patches);
  assert_true(is_mapped(PATCH("good")));
  assert_string_equal(hotpatch_desc_of(p)->name, "good");
  assert_int_equal(hotpatch_unload(p), 0);
  assert_false(is_mapped(PATCH("good")));
}

static void refuses_unknown_symbol(void **state) {
  (void)state;
  assert_refused(PATCH("unknown_sym"), HOTPATCH_ENOENT, "unknown_sym",
                 "lt_no_such_function");
}

static void refuses_ambiguous_static_name(void **state) {
  (void)state;
  assert_refused(PATCH("ambiguous"), HOTPATCH_EAMBIGUOUS, "ambiguous",
                 "lt_targets_b.c");
}

static void refuses_build_id_mismatch(void **state) {
  (void)state;
  assert_refused(PATCH("buildid"), HOTPATCH_EBUILDID, "buildid",
                 "00112233445566778899aabbccddeeff00112233");
}

static void refuses_object_that_is_not_loaded(void **state) {
  (void)state;
  assert_refused(PATCH("noobj"), HOTPATCH_ENOOBJ, "noobj",
                 "libnot-loaded-here.so.9");
}

static void refuses_bad_in_process_descriptors(void **state) {
  (void)state;
  struct hotpatch_func f[3] = {
      {.target = "lt_target", .replacement = (void *)rp_replacement}, {0}, {0}};
  struct hotpatch_desc d = {
      .magic = HOTPATCH_MAGIC, .abi = HOTPATCH_ABI, .name = "bad", .funcs = f};
  hotpatch_patch *p = (hotpatch_patch *)0x1;
  int before = count_patches();

  f[0].replacement = (void *)&not_code;
  assert_int_equal(hotpatch_register(&d, &p), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "not in the code"));
  f[0].replacement = (void *)rp_replacement;

  f[1] = f[0]; /* the same target twice */
  assert_int_equal(hotpatch_register(&d, &p), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "same function"));
  memset(&f[1], 0, sizeof f[1]);

  f[0].flags = 0x80;
  assert_int_equal(hotpatch_register(&d, &p), HOTPATCH_EINVAL);
  f[0].flags = 0;

  d.flags = 0x100;
  assert_int_equal(hotpatch_register(&d, &p), HOTPATCH_EINVAL);
  d.flags = 0;

  d.name = "has space";
  assert_int_equal(hotpatch_register(&d, &p), HOTPATCH_EINVAL);
  d.name = "bad";

  d.funcs = NULL; /* neither funcs nor hooks */
  assert_int_equal(hotpatch_register(&d, &p), HOTPATCH_EINVAL);
  assert_non_null(strstr(hotpatch_last_error(), "nothing to do"));

  assert_null(p);
  assert_int_equal(count_patches(), before);
  assert_null(hotpatch_find("bad"));
}

static void refuses_null_and_stale_handles(void **state) {
  (void)state;
  hotpatch_patch *p;
  assert_int_equal(hotpatch_load(NULL, &p), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_load(PATCH("good"), NULL), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_register(NULL, &p), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_unload(NULL), HOTPATCH_EINVAL);
  assert_null(hotpatch_find(NULL));
  assert_null(hotpatch_name(NULL));
  assert_int_equal(hotpatch_is_applied(NULL), HOTPATCH_EINVAL);
  assert_int_equal(hotpatch_rc(NULL), HOTPATCH_EINVAL);
  assert_null(hotpatch_desc_of(NULL));
  /* A handle that was never returned by the library. */
  assert_int_equal(hotpatch_unload((hotpatch_patch *)&in_process),
                   HOTPATCH_EINVAL);
}

static int make_tmpdir(void **state) {
  (void)state;
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
  return system(cmd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(loads_patch_and_resolves_its_targets, setup),
      cmocka_unit_test_setup(registers_descriptor_already_in_process, setup),
      cmocka_unit_test_setup(foreach_walks_load_order_and_stops_on_nonzero,
                             setup),
      cmocka_unit_test_setup(actions_from_foreach_callback_are_busy, setup),
      cmocka_unit_test_setup(concurrent_loads_of_one_name_admit_exactly_one,
                             setup),
      cmocka_unit_test_setup(refuses_truncated_elf, setup),
      cmocka_unit_test_setup(refuses_files_that_are_not_elf, setup),
      cmocka_unit_test_setup(refuses_patch_for_other_architecture, setup),
      cmocka_unit_test_setup(refuses_shared_object_without_descriptor, setup),
      cmocka_unit_test_setup(refuses_object_that_dlopen_rejects, setup),
      cmocka_unit_test_setup(refuses_wrong_magic, setup),
      cmocka_unit_test_setup(refuses_wrong_abi, setup),
      cmocka_unit_test_setup(refuses_empty_name, setup),
      cmocka_unit_test_setup(refuses_func_without_replacement, setup),
      cmocka_unit_test_setup(refuses_duplicate_name, setup),
      cmocka_unit_test_setup(refuses_unknown_symbol, setup),
      cmocka_unit_test_setup(refuses_ambiguous_static_name, setup),
      cmocka_unit_test_setup(refuses_build_id_mismatch, setup),
      cmocka_unit_test_setup(refuses_object_that_is_not_loaded, setup),
      cmocka_unit_test_setup(refuses_bad_in_process_descriptors, setup),
      cmocka_unit_test_setup(refuses_null_and_stale_handles, setup),
  };
  return cmocka_run_group_tests_name("load_patches", tests, make_tmpdir,
                                     remove_tmpdir);
}
