/* stream/stateful.c - dedup and aggregate steps over the RocksDB state
 * store (see stateful.h; semantics and layouts in docs/stateful.md).
 *
 * Owns, per step: the bound key / group / argument expressions, one state
 * operator (a column family) and per-batch scratch: a hash map of the
 * batch's keys with their expiry (dedup; its new keys are ingested into the
 * state as one sorted file when it passes SPILL_BYTES and at finish) or of
 * the groups the batch touched with their accumulators (aggregate), reset
 * by finish and by abort.
 *
 * Keys of both steps and the group part of aggregate keys use the row key
 * encoding of core/keymap.h. Times in keys that must sort (expiry, window
 * end and start) are big-endian with the sign bit flipped, so byte order is
 * numeric order.
 *
 * State layout of an operator's column family:
 *   dedup      'k' key -> expiry ms (8 bytes, little endian; compactions
 *                         drop it once its second is evicted)
 *              'c' be(second end) -> number of keys expiring in that second
 *              'e' -> the end of the last second evicted
 *   aggregate  'w' be(end) be(start) group -> accumulators  (windowed)
 *              'g' group -> accumulators                      (no window)
 *              's' group -> sessions: n, then n x (start, end, accumulators)
 *              'x' be(end) group be(start) -> ""             (session end index)
 *   both       '#' -> number of rows (8 bytes), kept exact for progress
 * Accumulators: a sequence of entries (tag u32, class u8, has u8, payload);
 * the tag hashes "name|function|argument", so a measure added or dropped
 * later leaves the other entries readable (compatible change). */
#include "stream/stateful.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/expr.h"
#include "core/hll.h"
#include "core/keymap.h"
#include "core/util.h"

#define CHUNK_OUT_ROWS 4096
#define HLL_P          11
/* Version of the key encoding and state layout below, in each operator's
 * metadata; state of another layout is refused. */
#define STATE_LAYOUT   3
/* Keys (dedup) or groups (aggregate) of one batch held in memory before
 * they are written to the state early (dedup_spill, agg_spill). */
#define SPILL_BYTES    ((size_t)64 << 20)

/* ------------------------------------------------------------------ bytes */

static void be64(uint8_t *p, int64_t v)
{
    uint64_t u = (uint64_t)v ^ (UINT64_C(1) << 63);
    for (int i = 7; i >= 0; i--, u >>= 8)
        p[i] = (uint8_t)u;
}

static int64_t from_be64(const uint8_t *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = u << 8 | p[i];
    return (int64_t)(u ^ (UINT64_C(1) << 63));
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Event time of row r of a TIMESTAMP column in microseconds; false when null. */
static bool event_us(const struct weir_column *c, size_t r, int64_t *us)
{
    if (!weir_column_is_valid(c, r))
        return false;
    *us = weir_column_i64(c, r);
    return true;
}

/* ------------------------------------------------------------------ shared */

static int bind_list(char **texts, size_t n, const struct weir_type *in, const char *what,
                     struct weir_expr ***out, struct weir_error *err)
{
    struct weir_expr **e = weir_calloc(n ? n : 1, sizeof *e);
    if (!e)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    *out = e;
    for (size_t i = 0; i < n; i++) {
        int rc = weir_expr_parse(texts[i], &e[i], err);
        if (rc == 0)
            rc = weir_expr_bind(e[i], in, err);
        if (rc)
            return weir_error_prefix(err, "%s[%zu]", what, i);
        const struct weir_type *t = weir_expr_type(e[i]);
        if (t == NULL || !weir_type_is_primitive(t))
            return weir_error_set(err, WEIR_ESCHEMA, "%s[%zu]: '%s' must be a single column value", what, i,
                                  texts[i]);
    }
    return 0;
}

static void free_list(struct weir_expr **e, size_t n)
{
    if (!e)
        return;
    for (size_t i = 0; i < n; i++)
        weir_expr_destroy(e[i]);
    weir_free(e);
}

/* Index of TIMESTAMP column `name` in `in`, or an error naming `what`. */
static int time_column(const struct weir_type *in, const char *name, const char *what, int *col,
                       struct weir_error *err)
{
    int i = weir_type_field_index(in, name);
    if (i < 0)
        return weir_error_set(err, WEIR_ESCHEMA, "%s: no column '%s' in the rows reaching this step", what,
                              name);
    int k = in->fields[i].type->kind;
    if (k != WEIR_TYPE_TIMESTAMP && k != WEIR_TYPE_TIMESTAMP_NTZ)
        return weir_error_set(err, WEIR_ESCHEMA, "%s: column '%s' is not a TIMESTAMP", what, name);
    *col = i;
    return 0;
}

static int64_t read_count(struct weir_state_op *op)
{
    struct weir_buf v;
    bool found = false;
    int64_t n = 0;
    weir_buf_init(&v);
    if (weir_state_get(op, "#", 1, &v, &found, NULL) == 0 && found && v.len == 8)
        memcpy(&n, v.data, 8);
    weir_buf_free(&v);
    return n;
}

static void write_count(struct weir_state_op *op, int64_t n)
{
    weir_state_put(op, "#", 1, &n, 8);
}

/* Compare the "keys"/"group" arrays and window of stored vs current
 * metadata; message names the first difference. */
static int compat_field(const cJSON *s, const cJSON *c, const char *field, struct weir_error *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(s, field),
                *b = cJSON_GetObjectItemCaseSensitive(c, field);
    if (cJSON_Compare(a, b, true))
        return 0;
    char *sa = a ? cJSON_PrintUnformatted(a) : NULL, *sb = b ? cJSON_PrintUnformatted(b) : NULL;
    int rc = weir_error_set(err, WEIR_ESTATE, "%s changed from %s to %s", field, sa ? sa : "none",
                            sb ? sb : "none");
    cJSON_free(sa);
    cJSON_free(sb);
    return rc;
}

static int parse_meta(const char *stored, const char *current, cJSON **s, cJSON **c, struct weir_error *err)
{
    *s = cJSON_Parse(stored);
    *c = cJSON_Parse(current);
    if (!*s || !*c)
        return weir_error_set(err, WEIR_ECORRUPT, "unreadable operator metadata: %s", stored);
    int rc = compat_field(*s, *c, "kind", err);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(*s, "layout");
    if (rc == 0 && !(cJSON_IsNumber(l) && l->valueint == STATE_LAYOUT))
        rc = weir_error_set(err, WEIR_ESTATE,
                            "the state was written in layout %d by another version of weir; this one reads "
                            "layout %d (start a new checkpoint)",
                            cJSON_IsNumber(l) ? l->valueint : 1, STATE_LAYOUT);
    return rc;
}

/* JSON array of {"expr", "type"} for bound expressions. */
static int meta_exprs(struct weir_buf *b, const char *field, struct weir_expr **e, size_t n)
{
    int rc = weir_buf_printf(b, "\"%s\":[", field);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *t = weir_type_to_display(weir_expr_type(e[i]));
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "expr", weir_expr_name(e[i]));
        cJSON_AddStringToObject(o, "type", t ? t : "?");
        char *s = cJSON_PrintUnformatted(o);
        rc = s ? weir_buf_printf(b, "%s%s", i ? "," : "", s) : WEIR_ENOMEM;
        cJSON_free(s);
        cJSON_Delete(o);
        weir_free(t);
    }
    return rc ? rc : weir_buf_append_byte(b, ']');
}

/* ================================================================== dedup */

enum { EXP_EVENT, EXP_WITHIN, EXP_TTL, EXP_NONE };
/* A key of the batch's map: asked of the state in this push, found there,
 * or new (written by dedup_spill); RENEWED: expired and new again in this
 * push (NEW once the push is done: later rows of the push are duplicates). */
enum { SEEN_ASKED, SEEN_STORED, SEEN_NEW, SEEN_RENEWED };

/* An upper bound on an operator's keys of one tag: the largest such key
 * in the state, read once a batch, raised by every write of the batch. A
 * key above it is new without a read, and a sorted run's keys above it go
 * in a file of their own, which overlaps no other (no compaction). */
struct key_bound {
    struct weir_buf k;
    bool read, any;
};

/* The keys a batch spilled above the key bound it started with: such a
 * key is in the state only if the batch itself wrote it, which this
 * blocked Bloom filter answers without a read (one cache line per key,
 * SF_PROBES bits in it; ~1 % false positives at its capacity of one key
 * per SF_BITS_PER_KEY bits). Past SF_OVERFULL times the capacity every key
 * is a "maybe". Cleared when the batch's bound is read. */
#define SF_PROBES       6
#define SF_BITS_PER_KEY 10
#define SF_OVERFULL     4
struct spill_filter {
    uint64_t *bits; /* nblocks blocks of 8 words */
    size_t nblocks;
    size_t n; /* keys added */
};

struct weir_dedup {
    char *name;
    struct weir_expr **keys;
    size_t nkeys;
    int expiry; /* EXP_* */
    int ts_col; /* input column of event time, -1 */
    int64_t delay_ms, ttl_ms;
    struct weir_state *st;
    struct weir_state_op *op;
    /* keys of the batch in flight, until spilled: per id its expiry and
     * SEEN_* state */
    struct weir_keymap seen;
    int64_t *sexp;
    uint8_t *sstate;
    size_t scap;
    size_t spill_bytes; /* dedup_spill past this much (SPILL_BYTES) */
    size_t peak_bytes;  /* the most dedup_memory reached since the last metrics */
    /* a push's scratch, per row (keep) or per key asked (the rest) */
    struct {
        uint32_t *cand, *rows;
        uint64_t *hash; /* per key asked: its key-map hash, for the spill filter */
        bool *keep, *found;
        const char **keys;
        size_t *klens;
        struct weir_buf *vals;
        struct sortkey *sk;
        size_t cap;
    } x;
    struct key_bound hi;     /* of the 'k' keys */
    struct key_bound base;   /* hi as the batch found it */
    struct spill_filter sf;  /* the keys the batch spilled above base */
    struct weir_keymap bmap; /* expiry buckets the batch changes -> bdelta */
    int64_t *bdelta;
    size_t bcap;
    struct weir_buf kb;
    /* the batch in flight: its counts are written by finish, so pushes
     * leave the memtable empty and lookups skip it */
    bool in_batch;
    int64_t evicted; /* the end of the last second evicted ('e') */
    int64_t rows_total;
    struct weir_stateful_metrics m;
};

static int dedup_compat(const char *stored, const char *current, struct weir_error *err)
{
    cJSON *s, *c;
    int rc = parse_meta(stored, current, &s, &c, err);
    if (rc == 0)
        rc = compat_field(s, c, "keys", err);
    cJSON_Delete(s);
    cJSON_Delete(c);
    return rc;
}

