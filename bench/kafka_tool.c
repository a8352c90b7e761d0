/* bench/kafka_tool.c - a fast Kafka producer / consumer for weir's tests and
 * benchmarks (librdkafka).
 *
 *   kafka_tool produce --brokers B --topic T --count N [--partitions P]
 *                      [--seed S] [--start-id K] [--rate R] [-X key=value]...
 *   kafka_tool consume --brokers B --topic T [--count-only] [--timeout SEC]
 *                      [-X key=value]...
 *   kafka_tool generate --count N [--seed S] [--start-id K]   (JSON lines to stdout)
 *   kafka_tool schema                                          (the DDL below)
 *
 * Owns nothing beyond one process run; single-threaded apart from
 * librdkafka's own threads (its callbacks run inside rd_kafka_poll /
 * rd_kafka_flush on the main thread). Exit status: 0 ok, 1 runtime failure
 * (the reason on stderr), 2 usage.
 *
 * Record layout (the integration tests and the Kafka -> Delta benchmark rely
 * on it; change it only together with them). Record i of a run has
 * id = start-id + i; its value is one JSON object of about 200 bytes with
 * exactly these fields, in this order (KT_DDL is the matching schema, printed
 * by `kafka_tool schema`):
 *
 *   id          LONG       the id
 *   user        STRING     "user_%07d", h(1) % 100000
 *   amount      DOUBLE     (h(2) % 1000000) / 100, written with 2 decimals
 *   ts          TIMESTAMP  1700000000000000 + id*1000 + h(3) % 1000 microseconds,
 *                          ISO-8601 UTC with 6 fraction digits and "Z"
 *   country     STRING     "C%02d", h(4) % 50
 *   qty         INT        h(5) % 1000
 *   flag        BOOLEAN    h(6) & 1
 *   note        STRING     null when h(7) % 4 == 0, else "note_%d", h(7) / 4 % 1000
 *   event       STRING     KT_EVENTS[h(0) % 8]
 *   produced_at TIMESTAMP  wall-clock time the producer built the record
 *                          (the only field not determined by seed and id)
 *
 * where h(c) = mix((id*8 + c) XOR (seed * 0xD1B54A32D192ED03)) and mix is
 * splitmix64's finalizer: with seed 0, fields 1..7 equal row `id` of
 * bench/parquet_write.c. The key is the id in decimal; the partition is
 * id mod P (non-negative); records carry no headers. `generate` prints the
 * same values (produced_at = now) so a test can compare a table with them.
 *
 * produce prints one JSON summary line {records, bytes, seconds,
 * records_per_s, mb_per_s} where records/bytes count acknowledged records and
 * their value bytes, seconds runs from the first send until every record is
 * acknowledged (acks=all, idempotent producer, so a retry never duplicates),
 * and MB is 10^6 bytes. --rate R sends at most R records per second
 * (for latency runs); without it the producer runs flat out.
 *
 * consume assigns every partition of the topic (manual assignment: no group
 * membership, nothing committed), reads each from its log start offset up to
 * the high watermark it had when the run started, and prints the same
 * summary (seconds from assign to the last record; records newer than the
 * start-time watermark are not counted). --count-only prints instead
 * {"records": N, "partitions": {"0": n0, ...}}. A run that makes no progress
 * for --timeout seconds (default 60) fails, naming the partitions not done. */
#include <errno.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/util.h"
#include "formats/json.h"

#define KT_DDL                                                                                        \
    "id LONG, user STRING, amount DOUBLE, ts TIMESTAMP, country STRING, qty INT, flag BOOLEAN, note " \
    "STRING, "                                                                                        \
    "event STRING, produced_at TIMESTAMP"
#define KT_MAX_RECORD 512
#define KT_MAX_PROPS  32

static const char *const KT_EVENTS[8] = {"view",   "click",    "search", "add_to_cart",
                                         "remove", "purchase", "refund", "login"};

struct kt_args {
    const char *cmd;
    const char *brokers;
    const char *topic;
    uint64_t count;
    bool have_count;
    int partitions; /* 0: every partition of the topic */
    uint64_t seed;
    int64_t start_id;
    double rate; /* records/s, 0 = unlimited */
    bool count_only;
    int timeout_s;
    const char *props[KT_MAX_PROPS]; /* "key=value" for librdkafka */
    int nprops;
};

