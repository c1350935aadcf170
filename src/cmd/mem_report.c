#include "cmd/mem_report.h"

#include <stdio.h>
#include <unistd.h>

uint64_t
mem_resident_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

void
mem_report_fill(struct mem_report *r, const struct metrics *m, const struct store_stats *st)
{
    r->items = st->total_malloced;
    r->hash = st->hash_bytes;
    r->conn_buffers = m->conn_buffer_bytes;
    r->total = r->items + r->hash + r->conn_buffers;
    r->resident = mem_resident_bytes();
    r->other = r->resident > r->total ? r->resident - r->total : 0;
}
