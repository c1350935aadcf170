/*
 * config: what is checked once every option is read (config_finish) and
 * --help. The checks here are the ones a table row cannot make alone:
 * threads = 0 becomes the number of online CPUs, memory_limit "auto"
 * becomes what the cgroup memory limit leaves for items once the layers
 * below have what they may use, and an item may use at most half of -m.
 */
#include "server/config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <unistd.h>

#include "server/cgroup.h"
#include "stashd/net/net.h"
#include "stashd/util/log.h"
#include "stashd/util/optdesc.h"

/*
 * -m auto: the item memory is the container's memory limit less what the
 * process uses beyond -m (README, "Memory", measured with
 * tests/integration/test_memcap.py and tests/soak/soak.py):
 *
 *     RSS <= m + m / 8 + AUTO_FIXED + connection-buffer budget
 *
 * AUTO_FIXED covers code, stacks, allocator metadata and freed memory not
 * yet returned to the kernel (measured peaks: 24-31 MiB); m / 8 the hash
 * tables (at most ~11 bytes per item, items of at least ~88 bytes) and
 * slack that grows with m. The budget is net/'s NET_CONN_BUDGET or, when
 * larger, one slow reader of maximal values per worker (NET_CONN_WORST).
 * So:
 *
 *     m = (cgroup_limit - AUTO_FIXED - budget) * 8 / 9
 */
#define AUTO_FIXED ((uint64_t)48 << 20)
/* Below this an "auto" limit is refused rather than run starved. */
#define AUTO_MIN ((uint64_t)8 << 20)

static const char *
label_of(const char *name, char *buf, size_t len)
{
    return optdesc_label(optdesc_find(name), buf, len);
}

/* Replace memory_limit "auto" by what the cgroup limit leaves for items. */
static int
resolve_memory_auto(struct options *o, char *err, size_t errlen)
{
    char src[PATH_MAX + 32], label[64];
    label_of("memory_limit", label, sizeof(label));
    uint64_t limit = cgroup_memory_limit(src, sizeof(src));
    if (limit == UINT64_MAX) {
        snprintf(err, errlen,
                 "%s auto: no cgroup memory limit is set (%s; no limit on this cgroup or "
                 "its parents); give the item memory in megabytes instead",
                 label, src);
        return -EINVAL;
    }
    uint64_t budget = (uint64_t)o->threads * NET_CONN_WORST(o->max_item_size);
    budget = budget > NET_CONN_BUDGET ? budget : NET_CONN_BUDGET;
    uint64_t reserve = AUTO_FIXED + budget;
    if (limit < reserve || (limit - reserve) / 9 * 8 < AUTO_MIN) {
        uint64_t need = (reserve + AUTO_MIN / 8 * 9 + (1 << 20) - 1) >> 20;
        snprintf(err, errlen,
                 "%s auto: the cgroup memory limit (%" PRIu64 " bytes, %s) is too small; "
                 "with -t %" PRId64 " and -I %" PRIu64 " -m auto needs at least %" PRIu64 " MiB",
                 label, limit, src, o->threads, o->max_item_size, need);
        return -EINVAL;
    }
    o->memory_limit = (limit - reserve) / 9 * 8 >> 20 << 20; /* whole MiB, as -m N */
    log_info("memory_limit auto: cgroup limit %" PRIu64 " MiB (%s) leaves %" PRIu64
             " MiB for items",
             limit >> 20, src, o->memory_limit >> 20);
    return 0;
}

int
config_finish(struct options *o, char *err, size_t errlen)
{
    char label[64], mlabel[64];
    if (options_validate(o, err, errlen) != 0) {
        return -EINVAL;
    }
    if (o->threads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        int64_t max = optdesc_find("threads")->max;
        o->threads = n < 1 ? 1 : n > max ? max : n;
    }
    /* -m auto depends on -t and -I (the connection-buffer budget). */
    if (o->memory_limit == OPTIONS_MB_AUTO && resolve_memory_auto(o, err, errlen) != 0) {
        return -EINVAL;
    }
    /* memcached's rule and words (memcached.c, "Cannot set item size limit
     * higher than 1/2 of memory max."): an item may use at most half of -m. */
    if (o->max_item_size > o->memory_limit / 2) {
        snprintf(err, errlen,
                 "%s: cannot set item size limit (%" PRIu64 " bytes) higher than 1/2 of "
                 "memory max (%s, %" PRIu64 " bytes)",
                 label_of("max_item_size", label, sizeof(label)), o->max_item_size,
                 label_of("memory_limit", mlabel, sizeof(mlabel)), o->memory_limit);
        return -EINVAL;
    }
    return 0;
}

void
config_print_help(FILE *out)
{
    fprintf(out, "Usage: stashd [options]\n"
                 "memcached 1.6's flags are accepted; --config FILE is read first and the\n"
                 "command line overrides it.\n\n");
    options_print_help(out);
    config_cli_print_help(out);
}
