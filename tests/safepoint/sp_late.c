/* SPDX-License-Identifier: MIT */
/* A library the test loads after the unwinder took its module snapshot:
 * calls fn(arg) from a frame of its own (with CFI, as gcc emits it). */
__attribute__((visibility("default"))) void sp_late_call(void (*fn)(void *),
                                                         void *arg) {
  fn(arg);
  __asm__ volatile("" ::: "memory"); /* no tail call: the frame stays */
}
