/* SPDX-License-Identifier: MIT */
/*
 * demo_server: a stand-in for a long-running daemon with a bug in a static
 * function. Given a patch object it loads it and prints where each target
 * resolved; the live switch comes with the parking engine.
 *
 *   demo_server build/examples/demo_patch.so
 */
#include <stdio.h>
#include <string.h>

#include <hotpatch.h>

/* The bug: a request without a name gets an unterminated greeting. */
static __attribute__((noinline)) int format_reply(char *out, size_t cap,
                                                  const char *name) {
  return snprintf(out, cap, "hello, %s", name[0] ? name : "");
}

__attribute__((noinline)) int handle_request(const char *req, char *out,
                                             size_t cap) {
  const char *name = strncmp(req, "GET ", 4) == 0 ? req + 4 : "";
  return format_reply(out, cap, name);
}

static void serve(const char *const *requests) {
  char reply[128];
  for (; *requests; requests++) {
    handle_request(*requests, reply, sizeof reply);
    printf("  %-12s -> \"%s\"\n", *requests, reply);
  }
}

int main(int argc, char **argv) {
  static const char *const requests[] = {"GET alice", "GET ", NULL};
  printf("demo_server: serving (libhotpatch %s)\n", hotpatch_version_string());
  serve(requests);
  if (argc < 2) {
    fprintf(stderr, "usage: %s PATCH.so\n", argv[0]);
    return 2;
  }

  hotpatch_patch *p;
  int rc = hotpatch_load(argv[1], &p);
  if (rc) {
    fprintf(stderr, "demo_server: cannot load %s: %s (%s): %s\n", argv[1],
            hotpatch_err_name(rc), hotpatch_strerror(rc),
            hotpatch_last_error());
    return 1;
  }
  const struct hotpatch_desc *d = hotpatch_desc_of(p);
  printf("demo_server: loaded patch '%s': %s\n", hotpatch_name(p),
         d->description ? d->description : "");
  struct hotpatch_func_info fi;
  for (size_t i = 0; hotpatch_func_info(p, i, &fi) == 0; i++)
    printf("  %-14s in %-12s at %p (%zu bytes) -> replacement %p\n", fi.target,
           fi.object, fi.address, fi.size, fi.replacement);
  for (const struct hotpatch_state *s = d->states; s && s->id; s++)
    printf("  state %#lx version %u\n", s->id, s->version);
  printf("demo_server: patch is %s (applying it live comes with the parking "
         "engine)\n",
         hotpatch_is_applied(p) ? "APPLIED" : "LOADED");
  rc = hotpatch_unload(p);
  printf("demo_server: unloaded: %s\n", hotpatch_strerror(rc));
  return rc ? 1 : 0;
}
