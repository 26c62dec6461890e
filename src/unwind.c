/* SPDX-License-Identifier: MIT */
/* Precise unwinding of parked threads with libunwind's remote API: see
 * unwind.h for the rules, safepoint.h for how the verdicts are used. */
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>

#include "errors.h"
#include "log.h"
#include "modules.h"
#include "safepoint.h"
#include "unwind.h"

#define HP_UNW_VERSION UNW_VERSION_CODE(UNW_VERSION_MAJOR, UNW_VERSION_MINOR)
/* Checked with 1.6.2: remote init does not back the first IP up, and the
 * uncached step makes exactly one find_proc_info call. */
#define HP_UNW_USABLE (HP_UNW_VERSION >= UNW_VERSION_CODE(1, 6))

#if HP_UNW_USABLE
/* Exported by libunwind-<arch>.so for libunwind-ptrace and -coredump;
 * declared only in its private dwarf.h. */
#define hp_unw_search_table UNW_OBJ(dwarf_search_unwind_table)
extern int hp_unw_search_table(unw_addr_space_t as, unw_word_t ip,
                               unw_dyn_info_t *di, unw_proc_info_t *pi,
                               int need_unwind_info, void *arg);
#endif

#define HP_WORD sizeof(unw_word_t)

/* An object of the snapshot, as the unwinder knows it. */
struct hp_uw_mod {
  int known;           /* its identity was recorded at prepare */
  int vdso;            /* the identity is "[vdso]" */
  uint64_t dev, inode; /* of the mapping holding its .eh_frame_hdr */
  uintptr_t base;      /* that mapping's start minus its file offset */
  unsigned long gen;   /* the check its state below is for */
  int ok;              /* same file now; table decoded */
  uintptr_t table;     /* the binary-search table, 0: none usable */
  size_t count;        /* its entries */
};

struct hp_unwind {
  const struct hp_safepoint *sp;
  struct hp_modules *mods;
  struct hp_uw_mod *um;
#if HP_UNW_USABLE
  unw_addr_space_t as;
  unw_cursor_t cur;
#endif
  unsigned long gen; /* checks begun */
  /* The walk: frames f[0..n), every slot below top known. */
  const ucontext_t *uc;
  uintptr_t lo, hi; /* the stack being scanned */
  struct hp_frame *f;
  size_t n, slot_i;
  uintptr_t top;
  const char *stop;
  int ended; /* stop is HP_UW_END: the outermost frame, reached cleanly */
  /* Per step, from the accessors. */
  const char *fault;
  unsigned lookups;
  int lookup_ok;
  uintptr_t lookup_ip, lookup_start;
  /* The last mapping a read was allowed in. */
  uintptr_t rd_lo, rd_hi;
  unsigned long walks, steps;
};

/* ---- Memory: only words the unwinder may read. ---- */

/* Is `m` the very object recorded at prepare, and its table decoded? */
static int hp_uw_mod_ok(struct hp_unwind *u, const struct hp_module *mod,
                        struct hp_uw_mod *um);

static int hp_uw_may_read(struct hp_unwind *u, uintptr_t a) {
  if (a & (HP_WORD - 1))
    return 0;
  if (a >= u->rd_lo && a < u->rd_hi)
    return 1;
  const struct hp_sp_map *m = hp_sp_map_at(u->sp, a);
  if (!m || !(m->flags & HP_MAP_R))
    return 0;
  uintptr_t lo = m->start, hi = m->end;
  if (m->flags & HP_MAP_ANON) {
    /* Anonymous memory: only the stack being walked. */
    lo = lo > u->lo ? lo : u->lo;
    hi = hi < u->hi ? hi : u->hi;
    if (a < lo || a >= hi)
      return 0;
  } else {
    const struct hp_module *mod = hp_modules_by_addr(u->mods, a);
    if (!mod)
      return 0;
    struct hp_uw_mod *um = &u->um[mod - u->mods->mod];
    if (!hp_uw_mod_ok(u, mod, um))
      return 0;
    if (um->vdso ? !(m->flags & HP_MAP_VDSO)
                 : m->dev != um->dev || m->inode != um->inode)
      return 0;
  }
  u->rd_lo = lo;
  u->rd_hi = hi;
  return 1;
}

