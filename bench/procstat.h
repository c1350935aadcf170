/*
 * What stashd-bench reads of the server's process in /proc (--server-pid):
 * CPU time, sampled at both ends of the measured window so that the report
 * can give server CPU per request, and resident memory at the end. Both
 * are read with one open, one read and one close; neither is on a worker's
 * path.
 */
#pragma once

/* utime + stime of pid in seconds, from /proc/PID/stat; -1 when it cannot
 * be read (the process is gone, or is not ours to see). */
double procstat_cpu_s(long pid);

/* VmRSS of pid in KiB, from /proc/PID/status; -1 when it cannot be read. */
long procstat_rss_kb(long pid);
