/* The credentials chain: command line > environment > configuration file, per store. s3://
 * reads AWS_* and ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE, profile from --profile or
 * AWS_PROFILE); oss:// reads OSS_*, then ALIBABA_CLOUD_*, then ~/.ossutilconfig (its
 * [Credentials] section, which may also name the endpoint). Secrets are copied, never printed. */
#include "io/service.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "util/strbuf.h"

void mlic_credentials_free(mlic_credentials *c)
{
    if (!c)
        return;
    if (c->secret)
        memset(c->secret, 0, strlen(c->secret));
    free(c->access_key_id);
    free(c->secret);
    free(c->session_token);
    memset(c, 0, sizeof *c);
}

static int set3(mlic_credentials *c, const char *id, const char *secret, const char *token,
                const char *source)
{
    if (!id || !*id || !secret || !*secret)
        return 0;
    c->access_key_id = strdup(id);
    c->secret = strdup(secret);
    c->session_token = token && *token ? strdup(token) : NULL;
    c->source = source;
    return 1;
}

static int from_env(mlic_credentials *c, const char *id, const char *secret, const char *token)
{
    return set3(c, getenv(id), getenv(secret), getenv(token), id);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* The values of keys[] (case-insensitive) in [section] of an INI file, malloc'd into vals[]
 * (NULL when absent). A file that cannot be read has no values. */
static void ini_read(const char *path, const char *section, const char *const *keys, char **vals,
                     int n)
{
    for (int i = 0; i < n; i++)
        vals[i] = NULL;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return;
    char line[16384]; /* session tokens run to kilobytes */
    int in = 0;
    while (fgets(line, sizeof line, f)) {
        char *s = trim(line);
        if (*s == '#' || *s == ';' || !*s)
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e)
                *e = '\0';
            in = !strcasecmp(trim(s + 1), section);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!in || !eq)
            continue;
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        for (int i = 0; i < n; i++)
            if (!strcasecmp(k, keys[i]) && !vals[i])
                vals[i] = strdup(v);
    }
    fclose(f);
    memset(line, 0, sizeof line);
}

static void free_vals(char **vals, int n)
{
    for (int i = 0; i < n; i++) {
        if (vals[i])
            memset(vals[i], 0, strlen(vals[i]));
        free(vals[i]);
    }
}

static char *home_file(const char *name)
{
    const char *home = getenv("HOME");
    if (!home || !*home)
        return NULL;
    char *p = malloc(strlen(home) + strlen(name) + 2);
    if (p)
        sprintf(p, "%s/%s", home, name);
    return p;
}

mlic_status mlic_credentials_find(mlic_credentials *c, char **searched, mlic_loc_kind kind,
                                  const mlic_storage_opts *o, char **file_endpoint)
{
    memset(c, 0, sizeof *c);
    *file_endpoint = NULL;
    mlic_strbuf where;
    mlic_strbuf_init(&where);
    mlic_strbuf_puts(&where, "--access-key-id/--access-key-secret");
    int found = set3(c, o->access_key_id, o->secret_access_key, o->session_token,
                     "the command line");
    if (kind == MLIC_LOC_OSS) {
        mlic_strbuf_puts(&where, ", OSS_ACCESS_KEY_ID, ALIBABA_CLOUD_ACCESS_KEY_ID, ~/.ossutilconfig");
        found = found || from_env(c, "OSS_ACCESS_KEY_ID", "OSS_ACCESS_KEY_SECRET",
                                  "OSS_SESSION_TOKEN");
        found = found || from_env(c, "ALIBABA_CLOUD_ACCESS_KEY_ID",
                                  "ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ALIBABA_CLOUD_SECURITY_TOKEN");
        static const char *const keys[] = {"accessKeyID", "accessKeySecret", "stsToken", "endpoint"};
        char *vals[4];
        char *path = home_file(".ossutilconfig");
        ini_read(path, "Credentials", keys, vals, 4);
        free(path);
        found = found || set3(c, vals[0], vals[1], vals[2], "~/.ossutilconfig");
        if (vals[3] && *vals[3])
            *file_endpoint = strdup(vals[3]);
        free_vals(vals, 4);
    } else {
        const char *profile = o->profile && *o->profile ? o->profile : getenv("AWS_PROFILE");
        if (!profile || !*profile)
            profile = "default";
        mlic_strbuf_printf(&where, ", AWS_ACCESS_KEY_ID, ~/.aws/credentials [%s]", profile);
        found = found || from_env(c, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                  "AWS_SESSION_TOKEN");
        static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key",
                                           "aws_session_token"};
        char *vals[3];
        const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE");
        char *path = file && *file ? strdup(file) : home_file(".aws/credentials");
        ini_read(path, profile, keys, vals, 3);
        free(path);
        found = found || set3(c, vals[0], vals[1], vals[2], "~/.aws/credentials");
        free_vals(vals, 3);
    }
    (void)found;
    if (where.oom || (c->access_key_id && (!c->secret))) {
        mlic_strbuf_free(&where);
        mlic_credentials_free(c);
        free(*file_endpoint);
        *file_endpoint = NULL;
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory reading credentials");
    }
    *searched = where.data;
    return MLIC_OK;
}