/* Another thread's stack holds the sanitizer's redzones: raw reads. */
__attribute__((no_sanitize_address)) static int
hp_uw_read(struct hp_unwind *u, uintptr_t a, uintptr_t *out) {
  if (!hp_uw_may_read(u, a))
    return 0;
  *out = *(const volatile uintptr_t *)a;
  return 1;
}

/* Any address: the two aligned words around it (aarch64 libunwind reads
 * the 8 bytes at a 4-aligned IP). */
static int hp_uw_read_any(struct hp_unwind *u, uintptr_t a, uintptr_t *out) {
  unsigned sh = 8 * (unsigned)(a & (HP_WORD - 1));
  uintptr_t lo, hi;
  if (!sh)
    return hp_uw_read(u, a, out);
  a &= ~(uintptr_t)(HP_WORD - 1);
  if (!hp_uw_read(u, a, &lo) || !hp_uw_read(u, a + HP_WORD, &hi))
    return 0;
  *out = lo >> sh | hi << (8 * HP_WORD - sh); /* little-endian */
  return 1;
}

static int hp_uw_read_u8(struct hp_unwind *u, uintptr_t a, uint8_t *out) {
  uintptr_t w;
  if (!hp_uw_read(u, a & ~(uintptr_t)(HP_WORD - 1), &w))
    return 0;
  *out = (uint8_t)(w >> 8 * (a & (HP_WORD - 1))); /* little-endian */
  return 1;
}

static int hp_uw_read_u32(struct hp_unwind *u, uintptr_t a, uint32_t *out) {
  uint32_t v = 0;
  for (unsigned i = 0; i < 4; i++) {
    uint8_t b;
    if (!hp_uw_read_u8(u, a + i, &b))
      return 0;
    v |= (uint32_t)b << 8 * i;
  }
  *out = v;
  return 1;
}

/* .eh_frame_hdr: version 1, an encoded .eh_frame pointer, an encoded FDE
 * count, then a table of (start, FDE) pairs, each an sdata4 relative to
 * the header (DW_EH_PE_datarel | DW_EH_PE_sdata4), sorted by start. */
#define HP_EH_OMIT 0xff
#define HP_EH_TABLE 0x3b

static int hp_eh_size(uint8_t enc) {
  switch (enc & 0x0f) {
  case 0x00: /* absptr */
  case 0x04: /* udata8 */
  case 0x0c: /* sdata8 */
    return 8;
  case 0x03: /* udata4 */
  case 0x0b: /* sdata4 */
    return 4;
  default:
    return 0;
  }
}

static void hp_uw_decode_table(struct hp_unwind *u, const struct hp_module *mod,
                               struct hp_uw_mod *um) {
  uintptr_t h = mod->eh_frame_hdr;
  uint8_t version, ptr_enc, count_enc, table_enc;
  um->table = 0;
  if (!hp_uw_read_u8(u, h, &version) || !hp_uw_read_u8(u, h + 1, &ptr_enc) ||
      !hp_uw_read_u8(u, h + 2, &count_enc) ||
      !hp_uw_read_u8(u, h + 3, &table_enc))
    return;
  int ptr_size = hp_eh_size(ptr_enc);
  /* The count must be a plain number: no pc- or data-relative one. */
  if (version != 1 || ptr_enc == HP_EH_OMIT || !ptr_size ||
      table_enc != HP_EH_TABLE || (count_enc & 0x70) ||
      hp_eh_size(count_enc) != 4)
    return;
  uint32_t count;
  if (!hp_uw_read_u32(u, h + 4 + (uintptr_t)ptr_size, &count) || !count)
    return;
  um->table = h + 4 + (uintptr_t)ptr_size + 4;
  um->count = count;
}

static int hp_uw_mod_ok(struct hp_unwind *u, const struct hp_module *mod,
                        struct hp_uw_mod *um) {
  if (um->gen == u->gen)
    return um->ok;
  um->gen = u->gen;
  um->ok = 0;
  if (!um->known)
    return 0;
  const struct hp_sp_map *m = hp_sp_map_at(u->sp, mod->eh_frame_hdr);
  if (!m || !(m->flags & HP_MAP_R))
    return 0;
  if (um->vdso ? !(m->flags & HP_MAP_VDSO)
               : m->dev != um->dev || m->inode != um->inode ||
                     m->start - m->offset != um->base)
    return 0;
  um->ok = 1; /* the header is read as this object's from here on */
  hp_uw_decode_table(u, mod, um);
  um->ok = um->table != 0;
  return um->ok;
}