/* ---- the record generator ---- */

static inline uint64_t kt_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static inline uint64_t kt_h(int64_t id, uint64_t seed, unsigned col)
{
    return kt_mix(((uint64_t)id * 8 + col) ^ (seed * 0xD1B54A32D192ED03ULL));
}

/* Writes record `id` into buf (KT_MAX_RECORD bytes); returns its length. */
static size_t kt_record(char *buf, int64_t id, uint64_t seed, int64_t produced_at_us)
{
    char ts[40], pa[40], note[24];
    uint64_t h0 = kt_h(id, seed, 0), cents = kt_h(id, seed, 2) % 1000000, h7 = kt_h(id, seed, 7);
    weir_json_format_timestamp(1700000000000000LL + id * 1000 + (int64_t)(kt_h(id, seed, 3) % 1000), true,
                               ts);
    weir_json_format_timestamp(produced_at_us, true, pa);
    if (h7 % 4 == 0)
        snprintf(note, sizeof note, "null");
    else
        snprintf(note, sizeof note, "\"note_%d\"", (int)(h7 / 4 % 1000));
    int n = snprintf(buf, KT_MAX_RECORD,
                     "{\"id\":%" PRId64 ",\"user\":\"user_%07d\",\"amount\":%d.%02d,\"ts\":\"%s\","
                     "\"country\":\"C%02d\",\"qty\":%d,\"flag\":%s,\"note\":%s,\"event\":\"%s\","
                     "\"produced_at\":\"%s\"}",
                     id, (int)(kt_h(id, seed, 1) % 100000), (int)(cents / 100), (int)(cents % 100), ts,
                     (int)(kt_h(id, seed, 4) % 50), (int)(kt_h(id, seed, 5) % 1000),
                     (kt_h(id, seed, 6) & 1) ? "true" : "false", note, KT_EVENTS[h0 % 8], pa);
    return n > 0 && n < KT_MAX_RECORD ? (size_t)n : 0;
}

/* ---- shared librdkafka plumbing ---- */

static double kt_seconds_since(int64_t t0_ns)
{
    return (double)(weir_mono_ns() - t0_ns) / 1e9;
}

static void kt_print_summary(uint64_t records, uint64_t bytes, double seconds)
{
    double s = seconds > 0 ? seconds : 1e-9;
    printf("{\"records\": %" PRIu64 ", \"bytes\": %" PRIu64
           ", \"seconds\": %.3f, \"records_per_s\": %.1f, \"mb_per_s\": %.2f}\n",
           records, bytes, seconds, (double)records / s, (double)bytes / 1e6 / s);
    fflush(stdout);
}

static int kt_conf_set(rd_kafka_conf_t *conf, const char *key, const char *value, struct weir_error *err)
{
    char msg[256];
    if (rd_kafka_conf_set(conf, key, value, msg, sizeof msg) != RD_KAFKA_CONF_OK)
        return weir_error_set(err, WEIR_EINVAL, "librdkafka option %s: %s", key, msg);
    return 0;
}

/* Applies the -X key=value options (after the defaults, so they win). */
static int kt_conf_user(rd_kafka_conf_t *conf, const struct kt_args *a, struct weir_error *err)
{
    for (int i = 0; i < a->nprops; i++) {
        char key[128];
        const char *eq = strchr(a->props[i], '=');
        if (!eq || eq == a->props[i] || (size_t)(eq - a->props[i]) >= sizeof key)
            return weir_error_set(err, WEIR_EINVAL, "-X %s: expected key=value", a->props[i]);
        memcpy(key, a->props[i], (size_t)(eq - a->props[i]));
        key[eq - a->props[i]] = '\0';
        int rc = kt_conf_set(conf, key, eq + 1, err);
        if (rc)
            return rc;
    }
    return 0;
}

static void kt_error_cb(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)opaque;
    fprintf(stderr, "kafka_tool: %s: %s\n", rd_kafka_err2name((rd_kafka_resp_err_t)code), reason);
    (void)rk;
}

/* Creates a client of `type` with the common options, then the caller's
 * defaults (pairs in `defaults`, NULL-terminated), then -X options. */
