/* state/store.c - the versioned RocksDB state store (see store.h).
 *
 * Owns: the RocksDB handle of state/live/, its column family handles (the
 * metadata family and one per operator), the pending WriteBatch, the block
 * cache, and the id of the version live/ was restored from.
 *
 * Invariants:
 *   - state/v/<N> is complete whenever it exists under that name: it is
 *     built as .tmp-N, every file fsynced, then renamed (and state/v
 *     fsynced);
 *   - live/ equals version `version` plus the applied writes of the batch
 *     in flight; nothing reads live/ across a crash: open() rebuilds it;
 *   - live/ and the versions share SST files by hard links (SST files are
 *     immutable), everything else in a version is a private copy.
 *
 * Threading: one thread at a time; RocksDB's own threads flush and
 * compact in the background. */
#include "state/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <rocksdb/c.h>

#include "core/alloc.h"
#include "core/log.h"
#include "core/util.h"
#include "state/replica.h"

#define META_CF        "weir.meta"
#define OP_CF_PREFIX   "op."
#define DEFAULT_BUDGET (256ull << 20)

struct weir_state_op {
    struct weir_state *st;
    char *name;
    char *meta;       /* what the config asks for; stored at commit */
    bool meta_stored; /* the current version holds meta already */
    rocksdb_column_family_handle_t *cf;
    uint64_t reads; /* keys asked by get, multi_get and cursor_get */
};

struct weir_state {
    char *dir, *live, *vdir;
    int64_t version;
    uint64_t budget;
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_universal_compaction_options_t *uopts;
    rocksdb_cache_t *cache;
    rocksdb_readoptions_t *ropts;
    rocksdb_writeoptions_t *wopts;
    rocksdb_flushoptions_t *fopts;
    rocksdb_writebatch_t *wb;
    /* every column family of live/: cf_names[0] is "default" */
    char **cf_names;
    rocksdb_column_family_handle_t **cfs;
    size_t ncf;
    rocksdb_column_family_handle_t *meta_cf;
    struct weir_state_op **ops;
    size_t nops;
    /* per column family: its options (with its compaction filter) and
     * what the filter drops; kept across reopens of live/ */
    struct cf_expiry **exp;
    size_t nexp;
    uint64_t ingest_seq;      /* names of files being written for ingestion */
    struct weir_replica *rep; /* versions on the checkpoint's store, or NULL */
};

/* The compaction filter's view of one column family. */
struct cf_expiry {
    char *cf;
    rocksdb_options_t *opts;
    rocksdb_compactionfilter_t *filter;
    atomic_int tag;       /* -1: nothing expires */
    atomic_llong horizon; /* entries with expiry <= horizon go */
};

struct weir_state_iter {
    rocksdb_iterator_t *it;
    rocksdb_readoptions_t *ro;
    char *lo, *hi;
    size_t lon, hin;
};

/* ------------------------------------------------------------ files */

static int io_fail(struct weir_error *err, int e, const char *what, const char *path)
{
    return weir_error_set(err, WEIR_EIO, "state store: %s %s: %s", what, path, strerror(e));
}

static int db_fail(struct weir_error *err, char *msg, const char *what)
{
    int rc = weir_error_set(err, WEIR_EIO, "state store: %s: %s", what, msg ? msg : "unknown error");
    free(msg);
    return rc;
}

static int mkdir_if(const char *path, struct weir_error *err)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return io_fail(err, errno, "cannot create directory", path);
    return 0;
}

static int fsync_path(const char *path, bool dir, struct weir_error *err)
{
    int e = weir_fsync_path(path, dir);
    return e ? io_fail(err, e, "cannot fsync", path) : 0;
}

/* rm -r path (missing is fine). */
static int remove_tree(const char *path, struct weir_error *err)
{
    char *where = NULL;
    int e = weir_remove_tree(path, &where);
    int rc = e ? io_fail(err, e, "cannot remove", where ? where : path) : 0;
    weir_free(where);
    return rc;
}

static int copy_file(const char *from, const char *to, struct weir_error *err)
{
    int in = open(from, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    char buf[1 << 16];
    if (in < 0)
        return io_fail(err, errno, "cannot open", from);
    out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = io_fail(err, errno, "cannot create", to);
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = io_fail(err, errno, "cannot read", from);
            goto done;
        }
        if (n == 0)
            break;
        for (ssize_t o = 0; o < n;) {
            ssize_t w = write(out, buf + o, (size_t)(n - o));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = io_fail(err, errno, "cannot write", to);
                goto done;
            }
            o += w;
        }
    }
done:
    if (out >= 0)
        close(out);
    close(in);
    return rc;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* live/ := a copy of version `v`: SST files hard-linked, the rest copied. */
static int restore_live(struct weir_state *st, int64_t v, struct weir_error *err)
{
    int rc = remove_tree(st->live, err);
    if (rc || (rc = mkdir_if(st->live, err)) || v < 0)
        return rc;
    char *src = weir_asprintf("%s/%" PRId64, st->vdir, v);
    DIR *d = src ? opendir(src) : NULL;
    if (!src)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    if (!d) {
        rc = io_fail(err, errno, "cannot open state version", src);
        weir_free(src);
        return rc;
    }
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *from = weir_asprintf("%s/%s", src, e->d_name),
             *to = weir_asprintf("%s/%s", st->live, e->d_name);
        if (!from || !to)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        else if (ends_with(e->d_name, ".sst") && link(from, to) == 0)
            rc = 0;
        else
            rc = copy_file(from, to, err); /* also when links are not possible */
        weir_free(from);
        weir_free(to);
    }
    closedir(d);
    weir_free(src);
    return rc;
}

/* Versions in `vdir` (state/v), ascending; with `sweep` temp versions
 * are deleted. */
