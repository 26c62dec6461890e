/* SPDX-License-Identifier: MIT */
/*
 * Facts about the public ABI as one language sees it: sizes and offsets of
 * the public structs, every HOTPATCH_ERRNO_MAP entry, the version and flag
 * macros. hp_abi_fill() is static inline, so header_c.c compiles it as C and
 * header_cxx.cpp as C++; header_main.c compares the two results.
 * Include after <hotpatch.h> (which provides <stddef.h> for offsetof).
 */
#ifndef HP_HEADER_ABI_H
#define HP_HEADER_ABI_H

#ifdef __cplusplus
extern "C" {
#endif

#define HP_ABI_MAX_CODES 128

struct hp_abi_facts {
  unsigned long sizes[6];
  unsigned long offsets[10];
  int ncodes;
  long codes[HP_ABI_MAX_CODES];
  unsigned long msg_lens[HP_ABI_MAX_CODES];
  unsigned long version_hex, magic, abi, flags;
  unsigned long enum_size;
  long log_levels[4];
};

static inline void hp_abi_fill(struct hp_abi_facts *f) {
  f->sizes[0] = sizeof(struct hotpatch_func);
  f->sizes[1] = sizeof(struct hotpatch_state);
  f->sizes[2] = sizeof(struct hotpatch_hooks);
  f->sizes[3] = sizeof(struct hotpatch_desc);
  f->sizes[4] = sizeof(struct hotpatch_config);
  f->sizes[5] = sizeof(hotpatch_patch *);
  f->offsets[0] = offsetof(struct hotpatch_func, replacement);
  f->offsets[1] = offsetof(struct hotpatch_func, flags);
  f->offsets[2] = offsetof(struct hotpatch_state, data);
  f->offsets[3] = offsetof(struct hotpatch_hooks, quiesced_revert);
  f->offsets[4] = offsetof(struct hotpatch_desc, name);
  f->offsets[5] = offsetof(struct hotpatch_desc, funcs);
  f->offsets[6] = offsetof(struct hotpatch_desc, hooks);
  f->offsets[7] = offsetof(struct hotpatch_desc, flags);
  f->offsets[8] = offsetof(struct hotpatch_desc, user);
  f->offsets[9] = offsetof(struct hotpatch_config, timeout_ms);
  f->ncodes = 0;
#define HP_ABI_CODE_(name, value, msg)                                         \
  if (f->ncodes < HP_ABI_MAX_CODES) {                                          \
    f->codes[f->ncodes] = (long)HOTPATCH_##name;                               \
    f->msg_lens[f->ncodes] = (unsigned long)sizeof(msg);                       \
    f->ncodes++;                                                               \
  }
  HOTPATCH_ERRNO_MAP(HP_ABI_CODE_)
#undef HP_ABI_CODE_
  f->version_hex = HOTPATCH_VERSION_HEX;
  f->magic = HOTPATCH_MAGIC;
  f->abi = HOTPATCH_ABI;
  f->flags = HOTPATCH_FUNC_ALLOW_ACTIVE | (HOTPATCH_REPLACE << 8) |
             (HOTPATCH_REAPPLYABLE << 16);
  f->enum_size = sizeof(enum hotpatch_error);
  f->log_levels[0] = HOTPATCH_LOG_ERROR;
  f->log_levels[1] = HOTPATCH_LOG_WARN;
  f->log_levels[2] = HOTPATCH_LOG_INFO;
  f->log_levels[3] = HOTPATCH_LOG_DEBUG;
}

/* header_c.c */
void hp_abi_fill_c(struct hp_abi_facts *f);
unsigned long hp_abi_c_descriptor_magic(void);
/* header_cxx.cpp */
void hp_abi_fill_cxx(struct hp_abi_facts *f);
/* Calls into the library from C++: 0 if the answers match the header. */
int hp_abi_cxx_calls_library(void);

#ifdef __cplusplus
}
#endif

#endif