static int kt_client_create(rd_kafka_t **out, rd_kafka_type_t type, const struct kt_args *a,
                            const char *const *defaults, void *opaque,
                            void (*dr_cb)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                            struct weir_error *err)
{
    char msg[512];
    int rc = 0;
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    *out = NULL;
    if ((rc = kt_conf_set(conf, "bootstrap.servers", a->brokers, err)) ||
        (rc = kt_conf_set(conf, "client.id", "weir-kafka-tool", err)))
        goto done;
    for (int i = 0; defaults && defaults[i]; i += 2)
        if ((rc = kt_conf_set(conf, defaults[i], defaults[i + 1], err)))
            goto done;
    if ((rc = kt_conf_user(conf, a, err)))
        goto done;
    rd_kafka_conf_set_error_cb(conf, kt_error_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    if (dr_cb)
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    *out = rd_kafka_new(type, conf, msg, sizeof msg);
    if (!*out) {
        rc = weir_error_set(err, WEIR_EINVAL, "creating the Kafka client: %s", msg);
        goto done;
    }
    conf = NULL; /* owned by the client now */
done:
    if (conf)
        rd_kafka_conf_destroy(conf);
    return rc;
}

/* A handle on `topic` into *rkt (the caller destroys it, also on failure)
 * and its number of partitions into *n; fails if the topic does not exist. */
static int kt_topic_open(rd_kafka_t *rk, const char *topic, rd_kafka_topic_t **rkt, int *n,
                         struct weir_error *err)
{
    const struct rd_kafka_metadata *md = NULL;
    int rc = 0;
    *rkt = rd_kafka_topic_new(rk, topic, NULL);
    if (!*rkt)
        return weir_error_set(err, WEIR_EINVAL, "topic %s: %s", topic,
                              rd_kafka_err2str(rd_kafka_last_error()));
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, *rkt, &md, 15000);
    if (e) {
        rc = weir_error_set(err, WEIR_EIO, "metadata for topic %s: %s", topic, rd_kafka_err2str(e));
        err->retriable = true;
        goto done;
    }
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt <= 0) {
        rc = weir_error_set(err, WEIR_ENOTFOUND, "topic %s: %s", topic,
                            md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                                    : "no partitions");
        goto done;
    }
    *n = md->topics[0].partition_cnt;
done:
    if (md)
        rd_kafka_metadata_destroy(md);
    return rc;
}

/* ---- produce ---- */

struct kt_produce_state {
    uint64_t acked;
    uint64_t bytes;
    uint64_t failed;
    char first_error[256];
};

static void kt_delivery_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct kt_produce_state *st = opaque;
    (void)rk;
    if (m->err) {
        if (st->failed++ == 0)
            snprintf(st->first_error, sizeof st->first_error, "partition %" PRId32 ": %s", m->partition,
                     rd_kafka_err2str(m->err));
        return;
    }
    st->acked++;
    st->bytes += m->len;
}

