// SPDX-License-Identifier: MIT
//
// hotpatch.h compiled as C++11 with -Wall -Wextra -pedantic. Apart from the
// test's own header_abi.h, this file includes only <hotpatch.h>. Calling the
// library from here proves the declarations have C linkage (extern "C"):
// with C++ linkage the link would fail on mangled names.
#include <hotpatch.h>

#include "header_abi.h"

#define CXX_CHECK_(name, value, msg)                                           \
  static_assert(HOTPATCH_##name == (value), "HOTPATCH_" #name);                \
  static_assert(sizeof(msg) > 1, "HOTPATCH_" #name " has a message");
HOTPATCH_ERRNO_MAP(CXX_CHECK_)
#undef CXX_CHECK_

static_assert(HOTPATCH_VERSION_HEX ==
                  ((HOTPATCH_VERSION_MAJOR << 16) |
                   (HOTPATCH_VERSION_MINOR << 8) | HOTPATCH_VERSION_PATCH),
              "HOTPATCH_VERSION_HEX is built from the parts");

namespace {

int cxx_replacement() { return 7; }
void *cxx_original;

// What a C++ program embedding a patch table would write (no designated
// initialisers before C++20, so positional).
const hotpatch_func cxx_funcs[] = {
    {"some_function", nullptr, nullptr, nullptr,
     reinterpret_cast<void *>(&cxx_replacement), &cxx_original,
     HOTPATCH_FUNC_ALLOW_ACTIVE},
    {nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0}};

int cxx_pre_apply(hotpatch_patch *p) { return p ? 0 : -1; }

void cxx_logger(int level, const char *msg, void *arg) {
  (void)level, (void)msg, (void)arg;
}

bool same(const char *a, const char *b) {
  while (*a && *a == *b)
    ++a, ++b;
  return *a == *b;
}

} // namespace

extern "C" void hp_abi_fill_cxx(hp_abi_facts *f) { hp_abi_fill(f); }

extern "C" int hp_abi_cxx_calls_library(void) {
  hotpatch_desc d = {};
  d.magic = HOTPATCH_MAGIC;
  d.abi = HOTPATCH_ABI;
  d.name = "cxx";
  d.funcs = cxx_funcs;
  d.hooks.pre_apply = cxx_pre_apply;
  d.flags = HOTPATCH_REPLACE;
  (void)d;

  hotpatch_error e = HOTPATCH_EINVAL;
  int failures = 0;
  if (hotpatch_version() != static_cast<unsigned>(HOTPATCH_VERSION_HEX))
    ++failures;
  if (!same(hotpatch_err_name(e), "HOTPATCH_EINVAL"))
    ++failures;
  const char *s = hotpatch_strerror(HOTPATCH_ENOTELF);
  if (s == nullptr || *s == '\0')
    ++failures;
  if (hotpatch_last_error() == nullptr)
    ++failures;
  hotpatch_set_logger(cxx_logger, nullptr);
  hotpatch_set_logger(nullptr, nullptr);
  return failures;
}
