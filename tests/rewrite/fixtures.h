/* SPDX-License-Identifier: MIT */
/*
 * Hand-written assembly fixtures for the rewriting tests, one table per
 * architecture (fixtures_<arch>.c next to fx_<arch>.S). Each fixture is a
 * global function `long fx_<name>(long a, long b)` with an exact byte
 * sequence and a .size; the harness (test_sites.c) resolves it by name in
 * the test program, calls it directly, patches it with a replacement that
 * counts and calls the original through the trampoline, calls it again
 * and compares, reverts, and checks the bytes are the original ones.
 */
#ifndef HP_TEST_REWRITE_FIXTURES_H
#define HP_TEST_REWRITE_FIXTURES_H

#define FX_NARGS 4

struct fx_case {
  const char *name;       /* the fixture's symbol, e.g. "fx_lea_rip" */
  long (*fn)(long, long); /* the same function */
  int expect;             /* 0: patching must work; else the HOTPATCH_E*
                             code analysis must refuse it with */
  unsigned want_flags;    /* HP_SITE_* bits the analysis must report */
  int force_far;          /* analyse for the far (absolute) entry jump and
                             place the trampoline anywhere */
  long args[FX_NARGS][2]; /* argument pairs to compare */
  int no_result;          /* the function returns nothing checkable (a
                             lone `ret`): compare only that it runs and
                             that the replacement saw each call */
};

/* Ends with an entry whose name is NULL. */
extern const struct fx_case fx_cases[];

#endif
