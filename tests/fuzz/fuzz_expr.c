/* tests/fuzz/fuzz_expr.c - fuzz target: arbitrary bytes as a SQL expression.
 * The text is parsed, bound against a fixed schema (numbers, strings,
 * timestamps, dates, decimals, booleans, a nested struct) and evaluated
 * over a small fixed batch with NULLs in every column; boolean results
 * also go through the filter. Nothing may crash, leak, overflow (UBSan) or
 * read outside the input; every failure must carry a message.
 * Single-threaded; the batch is rebuilt per input so no state is kept. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/expr.h"
#include "core/types.h"

static struct weir_batch *fixed_batch(void)
{
    struct weir_type *t = NULL;
    if (weir_schema_from_ddl("id LONG, amount DOUBLE, country STRING, ts TIMESTAMP, d DATE, "
                             "price DECIMAL(10,2), n INT, flag BOOLEAN, b TINYINT, "
                             "addr STRUCT<city: STRING, zip: INT>",
                             &t, NULL) != 0)
        abort();
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t);
    if (b == NULL)
        abort();
    struct weir_column *c = b->columns;
    static const int64_t ids[] = {1, -9223372036854775807 - 1, 0};
    static const double amounts[] = {150.5, -0.0, 1e308};
    static const char *countries[] = {"C01", "", "\xc3\xa9t\xc3\xa9%_"};
    for (int r = 0; r < 3; r++) {
        int rc = weir_column_append_i64(&c[0], ids[r]);
        rc |= r == 2 ? weir_column_append_null(&c[1]) : weir_column_append_f64(&c[1], amounts[r]);
        rc |= r == 1 ? weir_column_append_null(&c[2])
                     : weir_column_append_bytes(&c[2], countries[r], strlen(countries[r]));
        rc |= r == 0 ? weir_column_append_null(&c[3]) : weir_column_append_i64(&c[3], ids[r] / 7);
        rc |= weir_column_append_i32(&c[4], r == 1 ? INT32_MIN : 19723 * r);
        rc |= r == 1 ? weir_column_append_null(&c[5])
                     : weir_column_append_i128(&c[5], r == 0 ? 1234 : -(weir_i128)9999999999);
        rc |= r == 2 ? weir_column_append_null(&c[6]) : weir_column_append_i32(&c[6], r == 0 ? INT32_MIN : 7);
        rc |= r == 0 ? weir_column_append_null(&c[7]) : weir_column_append_bool(&c[7], r == 1);
        rc |= weir_column_append_i8(&c[8], (int8_t)(r == 0 ? -128 : r));
        if (r == 1) {
            rc |= weir_column_append_null(&c[9]);
        } else {
            rc |= weir_column_append_bytes(&c[9].children[0], "Lyon", 4);
            rc |= weir_column_append_i32(&c[9].children[1], 69001);
            rc |= weir_column_append_struct(&c[9], true);
        }
        if (rc != 0)
            abort();
    }
    if (weir_batch_finish_rows(b) != 0)
        abort();
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = weir_strndup((const char *)data, size);
    struct weir_batch *b = NULL, *out = NULL, *filtered = NULL;
    struct weir_expr *e = NULL;
    struct weir_error err = {0};
    uint32_t *rows = NULL;
    size_t n = 0;
    if (text == NULL || strlen(text) != size)
        goto done; /* embedded NUL: not a C string */
    b = fixed_batch();
    int rc = weir_expr_parse(text, &e, &err);
    if (rc == 0)
        rc = weir_expr_bind(e, b->schema, &err);
    if (rc != 0) {
        if (rc != WEIR_ENOMEM && err.message[0] == '\0')
            abort();
        goto done;
    }
    rc = weir_expr_eval(e, b, INT64_C(1704105000000000), &out, &err);
    if (rc == 0 && (out->nrows != b->nrows || out->ncolumns == 0))
        abort();
    const struct weir_type *t = weir_expr_type(e);
    if (t != NULL && t->kind == WEIR_TYPE_BOOLEAN) {
        if (weir_expr_filter(e, b, 0, &rows, &n, &err) != 0 || n > b->nrows)
            abort();
        if (weir_expr_filter_batch(e, b, 0, &filtered, &err) != 0 || filtered->nrows != n)
            abort();
    }
done:
    weir_free(rows);
    weir_batch_destroy(filtered);
    weir_batch_destroy(out);
    weir_expr_destroy(e);
    weir_batch_destroy(b);
    weir_free(text);
    return 0;
}
