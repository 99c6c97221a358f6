/* Resolving mlic_storage_opts once per run: endpoints, regions, addressing and credentials of
 * s3:// and oss://, then STS AssumeRole when a role is named (io/sts.h). */
#include "io/storage.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "io/service.h"
#include "io/sts.h"

struct mlic_storage {
    mlic_service s3, oss;
    int max_in_flight;
};

void mlic_storage_opts_init(mlic_storage_opts *o)
{
    memset(o, 0, sizeof *o);
}

const mlic_service *mlic_storage_service(const mlic_storage *s, mlic_loc_kind kind)
{
    return kind == MLIC_LOC_OSS ? &s->oss : &s->s3;
}

int mlic_storage_max_in_flight(const mlic_storage *s)
{
    return s ? s->max_in_flight : 0;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

mlic_status mlic_endpoint_parse(int *https, char **host, const char *endpoint, const char *what)
{
    *https = 1;
    *host = NULL;
    const char *h = endpoint;
    if (!strncasecmp(h, "https://", 8)) {
        h += 8;
    } else if (!strncasecmp(h, "http://", 7)) {
        h += 7;
        *https = 0;
    } else if (strstr(h, "://")) {
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s '%s': only http:// and https:// endpoints are "
                         "supported. HINT: write host[:port] or http(s)://host[:port]", what,
                         endpoint);
    }
    size_t n = strcspn(h, "/?#");
    for (size_t i = n; h[i]; i++)
        if (h[i] != '/')
            return mlic_fail(MLIC_ERR_INVALID_ARG, "%s '%s': an endpoint is a host and port, "
                             "without a path. HINT: write http(s)://host[:port]", what, endpoint);
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)h[i]) && !strchr(".-:[]_", h[i]))
            return mlic_fail(MLIC_ERR_INVALID_ARG, "%s '%s': '%c' cannot be part of a host "
                             "name. HINT: write http(s)://host[:port]", what, endpoint, h[i]);
    if (n == 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "%s '%s' names no host. HINT: write "
                         "http(s)://host[:port]", what, endpoint);
    if (!(*host = strndup(h, n)))
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    return MLIC_OK;
}

/* An IP address or localhost cannot carry a bucket in front of it: path-style there. */
static int host_needs_path_style(const char *hostport)
{
    char host[256];
    snprintf(host, sizeof host, "%s", hostport);
    if (host[0] == '[')
        return 1; /* an IPv6 literal */
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    unsigned char addr[16];
    return !strcasecmp(host, "localhost") || inet_pton(AF_INET, host, addr) == 1;
}

/* OSS's native endpoints (EasyVision's -DossHost: "oss-cn-hangzhou-internal.aliyuncs.com") serve
 * OSS's own API; its S3-compatible API answers on the same name with "s3." in front. The region
 * is the part between "oss-" and ".aliyuncs.com" (less "-internal"). */
static mlic_status oss_host(char **host, char **region, const char *h)
{
    const char *suffix = ".aliyuncs.com";
    size_t n = strlen(h), sn = strlen(suffix);
    *region = NULL;
    if (n > sn && !strcasecmp(h + n - sn, suffix)) {
        const char *name = !strncasecmp(h, "s3.", 3) ? h + 3 : h;
        if (!strncasecmp(name, "oss-", 4)) {
            size_t rn = (size_t)(h + n - sn - (name + 4));
            *region = strndup(name + 4, rn);
            if (*region && rn > 9 && !strcmp(*region + rn - 9, "-internal"))
                (*region)[rn - 9] = '\0';
        }
        if (name == h) {
            char *s3 = malloc(n + 4);
            if (!s3) {
                free(*region);
                *region = NULL;
                return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
            }
            sprintf(s3, "s3.%s", h);
            free(*host);
            *host = s3;
        }
    }
    return MLIC_OK;
}

static void service_free(mlic_service *v)
{
    free(v->host);
    free(v->region);
    free(v->searched);
    mlic_credentials_free(&v->creds);
}

