/*
 * restart: saving the memory file's metadata at a clean stop, and
 * restoring from it at start (see restart.h for the design).
 *
 * The metadata is native binary (the same build reads what it wrote: an
 * endianness mark and the format versions refuse anything else), a few
 * dozen bytes per segment and per shard: 1 GiB of items in 1 MiB
 * segments over 4096 shards is about 120 KiB.
 *
 * Checksums and the item walk run on several threads (segments handed
 * out from a counter): a restore of 1 GiB is bound by reading it once
 * (README "Warm restart" has the measured times).
 */
#include "store/restart.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stashd/util/clock.h"
#include "stashd/util/hash.h"
#include "stashd/util/log.h"
#include "store/store_int.h"

/* Threads that checksum and walk segments (no more than there are CPUs). */
#define RESTART_THREADS_MAX 16
/* A relative clock past this is refused (68 years: 32-bit times wrap). */
#define REL_MAX ((uint32_t)1 << 31)

struct restart_meta {
    const struct meta_head *head;
    const struct meta_seg *segs;
    const struct meta_shard *shards;
    void *buf;
};

/* --- files ------------------------------------------------------------------- */

/* path + suffix, or NULL. */
static char *
path_with(const char *path, const char *suffix)
{
    size_t n = strlen(path), k = strlen(suffix);
    char *p = malloc(n + k + 1);
    if (p != NULL) {
        memcpy(p, path, n);
        memcpy(p + n, suffix, k + 1);
    }
    return p;
}

/* Make a rename or an unlink in path's directory durable. */
static int
sync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        return -ENOMEM;
    }
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0) {
        return -errno;
    }
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* All of len bytes read into p (wr false) or written from it: 0, or
 * -errno (-EIO at an early end). */
