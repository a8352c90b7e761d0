/* tests/fuzz/fuzz_http_request.c - fuzz target: arbitrary bytes as the
 * start of an HTTP request, through weir_http_parse (stream/http.h). A
 * complete head must lie within the input and the head limit, with a path
 * starting with '/' and a body within its limit, and must parse the same
 * from its own bytes; a refusal must be one of the documented statuses.
 * Nothing may crash or read outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "stream/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = weir_malloc(size ? size : 1); /* exactly size bytes: reads past them are caught */
    struct weir_http_request req, again;
    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    int rc = weir_http_parse(copy, size, &req);
    if (rc == 1) {
        if (req.head_len > size || req.head_len > WEIR_HTTP_MAX_HEAD || req.path[0] != '/' ||
            req.content_length > WEIR_HTTP_MAX_BODY || strlen(req.method) == 0)
            abort();
        if (weir_http_parse(copy, req.head_len, &again) != 1 || again.head_len != req.head_len ||
            strcmp(again.path, req.path) != 0 || strcmp(again.auth, req.auth) != 0)
            abort();
    } else if (rc < 0) {
        switch (-rc) {
        case 400:
        case 413:
        case 414:
        case 431:
        case 501:
        case 505:
            break;
        default:
            abort();
        }
    } else if (rc != 0 || size >= WEIR_HTTP_MAX_HEAD) {
        abort(); /* incomplete only below the head limit */
    }
    weir_free(copy);
    return 0;
}