/* The object holding `ip`, verified for this check; NULL with *why. */
static const struct hp_module *hp_uw_module(struct hp_unwind *u, uintptr_t ip,
                                            const char **why) {
  const struct hp_module *mod = hp_modules_by_addr(u->mods, ip);
  if (!mod) {
    *why = HP_UW_NO_MODULE;
    return NULL;
  }
  struct hp_uw_mod *um = &u->um[mod - u->mods->mod];
  if (!hp_uw_mod_ok(u, mod, um)) {
    *why = um->known ? HP_UW_CHANGED : HP_UW_NO_FDE;
    return NULL;
  }
  return mod;
}

#if HP_UNW_USABLE

/* ---- The accessors (as_arg is the hp_unwind). ---- */

static int hp_uw_refuse(struct hp_unwind *u, const char *why) {
  if (!u->fault)
    u->fault = why;
  return -UNW_EUNSPEC; /* not ENOINFO: x86_64 would guess from RBP */
}

static int hp_uw_find_proc_info(unw_addr_space_t as, unw_word_t ip,
                                unw_proc_info_t *pi, int need, void *arg) {
  struct hp_unwind *u = arg;
  u->lookups++;
  u->lookup_ip = ip;
  const char *why;
  const struct hp_module *mod = hp_uw_module(u, ip, &why);
  if (!mod)
    return hp_uw_refuse(u, why);
  struct hp_uw_mod *um = &u->um[mod - u->mods->mod];
  unw_dyn_info_t di;
  memset(&di, 0, sizeof di);
  di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
  di.start_ip = mod->lo;
  di.end_ip = mod->hi;
  di.u.rti.segbase = mod->eh_frame_hdr;
  di.u.rti.table_data = um->table;
  di.u.rti.table_len = um->count * 8 / HP_WORD;
  /* First without the unwind info: libunwind allocates it from its pool
   * before it checks that the FDE covers ip, and would not give it back
   * on that failure. */
  int rc = hp_unw_search_table(as, ip, &di, pi, 0, arg);
  if (rc >= 0 && (ip < pi->start_ip || ip >= pi->end_ip))
    rc = -UNW_ENOINFO;
  if (rc >= 0 && need)
    rc = hp_unw_search_table(as, ip, &di, pi, need, arg);
  if (rc < 0)
    return hp_uw_refuse(u, HP_UW_NO_FDE);
  u->lookup_ok = 1;
  u->lookup_start = pi->start_ip;
  return 0;
}

static void hp_uw_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi,
                                  void *arg) {
  /* libunwind gives back what dwarf_search_unwind_table allocated. */
}

static int hp_uw_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr,
                                        void *arg) {
  return -UNW_ENOINFO; /* no dynamically registered unwind info */
}

static int hp_uw_access_mem(unw_addr_space_t as, unw_word_t addr,
                            unw_word_t *val, int write, void *arg) {
  struct hp_unwind *u = arg;
  uintptr_t v;
  if (write || !hp_uw_read_any(u, addr, &v))
    return hp_uw_refuse(u, HP_UW_READ);
  *val = v;
  return 0;
}

__attribute__((no_sanitize_address)) static int
hp_uw_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val,
                 int write, void *arg) {
  struct hp_unwind *u = arg;
  const mcontext_t *mc = &u->uc->uc_mcontext;
  if (write)
    return hp_uw_refuse(u, HP_UW_STEP);
#if defined(__x86_64__)
  static const signed char greg[] = {
      REG_RAX, REG_RDX, REG_RCX, REG_RBX, REG_RSI, REG_RDI,
      REG_RBP, REG_RSP, REG_R8,  REG_R9,  REG_R10, REG_R11,
      REG_R12, REG_R13, REG_R14, REG_R15, REG_RIP}; /* UNW_X86_64_ order */
  if (reg < 0 || reg >= (int)sizeof greg)
    return hp_uw_refuse(u, HP_UW_STEP);
  *val = (unw_word_t)mc->gregs[greg[reg]];
#elif defined(__aarch64__)
  if (reg >= UNW_AARCH64_X0 && reg <= UNW_AARCH64_X30)
    *val = mc->regs[reg];
  else if (reg == UNW_AARCH64_SP)
    *val = mc->sp;
  else if (reg == UNW_AARCH64_PC)
    *val = mc->pc;
  else if (reg == UNW_AARCH64_PSTATE)
    *val = mc->pstate;
  else
    return hp_uw_refuse(u, HP_UW_STEP);
#endif
  return 0;
}

