/* sources/source.h - the source interface: plan a micro-batch, then read it.
 *
 * A source names positions in its input with offsets, serialized as JSON
 * text so the offset log (checkpoint offsets/N) is readable by a person:
 *   kafka    {"orders":{"0":1200,"1":1184}}   per topic, per partition: the
 *            next offset to read (Spark's KafkaSourceOffset layout)
 *   datagen  {"rows":50000}                   rows generated so far
 *   files    {"seq":120}                      files discovered before this point
 *            (numbered in the order found; the numbers live in the
 *            checkpoint's file index, sources/0/files)
 * A batch is the half-open range [start, end). The engine never interprets
 * offsets; it stores them and hands them back.
 *
 * The exactly-once contract (docs/architecture.md): read(start, end) returns
 * the same records every time it is called with the same range, as long as
 * they still exist at the source. A replay after a crash calls read() with
 * the offsets recorded in offsets/N before the crash.
 *
 * Lifecycle, all calls from the pipeline's thread:
 *   create -> initial (only for a new checkpoint; the engine persists the
 *   result in sources/0/0) -> { plan -> read -> commit }* -> destroy.
 *
 * Errors: a transient failure (broker unavailable, timeout) sets
 * err->retriable; the engine then retries the whole batch with backoff and
 * the same offsets. Anything else stops the pipeline. */
#ifndef WEIR_SOURCES_SOURCE_H
#define WEIR_SOURCES_SOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/buf.h"
#include "core/error.h"
#include "core/types.h"

struct weir_config_pipeline;
struct weir_source;

/* Receives the records of a batch, a columnar batch at a time, in source
 * order within each partition. The batch is valid only during the call. A
 * non-zero return stops the read and is returned from read(). */
typedef int (*weir_source_emit_cb)(void *ctx, const struct weir_batch *batch, struct weir_error *err);

struct weir_source_plan {
    char *end;           /* offsets JSON (owned, weir_free); == start when no new data */
    char *latest;        /* the newest offsets the source knows of (for progress); owned, may be NULL */
    bool has_data;       /* end is past start */
    int64_t num_offsets; /* records in [start, end) as far as the source can tell (-1 unknown) */
};
void weir_source_plan_clear(struct weir_source_plan *p);

struct weir_source_ops {
    /* Offsets to start from when the checkpoint is new (e.g. Kafka's
     * starting_offsets resolved to concrete numbers). *out owned. */
    int (*initial)(struct weir_source *s, char **out, struct weir_error *err);
    /* Decide the end of the next batch from `start`, within the source's own
     * per-trigger limits. With `cap` (non-NULL, from an earlier plan) the end
     * never passes cap: --available-now plans once without limits at start,
     * then batches up to that snapshot. `available_now` disables the
     * minimum-size wait (min_offsets_per_trigger). */
    int (*plan)(struct weir_source *s, const char *start, const char *cap, bool available_now,
                struct weir_source_plan *out, struct weir_error *err);
    /* Deliver the records of [start, end) to cb. */
    int (*read)(struct weir_source *s, const char *start, const char *end, weir_source_emit_cb cb, void *ctx,
                struct weir_error *err);
    /* Optional (NULL): the batch ending at `end` is committed everywhere
     * (e.g. Kafka consumer-group offsets for lag monitors). Failures are
     * only logged. */
    int (*commit)(struct weir_source *s, const char *end, struct weir_error *err);
    /* Optional: append extra progress metrics as JSON members (without
     * braces, e.g. "\"dataLossRecords\":0"), or nothing. */
    int (*metrics)(struct weir_source *s, struct weir_buf *out);
    void (*destroy)(struct weir_source *s);
};

struct weir_source {
    const struct weir_source_ops *ops;
    const struct weir_type *schema; /* of the batches read emits (owned by the source) */
    char *description;              /* "KafkaV2[Subscribe[orders]]", owned */
    const char *pipeline;           /* name, for log lines (borrowed from the config) */
    /* read() may return WEIR_EEVOLVED: it found new columns, `schema` now
     * has them (same fields first, new ones at the end), and the batch must
     * run again from the start with the new schema; the sink then adds the
     * columns to its table. */
    bool evolves_schema;
};

/* What a source may keep in the pipeline's checkpoint besides its
 * offsets (the files source's index and schema log). */
struct weir_store;
struct weir_source_env {
    struct weir_store *checkpoint; /* the checkpoint's store (borrowed) */
    const char *local_dir;         /* where its databases are worked on */
    bool remote;                   /* the store is an object store: databases are saved there too */
};

/* Create the source configured in `p` (p->source). `env` may be NULL for
 * sources that keep nothing (Kafka, datagen). */