static int
io_all(int fd, char *p, size_t len, bool wr)
{
    while (len > 0) {
        ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
restart_clear(int fd, uint64_t file_size)
{
    if (ftruncate(fd, 0) != 0 || ftruncate(fd, (off_t)file_size) != 0) {
        return -errno;
    }
    return 0;
}

/* --- reading and checking the metadata --------------------------------------- */

static size_t
meta_size(uint64_t nrecs, uint64_t nshards)
{
    return sizeof(struct meta_head) + nrecs * sizeof(struct meta_seg) +
           nshards * sizeof(struct meta_shard) + sizeof(uint64_t);
}

static void say(struct store_restart_info *info, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
say(struct store_restart_info *info, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(info->reason, sizeof(info->reason), fmt, ap);
    va_end(ap);
}

/* Does the head describe a store of this shape? If not, info says how not. */
static bool
shape_matches(const struct meta_head *h, const struct restart_shape *sh,
              struct store_restart_info *info)
{
    if (h->item_format != ITEM_FORMAT) {
        say(info, "its items are of format %u, this build's of format %u", h->item_format,
            ITEM_FORMAT);
    } else if (h->memory_limit != sh->memory_limit) {
        say(info, "the memory limit changed (-m %" PRIu64 " MiB then, %" PRIu64 " MiB now)",
            h->memory_limit >> 20, sh->memory_limit >> 20);
    } else if (h->cas_enabled != sh->cas_enabled) {
        say(info, "-C changed (cas %s then, %s now)", h->cas_enabled ? "on" : "off",
            sh->cas_enabled ? "on" : "off");
    } else if (h->ndb != sh->ndb) {
        say(info, "the number of databases changed (%u then, %u now)", h->ndb, sh->ndb);
    } else if (h->nshards != sh->nshards) {
        say(info, "the shard count changed (%u then, %u now)", h->nshards, sh->nshards);
    } else if (h->seg_size != sh->seg_size || h->nsegs != sh->nsegs ||
               h->ref_shift != sh->ref_shift || h->file_size != sh->file_size) {
        say(info, "the arena's geometry changed (%u segments of %u bytes then, %u of %u now)",
            h->nsegs, h->seg_size, sh->nsegs, sh->seg_size);
    } else if (strncmp(h->tag, sh->tag != NULL ? sh->tag : "", META_TAG_MAX) != 0) {
        say(info, "settings changed (%.*s then, %s now)", META_TAG_MAX,
            h->tag[0] != '\0' ? h->tag : "none",
            sh->tag != NULL && sh->tag[0] != '\0' ? sh->tag : "none");
    } else {
        return true;
    }
    return false;
}

/* Check a metadata image of len bytes against the shape and the file's
 * length; info says why not. */
static bool
meta_check(const char *buf, size_t len, const struct restart_shape *sh, uint64_t file_len,
           struct store_restart_info *info)
{
    const struct meta_head *h = (const struct meta_head *)buf;
    uint64_t sum;
    if (len < meta_size(0, 0)) {
        say(info, "its metadata is truncated (%zu bytes)", len);
        return false;
    }
    memcpy(&sum, buf + len - sizeof(sum), sizeof(sum));
    if (hash_checksum(buf, len - sizeof(sum), META_SUM_SEED) != sum) {
        say(info, "its metadata does not match its checksum (damaged or truncated)");
        return false;
    }
    if (memcmp(h->magic, META_MAGIC, sizeof(h->magic)) != 0 || h->version != META_VERSION ||
        h->endian != META_ENDIAN || h->head_size != sizeof(*h)) {
        say(info, "its metadata is of another format or version");
        return false;
    }
    if (!shape_matches(h, sh, info)) {
        return false;
    }
    if (h->nrecs > h->nsegs || len != meta_size(h->nrecs, h->nshards)) {
        say(info, "its metadata is inconsistent (%u segments recorded)", h->nrecs);
        return false;
    }
    if (file_len != h->file_size) {
        say(info,
            "the file is %" PRIu64 " bytes, not the %" PRIu64 " its metadata describes "
            "(truncated or replaced)",
            file_len, h->file_size);
        return false;
    }
    if (h->tag[META_TAG_MAX - 1] != '\0' || h->stop_rel < 2 || h->stop_rel >= REL_MAX) {
        say(info, "its metadata is inconsistent (clock %u)", h->stop_rel);
        return false;
    }
    /* SWAPDB's map: a permutation of the databases, 0 past them. */
    bool seen[STORE_DB_MAX] = {false};
    for (uint32_t d = 0; d < STORE_DB_MAX; d++) {
        uint8_t p = h->dbmap[d];
        if (d < h->ndb ? p >= h->ndb || seen[p] : p != 0) {
            say(info, "its metadata is inconsistent (database map)");
            return false;
        }
        seen[p] = true;
    }
    /* The shards' key counts size the indexes before the walk: they must
     * add up, and no more keys than the recorded bytes can hold (an item
     * is 16 bytes at least), so that a damaged file that kept a right
     * checksum cannot ask for more index than a real one of its size. */
    const struct meta_seg *recs = (const struct meta_seg *)(buf + sizeof(*h));
    const struct meta_shard *shards = (const struct meta_shard *)(recs + h->nrecs);
    uint64_t keys = 0, filled = 0;
    for (uint32_t i = 0; i < h->nshards; i++) {
        keys += shards[i].nitems;
        /* a flush covers the sequence as it was then: a later one would
         * hide even the items stored after the restart */
        if (shards[i].flush_seq > shards[i].cas_seq) {
            say(info, "its metadata is inconsistent (shard %u flushed ahead of its sequence)", i);
            return false;
        }
    }
    for (uint32_t k = 0; k < h->nrecs; k++) {
        filled += recs[k].fill;
    }
    if (keys != h->items || keys > filled / 16) {
        say(info, "its metadata is inconsistent (%" PRIu64 " keys in %" PRIu64 " bytes)", keys,
            filled);
        return false;
    }
    return true;
}

/* Read FILE.meta whole (bounded by the shape), then remove it; NULL with
 * info->reason when there is none or it cannot be read or removed. */
static char *
meta_take(const char *path, const struct restart_shape *sh, uint64_t file_len, size_t *lenp,
          struct store_restart_info *info)
{
    char *mpath = path_with(path, META_SUFFIX), *tpath = path_with(path, META_TMP_SUFFIX);
    char *buf = NULL;
    if (mpath == NULL || tpath == NULL) {
        say(info, "out of memory");
        goto out;
    }
    (void)unlink(tpath); /* a stop killed before its rename */
    int fd = open(mpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno != ENOENT) {
            say(info, "cannot read %s: %s", mpath, strerror(errno));
        } else if (file_len == 0) {
            say(info, "the file is new");
        } else {
            say(info, "no metadata beside it: the last stop was not clean (killed, or crashed)");
        }
        goto out;
    }
    struct stat st;
    size_t most = meta_size(sh->nsegs, sh->nshards);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > most) {
        say(info, "its metadata is not a file of at most %zu bytes", most);
    } else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        say(info, "out of memory");
    } else if (io_all(fd, buf, (size_t)st.st_size, false) != 0) {
        say(info, "cannot read %s", mpath);
        free(buf);
        buf = NULL;
    }
    *lenp = buf != NULL ? (size_t)st.st_size : 0;
    close(fd);
    /* Whatever it held, it is gone before the store is used: a crash from
     * here on leaves nothing a later start could trust. */
    if (unlink(mpath) != 0) {
        say(info, "cannot remove %s (%s): a crash would leave it behind", mpath, strerror(errno));
        free(buf);
        buf = NULL;
    } else {
        (void)sync_dir_of(path);
    }
out:
    free(mpath);
    free(tpath);
    return buf;
}