static void kt_sleep_ns(int64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int kt_produce(const struct kt_args *a, struct weir_error *err)
{
    static const char *const defaults[] = {"acks",
                                           "all",
                                           "enable.idempotence",
                                           "true",
                                           "linger.ms",
                                           "10",
                                           "batch.num.messages",
                                           "10000",
                                           "batch.size",
                                           "1000000",
                                           "queue.buffering.max.messages",
                                           "1000000",
                                           "queue.buffering.max.kbytes",
                                           "1048576",
                                           "message.timeout.ms",
                                           "120000",
                                           NULL};
    struct kt_produce_state st = {0};
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    int rc, nparts = 0;
    if ((rc = kt_client_create(&rk, RD_KAFKA_PRODUCER, a, defaults, &st, kt_delivery_cb, err)) ||
        (rc = kt_topic_open(rk, a->topic, &rkt, &nparts, err)))
        goto done;
    int parts = a->partitions > 0 ? a->partitions : nparts;
    if (parts > nparts) {
        rc = weir_error_set(err, WEIR_EINVAL, "topic %s has %d partitions, --partitions asks for %d",
                            a->topic, nparts, parts);
        goto done;
    }
    char value[KT_MAX_RECORD], key[24];
    int64_t t0 = weir_mono_ns();
    for (uint64_t i = 0; i < a->count && st.failed == 0; i++) {
        int64_t id = a->start_id + (int64_t)i;
        if (a->rate > 0) {
            int64_t due = t0 + (int64_t)((double)i * 1e9 / a->rate);
            for (int64_t ahead; (ahead = due - weir_mono_ns()) > 0;) {
                rd_kafka_poll(rk, 0);
                kt_sleep_ns(ahead < 5000000 ? ahead : 5000000);
            }
        }
        size_t vlen = kt_record(value, id, a->seed, weir_now_us());
        int klen = snprintf(key, sizeof key, "%" PRId64, id);
        int32_t part = (int32_t)(((id % parts) + parts) % parts);
        for (;;) {
            if (rd_kafka_produce(rkt, part, RD_KAFKA_MSG_F_COPY, value, vlen, key, (size_t)klen, NULL) == 0)
                break;
            rd_kafka_resp_err_t e = rd_kafka_last_error();
            if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rc = weir_error_set(err, WEIR_EIO, "producing id %" PRId64 " to %s [%" PRId32 "]: %s", id,
                                    a->topic, part, rd_kafka_err2str(e));
                goto done;
            }
            rd_kafka_poll(rk, 10); /* the queue drains as deliveries come back */
        }
        if ((i & 1023) == 0)
            rd_kafka_poll(rk, 0);
    }
    rd_kafka_resp_err_t fe = rd_kafka_flush(rk, 180000);
    double seconds = kt_seconds_since(t0);
    if (st.failed) {
        rc = weir_error_set(err, WEIR_EIO, "%" PRIu64 " records to %s not delivered, first: %s", st.failed,
                            a->topic, st.first_error);
        goto done;
    }
    if (fe) {
        rc = weir_error_set(err, WEIR_ERETRY, "flushing to %s: %s (%d records outstanding)", a->topic,
                            rd_kafka_err2str(fe), rd_kafka_outq_len(rk));
        err->retriable = true;
        goto done;
    }
    kt_print_summary(st.acked, st.bytes, seconds);
done:
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk)
        rd_kafka_destroy(rk);
    return rc;
}

/* ---- consume ---- */

struct kt_part {
    int64_t low, high; /* watermarks at start */
    uint64_t count;
    int64_t last; /* last offset read, -1 none */
    bool done;
};

