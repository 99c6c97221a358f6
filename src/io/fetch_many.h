/* Many fetches in flight from one thread (libcurl's multi interface): what hides the latency of
 * an object store or a web server, independently of how many threads decode.
 *
 * The caller adds paths with a tag and takes finished ones back in completion order. Transfers
 * share connections (one multi handle, HTTP/1.1 keep-alive and HTTP/2 where offered) and follow
 * the retry policy of io/client.h; a transfer waiting for its retry holds no connection. Local
 * paths are read when they are added, so they finish at once. Not thread-safe: one thread owns
 * it. Memory: the bodies of the transfers in flight and finished but not taken back, so the
 * caller bounds it by how many it adds before taking results. */
#ifndef MLIC_IO_FETCH_MANY_H
#define MLIC_IO_FETCH_MANY_H

#include <stddef.h>
#include <stdint.h>

#include "io/client.h"
#include "mlic.h"

typedef struct mlic_fetch_many mlic_fetch_many;

/* max_in_flight: transfers at once; 0 = automatic (storage's max_in_flight if set, else chosen
 * by measured throughput: docs/storage.md). The io options are copied as mlic_io_create does. */
mlic_status mlic_fetch_many_create(mlic_fetch_many **out, const mlic_io_opts *o, int max_in_flight);
void mlic_fetch_many_destroy(mlic_fetch_many *m);

/* Queues path; never waits for the network. Fails only when out of memory. */
mlic_status mlic_fetch_many_add(mlic_fetch_many *m, const char *path, void *tag);
/* Paths added and not yet taken back by mlic_fetch_many_next. */
size_t mlic_fetch_many_pending(const mlic_fetch_many *m);

typedef struct {
    void *tag;
    mlic_status status; /* MLIC_OK: data/len hold the body */
    uint8_t *data;      /* malloc'd; the caller frees it */
    size_t len;
    char *error;        /* status != MLIC_OK: malloc'd message naming the path and the cause */
} mlic_fetch_result;

/* Waits until a fetch finishes (retries included) and hands it over. Returns MLIC_OK with a
 * result (whose own status may be a failure), or MLIC_ERR_CANCELLED when the cancel flag is set
 * (the fetches still pending are dropped: their paths were not fetched), or
 * MLIC_ERR_INVALID_ARG when nothing is pending. */
mlic_status mlic_fetch_many_next(mlic_fetch_many *m, mlic_fetch_result *out);

#endif
