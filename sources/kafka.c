/* sources/kafka.c - the Kafka source: librdkafka consumer, offsets kept in
 * the checkpoint.
 *
 * Owns one librdkafka consumer handle (rd_kafka_t) per pipeline, its
 * consumer queue, the compiled topic_pattern and the data-loss counters.
 * It never subscribes to a consumer group: every read() assigns exactly the
 * partitions of its range at their start offsets (rd_kafka_assign), consumes
 * until each partition reached its end offset and unassigns again, so the
 * same (start, end) always yields the same records. Offsets travel as
 * Spark's KafkaSourceOffset JSON, {"topic":{"0":123,"1":456}}: per
 * partition the next offset to read; topics sorted by name, partitions by
 * number, so equal offsets are equal text.
 *
 * Invariants:
 *   - enable.auto.commit=false and auto.offset.reset=error are forced, so an
 *     offset that is gone surfaces as an error here and is judged by the
 *     fail_on_data_loss rules instead of being silently reset;
 *   - a partition in `end` but not in `start` is new and is read from its
 *     log start; records at or past `end` are never delivered;
 *   - an `end` below `start` is written only by plan() after it saw a
 *     re-created (shrunk) partition with fail_on_data_loss=false: read()
 *     then reads that partition from its log start up to `end`;
 *   - data loss is counted where records are actually skipped (read), so a
 *     replayed batch is not counted twice by plan and read.
 *
 * Threading: every entry point runs on the pipeline's thread. librdkafka's
 * log callback runs on its internal threads and only calls WEIR_LOG (which
 * is thread-safe); the error callback is served from the consumer queue on
 * the pipeline's thread (rd_kafka_poll_set_consumer). */
#include <errno.h>
#include <inttypes.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#include "core/alloc.h"
#include "core/json.h"
#include "core/log.h"
#include "core/util.h"
#include "sources/source.h"
#include "stream/config.h"

/* Transient failures are retried inside one call for this long without
 * progress before the call gives up with WEIR_ERETRY. */
#define KAFKA_STALL_MS       30000
/* A request that may block (metadata, list offsets) waits at most this long
 * per attempt. */
#define KAFKA_REQUEST_MS     10000
/* Budget of the range checks made in the middle of a read. */
#define KAFKA_CHECK_MS       10000
/* A partition whose log ends below the planned end offset is given this
 * long to catch up (a new leader's high watermark may lag briefly) before
 * the missing range counts as lost. */
#define KAFKA_SHORT_GRACE_MS 5000
/* Emitted batch bounds. */
#define KAFKA_BATCH_ROWS     65536
#define KAFKA_BATCH_BYTES    (16u << 20)
#define KAFKA_CONSUME_MAX    1024
#define KAFKA_POLL_MS        10    /* consume wait per call */
#define KAFKA_STARVE_MS      20    /* queue dry this long after being deep: kick the fetcher */
#define KAFKA_DEEP_QUEUE     10000 /* records waiting that mean the prefetch limit sets the pace */
#define KAFKA_WAKE_MS        50    /* bound on the request that wakes a fetcher */
/* list_offsets: the partition does not exist (topic deleted). */
#define OFF_MISSING          INT64_MIN

enum { COL_KEY = 0, COL_VALUE, COL_TOPIC, COL_PARTITION, COL_OFFSET, COL_TS, COL_TS_TYPE, COL_HEADERS };

/* ---------------------------------------------------------------- offsets */

struct tp {
    char *topic; /* owned */
    int32_t part;
    int64_t off;
};

/* A list of topic-partitions with one offset each; sorted by tpl_sort. */
struct tplist {
    struct tp *v;
    size_t n, cap;
};

static void tpl_free(struct tplist *l)
{
    for (size_t i = 0; i < l->n; i++)
        weir_free(l->v[i].topic);
    weir_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int tpl_add(struct tplist *l, const char *topic, size_t tlen, int32_t part, int64_t off)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct tp *v = weir_realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return WEIR_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    char *t = weir_strndup(topic, tlen);
    if (t == NULL)
        return WEIR_ENOMEM;
    l->v[l->n++] = (struct tp){.topic = t, .part = part, .off = off};
    return 0;
}

static int tp_cmp2(const char *ta, int32_t pa, const char *tb, int32_t pb)
{
    int c = strcmp(ta, tb);
    if (c != 0)
        return c;
    return pa < pb ? -1 : pa > pb;
}

static int tp_cmp(const void *a, const void *b)
{
    const struct tp *x = a, *y = b;
    return tp_cmp2(x->topic, x->part, y->topic, y->part);
}

static void tpl_sort(struct tplist *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), tp_cmp);
}

/* Index of (topic, part) in a sorted list, or -1. */
static ptrdiff_t tpl_find(const struct tplist *l, const char *topic, int32_t part)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = tp_cmp2(l->v[mid].topic, l->v[mid].part, topic, part);
        if (c == 0)
            return (ptrdiff_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int json_put_string(struct weir_buf *b, const char *s)
{
    int rc = weir_buf_append_byte(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; rc == 0 && *p; p++) {
        if (*p == '"' || *p == '\\')
            rc = weir_buf_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            rc = weir_buf_printf(b, "\\u%04x", *p);
        else
            rc = weir_buf_append_byte(b, *p);
    }
    if (rc == 0)
        rc = weir_buf_append_byte(b, '"');
    return rc;
}

/* Offsets JSON of a sorted list: {"t":{"0":1,"1":2}}. */
static int tpl_to_json(const struct tplist *l, char **out)
{
    struct weir_buf b;
    weir_buf_init(&b);
    int rc = weir_buf_append_byte(&b, '{');
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        bool first_of_topic = i == 0 || strcmp(l->v[i - 1].topic, l->v[i].topic) != 0;
        if (first_of_topic) {
            if (i > 0)
                rc = weir_buf_append_str(&b, "},");
            if (rc == 0)
                rc = json_put_string(&b, l->v[i].topic);
            if (rc == 0)
                rc = weir_buf_append_str(&b, ":{");
        } else {
            rc = weir_buf_append_byte(&b, ',');
        }
        if (rc == 0)
            rc = weir_buf_printf(&b, "\"%" PRId32 "\":%" PRId64, l->v[i].part, l->v[i].off);
    }
    if (rc == 0 && l->n > 0)
        rc = weir_buf_append_byte(&b, '}');
    if (rc == 0)
        rc = weir_buf_append_byte(&b, '}');
    if (rc != 0) {
        weir_buf_free(&b);
        return WEIR_ENOMEM;
    }
    *out = weir_buf_detach(&b);
    return 0;
}

/* Parse offsets JSON into *l (empty on entry), sorted. Offsets below
 * min_off are refused. `what` names the text in messages. */
static int tpl_from_json(const char *text, int64_t min_off, const char *what, struct tplist *l,
                         struct weir_error *err)
{
    struct weir_json_doc doc = {0};
    struct weir_json_perr pe = {0};
    struct weir_buf name;
    weir_buf_init(&name);
    size_t n = text ? strlen(text) : 0;
    int rc = 0;
    if (text == NULL || n >= UINT32_MAX) {
        rc = weir_error_set(err, WEIR_EPARSE, "%s: missing or too large", what);
        goto done;
    }
    rc = weir_json_parse(&doc, text, n, 0, WEIR_JTOK_CHECK_UTF8, 8, NULL, &pe);
    if (rc == WEIR_JTOK_ENOMEM) {
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", what);
        goto done;
    }
    if (rc != 0) {
        rc = weir_error_set(err, WEIR_EPARSE, "%s: malformed JSON at byte %zu: %s", what, pe.pos,
                            weir_jtok_strerror(rc));
        goto done;
    }
    const struct weir_json_node *nd = doc.nodes;
    if (nd[0].type != WEIR_JSON_OBJ) {
        rc = weir_error_set(err, WEIR_EPARSE, "%s: expected an object {\"topic\": {\"0\": offset}}", what);
        goto done;
    }
    for (uint32_t k = nd[0].child; k != WEIR_JSON_NONE; k = nd[nd[k].next].next) {
        uint32_t v = nd[k].next;
        const char *tname = text + nd[k].start;
        size_t tlen = nd[k].len;
        if (nd[k].esc) {
            if (weir_json_unescape(text + nd[k].start, nd[k].len, WEIR_JSON_UNESCAPE_NO_NUL, &name, NULL) !=
                0) {
                rc = weir_error_set(err, WEIR_EPARSE, "%s: bad topic name at byte %u", what, nd[k].start);
                goto done;
            }
            tname = (const char *)name.data;
            tlen = name.len;
        }
        if (tlen == 0 || nd[v].type != WEIR_JSON_OBJ) {
            rc = weir_error_set(err, WEIR_EPARSE,
                                "%s: topic '%.*s': expected a non-empty name and an object "
                                "of partition offsets",
                                what, (int)tlen, tname);
            goto done;
        }
        for (uint32_t pk = nd[v].child; pk != WEIR_JSON_NONE; pk = nd[nd[pk].next].next) {
            uint32_t pv = nd[pk].next;
            const char *ps = text + nd[pk].start;
            int64_t part = 0, off = 0;
            bool ok = nd[pk].len > 0 && nd[pk].len <= 10;
            for (uint32_t i = 0; ok && i < nd[pk].len; i++) {
                ok = ps[i] >= '0' && ps[i] <= '9';
                part = part * 10 + (ps[i] - '0');
            }
            if (!ok || part > INT32_MAX) {
                rc = weir_error_set(err, WEIR_EPARSE, "%s: topic '%.*s': partition \"%.*s\" is not a number",
                                    what, (int)tlen, tname, (int)nd[pk].len, ps);
                goto done;
            }
            ok = nd[pv].type == WEIR_JSON_NUM && nd[pv].isint && nd[pv].len < 24;
            if (ok) {
                char num[24];
                memcpy(num, text + nd[pv].start, nd[pv].len);
                num[nd[pv].len] = '\0';
                errno = 0;
                off = strtoll(num, NULL, 10);
                ok = errno == 0 && off >= min_off;
            }
            if (!ok) {
                rc = weir_error_set(err, WEIR_EPARSE,
                                    "%s: topic '%.*s' partition %" PRId64
                                    ": offset must be an integer >= %" PRId64,
                                    what, (int)tlen, tname, part, min_off);
                goto done;
            }
            rc = tpl_add(l, tname, tlen, (int32_t)part, off);
            if (rc != 0) {
                rc = weir_error_set(err, rc, "%s: out of memory", what);
                goto done;
            }
        }
    }
    tpl_sort(l);
    for (size_t i = 1; i < l->n; i++) {
        if (tp_cmp(&l->v[i - 1], &l->v[i]) == 0) {
            rc = weir_error_set(err, WEIR_EPARSE, "%s: topic '%s' partition %" PRId32 " is listed twice",
                                what, l->v[i].topic, l->v[i].part);
            goto done;
        }
    }
done:
    if (rc != 0)
        tpl_free(l);
    weir_buf_free(&name);
    weir_json_doc_free(&doc);
    return rc;
}