int
restart_open(const char *path, const struct restart_shape *sh, int *fdp, struct restart_meta **mp,
             struct store_restart_info *info)
{
    *mp = NULL;
    *fdp = -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = -errno;
        log_error("memory file %s: cannot open it: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    int rc = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
        log_error("memory file %s: %s", path,
                  rc == -EBUSY ? "in use by another process" : strerror(-rc));
    } else if (fstat(fd, &st) != 0) {
        rc = -errno;
        log_error("memory file %s: %s", path, strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        rc = -EINVAL;
        log_error("memory file %s: not a regular file", path);
    }
    if (rc != 0) {
        close(fd);
        return rc;
    }
    *fdp = fd;
    size_t len = 0;
    char *buf = meta_take(path, sh, (uint64_t)st.st_size, &len, info);
    if (buf == NULL) {
        return 0;
    }
    struct restart_meta *m = NULL;
    if (!meta_check(buf, len, sh, (uint64_t)st.st_size, info) ||
        (m = calloc(1, sizeof(*m))) == NULL) {
        free(buf);
        return 0;
    }
    m->buf = buf;
    m->head = (const struct meta_head *)buf;
    m->segs = (const struct meta_seg *)(buf + sizeof(struct meta_head));
    m->shards = (const struct meta_shard *)(m->segs + m->head->nrecs);
    *mp = m;
    return 0;
}

void
restart_meta_free(struct restart_meta **mp)
{
    if (*mp != NULL) {
        free((*mp)->buf);
        free(*mp);
        *mp = NULL;
    }
}

/* --- segments on several threads --------------------------------------------- */

/* Call fn(ctx) on n threads (this one included) and wait for them all. */
static void
on_threads(unsigned n, void *(*fn)(void *), void *ctx)
{
    pthread_t t[RESTART_THREADS_MAX];
    unsigned started = 0;
    for (unsigned i = 1; i < n && i < RESTART_THREADS_MAX; i++) {
        if (pthread_create(&t[started], NULL, fn, ctx) == 0) {
            started++;
        }
    }
    fn(ctx);
    for (unsigned i = 0; i < started; i++) {
        pthread_join(t[i], NULL);
    }
}

/* Threads for n segment records: the CPUs, about 8 records each at least. */
static unsigned
threads_for(uint32_t nrecs)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    uint64_t n = cpus > 0 ? (uint64_t)cpus : 1;
    n = n > RESTART_THREADS_MAX ? RESTART_THREADS_MAX : n;
    uint64_t by_work = nrecs / 8 + 1;
    return (unsigned)(n < by_work ? n : by_work);
}

static uint64_t
seg_sum(const struct segs *sg, uint32_t first, uint32_t fill)
{
    uint32_t start = seg_start(sg, first);
    return hash_checksum(seg_addr(sg, first) + start, fill - start, META_SUM_SEED);
}

/* --- saving ------------------------------------------------------------------- */

struct sum_job {
    const struct segs *sg;
    struct meta_seg *recs;
    uint32_t nrecs;
    _Atomic uint32_t next;
};

static void *
sum_worker(void *arg)
{
    struct sum_job *j = arg;
    for (;;) {
        uint32_t k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (k >= j->nrecs) {
            return NULL;
        }
        j->recs[k].sum = seg_sum(j->sg, j->recs[k].first, j->recs[k].fill);
    }
}

/* The segments in use, oldest first: the FIFO, then the heads' open
 * ones. Returns how many (at most sg->nsegs). */
