/* SPDX-License-Identifier: MIT */
/*
 * The safe-point check on real threads in real situations: sleeping in a
 * function, two frames under it, spinning in hand-written code, stopped on
 * an entry, holding a function pointer, in a leaf before it stores LR,
 * under pac-ret, on an alternate signal stack, cooperative.
 */
#include "hp_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <sys/auxv.h>
#endif
#include <linux/futex.h>

#include "sp_fixtures.h"

static struct sp_world world;

/* Stack words of a parked worker, from its SP to its stack's top, whose
 * value lies in [lo, hi) as stored (raw) or with PAC bits cleared. */
struct sp_words {
  size_t raw, signed_only;
  uintptr_t first_signed, first_signed_at;
};

__attribute__((no_sanitize_address)) static struct sp_words
words_in(const struct sp_worker *w, uintptr_t lo, uintptr_t hi) {
  struct sp_words r = {0};
  for (uintptr_t a = w->slot->sp & ~(uintptr_t)7; a < w->stack_hi; a += 8) {
    uintptr_t v = *(const volatile uintptr_t *)a, s = hp_strip_pac(v);
    if (v >= lo && v < hi)
      r.raw++;
    else if (s >= lo && s < hi && r.signed_only++ == 0) {
      r.first_signed = v;
      r.first_signed_at = a;
    }
  }
  return r;
}

static void sleeping_in_f_is_unsafe_unless_only_its_entry_is_hot(void **st) {
  struct sp_worker w = {0};
  sp_start_parked(&world, &w, fx_sleep_in_f);
  struct hp_hot f = SP_FX_HOT(sleep_in_f, 0);
  struct hp_hot entry = sp_hot("fx_sleep_in_f entry", __start_sp_fx_sleep_in_f,
                               __start_sp_fx_sleep_in_f + SP_SITE_LEN, 1);
  struct hp_hot other = SP_FX_HOT(elsewhere, 0);
  sp_expect_unsafe(&world, &f, 1, &f, HP_SP_STACK);
  sp_expect_safe(&world, &entry, 1);
  sp_expect_safe(&world, &other, 1);
  /* The first hot range that matches is named, wherever it is listed. */
  struct hp_hot both[2] = {other, f};
  sp_expect_unsafe(&world, both, 2, &both[1], HP_SP_STACK);
  sp_unpark_finish(&world, &w);
}

static void return_address_two_frames_down_is_unsafe(void **st) {
  struct sp_worker w = {0};
  sp_start_parked(&world, &w, fx_outer);
  struct hp_hot outer = SP_FX_HOT(outer, 0);
  struct hp_hot middle = SP_FX_HOT(middle, 0);
  sp_expect_unsafe(&world, &outer, 1, &outer, HP_SP_STACK);
  sp_expect_unsafe(&world, &middle, 1, &middle, HP_SP_STACK);
  sp_unpark_finish(&world, &w);
}

static void spinning_inside_assembly_is_unsafe_by_pc(void **st) {
  struct sp_worker w = {0};
  sp_start_parked(&world, &w, fx_leaf_caller);
  fprintf(stderr, "  pc %#lx in fx_leaf_spin [%p, %p)\n",
          (unsigned long)world.slot[0].pc, (void *)fx_leaf_spin,
          (void *)fx_leaf_spin_end);
  struct hp_hot spin =
      sp_hot("fx_leaf_spin", (void *)fx_leaf_spin, fx_leaf_spin_end, 0);
  sp_expect_unsafe(&world, &spin, 1, &spin, HP_SP_PC);
  sp_unpark_finish(&world, &w);
}

/* The PC counts from the entry on (a thread on the first instruction of a
 * trampoline being freed would run it); a range of entry bytes only
 * catches PCs strictly inside. The stack holds a function pointer equal to
 * the entry: it never counts. */
