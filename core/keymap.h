/* core/keymap.h - composite row keys as bytes, and a hash map over them.
 *
 * Key encoding: per column a tag byte (0 null, 1 value) then the value:
 * integer kinds (byte, short, int, long, date, timestamps) big-endian with
 * the sign bit flipped (byte order is numeric order), other fixed-width
 * kinds as their in-memory bytes, strings and binary as a 4-byte length
 * and the bytes. Two rows of columns of equal types have
 * equal encodings exactly when their values are equal, nulls comparing
 * equal to nulls (SQL's null-safe <=>); floating-point values compare by
 * their bits (-0.0 and 0.0 differ, so do NaNs of other payloads). The
 * encoding is stored in the state store: changing it needs a new state
 * layout version (STATE_LAYOUT in stream/stateful.c).
 *
 * weir_keymap maps byte keys (copied into an arena) to dense ids 0..n-1
 * in insertion order, by open addressing. Not thread-safe. */
#ifndef WEIR_CORE_KEYMAP_H
#define WEIR_CORE_KEYMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/batch.h"
#include "core/buf.h"

/* Append the encoding of column c at row r. 0 or WEIR_ENOMEM. */
int weir_key_append(struct weir_buf *b, const struct weir_column *c, size_t r);
/* Decode one value at *p (< end) onto column c (its type decides the
 * width). WEIR_ECORRUPT when the bytes run out. */
int weir_key_read(const uint8_t **p, const uint8_t *end, struct weir_column *c);

struct weir_keymap {
    struct weir_buf arena;
    uint32_t *off, *len; /* per id: the arena holds at most 4 GiB of keys */
    size_t n, cap;
    /* high half: the key hash's low 32 bits; low half: id + 1 (0 empty) */
    uint64_t *slots;
    size_t nslots;
};

/* A zeroed struct is an empty map. */
void weir_keymap_reset(struct weir_keymap *m); /* empty, allocations kept */
void weir_keymap_free(struct weir_keymap *m);  /* back to zeroed */
/* The id of key k[0..n): existing (*added false) or new. 0 or WEIR_ENOMEM. */
int weir_keymap_put(struct weir_keymap *m, const uint8_t *k, size_t n, size_t *id, bool *added);
/* put in two steps, for a run of keys: hash each and prefetch its slot,
 * then put each with its hash, so the slots' cache misses overlap. */
uint64_t weir_keymap_hash(const uint8_t *k, size_t n);
void weir_keymap_prefetch(const struct weir_keymap *m, uint64_t h);
int weir_keymap_put_hashed(struct weir_keymap *m, const uint8_t *k, size_t n, uint64_t h, size_t *id,
                           bool *added);
/* Heap bytes the keys in the map use, estimated from their number (key
 * bytes, offset and length, ~3 slots each at most half full); allocations
 * kept by reset are not counted. */
static inline size_t weir_keymap_used_bytes(const struct weir_keymap *m)
{
    return m->arena.len + m->n * (2 * sizeof(uint32_t) + 3 * sizeof(uint64_t));
}
/* True with *id when the key is in the map. */
bool weir_keymap_find(const struct weir_keymap *m, const uint8_t *k, size_t n, size_t *id);
static inline const uint8_t *weir_keymap_key(const struct weir_keymap *m, size_t id, size_t *n)
{
    *n = m->len[id];
    return m->arena.data + m->off[id];
}

#endif
