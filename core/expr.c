/* core/expr.c - SQL expressions: parser, binder, column-at-a-time evaluator.
 *
 * Owns the expression tree (struct node), its bound types and the
 * temporary value vectors of one evaluation. Invariants:
 *   - after a successful bind every node has `type` set (owned) and every
 *     coercion an operator needs is recorded as a target type (ctype/ktype),
 *     so evaluation never decides types per row;
 *   - a vector (struct vec) always has a byte-per-row `valid` array and a
 *     payload of its physical kind (bool/i64/f64/i128/string); NULL slots
 *     hold zero / empty strings;
 *   - evaluation allocates per vector, never per row; every operator is one
 *     loop per physical kind with the operator switch outside the loop.
 * Threading: parse/bind on one thread; a bound tree is read-only during
 * evaluation and can be evaluated by several threads at once. */
#include "core/expr.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"

/* ---------------------------------------------------------------- tree */

enum nkind {
    N_LIT,
    N_COL,
    N_STAR,
    N_NEG,
    N_ARITH,
    N_CMP,
    N_AND,
    N_OR,
    N_NOT,
    N_ISNULL,
    N_IN,
    N_BETWEEN,
    N_LIKE,
    N_CAST,
    N_CASE,
    N_FUNC,
};

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD };
enum { C_EQ, C_NE, C_LT, C_LE, C_GT, C_GE };

enum fn {
    F_LOWER,
    F_UPPER,
    F_TRIM,
    F_LENGTH,
    F_SUBSTRING,
    F_CONCAT,
    F_COALESCE,
    F_ABS,
    F_ROUND,
    F_FLOOR,
    F_CEIL,
    F_TO_DATE,
    F_TO_TIMESTAMP,
    F_DATE_TRUNC,
    F_YEAR,
    F_MONTH,
    F_DAY,
    F_HOUR,
    F_CURRENT_TIMESTAMP,
};

static const struct {
    const char *name;
    int min, max;
} fns[] = {
    [F_LOWER] = {"lower", 1, 1},
    [F_UPPER] = {"upper", 1, 1},
    [F_TRIM] = {"trim", 1, 1},
    [F_LENGTH] = {"length", 1, 1},
    [F_SUBSTRING] = {"substring", 2, 3},
    [F_CONCAT] = {"concat", 1, 64},
    [F_COALESCE] = {"coalesce", 1, 64},
    [F_ABS] = {"abs", 1, 1},
    [F_ROUND] = {"round", 1, 2},
    [F_FLOOR] = {"floor", 1, 1},
    [F_CEIL] = {"ceil", 1, 1},
    [F_TO_DATE] = {"to_date", 1, 1},
    [F_TO_TIMESTAMP] = {"to_timestamp", 1, 1},
    [F_DATE_TRUNC] = {"date_trunc", 2, 2},
    [F_YEAR] = {"year", 1, 1},
    [F_MONTH] = {"month", 1, 1},
    [F_DAY] = {"day", 1, 1},
    [F_HOUR] = {"hour", 1, 1},
    [F_CURRENT_TIMESTAMP] = {"current_timestamp", 0, 0},
};
#define NFNS (sizeof fns / sizeof fns[0])

struct node {
    enum nkind kind;
    int op;   /* OP_*, C_*, F_* */
    bool neg; /* NOT variants */
    int pos;  /* 1-based column in the source text */
    struct node **kids;
    size_t nkids;
    /* N_LIT */
    bool lit_null;
    struct weir_type *lit_type; /* before bind */
    int64_t lit_i;
    double lit_f;
    char *lit_s;
    size_t lit_len;
    /* N_COL: path as written; resolved indices */
    char **path;
    size_t npath;
    int idx[16];
    /* N_CAST target */
    struct weir_type *cast_to;
    /* N_CASE */
    bool has_else;
    /* bound */
    struct weir_type *type;
    struct weir_type *ctype;    /* common operand type (cmp, in, between, case, coalesce, concat) */
    struct weir_type *ktype[2]; /* per-operand target types (arith) */
    int trunc_unit;             /* date_trunc */
    int round_digits;
};

struct weir_expr {
    struct node *root;
    char *text;
    char *alias;
    char *name;
    bool bound;
};

static void node_free(struct node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    weir_free(n->kids);
    weir_type_destroy(n->lit_type);
    weir_free(n->lit_s);
    for (size_t i = 0; i < n->npath; i++)
        weir_free(n->path[i]);
    weir_free(n->path);
    weir_type_destroy(n->cast_to);
    weir_type_destroy(n->type);
    weir_type_destroy(n->ctype);
    weir_type_destroy(n->ktype[0]);
    weir_type_destroy(n->ktype[1]);
    weir_free(n);
}

void weir_expr_destroy(struct weir_expr *e)
{
    if (e == NULL)
        return;
    node_free(e->root);
    weir_free(e->text);
    weir_free(e->alias);
    weir_free(e->name);
    weir_free(e);
}

/* ---------------------------------------------------------------- dates */

static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int64_t floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

#define US_PER_DAY INT64_C(86400000000)

static bool read_num(const char **p, const char *end, int mind, int maxd, int *out)
{
    int v = 0, n = 0;
    while (*p < end && n < maxd && isdigit((unsigned char)**p)) {
        v = v * 10 + (**p - '0');
        (*p)++;
        n++;
    }
    *out = v;
    return n >= mind;
}

/* "YYYY-MM-DD" then optionally [ T]HH:MM[:SS[.ffffff]] and Z or +HH:MM.
 * want_time=false accepts only a date (and an ignored time part as Spark's
 * cast to date). Returns false when malformed. */
static bool parse_datetime(const char *s, size_t len, int64_t *days, int64_t *us)
{
    const char *p = s, *end = s + len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    int y, mo = 1, d = 1, h = 0, mi = 0, sec = 0, frac = 0;
    bool negy = false;
    if (p < end && *p == '-') {
        negy = true;
        p++;
    }
    if (!read_num(&p, end, 4, 6, &y))
        return false;
    if (p < end && *p == '-') {
        p++;
        if (!read_num(&p, end, 1, 2, &mo))
            return false;
        if (p < end && *p == '-') {
            p++;
            if (!read_num(&p, end, 1, 2, &d))
                return false;
        }
    }
    int64_t yy = negy ? -y : y;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return false;
    if (mo == 2 && d == 29 && !((yy % 4 == 0 && yy % 100 != 0) || yy % 400 == 0))
        return false;
    int64_t off = 0;
    if (p < end && (*p == ' ' || *p == 'T')) {
        p++;
        if (!read_num(&p, end, 1, 2, &h) || p >= end || *p != ':')
            return false;
        p++;
        if (!read_num(&p, end, 1, 2, &mi))
            return false;
        if (p < end && *p == ':') {
            p++;
            if (!read_num(&p, end, 1, 2, &sec))
                return false;
            if (p < end && *p == '.') {
                p++;
                int n = 0;
                while (p < end && isdigit((unsigned char)*p)) {
                    if (n < 6) {
                        frac = frac * 10 + (*p - '0');
                        n++;
                    }
                    p++;
                }
                if (n == 0)
                    return false;
                for (; n < 6; n++)
                    frac *= 10;
            }
        }
        if (h > 23 || mi > 59 || sec > 59)
            return false;
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            int sign = *p == '-' ? -1 : 1, oh, om = 0;
            p++;
            if (!read_num(&p, end, 2, 2, &oh))
                return false;
            if (p < end && *p == ':')
                p++;
            read_num(&p, end, 0, 2, &om);
            off = sign * ((int64_t)oh * 3600 + om * 60);
        }
    }
    if (p != end)
        return false;
    int64_t dd = days_from_civil(yy, mo, d);
    *days = dd;
    int64_t tod = ((int64_t)h * 3600 + mi * 60 + sec - off) * 1000000 + frac;
    if (__builtin_mul_overflow(dd, US_PER_DAY, us) || __builtin_add_overflow(*us, tod, us))
        *us = dd < 0 ? INT64_MIN : INT64_MAX; /* only a DATE can be that far out */
    return true;
}

static int format_date(char *buf, size_t cap, int64_t days)
{
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    return snprintf(buf, cap, "%04lld-%02d-%02d", (long long)y, m, d);
}

static int format_ts(char *buf, size_t cap, int64_t us)
{
    int64_t days = floordiv(us, US_PER_DAY);
    int64_t rem = us % US_PER_DAY;
    if (rem < 0)
        rem += US_PER_DAY;
    int n = format_date(buf, cap, days);
    int64_t s = rem / 1000000, f = rem % 1000000;
    n += snprintf(buf + n, cap - (size_t)n, " %02d:%02d:%02d", (int)(s / 3600), (int)(s / 60 % 60),
                  (int)(s % 60));
    if (f != 0) {
        n += snprintf(buf + n, cap - (size_t)n, ".%06d", (int)f);
        while (buf[n - 1] == '0')
            buf[--n] = '\0';
    }
    return n;
}

/* ---------------------------------------------------------------- lexer */

enum tok { T_EOF, T_IDENT, T_QIDENT, T_INT, T_DEC, T_STR, T_OP, T_ERR };

struct parser {
    const char *s;
    const char *shown; /* s, shortened for messages */
    size_t len;
    size_t pos;
    enum tok t;
    size_t tstart, tend;
    char op[3];
    struct weir_error *err;
    int depth;
};

static int perr_at(struct parser *p, size_t at, const char *what)
{
    if (at >= p->len)
        return weir_error_set(p->err, WEIR_EPARSE, "%s: unexpected end of expression at column %zu", p->shown,
                              at + 1);
    if (what != NULL)
        return weir_error_set(p->err, WEIR_EPARSE, "%s: %s at column %zu", p->shown, what, at + 1);
    return weir_error_set(p->err, WEIR_EPARSE, "%s: unexpected '%c' at column %zu", p->shown, p->s[at],
                          at + 1);
}

static int perr(struct parser *p)
{
    if (p->t == T_EOF)
        return perr_at(p, p->len, NULL);
    if (p->t == T_IDENT || p->t == T_QIDENT || p->t == T_INT || p->t == T_DEC) {
        char what[96];
        snprintf(what, sizeof what, "unexpected '%.*s'",
                 (int)(p->tend - p->tstart > 40 ? 40 : p->tend - p->tstart), p->s + p->tstart);
        return perr_at(p, p->tstart, what);
    }
    return perr_at(p, p->tstart, NULL);
}

static void lex(struct parser *p)
{
    const char *s = p->s;
    while (p->pos < p->len && isspace((unsigned char)s[p->pos]))
        p->pos++;
    p->tstart = p->pos;
    if (p->pos >= p->len) {
        p->t = T_EOF;
        p->tend = p->pos;
        return;
    }
    char c = s[p->pos];
    if (isalpha((unsigned char)c) || c == '_') {
        while (p->pos < p->len && (isalnum((unsigned char)s[p->pos]) || s[p->pos] == '_'))
            p->pos++;
        p->t = T_IDENT;
    } else if (isdigit((unsigned char)c) ||
               (c == '.' && p->pos + 1 < p->len && isdigit((unsigned char)s[p->pos + 1]))) {
        bool dec = false;
        while (p->pos < p->len && isdigit((unsigned char)s[p->pos]))
            p->pos++;
        if (p->pos < p->len && s[p->pos] == '.') {
            dec = true;
            p->pos++;
            while (p->pos < p->len && isdigit((unsigned char)s[p->pos]))
                p->pos++;
        }
        if (p->pos < p->len && (s[p->pos] == 'e' || s[p->pos] == 'E')) {
            size_t q = p->pos + 1;
            if (q < p->len && (s[q] == '+' || s[q] == '-'))
                q++;
            if (q < p->len && isdigit((unsigned char)s[q])) {
                dec = true;
                p->pos = q;
                while (p->pos < p->len && isdigit((unsigned char)s[p->pos]))
                    p->pos++;
            }
        }
        p->t = dec ? T_DEC : T_INT;
    } else if (c == '\'' || c == '`') {
        p->pos++;
        for (;;) {
            if (p->pos >= p->len) {
                p->t = T_ERR;
                p->tend = p->pos;
                return;
            }
            if (s[p->pos] == c) {
                if (p->pos + 1 < p->len && s[p->pos + 1] == c) {
                    p->pos += 2;
                    continue;
                }
                p->pos++;
                break;
            }
            p->pos++;
        }
        p->t = c == '\'' ? T_STR : T_QIDENT;
    } else {
        static const char *two[] = {"==", "!=", "<>", "<=", ">=", NULL};
        p->t = T_OP;
        p->op[0] = c;
        p->op[1] = p->op[2] = '\0';
        for (int i = 0; two[i] != NULL; i++)
            if (p->pos + 1 < p->len && two[i][0] == c && two[i][1] == s[p->pos + 1]) {
                p->op[1] = two[i][1];
                p->pos++;
                break;
            }
        p->pos++;
        if (strchr("=!<>+-*/%(),.", c) == NULL || (c == '!' && p->op[1] == '\0'))
            p->t = T_ERR;
    }
    p->tend = p->pos;
}

static bool is_kw(struct parser *p, const char *kw)
{
    size_t n = strlen(kw);
    return p->t == T_IDENT && p->tend - p->tstart == n && strncasecmp(p->s + p->tstart, kw, n) == 0;
}

static bool is_op(struct parser *p, const char *op)
{
    return p->t == T_OP && strcmp(p->op, op) == 0;
}

/* Unquoted token text, or quoted with doubled quotes collapsed. */
static char *tok_text(struct parser *p, size_t *len_out)
{
    size_t a = p->tstart, b = p->tend;
    if (p->t == T_STR || p->t == T_QIDENT) {
        char q = p->s[a];
        char *out = weir_malloc(b - a);
        if (out == NULL)
            return NULL;
        size_t n = 0;
        for (size_t i = a + 1; i < b - 1; i++) {
            out[n++] = p->s[i];
            if (p->s[i] == q)
                i++;
        }
        out[n] = '\0';
        if (len_out)
            *len_out = n;
        return out;
    }
    if (len_out)
        *len_out = b - a;
    return weir_strndup(p->s + a, b - a);
}

