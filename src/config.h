/* SPDX-License-Identifier: MIT */
/* Process-wide settings from hotpatch_init() and HOTPATCH_* variables. */
#ifndef HP_CONFIG_H
#define HP_CONFIG_H

#include <stdint.h>

struct hp_config {
  int log_level;
  int park_signal;
  uint32_t timeout_ms;
};

/* The settings in force; read from the environment on first use. */
struct hp_config hp_config(void);

/* Called when the first patch is loaded: settings are fixed from then on. */
void hp_config_freeze(void);

#endif
