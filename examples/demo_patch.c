/* SPDX-License-Identifier: MIT */
/* The fix for demo_server: a nameless request is greeted as "stranger". */
#include <stdio.h>

#include <hotpatch.h>

static int fixed_format_reply(char *out, size_t cap, const char *name) {
  return snprintf(out, cap, "hello, %s", name[0] ? name : "stranger");
}

HOTPATCH_DEFINE(.name = "demo-fix-1",
                .description = "greet nameless requests as 'stranger'",
                .funcs = (const struct hotpatch_func[]){
                    {.target = "format_reply",
                     .file = "demo_server.c",
                     .replacement = (void *)fixed_format_reply},
                    {0}});
