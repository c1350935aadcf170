/*
 * cgroup: find the memory limit that binds this process, in cgroup v2
 * (memory.max) or v1 (memory/memory.limit_in_bytes). A container's own
 * cgroup may say "max" while its pod's sets the limit, so every level from
 * the process's cgroup up to the mount is read and the smallest wins.
 * Start-up only.
 */
#include "server/cgroup.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stashd/util/num.h"

/* cgroup v1 reports "no limit" as the largest page-aligned long. */
#define CGROUP_V1_UNLIMITED ((uint64_t)1 << 62)

/* A cgroup limit file: a number of bytes, or "max" (v2: no limit).
 * 0 with *limit set (UINT64_MAX for none), or -errno. */
static int
cgroup_read_limit(const char *path, uint64_t *limit)
{
    char text[64];
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        return -errno;
    }
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ')) {
        n--;
    }
    text[n] = '\0';
    if (strcmp(text, "max") == 0) {
        *limit = UINT64_MAX;
        return 0;
    }
    uint64_t v;
    if (!num_parse_u64(text, n, &v)) {
        return -EINVAL;
    }
    *limit = v >= CGROUP_V1_UNLIMITED ? UINT64_MAX : v;
    return 0;
}

/*
 * Fold the limits on dir and each of its ancestors up to base (the
 * hierarchy's mount) into *best: a limit set on the pod's cgroup binds a
 * container whose own cgroup says "max". *found counts the files read.
 */
static void
cgroup_walk(const char *base, const char *self, const char *file, uint64_t *best, char *src,
            size_t srclen, int *found)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    size_t blen = strlen(base);
    if ((size_t)snprintf(dir, sizeof(dir), "%s%s", base, self) >= sizeof(dir)) {
        return;
    }
    for (;;) {
        size_t len = strlen(dir);
        while (len > blen && dir[len - 1] == '/') {
            dir[--len] = '\0';
        }
        uint64_t v = UINT64_MAX;
        snprintf(path, sizeof(path), "%s/%s", dir, file);
        if (cgroup_read_limit(path, &v) == 0) {
            /* src: the file that set the limit, else the first one read */
            if (++*found == 1 || v < *best) {
                snprintf(src, srclen, "%s", path);
            }
            *best = v < *best ? v : *best;
        }
        if (len <= blen) {
            return;
        }
        char *slash = strrchr(dir + blen, '/');
        if (slash == NULL) {
            return;
        }
        *slash = '\0';
    }
}

uint64_t
cgroup_memory_limit(char *src, size_t srclen)
{
    const char *root = getenv("STASHD_CGROUP_ROOT");
    const char *proc = getenv("STASHD_CGROUP_PROC");
    char v1base[PATH_MAX], line[1024];
    char v2self[sizeof(line)] = "/", v1self[sizeof(line)] = "/";
    uint64_t best = UINT64_MAX;
    int found = 0;
    root = root != NULL && root[0] != '\0' ? root : "/sys/fs/cgroup";
    FILE *f = fopen(proc != NULL && proc[0] != '\0' ? proc : "/proc/self/cgroup", "r");
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        /* "0::/path" (v2) or "4:memory:/path" (v1, controllers comma-listed) */
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
        if (c2 == NULL || c2[1] != '/') {
            continue;
        }
        *c1 = *c2 = '\0';
        if (strcmp(line, "0") == 0 && c1[1] == '\0') {
            snprintf(v2self, sizeof(v2self), "%s", c2 + 1);
        }
        for (char *save = NULL, *t = strtok_r(c1 + 1, ",", &save); t != NULL;
             t = strtok_r(NULL, ",", &save)) {
            if (strcmp(t, "memory") == 0) {
                snprintf(v1self, sizeof(v1self), "%s", c2 + 1);
            }
        }
    }
    if (f != NULL) {
        fclose(f);
    }
    cgroup_walk(root, v2self, "memory.max", &best, src, srclen, &found);
    snprintf(v1base, sizeof(v1base), "%s/memory", root);
    cgroup_walk(v1base, v1self, "memory.limit_in_bytes", &best, src, srclen, &found);
    if (found == 0) {
        snprintf(src, srclen, "no memory.max or memory/memory.limit_in_bytes under %s", root);
    }
    return best;
}
