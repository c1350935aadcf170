/*
 * cgroup: the memory limit this process runs under, as a container
 * runtime or Kubernetes sets it, for -m auto (server/config.c).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * This process's memory limit from its cgroup: v2 memory.max or v1
 * memory.limit_in_bytes, the smallest on the way from its own cgroup (named
 * in /proc/self/cgroup) to the hierarchy's root. The mount is
 * $STASHD_CGROUP_ROOT (default /sys/fs/cgroup) and /proc/self/cgroup is
 * $STASHD_CGROUP_PROC when set, so that tests can fake both. UINT64_MAX
 * when no limit is set anywhere; src names the file that set it (or the
 * first place looked at).
 */
uint64_t cgroup_memory_limit(char *src, size_t srclen);
