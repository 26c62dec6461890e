/* SPDX-License-Identifier: MIT */
/*
 * header_compiles_as_c_and_cxx: the two translation units compiled at all
 * (that is most of the test); here, check that C and C++ agree on the ABI
 * and that C++ reached the library through C linkage.
 */
#include <stdio.h>
#include <string.h>

#include <hotpatch.h>

#include "header_abi.h"

static int failures;

#define EXPECT_EQ(what, a, b)                                                  \
  do {                                                                         \
    if ((a) != (b)) {                                                          \
      fprintf(stderr, "FAIL: %s: C %lu != C++ %lu\n", what,                    \
              (unsigned long)(a), (unsigned long)(b));                         \
      failures++;                                                              \
    }                                                                          \
  } while (0)

int main(void) {
  static struct hp_abi_facts c, cxx;
  char what[64];
  hp_abi_fill_c(&c);
  hp_abi_fill_cxx(&cxx);

  for (int i = 0; i < 6; i++) {
    snprintf(what, sizeof what, "sizes[%d]", i);
    EXPECT_EQ(what, c.sizes[i], cxx.sizes[i]);
  }
  for (int i = 0; i < 10; i++) {
    snprintf(what, sizeof what, "offsets[%d]", i);
    EXPECT_EQ(what, c.offsets[i], cxx.offsets[i]);
  }
  EXPECT_EQ("number of error codes", c.ncodes, cxx.ncodes);
  if (c.ncodes <= 0 || c.ncodes >= HP_ABI_MAX_CODES) {
    fprintf(stderr, "FAIL: %d error codes (expected 1..%d)\n", c.ncodes,
            HP_ABI_MAX_CODES - 1);
    failures++;
  }
  for (int i = 0; i < c.ncodes && i < cxx.ncodes; i++) {
    snprintf(what, sizeof what, "error code #%d", i);
    EXPECT_EQ(what, c.codes[i], cxx.codes[i]);
    snprintf(what, sizeof what, "message length of code %ld", c.codes[i]);
    EXPECT_EQ(what, c.msg_lens[i], cxx.msg_lens[i]);
  }
  EXPECT_EQ("HOTPATCH_VERSION_HEX", c.version_hex, cxx.version_hex);
  EXPECT_EQ("HOTPATCH_MAGIC", c.magic, cxx.magic);
  EXPECT_EQ("HOTPATCH_ABI", c.abi, cxx.abi);
  EXPECT_EQ("flag macros", c.flags, cxx.flags);
  EXPECT_EQ("sizeof(enum hotpatch_error)", c.enum_size, cxx.enum_size);
  for (int i = 0; i < 4; i++) {
    snprintf(what, sizeof what, "log level %d", i);
    EXPECT_EQ(what, c.log_levels[i], cxx.log_levels[i]);
  }

  if (hp_abi_c_descriptor_magic() != HOTPATCH_MAGIC) {
    fprintf(stderr, "FAIL: HOTPATCH_DEFINE did not set magic/abi\n");
    failures++;
  }
  int n = hp_abi_cxx_calls_library();
  if (n) {
    fprintf(stderr, "FAIL: %d check(s) of library calls made from C++\n", n);
    failures++;
  }
  if (failures)
    return 1;
  printf("OK: C and C++ agree on %d error codes, %d sizes, %d offsets; "
         "C++ calls link\n",
         c.ncodes, 6, 10);
  return 0;
}
