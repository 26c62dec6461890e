/* SPDX-License-Identifier: MIT */
/* Placeholder until it lands. */
#include "codewrite.h"
