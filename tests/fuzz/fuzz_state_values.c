/* tests/fuzz/fuzz_state_values.c - fuzz target: arbitrary bytes as values
 * of the aggregate step's state (stream/stateful.c, read back from
 * RocksDB): through weir_aggregate_check_value, which decodes them as a
 * group's accumulators or as a session list, renders the measures as
 * finish would, and frees them.
 *
 * The input goes to each of three validate-only aggregates (NULL store),
 * created once: every measure kind over a LONG, a DOUBLE, a DECIMAL and a
 * STRING argument without a window (accumulators), the same with a session
 * window (session lists), and the same measures over a DOUBLE x with a
 * sliding window (stored integer accumulators widen to doubles). Their
 * measures match ALL_MEASURES of tests/unit/test_stream_stateful.c, whose
 * test_check_value writes the seeds (WEIR_STATE_SEEDS=<dir>).
 * Invariants: no crash, leak or read outside the input; the result is 0 or
 * WEIR_ECORRUPT (WEIR_ENOMEM only when an allocation fails), with a
 * message naming the step, and the same for the same bytes.
 * Single-threaded; the aggregates are kept between inputs (read-only). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/types.h"
#include "stream/config.h"
#include "stream/stateful.h"

#define NAGG 3

static char *g_group[] = {"g"};
static char *g_measures[] = {"count(*) AS n",         "count(x) AS cx",
                             "count_if(x > 0) AS ci", "sum(x) AS sx",
                             "min(x) AS mnx",         "max(x) AS mxx",
                             "avg(x) AS ax",          "first(x) AS fx",
                             "last(x) AS lx",         "approx_count_distinct(x) AS dx",
                             "sum(y) AS sy",          "avg(d) AS ad",
                             "sum(d) AS sd",          "min(s) AS mns",
                             "max(s) AS mxs",         "first(s) AS fs",
                             "last(s) AS ls",         "approx_count_distinct(s) AS ds"};

static struct weir_aggregate *g_aggs[NAGG];
static struct weir_type *g_types[NAGG]; /* the input schemas, kept with the steps */

static struct weir_aggregate *make(int i, const char *ddl, const char *wcol, int64_t size_ms,
                                   int64_t slide_ms, int64_t gap_ms, const char *name)
{
    struct weir_config_aggregate c;
    struct weir_aggregate *a = NULL;
    memset(&c, 0, sizeof c);
    c.group_by = g_group;
    c.ngroup_by = 1;
    c.measures = g_measures;
    c.nmeasures = sizeof g_measures / sizeof g_measures[0];
    c.output = WEIR_OUTPUT_COMPLETE;
    c.window.column = (char *)wcol;
    c.window.size_ms = size_ms;
    c.window.slide_ms = slide_ms;
    c.window.gap_ms = gap_ms;
    if (weir_schema_from_ddl(ddl, &g_types[i], NULL) != 0 ||
        weir_aggregate_create(&c, g_types[i], NULL, name, &a, NULL) != 0)
        abort();
    return a;
}

static void setup(void)
{
    static const char *const ddl = "g STRING, x LONG, y DOUBLE, d DECIMAL(10,2), s STRING, ts TIMESTAMP";
    static const char *const widened =
        "g STRING, x DOUBLE, y DOUBLE, d DECIMAL(10,2), s STRING, ts TIMESTAMP";
    g_aggs[0] = make(0, ddl, NULL, 0, 0, 0, "accs");
    g_aggs[1] = make(1, ddl, "ts", 0, 0, 10000, "sessions");
    g_aggs[2] = make(2, widened, "ts", 60000, 30000, 0, "widened");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[NAGG] = {"accs", "sessions", "widened"};
    if (g_aggs[0] == NULL)
        setup();
    for (int i = 0; i < NAGG; i++) {
        struct weir_error err = {0}, again = {0};
        int rc = weir_aggregate_check_value(g_aggs[i], data, size, &err);
        if (rc != 0 && rc != WEIR_ECORRUPT && rc != WEIR_ENOMEM)
            abort();
        if (rc != 0 && (err.code != rc || strstr(err.message, names[i]) == NULL))
            abort();
        if (rc != WEIR_ENOMEM) {
            int rc2 = weir_aggregate_check_value(g_aggs[i], data, size, &again);
            if (rc2 != rc && rc2 != WEIR_ENOMEM)
                abort();
        }
    }
    return 0;
}
