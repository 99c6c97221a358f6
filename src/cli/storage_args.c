#include "cli/storage_args.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

const char mlic_cli_storage_help[] =
    "Object storage (s3://bucket/key, oss://bucket/key; docs/storage.md):\n"
    "  --s3-endpoint URL       s3:// endpoint (default AWS_ENDPOINT_URL, else AWS)\n"
    "  --oss-endpoint HOST     oss:// endpoint, e.g. oss-cn-hangzhou.aliyuncs.com (OSS_ENDPOINT)\n"
    "  --region R              s3:// signing region (AWS_REGION, else us-east-1)\n"
    "  --profile P             ~/.aws/credentials section (AWS_PROFILE, else default)\n"
    "  --role-arn ARN          assume this role through STS first (AWS roles)\n"
    "  --access-key-id K --access-key-secret S --session-token T\n"
    "                          credentials (prefer the environment: OSS_ACCESS_KEY_ID/...,\n"
    "                          AWS_ACCESS_KEY_ID/...; a command line is visible to other users)\n"
    "  --path-style            bucket in the URL path (automatic for IP and localhost endpoints)\n"
    "  --fetch-concurrency N   requests in flight per fetching stage (default 0: automatic)\n"
    "  EasyVision: -DossHost=HOST (--oss-endpoint), -Darn=ARN (--role-arn),\n"
    "              -Dbuckets=oss://bucket/prefix/ (relative paths resolve against it)\n";

void mlic_cli_storage_init(mlic_cli_storage *s)
{
    memset(s, 0, sizeof *s);
    mlic_storage_opts_init(&s->opts);
}

/* -Dname=value: 1 and *value when arg is that option. */
static int d_option(const char *arg, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(arg, "-D", 2) || strncmp(arg + 2, name, n) || arg[2 + n] != '=')
        return 0;
    *value = arg + 3 + n;
    return 1;
}

/* The value of key in a "k=v&k=v" query, copied into buf; 0 when absent. */
static int query_value(const char *q, const char *key, char *buf, size_t cap)
{
    size_t k = strlen(key);
    for (const char *p = q; p && *p; p = strchr(p, '&') ? strchr(p, '&') + 1 : NULL) {
        if (!strncmp(p, key, k) && p[k] == '=') {
            size_t n = strcspn(p + k + 1, "&");
            if (n >= cap)
                return 0;
            memcpy(buf, p + k + 1, n);
            buf[n] = '\0';
            return 1;
        }
    }
    return 0;
}

int mlic_cli_storage_option(mlic_cli_storage *s, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i], *v;
    if (mlic_args_flag(a, "--path-style")) {
        s->opts.path_style = 1;
        return 1;
    }
    if (d_option(a, "ossHost", &v)) {
        s->opts.oss_endpoint = v;
        return 1;
    }
    if (d_option(a, "arn", &v)) {
        s->opts.role_arn = v;
        return 1;
    }
    if (d_option(a, "buckets", &v)) {
        size_t n = strcspn(v, "?");
        if (n >= sizeof s->buckets_buf) {
            fprintf(stderr, "mlic %s: -Dbuckets is too long\n", cmd);
            return -1;
        }
        memcpy(s->buckets_buf, v, n);
        s->buckets_buf[n] = '\0';
        s->buckets = s->buckets_buf;
        if (v[n] == '?') {
            /* Used in finish, unless an option names them: options win over -Dbuckets. */
            query_value(v + n + 1, "role_arn", s->role_buf, sizeof s->role_buf);
            query_value(v + n + 1, "host", s->host_buf, sizeof s->host_buf);
        }
        return 1;
    }
    static const char *const valued[] = {"--s3-endpoint", "--oss-endpoint", "--region",
                                         "--profile", "--role-arn", "--access-key-id",
                                         "--access-key-secret", "--session-token",
                                         "--fetch-concurrency"};
    for (size_t k = 0; k < sizeof valued / sizeof *valued; k++) {
        int r = mlic_args_value(cmd, argc, argv, i, valued[k], &v);
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        switch (k) {
        case 0: s->opts.s3_endpoint = v; break;
        case 1: s->opts.oss_endpoint = v; break;
        case 2: s->opts.region = v; break;
        case 3: s->opts.profile = v; break;
        case 4: s->opts.role_arn = v; break;
        case 5: s->opts.access_key_id = v; break;
        case 6:
            s->opts.secret_access_key = v;
            s->secret_on_command_line = 1;
            break;
        case 7: s->opts.session_token = v; break;
        case 8:
            if (mlic_args_int(cmd, "--fetch-concurrency", v, 0, 1024, &s->opts.max_in_flight))
                return -1;
            break;
        }
        if (!*v && k != 8) {
            fprintf(stderr, "mlic %s: %s is empty\nHINT: run 'mlic %s --help'\n", cmd, valued[k],
                    cmd);
            return -1;
        }
        return 1;
    }
    return 0;
}

void mlic_cli_storage_finish(mlic_cli_storage *s, const char *cmd)
{
    if (!s->opts.role_arn && s->role_buf[0])
        s->opts.role_arn = s->role_buf;
    if (!s->opts.oss_endpoint && s->host_buf[0])
        s->opts.oss_endpoint = s->host_buf;
    if (s->secret_on_command_line)
        fprintf(stderr, "mlic %s: note: a secret on the command line can be read by other users "
                "of this machine (ps); prefer OSS_ACCESS_KEY_SECRET or AWS_SECRET_ACCESS_KEY\n",
                cmd);
}
