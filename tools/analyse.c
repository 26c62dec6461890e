/* SPDX-License-Identifier: MIT */
/*
 * hotpatch-analyse: which functions of an ELF file could hotpatch patch?
 *
 *   hotpatch-analyse [--examples N] [--min-accept PERCENT] FILE...
 *
 * For every STT_FUNC symbol of each FILE (.symtab, else
 * .dynsym) it runs the analyser of the file's architecture over the bytes
 * in the file, exactly as a patch of that function would at run time
 * (need = the direct entry jump), and prints a Markdown table: how many are
 * accepted, and each refusal reason with its count and N examples
 * (IFUNC resolvers are counted apart: they are not functions). Functions
 * are counted by distinct address: aliases and symbol versions of one
 * function (pthread_rwlock_tryrdlock@GLIBC_2.2.5 and @@GLIBC_2.34, and
 * __pthread_rwlock_tryrdlock) are one function, one example; the symbol
 * counts are printed too. --min-accept applies to functions. The
 * analysers are pure, so an aarch64 library can be analysed on an x86_64
 * machine and the other way round. Nothing is loaded or executed.
 *
 * Exit status: 0; 1 if a file cannot be read; 3 if a file's share of
 * accepted functions is below --min-accept.
 */
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/isa.h"
#include "hotpatch.h"

struct sym {
  const char *name;
  GElf_Addr addr;
  GElf_Xword size;
  unsigned type;
};

struct reason {
  int code;
  size_t count;   /* distinct addresses */
  size_t symbols; /* symbols at them */
  GElf_Addr example_addr[4];
  char examples[4][400];
};

static int by_addr(const void *a, const void *b) {
  const struct sym *x = a, *y = b;
  return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The bytes of [addr, addr + len) from an executable section, or NULL. */
static const uint8_t *code_at(Elf *elf, GElf_Addr addr, size_t len,
                              size_t *avail) {
  Elf_Scn *scn = NULL;
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS ||
        !(sh.sh_flags & SHF_EXECINSTR) || addr < sh.sh_addr ||
        addr >= sh.sh_addr + sh.sh_size)
      continue;
    Elf_Data *d = elf_getdata(scn, NULL);
    if (!d || !d->d_buf)
      return NULL;
    size_t off = addr - sh.sh_addr;
    *avail = sh.sh_size - off;
    return *avail >= len ? (const uint8_t *)d->d_buf + off : NULL;
  }
  return NULL;
}

static struct reason *reason_for(struct reason *r, size_t *nr, int code) {
  for (size_t i = 0; i < *nr; i++)
    if (r[i].code == code)
      return &r[i];
  r[*nr] = (struct reason){.code = code};
  return &r[(*nr)++];
}

static double min_accept = -1; /* --min-accept: fail below this % */

