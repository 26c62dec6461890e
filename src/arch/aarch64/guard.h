/* SPDX-License-Identifier: MIT */
/*
 * Is a page BTI-guarded (mapped with PROT_BTI)? /proc/self/maps does not
 * say; an arm64 kernel prints "bt" in the VmFlags line of
 * /proc/self/smaps for such a mapping (Linux 5.8+). Readers allocate:
 * call them before threads are parked, never while.
 */
#ifndef HP_ARCH_AARCH64_GUARD_H
#define HP_ARCH_AARCH64_GUARD_H

#include <stdint.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/mman.h>

/* Older headers lack them (Linux 5.8 and later have both). */
#ifndef PROT_BTI
#define PROT_BTI 0x10
#endif
#ifndef HWCAP2_BTI
#define HWCAP2_BTI (1ul << 17)
#endif

/*
 * In an smaps stream: 1 if the mapping holding `addr` lists `flag` (a
 * two-letter VmFlags mnemonic such as "bt" or "ex"), 0 if its VmFlags line
 * does not, -1 if no mapping holds `addr` or it has no VmFlags line. Reads
 * only up to that mapping's VmFlags line. Compiled on every host.
 */
int hp_smaps_vmflag(FILE *f, uintptr_t addr, const char *flag);

/*
 * This process's page at `addr`: 1 guarded, 0 not (also: not aarch64
 * Linux with BTI, where nothing is guarded), -1 cannot tell: smaps
 * cannot be read, or does not show "bt" for a page this function maps
 * with PROT_BTI once to find out (qemu-user 7.2 passes the host's smaps
 * through; kernels before 5.8 do not print it). Thread-safe.
 */
int hp_a64_page_guarded(uintptr_t addr);

/* Does smaps show "bt" here (the probe hp_a64_page_guarded relies on)? */
int hp_a64_smaps_shows_bti(void);

#endif