static struct node *mk(struct parser *p, enum nkind k, size_t pos)
{
    struct node *n = weir_calloc(1, sizeof *n);
    if (n == NULL) {
        weir_error_set(p->err, WEIR_ENOMEM, "out of memory parsing expression");
        return NULL;
    }
    n->kind = k;
    n->pos = (int)pos + 1;
    return n;
}

static int add_kid(struct parser *p, struct node *n, struct node *kid)
{
    if (kid == NULL)
        return -1;
    struct node **k = weir_realloc(n->kids, (n->nkids + 1) * sizeof *k);
    if (k == NULL) {
        node_free(kid);
        return weir_error_set(p->err, WEIR_ENOMEM, "out of memory parsing expression");
    }
    n->kids = k;
    n->kids[n->nkids++] = kid;
    return 0;
}

/* A new node of kind k whose first child is `kid` (freed on failure). */
static struct node *mk1(struct parser *p, enum nkind k, size_t pos, struct node *kid)
{
    struct node *n = mk(p, k, pos);
    if (n == NULL) {
        node_free(kid);
        return NULL;
    }
    if (add_kid(p, n, kid) != 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct node *parse_or(struct parser *p);
static struct node *parse_add(struct parser *p);

#define MAX_DEPTH 200

static struct node *lit_node(struct parser *p, size_t pos, enum weir_type_kind kind)
{
    struct node *n = mk(p, N_LIT, pos);
    if (n == NULL)
        return NULL;
    n->lit_type = weir_type_primitive(kind);
    if (n->lit_type == NULL) {
        node_free(n);
        weir_error_set(p->err, WEIR_ENOMEM, "out of memory parsing expression");
        return NULL;
    }
    return n;
}

static struct node *parse_cast(struct parser *p, size_t pos)
{
    struct node *n = mk(p, N_CAST, pos), *x;
    if (n == NULL)
        return NULL;
    lex(p);
    if (!is_op(p, "("))
        goto bad;
    lex(p);
    x = parse_or(p);
    if (add_kid(p, n, x) != 0)
        goto fail;
    if (!is_kw(p, "AS"))
        goto bad;
    /* the type runs to the ')' that closes CAST( */
    size_t start = p->pos, i = start;
    int depth = 0;
    for (; i < p->len; i++) {
        char c = p->s[i];
        if (c == '(' || c == '<')
            depth++;
        else if (c == ')' && depth == 0)
            break;
        else if (c == ')' || c == '>')
            depth--;
    }
    if (i >= p->len) {
        perr_at(p, p->len, NULL);
        goto fail;
    }
    char *ddl = weir_asprintf("c %.*s", (int)(i - start), p->s + start);
    struct weir_type *st = NULL;
    struct weir_error e2 = {0};
    if (ddl == NULL) {
        weir_error_set(p->err, WEIR_ENOMEM, "out of memory parsing expression");
        goto fail;
    }
    int rc = weir_schema_from_ddl(ddl, &st, &e2);
    weir_free(ddl);
    if (rc != 0 || st->nfields != 1) {
        weir_type_destroy(st);
        if (rc == WEIR_ENOMEM) {
            weir_error_set(p->err, rc, "out of memory parsing expression");
        } else {
            while (start < i && isspace((unsigned char)p->s[start]))
                start++;
            weir_error_set(p->err, WEIR_EPARSE, "%s: bad type '%.*s' in CAST at column %zu", p->shown,
                           (int)(i - start), p->s + start, start + 1);
        }
        goto fail;
    }
    n->cast_to = st->fields[0].type;
    st->fields[0].type = NULL;
    weir_type_destroy(st);
    p->pos = i + 1;
    lex(p);
    return n;
bad:
    perr(p);
fail:
    node_free(n);
    return NULL;
}

static struct node *parse_case(struct parser *p, size_t pos)
{
    struct node *n = mk(p, N_CASE, pos);
    if (n == NULL)
        return NULL;
    lex(p);
    while (is_kw(p, "WHEN")) {
        lex(p);
        if (add_kid(p, n, parse_or(p)) != 0)
            goto fail;
        if (!is_kw(p, "THEN"))
            goto bad;
        lex(p);
        if (add_kid(p, n, parse_or(p)) != 0)
            goto fail;
    }
    if (n->nkids == 0)
        goto bad;
    if (is_kw(p, "ELSE")) {
        lex(p);
        if (add_kid(p, n, parse_or(p)) != 0)
            goto fail;
        n->has_else = true;
    }
    if (!is_kw(p, "END"))
        goto bad;
    lex(p);
    return n;
bad:
    perr(p);
fail:
    node_free(n);
    return NULL;
}

static struct node *parse_primary(struct parser *p)
{
    size_t pos = p->tstart;
    struct node *n = NULL;
    if (p->t == T_INT || p->t == T_DEC) {
        char *txt = tok_text(p, NULL);
        if (txt == NULL)
            goto oom;
        errno = 0;
        if (p->t == T_INT) {
            long long v = strtoll(txt, NULL, 10);
            if (errno == ERANGE) {
                weir_free(txt);
                weir_error_set(p->err, WEIR_EPARSE, "%s: integer literal out of range at column %zu",
                               p->shown, pos + 1);
                return NULL;
            }
            n = lit_node(p, pos, WEIR_TYPE_LONG);
            if (n)
                n->lit_i = v;
        } else {
            double v = strtod(txt, NULL);
            n = lit_node(p, pos, WEIR_TYPE_DOUBLE);
            if (n)
                n->lit_f = v;
        }
        weir_free(txt);
        if (n)
            lex(p);
        return n;
    }
    if (p->t == T_STR) {
        n = lit_node(p, pos, WEIR_TYPE_STRING);
        if (n == NULL)
            return NULL;
        n->lit_s = tok_text(p, &n->lit_len);
        if (n->lit_s == NULL) {
            node_free(n);
            goto oom;
        }
        lex(p);
        return n;
    }
    if (is_op(p, "(")) {
        lex(p);
        n = parse_or(p);
        if (n == NULL)
            return NULL;
        if (!is_op(p, ")")) {
            perr(p);
            node_free(n);
            return NULL;
        }
        lex(p);
        return n;
    }
    if (p->t == T_IDENT) {
        if (is_kw(p, "TRUE") || is_kw(p, "FALSE")) {
            n = lit_node(p, pos, WEIR_TYPE_BOOLEAN);
            if (n)
                n->lit_i = is_kw(p, "TRUE");
            if (n)
                lex(p);
            return n;
        }
        if (is_kw(p, "NULL")) {
            n = lit_node(p, pos, WEIR_TYPE_BOOLEAN);
            if (n) {
                n->lit_null = true;
                lex(p);
            }
            return n;
        }
        if (is_kw(p, "DATE") || is_kw(p, "TIMESTAMP")) {
            bool date = is_kw(p, "DATE");
            size_t save = p->pos;
            lex(p);
            if (p->t == T_STR) {
                n = lit_node(p, pos, date ? WEIR_TYPE_DATE : WEIR_TYPE_TIMESTAMP);
                if (n == NULL)
                    return NULL;
                size_t len;
                char *txt = tok_text(p, &len);
                int64_t days, us;
                if (txt == NULL) {
                    node_free(n);
                    goto oom;
                }
                bool ok = parse_datetime(txt, len, &days, &us);
                weir_free(txt);
                if (!ok || (date && (days < INT32_MIN || days > INT32_MAX))) {
                    weir_error_set(p->err, WEIR_EPARSE, "%s: bad %s literal at column %zu", p->shown,
                                   date ? "DATE" : "TIMESTAMP", p->tstart + 1);
                    node_free(n);
                    return NULL;
                }
                n->lit_i = date ? days : us;
                lex(p);
                return n;
            }
            /* a column named date/timestamp */
            p->pos = save;
            p->t = T_IDENT;
            p->tstart = pos;
            p->tend = save;
        }
        if (is_kw(p, "CAST"))
            return parse_cast(p, pos);
        if (is_kw(p, "CASE"))
            return parse_case(p, pos);
        /* function call? */
        size_t q = p->tend;
        while (q < p->len && isspace((unsigned char)p->s[q]))
            q++;
        if (q < p->len && p->s[q] == '(') {
            size_t f;
            for (f = 0; f < NFNS; f++)
                if (strlen(fns[f].name) == p->tend - p->tstart &&
                    strncasecmp(fns[f].name, p->s + p->tstart, p->tend - p->tstart) == 0)
                    break;
            if (f == NFNS) {
                weir_error_set(p->err, WEIR_EPARSE, "%s: unknown function '%.*s' at column %zu", p->shown,
                               (int)(p->tend - p->tstart), p->s + p->tstart, pos + 1);
                return NULL;
            }
            n = mk(p, N_FUNC, pos);
            if (n == NULL)
                return NULL;
            n->op = (int)f;
            lex(p); /* name */
            lex(p); /* ( */
            if (!is_op(p, ")")) {
                for (;;) {
                    if (add_kid(p, n, parse_or(p)) != 0)
                        goto fail;
                    if (is_op(p, ",")) {
                        lex(p);
                        continue;
                    }
                    break;
                }
            }
            if (!is_op(p, ")"))
                goto bad;
            if ((int)n->nkids < fns[f].min || (int)n->nkids > fns[f].max) {
                weir_error_set(p->err, WEIR_EPARSE, "%s: %s takes %d to %d arguments, got %zu at column %zu",
                               p->shown, fns[f].name, fns[f].min, fns[f].max, n->nkids, pos + 1);
                goto fail;
            }
            lex(p);
            return n;
        }
    }
    if (p->t == T_IDENT || p->t == T_QIDENT) {
        n = mk(p, N_COL, pos);
        if (n == NULL)
            return NULL;
        for (;;) {
            if (n->npath == sizeof n->idx / sizeof n->idx[0]) {
                weir_error_set(p->err, WEIR_EPARSE, "%s: column path too deep at column %zu", p->shown,
                               pos + 1);
                goto fail;
            }
            char **np = weir_realloc(n->path, (n->npath + 1) * sizeof *np);
            if (np == NULL)
                goto oomf;
            n->path = np;
            n->path[n->npath] = tok_text(p, NULL);
            if (n->path[n->npath] == NULL)
                goto oomf;
            n->npath++;
            lex(p);
            if (!is_op(p, "."))
                break;
            lex(p);
            if (p->t != T_IDENT && p->t != T_QIDENT)
                goto bad;
        }
        return n;
    }
    perr(p);
    return NULL;
oomf:
    weir_error_set(p->err, WEIR_ENOMEM, "out of memory parsing expression");
    node_free(n);
    return NULL;
bad:
    perr(p);
fail:
    node_free(n);
    return NULL;
oom:
    weir_error_set(p->err, WEIR_ENOMEM, "out of memory parsing expression");
    return NULL;
}

static struct node *parse_unary(struct parser *p)
{
    if (is_op(p, "-") || is_op(p, "+")) {
        size_t pos = p->tstart;
        bool minus = is_op(p, "-");
        lex(p);
        if (++p->depth > MAX_DEPTH) {
            perr_at(p, pos, "expression nested too deeply");
            return NULL;
        }
        struct node *x = parse_unary(p);
        p->depth--;
        if (x == NULL || !minus)
            return x;
        return mk1(p, N_NEG, pos, x);
    }
    return parse_primary(p);
}

static struct node *binary(struct parser *p, enum nkind k, int op, size_t pos, struct node *l, struct node *r)
{
    if (l == NULL || r == NULL) {
        node_free(l);
        node_free(r);
        return NULL;
    }
    struct node *n = mk(p, k, pos);
    if (n == NULL) {
        node_free(l);
        node_free(r);
        return NULL;
    }
    n->op = op;
    if (add_kid(p, n, l) != 0) {
        node_free(r);
        node_free(n);
        return NULL;
    }
    if (add_kid(p, n, r) != 0) {
        node_free(n);
        return NULL;
    }
    return n;
}

static struct node *parse_mul(struct parser *p)
{
    struct node *l = parse_unary(p);
    while (l != NULL && (is_op(p, "*") || is_op(p, "/") || is_op(p, "%"))) {
        int op = is_op(p, "*") ? OP_MUL : is_op(p, "/") ? OP_DIV : OP_MOD;
        size_t pos = p->tstart;
        lex(p);
        l = binary(p, N_ARITH, op, pos, l, parse_unary(p));
    }
    return l;
}

static struct node *parse_add(struct parser *p)
{
    if (++p->depth > MAX_DEPTH) {
        perr_at(p, p->tstart, "expression nested too deeply");
        return NULL;
    }
    struct node *l = parse_mul(p);
    while (l != NULL && (is_op(p, "+") || is_op(p, "-"))) {
        int op = is_op(p, "+") ? OP_ADD : OP_SUB;
        size_t pos = p->tstart;
        lex(p);
        l = binary(p, N_ARITH, op, pos, l, parse_mul(p));
    }
    p->depth--;
    return l;
}

static int cmp_op(struct parser *p)
{
    if (p->t != T_OP)
        return -1;
    if (is_op(p, "=") || is_op(p, "=="))
        return C_EQ;
    if (is_op(p, "!=") || is_op(p, "<>"))
        return C_NE;
    if (is_op(p, "<"))
        return C_LT;
    if (is_op(p, "<="))
        return C_LE;
    if (is_op(p, ">"))
        return C_GT;
    if (is_op(p, ">="))
        return C_GE;
    return -1;
}

static struct node *parse_pred(struct parser *p)
{
    struct node *l = parse_add(p);
    while (l != NULL) {
        size_t pos = p->tstart;
        int op = cmp_op(p);
        if (op >= 0) {
            lex(p);
            l = binary(p, N_CMP, op, pos, l, parse_add(p));
            continue;
        }
        if (is_kw(p, "IS")) {
            lex(p);
            bool neg = false;
            if (is_kw(p, "NOT")) {
                neg = true;
                lex(p);
            }
            if (!is_kw(p, "NULL")) {
                perr(p);
                node_free(l);
                return NULL;
            }
            lex(p);
            struct node *n = mk1(p, N_ISNULL, pos, l);
            if (n == NULL)
                return NULL;
            n->neg = neg;
            l = n;
            continue;
        }
        bool neg = false;
        size_t save = p->pos;
        if (is_kw(p, "NOT")) {
            lex(p);
            neg = true;
            if (!is_kw(p, "IN") && !is_kw(p, "BETWEEN") && !is_kw(p, "LIKE")) {
                p->pos = save; /* not ours: let the caller report it */
                p->tstart = pos;
                p->t = T_IDENT;
                p->tend = save;
                break;
            }
        }
        if (is_kw(p, "IN")) {
            lex(p);
            struct node *n = mk1(p, N_IN, pos, l);
            if (n == NULL)
                return NULL;
            n->neg = neg;
            l = n;
            if (!is_op(p, "(")) {
                perr(p);
                node_free(n);
                return NULL;
            }
            lex(p);
            for (;;) {
                if (add_kid(p, n, parse_add(p)) != 0) {
                    node_free(n);
                    return NULL;
                }
                if (!is_op(p, ","))
                    break;
                lex(p);
            }
            if (!is_op(p, ")")) {
                perr(p);
                node_free(n);
                return NULL;
            }
            lex(p);
            continue;
        }
        if (is_kw(p, "BETWEEN")) {
            lex(p);
            struct node *n = mk1(p, N_BETWEEN, pos, l);
            if (n == NULL)
                return NULL;
            n->neg = neg;
            l = n;
            if (add_kid(p, n, parse_add(p)) != 0) {
                node_free(n);
                return NULL;
            }
            if (!is_kw(p, "AND")) {
                perr(p);
                node_free(n);
                return NULL;
            }
            lex(p);
            if (add_kid(p, n, parse_add(p)) != 0) {
                node_free(n);
                return NULL;
            }
            continue;
        }
        if (is_kw(p, "LIKE")) {
            lex(p);
            l = binary(p, N_LIKE, 0, pos, l, parse_add(p));
            if (l)
                l->neg = neg;
            continue;
        }
        break;
    }
    return l;
}

static struct node *parse_not(struct parser *p)
{
    if (is_kw(p, "NOT")) {
        size_t pos = p->tstart;
        lex(p);
        if (++p->depth > MAX_DEPTH) {
            perr_at(p, pos, "expression nested too deeply");
            return NULL;
        }
        struct node *x = parse_not(p);
        p->depth--;
        if (x == NULL)
            return NULL;
        return mk1(p, N_NOT, pos, x);
    }
    return parse_pred(p);
}

static struct node *parse_and(struct parser *p)
{
    struct node *l = parse_not(p);
    while (l != NULL && is_kw(p, "AND")) {
        size_t pos = p->tstart;
        lex(p);
        l = binary(p, N_AND, 0, pos, l, parse_not(p));
    }
    return l;
}

static struct node *parse_or(struct parser *p)
{
    if (++p->depth > MAX_DEPTH) {
        perr_at(p, p->tstart, "expression nested too deeply");
        return NULL;
    }
    struct node *l = parse_and(p);
    while (l != NULL && is_kw(p, "OR")) {
        size_t pos = p->tstart;
        lex(p);
        l = binary(p, N_OR, 0, pos, l, parse_and(p));
    }
    p->depth--;
    return l;
}

/* Keywords that cannot be a bare (unquoted) alias. */
static bool is_reserved(struct parser *p)
{
    static const char *kws[] = {"AND",  "OR",   "NOT", "IS", "IN",   "LIKE", "BETWEEN", "WHEN",
                                "THEN", "ELSE", "END", "AS", "NULL", "CASE", "CAST",    NULL};
    for (int i = 0; kws[i] != NULL; i++)
        if (is_kw(p, kws[i]))
            return true;
    return false;
}

int weir_expr_parse(const char *text, struct weir_expr **out, struct weir_error *err)
{
    struct weir_error local = {0};
    if (err == NULL)
        err = &local; /* to return the code of the first error */
    *out = NULL;
    struct weir_expr *e = weir_calloc(1, sizeof *e);
    if (e == NULL || (e->text = weir_strdup(text)) == NULL) {
        weir_free(e);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory parsing expression");
    }
    char shown[160];
    snprintf(shown, sizeof shown, "%.120s%s", text, strlen(text) > 120 ? "..." : "");
    struct parser p = {.s = e->text, .shown = shown, .len = strlen(text), .err = err};
    lex(&p);
    size_t end;
    if (is_op(&p, "*")) {
        lex(&p);
        if (p.t != T_EOF) {
            perr(&p);
            goto fail;
        }
        e->root = mk(&p, N_STAR, 0);
        if (e->root == NULL)
            goto fail;
        *out = e;
        return 0;
    }
    if (p.t == T_ERR) {
        perr_at(&p, p.tstart, NULL);
        goto fail;
    }
    e->root = parse_or(&p);
    if (e->root == NULL)
        goto fail;
    end = p.tstart;
    if (is_kw(&p, "AS") || p.t == T_IDENT || p.t == T_QIDENT) {
        if (is_kw(&p, "AS"))
            lex(&p);
        if ((p.t != T_IDENT && p.t != T_QIDENT) || is_reserved(&p)) {
            perr(&p);
            goto fail;
        }
        e->alias = tok_text(&p, NULL);
        if (e->alias == NULL) {
            weir_error_set(err, WEIR_ENOMEM, "out of memory parsing expression");
            goto fail;
        }
        lex(&p);
    }
    if (p.t != T_EOF) {
        perr(&p);
        goto fail;
    }
    while (end > 0 && isspace((unsigned char)text[end - 1]))
        end--;
    size_t start = 0;
    while (start < end && isspace((unsigned char)text[start]))
        start++;
    e->name = e->alias                   ? weir_strdup(e->alias)
              : (e->root->kind == N_COL) ? weir_strdup(e->root->path[e->root->npath - 1])
                                         : weir_strndup(text + start, end - start);
    if (e->name == NULL) {
        weir_error_set(err, WEIR_ENOMEM, "out of memory parsing expression");
        goto fail;
    }
    *out = e;
    return 0;
fail:
    weir_expr_destroy(e);
    return err->code ? err->code : WEIR_EPARSE;
}

const char *weir_expr_name(const struct weir_expr *e)
{
    return e->root->kind == N_STAR ? "*" : e->name;
}

const struct weir_type *weir_expr_type(const struct weir_expr *e)
{
    return e->bound ? e->root->type : NULL;
}

/* ---------------------------------------------------------------- binding */

static bool is_int(enum weir_type_kind k)
{
    return k == WEIR_TYPE_BYTE || k == WEIR_TYPE_SHORT || k == WEIR_TYPE_INTEGER || k == WEIR_TYPE_LONG;
}
static bool is_num(enum weir_type_kind k)
{
    return is_int(k) || k == WEIR_TYPE_FLOAT || k == WEIR_TYPE_DOUBLE || k == WEIR_TYPE_DECIMAL;
}
static bool is_time(enum weir_type_kind k)
{
    return k == WEIR_TYPE_DATE || k == WEIR_TYPE_TIMESTAMP || k == WEIR_TYPE_TIMESTAMP_NTZ;
}
static bool is_nulllit(const struct node *n)
{
    return n->kind == N_LIT && n->lit_null;
}

static int type_err(struct weir_error *err, const struct node *n, const char *fmt, const struct weir_type *a,
                    const struct weir_type *b)
{
    char *da = a ? weir_type_to_display(a) : NULL, *db = b ? weir_type_to_display(b) : NULL;
    char msg[512];
    snprintf(msg, sizeof msg, fmt, da ? da : "?", db ? db : "?");
    weir_free(da);
    weir_free(db);
    return weir_error_set(err, WEIR_ESCHEMA, "%s at column %d", msg, n->pos);
}

static struct weir_type *prim(enum weir_type_kind k)
{
    return weir_type_primitive(k);
}

static int int_prec(enum weir_type_kind k)
{
    return k == WEIR_TYPE_BYTE ? 3 : k == WEIR_TYPE_SHORT ? 5 : k == WEIR_TYPE_INTEGER ? 10 : 19;
}

/* Common type for comparison / CASE / IN / coalesce, or NULL with *bad. */
static struct weir_type *common_type(const struct node *a, const struct node *b, bool *bad)
{
    const struct weir_type *x = a->type, *y = b->type;
    *bad = false;
    if (is_nulllit(a))
        return weir_type_clone(y);
    if (is_nulllit(b))
        return weir_type_clone(x);
    enum weir_type_kind ka = x->kind, kb = y->kind;
    if (ka == kb && ka != WEIR_TYPE_DECIMAL && weir_type_is_primitive(x))
        return prim(ka == WEIR_TYPE_BYTE || ka == WEIR_TYPE_SHORT || ka == WEIR_TYPE_INTEGER ? WEIR_TYPE_LONG
                    : ka == WEIR_TYPE_FLOAT ? WEIR_TYPE_DOUBLE
                                            : ka);
    if (is_num(ka) && is_num(kb)) {
        if (ka == WEIR_TYPE_FLOAT || ka == WEIR_TYPE_DOUBLE || kb == WEIR_TYPE_FLOAT ||
            kb == WEIR_TYPE_DOUBLE)
            return prim(WEIR_TYPE_DOUBLE);
        if (ka == WEIR_TYPE_DECIMAL || kb == WEIR_TYPE_DECIMAL) {
            int pa = ka == WEIR_TYPE_DECIMAL ? x->precision : int_prec(ka),
                sa = ka == WEIR_TYPE_DECIMAL ? x->scale : 0;
            int pb = kb == WEIR_TYPE_DECIMAL ? y->precision : int_prec(kb),
                sb = kb == WEIR_TYPE_DECIMAL ? y->scale : 0;
            int s = sa > sb ? sa : sb, ip = (pa - sa) > (pb - sb) ? pa - sa : pb - sb;
            int pr = ip + s > 38 ? 38 : ip + s;
            if (s > pr)
                s = pr;
            return weir_type_decimal(pr, s);
        }
        return prim(WEIR_TYPE_LONG);
    }
    if (is_time(ka) && is_time(kb))
        return prim(ka == WEIR_TYPE_DATE ? kb : ka);
    if (ka == WEIR_TYPE_STRING && is_time(kb))
        return prim(kb);
    if (kb == WEIR_TYPE_STRING && is_time(ka))
        return prim(ka);
    *bad = true;
    return NULL;
}

static bool can_cast(const struct weir_type *f, const struct weir_type *t)
{
    enum weir_type_kind a = f->kind, b = t->kind;
    if (!weir_type_is_primitive(f) || !weir_type_is_primitive(t))
        return weir_type_equal(f, t);
    if (a == b || b == WEIR_TYPE_STRING || a == WEIR_TYPE_STRING)
        return a != WEIR_TYPE_BINARY || b == WEIR_TYPE_STRING || b == WEIR_TYPE_BINARY;
    if (a == WEIR_TYPE_BINARY || b == WEIR_TYPE_BINARY)
        return false;
    if (b == WEIR_TYPE_BOOLEAN)
        return is_num(a);
    if (is_num(b))
        return is_num(a) || a == WEIR_TYPE_BOOLEAN || (a != WEIR_TYPE_DATE && is_time(a));
    if (b == WEIR_TYPE_DATE)
        return is_time(a);
    return is_time(a) || is_int(a) || a == WEIR_TYPE_DOUBLE || a == WEIR_TYPE_FLOAT;
}

#define OOM(err) weir_error_set(err, WEIR_ENOMEM, "out of memory binding expression")

static int bind_node(struct node *n, const struct weir_type *schema, struct weir_error *err);

static int set_type(struct node *n, struct weir_type *t, struct weir_error *err)
{
    if (t == NULL)
        return OOM(err);
    weir_type_destroy(n->type);
    n->type = t;
    return 0;
}

static int bind_col(struct node *n, const struct weir_type *schema, struct weir_error *err)
{
    const struct weir_type *st = schema;
    for (size_t i = 0; i < n->npath; i++) {
        if (st->kind != WEIR_TYPE_STRUCT)
            return weir_error_set(err, WEIR_ESCHEMA,
                                  "'%s' is not a struct, cannot read field '%s' at column %d", n->path[i - 1],
                                  n->path[i], n->pos);
        int idx = weir_type_field_index(st, n->path[i]);
        if (idx < 0) {
            const char *best = NULL;
            size_t bd = 99;
            for (size_t f = 0; f < st->nfields; f++) {
                size_t d = weir_edit_distance(n->path[i], st->fields[f].name, true);
                if (d < bd) {
                    bd = d;
                    best = st->fields[f].name;
                }
            }
            size_t lim = strlen(n->path[i]) / 3 > 2 ? strlen(n->path[i]) / 3 : 2;
            if (best != NULL && bd <= lim)
                return weir_error_set(err, WEIR_ESCHEMA,
                                      "unknown column '%s' (did you mean '%s'?) at column %d", n->path[i],
                                      best, n->pos);
            return weir_error_set(err, WEIR_ESCHEMA, "unknown column '%s' at column %d", n->path[i], n->pos);
        }
        n->idx[i] = idx;
        st = st->fields[idx].type;
    }
    return set_type(n, weir_type_clone(st), err);
}

static int need_bool(struct node *k, struct weir_error *err, const char *what)
{
    if (k->type->kind != WEIR_TYPE_BOOLEAN && !is_nulllit(k)) {
        char *d = weir_type_to_display(k->type);
        int rc = weir_error_set(err, WEIR_ESCHEMA, "%s needs a boolean, got %s at column %d", what,
                                d ? d : "?", k->pos);
        weir_free(d);
        return rc;
    }
    return 0;
}

static int bind_func(struct node *n, struct weir_error *err)
{
    struct node **k = n->kids;
    enum weir_type_kind k0 = n->nkids ? k[0]->type->kind : WEIR_TYPE_BOOLEAN;
    bool null0 = n->nkids && is_nulllit(k[0]);
    switch ((enum fn)n->op) {
    case F_LOWER:
    case F_UPPER:
    case F_TRIM:
    case F_LENGTH:
        if (k0 != WEIR_TYPE_STRING && !null0)
            return type_err(err, k[0], "%s expects a string, got %s", NULL, k[0]->type);
        return set_type(n, prim(n->op == F_LENGTH ? WEIR_TYPE_INTEGER : WEIR_TYPE_STRING), err);
    case F_SUBSTRING:
        if (k0 != WEIR_TYPE_STRING && !null0)
            return type_err(err, k[0], "substring expects a string, got %s%s", k[0]->type, NULL);
        for (size_t i = 1; i < n->nkids; i++)
            if (!is_int(k[i]->type->kind) && !is_nulllit(k[i]))
                return type_err(err, k[i], "substring position/length must be integer, got %s%s", k[i]->type,
                                NULL);
        return set_type(n, prim(WEIR_TYPE_STRING), err);
    case F_CONCAT:
        for (size_t i = 0; i < n->nkids; i++)
            if (!can_cast(k[i]->type, &(struct weir_type){.kind = WEIR_TYPE_STRING}))
                return type_err(err, k[i], "concat cannot take %s%s", k[i]->type, NULL);
        return set_type(n, prim(WEIR_TYPE_STRING), err);
    case F_COALESCE: {
        struct weir_type *t = weir_type_clone(k[0]->type);
        if (t == NULL)
            return OOM(err);
        bool allnull = is_nulllit(k[0]);
        for (size_t i = 1; i < n->nkids; i++) {
            bool bad;
            struct node tmp = {.kind = allnull ? N_LIT : N_COL, .lit_null = allnull, .type = t};
            struct weir_type *c = common_type(&tmp, k[i], &bad);
            weir_type_destroy(t);
            if (bad)
                return type_err(err, k[i], "coalesce arguments mix %s and %s", k[0]->type, k[i]->type);
            if (c == NULL)
                return OOM(err);
            t = c;
            allnull = allnull && is_nulllit(k[i]);
        }
        n->ctype = t;
        return set_type(n, weir_type_clone(t), err);
    }
    case F_ABS:
        if (!is_num(k0) && !null0)
            return type_err(err, k[0], "abs expects a number, got %s%s", k[0]->type, NULL);
        return set_type(n, weir_type_clone(k[0]->type), err);
    case F_ROUND:
    case F_FLOOR:
    case F_CEIL:
        if (!is_num(k0) && !null0)
            return type_err(err, k[0], "%s%s: expects a number", NULL, k[0]->type);
        if (n->nkids == 2) {
            const struct node *dn = k[1]->kind == N_NEG ? k[1]->kids[0] : k[1];
            if (dn->kind != N_LIT || dn->lit_null || dn->type->kind != WEIR_TYPE_LONG || dn->lit_i < -38 ||
                dn->lit_i > 38)
                return weir_error_set(err, WEIR_ESCHEMA,
                                      "round digits must be an integer literal at column %d", k[1]->pos);
            n->round_digits = (int)(k[1]->kind == N_NEG ? -dn->lit_i : dn->lit_i);
        }
        if (n->op == F_ROUND)
            return set_type(n,
                            k0 == WEIR_TYPE_FLOAT || k0 == WEIR_TYPE_DOUBLE || k0 == WEIR_TYPE_DECIMAL
                                ? prim(WEIR_TYPE_DOUBLE)
                                : prim(WEIR_TYPE_LONG),
                            err);
        return set_type(n, prim(WEIR_TYPE_LONG), err);
    case F_TO_DATE:
    case F_TO_TIMESTAMP:
        if (k0 != WEIR_TYPE_STRING && !is_time(k0) && !null0)
            return type_err(err, k[0], "%s%s: expects a string, date or timestamp", NULL, k[0]->type);
        return set_type(n, prim(n->op == F_TO_DATE ? WEIR_TYPE_DATE : WEIR_TYPE_TIMESTAMP), err);
    case F_DATE_TRUNC: {
        static const char *units[] = {"year", "month", "week", "day", "hour", "minute", "second", NULL};
        if (k[0]->kind != N_LIT || k0 != WEIR_TYPE_STRING)
            return weir_error_set(err, WEIR_ESCHEMA, "date_trunc unit must be a string literal at column %d",
                                  k[0]->pos);
        int u;
        for (u = 0; units[u] != NULL; u++)
            if (strcasecmp(units[u], k[0]->lit_s) == 0)
                break;
        if (units[u] == NULL)
            return weir_error_set(err, WEIR_ESCHEMA, "date_trunc: unknown unit '%s' at column %d",
                                  k[0]->lit_s, k[0]->pos);
        n->trunc_unit = u;
        enum weir_type_kind k1 = k[1]->type->kind;
        if (k1 != WEIR_TYPE_STRING && !is_time(k1) && !is_nulllit(k[1]))
            return type_err(err, k[1], "date_trunc expects a timestamp, got %s%s", k[1]->type, NULL);
        return set_type(n, prim(WEIR_TYPE_TIMESTAMP), err);
    }
    case F_YEAR:
    case F_MONTH:
    case F_DAY:
    case F_HOUR:
        if (k0 != WEIR_TYPE_STRING && !is_time(k0) && !null0)
            return type_err(err, k[0], "%s%s: expects a date or timestamp", NULL, k[0]->type);
        return set_type(n, prim(WEIR_TYPE_INTEGER), err);
    case F_CURRENT_TIMESTAMP:
        return set_type(n, prim(WEIR_TYPE_TIMESTAMP), err);
    }
    return weir_error_set(err, WEIR_EINVAL, "bad function");
}

static int bind_node(struct node *n, const struct weir_type *schema, struct weir_error *err)
{
    int rc;
    for (size_t i = 0; i < n->nkids; i++)
        if ((rc = bind_node(n->kids[i], schema, err)) != 0)
            return rc;
    struct node **k = n->kids;
    bool bad = false;
    /* a rebind (another schema) starts from scratch */
    weir_type_destroy(n->ctype);
    weir_type_destroy(n->ktype[0]);
    weir_type_destroy(n->ktype[1]);
    n->ctype = n->ktype[0] = n->ktype[1] = NULL;
    switch (n->kind) {
    case N_STAR:
        return 0;
    case N_LIT:
        return set_type(n, weir_type_clone(n->lit_type), err);
    case N_COL:
        return bind_col(n, schema, err);
    case N_NEG:
        if (!is_num(k[0]->type->kind) && !is_nulllit(k[0]))
            return type_err(err, n, "cannot negate %s%s", k[0]->type, NULL);
        return set_type(n, weir_type_clone(k[0]->type), err);
    case N_ARITH: {
        enum weir_type_kind a = k[0]->type->kind, b = k[1]->type->kind;
        static const char *ops = "+-*/%";
        if (is_nulllit(k[0]))
            a = b;
        if (is_nulllit(k[1]))
            b = a;
        if (is_nulllit(k[0]) && is_nulllit(k[1]))
            a = b = WEIR_TYPE_LONG;
        if (!is_num(a) || !is_num(b)) {
            char fmt[64];
            snprintf(fmt, sizeof fmt, "cannot apply %c to %%s and %%s", ops[n->op]);
            return type_err(err, n, fmt, k[0]->type, k[1]->type);
        }
        enum weir_type_kind opk;
        if (a == WEIR_TYPE_FLOAT || a == WEIR_TYPE_DOUBLE || b == WEIR_TYPE_FLOAT || b == WEIR_TYPE_DOUBLE ||
            n->op == OP_DIV || ((a == WEIR_TYPE_DECIMAL || b == WEIR_TYPE_DECIMAL) && n->op == OP_MOD))
            opk = WEIR_TYPE_DOUBLE;
        else if (a == WEIR_TYPE_DECIMAL || b == WEIR_TYPE_DECIMAL)
            opk = WEIR_TYPE_DECIMAL;
        else
            opk = WEIR_TYPE_LONG;
        if (opk != WEIR_TYPE_DECIMAL) {
            n->ktype[0] = prim(opk);
            n->ktype[1] = prim(opk);
            if (n->ktype[0] == NULL || n->ktype[1] == NULL)
                return OOM(err);
            return set_type(n, prim(opk), err);
        }
        int s[2], p[2];
        for (int i = 0; i < 2; i++) {
            const struct weir_type *t = is_nulllit(k[i]) ? k[1 - i]->type : k[i]->type;
            p[i] = t->kind == WEIR_TYPE_DECIMAL ? t->precision : int_prec(t->kind);
            s[i] = t->kind == WEIR_TYPE_DECIMAL ? t->scale : 0;
        }
        int rs, rp;
        if (n->op == OP_MUL) {
            rs = s[0] + s[1] > 38 ? 38 : s[0] + s[1];
            rp = 38;
            n->ktype[0] = weir_type_decimal(38, s[0]);
            n->ktype[1] = weir_type_decimal(38, s[1]);
        } else {
            rs = s[0] > s[1] ? s[0] : s[1];
            int ip = p[0] - s[0] > p[1] - s[1] ? p[0] - s[0] : p[1] - s[1];
            rp = ip + rs + 1 > 38 ? 38 : ip + rs + 1;
            n->ktype[0] = weir_type_decimal(38, rs);
            n->ktype[1] = weir_type_decimal(38, rs);
        }
        if (n->ktype[0] == NULL || n->ktype[1] == NULL)
            return OOM(err);
        return set_type(n, weir_type_decimal(rp, rs), err);
    }
    case N_CMP:
    case N_IN:
    case N_BETWEEN: {
        struct weir_type *c = weir_type_clone(k[0]->type);
        if (c == NULL)
            return OOM(err);
        bool allnull = is_nulllit(k[0]);
        for (size_t i = 1; i < n->nkids; i++) {
            struct node tmp = {.kind = allnull ? N_LIT : N_COL, .lit_null = allnull, .type = c};
            struct weir_type *t = common_type(&tmp, k[i], &bad);
            if (bad || (t != NULL && !weir_type_is_primitive(t)) ||
                (t != NULL && (t->kind == WEIR_TYPE_BINARY))) {
                rc = type_err(err, k[i], "cannot compare %s with %s", k[0]->type, k[i]->type);
                weir_type_destroy(c);
                weir_type_destroy(t);
                return rc;
            }
            weir_type_destroy(c);
            if (t == NULL)
                return OOM(err);
            c = t;
            allnull = allnull && is_nulllit(k[i]);
        }
        n->ctype = c;
        return set_type(n, prim(WEIR_TYPE_BOOLEAN), err);
    }
    case N_AND:
    case N_OR:
        if ((rc = need_bool(k[0], err, n->kind == N_AND ? "AND" : "OR")) != 0 ||
            (rc = need_bool(k[1], err, n->kind == N_AND ? "AND" : "OR")) != 0)
            return rc;
        return set_type(n, prim(WEIR_TYPE_BOOLEAN), err);
    case N_NOT:
        if ((rc = need_bool(k[0], err, "NOT")) != 0)
            return rc;
        return set_type(n, prim(WEIR_TYPE_BOOLEAN), err);
    case N_ISNULL:
        return set_type(n, prim(WEIR_TYPE_BOOLEAN), err);
    case N_LIKE:
        for (int i = 0; i < 2; i++)
            if (k[i]->type->kind != WEIR_TYPE_STRING && !is_nulllit(k[i]))
                return type_err(err, k[i], "LIKE needs strings, got %s%s", k[i]->type, NULL);
        return set_type(n, prim(WEIR_TYPE_BOOLEAN), err);
    case N_CAST:
        if (!can_cast(k[0]->type, n->cast_to) && !is_nulllit(k[0]))
            return type_err(err, n, "cannot cast %s to %s", k[0]->type, n->cast_to);
        return set_type(n, weir_type_clone(n->cast_to), err);
    case N_CASE: {
        size_t nw = n->nkids / 2;
        for (size_t i = 0; i < nw; i++)
            if ((rc = need_bool(k[2 * i], err, "WHEN")) != 0)
                return rc;
        struct weir_type *c = NULL;
        bool allnull = true;
        for (size_t i = 0; i < n->nkids; i++) {
            if (i % 2 == 0 && i + 1 < n->nkids)
                continue; /* a condition */
            if (c == NULL) {
                if ((c = weir_type_clone(k[i]->type)) == NULL)
                    return OOM(err);
                allnull = is_nulllit(k[i]);
                continue;
            }
            struct node tmp = {.kind = allnull ? N_LIT : N_COL, .lit_null = allnull, .type = c};
            struct weir_type *t = common_type(&tmp, k[i], &bad);
            if (bad) {
                rc = type_err(err, k[i], "CASE branches mix %s and %s", c, k[i]->type);
                weir_type_destroy(c);
                return rc;
            }
            weir_type_destroy(c);
            if (t == NULL)
                return OOM(err);
            c = t;
            allnull = allnull && is_nulllit(k[i]);
        }
        n->ctype = c;
        return set_type(n, weir_type_clone(c), err);
    }
    case N_FUNC:
        return bind_func(n, err);
    }
    return weir_error_set(err, WEIR_EINVAL, "bad expression node");
}

int weir_expr_bind(struct weir_expr *e, const struct weir_type *schema, struct weir_error *err)
{
    if (schema == NULL || schema->kind != WEIR_TYPE_STRUCT)
        return weir_error_set(err, WEIR_EINVAL, "binding '%s': schema must be a struct", e->text);
    e->bound = false;
    int rc = bind_node(e->root, schema, err);
    if (rc != 0)
        return rc;
    e->bound = true;
    return 0;
}

/* ---------------------------------------------------------------- vectors */

enum pk { P_BOOL, P_I64, P_F64, P_DEC, P_STR };

struct vec {
    enum pk pk;
    size_t n;
    uint8_t *valid; /* 1 = present */
    uint8_t *b;
    int64_t *i;
    double *f;
    weir_i128 *d;
    int64_t *off; /* n+1 */
    char *bytes;
    size_t blen, bcap;
    bool borrowed; /* i/f/d/off/bytes point into a batch column: read only */
};

static enum pk pk_of(const struct weir_type *t)
{
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
        return P_BOOL;
    case WEIR_TYPE_FLOAT:
    case WEIR_TYPE_DOUBLE:
        return P_F64;
    case WEIR_TYPE_DECIMAL:
        return P_DEC;
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY:
        return P_STR;
    default:
        return P_I64;
    }
}

static void vec_free(struct vec *v)
{
    weir_free(v->valid);
    weir_free(v->b);
    if (v->borrowed) {
        memset(v, 0, sizeof *v);
        return;
    }
    weir_free(v->i);
    weir_free(v->f);
    weir_free(v->d);
    weir_free(v->off);
    weir_free(v->bytes);
    memset(v, 0, sizeof *v);
}

/* Zeroed vector of n rows, all valid. */
static int vec_init(struct vec *v, enum pk pk, size_t n)
{
    memset(v, 0, sizeof *v);
    v->pk = pk;
    v->n = n;
    size_t m = n ? n : 1;
    v->valid = weir_malloc(m);
    if (v->valid)
        memset(v->valid, 1, m);
    switch (pk) {
    case P_BOOL:
        v->b = weir_calloc(m, 1);
        break;
    case P_I64:
        v->i = weir_calloc(m, sizeof *v->i);
        break;
    case P_F64:
        v->f = weir_calloc(m, sizeof *v->f);
        break;
    case P_DEC:
        v->d = weir_calloc(m, sizeof *v->d);
        break;
    case P_STR:
        v->off = weir_calloc(n + 1, sizeof *v->off);
        v->bcap = 64;
        v->bytes = weir_malloc(v->bcap);
        break;
    }
    if (v->valid == NULL || (pk == P_BOOL && !v->b) || (pk == P_I64 && !v->i) || (pk == P_F64 && !v->f) ||
        (pk == P_DEC && !v->d) || (pk == P_STR && (!v->off || !v->bytes))) {
        vec_free(v);
        return WEIR_ENOMEM;
    }
    return 0;
}

/* Append string row i (rows are pushed in order 0..n-1). */
static int vec_push(struct vec *v, size_t i, const void *p, size_t len)
{
    if (v->blen + len > v->bcap) {
        size_t cap = v->bcap * 2;
        while (cap < v->blen + len)
            cap *= 2;
        char *nb = weir_realloc(v->bytes, cap);
        if (nb == NULL)
            return WEIR_ENOMEM;
        v->bytes = nb;
        v->bcap = cap;
    }
    if (len)
        memcpy(v->bytes + v->blen, p, len);
    v->blen += len;
    v->off[i + 1] = (int64_t)v->blen;
    return 0;
}

static inline const char *vstr(const struct vec *v, size_t i, size_t *len)
{
    *len = (size_t)(v->off[i + 1] - v->off[i]);
    return v->bytes + v->off[i];
}

struct ctx {
    const struct weir_batch *b;
    int64_t now;
    struct weir_error *err;
};

static int load_col(const struct node *n, struct ctx *c, struct vec *v)
{
    const struct weir_column *col = &c->b->columns[n->idx[0]];
    for (size_t i = 1; i < n->npath; i++)
        col = &col->children[n->idx[i]];
    const struct weir_type *t = n->type;
    if (!weir_type_is_primitive(t))
        return weir_error_set(c->err, WEIR_EUNSUPPORTED,
                              "column '%s' of nested type can only be selected as is", n->path[n->npath - 1]);
    size_t rows = col->length;
    int rc = vec_init(v, pk_of(t), rows);
    if (rc != 0)
        return rc;
    for (size_t r = 0; r < rows; r++)
        v->valid[r] = weir_column_is_valid(col, r);
    switch (t->kind) {
    case WEIR_TYPE_BOOLEAN:
    case WEIR_TYPE_BYTE:
        for (size_t r = 0; r < rows; r++) {
            if (t->kind == WEIR_TYPE_BOOLEAN)
                v->b[r] = ((const uint8_t *)col->data)[r] != 0;
            else
                v->i[r] = ((const int8_t *)col->data)[r];
        }
        break;
    case WEIR_TYPE_SHORT:
        for (size_t r = 0; r < rows; r++)
            v->i[r] = ((const int16_t *)col->data)[r];
        break;
    case WEIR_TYPE_INTEGER:
    case WEIR_TYPE_DATE:
        for (size_t r = 0; r < rows; r++)
            v->i[r] = ((const int32_t *)col->data)[r];
        break;
    case WEIR_TYPE_LONG:
    case WEIR_TYPE_TIMESTAMP:
    case WEIR_TYPE_TIMESTAMP_NTZ:
        if (rows)
            memcpy(v->i, col->data, rows * sizeof(int64_t));
        break;
    case WEIR_TYPE_FLOAT:
        for (size_t r = 0; r < rows; r++)
            v->f[r] = ((const float *)col->data)[r];
        break;
    case WEIR_TYPE_DOUBLE:
        if (rows)
            memcpy(v->f, col->data, rows * sizeof(double));
        break;
    case WEIR_TYPE_DECIMAL:
        if (rows)
            memcpy(v->d, col->data, rows * sizeof(weir_i128));
        break;
    case WEIR_TYPE_STRING:
    case WEIR_TYPE_BINARY: {
        size_t base = (size_t)col->offsets[0], len = (size_t)col->offsets[rows] - base;
        if (len > v->bcap) {
            char *nb = weir_realloc(v->bytes, len);
            if (nb == NULL) {
                vec_free(v);
                return WEIR_ENOMEM;
            }
            v->bytes = nb;
            v->bcap = len;
        }
        if (len)
            memcpy(v->bytes, col->bytes + base, len);
        v->blen = len;
        for (size_t r = 0; r <= rows; r++)
            v->off[r] = col->offsets[r] - (int64_t)base;
        break;
    }
    default:
        break;
    }
    return 0;
}

static weir_i128 pow10i(int s)
{
    weir_i128 r = 1;
    for (int i = 0; i < s; i++)
        r *= 10;
    return r;
}

/* Round-half-up rescale of an unscaled decimal; false on overflow of 38 digits. */
static bool rescale(weir_i128 v, int from, int to, weir_i128 *out)
{
    if (to >= from) {
        weir_i128 m = pow10i(to - from);
        if (__builtin_mul_overflow(v, m, out))
            return false;
    } else {
        weir_i128 m = pow10i(from - to), q = v / m, r = v % m;
        if (r * 2 >= m)
            q++;
        else if (-r * 2 >= m)
            q--;
        *out = q;
    }
    weir_i128 lim = pow10i(38);
    return *out<lim && * out> - lim;
}

static int fmt_dec(char *buf, size_t cap, weir_i128 v, int scale)
{
    char tmp[64];
    int n = 0;
    bool neg = v < 0;
    unsigned __int128 u = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0 || n <= scale);
    int o = 0;
    if (neg)
        buf[o++] = '-';
    for (int i = n - 1; i >= 0 && (size_t)o + 2 < cap; i--) {
        buf[o++] = tmp[i];
        if (i == scale && scale > 0)
            buf[o++] = '.';
    }
    buf[o] = '\0';
    return o;
}