static mlic_status service_init(mlic_service *v, mlic_loc_kind kind, const mlic_storage_opts *o)
{
    v->scheme_name = kind == MLIC_LOC_OSS ? "oss" : "s3";
    char *file_endpoint = NULL;
    mlic_status st = mlic_credentials_find(&v->creds, &v->searched, kind, o, &file_endpoint);
    if (st != MLIC_OK)
        return st;
    const char *region = o->region ? o->region : env("AWS_REGION");
    if (!region)
        region = env("AWS_DEFAULT_REGION");
    if (!region)
        region = "us-east-1";
    const char *endpoint;
    const char *what;
    if (kind == MLIC_LOC_OSS) {
        endpoint = o->oss_endpoint ? o->oss_endpoint : env("OSS_ENDPOINT");
        what = o->oss_endpoint ? "--oss-endpoint" : "OSS_ENDPOINT";
        if (!endpoint && file_endpoint) {
            endpoint = file_endpoint;
            what = "the endpoint of ~/.ossutilconfig";
        }
        v->endpoint_hint = "set the OSS endpoint with -DossHost=oss-REGION.aliyuncs.com, "
                           "--oss-endpoint or OSS_ENDPOINT";
    } else {
        endpoint = o->s3_endpoint ? o->s3_endpoint : env("AWS_ENDPOINT_URL_S3");
        what = o->s3_endpoint ? "--s3-endpoint" : "AWS_ENDPOINT_URL_S3";
        if (!endpoint) {
            endpoint = env("AWS_ENDPOINT_URL");
            what = "AWS_ENDPOINT_URL";
        }
        v->endpoint_hint = "";
    }
    char aws[128];
    if (!endpoint && kind == MLIC_LOC_S3) {
        snprintf(aws, sizeof aws, "https://s3.%s.amazonaws.com", region);
        endpoint = aws;
        what = "AWS's endpoint";
    }
    if (endpoint) {
        st = mlic_endpoint_parse(&v->https, &v->host, endpoint, what);
        char *derived = NULL;
        if (st == MLIC_OK && kind == MLIC_LOC_OSS)
            st = oss_host(&v->host, &derived, v->host);
        if (st == MLIC_OK && kind == MLIC_LOC_OSS && (env("OSS_REGION") || derived)) {
            v->region = strdup(env("OSS_REGION") ? env("OSS_REGION") : derived);
        }
        free(derived);
        v->have_endpoint = st == MLIC_OK;
    }
    free(file_endpoint);
    if (st != MLIC_OK)
        return st;
    if (!v->region && !(v->region = strdup(region)))
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    v->path_style = o->path_style || (v->host && host_needs_path_style(v->host));
    return MLIC_OK;
}

mlic_status mlic_storage_create(mlic_storage **out, const mlic_storage_opts *o)
{
    *out = NULL;
    mlic_storage_opts defaults;
    if (!o) {
        mlic_storage_opts_init(&defaults);
        o = &defaults;
    }
    if (o->max_in_flight < 0)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "a fetch concurrency of %d. HINT: use 0 "
                         "(automatic) or a positive number", o->max_in_flight);
    mlic_storage *s = calloc(1, sizeof *s);
    if (!s)
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    s->max_in_flight = o->max_in_flight;
    mlic_status st = service_init(&s->s3, MLIC_LOC_S3, o);
    if (st == MLIC_OK)
        st = service_init(&s->oss, MLIC_LOC_OSS, o);
    if (st == MLIC_OK && o->role_arn && *o->role_arn)
        st = mlic_sts_assume_role(&s->s3, &s->oss, o->role_arn);
    if (st != MLIC_OK) {
        mlic_storage_destroy(s);
        return st;
    }
    *out = s;
    return MLIC_OK;
}

void mlic_storage_destroy(mlic_storage *s)
{
    if (!s)
        return;
    service_free(&s->s3);
    service_free(&s->oss);
    free(s);
}
