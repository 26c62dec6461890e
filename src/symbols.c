/* SPDX-License-Identifier: MIT */
/*
 * Target resolution: one pass over the object's symbol table collects every
 * function called `target` (in each of its symbol versions), its `.cold`
 * parts and its clones; the rules of symbols.h then pick one or refuse. A
 * second pass looks for aliases of the one picked.
 *
 * Symbol versions are read where each table keeps them: .symtab spells them
 * in the name ("foo@V1" for an old version, "foo@@V2" for the default one),
 * .dynsym keeps the bare name and puts the version in .gnu.version (one
 * index per symbol, 0x8000 set for a non-default one) whose names are in
 * .gnu.version_d.
 */
#include <gelf.h>
#include <libelf.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "log.h"
#include "symbols.h"

struct hp_sym {
  GElf_Addr value;
  GElf_Xword size;
  const char *name;
  const char *file; /* STT_FILE of a local's CU; NULL for globals */
  size_t file_idx;  /* symbol index of that STT_FILE: one per CU; 0 none */
  const char *ver;  /* symbol version ("V2"), NULL if unversioned */
  unsigned char type, bind;
  unsigned char hidden; /* a non-default version ("foo@V1") */
};

struct hp_syms {
  struct hp_sym *v;
  size_t n, cap;
};

struct hp_symtab {
  Elf *elf;
  Elf_Data *data, *shndx;
  size_t n, strndx;
  int is_dynsym;
  /* .dynsym only: .gnu.version, .gnu.version_d and its string table */
  Elf_Data *versym, *verdef;
  size_t nverdef, verdef_strndx;
};

struct hp_ctx {
  const struct hotpatch_func *f;
  const struct hp_module *mod;
  const char *obj;      /* the object, as messages name it */
  const char *target;   /* f->target without its "@V" or "@@V" */
  size_t tlen;          /* strlen(target) */
  const char *want_ver; /* the version f->target names, NULL if none */
  int want_default;     /* named with "@@": the default version only */
  char *target_buf;     /* owns `target` when f->target has a version */
  struct hp_symtab tab;
  struct hp_syms cands, colds, clones;
};

/* A comma-separated list for a message; cut short with "..." if long. */
struct hp_list {
  char b[512];
  size_t n;
};

static void hp_list_add(struct hp_list *l, const char *item) {
  if (l->n >= sizeof l->b)
    return;
  int k =
      snprintf(l->b + l->n, sizeof l->b - l->n, "%s%s", l->n ? ", " : "", item);
  l->n = k < 0 ? sizeof l->b : l->n + (size_t)k;
  if (l->n >= sizeof l->b)
    memcpy(l->b + sizeof l->b - 4, "...", 4);
}

static int hp_push(struct hp_syms *s, const struct hp_sym *sym) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? 2 * s->cap : 4;
    struct hp_sym *v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return -1;
    s->v = v;
    s->cap = cap;
  }
  s->v[s->n++] = *sym;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Names                                                                     */

static int hp_all_digits(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return 0;
  return 1;
}

/* "cold" or "cold.N": what follows the "." of a cold fragment's base name. */
static int hp_is_cold_suffix(const char *s) {
  return !strncmp(s, "cold", 4) &&
         (s[4] == '\0' || (s[4] == '.' && hp_all_digits(s + 5)));
}

/* If `name` is a function's cold fragment ("foo.cold", "foo.cold.1"), the
 * length of the function's name ("foo"); else 0. */
static size_t hp_cold_base_len(const char *name) {
  for (const char *p = strchr(name, '.'); p; p = strchr(p + 1, '.'))
    if (p != name && hp_is_cold_suffix(p + 1))
      return (size_t)(p - name);
  return 0;
}

enum hp_kind { HP_OTHER, HP_EXACT, HP_COLD, HP_CLONE };

