/* storage/storage_int.h - private: the back-end table behind storage.h.
 *
 * storage.c parses the URI, picks a back-end by scheme and forwards every
 * call through a const ops table (designated initializers, `version` so the
 * table can grow). A back-end owns `impl`; storage.c owns the weir_store
 * itself and the root string. Only the storage back-ends include this header. */
#ifndef WEIR_STORAGE_STORAGE_INT_H
#define WEIR_STORAGE_STORAGE_INT_H

#include "storage/storage.h"

#define WEIR_STORE_OPS_VERSION 1

struct weir_store_ops {
    int version;      /* WEIR_STORE_OPS_VERSION */
    const char *name; /* "local", later "s3", ... */
    /* `location` is the back-end's own form of the root (a local path). */
    int (*open)(struct weir_store *s, const char *location, struct weir_error *err);
    void (*close)(struct weir_store *s);
    int (*get)(struct weir_store *s, const char *key, struct weir_buf *out, struct weir_error *err);
    int (*get_range)(struct weir_store *s, const char *key, uint64_t off, void *p, size_t n,
                     struct weir_error *err);
    int (*head)(struct weir_store *s, const char *key, struct weir_object_info *info, struct weir_error *err);
    int (*put)(struct weir_store *s, const char *key, const void *p, size_t n, struct weir_error *err);
    int (*put_if_absent)(struct weir_store *s, const char *key, const void *p, size_t n,
                         struct weir_error *err);
    int (*list)(struct weir_store *s, const char *prefix, const char *start_after, bool recursive,
                struct weir_object_list *out, struct weir_error *err);
    int (*del)(struct weir_store *s, const char *key, struct weir_error *err);
    /* Fills `in` completely; in->ctx must start with a struct weir_store_input_base.
     * NULL: storage.c builds the input from head and get_range. */
    int (*input_open)(struct weir_store *s, const char *key, struct weir_input *in, struct weir_error *err);
    int (*upload_begin)(struct weir_store *s, const char *key, struct weir_store_upload **out,
                        struct weir_error *err);
    struct weir_output (*upload_output)(struct weir_store_upload *u);
    /* Consumes u (frees it) whether it succeeds or fails. */
    int (*upload_commit)(struct weir_store_upload *u, uint64_t *size, struct weir_error *err);
    void (*upload_abort)(struct weir_store_upload *u);
};

struct weir_store {
    const struct weir_store_ops *ops;
    char *root;   /* as given, trailing '/' removed */
    void *impl;   /* back-end state */
    char **opts;  /* copies of the options given: name, value, ... */
    size_t nopts; /* pairs */
};

/* An option's value: the one given at open, else the environment
 * (upper-case name, then the option's aliases); NULL when unset or empty. */
const char *weir_store_opt(const struct weir_store *s, const char *name);
/* Boolean option ("true"/"false"/"1"/"0"/"yes"/"no"); def when unset. */
int weir_store_opt_bool(const struct weir_store *s, const char *name, bool def, bool *out,
                        struct weir_error *err);
/* Size option ("8MB", "1048576"); def when unset. */
int weir_store_opt_size(const struct weir_store *s, const char *name, uint64_t def, uint64_t *out,
                        struct weir_error *err);

struct weir_http_settings;
/* The HTTP settings shared by the cloud back-ends (tls_verify,
 * tls_ca_file, max_retries, timeouts). */
int weir_store_http_settings(const struct weir_store *s, struct weir_http_settings *set,
                             struct weir_error *err);

/* First member of every back-end's weir_input ctx, so weir_store_input_close
 * can release it without knowing the back-end. */
struct weir_store_input_base {
    void (*close)(void *ctx);
};

/* First member of every back-end's upload struct. */
struct weir_store_upload {
    const struct weir_store_ops *ops;
};

extern const struct weir_store_ops weir_store_local_ops;
extern const struct weir_store_ops weir_store_s3_ops;    /* s3://, s3a://, gs:// with HMAC keys */
extern const struct weir_store_ops weir_store_azure_ops; /* abfss://, abfs://, az://, wasbs:// */
extern const struct weir_store_ops weir_store_gcs_ops;   /* gs:// (JSON API) */

/* Shared by the cloud back-ends. */

/* Append one item (key copied) to a list being built; *cap is its capacity.
 * 0 or WEIR_ENOMEM. */
int weir_object_list_push(struct weir_object_list *l, size_t *cap, const char *key, uint64_t size,
                          int64_t mtime_ms);

/* After a put-if-absent that answered "exists" (rc == WEIR_EEXISTS) on a
 * retried attempt, the object may be the first attempt's own write whose
 * answer was lost: read it back, and equal content is success (0, err
 * cleared). Otherwise returns rc. */
int weir_store_settle_put_if_absent(struct weir_store *s, const char *key, const void *p, size_t n, int rc,
                                    bool retried, struct weir_error *err);

/* The streaming upload of the cloud back-ends. Bytes are buffered into
 * parts of part_size; a back-end puts this struct first in its own upload
 * struct, supplies the calls that send, and uses weir_parts_upload_output,
 * _commit and _abort as its ops' upload_output, upload_commit and
 * upload_abort. A failed write fails every later write and the commit. */
struct weir_parts_upload;
struct weir_parts_upload_ops {
    /* Nothing was sent: store u->part as the whole object. */
    int (*put)(struct weir_parts_upload *u, struct weir_error *err);
    /* Send u->part as part number u->nsent (from 0), starting the multipart
     * upload first when u->nsent is 0. */
    int (*send)(struct weir_parts_upload *u, struct weir_error *err);
    /* Parts were sent: send what u->part holds (never empty with keep_last)
     * and make the object appear. */
    int (*complete)(struct weir_parts_upload *u, struct weir_error *err);
    /* Free the back-end's fields; aborted: the upload did not complete,
     * drop what was sent if the service keeps it. NULL: nothing to do. */
    void (*release)(struct weir_parts_upload *u, bool aborted);
};

struct weir_parts_upload {
    struct weir_store_upload base;
    const struct weir_parts_upload_ops *ops;
    struct weir_store *s;
    char *key;
    struct weir_buf part; /* bytes not yet sent */
    size_t part_size;
    bool keep_last; /* send a full part only once more bytes follow */
    bool failed;
    size_t nsent;   /* parts sent */
    uint64_t total; /* bytes written */
};

/* Set up *u (allocated zeroed by the back-end, `size` bytes in all) and
 * hand it out as *out; on failure frees u. 0 or WEIR_ENOMEM. */
int weir_parts_upload_begin(struct weir_parts_upload *u, struct weir_store *s, const char *key,
                            size_t part_size, bool keep_last, const struct weir_parts_upload_ops *ops,
                            struct weir_store_upload **out, struct weir_error *err);
/* Send u->part through ops->send and empty it: for a back-end's complete. */
int weir_parts_upload_send(struct weir_parts_upload *u, struct weir_error *err);
struct weir_output weir_parts_upload_output(struct weir_store_upload *u);
int weir_parts_upload_commit(struct weir_store_upload *u, uint64_t *size, struct weir_error *err);
void weir_parts_upload_abort(struct weir_store_upload *u);

/* For the gs:// back-ends: true when HMAC keys are configured, so the XML
 * API (Signature V4, s3.c) serves the store instead of the JSON API. */
bool weir_store_gcs_uses_hmac(const struct weir_store *s);

/* Shared key check: non-empty, relative, no "." / ".." / empty segments.
 * With is_prefix the string may be empty and may end in '/' (a "directory"
 * or a partial name such as "_delta_log/0000"). */
int weir_store_check_key(const char *key, bool is_prefix, struct weir_error *err);

#endif
