/*
 * /proc sampling for --server-pid. /proc/PID/stat is one line whose second
 * field, the command name in parentheses, may itself hold spaces and
 * parentheses: the fields are counted from the last ')'.
 */
#include "procstat.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The context switches of every thread of pid, or -1. A server sleeps in
 * epoll_wait when it has nothing to do and wakes for the next request: a
 * voluntary switch each time. How many requests it serves a wake-up says
 * how saturated it was, and CPU per request depends on it. */
static long long
switches_of(long pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    DIR *d = opendir(path);
    if (d == NULL) {
        return -1;
    }
    long long total = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9') {
            continue;
        }
        char spath[300], line[256];
        snprintf(spath, sizeof(spath), "/proc/%ld/task/%s/status", pid, de->d_name);
        FILE *f = fopen(spath, "r");
        if (f == NULL) {
            continue; /* the thread ended */
        }
        while (fgets(line, sizeof(line), f)) {
            long long v;
            if (sscanf(line, "voluntary_ctxt_switches: %lld", &v) == 1 ||
                sscanf(line, "nonvoluntary_ctxt_switches: %lld", &v) == 1) {
                total += v;
            }
        }
        fclose(f);
    }
    closedir(d);
    return total;
}

int
procstat_cpu(long pid, struct procstat_cpu *c)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL) {
        return -1;
    }
    /* Fields after the command: state(3) ... utime(14) stime(15). */
    unsigned long long ut, st;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2) {
        return -1;
    }
    double hz = (double)sysconf(_SC_CLK_TCK);
    c->user = (double)ut / hz;
    c->sys = (double)st / hz;
    c->switches = switches_of(pid);
    return 0;
}

long
procstat_rss_kb(long pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -1;
    }
    long kb = -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    return kb;
}