static int scan_versions(const char *vdir, bool sweep, int64_t **out, size_t *n, struct weir_error *err)
{
    DIR *d = opendir(vdir);
    int64_t *v = NULL;
    size_t nv = 0, cap = 0;
    int rc = 0;
    *out = NULL;
    *n = 0;
    if (!d)
        return io_fail(err, errno, "cannot open directory", vdir);
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        const char *s = e->d_name;
        if (strncmp(s, ".tmp-", 5) == 0) {
            if (!sweep)
                continue;
            char *p = weir_asprintf("%s/%s", vdir, s);
            rc = p ? remove_tree(p, err) : weir_error_set(err, WEIR_ENOMEM, "out of memory");
            weir_free(p);
            continue;
        }
        char *end;
        errno = 0;
        long long x = strtoll(s, &end, 10);
        if (s[0] < '0' || s[0] > '9' || *end || errno || x < 0)
            continue;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 16;
            int64_t *nvv = weir_realloc(v, nc * sizeof *v);
            if (!nvv) {
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
                break;
            }
            v = nvv;
            cap = nc;
        }
        v[nv++] = x;
    }
    closedir(d);
    if (rc) {
        weir_free(v);
        return rc;
    }
    for (size_t i = 1; i < nv; i++) /* insertion sort: few versions */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *out = v;
    *n = nv;
    return 0;
}

/* Versions in state/v (ascending), temp versions deleted. */
static int list_versions(struct weir_state *st, int64_t **out, size_t *n, struct weir_error *err)
{
    return scan_versions(st->vdir, true, out, n, err);
}

int weir_state_list_versions(const char *dir, const struct weir_state_options *o, int64_t **out, size_t *n,
                             struct weir_error *err)
{
    *out = NULL;
    *n = 0;
    if (o != NULL && o->replica_store != NULL) {
        struct weir_replica *rep = NULL;
        int rc = weir_replica_open(o->replica_store, o->replica_prefix, &rep, err);
        size_t count = rc == 0 ? weir_replica_count(rep) : 0;
        if (rc == 0 && count > 0 && (*out = weir_calloc(count, sizeof **out)) == NULL)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < count; i++)
            (*out)[i] = weir_replica_version(rep, i);
        if (rc == 0)
            *n = count;
        weir_replica_close(rep);
        return rc;
    }
    char *vdir = weir_asprintf("%s/v", dir);
    if (vdir == NULL)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    struct stat sb;
    int rc = stat(vdir, &sb) != 0 && errno == ENOENT ? 0 : scan_versions(vdir, false, out, n, err);
    weir_free(vdir);
    return rc;
}

/* ------------------------------------------------------------ database */

static void db_close(struct weir_state *st)
{
    for (size_t i = 0; i < st->ncf; i++) {
        if (st->cfs && st->cfs[i])
            rocksdb_column_family_handle_destroy(st->cfs[i]);
        weir_free(st->cf_names ? st->cf_names[i] : NULL);
    }
    weir_free(st->cfs);
    weir_free(st->cf_names);
    st->cfs = NULL;
    st->cf_names = NULL;
    st->ncf = 0;
    st->meta_cf = NULL;
    if (st->db)
        rocksdb_close(st->db);
    st->db = NULL;
    for (size_t i = 0; i < st->nops; i++)
        st->ops[i]->cf = NULL;
}

static rocksdb_column_family_handle_t *cf_find(struct weir_state *st, const char *name)
{
    for (size_t i = 0; i < st->ncf; i++)
        if (strcmp(st->cf_names[i], name) == 0)
            return st->cfs[i];
    return NULL;
}

static unsigned char expiry_filter(void *state, int level, const char *key, size_t kn, const char *v,
                                   size_t vn, char **nv, size_t *nvn, unsigned char *changed)
{
    const struct cf_expiry *x = state;
    (void)level, (void)nv, (void)nvn, (void)changed;
    int tag = atomic_load(&x->tag);
    if (tag < 0 || kn == 0 || (uint8_t)key[0] != tag || vn < 8)
        return 0;
    int64_t exp;
    memcpy(&exp, v, 8);
    return exp <= atomic_load(&x->horizon);
}

static const char *expiry_filter_name(void *state)
{
    (void)state;
    return "weir.expiry";
}

static void expiry_filter_free(void *state)
{
    (void)state; /* owned by the store */
}

/* Operators whose keys are updated in place all over their key space
 * (the change-data sink's last sequence per primary key): size-tiered
 * (universal) compaction. Leveled compaction would rewrite most of the
 * level below for every few batches' flushes there; sorted runs merge by
 * size instead, and all of them are rewritten once the newer ones add up
 * to the oldest (disk: at most twice the state). They are only written
 * with puts: RocksDB 7's ingestion into a universal column family can give
 * an ingested key an older sequence number than a stored one, so
 * weir_state_sst_create refuses them. */
static const char *const tiered_ops[] = {"cdc"};

static bool tiered_op(const char *op)
{
    for (size_t i = 0; i < sizeof tiered_ops / sizeof *tiered_ops; i++)
        if (strcmp(op, tiered_ops[i]) == 0)
            return true;
    return false;
}

static bool tiered(const char *cf)
{
    return strncmp(cf, OP_CF_PREFIX, strlen(OP_CF_PREFIX)) == 0 && tiered_op(cf + strlen(OP_CF_PREFIX));
}

/* The options of column family `name`: the store's, with a compaction
 * filter of its own (made on first use). NULL when out of memory. */
static rocksdb_options_t *cf_options(struct weir_state *st, const char *name)
{
    for (size_t i = 0; i < st->nexp; i++)
        if (strcmp(st->exp[i]->cf, name) == 0)
            return st->exp[i]->opts;
    struct cf_expiry **nx = weir_realloc(st->exp, (st->nexp + 1) * sizeof *nx);
    if (!nx)
        return NULL;
    st->exp = nx;
    struct cf_expiry *x = weir_calloc(1, sizeof *x);
    if (!x || !(x->cf = weir_strdup(name))) {
        weir_free(x);
        return NULL;
    }
    atomic_init(&x->tag, -1);
    atomic_init(&x->horizon, INT64_MIN);
    x->opts = rocksdb_options_create_copy(st->opts);
    if (tiered(name)) {
        if (!st->uopts) {
            st->uopts = rocksdb_universal_compaction_options_create();
            rocksdb_universal_compaction_options_set_max_size_amplification_percent(st->uopts, 100);
        }
        rocksdb_options_set_compaction_style(x->opts, rocksdb_universal_compaction);
        rocksdb_options_set_universal_compaction_options(x->opts, st->uopts);
    }
    if (strncmp(name, OP_CF_PREFIX, strlen(OP_CF_PREFIX)) == 0) { /* operators only: a filter costs */
        x->filter = rocksdb_compactionfilter_create(x, expiry_filter_free, expiry_filter, expiry_filter_name);
        rocksdb_options_set_compaction_filter(x->opts, x->filter);
    }
    st->exp[st->nexp++] = x;
    return x->opts;
}