static int analyse_file(const char *path, int examples) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  Elf *elf = fd >= 0 ? elf_begin(fd, ELF_C_READ_MMAP, NULL) : NULL;
  GElf_Ehdr eh;
  if (!elf || !gelf_getehdr(elf, &eh)) {
    fprintf(stderr, "hotpatch-analyse: %s: cannot read as ELF\n", path);
    if (fd >= 0)
      close(fd);
    return 1;
  }
  const struct hp_isa *isa = eh.e_machine == EM_X86_64    ? &hp_isa_x86_64
                             : eh.e_machine == EM_AARCH64 ? &hp_isa_aarch64
                                                          : NULL;
  Elf_Scn *scn = NULL, *tab = NULL;
  GElf_Shdr tsh = {0};
  while ((scn = elf_nextscn(elf, scn))) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) &&
        (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && !tab))) {
      tab = scn;
      tsh = sh;
    }
  }
  if (!isa || !tab) {
    fprintf(stderr, "hotpatch-analyse: %s: %s\n", path,
            !isa ? "not x86_64 or aarch64" : "no symbol table");
    elf_end(elf);
    close(fd);
    return 1;
  }
  Elf_Data *d = elf_getdata(tab, NULL);
  size_t n = tsh.sh_entsize ? tsh.sh_size / tsh.sh_entsize : 0;
  struct sym *all = calloc(n + 1, sizeof *all);
  size_t na = 0;
  for (size_t i = 1; d && i < n; i++) {
    GElf_Sym s;
    if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF ||
        s.st_shndx >= SHN_LORESERVE)
      continue;
    unsigned type = GELF_ST_TYPE(s.st_info);
    if (type == STT_SECTION || type == STT_FILE || type == STT_TLS)
      continue;
    all[na++] = (struct sym){elf_strptr(elf, tsh.sh_link, s.st_name),
                             s.st_value, s.st_size, type};
  }
  qsort(all, na, sizeof *all, by_addr);

  struct reason reasons[64];
  size_t nr = 0, nfunc = 0, nifunc = 0, accepted = 0;
  size_t naddr = 0, addr_accepted = 0;
  /* The last function address seen (symbols are sorted by address) and
   * whether one of its symbols was refused. */
  GElf_Addr cur = 0;
  int have_cur = 0, cur_refused = 0;
  for (size_t i = 0; i < na; i++) {
    const struct sym *s = &all[i];
    if (s->type == STT_GNU_IFUNC)
      nifunc++; /* a resolver, not a function: reported apart */
    if (s->type != STT_FUNC)
      continue;
    nfunc++;
    if (!have_cur || s->addr != cur) {
      addr_accepted += have_cur && !cur_refused;
      naddr++;
      cur = s->addr;
      have_cur = 1;
      cur_refused = 0;
    }
    int code;
    char detail[200] = "";
    size_t avail = 0;
    const uint8_t *bytes;
    if (!s->size) {
      code = HOTPATCH_ENOSIZE;
    } else if (!(bytes = code_at(elf, s->addr, s->size, &avail))) {
      code = HOTPATCH_ENOTCODE;
    } else {
      /* Padding after the end: up to the next symbol that starts later. */
      GElf_Addr next = s->addr + s->size + HP_TAIL_MAX;
      for (size_t k = i + 1; k < na; k++)
        if (all[k].addr > s->addr) {
          if (all[k].addr < next)
            next = all[k].addr;
          break;
        }
      size_t tail = next > s->addr + s->size ? next - s->addr - s->size : 0;
      if (tail > avail - s->size)
        tail = avail - s->size;
      /* Its .cold part, when the table has one. */
      char cold_name[512];
      snprintf(cold_name, sizeof cold_name, "%s.cold", s->name);
      struct hp_code c = {
          .addr = s->addr, .bytes = bytes, .size = s->size, .tail = tail};
      for (size_t k = 0; k < na; k++)
        if (all[k].size && !strcmp(all[k].name, cold_name)) {
          size_t cav;
          c.cold_bytes = code_at(elf, all[k].addr, all[k].size, &cav);
          c.cold_addr = c.cold_bytes ? all[k].addr : 0;
          c.cold_size = c.cold_bytes ? all[k].size : 0;
          break;
        }
      struct hp_site site;
      code = isa->analyse(&c, isa->near_jump_len, &site);
      if (code)
        snprintf(detail, sizeof detail, "%s", hotpatch_last_error());
    }
    if (!code) {
      accepted++;
      continue;
    }
    struct reason *r = reason_for(reasons, &nr, code);
    r->symbols++;
    if (cur_refused)
      continue; /* another name of a function already counted */
    cur_refused = 1;
    if (r->count < (size_t)examples && r->count < 4) {
      r->example_addr[r->count] = s->addr;
      snprintf(r->examples[r->count], sizeof r->examples[0], "`%s`%s%s",
               s->name, *detail ? ": " : "", detail);
    }
    r->count++;
  }
  addr_accepted += have_cur && !cur_refused;
  /* Each example names the function's other symbols. */
  for (size_t i = 0; i < nr; i++)
    for (size_t k = 0; k < reasons[i].count && k < (size_t)examples && k < 4;
         k++) {
      char also[256] = "";
      size_t o = 0;
      const char *first = NULL;
      for (size_t j = 0; j < na; j++) {
        if (all[j].addr != reasons[i].example_addr[k] ||
            all[j].type != STT_FUNC)
          continue;
        if (!first) {
          first = all[j].name;
          continue;
        }
        int dup = !strcmp(all[j].name, first);
        for (size_t q = 0; q < j && !dup; q++)
          dup = all[q].addr == all[j].addr && all[q].type == STT_FUNC &&
                !strcmp(all[q].name, all[j].name);
        if (!dup && o + strlen(all[j].name) + 8 < sizeof also)
          o += (size_t)snprintf(also + o, sizeof also - o, "%s`%s`",
                                o ? ", " : "", all[j].name);
      }
      if (o) {
        char *e = reasons[i].examples[k];
        size_t el = strlen(e);
        /* After the name: "`name` (also `x`, `y`): detail". */
        char *colon = strstr(e, "`: ");
        size_t at = colon ? (size_t)(colon - e) + 1 : el;
        char rest[400];
        snprintf(rest, sizeof rest, "%s", e + at);
        snprintf(e + at, sizeof reasons[i].examples[k] - at, " (also %s)%s",
                 also, rest);
      }
    }
  const char *base = strrchr(path, '/');
  printf("### %s (%s)\n\n", base ? base + 1 : path, isa->name);
  printf("%zu functions (distinct addresses of %zu STT_FUNC symbols in "
         "%s): %zu accepted (%.2f%%), %zu refused. By symbol: %zu accepted "
         "(%.2f%%), %zu refused.",
         naddr, nfunc, tsh.sh_type == SHT_SYMTAB ? ".symtab" : ".dynsym",
         addr_accepted, naddr ? 100.0 * addr_accepted / naddr : 0.0,
         naddr - addr_accepted, accepted,
         nfunc ? 100.0 * accepted / nfunc : 0.0, nfunc - accepted);
  if (nifunc)
    printf(" Not counted: %zu STT_GNU_IFUNC symbols (resolvers, refused "
           "with `HOTPATCH_EIFUNC`; patch the implementation they pick).",
           nifunc);
  printf("\n\n");
  if (nr) {
    printf("| refused | functions | symbols | examples |\n"
           "|---|---:|---:|---|\n");
    for (size_t i = 0; i < nr; i++) {
      printf("| `%s` | %zu | %zu | ", hotpatch_err_name(reasons[i].code),
             reasons[i].count, reasons[i].symbols);
      for (size_t k = 0; k < reasons[i].count && k < (size_t)examples && k < 4;
           k++) {
        /* A '|' in a disassembly would end the Markdown cell. */
        for (char *p = reasons[i].examples[k]; *p; p++)
          if (*p == '|' || *p == '\n')
            *p = '/';
        printf("%s%s", k ? "<br>" : "", reasons[i].examples[k]);
      }
      printf(" |\n");
    }
    printf("\n");
  }
  free(all);
  elf_end(elf);
  close(fd);
  if (min_accept >= 0 &&
      (!naddr || 100.0 * addr_accepted / naddr < min_accept)) {
    fprintf(stderr,
            "hotpatch-analyse: %s: %.2f%% of functions accepted, below "
            "%.2f%%\n",
            path, naddr ? 100.0 * addr_accepted / naddr : 0.0, min_accept);
    return 3;
  }
  return 0;
}

int main(int argc, char **argv) {
  int examples = 2, rc = 0, first = 1;
  elf_version(EV_CURRENT);
  hotpatch_init(&(struct hotpatch_config){.log_level = 1});
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--examples") && i + 1 < argc) {
      examples = atoi(argv[++i]);
      continue;
    }
    if (!strcmp(argv[i], "--min-accept") && i + 1 < argc) {
      min_accept = atof(argv[++i]);
      continue;
    }
    if (argv[i][0] == '-') {
      fprintf(stderr,
              "usage: hotpatch-analyse [--examples N] [--min-accept PERCENT] "
              "FILE...\n");
      return 2;
    }
    first = 0;
    int r = analyse_file(argv[i], examples);
    rc = r > rc ? r : rc;
  }
  if (first) {
    fprintf(stderr, "usage: hotpatch-analyse [--examples N] FILE...\n");
    return 2;
  }
  return rc;
}
