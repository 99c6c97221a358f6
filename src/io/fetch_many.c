/* Many fetches in flight on one curl multi handle. Each fetch is an mlic_xfer (io/transfer.h),
 * so signing, judging replies and the retry policy are the client's; only the waiting differs:
 * a transfer due for a retry waits in a list with its due time, holding no connection.
 *
 * Automatic concurrency: a store's latency is hidden once enough requests are in flight that
 * one completes about as often as the consumer takes one; beyond that more in flight only costs
 * memory and connections. Starting at AUTO_START, each window of AUTO_WINDOW completions taken
 * while every slot was busy and more were waiting doubles the slots (up to AUTO_MAX) as long
 * as that raised the completion rate by more than AUTO_GAIN; once it does not, the count stays
 * (docs/storage.md). */
#include "io/fetch_many.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/error.h"
#include "io/client_internal.h"
#include "io/local.h"
#include "io/service.h"

#define AUTO_START 16
#define AUTO_MAX 256
#define AUTO_WINDOW 64
#define AUTO_GAIN 1.10

typedef struct item {
    void *tag;
    mlic_io_resolved r;
    mlic_xfer x;
    CURL *easy;
    double due; /* waiting for a retry: when (seconds, monotonic) */
    mlic_status st;
    char *error;
    struct item *next;
} item;

typedef struct {
    item *head, *tail;
} list;

struct mlic_fetch_many {
    mlic_io *io; /* resolving, local reads and the settings of every transfer */
    CURLM *multi;
    int slots, fixed;
    int active;
    list waiting, retrying, done, flying; /* flying: in a transfer now */
    size_t pending;
    CURL **pool; /* idle easy handles */
    int npool, cappool;
    /* automatic concurrency */
    int window_done, window_busy;
    double window_start, last_rate;
    int settled;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void push(list *l, item *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
}

static item *pop(list *l)
{
    item *it = l->head;
    if (it && !(l->head = it->next))
        l->tail = NULL;
    return it;
}

static void item_free(item *it)
{
    if (!it)
        return;
    mlic_xfer_cleanup(&it->x);
    free(it->x.buf);
    free(it->error);
    mlic_io_resolved_free(&it->r);
    free(it);
}

mlic_status mlic_fetch_many_create(mlic_fetch_many **out, const mlic_io_opts *o, int max_in_flight)
{
    *out = NULL;
    mlic_fetch_many *m = calloc(1, sizeof *m);
    if (!m)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    mlic_status st = mlic_io_create(&m->io, o);
    if (st != MLIC_OK) {
        free(m);
        return st;
    }
    if (!(m->multi = curl_multi_init())) {
        mlic_fetch_many_destroy(m);
        return mlic_fail(MLIC_ERR_NETWORK, "curl_multi_init failed");
    }
    if (max_in_flight <= 0)
        max_in_flight = mlic_storage_max_in_flight(o->storage);
    m->fixed = max_in_flight > 0;
    m->slots = m->fixed ? max_in_flight : AUTO_START;
    curl_multi_setopt(m->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = m;
    return MLIC_OK;
}

static void drop_list(mlic_fetch_many *m, list *l)
{
    item *it;
    while ((it = pop(l))) {
        if (it->easy) {
            curl_multi_remove_handle(m->multi, it->easy);
            curl_easy_cleanup(it->easy);
        }
        item_free(it);
    }
}

void mlic_fetch_many_destroy(mlic_fetch_many *m)
{
    if (!m)
        return;
    drop_list(m, &m->waiting);
    drop_list(m, &m->retrying);
    drop_list(m, &m->done);
    drop_list(m, &m->flying);
    for (int i = 0; i < m->npool; i++)
        curl_easy_cleanup(m->pool[i]);
    free(m->pool);
    if (m->multi)
        curl_multi_cleanup(m->multi);
    mlic_io_destroy(m->io);
    free(m);
}

mlic_status mlic_fetch_many_add(mlic_fetch_many *m, const char *path, void *tag)
{
    item *it = calloc(1, sizeof *it);
    if (!it)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory queueing '%s'", path);
    it->tag = tag;
    m->pending++;
    mlic_status st = mlic_io_resolve(m->io, &it->r, path);
    if (st == MLIC_OK && it->r.kind == MLIC_LOC_LOCAL) {
        st = mlic_local_get(&it->x.buf, &it->x.len, it->r.local, path, MLIC_IO_MAX_OBJECT_BYTES);
    } else if (st == MLIC_OK) {
        mlic_io_xfer_prepare(m->io, &it->x, &it->r, "GET");
        mlic_xfer_init(&it->x);
        push(&m->waiting, it);
        return MLIC_OK;
    }
    it->st = st;
    if (st != MLIC_OK && !(it->error = strdup(mlic_errmsg()))) {
        m->pending--;
        item_free(it);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory queueing '%s'", path);
    }
    push(&m->done, it);
    return MLIC_OK;
}

size_t mlic_fetch_many_pending(const mlic_fetch_many *m)
{
    return m->pending;
}

static void finish(mlic_fetch_many *m, item *it, mlic_status st)
{
    it->st = st;
    if (st != MLIC_OK) {
        it->error = strdup(mlic_errmsg());
        free(it->x.buf);
        it->x.buf = NULL;
        it->x.len = 0;
    }
    push(&m->done, it);
}

static void unlink_flying(mlic_fetch_many *m, item *it)
{
    item **p = &m->flying.head, *prev = NULL;
    while (*p && *p != it) {
        prev = *p;
        p = &(*p)->next;
    }
    if (!*p)
        return;
    *p = it->next;
    if (m->flying.tail == it)
        m->flying.tail = prev;
    it->next = NULL;
}

static void release_easy(mlic_fetch_many *m, item *it)
{
    unlink_flying(m, it);
    curl_multi_remove_handle(m->multi, it->easy);
    curl_easy_reset(it->easy);
    if (m->npool == m->cappool) {
        int cap = m->cappool ? 2 * m->cappool : 16;
        CURL **p = realloc(m->pool, (size_t)cap * sizeof *p);
        if (p) {
            m->pool = p;
            m->cappool = cap;
        }
    }
    if (m->npool < m->cappool)
        m->pool[m->npool++] = it->easy;
    else
        curl_easy_cleanup(it->easy);
    it->easy = NULL;
    m->active--;
}

/* Starts waiting transfers (and retries that are due) while slots are free. */
static void start_some(mlic_fetch_many *m)
{
    double t = now_s();
    /* Retries that are due go first: they have waited longest. */
    list still = {0};
    item *it;
    while ((it = pop(&m->retrying))) {
        if (it->due <= t) {
            it->next = m->waiting.head;
            m->waiting.head = it;
            if (!m->waiting.tail)
                m->waiting.tail = it;
        } else {
            push(&still, it);
        }
    }
    m->retrying = still;
    while (m->active < m->slots && (it = pop(&m->waiting))) {
        CURL *e = m->npool ? m->pool[--m->npool] : curl_easy_init();
        if (!e) {
            finish(m, it, mlic_fail(MLIC_ERR_NETWORK, "GET %s: curl_easy_init failed", it->r.full));
            continue;
        }
        mlic_status st = mlic_xfer_setup(&it->x, e);
        if (st != MLIC_OK) {
            curl_easy_cleanup(e);
            finish(m, it, st);
            continue;
        }
        curl_easy_setopt(e, CURLOPT_PRIVATE, it);
        it->easy = e;
        if (curl_multi_add_handle(m->multi, e) != CURLM_OK) {
            it->easy = NULL;
            curl_easy_cleanup(e);
            finish(m, it, mlic_fail(MLIC_ERR_NETWORK, "GET %s: curl_multi_add_handle failed",
                                    it->r.full));
            continue;
        }
        push(&m->flying, it);
        m->active++;
    }
}

static void adapt(mlic_fetch_many *m)
{
    if (m->fixed || m->settled)
        return;
    m->window_done++;
    m->window_busy += m->active >= m->slots && m->waiting.head != NULL;
    if (m->window_done < AUTO_WINDOW)
        return;
    double t = now_s(), rate = m->window_done / (t - m->window_start + 1e-9);
    int busy = m->window_busy * 2 >= m->window_done;
    if (m->window_start > 0 && busy) {
        if (m->last_rate > 0 && rate < m->last_rate * AUTO_GAIN)
            m->settled = 1; /* the last doubling did not pay */
        else if (m->slots < AUTO_MAX)
            m->slots *= 2;
        m->last_rate = rate;
    }
    m->window_start = t;
    m->window_done = m->window_busy = 0;
}

/* Collects finished transfers: done, failed, or scheduled for a retry. */
static void collect(mlic_fetch_many *m)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(m->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        item *it;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&it);
        CURLcode rc = msg->data.result;
        mlic_status st;
        mlic_xfer_outcome out = mlic_xfer_judge(&it->x, it->easy, rc, m->io->retries, &st);
        release_easy(m, it);
        mlic_xfer_cleanup(&it->x);
        if (out == MLIC_XFER_DONE) {
            if (!it->x.buf)
                it->x.buf = malloc(1);
            finish(m, it, it->x.buf ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "out of memory"));
            adapt(m);
        } else if (out == MLIC_XFER_FAILED) {
            finish(m, it, st);
        } else {
            it->due = now_s() + mlic_xfer_backoff_ms(&it->x, &m->io->seed) / 1000.0;
            push(&m->retrying, it);
        }
    }
}