/* ----------------------------------------------------------------- source */

struct ksrc {
    struct weir_source base;
    const struct weir_config_kafka *cfg; /* borrowed from the pipeline config */
    rd_kafka_t *rk;
    rd_kafka_queue_t *q;   /* the consumer queue */
    rd_kafka_conf_t *conf; /* a copy, to rebuild the client */
    bool stalled;          /* the latest read stalled: rebuild before the next */
    regex_t re;
    bool have_re;
    int64_t last_data_ms; /* monotonic: last plan that returned data (or creation) */
    int64_t lost_batch;   /* records skipped as lost by the latest read */
    int64_t lost_total;
    int64_t fetch_restarts; /* rkick calls by the latest read */
    int64_t fetch_wakeups;  /* rwake calls by the latest read */
    char last_error[256];   /* latest librdkafka error seen (pipeline thread) */
    rd_kafka_message_t *msgs[KAFKA_CONSUME_MAX];
};

static int64_t mono_ms(void)
{
    return weir_mono_ns() / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static void client_destroy(struct ksrc *s)
{
    if (s->q != NULL)
        rd_kafka_queue_destroy(s->q);
    if (s->rk != NULL) /* never joined a group: nothing to leave */
        rd_kafka_destroy_flags(s->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    s->q = NULL;
    s->rk = NULL;
}

/* A consumer client from s->conf. */
static int client_create(struct ksrc *s, struct weir_error *err)
{
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_dup(s->conf);
    if (conf == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (s->rk == NULL) {
        rd_kafka_conf_destroy(conf);
        return weir_error_set(err, WEIR_ECONFIG, "pipeline '%s': source.kafka.kafka: librdkafka: %s",
                              s->base.pipeline, errstr);
    }
    rd_kafka_poll_set_consumer(s->rk);
    s->q = rd_kafka_queue_get_consumer(s->rk);
    if (s->q == NULL)
        return weir_error_set(err, WEIR_EIO, "pipeline '%s': source.kafka: no consumer queue",
                              s->base.pipeline);
    return 0;
}

/* After a stalled read the client is rebuilt before it is used again: a
 * client that kept stale leader metadata through broker moves can go on
 * fetching from nowhere, and a fresh one asks the cluster anew. */
static int client_ready(struct ksrc *s, struct weir_error *err)
{
    if (s->stalled) {
        WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
                 "source.kafka: rebuilding the consumer after a stalled read");
        client_destroy(s);
        s->stalled = false;
    }
    return s->rk != NULL ? 0 : client_create(s, err);
}

/* Failures that go away by themselves (broker restart, leader election,
 * slow network). */
static bool err_transient(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__IN_PROGRESS:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR__OUTDATED:
    case RD_KAFKA_RESP_ERR__PARTIAL:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
    case RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH:
    case RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED:
        return true;
    default:
        return false;
    }
}

static bool err_missing(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
           e == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION;
}

/* librdkafka's log lines, from its own threads: its errors and warnings
 * (mostly connection trouble it retries by itself) come through as warnings,
 * the rest only at debug level; failures that matter reach the engine as
 * errors of plan() and read(). */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const struct ksrc *s = rd_kafka_opaque(rk);
    const char *pipeline = s ? s->base.pipeline : NULL;
    enum weir_log_level lv = level <= 4 ? WEIR_LOG_WARN : WEIR_LOG_DEBUG;
    WEIR_LOG(lv, pipeline, -1, "librdkafka %s: %s", fac, buf);
}

/* Errors not tied to a request (broker connections); served on the
 * pipeline's thread. Transient ones are warnings: the calls retry. */
static void on_error(rd_kafka_t *rk, int e, const char *reason, void *opaque)
{
    struct ksrc *s = opaque;
    snprintf(s->last_error, sizeof(s->last_error), "%s", reason);
    bool fatal = e == RD_KAFKA_RESP_ERR__FATAL;
    WEIR_LOG(fatal ? WEIR_LOG_ERROR : WEIR_LOG_WARN, s->base.pipeline, -1, "kafka: %s: %s",
             rd_kafka_err2name((rd_kafka_resp_err_t)e), reason);
}

/* Is `topic` one of k's topics, or matched by `re` (k's compiled
 * topic_pattern; NULL without one)? */
static bool topic_wanted(const struct weir_config_kafka *k, const regex_t *re, const char *topic)
{
    if (re != NULL)
        return strncmp(topic, "__", 2) != 0 && regexec(re, topic, 0, NULL, 0) == 0;
    for (size_t i = 0; i < k->ntopics; i++)
        if (strcmp(k->topics[i], topic) == 0)
            return true;
    return false;
}

/* Is `topic` one this source reads? */
static bool subscribed(const struct ksrc *s, const char *topic)
{
    return topic_wanted(s->cfg, s->have_re ? &s->re : NULL, topic);
}

/* topic_pattern anchored and compiled into *re; 0 or regcomp's error. */
static int pattern_compile(const char *pattern, regex_t *re)
{
    char *anchored = weir_asprintf("^(%s)$", pattern);
    if (anchored == NULL)
        return REG_ESPACE;
    int e = regcomp(re, anchored, REG_EXTENDED | REG_NOSUB);
    weir_free(anchored);
    return e;
}

static int stall_error(struct ksrc *s, const char *doing, rd_kafka_resp_err_t e, int stall_ms,
                       struct weir_error *err)
{
    return weir_error_set(err, WEIR_ERETRY, "pipeline '%s': source.kafka: %s: no success for %d s: %s%s%s",
                          s->base.pipeline, doing, stall_ms / 1000, rd_kafka_err2str(e),
                          s->last_error[0] ? "; last broker error: " : "", s->last_error);
}

/* The partitions of every subscribed topic that exists now (offsets 0),
 * sorted. Transient metadata failures are retried for KAFKA_STALL_MS. */
static int subscription(struct ksrc *s, struct tplist *out, struct weir_error *err)
{
    int64_t deadline = mono_ms() + KAFKA_STALL_MS;
    int rc = 0;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 1, NULL, &md, KAFKA_REQUEST_MS);
        bool retry = false;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            for (int i = 0; rc == 0 && !retry && i < md->topic_cnt; i++) {
                const rd_kafka_metadata_topic_t *t = &md->topics[i];
                if (!subscribed(s, t->topic))
                    continue;
                if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                    !(t->err == RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE && t->partition_cnt > 0)) {
                    if (err_missing(t->err))
                        continue;
                    if (err_transient(t->err)) {
                        retry = true;
                        e = t->err;
                        break;
                    }
                    rc = weir_error_set(err, WEIR_EIO, "pipeline '%s': source.kafka: topic '%s': %s",
                                        s->base.pipeline, t->topic, rd_kafka_err2str(t->err));
                    break;
                }
                for (int j = 0; rc == 0 && j < t->partition_cnt; j++)
                    if (tpl_add(out, t->topic, strlen(t->topic), t->partitions[j].id, 0) != 0)
                        rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
            }
            rd_kafka_metadata_destroy(md);
            if (rc == 0 && !retry) {
                tpl_sort(out);
                return 0;
            }
            tpl_free(out);
            if (rc != 0)
                return rc;
        } else if (!err_transient(e)) {
            return weir_error_set(err, WEIR_EIO, "pipeline '%s': source.kafka: metadata request failed: %s",
                                  s->base.pipeline, rd_kafka_err2str(e));
        }
        if (mono_ms() >= deadline)
            return stall_error(s, "reading topic metadata", e, KAFKA_STALL_MS, err);
        sleep_ms(200);
    }
}

/* For every partition of `l`: the offset for `spec` (RD_KAFKA_OFFSET_BEGINNING
 * = log start, RD_KAFKA_OFFSET_END = high watermark, or a timestamp in ms:
 * first offset at or after it, -1 if none) into out[i], or OFF_MISSING when
 * the partition does not exist. One ListOffsets request per leader;
 * transient failures retried for stall_ms. */
