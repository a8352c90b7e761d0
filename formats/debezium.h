/* formats/debezium.h - Debezium change events -> columnar batches, one
 * stream of batches per source table.
 *
 * A change event is a Kafka message whose value is a Debezium envelope,
 * with or without the JsonConverter wrapper {"schema": ..., "payload": ...}:
 *
 *   {"before": {...} | null, "after": {...} | null,
 *    "source": {"db", "schema", "table", "ts_ms", "snapshot",
 *               "lsn" | "file"+"pos"+"row" | "scn" | "change_lsn", "txId" ...},
 *    "op": "c" | "u" | "d" | "r" | "t", "ts_ms": ...}
 *
 * and whose key (when present) holds the primary key: {"id": 42}. A null
 * value is a tombstone.
 *
 * Output. Every source table (db, schema, table) has its own schema, grown
 * as events show new columns (a column never disappears: one that events
 * stop carrying is null from then on), and its own batch of decoded rows:
 *
 *   the row columns   the image after the change (c, u, r) or before it
 *                     (d: often only the key columns are present); all
 *                     null for t
 *   __op              STRING   c, u, d, r or t
 *   __seq             DECIMAL(38,0), the event's place in the source's
 *                     history, see "Sequence" below
 *   __source_db, __source_schema, __source_table      STRING
 *   __source_ts       TIMESTAMP  when the change happened in the database
 *                     (source.ts_us / ts_ns / ts_ms, the finest present)
 *   __position        STRING   the source position as the database writes
 *                     it: "lsn 0/16B3748" (PostgreSQL), "mysql-bin.000003:
 *                     154:0" (MySQL file:pos:row), "scn 123" (Oracle),
 *                     "lsn 00000027:00000758:0003" (SQL Server)
 *   __tx_id           STRING   source.txId / source.gtid / transaction.id
 *   __snapshot        BOOLEAN  the event is part of a snapshot
 *   __ts              TIMESTAMP  when Debezium processed the event
 *   _rescued_data     STRING   (rescue_fields only) the row members that
 *                     did not fit their column, as a JSON object
 *
 * The __op field's metadata names the table and its key, for the sink:
 *   {"weir.cdc":{"db":..,"schema":..,"table":..,"keys":["id",...]}}
 * (keys from the message key's fields, in order; [] when no event of the
 * table had a key).
 *
 * Column types. With the envelope's schema, Connect types and Debezium's
 * logical types map to Delta types:
 *   int8/16/32/64 -> byte/short/integer/long; float32/64 -> float/double;
 *   boolean; string -> string; bytes -> binary;
 *   org.apache.kafka.connect.data.Decimal (base64 two's complement, scale
 *     in the parameters) -> decimal(p,s) with p from
 *     connect.decimal.precision (38 when absent or larger; then s <= 18);
 *   io.debezium.data.VariableScaleDecimal {scale, value} -> decimal(38,18);
 *   io.debezium.time.Date, connect Date (days) -> date;
 *   io.debezium.time.Timestamp, connect Timestamp (ms), MicroTimestamp
 *     (us), NanoTimestamp (ns), ZonedTimestamp (ISO text) -> timestamp
 *     (zone-less database timestamps are taken as UTC);
 *   io.debezium.time.Time, connect Time (ms), MicroTime (us), NanoTime
 *     (ns), ZonedTime -> string "HH:MM:SS[.ffffff]";
 *   io.debezium.data.Json, Uuid, Enum, EnumSet, Xml, other named strings
 *     -> string;
 *   arrays, maps and other structs -> string (their JSON text).
 * Without the envelope's schema, a column's type comes from the declared
 * `schema` when one is given (values are then read by the declared type:
 * a decimal from its text, or from base64 bytes when the text is not a
 * number; a date from "YYYY-MM-DD" or days; a timestamp from ISO text or
 * microseconds), else from its first non-null value: integer -> long,
 * other number -> double, boolean, string, object/array -> string (JSON
 * text); a column only ever null so far is a string. With a declared
 * schema the columns are exactly the declared ones (members it does not
 * name are rescued or ignored) and types never change.
 *
 * Sequence. __seq orders the changes of one table: the position first,
 * then the source time in milliseconds, as one integer
 *   position * 10^13 + ts_ms
 * where position is the PostgreSQL lsn, the Oracle scn, the SQL Server
 * change_lsn read as an 80-bit number, or for MySQL
 * (binlog file number * 10^10 + pos) * 10^6 + row; without a position it
 * is ts_ms alone. A position too large for that form fails the event.
 *
 * Errors. An event that cannot be applied - not JSON, not an object, no
 * or unknown op, c/u/r without after, d without before, no source table,
 * a key column's value that does not convert - fails with a reason; the
 * caller dead-letters it or fails the batch. A non-key value that does not
 * fit its column fails the event too, unless rescue_fields: then the value
 * is null and the member goes to _rescued_data. A tombstone is skipped, or
 * with tombstone_deletes becomes a delete of its key (table from earlier
 * events of the same topic, else the topic name's last two parts).
 *
 * Threading: a decoder belongs to one thread at a time. */
