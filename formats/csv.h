/* formats/csv.h - CSV text -> records -> typed values, and type inference.
 *
 * Splitting (weir_csv_reader): bytes in chunks of any size become records
 * of fields. One byte each for the delimiter (default ','), the quote
 * ('"') and the escape ('\\'). A field that starts with the quote is
 * quoted: inside it the delimiter, newlines and "\r" are plain text, a
 * doubled quote is one quote, and the escape makes the next byte literal
 * (the escape may equal the quote: then only doubling applies). A quote
 * inside an unquoted field is plain text. Records end at "\n" or "\r\n"
 * outside quotes; a record that is only "\r" or nothing is skipped; a
 * UTF-8 byte order mark at the start of the input is dropped.
 *
 * Malformed records are delivered, never dropped, with a reason and their
 * raw text so a caller can rescue them: text after a closing quote before
 * the next delimiter, a quote still open at the end of the input (the
 * record then holds the rest of the input), and a record longer than
 * max_record bytes (the reader then drops what it holds of it, says so in
 * the reason, and starts again after the next newline, outside quotes: one
 * stray quote cannot swallow a whole file into memory).
 *
 * Values (weir_csv_append_value): field text -> one value of a Delta
 * primitive type: boolean (true/false, any case), byte..long (decimal
 * integer, range-checked), float/double (any number, also NaN, Inf,
 * Infinity with a sign), decimal(p,s) (exact; too many digits is an
 * error), string, binary (the bytes as they are), date ("YYYY-MM-DD"),
 * timestamp / timestamp_ntz (the ISO-8601 forms of formats/json.h).
 * Surrounding spaces are ignored for every type but string. An empty
 * unquoted field, or one equal to null_value, is null; a quoted field
 * ("" too) is never null.
 *
 * Inference: weir_csv_infer_kind widens a column's kind by one value:
 * nothing -> boolean | long -> double -> string; mixed kinds -> string.
 *
 * Threading: a reader belongs to one thread at a time. */
#ifndef WEIR_FORMATS_CSV_H
#define WEIR_FORMATS_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"

struct weir_csv_options {
    char delimiter, quote, escape;
    const char *null_value; /* NULL: "" */
    size_t max_record;      /* bytes; 0: 16 MiB */
};
void weir_csv_options_default(struct weir_csv_options *o);

struct weir_csv_field {
    const char *p; /* unquoted, unescaped text */
    size_t n;
    bool quoted;
};

struct weir_csv_record {
    const struct weir_csv_field *fields;
    size_t nfields;
    const char *raw; /* the record as written, without its newline */
    size_t raw_len;
    uint64_t line;         /* line where the record starts, from 1 */
    const char *malformed; /* NULL, or why the record is malformed */
};

/* Receives each record; valid only during the call. Non-zero stops the
 * feed and is returned from it. */
typedef int (*weir_csv_record_cb)(void *ctx, const struct weir_csv_record *rec, struct weir_error *err);

struct weir_csv_reader;
int weir_csv_reader_create(struct weir_csv_reader **out, const struct weir_csv_options *o,
                           struct weir_error *err);
void weir_csv_reader_destroy(struct weir_csv_reader *r);
/* Start a new input (line 1). */
void weir_csv_reader_reset(struct weir_csv_reader *r);
/* Feed n bytes; `last` marks the end of the input (n may be 0). */
int weir_csv_feed(struct weir_csv_reader *r, const char *p, size_t n, bool last, weir_csv_record_cb cb,
                  void *ctx, struct weir_error *err);

/* Is the field null under the options? */
bool weir_csv_is_null(const struct weir_csv_options *o, const struct weir_csv_field *f);
/* Append field f to column c (a primitive type), or null. On a value that
 * does not fit, returns WEIR_EPARSE with a short reason in why (nothing
 * appended); WEIR_ENOMEM; WEIR_EUNSUPPORTED for a nested column. */
int weir_csv_append_value(struct weir_column *c, const struct weir_csv_options *o,
                          const struct weir_csv_field *f, char *why, size_t whycap);

enum weir_csv_kind { WEIR_CSV_NONE = 0, WEIR_CSV_BOOL, WEIR_CSV_LONG, WEIR_CSV_DOUBLE, WEIR_CSV_STRING };
/* The kind of a column that was `have` after seeing field f. */
enum weir_csv_kind weir_csv_infer_kind(enum weir_csv_kind have, const struct weir_csv_options *o,
                                       const struct weir_csv_field *f);
/* The Delta type of an inferred kind (NONE -> string). NULL on ENOMEM. */
struct weir_type *weir_csv_kind_type(enum weir_csv_kind k);

#endif