int weir_dedup_create(const struct weir_config_dedup *c, const struct weir_type *in, const char *wm_column,
                      int64_t wm_delay_ms, struct weir_state *st, const char *name, struct weir_dedup **out,
                      struct weir_error *err)
{
    struct weir_dedup *d = weir_calloc(1, sizeof *d);
    struct weir_buf meta;
    int rc;
    weir_buf_init(&meta);
    *out = NULL;
    if (!d || !(d->name = weir_strdup(name))) {
        weir_free(d);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    weir_buf_init(&d->kb);
    d->ts_col = -1;
    d->st = st;
    d->spill_bytes = SPILL_BYTES;
    d->delay_ms = wm_delay_ms;
    d->ttl_ms = c->ttl_ms;
    if ((rc = bind_list(c->keys, c->nkeys, in, "keys", &d->keys, err)) != 0)
        goto fail;
    d->nkeys = c->nkeys;
    if (wm_column != NULL) {
        if ((rc = time_column(in, wm_column, "watermark", &d->ts_col, err)) != 0)
            goto fail;
        d->expiry = c->within_watermark ? EXP_WITHIN : EXP_EVENT;
    } else {
        d->expiry = c->ttl_ms > 0 ? EXP_TTL : EXP_NONE;
    }
    if ((rc = weir_buf_printf(&meta, "{\"kind\":\"dedup\",\"layout\":%d,", STATE_LAYOUT)) ||
        (rc = meta_exprs(&meta, "keys", d->keys, d->nkeys)) ||
        (rc = weir_buf_printf(&meta, ",\"expiry\":\"%s\"}",
                              (const char *[]){"event", "within_watermark", "ttl", "none"}[d->expiry])) ||
        (rc = weir_buf_append_byte(&meta, 0))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto fail;
    }
    if (st && (rc = weir_state_operator(st, name, (const char *)meta.data, dedup_compat, &d->op, err)) != 0)
        goto fail;
    d->rows_total = st ? read_count(d->op) : 0;
    d->m.name = d->name;
    weir_buf_free(&meta);
    *out = d;
    return 0;
fail:
    weir_buf_free(&meta);
    weir_dedup_destroy(d);
    return rc;
}

void weir_dedup_destroy(struct weir_dedup *d)
{
    if (!d)
        return;
    free_list(d->keys, d->nkeys);
    weir_keymap_free(&d->seen);
    weir_free(d->sexp);
    weir_free(d->sstate);
    weir_free(d->x.cand);
    weir_free(d->x.hash);
    weir_free(d->x.rows);
    weir_free(d->x.keep);
    weir_free(d->x.found);
    weir_free(d->x.keys);
    weir_free(d->x.klens);
    for (size_t i = 0; i < d->x.cap; i++)
        weir_buf_free(&d->x.vals[i]);
    weir_free(d->x.vals);
    weir_free(d->x.sk);
    weir_buf_free(&d->hi.k);
    weir_keymap_free(&d->bmap);
    weir_free(d->bdelta);
    weir_free(d->sf.bits);
    weir_buf_free(&d->base.k);
    weir_buf_free(&d->kb);
    weir_free(d->name);
    weir_free(d);
}

/* The expiry at or before which keys are forgotten in batch sb; false
 * when none are. */
static bool dedup_limit(const struct weir_dedup *d, const struct weir_stateful_batch *sb, int64_t *limit)
{
    *limit = d->expiry == EXP_TTL ? sb->now_ms : sb->watermark_ms;
    return d->expiry != EXP_NONE && (d->expiry == EXP_TTL || sb->has_watermark);
}

/* A key to write, with its expiry (dedup) or its group id (aggregate). */
struct sortkey {
    const uint8_t *k;
    size_t n;
    int64_t x;
    uint64_t w; /* sort_keys' scratch */
};

static int key_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

/* Read b once a batch: the largest of op's keys starting with tag. */
static int bound_read(struct key_bound *b, struct weir_state_op *op, uint8_t tag, struct weir_error *err)
{
    if (b->read)
        return 0;
    uint8_t hi = (uint8_t)(tag + 1);
    int rc = weir_state_last_key(op, &tag, 1, &hi, 1, &b->k, &b->any, err);
    b->read = rc == 0;
    return rc;
}

/* k is above every stored key. */
static bool bound_above(const struct key_bound *b, const uint8_t *k, size_t kn)
{
    return !b->any || key_cmp(k, kn, b->k.data, b->k.len) > 0;
}

/* k was written: raise b to it. 0 or WEIR_ENOMEM. */
static int bound_raise(struct key_bound *b, const uint8_t *k, size_t kn)
{
    if (!bound_above(b, k, kn))
        return 0;
    b->k.len = 0;
    if (weir_buf_append(&b->k, k, kn))
        return WEIR_ENOMEM;
    b->any = true;
    return 0;
}

/* How many of the sorted keys s[0..n) are not above b. */
static size_t bound_count_below(const struct key_bound *b, const struct sortkey *s, size_t n)
{
    size_t lo = 0, hi = b->any ? n : 0;
    while (lo < hi) {
        size_t m = lo + (hi - lo) / 2;
        if (!bound_above(b, s[m].k, s[m].n))
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

/* Block and bit positions of hash h: the block from its high half, the
 * bits from a second mix of it. */
static const uint64_t *sf_block(const struct spill_filter *f, uint64_t h, uint64_t *bits)
{
    *bits = h * UINT64_C(0x9e3779b97f4a7c15);
    return f->bits + (((h >> 32) * f->nblocks) >> 32) * 8;
}

static void sf_add(struct spill_filter *f, uint64_t h)
{
    uint64_t bits;
    uint64_t *blk = (uint64_t *)sf_block(f, h, &bits);
    for (int i = 0; i < SF_PROBES; i++, bits >>= 9)
        blk[(bits & 511) >> 6] |= UINT64_C(1) << (bits & 63);
    f->n++;
}

static bool sf_maybe(const struct spill_filter *f, uint64_t h)
{
    if (f->n == 0)
        return false;
    if (f->n > SF_OVERFULL * f->nblocks * 512 / SF_BITS_PER_KEY)
        return true;
    uint64_t bits;
    const uint64_t *blk = sf_block(f, h, &bits);
    for (int i = 0; i < SF_PROBES; i++, bits >>= 9)
        if (!(blk[(bits & 511) >> 6] >> (bits & 63) & 1))
            return false;
    return true;
}

static void swap_keys(struct sortkey *a, struct sortkey *b)
{
    struct sortkey t = *a;
    *a = *b;
    *b = t;
}

/* Bytes d..d+6 of a key (zero past its end) in the high 56 bits, and in
 * the low 8 how many bytes it has from d on, capped at 8: ordering these
 * words orders the keys by those 7 bytes, a key that ends within them
 * before a longer one; equal words with a low byte of 8 mean both keys go
 * on past d + 7. */
static uint64_t key_word(const struct sortkey *s, size_t d)
{
    size_t avail = s->n > d ? s->n - d : 0;
    uint64_t w = 0;
    if (avail >= 8) {
        for (size_t i = 0; i < 7; i++)
            w = w << 8 | s->k[d + i];
        return w << 8 | 8;
    }
    for (size_t i = 0; i < 7; i++)
        w = w << 8 | (i < avail ? s->k[d + i] : 0);
    return w << 8 | avail;
}

static void sort_words(struct sortkey *s, size_t n, size_t d, struct sortkey *tmp);

/* Groups at least this large are radix sorted (when scratch is at hand). */
#define RADIX_MIN 256

/* Stable LSD radix sort of s[0..n) by w, through tmp (n entries): one
 * pass counts all eight bytes, then one pass per byte that is not the same
 * in every entry (keys that share a prefix, small integers). */
static void radix_words(struct sortkey *s, struct sortkey *tmp, size_t n)
{
    size_t cnt[8][256] = {{0}};
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            cnt[b][(s[i].w >> (8 * b)) & 255]++;
    struct sortkey *src = s, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        size_t *c = cnt[b];
        if (c[(s[0].w >> (8 * b)) & 255] == n)
            continue; /* the same in every entry */
        for (size_t v = 0, off = 0; v < 256; v++) {
            size_t k = c[v];
            c[v] = off;
            off += k;
        }
        for (size_t i = 0; i < n; i++)
            dst[c[(src[i].w >> (8 * b)) & 255]++] = src[i];
        struct sortkey *x = src;
        src = dst;
        dst = x;
    }
    if (src != s)
        memcpy(s, src, n * sizeof *s);
}

/* Sort s[0..n), keys that share their first d bytes: the 7 bytes from d
 * are loaded once into each entry, and the entries sorted by them (radix
 * sort for large groups, 3-way quicksort on integers otherwise); a run of
 * entries equal there moves on to the next 7 bytes. Long common prefixes
 * (tag, window times) cost one read of the key per 7 bytes, not one per
 * comparison. tmp: scratch of at least n entries, or NULL. */
static void sort_keys_at(struct sortkey *s, size_t n, size_t d, struct sortkey *tmp)
{
    for (size_t i = 0; i < n; i++)
        s[i].w = key_word(&s[i], d);
    if (n < RADIX_MIN || tmp == NULL) {
        sort_words(s, n, d, tmp);
        return;
    }
    radix_words(s, tmp, n);
    for (size_t i = 0, j; i < n; i = j) { /* runs equal so far, and longer */
        for (j = i + 1; j < n && s[j].w == s[i].w; j++)
            ;
        if (j - i > 1 && (s[i].w & 0xff) == 8)
            sort_keys_at(s + i, j - i, d + 7, tmp);
    }
}

static void sort_words(struct sortkey *s, size_t n, size_t d, struct sortkey *tmp)
{
    while (n > 1) {
        if (n < 12) { /* insertion sort on the bytes past d */
            for (size_t i = 1; i < n; i++)
                for (size_t j = i;
                     j > 0 && key_cmp(s[j - 1].k + d, s[j - 1].n - d, s[j].k + d, s[j].n - d) > 0; j--)
                    swap_keys(&s[j - 1], &s[j]);
            return;
        }
        size_t m = n / 2; /* median of three as the pivot, moved to s[0] */
        uint64_t a = s[0].w, b = s[m].w, c = s[n - 1].w;
        size_t p = (a < b) ? (b < c ? m : (a < c ? n - 1 : 0)) : (a < c ? 0 : (b < c ? n - 1 : m));
        swap_keys(&s[0], &s[p]);
        uint64_t v = s[0].w;
        size_t lt = 0, i = 1, gt = n;
        while (i < gt) {
            uint64_t x = s[i].w;
            if (x < v)
                swap_keys(&s[lt++], &s[i++]);
            else if (x > v)
                swap_keys(&s[i], &s[--gt]);
            else
                i++;
        }
        if ((v & 0xff) == 8) /* equal so far, and longer: the next 7 bytes */
            sort_keys_at(s + lt, gt - lt, d + 7, tmp);
        /* recurse into the smaller side, loop on the larger */
        if (lt < n - gt) {
            sort_words(s, lt, d, tmp);
            s += gt;
            n -= gt;
        } else {
            sort_words(s + gt, n - gt, d, tmp);
            n = lt;
        }
    }
}

/* Sort by key bytes; the radix passes' scratch is allocated here (without
 * it, quicksort only). */
static void sort_keys(struct sortkey *s, size_t n)
{
    struct sortkey *tmp = n >= RADIX_MIN ? weir_malloc(n * sizeof *tmp) : NULL;
    sort_keys_at(s, n, 0, tmp);
    weir_free(tmp);
}

/* Expiry buckets: keys are counted per second of their expiry (rounded
 * up), under 'c' be(second end); a second is evicted, its keys counted as
 * removed, once the expiry limit has passed all of it. */
static int64_t bucket_of(int64_t exp)
{
    if (exp > INT64_MAX - 1000)
        return INT64_MAX; /* never evicted */
    if (exp < INT64_MIN + 1000)
        exp = INT64_MIN + 1000;
    int64_t s = floor_div(exp, 1000) * 1000;
    return s == exp ? s : s + 1000;
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* An i64 stored under the one-byte key `tag` (default when absent). */
static int64_t read_i64(struct weir_state_op *op, char tag, int64_t dflt)
{
    struct weir_buf v;
    bool found = false;
    int64_t x = dflt;
    weir_buf_init(&v);
    if (weir_state_get(op, &tag, 1, &v, &found, NULL) == 0 && found && v.len == 8)
        memcpy(&x, v.data, 8);
    weir_buf_free(&v);
    return x;
}

/* Add delta to bucket b's count for this batch (written by buckets_write). */
static int bucket_add(struct weir_dedup *d, int64_t b, int64_t delta)
{
    uint8_t k[9] = {'c'};
    size_t id;
    bool added;
    be64(k + 1, b);
    int rc = weir_keymap_put(&d->bmap, k, 9, &id, &added);
    if (rc)
        return rc;
    if (id >= d->bcap) {
        size_t nc = d->bcap ? d->bcap * 2 : 64;
        int64_t *nd = weir_realloc(d->bdelta, nc * sizeof *nd);
        if (!nd)
            return WEIR_ENOMEM;
        d->bdelta = nd;
        d->bcap = nc;
    }
    d->bdelta[id] = (added ? 0 : d->bdelta[id]) + delta;
    return 0;
}

/* The batch's bucket counts added to the stored ones. */
static int buckets_write(struct weir_dedup *d)
{
    int rc = 0;
    for (size_t id = 0; id < d->bmap.n && rc == 0; id++) {
        size_t kn;
        const uint8_t *k = weir_keymap_key(&d->bmap, id, &kn);
        struct weir_buf v;
        bool found = false;
        int64_t n = 0;
        weir_buf_init(&v);
        if ((rc = weir_state_get(d->op, k, kn, &v, &found, NULL)) == 0 && found && v.len == 8)
            memcpy(&n, v.data, 8);
        weir_buf_free(&v);
        n += d->bdelta[id];
        if (rc == 0)
            rc = n > 0 ? weir_state_put(d->op, k, kn, &n, 8) : weir_state_delete(d->op, k, kn);
    }
    return rc;
}

/* Heap bytes the keys of the batch's map use, estimated from their number. */
static size_t dedup_memory(const struct weir_dedup *d)
{
    return weir_keymap_used_bytes(&d->seen) + d->seen.n * (sizeof *d->sexp + sizeof *d->sstate) +
           d->sf.nblocks * 64;
}

/* The batch's bounds: hi read from the state once a batch, base a copy of
 * it as read; the spill filter starts empty with them. */
static int dedup_bounds(struct weir_dedup *d, struct weir_error *err)
{
    if (d->hi.read)
        return 0;
    int rc = bound_read(&d->hi, d->op, 'k', err);
    if (rc)
        return weir_error_prefix(err, "%s", d->name);
    d->base.k.len = 0;
    if (d->hi.any && weir_buf_append(&d->base.k, d->hi.k.data, d->hi.k.len))
        return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", d->name);
    d->base.any = d->hi.any;
    d->base.read = true;
    if (d->sf.n > 0)
        memset(d->sf.bits, 0, d->sf.nblocks * 64);
    d->sf.n = 0;
    return 0;
}

/* Spilled keys s[0..n) (sorted) into the spill filter: those above base. */
static int dedup_remember(struct weir_dedup *d, const struct sortkey *s, size_t n)
{
    if (d->sf.bits == NULL) { /* an eighth of the spill threshold */
        size_t nb = d->spill_bytes / 8 / 64;
        if ((d->sf.bits = weir_calloc(nb ? nb : 1, 64)) == NULL)
            return WEIR_ENOMEM;
        d->sf.nblocks = nb ? nb : 1;
    }
    for (size_t i = bound_count_below(&d->base, s, n); i < n; i++)
        sf_add(&d->sf, weir_keymap_hash(s[i].k, s[i].n));
    return 0;
}

/* The first push or the finish of a batch: its counts start from the
 * stored ones. */
static void dedup_begin(struct weir_dedup *d)
{
    if (d->in_batch)
        return;
    d->in_batch = true;
    d->rows_total = read_count(d->op);
    d->evicted = read_i64(d->op, 'e', INT64_MIN);
    weir_keymap_reset(&d->bmap);
}

/* Room for key ids below n in sexp / sstate. */
static int dedup_reserve(struct weir_dedup *d, size_t n)
{
    if (n <= d->scap)
        return 0;
    size_t nc = d->scap ? d->scap * 2 : 4096;
    while (nc < n)
        nc *= 2;
    int64_t *ne = weir_realloc(d->sexp, nc * sizeof *ne);
    if (ne)
        d->sexp = ne;
    uint8_t *ns = ne ? weir_realloc(d->sstate, nc) : NULL;
    if (!ns)
        return WEIR_ENOMEM;
    d->sstate = ns;
    d->scap = nc;
    return 0;
}

/* Room for n rows in the push's scratch (kept across pushes). */
static int dedup_scratch(struct weir_dedup *d, size_t n)
{
    if (n <= d->x.cap)
        return 0;
    size_t nc = d->x.cap ? d->x.cap : 1024;
    while (nc < n)
        nc *= 2;
#define GROW(f)                                              \
    do {                                                     \
        void *g = weir_realloc(d->x.f, nc * sizeof *d->x.f); \
        if (!g)                                              \
            return WEIR_ENOMEM;                              \
        d->x.f = g;                                          \
    } while (0)
    GROW(cand);
    GROW(rows);
    GROW(hash);
    GROW(keep);
    GROW(found);
    GROW(keys);
    GROW(klens);
    GROW(vals);
    GROW(sk);
#undef GROW
    for (size_t i = d->x.cap; i < nc; i++)
        weir_buf_init(&d->x.vals[i]);
    d->x.cap = nc;
    return 0;
}

/* The batch's new keys, sorted, into the state as one ingested file; the
 * key map starts over (keys it knew are looked up in the state again,
 * through the spill filter when `remember`). */
static int dedup_spill(struct weir_dedup *d, bool remember, struct weir_error *err)
{
    size_t n = 0;
    for (size_t id = 0; id < d->seen.n; id++)
        n += d->sstate[id] == SEEN_NEW;
    struct sortkey *s = weir_malloc((n ? n : 1) * sizeof *s);
    struct weir_state_kv *kv = weir_malloc((n ? n : 1) * sizeof *kv);
    int rc = 0;
    if (!s || !kv) {
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", d->name);
        goto done;
    }
    n = 0;
    for (size_t id = 0; id < d->seen.n; id++)
        if (d->sstate[id] == SEEN_NEW) {
            s[n].k = weir_keymap_key(&d->seen, id, &s[n].n);
            s[n++].x = d->sexp[id];
        }
    if (n > 1)
        sort_keys(s, n);
    for (size_t i = 0; i < n; i++)
        kv[i] = (struct weir_state_kv){.k = s[i].k, .kn = s[i].n, .v = &s[i].x, .vn = 8};
    if ((rc = dedup_bounds(d, err)) != 0)
        goto done;
    if (remember && dedup_remember(d, s, n) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", d->name);
        goto done;
    }
    size_t cut = bound_count_below(&d->hi, s, n);
    if ((rc = weir_state_ingest(d->op, kv, cut, err)) == 0)
        rc = weir_state_ingest(d->op, kv + cut, n - cut, err);
    if (rc == 0 && n > 0 && bound_raise(&d->hi, s[n - 1].k, s[n - 1].n))
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", d->name);
done:
    weir_free(s);
    weir_free(kv);
    weir_keymap_reset(&d->seen);
    return rc;
}

/* A key's expiry when row r of `in` is its first occurrence. */
static int64_t dedup_expiry(const struct weir_dedup *d, const struct weir_stateful_batch *sb,
                            const struct weir_column *ts, size_t r)
{
    int64_t exp = INT64_MAX, us;
    switch (d->expiry) {
    case EXP_EVENT:
    case EXP_WITHIN:
        /* in ms, rounded up: exp <= watermark exactly when us is at or before it */
        /* no event time: kept until the watermark moves past this batch's */
        exp = sat_add(sb->watermark_ms, 1);
        if (event_us(ts, r, &us))
            exp = floor_div(us, 1000) + (floor_div(us, 1000) * 1000 != us);
        if (d->expiry == EXP_WITHIN)
            exp = sat_add(exp, d->delay_ms);
        break;
    case EXP_TTL:
        exp = sat_add(sb->now_ms, d->ttl_ms);
        break;
    default:
        break;
    }
    return exp;
}

/* A key the batch knows with expiry `old` has expired: it is forgotten,
 * counted as removed once its second has been evicted; until then it
 * still counts in its second. */
static int dedup_forget(struct weir_dedup *d, int64_t old, int64_t evicted)
{
    int rc = 0;
    if (bucket_of(old) > evicted && (rc = bucket_add(d, bucket_of(old), -1)) == 0) {
        d->rows_total--;
        d->m.rows_removed++;
    }
    return rc;
}

/* Key id becomes (again) a key of the state, first seen at row r. */
static int dedup_add(struct weir_dedup *d, size_t id, uint8_t state, int64_t exp, bool *keep, size_t r,
                     size_t *nkeep)
{
    d->sexp[id] = exp;
    d->sstate[id] = state;
    keep[r] = true;
    (*nkeep)++;
    d->rows_total++;
    d->m.rows_updated++;
    return d->expiry != EXP_NONE ? bucket_add(d, bucket_of(exp), 1) : 0;
}

/* Candidates dense among the stored keys (many per stored key in their
 * range) are read in key order by one cursor, which then mostly steps
 * instead of seeking; sparse ones (random ids against a large state) by
 * MultiGet, whose bloom filters answer most misses without a read. The
 * choice is made per slice of LOOKUP_SLICE consecutive candidates in key
 * order (a batch's keys often come in dense clusters, one per partition). */
#define DENSE_FACTOR 8
/* Rows whose keys are built and hashed ahead of their map lookups. */
#define KEY_RUN      16
#define LOOKUP_SLICE 512

/* found/vals of the ncand keys in d->x.keys/klens. */
static int dedup_lookup(struct weir_dedup *d, size_t ncand, struct weir_error *err)
{
    struct sortkey *sk = d->x.sk;
    int rc = dedup_bounds(d, err);
    if (rc)
        return rc;
    /* a key above base is stored only if this batch spilled it, and not
     * if it is above every stored key: those need no read */
    size_t below = 0;
    for (size_t i = 0; i < ncand; i++) {
        const uint8_t *k = (const uint8_t *)d->x.keys[i];
        size_t n = d->x.klens[i];
        if (bound_above(&d->base, k, n) && (bound_above(&d->hi, k, n) || !sf_maybe(&d->sf, d->x.hash[i])))
            d->x.found[i] = false;
        else
            sk[below++] = (struct sortkey){.k = k, .n = n, .x = (int64_t)i};
    }
    sort_keys(sk, below);
    struct weir_state_cursor *c = NULL;
    for (size_t from = 0; from < below && rc == 0; from += LOOKUP_SLICE) {
        size_t to = from + LOOKUP_SLICE < below ? from + LOOKUP_SLICE : below;
        d->kb.len = 0; /* the slice's end: just past its last key */
        if ((rc = weir_buf_append(&d->kb, sk[to - 1].k, sk[to - 1].n)) == 0)
            rc = weir_buf_append_byte(&d->kb, 0);
        if (rc) {
            rc = weir_error_set(err, rc, "%s: out of memory", d->name);
            break;
        }
        uint64_t stored = weir_state_estimate_keys(d->op, sk[from].k, sk[from].n, d->kb.data, d->kb.len);
        if (stored > (uint64_t)(to - from) * DENSE_FACTOR) {
            for (size_t i = from; i < to; i++) {
                d->x.keys[i - from] = (const char *)sk[i].k; /* (keys is free once sk holds them) */
                d->x.klens[i - from] = sk[i].n;
            }
            bool f[LOOKUP_SLICE];
            struct weir_buf *v = &d->x.vals[ncand]; /* scratch past the candidates' */
            if ((rc = weir_state_multi_get(d->op, to - from, d->x.keys, d->x.klens, f, v, err)) != 0)
                break;
            for (size_t i = from; i < to && rc == 0; i++) {
                size_t x = (size_t)sk[i].x;
                if ((d->x.found[x] = f[i - from])) {
                    d->x.vals[x].len = 0;
                    if (weir_buf_append(&d->x.vals[x], v[i - from].data, v[i - from].len))
                        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", d->name);
                }
            }
            continue;
        }
        if (!c && (rc = weir_state_cursor_create(d->op, &c, err)) != 0)
            break;
        for (size_t i = from; i < to && rc == 0; i++) {
            size_t x = (size_t)sk[i].x, vn;
            const char *v;
            rc = weir_state_cursor_get(c, sk[i].k, sk[i].n, &v, &vn, &d->x.found[x], err);
            if (rc == 0 && d->x.found[x]) {
                d->x.vals[x].len = 0;
                if (weir_buf_append(&d->x.vals[x], v, vn))
                    rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", d->name);
            }
        }
    }
    weir_state_cursor_destroy(c);
    return rc;
}

int weir_dedup_push(struct weir_dedup *d, const struct weir_stateful_batch *sb, const struct weir_batch *in,
                    int64_t now_us, struct weir_batch **out, struct weir_error *err)
{
    struct weir_batch *p = NULL;
    size_t ncand = 0, nkeep = 0, nrenewed = 0;
    int64_t t0 = weir_mono_ns();
    int rc;
    *out = NULL;
    if ((rc = weir_expr_project(d->keys, d->nkeys, in, now_us, &p, err)) != 0)
        return weir_error_prefix(err, "%s: keys", d->name);
    dedup_begin(d);
    const struct weir_column *ts = d->ts_col >= 0 ? &in->columns[d->ts_col] : NULL;
    int64_t limit, evicted = d->evicted;
    bool expires = dedup_limit(d, sb, &limit);
    if (expires && limit < evicted) /* a clock that went back: compactions may have dropped those keys */
        limit = evicted;
    size_t n = in->nrows;
    if ((rc = dedup_scratch(d, n + LOOKUP_SLICE)) != 0)
        goto out;
    uint32_t *cand = d->x.cand, *rows = d->x.rows;
    bool *keep = d->x.keep, *found = d->x.found;
    const char **keys = d->x.keys;
    size_t *klens = d->x.klens;
    struct weir_buf *vals = d->x.vals;
    memset(keep, 0, n * sizeof *keep);
    /* 1. every row's key in the batch's map: a key seen earlier in the
     * batch is decided here, the first row of a new one asks the state */
    size_t koff[KEY_RUN + 1];
    uint64_t kh[KEY_RUN];
    for (size_t r = 0; r < n; r++) {
        size_t q = r % KEY_RUN;
        if (q == 0) { /* the next run's keys, hashed, their slots prefetched */
            d->kb.len = 0;
            for (size_t i = 0; i < KEY_RUN && r + i < n && rc == 0; i++) {
                koff[i] = d->kb.len;
                rc = weir_buf_append_byte(&d->kb, 'k');
                for (size_t c = 0; c < p->ncolumns && rc == 0; c++)
                    rc = weir_key_append(&d->kb, &p->columns[c], r + i);
                koff[i + 1] = d->kb.len;
                kh[i] = weir_keymap_hash(d->kb.data + koff[i], koff[i + 1] - koff[i]);
                weir_keymap_prefetch(&d->seen, kh[i]);
            }
            if (rc)
                goto out;
        }
        size_t id;
        bool added;
        rc =
            weir_keymap_put_hashed(&d->seen, d->kb.data + koff[q], koff[q + 1] - koff[q], kh[q], &id, &added);
        if (rc == 0)
            rc = dedup_reserve(d, id + 1);
        if (rc)
            goto out;
        if (added) {
            d->sstate[id] = SEEN_ASKED;
            d->x.hash[ncand] = kh[q];
            cand[ncand] = (uint32_t)id;
            rows[ncand++] = (uint32_t)r;
        } else if ((d->sstate[id] == SEEN_STORED || d->sstate[id] == SEEN_NEW) && expires &&
                   d->sexp[id] <= limit) {
            if ((rc = dedup_forget(d, d->sexp[id], evicted)) ||
                (rc = dedup_add(d, id, SEEN_RENEWED, dedup_expiry(d, sb, ts, r), keep, r, &nkeep)))
                goto out;
            cand[n - 1 - nrenewed++] = (uint32_t)id; /* the tail of cand: ncand + nrenewed <= n */
        }
    }
    /* 2. which of the new ones the state has, with their expiry */
    for (size_t i = 0; i < ncand; i++)
        keys[i] = (const char *)weir_keymap_key(&d->seen, cand[i], &klens[i]);
    if (ncand > 0 && (rc = dedup_lookup(d, ncand, err)) != 0)
        goto out_err;
    /* 3. absent keys pass and are remembered; a key past its expiry that
     * finish has not evicted yet is forgotten already: it counts as new */
    for (size_t i = 0; i < ncand && rc == 0; i++) {
        size_t id = cand[i];
        int64_t old = INT64_MAX;
        if (found[i] && vals[i].len == 8)
            memcpy(&old, vals[i].data, 8);
        if (found[i] && expires && old <= limit) {
            if ((rc = dedup_forget(d, old, evicted)))
                break;
            found[i] = false;
        }
        if (found[i]) {
            d->sexp[id] = old;
            d->sstate[id] = SEEN_STORED;
        } else {
            rc = dedup_add(d, id, SEEN_NEW, dedup_expiry(d, sb, ts, rows[i]), keep, rows[i], &nkeep);
        }
    }
    if (rc)
        goto out;
    for (size_t i = 0; i < nrenewed; i++)
        d->sstate[cand[n - 1 - i]] = SEEN_NEW;
    if (nkeep < n) {
        nkeep = 0;
        for (size_t r = 0; r < n; r++)
            if (keep[r])
                cand[nkeep++] = (uint32_t)r;
        if ((rc = weir_batch_take(in, cand, nkeep, out)) != 0)
            goto out;
    }
    if (dedup_memory(d) > d->peak_bytes)
        d->peak_bytes = dedup_memory(d);
    if (dedup_memory(d) > d->spill_bytes && (rc = dedup_spill(d, true, err)) != 0)
        goto out_err;
out:
    if (rc)
        rc = weir_error_set(err, rc, "%s: %s", d->name, weir_strerror(rc));
out_err:
    d->m.all_updates_ms += (weir_mono_ns() - t0) / 1000000;
    weir_batch_destroy(p);
    if (rc) {
        weir_batch_destroy(*out);
        *out = NULL;
    }
    return rc;
}

/* Evict the seconds of expiry the limit has passed entirely: their keys
 * count as removed, and from then on compactions drop them (store.h,
 * expiring entries); pushes treat them as absent before that anyway. */
int weir_dedup_finish(struct weir_dedup *d, const struct weir_stateful_batch *sb, struct weir_error *err)
{
    int64_t t0 = weir_mono_ns(), removed = 0, limit;
    dedup_begin(d);
    int rc = dedup_spill(d, false, err);
    if (rc == 0 && (rc = buckets_write(d)) != 0)
        rc = weir_error_set(err, rc, "%s: %s", d->name, weir_strerror(rc));
    if (rc == 0)
        rc = weir_state_apply(d->st, err); /* the iteration below reads the buckets */
    if (rc)
        goto done;
    if (dedup_limit(d, sb, &limit) && limit > INT64_MIN + 1000) {
        int64_t upto = floor_div(limit, 1000) * 1000; /* the seconds ending by the limit */
        uint8_t lo[1] = {'c'}, hi[9] = {'c'};
        be64(hi + 1, upto + 1);
        struct weir_state_iter *it = NULL;
        rc = weir_state_iter_create(d->op, lo, 1, hi, 9, &it, err);
        for (; rc == 0 && weir_state_iter_valid(it); weir_state_iter_next(it)) {
            size_t vn;
            const char *v = weir_state_iter_value(it, &vn);
            int64_t n = 0;
            if (vn == 8)
                memcpy(&n, v, 8);
            removed += n;
        }
        if (rc == 0)
            rc = weir_state_iter_status(it, err);
        weir_state_iter_destroy(it);
        if (rc == 0 && removed > 0)
            rc = weir_state_delete_range(d->op, lo, 1, hi, 9);
        if (rc == 0 && upto > d->evicted)
            rc = weir_state_put(d->op, "e", 1, &upto, 8);
        if (rc == 0)
            weir_state_op_expire(d->op, 'k', upto);
        if (rc > 0 || (rc < 0 && err && err->code == 0))
            rc = weir_error_set(err, rc, "%s: evicting: %s", d->name, weir_strerror(rc));
    }
    d->rows_total -= removed;
    d->m.rows_removed += removed;
    write_count(d->op, d->rows_total);
    if (rc == 0)
        rc = weir_state_apply(d->st, err);
done:
    d->in_batch = d->hi.read = false;
    d->m.all_updates_ms += (weir_mono_ns() - t0) / 1000000;
    return rc;
}

/* Hand out a step's counts of the batch (acc) with its totals, and reset them. */
static void take_metrics(struct weir_state_op *op, int64_t rows_total, const char *name,
                         struct weir_stateful_metrics *acc, struct weir_stateful_metrics *out)
{
    struct weir_state_op_stats s;
    weir_state_op_stats(op, &s);
    acc->rows_total = rows_total;
    acc->memory_used_bytes = (int64_t)s.memory_bytes;
    acc->state_reads = (int64_t)s.reads;
    *out = *acc;
    memset(acc, 0, sizeof *acc);
    acc->name = name;
}

void weir_dedup_metrics(struct weir_dedup *d, struct weir_stateful_metrics *m)
{
    take_metrics(d->op, d->rows_total, d->name, &d->m, m);
    m->memory_used_bytes += (int64_t)d->peak_bytes;
    d->peak_bytes = 0;
}

void weir_dedup_set_spill_bytes(struct weir_dedup *d, size_t bytes)
{
    d->spill_bytes = bytes;
}

void weir_dedup_abort(struct weir_dedup *d)
{
    weir_keymap_reset(&d->seen);
    d->in_batch = d->hi.read = false;
    memset(&d->m, 0, sizeof d->m); /* the batch's counts: it reruns */
    d->m.name = d->name;
}

/* ================================================================== aggregate */

enum mfn { M_COUNT_STAR, M_COUNT, M_COUNT_IF, M_SUM, M_MIN, M_MAX, M_AVG, M_FIRST, M_LAST, M_ACD };
static const char *const mfn_names[] = {"count", "count", "count_if", "sum",  "min",
                                        "max",   "avg",   "first",    "last", "approx_count_distinct"};
enum mclass { C_INT, C_FLT, C_DEC, C_STR };
enum { WIN_NONE, WIN_TIME, WIN_SESSION };

struct measure {
    int fn;        /* enum mfn */
    int cls;       /* enum mclass of the argument's values */
    int arg;       /* column of the projection, -1 for count(*) */
    int arg_scale; /* decimal arguments */
    char *name;    /* output column */
    char *text;    /* "sum(amount)" */
    uint32_t tag;
};

/* One measure of one group. The value of the measure's class lives in i
 * (integers, counts), d (floating point, avg's sum) or x (decimals), which
 * share storage: only the one of the class is meaningful, n next to i or d
 * (avg's count). 32 bytes. */
struct acc {
    union {
        struct {
            union {
                int64_t i;
                double d;
            };
            int64_t n;
        };
        weir_i128 x;
    };
    uint8_t *s; /* string value, or HLL registers */
    uint32_t sn;
    uint8_t has, isnull;
};

struct weir_aggregate {
    char *name;
    struct weir_state *st;
    struct weir_state_op *op;
    int output;
    int win; /* WIN_* */
    int ts_col;
    int64_t size_us, slide_us, gap_us;
    struct weir_expr **exprs; /* group expressions, then measure arguments */
    size_t ngroup, nexprs;
    struct measure *m;
    size_t nm;
    struct weir_type *out; /* output schema */
    const char **keys;     /* output key column names (borrowed from out) */
    size_t nkeys;
    /* per batch */
    struct weir_keymap groups; /* state key -> id */
    struct acc *accs;          /* id * nm */
    struct acc *eacc;          /* nm: a stored group being emitted */
    struct sortkey *order;     /* agg_order's */
    size_t order_cap;
    size_t acc_cap;
    struct weir_buf kb, vb, hb; /* key, value, hashed-value scratch */
    int64_t rows_total;
    struct weir_stateful_metrics mt;
    /* sessions: id -> list (windowed by session) */
    struct sess_list *sl;
    size_t heavy;         /* heap bytes per group beyond its accumulators (sketches, strings), estimated */
    size_t spill_bytes;   /* agg_spill past this much (SPILL_BYTES) */
    struct agg_run *runs; /* groups spilled by the batch in flight (not sessions) */
    size_t nruns;
    struct key_bound hi; /* of the group keys */
};

static void runs_close(struct weir_aggregate *a);

struct sess {
    int64_t start, end;
    struct acc *a; /* nm accumulators */
};
struct sess_list {
    struct sess *v;
    size_t n, cap;
    struct weir_buf old_index; /* index keys of the sessions as loaded */
};

static int class_of(const struct weir_type *t)
{
    switch (t->kind) {
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
        return C_FLT;
    case WEIR_TYPE_DECIMAL:
        return C_DEC;
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        return C_STR;
    default:
        return C_INT;
    }
}

static void acc_clear(struct acc *a)
{
    weir_free(a->s);
    memset(a, 0, sizeof *a);
}

/* Free an array of nm accumulators. */
static void accs_free(struct acc *ac, size_t nm)
{
    for (size_t j = 0; ac && j < nm; j++)
        acc_clear(&ac[j]);
    weir_free(ac);
}

/* Free l's sessions, keeping its buffers for reuse. */
static void sess_list_clear(const struct weir_aggregate *a, struct sess_list *l)
{
    for (size_t k = 0; k < l->n; k++)
        accs_free(l->v[k].a, a->nm);
    l->n = 0;
    l->old_index.len = 0;
}

static int acc_set_str(struct acc *a, const uint8_t *p, size_t n)
{
    uint8_t *s = weir_malloc(n ? n : 1);
    if (!s)
        return WEIR_ENOMEM;
    memcpy(s, p, n);
    weir_free(a->s);
    a->s = s;
    a->sn = (uint32_t)n;
    return 0;
}

/* Value of row r of c (valid) into a's slot for class cls. */
static int acc_take(struct acc *a, int cls, const struct weir_column *c, size_t r)
{
    switch (cls) {
    case C_FLT:
        a->d = c->type->kind == WEIR_TYPE_FLOAT ? ((const float *)c->data)[r] : weir_column_f64(c, r);
        return 0;
    case C_DEC:
        a->x = ((const weir_i128 *)c->data)[r];
        return 0;
    case C_STR: {
        size_t n;
        const uint8_t *p = weir_column_bytes(c, r, &n);
        return acc_set_str(a, p, n);
    }
    default:
        switch (weir_type_value_width(c->type)) {
        case 1:
            a->i = c->type->kind == WEIR_TYPE_BOOLEAN ? ((const uint8_t *)c->data)[r] != 0
                                                      : ((const int8_t *)c->data)[r];
            break;
        case 2:
            a->i = ((const int16_t *)c->data)[r];
            break;
        case 4:
            a->i = weir_column_i32(c, r);
            break;
        default:
            a->i = weir_column_i64(c, r);
        }
        return 0;
    }
}

/* <0, 0, >0: row r of c against a's value (class cls). */
static int acc_cmp(const struct acc *a, int cls, const struct weir_column *c, size_t r)
{
    struct acc t = {0};
    int v = 0;
    if (cls == C_STR) {
        size_t n;
        const uint8_t *p = weir_column_bytes(c, r, &n);
        size_t m = n < a->sn ? n : a->sn;
        v = memcmp(p, a->s, m);
        return v ? v : (n > a->sn) - (n < a->sn);
    }
    acc_take(&t, cls, c, r);
    if (cls == C_FLT)
        return (t.d > a->d) - (t.d < a->d);
    if (cls == C_DEC)
        return (t.x > a->x) - (t.x < a->x);
    return (t.i > a->i) - (t.i < a->i);
}

/* Count row r of c into a; `scratch` holds a value's bytes for hashing. */
static int acc_update(const struct measure *m, struct acc *a, const struct weir_column *c, size_t r,
                      struct weir_buf *scratch)
{
    bool valid = c == NULL || weir_column_is_valid(c, r);
    switch (m->fn) {
    case M_COUNT_STAR:
        a->i++;
        break;
    case M_COUNT:
        a->i += valid;
        break;
    case M_COUNT_IF:
        a->i += valid && ((const uint8_t *)c->data)[r] != 0;
        break;
    case M_SUM:
        if (!valid)
            break;
        if (m->cls == C_INT) {
            struct acc t = {0};
            acc_take(&t, C_INT, c, r);
            a->i = (int64_t)((uint64_t)a->i + (uint64_t)t.i); /* wraps, as Spark non-ANSI */
        } else if (m->cls == C_FLT) {
            a->d += c->type->kind == WEIR_TYPE_FLOAT ? ((const float *)c->data)[r] : weir_column_f64(c, r);
        } else {
            a->x += ((const weir_i128 *)c->data)[r];
        }
        a->has = 1;
        break;
    case M_AVG:
        if (!valid)
            break;
        if (m->cls == C_DEC) {
            /* decimal: average of the unscaled values, scaled on output */
            a->d += (double)((const weir_i128 *)c->data)[r];
        } else {
            struct acc t = {0};
            acc_take(&t, m->cls, c, r);
            a->d += m->cls == C_FLT ? t.d : (double)t.i;
        }
        a->n++;
        a->has = 1;
        break;
    case M_MIN:
    case M_MAX:
        if (!valid)
            break;
        if (!a->has || (m->fn == M_MIN ? acc_cmp(a, m->cls, c, r) < 0 : acc_cmp(a, m->cls, c, r) > 0)) {
            a->has = 1;
            return acc_take(a, m->cls, c, r);
        }
        break;
    case M_FIRST:
    case M_LAST:
        if (m->fn == M_FIRST && a->has)
            break;
        a->has = 1;
        a->isnull = !valid;
        return valid ? acc_take(a, m->cls, c, r) : 0;
    case M_ACD: {
        if (!valid)
            break;
        if (!a->s) {
            if (!(a->s = weir_calloc(weir_hll_size(HLL_P), 1)))
                return WEIR_ENOMEM;
            a->sn = (uint32_t)weir_hll_size(HLL_P);
        }
        scratch->len = 0;
        int rc = weir_key_append(scratch, c, r);
        if (rc == 0)
            weir_hll_add(a->s, HLL_P, weir_hash64(scratch->data, scratch->len, 0x11));
        a->has = 1;
        return rc;
    }
    }
    return 0;
}

/* dst := dst combined with src, src being later in event time (sessions). */
static int acc_merge(const struct measure *m, struct acc *dst, const struct acc *src)
{
    switch (m->fn) {
    case M_COUNT_STAR:
    case M_COUNT:
    case M_COUNT_IF:
        dst->i += src->i;
        return 0;
    case M_SUM:
        if (m->cls == C_FLT)
            dst->d += src->d;
        else if (m->cls == C_DEC)
            dst->x += src->x;
        else
            dst->i = (int64_t)((uint64_t)dst->i + (uint64_t)src->i);
        dst->has |= src->has;
        return 0;
    case M_AVG:
        dst->d += src->d;
        dst->n += src->n;
        dst->has |= src->has;
        return 0;
    case M_MIN:
    case M_MAX: {
        if (!src->has)
            return 0;
        bool take = !dst->has;
        if (!take) {
            int c;
            if (m->cls == C_STR) {
                size_t n = src->sn < dst->sn ? src->sn : dst->sn;
                c = memcmp(src->s, dst->s, n);
                if (c == 0)
                    c = (src->sn > dst->sn) - (src->sn < dst->sn);
            } else if (m->cls == C_FLT) {
                c = (src->d > dst->d) - (src->d < dst->d);
            } else if (m->cls == C_DEC) {
                c = (src->x > dst->x) - (src->x < dst->x);
            } else {
                c = (src->i > dst->i) - (src->i < dst->i);
            }
            take = m->fn == M_MIN ? c < 0 : c > 0;
        }
        if (!take)
            return 0;
        break;
    }
    case M_FIRST:
        if (dst->has || !src->has)
            return 0;
        break;
    case M_LAST:
        if (!src->has)
            return 0;
        break;
    case M_ACD:
        if (!src->s)
            return 0;
        if (!dst->s)
            return acc_set_str(dst, src->s, src->sn) == 0 ? (dst->has = 1, 0) : WEIR_ENOMEM;
        weir_hll_merge(dst->s, src->s, HLL_P);
        return 0;
    }
    /* copy src's value into dst */
    dst->has = 1;
    dst->isnull = src->isnull;
    dst->x = src->x; /* i, d and n too */
    return src->s ? acc_set_str(dst, src->s, src->sn) : 0;
}

/* -- serialization: per entry tag u32, payload length (varint), class u8,
 * flags u8 (has, isnull), then the payload, by function:
 *   count, count_if, count(*)   the count (zigzag varint)
 *   sum                         the value of the class: integer (zigzag
 *                               varint), f64 or i128, little endian
 *   avg                         f64 sum, count (varint)
 *   min, max, first, last       the value of the class when there is one
 *                               (strings: their bytes), else nothing
 *   approx_count_distinct       the sketch's registers, or nothing */

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static bool counts(int fn)
{
    return fn == M_COUNT_STAR || fn == M_COUNT || fn == M_COUNT_IF;
}

/* The fixed part of a's payload into p (<= 26 bytes); strings and
 * sketches follow it. */
static size_t acc_payload(const struct measure *m, const struct acc *a, uint8_t *p)
{
    if (counts(m->fn))
        return weir_uvarint_put(p, zigzag(a->i));
    if (m->fn == M_AVG) {
        memcpy(p, &a->d, 8);
        return 8 + weir_uvarint_put(p + 8, (uint64_t)a->n);
    }
    if (m->fn == M_ACD || (m->fn != M_SUM && (!a->has || a->isnull)))
        return 0;
    switch (m->cls) {
    case C_FLT:
        memcpy(p, &a->d, 8);
        return 8;
    case C_DEC:
        memcpy(p, &a->x, 16);
        return 16;
    case C_STR:
        return 0;
    default:
        return weir_uvarint_put(p, zigzag(a->i));
    }
}

static int acc_write(struct weir_buf *b, const struct measure *m, size_t nm, const struct acc *a)
{
    for (size_t j = 0; j < nm; j++) {
        uint8_t e[4 + 10 + 2 + 26], pay[26];
        size_t pn = acc_payload(&m[j], &a[j], pay);
        size_t sn =
            (m[j].fn == M_ACD || (m[j].cls == C_STR && a[j].has && !a[j].isnull)) && a[j].s ? a[j].sn : 0;
        memcpy(e, &m[j].tag, 4);
        size_t n = 4 + weir_uvarint_put(e + 4, 2 + pn + sn);
        e[n++] = (uint8_t)m[j].cls;
        e[n++] = (uint8_t)(a[j].has | a[j].isnull << 1);
        memcpy(e + n, pay, pn);
        n += pn;
        if (weir_buf_append(b, e, n) || (sn && weir_buf_append(b, a[j].s, sn)))
            return WEIR_ENOMEM;
    }
    return 0;
}

/* Parse entries of p[0..n) into a (zeroed, nm entries); unknown tags are
 * skipped (a measure that was dropped), integers widen to doubles. An
 * entry of another class, or a sketch that is not one, is WEIR_ECORRUPT.
 * A string value is allocated also when empty: s NULL means no value. */
static int acc_read(const uint8_t *p, size_t n, const struct measure *m, size_t nm, struct acc *a)
{
    const uint8_t *end = p + n;
    while (p < end) {
        uint32_t tag;
        uint64_t len, u;
        if (end - p < 4)
            return WEIR_ECORRUPT;
        memcpy(&tag, p, 4);
        p += 4;
        if (!weir_uvarint_get(&p, end, &len) || len < 2 || (uint64_t)(end - p) < len)
            return WEIR_ECORRUPT;
        const uint8_t *q = p + 2, *qe = p + len;
        for (size_t j = 0; j < nm; j++) {
            if (m[j].tag != tag)
                continue;
            struct acc *x = &a[j];
            int cls = p[0];
            if (cls != m[j].cls && !(cls == C_INT && m[j].cls == C_FLT))
                return WEIR_ECORRUPT;
            x->has = p[1] & 1;
            x->isnull = (p[1] >> 1) & 1;
            if (counts(m[j].fn)) {
                if (!weir_uvarint_get(&q, qe, &u))
                    return WEIR_ECORRUPT;
                x->i = unzigzag(u);
            } else if (m[j].fn == M_AVG) {
                if (qe - q < 8)
                    return WEIR_ECORRUPT;
                memcpy(&x->d, q, 8);
                q += 8;
                if (!weir_uvarint_get(&q, qe, &u))
                    return WEIR_ECORRUPT;
                x->n = (int64_t)u;
            } else if (m[j].fn == M_ACD) {
                if (qe != q && (size_t)(qe - q) != weir_hll_size(HLL_P))
                    return WEIR_ECORRUPT;
                if (qe != q && acc_set_str(x, q, (size_t)(qe - q)) != 0)
                    return WEIR_ENOMEM;
                q = qe;
            } else if (m[j].fn == M_SUM || (x->has && !x->isnull)) {
                if (cls == C_FLT || cls == C_DEC) {
                    size_t w = cls == C_FLT ? 8 : 16;
                    if ((size_t)(qe - q) < w)
                        return WEIR_ECORRUPT;
                    memcpy(cls == C_FLT ? (void *)&x->d : (void *)&x->x, q, w);
                    q += w;
                } else if (cls == C_STR) {
                    if (acc_set_str(x, q, (size_t)(qe - q)) != 0)
                        return WEIR_ENOMEM;
                    q = qe;
                } else {
                    if (!weir_uvarint_get(&q, qe, &u))
                        return WEIR_ECORRUPT;
                    x->i = unzigzag(u);
                    if (m[j].cls == C_FLT) /* widened: long -> double */
                        x->d = (double)x->i;
                }
            }
            if (q != qe)
                return WEIR_ECORRUPT;
            break;
        }
        p += len;
    }
    return 0;
}

/* Append the output value of measure m from accumulator a to column c. */
static int acc_output(const struct measure *m, const struct acc *a, struct weir_column *c)
{
    switch (m->fn) {
    case M_COUNT_STAR:
    case M_COUNT:
    case M_COUNT_IF:
        return weir_column_append_i64(c, a->i);
    case M_ACD:
        return weir_column_append_i64(c, a->s ? (int64_t)llround(weir_hll_estimate(a->s, HLL_P)) : 0);
    case M_AVG:
        if (!a->has || a->n == 0)
            return weir_column_append_null(c);
        if (m->cls == C_DEC) {
            double scale = 1;
            for (int i = 0; i < m->arg_scale; i++)
                scale *= 10;
            return weir_column_append_f64(c, a->d / (double)a->n / scale);
        }
        return weir_column_append_f64(c, a->d / (double)a->n);
    default:
        break;
    }
    if (!a->has || a->isnull)
        return weir_column_append_null(c);
    switch (m->cls) {
    case C_FLT:
        return c->type->kind == WEIR_TYPE_FLOAT ? weir_column_append_f32(c, (float)a->d)
                                                : weir_column_append_f64(c, a->d);
    case C_DEC:
        return weir_column_append_i128(c, a->x);
    case C_STR:
        return weir_column_append_bytes(c, a->s, a->sn);
    default:
        switch (c->type->kind) {
        case WEIR_TYPE_BOOLEAN:
            return weir_column_append_bool(c, a->i != 0);
        case WEIR_TYPE_BYTE:
            return weir_column_append_i8(c, (int8_t)a->i);
        case WEIR_TYPE_SHORT:
            return weir_column_append_i16(c, (int16_t)a->i);
        case WEIR_TYPE_INTEGER:
        case WEIR_TYPE_DATE:
            return weir_column_append_i32(c, (int32_t)a->i);
        default:
            return weir_column_append_i64(c, a->i);
        }
    }
}

/* -- create */

/* "fn(arg) AS name" -> fn, arg text (NULL for *), name. */
static int parse_measure(const char *text, size_t i, int *fn, char **arg, char **name, struct weir_error *err)
{
    const char *p = text;
    while (*p == ' ')
        p++;
    const char *lp = strchr(p, '(');
    int depth = 0;
    const char *rp = NULL;
    bool quoted = false;
    for (const char *q = lp ? lp : p; lp && *q; q++) {
        if (*q == '\'')
            quoted = !quoted;
        else if (!quoted && *q == '(')
            depth++;
        else if (!quoted && *q == ')' && --depth == 0) {
            rp = q;
            break;
        }
    }
    if (!lp || !rp)
        return weir_error_set(err, WEIR_ECONFIG, "measures[%zu]: '%s' is not fn(expr) [AS name]", i, text);
    size_t fl = (size_t)(lp - p);
    while (fl > 0 && p[fl - 1] == ' ')
        fl--;
    *fn = -1;
    for (int f = M_COUNT; f <= M_ACD; f++)
        if (strlen(mfn_names[f]) == fl && strncasecmp(p, mfn_names[f], fl) == 0)
            *fn = f;
    if (*fn < 0)
        return weir_error_set(err, WEIR_ECONFIG,
                              "measures[%zu]: unknown function '%.*s' (count, count_if, sum, min, max, avg, "
                              "first, last, approx_count_distinct)",
                              i, (int)fl, p);
    const char *a = lp + 1, *ae = rp;
    while (a < ae && *a == ' ')
        a++;
    while (ae > a && ae[-1] == ' ')
        ae--;
    if (ae - a == 1 && *a == '*') {
        if (*fn != M_COUNT)
            return weir_error_set(err, WEIR_ECONFIG, "measures[%zu]: '*' only in count(*)", i);
        *fn = M_COUNT_STAR;
        *arg = NULL;
    } else if (ae == a) {
        return weir_error_set(err, WEIR_ECONFIG, "measures[%zu]: %s() needs an argument", i, mfn_names[*fn]);
    } else if (!(*arg = weir_strndup(a, (size_t)(ae - a)))) {
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    const char *r = rp + 1;
    while (*r == ' ')
        r++;
    if (*r == '\0') {
        *name = weir_strndup(p, (size_t)(rp + 1 - p));
    } else if (strncasecmp(r, "AS ", 3) == 0) {
        r += 3;
        while (*r == ' ')
            r++;
        size_t nl = strlen(r);
        while (nl > 0 && r[nl - 1] == ' ')
            nl--;
        if (nl >= 2 && r[0] == '`' && r[nl - 1] == '`') {
            r++;
            nl -= 2;
        }
        if (nl == 0)
            return weir_error_set(err, WEIR_ECONFIG, "measures[%zu]: empty name after AS", i);
        *name = weir_strndup(r, nl);
    } else {
        return weir_error_set(err, WEIR_ECONFIG, "measures[%zu]: unexpected '%s' after %s(...)", i, r,
                              mfn_names[*fn]);
    }
    return *name ? 0 : weir_error_set(err, WEIR_ENOMEM, "out of memory");
}

static struct weir_type *measure_type(const struct measure *m, const struct weir_type *arg, bool *nullable)
{
    *nullable = true;
    switch (m->fn) {
    case M_COUNT_STAR:
    case M_COUNT:
    case M_COUNT_IF:
    case M_ACD:
        *nullable = false;
        return weir_type_primitive(WEIR_TYPE_LONG);
    case M_AVG:
        return weir_type_primitive(WEIR_TYPE_DOUBLE);
    case M_SUM:
        if (m->cls == C_FLT)
            return weir_type_primitive(WEIR_TYPE_DOUBLE);
        if (m->cls == C_DEC)
            return weir_type_decimal(arg->precision + 10 > 38 ? 38 : arg->precision + 10, arg->scale);
        return weir_type_primitive(WEIR_TYPE_LONG);
    default:
        return weir_type_clone(arg);
    }
}

/* May a measure's argument stored as type `from` (display name) now be of
 * type `to`? The same type, a wider integer, integer to floating point,
 * float to double, or a decimal of more precision and the same scale. */
static bool arg_widens(const char *from, const char *to)
{
    static const char *const ints[] = {"byte", "short", "int", "long"};
    int fi = -1, ti = -1, fp, fs, tp, ts;
    for (int i = 0; i < 4; i++) {
        if (strcmp(from, ints[i]) == 0)
            fi = i;
        if (strcmp(to, ints[i]) == 0)
            ti = i;
    }
    if (strcmp(from, to) == 0)
        return true;
    if (fi >= 0)
        return ti >= fi || strcmp(to, "float") == 0 || strcmp(to, "double") == 0;
    if (strcmp(from, "float") == 0)
        return strcmp(to, "double") == 0;
    return sscanf(from, "decimal(%d,%d)", &fp, &fs) == 2 && sscanf(to, "decimal(%d,%d)", &tp, &ts) == 2 &&
           ts == fs && tp >= fp;
}

static int agg_compat(const char *stored, const char *current, struct weir_error *err)
{
    cJSON *s, *c;
    int rc = parse_meta(stored, current, &s, &c, err);
    if (rc == 0)
        rc = compat_field(s, c, "group", err);
    if (rc == 0)
        rc = compat_field(s, c, "window", err);
    /* measures: same name must mean the same function of the same
     * argument; a new measure starts empty, a dropped one is ignored */
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(s, "measures");
    const cJSON *cm = cJSON_GetObjectItemCaseSensitive(c, "measures");
    const cJSON *x, *y;
    cJSON_ArrayForEach(x, sm)
    {
        if (rc)
            break;
        const char *xn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "name"));
        cJSON_ArrayForEach(y, cm)
        {
            const char *yn = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "name"));
            if (!xn || !yn || strcasecmp(xn, yn) != 0)
                continue;
            const char *xf = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "measure"));
            const char *yf = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "measure"));
            const char *xc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "class"));
            const char *yc = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "class"));
            const char *xt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(x, "type"));
            const char *yt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(y, "type"));
            if (!xf || !yf || strcmp(xf, yf) != 0)
                rc = weir_error_set(err, WEIR_ESTATE, "measure '%s' changed from %s to %s", xn, xf ? xf : "?",
                                    yf ? yf : "?");
            else if (!xc || !yc || !xt || !yt ||
                     (strcmp(xc, yc) != 0 && !(strcmp(xc, "int") == 0 && strcmp(yc, "float") == 0)) ||
                     !arg_widens(xt, yt))
                rc = weir_error_set(err, WEIR_ESTATE,
                                    "measure '%s': its argument's type changed from %s to %s (only wider "
                                    "types of the same kind, or integer to floating point, are compatible)",
                                    xn, xt ? xt : "?", yt ? yt : "?");
        }
    }
    cJSON_Delete(s);
    cJSON_Delete(c);
    return rc;
}

