/* SPDX-License-Identifier: MIT */
#ifndef AP_TARGETS_H
#define AP_TARGETS_H

/* Old results: ap_value(x) = x + 1, ap_other(x) = 3x, ap_sleep_in(ms) =
 * ms + 7 after sleeping ms. */
long ap_value(long x);
long ap_other(long x);
long ap_sleep_in(long ms);

#endif
