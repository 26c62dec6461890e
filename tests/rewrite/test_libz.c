/* SPDX-License-Identifier: MIT */
/*
 * Real code, not only ours: every exported function of the system's
 * libz.so.1 is redirected to a counting pass-through that continues in the
 * original through its trampoline. A round trip of several MiB through the
 * patched library must produce byte-identical output to the unpatched run,
 * the counters must show exactly the calls made, and removing every site
 * must give back libz's original bytes (each function and the padding
 * after it a site may use).
 */
#include "hp_test.h"

#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "hp_maps.h"
#include "modules.h"
#include "site.h"
#include "symbols.h"

#define LZ_MAX 160
uint64_t lz_counts[LZ_MAX];
void *lz_origs[LZ_MAX];
extern void *const lz_thunks[LZ_MAX];

#define DATA_SIZE (6u << 20)
#define CHUNK (64u << 10)

struct lz_func {
  char name[64];
  struct hp_target t;
  struct hp_site_rt rt;
  uint8_t *before; /* the function and the tail the analyser saw */
  size_t nbefore;
};

static struct lz_func funcs[LZ_MAX];
static size_t nfuncs;

/* Text-like data with noise: compressible, not trivially. */
static unsigned char *make_data(void) {
  unsigned char *d = malloc(DATA_SIZE);
  static const char words[] = "the quick brown fox jumps over lazy dogs ";
  uint32_t x = 12345;
  for (size_t i = 0; i < DATA_SIZE; i++) {
    x = x * 1103515245u + 12345u;
    d[i] = (x >> 28) == 0 ? (unsigned char)(x >> 16)
                          : (unsigned char)words[(i + (x >> 30)) % 41];
  }
  return d;
}

struct result {
  unsigned char *z;
  size_t zlen;
  unsigned long crc, adler;
  long ndeflate, ninflate; /* calls this run made */
};

/* deflate and inflate in CHUNK steps (many calls), then compress2 /
 * uncompress, crc32, adler32. Checks the round trip itself. */
static void round_trip(const unsigned char *in, struct result *r) {
  memset(r, 0, sizeof *r);
  size_t cap = compressBound(DATA_SIZE);
  r->z = malloc(cap);
  z_stream s = {0};
  assert_int_equal(deflateInit2(&s, 6, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY),
                   Z_OK);
  s.next_out = r->z;
  s.avail_out = (uInt)cap;
  for (size_t off = 0; off < DATA_SIZE; off += CHUNK) {
    s.next_in = (Bytef *)in + off;
    s.avail_in = CHUNK;
    int flush = off + CHUNK >= DATA_SIZE ? Z_FINISH : Z_NO_FLUSH;
    int rc = deflate(&s, flush);
    r->ndeflate++;
    assert_true(rc == Z_OK || rc == Z_STREAM_END);
  }
  r->zlen = s.total_out;
  assert_int_equal(deflateEnd(&s), Z_OK);

  unsigned char *out = malloc(DATA_SIZE);
  z_stream u = {0};
  assert_int_equal(inflateInit(&u), Z_OK);
  u.next_in = r->z;
  u.avail_in = (uInt)r->zlen;
  int rc = Z_OK;
  for (size_t off = 0; rc != Z_STREAM_END; off += CHUNK) {
    assert_true(off < DATA_SIZE);
    u.next_out = out + off;
    u.avail_out = CHUNK;
    rc = inflate(&u, Z_NO_FLUSH);
    r->ninflate++;
    assert_true(rc == Z_OK || rc == Z_STREAM_END);
  }
  assert_int_equal(u.total_out, DATA_SIZE);
  assert_int_equal(inflateEnd(&u), Z_OK);
  assert_memory_equal(out, in, DATA_SIZE);

  uLongf zl = (uLongf)cap;
  unsigned char *z2 = malloc(cap);
  assert_int_equal(compress2(z2, &zl, in, DATA_SIZE, 9), Z_OK);
  uLongf ol = DATA_SIZE;
  assert_int_equal(uncompress(out, &ol, z2, zl), Z_OK);
  assert_int_equal(ol, DATA_SIZE);
  assert_memory_equal(out, in, DATA_SIZE);
  r->crc = crc32(crc32(0, NULL, 0), in, DATA_SIZE);
  r->adler = adler32(adler32(0, NULL, 0), in, DATA_SIZE);
  free(z2);
  free(out);
}

/* Every defined, sized STT_FUNC that libz exports. */
static void list_exports(const struct hp_module *m) {
  int fd;
  struct Elf *elf;
  assert_int_equal(hp_elf_open(m->path, &fd, &elf), 0);
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM)
      continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    for (size_t i = 1; d && i < sh.sh_size / sh.sh_entsize; i++) {
      GElf_Sym sym;
      gelf_getsym(d, (int)i, &sym);
      if (GELF_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF ||
          sym.st_size == 0)
        continue;
      const char *name = elf_strptr(elf, sh.sh_link, sym.st_name);
      int dup = 0;
      for (size_t k = 0; k < nfuncs; k++)
        dup |= !strcmp(funcs[k].name, name);
      if (dup)
        continue;
      assert_true(nfuncs < LZ_MAX);
      snprintf(funcs[nfuncs++].name, sizeof funcs[0].name, "%s", name);
    }
  }
  hp_elf_close(fd, elf);
}

