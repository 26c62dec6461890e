/* SPDX-License-Identifier: MIT */
/* Common includes for cmocka tests (cmocka 1.1 needs these first). */
#ifndef HP_TEST_H
#define HP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#endif