static void
pc_at_entry_is_unsafe_unless_only_the_entry_bytes_are_hot(void **st) {
  struct sp_worker w = {0};
  uintptr_t entry = (uintptr_t)fx_spin_at_entry;
  w.run = fx_calls_at_entry;
  sp_start(&w);
  struct sp_worker *one[1] = {&w};
  for (int i = 0;; i++) {
    sp_park(&world, one, 1);
    if (world.slot[0].pc == entry)
      break;
    assert_true(i < 100);
    sp_unpark(&world);
    usleep(10000);
  }
  struct sp_words ptrs = words_in(&w, entry, entry + 1);
  fprintf(stderr, "  pc %#lx == entry; %zu stack word(s) equal to it\n",
          (unsigned long)world.slot[0].pc, ptrs.raw);
  assert_true(ptrs.raw >= 1); /* the local function pointer */
  struct hp_hot whole = sp_hot("fx_spin_at_entry", (void *)fx_spin_at_entry,
                               fx_spin_at_entry_end, 0);
  struct hp_hot bytes =
      sp_hot("fx_spin_at_entry entry", (void *)fx_spin_at_entry,
             (char *)fx_spin_at_entry + SP_SITE_LEN, 1);
  sp_expect_unsafe(&world, &whole, 1, &whole, HP_SP_PC);
  sp_expect_safe(&world, &bytes, 1);
  w.redirect_pc = (uintptr_t)fx_spin_exit; /* leave the self-branch */
  sp_unpark_finish(&world, &w);
}

static void function_pointer_in_a_live_frame_is_safe(void **st) {
  struct sp_worker w = {0};
  sp_start_parked(&world, &w, fx_holds_pointer);
  struct hp_hot target = SP_FX_HOT(target, 0);
  sp_expect_safe(&world, &target, 1);
  /* The same range without the entry rule: the scan sees the pointer on
   * the stack; the unwinder shows that it is no return address. */
  struct hp_hot no_entry = target;
  no_entry.entry = 0;
  sp_scan_only = 1;
  sp_expect_unsafe(&world, &no_entry, 1, &no_entry, HP_SP_STACK);
  sp_scan_only = 0;
  sp_expect_safe(&world, &no_entry, 1);
  assert_int_equal(sp_seen.stale, 1);
  sp_unpark_finish(&world, &w);
}

/* aarch64: the leaf's caller is live only through x30. x86_64: the call
 * pushed the return address, the stack shows it. */
static void caller_of_a_leaf_that_has_not_stored_lr_is_unsafe(void **st) {
  struct sp_worker w = {0};
  sp_start_parked(&world, &w, fx_leaf_caller);
  struct hp_hot caller = SP_FX_HOT(leaf_caller, 0);
  struct sp_words on_stack = words_in(&w, (uintptr_t)__start_sp_fx_leaf_caller,
                                      (uintptr_t)__stop_sp_fx_leaf_caller);
  fprintf(stderr, "  lr %#lx; %zu stack word(s) in fx_leaf_caller\n",
          (unsigned long)world.slot[0].lr, on_stack.raw);
#if defined(__aarch64__)
  assert_int_equal(on_stack.raw + on_stack.signed_only, 0);
  sp_expect_unsafe(&world, &caller, 1, &caller, HP_SP_LR);
#else
  assert_int_equal(on_stack.raw, 1);
  sp_expect_unsafe(&world, &caller, 1, &caller, HP_SP_STACK);
#endif
  sp_unpark_finish(&world, &w);
}

static void pac_signed_return_address_is_seen(void **st) {
  struct sp_worker w = {0};
  sp_start_parked(&world, &w, fx_pac_outer);
  struct hp_hot outer = SP_FX_HOT(pac_outer, 0);
  struct sp_words found = words_in(&w, outer.lo, outer.hi);
  sp_expect_unsafe(&world, &outer, 1, &outer, HP_SP_STACK);
  sp_unpark_finish(&world, &w);
#if defined(__aarch64__)
  int pac = (getauxval(AT_HWCAP) & HWCAP_PACA) != 0;
  fprintf(stderr,
          "  fx_pac_outer [%#lx, %#lx): %zu plain, %zu signed stack word(s); "
          "first signed %#lx at %#lx, stripped %#lx; HWCAP_PACA %d\n",
          (unsigned long)outer.lo, (unsigned long)outer.hi, found.raw,
          found.signed_only, (unsigned long)found.first_signed,
          (unsigned long)found.first_signed_at,
          (unsigned long)hp_strip_pac(found.first_signed), pac);
  if (!pac) {
    fprintf(stderr, "SKIPPED: pac_signed_return_address_is_seen: this CPU "
                    "has no pointer authentication, return addresses are "
                    "not signed (only the verdict was checked)\n");
    skip();
  }
  /* Only a signed copy: the verdict needed the stripping. */
  assert_int_equal(found.raw, 0);
  assert_int_equal(found.signed_only, 1);
  assert_true(found.first_signed >> 48 != 0);
  assert_true(hp_strip_pac(found.first_signed) >> 48 == 0);
#else
  fprintf(stderr,
          "SKIPPED: pac_signed_return_address_is_seen: x86_64 has "
          "no pointer authentication (the verdict was checked: %zu "
          "plain return address)\n",
          found.raw);
  skip();
#endif
}