static long count_of(const char *name) {
  for (size_t i = 0; i < nfuncs; i++)
    if (!strcmp(funcs[i].name, name))
      return (long)lz_counts[i];
  fail_msg("%s is not patched", name);
  return -1;
}

static void every_libz_export_passes_through_its_trampoline(void **state) {
  (void)state;
  unsigned char *data = make_data();
  struct result plain, patched;
  round_trip(data, &plain);

  struct hp_modules *m;
  assert_int_equal(hp_modules_snapshot(&m), 0);
  const struct hp_module *z = hp_modules_by_object(m, "libz.so.1");
  assert_non_null(z);
  list_exports(z);
  fprintf(stderr, "libz: %s, %zu exported functions\n", z->path, nfuncs);
  assert_true(nfuncs > 50);

  size_t refused = 0;
  for (size_t i = 0; i < nfuncs; i++) {
    struct lz_func *f = &funcs[i];
    struct hotpatch_func hf = {.target = f->name, .object = "libz.so.1"};
    assert_int_equal(hp_resolve(m, &hf, &f->t), 0);
    int rc = hp_site_prepare(&f->rt, &f->t, (uintptr_t)lz_thunks[i]);
    if (rc) {
      fprintf(stderr, "  refused %s: %s\n", f->name, hotpatch_last_error());
      refused++;
      continue;
    }
    f->before = malloc(f->t.size + HP_TAIL_MAX);
    assert_non_null(f->before);
    struct hp_code code;
    assert_int_equal(hp_site_read_code(&f->t, f->before, NULL, &code), 0);
    f->nbefore = code.size + code.tail;
    const struct hp_site *st = &f->rt.s;
    assert_true(st->addr >= f->t.addr &&
                st->addr + st->len <= f->t.addr + f->nbefore);
    lz_origs[i] = hp_site_original(&f->rt);
  }
  assert_int_equal(refused, 0);
  hp_modules_free(m);
  for (size_t i = 0; i < nfuncs; i++) {
    assert_int_equal(hp_site_arm(&funcs[i].rt), 0);
    assert_int_equal(hp_site_install(&funcs[i].rt), 0);
    hp_site_disarm(&funcs[i].rt);
    assert_int_equal(hp_site_verify(&funcs[i].rt), 0);
  }
  assert_int_equal(hp_test_count_rwx(), 0);
  memset(lz_counts, 0, sizeof lz_counts);

  round_trip(data, &patched);
  assert_int_equal(patched.zlen, plain.zlen);
  assert_memory_equal(patched.z, plain.z, plain.zlen);
  assert_int_equal(patched.crc, plain.crc);
  assert_int_equal(patched.adler, plain.adler);
  fprintf(stderr,
          "deflate %ld calls, inflate %ld, compress2 %ld, "
          "crc32 %ld, adler32 %ld\n",
          count_of("deflate"), count_of("inflate"), count_of("compress2"),
          count_of("crc32"), count_of("adler32"));
  /* compress2/uncompress call deflate/inflate inside libz: at least ours. */
  assert_true(count_of("deflate") >= patched.ndeflate);
  assert_true(count_of("inflate") >= patched.ninflate);
  /* Functions libz does not call itself: exactly our calls. Others (libz
   * calls adler32 from deflate, deflateEnd from compress2) at least ours. */
  assert_int_equal(count_of("compress2"), 1);
  assert_int_equal(count_of("uncompress"), 1);
  assert_int_equal(count_of("compressBound"), 1);
  assert_true(count_of("deflateEnd") >= 1);
  assert_true(count_of("crc32") >= 2);
  assert_true(count_of("adler32") >= 2);

  for (size_t i = 0; i < nfuncs; i++) {
    assert_int_equal(hp_site_arm(&funcs[i].rt), 0);
    assert_int_equal(hp_site_remove(&funcs[i].rt), 0);
    hp_site_disarm(&funcs[i].rt);
    assert_int_equal(hp_site_verify(&funcs[i].rt), 0);
    const struct hp_site *st = &funcs[i].rt.s;
    assert_memory_equal((const void *)(uintptr_t)st->addr,
                        funcs[i].before + (st->addr - funcs[i].t.addr),
                        st->len);
    assert_memory_equal((const void *)funcs[i].t.addr, funcs[i].before,
                        funcs[i].nbefore);
    hp_site_release(&funcs[i].rt);
    free(funcs[i].before);
  }
  assert_int_equal(hp_test_count_rwx(), 0);
  memset(lz_counts, 0, sizeof lz_counts);
  struct result again;
  round_trip(data, &again);
  assert_memory_equal(again.z, plain.z, plain.zlen);
  for (size_t i = 0; i < nfuncs; i++)
    assert_int_equal(lz_counts[i], 0);
  free(again.z);
  free(patched.z);
  free(plain.z);
  free(data);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_libz_export_passes_through_its_trampoline),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