static bool parse_dec(const char *s, size_t len, int scale, weir_i128 *out)
{
    const char *p = s, *end = s + len;
    while (p < end && isspace((unsigned char)*p))
        p++;
    while (end > p && isspace((unsigned char)end[-1]))
        end--;
    bool neg = false;
    if (p < end && (*p == '-' || *p == '+'))
        neg = *p++ == '-';
    weir_i128 v = 0;
    int digits = 0, fr = -1, extra = 0;
    bool round_up = false;
    for (; p < end; p++) {
        if (*p == '.' && fr < 0) {
            fr = 0;
            continue;
        }
        if (!isdigit((unsigned char)*p))
            return false;
        digits++;
        if (fr >= 0 && fr >= scale) {
            if (extra++ == 0 && *p >= '5')
                round_up = true;
            continue;
        }
        if (fr >= 0)
            fr++;
        if (v > pow10i(37))
            return false;
        v = v * 10 + (*p - '0');
    }
    if (digits == 0)
        return false;
    if (fr < 0)
        fr = 0;
    weir_i128 r;
    if (!rescale(v, fr, scale, &r))
        return false;
    if (round_up)
        r++;
    *out = neg ? -r : r;
    return true;
}

static bool parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *e;
    errno = 0;
    long long v = strtoll(buf, &e, 10);
    while (*e && isspace((unsigned char)*e))
        e++;
    if (*e == '\0' && errno == 0 && e != buf) {
        *out = v;
        return true;
    }
    double d = strtod(buf, &e);
    while (*e && isspace((unsigned char)*e))
        e++;
    if (*e != '\0' || e == buf || !(d > -9.2233720368547758e18 && d < 9.2233720368547758e18))
        return false;
    *out = (int64_t)d;
    return true;
}

