/* SPDX-License-Identifier: MIT */
/* BTI-guarded pages from /proc/self/smaps (see guard.h). */
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/aarch64/guard.h"

/* A mapping's first line: "start-end perms offset dev inode [path]", in
 * lowercase hex; the other lines start with a capitalised "Key:". */
static int header_range(const char *line, uintptr_t *lo, uintptr_t *hi) {
  char *end;
  if (!((line[0] >= '0' && line[0] <= '9') ||
        (line[0] >= 'a' && line[0] <= 'f')))
    return 0;
  unsigned long a = strtoul(line, &end, 16);
  if (*end != '-')
    return 0;
  unsigned long b = strtoul(end + 1, &end, 16);
  if (*end != ' ')
    return 0;
  *lo = a;
  *hi = b;
  return 1;
}

/* Is `flag` one of the space-separated words after "VmFlags:"? */
static int has_word(const char *list, const char *flag) {
  size_t n = strlen(flag);
  for (const char *p = list; (p = strstr(p, flag)) != NULL; p += n)
    if ((p == list || p[-1] == ' ' || p[-1] == '\t') &&
        (p[n] == ' ' || p[n] == '\n' || p[n] == '\0'))
      return 1;
  return 0;
}

int hp_smaps_vmflag(FILE *f, uintptr_t addr, const char *flag) {
  char *line = NULL;
  size_t cap = 0;
  int in = 0, rc = -1;
  while (getline(&line, &cap, f) > 0) {
    uintptr_t lo, hi;
    if (header_range(line, &lo, &hi)) {
      if (in) /* the mapping ended without a VmFlags line */
        break;
      in = addr >= lo && addr < hi;
    } else if (in && !strncmp(line, "VmFlags:", 8)) {
      rc = has_word(line + 8, flag);
      break;
    }
  }
  free(line);
  return rc;
}

#if defined(__aarch64__)
static int smaps_flag_here(uintptr_t addr) {
  FILE *f = fopen("/proc/self/smaps", "re");
  if (!f)
    return -1;
  int rc = hp_smaps_vmflag(f, addr, "bt");
  fclose(f);
  return rc;
}

/* 0 not probed, 1 shows "bt", 2 does not. Racing probes agree. */
static int hp_smaps_bti_state;

int hp_a64_smaps_shows_bti(void) {
  int st = __atomic_load_n(&hp_smaps_bti_state, __ATOMIC_RELAXED);
  if (!st) {
    /* PROT_BTI needs no PROT_EXEC (the kernel sets VM_ARM64_BTI for any
     * mapping), so the probe works where new executable memory may not. */
    long pg = sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, (size_t)pg, PROT_READ | PROT_BTI,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    st = 2;
    if (p != MAP_FAILED) {
      if (smaps_flag_here((uintptr_t)p) == 1)
        st = 1;
      munmap(p, (size_t)pg);
    }
    __atomic_store_n(&hp_smaps_bti_state, st, __ATOMIC_RELAXED);
  }
  return st == 1;
}

int hp_a64_page_guarded(uintptr_t addr) {
  if (!(getauxval(AT_HWCAP2) & HWCAP2_BTI))
    return 0;
  if (!hp_a64_smaps_shows_bti())
    return -1;
  return smaps_flag_here(addr);
}
#else
int hp_a64_smaps_shows_bti(void) { return 0; }
int hp_a64_page_guarded(uintptr_t addr) {
  (void)addr;
  return 0;
}
#endif
