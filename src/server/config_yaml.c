/*
 * config_yaml: --config FILE. The file is a single mapping of
 * `key: scalar` (or `key: [scalars]` for a list) whose keys are the
 * option table's field names, read with libyaml's event API so that every
 * error names a line:
 *
 *     STREAM_START DOCUMENT_START MAPPING_START
 *         (SCALAR key, SCALAR value | SEQUENCE_START SCALAR* SEQUENCE_END)*
 *     MAPPING_END DOCUMENT_END STREAM_END
 *
 * Values go through util/optdesc, as on the command line. This is the
 * only file that includes yaml.h: libyaml is linked by server/ alone.
 */
#include "server/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include <yaml.h>

#include "stashd/util/optdesc.h"

struct yaml_ctx {
    struct options *o;
    yaml_parser_t parser;
    const char *path;
    char *err;
    size_t errlen;
    bool seen[CONFIG_NOPTS];
};

static int yaml_fail(struct yaml_ctx *y, size_t line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
yaml_fail(struct yaml_ctx *y, size_t line, const char *key, const char *fmt, ...)
{
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (key != NULL) {
        snprintf(y->err, y->errlen, "config %s line %zu: key '%s': %s", y->path, line, key, why);
    } else {
        snprintf(y->err, y->errlen, "config %s line %zu: %s", y->path, line, why);
    }
    return -EINVAL;
}

static int
yaml_next(struct yaml_ctx *y, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&y->parser, ev)) {
        const char *problem = y->parser.problem != NULL ? y->parser.problem : "syntax error";
        return yaml_fail(y, y->parser.problem_mark.line + 1, NULL, "%s", problem);
    }
    return 0;
}

/* Pull one event and insist on its type. */
static int
yaml_expect(struct yaml_ctx *y, yaml_event_type_t type, const char *what)
{
    yaml_event_t ev;
    if (yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    int rc = 0;
    if (ev.type != type) {
        rc = yaml_fail(y, ev.start_mark.line + 1, NULL, "expected %s", what);
    }
    yaml_event_delete(&ev);
    return rc;
}

/* A plain empty, "~" or "null" scalar means "no value": the empty string. */
static const char *
scalar_text(const yaml_event_t *ev)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL"};
    const char *s = (const char *)ev->data.scalar.value;
    if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++) {
            if (strcmp(s, nulls[i]) == 0) {
                return "";
            }
        }
    }
    return s;
}

static int
yaml_set(struct yaml_ctx *y, const struct optdesc *d, const char *text, bool append, size_t line)
{
    char why[256];
    if (optdesc_set(y->o, d, text, append, why, sizeof(why)) != 0) {
        return yaml_fail(y, line, d->name, "%s", why);
    }
    return 0;
}

/* key: [a, b] or key:\n  - a\n  - b; the sequence replaces the list. */
static int
yaml_sequence(struct yaml_ctx *y, const struct optdesc *d)
{
    optdesc_release(y->o, d);
    for (;;) {
        yaml_event_t ev;
        int rc;
        if (yaml_next(y, &ev) != 0) {
            return -EINVAL;
        }
        size_t line = ev.start_mark.line + 1;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            rc = 1;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            rc = yaml_set(y, d, scalar_text(&ev), true, line);
        } else {
            rc = yaml_fail(y, line, d->name, "list items must be single values");
        }
        yaml_event_delete(&ev);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
    }
}