static bool parse_f64(const char *s, size_t len, double *out)
{
    char buf[128];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *e;
    double d = strtod(buf, &e);
    while (*e && isspace((unsigned char)*e))
        e++;
    if (*e != '\0' || e == buf)
        return false;
    *out = d;
    return true;
}

static int64_t narrow(int64_t v, enum weir_type_kind k)
{
    switch (k) {
    case WEIR_TYPE_BYTE:
        return (int8_t)(uint8_t)v;
    case WEIR_TYPE_SHORT:
        return (int16_t)(uint16_t)v;
    case WEIR_TYPE_INTEGER:
        return (int32_t)(uint32_t)v;
    default:
        return v;
    }
}

/* Cast vector `in` of type `from` to `to` into `out` (fresh). Bad values
 * become NULL. */
static int cast_vec(const struct vec *in, const struct weir_type *from, const struct weir_type *to,
                    struct vec *out)
{
    size_t n = in->n;
    enum weir_type_kind a = from->kind, b = to->kind;
    int rc = vec_init(out, pk_of(to), n);
    if (rc != 0)
        return rc;
    memcpy(out->valid, in->valid, n);
    char buf[96];
    switch (pk_of(to)) {
    case P_BOOL:
        for (size_t r = 0; r < n; r++) {
            if (!in->valid[r])
                continue;
            switch (in->pk) {
            case P_BOOL:
                out->b[r] = in->b[r];
                break;
            case P_I64:
                out->b[r] = in->i[r] != 0;
                break;
            case P_F64:
                out->b[r] = in->f[r] != 0;
                break;
            case P_DEC:
                out->b[r] = in->d[r] != 0;
                break;
            case P_STR: {
                size_t l;
                const char *s = vstr(in, r, &l);
                while (l && isspace((unsigned char)*s))
                    s++, l--;
                while (l && isspace((unsigned char)s[l - 1]))
                    l--;
                if ((l == 4 && strncasecmp(s, "true", 4) == 0) || (l == 1 && (*s == 't' || *s == '1')))
                    out->b[r] = 1;
                else if ((l == 5 && strncasecmp(s, "false", 5) == 0) || (l == 1 && (*s == 'f' || *s == '0')))
                    out->b[r] = 0;
                else
                    out->valid[r] = 0;
                break;
            }
            }
        }
        return 0;
    case P_I64:
        for (size_t r = 0; r < n; r++) {
            if (!in->valid[r])
                continue;
            int64_t v = 0, days, us;
            bool ok = true;
            switch (in->pk) {
            case P_BOOL:
                v = in->b[r];
                break;
            case P_I64:
                v = in->i[r];
                if (a == WEIR_TYPE_DATE && (b == WEIR_TYPE_TIMESTAMP || b == WEIR_TYPE_TIMESTAMP_NTZ))
                    ok = !__builtin_mul_overflow(v, US_PER_DAY, &v);
                else if (a != WEIR_TYPE_DATE && is_time(a) && b == WEIR_TYPE_DATE)
                    v = floordiv(v, US_PER_DAY);
                else if (is_time(a) && is_int(b))
                    v = floordiv(v, 1000000);
                else if (is_int(a) && (b == WEIR_TYPE_TIMESTAMP || b == WEIR_TYPE_TIMESTAMP_NTZ))
                    ok = !__builtin_mul_overflow(v, 1000000, &v);
                break;
            case P_F64: {
                double d = in->f[r];
                if (b == WEIR_TYPE_TIMESTAMP || b == WEIR_TYPE_TIMESTAMP_NTZ)
                    d *= 1e6;
                ok = d > -9.2233720368547758e18 && d < 9.2233720368547758e18;
                if (ok)
                    v = (int64_t)d;
                break;
            }
            case P_DEC: {
                weir_i128 q = in->d[r] / pow10i(from->scale);
                ok = q >= INT64_MIN && q <= INT64_MAX;
                v = (int64_t)q;
                break;
            }
            case P_STR: {
                size_t l;
                const char *s = vstr(in, r, &l);
                if (b == WEIR_TYPE_DATE) {
                    ok = parse_datetime(s, l, &days, &us) && days >= INT32_MIN && days <= INT32_MAX;
                    v = days;
                } else if (b == WEIR_TYPE_TIMESTAMP || b == WEIR_TYPE_TIMESTAMP_NTZ) {
                    ok = parse_datetime(s, l, &days, &us);
                    v = us;
                } else {
                    ok = parse_i64(s, l, &v);
                }
                break;
            }
            }
            if (!ok) {
                out->valid[r] = 0;
                continue;
            }
            out->i[r] = b == WEIR_TYPE_DATE ? (int32_t)(uint32_t)v : narrow(v, b);
        }
        return 0;
    case P_F64:
        for (size_t r = 0; r < n; r++) {
            if (!in->valid[r])
                continue;
            double d = 0;
            switch (in->pk) {
            case P_BOOL:
                d = in->b[r];
                break;
            case P_I64:
                d = is_time(a) ? (double)in->i[r] / 1e6 : (double)in->i[r];
                break;
            case P_F64:
                d = in->f[r];
                break;
            case P_DEC:
                d = (double)in->d[r] / (double)pow10i(from->scale);
                break;
            case P_STR: {
                size_t l;
                const char *s = vstr(in, r, &l);
                if (!parse_f64(s, l, &d))
                    out->valid[r] = 0;
                break;
            }
            }
            out->f[r] = b == WEIR_TYPE_FLOAT ? (double)(float)d : d;
        }
        return 0;
    case P_DEC: {
        weir_i128 lim = pow10i(to->precision);
        for (size_t r = 0; r < n; r++) {
            if (!in->valid[r])
                continue;
            weir_i128 v = 0;
            bool ok = true;
            switch (in->pk) {
            case P_BOOL:
                ok = rescale(in->b[r], 0, to->scale, &v);
                break;
            case P_I64:
                ok = rescale(is_time(a) ? floordiv(in->i[r], 1000000) : in->i[r], 0, to->scale, &v);
                break;
            case P_F64: {
                double d = in->f[r] * (double)pow10i(to->scale);
                ok = d > -1e38 && d < 1e38;
                if (ok)
                    v = (weir_i128)llround(d > 9e18 || d < -9e18 ? 0 : d);
                if (d > 9e18 || d < -9e18)
                    v = (weir_i128)d;
                break;
            }
            case P_DEC:
                ok = rescale(in->d[r], from->scale, to->scale, &v);
                break;
            case P_STR: {
                size_t l;
                const char *s = vstr(in, r, &l);
                ok = parse_dec(s, l, to->scale, &v);
                break;
            }
            }
            if (!ok || v >= lim || v <= -lim)
                out->valid[r] = 0;
            else
                out->d[r] = v;
        }
        return 0;
    }
    case P_STR:
        for (size_t r = 0; r < n; r++) {
            int len = 0;
            const char *s = buf;
            size_t l = 0;
            if (!in->valid[r]) {
                out->off[r + 1] = (int64_t)out->blen;
                continue;
            }
            switch (in->pk) {
            case P_BOOL:
                len = snprintf(buf, sizeof buf, "%s", in->b[r] ? "true" : "false");
                break;
            case P_I64:
                if (a == WEIR_TYPE_DATE)
                    len = format_date(buf, sizeof buf, in->i[r]);
                else if (is_time(a))
                    len = format_ts(buf, sizeof buf, in->i[r]);
                else
                    len = snprintf(buf, sizeof buf, "%lld", (long long)in->i[r]);
                break;
            case P_F64: {
                double d = in->f[r];
                if (isnan(d))
                    len = snprintf(buf, sizeof buf, "NaN");
                else if (isinf(d))
                    len = snprintf(buf, sizeof buf, d > 0 ? "Infinity" : "-Infinity");
                else {
                    len = snprintf(buf, sizeof buf, "%.15g", d);
                    if (strtod(buf, NULL) != d)
                        len = snprintf(buf, sizeof buf, "%.17g", d);
                    if (strpbrk(buf, ".eEn") == NULL)
                        len += snprintf(buf + len, sizeof buf - (size_t)len, ".0");
                }
                break;
            }
            case P_DEC:
                len = fmt_dec(buf, sizeof buf, in->d[r], from->scale);
                break;
            case P_STR:
                s = vstr(in, r, &l);
                len = -1;
                break;
            }
            if (len >= 0)
                l = (size_t)len;
            if ((rc = vec_push(out, r, s, l)) != 0) {
                vec_free(out);
                return rc;
            }
        }
        return 0;
    }
    return 0;
}

