/* SPDX-License-Identifier: MIT */
/*
 * One patched function: analysis, trampoline, stub, entry bytes, and the
 * prepared writes that install and remove them (see site.h).
 *
 * Which entry jump, in order of preference:
 *   1. a direct jump to the replacement (in range of the site);
 *   2. a direct jump to a stub near the site that jumps anywhere;
 *   3. when no memory is near, or the moved instructions reference
 *      addresses too far apart for one trampoline in direct range of them
 *      all (HP_SITE_NO_WINDOW): the far, absolute entry jump, if the
 *      function has room for it (the trampoline may then be anywhere).
 * Otherwise the near plan's error (HOTPATCH_ENONEAR, HOTPATCH_ERELOC) with
 * both reasons; nothing is allocated.
 */
#include <dlfcn.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>

#include "arch/aarch64/a64.h"
#include "arch/aarch64/guard.h"
#include "arch/host.h"
#include "errors.h"
#include "log.h"
#include "modules.h"
#include "site.h"

int hp_site_force_far;

int hp_site_read_code(const struct hp_target *t, uint8_t *buf,
                      uint8_t *cold_buf, struct hp_code *out) {
  memset(out, 0, sizeof *out);
  uintptr_t end = t->addr + t->size;
  uintptr_t tail_end = end + HP_TAIL_MAX;
  /* The tail may be padding; it must still be mapped code, and nobody's. */
  if (t->code_end && tail_end > t->code_end)
    tail_end = t->code_end < end ? end : t->code_end;
  if (t->limit && t->limit >= end && tail_end > t->limit)
    tail_end = t->limit;
  memcpy(buf, (const void *)t->addr, t->size + (tail_end - end));
  out->addr = t->addr;
  out->bytes = buf;
  out->size = t->size;
  out->tail = tail_end - end;
  if (t->cold_addr && t->cold_size && cold_buf) {
    memcpy(cold_buf, (const void *)t->cold_addr, t->cold_size);
    out->cold_addr = t->cold_addr;
    out->cold_bytes = cold_buf;
    out->cold_size = t->cold_size;
  }
#if defined(__aarch64__)
  if (t->features & HP_FEATURE_BTI)
    out->flags |= HP_CODE_BTI;
#endif
  return 0;
}

/* The fallback when the page's real state cannot be read (see
 * hp_site_page_prot): the loader (the kernel, for the program) maps the
 * code of a BTI object with PROT_BTI when the CPU has BTI. */
static int hp_site_hidden_prot(const struct hp_target *t) {
#if defined(__aarch64__)
  if ((t->features & HP_FEATURE_BTI) && (getauxval(AT_HWCAP2) & HWCAP2_BTI))
    return PROT_BTI;
#endif
  (void)t;
  return 0;
}

/* What a write must put back on `page` beyond what /proc/self/maps
 * shows, which would otherwise leave a guarded page unguarded: PROT_BTI
 * as smaps reports it (read now, before parking: it allocates), else the
 * fallback rule. */
static int hp_site_page_prot(const struct hp_site_rt *rt, uintptr_t page) {
#if defined(__aarch64__)
  int g = hp_a64_page_guarded(page);
  if (g >= 0)
    return g ? PROT_BTI : 0;
#endif
  (void)page;
  return rt->hidden_prot;
}

#if defined(__aarch64__)
/* Is the replacement's page guarded? smaps, else the BTI marking of the
 * object holding it; memory in no loaded object cannot be judged without
 * smaps and counts as unguarded. 1, 0, or a negative code. */
static int hp_site_repl_guarded(uintptr_t repl) {
  int g = hp_a64_page_guarded(repl);
  if (g >= 0)
    return g;
  struct hp_modules *m = NULL;
  int rc = hp_modules_snapshot(&m);
  if (rc)
    return rc;
  const struct hp_module *mod = hp_modules_by_addr(m, repl);
  g = mod && (mod->features & HP_FEATURE_BTI);
  hp_modules_free(m);
  return g;
}

