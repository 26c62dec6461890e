/* SPDX-License-Identifier: MIT */
/*
 * hotpatch_load / hotpatch_register / hotpatch_unload: from a file or a
 * descriptor to a LOADED patch in the registry. Every failure path undoes
 * what it did, in reverse: no registry entry, no dlopen handle, no memory.
 */
#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "errors.h"
#include "log.h"
#include "modules.h"
#include "patch.h"
#include "symbols.h"

/* Patch names travel through logs and the control socket: keep them short
 * and printable (HP_NAME_MAX, patch.h). */
/* A descriptor array longer than this is taken as unterminated. */
#define HP_FUNCS_MAX 100000

static int hp_is_zero_func(const struct hotpatch_func *f) {
  return !f->target && !f->object && !f->file && !f->build_id &&
         !f->replacement && !f->original && !f->flags;
}

static int hp_check_name(const char *name) {
  if (!name || !name[0])
    return hp_fail(HOTPATCH_EINVAL, "descriptor has no name");
  size_t n = strnlen(name, HP_NAME_MAX + 1);
  if (n > HP_NAME_MAX)
    return hp_fail(HOTPATCH_EINVAL, "patch name is longer than %d bytes",
                   HP_NAME_MAX);
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
      return hp_fail(HOTPATCH_EINVAL,
                     "patch name '%.*s' contains a space or "
                     "control character",
                     (int)n, name);
  return 0;
}

static int hp_has_hooks(const struct hotpatch_hooks *h) {
  return h->pre_apply || h->post_apply || h->pre_revert || h->post_revert ||
         h->quiesced_apply || h->quiesced_revert;
}

/* Static checks of a descriptor, then the number of funcs in *nfuncs. */
static int hp_check_desc(const struct hotpatch_desc *d, size_t *nfuncs) {
  if (d->magic != HOTPATCH_MAGIC)
    return hp_fail(HOTPATCH_EMAGIC,
                   "descriptor magic is 0x%08x, expected "
                   "0x%08x (not built with this library's HOTPATCH_DEFINE)",
                   d->magic, HOTPATCH_MAGIC);
  if (d->abi != HOTPATCH_ABI)
    return hp_fail(HOTPATCH_EABI,
                   "descriptor ABI version %u; this library "
                   "(%s) supports %u",
                   d->abi, hotpatch_version_string(), HOTPATCH_ABI);
  int rc = hp_check_name(d->name);
  if (rc)
    return rc;
  if (d->flags & ~(HOTPATCH_REPLACE | HOTPATCH_REAPPLYABLE))
    return hp_fail(HOTPATCH_EINVAL, "patch '%s': unknown flags 0x%x", d->name,
                   d->flags & ~(HOTPATCH_REPLACE | HOTPATCH_REAPPLYABLE));
  size_t n = 0;
  for (const struct hotpatch_func *f = d->funcs; f && !hp_is_zero_func(f);
       f++, n++) {
    if (n == HP_FUNCS_MAX)
      return hp_fail(HOTPATCH_EINVAL,
                     "patch '%s': more than %d funcs; is "
                     "the array missing its all-zero terminator?",
                     d->name, HP_FUNCS_MAX);
    if (!f->target || !f->target[0])
      return hp_fail(HOTPATCH_EINVAL, "patch '%s': func[%zu] has no target",
                     d->name, n);
    if (!f->replacement)
      return hp_fail(HOTPATCH_EINVAL,
                     "patch '%s': func[%zu] '%s' has no "
                     "replacement",
                     d->name, n, f->target);
    if (f->flags & ~HOTPATCH_FUNC_ALLOW_ACTIVE)
      return hp_fail(HOTPATCH_EINVAL,
                     "patch '%s': func[%zu] '%s': unknown "
                     "flags 0x%x",
                     d->name, n, f->target,
                     f->flags & ~HOTPATCH_FUNC_ALLOW_ACTIVE);
  }
  if (n == 0 && !hp_has_hooks(&d->hooks))
    return hp_fail(HOTPATCH_EINVAL,
                   "patch '%s' has neither funcs nor hooks: "
                   "nothing to do",
                   d->name);
  *nfuncs = n;
  return 0;
}