static int agg_meta(struct weir_aggregate *a, const struct weir_config_aggregate *c, struct weir_buf *b)
{
    static const char *const cls[] = {"int", "float", "decimal", "string"};
    int rc = weir_buf_printf(b, "{\"kind\":\"aggregate\",\"layout\":%d,", STATE_LAYOUT);
    if (rc == 0)
        rc = meta_exprs(b, "group", a->exprs, a->ngroup);
    if (rc == 0 && a->win == WIN_NONE)
        rc = weir_buf_append_str(b, ",\"window\":null");
    else if (rc == 0)
        rc = weir_buf_printf(
            b, ",\"window\":{\"column\":\"%s\",\"size_ms\":%lld,\"slide_ms\":%lld,\"gap_ms\":%lld}",
            c->window.column, (long long)c->window.size_ms,
            (long long)(c->window.slide_ms ? c->window.slide_ms : c->window.size_ms),
            (long long)c->window.gap_ms);
    if (rc == 0)
        rc = weir_buf_append_str(b, ",\"measures\":[");
    for (size_t j = 0; j < a->nm && rc == 0; j++) {
        const struct measure *m = &a->m[j];
        char *t = m->arg >= 0 ? weir_type_to_display(weir_expr_type(a->exprs[m->arg])) : NULL;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", m->name);
        cJSON_AddStringToObject(o, "measure", m->text);
        cJSON_AddStringToObject(o, "class", cls[m->cls]);
        cJSON_AddStringToObject(o, "type", t ? t : "none");
        char *s = cJSON_PrintUnformatted(o);
        rc = s ? weir_buf_printf(b, "%s%s", j ? "," : "", s) : WEIR_ENOMEM;
        cJSON_free(s);
        cJSON_Delete(o);
        weir_free(t);
    }
    if (rc == 0)
        rc = weir_buf_append_str(b, "]}");
    return rc ? rc : weir_buf_append_byte(b, 0);
}