#ifndef WEIR_FORMATS_DEBEZIUM_H
#define WEIR_FORMATS_DEBEZIUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/error.h"
#include "core/types.h"

/* Names of the metadata columns. */
#define WEIR_DBZ_OP       "__op"
#define WEIR_DBZ_SEQ      "__seq"
#define WEIR_DBZ_RESCUED  "_rescued_data"
#define WEIR_DBZ_META_KEY "weir.cdc"
#define WEIR_DBZ_NMETA    10 /* __op .. __ts */

struct weir_dbz_decoder;

struct weir_dbz_options {
    const struct weir_type *schema; /* declared row columns (STRUCT, copied); NULL: none */
    bool rescue_fields;             /* see Errors above */
    bool tombstone_deletes;         /* a tombstone deletes its key */
};
void weir_dbz_options_default(struct weir_dbz_options *o);

int weir_dbz_decoder_create(struct weir_dbz_decoder **out, const struct weir_dbz_options *o,
                            struct weir_error *err);
void weir_dbz_decoder_destroy(struct weir_dbz_decoder *d); /* NULL ok */

/* What weir_dbz_decode did with an event. */
enum weir_dbz_result {
    WEIR_DBZ_ROW = 0, /* one row appended to its table's batch */
    WEIR_DBZ_SKIPPED, /* a tombstone, ignored */
};

/* Decode one event: `key` (NULL/0: none), `value` (NULL: tombstone),
 * `topic` (NULL ok; for tombstones). *res gets what happened. On a bad
 * event returns WEIR_EPARSE with the reason in err, and nothing is
 * appended anywhere; WEIR_ENOMEM leaves the decoder usable but the
 * pending rows should be discarded. */
int weir_dbz_decode(struct weir_dbz_decoder *d, const uint8_t *key, size_t key_len, const uint8_t *value,
                    size_t value_len, const char *topic, enum weir_dbz_result *res, struct weir_error *err);

/* The decoded rows, in the order they must be applied per table: *out
 * gets a batch the caller owns (destroy it), NULL when none is left. A
 * table's rows come in one batch, or several when its schema grew in
 * between (older schema first). */
int weir_dbz_take(struct weir_dbz_decoder *d, struct weir_batch **out);

/* Drop every pending row (a failed micro-batch). */
void weir_dbz_discard(struct weir_dbz_decoder *d);

/* Whether `name` is one of the metadata columns (__op .. __ts), in any case. */
bool weir_dbz_is_metadata(const char *name);

/* The metadata columns alone (__op .. __ts), as a new STRUCT; NULL on
 * allocation failure. */
struct weir_type *weir_dbz_metadata_schema(void);

/* The table named by a batch weir_dbz_take gave: from the __op field's
 * metadata. Strings are malloc'd (weir_free); keys NULL-terminated, NULL
 * when none. 0, WEIR_EINVAL (no such metadata) or WEIR_ENOMEM. */
struct weir_dbz_table_id {
    char *db, *schema, *table;
    char **keys;
    size_t nkeys;
};
int weir_dbz_table_of(const struct weir_type *schema, struct weir_dbz_table_id *id);
void weir_dbz_table_id_free(struct weir_dbz_table_id *id);

#endif