static const char *hp_or_main(const char *object) {
  return object && object[0] ? object : "the main program";
}

/* Resolve every func against one module snapshot. */
static int hp_resolve_all(struct hotpatch_patch *p) {
  struct hp_modules *m;
  int rc = hp_modules_snapshot(&m);
  if (rc)
    return hp_fail_context(rc, "patch '%s': ", p->desc->name);
  for (size_t i = 0; i < p->nfuncs && !rc; i++) {
    struct hp_func_rt *fr = &p->funcs[i];
    fr->f = &p->desc->funcs[i];
    rc = hp_resolve(m, fr->f, &fr->t);
    if (rc) {
      rc = hp_fail_context(rc,
                           "patch '%s': func[%zu] '%s' in %s: ", p->desc->name,
                           i, fr->f->target, hp_or_main(fr->f->object));
      break;
    }
    uintptr_t repl = (uintptr_t)fr->f->replacement;
    const struct hp_module *rm = hp_modules_by_addr(m, repl);
    if (!rm || !hp_module_has_code(rm, repl, 1)) {
      rc = hp_fail(HOTPATCH_EINVAL,
                   "patch '%s': func[%zu] '%s': replacement "
                   "%p is not in the code of any loaded object",
                   p->desc->name, i, fr->f->target, fr->f->replacement);
      break;
    }
    /* Now, not at revert: finding it reads the object's file, and a
     * transition must not reach dl_iterate_phdr or open files on behalf
     * of a thread that may hold the loader's lock. */
    rc = hp_func_extent(m, repl, &fr->repl_lo, &fr->repl_hi);
    if (rc)
      break;
    for (size_t j = 0; j < i; j++)
      if (p->funcs[j].t.addr == fr->t.addr) {
        rc = hp_fail(HOTPATCH_EINVAL,
                     "patch '%s': func[%zu] '%s' and "
                     "func[%zu] '%s' are the same function (%#lx in %s)",
                     p->desc->name, j, p->funcs[j].f->target, i, fr->f->target,
                     (unsigned long)fr->t.addr, fr->t.object);
        break;
      }
  }
  hp_modules_free(m);
  return rc;
}

/* Validate, resolve and register `d`. Called with the action lock held.
 * On success the new patch owns `dl` and `path`. */
static int hp_add_patch(const struct hotpatch_desc *d, void *dl,
                        const char *path, hotpatch_patch **out) {
  size_t n = 0;
  int rc = hp_check_desc(d, &n);
  if (rc)
    return rc;
  if (hp_registry_find(d->name))
    return hp_fail(HOTPATCH_EEXIST, "a patch named '%s' is already loaded",
                   d->name);
  struct hotpatch_patch *p = calloc(1, sizeof *p);
  if (!p || !(p->funcs = calloc(n ? n : 1, sizeof *p->funcs)) ||
      (path && !(p->path = strdup(path)))) {
    hp_patch_free(p);
    return hp_fail(HOTPATCH_ENOMEM, "out of memory loading '%s'", d->name);
  }
  p->desc = d;
  p->nfuncs = n;
  rc = hp_resolve_all(p);
  if (rc) {
    hp_patch_free(p);
    return rc;
  }
  p->dl = dl;
  hp_registry_add(p);
  hp_config_freeze();
  for (size_t i = 0; i < n; i++)
    hp_debug("patch '%s': %s in %s at %#lx, %zu bytes", d->name,
             p->funcs[i].f->target, p->funcs[i].t.object,
             (unsigned long)p->funcs[i].t.addr, p->funcs[i].t.size);
  *out = p;
  return 0;
}

/* dlsym() on a handle also searches that object's dependencies: make sure
 * the descriptor found is the patch's own. */
