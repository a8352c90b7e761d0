/* tests/fuzz/replay_main.c - runs a libFuzzer target over a seed corpus
 * without libFuzzer, so every fuzz target is also a plain ctest (gcc, no
 * sanitizer required) that replays its corpus/<target>/ directory.
 *
 * Usage: replay_<target> PATH...   each PATH is a file or a directory
 * (walked recursively; names starting with '.' are skipped). Each input is
 * copied into a heap block of exactly its size, so an ASan build catches a
 * one-byte overread. Exits 1 when a path is missing or when no input at all
 * was found, so a misplaced corpus cannot pass silently. A crash in the
 * target is the test failure. Single-threaded. */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static long g_inputs;

static int run_file(const char *path)
{
    int rc = -1;
    uint8_t *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
        goto done;
    }
    if (fseek(f, 0, SEEK_END) != 0)
        goto done;
    long sz = ftell(f);
    if (sz < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto done;
    buf = weir_malloc(sz ? (size_t)sz : 1);
    if (!buf) {
        fprintf(stderr, "replay: out of memory reading %s (%ld bytes)\n", path, sz);
        goto done;
    }
    if (sz && fread(buf, 1, (size_t)sz, f) != (size_t)sz) {
        fprintf(stderr, "replay: short read on %s\n", path);
        goto done;
    }
    LLVMFuzzerTestOneInput(buf, (size_t)sz);
    g_inputs++;
    rc = 0;
done:
    weir_free(buf);
    if (f)
        fclose(f);
    return rc;
}

static int run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return S_ISREG(st.st_mode) ? run_file(path) : 0;
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: cannot open directory %s: %s\n", path, strerror(errno));
        return -1;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *child = weir_malloc(n);
        if (!child) {
            rc = -1;
            break;
        }
        snprintf(child, n, "%s/%s", path, de->d_name);
        rc = run_path(child);
        weir_free(child);
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i]) != 0)
            return 1;
    if (g_inputs == 0) {
        fprintf(stderr, "replay: no inputs found under the given path(s)\n");
        return 1;
    }
    printf("replay: %ld inputs ran without a crash\n", g_inputs);
    return 0;
}
