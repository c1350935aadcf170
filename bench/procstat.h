/*
 * What stashd-bench reads of the server's process in /proc (--server-pid):
 * CPU time and its threads' context switches, sampled at both ends of the
 * measured window so that the report can give server CPU per request and
 * requests per wake-up, and resident memory at the end. The CPU time and
 * the memory are one open, one read and one close each; the switches one
 * status file per thread. None of it is on a worker's path.
 */
#pragma once

/* A process's CPU time in seconds, split as the kernel accounts it. */
struct procstat_cpu {
    double user; /* utime: the server's own code */
    double sys;  /* stime: the kernel on its behalf (socket reads and writes) */
    /* Context switches of all its threads (voluntary and not, from
     * /proc/PID/task/TID/status): how often it slept and woke. -1 when
     * they cannot be read. */
    long long switches;
};

/* pid's utime and stime from /proc/PID/stat into *c, and its threads'
 * context switches: 0, or -1 when the times cannot be read (the process
 * is gone, or is not ours to see). */
int procstat_cpu(long pid, struct procstat_cpu *c);

/* VmRSS of pid in KiB, from /proc/PID/status; -1 when it cannot be read. */
long procstat_rss_kb(long pid);
