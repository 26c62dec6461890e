/* SPDX-License-Identifier: MIT */
/*
 * A snapshot of /proc/self/maps: address ranges and their protections, for
 * placing code pools in gaps and for recording a page's protection before
 * it is changed. Allocates: never use it while threads are parked.
 */
#ifndef HP_MAPS_H
#define HP_MAPS_H

#include <stddef.h>
#include <stdint.h>

struct hp_map {
  uintptr_t start, end; /* [start, end) */
  int prot;             /* PROT_READ | PROT_WRITE | PROT_EXEC */
  int shared;           /* 's' rather than 'p' */
  int heap;             /* the brk heap ("[heap]") */
  int stack;            /* the main thread's stack ("[stack]"), which
                           grows down into the gap below it */
  char perms[5];        /* as printed: "r-xp" */
};

struct hp_maps {
  struct hp_map *v; /* in address order, as the kernel lists them */
  size_t n;
};

/* 0, or HOTPATCH_ENOMEM / HOTPATCH_EIO with a detail. */
int hp_maps_read(struct hp_maps *m);
/* The same from text in the format of /proc/self/maps (tests build
 * snapshots this way); 0 or HOTPATCH_ENOMEM. */
int hp_maps_parse(const char *text, struct hp_maps *m);
void hp_maps_free(struct hp_maps *m);

/* The mapping holding `addr`, or NULL. */
const struct hp_map *hp_maps_find(const struct hp_maps *m, uintptr_t addr);

#endif