/* The far entry and a stub reach the replacement with BR x16, which a
 * guarded page checks: the replacement must start with a landing pad
 * for it (compilers emit one; hand-written code may not). A direct B is
 * not checked. Runs before anything is written. */
static int hp_site_check_repl_pad(const struct hp_site_rt *rt, uint64_t repl,
                                  const struct hp_near *stub,
                                  const uint8_t *entry) {
  int far = a64_get(entry + rt->s.jump_off) == A64_LDR_X16_PC8;
  if (!far && !stub->addr)
    return 0;
  const uint8_t *code = (const uint8_t *)(uintptr_t)repl;
  if (a64_is_x16_landing_pad(a64_get(code)))
    return 0;
  int g = hp_site_repl_guarded(repl);
  if (g <= 0)
    return g;
  char dis[96], name[160] = "";
  hp_a64_describe(code, 4, repl, dis, sizeof dis);
  Dl_info di;
  if (dladdr(code, &di) && di.dli_sname) {
    uintptr_t off = repl - (uintptr_t)di.dli_saddr;
    const char *file = di.dli_fname ? di.dli_fname : "?";
    if (off)
      snprintf(name, sizeof name, "%s+%#" PRIxPTR " in %s ", di.dli_sname, off,
               file);
    else
      snprintf(name, sizeof name, "%s in %s ", di.dli_sname, file);
  }
  return hp_fail(HOTPATCH_ENOPAD,
                 "the replacement %s(%#" PRIx64 ") starts with '%s', not a "
                 "landing pad (BTI c/j/jc, PACIASP, PACIBSP), on a "
                 "BTI-guarded page; the %s at %#" PRIx64
                 " reaches it with BR x16, which would fault",
                 name, repl, dis, far ? "far entry jump" : "stub",
                 far ? rt->s.addr + rt->s.jump_off : stub->addr);
}
#endif

/* The trampoline for rt->s in its window: size it at the window's middle
 * (in range, so the near forms), allocate, relocate at the real address,
 * and grow once if the far forms there took more room. */
static int hp_site_tramp(struct hp_site_rt *rt, const struct hp_isa *isa,
                         uint8_t *buf) {
  const struct hp_site *s = &rt->s;
  uint64_t probe = s->tramp_lo || s->tramp_hi
                       ? s->tramp_lo + (s->tramp_hi - s->tramp_lo) / 2
                       : s->addr;
  size_t len = 0;
  int rc = isa->relocate(s, probe, buf, HP_TRAMP_MAX, &len);
  for (int round = 0; !rc && round < 3; round++) {
    rc = hp_near_alloc(s->tramp_lo, s->tramp_hi, len, isa->tramp_align,
                       &rt->tramp);
    if (rc)
      return rc;
    size_t got = 0;
    rc = isa->relocate(s, rt->tramp.addr, buf, HP_TRAMP_MAX, &got);
    if (!rc && got <= rt->tramp.size)
      return hp_near_write(&rt->tramp, buf, got);
    hp_near_free(&rt->tramp);
    len = got;
  }
  return rc ? rc : hp_fail(HOTPATCH_ENOMEM, "trampoline does not settle");
}

/* A jump just made: on aarch64 a replacement reached by BR x16 on a
 * guarded page needs its landing pad; on failure the stub goes. */
static int hp_site_jump_checked(const struct hp_site_rt *rt, uint64_t repl,
                                struct hp_near *stub, const uint8_t *entry) {
#if defined(__aarch64__)
  int rc = hp_site_check_repl_pad(rt, repl, stub, entry);
  if (rc)
    hp_near_free(stub);
  return rc;
#else
  (void)rt, (void)repl, (void)stub, (void)entry;
  return 0;
#endif
}