static uint32_t
list_segments(const struct segs *sg, struct meta_seg *recs)
{
    uint32_t n = 0;
    for (uint32_t i = sg->fifo_head; i != SEG_NONE && n < sg->nsegs; i = sg->seg[i].next) {
        const struct seg *sd = &sg->seg[i];
        recs[n++] = (struct meta_seg){
            .first = i,
            .nsegs = sd->nsegs,
            .fill = atomic_load_explicit(&sd->fill, memory_order_relaxed),
            .sealed_at = sd->sealed_at,
        };
    }
    for (uint32_t h = 0; h < sg->nheads; h++) {
        for (unsigned k = 0; k < HEAD_OPEN && n < sg->nsegs; k++) {
            uint32_t i = sg->heads[h].open[k];
            if (i != SEG_NONE) {
                recs[n++] = (struct meta_seg){
                    .first = i,
                    .nsegs = 1,
                    .fill = atomic_load_explicit(&sg->seg[i].fill, memory_order_relaxed),
                };
            }
        }
    }
    return n;
}

/* Write buf to FILE.meta.tmp, sync it, rename it to FILE.meta. */
static int
meta_write(const char *path, char *buf, size_t len)
{
    char *mpath = path_with(path, META_SUFFIX), *tpath = path_with(path, META_TMP_SUFFIX);
    int rc = -ENOMEM;
    if (mpath == NULL || tpath == NULL) {
        goto out;
    }
    int fd = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    rc = io_all(fd, buf, len, true);
    if (rc == 0 && fsync(fd) != 0) {
        rc = -errno;
    }
    close(fd);
    if (rc == 0 && rename(tpath, mpath) != 0) {
        rc = -errno;
    }
    if (rc != 0) {
        (void)unlink(tpath);
    } else {
        rc = sync_dir_of(path);
    }
out:
    free(mpath);
    free(tpath);
    return rc;
}

int
restart_save(struct store *s, const char *path, const char *tag, uint64_t *items)
{
    struct segs *sg = &s->segs;
    size_t len = meta_size(sg->nsegs, s->nshards);
    char *buf = calloc(1, len);
    if (buf == NULL) {
        return -ENOMEM;
    }
    struct meta_head *h = (struct meta_head *)buf;
    struct meta_seg *recs = (struct meta_seg *)(buf + sizeof(*h));
    uint32_t nrecs = list_segments(sg, recs);
    struct meta_shard *shards = (struct meta_shard *)(recs + nrecs);
    len = meta_size(nrecs, s->nshards);

    struct sum_job job = {.sg = sg, .recs = recs, .nrecs = nrecs};
    on_threads(threads_for(nrecs), sum_worker, &job);
    for (uint32_t i = 0; i < s->nshards; i++) {
        const struct shard *sh = &s->shards[i];
        shards[i] = (struct meta_shard){
            .cas_seq = sh->cas_seq,
            .flush_seq = sh->flush_seq,
            .fresh_lo = s->cold[i].fresh_lo,
            .nitems = sh->ix.nitems,
        };
        h->items += sh->ix.nitems;
        h->bytes += sh->bytes;
    }
    clock_update(); /* the loop's timer no longer runs */
    uint64_t pending = atomic_load_explicit(&s->flush_pending, memory_order_relaxed);
    memcpy(h->magic, META_MAGIC, sizeof(h->magic));
    h->version = META_VERSION;
    h->endian = META_ENDIAN;
    h->item_format = ITEM_FORMAT;
    h->head_size = sizeof(*h);
    h->memory_limit = s->config_limit;
    h->file_size = (uint64_t)sg->nsegs * sg->seg_size;
    h->seg_size = sg->seg_size;
    h->nsegs = sg->nsegs;
    h->ref_shift = sg->sp.shift;
    h->nshards = s->nshards;
    h->cas_enabled = s->cas_enabled;
    h->ndb = s->ndb;
    for (uint32_t d = 0; d < STORE_DB_MAX; d++) {
        h->dbmap[d] = atomic_load_explicit(&s->head.dbmap[d], memory_order_relaxed);
    }
    h->nrecs = nrecs;
    h->hash_seed = hash_get_seed();
    h->stop_rel = clock_now();
    h->stop_unix = clock_rel_to_unix(h->stop_rel); /* the same instant */
    h->flush_at = (uint32_t)(pending >> 32);
    snprintf(h->tag, sizeof(h->tag), "%s", tag != NULL ? tag : "");
    uint64_t sum = hash_checksum(buf, len - sizeof(sum), META_SUM_SEED);
    memcpy(buf + len - sizeof(sum), &sum, sizeof(sum));

    /* The items first, the metadata that vouches for them last. */
    int rc = arena_sync(sg->arena);
    if (rc == 0) {
        rc = meta_write(path, buf, len);
    }
    if (rc == 0 && items != NULL) {
        *items = h->items;
    }
    free(buf);
    return rc;
}

