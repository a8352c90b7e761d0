/* state/replica.h - versions of a local RocksDB database kept on a store,
 * for checkpoints on object stores (s3://, abfss://, gs://).
 *
 * A version is a RocksDB checkpoint directory (rocksdb_checkpoint_create)
 * saved under <prefix>/ of the store:
 *
 *   <prefix>/<v, 20 digits>.json   the manifest of version v:
 *       {"version":v,"id":"<uuid>","createdAt":ms,
 *        "files":[{"name":"000012.sst","size":n,"object":"<prefix>/sst/000012-<uuid>.sst"},
 *                 {"name":"CURRENT","size":16,"data":"<base64>"}, ...]}
 *   <prefix>/sst/<stem>-<uuid>.sst  table files, shared by the versions
 *                                   that contain them
 *
 * Table files are immutable, so a version uploads only the ones its base
 * (the version last saved or restored through this handle) does not have,
 * matched by name and size; each upload gets a fresh object name, so a
 * file number RocksDB reuses after a rollback never overwrites a file an
 * older version refers to. Other files (CURRENT, MANIFEST, OPTIONS, logs)
 * are small and stored in the manifest itself. The manifest is written
 * last: a version exists once its manifest does, and then all its files do.
 *
 * The id of a version tells copies apart: weir_replica_mark leaves it in a
 * local directory, so a later open can tell whether the local copy is the
 * version on the store or one of the same number made by a run that never
 * saved it (then the store's is restored).
 *
 * Objects no manifest refers to (a save interrupted by a crash) are deleted
 * by weir_replica_collect; dropping a version deletes the objects only it
 * referred to.
 *
 * Threading: one thread at a time. */
#ifndef WEIR_STATE_REPLICA_H
#define WEIR_STATE_REPLICA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct weir_store;
struct weir_replica;

/* Reads every manifest under <prefix>/ of `store` (not owned; must
 * outlive the handle). */
int weir_replica_open(struct weir_store *store, const char *prefix, struct weir_replica **out,
                      struct weir_error *err);
void weir_replica_close(struct weir_replica *r); /* NULL ok */

/* The versions on the store, ascending: count and the i-th. */
size_t weir_replica_count(const struct weir_replica *r);
int64_t weir_replica_version(const struct weir_replica *r, size_t i);
/* The id of version v, or NULL when the store has no such version. */
const char *weir_replica_id(const struct weir_replica *r, int64_t v);

/* Saves the files of `dir` (a RocksDB checkpoint) as version v with id
 * `id` (a uuid), replacing a version v already there. Becomes the base. */
int weir_replica_save(struct weir_replica *r, const char *dir, int64_t v, const char *id,
                      struct weir_error *err);
/* Writes version v's files into `dir` (created; files in it replaced),
 * fsynced, and marks it with v's id. Becomes the base. */
int weir_replica_restore(struct weir_replica *r, int64_t v, const char *dir, struct weir_error *err);
/* Makes version v (which must exist) the base again, after the local
 * database was rolled back to it. */
void weir_replica_rebase(struct weir_replica *r, int64_t v);
/* Deletes version v's manifest and the objects no other version uses. */
int weir_replica_drop(struct weir_replica *r, int64_t v, struct weir_error *err);
/* Deletes objects under <prefix>/sst/ that no version refers to. *deleted
 * may be NULL. */
int weir_replica_collect(struct weir_replica *r, size_t *deleted, struct weir_error *err);

/* For a database kept whole (not per batch), such as the files source's
 * index: makes `dir` hold the newest version on the store - kept when it
 * carries that version's id (it may hold later writes never saved), else
 * replaced by a restore; removed when the store has none. Collects
 * objects of interrupted saves. *version: the newest version, -1: none. */
int weir_replica_sync_latest(struct weir_replica *r, const char *dir, int64_t *version,
                             struct weir_error *err);
/* Saves the open database `db` (living in `dir`) as version v: a RocksDB
 * checkpoint in a temp directory beside dir, saved, dir marked, the temp
 * directory removed; versions below v - keep + 1 are dropped. */
struct rocksdb_t;
int weir_replica_save_db(struct weir_replica *r, struct rocksdb_t *db, const char *dir, int64_t v,
                         int64_t keep, struct weir_error *err);

/* The manifest parser, for the fuzz target: `n` bytes of a manifest
 * (`name` in messages) -> the manifest written back canonically
 * (createdAt 0; weir_free'd by cJSON_free). */
int weir_replica_manifest_canonical(const char *text, size_t n, const char *name, char **out,
                                    struct weir_error *err);

/* "<dir>/.replica-id" holding `id`, fsynced. */
int weir_replica_mark(const char *dir, const char *id, struct weir_error *err);
/* True when `dir` is marked with `id`. */
bool weir_replica_marked(const char *dir, const char *id);

#endif