/* How `name` relates to the target: itself, its cold part, a clone. */
static enum hp_kind hp_classify(const char *name, const char *target,
                                size_t tlen) {
  if (strncmp(name, target, tlen))
    return HP_OTHER;
  if (name[tlen] == '\0')
    return HP_EXACT;
  if (name[tlen] != '.')
    return HP_OTHER;
  const char *s = name + tlen + 1;
  if (hp_is_cold_suffix(s))
    return HP_COLD;
  static const char *const clones[] = {"isra.", "constprop.", "part.",
                                       "lto_priv."};
  for (size_t i = 0; i < sizeof clones / sizeof *clones; i++)
    if (!strncmp(s, clones[i], strlen(clones[i])))
      /* foo.part.0.cold belongs to the clone, it is not another one. */
      return hp_cold_base_len(s) ? HP_OTHER : HP_CLONE;
  return HP_OTHER;
}

/* A path given as .file matches an STT_FILE by its basename too (compilers
 * record what they were given, usually the bare file name). */
static int hp_file_matches(const char *stt_file, const char *want) {
  if (!stt_file)
    return 0;
  if (!strcmp(stt_file, want))
    return 1;
  const char *a = strrchr(stt_file, '/'), *b = strrchr(want, '/');
  if (a && b)
    return 0; /* two different full paths */
  return !strcmp(a ? a + 1 : stt_file, b ? b + 1 : want);
}

/* How a message names one version of the target: "foo@V1" (non-default),
 * "foo@@V2" (default) or "foo (unversioned)". */
static const char *hp_sym_versioned(const struct hp_ctx *c,
                                    const struct hp_sym *s, char *buf,
                                    size_t cap) {
  snprintf(buf, cap, "%.*s%s%s", (int)c->tlen, c->target,
           !s->ver     ? ""
           : s->hidden ? "@"
                       : "@@",
           s->ver ? s->ver : " (unversioned)");
  return buf;
}

/* How a message names one candidate: "static in a.c", "global" or
 * "global foo@@V2". */
static const char *hp_sym_origin(const struct hp_ctx *c, const struct hp_sym *s,
                                 char *buf, size_t cap) {
  if (s->bind == STB_LOCAL && !s->ver) {
    snprintf(buf, cap, "static in %s", s->file && *s->file ? s->file : "?");
    return buf;
  }
  if (!s->ver)
    return "global";
  /* Write the version after the prefix in place: a long name is cut at
   * the end of the message, not in the middle. */
  size_t n = (size_t)snprintf(buf, cap, "%s ",
                              s->bind == STB_LOCAL ? "static" : "global");
  if (n < cap)
    hp_sym_versioned(c, s, buf + n, cap - n);
  return buf;
}

/* ------------------------------------------------------------------------ */
/* The symbol table                                                          */

