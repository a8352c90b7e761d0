/* formats/json.h - JSON lines <-> columnar batches.
 *
 * Decoding: a weir_json_decoder turns newline-delimited JSON objects into
 * rows of a weir_batch of a given STRUCT schema. Parsing is core/json.h's
 * exact tape parser, which keeps the text of numbers, so LONG and DECIMAL
 * values are never rounded through a double; callers only see bytes in,
 * rows out. Value rules, per Delta type of the target field:
 *
 *   boolean            true / false
 *   byte..long         JSON integer (no fraction, no exponent), range-checked
 *   float, double      any JSON number; also the strings "NaN", "Infinity",
 *                      "+Infinity", "-Infinity" (what the encoder writes)
 *   decimal(p,s)       JSON number or string, parsed exactly from its text;
 *                      an exponent is allowed; more than `s` fraction digits
 *                      that are not zero, or more than p-s integer digits,
 *                      is an error (never silently rounded)
 *   string             JSON string; any other value is kept as its JSON text
 *                      (so a field inferred as string from mixed values
 *                      decodes every line)
 *   binary             base64 string (standard alphabet, padding optional)
 *   date               "YYYY-MM-DD"
 *   timestamp          ISO-8601 "YYYY-MM-DD[T| ]HH:MM[:SS[.f...]]" followed by
 *                      "Z" or an offset "+HH:MM" / "+HHMM" / "+HH"; a string
 *                      without zone is taken as UTC; a bare date is midnight
 *                      UTC; a JSON number is seconds since the epoch (exact,
 *                      fraction to microseconds). Digits past microseconds
 *                      are truncated.
 *   timestamp_ntz      the same strings without zone (a zone is an error);
 *                      numbers are seconds since 1970-01-01T00:00:00
 *   struct             JSON object; keys match field names exactly, else
 *                      case-insensitively; unknown keys are ignored
 *   array              JSON array
 *   map                JSON object (key text converted to the key type), or
 *                      an array of {"key": k, "value": v} objects (what the
 *                      encoder writes for non-string keys)
 *
 * A missing field or JSON null is a null value; a null where the schema
 * says not nullable (field, array element or map value) is an error. Every
 * error names the source, line number, byte offset of the value in the
 * whole input and the field path:
 *   "in.jsonl: line 17 (byte 3310): field 'amount': expected a number, got \"abc\""
 * A line is decoded completely before anything is appended, so a bad line
 * leaves the batch as it was (only an allocation failure while appending
 * can leave a partial row; the batch should then be discarded).
 *
 * Encoding writes one row as one JSON object and '\n': nulls as null,
 * timestamps "2024-01-02T03:04:05.123456Z" (always 6 fraction digits, UTC;
 * timestamp_ntz the same without "Z"), dates "YYYY-MM-DD", decimals as
 * strings with exactly `scale` fraction digits, binary as base64, doubles as
 * the shortest text that reads back to the same double; a float is widened
 * to double first and printed the same way (0.1f -> 0.10000000149011612), so
 * every JSON reader, which parses numbers as doubles, gets the exact stored
 * value. Integral values keep ".0" ("3.0"); NaN and infinities are the
 * strings "NaN", "Infinity", "-Infinity". Structs as
 * objects, arrays as arrays, maps as objects when the key type is string
 * and otherwise as arrays of {"key":..,"value":..}.
 *
 * Schema inference reads JSON lines and proposes a STRUCT schema: integers
 * -> long, widened to double when a fraction, exponent or an integer out of
 * long range appears; booleans; strings; objects -> struct (fields in order
 * of first appearance, merged across lines); arrays -> array of the merged
 * element type; values of incompatible kinds -> string; a field only ever
 * null (or an empty array's element, or an object only ever {}) -> string.
 * Keys that differ only in case are one field (first spelling wins), as
 * Delta column names are case-insensitive. Strings that look like
 * timestamps stay strings unless `infer_timestamps` is set.
 *
 * Framing: lines end with "\n" (a "\r" before it is dropped), blank lines
 * are skipped, a UTF-8 byte order mark at the very start of an input is
 * ignored.
 *
 * Threading: a decoder or inferrer is used by one thread at a time; the
 * encoder functions are reentrant. */
#ifndef WEIR_FORMATS_JSON_H
#define WEIR_FORMATS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/types.h"

/* Maximum nesting depth of arrays/objects accepted in one line. */
#define WEIR_JSON_MAX_DEPTH 256

struct weir_json_decoder;

struct weir_json_decode_options {
    const char *source;  /* name for messages (file path); NULL: none */
    bool reject_unknown; /* unknown keys are an error (default: ignored) */
    /* The record's own members that do not fit - an unknown key, or a
     * value a nullable field cannot hold - are set aside instead of
     * failing the record: the field is null and the member is kept, as
     * written, for weir_json_decoder_rescued. Nested values are rescued
     * with their top-level member. Ignored with reject_unknown. */
    bool rescue_fields;
};
void weir_json_decode_options_default(struct weir_json_decode_options *o);

/* `schema` must be a STRUCT (copied). opts may be NULL (defaults). */
int weir_json_decoder_create(struct weir_json_decoder **out, const struct weir_type *schema,
                             const struct weir_json_decode_options *opts, struct weir_error *err);