/* ---------------------------------------------------------------- evaluation */

static int eval(const struct node *n, struct ctx *c, struct vec *out);

/* Evaluate n and cast to `to` when its type differs. */
static int eval_as(const struct node *n, const struct weir_type *to, struct ctx *c, struct vec *out)
{
    struct vec tmp;
    int rc = eval(n, c, &tmp);
    if (rc != 0)
        return rc;
    if (weir_type_equal(n->type, to) && !is_nulllit(n)) {
        *out = tmp;
        return 0;
    }
    if (is_nulllit(n)) {
        vec_free(&tmp);
        rc = vec_init(out, pk_of(to), c->b->nrows);
        if (rc == 0)
            memset(out->valid, 0, c->b->nrows);
        return rc;
    }
    rc = cast_vec(&tmp, n->type, to, out);
    vec_free(&tmp);
    return rc;
}

static int eval_lit(const struct node *n, struct ctx *c, struct vec *v)
{
    size_t rows = c->b->nrows;
    int rc = vec_init(v, pk_of(n->type), rows);
    if (rc != 0)
        return rc;
    if (n->lit_null) {
        memset(v->valid, 0, rows);
        return 0;
    }
    for (size_t r = 0; r < rows; r++) {
        switch (v->pk) {
        case P_BOOL:
            v->b[r] = (uint8_t)n->lit_i;
            break;
        case P_I64:
            v->i[r] = n->lit_i;
            break;
        case P_F64:
            v->f[r] = n->lit_f;
            break;
        case P_DEC:
            break;
        case P_STR:
            if ((rc = vec_push(v, r, n->lit_s, n->lit_len)) != 0) {
                vec_free(v);
                return rc;
            }
            break;
        }
    }
    return 0;
}

