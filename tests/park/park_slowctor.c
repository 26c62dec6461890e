/* SPDX-License-Identifier: MIT */
/* A library whose constructor takes 300 ms: dlopen() holds the loader
 * lock meanwhile. It reports on the pipe named by PARK_CTOR_FD. */
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

__attribute__((constructor)) static void slow_ctor(void) {
  const char *s = getenv("PARK_CTOR_FD");
  int fd = s ? atoi(s) : -1;
  if (fd >= 0 && write(fd, "1", 1) != 1)
    return;
  struct timespec ts = {0, 300000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
  if (fd >= 0 && write(fd, "2", 1) != 1)
    return;
}

__attribute__((visibility("default"))) int park_slowctor_value(void) {
  return 42;
}