static int list_offsets(struct ksrc *s, const struct tplist *l, int64_t spec, int64_t *out, int stall_ms,
                        struct weir_error *err)
{
    if (l->n == 0)
        return 0;
    int64_t deadline = mono_ms() + stall_ms;
    int rc = 0;
    for (;;) {
        rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new((int)l->n);
        for (size_t i = 0; i < l->n; i++)
            rd_kafka_topic_partition_list_add(pl, l->v[i].topic, l->v[i].part)->offset = spec;
        rd_kafka_resp_err_t e = rd_kafka_offsets_for_times(s->rk, pl, KAFKA_REQUEST_MS);
        rd_kafka_resp_err_t retry_err = RD_KAFKA_RESP_ERR_NO_ERROR;
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION) {
            if (err_transient(e))
                retry_err = e;
            else
                rc = weir_error_set(err, WEIR_EIO, "pipeline '%s': source.kafka: listing offsets failed: %s",
                                    s->base.pipeline, rd_kafka_err2str(e));
        }
        for (int i = 0; rc == 0 && !retry_err && i < pl->cnt; i++) {
            const rd_kafka_topic_partition_t *p = &pl->elems[i];
            if (err_missing(p->err)) {
                out[i] = OFF_MISSING;
            } else if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR && (spec >= 0 || p->offset >= 0)) {
                out[i] = p->offset;
            } else if (p->err == RD_KAFKA_RESP_ERR_NO_ERROR || err_transient(p->err)) {
                retry_err = p->err ? p->err : RD_KAFKA_RESP_ERR__IN_PROGRESS;
            } else {
                rc = weir_error_set(err, WEIR_EIO,
                                    "pipeline '%s': source.kafka: topic '%s' partition %" PRId32
                                    ": listing offsets failed: %s",
                                    s->base.pipeline, p->topic, p->partition, rd_kafka_err2str(p->err));
            }
        }
        rd_kafka_topic_partition_list_destroy(pl);
        if (rc != 0 || retry_err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return rc;
        if (mono_ms() >= deadline)
            return stall_error(s, "listing partition offsets", retry_err, stall_ms, err);
        sleep_ms(200);
        /* Leaders may have moved: librdkafka does not refresh its cache for
         * per-partition errors of this request, so ask for fresh metadata
         * (an all-topics reply updates the cache). */
        const struct rd_kafka_metadata *md = NULL;
        if (rd_kafka_metadata(s->rk, 1, NULL, &md, KAFKA_REQUEST_MS) == RD_KAFKA_RESP_ERR_NO_ERROR)
            rd_kafka_metadata_destroy(md);
    }
}

/* The log start (*lo) and end (*hi) offsets of every partition of `l`, in
 * new arrays of max(l->n, 1) entries the caller frees (also on failure). */
