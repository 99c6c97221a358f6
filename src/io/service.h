/* What every request to one store (s3:// or oss://) needs, as a storage resolved it: where the
 * store answers, how URLs name a bucket, which region signs, and the credentials. Internal to
 * src/io/: the rest of mlic sees only mlic_storage. */
#ifndef MLIC_IO_SERVICE_H
#define MLIC_IO_SERVICE_H

#include "io/location.h"
#include "io/storage.h"

typedef struct {
    char *access_key_id; /* NULL: none found */
    char *secret;
    char *session_token; /* may be NULL */
    const char *source;  /* where they came from, for messages ("AWS_ACCESS_KEY_ID", ...) */
} mlic_credentials;

typedef struct {
    const char *scheme_name; /* "s3" or "oss" */
    int have_endpoint;       /* 0: oss:// with no endpoint configured */
    int https;
    char *host;              /* host[:port] of the endpoint */
    char *region;
    int path_style;          /* bucket in the path, not the host name */
    mlic_credentials creds;
    /* Where credentials and the endpoint were looked for, for the message of a request that
     * cannot be made ("--access-key-id, AWS_ACCESS_KEY_ID, ~/.aws/credentials [default]"). */
    char *searched;
    const char *endpoint_hint;
} mlic_service;

/* The service of an s3:// or oss:// location. */
const mlic_service *mlic_storage_service(const mlic_storage *s, mlic_loc_kind kind);
int mlic_storage_max_in_flight(const mlic_storage *s);

/* Splits an endpoint ("http://127.0.0.1:9000", "oss-cn-hangzhou.aliyuncs.com", with or without
 * a trailing '/') into https and a malloc'd host[:port]. */
mlic_status mlic_endpoint_parse(int *https, char **host, const char *endpoint, const char *what);

/* The credentials chain of one store (docs/storage.md): the command line, then the
 * environment, then the configuration file. Found ones are copied into *c; *searched gets the
 * places looked at (malloc'd). */
mlic_status mlic_credentials_find(mlic_credentials *c, char **searched, mlic_loc_kind kind,
                                  const mlic_storage_opts *o, char **file_endpoint);
void mlic_credentials_free(mlic_credentials *c);

#endif