static void expiry_free(struct weir_state *st)
{
    for (size_t i = 0; i < st->nexp; i++) {
        rocksdb_options_destroy(st->exp[i]->opts);
        if (st->exp[i]->filter)
            rocksdb_compactionfilter_destroy(st->exp[i]->filter);
        weir_free(st->exp[i]->cf);
        weir_free(st->exp[i]);
    }
    weir_free(st->exp);
    st->exp = NULL;
    st->nexp = 0;
}

void weir_state_op_expire(struct weir_state_op *op, uint8_t tag, int64_t horizon)
{
    char *cfn = weir_asprintf(OP_CF_PREFIX "%s", op->name);
    for (size_t i = 0; cfn && i < op->st->nexp; i++) {
        struct cf_expiry *x = op->st->exp[i];
        if (strcmp(x->cf, cfn) != 0)
            continue;
        atomic_store(&x->tag, tag);
        if (horizon > atomic_load(&x->horizon))
            atomic_store(&x->horizon, horizon);
    }
    weir_free(cfn);
}

int weir_state_compact(struct weir_state *st, struct weir_error *err)
{
    if (!st->db)
        return weir_error_set(err, WEIR_ESTATE, "state store: not open");
    for (size_t i = 0; i < st->ncf; i++)
        rocksdb_compact_range_cf(st->db, st->cfs[i], NULL, 0, NULL, 0);
    return 0;
}

static int cf_create(struct weir_state *st, const char *name, rocksdb_column_family_handle_t **out,
                     struct weir_error *err)
{
    char *e = NULL;
    char **nn = weir_realloc(st->cf_names, (st->ncf + 1) * sizeof *nn);
    if (nn)
        st->cf_names = nn;
    rocksdb_column_family_handle_t **nc = nn ? weir_realloc(st->cfs, (st->ncf + 1) * sizeof *nc) : NULL;
    if (nc)
        st->cfs = nc;
    char *copy = nc ? weir_strdup(name) : NULL;
    rocksdb_options_t *o = copy ? cf_options(st, name) : NULL;
    if (!o) {
        weir_free(copy);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    rocksdb_column_family_handle_t *h = rocksdb_create_column_family(st->db, o, name, &e);
    if (e) {
        weir_free(copy);
        return db_fail(err, e, "cannot create column family");
    }
    st->cf_names[st->ncf] = copy;
    st->cfs[st->ncf++] = h;
    *out = h;
    return 0;
}

/* Open live/ with all its column families (and the metadata one). */
/* Bytes of summed RocksDB integer property `name` over all column families. */
static uint64_t sum_property(struct weir_state *st, const char *name)
{
    uint64_t total = 0, v = 0;
    for (size_t i = 0; st->db && i < st->ncf; i++)
        if (rocksdb_property_int_cf(st->db, st->cfs[i], name, &v) == 0)
            total += v;
    return total;
}

/* The block cache gets the cache's half of the budget minus what the
 * table readers hold (index and filter blocks), and never less than an
 * eighth of the budget. Called whenever the set of files may have grown. */
static void budget_rebalance(struct weir_state *st)
{
    uint64_t readers = sum_property(st, "rocksdb.estimate-table-readers-mem");
    uint64_t half = st->budget / 2, least = st->budget / 8;
    rocksdb_cache_set_capacity(st->cache, (size_t)(half > readers + least ? half - readers : least));
}

static int db_open(struct weir_state *st, struct weir_error *err)
{
    char *e = NULL;
    size_t n = 0;
    char **names = rocksdb_list_column_families(st->opts, st->live, &n, &e);
    int rc = 0;
    if (e) { /* a new database */
        free(e);
        e = NULL;
        if (names)
            rocksdb_list_column_families_destroy(names, 0);
        n = 0;
        names = NULL;
    }
    size_t total = n ? n : 1;
    st->cf_names = weir_calloc(total, sizeof *st->cf_names);
    st->cfs = weir_calloc(total, sizeof *st->cfs);
    const rocksdb_options_t **copts = weir_calloc(total, sizeof *copts);
    if (!st->cf_names || !st->cfs || !copts) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < total; i++) {
        st->cf_names[i] = weir_strdup(n ? names[i] : "default");
        copts[i] = st->cf_names[i] ? cf_options(st, st->cf_names[i]) : NULL;
        if (!copts[i]) {
            st->ncf = i + (st->cf_names[i] != NULL);
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
            goto done;
        }
    }
    st->ncf = total;
    st->db = rocksdb_open_column_families(st->opts, st->live, (int)total, (const char *const *)st->cf_names,
                                          copts, st->cfs, &e);
    if (e) {
        rc = db_fail(err, e, "cannot open the state database");
        st->db = NULL;
        goto done;
    }
    st->meta_cf = cf_find(st, META_CF);
    if (!st->meta_cf)
        rc = cf_create(st, META_CF, &st->meta_cf, err);
    for (size_t i = 0; rc == 0 && i < st->nops; i++) {
        char *cfn = weir_asprintf(OP_CF_PREFIX "%s", st->ops[i]->name);
        if (!cfn)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        else if (!(st->ops[i]->cf = cf_find(st, cfn)))
            rc = cf_create(st, cfn, &st->ops[i]->cf, err);
        weir_free(cfn);
    }
    if (rc == 0)
        budget_rebalance(st);
done:
    if (names)
        rocksdb_list_column_families_destroy(names, n);
    weir_free(copts);
    if (rc)
        db_close(st);
    return rc;
}

/* RocksDB's perf counters are per thread and on by default; every read
 * entry point turns them off for its thread (a stage thread reads too). */
static void perf_off(void)
{
    static _Thread_local bool off;
    if (!off) {
        rocksdb_set_perf_level(1); /* no per-comparison counters */
        off = true;
    }
}

