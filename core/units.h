/* core/units.h - durations and sizes written as text, as the configuration
 * and the storage options take them ("5s", "10 minutes", "128MB"). */
#ifndef WEIR_CORE_UNITS_H
#define WEIR_CORE_UNITS_H

#include <stdint.h>

/* "250ms", "5s", "10 minutes", "1 hour", "2h" (units ms, s, sec, m, min,
 * minute(s), h, hour(s), d, day(s)) -> *ms. WEIR_EINVAL or WEIR_ERANGE. */
int weir_parse_duration(const char *s, int64_t *ms);
/* "128MB", "64KiB", "1GB", "100B" or "4096" -> *bytes (K/KB/KiB, M/MB/MiB,
 * G/GB/GiB, T/TB/TiB are all 1024-based, like Spark). WEIR_EINVAL/WEIR_ERANGE. */
int weir_parse_size(const char *s, int64_t *bytes);

#endif
