/* core/types.h - Delta Lake's data types and schemas.
 *
 * A schema is a weir_type of kind WEIR_TYPE_STRUCT. Types form a tree that
 * owns its children; weir_type_destroy frees the whole tree. Serialization
 * follows the Delta protocol's schema JSON ("schemaString"): primitive types
 * are strings ("long", "decimal(10,2)"), nested ones objects. Spark-style DDL
 * ("id LONG, user STRING, tags ARRAY<STRING>") parses to the same tree.
 * Field metadata is kept verbatim as JSON text so unknown keys survive a
 * round trip. Types are immutable once built and may be shared read-only
 * between threads. */
#ifndef WEIR_CORE_TYPES_H
#define WEIR_CORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

enum weir_type_kind {
    WEIR_TYPE_BOOLEAN = 0,
    WEIR_TYPE_BYTE,    /* int8 */
    WEIR_TYPE_SHORT,   /* int16 */
    WEIR_TYPE_INTEGER, /* int32 */
    WEIR_TYPE_LONG,    /* int64 */
    WEIR_TYPE_FLOAT,
    WEIR_TYPE_DOUBLE,
    WEIR_TYPE_DECIMAL, /* precision 1..38, scale 0..precision */
    WEIR_TYPE_STRING,  /* UTF-8 */
    WEIR_TYPE_BINARY,
    WEIR_TYPE_DATE,          /* int32 days since 1970-01-01 */
    WEIR_TYPE_TIMESTAMP,     /* int64 microseconds since epoch, UTC */
    WEIR_TYPE_TIMESTAMP_NTZ, /* int64 microseconds, wall clock, no zone */
    WEIR_TYPE_STRUCT,
    WEIR_TYPE_ARRAY,
    WEIR_TYPE_MAP,
};

struct weir_type;

struct weir_field {
    char *name;
    struct weir_type *type;
    bool nullable;
    char *metadata; /* JSON object text, "{}" when empty; never NULL */
};

struct weir_type {
    enum weir_type_kind kind;
    /* DECIMAL */
    int precision, scale;
    /* STRUCT */
    struct weir_field *fields;
    size_t nfields;
    /* ARRAY: element; MAP: key and value */
    struct weir_type *element;
    bool contains_null;
    struct weir_type *key, *value;
    bool value_contains_null;
};

/* Constructors return NULL on allocation failure. Struct/array/map take
 * ownership of the child types passed in (also on failure). */
struct weir_type *weir_type_primitive(enum weir_type_kind kind);
struct weir_type *weir_type_decimal(int precision, int scale);
struct weir_type *weir_type_struct(void);
/* Appends a field; takes ownership of `type`; metadata NULL means "{}". */
int weir_type_struct_add(struct weir_type *st, const char *name, struct weir_type *type, bool nullable,
                         const char *metadata);
struct weir_type *weir_type_array(struct weir_type *element, bool contains_null);
struct weir_type *weir_type_map(struct weir_type *key, struct weir_type *value, bool value_contains_null);

void weir_type_destroy(struct weir_type *t);
struct weir_type *weir_type_clone(const struct weir_type *t);
/* Structural equality, including nullability; field metadata is ignored. */
bool weir_type_equal(const struct weir_type *a, const struct weir_type *b);
bool weir_type_is_primitive(const struct weir_type *t);
/* Index of the field named `name` (case-insensitive, as Spark), or -1. */
int weir_type_field_index(const struct weir_type *st, const char *name);

/* Delta's name of a primitive kind ("long", "timestamp_ntz"); for DECIMAL
 * the base name "decimal". */
const char *weir_type_kind_name(enum weir_type_kind kind);
/* Short display form: "long", "decimal(10,2)", "array<string>",
 * "struct<a:int,b:string>". Malloc'd. */
char *weir_type_to_display(const struct weir_type *t);

/* Delta schema JSON <-> type tree. `json` for a struct is the full
 * {"type":"struct","fields":[...]} text. Unknown type names give
 * WEIR_EUNSUPPORTED naming the type and field path. */
int weir_schema_from_json(const char *json, struct weir_type **out, struct weir_error *err);
/* Compact JSON text, as Delta writes it into metaData.schemaString. */
char *weir_schema_to_json(const struct weir_type *schema);

/* Spark-style DDL: "id LONG, user STRING NOT NULL, amount DECIMAL(12,2),
 * tags ARRAY<STRING>, attrs MAP<STRING,INT>, loc STRUCT<lat: DOUBLE, lon: DOUBLE>".
 * Type names are case-insensitive; INT/INTEGER, BIGINT/LONG, TINYINT/BYTE,
 * SMALLINT/SHORT, REAL/FLOAT, BOOL/BOOLEAN, TIMESTAMP_LTZ/TIMESTAMP are
 * accepted aliases. Names may be `back-quoted`. */
int weir_schema_from_ddl(const char *ddl, struct weir_type **out, struct weir_error *err);

/* Either form: text starting with '{' is JSON, anything else DDL. */
int weir_schema_parse(const char *text, struct weir_type **out, struct weir_error *err);

#endif