/* --- restoring ------------------------------------------------------------------ */

/* A shard's table as it was when the walk began, read without its lock to
 * prefetch buckets (a table that grew since is only a wasted prefetch). */
struct table_hint {
    const struct index_bucket *b;
    uint32_t n;
};

struct restore_job {
    struct store *s;
    const struct restart_meta *m;
    const struct table_hint *hint; /* per shard; read-only during the walk */
    uint32_t now;
    _Atomic uint32_t next;
    _Atomic bool failed;
    pthread_mutex_t lock; /* guards the fields below */
    char why[128];        /* the first failure */
    uint64_t items, dropped, bytes;
};

static void job_fail(struct restore_job *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
job_fail(struct restore_job *j, const char *fmt, ...)
{
    pthread_mutex_lock(&j->lock);
    if (!atomic_load_explicit(&j->failed, memory_order_relaxed)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(j->why, sizeof(j->why), fmt, ap);
        va_end(ap);
        atomic_store_explicit(&j->failed, true, memory_order_relaxed);
    }
    pthread_mutex_unlock(&j->lock);
}

/* Per thread: what its segments held. */
struct restore_count {
    uint64_t items, dropped, bytes;
};

/*
 * Link item it (LINKED in the file) into its shard's index, or let it go
 * (expired, flushed, or a second copy of a key: the older goes). Returns
 * the bytes that died in it's segment; -1 when the index could not grow.
 */
static int64_t
relink(struct store *s, struct item *it, uint64_t hash, uint32_t now, struct restore_count *c)
{
    const struct item_space *sp = &s->segs.sp;
    struct shard *sh = shard_of(s, hash);
    int64_t dead = 0;
    shard_lock(sh);
    /* An item of a database past --databases (the file was written with
     * more) has nowhere to go: its counts would fall outside dbc. */
    if (shard_item_state(sh, it, now) != ITEM_LIVE || item_db(it) >= s->ndb) {
        item_state_set(it, 0, ITEM_LINKED);
        c->dropped++;
        shard_unlock(sh);
        return (int64_t)item_span(sp, it);
    }
    struct index_pos pos;
    uint32_t old = index_find(&sh->ix, sp, hash, item_key(it), it->nkey, item_db(it), &pos);
    if (old != 0) {
        /* Two copies of a key: not written by a clean stop, but cheap to
         * settle. The newer stays. */
        struct item *o = item_at(sp, old);
        struct item *loser = shard_item_seq(sh, o) >= shard_item_seq(sh, it) ? it : o;
        if (loser == o) {
            index_set(&sh->ix, pos, item_ref(sp, it));
            shard_note_unlinked(s, sh, o);
            seg_count_dead(&s->segs, old, item_span(sp, o));
            shard_note_linked(s, sh, it);
        } else {
            item_state_set(it, 0, ITEM_LINKED);
            dead = (int64_t)item_span(sp, it);
        }
        c->dropped++;
        shard_unlock(sh);
        return dead;
    }
    if (index_insert(&sh->ix, sp, hash, item_ref(sp, it)) != 0) {
        shard_unlock(sh);
        return -1;
    }
    shard_note_linked(s, sh, it);
    c->items++;
    c->bytes += item_size(it);
    shard_unlock(sh);
    return 0;
}

/* Items whose shard and bucket a walk asks for together, so that their
 * cache misses overlap (each item is in another shard: about two misses
 * an item, which without this were three quarters of a restore's time). */
#define RELINK_BATCH 16

struct relink_batch {
    struct item *it[RELINK_BATCH];
    uint64_t hash[RELINK_BATCH];
    unsigned n;
};

/* Link the batch's items; false (the job failed) if the index could not
 * grow. *dead grows by the bytes that died. */
static bool
relink_batch(struct restore_job *j, struct relink_batch *b, uint64_t *dead, struct restore_count *c)
{
    for (unsigned i = 0; i < b->n; i++) {
        int64_t d = relink(j->s, b->it[i], b->hash[i], j->now, c);
        if (d < 0) {
            job_fail(j, "out of memory for the index");
            return false;
        }
        *dead += (uint64_t)d;
    }
    b->n = 0;
    return true;
}

static void
batch_add(struct restore_job *j, struct relink_batch *b, struct item *it)
{
    uint64_t hash = item_hash(it);
    struct shard *sh = shard_of(j->s, hash);
    const struct table_hint *t = &j->hint[sh - j->s->shards];
    __builtin_prefetch(sh, 1);
    if (t->n != 0) {
        __builtin_prefetch(&t->b[index_home(index_h32(hash), t->n)], 1);
    }
    b->it[b->n] = it;
    b->hash[b->n++] = hash;
}

/* Walk one recorded segment's items, linking the live ones; false (with
 * the job failed) if its bytes are not what was saved. */
static bool
restore_segment(struct restore_job *j, const struct meta_seg *r, struct restore_count *c)
{
    struct store *s = j->s;
    struct segs *sg = &s->segs;
    if (seg_sum(sg, r->first, r->fill) != r->sum) {
        job_fail(j, "segment %u does not match its checksum (the file changed after the stop)",
                 r->first);
        return false;
    }
    char *base = seg_addr(sg, r->first);
    uint64_t dead = 0;
    struct relink_batch b = {.n = 0};
    for (uint64_t off = seg_start(sg, r->first); off < r->fill;) {
        struct item *it = (struct item *)(base + off);
        uint64_t left = r->fill - off;
        uint64_t span = left >= 16 ? item_span(&sg->sp, it) : 0;
        if (span < 16 || span > left) {
            job_fail(j, "segment %u holds a malformed item at %" PRIu64, r->first, off);
            return false;
        }
        if (!(item_state_load(it) & ITEM_LINKED)) {
            dead += span;
        } else if (it->nkey < 1 || it->nkey > STORE_KEY_MAX) {
            job_fail(j, "segment %u holds an item with a %u-byte key", r->first, it->nkey);
            return false;
        } else if (item_type(it) > STORE_TYPE_HASH) {
            job_fail(j, "segment %u holds an item of unknown type %u", r->first, item_type(it));
            return false;
        } else {
            batch_add(j, &b, it);
            if (b.n == RELINK_BATCH && !relink_batch(j, &b, &dead, c)) {
                return false;
            }
        }
        off += span;
    }
    if (!relink_batch(j, &b, &dead, c)) {
        return false;
    }
    atomic_fetch_add_explicit(&sg->seg[r->first].dead, (uint32_t)dead, memory_order_relaxed);
    return true;
}

static void *
restore_worker(void *arg)
{
    struct restore_job *j = arg;
    struct restore_count c = {0};
    const struct meta_head *h = j->m->head;
    while (!atomic_load_explicit(&j->failed, memory_order_relaxed)) {
        uint32_t k = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (k >= h->nrecs || !restore_segment(j, &j->m->segs[k], &c)) {
            break;
        }
    }
    pthread_mutex_lock(&j->lock);
    j->items += c.items;
    j->dropped += c.dropped;
    j->bytes += c.bytes;
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

/* Take the recorded segments back into the arena and the FIFO, oldest
 * first; false (info says why) if the records do not fit the arena. */
static bool
adopt_segments(struct store *s, const struct restart_meta *m, struct store_restart_info *info)
{
    struct segs *sg = &s->segs;
    for (uint32_t k = 0; k < m->head->nrecs; k++) {
        const struct meta_seg *r = &m->segs[k];
        bool fits = r->nsegs >= 1 && r->first < sg->nsegs && r->nsegs <= sg->nsegs - r->first &&
                    r->fill >= seg_start(sg, r->first) &&
                    (uint64_t)r->fill <= (uint64_t)r->nsegs * sg->seg_size &&
                    arena_adopt(sg->arena, r->first, r->nsegs) == 0;
        if (!fits) {
            say(info, "its segment records are inconsistent (record %u)", k);
            return false;
        }
        struct seg *sd = &sg->seg[r->first];
        sd->nsegs = r->nsegs;
        atomic_store_explicit(&sd->fill, r->fill, memory_order_relaxed);
        for (uint32_t t = 1; t < r->nsegs; t++) {
            atomic_store_explicit(&sg->seg[r->first + t].state, SEG_TAIL, memory_order_relaxed);
        }
        seg_fifo_push(sg, r->first);
        sd->sealed_at = r->sealed_at != 0 ? r->sealed_at : sd->sealed_at;
    }
    int rc = arena_drop_free(sg->arena);
    if (rc != 0) {
        say(info, "cannot free the unused part of the file: %s", strerror(-rc));
        return false;
    }
    return true;
}

/* Shards: sequences as saved, indexes sized for their keys. */
static bool
restore_shards(struct store *s, const struct restart_meta *m, struct store_restart_info *info)
{
    for (uint32_t i = 0; i < s->nshards; i++) {
        const struct meta_shard *r = &m->shards[i];
        struct shard *sh = &s->shards[i];
        sh->cas_seq = r->cas_seq;
        sh->flush_seq = r->flush_seq;
        s->cold[i].fresh_lo = r->fresh_lo;
        if (index_reserve(&sh->ix, &s->segs.sp, r->nitems) != 0) {
            say(info, "out of memory for the index");
            return false;
        }
    }
    return true;
}

/* After the walk: free the segments nothing lives in, and account for
 * the index. */
static void
restore_finish(struct store *s, const struct restart_meta *m)
{
    struct segs *sg = &s->segs;
    segs_lock(sg);
    for (uint32_t i = sg->fifo_head; i != SEG_NONE;) {
        uint32_t next = sg->seg[i].next;
        if (seg_all_dead(sg, i)) {
            seg_fifo_remove(sg, i);
            seg_free_run(sg, i);
        }
        i = next;
    }
    segs_unlock(sg);
    uint64_t ib = 0;
    for (uint32_t i = 0; i < s->nshards; i++) {
        ib += index_bytes(&s->shards[i].ix);
    }
    atomic_store_explicit(&s->index_bytes, ib, memory_order_relaxed);
    store_charge_index(s);
    if (m->head->flush_at != 0) {
        store_flush(s, m->head->flush_at); /* now, if its time has come */
    }
}

int
restart_restore(struct store *s, const struct restart_meta *m, struct store_restart_info *info)
{
    uint64_t t0 = clock_mono_ns();
    const struct meta_head *h = m->head;
    uint64_t seed = hash_get_seed();
    /* The downtime passes on the relative clock (none if the wall clock
     * went back), so saved expiry times keep their meaning. */
    if (clock_continue(h->stop_rel, h->stop_unix, REL_MAX) == 0) {
        say(info, "it was saved too long ago (%" PRId64 " s)", (int64_t)time(NULL) - h->stop_unix);
        return -EINVAL;
    }
    hash_setup(h->hash_seed);
    struct table_hint *hint = calloc(s->nshards, sizeof(*hint));
    struct restore_job j = {.s = s, .m = m, .hint = hint, .now = clock_now()};
    pthread_mutex_init(&j.lock, NULL);
    for (uint32_t d = 0; d < STORE_DB_MAX; d++) {
        atomic_store_explicit(&s->head.dbmap[d], h->dbmap[d], memory_order_relaxed);
    }
    bool ok = hint != NULL && restore_shards(s, m, info) && adopt_segments(s, m, info);
    if (hint == NULL) {
        say(info, "out of memory");
    }
    for (uint32_t i = 0; ok && i < s->nshards; i++) {
        hint[i] = (struct table_hint){.b = s->shards[i].ix.b, .n = s->shards[i].ix.n};
    }
    if (ok) {
        on_threads(threads_for(h->nrecs), restore_worker, &j);
        ok = !atomic_load_explicit(&j.failed, memory_order_relaxed);
        if (!ok) {
            say(info, "%s", j.why);
        }
    }
    pthread_mutex_destroy(&j.lock);
    free(hint);
    if (!ok) {
        hash_setup(seed);
        clock_setup();
        return -EINVAL;
    }
    restore_finish(s, m);
    info->restored = true;
    info->items = j.items;
    info->dropped = j.dropped;
    info->bytes = j.bytes;
    info->elapsed_us = (clock_mono_ns() - t0) / 1000;
    return 0;
}

void
restart_log(const char *path, const struct store_restart_info *info)
{
    if (info->restored) {
        log_info("memory file %s: restored %" PRIu64 " items (%.1f MiB) in %.3f s; %" PRIu64
                 " had expired or were flushed",
                 path, info->items, (double)info->bytes / (1 << 20), (double)info->elapsed_us / 1e6,
                 info->dropped);
    } else if (strcmp(info->reason, "the file is new") == 0) {
        log_info("memory file %s: new, starting empty", path);
    } else {
        log_warn("memory file %s: starting empty: %s", path, info->reason);
    }
}