static int hp_symbol_is_in(void *dl, const void *sym) {
  struct link_map *lm;
  Dl_info info;
  if (dlinfo(dl, RTLD_DI_LINKMAP, &lm) != 0 || !dladdr(sym, &info))
    return 0;
  return (uintptr_t)info.dli_fbase == (uintptr_t)lm->l_addr ||
         (info.dli_fname && lm->l_name &&
          strcmp(info.dli_fname, lm->l_name) == 0);
}

static int hp_load_locked(const char *path, hotpatch_patch **out) {
  int rc = hp_patch_file_check(path);
  if (rc)
    return rc;
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!dl) {
    const char *why = dlerror();
    return hp_fail(HOTPATCH_EDLOPEN, "%s", why ? why : path);
  }
  const struct hotpatch_desc *d = dlsym(dl, "hotpatch_descriptor");
  if (!d || !hp_symbol_is_in(dl, d))
    rc = hp_fail(HOTPATCH_ENODESC,
                 "%s: hotpatch_descriptor is not defined "
                 "by the patch object itself",
                 path);
  else
    rc = hp_add_patch(d, dl, path, out);
  if (rc)
    dlclose(dl);
  return rc;
}

int hotpatch_load(const char *path, hotpatch_patch **out) {
  hp_clear_error();
  if (out)
    *out = NULL;
  if (!path || !out)
    return hp_fail(HOTPATCH_EINVAL, "hotpatch_load: NULL argument");
  int rc = hp_action_begin("hotpatch_load");
  if (rc)
    return rc;
  char real[PATH_MAX];
  const char *p = realpath(path, real) ? real : path;
  rc = hp_load_locked(p, out);
  hp_action_end();
  if (!rc)
    hp_clear_error(); /* lookups that failed on the way are not the result */
  if (rc)
    hp_error("load %s: %s: %s", path, hotpatch_err_name(rc),
             hotpatch_last_error());
  else
    hp_info("loaded patch '%s' from %s: %zu function(s)", hotpatch_name(*out),
            p, (*out)->nfuncs);
  return rc;
}

int hotpatch_register(const struct hotpatch_desc *d, hotpatch_patch **out) {
  hp_clear_error();
  if (out)
    *out = NULL;
  if (!d || !out)
    return hp_fail(HOTPATCH_EINVAL, "hotpatch_register: NULL argument");
  int rc = hp_action_begin("hotpatch_register");
  if (rc)
    return rc;
  rc = hp_add_patch(d, NULL, NULL, out);
  hp_action_end();
  if (!rc)
    hp_clear_error();
  if (rc)
    hp_error("register: %s: %s", hotpatch_err_name(rc), hotpatch_last_error());
  else
    hp_info("registered patch '%s': %zu function(s)", d->name, (*out)->nfuncs);
  return rc;
}

int hotpatch_unload(hotpatch_patch *p) {
  hp_clear_error();
  if (!p)
    return hp_fail(HOTPATCH_EINVAL, "hotpatch_unload: NULL handle");
  int rc = hp_transition_begin("hotpatch_unload", NULL);
  if (rc)
    return rc;
  if (!hp_registry_contains(p))
    rc = hp_fail(HOTPATCH_EINVAL, "hotpatch_unload: not a loaded patch");
  else if (p->applied) /* semantics D.5: EINVAL, as Xen */
    rc = hp_fail(HOTPATCH_EINVAL, "patch '%s' is applied; revert it first",
                 p->desc->name);
  else if (p->pinned)
    rc = hp_fail(HOTPATCH_EBUSY,
                 "patch '%s' stays loaded: a replace with it failed half-way "
                 "and code may still jump to its replacements",
                 p->desc->name);
  if (rc) {
    hp_transition_end();
    return rc;
  }
  hp_registry_remove(p);
  hp_transition_end();
  /* The descriptor lives in the object: log before dlclose() unmaps it. */
  hp_info("unloaded patch '%s'", p->desc->name);
  if (p->dl && dlclose(p->dl) != 0)
    hp_warn("dlclose: %s", dlerror());
  hp_patch_free(p);
  return 0;
}