static void options_init(struct weir_state *st)
{
    uint64_t b = st->budget;
    st->cache = rocksdb_cache_create_lru((size_t)(b / 2));
    st->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(st->topts, st->cache);
    /* full filters and one index block per file, held by the table
     * readers rather than the block cache: a lookup reads them without a
     * cache lookup or a partition search. Their size is taken out of the
     * cache's share of the budget (budget_rebalance). */
    rocksdb_block_based_options_set_filter_policy(st->topts, rocksdb_filterpolicy_create_bloom(10));
    /* a hash index in each data block: a point lookup finds its key there
     * without a binary search of the restart points */
    rocksdb_block_based_options_set_data_block_index_type(
        st->topts, rocksdb_block_based_table_data_block_index_type_binary_search_and_hash);
    rocksdb_block_based_options_set_data_block_hash_ratio(st->topts, 0.75);
    st->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(st->opts, 1);
    rocksdb_options_set_block_based_table_factory(st->opts, st->topts);
    /* all memtables together: RocksDB's write buffer manager */
    rocksdb_options_set_db_write_buffer_size(st->opts, (size_t)(b / 2));
    rocksdb_options_set_write_buffer_size(st->opts, (size_t)(b / 8 < (64u << 20) ? b / 8 : (64u << 20)));
    rocksdb_options_set_max_write_buffer_number(st->opts, 2);
    rocksdb_options_set_compression(st->opts, rocksdb_lz4_compression);
    rocksdb_options_set_max_background_jobs(st->opts, 2);
    rocksdb_options_set_max_open_files(st->opts, 512);
    /* most keys a batch looks up are new: a bloom filter over whole keys
     * in each memtable answers those without a skip-list search */
    rocksdb_options_set_memtable_prefix_bloom_size_ratio(st->opts, 0.05);
    rocksdb_options_set_memtable_whole_key_filtering(st->opts, 1);
    st->ropts = rocksdb_readoptions_create();
    st->wopts = rocksdb_writeoptions_create();
    rocksdb_writeoptions_disable_WAL(st->wopts, 1); /* versions are the durability */
    st->fopts = rocksdb_flushoptions_create();
    rocksdb_flushoptions_set_wait(st->fopts, 1);
    st->wb = rocksdb_writebatch_create();
}

/* ------------------------------------------------------------ lifetime */

void weir_state_close(struct weir_state *st)
{
    if (!st)
        return;
    db_close(st);
    for (size_t i = 0; i < st->nops; i++) {
        weir_free(st->ops[i]->name);
        weir_free(st->ops[i]->meta);
        weir_free(st->ops[i]);
    }
    weir_free(st->ops);
    expiry_free(st);
    if (st->wb)
        rocksdb_writebatch_destroy(st->wb);
    if (st->opts)
        rocksdb_options_destroy(st->opts);
    if (st->topts)
        rocksdb_block_based_options_destroy(st->topts);
    if (st->uopts)
        rocksdb_universal_compaction_options_destroy(st->uopts);
    if (st->cache)
        rocksdb_cache_destroy(st->cache);
    if (st->ropts)
        rocksdb_readoptions_destroy(st->ropts);
    if (st->wopts)
        rocksdb_writeoptions_destroy(st->wopts);
    if (st->fopts)
        rocksdb_flushoptions_destroy(st->fopts);
    weir_replica_close(st->rep);
    weir_free(st->dir);
    weir_free(st->live);
    weir_free(st->vdir);
    weir_free(st);
}

#define INGEST_PREFIX  "ingest-"
#define SCRATCH_PREFIX "scratch-"

/* Files written for ingestion by a process that died before. */
static void remove_leftovers(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, INGEST_PREFIX, strlen(INGEST_PREFIX)) != 0 &&
            strncmp(de->d_name, SCRATCH_PREFIX, strlen(SCRATCH_PREFIX)) != 0)
            continue;
        char *p = weir_asprintf("%s/%s", dir, de->d_name);
        if (p)
            (void)unlink(p);
        weir_free(p);
    }
    if (d)
        closedir(d);
}

/* Remote versions newer than last_commit are dropped; the version of
 * last_commit is restored into v/<N> unless the local copy carries its id;
 * objects of interrupted saves are deleted. *have: the version exists. */
static int replica_sync(struct weir_state *st, int64_t last_commit, bool *have, struct weir_error *err)
{
    int rc = 0;
    for (size_t i = weir_replica_count(st->rep); rc == 0 && i > 0; i--) {
        int64_t v = weir_replica_version(st->rep, i - 1);
        if (v <= last_commit)
            break;
        rc = weir_replica_drop(st->rep, v, err);
    }
    const char *id = last_commit >= 0 ? weir_replica_id(st->rep, last_commit) : NULL;
    *have = id != NULL;
    if (rc == 0 && id != NULL) {
        char *fin = weir_asprintf("%s/%" PRId64, st->vdir, last_commit);
        char *tmp = weir_asprintf("%s/.tmp-%" PRId64, st->vdir, last_commit);
        if (!fin || !tmp)
            rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        else if (weir_replica_marked(fin, id))
            weir_replica_rebase(st->rep, last_commit);
        else if ((rc = remove_tree(tmp, err)) == 0 && (rc = remove_tree(fin, err)) == 0 &&
                 (rc = weir_replica_restore(st->rep, last_commit, tmp, err)) == 0) {
            if (rename(tmp, fin) != 0)
                rc = io_fail(err, errno, "cannot rename", tmp);
            else
                rc = fsync_path(st->vdir, true, err);
            if (rc == 0)
                WEIR_INFO("state store %s: version %" PRId64 " copied from the checkpoint's store", st->dir,
                          last_commit);
        }
        weir_free(fin);
        weir_free(tmp);
    }
    if (rc == 0)
        rc = weir_replica_collect(st->rep, NULL, err);
    return rc;
}

