/*
 * The live progress line (see progress.h). Only the main thread runs this,
 * between its sleeps; every write is one fwrite of a whole line, so that
 * the terminal never shows half of one.
 */
#include "progress.h"

#include <string.h>
#include <unistd.h>

#define NS_PER_S 1000000000ull
#define LINE_MAX_LEN 160

/* v in decimal with a comma between groups of three digits. */
static void
group_thousands(char *buf, size_t n, uint64_t v)
{
    char digits[24];
    int len = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    size_t o = 0;
    for (int i = 0; i < len && o + 1 < n; i++) {
        if (i > 0 && (len - i) % 3 == 0 && o + 2 < n) {
            buf[o++] = ',';
        }
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

int
progress_format(char *buf, size_t n, double elapsed_s, const char *phase, double ops_s,
                double hit_ratio, uint64_t errors)
{
    char ops[32], hits[16];
    group_thousands(ops, sizeof(ops), ops_s > 0 ? (uint64_t)(ops_s + 0.5) : 0);
    if (hit_ratio < 0) {
        snprintf(hits, sizeof(hits), "%6s", "-");
    } else {
        snprintf(hits, sizeof(hits), "%5.1f%%", hit_ratio * 100);
    }
    return snprintf(buf, n, "stashd-bench %6.1f s  %-8s %13s ops/s  hits %s  errors %llu",
                    elapsed_s, phase, ops, hits, (unsigned long long)errors);
}

void
progress_init(struct progress *p, const struct options *o, FILE *f, uint64_t now)
{
    *p = (struct progress){.next_ns = UINT64_MAX};
    if (o->quiet || !isatty(fileno(f))) {
        return;
    }
    p->f = f;
    p->t0 = p->last_ns = now;
    p->next_ns = now + NS_PER_S;
}

/* Writes len bytes of buf, then spaces over what is left of the line
 * shown before, in one fwrite. */
static void
put_line(struct progress *p, char *buf, int len, size_t cap)
{
    int pad = p->shown > len - 1 ? p->shown - (len - 1) : 0; /* buf[0] is '\r' */
    if ((size_t)(len + pad) >= cap) {
        pad = (int)cap - 1 - len;
    }
    memset(buf + len, ' ', (size_t)pad);
    fwrite(buf, 1, (size_t)(len + pad), p->f);
    fflush(p->f);
    p->shown = len - 1;
}

void
progress_tick(struct progress *p, const struct engine *e, uint64_t now)
{
    if (p->f == NULL || now < p->next_ns) {
        return;
    }
    struct engine_progress cur;
    engine_progress(e, &cur);
    double dt = (double)(now - p->last_ns) / 1e9;
    double ops_s = dt > 0 ? (double)(cur.done - p->last.done) / dt : 0;
    uint64_t hits = cur.hits - p->last.hits;
    uint64_t lookups = hits + (cur.misses - p->last.misses);
    double ratio = lookups ? (double)hits / (double)lookups : -1;

    char buf[LINE_MAX_LEN * 2];
    buf[0] = '\r';
    int len = progress_format(buf + 1, LINE_MAX_LEN, (double)(now - p->t0) / 1e9,
                              engine_phase_name(e, now), ops_s, ratio, cur.errors);
    if (len > 0) {
        put_line(p, buf, 1 + (len < LINE_MAX_LEN ? len : LINE_MAX_LEN - 1), sizeof(buf));
    }
    p->last = cur;
    p->last_ns = now;
    /* A late wake-up (a busy machine) shows one line, not a burst. */
    p->next_ns += NS_PER_S;
    if (p->next_ns <= now) {
        p->next_ns = now + NS_PER_S;
    }
}

void
progress_clear(struct progress *p)
{
    if (p->f == NULL || p->shown == 0) {
        return;
    }
    char buf[LINE_MAX_LEN + 2];
    int n = p->shown < LINE_MAX_LEN ? p->shown : LINE_MAX_LEN;
    buf[0] = '\r';
    memset(buf + 1, ' ', (size_t)n);
    buf[n + 1] = '\r';
    fwrite(buf, 1, (size_t)n + 2, p->f);
    fflush(p->f);
    p->shown = 0;
}