/* Entry bytes for the analysed site: direct, else through a stub. */
int hp_site_jump(const struct hp_site_rt *rt, uint64_t repl,
                 struct hp_near *stub, uint8_t entry[HP_SITE_MAX]) {
  const struct hp_isa *isa = hp_isa_host();
  memset(stub, 0, sizeof *stub);
  char saved[HP_ERROR_MAX];
  hp_error_save(saved);
  if (!isa->entry(&rt->s, repl, entry)) {
    hp_error_restore(saved);
    return hp_site_jump_checked(rt, repl, stub, entry);
  }
  hp_error_restore(saved);
  int rc = hp_near_alloc(rt->s.stub_lo, rt->s.stub_hi, isa->stub_len,
                         isa->tramp_align, stub);
  if (rc)
    return rc;
  uint8_t code[64];
  if ((rc = isa->stub(stub->addr, repl, code)) != 0 ||
      (rc = hp_near_write(stub, code, isa->stub_len)) != 0 ||
      (rc = isa->entry(&rt->s, stub->addr, entry)) != 0) {
    hp_near_free(stub);
    return rc;
  }
  return hp_site_jump_checked(rt, repl, stub, entry);
}

static int hp_site_entry(struct hp_site_rt *rt) {
  return hp_site_jump(rt, rt->repl, &rt->stub, rt->entry);
}

static void hp_site_free_blocks(struct hp_site_rt *rt) {
  hp_near_free(&rt->tramp);
  hp_near_free(&rt->stub);
}

/* Analyse for `need` bytes and build everything for that plan. */
static int hp_site_plan(struct hp_site_rt *rt, const struct hp_isa *isa,
                        const struct hp_code *code, uint32_t need,
                        uint8_t *buf) {
  int rc = isa->analyse(code, need, &rt->s);
  if (!rc)
    rc = hp_site_tramp(rt, isa, buf);
  if (!rc)
    rc = hp_site_entry(rt);
  if (rc)
    hp_site_free_blocks(rt);
  return rc;
}

int hp_site_prepare(struct hp_site_rt *rt, const struct hp_target *t,
                    uintptr_t repl) {
  memset(rt, 0, sizeof *rt);
  rt->wr.mem_fd = -1;
  rt->repl = repl;
  rt->hidden_prot = hp_site_hidden_prot(t);
  const struct hp_isa *isa = hp_isa_host();
  uint8_t *code_buf = malloc(t->size + HP_TAIL_MAX);
  uint8_t *cold_buf = t->cold_size ? malloc(t->cold_size) : NULL;
  uint8_t *tramp = malloc(HP_TRAMP_MAX);
  int rc = 0;
  if (!code_buf || (t->cold_size && !cold_buf) || !tramp) {
    rc = hp_fail(HOTPATCH_ENOMEM,
                 "out of memory for copies of the code at %#lx in %s "
                 "(%zu bytes, cold part %zu bytes)",
                 (unsigned long)t->addr, t->object, t->size, t->cold_size);
    goto out;
  }
  struct hp_code code;
  hp_site_read_code(t, code_buf, cold_buf, &code);
  rc = hp_site_force_far
           ? HOTPATCH_ENONEAR
           : hp_site_plan(rt, isa, &code, isa->near_jump_len, tramp);
  int near = rc;
  if (rc == HOTPATCH_ENONEAR ||
      (rc == HOTPATCH_ERELOC && (rt->s.flags & HP_SITE_NO_WINDOW))) {
    /* Nothing near, or no one place near enough to everything the moved
     * instructions reference: the absolute entry jump, if the function
     * has room. */
    char near_detail[HP_ERROR_MAX];
    hp_error_save(near_detail);
    hp_a64_abs_entry = hp_site_force_far;
    int far = hp_site_plan(rt, isa, &code, isa->far_jump_len, tramp);
    hp_a64_abs_entry = 0;
    if (!far) {
      rc = 0;
      hp_debug("%s for %#lx in %s: using the far entry jump",
               near == HOTPATCH_ENONEAR ? "no memory near"
                                        : "no trampoline window",
               (unsigned long)t->addr, t->object);
    } else if (!hp_site_force_far && far != HOTPATCH_ENOPAD) {
      char far_detail[HP_ERROR_MAX];
      hp_error_save(far_detail);
      rc = hp_fail(near,
                   "%.400s; nor can the far entry jump be used (%s: %.400s)",
                   near_detail, hotpatch_err_name(far), far_detail);
    } else {
      rc = far;
    }
  }
  if (rc)
    goto out;
  if (rt->s.flags & HP_SITE_ENTRY_LOOP)
    hp_warn("a branch in the function at %#lx in %s targets its entry: "
            "once patched, it re-enters the replacement",
            (unsigned long)t->addr, t->object);
  hp_debug("site %#lx+%u (flags %#x) in %s: trampoline %#lx, stub %#lx",
           (unsigned long)rt->s.addr, rt->s.len, rt->s.flags, t->object,
           (unsigned long)rt->tramp.addr, (unsigned long)rt->stub.addr);
out:
  free(code_buf);
  free(cold_buf);
  free(tramp);
  return rc;
}

