/* storage/storage.h - the object-store interface: the only code that
 * touches files (and, later, HTTP) for data.
 *
 * A store is opened from a URI or local path: "/data/t", "file:///data/t",
 * "s3://bucket/prefix" (also s3a://), "gs://bucket/prefix",
 * "abfss://container@account.dfs.core.windows.net/prefix" (also abfs://,
 * az://container/prefix, wasbs://). Keys are relative
 * paths below the store root using '/' ("_delta_log/00000000000000000000.json").
 * Every operation returns 0 or a negative WEIR_E* code with a message naming
 * the key; WEIR_ENOTFOUND for a missing key, WEIR_EEXISTS when put-if-absent
 * finds the key taken. Writes are atomic: a reader sees the whole object or
 * nothing (local: temp file, fsync, rename/link, fsync of the directory).
 * A store may be used from several threads at once. */
#ifndef WEIR_STORAGE_STORAGE_H
#define WEIR_STORAGE_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/error.h"

struct weir_store;

struct weir_object_info {
    char *key; /* relative to the store root */
    uint64_t size;
    int64_t mtime_ms; /* last modification, ms since epoch */
};

struct weir_object_list {
    struct weir_object_info *items;
    size_t count;
};
void weir_object_list_free(struct weir_object_list *l);

int weir_store_open(struct weir_store **out, const char *uri, struct weir_error *err);

/* Options of a store (endpoint, region, credentials, ...) as name/value
 * pairs: kv[2i] the name, kv[2i+1] the value. Names are those of
 * docs/storage.md ("aws_endpoint_url"); any name not given here is looked
 * up in the environment in upper case (AWS_ENDPOINT_URL), then in its
 * aliases. An unknown name is WEIR_ECONFIG. */
struct weir_store_options {
    const char *const *kv;
    size_t npairs;
};
int weir_store_open_with(struct weir_store **out, const char *uri, const struct weir_store_options *opts,
                         struct weir_error *err);
/* True when `name` is a storage option (for config validation); with a
 * non-NULL `suggest`, the closest known name when it is not. */
bool weir_store_option_known(const char *name, const char **suggest);
/* True when the option's value must never be printed (keys, tokens). */
bool weir_store_option_secret(const char *name);
void weir_store_destroy(struct weir_store *s);
/* The root as given (for messages and for add.path resolution). */
const char *weir_store_root(const struct weir_store *s);
/* The directory of a store on the local file system ("file:///a%20b"
 * gives "/a b"); NULL for an object store. */
const char *weir_store_local_dir(const struct weir_store *s);

/* Whole object into `out` (appended). */
int weir_store_get(struct weir_store *s, const char *key, struct weir_buf *out, struct weir_error *err);
/* Bytes [off, off+n) into p; WEIR_ECORRUPT if the object is shorter. */
int weir_store_get_range(struct weir_store *s, const char *key, uint64_t off, void *p, size_t n,
                         struct weir_error *err);
/* Fills size and mtime_ms; info->key is set to NULL (nothing to free). */
int weir_store_head(struct weir_store *s, const char *key, struct weir_object_info *info,
                    struct weir_error *err);
/* Atomic replace. */
int weir_store_put(struct weir_store *s, const char *key, const void *p, size_t n, struct weir_error *err);
/* Atomic create; WEIR_EEXISTS if the key exists. Never overwrites. */
int weir_store_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n,
                             struct weir_error *err);
/* Keys under `prefix` (a "directory" such as "_delta_log/"), in
 * lexicographic order, strictly after `start_after` when non-NULL.
 * recursive=false lists only the immediate level (no sub-directories). */
int weir_store_list(struct weir_store *s, const char *prefix, const char *start_after, bool recursive,
                    struct weir_object_list *out, struct weir_error *err);
int weir_store_delete(struct weir_store *s, const char *key, struct weir_error *err);

/* A weir_input reading `key` (size from head). Free with weir_store_input_close. */
int weir_store_input_open(struct weir_store *s, const char *key, struct weir_input *in,
                          struct weir_error *err);
void weir_store_input_close(struct weir_input *in);

/* Streaming upload of a large object (data files): bytes go to a temp
 * object and become visible at `key` on commit. */
struct weir_store_upload;
int weir_store_upload_begin(struct weir_store *s, const char *key, struct weir_store_upload **out,
                            struct weir_error *err);
struct weir_output weir_store_upload_output(struct weir_store_upload *u);
/* Consumes u (frees it) whether it succeeds or fails: never abort after commit. */
int weir_store_upload_commit(struct weir_store_upload *u, uint64_t *size, struct weir_error *err);
void weir_store_upload_abort(struct weir_store_upload *u); /* also frees; NULL ok */

#endif