/* A SIGUSR1 handler on the alternate stack, blocked there when parked. */
static uint32_t alt_in, alt_quit;

static void on_usr1(int sig) {
  (void)sig;
  __atomic_store_n(&alt_in, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&alt_quit, __ATOMIC_ACQUIRE))
    syscall(SYS_futex, &alt_quit, FUTEX_WAIT, 0, NULL, NULL, 0);
  __atomic_store_n(&alt_in, 0, __ATOMIC_RELEASE);
}

static void sleep_in_f_with_altstack(struct sp_worker *w) {
  size_t size = 64 << 10;
  stack_t mine = {.ss_sp = mmap(NULL, size, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  .ss_size = size},
          old;
  if (mine.ss_sp == MAP_FAILED || sigaltstack(&mine, &old))
    abort();
  w->arg = mine.ss_sp;
  fx_sleep_in_f(w);
  /* Give back the sanitizer's own (it unmaps whatever is installed when
   * the thread exits). */
  if (sigaltstack(&old, NULL))
    abort();
  munmap(mine.ss_sp, size);
}

static void thread_on_its_alternate_signal_stack_is_unsafe(void **st) {
  struct sp_worker w = {0};
  struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK};
  sigemptyset(&sa.sa_mask);
  assert_int_equal(sigaction(SIGUSR1, &sa, NULL), 0);
  alt_in = alt_quit = 0;
  sp_start_parked(&world, &w, sleep_in_f_with_altstack);
  struct hp_hot other = SP_FX_HOT(elsewhere, 0);
  assert_int_equal(world.slot[0].on_altstack, 0);
  sp_expect_safe(&world, &other, 1);
  sp_unpark(&world);

  assert_int_equal(pthread_kill(w.th, SIGUSR1), 0);
  while (!__atomic_load_n(&alt_in, __ATOMIC_ACQUIRE))
    usleep(1000);
  usleep(20000);
  struct sp_worker *one[1] = {&w};
  sp_park(&world, one, 1);
  uintptr_t alt = (uintptr_t)w.arg;
  fprintf(stderr, "  sp %#lx, alternate stack [%#lx, %#lx)\n",
          (unsigned long)world.slot[0].sp, (unsigned long)alt,
          (unsigned long)alt + (64 << 10));
  assert_int_equal(world.slot[0].on_altstack, 1);
  assert_true(world.slot[0].sp >= alt && world.slot[0].sp < alt + (64 << 10));
  sp_expect_unsafe(&world, &other, 1, NULL, HP_SP_ALTSTACK);
  sp_unpark(&world);

  __atomic_store_n(&alt_quit, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &alt_quit, FUTEX_WAKE, 1, NULL, NULL, 0);
  while (__atomic_load_n(&alt_in, __ATOMIC_ACQUIRE))
    usleep(1000);
  sp_finish(&w);
  signal(SIGUSR1, SIG_DFL);
}

/* A handler that interrupted a thread on the first instruction of
 * fx_spin_at_entry: the saved PC, equal to that entry, is a word in the
 * signal frame on the thread's stack. */
static uint32_t nested_in, nested_go;
static uintptr_t nested_saved_pc;

