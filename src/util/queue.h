/* A bounded, thread-safe FIFO of pointers: producers block while it is full, consumers while it is
 * empty, which is what keeps a streaming pipeline's memory flat. Closing it wakes everyone:
 * pushes fail from then on, pops drain what is left and then fail. */
#ifndef MLIC_UTIL_QUEUE_H
#define MLIC_UTIL_QUEUE_H

#include <stddef.h>

#include "mlic.h"

typedef struct mlic_queue mlic_queue;

mlic_status mlic_queue_create(mlic_queue **out, size_t capacity);
void mlic_queue_destroy(mlic_queue *q);
/* 1 if queued; 0 if the queue was closed (the item was not taken). */
int mlic_queue_push(mlic_queue *q, void *item);
/* 1 with *item set; 0 once the queue is closed and empty. */
int mlic_queue_pop(mlic_queue *q, void **item);
/* Without waiting: 1 with *item set; -1 if the queue is empty now; 0 once closed and empty. */
int mlic_queue_try_pop(mlic_queue *q, void **item);
void mlic_queue_close(mlic_queue *q);

#endif