#define CMP_LOOP(EXPR)                     \
    do {                                   \
        switch (op) {                      \
        case C_EQ:                         \
            for (size_t r = 0; r < n; r++) \
                o[r] = (EXPR) == 0;        \
            break;                         \
        case C_NE:                         \
            for (size_t r = 0; r < n; r++) \
                o[r] = (EXPR) != 0;        \
            break;                         \
        case C_LT:                         \
            for (size_t r = 0; r < n; r++) \
                o[r] = (EXPR) < 0;         \
            break;                         \
        case C_LE:                         \
            for (size_t r = 0; r < n; r++) \
                o[r] = (EXPR) <= 0;        \
            break;                         \
        case C_GT:                         \
            for (size_t r = 0; r < n; r++) \
                o[r] = (EXPR) > 0;         \
            break;                         \
        default:                           \
            for (size_t r = 0; r < n; r++) \
                o[r] = (EXPR) >= 0;        \
            break;                         \
        }                                  \
    } while (0)

#define CMP3(x, y) (((x) > (y)) - ((x) < (y)))

static int strcmp_with(const struct vec *x, size_t r, const char *b, size_t lb)
{
    size_t la;
    const char *a = vstr(x, r, &la);
    int c = memcmp(a, b, la < lb ? la : lb);
    return c != 0 ? (c > 0) - (c < 0) : CMP3(la, lb);
}

static int strcmp_at(const struct vec *x, const struct vec *y, size_t r)
{
    size_t la, lb;
    const char *a = vstr(x, r, &la), *b = vstr(y, r, &lb);
    int c = memcmp(a, b, la < lb ? la : lb);
    return c != 0 ? (c > 0) - (c < 0) : CMP3(la, lb);
}

/* Compare two vectors of the same physical kind; result into bool vec `res`. */
/* x against the single value of y (a literal): no per-row access to y. */
static void compare_scalar(const struct vec *x, const struct vec *y, int op, struct vec *res)
{
    size_t n = x->n;
    uint8_t *o = res->b;
    if (!y->valid[0]) {
        memset(res->valid, 0, n);
        memset(o, 0, n);
        return;
    }
    switch (x->pk) {
    case P_BOOL: {
        const uint8_t v = y->b[0];
        CMP_LOOP(CMP3(x->b[r], v));
        break;
    }
    case P_I64: {
        const int64_t v = y->i[0];
        CMP_LOOP(CMP3(x->i[r], v));
        break;
    }
    case P_F64: {
        const double v = y->f[0];
        CMP_LOOP(CMP3(x->f[r], v));
        break;
    }
    case P_DEC: {
        const weir_i128 v = y->d[0];
        CMP_LOOP(CMP3(x->d[r], v));
        break;
    }
    case P_STR: {
        size_t yl;
        const char *ys = vstr(y, 0, &yl);
        if (op == C_EQ || op == C_NE) {
            for (size_t r = 0; r < n; r++) {
                size_t xl = (size_t)(x->off[r + 1] - x->off[r]);
                o[r] = (xl == yl && memcmp(x->bytes + x->off[r], ys, yl) == 0) == (op == C_EQ);
            }
            break;
        }
        CMP_LOOP(strcmp_with(x, r, ys, yl));
        break;
    }
    }
    for (size_t r = 0; r < n; r++) {
        res->valid[r] = x->valid[r];
        o[r] &= x->valid[r];
    }
}

static void compare(const struct vec *x, const struct vec *y, int op, struct vec *res)
{
    size_t n = x->n;
    uint8_t *o = res->b;
    if (y->n == 1 && n != 1) {
        compare_scalar(x, y, op, res);
        return;
    }
    switch (x->pk) {
    case P_BOOL:
        CMP_LOOP(CMP3(x->b[r], y->b[r]));
        break;
    case P_I64:
        CMP_LOOP(CMP3(x->i[r], y->i[r]));
        break;
    case P_F64:
        CMP_LOOP(CMP3(x->f[r], y->f[r]));
        break;
    case P_DEC:
        CMP_LOOP(CMP3(x->d[r], y->d[r]));
        break;
    case P_STR:
        CMP_LOOP(strcmp_at(x, y, r));
        break;
    }
    for (size_t r = 0; r < n; r++) {
        res->valid[r] = x->valid[r] & y->valid[r];
        o[r] &= res->valid[r];
    }
}

/* 3VL combine into a (in place): and/or. */
static void logic(struct vec *a, const struct vec *b, bool is_and)
{
    for (size_t r = 0; r < a->n; r++) {
        uint8_t av = a->valid[r], bv = b->valid[r], x = a->b[r] & av, y = b->b[r] & bv;
        if (is_and) {
            bool f = (av && !x) || (bv && !y);
            a->valid[r] = f || (av && bv);
            a->b[r] = !f && av && bv;
        } else {
            bool t = x || y;
            a->valid[r] = t || (av && bv);
            a->b[r] = t;
        }
    }
}

/* A comparison operand: a literal is evaluated once as a one-row vector
 * (compare() broadcasts it), anything else over the whole batch. */
static int eval_operand(const struct node *n, const struct weir_type *to, struct ctx *c, struct vec *out)
{
    if (n->kind != N_LIT)
        return eval_as(n, to, c, out);
    struct weir_batch one = {.nrows = 1};
    struct ctx c1 = *c;
    c1.b = &one;
    return eval_as(n, to, &c1, out);
}

/* Like eval_as, but a top-level column whose type is already `to` and
 * whose layout matches the vector's is borrowed, not copied. Only for
 * operands that are read and freed, never modified in place. */
static int eval_ro(const struct node *n, const struct weir_type *to, struct ctx *c, struct vec *out)
{
    enum weir_type_kind k = n->type->kind;
    if (n->kind != N_COL || n->npath != 1 || !weir_type_equal(n->type, to) ||
        !(k == WEIR_TYPE_LONG || k == WEIR_TYPE_TIMESTAMP || k == WEIR_TYPE_TIMESTAMP_NTZ ||
          k == WEIR_TYPE_DOUBLE || k == WEIR_TYPE_DECIMAL || k == WEIR_TYPE_STRING || k == WEIR_TYPE_BINARY))
        return eval_as(n, to, c, out);
    const struct weir_column *col = &c->b->columns[n->idx[0]];
    size_t rows = col->length;
    memset(out, 0, sizeof *out);
    out->pk = pk_of(to);
    out->n = rows;
    out->valid = weir_malloc(rows ? rows : 1);
    if (out->valid == NULL)
        return weir_error_set(c->err, WEIR_ENOMEM, "out of memory evaluating expression");
    if (col->validity == NULL)
        memset(out->valid, 1, rows);
    else
        for (size_t r = 0; r < rows; r++)
            out->valid[r] = weir_column_is_valid(col, r);
    out->borrowed = true;
    out->i = col->data;
    out->f = col->data;
    out->d = col->data;
    out->off = col->offsets;
    out->bytes = (char *)col->bytes;
    out->blen = col->bytes_len;
    return 0;
}

static int eval_cmp_like(const struct node *n, struct ctx *c, struct vec *out);

static bool like_match(const char *s, size_t sl, const char *p, size_t pl)
{
    size_t si = 0, pi = 0, star_p = (size_t)-1, star_s = 0;
    while (si < sl) {
        if (pi < pl && p[pi] == '\\' && pi + 1 < pl) {
            if (s[si] == p[pi + 1]) {
                si++;
                pi += 2;
                continue;
            }
        } else if (pi < pl && p[pi] == '_') {
            si++;
            while (si < sl && ((unsigned char)s[si] & 0xC0) == 0x80)
                si++;
            pi++;
            continue;
        } else if (pi < pl && p[pi] == '%') {
            star_p = pi++;
            star_s = si;
            continue;
        } else if (pi < pl && p[pi] == s[si]) {
            si++;
            pi++;
            continue;
        }
        if (star_p == (size_t)-1)
            return false;
        pi = star_p + 1;
        si = ++star_s;
    }
    while (pi < pl && p[pi] == '%')
        pi++;
    return pi == pl;
}

static int eval_cmp_like(const struct node *n, struct ctx *c, struct vec *out)
{
    struct vec x = {0}, y = {0};
    size_t rows = c->b->nrows;
    int rc = vec_init(out, P_BOOL, rows);
    if (rc != 0)
        return rc;
    if (n->kind == N_LIKE) {
        struct weir_type st = {.kind = WEIR_TYPE_STRING};
        if ((rc = eval_ro(n->kids[0], &st, c, &x)) != 0 || (rc = eval_ro(n->kids[1], &st, c, &y)) != 0)
            goto done;
        for (size_t r = 0; r < rows; r++) {
            out->valid[r] = x.valid[r] & y.valid[r];
            if (out->valid[r]) {
                size_t la, lb;
                const char *a = vstr(&x, r, &la), *b = vstr(&y, r, &lb);
                out->b[r] = like_match(a, la, b, lb) != n->neg;
            }
        }
        goto done;
    }
    if ((rc = eval_ro(n->kids[0], n->ctype, c, &x)) != 0)
        goto done;
    if (n->kind == N_CMP) {
        if ((rc = eval_operand(n->kids[1], n->ctype, c, &y)) != 0)
            goto done;
        compare(&x, &y, n->op, out);
        goto done;
    }
    struct vec tmp = {0};
    if ((rc = vec_init(&tmp, P_BOOL, rows)) != 0)
        goto done;
    if (n->kind == N_BETWEEN) {
        for (int i = 1; i <= 2; i++) {
            if ((rc = eval_operand(n->kids[i], n->ctype, c, &y)) != 0)
                break;
            compare(&x, &y, i == 1 ? C_GE : C_LE, i == 1 ? out : &tmp);
            vec_free(&y);
        }
        if (rc == 0)
            logic(out, &tmp, true);
    } else { /* IN: OR of equalities */
        memset(out->valid, 1, rows);
        memset(out->b, 0, rows);
        for (size_t i = 1; i < n->nkids && rc == 0; i++) {
            if ((rc = eval_operand(n->kids[i], n->ctype, c, &y)) != 0)
                break;
            compare(&x, &y, C_EQ, &tmp);
            logic(out, &tmp, false);
            vec_free(&y);
        }
    }
    vec_free(&tmp);
    if (rc == 0 && n->neg)
        for (size_t r = 0; r < rows; r++)
            out->b[r] = out->valid[r] && !out->b[r];
done:
    vec_free(&x);
    vec_free(&y);
    if (rc != 0)
        vec_free(out);
    return rc;
}

