/* A storage: mlic_storage_opts resolved once per run into what every request needs, the
 * endpoint, region and addressing of each scheme and the credentials found (docs/storage.md
 * gives the order), after an STS AssumeRole when a role is named.
 *
 * Read-only once made, so any number of threads share one. It keeps secrets: nothing here ever
 * puts them in a message. */
#ifndef MLIC_IO_STORAGE_H
#define MLIC_IO_STORAGE_H

#include "io/location.h"
#include "mlic.h"

typedef struct mlic_storage mlic_storage;

/* o NULL: the defaults. Reads the environment, ~/.aws/credentials and ~/.ossutilconfig now;
 * with o->role_arn, calls STS (which may fail with MLIC_ERR_NETWORK or a refusal). Missing
 * credentials are not an error here: the first request to a store fails, naming the places
 * that were searched. */
mlic_status mlic_storage_create(mlic_storage **out, const mlic_storage_opts *o);
void mlic_storage_destroy(mlic_storage *s);

#endif
