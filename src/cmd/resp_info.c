/*
 * resp_info: INFO, with Redis's sections and field names, so that
 * redis_exporter and the like can scrape stashd (CONFIG is in
 * resp_config.c, COMMAND and TIME in resp_command.c).
 *
 * The section bodies are generated from the table of figures
 * (cmd/stats_render.c), which also says what `stats reset` and CONFIG
 * RESETSTAT do to them; nothing here is on a hot path.
 */
#include <stddef.h>

#include "cmd/resp_arg.h"
#include "cmd/resp_cmdstats.h"
#include "cmd/resp_internal.h"
#include "cmd/resp_reply.h"
#include "cmd/stats_render.h"
#include "stashd/util/buf.h"

/* --- INFO ---------------------------------------------------------------------- */

enum {
    SEC_SERVER = 1u << 0,
    SEC_CLIENTS = 1u << 1,
    SEC_MEMORY = 1u << 2,
    SEC_PERSISTENCE = 1u << 3,
    SEC_STATS = 1u << 4,
    SEC_REPLICATION = 1u << 5,
    SEC_CPU = 1u << 6,
    SEC_MODULES = 1u << 7,
    SEC_CLUSTER = 1u << 8,
    SEC_KEYSPACE = 1u << 9,
    SEC_COMMANDSTATS = 1u << 10,
    SEC_ERRORSTATS = 1u << 11,
    /* INFO, INFO default: every section but commandstats; INFO all and
     * everything add it (Redis 7.0's latencystats is not kept). */
    SEC_ALL = (1u << 12) - 1,
    SEC_DEFAULT = SEC_ALL & ~SEC_COMMANDSTATS,
};

/* INFO's sections, in Redis's order; a body is generated from the table of
 * figures (cmd/stats_render.c), but commandstats and errorstats, which
 * cmd/resp_cmdstats.c keeps per command and per error. */
static const struct {
    const char *name;
    unsigned bit;
    enum stats_info_section sec;
} sections[] = {
    {"server", SEC_SERVER, STATS_INFO_SERVER},
    {"clients", SEC_CLIENTS, STATS_INFO_CLIENTS},
    {"memory", SEC_MEMORY, STATS_INFO_MEMORY},
    {"persistence", SEC_PERSISTENCE, STATS_INFO_PERSISTENCE},
    {"stats", SEC_STATS, STATS_INFO_STATS},
    {"replication", SEC_REPLICATION, STATS_INFO_REPLICATION},
    {"cpu", SEC_CPU, STATS_INFO_CPU},
    {"modules", SEC_MODULES, STATS_INFO_MODULES},
    {"commandstats", SEC_COMMANDSTATS, STATS_INFO_MODULES},
    {"errorstats", SEC_ERRORSTATS, STATS_INFO_MODULES},
    {"cluster", SEC_CLUSTER, STATS_INFO_CLUSTER},
    {"keyspace", SEC_KEYSPACE, STATS_INFO_KEYSPACE},
};

void
resp_cmd_info(struct resp_exec *x)
{
    unsigned want = 0;
    if (x->argc == 1) {
        want = SEC_DEFAULT;
    }
    for (size_t i = 1; i < x->argc; i++) {
        struct bstr a = x->argv[i];
        if (resp_arg_is(a, "all") || resp_arg_is(a, "everything")) {
            want |= SEC_ALL;
        } else if (resp_arg_is(a, "default")) {
            want |= SEC_DEFAULT;
        }
        for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]); j++) {
            if (resp_arg_is(a, sections[j].name)) {
                want |= sections[j].bit;
            }
        }
    }
    struct buf *b = &x->c->scratch;
    buf_reset(b);
    int rc = 0;
    unsigned done = 0;
    for (size_t j = 0; j < sizeof(sections) / sizeof(sections[0]) && rc == 0; j++) {
        if (!(want & sections[j].bit)) {
            continue;
        }
        if (done++ > 0) {
            rc = buf_append(b, "\r\n", 2);
        }
        unsigned bit = sections[j].bit;
        if (bit == SEC_COMMANDSTATS) {
            rc = rc ? rc : resp_cmdstats_info_commands(x, b);
            continue;
        }
        if (bit == SEC_ERRORSTATS) {
            rc = rc ? rc : resp_cmdstats_info_errors(x, b);
            continue;
        }
        if (bit == SEC_KEYSPACE) {
            rc = rc ? rc : resp_info_keyspace(x, b); /* per database: resp_db.c */
            continue;
        }
        rc = rc ? rc : stats_render_info(x->s, sections[j].sec, RESP_COMPAT_VERSION, b);
        if (bit == SEC_STATS) {
            rc = rc ? rc
                    : buf_appendf(b, "total_error_replies:%llu\r\n",
                                  (unsigned long long)resp_cmdstats_total_errors(x));
        }
    }
    resp_reply_fail(x, rc);
    resp_reply_verbatim(x, b->data != NULL ? b->data + b->rpos : "", buf_readable(b));
    buf_reset(b);
}