static int kt_consume(const struct kt_args *a, struct weir_error *err)
{
    /* group.id only because librdkafka's assign() needs a group handle: the
     * client never joins the group and never commits. */
    static const char *const defaults[] = {"group.id",
                                           "weir-kafka-tool",
                                           "enable.auto.commit",
                                           "false",
                                           "enable.auto.offset.store",
                                           "false",
                                           "enable.partition.eof",
                                           "true",
                                           "queued.min.messages",
                                           "200000",
                                           "fetch.wait.max.ms",
                                           "100",
                                           NULL};
    enum { BATCH = 4096 };
    rd_kafka_t *rk = NULL;
    rd_kafka_topic_t *rkt = NULL;
    rd_kafka_queue_t *q = NULL;
    rd_kafka_topic_partition_list_t *tpl = NULL;
    rd_kafka_message_t **msgs = NULL;
    struct kt_part *parts = NULL;
    int rc, nparts = 0, remaining = 0;
    uint64_t records = 0, bytes = 0;
    if ((rc = kt_client_create(&rk, RD_KAFKA_CONSUMER, a, defaults, NULL, NULL, err)) ||
        (rc = kt_topic_open(rk, a->topic, &rkt, &nparts, err)))
        goto done;
    parts = weir_calloc((size_t)nparts, sizeof *parts);
    msgs = weir_calloc(BATCH, sizeof *msgs);
    tpl = rd_kafka_topic_partition_list_new(nparts);
    if (!parts || !msgs || !tpl) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory for %d partitions", nparts);
        goto done;
    }
    for (int p = 0; p < nparts; p++) {
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, a->topic, p, &parts[p].low, &parts[p].high, 15000);
        if (e) {
            rc = weir_error_set(err, WEIR_EIO, "watermarks of %s [%d]: %s", a->topic, p, rd_kafka_err2str(e));
            err->retriable = true;
            goto done;
        }
        parts[p].last = -1;
        parts[p].done = parts[p].high <= parts[p].low;
        if (!parts[p].done) {
            rd_kafka_topic_partition_list_add(tpl, a->topic, p)->offset = parts[p].low;
            remaining++;
        }
    }
    int64_t t0 = weir_mono_ns();
    rd_kafka_resp_err_t e = rd_kafka_assign(rk, tpl);
    if (e) {
        rc = weir_error_set(err, WEIR_EIO, "assigning the partitions of %s: %s", a->topic,
                            rd_kafka_err2str(e));
        goto done;
    }
    q = rd_kafka_queue_get_consumer(rk);
    if (!q) {
        rc = weir_error_set(err, WEIR_ESTATE, "no consumer queue");
        goto done;
    }
    int64_t last_progress = t0;
    while (remaining > 0) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 200, msgs, BATCH);
        if (n < 0) {
            rc = weir_error_set(err, WEIR_EIO, "consuming %s: %s", a->topic,
                                rd_kafka_err2str(rd_kafka_last_error()));
            goto done;
        }
        for (ssize_t i = 0; i < n; i++) {
            rd_kafka_message_t *m = msgs[i];
            int32_t p = m->partition;
            if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                /* the end of the log as of now: done when it is past the start-time high */
                if (p >= 0 && p < nparts && !parts[p].done && m->offset >= parts[p].high) {
                    parts[p].done = true;
                    remaining--;
                }
            } else if (m->err) {
                fprintf(stderr, "kafka_tool: %s [%" PRId32 "]: %s\n", a->topic, p,
                        rd_kafka_message_errstr(m));
            } else if (p >= 0 && p < nparts && !parts[p].done) {
                struct kt_part *pp = &parts[p];
                if (m->offset < pp->high) {
                    pp->count++;
                    records++;
                    bytes += m->len;
                }
                pp->last = m->offset;
                if (m->offset >= pp->high - 1) {
                    pp->done = true;
                    remaining--;
                }
                last_progress = weir_mono_ns();
            }
            rd_kafka_message_destroy(m);
        }
        char fatal[256];
        if (rd_kafka_fatal_error(rk, fatal, sizeof fatal)) {
            rc = weir_error_set(err, WEIR_EIO, "consuming %s: fatal: %s", a->topic, fatal);
            goto done;
        }
        if (remaining > 0 && weir_mono_ns() - last_progress > (int64_t)a->timeout_s * 1000000000) {
            char list[512];
            size_t off = 0;
            list[0] = '\0';
            for (int p = 0; p < nparts && off + 64 < sizeof list; p++)
                if (!parts[p].done)
                    off += (size_t)snprintf(list + off, sizeof list - off, "%s%d at %" PRId64 " of %" PRId64,
                                            off ? ", " : "", p, parts[p].last + 1, parts[p].high);
            rc = weir_error_set(err, WEIR_ERETRY, "no progress on %s for %d s; partitions not done: %s",
                                a->topic, a->timeout_s, list);
            err->retriable = true;
            goto done;
        }
    }
    double seconds = kt_seconds_since(t0);
    if (a->count_only) {
        printf("{\"records\": %" PRIu64 ", \"partitions\": {", records);
        for (int p = 0; p < nparts; p++)
            printf("%s\"%d\": %" PRIu64, p ? ", " : "", p, parts[p].count);
        printf("}}\n");
        fflush(stdout);
    } else {
        kt_print_summary(records, bytes, seconds);
    }
done:
    if (q)
        rd_kafka_queue_destroy(q);
    if (rk && tpl)
        rd_kafka_assign(rk, NULL);
    if (tpl)
        rd_kafka_topic_partition_list_destroy(tpl);
    if (rkt)
        rd_kafka_topic_destroy(rkt);
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    weir_free(msgs);
    weir_free(parts);
    return rc;
}

/* ---- generate / schema ---- */