static int
yaml_value(struct yaml_ctx *y, const struct optdesc *d)
{
    yaml_event_t ev;
    int rc;
    if (yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    size_t line = ev.start_mark.line + 1;
    switch (ev.type) {
    case YAML_SCALAR_EVENT:
        rc = yaml_set(y, d, scalar_text(&ev), false, line);
        break;
    case YAML_SEQUENCE_START_EVENT:
        rc = d->type == OPT_LIST
                 ? yaml_sequence(y, d)
                 : yaml_fail(y, line, d->name, "expected a single value, not a list");
        break;
    case YAML_MAPPING_START_EVENT:
        rc = yaml_fail(y, line, d->name, "expected a value, not a mapping");
        break;
    default:
        rc = yaml_fail(y, line, d->name, "expected a value");
        break;
    }
    yaml_event_delete(&ev);
    return rc;
}

static int
yaml_pair(struct yaml_ctx *y, const char *key, size_t line)
{
    const struct optdesc *d = optdesc_find(key);
    if (d == NULL) {
        for (size_t i = 0; i < optdesc_count(); i++) {
            if (strcmp(optdesc_at(i)->long_flag, key) == 0) {
                return yaml_fail(y, line, key, "unknown key (did you mean '%s'?)",
                                 optdesc_at(i)->name);
            }
        }
        return yaml_fail(y, line, key, "unknown key");
    }
    size_t idx = optdesc_index(d);
    if (y->seen[idx]) {
        return yaml_fail(y, line, key, "given more than once");
    }
    y->seen[idx] = true;
    return yaml_value(y, d);
}

static int
yaml_mapping(struct yaml_ctx *y)
{
    for (;;) {
        yaml_event_t ev;
        int rc;
        if (yaml_next(y, &ev) != 0) {
            return -EINVAL;
        }
        size_t line = ev.start_mark.line + 1;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            rc = 1;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            rc = yaml_pair(y, (const char *)ev.data.scalar.value, line);
        } else {
            rc = yaml_fail(y, line, NULL, "keys must be option names");
        }
        yaml_event_delete(&ev);
        if (rc != 0) {
            return rc > 0 ? 0 : rc;
        }
    }
}

static int
yaml_document(struct yaml_ctx *y)
{
    yaml_event_t ev;
    int rc;
    if (yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    size_t line = ev.start_mark.line + 1;
    if (ev.type == YAML_MAPPING_START_EVENT) {
        rc = yaml_mapping(y);
    } else if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0) {
        rc = 0; /* "---" and nothing else */
    } else {
        rc = yaml_fail(y, line, NULL, "the top level must be a mapping of key: value");
    }
    yaml_event_delete(&ev);
    if (rc == 0) {
        rc = yaml_expect(y, YAML_DOCUMENT_END_EVENT, "the end of the document");
    }
    return rc;
}

static int
yaml_stream(struct yaml_ctx *y)
{
    yaml_event_t ev;
    if (yaml_expect(y, YAML_STREAM_START_EVENT, "a YAML stream") != 0 || yaml_next(y, &ev) != 0) {
        return -EINVAL;
    }
    yaml_event_type_t type = ev.type;
    size_t line = ev.start_mark.line + 1;
    yaml_event_delete(&ev);
    if (type == YAML_STREAM_END_EVENT) {
        return 0; /* empty file, or only comments */
    }
    if (type != YAML_DOCUMENT_START_EVENT) {
        return yaml_fail(y, line, NULL, "expected a YAML document");
    }
    if (yaml_document(y) != 0) {
        return -EINVAL;
    }
    return yaml_expect(y, YAML_STREAM_END_EVENT, "one YAML document only");
}

/* Run the parser over input already set on y->parser; frees the parser. */
static int
yaml_run(struct yaml_ctx *y)
{
    int rc = yaml_stream(y);
    yaml_parser_delete(&y->parser);
    return rc;
}

int
config_load_yaml(struct options *o, const char *path, char *err, size_t errlen)
{
    struct yaml_ctx y = {.o = o, .path = path, .err = err, .errlen = errlen};
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        int rc = -errno;
        snprintf(err, errlen, "config %s: %s", path, strerror(errno));
        return rc;
    }
    if (!yaml_parser_initialize(&y.parser)) {
        fclose(f);
        snprintf(err, errlen, "config %s: out of memory", path);
        return -ENOMEM;
    }
    yaml_parser_set_input_file(&y.parser, f);
    int rc = yaml_run(&y);
    fclose(f);
    return rc;
}

int
config_load_yaml_buf(struct options *o, const char *name, const void *data, size_t len, char *err,
                     size_t errlen)
{
    struct yaml_ctx y = {.o = o, .path = name, .err = err, .errlen = errlen};
    if (!yaml_parser_initialize(&y.parser)) {
        snprintf(err, errlen, "config %s: out of memory", name);
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)data, len);
    return yaml_run(&y);
}