int hp_site_arm(struct hp_site_rt *rt) {
  if (rt->armed)
    return 0;
  rt->written = 0;
  int rc = hp_write_prepare(&rt->wr, rt->s.addr, rt->s.len);
  if (rc)
    return rc;
  for (int i = 0; i < rt->wr.npages; i++)
    rt->wr.prot[i] |= hp_site_page_prot(rt, rt->wr.page[i]);
  rt->armed = 1;
  return 0;
}

int hp_site_verify(const struct hp_site_rt *rt) {
  return rt->written ? hp_write_verify(&rt->wr) : 0;
}

void hp_site_disarm(struct hp_site_rt *rt) {
  if (!rt->armed)
    return;
#ifndef NDEBUG
  /* Debug builds re-read the maps after every window that wrote
   * (pitfalls.md §6); the caller's error detail is kept. */
  if (rt->written) {
    char saved[HP_ERROR_MAX];
    hp_error_save(saved);
    if (hp_site_verify(rt))
      hp_error("%s", hotpatch_last_error());
    hp_error_restore(saved);
  }
#endif
  hp_write_finish(&rt->wr);
  rt->armed = 0;
}

int hp_site_install(struct hp_site_rt *rt) {
  if (rt->installed)
    return 0;
  if (!rt->armed)
    return HOTPATCH_EINVAL;
  int rc = hp_write_commit(&rt->wr, rt->s.orig, rt->entry);
  rt->written |= rc != HOTPATCH_ECHANGED; /* a plain store: AS-safe */
  if (!rc)
    rt->installed = 1;
  return rc;
}

int hp_site_remove(struct hp_site_rt *rt) {
  if (!rt->installed)
    return 0;
  if (!rt->armed)
    return HOTPATCH_EINVAL;
  int rc = hp_write_commit(&rt->wr, rt->entry, rt->s.orig);
  rt->written |= rc != HOTPATCH_ECHANGED;
  if (!rc)
    rt->installed = 0;
  return rc;
}

int hp_site_commit(struct hp_site_rt *rt, const uint8_t *from,
                   const uint8_t *to) {
  if (!rt->armed)
    return HOTPATCH_EINVAL;
  int rc = hp_write_commit(&rt->wr, from, to);
  rt->written |= rc != HOTPATCH_ECHANGED;
  return rc;
}

int hp_site_holds(const struct hp_site_rt *rt, const uint8_t *bytes) {
  /* A byte loop, not memcmp: libc's own pages may be the ones patched. */
  const volatile uint8_t *at = (const volatile uint8_t *)(uintptr_t)rt->s.addr;
  for (uint32_t i = 0; i < rt->s.len; i++)
    if (at[i] != bytes[i])
      return 0;
  return 1;
}

void hp_site_release(struct hp_site_rt *rt) {
  hp_site_disarm(rt);
  hp_site_free_blocks(rt);
}
