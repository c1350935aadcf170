/*
 * prom: the Prometheus page (see cmd/prom.h). Every fixed series comes from
 * the table of figures (cmd/stats_render.c); what is left here is the
 * hot-key series, one per key, whose label values are the keys.
 */
#include "stashd/cmd/prom.h"

#include <stddef.h>

#include "cmd/stats_render.h"
#include "stashd/cmd/hotkeys.h"
#include "stashd/cmd/session.h"
#include "stashd/util/buf.h"
#include "stashd/util/options.h"

static int
header(struct buf *b, const char *name, const char *type, const char *help)
{
    return buf_appendf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* stashd_hot_key_requests{key}: the ten most read keys (label escaped as
 * the exposition format requires; other bytes pass through). */
static int
render_hotkeys(const struct cmd_env *env, struct buf *b)
{
    struct hotkeys_entry top[10];
    size_t k = env->hotkeys != NULL ? hotkeys_top(env->hotkeys, env->nhotkeys, top, 10) : 0;
    int rc = header(b, "stashd_hot_key_requests", "gauge",
                    "Estimated reads of the most read keys (sampled Space-Saving).");
    for (size_t i = 0; i < k && rc == 0; i++) {
        rc = BUF_APPEND_LIT(b, "stashd_hot_key_requests{key=\"");
        for (size_t j = 0; j < top[i].len && rc == 0; j++) {
            char ch = top[i].key[j];
            rc = ch == '\\'   ? buf_append(b, "\\\\", 2)
                 : ch == '"'  ? buf_append(b, "\\\"", 2)
                 : ch == '\n' ? buf_append(b, "\\n", 2)
                              : buf_append(b, &ch, 1);
        }
        rc = rc ? rc : buf_appendf(b, "\"} %llu\n", (unsigned long long)top[i].count);
    }
    return rc;
}

int
prom_render(const struct cmd_env *env, const struct prom_net_figures *nf, struct buf *out)
{
    int rc = stats_render_prom(env, nf != NULL && nf->ready, out);
    /* Key names are often user or session ids: only on the operator's
     * word (--metrics-hotkeys). */
    if (env->opts->metrics_hotkeys) {
        rc = rc ? rc : render_hotkeys(env, out);
    }
    return rc;
}