static void on_usr2_wait(int sig, siginfo_t *si, void *ctx) {
  (void)sig;
  (void)si;
  ucontext_t *uc = ctx;
#if defined(__x86_64__)
  nested_saved_pc = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
  nested_saved_pc = (uintptr_t)uc->uc_mcontext.pc;
#endif
  __atomic_store_n(&nested_in, 1, __ATOMIC_RELEASE);
  while (!__atomic_load_n(&nested_go, __ATOMIC_ACQUIRE))
    syscall(SYS_futex, &nested_go, FUTEX_WAIT, 0, NULL, NULL, 0);
    /* Leave the self-branch when this handler returns. */
#if defined(__x86_64__)
  uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)fx_spin_exit;
#else
  uc->uc_mcontext.pc = (uintptr_t)fx_spin_exit;
#endif
  __atomic_store_n(&nested_in, 0, __ATOMIC_RELEASE);
}

/* What revert frees (a trampoline, a stub) gets entry 0: the entry rule
 * would take the saved PC of a thread interrupted on its first
 * instruction for a function pointer, and free the code under it. */
static void saved_pc_at_the_first_byte_in_a_nested_frame_counts(void **st) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_usr2_wait;
  sa.sa_flags = SA_SIGINFO; /* the park signal may interrupt it */
  assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
  nested_in = nested_go = 0;
  struct sp_worker w = {0};
  w.run = fx_calls_entry_directly;
  sp_start(&w);
  uintptr_t entry = (uintptr_t)fx_spin_at_entry;
  assert_int_equal(pthread_kill(w.th, SIGUSR2), 0);
  while (!__atomic_load_n(&nested_in, __ATOMIC_ACQUIRE))
    usleep(1000);
  assert_int_equal(nested_saved_pc, entry);
  struct sp_worker *one[1] = {&w};
  sp_park(&world, one, 1);
  struct sp_words at = words_in(&w, entry, entry + 1);
  fprintf(stderr,
          "  parked in a handler; %zu stack word(s) equal to the "
          "entry (the saved PC)\n",
          at.raw);
  assert_int_equal(at.raw, 1);
  struct hp_hot with_entry_rule = sp_hot(
      "fx_spin_at_entry", (void *)fx_spin_at_entry, fx_spin_at_entry_end, 0);
  struct hp_hot freed = with_entry_rule;
  freed.entry = 0;
  sp_expect_safe(&world, &with_entry_rule, 1); /* the blind spot */
  sp_expect_unsafe(&world, &freed, 1, &freed, HP_SP_STACK);
  sp_unpark(&world);
  __atomic_store_n(&nested_go, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &nested_go, FUTEX_WAKE, 1, NULL, NULL, 0);
  sp_finish(&w);
  signal(SIGUSR2, SIG_DFL);
}

static void cooperative_thread_is_scanned_from_its_recorded_sp(void **st) {
  struct sp_worker w = {.cooperative = 1};
  sp_start_parked(&world, &w, fx_coop_in_f);
  assert_int_equal(world.slot[0].cooperative, 1);
  assert_null(world.slot[0].uc);
  struct hp_hot f = SP_FX_HOT(coop_in_f, 0);
  struct hp_hot other = SP_FX_HOT(elsewhere, 0);
  sp_expect_unsafe(&world, &f, 1, &f, HP_SP_STACK);
  sp_expect_safe(&world, &other, 1);
  sp_unpark_finish(&world, &w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(sleeping_in_f_is_unsafe_unless_only_its_entry_is_hot),
      cmocka_unit_test(return_address_two_frames_down_is_unsafe),
      cmocka_unit_test(spinning_inside_assembly_is_unsafe_by_pc),
      cmocka_unit_test(
          pc_at_entry_is_unsafe_unless_only_the_entry_bytes_are_hot),
      cmocka_unit_test(function_pointer_in_a_live_frame_is_safe),
      cmocka_unit_test(caller_of_a_leaf_that_has_not_stored_lr_is_unsafe),
      cmocka_unit_test(pac_signed_return_address_is_seen),
      cmocka_unit_test(thread_on_its_alternate_signal_stack_is_unsafe),
      cmocka_unit_test(saved_pc_at_the_first_byte_in_a_nested_frame_counts),
      cmocka_unit_test(cooperative_thread_is_scanned_from_its_recorded_sp),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
