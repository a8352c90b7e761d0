/* core/util.c - clocks, UUIDs, crash points (see util.h). */
#include "core/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>

#include "core/alloc.h"

int64_t weir_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t weir_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t weir_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void weir_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec weir_mono_deadline(int64_t ms)
{
    int64_t ns = weir_mono_ns() + ms * 1000000;
    return (struct timespec){.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
}

void weir_uuid4(char out[37])
{
    unsigned char b[16];
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b)) {
        /* fall back to a weaker source; names need only be unique */
        int64_t t = weir_mono_ns() ^ weir_now_us() ^ (int64_t)getpid() << 32;
        for (size_t i = 0; i < sizeof(b); i++)
            b[i] = (unsigned char)(rand() ^ (t >> (i % 8 * 8)));
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* ------------------------------------------------------------ crash points */

int weir_crash_armed_;
static char crash_name[128];
static long crash_nth = 1;
static long crash_hits;
static pthread_mutex_t crash_mu = PTHREAD_MUTEX_INITIALIZER;

__attribute__((constructor)) static void crash_init(void)
{
    const char *v = getenv("WEIR_CRASH_AT");
    if (!v || !*v)
        return;
    snprintf(crash_name, sizeof(crash_name), "%s", v);
    char *colon = strrchr(crash_name, ':');
    if (colon) {
        *colon = 0;
        crash_nth = strtol(colon + 1, NULL, 10);
        if (crash_nth < 1)
            crash_nth = 1;
    }
    weir_crash_armed_ = 1;
}

void weir_crash_point_hit_(const char *name)
{
    if (strcmp(name, crash_name) != 0)
        return;
    pthread_mutex_lock(&crash_mu);
    long n = ++crash_hits;
    pthread_mutex_unlock(&crash_mu);
    if (n != crash_nth)
        return;
    char msg[200];
    int len = snprintf(msg, sizeof(msg), "weir: crash point '%s' reached (hit %ld): SIGKILL\n", name, n);
    if (len > 0 && write(2, msg, (size_t)len) < 0) {
        /* nothing to do: we are about to die */
    }
    kill(getpid(), SIGKILL);
    _exit(137);
}

int weir_mkdir_p(const char *path)
{
    char *p = weir_strdup(path);
    if (p == NULL)
        return ENOMEM;
    int e = 0;
    for (char *s = p + 1; e == 0; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char c = *s;
        *s = '\0';
        struct stat sb;
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            e = errno;
        else if (stat(p, &sb) != 0)
            e = errno;
        else if (!S_ISDIR(sb.st_mode))
            e = ENOTDIR;
        *s = c;
        if (c == '\0')
            break;
    }
    weir_free(p);
    return e;
}

int weir_remove_tree(const char *path, char **where)
{
    struct stat sb;
    int e = 0;
    if (where != NULL)
        *where = NULL;
    if (lstat(path, &sb) != 0) {
        e = errno == ENOENT ? 0 : errno;
    } else if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *de;
        if (d == NULL)
            e = errno;
        while (d != NULL && e == 0 && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char *sub = weir_asprintf("%s/%s", path, de->d_name);
            e = sub ? weir_remove_tree(sub, where) : ENOMEM;
            weir_free(sub);
            if (e != 0)
                return (void)closedir(d), e;
        }
        if (d != NULL)
            closedir(d);
        if (e == 0 && rmdir(path) != 0)
            e = errno;
    } else if (unlink(path) != 0 && errno != ENOENT) {
        e = errno;
    }
    if (e != 0 && where != NULL && *where == NULL)
        *where = weir_strdup(path);
    return e;
}

int weir_fsync_path(const char *path, bool is_dir)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return errno;
    int rc = 0;
    if (fsync(fd) != 0 && !(is_dir && (errno == EINVAL || errno == EROFS)))
        rc = errno;
    close(fd);
    return rc;
}