static int watermarks(struct ksrc *s, const struct tplist *l, int64_t **lo, int64_t **hi,
                      struct weir_error *err)
{
    size_t n = l->n ? l->n : 1;
    *lo = weir_calloc(n, sizeof(**lo));
    *hi = weir_calloc(n, sizeof(**hi));
    if (*lo == NULL || *hi == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
    int rc = list_offsets(s, l, RD_KAFKA_OFFSET_BEGINNING, *lo, KAFKA_STALL_MS, err);
    if (rc == 0)
        rc = list_offsets(s, l, RD_KAFKA_OFFSET_END, *hi, KAFKA_STALL_MS, err);
    return rc;
}

/* The data-loss rule: fail (not retriable) or warn and count `lost`. */
static int data_loss(struct ksrc *s, const char *topic, int32_t part, int64_t expected, int64_t lo,
                     int64_t hi, int64_t lost, bool count, const char *why, struct weir_error *err)
{
    char avail[96];
    if (lo >= 0)
        snprintf(avail, sizeof(avail), "the partition holds offsets %" PRId64 "..%" PRId64, lo, hi);
    else
        snprintf(avail, sizeof(avail), "the partition is not there");
    if (s->cfg->fail_on_data_loss)
        return weir_error_set(err, WEIR_ENOTFOUND,
                              "pipeline '%s': source.kafka: data loss in topic '%s' partition %" PRId32
                              ": expected offset %" PRId64
                              " but %s (%s). Set source.kafka.fail_on_data_loss to "
                              "false to skip what is gone and continue, or start over with a new checkpoint",
                              s->base.pipeline, topic, part, expected, avail, why);
    WEIR_LOG(WEIR_LOG_WARN, s->base.pipeline, -1,
             "source.kafka: data loss in topic '%s' partition %" PRId32 ": expected offset %" PRId64
             " but %s (%s); %" PRId64 " offsets skipped (fail_on_data_loss=false)",
             topic, part, expected, avail, why, count ? lost : 0);
    if (count && lost > 0) {
        s->lost_batch += lost;
        s->lost_total += lost;
    }
    return 0;
}

/* ---------------------------------------------------------------- initial */

static int kafka_initial(struct weir_source *base, char **out, struct weir_error *err)
{
    struct ksrc *s = (struct ksrc *)base;
    const struct weir_config_kafka *k = s->cfg;
    struct tplist parts = {0}, given = {0};
    int64_t *lo = NULL, *hi = NULL, *ts = NULL;
    *out = NULL;
    int rc = client_ready(s, err);
    if (rc == 0)
        rc = subscription(s, &parts, err);
    if (rc != 0)
        goto done;
    if ((rc = watermarks(s, &parts, &lo, &hi, err)) != 0)
        goto done;
    if ((ts = weir_calloc(parts.n ? parts.n : 1, sizeof(*ts))) == NULL) {
        rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
        goto done;
    }
    if (k->starting_offsets == WEIR_START_TIMESTAMP &&
        (rc = list_offsets(s, &parts, k->starting_timestamp_ms, ts, KAFKA_STALL_MS, err)) != 0)
        goto done;
    if (k->starting_offsets == WEIR_START_JSON) {
        rc = tpl_from_json(k->starting_offsets_json, -2, "source.kafka.starting_offsets", &given, err);
        if (rc != 0)
            goto done;
        for (size_t i = 0; i < given.n; i++) {
            if (tpl_find(&parts, given.v[i].topic, given.v[i].part) < 0) {
                rc = weir_error_set(
                    err, WEIR_ECONFIG,
                    "pipeline '%s': source.kafka.starting_offsets: topic '%s' partition %" PRId32
                    " is not a partition of the subscribed topics",
                    s->base.pipeline, given.v[i].topic, given.v[i].part);
                goto done;
            }
        }
    }
    for (size_t i = 0; i < parts.n; i++) {
        if (lo[i] == OFF_MISSING || hi[i] == OFF_MISSING) {
            rc = weir_error_set(err, WEIR_ERETRY,
                                "pipeline '%s': source.kafka: topic '%s' partition %" PRId32
                                " disappeared while resolving starting_offsets",
                                s->base.pipeline, parts.v[i].topic, parts.v[i].part);
            goto done;
        }
        int64_t off = hi[i];
        switch (k->starting_offsets) {
        case WEIR_START_EARLIEST:
            off = lo[i];
            break;
        case WEIR_START_TIMESTAMP:
            off = ts[i] >= 0 ? ts[i] : hi[i];
            break;
        case WEIR_START_JSON: {
            ptrdiff_t g = tpl_find(&given, parts.v[i].topic, parts.v[i].part);
            if (g < 0) {
                rc = weir_error_set(
                    err, WEIR_ECONFIG,
                    "pipeline '%s': source.kafka.starting_offsets: topic '%s' partition %" PRId32
                    " is missing; list every partition of the subscribed topics (-2 earliest, "
                    "-1 latest)",
                    s->base.pipeline, parts.v[i].topic, parts.v[i].part);
                goto done;
            }
            int64_t v = given.v[g].off;
            off = v == -2 ? lo[i] : v == -1 ? hi[i] : v;
            break;
        }
        default:
            break;
        }
        parts.v[i].off = off;
    }
    rc = tpl_to_json(&parts, out);
    if (rc != 0)
        weir_error_set(err, rc, "source.kafka: out of memory");
done:
    weir_free(lo);
    weir_free(hi);
    weir_free(ts);
    tpl_free(&given);
    tpl_free(&parts);
    return rc;
}

/* ------------------------------------------------------------------- plan */

/* Split `limit` over the backlogs b[0..n) in proportion (sum of b > limit):
 * each gets floor(limit * b / total); partitions with a backlog but a zero
 * share get one offset first (taken from the largest shares when nothing is
 * left over), so every partition progresses; the rest goes by the largest
 * fractional remainder. The result sums to limit and never exceeds b. */
static void split_limit(const int64_t *b, int64_t *q, size_t n, int64_t limit, unsigned __int128 *frac)
{
    unsigned __int128 total = 0;
    for (size_t i = 0; i < n; i++)
        total += (unsigned __int128)b[i];
    int64_t rem = limit;
    for (size_t i = 0; i < n; i++) {
        unsigned __int128 x = (unsigned __int128)limit * (unsigned __int128)b[i];
        q[i] = (int64_t)(x / total);
        frac[i] = x % total;
        rem -= q[i];
    }
    /* Zero shares with a backlog, largest backlog first. */
    for (;;) {
        size_t z = n;
        for (size_t i = 0; i < n; i++)
            if (b[i] > 0 && q[i] == 0 && (z == n || b[i] > b[z]))
                z = i;
        if (z == n)
            break;
        if (rem > 0) {
            rem--;
        } else {
            size_t big = n;
            for (size_t i = 0; i < n; i++)
                if (q[i] > 1 && (big == n || q[i] > q[big]))
                    big = i;
            if (big == n)
                break;
            q[big]--;
        }
        q[z] = 1;
        frac[z] = 0;
    }
    while (rem > 0) {
        size_t best = n;
        for (size_t i = 0; i < n; i++)
            if (q[i] < b[i] && (best == n || frac[i] > frac[best]))
                best = i;
        if (best == n)
            break;
        q[best]++;
        frac[best] = 0;
        rem--;
    }
}

/* Like weir_source_plan_clear, kept local so this file links on its own. */
static void plan_reset(struct weir_source_plan *p)
{
    weir_free(p->end);
    weir_free(p->latest);
    *p = (struct weir_source_plan){0};
}

static int kafka_plan(struct weir_source *base, const char *start, const char *cap, bool available_now,
                      struct weir_source_plan *out, struct weir_error *err)
{
    struct ksrc *s = (struct ksrc *)base;
    const struct weir_config_kafka *k = s->cfg;
    struct tplist st = {0}, cp = {0}, parts = {0}, endl = {0};
    int64_t *lo = NULL, *hi = NULL, *eff = NULL, *top = NULL, *b = NULL, *q = NULL;
    unsigned __int128 *frac = NULL;
    int rc;
    *out = (struct weir_source_plan){0};
    out->num_offsets = 0;
    if ((rc = client_ready(s, err)) != 0 ||
        (rc = tpl_from_json(start, 0, "source.kafka start offsets", &st, err)) != 0)
        goto done;
    if (cap != NULL && (rc = tpl_from_json(cap, 0, "source.kafka cap offsets", &cp, err)) != 0)
        goto done;
    if ((rc = subscription(s, &parts, err)) != 0)
        goto done;
    /* Partitions we were reading that are gone now. */
    for (size_t i = 0; i < st.n; i++) {
        if (tpl_find(&parts, st.v[i].topic, st.v[i].part) >= 0)
            continue;
        if (!subscribed(s, st.v[i].topic)) {
            WEIR_LOG(WEIR_LOG_INFO, s->base.pipeline, -1,
                     "source.kafka: topic '%s' is no longer subscribed; dropping its offsets", st.v[i].topic);
            continue;
        }
        rc = data_loss(s, st.v[i].topic, st.v[i].part, st.v[i].off, -1, -1, 0, false,
                       "the topic or partition no longer exists", err);
        if (rc != 0)
            goto done;
    }
    size_t n = parts.n ? parts.n : 1;
    eff = weir_calloc(n, sizeof(*eff));
    top = weir_calloc(n, sizeof(*top));
    b = weir_calloc(n, sizeof(*b));
    q = weir_calloc(n, sizeof(*q));
    frac = weir_calloc(n, sizeof(*frac));
    if (!eff || !top || !b || !q || !frac) {
        rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
        goto done;
    }
    if ((rc = watermarks(s, &parts, &lo, &hi, err)) != 0)
        goto done;
    int64_t total = 0;
    bool changed = false;
    for (size_t i = 0; i < parts.n; i++) {
        const char *t = parts.v[i].topic;
        int32_t p = parts.v[i].part;
        if (lo[i] == OFF_MISSING || hi[i] == OFF_MISSING) {
            rc = weir_error_set(err, WEIR_ERETRY,
                                "pipeline '%s': source.kafka: topic '%s' partition %" PRId32
                                " disappeared while planning",
                                s->base.pipeline, t, p);
            goto done;
        }
        ptrdiff_t si = tpl_find(&st, t, p);
        if (si < 0) {
            eff[i] = lo[i]; /* new partition: from its log start */
        } else {
            int64_t s0 = st.v[si].off;
            eff[i] = s0;
            if (s0 < lo[i]) {
                rc = data_loss(s, t, p, s0, lo[i], hi[i], 0, false,
                               "records deleted by retention or deleteRecords", err);
                eff[i] = lo[i];
            } else if (s0 > hi[i]) {
                rc =
                    data_loss(s, t, p, s0, lo[i], hi[i], 0, false,
                              "the partition is shorter than before: topic re-created or log truncated", err);
                eff[i] = lo[i];
            }
            if (rc != 0)
                goto done;
        }
        top[i] = hi[i];
        if (cap != NULL) {
            ptrdiff_t ci = tpl_find(&cp, t, p);
            top[i] = ci < 0 ? eff[i] : (cp.v[ci].off < hi[i] ? cp.v[ci].off : hi[i]);
        }
        if (top[i] < eff[i])
            top[i] = eff[i];
        b[i] = top[i] - eff[i];
        total += b[i];
    }
    if (k->max_offsets_per_trigger > 0 && total > k->max_offsets_per_trigger) {
        split_limit(b, q, parts.n, k->max_offsets_per_trigger, frac);
    } else {
        for (size_t i = 0; i < parts.n; i++)
            q[i] = b[i];
    }
    bool wait_min = false;
    if (k->min_offsets_per_trigger > 0 && !available_now && total < k->min_offsets_per_trigger) {
        if (mono_ms() - s->last_data_ms < k->max_trigger_delay_ms)
            wait_min = true;
    }
    int64_t num = 0;
    for (size_t i = 0; i < parts.n; i++) {
        ptrdiff_t si = tpl_find(&st, parts.v[i].topic, parts.v[i].part);
        bool in_cap = cap == NULL || tpl_find(&cp, parts.v[i].topic, parts.v[i].part) >= 0;
        int64_t e = eff[i] + q[i];
        parts.v[i].off = hi[i];
        if (si < 0 && !in_cap)
            continue; /* appeared after the available-now snapshot */
        if (si < 0 || e != st.v[si].off)
            changed = true;
        num += q[i];
        if (tpl_add(&endl, parts.v[i].topic, strlen(parts.v[i].topic), parts.v[i].part, e) != 0) {
            rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
            goto done;
        }
    }
    for (size_t i = 0; i < st.n; i++)
        if (tpl_find(&parts, st.v[i].topic, st.v[i].part) < 0)
            changed = true; /* dropped partitions */
    if ((rc = tpl_to_json(&parts, &out->latest)) != 0) {
        weir_error_set(err, rc, "source.kafka: out of memory");
        goto done;
    }
    if (wait_min || !changed) {
        rc = tpl_to_json(&st, &out->end);
        out->has_data = false;
        out->num_offsets = 0;
    } else {
        rc = tpl_to_json(&endl, &out->end);
        out->has_data = true;
        out->num_offsets = num;
        s->last_data_ms = mono_ms();
    }
    if (rc != 0)
        weir_error_set(err, rc, "source.kafka: out of memory");
done:
    if (rc != 0)
        plan_reset(out);
    weir_free(lo);
    weir_free(hi);
    weir_free(eff);
    weir_free(top);
    weir_free(b);
    weir_free(q);
    weir_free(frac);
    tpl_free(&st);
    tpl_free(&cp);
    tpl_free(&parts);
    tpl_free(&endl);
    return rc;
}

/* ------------------------------------------------------------------- read */

/* One partition being read. */
struct rpart {
    const char *topic; /* borrowed from the end list */
    size_t topic_len;
    int32_t part;
    int64_t next; /* next offset to deliver */
    int64_t end;
    const rd_kafka_topic_t *rkt; /* learned from the first message */
    bool done, seen;
    int64_t short_since; /* mono ms: EOF seen below end; 0 = not */
};

struct rstate {
    struct ksrc *s;
    struct rpart *p;
    size_t n, ndone, last;
    struct weir_batch *batch;
    size_t batch_bytes;
    weir_source_emit_cb cb;
    void *ctx;
    int64_t progress_ms; /* mono ms of the last record delivered (stall detection) */
    size_t delivered;    /* records delivered so far */
    rd_kafka_resp_err_t last_err;
    size_t queue_peak; /* deepest the queue got since the last wake-up */
    size_t wake_next;  /* rwake's next partition */
};

static struct rpart *rfind(struct rstate *r, const rd_kafka_message_t *m)
{
    if (m->rkt == NULL)
        return NULL;
    struct rpart *c = &r->p[r->last];
    if (c->rkt == m->rkt && c->part == m->partition)
        return c;
    const char *t = rd_kafka_topic_name(m->rkt);
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = tp_cmp2(r->p[mid].topic, r->p[mid].part, t, m->partition);
        if (cmp == 0) {
            r->p[mid].rkt = m->rkt;
            r->last = mid;
            return &r->p[mid];
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static void rdone(struct rstate *r, struct rpart *p)
{
    if (p->done)
        return;
    p->done = true;
    r->ndone++;
    /* Stop fetching past the end. */
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(pl, p->topic, p->part);
    rd_kafka_pause_partitions(r->s->rk, pl);
    rd_kafka_topic_partition_list_destroy(pl);
}

/* The queue ran dry while partitions still have records to deliver:
 * librdkafka 2.0 stops fetching a partition for a fixed second once its
 * prefetch queue was full, even after the queue drained. Seeking each
 * unfinished partition to its next offset ends that pause at once; with
 * the queue empty the seek discards nothing. */
static void rkick(struct rstate *r)
{
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new((int)r->n);
    for (size_t i = 0; i < r->n; i++)
        if (!r->p[i].done && r->p[i].seen)
            rd_kafka_topic_partition_list_add(pl, r->p[i].topic, r->p[i].part)->offset = r->p[i].next;
    if (pl->cnt > 0) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(r->s->rk, pl, KAFKA_REQUEST_MS);
        if (e != NULL)
            rd_kafka_error_destroy(e); /* the stall detector reports lasting trouble */
    }
    rd_kafka_topic_partition_list_destroy(pl);
}

/* librdkafka 2.0 decides again whether to fetch only when its broker
 * thread wakes: on a fetch answer, a request to send, or once a second. A
 * queue that was full stopped every fetch, so nothing wakes the thread
 * while the queue drains: send it a cheap request (the watermarks of one
 * unfinished partition, a different one each time) once the queue is well
 * below its peak, and fetching resumes before the queue runs dry. */
static void rwake(struct rstate *r)
{
    for (size_t k = 0; k < r->n; k++) {
        struct rpart *p = &r->p[(r->wake_next + k) % r->n];
        if (p->done)
            continue;
        r->wake_next = (size_t)(p - r->p) + 1;
        int64_t lo, hi;
        rd_kafka_query_watermark_offsets(r->s->rk, p->topic, p->part, &lo, &hi, KAFKA_WAKE_MS);
        r->s->fetch_wakeups++;
        return;
    }
}

static int rseek(struct rstate *r, struct rpart *p, struct weir_error *err)
{
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(pl, p->topic, p->part)->offset = p->next;
    rd_kafka_error_t *e = rd_kafka_seek_partitions(r->s->rk, pl, KAFKA_REQUEST_MS);
    rd_kafka_topic_partition_list_destroy(pl);
    if (e != NULL) {
        r->last_err = rd_kafka_error_code(e);
        WEIR_LOG(WEIR_LOG_WARN, r->s->base.pipeline, -1,
                 "source.kafka: seek topic '%s' partition %" PRId32 " to %" PRId64 ": %s", p->topic, p->part,
                 p->next, rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
    }
    (void)err;
    return 0;
}

/* Low and high watermark of one partition; OFF_MISSING if it is gone. */
static int rwatermarks(struct rstate *r, struct rpart *p, int64_t *lo, int64_t *hi, struct weir_error *err)
{
    struct tplist one = {.v = &(struct tp){.topic = (char *)p->topic, .part = p->part}, .n = 1, .cap = 1};
    int rc = list_offsets(r->s, &one, RD_KAFKA_OFFSET_BEGINNING, lo, KAFKA_CHECK_MS, err);
    if (rc == 0)
        rc = list_offsets(r->s, &one, RD_KAFKA_OFFSET_END, hi, KAFKA_CHECK_MS, err);
    return rc;
}

/* The partition's next offset may be gone: check its range and apply the
 * data-loss rules; then continue (seek) or finish the partition. */
static int rcheck_loss(struct rstate *r, struct rpart *p, struct weir_error *err)
{
    int64_t lo, hi;
    int rc = rwatermarks(r, p, &lo, &hi, err);
    if (rc != 0)
        return rc;
    if (lo == OFF_MISSING || hi == OFF_MISSING) {
        rc = data_loss(r->s, p->topic, p->part, p->next, -1, -1, p->end - p->next, true,
                       "the topic or partition no longer exists", err);
        if (rc == 0)
            rdone(r, p);
        return rc;
    }
    if (lo > p->next) {
        int64_t upto = lo < p->end ? lo : p->end;
        rc = data_loss(r->s, p->topic, p->part, p->next, lo, hi, upto - p->next, true,
                       "records deleted by retention or deleteRecords", err);
        if (rc != 0)
            return rc;
        p->next = upto;
        if (p->next >= p->end)
            rdone(r, p);
        else
            rseek(r, p, err);
        return 0;
    }
    if (hi <= p->next) {
        /* The log ends at or before our position: [next, end) is gone. */
        rc = data_loss(r->s, p->topic, p->part, p->next, lo, hi, p->end - p->next, true,
                       "the partition is shorter than planned: topic re-created or log truncated", err);
        if (rc == 0)
            rdone(r, p);
        return rc;
    }
    return 1; /* the offset is available */
}

static int rflush(struct rstate *r, struct weir_error *err)
{
    if (r->batch->columns[0].length == 0)
        return 0;
    int rc = weir_batch_finish_rows(r->batch);
    if (rc != 0)
        return weir_error_set(err, rc, "source.kafka: inconsistent batch columns");
    rc = r->cb(r->ctx, r->batch, err);
    weir_batch_clear(r->batch);
    r->batch_bytes = 0;
    return rc;
}

static int append_row(struct rstate *r, const rd_kafka_message_t *m, struct rpart *p)
{
    struct weir_column *c = r->batch->columns;
    int rc = m->key ? weir_column_append_bytes(&c[COL_KEY], m->key, m->key_len)
                    : weir_column_append_null(&c[COL_KEY]);
    if (rc == 0)
        rc = m->payload ? weir_column_append_bytes(&c[COL_VALUE], m->payload, m->len)
                        : weir_column_append_null(&c[COL_VALUE]);
    if (rc == 0)
        rc = weir_column_append_bytes(&c[COL_TOPIC], p->topic, p->topic_len);
    if (rc == 0)
        rc = weir_column_append_i32(&c[COL_PARTITION], p->part);
    if (rc == 0)
        rc = weir_column_append_i64(&c[COL_OFFSET], m->offset);
    rd_kafka_timestamp_type_t tt;
    int64_t ts = rd_kafka_message_timestamp(m, &tt);
    if (rc == 0)
        rc = tt == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE ? weir_column_append_null(&c[COL_TS])
                                                    : weir_column_append_i64(&c[COL_TS], ts * 1000);
    if (rc == 0)
        rc = weir_column_append_i32(&c[COL_TS_TYPE], tt == RD_KAFKA_TIMESTAMP_CREATE_TIME       ? 0
                                                     : tt == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? 1
                                                                                                : -1);
    if (rc == 0 && r->batch->ncolumns > COL_HEADERS) {
        struct weir_column *h = &c[COL_HEADERS];
        struct weir_column *el = &h->children[0];
        rd_kafka_headers_t *hdrs = NULL;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR && hdrs != NULL) {
            const char *name;
            const void *val;
            size_t size;
            for (size_t i = 0; rc == 0 && rd_kafka_header_get_all(hdrs, i, &name, &val, &size) == 0; i++) {
                rc = weir_column_append_bytes(&el->children[0], name, strlen(name));
                if (rc == 0)
                    rc = val ? weir_column_append_bytes(&el->children[1], val, size)
                             : weir_column_append_null(&el->children[1]);
                if (rc == 0)
                    rc = weir_column_append_struct(el, true);
                r->batch_bytes += strlen(name) + size;
            }
        }
        if (rc == 0)
            rc = weir_column_append_list(h, true);
    }
    r->batch_bytes += m->len + m->key_len + 24;
    return rc;
}

/* One message or event from the consumer queue. */
static int rhandle(struct rstate *r, const rd_kafka_message_t *m, struct weir_error *err)
{
    struct ksrc *s = r->s;
    struct rpart *p = rfind(r, m);
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        if (p == NULL || p->done || m->offset < p->next)
            return 0; /* stale or duplicate */
        if (m->offset >= p->end) {
            rdone(r, p);
            return 0;
        }
        if (!p->seen && m->offset > p->next) {
            /* The first record lies past the start: gone, or a gap
             * (compaction, transaction markers)? */
            int rc = rcheck_loss(r, p, err);
            if (rc < 0)
                return rc;
            if (p->done || m->offset < p->next)
                return 0;
        }
        p->seen = true;
        int rc = append_row(r, m, p);
        if (rc != 0)
            return weir_error_set(err, rc, "source.kafka: out of memory building a batch");
        p->next = m->offset + 1;
        p->short_since = 0;
        r->delivered++; /* the read loop stamps progress once per consumed batch */
        if (p->next >= p->end)
            rdone(r, p);
        if (r->batch->columns[0].length >= KAFKA_BATCH_ROWS || r->batch_bytes >= KAFKA_BATCH_BYTES) {
            rc = rflush(r, err);
            r->progress_ms = mono_ms(); /* time spent downstream is not a stall */
            return rc;
        }
        return 0;
    }
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p == NULL || p->done)
            return 0;
        if (m->offset >= p->end) {
            r->progress_ms = mono_ms();
            rdone(r, p);
        } else if (m->offset >= p->next && p->short_since == 0) {
            p->next = m->offset > p->next ? m->offset : p->next;
            p->short_since = mono_ms();
        }
        return 0;
    }
    r->last_err = m->err;
    snprintf(s->last_error, sizeof(s->last_error), "%s", rd_kafka_message_errstr(m));
    if (p != NULL && !p->done &&
        (m->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET || m->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)) {
        int rc = rcheck_loss(r, p, err);
        if (rc < 0)
            return rc;
        if (rc == 1) /* in range after all (e.g. a lagging leader): fetch again */
            rseek(r, p, err);
        return 0;
    }
    if (m->err == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
        m->err == RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED ||
        m->err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        m->err == RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED || m->err == RD_KAFKA_RESP_ERR__FATAL ||
        m->err == RD_KAFKA_RESP_ERR__SSL) {
        return weir_error_set(err, WEIR_EIO, "pipeline '%s': source.kafka: %s%s%s: %s", s->base.pipeline,
                              p ? "topic '" : "reading", p ? p->topic : "", p ? "'" : "",
                              rd_kafka_message_errstr(m));
    }
    /* Anything else is retried by librdkafka; the stall timer bounds it. */
    WEIR_LOG(WEIR_LOG_DEBUG, s->base.pipeline, -1, "source.kafka: %s", rd_kafka_message_errstr(m));
    return 0;
}