int weir_state_open(const char *dir, int64_t last_commit, const struct weir_state_options *o,
                    struct weir_state **out, struct weir_error *err)
{
    struct weir_state *st = weir_calloc(1, sizeof *st);
    int64_t *vers = NULL;
    size_t nv = 0;
    int rc = 0;
    *out = NULL;
    if (!st || !(st->dir = weir_strdup(dir)) || !(st->live = weir_asprintf("%s/live", dir)) ||
        !(st->vdir = weir_asprintf("%s/v", dir))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    st->budget = o && o->memory_budget ? o->memory_budget : DEFAULT_BUDGET;
    st->version = -1;
    options_init(st);
    if ((rc = mkdir_if(dir, err)) || (rc = mkdir_if(st->vdir, err)))
        goto done;
    bool have = false;
    if (o && o->replica_store) {
        if ((rc = weir_replica_open(o->replica_store, o->replica_prefix, &st->rep, err)) ||
            (rc = replica_sync(st, last_commit, &have, err)))
            goto done;
    }
    if ((rc = list_versions(st, &vers, &nv, err)))
        goto done;
    remove_leftovers(dir);
    for (size_t i = 0; i < nv; i++) {
        if (vers[i] > last_commit) { /* made by a batch whose commit never got written */
            char *p = weir_asprintf("%s/%" PRId64, st->vdir, vers[i]);
            rc = p ? remove_tree(p, err) : weir_error_set(err, WEIR_ENOMEM, "out of memory");
            weir_free(p);
            if (rc)
                goto done;
            WEIR_INFO("state store %s: dropped version %" PRId64 " (its batch never committed)", dir,
                      vers[i]);
        } else if (vers[i] == last_commit && !st->rep) {
            have = true;
        }
    }
    if (last_commit >= 0 && !have) {
        rc = weir_error_set(err, WEIR_ECORRUPT,
                            "state store %s: the checkpoint committed batch %" PRId64
                            " but the state has no version %" PRId64
                            " (%s); state cannot be added to a pipeline that ran without it, or was lost: "
                            "start from a new checkpoint",
                            st->rep ? o->replica_prefix : dir, last_commit, last_commit,
                            nv && vers[0] <= last_commit ? "older versions only" : "no versions");
        goto done;
    }
    st->version = have ? last_commit : -1;
    if ((rc = restore_live(st, st->version, err)) || (rc = db_open(st, err)))
        goto done;
    *out = st;
    st = NULL;
done:
    weir_free(vers);
    weir_state_close(st);
    return rc;
}

int64_t weir_state_version(const struct weir_state *st)
{
    return st->version;
}

/* ------------------------------------------------------------ operators */

static int meta_get(struct weir_state *st, const char *name, char **out, struct weir_error *err)
{
    char *e = NULL;
    size_t n = 0;
    char *v = rocksdb_get_cf(st->db, st->ropts, st->meta_cf, name, strlen(name), &n, &e);
    *out = NULL;
    if (e)
        return db_fail(err, e, "cannot read operator metadata");
    if (!v)
        return 0;
    *out = weir_malloc(n + 1);
    if (*out) {
        memcpy(*out, v, n);
        (*out)[n] = 0;
    }
    rocksdb_free(v);
    return *out ? 0 : weir_error_set(err, WEIR_ENOMEM, "out of memory");
}

int weir_state_operator(struct weir_state *st, const char *name, const char *meta,
                        weir_state_compat_fn compat, struct weir_state_op **out, struct weir_error *err)
{
    char *stored = NULL, *cfn = NULL;
    struct weir_state_op *op = NULL;
    int rc;
    *out = NULL;
    for (size_t i = 0; i < st->nops; i++)
        if (strcmp(st->ops[i]->name, name) == 0)
            return weir_error_set(err, WEIR_EEXISTS, "state store: operator '%s' opened twice", name);
    if ((rc = meta_get(st, name, &stored, err)))
        return rc;
    if (stored && strcmp(stored, meta) != 0) {
        rc = compat ? compat(stored, meta, err)
                    : weir_error_set(err, WEIR_ESCHEMA, "operator '%s' changed: was %s, now %s", name, stored,
                                     meta);
        if (rc) {
            weir_error_prefix(err, "state of operator '%s'", name);
            goto done;
        }
    }
    struct weir_state_op **nops = weir_realloc(st->ops, (st->nops + 1) * sizeof *nops);
    if (nops)
        st->ops = nops;
    op = nops ? weir_calloc(1, sizeof *op) : NULL;
    cfn = weir_asprintf(OP_CF_PREFIX "%s", name);
    if (!op || !cfn || !(op->name = weir_strdup(name)) || !(op->meta = weir_strdup(meta))) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    op->st = st;
    op->meta_stored = stored != NULL && strcmp(stored, meta) == 0;
    if (!(op->cf = cf_find(st, cfn)) && (rc = cf_create(st, cfn, &op->cf, err)))
        goto done;
    st->ops[st->nops++] = op;
    *out = op;
    op = NULL;
done:
    if (op) {
        weir_free(op->name);
        weir_free(op->meta);
        weir_free(op);
    }
    weir_free(cfn);
    weir_free(stored);
    return rc;
}

/* ------------------------------------------------------------ reads and writes */

int weir_state_get(struct weir_state_op *op, const void *k, size_t kn, struct weir_buf *v, bool *found,
                   struct weir_error *err)
{
    char *e = NULL;
    size_t n = 0;
    op->reads++;
    perf_off();
    char *r = rocksdb_get_cf(op->st->db, op->st->ropts, op->cf, k, kn, &n, &e);
    *found = false;
    if (e)
        return db_fail(err, e, "read failed");
    if (!r)
        return 0;
    *found = true;
    v->len = 0;
    int rc = weir_buf_append(v, r, n);
    rocksdb_free(r);
    return rc ? weir_error_set(err, WEIR_ENOMEM, "out of memory") : 0;
}

int weir_state_multi_get(struct weir_state_op *op, size_t n, const char *const *keys, const size_t *klens,
                         bool *found, struct weir_buf *vals, struct weir_error *err)
{
    if (n == 0)
        return 0;
    op->reads += n;
    char **vs = weir_calloc(n, sizeof *vs), **es = weir_calloc(n, sizeof *es);
    size_t *vl = weir_calloc(n, sizeof *vl);
    const rocksdb_column_family_handle_t **cfs = weir_calloc(n, sizeof *cfs);
    int rc = 0;
    if (!vs || !es || !vl || !cfs) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        cfs[i] = op->cf;
    perf_off();
    rocksdb_multi_get_cf(op->st->db, op->st->ropts, cfs, n, keys, klens, vs, vl, es);
    for (size_t i = 0; i < n; i++) {
        if (es[i] && rc == 0)
            rc = db_fail(err, es[i], "read failed");
        else
            free(es[i]);
        es[i] = NULL;
        found[i] = vs[i] != NULL;
        if (vs[i] && vals && rc == 0) {
            vals[i].len = 0;
            if (weir_buf_append(&vals[i], vs[i], vl[i]))
                rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        }
        if (vs[i])
            rocksdb_free(vs[i]);
    }
done:
    weir_free(vs);
    weir_free(es);
    weir_free(vl);
    weir_free(cfs);
    return rc;
}

int weir_state_put(struct weir_state_op *op, const void *k, size_t kn, const void *v, size_t vn)
{
    rocksdb_writebatch_put_cf(op->st->wb, op->cf, k, kn, v, vn);
    return 0;
}

int weir_state_delete(struct weir_state_op *op, const void *k, size_t kn)
{
    rocksdb_writebatch_delete_cf(op->st->wb, op->cf, k, kn);
    return 0;
}

int weir_state_delete_range(struct weir_state_op *op, const void *lo, size_t lon, const void *hi, size_t hin)
{
    rocksdb_writebatch_delete_range_cf(op->st->wb, op->cf, lo, lon, hi, hin);
    return 0;
}

int weir_state_apply(struct weir_state *st, struct weir_error *err)
{
    char *e = NULL;
    if (rocksdb_writebatch_count(st->wb) == 0)
        return 0;
    rocksdb_write(st->db, st->wopts, st->wb, &e);
    rocksdb_writebatch_clear(st->wb);
    return e ? db_fail(err, e, "write failed") : 0;
}

struct weir_state_sst {
    struct weir_state_op *op;
    char *path;
    rocksdb_envoptions_t *eo;
    rocksdb_sstfilewriter_t *w;
    struct weir_buf last; /* the last key put */
    size_t n;
};

void weir_state_sst_destroy(struct weir_state_sst *f)
{
    if (!f)
        return;
    if (f->w)
        rocksdb_sstfilewriter_destroy(f->w);
    if (f->eo)
        rocksdb_envoptions_destroy(f->eo);
    if (f->path)
        (void)unlink(f->path);
    weir_free(f->path);
    weir_buf_free(&f->last);
    weir_free(f);
}

int weir_state_sst_create(struct weir_state_op *op, struct weir_state_sst **out, struct weir_error *err)
{
    struct weir_state *st = op->st;
    struct weir_state_sst *f = NULL;
    char *cfn = NULL, *e = NULL;
    rocksdb_options_t *o;
    *out = NULL;
    if (tiered_op(op->name))
        return weir_error_set(err, WEIR_EINVAL,
                              "state of operator '%s': ingestion is not allowed (size-tiered)", op->name);
    f = weir_calloc(1, sizeof *f);
    if (!f || !(cfn = weir_asprintf(OP_CF_PREFIX "%s", op->name)) || !(o = cf_options(st, cfn)) ||
        !(f->path = weir_asprintf("%s/" INGEST_PREFIX "%" PRIu64 ".sst", st->dir, st->ingest_seq++))) {
        weir_free(cfn);
        weir_state_sst_destroy(f);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    weir_free(cfn);
    f->op = op;
    weir_buf_init(&f->last);
    f->eo = rocksdb_envoptions_create();
    f->w = rocksdb_sstfilewriter_create(f->eo, o);
    rocksdb_sstfilewriter_open(f->w, f->path, &e);
    if (e) {
        weir_state_sst_destroy(f);
        return db_fail(err, e, "cannot write a state file");
    }
    *out = f;
    return 0;
}

int weir_state_sst_put(struct weir_state_sst *f, const void *k, size_t kn, const void *v, size_t vn,
                       struct weir_error *err)
{
    if (f->n > 0) {
        size_t m = f->last.len < kn ? f->last.len : kn;
        int c = memcmp(f->last.data, k, m);
        if (c > 0 || (c == 0 && f->last.len >= kn))
            return weir_error_set(err, WEIR_EINVAL, "state %s: ingest: key %zu is not above key %zu",
                                  f->op->name, f->n, f->n - 1);
    }
    f->last.len = 0;
    if (weir_buf_append(&f->last, k, kn))
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    char *e = NULL;
    rocksdb_sstfilewriter_put(f->w, k, kn, v, vn, &e);
    if (e)
        return db_fail(err, e, "cannot write a state file");
    f->n++;
    return 0;
}

int weir_state_sst_ingest(struct weir_state_sst *f, struct weir_error *err)
{
    struct weir_state *st = f->op->st;
    char *e = NULL;
    int rc;
    if ((rc = weir_state_apply(st, err)) || f->n == 0)
        return rc;
    rocksdb_sstfilewriter_finish(f->w, &e);
    if (e)
        return db_fail(err, e, "cannot write a state file");
    rocksdb_ingestexternalfileoptions_t *io = rocksdb_ingestexternalfileoptions_create();
    rocksdb_ingestexternalfileoptions_set_move_files(io, 1); /* a hard link, no copy */
    const char *files[1] = {f->path};
    rocksdb_ingest_external_file_cf(st->db, f->op->cf, files, 1, io, &e);
    rocksdb_ingestexternalfileoptions_destroy(io);
    if (e)
        rc = db_fail(err, e, "cannot add a state file");
    f->n = 0;
    budget_rebalance(st);
    return rc;
}

int weir_state_ingest(struct weir_state_op *op, const struct weir_state_kv *kv, size_t n,
                      struct weir_error *err)
{
    if (n == 0)
        return weir_state_apply(op->st, err);
    struct weir_state_sst *f;
    int rc = weir_state_sst_create(op, &f, err);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = weir_state_sst_put(f, kv[i].k, kv[i].kn, kv[i].v, kv[i].vn, err);
    if (rc == 0)
        rc = weir_state_sst_ingest(f, err);
    weir_state_sst_destroy(f);
    return rc;
}

/* ------------------------------------------------------------ ascending reads */

struct weir_state_cursor {
    struct weir_state_op *op;
    rocksdb_iterator_t *it;
    bool started;
    int steps; /* Next calls tried before a Seek: grows while they reach the key */
};

#define CURSOR_STEPS_MAX 64

int weir_state_cursor_create(struct weir_state_op *op, struct weir_state_cursor **out, struct weir_error *err)
{
    struct weir_state_cursor *c = weir_calloc(1, sizeof *c);
    *out = NULL;
    if (!c)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    c->op = op;
    perf_off();
    c->it = rocksdb_create_iterator_cf(op->st->db, op->st->ropts, op->cf);
    c->steps = 8;
    *out = c;
    return 0;
}

static int iter_cmp(rocksdb_iterator_t *it, const void *k, size_t kn)
{
    size_t n;
    const char *ik = rocksdb_iter_key(it, &n);
    int c = memcmp(ik, k, n < kn ? n : kn);
    return c ? c : (n > kn) - (n < kn);
}

int weir_state_cursor_get(struct weir_state_cursor *c, const void *k, size_t kn, const char **v, size_t *vn,
                          bool *found, struct weir_error *err)
{
    *found = false;
    c->op->reads++;
    int s = 0;
    if (c->started) {
        while (s < c->steps && rocksdb_iter_valid(c->it) && iter_cmp(c->it, k, kn) < 0) {
            rocksdb_iter_next(c->it);
            s++;
        }
    }
    if (!c->started || (rocksdb_iter_valid(c->it) && iter_cmp(c->it, k, kn) < 0)) {
        if (c->started && c->steps > 1)
            c->steps /= 2; /* sparse keys: seek sooner */
        rocksdb_iter_seek(c->it, k, kn);
        c->started = true;
    } else if (s > 0 && c->steps < CURSOR_STEPS_MAX) {
        c->steps *= 2;
    }
    if (!rocksdb_iter_valid(c->it)) {
        char *e = NULL;
        rocksdb_iter_get_error(c->it, &e);
        return e ? db_fail(err, e, "read failed") : 0;
    }
    if (iter_cmp(c->it, k, kn) == 0) {
        *found = true;
        *v = rocksdb_iter_value(c->it, vn);
    }
    return 0;
}

void weir_state_cursor_destroy(struct weir_state_cursor *c)
{
    if (!c)
        return;
    rocksdb_iter_destroy(c->it);
    weir_free(c);
}

uint64_t weir_state_estimate_keys(struct weir_state_op *op, const void *lo, size_t lon, const void *hi,
                                  size_t hin)
{
    uint64_t keys = 0, bytes = 0, range = 0;
    if (rocksdb_property_int_cf(op->st->db, op->cf, "rocksdb.estimate-num-keys", &keys) != 0 ||
        rocksdb_property_int_cf(op->st->db, op->cf, "rocksdb.live-sst-files-size", &bytes) != 0 ||
        keys == 0 || bytes == 0)
        return keys;
    const char *starts[1] = {lo}, *limits[1] = {hi};
    size_t slen[1] = {lon}, llen[1] = {hin};
    char *e = NULL;
    rocksdb_approximate_sizes_cf(op->st->db, op->cf, 1, starts, slen, limits, llen, &range, &e);
    if (e) {
        free(e);
        return keys;
    }
    unsigned __int128 est = (unsigned __int128)range * keys / bytes;
    return est > keys ? keys : (uint64_t)est;
}

const char *weir_state_dir(const struct weir_state *st)
{
    return st->dir;
}

int weir_state_scratch_file(struct weir_state *st, struct weir_error *err)
{
    char *path = weir_asprintf("%s/" SCRATCH_PREFIX "XXXXXX", st->dir);
    if (!path)
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        weir_error_set(err, WEIR_EIO, "state store: cannot create a scratch file in %s: %s", st->dir,
                       strerror(errno));
    else
        (void)unlink(path);
    weir_free(path);
    return fd < 0 ? -1 : fd;
}

/* ------------------------------------------------------------ iteration */

int weir_state_iter_create(struct weir_state_op *op, const void *lo, size_t lon, const void *hi, size_t hin,
                           struct weir_state_iter **out, struct weir_error *err)
{
    struct weir_state_iter *it = weir_calloc(1, sizeof *it);
    *out = NULL;
    if (!it || (lo && !(it->lo = weir_malloc(lon ? lon : 1))) ||
        (hi && !(it->hi = weir_malloc(hin ? hin : 1)))) {
        if (it) {
            weir_free(it->lo);
            weir_free(it);
        }
        return weir_error_set(err, WEIR_ENOMEM, "out of memory");
    }
    if (lo)
        memcpy(it->lo, lo, lon);
    if (hi)
        memcpy(it->hi, hi, hin);
    it->lon = lon;
    it->hin = hin;
    it->ro = rocksdb_readoptions_create();
    if (hi)
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->hi, hin);
    perf_off();
    it->it = rocksdb_create_iterator_cf(op->st->db, it->ro, op->cf);
    if (lo)
        rocksdb_iter_seek(it->it, it->lo, lon);
    else
        rocksdb_iter_seek_to_first(it->it);
    *out = it;
    return 0;
}

bool weir_state_iter_valid(const struct weir_state_iter *it)
{
    return rocksdb_iter_valid(it->it) != 0;
}

void weir_state_iter_next(struct weir_state_iter *it)
{
    rocksdb_iter_next(it->it);
}

const char *weir_state_iter_key(const struct weir_state_iter *it, size_t *n)
{
    return rocksdb_iter_key(it->it, n);
}

const char *weir_state_iter_value(const struct weir_state_iter *it, size_t *n)
{
    return rocksdb_iter_value(it->it, n);
}

int weir_state_iter_status(const struct weir_state_iter *it, struct weir_error *err)
{
    char *e = NULL;
    rocksdb_iter_get_error(it->it, &e);
    return e ? db_fail(err, e, "iteration failed") : 0;
}

void weir_state_iter_destroy(struct weir_state_iter *it)
{
    if (!it)
        return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    weir_free(it->lo);
    weir_free(it->hi);
    weir_free(it);
}

int weir_state_last_key(struct weir_state_op *op, const void *lo, size_t lon, const void *hi, size_t hin,
                        struct weir_buf *out, bool *found, struct weir_error *err)
{
    *found = false;
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_upper_bound(ro, hi, hin);
    perf_off();
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(op->st->db, ro, op->cf);
    rocksdb_iter_seek_to_last(it);
    int rc = 0;
    if (rocksdb_iter_valid(it)) {
        size_t kn;
        const char *k = rocksdb_iter_key(it, &kn);
        size_t m = kn < lon ? kn : lon;
        int c = memcmp(k, lo, m);
        if (c > 0 || (c == 0 && kn >= lon)) {
            out->len = 0;
            if ((rc = weir_buf_append(out, k, kn)) != 0)
                rc = weir_error_set(err, rc, "out of memory");
            *found = rc == 0;
        }
    }
    char *e = NULL;
    rocksdb_iter_get_error(it, &e);
    if (e && rc == 0)
        rc = db_fail(err, e, "seek failed");
    else if (e)
        free(e);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    return rc;
}

/* ------------------------------------------------------------ versions */

static int fsync_tree(const char *dir, struct weir_error *err)
{
    DIR *d = opendir(dir);
    int rc = 0;
    if (!d)
        return io_fail(err, errno, "cannot open directory", dir);
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char *p = weir_asprintf("%s/%s", dir, e->d_name);
        rc = p ? fsync_path(p, false, err) : weir_error_set(err, WEIR_ENOMEM, "out of memory");
        weir_free(p);
    }
    closedir(d);
    return rc ? rc : fsync_path(dir, true, err);
}

