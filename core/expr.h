/* core/expr.h - Spark-SQL-like expressions over columnar batches.
 *
 * Life cycle: weir_expr_parse (text -> tree) -> weir_expr_bind (resolve
 * columns against a STRUCT schema, infer the result type) -> evaluate any
 * number of batches of that schema (weir_expr_eval / _filter / _project).
 * A bound expression is read-only during evaluation and may be shared
 * between threads; binding mutates it (single thread).
 *
 * Typing (simplified Spark rules):
 *   - integer literals are LONG, literals with a '.' or exponent DOUBLE;
 *   - + - * % over integers give LONG; '/' always gives DOUBLE (as Spark);
 *     any FLOAT/DOUBLE operand makes the result DOUBLE;
 *   - DECIMAL with DECIMAL or integer (an integer counts as decimal(19,0)):
 *     + - give scale max(s1,s2), precision min(38, max(p1-s1,p2-s2)+s+1);
 *     * gives scale min(38,s1+s2), precision 38; / and % give DOUBLE;
 *   - comparisons widen numerics the same way; a STRING compared with a
 *     DATE/TIMESTAMP is cast to that type; other mixes are bind errors;
 *   - division or modulo by zero and bad CASTs give NULL (Spark non-ANSI);
 *     integer overflow wraps (two's complement, as Spark non-ANSI).
 * NULL: arithmetic, comparisons and functions propagate NULL; AND/OR/NOT use
 * SQL three-valued logic; WHERE treats NULL as false. */
#ifndef WEIR_CORE_EXPR_H
#define WEIR_CORE_EXPR_H

#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"

struct weir_expr;

/* Parse `text` (an expression, optionally `expr AS alias`, or "*").
 * Errors: WEIR_EPARSE with "<text>: unexpected 'x' at column N". */
int weir_expr_parse(const char *text, struct weir_expr **out, struct weir_error *err);
void weir_expr_destroy(struct weir_expr *e); /* NULL ok */

/* Resolve columns in `schema` (kind STRUCT) and infer types. WEIR_ESCHEMA
 * for unknown columns ("did you mean") and type mismatches. */
int weir_expr_bind(struct weir_expr *e, const struct weir_type *schema, struct weir_error *err);
/* Result type of a bound expression (borrowed), NULL for "*" or unbound. */
const struct weir_type *weir_expr_type(const struct weir_expr *e);
/* Output column name: the alias, else a bare column's (last) name, else
 * the expression text. Borrowed. */
const char *weir_expr_name(const struct weir_expr *e);

/* Evaluate over `b` into a new one-column batch (column named
 * weir_expr_name). `now_us` is current_timestamp() for this batch. */
int weir_expr_eval(const struct weir_expr *e, const struct weir_batch *b, int64_t now_us,
                   struct weir_batch **out, struct weir_error *err);

/* Rows of `b` where the BOOLEAN predicate is TRUE (NULL counts as false).
 * *rows is weir_malloc'd (caller frees), ascending. */
int weir_expr_filter(const struct weir_expr *pred, const struct weir_batch *b, int64_t now_us,
                     uint32_t **rows, size_t *nrows, struct weir_error *err);
/* New batch holding only the rows where `pred` is TRUE. */
int weir_expr_filter_batch(const struct weir_expr *pred, const struct weir_batch *b, int64_t now_us,
                           struct weir_batch **out, struct weir_error *err);

/* New batch with one column per expression ("*" expands to all input
 * columns). Every expression must be bound to b's schema. */
int weir_expr_project(struct weir_expr *const *exprs, size_t n, const struct weir_batch *b, int64_t now_us,
                      struct weir_batch **out, struct weir_error *err);

#endif