static int cancelled(const mlic_fetch_many *m)
{
    return m->io->cancel && *m->io->cancel;
}

mlic_status mlic_fetch_many_next(mlic_fetch_many *m, mlic_fetch_result *out)
{
    memset(out, 0, sizeof *out);
    if (m->pending == 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "no fetch is pending");
    if (m->window_start == 0)
        m->window_start = now_s();
    while (!m->done.head) {
        if (cancelled(m))
            break;
        start_some(m);
        int running;
        curl_multi_perform(m->multi, &running);
        collect(m);
        if (m->done.head)
            break;
        /* Sleep until a socket is ready, a retry is due, or the cancel poll. */
        int wait_ms = 100;
        double t = now_s();
        for (item *it = m->retrying.head; it; it = it->next) {
            int d = (int)((it->due - t) * 1000.0) + 1;
            if (d < wait_ms)
                wait_ms = d < 0 ? 0 : d;
        }
        if (m->active > 0 || wait_ms > 0)
            curl_multi_poll(m->multi, NULL, 0, wait_ms, NULL);
    }
    if (cancelled(m) && !m->done.head) {
        /* Drop everything: what was not fetched is not reported. */
        drop_list(m, &m->waiting);
        drop_list(m, &m->retrying);
        drop_list(m, &m->flying);
        m->active = 0;
        m->pending = 0;
        return mlic_fail(MLIC_ERR_CANCELLED, "fetching: cancelled");
    }
    item *it = pop(&m->done);
    m->pending--;
    out->tag = it->tag;
    out->status = it->st;
    out->data = it->x.buf;
    out->len = it->x.len;
    out->error = it->error;
    it->x.buf = NULL;
    it->error = NULL;
    item_free(it);
    return MLIC_OK;
}