static int hp_uw_access_fpreg(unw_addr_space_t as, unw_regnum_t reg,
                              unw_fpreg_t *val, int write, void *arg) {
  return hp_uw_refuse(arg, HP_UW_STEP); /* never needed to step */
}

static int hp_uw_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg) {
  return hp_uw_refuse(arg, HP_UW_STEP);
}

static int hp_uw_get_proc_name(unw_addr_space_t as, unw_word_t ip, char *buf,
                               size_t len, unw_word_t *off, void *arg) {
  return -UNW_ENOINFO;
}

static unw_accessors_t hp_uw_accessors = {
    .find_proc_info = hp_uw_find_proc_info,
    .put_unwind_info = hp_uw_put_unwind_info,
    .get_dyn_info_list_addr = hp_uw_get_dyn_info_list_addr,
    .access_mem = hp_uw_access_mem,
    .access_reg = hp_uw_access_reg,
    .access_fpreg = hp_uw_access_fpreg,
    .resume = hp_uw_resume,
    .get_proc_name = hp_uw_get_proc_name,
};

/* ---- The walk. ---- */

/* Is the instruction that ends at `ra` a call? x86_64: E8 rel32, or
 * FF /2 (call r/m) of the length that ends there, whatever prefixes come
 * before; aarch64: BL, BLR, BLRAA(Z), BLRAB(Z). */
static int hp_uw_after_call(struct hp_unwind *u, uintptr_t ra) {
#if defined(__x86_64__)
  uint8_t b[8];
  for (unsigned i = 0; i < 8; i++)
    if (!hp_uw_read_u8(u, ra - 8 + i, &b[i]))
      return 0;
  if (b[3] == 0xe8)
    return 1;
  for (unsigned k = 2; k <= 7; k++) {
    const uint8_t *p = b + 8 - k;
    unsigned modrm = p[1], mod = modrm >> 6, rm = modrm & 7, len = 2;
    if (p[0] != 0xff || ((modrm >> 3) & 7) != 2)
      continue;
    if (mod != 3 && rm == 4) { /* SIB */
      if (k < 3)
        continue;
      len++;
      if (mod == 0 && (p[2] & 7) == 5)
        len += 4;
    }
    if (mod == 0 && rm == 5)
      len += 4; /* RIP-relative */
    else if (mod == 1)
      len += 1;
    else if (mod == 2)
      len += 4;
    if (len == k)
      return 1;
  }
  return 0;
#elif defined(__aarch64__)
  uint32_t insn;
  if (!hp_uw_read_u32(u, ra - 4, &insn))
    return 0;
  return (insn & 0xfc000000u) == 0x94000000u || /* BL */
         (insn & 0xfffffc1fu) == 0xd63f0000u || /* BLR */
         (insn & 0xfffff81fu) == 0xd63f081fu || /* BLRAAZ, BLRABZ */
         (insn & 0xfffff800u) == 0xd73f0800u;   /* BLRAA, BLRAB */
#endif
}

