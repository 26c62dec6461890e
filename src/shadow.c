/* SPDX-License-Identifier: MIT */
/*
 * Shadow variables: data a patch attaches to an existing object, keyed by
 * <obj, id>, with the semantics of Linux kernel/livepatch/shadow.c
 * (semantics.md A.11): the constructor runs only when the variable is
 * inserted, under the lock, on zero-filled data, and a constructor error
 * inserts nothing; alloc of an existing key is refused with a warning;
 * free/free_all call the destructor once per variable freed.
 *
 * One mutex guards the table. Neither the constructor nor the destructor
 * may call a hotpatch_shadow_ function (they run under it), and quiesced
 * hooks may not use shadow variables at all (a parked thread may hold it).
 */
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hotpatch.h"
#include "log.h"

#define HP_SHADOW_BUCKETS 1024 /* a power of two */

struct hp_shadow {
  struct hp_shadow *next;
  void *obj;
  unsigned long id;
  _Alignas(max_align_t) unsigned char data[];
};

static pthread_mutex_t hp_shadow_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hp_shadow *hp_shadow_table[HP_SHADOW_BUCKETS];

static struct hp_shadow **hp_bucket(const void *obj) {
  uintptr_t h = (uintptr_t)obj;
  h ^= h >> 17;
  h *= 0x9e3779b97f4a7c15ull;
  return &hp_shadow_table[(h >> 32) & (HP_SHADOW_BUCKETS - 1)];
}

static struct hp_shadow **hp_find(void *obj, unsigned long id) {
  struct hp_shadow **pp = hp_bucket(obj);
  while (*pp && !((*pp)->obj == obj && (*pp)->id == id))
    pp = &(*pp)->next;
  return pp;
}

void *hotpatch_shadow_get(void *obj, unsigned long id) {
  pthread_mutex_lock(&hp_shadow_lock);
  struct hp_shadow *s = *hp_find(obj, id);
  pthread_mutex_unlock(&hp_shadow_lock);
  return s ? s->data : NULL;
}

static void *hp_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
                                    int (*ctor)(void *, void *, void *),
                                    void *arg, int warn_on_exist) {
  pthread_mutex_lock(&hp_shadow_lock);
  struct hp_shadow **pp = hp_find(obj, id);
  if (*pp) {
    void *data = (*pp)->data;
    pthread_mutex_unlock(&hp_shadow_lock);
    if (!warn_on_exist)
      return data;
    hp_warn("hotpatch_shadow_alloc: duplicate shadow variable <%p, %#lx>", obj,
            id);
    return NULL;
  }
  struct hp_shadow *s =
      size > SIZE_MAX - sizeof *s ? NULL : calloc(1, sizeof *s + size);
  if (!s) {
    pthread_mutex_unlock(&hp_shadow_lock);
    hp_error("hotpatch_shadow_alloc: out of memory for <%p, %#lx> (%zu bytes)",
             obj, id, size);
    return NULL;
  }
  s->obj = obj;
  s->id = id;
  if (ctor) {
    int rc = ctor(obj, s->data, arg);
    if (rc) {
      pthread_mutex_unlock(&hp_shadow_lock);
      free(s);
      hp_error("hotpatch_shadow_alloc: constructor of <%p, %#lx> failed: %d",
               obj, id, rc);
      return NULL;
    }
  }
  *pp = s;
  pthread_mutex_unlock(&hp_shadow_lock);
  return s->data;
}

void *hotpatch_shadow_alloc(void *obj, unsigned long id, size_t size,
                            int (*ctor)(void *obj, void *shadow, void *arg),
                            void *arg) {
  return hp_shadow_get_or_alloc(obj, id, size, ctor, arg, 1);
}

void *hotpatch_shadow_get_or_alloc(void *obj, unsigned long id, size_t size,
                                   int (*ctor)(void *obj, void *shadow,
                                               void *arg),
                                   void *arg) {
  return hp_shadow_get_or_alloc(obj, id, size, ctor, arg, 0);
}

static void hp_unlink_free(struct hp_shadow **pp,
                           void (*dtor)(void *obj, void *shadow)) {
  struct hp_shadow *s = *pp;
  *pp = s->next;
  if (dtor)
    dtor(s->obj, s->data);
  free(s);
}

void hotpatch_shadow_free(void *obj, unsigned long id,
                          void (*dtor)(void *obj, void *shadow)) {
  pthread_mutex_lock(&hp_shadow_lock);
  struct hp_shadow **pp = hp_find(obj, id);
  if (*pp)
    hp_unlink_free(pp, dtor);
  pthread_mutex_unlock(&hp_shadow_lock);
}

void hotpatch_shadow_free_all(unsigned long id,
                              void (*dtor)(void *obj, void *shadow)) {
  pthread_mutex_lock(&hp_shadow_lock);
  for (size_t b = 0; b < HP_SHADOW_BUCKETS; b++)
    for (struct hp_shadow **pp = &hp_shadow_table[b]; *pp;)
      if ((*pp)->id == id)
        hp_unlink_free(pp, dtor);
      else
        pp = &(*pp)->next;
  pthread_mutex_unlock(&hp_shadow_lock);
}
