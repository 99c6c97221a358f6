#include "util/queue.h"

#include <pthread.h>
#include <stdlib.h>

#include "core/error.h"

struct mlic_queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    void **items; /* ring of capacity */
    size_t capacity, head, count;
    int closed;
};

mlic_status mlic_queue_create(mlic_queue **out, size_t capacity)
{
    *out = NULL;
    if (capacity == 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "queue capacity must be at least 1");
    mlic_queue *q = calloc(1, sizeof *q);
    if (!q || !(q->items = calloc(capacity, sizeof *q->items))) {
        free(q);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory creating a queue of %zu items", capacity);
    }
    q->capacity = capacity;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->not_empty, NULL);
    pthread_cond_init(&q->not_full, NULL);
    *out = q;
    return MLIC_OK;
}

void mlic_queue_destroy(mlic_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    free(q->items);
    free(q);
}

int mlic_queue_push(mlic_queue *q, void *item)
{
    pthread_mutex_lock(&q->mu);
    while (q->count == q->capacity && !q->closed)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        return 0;
    }
    q->items[(q->head + q->count) % q->capacity] = item;
    q->count++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

/* q->mu held. */
static int pop_locked(mlic_queue *q, void **item, int wait)
{
    while (wait && q->count == 0 && !q->closed)
        pthread_cond_wait(&q->not_empty, &q->mu);
    if (q->count == 0)
        return q->closed ? 0 : -1;
    *item = q->items[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->count--;
    pthread_cond_signal(&q->not_full);
    return 1;
}

int mlic_queue_pop(mlic_queue *q, void **item)
{
    pthread_mutex_lock(&q->mu);
    int r = pop_locked(q, item, 1);
    pthread_mutex_unlock(&q->mu);
    return r;
}

int mlic_queue_try_pop(mlic_queue *q, void **item)
{
    pthread_mutex_lock(&q->mu);
    int r = pop_locked(q, item, 0);
    pthread_mutex_unlock(&q->mu);
    return r;
}

void mlic_queue_close(mlic_queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}