/* Periodic checks: partitions that ended short, and the stall timer. */
static int rmaintain(struct rstate *r, struct weir_error *err)
{
    int64_t now = mono_ms();
    for (size_t i = 0; i < r->n; i++) {
        struct rpart *p = &r->p[i];
        if (p->done || p->short_since == 0 || now - p->short_since < KAFKA_SHORT_GRACE_MS)
            continue;
        int rc = rcheck_loss(r, p, err);
        if (rc < 0)
            return rc;
        p->short_since = 0;
        if (p->done)
            r->progress_ms = now;
    }
    if (now - r->progress_ms < KAFKA_STALL_MS)
        return 0;
    /* No progress for a long time: a partition may be gone or truncated. */
    for (size_t i = 0; i < r->n; i++) {
        struct rpart *p = &r->p[i];
        if (!p->done) {
            int rc = rcheck_loss(r, p, err);
            if (rc < 0)
                return rc;
        }
    }
    for (size_t i = 0; i < r->n; i++) {
        struct rpart *p = &r->p[i];
        if (!p->done) {
            r->s->stalled = true;
            return weir_error_set(
                err, WEIR_ERETRY,
                "pipeline '%s': source.kafka: no progress for %d s reading topic '%s' partition "
                "%" PRId32 " at offset %" PRId64 " (batch ends at %" PRId64 "): %s%s%s",
                r->s->base.pipeline, KAFKA_STALL_MS / 1000, p->topic, p->part, p->next, p->end,
                rd_kafka_err2str(r->last_err), r->s->last_error[0] ? "; " : "", r->s->last_error);
        }
    }
    return 0;
}