/* .symtab (has the static functions), else .dynsym. 0, or 1 if neither. */
static int hp_find_symtab(Elf *elf, struct hp_symtab *t) {
  Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
  GElf_Shdr sh;
  while ((scn = elf_nextscn(elf, scn)) != NULL) {
    if (!gelf_getshdr(scn, &sh))
      continue;
    if (sh.sh_type == SHT_SYMTAB && !symtab)
      symtab = scn;
    else if (sh.sh_type == SHT_DYNSYM && !dynsym)
      dynsym = scn;
  }
  scn = symtab ? symtab : dynsym;
  if (!scn || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
    return 1;
  t->elf = elf;
  t->data = elf_getdata(scn, NULL);
  t->n = t->data ? sh.sh_size / sh.sh_entsize : 0;
  t->strndx = sh.sh_link;
  t->is_dynsym = !symtab;
  /* Section indexes beyond SHN_LORESERVE live in a side table; the
   * versions of .dynsym symbols in .gnu.version and .gnu.version_d. */
  size_t ndx = elf_ndxscn(scn);
  Elf_Scn *x = NULL;
  while ((x = elf_nextscn(elf, x)) != NULL) {
    if (!gelf_getshdr(x, &sh))
      continue;
    if (sh.sh_type == SHT_SYMTAB_SHNDX && sh.sh_link == ndx) {
      t->shndx = elf_getdata(x, NULL);
    } else if (t->is_dynsym && sh.sh_type == SHT_GNU_versym &&
               sh.sh_link == ndx) {
      t->versym = elf_getdata(x, NULL);
    } else if (t->is_dynsym && sh.sh_type == SHT_GNU_verdef) {
      t->verdef = elf_getdata(x, NULL);
      t->nverdef = sh.sh_info;
      t->verdef_strndx = sh.sh_link;
    }
  }
  return 0;
}

/* The name of version `ndx` in .gnu.version_d, NULL if it is not there. */
static const char *hp_verdef_name(const struct hp_symtab *t, unsigned ndx) {
  size_t off = 0;
  for (size_t k = 0; t->verdef && k < t->nverdef; k++) {
    GElf_Verdef vd;
    GElf_Verdaux va;
    if (off > INT_MAX || !gelf_getverdef(t->verdef, (int)off, &vd))
      return NULL;
    if (vd.vd_ndx == ndx)
      return off + vd.vd_aux <= INT_MAX &&
                     gelf_getverdaux(t->verdef, (int)(off + vd.vd_aux), &va)
                 ? elf_strptr(t->elf, t->verdef_strndx, va.vda_name)
                 : NULL;
    if (!vd.vd_next)
      return NULL;
    off += vd.vd_next;
  }
  return NULL;
}

/* The version of symbol i called `name`: spelled in the name in .symtab
 * ("foo@V1", "foo@@V2"), else from .gnu.version. */
static void hp_sym_version(const struct hp_symtab *t, size_t i,
                           const char *name, struct hp_sym *s) {
  const char *at = strchr(name, '@');
  if (at) {
    s->hidden = at[1] != '@';
    s->ver = at + (s->hidden ? 1 : 2);
    return;
  }
  GElf_Versym vs;
  if (!t->versym || i > INT_MAX || !gelf_getversym(t->versym, (int)i, &vs))
    return;
  unsigned ndx = vs & 0x7fffu;
  if (ndx <= 1) /* VER_NDX_LOCAL, VER_NDX_GLOBAL: unversioned */
    return;
  s->hidden = (vs & 0x8000u) != 0;
  s->ver = hp_verdef_name(t, ndx);
  if (!s->ver)
    s->ver = "?";
}

/* Symbol i, its name and whether it is defined here. */
static int hp_sym_read(const struct hp_symtab *t, size_t i, GElf_Sym *sym,
                       const char **name, int *defined) {
  Elf32_Word xndx = 0;
  if (!gelf_getsymshndx(t->data, t->shndx, (int)i, sym, &xndx))
    return -1;
  *name = elf_strptr(t->elf, t->strndx, sym->st_name);
  size_t shndx = sym->st_shndx == SHN_XINDEX ? xndx : sym->st_shndx;
  *defined = shndx != SHN_UNDEF;
  return *name ? 0 : -1;
}

static int hp_is_func(unsigned type) {
  return type == STT_FUNC || type == STT_GNU_IFUNC;
}

/* Pass 1: every function called target, target.cold*, target.<clone>.N. */
static int hp_scan(struct hp_ctx *c) {
  const char *file = NULL;
  size_t file_idx = 0;
  for (size_t i = 1; i < c->tab.n; i++) {
    GElf_Sym sym;
    const char *name;
    int defined;
    if (hp_sym_read(&c->tab, i, &sym, &name, &defined))
      continue;
    unsigned type = GELF_ST_TYPE(sym.st_info);
    if (type == STT_FILE) {
      file = name;
      file_idx = i;
      continue;
    }
    if (!hp_is_func(type) || !defined || strncmp(name, c->target, c->tlen))
      continue;
    /* "foo@V1" in .symtab is a version of foo, like "foo" in .dynsym. */
    enum hp_kind k =
        name[c->tlen] == '@' ? HP_EXACT : hp_classify(name, c->target, c->tlen);
    if (k == HP_OTHER)
      continue;
    int local = GELF_ST_BIND(sym.st_info) == STB_LOCAL;
    struct hp_sym s = {.value = sym.st_value,
                       .size = sym.st_size,
                       .name = name,
                       .file = local ? file : NULL,
                       .file_idx = local ? file_idx : 0,
                       .type = (unsigned char)type,
                       .bind = (unsigned char)GELF_ST_BIND(sym.st_info)};
    if (k == HP_EXACT)
      hp_sym_version(&c->tab, i, name, &s);
    struct hp_syms *to = k == HP_EXACT  ? &c->cands
                         : k == HP_COLD ? &c->colds
                                        : &c->clones;
    if (hp_push(to, &s))
      return hp_fail(HOTPATCH_ENOMEM, "no memory to resolve '%s' in %s",
                     c->f->target, c->obj);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Picking one                                                               */

static int hp_not_found(const struct hp_ctx *c) {
  const char *where = c->tab.is_dynsym
                          ? " (the file has no .symtab, so only exported "
                            "functions are visible)"
                          : "";
  if (!c->clones.n)
    return hp_fail(HOTPATCH_ENOENT, "no function '%s' in %s%s", c->f->target,
                   c->obj, where);
  struct hp_list l = {0};
  for (size_t i = 0; i < c->clones.n; i++)
    hp_list_add(&l, c->clones.v[i].name);
  return hp_fail(HOTPATCH_ENOENT,
                 "no function '%s' in %s%s; only compiler clones of it exist: "
                 "%s (the compiler replaced it; patch the clone or its "
                 "callers)",
                 c->f->target, c->obj, where, l.b);
}

/* .file named a CU that has no static `target`: say what exists instead. */
static int hp_no_such_file(const struct hp_ctx *c) {
  const char *t = c->f->target, *file = c->f->file;
  struct hp_list l = {0};
  int global = 0;
  for (size_t i = 0; i < c->cands.n; i++) {
    char o[300];
    global |= c->cands.v[i].bind != STB_LOCAL;
    hp_list_add(&l, hp_sym_origin(c, &c->cands.v[i], o, sizeof o));
  }
  if (global)
    return hp_fail(HOTPATCH_ENOENT,
                   "'%s' in %s is a global function, not a static one from "
                   "file '%s' (found: %s); omit .file to patch it",
                   t, c->obj, file, l.b);
  return hp_fail(HOTPATCH_ENOENT,
                 "no static function '%s' from file '%s' in %s (found: %s)", t,
                 file, c->obj, l.b);
}

/* Does candidate `s` carry the version f->target asks for? A bare name asks
 * for the default version (or an unversioned symbol); "foo@V" for version
 * V, default or not; "foo@@V" for V only if it is the default. */
static int hp_version_ok(const struct hp_ctx *c, const struct hp_sym *s) {
  if (!c->want_ver)
    return !s->hidden;
  return s->ver && !strcmp(s->ver, c->want_ver) &&
         !(c->want_default && s->hidden);
}

/* Functions of that name exist, but none in the version asked for: list
 * the versions there are. */
static int hp_no_version(const struct hp_ctx *c) {
  struct hp_list l = {0};
  char first[300] = "";
  for (size_t i = 0; i < c->cands.n; i++) {
    char v[300];
    hp_sym_versioned(c, &c->cands.v[i], v, sizeof v);
    if (!i)
      memcpy(first, v, sizeof first);
    hp_list_add(&l, v);
  }
  if (!c->want_ver)
    return hp_fail(HOTPATCH_ENOENT,
                   "'%s' in %s has no default version, only %s; name the "
                   "version to patch in the target (e.g. '%s')",
                   c->f->target, c->obj, l.b, first);
  return hp_fail(
      HOTPATCH_ENOENT, "no version '%s' in %s; its versions are: %s%s",
      c->f->target, c->obj, l.b,
      c->want_default ? " ('@@' names the default version only)" : "");
}

static int hp_same_addr_before(const struct hp_syms *s, const int *keep,
                               size_t i) {
  for (size_t j = 0; j < i; j++)
    if (keep[j] && s->v[j].value == s->v[i].value)
      return 1;
  return 0;
}

/* Apply the version and .file, fold duplicates at one address (versions
 * of one function included), refuse if several remain. `*out` gets the pick
 * with GLOBAL/IFUNC merged from its duplicates. */
static int hp_choose(struct hp_ctx *c, struct hp_sym *out) {
  const char *file = c->f->file && *c->f->file ? c->f->file : NULL;
  const struct hp_syms *s = &c->cands;
  if (!s->n)
    return hp_not_found(c);
  int *keep = calloc(s->n, sizeof *keep);
  if (!keep)
    return hp_fail(HOTPATCH_ENOMEM, "no memory to resolve '%s' in %s",
                   c->f->target, c->obj);
  size_t in_version = 0, kept = 0, distinct = 0, first = 0;
  struct hp_list l = {0};
  for (size_t i = 0; i < s->n; i++) {
    int ver_ok = hp_version_ok(c, &s->v[i]);
    in_version += ver_ok != 0;
    keep[i] = ver_ok && (!file || (s->v[i].bind == STB_LOCAL &&
                                   hp_file_matches(s->v[i].file, file)));
    if (!keep[i])
      continue;
    if (!kept++)
      first = i;
    if (!hp_same_addr_before(s, keep, i)) {
      char o[300];
      distinct++;
      hp_list_add(&l, hp_sym_origin(c, &s->v[i], o, sizeof o));
    }
  }
  int rc = 0;
  if (!in_version) {
    rc = hp_no_version(c);
  } else if (!kept) {
    rc = hp_no_such_file(c);
  } else if (distinct > 1) {
    rc = hp_fail(HOTPATCH_EAMBIGUOUS,
                 "'%s' in %s names %zu different functions (%s); set .file "
                 "to the source file of the one to patch",
                 c->f->target, c->obj, distinct, l.b);
  } else {
    *out = s->v[first];
    for (size_t i = first + 1; i < s->n; i++) {
      if (!keep[i])
        continue;
      if (s->v[i].bind != STB_LOCAL)
        out->bind = s->v[i].bind;
      if (s->v[i].type == STT_GNU_IFUNC)
        out->type = STT_GNU_IFUNC;
    }
  }
  free(keep);
  return rc;
}

static int hp_check_pick(const struct hp_ctx *c, const struct hp_sym *p) {
  const char *t = c->f->target;
  uintptr_t addr = c->mod->bias + (uintptr_t)p->value;
  if (p->type == STT_GNU_IFUNC)
    return hp_fail(HOTPATCH_EIFUNC,
                   "'%s' in %s is an IFUNC: its symbol is the resolver that "
                   "picks an implementation at load time; patch the "
                   "implementation instead",
                   t, c->obj);
  if (p->size == 0)
    return hp_fail(HOTPATCH_ENOSIZE,
                   "'%s' in %s has no size (st_size 0, e.g. hand-written "
                   "assembly without .size): its extent is unknown",
                   t, c->obj);
  if (!hp_module_has_code(c->mod, addr, (size_t)p->size))
    return hp_fail(HOTPATCH_ENOTCODE,
                   "'%s' in %s at %#lx (+%zu bytes) is not inside an "
                   "executable segment of the object",
                   t, c->obj, (unsigned long)addr, (size_t)p->size);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Notes                                                                     */

/* Does `x` (a cold part or clone) belong to the pick? A static's belong to
 * its own CU. A global's CU is unknown (globals follow all locals), so take
 * those not in the CU of another same-named static. */
static int hp_related(const struct hp_ctx *c, const struct hp_sym *pick,
                      const struct hp_sym *x) {
  if (pick->bind == STB_LOCAL)
    return x->file_idx == pick->file_idx;
  for (size_t i = 0; i < c->cands.n; i++) {
    const struct hp_sym *o = &c->cands.v[i];
    if (o->bind == STB_LOCAL && o->value != pick->value &&
        o->file_idx == x->file_idx)
      return 0;
  }
  return 1;
}

static void hp_note_cold(const struct hp_ctx *c, const struct hp_sym *pick,
                         struct hp_target *out) {
  const struct hp_sym *cold = NULL;
  size_t n = 0;
  for (size_t i = 0; i < c->colds.n; i++)
    if (hp_related(c, pick, &c->colds.v[i]) && !n++)
      cold = &c->colds.v[i];
  if (n != 1) {
    if (n > 1)
      hp_debug("'%s' in %s: %zu cold parts could be its own; none recorded",
               c->f->target, c->obj, n);
    return;
  }
  out->notes |= HP_TARGET_HAS_COLD;
  out->cold_addr = c->mod->bias + (uintptr_t)cold->value;
  out->cold_size = (size_t)cold->size;
}

static void hp_note_clones(const struct hp_ctx *c, const struct hp_sym *pick,
                           struct hp_target *out) {
  struct hp_list l = {0};
  for (size_t i = 0; i < c->clones.n; i++)
    if (hp_related(c, pick, &c->clones.v[i]))
      hp_list_add(&l, c->clones.v[i].name);
  if (!l.n)
    return;
  out->notes |= HP_TARGET_HAS_CLONES;
  hp_warn("'%s' in %s has compiler clones (%s): callers bound to %s are not "
          "redirected by patching '%s'",
          c->f->target, c->obj, l.b, l.b, c->f->target);
}

/* Pass 2: other names of the same code (alias attribute, identical code
 * folding), and the next symbol after it. GCC's own "<name>.localalias" is
 * the same function, not news. */
static void hp_note_aliases(const struct hp_ctx *c, const struct hp_sym *pick,
                            struct hp_target *out) {
  struct hp_list l = {0};
  GElf_Addr next = 0;
  for (size_t i = 1; i < c->tab.n; i++) {
    GElf_Sym sym;
    const char *name;
    int defined;
    if (hp_sym_read(&c->tab, i, &sym, &name, &defined) || !defined)
      continue;
    unsigned type = GELF_ST_TYPE(sym.st_info);
    /* The next symbol bounds the padding the analyser may use. */
    if (sym.st_value > pick->value && type != STT_SECTION && type != STT_FILE &&
        type != STT_TLS && (!next || sym.st_value < next))
      next = sym.st_value;
    if (sym.st_value != pick->value || !hp_is_func(type))
      continue;
    /* Itself, in any version ("foo", "foo@V1", "foo@@V2"). */
    if (!strncmp(name, c->target, c->tlen) &&
        (name[c->tlen] == '\0' || name[c->tlen] == '@' ||
         !strcmp(name + c->tlen, ".localalias")))
      continue;
    hp_list_add(&l, name);
  }
  if (next)
    out->limit = c->mod->bias + (uintptr_t)next;
  if (!l.n)
    return;
  out->notes |= HP_TARGET_HAS_ALIAS;
  hp_warn("'%s' in %s has the same address as %s: patching it changes "
          "those too",
          c->f->target, c->obj, l.b);
}

/* ------------------------------------------------------------------------ */
/* Build-ids                                                                 */

static int hp_check_file_id(const struct hp_ctx *c, Elf *elf) {
  const struct hp_module *m = c->mod;
  unsigned char id[HP_BUILD_ID_MAX];
  size_t len;
  int rc = hp_build_id_from_elf(elf, m->path, id, sizeof id, &len);
  if (rc)
    return hp_fail_context(rc, "'%s' in %s: ", c->f->target, c->obj);
  if (len == m->build_id_len && !memcmp(id, m->build_id, len))
    return 0;
  char disk[HP_BUILD_ID_HEX_MAX], mem[HP_BUILD_ID_HEX_MAX];
  hp_build_id_format(id, len, disk, sizeof disk);
  hp_build_id_format(m->build_id, m->build_id_len, mem, sizeof mem);
  return hp_fail(HOTPATCH_ESTALEFILE,
                 "'%s' in %s: file %s on disk has build-id %s but the loaded "
                 "object has %s (the file was replaced after it was loaded)",
                 c->f->target, c->obj, m->path, len ? disk : "(none)",
                 m->build_id_len ? mem : "(none)");
}

static int hp_check_wanted_id(const struct hp_ctx *c) {
  const char *want = c->f->build_id;
  const struct hp_module *m = c->mod;
  if (!want || !*want)
    return 0;
  unsigned char id[HP_BUILD_ID_MAX];
  size_t len;
  int rc = hp_build_id_parse(want, id, sizeof id, &len);
  if (rc)
    return hp_fail_context(rc, "'%s' in %s: ", c->f->target, c->obj);
  if (!m->build_id_len)
    return hp_fail(HOTPATCH_EBUILDID,
                   "'%s' in %s: the patch wants build-id %s but the object "
                   "has no build-id",
                   c->f->target, c->obj, want);
  if (len == m->build_id_len && !memcmp(id, m->build_id, len))
    return 0;
  char have[HP_BUILD_ID_HEX_MAX];
  hp_build_id_format(m->build_id, m->build_id_len, have, sizeof have);
  return hp_fail(HOTPATCH_EBUILDID,
                 "'%s' in %s: the patch wants build-id %s but the object has "
                 "%s",
                 c->f->target, c->obj, want, have);
}

/* ------------------------------------------------------------------------ */

static int hp_open_module(const struct hp_ctx *c, int *fd, Elf **elf) {
  int rc = hp_elf_open(c->mod->path, fd, elf);
  if (rc == HOTPATCH_ENOENT)
    return hp_fail(HOTPATCH_ESTALEFILE,
                   "'%s' in %s: the object's file %s is no longer on disk",
                   c->f->target, c->obj, c->mod->path);
  if (rc)
    return hp_fail_context(rc, "'%s' in %s: ", c->f->target, c->obj);
  return 0;
}

/* Split "foo@V1" / "foo@@V2" into the name and the version wanted. */
static int hp_parse_target(struct hp_ctx *c) {
  const char *t = c->f->target, *at = strchr(t, '@');
  c->target = t;
  c->tlen = strlen(t);
  if (!at)
    return 0;
  const char *ver = at + (at[1] == '@' ? 2 : 1);
  if (at == t || !*ver || strchr(ver, '@'))
    return hp_fail(HOTPATCH_EINVAL,
                   "target '%s' in %s: write a symbol version as "
                   "'name@VERSION', or 'name@@VERSION' for the default one",
                   t, c->obj);
  c->tlen = (size_t)(at - t);
  c->target_buf = malloc(c->tlen + 1);
  if (!c->target_buf)
    return hp_fail(HOTPATCH_ENOMEM, "no memory to resolve '%s' in %s", t,
                   c->obj);
  memcpy(c->target_buf, t, c->tlen);
  c->target_buf[c->tlen] = '\0';
  c->target = c->target_buf;
  c->want_ver = ver;
  c->want_default = at[1] == '@';
  return 0;
}

/* Everything after the file is open; the caller closes it. */
static int hp_resolve_in(struct hp_ctx *c, Elf *elf, struct hp_target *out) {
  int rc = hp_check_file_id(c, elf);
  if (!rc)
    rc = hp_check_wanted_id(c);
  if (rc)
    return rc;
  if (hp_find_symtab(elf, &c->tab))
    return hp_fail(HOTPATCH_ENOSYMTAB,
                   "'%s' in %s: %s has neither .symtab nor .dynsym",
                   c->f->target, c->obj, c->mod->path);
  if ((rc = hp_scan(c)) != 0)
    return rc;
  size_t base = hp_cold_base_len(c->target);
  if (c->cands.n && base)
    return hp_fail(HOTPATCH_ECLONE,
                   "'%s' in %s is the cold part the compiler split off "
                   "'%.*s', not an entry point; patch '%.*s'",
                   c->f->target, c->obj, (int)base, c->target, (int)base,
                   c->target);
  struct hp_sym pick = {0};
  if ((rc = hp_choose(c, &pick)) != 0 || (rc = hp_check_pick(c, &pick)) != 0)
    return rc;
  out->addr = c->mod->bias + (uintptr_t)pick.value;
  out->size = (size_t)pick.size;
  out->features = c->mod->features;
  for (size_t i = 0; i < c->mod->nseg; i++)
    if ((c->mod->seg[i].flags & PF_X) && out->addr >= c->mod->seg[i].start &&
        out->addr < c->mod->seg[i].end)
      out->code_end = c->mod->seg[i].end;
  if (pick.bind != STB_LOCAL)
    out->notes |= HP_TARGET_GLOBAL;
  hp_note_cold(c, &pick, out);
  hp_note_clones(c, &pick, out);
  hp_note_aliases(c, &pick, out);
  return 0;
}

int hp_resolve(const struct hp_modules *m, const struct hotpatch_func *f,
               struct hp_target *out) {
  memset(out, 0, sizeof *out);
  if (!f || !f->target || !*f->target)
    return hp_fail(HOTPATCH_EINVAL, "a patch target has no symbol name");
  const struct hp_module *mod;
  int rc = hp_modules_find(m, f->object, &mod);
  if (rc)
    return hp_fail_context(rc, "'%s': ", f->target);
  struct hp_ctx c = {.f = f, .mod = mod};
  c.obj = *mod->basename ? mod->basename
          : mod->is_main ? "the program"
                         : mod->name;
  snprintf(out->object, sizeof out->object, "%s", c.obj);
  if (mod->is_vdso)
    return hp_fail(HOTPATCH_EOPNOTSUPP,
                   "'%s' in %s: the vDSO has no file to read symbols from",
                   f->target, c.obj);
  int fd = -1;
  Elf *elf = NULL;
  rc = hp_parse_target(&c);
  if (!rc)
    rc = hp_open_module(&c, &fd, &elf);
  if (!rc)
    rc = hp_resolve_in(&c, elf, out);
  hp_elf_close(fd, elf);
  free(c.target_buf);
  free(c.cands.v);
  free(c.colds.v);
  free(c.clones.v);
  if (rc) /* keep only the object's name, for the caller's messages */
    memset(out, 0, offsetof(struct hp_target, object));
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The extent of code at an address (a replacement, for the revert check)   */

int hp_func_extent(const struct hp_modules *m, uintptr_t addr, uintptr_t *lo,
                   uintptr_t *hi) {
  const struct hp_module *mod = hp_modules_by_addr(m, addr);
  if (!mod)
    return hp_fail(HOTPATCH_ENOTCODE, "%#lx is in no loaded object",
                   (unsigned long)addr);
  /* Conservative default: to the end of the executable segment. */
  *lo = addr;
  *hi = addr + 1;
  for (size_t i = 0; i < mod->nseg; i++)
    if ((mod->seg[i].flags & PF_X) && addr >= mod->seg[i].start &&
        addr < mod->seg[i].end)
      *hi = mod->seg[i].end;
  int fd = -1;
  Elf *elf = NULL;
  struct hp_symtab tab = {0};
  char saved[HP_ERROR_MAX];
  hp_error_save(saved);
  if (mod->is_vdso || hp_elf_open(mod->path, &fd, &elf) ||
      hp_find_symtab(elf, &tab)) {
    hp_elf_close(fd, elf);
    hp_error_restore(saved); /* no table: the default stands */
    return 0;
  }
  for (size_t i = 1; i < tab.n; i++) {
    GElf_Sym sym;
    const char *name;
    int defined;
    if (hp_sym_read(&tab, i, &sym, &name, &defined) || !defined ||
        !hp_is_func(GELF_ST_TYPE(sym.st_info)) || !sym.st_size)
      continue;
    uintptr_t s = mod->bias + (uintptr_t)sym.st_value;
    if (addr >= s && addr < s + sym.st_size) {
      *lo = s;
      *hi = s + (uintptr_t)sym.st_size;
      break;
    }
  }
  hp_elf_close(fd, elf);
  return 0;
}
