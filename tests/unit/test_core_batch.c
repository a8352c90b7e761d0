/* tests/unit/test_core_batch.c - the columnar batch: every value kind,
 * lazy validity, nested struct/array/map appends, row copies, clearing,
 * and atomicity of appends under injected allocation failures; row keys
 * (core/keymap.h): encodings equal exactly when the values are (nulls
 * included), decode back, and the key map keeps ids through growth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/alloc.h"
#include "core/batch.h"
#include "core/keymap.h"
#include "core/types.h"

static struct weir_type *ddl(const char *text)
{
    struct weir_type *t = NULL;
    struct weir_error err = {0};
    if (weir_schema_from_ddl(text, &t, &err) != 0)
        fail_msg("ddl: %s", err.message);
    return t;
}

static struct weir_batch *batch_for(const char *text)
{
    struct weir_type *t = ddl(text);
    struct weir_batch *b = weir_batch_create(t);
    weir_type_destroy(t); /* the batch keeps its own copy */
    assert_non_null(b);
    return b;
}

static void test_every_primitive_kind(void **state)
{
    (void)state;
    struct weir_batch *b = batch_for("bo BOOLEAN, i8 BYTE, i16 SHORT, i32 INT, i64 LONG, f FLOAT, d DOUBLE, "
                                     "dec DECIMAL(38,2), s STRING, bin BINARY, dt DATE, ts TIMESTAMP, "
                                     "ntz TIMESTAMP_NTZ");
    assert_int_equal(b->ncolumns, 13);
    assert_ptr_equal(b->columns[3].type, b->schema->fields[3].type);
    weir_i128 big = (weir_i128)INT64_MAX * 1000 + 7;
    for (int i = 0; i < 100; i++) {
        struct weir_column *c = b->columns;
        assert_int_equal(weir_column_append_bool(&c[0], i % 2), 0);
        assert_int_equal(weir_column_append_i8(&c[1], (int8_t)(i - 50)), 0);
        assert_int_equal(weir_column_append_i16(&c[2], (int16_t)(i * 300)), 0);
        assert_int_equal(weir_column_append_i32(&c[3], i * 100000), 0);
        assert_int_equal(weir_column_append_i64(&c[4], (int64_t)i << 40), 0);
        assert_int_equal(weir_column_append_f32(&c[5], (float)i / 4), 0);
        assert_int_equal(weir_column_append_f64(&c[6], i * 0.5), 0);
        assert_int_equal(weir_column_append_i128(&c[7], big * (i % 2 ? -1 : 1)), 0);
        char s[32];
        int n = snprintf(s, sizeof s, "row-%d", i);
        assert_int_equal(weir_column_append_bytes(&c[8], s, (size_t)n), 0);
        assert_int_equal(weir_column_append_bytes(&c[9], "\0\1\2", (size_t)(i % 4)), 0);
        assert_int_equal(weir_column_append_i32(&c[10], 19000 + i), 0);
        assert_int_equal(weir_column_append_i64(&c[11], 1700000000000000LL + i), 0);
        assert_int_equal(weir_column_append_i64(&c[12], -1 - i), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    assert_int_equal(b->nrows, 100);
    const struct weir_column *c = b->columns;
    for (size_t i = 0; i < 100; i++) {
        assert_int_equal(((uint8_t *)c[0].data)[i], i % 2);
        assert_int_equal(((int8_t *)c[1].data)[i], (int)i - 50);
        assert_int_equal(((int16_t *)c[2].data)[i], (int16_t)(i * 300));
        assert_int_equal(weir_column_i32(&c[3], i), (int32_t)i * 100000);
        assert_int_equal(weir_column_i64(&c[4], i), (int64_t)i << 40);
        assert_true(((float *)c[5].data)[i] == (float)i / 4);
        assert_true(weir_column_f64(&c[6], i) == (double)i * 0.5);
        assert_true(((weir_i128 *)c[7].data)[i] == big * (i % 2 ? -1 : 1));
        size_t len;
        const uint8_t *p = weir_column_bytes(&c[8], i, &len);
        char s[32];
        int n = snprintf(s, sizeof s, "row-%zu", i);
        assert_int_equal(len, (size_t)n);
        assert_memory_equal(p, s, len);
        p = weir_column_bytes(&c[9], i, &len);
        assert_int_equal(len, i % 4);
        assert_int_equal(weir_column_i32(&c[10], i), 19000 + (int)i);
        assert_int_equal(weir_column_i64(&c[12], i), -1 - (int64_t)i);
    }
    for (size_t k = 0; k < b->ncolumns; k++) {
        assert_null(c[k].validity); /* no nulls: no bitmap */
        assert_int_equal(c[k].null_count, 0);
        assert_int_equal(c[k].length, 100);
    }
    assert_int_equal(c[8].offsets[0], 0);
    assert_int_equal(c[8].offsets[100], (int64_t)c[8].bytes_len);
    assert_int_equal(weir_type_value_width(c[7].type), 16);
    assert_int_equal(weir_type_value_width(c[8].type), 0);
    assert_int_equal(weir_type_value_width(c[0].type), 1);
    assert_int_equal(weir_type_value_width(c[11].type), 8);
    /* wrong-kind appends are refused and change nothing */
    assert_int_equal(weir_column_append_i32(&b->columns[4], 1), WEIR_EINVAL);
    assert_int_equal(weir_column_append_bytes(&b->columns[0], "x", 1), WEIR_EINVAL);
    assert_int_equal(weir_column_append_struct(&b->columns[0], true), WEIR_EINVAL);
    assert_int_equal(b->columns[4].length, 100);
    size_t mem = weir_batch_memory(b);
    assert_true(mem > 100 * (1 + 1 + 2 + 4 + 8 + 4 + 8 + 16 + 4 + 8 + 8));
    weir_batch_destroy(b);
    weir_batch_destroy(NULL);
}

static void test_lazy_validity_and_null_count(void **state)
{
    (void)state;
    struct weir_batch *b = batch_for("x LONG, s STRING");
    struct weir_column *x = &b->columns[0], *s = &b->columns[1];
    for (int i = 0; i < 13; i++) {
        assert_int_equal(weir_column_append_i64(x, i), 0);
        assert_int_equal(weir_column_append_bytes(s, "ab", 2), 0);
    }
    assert_null(x->validity);
    assert_int_equal(weir_column_append_null(x), 0);
    assert_int_equal(weir_column_append_null(s), 0);
    assert_non_null(x->validity);
    for (size_t i = 0; i < 13; i++)
        assert_true(weir_column_is_valid(x, i));
    assert_false(weir_column_is_valid(x, 13));
    assert_int_equal(weir_column_i64(x, 13), 0); /* null slot is zero */
    size_t len;
    weir_column_bytes(s, 13, &len);
    assert_int_equal(len, 0); /* empty range */
    /* grow well past the first bitmap allocation */
    for (int i = 0; i < 1000; i++) {
        if (i % 3 == 0)
            assert_int_equal(weir_column_append_null(x), 0);
        else
            assert_int_equal(weir_column_append_i64(x, i), 0);
    }
    assert_int_equal(x->length, 1014);
    assert_int_equal(x->null_count, 1 + 334);
    for (size_t i = 14; i < 1014; i++) {
        assert_int_equal(weir_column_is_valid(x, i), (i - 14) % 3 != 0);
        if ((i - 14) % 3 != 0)
            assert_int_equal(weir_column_i64(x, i), (int64_t)(i - 14));
    }
    assert_int_equal(weir_batch_finish_rows(b), WEIR_ESTATE);
    weir_batch_clear(b);
    assert_int_equal(x->length, 0);
    assert_int_equal(x->null_count, 0);
    assert_int_equal(s->bytes_len, 0);
    assert_int_equal(b->nrows, 0);
    assert_int_equal(weir_column_append_i64(x, 5), 0);
    assert_true(weir_column_is_valid(x, 0)); /* kept bitmap is rewritten */
    assert_int_equal(x->null_count, 0);
    weir_batch_destroy(b);
}

static void test_nested_struct_array_map(void **state)
{
    (void)state;
    struct weir_batch *b =
        batch_for("id INT, loc STRUCT<lat: DOUBLE, inner: STRUCT<tag: STRING>>, tags ARRAY<STRING>, "
                  "attrs MAP<STRING, ARRAY<INT>>");
    struct weir_column *id = &b->columns[0], *loc = &b->columns[1], *tags = &b->columns[2],
                       *attrs = &b->columns[3];
    assert_int_equal(loc->nchildren, 2);
    assert_int_equal(tags->nchildren, 1);
    assert_int_equal(attrs->nchildren, 2);

    /* row 0: full values */
    assert_int_equal(weir_column_append_i32(id, 1), 0);
    assert_int_equal(weir_column_append_f64(&loc->children[0], 1.5), 0);
    assert_int_equal(weir_column_append_bytes(&loc->children[1].children[0], "t", 1), 0);
    assert_int_equal(weir_column_append_struct(&loc->children[1], true), 0);
    assert_int_equal(weir_column_append_struct(loc, true), 0);
    assert_int_equal(weir_column_append_bytes(&tags->children[0], "a", 1), 0);
    assert_int_equal(weir_column_append_null(&tags->children[0]), 0);
    assert_int_equal(weir_column_append_bytes(&tags->children[0], "ccc", 3), 0);
    assert_int_equal(weir_column_append_list(tags, true), 0);
    struct weir_column *keys = &attrs->children[0], *vals = &attrs->children[1];
    assert_int_equal(weir_column_append_bytes(keys, "k1", 2), 0);
    assert_int_equal(weir_column_append_i32(&vals->children[0], 10), 0);
    assert_int_equal(weir_column_append_i32(&vals->children[0], 11), 0);
    assert_int_equal(weir_column_append_list(vals, true), 0);
    assert_int_equal(weir_column_append_bytes(keys, "k2", 2), 0);
    assert_int_equal(weir_column_append_null(vals), 0);
    assert_int_equal(weir_column_append_list(attrs, true), 0);

    /* row 1: nulls everywhere */
    assert_int_equal(weir_column_append_null(id), 0);
    assert_int_equal(weir_column_append_null(loc), 0);
    assert_int_equal(weir_column_append_null(tags), 0);
    assert_int_equal(weir_column_append_null(attrs), 0);

    /* row 2: empty list, empty map, struct with null child */
    assert_int_equal(weir_column_append_i32(id, 3), 0);
    assert_int_equal(weir_column_append_null(&loc->children[0]), 0);
    assert_int_equal(weir_column_append_null(&loc->children[1]), 0);
    assert_int_equal(weir_column_append_struct(loc, true), 0);
    assert_int_equal(weir_column_append_list(tags, true), 0);
    assert_int_equal(weir_column_append_list(attrs, true), 0);
    assert_int_equal(weir_batch_finish_rows(b), 0);
    assert_int_equal(b->nrows, 3);

    /* struct null propagates a null row into every child, recursively */
    assert_int_equal(loc->length, 3);
    assert_int_equal(loc->null_count, 1);
    assert_false(weir_column_is_valid(loc, 1));
    assert_int_equal(loc->children[0].length, 3);
    assert_false(weir_column_is_valid(&loc->children[0], 1));
    assert_int_equal(loc->children[1].children[0].length, 3);
    assert_false(weir_column_is_valid(&loc->children[1].children[0], 1));
    assert_true(weir_column_is_valid(&loc->children[1].children[0], 0));
    assert_true(weir_column_is_valid(loc, 2));
    assert_false(weir_column_is_valid(&loc->children[0], 2));

    /* array offsets and element nulls */
    assert_int_equal(tags->offsets[0], 0);
    assert_int_equal(tags->offsets[1], 3);
    assert_int_equal(tags->offsets[2], 3); /* null: empty range */
    assert_int_equal(tags->offsets[3], 3); /* empty list */
    assert_false(weir_column_is_valid(tags, 1));
    assert_true(weir_column_is_valid(tags, 2));
    assert_int_equal(tags->children[0].null_count, 1);
    size_t len;
    const uint8_t *p = weir_column_bytes(&tags->children[0], 2, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(p, "ccc", 3);

    /* map with array values */
    assert_int_equal(attrs->offsets[1], 2);
    assert_int_equal(attrs->offsets[3], 2);
    assert_int_equal(keys->length, 2);
    assert_int_equal(vals->length, 2);
    assert_int_equal(vals->offsets[1], 2);
    assert_false(weir_column_is_valid(vals, 1));
    assert_int_equal(weir_column_i32(&vals->children[0], 1), 11);

    /* protocol errors: struct child count mismatch, unbalanced map */
    assert_int_equal(weir_column_append_struct(loc, true), WEIR_ESTATE);
    assert_int_equal(weir_column_append_bytes(keys, "k3", 2), 0);
    assert_int_equal(weir_column_append_list(attrs, true), WEIR_ESTATE);
    assert_int_equal(attrs->length, 3);
    weir_batch_destroy(b);
}

/* Compares row r of a with row r2 of b recursively. */
static void assert_rows_equal(const struct weir_column *a, size_t r, const struct weir_column *b, size_t r2)
{
    assert_int_equal(weir_column_is_valid(a, r), weir_column_is_valid(b, r2));
    if (!weir_column_is_valid(a, r))
        return;
    size_t w = weir_type_value_width(a->type);
    if (w > 0) {
        assert_memory_equal((uint8_t *)a->data + r * w, (uint8_t *)b->data + r2 * w, w);
        return;
    }
    switch (a->type->kind) {
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t la, lb;
        const uint8_t *pa = weir_column_bytes(a, r, &la), *pb = weir_column_bytes(b, r2, &lb);
        assert_int_equal(la, lb);
        if (la > 0)
            assert_memory_equal(pa, pb, la);
        break;
    }
    case WEIR_TYPE_STRUCT:
        for (size_t i = 0; i < a->nchildren; i++)
            assert_rows_equal(&a->children[i], r, &b->children[i], r2);
        break;
    default: {
        int64_t n = a->offsets[r + 1] - a->offsets[r];
        assert_int_equal(n, b->offsets[r2 + 1] - b->offsets[r2]);
        for (int64_t e = 0; e < n; e++)
            for (size_t k = 0; k < a->nchildren; k++)
                assert_rows_equal(&a->children[k], (size_t)(a->offsets[r] + e), &b->children[k],
                                  (size_t)(b->offsets[r2] + e));
    }
    }
}

static const char *nested_ddl = "id LONG, name STRING, amt DECIMAL(12,2), "
                                "s STRUCT<a: INT, b: ARRAY<STRUCT<c: STRING, d: BOOLEAN>>>, "
                                "m MAP<STRING, MAP<INT, STRING>>";

/* Fills `b` with `n` rows mixing values, nulls and nested content. */
static void fill_nested(struct weir_batch *b, int n)
{
    struct weir_column *id = &b->columns[0], *name = &b->columns[1], *amt = &b->columns[2],
                       *s = &b->columns[3], *m = &b->columns[4];
    for (int i = 0; i < n; i++) {
        assert_int_equal(i % 5 == 4 ? weir_column_append_null(id) : weir_column_append_i64(id, i * 7), 0);
        char nm[16];
        int nl = snprintf(nm, sizeof nm, "name%d", i);
        assert_int_equal(
            i % 4 == 3 ? weir_column_append_null(name) : weir_column_append_bytes(name, nm, (size_t)nl), 0);
        assert_int_equal(weir_column_append_i128(amt, (weir_i128)i * -12345), 0);
        if (i % 3 == 2) {
            assert_int_equal(weir_column_append_null(s), 0);
        } else {
            assert_int_equal(weir_column_append_i32(&s->children[0], i), 0);
            struct weir_column *arr = &s->children[1], *el = &arr->children[0];
            for (int k = 0; k < i % 4; k++) {
                assert_int_equal(weir_column_append_bytes(&el->children[0], "cc", (size_t)k), 0);
                assert_int_equal(weir_column_append_bool(&el->children[1], k & 1), 0);
                assert_int_equal(weir_column_append_struct(el, true), 0);
            }
            assert_int_equal(weir_column_append_list(arr, true), 0);
            assert_int_equal(weir_column_append_struct(s, true), 0);
        }
        if (i % 6 == 5) {
            assert_int_equal(weir_column_append_null(m), 0);
        } else {
            for (int k = 0; k < i % 3; k++) {
                char key[8];
                int kl = snprintf(key, sizeof key, "k%d", k);
                assert_int_equal(weir_column_append_bytes(&m->children[0], key, (size_t)kl), 0);
                struct weir_column *inner = &m->children[1];
                assert_int_equal(weir_column_append_i32(&inner->children[0], k), 0);
                assert_int_equal(k == 1 ? weir_column_append_null(&inner->children[1])
                                        : weir_column_append_bytes(&inner->children[1], "v", 1),
                                 0);
                assert_int_equal(weir_column_append_list(inner, true), 0);
            }
            assert_int_equal(weir_column_append_list(m, true), 0);
        }
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
}

static size_t count_range_nulls(const struct weir_column *c, size_t from, size_t to)
{
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        n += !weir_column_is_valid(c, i);
    return n;
}

static void assert_same_shape(const struct weir_column *a, const struct weir_column *b);

static void test_append_from_copies_nested_rows(void **state)
{
    (void)state;
    struct weir_batch *src = batch_for(nested_ddl), *dst = batch_for(nested_ddl);
    fill_nested(src, 40);
    /* copy rows in reverse order */
    for (size_t r = src->nrows; r-- > 0;)
        for (size_t c = 0; c < src->ncolumns; c++)
            assert_int_equal(weir_column_append_from(&dst->columns[c], &src->columns[c], r), 0);
    assert_int_equal(weir_batch_finish_rows(dst), 0);
    assert_int_equal(dst->nrows, 40);
    for (size_t r = 0; r < 40; r++)
        for (size_t c = 0; c < src->ncolumns; c++)
            assert_rows_equal(&src->columns[c], r, &dst->columns[c], 39 - r);
    for (size_t c = 0; c < src->ncolumns; c++)
        assert_int_equal(src->columns[c].null_count, dst->columns[c].null_count);
    /* bad row / mismatched kinds */
    assert_int_equal(weir_column_append_from(&dst->columns[0], &src->columns[0], 40), WEIR_EINVAL);
    assert_int_equal(weir_column_append_from(&dst->columns[0], &src->columns[1], 0), WEIR_EINVAL);
    weir_batch_destroy(src);
    weir_batch_destroy(dst);
}

static void test_append_range_equals_row_copies(void **state)
{
    (void)state;
    struct weir_batch *src = batch_for(nested_ddl), *dst = batch_for(nested_ddl);
    fill_nested(src, 60);
    /* ranges of varying length, including empty ones, onto a non-empty column */
    size_t cuts[] = {0, 0, 1, 7, 8, 23, 23, 41, 60};
    for (size_t k = 0; k + 1 < sizeof cuts / sizeof cuts[0]; k++)
        for (size_t c = 0; c < src->ncolumns; c++)
            assert_int_equal(
                weir_column_append_range(&dst->columns[c], &src->columns[c], cuts[k], cuts[k + 1] - cuts[k]),
                0);
    for (size_t c = 0; c < src->ncolumns; c++)
        assert_int_equal(weir_column_append_range(&dst->columns[c], &src->columns[c], 10, 20), 0);
    assert_int_equal(weir_batch_finish_rows(dst), 0);
    assert_int_equal(dst->nrows, 80);
    for (size_t r = 0; r < 60; r++)
        for (size_t c = 0; c < src->ncolumns; c++)
            assert_rows_equal(&src->columns[c], r, &dst->columns[c], r);
    for (size_t r = 0; r < 20; r++)
        for (size_t c = 0; c < src->ncolumns; c++)
            assert_rows_equal(&src->columns[c], 10 + r, &dst->columns[c], 60 + r);
    for (size_t c = 0; c < src->ncolumns; c++)
        assert_int_equal(dst->columns[c].null_count,
                         src->columns[c].null_count + count_range_nulls(&src->columns[c], 10, 30));
    size_t used = weir_batch_used_bytes(dst), held = weir_batch_memory(dst);
    assert_true(used > 80 * 8 && used <= held);
    weir_batch_clear(dst);
    assert_int_equal(weir_batch_used_bytes(dst), 0);
    assert_int_equal(weir_batch_memory(dst), held); /* capacities kept for reuse */
    for (size_t c = 0; c < src->ncolumns; c++)
        assert_int_equal(weir_column_append_range(&dst->columns[c], &src->columns[c], 0, 60), 0);
    assert_int_equal(weir_batch_finish_rows(dst), 0);
    assert_int_equal(weir_column_append_range(&dst->columns[0], &src->columns[0], 50, 11), WEIR_EINVAL);
    assert_int_equal(weir_column_append_range(&dst->columns[0], &src->columns[1], 0, 1), WEIR_EINVAL);
    /* allocation failures leave the destination as it was */
    struct weir_batch *d2 = batch_for(nested_ddl), *ref = batch_for(nested_ddl);
    for (size_t c = 0; c < src->ncolumns; c++) {
        assert_int_equal(weir_column_append_range(&d2->columns[c], &src->columns[c], 0, 5), 0);
        assert_int_equal(weir_column_append_range(&ref->columns[c], &src->columns[c], 0, 5), 0);
        for (long k = 0;; k++) {
            weir_alloc_fail_after(k);
            int rc = weir_column_append_range(&d2->columns[c], &src->columns[c], 5, 50);
            weir_alloc_fail_after(-1);
            if (rc == 0)
                break;
            assert_int_equal(rc, WEIR_ENOMEM);
            assert_same_shape(&d2->columns[c], &ref->columns[c]);
            assert_true(k < 100);
        }
    }
    weir_batch_destroy(d2);
    weir_batch_destroy(ref);
    weir_batch_destroy(src);
    weir_batch_destroy(dst);
}

/* Snapshot of a column tree's observable state. */
static void assert_same_shape(const struct weir_column *a, const struct weir_column *b)
{
    assert_int_equal(a->length, b->length);
    assert_int_equal(a->null_count, b->null_count);
    assert_int_equal(a->bytes_len, b->bytes_len);
    for (size_t i = 0; i < a->length; i++)
        assert_rows_equal(a, i, b, i);
    for (size_t k = 0; k < a->nchildren; k++)
        assert_same_shape(&a->children[k], &b->children[k]);
}

static void test_failed_appends_leave_columns_unchanged(void **state)
{
    (void)state;
    struct weir_batch *src = batch_for(nested_ddl);
    fill_nested(src, 30);
    int failures = 0;
    /* For each row, fail the k-th allocation for growing k until the copy
     * succeeds; after each failure the destination must equal a reference
     * that copied only the earlier rows. */
    struct weir_batch *dst = batch_for(nested_ddl), *ref = batch_for(nested_ddl);
    for (size_t r = 0; r < src->nrows; r++) {
        for (size_t c = 0; c < src->ncolumns; c++) {
            for (long k = 0;; k++) {
                weir_alloc_fail_after(k);
                int rc = weir_column_append_from(&dst->columns[c], &src->columns[c], r);
                weir_alloc_fail_after(-1);
                if (rc == 0)
                    break;
                assert_int_equal(rc, WEIR_ENOMEM);
                failures++;
                assert_same_shape(&dst->columns[c], &ref->columns[c]);
                assert_true(k < 100);
            }
            assert_int_equal(weir_column_append_from(&ref->columns[c], &src->columns[c], r), 0);
            assert_same_shape(&dst->columns[c], &ref->columns[c]);
        }
    }
    assert_true(failures > 10);
    /* a null struct row under failure also rolls back its children */
    struct weir_batch *e = batch_for("s STRUCT<a: STRING, b: STRUCT<c: LONG, d: ARRAY<INT>>>");
    for (long k = 0;; k++) {
        weir_alloc_fail_after(k);
        int rc = weir_column_append_null(&e->columns[0]);
        weir_alloc_fail_after(-1);
        if (rc == 0)
            break;
        assert_int_equal(e->columns[0].length, 0);
        assert_int_equal(e->columns[0].children[0].length, 0);
        assert_int_equal(e->columns[0].children[1].length, 0);
        assert_int_equal(e->columns[0].children[1].children[0].length, 0);
        assert_int_equal(e->columns[0].children[1].children[1].length, 0);
        assert_true(k < 50);
    }
    assert_int_equal(e->columns[0].children[1].children[1].length, 1);
    assert_int_equal(e->columns[0].children[1].children[1].null_count, 1);
    weir_batch_destroy(e);
    weir_batch_destroy(src);
    weir_batch_destroy(dst);
    weir_batch_destroy(ref);
}

static void test_create_under_allocation_failure_and_reserve(void **state)
{
    (void)state;
    struct weir_type *t = ddl(nested_ddl);
    int failures = 0;
    for (long k = 0;; k++) {
        weir_alloc_fail_after(k);
        struct weir_batch *b = weir_batch_create(t);
        weir_alloc_fail_after(-1);
        if (b != NULL) {
            assert_int_equal(b->ncolumns, 5);
            weir_batch_destroy(b);
            break;
        }
        failures++;
        assert_true(k < 200);
    }
    assert_true(failures > 10);
    struct weir_batch *b = weir_batch_create(t);
    assert_int_equal(weir_column_reserve(&b->columns[1], 1000, 50000), 0);
    assert_true(b->columns[1].cap >= 1000);
    assert_true(b->columns[1].bytes_cap >= 50000);
    void *data = b->columns[1].bytes;
    weir_alloc_fail_after(0); /* no allocation needed within the reservation */
    for (int i = 0; i < 1000; i++)
        assert_int_equal(weir_column_append_bytes(&b->columns[1], "0123456789", 10), 0);
    weir_alloc_fail_after(-1);
    assert_ptr_equal(b->columns[1].bytes, data);
    size_t before = weir_batch_memory(b);
    weir_batch_clear(b);
    assert_int_equal(weir_batch_memory(b), before);     /* clear keeps allocations */
    assert_null(weir_batch_create(b->columns[1].type)); /* not a struct */
    weir_batch_destroy(b);
    weir_type_destroy(t);
}

/* (id LONG, name STRING) keys: equal values, equal bytes; null is its own
 * value; a map of 10k keys finds every one with its first id. */
static void test_row_keys_and_keymap(void **state)
{
    (void)state;
    struct weir_batch *b = batch_for("id LONG, name STRING");
    const int64_t ids[] = {1, 1, 1, 2};
    const char *names[] = {"a", "a", NULL, "a"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weir_column_append_i64(&b->columns[0], ids[i]), 0);
        if (names[i])
            assert_int_equal(weir_column_append_bytes(&b->columns[1], names[i], strlen(names[i])), 0);
        else
            assert_int_equal(weir_column_append_null(&b->columns[1]), 0);
    }
    assert_int_equal(weir_batch_finish_rows(b), 0);
    struct weir_buf k[4];
    for (int i = 0; i < 4; i++) {
        weir_buf_init(&k[i]);
        assert_int_equal(weir_key_append(&k[i], &b->columns[0], (size_t)i), 0);
        assert_int_equal(weir_key_append(&k[i], &b->columns[1], (size_t)i), 0);
    }
    assert_true(k[0].len == k[1].len && memcmp(k[0].data, k[1].data, k[0].len) == 0);
    assert_true(k[0].len != k[2].len || memcmp(k[0].data, k[2].data, k[0].len) != 0);
    assert_true(k[0].len != k[3].len || memcmp(k[0].data, k[3].data, k[0].len) != 0);
    /* decode row 2's key back: 1, null */
    struct weir_batch *d = batch_for("id LONG, name STRING");
    const uint8_t *p = k[2].data, *end = k[2].data + k[2].len;
    assert_int_equal(weir_key_read(&p, end, &d->columns[0]), 0);
    assert_int_equal(weir_key_read(&p, end, &d->columns[1]), 0);
    assert_ptr_equal(p, end);
    assert_int_equal(weir_column_i64(&d->columns[0], 0), 1);
    assert_false(weir_column_is_valid(&d->columns[1], 0));
    p = k[0].data;
    assert_int_equal(weir_key_read(&p, k[0].data + 3, &d->columns[0]), WEIR_ECORRUPT); /* cut short */
    struct weir_keymap m = {0};
    size_t id;
    bool added;
    const size_t want_id[] = {0, 0, 1, 2}; /* row 1 repeats row 0 */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(weir_keymap_put(&m, k[i].data, k[i].len, &id, &added), 0);
        assert_int_equal(id, want_id[i]);
        assert_int_equal(added, i != 1);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        assert_int_equal(weir_keymap_put(&m, (const uint8_t *)&i, sizeof i, &id, &added), 0);
        assert_true(added);
        assert_int_equal(id, 3 + i);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        assert_true(weir_keymap_find(&m, (const uint8_t *)&i, sizeof i, &id));
        size_t n;
        const uint8_t *kk = weir_keymap_key(&m, id, &n);
        assert_int_equal(n, sizeof i);
        assert_memory_equal(kk, &i, sizeof i);
    }
    uint64_t absent = 1;
    assert_false(weir_keymap_find(&m, (const uint8_t *)&absent, sizeof absent, &id));
    weir_keymap_reset(&m);
    assert_false(weir_keymap_find(&m, k[0].data, k[0].len, &id));
    weir_keymap_free(&m);
    for (int i = 0; i < 4; i++)
        weir_buf_free(&k[i]);
    weir_batch_destroy(d);
    weir_batch_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_primitive_kind),
        cmocka_unit_test(test_lazy_validity_and_null_count),
        cmocka_unit_test(test_nested_struct_array_map),
        cmocka_unit_test(test_append_from_copies_nested_rows),
        cmocka_unit_test(test_append_range_equals_row_copies),
        cmocka_unit_test(test_failed_appends_leave_columns_unchanged),
        cmocka_unit_test(test_create_under_allocation_failure_and_reserve),
        cmocka_unit_test(test_row_keys_and_keymap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