static int kafka_read(struct weir_source *base, const char *start, const char *end, weir_source_emit_cb cb,
                      void *ctx, struct weir_error *err)
{
    struct ksrc *s = (struct ksrc *)base;
    struct tplist st = {0}, en = {0};
    struct rstate r = {.s = s, .cb = cb, .ctx = ctx};
    int64_t *lo = NULL, *hi = NULL;
    rd_kafka_topic_partition_list_t *assign = NULL;
    bool assigned = false;
    int rc;
    s->lost_batch = 0;
    s->fetch_restarts = 0;
    s->fetch_wakeups = 0;
    s->last_error[0] = '\0';
    if ((rc = client_ready(s, err)) != 0 ||
        (rc = tpl_from_json(start, 0, "source.kafka start offsets", &st, err)) != 0 ||
        (rc = tpl_from_json(end, 0, "source.kafka end offsets", &en, err)) != 0)
        goto done;
    size_t n = en.n ? en.n : 1;
    r.p = weir_calloc(n, sizeof(*r.p));
    r.batch = weir_batch_create(s->base.schema);
    if (!r.p || !r.batch) {
        rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
        goto done;
    }
    if ((rc = watermarks(s, &en, &lo, &hi, err)) != 0)
        goto done;
    assign = rd_kafka_topic_partition_list_new((int)n);
    for (size_t i = 0; i < en.n; i++) {
        const char *t = en.v[i].topic;
        int32_t pn = en.v[i].part;
        int64_t e = en.v[i].off;
        ptrdiff_t si = tpl_find(&st, t, pn);
        struct rpart *p = &r.p[r.n++];
        *p = (struct rpart){.topic = t, .topic_len = strlen(t), .part = pn, .end = e};
        if (lo[i] == OFF_MISSING || hi[i] == OFF_MISSING) {
            int64_t from = si >= 0 ? st.v[si].off : 0;
            if (si >= 0 && from == e) {
                p->done = true;
                r.ndone++;
                continue;
            }
            rc = data_loss(s, t, pn, from, -1, -1, e > from ? e - from : 0, true,
                           "the topic or partition no longer exists", err);
            if (rc != 0)
                goto done;
            p->done = true;
            r.ndone++;
            continue;
        }
        int64_t from;
        if (si < 0) {
            from = lo[i]; /* new partition */
        } else if (st.v[si].off > e) {
            /* plan() saw the partition shrink (topic re-created) */
            rc = data_loss(s, t, pn, st.v[si].off, lo[i], hi[i], 0, false,
                           "the partition is shorter than before: topic re-created or log truncated", err);
            if (rc != 0)
                goto done;
            from = lo[i];
        } else {
            from = st.v[si].off;
            if (from < lo[i] && from < e) {
                int64_t upto = lo[i] < e ? lo[i] : e;
                rc = data_loss(s, t, pn, from, lo[i], hi[i], upto - from, true,
                               "records deleted by retention or deleteRecords", err);
                if (rc != 0)
                    goto done;
                from = upto;
            } else if (from > hi[i] && from < e) {
                rc = data_loss(s, t, pn, from, lo[i], hi[i], e - from, true,
                               "the partition is shorter than planned: topic re-created or log truncated",
                               err);
                if (rc != 0)
                    goto done;
                from = e;
            }
        }
        p->next = from;
        if (from >= e) {
            p->done = true;
            r.ndone++;
            continue;
        }
        rd_kafka_topic_partition_list_add(assign, t, pn)->offset = from;
    }
    if (r.ndone < r.n) {
        /* A pause (rdone) outlives the assignment: lift it first. */
        rd_kafka_resume_partitions(s->rk, assign);
        rd_kafka_resp_err_t e = rd_kafka_assign(s->rk, assign);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = weir_error_set(err, err_transient(e) ? WEIR_ERETRY : WEIR_EIO,
                                "pipeline '%s': source.kafka: assigning partitions failed: %s",
                                s->base.pipeline, rd_kafka_err2str(e));
            goto done;
        }
        assigned = true;
        for (int c = 0; c < COL_HEADERS; c++)
            weir_column_reserve(&r.batch->columns[c], KAFKA_BATCH_ROWS, 0);
    }
    r.progress_ms = mono_ms();
    int64_t last_check = r.progress_ms;
    int64_t last_msg = r.progress_ms;
    bool deep = false;
    while (r.ndone < r.n) {
        ssize_t got = rd_kafka_consume_batch_queue(s->q, KAFKA_POLL_MS, s->msgs, KAFKA_CONSUME_MAX);
        size_t delivered = r.delivered;
        for (ssize_t i = 0; i < got; i++) {
            if (rc == 0)
                rc = rhandle(&r, s->msgs[i], err);
            rd_kafka_message_destroy(s->msgs[i]);
        }
        if (rc != 0)
            goto done;
        int64_t now = mono_ms();
        if (r.delivered != delivered)
            r.progress_ms = now;
        if (got > 0) {
            last_msg = now;
            /* a deep queue: the prefetch limit, not the brokers, set the pace */
            size_t qlen = rd_kafka_queue_length(s->q);
            bool healthy = r.last_err == RD_KAFKA_RESP_ERR_NO_ERROR;
            if (qlen >= KAFKA_DEEP_QUEUE && healthy)
                deep = true;
            if (qlen > r.queue_peak) {
                r.queue_peak = qlen;
            } else if (r.queue_peak >= KAFKA_DEEP_QUEUE && qlen < r.queue_peak / 4 && healthy) {
                rwake(&r);
                r.queue_peak = qlen;
            }
        } else if (deep && now - last_msg >= KAFKA_STARVE_MS) {
            /* it ran dry right after being deep: librdkafka's pause, not a
             * broker or leader that is away (then the queue never got deep) */
            rkick(&r);
            s->fetch_restarts++;
            deep = false;
        }
        if (now - last_check >= 500) {
            last_check = now;
            if ((rc = rmaintain(&r, err)) != 0)
                goto done;
        }
    }
    rc = rflush(&r, err);
done:
    if (assigned)
        rd_kafka_assign(s->rk, NULL);
    if (assign != NULL)
        rd_kafka_topic_partition_list_destroy(assign);
    weir_batch_destroy(r.batch);
    weir_free(r.p);
    weir_free(lo);
    weir_free(hi);
    tpl_free(&st);
    tpl_free(&en);
    return rc;
}

/* ------------------------------------------------------ offsets text */

int weir_source_kafka_offsets_normalize(const char *text, char **out, struct weir_error *err)
{
    struct tplist l = {0};
    *out = NULL;
    int rc = tpl_from_json(text, 0, "kafka offsets", &l, err);
    if (rc == 0 && (rc = tpl_to_json(&l, out)) != 0)
        rc = weir_error_set(err, rc, "kafka offsets: out of memory");
    tpl_free(&l);
    return rc;
}

/* ------------------------------------------------------ commit, metrics */

static int kafka_commit(struct weir_source *base, const char *end, struct weir_error *err)
{
    struct ksrc *s = (struct ksrc *)base;
    if (s->cfg->group_id == NULL)
        return 0;
    int rc = client_ready(s, err);
    if (rc != 0)
        return rc;
    struct tplist en = {0};
    rc = tpl_from_json(end, 0, "source.kafka end offsets", &en, err);
    if (rc != 0 || en.n == 0)
        return rc;
    rd_kafka_topic_partition_list_t *pl = rd_kafka_topic_partition_list_new((int)en.n);
    for (size_t i = 0; i < en.n; i++)
        rd_kafka_topic_partition_list_add(pl, en.v[i].topic, en.v[i].part)->offset = en.v[i].off;
    rd_kafka_resp_err_t e = rd_kafka_commit(s->rk, pl, 0);
    for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < pl->cnt; i++)
        if (pl->elems[i].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
            rc = weir_error_set(
                err, err_transient(pl->elems[i].err) ? WEIR_ERETRY : WEIR_EIO,
                "pipeline '%s': source.kafka: committing offsets of topic '%s' partition %" PRId32
                " to group '%s': %s",
                s->base.pipeline, pl->elems[i].topic, pl->elems[i].partition, s->cfg->group_id,
                rd_kafka_err2str(pl->elems[i].err));
            break;
        }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = weir_error_set(err, err_transient(e) ? WEIR_ERETRY : WEIR_EIO,
                            "pipeline '%s': source.kafka: committing offsets to group '%s': %s",
                            s->base.pipeline, s->cfg->group_id, rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(pl);
    tpl_free(&en);
    return rc;
}