static void hp_uw_step(struct hp_unwind *u) {
  struct hp_frame *from = &u->f[u->n - 1];
  int first = u->n == 1;
  u->fault = NULL;
  u->lookups = 0;
  u->lookup_ok = 0;
  int r = unw_step(&u->cur);
  u->steps++;
  if (u->fault) {
    u->stop = u->fault;
    return;
  }
  /* One lookup, at the PC itself in frame 0 (a signal frame: no PC-1),
   * at the return address minus one above. */
  if (u->lookups != 1 || !u->lookup_ok ||
      u->lookup_ip != from->ip - (first ? 0 : 1)) {
    u->stop = HP_UW_LOOKUP;
    return;
  }
  from->start = u->lookup_start;
  if (r <= 0) {
    u->stop = r ? HP_UW_STEP : HP_UW_END;
    u->ended = !r;
    return;
  }
  unw_word_t ip, sp;
  unw_save_loc_t loc;
  if (unw_get_reg(&u->cur, UNW_REG_IP, &ip) < 0 ||
      unw_get_reg(&u->cur, UNW_REG_SP, &sp) < 0 ||
      unw_get_save_loc(&u->cur, UNW_REG_IP, &loc) < 0 || !ip) {
    u->stop = HP_UW_STEP;
    return;
  }
  if (hp_strip_pac(ip) != ip) {
    u->stop = HP_UW_PAC;
    return;
  }
  if (u->n == HP_UNWIND_MAX_FRAMES) {
    u->stop = HP_UW_DEPTH;
    return;
  }
  int in_lr = 0;
  uintptr_t at = 0, word;
#if defined(__aarch64__)
  /* Out of a leaf (or a prologue before x30 is stored): still in x30. */
  in_lr = first && loc.type == UNW_SLT_REG && loc.u.regnum == UNW_AARCH64_X30 &&
          ip == u->uc->uc_mcontext.regs[30];
#endif
  if (sp > u->hi || (in_lr ? sp < from->sp : sp <= from->sp)) {
    u->stop = HP_UW_SP;
    return;
  }
  if (!in_lr) {
    at = loc.u.addr;
#if defined(__x86_64__)
    int inside = at == sp - HP_WORD;
#else
    int inside = at >= from->sp && at < sp;
#endif
    if (loc.type != UNW_SLT_MEMORY || !inside || !hp_uw_read(u, at, &word) ||
        hp_strip_pac(word) != ip) {
      u->stop = HP_UW_SLOT;
      return;
    }
  }
  const char *why;
  if (!hp_uw_module(u, ip, &why)) {
    u->stop = why; /* its code cannot be read either */
    return;
  }
  if (!hp_uw_after_call(u, ip)) {
    u->stop = HP_UW_CALL;
    return;
  }
  u->f[u->n++] = (struct hp_frame){ip, sp, at, 0};
  u->top = sp;
}

void hp_unwind_start(struct hp_unwind *u, const ucontext_t *uc, uintptr_t lo,
                     uintptr_t hi) {
  unw_word_t ip = 0, sp = 0;
  u->uc = uc;
  u->lo = lo;
  u->hi = hi;
  u->rd_lo = u->rd_hi = 0; /* the anonymous range allowed changed */
  u->n = 0;
  u->slot_i = 1;
  u->top = 0;
  u->stop = NULL;
  u->ended = 0;
  u->fault = NULL;
  u->walks++;
  if (unw_init_remote(&u->cur, u->as, u) < 0 || u->fault ||
      unw_get_reg(&u->cur, UNW_REG_IP, &ip) < 0 ||
      unw_get_reg(&u->cur, UNW_REG_SP, &sp) < 0) {
    u->stop = u->fault ? u->fault : HP_UW_STEP;
    return;
  }
  u->f[u->n++] = (struct hp_frame){ip, sp, 0, 0};
  u->top = sp;
}

#else /* !HP_UNW_USABLE */

static void hp_uw_step(struct hp_unwind *u) { u->stop = HP_UW_STEP; }

void hp_unwind_start(struct hp_unwind *u, const ucontext_t *uc, uintptr_t lo,
                     uintptr_t hi) {
  u->n = 0;
  u->ended = 0;
  u->stop = HP_UW_STEP;
}

#endif

int hp_unwind_stale(struct hp_unwind *u, uintptr_t addr) {
  if (!u->n || addr < u->f[0].sp)
    return 0;
  while (!u->stop && addr >= u->top)
    hp_uw_step(u);
  if (addr >= u->top)
    return 0;
  /* Slots ascend with the frames; hits come in address order. */
  while (u->slot_i < u->n && u->f[u->slot_i].ra_at < addr)
    u->slot_i++;
  for (size_t i = u->slot_i; i < u->n && u->f[i].ra_at <= addr; i++)
    if (u->f[i].ra_at == addr)
      return 0;
  return 1;
}

int hp_unwind_strips_pac(void) {
  return HP_UNW_VERSION >= UNW_VERSION_CODE(1, 7);
}

void hp_unwind_walk_all(struct hp_unwind *u) {
  while (u->n && !u->stop)
    hp_uw_step(u);
}

int hp_unwind_outermost(const struct hp_unwind *u, uintptr_t *sp,
                        uintptr_t *ip) {
  if (!u->n || !u->ended)
    return 0;
  *sp = u->f[u->n - 1].sp;
  *ip = u->f[u->n - 1].ip;
  return 1;
}