int weir_aggregate_create(const struct weir_config_aggregate *c, const struct weir_type *in,
                          struct weir_state *st, const char *name, struct weir_aggregate **out,
                          struct weir_error *err)
{
    struct weir_aggregate *a = weir_calloc(1, sizeof *a);
    char **texts = NULL;
    bool *owned = NULL;
    size_t nt = 0;
    struct weir_buf meta;
    int rc = 0;
    weir_buf_init(&meta);
    *out = NULL;
    if (!a || !(a->name = weir_strdup(name)) || !(a->m = weir_calloc(c->nmeasures, sizeof *a->m)) ||
        !(texts = weir_calloc(c->ngroup_by + c->nmeasures + 1, sizeof *texts)) ||
        !(owned = weir_calloc(c->ngroup_by + c->nmeasures + 1, sizeof *owned))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto fail;
    }
    weir_buf_init(&a->kb);
    weir_buf_init(&a->vb);
    weir_buf_init(&a->hb);
    a->st = st;
    a->output = c->output;
    a->ts_col = -1;
    a->spill_bytes = SPILL_BYTES;
    a->win = c->window.column == NULL ? WIN_NONE : c->window.gap_ms > 0 ? WIN_SESSION : WIN_TIME;
    a->size_us = c->window.size_ms * 1000;
    a->slide_us = (c->window.slide_ms ? c->window.slide_ms : c->window.size_ms) * 1000;
    a->gap_us = c->window.gap_ms * 1000;
    if (a->win != WIN_NONE && (rc = time_column(in, c->window.column, "window", &a->ts_col, err)) != 0)
        goto fail;
    for (size_t i = 0; i < c->ngroup_by; i++)
        texts[nt++] = c->group_by[i];
    a->ngroup = nt;
    for (size_t j = 0; j < c->nmeasures; j++) {
        struct measure *m = &a->m[a->nm++];
        char *arg = NULL;
        m->arg = -1;
        if ((rc = parse_measure(c->measures[j], j, &m->fn, &arg, &m->name, err)) != 0) {
            weir_free(arg);
            goto fail;
        }
        m->text = m->fn == M_COUNT_STAR ? weir_strdup("count(*)")
                                        : weir_asprintf("%s(%s)", mfn_names[m->fn], arg ? arg : "");
        if (!m->text) {
            weir_free(arg);
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto fail;
        }
        if (arg) {
            /* one projected column per distinct expression */
            for (size_t k = 0; k < nt && m->arg < 0; k++)
                if (strcasecmp(texts[k], arg) == 0)
                    m->arg = (int)k;
            if (m->arg < 0) {
                m->arg = (int)nt;
                texts[nt++] = arg;
                owned[m->arg] = true;
            } else {
                weir_free(arg);
            }
        }
        char tagtext[512];
        snprintf(tagtext, sizeof tagtext, "%s|%s", m->name, m->text);
        for (char *q = tagtext; *q; q++)
            if (*q >= 'A' && *q <= 'Z')
                *q = (char)(*q - 'A' + 'a');
        m->tag = (uint32_t)weir_hash64(tagtext, strlen(tagtext), 7);
    }
    if ((rc = bind_list(texts, nt, in, "aggregate", &a->exprs, err)) != 0)
        goto fail;
    a->nexprs = nt;
    if (!(a->eacc = weir_calloc(a->nm ? a->nm : 1, sizeof *a->eacc))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto fail;
    }
    /* the output schema: window_start, window_end, group columns, measures */
    if (!(a->out = weir_type_struct()) || !(a->keys = weir_calloc(2 + a->ngroup, sizeof *a->keys))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto fail;
    }
    if (a->win != WIN_NONE &&
        (weir_type_struct_add(a->out, "window_start", weir_type_primitive(WEIR_TYPE_TIMESTAMP), false,
                              NULL) ||
         weir_type_struct_add(a->out, "window_end", weir_type_primitive(WEIR_TYPE_TIMESTAMP), false, NULL))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto fail;
    }
    for (size_t g = 0; g < a->ngroup; g++) {
        const char *gn = weir_expr_name(a->exprs[g]);
        if (weir_type_field_index(a->out, gn) >= 0) {
            rc = weir_error_set(err, WEIR_ECONFIG, "group_by[%zu]: column name '%s' appears twice (use AS)",
                                g, gn);
            goto fail;
        }
        if (weir_type_struct_add(a->out, gn, weir_type_clone(weir_expr_type(a->exprs[g])), true, NULL)) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto fail;
        }
    }
    for (size_t j = 0; j < a->nm; j++) {
        struct measure *m = &a->m[j];
        const struct weir_type *at = m->arg >= 0 ? weir_expr_type(a->exprs[m->arg]) : NULL;
        m->cls = at ? class_of(at) : C_INT;
        m->arg_scale = at && at->kind == WEIR_TYPE_DECIMAL ? at->scale : 0;
        a->heavy += m->fn == M_ACD ? weir_hll_size(HLL_P) : m->cls == C_STR ? 32 : 0;
        if (m->fn == M_COUNT_IF && at->kind != WEIR_TYPE_BOOLEAN) {
            rc = weir_error_set(err, WEIR_ESCHEMA, "measures[%zu]: count_if needs a boolean condition", j);
            goto fail;
        }
        if ((m->fn == M_SUM || m->fn == M_AVG) && (m->cls == C_STR || at->kind == WEIR_TYPE_BOOLEAN)) {
            rc = weir_error_set(err, WEIR_ESCHEMA, "measures[%zu]: %s needs a numeric argument, not %s", j,
                                mfn_names[m->fn], m->cls == C_STR ? "a string" : "a boolean");
            goto fail;
        }
        bool nullable;
        if (weir_type_field_index(a->out, m->name) >= 0) {
            rc = weir_error_set(err, WEIR_ECONFIG, "measures[%zu]: column name '%s' appears twice", j,
                                m->name);
            goto fail;
        }
        struct weir_type *mt = measure_type(m, at, &nullable);
        if (!mt || weir_type_struct_add(a->out, m->name, mt, nullable, NULL)) {
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto fail;
        }
    }
    size_t nk = a->win != WIN_NONE ? 2 + a->ngroup : a->ngroup;
    for (size_t k = 0; k < nk; k++)
        a->keys[a->nkeys++] = a->out->fields[k].name;
    if ((rc = agg_meta(a, c, &meta)) != 0) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto fail;
    }
    if (st && (rc = weir_state_operator(st, name, (const char *)meta.data, agg_compat, &a->op, err)) != 0)
        goto fail;
    a->rows_total = st ? read_count(a->op) : 0;
    a->mt.name = a->name;
    *out = a;
    a = NULL;
