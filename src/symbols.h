/* SPDX-License-Identifier: MIT */
/*
 * Resolving a patch target (symbol, object, file, build-id) to the runtime
 * address of a function, with libelf over the object's file on disk:
 * .symtab (static functions) else .dynsym; runtime = bias + st_value.
 * Runs before any thread is stopped (libelf allocates).
 *
 * Symbol versions (a library that keeps an old ABI has "foo@V1" next to the
 * default "foo@@V2"; .symtab spells them so, .dynsym records them in
 * .gnu.version/.gnu.version_d):
 *   "foo"      the default version, or an unversioned foo; if foo has only
 *              non-default versions, HOTPATCH_ENOENT lists them
 *   "foo@V1"   version V1, whether it is the default or not
 *   "foo@@V2"  version V2 only if it is the default
 * Versions at one address are one function (neither ambiguous nor reported
 * as aliases of each other).
 */
#ifndef HP_SYMBOLS_H
#define HP_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>

#include "hotpatch.h"
#include "modules.h"

/* hp_target.notes: facts found while resolving, reported as warnings. */
#define HP_TARGET_HAS_ALIAS 0x1u  /* other function symbols at this address */
#define HP_TARGET_HAS_CLONES 0x2u /* foo.isra/.constprop/.part exist */
#define HP_TARGET_HAS_COLD 0x4u   /* a foo.cold part exists (cold_*) */
#define HP_TARGET_GLOBAL 0x8u     /* STB_GLOBAL/STB_WEAK, else local */

#define HP_OBJECT_NAME_MAX 256

struct hp_target {
  uintptr_t addr;      /* runtime address of the entry */
  size_t size;         /* st_size, > 0 */
  uintptr_t cold_addr; /* runtime address of foo.cold, 0 if none */
  size_t cold_size;
  uintptr_t limit;    /* the next symbol's address after addr, 0 if none: the
                         bytes between addr + size and limit are padding or
                         nobody's */
  uintptr_t code_end; /* end of the executable PT_LOAD holding addr */
  uint32_t features;  /* the object's hp_module.features (BTI, IBT...) */
  unsigned notes;     /* HP_TARGET_* */
  char object[HP_OBJECT_NAME_MAX]; /* basename of the object, for messages */
};

/*
 * Resolve `f` (target, object, file, build_id) in the snapshot `m`.
 * On failure returns, with hp_fail detail naming the symbol and object:
 *   HOTPATCH_ENOOBJ      the object is not loaded
 *   HOTPATCH_EAMBIGUOUS  f->object names several loaded objects (the detail
 *                        lists their paths; give the full path)
 *   HOTPATCH_EBUILDID    f->build_id differs from the object's build-id
 *                        (or the object has none)
 *   HOTPATCH_ESTALEFILE  the file on disk has another build-id than the
 *                        object in memory (replaced after it was loaded)
 *   HOTPATCH_ENOSYMTAB   the file has neither .symtab nor .dynsym
 *   HOTPATCH_ENOENT      no such function (the detail lists clones such as
 *                        foo.isra.0 if only those exist), or not in the
 *                        version asked for (the detail lists the versions)
 *   HOTPATCH_EAMBIGUOUS  several functions of that name and no (or no
 *                        matching) f->file; the detail lists their files
 *   HOTPATCH_EIFUNC      the symbol is an STT_GNU_IFUNC resolver
 *   HOTPATCH_ENOSIZE     st_size == 0
 *   HOTPATCH_ECLONE      the name is a .cold fragment, not an entry point
 *   HOTPATCH_ENOTCODE    the address is not in an executable PT_LOAD
 *   HOTPATCH_EOPNOTSUPP  the object is the vDSO (no file to read)
 *   HOTPATCH_EINVAL      no target name, a malformed version ("foo@"), or
 *                        f->build_id is not hex
 *   HOTPATCH_EACCES, HOTPATCH_EIO, HOTPATCH_ENOTELF, HOTPATCH_EBADELF
 *                        the object's file cannot be read
 * On failure `out` is zeroed except out->object. A success leaves the error
 * detail as it was.
 * Aliases and clones are logged as warnings and noted in out->notes.
 */
int hp_resolve(const struct hp_modules *m, const struct hotpatch_func *f,
               struct hp_target *out);

/*
 * The function holding `addr` (a replacement): [lo, hi) from the object's
 * .symtab/.dynsym; when no sized symbol covers it, conservatively [addr,
 * end of its executable segment). HOTPATCH_ENOTCODE if no object holds
 * addr. Allocates (libelf): before any thread is parked.
 */
int hp_func_extent(const struct hp_modules *m, uintptr_t addr, uintptr_t *lo,
                   uintptr_t *hi);

#endif