int weir_state_commit(struct weir_state *st, int64_t batch, struct weir_error *err)
{
    char *e = NULL, *tmp = NULL, *fin = NULL;
    rocksdb_checkpoint_t *cp = NULL;
    int rc;
    for (size_t i = 0; i < st->nops; i++)
        if (!st->ops[i]->meta_stored) /* no new table file for an unchanged record */
            rocksdb_writebatch_put_cf(st->wb, st->meta_cf, st->ops[i]->name, strlen(st->ops[i]->name),
                                      st->ops[i]->meta, strlen(st->ops[i]->meta));
    if ((rc = weir_state_apply(st, err)))
        return rc;
    for (size_t i = 0; i < st->ncf; i++) {
        rocksdb_flush_cf(st->db, st->fopts, st->cfs[i], &e);
        if (e)
            return db_fail(err, e, "flush failed");
    }
    tmp = weir_asprintf("%s/.tmp-%" PRId64, st->vdir, batch);
    fin = weir_asprintf("%s/%" PRId64, st->vdir, batch);
    if (!tmp || !fin) {
        rc = weir_error_set(err, WEIR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = remove_tree(tmp, err)) || (rc = remove_tree(fin, err)))
        goto done;
    cp = rocksdb_checkpoint_object_create(st->db, &e);
    if (!e)
        rocksdb_checkpoint_create(cp, tmp, 0, &e);
    if (e) {
        rc = db_fail(err, e, "cannot make the state version");
        goto done;
    }
    if ((rc = fsync_tree(tmp, err)))
        goto done;
    if (rename(tmp, fin) != 0) {
        rc = io_fail(err, errno, "cannot rename", tmp);
        goto done;
    }
    if ((rc = fsync_path(st->vdir, true, err)))
        goto done;
    if (st->rep) { /* on the checkpoint's store before the engine writes commits/N */
        char id[37];
        weir_uuid4(id);
        if ((rc = weir_replica_save(st->rep, fin, batch, id, err)) || (rc = weir_replica_mark(fin, id, err)))
            goto done;
    }
    st->version = batch;
    for (size_t i = 0; i < st->nops; i++)
        st->ops[i]->meta_stored = true;
    budget_rebalance(st);
done:
    if (cp)
        rocksdb_checkpoint_object_destroy(cp);
    weir_free(tmp);
    weir_free(fin);
    return rc;
}