static int kafka_metrics(struct weir_source *base, struct weir_buf *out)
{
    const struct ksrc *s = (const struct ksrc *)base;
    return weir_buf_printf(out,
                           "\"dataLossRecords\":%" PRId64 ",\"dataLossRecordsTotal\":%" PRId64
                           ",\"fetchRestarts\":%" PRId64 ",\"fetchWakeups\":%" PRId64,
                           s->lost_batch, s->lost_total, s->fetch_restarts, s->fetch_wakeups);
}

static void kafka_destroy(struct weir_source *base)
{
    struct ksrc *s = (struct ksrc *)base;
    if (s == NULL)
        return;
    client_destroy(s);
    if (s->conf != NULL)
        rd_kafka_conf_destroy(s->conf);
    if (s->have_re)
        regfree(&s->re);
    weir_type_destroy((struct weir_type *)s->base.schema);
    weir_free(s->base.description);
    weir_free(s);
}

static const struct weir_source_ops kafka_ops = {
    .initial = kafka_initial,
    .plan = kafka_plan,
    .read = kafka_read,
    .commit = kafka_commit,
    .metrics = kafka_metrics,
    .destroy = kafka_destroy,
};

/* ----------------------------------------------------------------- create */

struct weir_type *weir_source_kafka_schema(bool headers)
{
    struct weir_type *st = weir_type_struct();
    if (st == NULL)
        return NULL;
    static const struct {
        const char *name;
        enum weir_type_kind kind;
    } cols[] = {{"key", WEIR_TYPE_BINARY},
                {"value", WEIR_TYPE_BINARY},
                {"topic", WEIR_TYPE_STRING},
                {"partition", WEIR_TYPE_INTEGER},
                {"offset", WEIR_TYPE_LONG},
                {"timestamp", WEIR_TYPE_TIMESTAMP},
                {"timestamp_type", WEIR_TYPE_INTEGER}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(cols) / sizeof(cols[0]); i++)
        rc = weir_type_struct_add(st, cols[i].name, weir_type_primitive(cols[i].kind), true, NULL);
    if (rc == 0 && headers) {
        struct weir_type *h = weir_type_struct();
        rc = h ? weir_type_struct_add(h, "key", weir_type_primitive(WEIR_TYPE_STRING), true, NULL)
               : WEIR_ENOMEM;
        if (rc == 0)
            rc = weir_type_struct_add(h, "value", weir_type_primitive(WEIR_TYPE_BINARY), true, NULL);
        if (rc != 0) {
            weir_type_destroy(h);
        } else {
            rc = weir_type_struct_add(st, "headers", weir_type_array(h, true), true, NULL);
        }
    }
    if (rc != 0) {
        weir_type_destroy(st);
        return NULL;
    }
    return st;
}

bool weir_source_kafka_key_is_secret(const char *key)
{
    static const char *const words[] = {"password", "secret", "sasl.jaas", "ssl.key"};
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strcasestr(key, words[i]) != NULL)
            return true;
    return false;
}

static int conf_set(rd_kafka_conf_t *conf, const char *pipeline, const char *key, const char *val, bool user,
                    struct weir_error *err)
{
    char errstr[512] = "";
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK)
        return 0;
    if (!user)
        return weir_error_set(err, WEIR_ECONFIG, "pipeline '%s': source.kafka: librdkafka refused %s: %s",
                              pipeline, key, errstr);
    if (weir_source_kafka_key_is_secret(key))
        return weir_error_set(
            err, WEIR_ECONFIG,
            "pipeline '%s': source.kafka.kafka.%s: rejected by librdkafka (value not shown: "
            "secret)",
            pipeline, key);
    return weir_error_set(err, WEIR_ECONFIG, "pipeline '%s': source.kafka.kafka.%s: librdkafka: %s", pipeline,
                          key, errstr);
}

static int describe(struct ksrc *s)
{
    const struct weir_config_kafka *k = s->cfg;
    struct weir_buf b;
    weir_buf_init(&b);
    int rc;
    if (k->topic_pattern != NULL) {
        rc = weir_buf_printf(&b, "KafkaV2[SubscribePattern[%s]]", k->topic_pattern);
    } else {
        rc = weir_buf_append_str(&b, "KafkaV2[Subscribe[");
        for (size_t i = 0; rc == 0 && i < k->ntopics; i++)
            rc = weir_buf_printf(&b, "%s%s", i ? "," : "", k->topics[i]);
        if (rc == 0)
            rc = weir_buf_append_str(&b, "]]");
    }
    if (rc != 0) {
        weir_buf_free(&b);
        return WEIR_ENOMEM;
    }
    s->base.description = weir_buf_detach(&b);
    return 0;
}

int weir_source_kafka_create(const struct weir_config_pipeline *pc, struct weir_source **out,
                             struct weir_error *err)
{
    const struct weir_config_kafka *k = &pc->kafka;
    const char *name = pc->name ? pc->name : "";
    rd_kafka_conf_t *conf = NULL;
    char errstr[512] = "";
    *out = NULL;
    struct ksrc *s = weir_calloc(1, sizeof(*s));
    if (s == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
    s->base.ops = &kafka_ops;
    s->base.pipeline = pc->name;
    s->cfg = k;
    s->last_data_ms = mono_ms();
    int rc = 0;
    if ((k->topics == NULL || k->ntopics == 0) == (k->topic_pattern == NULL)) {
        rc = weir_error_set(err, WEIR_ECONFIG,
                            "pipeline '%s': source.kafka: exactly one of topics, topic_pattern "
                            "is required",
                            name);
        goto done;
    }
    if (k->topic_pattern != NULL) {
        int e = pattern_compile(k->topic_pattern, &s->re);
        if (e == REG_ESPACE) {
            rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
            goto done;
        }
        if (e != 0) {
            regerror(e, &s->re, errstr, sizeof(errstr));
            rc = weir_error_set(err, WEIR_ECONFIG,
                                "pipeline '%s': source.kafka.topic_pattern: invalid regular expression: %s",
                                name, errstr);
            goto done;
        }
        s->have_re = true;
    }
    s->base.schema = weir_source_kafka_schema(k->include_headers);
    if (s->base.schema == NULL || describe(s) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
        goto done;
    }
    conf = rd_kafka_conf_new();
    char group[64];
    char uuid[37];
    weir_uuid4(uuid);
    snprintf(group, sizeof(group), "weir-%s", uuid);
    /* Our defaults (the pipeline's kafka.* may override), then the user's,
     * then what the offset handling depends on. */
    static const char *const defaults[][2] = {
        {"client.id", "weir"},
        {"queued.max.messages.kbytes", "32768"},
        {"queued.min.messages", "1000000"},
        {"fetch.max.bytes", "1000000"},
        {"max.partition.fetch.bytes", "1000000"},
        {"reconnect.backoff.max.ms", "2000"},
    };
    const char *const forced[][2] = {
        {"group.id", k->group_id ? k->group_id : group},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "error"},
        {"enable.partition.eof", "true"},
    };
    for (size_t i = 0; rc == 0 && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = conf_set(conf, name, defaults[i][0], defaults[i][1], false, err);
    if (rc == 0)
        rc = conf_set(conf, name, "bootstrap.servers", k->bootstrap_servers, false, err);
    for (size_t i = 0; rc == 0 && i < k->nprops; i++)
        rc = conf_set(conf, name, k->props[2 * i], k->props[2 * i + 1], true, err);
    for (size_t i = 0; rc == 0 && i < k->nprops; i++)
        for (size_t j = 0; j < sizeof(forced) / sizeof(forced[0]); j++)
            if (strcmp(k->props[2 * i], forced[j][0]) == 0)
                WEIR_LOG(WEIR_LOG_WARN, pc->name, -1,
                         "source.kafka.kafka.%s is ignored: weir sets it to \"%s\" (see docs/kafka.md)",
                         forced[j][0], forced[j][1]);
    for (size_t i = 0; rc == 0 && i < sizeof(forced) / sizeof(forced[0]); i++)
        rc = conf_set(conf, name, forced[i][0], forced[i][1], false, err);
    if (rc != 0)
        goto done;
    rd_kafka_conf_set_log_cb(conf, on_log);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_opaque(conf, s);
    s->conf = conf;
    conf = NULL; /* owned by s now */
    if ((rc = client_create(s, err)) != 0)
        goto done;
    *out = &s->base;
done:
    if (conf != NULL)
        rd_kafka_conf_destroy(conf);
    if (rc != 0)
        kafka_destroy(&s->base);
    return rc;
}

/* ------------------------------------------------------------------ reset */

void weir_kafka_reset_result_clear(struct weir_kafka_reset_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nmoves; i++)
        weir_free(r->moves[i].topic);
    weir_free(r->moves);
    weir_free(r->offsets);
    memset(r, 0, sizeof(*r));
}