static int kt_generate(const struct kt_args *a, struct weir_error *err)
{
    char value[KT_MAX_RECORD];
    for (uint64_t i = 0; i < a->count; i++) {
        size_t n = kt_record(value, a->start_id + (int64_t)i, a->seed, weir_now_us());
        value[n] = '\n';
        if (fwrite(value, 1, n + 1, stdout) != n + 1)
            return weir_error_set(err, WEIR_EIO, "writing record %" PRIu64 " to stdout", i);
    }
    if (fflush(stdout) != 0)
        return weir_error_set(err, WEIR_EIO, "writing to stdout");
    return 0;
}

/* ---- command line ---- */

static void kt_usage(FILE *f)
{
    fprintf(
        f,
        "usage: kafka_tool produce --brokers B --topic T --count N [--partitions P] [--seed S]\n"
        "                          [--start-id K] [--rate R] [-X key=value]...\n"
        "       kafka_tool consume --brokers B --topic T [--count-only] [--timeout SEC] [-X key=value]...\n"
        "       kafka_tool generate --count N [--seed S] [--start-id K]\n"
        "       kafka_tool schema\n");
}

static bool kt_parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

/* Returns 0, or 2 after printing a usage error. */
static int kt_parse_args(int argc, char **argv, struct kt_args *a)
{
    memset(a, 0, sizeof *a);
    a->timeout_s = 60;
    if (argc < 2) {
        kt_usage(stderr);
        return 2;
    }
    a->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--count-only")) {
            a->count_only = true;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "kafka_tool: %s needs a value\n", o);
            return 2;
        }
        const char *v = argv[++i];
        int64_t n = 0;
        bool num_ok = kt_parse_i64(v, &n);
        if (!strcmp(o, "--brokers")) {
            a->brokers = v;
        } else if (!strcmp(o, "--topic")) {
            a->topic = v;
        } else if (!strcmp(o, "--count") && num_ok && n >= 0) {
            a->count = (uint64_t)n;
            a->have_count = true;
        } else if (!strcmp(o, "--partitions") && num_ok && n > 0 && n <= 100000) {
            a->partitions = (int)n;
        } else if (!strcmp(o, "--seed") && num_ok) {
            a->seed = (uint64_t)n;
        } else if (!strcmp(o, "--start-id") && num_ok) {
            a->start_id = n;
        } else if (!strcmp(o, "--timeout") && num_ok && n > 0 && n <= 86400) {
            a->timeout_s = (int)n;
        } else if (!strcmp(o, "--rate")) {
            char *end;
            a->rate = strtod(v, &end);
            if (end == v || *end || !(a->rate >= 0)) {
                fprintf(stderr, "kafka_tool: --rate %s: expected records per second >= 0\n", v);
                return 2;
            }
        } else if (!strcmp(o, "-X") && a->nprops < KT_MAX_PROPS) {
            a->props[a->nprops++] = v;
        } else {
            fprintf(stderr, "kafka_tool: bad option or value: %s %s\n", o, v);
            return 2;
        }
    }
    bool produce = !strcmp(a->cmd, "produce"), consume = !strcmp(a->cmd, "consume");
    if ((produce || consume) && (!a->brokers || !a->topic)) {
        fprintf(stderr, "kafka_tool %s: --brokers and --topic are required\n", a->cmd);
        return 2;
    }
    if ((produce || !strcmp(a->cmd, "generate")) && !a->have_count) {
        fprintf(stderr, "kafka_tool %s: --count is required\n", a->cmd);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct kt_args a;
    struct weir_error err = {0};
    int rc = kt_parse_args(argc, argv, &a);
    if (rc)
        return rc;
    if (!strcmp(a.cmd, "schema")) {
        printf("%s\n", KT_DDL);
        return 0;
    }
    if (!strcmp(a.cmd, "produce"))
        rc = kt_produce(&a, &err);
    else if (!strcmp(a.cmd, "consume"))
        rc = kt_consume(&a, &err);
    else if (!strcmp(a.cmd, "generate"))
        rc = kt_generate(&a, &err);
    else if (!strcmp(a.cmd, "-h") || !strcmp(a.cmd, "--help")) {
        kt_usage(stdout);
        return 0;
    } else {
        kt_usage(stderr);
        return 2;
    }
    if (rc) {
        fprintf(stderr, "kafka_tool %s: %s\n", a.cmd, err.message[0] ? err.message : weir_strerror(rc));
        return 1;
    }
    return 0;
}
