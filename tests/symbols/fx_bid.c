/* SPDX-License-Identifier: MIT */
/* One source, several libraries that differ only in how the linker makes
 * their build-id (and, for one, the soname): tests/symbols/CMakeLists.txt. */
typedef int fx_bid_fn(int);

static __attribute__((noinline)) int fx_bid_local(int v) { return v * 5 + 1; }

fx_bid_fn *fx_bid_local_addr(void);
fx_bid_fn *fx_bid_local_addr(void) { return &fx_bid_local; }

int fx_bid_probe(int v);
int fx_bid_probe(int v) { return fx_bid_local(v) + 1; }