static bool tpl_has_topic(const struct tplist *l, const char *topic)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].topic, topic) == 0)
            return true;
    return false;
}

/* Drops the entries of other topics than `topic` (order kept). */
static void tpl_only_topic(struct tplist *l, const char *topic)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (strcmp(l->v[i].topic, topic) == 0)
            l->v[k++] = l->v[i];
        else
            weir_free(l->v[i].topic);
    }
    l->n = k;
}

/* Copies the entries of `from` whose topic `keep` accepts to `to`. */
static int tpl_take(const struct tplist *from, struct tplist *to,
                    bool (*keep)(const void *ctx, const char *topic), const void *ctx)
{
    for (size_t i = 0; i < from->n; i++)
        if (keep(ctx, from->v[i].topic) &&
            tpl_add(to, from->v[i].topic, strlen(from->v[i].topic), from->v[i].part, from->v[i].off) != 0)
            return WEIR_ENOMEM;
    return 0;
}

static bool keep_unless_given(const void *ctx, const char *topic)
{
    return !tpl_has_topic(ctx, topic);
}

struct reset_scope {
    const struct ksrc *s;
    const char *topic;
};

static bool keep_unless_reset(const void *ctx, const char *topic)
{
    const struct reset_scope *sc = ctx;
    return sc->topic != NULL ? strcmp(topic, sc->topic) != 0 : !subscribed(sc->s, topic);
}

/* The brokers' offsets for r->to of every partition of the subscribed
 * topics (of r->topic only) into *moved; the entries of `cur` of other
 * topics into *kept. */
static int reset_from_brokers(const struct weir_config_pipeline *p, const struct weir_kafka_reset *r,
                              struct tplist *cur, struct tplist *moved, struct tplist *kept,
                              struct weir_error *err)
{
    struct weir_source *base = NULL;
    struct tplist parts = {0};
    int64_t *lo = NULL, *hi = NULL, *ts = NULL;
    if (p == NULL || p->source != WEIR_SOURCE_KAFKA)
        return weir_error_set(
            err, WEIR_EINVAL,
            "source.kafka: a reset to the brokers' offsets needs the pipeline's Kafka settings");
    int rc = weir_source_kafka_create(p, &base, err);
    if (rc != 0)
        return rc;
    struct ksrc *s = (struct ksrc *)base;
    const char *name = p->name ? p->name : "";
    struct reset_scope sc = {.s = s, .topic = r->topic};
    if (r->topic != NULL && !subscribed(s, r->topic)) {
        rc = weir_error_set(err, WEIR_ECONFIG, "pipeline '%s' does not read topic '%s' (its source is %s)",
                            name, r->topic, s->base.description);
        goto done;
    }
    if ((rc = subscription(s, &parts, err)) != 0)
        goto done;
    if (r->topic != NULL)
        tpl_only_topic(&parts, r->topic);
    if (parts.n == 0) {
        rc = r->topic != NULL
                 ? weir_error_set(err, WEIR_ENOTFOUND,
                                  "pipeline '%s': topic '%s' does not exist on the brokers", name, r->topic)
                 : weir_error_set(err, WEIR_ENOTFOUND,
                                  "pipeline '%s': none of the topics of %s exists on the brokers", name,
                                  s->base.description);
        goto done;
    }
    if ((rc = watermarks(s, &parts, &lo, &hi, err)) != 0)
        goto done;
    if (r->to == WEIR_KAFKA_RESET_TIMESTAMP) {
        if ((ts = weir_calloc(parts.n, sizeof(*ts))) == NULL) {
            rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
            goto done;
        }
        if ((rc = list_offsets(s, &parts, r->timestamp_ms, ts, KAFKA_STALL_MS, err)) != 0)
            goto done;
    }
    for (size_t i = 0; i < parts.n; i++) {
        if (lo[i] == OFF_MISSING || hi[i] == OFF_MISSING || (ts != NULL && ts[i] == OFF_MISSING)) {
            rc = weir_error_set(err, WEIR_ERETRY,
                                "pipeline '%s': source.kafka: topic '%s' partition %" PRId32
                                " disappeared while its offsets were asked for",
                                name, parts.v[i].topic, parts.v[i].part);
            goto done;
        }
        if (r->to == WEIR_KAFKA_RESET_EARLIEST)
            parts.v[i].off = lo[i];
        else if (r->to == WEIR_KAFKA_RESET_TIMESTAMP && ts[i] >= 0)
            parts.v[i].off = ts[i];
        else
            parts.v[i].off = hi[i];
    }
    if (tpl_take(cur, kept, keep_unless_reset, &sc) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
        goto done;
    }
    *moved = parts;
    parts = (struct tplist){0};
done:
    weir_free(lo);
    weir_free(hi);
    weir_free(ts);
    tpl_free(&parts);
    kafka_destroy(base);
    return rc;
}

/* The explicit offsets of a reset (only r->topic's when set) into *moved;
 * the entries of `cur` of other topics into *kept. With the pipeline `p`
 * (may be NULL) every topic named must be one it reads. */
static int reset_from_json(const struct weir_config_pipeline *p, const struct weir_kafka_reset *r,
                           struct tplist *cur, struct tplist *moved, struct tplist *kept,
                           struct weir_error *err)
{
    struct weir_error perr = {0};
    int rc = tpl_from_json(r->offsets, 0, "the offsets given", moved, &perr);
    if (rc != 0)
        return weir_error_set(err, rc == WEIR_EPARSE ? WEIR_EINVAL : rc, "%s", perr.message);
    if (r->topic != NULL) {
        tpl_only_topic(moved, r->topic);
        if (moved->n == 0)
            return weir_error_set(err, WEIR_EINVAL, "the offsets given have no partition of topic '%s'",
                                  r->topic);
    }
    if (moved->n == 0)
        return weir_error_set(err, WEIR_EINVAL,
                              "the offsets given name no partition; write {\"topic\":{\"0\":offset, ...}}");
    if (p != NULL && p->source == WEIR_SOURCE_KAFKA) {
        const struct weir_config_kafka *k = &p->kafka;
        regex_t re;
        int e = k->topic_pattern != NULL ? pattern_compile(k->topic_pattern, &re) : 0;
        if (e != 0)
            return weir_error_set(err, e == REG_ESPACE ? WEIR_ENOMEM : WEIR_ECONFIG,
                                  "pipeline '%s': source.kafka.topic_pattern does not compile", p->name);
        const char *stray = NULL;
        for (size_t i = 0; i < moved->n && stray == NULL; i++)
            if (!topic_wanted(k, k->topic_pattern ? &re : NULL, moved->v[i].topic))
                stray = moved->v[i].topic;
        int rc = stray ? weir_error_set(err, WEIR_ECONFIG, "pipeline '%s' does not read topic '%s'", p->name,
                                        stray)
                       : 0;
        if (k->topic_pattern != NULL)
            regfree(&re);
        if (rc != 0)
            return rc;
    }
    if (tpl_take(cur, kept, keep_unless_given, moved) != 0)
        return weir_error_set(err, WEIR_ENOMEM, "source.kafka: out of memory");
    return 0;
}

int weir_source_kafka_reset(const struct weir_config_pipeline *p, const char *current,
                            const struct weir_kafka_reset *r, struct weir_kafka_reset_result *out,
                            struct weir_error *err)
{
    struct tplist cur = {0}, moved = {0}, res = {0};
    memset(out, 0, sizeof(*out));
    int rc = tpl_from_json(current, 0, "the current offsets", &cur, err);
    if (rc != 0)
        goto done;
    rc = r->to == WEIR_KAFKA_RESET_OFFSETS ? reset_from_json(p, r, &cur, &moved, &res, err)
                                           : reset_from_brokers(p, r, &cur, &moved, &res, err);
    if (rc != 0)
        goto done;
    for (size_t i = 0; i < moved.n && rc == 0; i++)
        rc = tpl_add(&res, moved.v[i].topic, strlen(moved.v[i].topic), moved.v[i].part, moved.v[i].off);
    if (rc == 0) {
        tpl_sort(&res);
        rc = tpl_to_json(&res, &out->offsets);
    }
    /* every partition of either list, once, in order */
    size_t cap = cur.n + res.n, i = 0, j = 0;
    if (rc == 0 && cap > 0 && (out->moves = weir_calloc(cap, sizeof(*out->moves))) == NULL)
        rc = WEIR_ENOMEM;
    while (rc == 0 && (i < cur.n || j < res.n)) {
        int c = i == cur.n ? 1 : j == res.n ? -1 : tp_cmp(&cur.v[i], &res.v[j]);
        const struct tp *t = c <= 0 ? &cur.v[i] : &res.v[j];
        struct weir_kafka_move *m = &out->moves[out->nmoves];
        if ((m->topic = weir_strdup(t->topic)) == NULL) {
            rc = WEIR_ENOMEM;
            break;
        }
        m->partition = t->part;
        m->from = c <= 0 ? cur.v[i++].off : WEIR_KAFKA_NO_OFFSET;
        m->to = c >= 0 ? res.v[j++].off : WEIR_KAFKA_NO_OFFSET;
        out->nmoves++;
    }
    if (rc != 0)
        rc = weir_error_set(err, rc, "source.kafka: out of memory");
done:
    if (rc != 0)
        weir_kafka_reset_result_clear(out);
    tpl_free(&cur);
    tpl_free(&moved);
    tpl_free(&res);
    return rc;
}