fail:
    for (size_t k = 0; texts && owned && k < nt; k++)
        if (owned[k])
            weir_free(texts[k]);
    weir_free(texts);
    weir_free(owned);
    weir_buf_free(&meta);
    weir_aggregate_destroy(a);
    return rc;
}

void weir_aggregate_destroy(struct weir_aggregate *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->groups.n * a->nm && a->accs; i++)
        acc_clear(&a->accs[i]);
    for (size_t g = 0; a->sl && g < a->acc_cap; g++) { /* lists keep their buffers across batches */
        sess_list_clear(a, &a->sl[g]);
        weir_free(a->sl[g].v);
        weir_buf_free(&a->sl[g].old_index);
    }
    weir_free(a->sl);
    weir_free(a->accs);
    weir_free(a->eacc);
    weir_free(a->order);
    runs_close(a);
    weir_free(a->runs);
    weir_keymap_free(&a->groups);
    free_list(a->exprs, a->nexprs);
    for (size_t j = 0; j < a->nm; j++) {
        weir_free(a->m[j].name);
        weir_free(a->m[j].text);
    }
    weir_free(a->m);
    weir_free(a->keys);
    weir_type_destroy(a->out);
    weir_buf_free(&a->kb);
    weir_buf_free(&a->vb);
    weir_buf_free(&a->hb);
    weir_buf_free(&a->hi.k);
    weir_free(a->name);
    weir_free(a);
}