void hp_unwind_new_check(struct hp_unwind *u) {
  u->gen++;
  u->rd_lo = u->rd_hi = 0;
}

size_t hp_unwind_frames(const struct hp_unwind *u, const struct hp_frame **f) {
  *f = u->f;
  return u->n;
}

const char *hp_unwind_stop_reason(const struct hp_unwind *u) { return u->stop; }

void hp_unwind_counts(const struct hp_unwind *u, unsigned long *walks,
                      unsigned long *steps) {
  *walks = u->walks;
  *steps = u->steps;
}

/* ---- Before and after. ---- */

/* Each object's identity: the mapping that holds its .eh_frame_hdr in the
 * maps read before the snapshot was taken. */
static void hp_uw_identify(struct hp_unwind *u) {
  for (size_t i = 0; i < u->mods->n; i++) {
    const struct hp_module *mod = &u->mods->mod[i];
    struct hp_uw_mod *um = &u->um[i];
    const struct hp_sp_map *m =
        mod->eh_frame_hdr ? hp_sp_map_at(u->sp, mod->eh_frame_hdr) : NULL;
    if (!m || !(m->flags & HP_MAP_R))
      continue;
    if (m->flags & HP_MAP_VDSO)
      um->vdso = 1;
    else if (!m->inode)
      continue; /* no file to tell it by */
    um->known = 1;
    um->dev = m->dev;
    um->inode = m->inode;
    um->base = m->start - m->offset;
  }
}

#if HP_UNW_USABLE
/* One walk of this thread now: libunwind initialises itself on first use
 * (a mutex, its memory pools), which must not happen while parked. */
__attribute__((noinline)) static void hp_uw_warm_up(struct hp_unwind *u) {
  ucontext_t uc;
  if (getcontext(&uc) != 0)
    return;
  unw_word_t sp = 0;
#if defined(__x86_64__)
  sp = (unw_word_t)uc.uc_mcontext.gregs[REG_RSP];
#else
  sp = uc.uc_mcontext.sp;
#endif
  const struct hp_sp_map *m = hp_sp_map_at(u->sp, sp);
  hp_unwind_new_check(u);
  hp_unwind_start(u, &uc, sp, m ? m->end : sp);
  hp_unwind_walk_all(u);
  hp_debug("unwind: warm-up walk of %zu frame(s): %s", u->n, u->stop);
  u->walks = u->steps = 0;
  u->n = 0;
}
#endif

int hp_unwind_prepare(struct hp_unwind **out, const struct hp_safepoint *sp) {
  *out = NULL;
#if !HP_UNW_USABLE
  hp_info("unwind: libunwind %d.%d is older than 1.6: no precise "
          "confirmation of stack hits",
          UNW_VERSION_MAJOR, UNW_VERSION_MINOR);
  return 0;
#else
  struct hp_unwind *u = calloc(1, sizeof *u);
  if (!u)
    return hp_fail(HOTPATCH_ENOMEM, "unwind: out of memory");
  u->sp = sp;
  int rc = hp_modules_snapshot(&u->mods);
  if (!rc) {
    u->um = calloc(u->mods->n, sizeof *u->um);
    u->f = calloc(HP_UNWIND_MAX_FRAMES, sizeof *u->f);
    if (!u->um || !u->f)
      rc = hp_fail(HOTPATCH_ENOMEM, "unwind: out of memory");
  }
  if (!rc) {
    u->as = unw_create_addr_space(&hp_uw_accessors, 0);
    if (!u->as) {
      hp_info("unwind: libunwind has no remote address space here: no "
              "precise confirmation of stack hits");
    } else if (unw_set_caching_policy(u->as, UNW_CACHE_NONE) < 0) {
      hp_info("unwind: cannot turn libunwind's cache off: no precise "
              "confirmation of stack hits");
    } else {
      hp_uw_identify(u);
      hp_uw_warm_up(u);
      *out = u;
      return 0;
    }
  }
  hp_unwind_finish(u);
  return rc;
#endif
}

void hp_unwind_finish(struct hp_unwind *u) {
  if (!u)
    return;
#if HP_UNW_USABLE
  if (u->as)
    unw_destroy_addr_space(u->as);
#endif
  hp_modules_free(u->mods);
  free(u->um);
  free(u->f);
  free(u);
}