void weir_json_decoder_destroy(struct weir_json_decoder *d);
/* Start a new input: the source name (copied; NULL for none) and line 1,
 * byte 0. */
int weir_json_decoder_reset(struct weir_json_decoder *d, const char *source);

/* Decode `n` bytes of JSON lines, appending one row per non-blank line to
 * `b` (whose schema must equal the decoder's). The text must end at a line
 * boundary (the last line may lack '\n'); a trailing "\r" is ignored. Line
 * numbers and byte offsets continue across calls until the next reset.
 * *rows (may be NULL) gets the number of rows appended by this call. */
int weir_json_decode(struct weir_json_decoder *d, const char *text, size_t n, struct weir_batch *b,
                     size_t *rows, struct weir_error *err);

/* Decode one JSON object that is a whole record (e.g. a Kafka message
 * value; newlines inside are just whitespace) into one row of `b`. Records
 * are counted like lines ("record 12 (byte 40): field ..."), byte offsets
 * are within the record; reset restarts the count. Same all-or-nothing rule
 * as weir_json_decode. */
int weir_json_decode_record(struct weir_json_decoder *d, const char *text, size_t n, struct weir_batch *b,
                            struct weir_error *err);

/* The number the next weir_json_decode_record gives its record in
 * messages ("record N"): for a caller that knows where its records are,
 * such as the line of a file. */
void weir_json_decoder_set_record(struct weir_json_decoder *d, uint64_t n);

/* With rescue_fields, after a record decoded: the members set aside, as
 * the text of JSON object members ("\"extra\":1,\"amount\":\"abc\""),
 * *n = 0 when none; *unknown (may be NULL) gets how many were unknown
 * keys. Valid until the next decode call. */
const char *weir_json_decoder_rescued(const struct weir_json_decoder *d, size_t *n, size_t *unknown);

/* Append row `row` of `b` to `out` as one JSON object followed by '\n'. */
int weir_json_encode_row(const struct weir_batch *b, size_t row, struct weir_buf *out,
                         struct weir_error *err);
/* Append every row of `b`. */
int weir_json_encode_batch(const struct weir_batch *b, struct weir_buf *out, struct weir_error *err);
/* Append one value (row `row` of column `c`) as JSON, without newline. */
int weir_json_encode_value(const struct weir_column *c, size_t row, struct weir_buf *out,
                           struct weir_error *err);

/* Append `n` bytes of UTF-8 text as a quoted, escaped JSON string
 * (invalid UTF-8 bytes become \ufffd). 0 or WEIR_ENOMEM. */
int weir_json_append_string(struct weir_buf *out, const char *s, size_t n);

struct weir_json_inferrer;

struct weir_json_infer_options {
    const char *source;    /* name for messages */
    bool infer_timestamps; /* ISO strings with zone -> timestamp, without -> timestamp_ntz,
                              "YYYY-MM-DD" -> date (only when every value of the field is) */
};
void weir_json_infer_options_default(struct weir_json_infer_options *o);

int weir_json_inferrer_create(struct weir_json_inferrer **out, const struct weir_json_infer_options *opts,
                              struct weir_error *err);
void weir_json_inferrer_destroy(struct weir_json_inferrer *inf);
/* Start a new input (file name for messages, line 1). */
int weir_json_inferrer_reset(struct weir_json_inferrer *inf, const char *source);
/* Feed JSON lines (same framing as weir_json_decode). Every line must be an
 * object. */
int weir_json_infer(struct weir_json_inferrer *inf, const char *text, size_t n, struct weir_error *err);
/* The schema of everything fed so far (all fields nullable); WEIR_ESCHEMA
 * if no object with at least one field was seen. Caller owns *out. */
int weir_json_infer_schema(const struct weir_json_inferrer *inf, struct weir_type **out,
                           struct weir_error *err);

/* Helpers shared with other formats (CSV, partition values). */
/* Days since 1970-01-01 <-> civil date; parse accepts exactly "YYYY-MM-DD". */
int weir_json_parse_date(const char *s, size_t n, int32_t *days);
/* Parse an ISO-8601 timestamp as described above. *had_zone tells whether
 * a zone designator was present (the value is then UTC micros). */
int weir_json_parse_timestamp(const char *s, size_t n, int64_t *micros, bool *had_zone);
/* Exact decimal text -> unscaled value at `scale`; WEIR_ERANGE if it does
 * not fit precision/scale, WEIR_EPARSE if it is not a number. */
int weir_json_parse_decimal(const char *s, size_t n, int precision, int scale, weir_i128 *out);
/* Base64 (standard alphabet, padding optional) -> bytes into b (reset
 * first; NUL-terminated after len). 0, WEIR_EPARSE or WEIR_ENOMEM. */
int weir_json_base64_decode(const char *s, size_t n, struct weir_buf *b);
/* Formatting helpers: write into buf (NUL-terminated), return length. */
size_t weir_json_format_date(int32_t days, char buf[16]);
size_t weir_json_format_timestamp(int64_t micros, bool utc_z, char buf[40]);
size_t weir_json_format_decimal(weir_i128 v, int scale, char buf[48]);

#endif