int weir_state_abort(struct weir_state *st, struct weir_error *err)
{
    int rc;
    rocksdb_writebatch_clear(st->wb);
    for (size_t i = 0; i < st->nops; i++)
        st->ops[i]->meta_stored = false; /* the version restored may predate an operator */
    db_close(st);
    if ((rc = restore_live(st, st->version, err)) || (rc = db_open(st, err)))
        weir_error_prefix(err, "state store %s: restoring version %" PRId64, st->dir, st->version);
    if (st->rep)
        weir_replica_rebase(st->rep, st->version);
    return rc;
}

int weir_state_purge(struct weir_state *st, int64_t keep_from, struct weir_error *err)
{
    int64_t *vers = NULL;
    size_t nv = 0;
    int rc = list_versions(st, &vers, &nv, err);
    for (size_t i = 0; rc == 0 && i < nv && vers[i] < keep_from; i++) {
        if (vers[i] == st->version)
            continue;
        char *p = weir_asprintf("%s/%" PRId64, st->vdir, vers[i]);
        rc = p ? remove_tree(p, err) : weir_error_set(err, WEIR_ENOMEM, "out of memory");
        weir_free(p);
    }
    weir_free(vers);
    while (rc == 0 && st->rep && weir_replica_count(st->rep) > 1 &&
           weir_replica_version(st->rep, 0) < keep_from && weir_replica_version(st->rep, 0) != st->version)
        rc = weir_replica_drop(st->rep, weir_replica_version(st->rep, 0), err);
    return rc;
}

/* ------------------------------------------------------------ metrics */

void weir_state_op_stats(struct weir_state_op *op, struct weir_state_op_stats *out)
{
    uint64_t v = 0;
    memset(out, 0, sizeof *out);
    out->reads = op->reads;
    op->reads = 0;
    if (rocksdb_property_int_cf(op->st->db, op->cf, "rocksdb.estimate-num-keys", &v) == 0)
        out->keys = v;
    if (rocksdb_property_int_cf(op->st->db, op->cf, "rocksdb.cur-size-all-mem-tables", &v) == 0)
        out->memory_bytes = v;
}

uint64_t weir_state_memory_used(struct weir_state *st)
{
    return rocksdb_cache_get_usage(st->cache) + sum_property(st, "rocksdb.cur-size-all-mem-tables") +
           sum_property(st, "rocksdb.estimate-table-readers-mem");
}