const struct weir_type *weir_aggregate_schema(const struct weir_aggregate *a)
{
    return a->out;
}

size_t weir_aggregate_keys(const struct weir_aggregate *a, const char *const **names)
{
    *names = a->keys;
    return a->nkeys;
}

/* Room for group ids up to groups.n (accumulators, sessions). */
static int agg_reserve(struct weir_aggregate *a)
{
    size_t need = a->groups.n;
    if (need <= a->acc_cap)
        return 0;
    size_t nc = a->acc_cap ? a->acc_cap * 2 : 1024;
    while (nc < need)
        nc *= 2;
    struct acc *na = weir_realloc(a->accs, nc * a->nm * sizeof *na);
    if (!na)
        return WEIR_ENOMEM;
    memset(na + a->acc_cap * a->nm, 0, (nc - a->acc_cap) * a->nm * sizeof *na);
    a->accs = na;
    if (a->win == WIN_SESSION) {
        struct sess_list *ns = weir_realloc(a->sl, nc * sizeof *ns);
        if (!ns)
            return WEIR_ENOMEM;
        memset(ns + a->acc_cap, 0, (nc - a->acc_cap) * sizeof *ns);
        a->sl = ns;
    }
    a->acc_cap = nc;
    return 0;
}

/* Session list value: u32 n, then n x (i64 start, i64 end, u32 len, accumulators). */
static int sess_decode(struct weir_aggregate *a, struct sess_list *l, const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    uint32_t cnt;
    if (n < 4)
        return WEIR_ECORRUPT;
    memcpy(&cnt, p, 4);
    p += 4;
    for (uint32_t k = 0; k < cnt; k++) {
        if (end - p < 20)
            return WEIR_ECORRUPT;
        if (l->n == l->cap) {
            size_t nc = l->cap ? l->cap * 2 : 4;
            struct sess *nv = weir_realloc(l->v, nc * sizeof *nv);
            if (!nv)
                return WEIR_ENOMEM;
            l->v = nv;
            l->cap = nc;
        }
        struct sess *s = &l->v[l->n];
        uint32_t len;
        memcpy(&s->start, p, 8);
        memcpy(&s->end, p + 8, 8);
        memcpy(&len, p + 16, 4);
        p += 20;
        if ((size_t)(end - p) < len)
            return WEIR_ECORRUPT;
        if (!(s->a = weir_calloc(a->nm, sizeof *s->a)))
            return WEIR_ENOMEM;
        l->n++;
        int rc = acc_read(p, len, a->m, a->nm, s->a);
        if (rc)
            return rc;
        p += len;
    }
    return 0;
}

static int sess_encode(struct weir_aggregate *a, const struct sess_list *l, struct weir_buf *b)
{
    uint32_t cnt = (uint32_t)l->n;
    int rc = weir_buf_append(b, &cnt, 4);
    for (size_t k = 0; k < l->n && rc == 0; k++) {
        size_t at = b->len;
        uint32_t len = 0;
        if ((rc = weir_buf_append(b, &l->v[k].start, 8)) || (rc = weir_buf_append(b, &l->v[k].end, 8)) ||
            (rc = weir_buf_append(b, &len, 4)) || (rc = acc_write(b, a->m, a->nm, l->v[k].a)))
            break;
        len = (uint32_t)(b->len - at - 20);
        memcpy(b->data + at + 16, &len, 4);
    }
    return rc;
}

/* Index key 'x' be(end) group be(start) of session s of group key g ('s' group). */
static int sess_index_key(struct weir_buf *b, const uint8_t *g, size_t gn, int64_t start, int64_t end)
{
    uint8_t e8[8], s8[8];
    be64(e8, end);
    be64(s8, start);
    int rc = weir_buf_append_byte(b, 'x');
    if (rc == 0)
        rc = weir_buf_append(b, e8, 8);
    if (rc == 0)
        rc = weir_buf_append(b, g + 1, gn - 1);
    if (rc == 0)
        rc = weir_buf_append(b, s8, 8);
    return rc;
}

/* Add event time t (row r of the projection p) to group id's sessions. */
static int sess_add(struct weir_aggregate *a, size_t id, const struct weir_batch *p, size_t r, int64_t t)
{
    struct sess_list *l = &a->sl[id];
    struct sess nw = {.start = t, .end = t + a->gap_us, .a = weir_calloc(a->nm, sizeof(struct acc))};
    if (!nw.a)
        return WEIR_ENOMEM;
    int rc = 0;
    for (size_t j = 0; j < a->nm && rc == 0; j++)
        rc = acc_update(&a->m[j], &nw.a[j], a->m[j].arg >= 0 ? &p->columns[a->m[j].arg] : NULL, r, &a->hb);
    /* merge every session that overlaps or touches [t, t + gap], in time order */
    size_t k = 0;
    while (rc == 0 && k < l->n) {
        struct sess *s = &l->v[k];
        if (s->start > nw.end || nw.start > s->end) {
            k++;
            continue;
        }
        bool earlier = s->start < nw.start || (s->start == nw.start && s->end <= nw.end);
        struct acc *first = earlier ? s->a : nw.a, *second = earlier ? nw.a : s->a;
        for (size_t j = 0; j < a->nm && rc == 0; j++)
            rc = acc_merge(&a->m[j], &first[j], &second[j]);
        accs_free(second, a->nm);
        nw.a = first;
        if (s->start < nw.start)
            nw.start = s->start;
        if (s->end > nw.end)
            nw.end = s->end;
        l->v[k] = l->v[--l->n];
        k = 0; /* the grown session may now reach others */
    }
    if (rc == 0 && l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 4;
        struct sess *nv = weir_realloc(l->v, nc * sizeof *nv);
        if (!nv)
            rc = WEIR_ENOMEM;
        else {
            l->v = nv;
            l->cap = nc;
        }
    }
    if (rc) {
        accs_free(nw.a, a->nm);
        return rc;
    }
    l->v[l->n++] = nw;
    return 0;
}

static uint8_t agg_tag(const struct weir_aggregate *a)
{
    return a->win == WIN_TIME ? 'w' : a->win == WIN_SESSION ? 's' : 'g';
}

/* Once a batch: the largest stored group key. */
static int agg_read_hi(struct weir_aggregate *a, struct weir_error *err)
{
    return bound_read(&a->hi, a->op, agg_tag(a), err) ? weir_error_prefix(err, "%s", a->name) : 0;
}

/* Sessions: load the lists of groups [from, groups.n) (one MultiGet of
 * those not above the largest stored key). */
static int agg_load(struct weir_aggregate *a, size_t from, struct weir_error *err)
{
    size_t n = a->groups.n - from;
    if (n == 0)
        return 0;
    const char **keys = weir_malloc(n * sizeof *keys);
    size_t *lens = weir_malloc(n * sizeof *lens), *ids = weir_malloc(n * sizeof *ids);
    bool *found = weir_calloc(n, sizeof *found);
    struct weir_buf *vals = weir_calloc(n, sizeof *vals);
    int rc =
        (!keys || !lens || !ids || !found || !vals) ? weir_error_set(err, WEIR_ENOMEM, "out of memory") : 0;
    size_t nq = 0; /* groups that may be stored: looked up */
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t kn;
        const uint8_t *k = weir_keymap_key(&a->groups, from + i, &kn);
        if (bound_above(&a->hi, k, kn))
            continue;
        keys[nq] = (const char *)k;
        lens[nq] = kn;
        ids[nq] = from + i;
        weir_buf_init(&vals[nq++]);
    }
    if (rc == 0 && nq > 0)
        rc = weir_state_multi_get(a->op, nq, keys, lens, found, vals, err);
    for (size_t i = 0; i < nq && rc == 0; i++) {
        if (!found[i])
            continue;
        struct sess_list *l = &a->sl[ids[i]];
        rc = sess_decode(a, l, vals[i].data, vals[i].len);
        for (size_t k = 0; k < l->n && rc == 0; k++)
            rc = sess_index_key(&l->old_index, (const uint8_t *)keys[i], lens[i], l->v[k].start, l->v[k].end);
        if (rc)
            rc = weir_error_set(err, rc, "%s: reading the state of a group: %s", a->name, weir_strerror(rc));
    }
    for (size_t i = 0; vals && i < nq; i++)
        weir_buf_free(&vals[i]);
    weir_free(keys);
    weir_free(lens);
    weir_free(ids);
    weir_free(found);
    weir_free(vals);
    return rc;
}

static size_t agg_memory(const struct weir_aggregate *a);
static int agg_spill(struct weir_aggregate *a, struct weir_error *err);

int weir_aggregate_push(struct weir_aggregate *a, const struct weir_stateful_batch *sb,
                        const struct weir_batch *in, int64_t now_us, struct weir_error *err)
{
    (void)sb;
    struct weir_batch *p = NULL;
    uint32_t *pr = NULL; /* (row, id) pairs */
    size_t npr = 0, cap = 0;
    int64_t t0 = weir_mono_ns();
    int rc = weir_expr_project(a->exprs, a->nexprs, in, now_us, &p, err);
    if (rc)
        return weir_error_prefix(err, "%s", a->name);
    size_t first_new = a->groups.n;
    size_t nwin = a->win == WIN_TIME ? (size_t)(a->size_us / a->slide_us) : 1;
    const struct weir_column *ts = a->ts_col >= 0 ? &in->columns[a->ts_col] : NULL;
    /* the (row, window) keys in runs of KEY_RUN: built and hashed, their
     * slots prefetched, then put */
    size_t koff[KEY_RUN + 1], krow[KEY_RUN], r = 0, w = 0;
    uint64_t kh[KEY_RUN];
    int64_t last = 0;
    while (r < in->nrows && rc == 0) {
        size_t nk = 0;
        a->kb.len = 0;
        while (nk < KEY_RUN && r < in->nrows && rc == 0) {
            if (w == 0) {
                int64_t t = 0;
                if (ts && !event_us(ts, r, &t)) {
                    r++; /* no event time: in no window */
                    continue;
                }
                last = a->win == WIN_TIME ? floor_div(t, a->slide_us) * a->slide_us : 0;
            }
            koff[nk] = a->kb.len;
            rc = weir_buf_append_byte(&a->kb, agg_tag(a));
            if (a->win == WIN_TIME) {
                int64_t start = last - (int64_t)w * a->slide_us;
                uint8_t e8[8], s8[8];
                be64(e8, start + a->size_us);
                be64(s8, start);
                if (rc == 0 && (rc = weir_buf_append(&a->kb, e8, 8)) == 0)
                    rc = weir_buf_append(&a->kb, s8, 8);
            }
            for (size_t g = 0; g < a->ngroup && rc == 0; g++)
                rc = weir_key_append(&a->kb, &p->columns[g], r);
            koff[nk + 1] = a->kb.len;
            kh[nk] = weir_keymap_hash(a->kb.data + koff[nk], koff[nk + 1] - koff[nk]);
            weir_keymap_prefetch(&a->groups, kh[nk]);
            krow[nk++] = r;
            if (++w == nwin) {
                w = 0;
                r++;
            }
        }
        for (size_t q = 0; q < nk && rc == 0; q++) {
            size_t id;
            bool added;
            if ((rc = weir_keymap_put_hashed(&a->groups, a->kb.data + koff[q], koff[q + 1] - koff[q], kh[q],
                                             &id, &added)) == 0 &&
                (rc = agg_reserve(a)) == 0) {
                if (npr + 2 > cap) {
                    cap = cap ? cap * 2 : 2 * in->nrows * nwin + 2;
                    uint32_t *np = weir_realloc(pr, cap * sizeof *np);
                    if (!np)
                        rc = WEIR_ENOMEM;
                    else
                        pr = np;
                }
                if (rc == 0) {
                    pr[npr++] = (uint32_t)krow[q];
                    pr[npr++] = (uint32_t)id;
                }
            }
        }
    }
    if (rc)
        rc = weir_error_set(err, rc, "%s: %s", a->name, weir_strerror(rc));
    if (rc == 0)
        rc = agg_read_hi(a, err);
    if (rc == 0 && a->win == WIN_SESSION)
        rc = agg_load(a, first_new, err);
    for (size_t i = 0; i < npr && rc == 0; i += 2) {
        size_t r = pr[i], id = pr[i + 1];
        if (a->win == WIN_SESSION) {
            int64_t t = 0;
            event_us(ts, r, &t);
            rc = sess_add(a, id, p, r, t);
        } else {
            struct acc *ac = &a->accs[id * a->nm];
            for (size_t j = 0; j < a->nm && rc == 0; j++)
                rc = acc_update(&a->m[j], &ac[j], a->m[j].arg >= 0 ? &p->columns[a->m[j].arg] : NULL, r,
                                &a->hb);
        }
        if (rc)
            rc = weir_error_set(err, rc, "%s: %s", a->name, weir_strerror(rc));
    }
    weir_free(pr);
    weir_batch_destroy(p);
    if (rc == 0 && agg_memory(a) > a->spill_bytes)
        rc = agg_spill(a, err);
    a->mt.all_updates_ms += (weir_mono_ns() - t0) / 1000000;
    return rc;
}

/* -- output */

struct emitter {
    struct weir_aggregate *a;
    struct weir_batch *b;
    weir_stateful_emit_cb cb;
    void *ctx;
};

static int emit_flush(struct emitter *e, struct weir_error *err)
{
    if (e->b->nrows == 0)
        return 0;
    int rc = e->cb(e->ctx, e->b, err);
    weir_batch_clear(e->b);
    return rc;
}

/* One output row: window and group from the state key, measures from ac. */
static int emit_row(struct emitter *e, const uint8_t *k, size_t kn, int64_t start, int64_t end,
                    const struct acc *ac, struct weir_error *err)
{
    struct weir_aggregate *a = e->a;
    struct weir_column *c = e->b->columns;
    const uint8_t *p = k + 1, *pe = k + kn;
    size_t col = 0;
    int rc = 0;
    if (a->win == WIN_TIME)
        p += 16;
    if (a->win != WIN_NONE) {
        if ((rc = weir_column_append_i64(&c[col++], start)) == 0)
            rc = weir_column_append_i64(&c[col++], end);
    }
    for (size_t g = 0; g < a->ngroup && rc == 0; g++)
        rc = weir_key_read(&p, pe, &c[col++]);
    for (size_t j = 0; j < a->nm && rc == 0; j++)
        rc = acc_output(&a->m[j], &ac[j], &c[col++]);
    if (rc == 0)
        rc = weir_batch_finish_rows(e->b);
    if (rc)
        return weir_error_set(err, rc, "%s: building an output row: %s", a->name, weir_strerror(rc));
    return e->b->nrows >= CHUNK_OUT_ROWS ? emit_flush(e, err) : 0;
}