int weir_source_create(const struct weir_config_pipeline *p, const struct weir_source_env *env,
                       struct weir_source **out, struct weir_error *err);
void weir_source_destroy(struct weir_source *s); /* NULL ok */

/* The schema of the batches the configured source emits, without
 * connecting to anything (for `weir validate`). Caller owns *out. */
int weir_source_schema(const struct weir_config_pipeline *p, struct weir_type **out, struct weir_error *err);

/* Per kind (sources/kafka.c, sources/datagen.c). */
/* key, value, topic, partition, offset, timestamp, timestamp_type
 * [, headers]; NULL on allocation failure. */
struct weir_type *weir_source_kafka_schema(bool include_headers);
/* Parse Kafka offsets JSON ({"topic":{"0":12}}) as read from an offsets
 * file and write it back in canonical form (topics by name, partitions by
 * number, no spaces). WEIR_EPARSE naming what is wrong. *out owned. */
int weir_source_kafka_offsets_normalize(const char *text, char **out, struct weir_error *err);
int weir_source_kafka_create(const struct weir_config_pipeline *p, struct weir_source **out,
                             struct weir_error *err);

/* New positions of a Kafka source (`weir checkpoint reset-offsets`). */
enum weir_kafka_reset_to {
    WEIR_KAFKA_RESET_EARLIEST = 0, /* each partition's log start */
    WEIR_KAFKA_RESET_LATEST,       /* each partition's end: only records produced later are read */
    WEIR_KAFKA_RESET_TIMESTAMP,    /* first offset at or after a time; the end when there is none */
    WEIR_KAFKA_RESET_OFFSETS       /* given offsets JSON; no broker asked */
};
struct weir_kafka_reset {
    int to;               /* enum weir_kafka_reset_to */
    int64_t timestamp_ms; /* WEIR_KAFKA_RESET_TIMESTAMP */
    const char *offsets;  /* WEIR_KAFKA_RESET_OFFSETS: {"topic":{"0":12,"1":40}} */
    const char *topic;    /* only this topic moves (NULL: every topic of the reset) */
};
/* One topic-partition before and after a reset. */
#define WEIR_KAFKA_NO_OFFSET (-1) /* the partition is not in those offsets */
struct weir_kafka_move {
    char *topic; /* owned */
    int32_t partition;
    int64_t from, to; /* next offset to read, or WEIR_KAFKA_NO_OFFSET */
};
struct weir_kafka_reset_result {
    char *offsets;                 /* the new offsets JSON, canonical (owned) */
    struct weir_kafka_move *moves; /* every partition of the old or new offsets, sorted */
    size_t nmoves;
};
void weir_kafka_reset_result_clear(struct weir_kafka_reset_result *r);
/* The offsets `current` (a Kafka source's offsets JSON) with the topics of
 * the reset moved: with _OFFSETS the topics the JSON names (only r->topic
 * when set) take exactly the partitions and offsets it gives; otherwise
 * every topic the pipeline `p` subscribes to (only r->topic when set) takes
 * every partition it has now, at the offset the brokers name for r->to,
 * asked with p's bootstrap servers and kafka properties. Partitions of a
 * reset topic that are no longer there leave the offsets; a partition the
 * result lacks is read from its log start when the source meets it (as
 * for a partition added later). Other topics keep their offsets. `p` may
 * be NULL for _OFFSETS (then the topics it names are not checked against
 * the subscription). WEIR_EINVAL when the JSON does not parse or names
 * nothing of r->topic, WEIR_ECONFIG when r->topic (or a topic the JSON
 * names) is not subscribed,
 * WEIR_ENOTFOUND when a topic to reset does not exist; a broker that
 * cannot be reached fails as plan() does. */
int weir_source_kafka_reset(const struct weir_config_pipeline *p, const char *current,
                            const struct weir_kafka_reset *r, struct weir_kafka_reset_result *out,
                            struct weir_error *err);
/* True if a librdkafka property key names a secret (password, secret,
 * sasl.jaas, ssl.key): its value is never printed. */
bool weir_source_kafka_key_is_secret(const char *key);
int weir_source_datagen_create(const struct weir_config_pipeline *p, struct weir_source **out,
                               struct weir_error *err);
/* sources/files.c: the rows' schema (fields, _rescued_data, _metadata when
 * a step mentions it); *decl (may be NULL) gets the decoded fields alone.
 * WEIR_ENOTFOUND when the schema is to be inferred at the first run. */
int weir_source_files_schema(const struct weir_config_pipeline *p, struct weir_type **decl,
                             struct weir_type **out, struct weir_error *err);
int weir_source_files_create(const struct weir_config_pipeline *p, const struct weir_source_env *env,
                             struct weir_source **out, struct weir_error *err);

#endif
