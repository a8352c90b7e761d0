/* core/util.h - small process-wide utilities: clocks, random UUIDs, fsync
 * of a path, unsigned LEB128 varints, and the test-only crash points.
 *
 * Crash points: WEIR_CRASH_POINT("name") does nothing unless the
 * environment variable WEIR_CRASH_AT names that point, as "name" or
 * "name:N" (the Nth time the point is reached, counting from 1). Then the
 * process kills itself with SIGKILL at exactly that place, as an operator's
 * `kill -9` or an OOM kill would. The crash tests use this to reach the
 * dangerous moments (mid data file, between the Delta commit and
 * commits/N, mid offsets/N) deterministically. The variable is read once;
 * the check is one load when it is unset. */
#ifndef WEIR_CORE_UTIL_H
#define WEIR_CORE_UTIL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* v as an unsigned LEB128 varint at p (at most 10 bytes); its length. */
static inline size_t weir_uvarint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The varint at *p (< end) into *v, *p past it; false when it runs past
 * end or over 64 bits. */
static inline bool weir_uvarint_get(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t r = 0;
    for (int sh = 0; sh < 64 && *p < end; sh += 7) {
        uint8_t b = *(*p)++;
        r |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *v = r;
            return true;
        }
    }
    return false;
}

/* Wall clock, milliseconds / microseconds since the epoch. */
int64_t weir_now_ms(void);
int64_t weir_now_us(void);
/* Monotonic clock in nanoseconds (for durations). */
int64_t weir_mono_ns(void);

/* A condition variable whose timed waits use the monotonic clock, and the
 * deadline ms from now to pass to pthread_cond_timedwait on it (a wall
 * clock step neither cuts nor stretches the wait). */
void weir_cond_init_monotonic(pthread_cond_t *cv);
struct timespec weir_mono_deadline(int64_t ms);

/* A random (version 4) UUID as 36 characters and a NUL. */
void weir_uuid4(char out[37]);

/* fsync the file or directory at `path`. Returns 0 or an errno value (the
 * caller words the error). For a directory, EINVAL and EROFS (file systems
 * that cannot sync directories) count as success. */
int weir_fsync_path(const char *path, bool is_dir);

/* mkdir -p `path` (mode 0755). Returns 0 or an errno value (ENOTDIR
 * when something else is in the way). */
int weir_mkdir_p(const char *path);

/* rm -r `path` (a missing path is fine). Returns 0 or an errno value; on
 * failure *where (may be NULL) names the entry that could not go (a
 * weir_malloc'd string the caller frees, or NULL on OOM). */
int weir_remove_tree(const char *path, char **where);

/* See above. The names in use are listed in docs/operations.md. */
extern int weir_crash_armed_; /* 1 when WEIR_CRASH_AT was set at startup */
void weir_crash_point_hit_(const char *name);
#define WEIR_CRASH_POINT(name)           \
    do {                                 \
        if (weir_crash_armed_)           \
            weir_crash_point_hit_(name); \
    } while (0)

#endif