/* Emit a state entry (key, value) as read from the store. */
static int emit_stored(struct emitter *e, const uint8_t *k, size_t kn, const uint8_t *v, size_t vn,
                       int64_t max_end, struct weir_error *err)
{
    struct weir_aggregate *a = e->a;
    int rc = 0;
    if (a->win == WIN_SESSION) {
        struct sess_list l = {0};
        rc = sess_decode(a, &l, v, vn);
        for (size_t s = 0; s < l.n && rc == 0; s++)
            if (l.v[s].end <= max_end)
                rc = emit_row(e, k, kn, l.v[s].start, l.v[s].end, l.v[s].a, err);
        sess_list_clear(a, &l);
        weir_free(l.v);
        return rc > 0 || rc == WEIR_ECORRUPT ? weir_error_set(err, rc, "%s: corrupt state", a->name) : rc;
    }
    struct acc *ac = a->eacc;
    rc = acc_read(v, vn, a->m, a->nm, ac);
    int64_t end = a->win == WIN_TIME && kn >= 17 ? from_be64(k + 1) : 0;
    int64_t start = a->win == WIN_TIME && kn >= 17 ? from_be64(k + 9) : 0;
    if (rc)
        rc = weir_error_set(err, rc, "%s: corrupt state value", a->name);
    else
        rc = emit_row(e, k, kn, start, end, ac, err);
    for (size_t j = 0; j < a->nm; j++)
        acc_clear(&ac[j]);
    return rc;
}

/* Visit every stored entry with key in [lo, hi): *count of them, each
 * emitted unless e is NULL (sessions: those ending by max_end). */
static int emit_range(struct weir_aggregate *a, struct emitter *e, const uint8_t *lo, size_t lon,
                      const uint8_t *hi, size_t hin, int64_t max_end, int64_t *count, struct weir_error *err)
{
    struct weir_state_iter *it = NULL;
    int rc = weir_state_iter_create(a->op, lo, lon, hi, hin, &it, err);
    *count = 0;
    for (; rc == 0 && weir_state_iter_valid(it); weir_state_iter_next(it)) {
        size_t kn, vn;
        const char *k = weir_state_iter_key(it, &kn);
        const char *v = weir_state_iter_value(it, &vn);
        ++*count;
        if (e)
            rc = emit_stored(e, (const uint8_t *)k, kn, (const uint8_t *)v, vn, max_end, err);
    }
    if (rc == 0)
        rc = weir_state_iter_status(it, err);
    weir_state_iter_destroy(it);
    return rc;
}

/* The batch's groups in key order (x: the id) in a->order, NULL when out
 * of memory. */
static struct sortkey *agg_order(struct weir_aggregate *a)
{
    if (a->groups.n > a->order_cap || !a->order) {
        size_t nc = a->groups.n > 1024 ? a->groups.n : 1024;
        struct sortkey *no = weir_realloc(a->order, nc * sizeof *no);
        if (!no)
            return NULL;
        a->order = no;
        a->order_cap = nc;
    }
    struct sortkey *order = a->order;
    for (size_t id = 0; id < a->groups.n; id++) {
        order[id].k = weir_keymap_key(&a->groups, id, &order[id].n);
        order[id].x = (int64_t)id;
    }
    if (a->groups.n > 1)
        sort_keys(order, a->groups.n);
    return order;
}

static void agg_reset(struct weir_aggregate *a)
{
    /* (a group added when agg_reserve then failed has no accumulators) */
    size_t n = a->groups.n < a->acc_cap ? a->groups.n : a->acc_cap;
    if (a->heavy == 0 && n > 0) /* no strings or sketches to free */
        memset(a->accs, 0, n * a->nm * sizeof *a->accs);
    for (size_t i = 0; a->heavy > 0 && i < n * a->nm; i++)
        acc_clear(&a->accs[i]);
    for (size_t g = 0; a->sl && g < n; g++)
        sess_list_clear(a, &a->sl[g]);
    weir_keymap_reset(&a->groups);
}

/* Sessions: write the groups (their lists and end index) to the state. */
static int sess_write(struct weir_aggregate *a, struct weir_error *err)
{
    struct sortkey *order = agg_order(a);
    if (!order)
        return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    int rc = 0;
    for (size_t i = 0; i < a->groups.n && rc == 0; i++) {
        size_t id = (size_t)order[i].x, kn = order[i].n;
        const uint8_t *k = order[i].k;
        struct sess_list *l = &a->sl[id];
        /* index: drop the entries of the sessions as loaded, add the new ones */
        const uint8_t *ip = l->old_index.data;
        size_t isz = 8 + kn + 8; /* 'x' be(end) group be(start): 1 + 8 + (kn - 1) + 8 */
        for (size_t off = 0; off + isz <= l->old_index.len && rc == 0; off += isz)
            rc = weir_state_delete(a->op, ip + off, isz);
        for (size_t s = 0; s < l->n && rc == 0; s++) {
            a->kb.len = 0;
            if ((rc = sess_index_key(&a->kb, k, kn, l->v[s].start, l->v[s].end)) == 0)
                rc = weir_state_put(a->op, a->kb.data, a->kb.len, "", 0);
        }
        a->vb.len = 0;
        if (rc == 0 && (rc = sess_encode(a, l, &a->vb)) == 0)
            rc = weir_state_put(a->op, k, kn, a->vb.data, a->vb.len);
        a->mt.rows_updated++;
        if (rc)
            rc = weir_error_set(err, rc, "%s: writing state: %s", a->name, weir_strerror(rc));
    }
    if (rc == 0 && a->groups.n > 0 && bound_raise(&a->hi, order[a->groups.n - 1].k, order[a->groups.n - 1].n))
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    return rc;
}

/* -- runs: the groups of a batch that outgrew spill_bytes, written out in
 * key order to an unlinked scratch file in the state directory (nothing to
 * clean after a crash) as entries u32 bytes shared with the previous key,
 * u32 length of the rest of the key, u32 value length, the rest of the
 * key, the accumulators; merged with the state at finish. */

#define RUN_BUF  ((size_t)256 << 10)
/* Runs open at once (a file descriptor and a read buffer each at finish);
 * one more spill first merges them into one. */
#define RUNS_MAX 64

struct agg_run {
    int fd;
    uint64_t off; /* read position in the file */
    uint8_t *buf;
    size_t cap, pos, len;
    struct weir_buf key; /* the current entry: key, and value at v */
    const uint8_t *k, *v;
    uint32_t kn, vn;
    bool done;
};

static void run_close(struct agg_run *r)
{
    if (r->fd >= 0)
        close(r->fd);
    weir_free(r->buf);
    weir_buf_free(&r->key);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Writing a run: entries in key order, buffered. */
struct run_writer {
    int fd;
    struct weir_buf out;
    const uint8_t *prev; /* the previous key (stays valid while writing) */
    size_t prevn;
};

static int run_put(struct weir_aggregate *a, struct run_writer *w, const uint8_t *k, size_t kn,
                   const struct acc *ac, struct weir_error *err)
{
    uint32_t h[3] = {0, (uint32_t)kn, 0}; /* shared with the previous key, rest, value */
    size_t m = w->prev && w->prevn < kn ? w->prevn : w->prev ? kn : 0;
    while (h[0] < m && w->prev[h[0]] == k[h[0]])
        h[0]++;
    h[1] -= h[0];
    size_t at = w->out.len;
    if (weir_buf_append(&w->out, h, 12) || weir_buf_append(&w->out, k + h[0], h[1]) ||
        acc_write(&w->out, a->m, a->nm, ac))
        return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    h[2] = (uint32_t)(w->out.len - at - 12 - h[1]);
    memcpy(w->out.data + at + 8, &h[2], 4);
    w->prev = k;
    w->prevn = kn;
    int rc = 0;
    if (w->out.len >= RUN_BUF && (rc = write_all(w->fd, w->out.data, w->out.len)) == 0)
        w->out.len = 0;
    return rc ? weir_error_set(err, WEIR_EIO, "%s: writing a scratch file in %s: %s", a->name,
                               weir_state_dir(a->st), strerror(rc))
              : 0;
}

/* The writer's buffered rest to its file, which becomes the last run;
 * on an error the file is closed. */
static int run_finish(struct weir_aggregate *a, struct run_writer *w, int rc, struct weir_error *err)
{
    int e;
    if (rc == 0 && w->out.len > 0 && (e = write_all(w->fd, w->out.data, w->out.len)) != 0)
        rc = weir_error_set(err, WEIR_EIO, "%s: writing a scratch file in %s: %s", a->name,
                            weir_state_dir(a->st), strerror(e));
    weir_buf_free(&w->out);
    struct agg_run *nr = rc ? NULL : weir_realloc(a->runs, (a->nruns + 1) * sizeof *nr);
    if (!nr) {
        close(w->fd);
        return rc ? rc : weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    }
    a->runs = nr;
    memset(&nr[a->nruns], 0, sizeof *nr);
    nr[a->nruns++].fd = w->fd;
    return 0;
}

static int runs_compact(struct weir_aggregate *a, struct weir_error *err);

/* agg_spill without sessions: the batch's groups so far become a run. */
static int run_spill(struct weir_aggregate *a, struct weir_error *err)
{
    int rc = a->nruns >= RUNS_MAX ? runs_compact(a, err) : 0;
    struct run_writer w = {.fd = -1};
    if (rc == 0 && (w.fd = weir_state_scratch_file(a->st, err)) < 0)
        rc = weir_error_prefix(err, "%s", a->name);
    if (rc) {
        agg_reset(a);
        return rc;
    }
    struct sortkey *order = agg_order(a);
    if (!order)
        rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    for (size_t i = 0; i < a->groups.n && rc == 0; i++)
        rc = run_put(a, &w, order[i].k, order[i].n, &a->accs[(size_t)order[i].x * a->nm], err);
    rc = run_finish(a, &w, rc, err);
    agg_reset(a);
    return rc;
}

/* Make n more bytes of r readable at buf + pos; false at the end of the
 * file or on an error (*rc). */
static bool run_fill(struct agg_run *r, size_t n, int *rc)
{
    if (r->len - r->pos >= n)
        return true;
    if (r->pos > 0)
        memmove(r->buf, r->buf + r->pos, r->len - r->pos);
    r->len -= r->pos;
    r->pos = 0;
    if (n > r->cap) {
        size_t nc = r->cap ? r->cap : RUN_BUF;
        while (nc < n)
            nc *= 2;
        uint8_t *nb = weir_realloc(r->buf, nc);
        if (!nb) {
            *rc = WEIR_ENOMEM;
            return false;
        }
        r->buf = nb;
        r->cap = nc;
    }
    while (r->len < n) {
        ssize_t got = pread(r->fd, r->buf + r->len, r->cap - r->len, (off_t)r->off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            *rc = got < 0 ? WEIR_EIO : 0;
            return false;
        }
        r->len += (size_t)got;
        r->off += (uint64_t)got;
    }
    return true;
}

/* Step r to its next entry (r->done at the end). */
static int run_next(struct weir_aggregate *a, struct agg_run *r, struct weir_error *err)
{
    int rc = 0;
    uint32_t h[3];
    if (!run_fill(r, 12, &rc))
        goto end;
    memcpy(h, r->buf + r->pos, 12);
    if (h[0] > r->key.len) {
        rc = WEIR_ECORRUPT;
        goto end;
    }
    if (!run_fill(r, 12 + (size_t)h[1] + h[2], &rc))
        goto end;
    r->key.len = h[0];
    if (weir_buf_append(&r->key, r->buf + r->pos + 12, h[1])) {
        rc = WEIR_ENOMEM;
        goto end;
    }
    r->k = r->key.data;
    r->kn = (uint32_t)r->key.len;
    r->v = r->buf + r->pos + 12 + h[1];
    r->vn = h[2];
    r->pos += 12 + (size_t)h[1] + h[2];
    return 0;
end:
    r->done = true;
    if (rc == 0 && r->len > r->pos)
        rc = WEIR_ECORRUPT; /* a partial entry */
    return rc ? weir_error_set(err, rc, "%s: reading a scratch file: %s", a->name, weir_strerror(rc)) : 0;
}

static void runs_close(struct weir_aggregate *a)
{
    for (size_t i = 0; i < a->nruns; i++)
        run_close(&a->runs[i]);
    a->nruns = 0;
}

/* The merge of finish: cursors 0..nruns-1 are the runs, nruns the groups
 * in memory (sorted); the heap orders them by current key, then index, so
 * a key's partial results come out oldest first. */
struct merge {
    struct weir_aggregate *a;
    struct sortkey *order; /* memory groups in key order */
    size_t mpos;
    size_t *heap, nheap;
};

static const uint8_t *cur_key(const struct merge *g, size_t c, size_t *n)
{
    if (c < g->a->nruns) {
        *n = g->a->runs[c].kn;
        return g->a->runs[c].k;
    }
    *n = g->order[g->mpos].n;
    return g->order[g->mpos].k;
}

static bool cur_less(const struct merge *g, size_t x, size_t y)
{
    size_t xn, yn;
    const uint8_t *xk = cur_key(g, x, &xn), *yk = cur_key(g, y, &yn);
    int c = key_cmp(xk, xn, yk, yn);
    return c < 0 || (c == 0 && x < y);
}

static void heap_down(struct merge *g, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < g->nheap && cur_less(g, g->heap[l], g->heap[m]))
            m = l;
        if (l + 1 < g->nheap && cur_less(g, g->heap[l + 1], g->heap[m]))
            m = l + 1;
        if (m == i)
            return;
        size_t t = g->heap[i];
        g->heap[i] = g->heap[m];
        g->heap[m] = t;
        i = m;
    }
}

/* Advance the cursor at the heap top; it leaves the heap when done. */
static int heap_advance(struct merge *g, struct weir_error *err)
{
    size_t c = g->heap[0];
    bool done;
    if (c < g->a->nruns) {
        int rc = run_next(g->a, &g->a->runs[c], err);
        if (rc)
            return rc;
        done = g->a->runs[c].done;
    } else {
        done = ++g->mpos >= g->a->groups.n;
    }
    if (done)
        g->heap[0] = g->heap[--g->nheap];
    heap_down(g, 0);
    return 0;
}

/* Start g: every run from its first entry, and the groups in memory when
 * g->order is set. */
static int merge_start(struct merge *g, struct weir_error *err)
{
    struct weir_aggregate *a = g->a;
    int rc = 0;
    if (!(g->heap = weir_malloc((a->nruns + 1) * sizeof *g->heap)))
        return weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    for (size_t i = 0; i < a->nruns && rc == 0; i++) {
        a->runs[i].off = 0;
        if ((rc = run_next(a, &a->runs[i], err)) == 0 && !a->runs[i].done)
            g->heap[g->nheap++] = i;
    }
    if (g->order && a->groups.n > 0)
        g->heap[g->nheap++] = a->nruns;
    for (size_t i = g->nheap; i-- > 0;)
        heap_down(g, i);
    return rc;
}

/* Combine into dst every partial result of key k (the key at the heap
 * top, copied: runs move their buffers), oldest first, moving past them. */
