/* core/units.c - durations and sizes written as text (see units.h). */
#include "core/units.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"

struct unit {
    const char *u;
    int64_t f;
};

/* "<digits>[ ]<unit>" -> digits * the unit's factor; units compared with
 * `cmp` (strcmp or strcasecmp). WEIR_EINVAL or WEIR_ERANGE otherwise. */
static int parse_scaled(const char *s, const struct unit *units, size_t n,
                        int (*cmp)(const char *, const char *), int64_t *out)
{
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return WEIR_EINVAL;
    int64_t v = 0;
    while (isdigit((unsigned char)*p)) {
        if (v > (INT64_MAX - 9) / 10)
            return WEIR_ERANGE;
        v = v * 10 + (*p++ - '0');
    }
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < n; i++) {
        if (cmp(p, units[i].u) == 0) {
            if (v > INT64_MAX / units[i].f)
                return WEIR_ERANGE;
            *out = v * units[i].f;
            return 0;
        }
    }
    return WEIR_EINVAL;
}

int weir_parse_duration(const char *s, int64_t *ms)
{
    static const struct unit units[] = {
        {"ms", 1},          {"millisecond", 1}, {"milliseconds", 1}, {"s", 1000},       {"sec", 1000},
        {"secs", 1000},     {"second", 1000},   {"seconds", 1000},   {"m", 60000},      {"min", 60000},
        {"mins", 60000},    {"minute", 60000},  {"minutes", 60000},  {"h", 3600000},    {"hour", 3600000},
        {"hours", 3600000}, {"d", 86400000},    {"day", 86400000},   {"days", 86400000}};
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), strcmp, ms);
}

int weir_parse_size(const char *s, int64_t *bytes)
{
    static const struct unit units[] = {{"", 1},
                                        {"B", 1},
                                        {"K", 1024},
                                        {"KB", 1024},
                                        {"KiB", 1024},
                                        {"M", 1024 * 1024},
                                        {"MB", 1024 * 1024},
                                        {"MiB", 1024 * 1024},
                                        {"G", 1024LL * 1024 * 1024},
                                        {"GB", 1024LL * 1024 * 1024},
                                        {"GiB", 1024LL * 1024 * 1024},
                                        {"T", 1024LL * 1024 * 1024 * 1024},
                                        {"TB", 1024LL * 1024 * 1024 * 1024},
                                        {"TiB", 1024LL * 1024 * 1024 * 1024}};
    return parse_scaled(s, units, sizeof(units) / sizeof(units[0]), strcasecmp, bytes);
}
