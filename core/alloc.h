/* core/alloc.h - all heap allocation goes through these hooks.
 *
 * Tests replace the allocator (weir_alloc_set_hooks) or make the Nth
 * allocation fail (weir_alloc_fail_after) to prove every error path frees
 * what it took and leaves no half state. Thread-safe: the hooks are set
 * once before threads start; the failure counter is atomic. */
#ifndef WEIR_CORE_ALLOC_H
#define WEIR_CORE_ALLOC_H

#include <stddef.h>

void *weir_malloc(size_t n);
void *weir_calloc(size_t count, size_t size);
void *weir_realloc(void *p, size_t n);
void weir_free(void *p); /* weir_free(NULL) is a no-op */
char *weir_strdup(const char *s);
char *weir_strndup(const char *s, size_t n);
/* Room for at least `need` elements of `size` bytes in the array *arr of
 * capacity *cap (both updated; the capacity at least doubles). On failure
 * the array is left as it was. 0 or WEIR_ENOMEM. */
int weir_grow(void **arr, size_t *cap, size_t size, size_t need);
/* malloc'd printf; NULL on allocation failure. */
char *weir_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct weir_alloc_hooks {
    void *(*malloc_fn)(size_t);
    void *(*calloc_fn)(size_t, size_t);
    void *(*realloc_fn)(void *, size_t);
    void (*free_fn)(void *);
};
/* NULL restores libc. */
void weir_alloc_set_hooks(const struct weir_alloc_hooks *hooks);
/* After `n` more successful allocations, every allocation fails (returns
 * NULL) until reset with n < 0. For fault-injection tests. */
void weir_alloc_fail_after(long n);
/* Allocations that failed on the calling thread so far. Compare the count
 * before and after a call into a library that reports out-of-memory like
 * any other failure (cJSON returns NULL for both) to tell them apart. */
unsigned long weir_alloc_failures(void);

#endif
