/* core/alloc.c - the allocation hooks and the fault-injection counter.
 *
 * Owns the process-wide hook table (set once, before threads start) and an
 * atomic "allocations left" counter: < 0 means disabled, 0 means every
 * allocation fails, n > 0 means n more allocations succeed. weir_malloc(0)
 * and weir_realloc(p, 0) allocate one byte so that NULL always means failure.
 * weir_free never fails and never counts. Thread-safe apart from set_hooks.
 * cJSON is pointed at these hooks before main() runs, so its allocations
 * count and fail like ours in every program that links core. */
#include "core/alloc.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "core/error.h"

#include <cjson/cJSON.h>

static struct weir_alloc_hooks g_hooks = {malloc, calloc, realloc, free};
static atomic_long g_fail_after = -1;
static _Thread_local unsigned long t_failures;

unsigned long weir_alloc_failures(void)
{
    return t_failures;
}

static void *counted(void *p)
{
    if (p == NULL)
        t_failures++;
    return p;
}

__attribute__((constructor)) static void route_cjson_allocations(void)
{
    cJSON_Hooks hooks = {.malloc_fn = weir_malloc, .free_fn = weir_free};
    cJSON_InitHooks(&hooks);
}

void weir_alloc_set_hooks(const struct weir_alloc_hooks *hooks)
{
    if (hooks == NULL) {
        g_hooks = (struct weir_alloc_hooks){malloc, calloc, realloc, free};
        return;
    }
    g_hooks.malloc_fn = hooks->malloc_fn ? hooks->malloc_fn : malloc;
    g_hooks.calloc_fn = hooks->calloc_fn ? hooks->calloc_fn : calloc;
    g_hooks.realloc_fn = hooks->realloc_fn ? hooks->realloc_fn : realloc;
    g_hooks.free_fn = hooks->free_fn ? hooks->free_fn : free;
}

void weir_alloc_fail_after(long n)
{
    atomic_store(&g_fail_after, n < 0 ? -1 : n);
}

/* True when this allocation must fail (injected). Consumes one "success". */
static int alloc_should_fail(void)
{
    long cur = atomic_load(&g_fail_after);
    for (;;) {
        if (cur < 0)
            return 0;
        if (cur == 0)
            return 1;
        if (atomic_compare_exchange_weak(&g_fail_after, &cur, cur - 1))
            return 0;
    }
}

void *weir_malloc(size_t n)
{
    if (alloc_should_fail())
        return counted(NULL);
    return counted(g_hooks.malloc_fn(n ? n : 1));
}

void *weir_calloc(size_t count, size_t size)
{
    if (alloc_should_fail())
        return counted(NULL);
    if (count == 0 || size == 0)
        count = size = 1;
    return counted(g_hooks.calloc_fn(count, size));
}

void *weir_realloc(void *p, size_t n)
{
    if (alloc_should_fail())
        return counted(NULL);
    if (p == NULL)
        return counted(g_hooks.malloc_fn(n ? n : 1));
    return counted(g_hooks.realloc_fn(p, n ? n : 1));
}

void weir_free(void *p)
{
    if (p != NULL)
        g_hooks.free_fn(p);
}

char *weir_strndup(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    size_t len = strnlen(s, n);
    char *d = weir_malloc(len + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *weir_strdup(const char *s)
{
    if (s == NULL)
        return NULL;
    return weir_strndup(s, strlen(s));
}

char *weir_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = weir_malloc((size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

int weir_grow(void **arr, size_t *cap, size_t size, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap < 4 ? 4 : *cap;
    while (ncap < need) {
        if (ncap > SIZE_MAX / 2 / (size ? size : 1))
            return WEIR_ENOMEM;
        ncap *= 2;
    }
    void *p = weir_realloc(*arr, ncap * size);
    if (p == NULL)
        return WEIR_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}