static int eval_arith(const struct node *n, struct ctx *c, struct vec *out)
{
    struct vec x = {0}, y = {0};
    size_t rows = c->b->nrows;
    int rc;
    if ((rc = eval_as(n->kids[0], n->ktype[0], c, &x)) != 0 ||
        (rc = eval_as(n->kids[1], n->ktype[1], c, &y)) != 0)
        goto done;
    if ((rc = vec_init(out, pk_of(n->type), rows)) != 0)
        goto done;
    for (size_t r = 0; r < rows; r++)
        out->valid[r] = x.valid[r] & y.valid[r];
    switch (out->pk) {
    case P_I64: {
        const int64_t *a = x.i, *b = y.i;
        int64_t *o = out->i;
        switch (n->op) {
        case OP_ADD:
            for (size_t r = 0; r < rows; r++)
                o[r] = (int64_t)((uint64_t)a[r] + (uint64_t)b[r]);
            break;
        case OP_SUB:
            for (size_t r = 0; r < rows; r++)
                o[r] = (int64_t)((uint64_t)a[r] - (uint64_t)b[r]);
            break;
        case OP_MUL:
            for (size_t r = 0; r < rows; r++)
                o[r] = (int64_t)((uint64_t)a[r] * (uint64_t)b[r]);
            break;
        default:
            for (size_t r = 0; r < rows; r++) {
                if (b[r] == 0)
                    out->valid[r] = 0;
                else
                    o[r] = b[r] == -1 ? 0 : a[r] % b[r];
            }
            break;
        }
        break;
    }
    case P_F64: {
        const double *a = x.f, *b = y.f;
        double *o = out->f;
        switch (n->op) {
        case OP_ADD:
            for (size_t r = 0; r < rows; r++)
                o[r] = a[r] + b[r];
            break;
        case OP_SUB:
            for (size_t r = 0; r < rows; r++)
                o[r] = a[r] - b[r];
            break;
        case OP_MUL:
            for (size_t r = 0; r < rows; r++)
                o[r] = a[r] * b[r];
            break;
        case OP_DIV:
            for (size_t r = 0; r < rows; r++) {
                if (b[r] == 0)
                    out->valid[r] = 0;
                else
                    o[r] = a[r] / b[r];
            }
            break;
        default:
            for (size_t r = 0; r < rows; r++) {
                if (b[r] == 0)
                    out->valid[r] = 0;
                else
                    o[r] = fmod(a[r], b[r]);
            }
            break;
        }
        break;
    }
    case P_DEC: {
        weir_i128 lim = pow10i(n->type->precision);
        for (size_t r = 0; r < rows; r++) {
            if (!out->valid[r])
                continue;
            weir_i128 v;
            bool ovf;
            if (n->op == OP_ADD)
                ovf = __builtin_add_overflow(x.d[r], y.d[r], &v);
            else if (n->op == OP_SUB)
                ovf = __builtin_sub_overflow(x.d[r], y.d[r], &v);
            else
                ovf = __builtin_mul_overflow(x.d[r], y.d[r], &v);
            if (ovf || v >= lim || v <= -lim)
                out->valid[r] = 0;
            else
                out->d[r] = v;
        }
        break;
    }
    default:
        break;
    }
    for (size_t r = 0; r < rows && out->pk == P_I64; r++)
        if (!out->valid[r])
            out->i[r] = 0;
done:
    vec_free(&x);
    vec_free(&y);
    return rc;
}

static size_t utf8_len(const char *s, size_t l)
{
    size_t n = 0;
    for (size_t i = 0; i < l; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

/* byte offset of the char index `ci` (clamped) */
static size_t utf8_off(const char *s, size_t l, size_t ci)
{
    size_t i = 0, n = 0;
    while (i < l) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (n == ci)
                return i;
            n++;
        }
        i++;
    }
    return l;
}

/* Truncate to `unit`; false when the result is below the timestamp range. */
static bool trunc_ts(int64_t us, int unit, int64_t *out)
{
    int64_t days = floordiv(us, US_PER_DAY), q, m = 1;
    int64_t y;
    int mo, d;
    switch (unit) {
    case 0:
        civil_from_days(days, &y, &mo, &d);
        q = days_from_civil(y, 1, 1), m = US_PER_DAY;
        break;
    case 1:
        civil_from_days(days, &y, &mo, &d);
        q = days_from_civil(y, mo, 1), m = US_PER_DAY;
        break;
    case 2: /* week starts Monday; 1970-01-01 was a Thursday */
        q = days - ((days + 3) % 7 + 7) % 7, m = US_PER_DAY;
        break;
    case 3:
        q = days, m = US_PER_DAY;
        break;
    case 4:
        m = INT64_C(3600000000), q = floordiv(us, m);
        break;
    case 5:
        m = 60000000, q = floordiv(us, m);
        break;
    default:
        m = 1000000, q = floordiv(us, m);
        break;
    }
    return !__builtin_mul_overflow(q, m, out);
}

static int eval_func(const struct node *n, struct ctx *c, struct vec *out)
{
    size_t rows = c->b->nrows;
    struct vec x = {0}, y = {0}, z = {0};
    int rc = 0;
    struct weir_type st = {.kind = WEIR_TYPE_STRING}, lt = {.kind = WEIR_TYPE_LONG},
                     tt = {.kind = WEIR_TYPE_TIMESTAMP}, dt = {.kind = WEIR_TYPE_DATE};
    switch ((enum fn)n->op) {
    case F_LOWER:
    case F_UPPER:
    case F_TRIM:
        if ((rc = eval_as(n->kids[0], &st, c, &x)) != 0 || (rc = vec_init(out, P_STR, rows)) != 0)
            break;
        memcpy(out->valid, x.valid, rows);
        for (size_t r = 0; r < rows && rc == 0; r++) {
            size_t l;
            const char *s = vstr(&x, r, &l);
            if (n->op == F_TRIM) {
                while (l && *s == ' ')
                    s++, l--;
                while (l && s[l - 1] == ' ')
                    l--;
                rc = vec_push(out, r, s, l);
                continue;
            }
            size_t at = out->blen;
            if ((rc = vec_push(out, r, s, l)) != 0)
                break;
            for (size_t i = 0; i < l; i++) {
                char ch = out->bytes[at + i];
                out->bytes[at + i] =
                    (char)(n->op == F_LOWER ? tolower((unsigned char)ch) : toupper((unsigned char)ch));
            }
        }
        break;
    case F_LENGTH:
        if ((rc = eval_as(n->kids[0], &st, c, &x)) != 0 || (rc = vec_init(out, P_I64, rows)) != 0)
            break;
        memcpy(out->valid, x.valid, rows);
        for (size_t r = 0; r < rows; r++) {
            size_t l;
            const char *s = vstr(&x, r, &l);
            out->i[r] = (int64_t)utf8_len(s, l);
        }
        break;
    case F_SUBSTRING:
        if ((rc = eval_as(n->kids[0], &st, c, &x)) != 0 || (rc = eval_as(n->kids[1], &lt, c, &y)) != 0 ||
            (n->nkids == 3 && (rc = eval_as(n->kids[2], &lt, c, &z)) != 0) ||
            (rc = vec_init(out, P_STR, rows)) != 0)
            break;
        for (size_t r = 0; r < rows && rc == 0; r++) {
            out->valid[r] = x.valid[r] && y.valid[r] && (n->nkids < 3 || z.valid[r]);
            size_t l;
            const char *s = vstr(&x, r, &l);
            if (!out->valid[r]) {
                rc = vec_push(out, r, s, 0);
                continue;
            }
            int64_t clen = (int64_t)utf8_len(s, l), pos = y.i[r], len = n->nkids == 3 ? z.i[r] : INT64_MAX;
            /* Spark: 1-based, 0 acts as 1, negative counts from the end */
            int64_t start = pos > 0 ? pos - 1 : pos < 0 ? clen + pos : 0;
            int64_t end = len < 0 ? start : (start > 0 && len > INT64_MAX - start ? INT64_MAX : start + len);
            if (start < 0)
                start = 0;
            if (end > clen)
                end = clen;
            if (end < start)
                end = start;
            size_t bo = utf8_off(s, l, (size_t)start), be = utf8_off(s, l, (size_t)end);
            rc = vec_push(out, r, s + bo, be - bo);
        }
        break;
    case F_CONCAT: {
        struct vec *parts = weir_calloc(n->nkids, sizeof *parts);
        if (parts == NULL) {
            rc = WEIR_ENOMEM;
            break;
        }
        size_t k;
        for (k = 0; k < n->nkids; k++)
            if ((rc = eval_as(n->kids[k], &st, c, &parts[k])) != 0)
                break;
        if (rc == 0)
            rc = vec_init(out, P_STR, rows);
        for (size_t r = 0; r < rows && rc == 0; r++) {
            bool ok = true;
            for (size_t i = 0; i < n->nkids; i++)
                ok = ok && parts[i].valid[r];
            out->valid[r] = ok;
            out->off[r + 1] = (int64_t)out->blen;
            for (size_t i = 0; i < n->nkids && ok && rc == 0; i++) {
                size_t l;
                const char *s = vstr(&parts[i], r, &l);
                rc = vec_push(out, r, s, l);
            }
        }
        for (size_t i = 0; i < n->nkids; i++)
            vec_free(&parts[i]);
        weir_free(parts);
        break;
    }
    case F_COALESCE:
    case F_ABS:
    case F_ROUND:
    case F_FLOOR:
    case F_CEIL:
    case F_TO_DATE:
    case F_TO_TIMESTAMP:
    case F_DATE_TRUNC:
    case F_YEAR:
    case F_MONTH:
    case F_DAY:
    case F_HOUR:
    case F_CURRENT_TIMESTAMP:
        break;
    }
    if (rc != 0)
        goto done;
    switch ((enum fn)n->op) {
    case F_COALESCE:
        if ((rc = eval_as(n->kids[0], n->ctype, c, out)) != 0)
            break;
        for (size_t k = 1; k < n->nkids && rc == 0; k++) {
            if ((rc = eval_as(n->kids[k], n->ctype, c, &y)) != 0)
                break;
            if (out->pk == P_STR) {
                /* rebuild: take from out where valid, else y */
                struct vec m;
                if ((rc = vec_init(&m, P_STR, rows)) != 0)
                    break;
                for (size_t r = 0; r < rows && rc == 0; r++) {
                    const struct vec *src = out->valid[r] ? out : &y;
                    size_t l;
                    const char *s = vstr(src, r, &l);
                    m.valid[r] = src->valid[r];
                    rc = vec_push(&m, r, s, l);
                }
                vec_free(out);
                *out = m;
            } else {
                for (size_t r = 0; r < rows; r++) {
                    if (out->valid[r] || !y.valid[r])
                        continue;
                    out->valid[r] = 1;
                    switch (out->pk) {
                    case P_BOOL:
                        out->b[r] = y.b[r];
                        break;
                    case P_I64:
                        out->i[r] = y.i[r];
                        break;
                    case P_F64:
                        out->f[r] = y.f[r];
                        break;
                    default:
                        out->d[r] = y.d[r];
                        break;
                    }
                }
            }
            vec_free(&y);
        }
        break;
    case F_ABS:
        if ((rc = eval_as(n->kids[0], n->type, c, out)) != 0)
            break;
        for (size_t r = 0; r < rows; r++) {
            if (out->pk == P_I64)
                out->i[r] = out->i[r] < 0 ? (int64_t)(0 - (uint64_t)out->i[r]) : out->i[r];
            else if (out->pk == P_F64)
                out->f[r] = fabs(out->f[r]);
            else if (out->pk == P_DEC)
                out->d[r] = out->d[r] < 0 ? -out->d[r] : out->d[r];
        }
        if (out->pk == P_I64)
            for (size_t r = 0; r < rows; r++)
                out->i[r] = narrow(out->i[r], n->type->kind);
        break;
    case F_ROUND:
    case F_FLOOR:
    case F_CEIL: {
        struct weir_type ft = {.kind = WEIR_TYPE_DOUBLE};
        enum weir_type_kind k0 = n->kids[0]->type->kind;
        if (is_int(k0) && n->op != F_ROUND) {
            rc = eval_as(n->kids[0], &lt, c, out);
            break;
        }
        if (n->op == F_ROUND && n->type->kind == WEIR_TYPE_LONG) {
            /* integer round(x, d): d >= 0 keeps x; d < 0 rounds half up at 10^-d */
            if ((rc = eval_as(n->kids[0], &lt, c, out)) != 0)
                break;
            if (n->round_digits < 0 && n->round_digits > -19) {
                int64_t m = (int64_t)pow10i(-n->round_digits);
                for (size_t r = 0; r < rows; r++) {
                    int64_t v = out->i[r], q = v / m, rem = v % m;
                    if (rem * 2 >= m)
                        q++;
                    else if (-rem * 2 >= m)
                        q--;
                    out->i[r] = (int64_t)((uint64_t)q * (uint64_t)m);
                }
            } else if (n->round_digits <= -19) {
                memset(out->i, 0, rows * sizeof *out->i);
            }
            break;
        }
        if ((rc = eval_as(n->kids[0], &ft, c, &x)) != 0 || (rc = vec_init(out, pk_of(n->type), rows)) != 0)
            break;
        memcpy(out->valid, x.valid, rows);
        if (n->op == F_ROUND) {
            double m = pow(10.0, n->round_digits);
            for (size_t r = 0; r < rows; r++)
                out->f[r] = n->round_digits == 0 ? round(x.f[r]) : round(x.f[r] * m) / m;
        } else {
            for (size_t r = 0; r < rows; r++) {
                double d = n->op == F_FLOOR ? floor(x.f[r]) : ceil(x.f[r]);
                if (!(d > -9.2233720368547758e18 && d < 9.2233720368547758e18))
                    out->valid[r] = 0;
                else
                    out->i[r] = (int64_t)d;
            }
        }
        break;
    }
    case F_TO_DATE:
        rc = eval_as(n->kids[0], &dt, c, out);
        break;
    case F_TO_TIMESTAMP:
        rc = eval_as(n->kids[0], &tt, c, out);
        break;
    case F_DATE_TRUNC:
        if ((rc = eval_as(n->kids[1], &tt, c, out)) != 0)
            break;
        for (size_t r = 0; r < rows; r++)
            if (out->valid[r])
                out->valid[r] = trunc_ts(out->i[r], n->trunc_unit, &out->i[r]);
        break;
    case F_YEAR:
    case F_MONTH:
    case F_DAY:
    case F_HOUR:
        if ((rc = eval_as(n->kids[0], &tt, c, out)) != 0)
            break;
        for (size_t r = 0; r < rows; r++) {
            if (!out->valid[r])
                continue;
            int64_t us = out->i[r], days = floordiv(us, US_PER_DAY), y0;
            int m, d;
            if (n->op == F_HOUR) {
                int64_t rem = us % US_PER_DAY;
                out->i[r] = (rem < 0 ? rem + US_PER_DAY : rem) / INT64_C(3600000000);
                continue;
            }
            civil_from_days(days, &y0, &m, &d);
            out->i[r] = n->op == F_YEAR ? (int64_t)(int32_t)y0 : n->op == F_MONTH ? m : d;
        }
        break;
    case F_CURRENT_TIMESTAMP:
        if ((rc = vec_init(out, P_I64, rows)) != 0)
            break;
        for (size_t r = 0; r < rows; r++)
            out->i[r] = c->now;
        break;
    default:
        break;
    }
done:
    vec_free(&x);
    vec_free(&y);
    vec_free(&z);
    return rc;
}