static int merge_key(struct merge *g, const uint8_t *k, size_t kn, struct acc *dst, struct acc *tmp,
                     struct weir_error *err)
{
    struct weir_aggregate *a = g->a;
    int rc = 0;
    while (rc == 0 && g->nheap > 0) {
        size_t c = g->heap[0], cn;
        const uint8_t *ck = cur_key(g, c, &cn);
        if (key_cmp(ck, cn, k, kn) != 0)
            break;
        const struct acc *src = tmp;
        if (c < a->nruns) {
            if ((rc = acc_read(a->runs[c].v, a->runs[c].vn, a->m, a->nm, tmp)) != 0)
                return weir_error_set(err, rc, "%s: reading a scratch file: %s", a->name, weir_strerror(rc));
        } else {
            src = &a->accs[(size_t)g->order[g->mpos].x * a->nm];
        }
        for (size_t j = 0; j < a->nm && rc == 0; j++)
            rc = acc_merge(&a->m[j], &dst[j], &src[j]);
        for (size_t j = 0; j < a->nm; j++)
            acc_clear(&tmp[j]);
        rc = rc ? weir_error_set(err, rc, "%s: %s", a->name, weir_strerror(rc)) : heap_advance(g, err);
    }
    return rc;
}

/* Finish without sessions: every group the batch touched (runs and memory)
 * merged with its stored value, oldest first, and written back as one
 * sorted run of ingested files (update output: emitted too). A group
 * above the state's largest key is new without a read. */
static int agg_merge_write(struct weir_aggregate *a, struct emitter *e, struct weir_error *err)
{
    struct merge g = {.a = a};
    struct weir_state_cursor *cur = NULL;
    struct weir_state_sst *below = NULL, *above = NULL;
    struct acc *dst = weir_calloc(2 * a->nm, sizeof *dst), *tmp = dst ? dst + a->nm : NULL;
    int rc = dst && (g.order = agg_order(a)) ? 0 : WEIR_ENOMEM;
    if (rc) {
        weir_free(dst);
        return weir_error_set(err, rc, "%s: out of memory", a->name);
    }
    rc = merge_start(&g, err);
    if (rc == 0 && a->hi.any)
        rc = weir_state_cursor_create(a->op, &cur, err);
    while (rc == 0 && g.nheap > 0) {
        size_t kn;
        const uint8_t *k = cur_key(&g, g.heap[0], &kn);
        a->kb.len = 0;
        if ((rc = weir_buf_append(&a->kb, k, kn)) != 0) /* runs move their buffers */
            break;
        k = a->kb.data;
        bool stored = false;
        bool old = !bound_above(&a->hi, k, kn); /* may be stored */
        if (old) {
            const char *v;
            size_t vn;
            if ((rc = weir_state_cursor_get(cur, k, kn, &v, &vn, &stored, err)) != 0)
                break;
            if (stored && (rc = acc_read((const uint8_t *)v, vn, a->m, a->nm, dst)) != 0) {
                rc = weir_error_set(err, rc, "%s: reading the state of a group: %s", a->name,
                                    weir_strerror(rc));
                break;
            }
        }
        if (rc == 0) /* this key's partial results, oldest first */
            rc = merge_key(&g, k, kn, dst, tmp, err);
        a->vb.len = 0;
        struct weir_state_sst **f = old ? &below : &above;
        if (rc == 0 && (rc = acc_write(&a->vb, a->m, a->nm, dst)) != 0)
            rc = weir_error_set(err, rc, "%s: out of memory", a->name);
        if (rc == 0 && !*f)
            rc = weir_state_sst_create(a->op, f, err);
        if (rc == 0)
            rc = weir_state_sst_put(*f, k, kn, a->vb.data, a->vb.len, err);
        a->mt.rows_updated++;
        a->rows_total += !stored;
        if (rc == 0 && e != NULL) {
            int64_t end = a->win == WIN_TIME ? from_be64(k + 1) : 0;
            int64_t start = a->win == WIN_TIME ? from_be64(k + 9) : 0;
            rc = emit_row(e, k, kn, start, end, dst, err);
        }
        for (size_t j = 0; j < a->nm; j++)
            acc_clear(&dst[j]);
    }
    for (size_t j = 0; j < 2 * a->nm; j++) /* (what a failed read left) */
        acc_clear(&dst[j]);
    weir_state_cursor_destroy(cur);
    /* the file below the bound first: the one above then overlaps nothing */
    if (rc == 0 && below)
        rc = weir_state_sst_ingest(below, err);
    if (rc == 0 && above)
        rc = weir_state_sst_ingest(above, err);
    if (rc == 0 && (below || above)) /* kb: the last key written */
        if (bound_raise(&a->hi, a->kb.data, a->kb.len))
            rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    weir_state_sst_destroy(below);
    weir_state_sst_destroy(above);
    weir_free(dst);
    weir_free(g.heap);
    runs_close(a);
    return rc;
}

/* Merge the runs into one (a batch that spilled RUNS_MAX times): the
 * partial results of a key combined oldest first, as finish does. */
static int runs_compact(struct weir_aggregate *a, struct weir_error *err)
{
    struct merge g = {.a = a};
    struct run_writer w = {.fd = -1};
    struct weir_buf key;
    weir_buf_init(&key);
    struct acc *dst = weir_calloc(2 * a->nm, sizeof *dst), *tmp = dst ? dst + a->nm : NULL;
    int rc = dst ? 0 : weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
    if (rc == 0 && (w.fd = weir_state_scratch_file(a->st, err)) < 0)
        rc = weir_error_prefix(err, "%s", a->name);
    if (rc == 0)
        rc = merge_start(&g, err);
    /* keys written stay valid for the writer's prefix: one buffer per
     * pair of keys would do, two alternate */
    struct weir_buf kb2;
    weir_buf_init(&kb2);
    bool flip = false;
    while (rc == 0 && g.nheap > 0) {
        struct weir_buf *kk = flip ? &kb2 : &key;
        flip = !flip;
        size_t kn;
        const uint8_t *k = cur_key(&g, g.heap[0], &kn);
        kk->len = 0;
        if (weir_buf_append(kk, k, kn)) {
            rc = weir_error_set(err, WEIR_ENOMEM, "%s: out of memory", a->name);
            break;
        }
        rc = merge_key(&g, kk->data, kn, dst, tmp, err);
        if (rc == 0)
            rc = run_put(a, &w, kk->data, kn, dst, err);
        for (size_t j = 0; j < a->nm; j++)
            acc_clear(&dst[j]);
    }
    for (size_t j = 0; dst && j < 2 * a->nm; j++)
        acc_clear(&dst[j]);
    weir_free(dst);
    weir_free(g.heap);
    runs_close(a); /* the merged runs go; the new one is the only one */
    if (w.fd >= 0)
        rc = run_finish(a, &w, rc, err);
    weir_buf_free(&key);
    weir_buf_free(&kb2);
    return rc;
}

/* Sessions count their sessions: new ones are added, merged ones go. */
static void sess_count(struct weir_aggregate *a)
{
    for (size_t id = 0; id < a->groups.n; id++)
        a->rows_total += (int64_t)a->sl[id].n - (int64_t)(a->sl[id].old_index.len / (a->groups.len[id] + 16));
}

/* Heap bytes the groups in memory hold, estimated from their number. */
static size_t agg_memory(const struct weir_aggregate *a)
{
    size_t n = a->groups.n;
    size_t per = a->nm * sizeof(struct acc) + a->heavy;
    if (a->sl)
        per += sizeof(struct sess_list) + sizeof(struct sess) + a->nm * sizeof(struct acc);
    return weir_keymap_used_bytes(&a->groups) + n * per;
}

/* The batch's groups outgrew spill_bytes: sessions are written to the
 * state (a session touched again later in the batch is read back), other
 * groups become a run that finish merges. */
static int agg_spill(struct weir_aggregate *a, struct weir_error *err)
{
    if (a->win != WIN_SESSION)
        return run_spill(a, err);
    a->rows_total = read_count(a->op);
    sess_count(a);
    int rc = sess_write(a, err);
    write_count(a->op, a->rows_total);
    if (rc == 0)
        rc = weir_state_apply(a->st, err);
    agg_reset(a);
    return rc;
}

/* Sessions ending by wm: emit (append) and delete them. */
static int sess_evict(struct weir_aggregate *a, struct emitter *e, int64_t wm_us, struct weir_error *err)
{
    uint8_t lo[1] = {'x'}, hi[9] = {'x'};
    be64(hi + 1, wm_us + 1);
    struct weir_keymap gs = {0};
    struct weir_state_iter *it = NULL;
    int rc = weir_state_iter_create(a->op, lo, 1, hi, 9, &it, err);
    for (; rc == 0 && weir_state_iter_valid(it); weir_state_iter_next(it)) {
        size_t kn;
        const uint8_t *k = (const uint8_t *)weir_state_iter_key(it, &kn);
        if (kn < 17)
            continue;
        a->kb.len = 0;
        size_t id;
        bool added;
        if ((rc = weir_buf_append_byte(&a->kb, 's')) == 0 &&
            (rc = weir_buf_append(&a->kb, k + 9, kn - 17)) == 0)
            rc = weir_keymap_put(&gs, a->kb.data, a->kb.len, &id, &added);
        if (rc)
            rc = weir_error_set(err, rc, "%s: %s", a->name, weir_strerror(rc));
    }
    if (rc == 0)
        rc = weir_state_iter_status(it, err);
    weir_state_iter_destroy(it);
    for (size_t g = 0; g < gs.n && rc == 0; g++) {
        size_t kn;
        const uint8_t *k = weir_keymap_key(&gs, g, &kn);
        struct weir_buf v;
        bool found = false;
        weir_buf_init(&v);
        rc = weir_state_get(a->op, k, kn, &v, &found, err);
        struct sess_list l = {0};
        if (rc == 0 && found && (rc = sess_decode(a, &l, v.data, v.len)) != 0)
            rc = weir_error_set(err, rc, "%s: corrupt session state", a->name);
        for (size_t s = 0; s < l.n && rc == 0; s++) {
            if (l.v[s].end <= wm_us) {
                if (e)
                    rc = emit_row(e, k, kn, l.v[s].start, l.v[s].end, l.v[s].a, err);
                a->mt.rows_removed++;
                a->rows_total--;
            }
        }
        if (rc == 0) {
            /* keep the sessions still open */
            size_t w = 0;
            for (size_t s = 0; s < l.n; s++)
                if (l.v[s].end > wm_us)
                    l.v[w++] = l.v[s];
                else
                    accs_free(l.v[s].a, a->nm);
            l.n = w;
            a->vb.len = 0;
            if (w == 0)
                rc = weir_state_delete(a->op, k, kn);
            else if ((rc = sess_encode(a, &l, &a->vb)) == 0)
                rc = weir_state_put(a->op, k, kn, a->vb.data, a->vb.len);
        }
        sess_list_clear(a, &l);
        weir_free(l.v);
        weir_buf_free(&v);
    }
    weir_keymap_free(&gs);
    if (rc == 0)
        rc = weir_state_delete_range(a->op, lo, 1, hi, 9);
    return rc;
}

int weir_aggregate_finish(struct weir_aggregate *a, const struct weir_stateful_batch *sb,
                          weir_stateful_emit_cb cb, void *ctx, struct weir_error *err)
{
    int64_t t0 = weir_mono_ns();
    struct emitter e = {.a = a, .cb = cb, .ctx = ctx, .b = weir_batch_create(a->out)};
    if (!e.b)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    int64_t wm_us = sb->watermark_ms * 1000;
    bool evict = sb->has_watermark && a->win != WIN_NONE && a->output != WEIR_OUTPUT_COMPLETE;
    a->rows_total = read_count(a->op); /* not kept in memory: a failed batch is undone in the store */
    int rc = agg_read_hi(a, err);
    if (rc == 0 && a->win == WIN_SESSION) {
        sess_count(a);
        rc = sess_write(a, err);
    } else if (rc == 0) {
        rc = agg_merge_write(a, a->output == WEIR_OUTPUT_UPDATE ? &e : NULL, err);
    }
    if (rc == 0)
        rc = weir_state_apply(a->st, err);
    if (rc == 0 && a->output == WEIR_OUTPUT_COMPLETE) {
        uint8_t lo = agg_tag(a), hi = (uint8_t)(lo + 1);
        int64_t n;
        rc = emit_range(a, &e, &lo, 1, &hi, 1, INT64_MAX, &n, err);
    } else if (rc == 0 && evict && a->win == WIN_TIME) {
        uint8_t lo[1] = {'w'}, hi[9] = {'w'};
        be64(hi + 1, wm_us + 1);
        /* windows the watermark closed: emitted (append) and removed, in one pass */
        int64_t n = 0;
        rc = emit_range(a, a->output == WEIR_OUTPUT_APPEND ? &e : NULL, lo, 1, hi, 9, INT64_MAX, &n, err);
        a->mt.rows_removed += n;
        a->rows_total -= n;
        if (rc == 0 && n > 0)
            rc = weir_state_delete_range(a->op, lo, 1, hi, 9);
    } else if (rc == 0 && evict && a->win == WIN_SESSION) {
        rc = sess_evict(a, a->output == WEIR_OUTPUT_APPEND ? &e : NULL, wm_us, err);
    }
    if (rc == 0)
        rc = emit_flush(&e, err);
    write_count(a->op, a->rows_total);
    if (rc == 0)
        rc = weir_state_apply(a->st, err);
    weir_batch_destroy(e.b);
    agg_reset(a);
    runs_close(a);
    a->hi.read = false;
    a->mt.all_updates_ms += (weir_mono_ns() - t0) / 1000000;
    return rc;
}

void weir_aggregate_set_spill_bytes(struct weir_aggregate *a, size_t bytes)
{
    a->spill_bytes = bytes;
}

void weir_aggregate_abort(struct weir_aggregate *a)
{
    agg_reset(a);
    runs_close(a);
    a->hi.read = false;
    memset(&a->mt, 0, sizeof a->mt); /* the batch's counts: it reruns */
    a->mt.name = a->name;
}

void weir_aggregate_metrics(struct weir_aggregate *a, struct weir_stateful_metrics *m)
{
    take_metrics(a->op, a->rows_total, a->name, &a->mt, m);
}

/* -- checking stored values (tests, fuzzing) */

/* Output values of the nm accumulators ac into b's measure columns. */
static int check_render(const struct weir_aggregate *a, struct weir_batch *b, const struct acc *ac)
{
    size_t col = (a->win != WIN_NONE ? 2 : 0) + a->ngroup;
    int rc = 0;
    for (size_t j = 0; j < a->nm && rc == 0; j++)
        rc = acc_output(&a->m[j], &ac[j], &b->columns[col + j]);
    return rc;
}

int weir_aggregate_check_value(struct weir_aggregate *a, const uint8_t *v, size_t n, struct weir_error *err)
{
    struct weir_batch *b = weir_batch_create(a->out);
    struct sess_list l = {0};
    struct acc *ac = NULL;
    int rc = b ? 0 : WEIR_ENOMEM;
    if (rc == 0 && a->win == WIN_SESSION) {
        rc = sess_decode(a, &l, v, n);
        for (size_t k = 0; k < l.n && rc == 0; k++)
            rc = check_render(a, b, l.v[k].a);
    } else if (rc == 0) {
        if (!(ac = weir_calloc(a->nm, sizeof *ac)))
            rc = WEIR_ENOMEM;
        else if ((rc = acc_read(v, n, a->m, a->nm, ac)) == 0)
            rc = check_render(a, b, ac);
    }
    sess_list_clear(a, &l);
    weir_free(l.v);
    accs_free(ac, a->nm);
    weir_batch_destroy(b);
    if (rc)
        return weir_error_set(err, rc, "%s: %s state value: %s", a->name,
                              rc == WEIR_ECORRUPT ? "corrupt" : "unreadable", weir_strerror(rc));
    return 0;
}