static int eval_case(const struct node *n, struct ctx *c, struct vec *out)
{
    size_t rows = c->b->nrows, nw = n->nkids / 2;
    struct vec cond = {0}, val = {0};
    uint8_t *taken = weir_calloc(rows ? rows : 1, 1);
    int rc = taken ? vec_init(out, pk_of(n->type), rows) : WEIR_ENOMEM;
    if (rc != 0)
        goto done;
    memset(out->valid, 0, rows);
    /* strings are assembled row by row at the end: remember the branch */
    uint8_t *branch = NULL;
    struct vec *vals = NULL;
    size_t nb = nw + (n->has_else ? 1 : 0);
    if (out->pk == P_STR) {
        branch = weir_calloc(rows ? rows : 1, 1);
        vals = weir_calloc(nb, sizeof *vals);
        if (branch == NULL || vals == NULL || nb > 255) {
            rc = branch == NULL || vals == NULL
                     ? WEIR_ENOMEM
                     : weir_error_set(c->err, WEIR_EUNSUPPORTED, "CASE with more than 254 string branches");
            goto strdone;
        }
        memset(branch, 0xff, rows ? rows : 1);
    }
    for (size_t w = 0; w < nb; w++) {
        bool is_else = w == nw;
        if (!is_else) {
            if ((rc = eval(n->kids[2 * w], c, &cond)) != 0)
                break;
        }
        if ((rc = eval_as(n->kids[is_else ? 2 * w : 2 * w + 1], n->ctype, c, &val)) != 0)
            break;
        for (size_t r = 0; r < rows; r++) {
            if (taken[r] || (!is_else && !(cond.valid[r] && cond.b[r])))
                continue;
            taken[r] = 1;
            out->valid[r] = val.valid[r];
            switch (out->pk) {
            case P_BOOL:
                out->b[r] = val.b[r];
                break;
            case P_I64:
                out->i[r] = val.i[r];
                break;
            case P_F64:
                out->f[r] = val.f[r];
                break;
            case P_DEC:
                out->d[r] = val.d[r];
                break;
            case P_STR:
                branch[r] = (uint8_t)w;
                break;
            }
        }
        vec_free(&cond);
        if (out->pk == P_STR)
            vals[w] = val;
        else
            vec_free(&val);
        memset(&val, 0, sizeof val);
    }
    if (rc == 0 && out->pk == P_STR) {
        for (size_t r = 0; r < rows && rc == 0; r++) {
            size_t l = 0;
            const char *s = "";
            if (branch[r] != 0xff && vals[branch[r]].valid[r])
                s = vstr(&vals[branch[r]], r, &l);
            rc = vec_push(out, r, s, l);
        }
    }
strdone:
    if (vals != NULL)
        for (size_t w = 0; w < nb; w++)
            vec_free(&vals[w]);
    weir_free(vals);
    weir_free(branch);
done:
    vec_free(&cond);
    vec_free(&val);
    weir_free(taken);
    if (rc != 0)
        vec_free(out);
    return rc;
}

static int eval(const struct node *n, struct ctx *c, struct vec *out)
{
    int rc = 0;
    size_t rows = c->b->nrows;
    memset(out, 0, sizeof *out);
    switch (n->kind) {
    case N_LIT:
        rc = eval_lit(n, c, out);
        break;
    case N_COL:
        rc = load_col(n, c, out);
        break;
    case N_NEG:
        if ((rc = eval_as(n->kids[0], n->type, c, out)) != 0)
            break;
        for (size_t r = 0; r < rows; r++) {
            if (out->pk == P_I64)
                out->i[r] = narrow((int64_t)(0 - (uint64_t)out->i[r]), n->type->kind);
            else if (out->pk == P_F64)
                out->f[r] = -out->f[r];
            else if (out->pk == P_DEC)
                out->d[r] = -out->d[r];
        }
        break;
    case N_ARITH:
        rc = eval_arith(n, c, out);
        break;
    case N_CMP:
    case N_IN:
    case N_BETWEEN:
    case N_LIKE:
        rc = eval_cmp_like(n, c, out);
        break;
    case N_AND:
    case N_OR: {
        struct weir_type bt = {.kind = WEIR_TYPE_BOOLEAN};
        struct vec y;
        if ((rc = eval_as(n->kids[0], &bt, c, out)) != 0)
            break;
        if ((rc = eval_as(n->kids[1], &bt, c, &y)) != 0)
            break;
        logic(out, &y, n->kind == N_AND);
        vec_free(&y);
        break;
    }
    case N_NOT: {
        struct weir_type bt = {.kind = WEIR_TYPE_BOOLEAN};
        if ((rc = eval_as(n->kids[0], &bt, c, out)) != 0)
            break;
        for (size_t r = 0; r < rows; r++)
            out->b[r] = out->valid[r] && !out->b[r];
        break;
    }
    case N_ISNULL: {
        struct vec x;
        if ((rc = eval(n->kids[0], c, &x)) != 0)
            break;
        if ((rc = vec_init(out, P_BOOL, rows)) == 0)
            for (size_t r = 0; r < rows; r++)
                out->b[r] = (x.valid[r] == 0) != n->neg;
        vec_free(&x);
        break;
    }
    case N_CAST:
        rc = eval_as(n->kids[0], n->type, c, out);
        break;
    case N_CASE:
        rc = eval_case(n, c, out);
        break;
    case N_FUNC:
        rc = eval_func(n, c, out);
        break;
    case N_STAR:
        rc = weir_error_set(c->err, WEIR_EINVAL, "'*' can only be selected");
        break;
    }
    if (rc != 0) {
        vec_free(out);
        if (rc == WEIR_ENOMEM && (c->err == NULL || c->err->code == 0))
            weir_error_set(c->err, rc, "out of memory evaluating expression");
    }
    return rc;
}

/* Append vector rows onto a column of type t. */
static int vec_to_column(const struct vec *v, const struct weir_type *t, struct weir_column *col)
{
    int rc = weir_column_reserve(col, v->n, v->pk == P_STR ? v->blen : 0);
    for (size_t r = 0; r < v->n && rc == 0; r++) {
        if (!v->valid[r]) {
            rc = weir_column_append_null(col);
            continue;
        }
        switch (t->kind) {
        case WEIR_TYPE_BOOLEAN:
            rc = weir_column_append_bool(col, v->b[r]);
            break;
        case WEIR_TYPE_BYTE:
            rc = weir_column_append_i8(col, (int8_t)v->i[r]);
            break;
        case WEIR_TYPE_SHORT:
            rc = weir_column_append_i16(col, (int16_t)v->i[r]);
            break;
        case WEIR_TYPE_INTEGER:
        case WEIR_TYPE_DATE:
            rc = weir_column_append_i32(col, (int32_t)v->i[r]);
            break;
        case WEIR_TYPE_LONG:
        case WEIR_TYPE_TIMESTAMP:
        case WEIR_TYPE_TIMESTAMP_NTZ:
            rc = weir_column_append_i64(col, v->i[r]);
            break;
        case WEIR_TYPE_FLOAT:
            rc = weir_column_append_f32(col, (float)v->f[r]);
            break;
        case WEIR_TYPE_DOUBLE:
            rc = weir_column_append_f64(col, v->f[r]);
            break;
        case WEIR_TYPE_DECIMAL:
            rc = weir_column_append_i128(col, v->d[r]);
            break;
        case WEIR_TYPE_STRING:
        case WEIR_TYPE_BINARY: {
            size_t l;
            const char *s = vstr(v, r, &l);
            rc = weir_column_append_bytes(col, s, l);
            break;
        }
        default:
            rc = WEIR_EUNSUPPORTED;
            break;
        }
    }
    return rc;
}

static int check_bound(const struct weir_expr *e, const struct weir_batch *b, struct weir_error *err)
{
    if (!e->bound)
        return weir_error_set(err, WEIR_ESTATE, "expression '%s' is not bound", e->text);
    (void)b;
    return 0;
}

static bool is_plain_col(const struct weir_expr *e)
{
    return e->root->kind == N_COL && e->root->npath == 1;
}

int weir_expr_eval(const struct weir_expr *e, const struct weir_batch *b, int64_t now_us,
                   struct weir_batch **out, struct weir_error *err)
{
    *out = NULL;
    int rc = check_bound(e, b, err);
    if (rc != 0)
        return rc;
    struct weir_expr *one = (struct weir_expr *)e;
    return weir_expr_project(&one, 1, b, now_us, out, err);
}

int weir_expr_filter(const struct weir_expr *pred, const struct weir_batch *b, int64_t now_us,
                     uint32_t **rows, size_t *nrows, struct weir_error *err)
{
    *rows = NULL;
    *nrows = 0;
    int rc = check_bound(pred, b, err);
    if (rc != 0)
        return rc;
    if (pred->root->type->kind != WEIR_TYPE_BOOLEAN && !is_nulllit(pred->root))
        return weir_error_set(err, WEIR_ESCHEMA, "filter '%s' is not a boolean expression", pred->text);
    if (b->nrows > UINT32_MAX)
        return weir_error_set(err, WEIR_ERANGE, "batch too large to filter (%zu rows)", b->nrows);
    struct ctx c = {.b = b, .now = now_us, .err = err};
    struct vec v;
    struct weir_type bt = {.kind = WEIR_TYPE_BOOLEAN};
    if ((rc = eval_as(pred->root, &bt, &c, &v)) != 0)
        return rc;
    uint32_t *sel = weir_malloc((b->nrows ? b->nrows : 1) * sizeof *sel);
    if (sel == NULL) {
        vec_free(&v);
        return weir_error_set(err, WEIR_ENOMEM, "out of memory filtering");
    }
    size_t k = 0;
    for (size_t r = 0; r < b->nrows; r++) {
        sel[k] = (uint32_t)r;
        k += v.valid[r] & v.b[r];
    }
    vec_free(&v);
    *rows = sel;
    *nrows = k;
    return 0;
}

int weir_expr_filter_batch(const struct weir_expr *pred, const struct weir_batch *b, int64_t now_us,
                           struct weir_batch **out, struct weir_error *err)
{
    uint32_t *rows;
    size_t n;
    *out = NULL;
    int rc = weir_expr_filter(pred, b, now_us, &rows, &n, err);
    if (rc != 0)
        return rc;
    rc = weir_batch_take(b, rows, n, out);
    weir_free(rows);
    if (rc != 0)
        return weir_error_set(err, rc, "filtering with '%s': %s", pred->text, weir_strerror(rc));
    return 0;
}

int weir_expr_project(struct weir_expr *const *exprs, size_t n, const struct weir_batch *b, int64_t now_us,
                      struct weir_batch **out, struct weir_error *err)
{
    *out = NULL;
    struct weir_type *schema = weir_type_struct();
    struct weir_batch *nb = NULL;
    int rc = schema ? 0 : WEIR_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if ((rc = check_bound(exprs[i], b, err)) != 0)
            goto fail;
        if (exprs[i]->root->kind == N_STAR) {
            for (size_t f = 0; f < b->schema->nfields && rc == 0; f++) {
                const struct weir_field *fd = &b->schema->fields[f];
                struct weir_type *t = weir_type_clone(fd->type);
                rc = t ? weir_type_struct_add(schema, fd->name, t, fd->nullable, fd->metadata) : WEIR_ENOMEM;
            }
            continue;
        }
        struct weir_type *t = weir_type_clone(exprs[i]->root->type);
        rc = t ? weir_type_struct_add(schema, exprs[i]->name, t, true, NULL) : WEIR_ENOMEM;
    }
    if (rc != 0)
        goto fail;
    if ((nb = weir_batch_create(schema)) == NULL) {
        rc = WEIR_ENOMEM;
        goto fail;
    }
    struct ctx c = {.b = b, .now = now_us, .err = err};
    size_t oc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct weir_expr *e = exprs[i];
        if (e->root->kind == N_STAR || is_plain_col(e)) {
            size_t lo = e->root->kind == N_STAR ? 0 : (size_t)e->root->idx[0];
            size_t hi = e->root->kind == N_STAR ? b->ncolumns : lo + 1;
            for (size_t col = lo; col < hi && rc == 0; col++, oc++) {
                rc = weir_column_reserve(&nb->columns[oc], b->nrows, b->columns[col].bytes_len);
                for (size_t r = 0; r < b->nrows && rc == 0; r++)
                    rc = weir_column_append_from(&nb->columns[oc], &b->columns[col], r);
            }
            continue;
        }
        struct vec v;
        if ((rc = eval(e->root, &c, &v)) != 0)
            goto fail;
        rc = vec_to_column(&v, nb->columns[oc].type, &nb->columns[oc]);
        vec_free(&v);
        oc++;
    }
    if (rc == 0)
        rc = weir_batch_finish_rows(nb);
    if (rc == 0 && nb->ncolumns == 0)
        nb->nrows = b->nrows;
    if (rc != 0)
        goto fail;
    weir_type_destroy(schema);
    *out = nb;
    return 0;
fail:
    weir_batch_destroy(nb);
    weir_type_destroy(schema);
    if (err && err->code)
        return err->code;
    return weir_error_set(err, rc, "projecting: %s", weir_strerror(rc));
}
