#include "io/sts.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/error.h"
#include "io/client.h"
#include "io/s3_sign.h"
#include "io/s3_xml.h"
#include "io/transfer.h"

/* STS answers AssumeRole in one round trip; a minute covers a slow one. */
#define STS_TIMEOUT_MS 60000L
#define STS_REPLY_LIMIT (64 * 1024)

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static mlic_status call_sts(mlic_service *s3, const mlic_service *sts, const char *role_arn)
{
    char session[64];
    snprintf(session, sizeof session, "mlic-%ld", (long)getpid());
    const char *names[] = {"Action", "Version", "RoleArn", "RoleSessionName", "DurationSeconds"};
    const char *values[] = {"AssumeRole", "2011-06-15", role_arn, session, "3600"};
    char *form = mlic_s3_query(names, values, 5);
    CURL *c = curl_easy_init();
    if (!form || !c) {
        free(form);
        if (c)
            curl_easy_cleanup(c);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory calling STS");
    }
    char path[512];
    snprintf(path, sizeof path, "STS AssumeRole %s", role_arn);
    mlic_xfer x = {
        .path = path,
        .method = "POST",
        .service = sts,
        .service_name = "sts",
        .content_type = "application/x-www-form-urlencoded",
        .upload = (const uint8_t *)form,
        .upload_len = strlen(form),
        .limit = STS_REPLY_LIMIT,
        .timeout_ms = STS_TIMEOUT_MS,
        .connect_timeout_ms = 10000,
    };
    mlic_xfer_init(&x);
    unsigned seed = (unsigned)getpid();
    mlic_status st = MLIC_OK;
    for (;;) {
        if ((st = mlic_xfer_setup(&x, c)) != MLIC_OK)
            break;
        CURLcode rc = curl_easy_perform(c);
        mlic_xfer_outcome out = mlic_xfer_judge(&x, c, rc, MLIC_IO_DEFAULT_RETRIES, &st);
        if (out == MLIC_XFER_DONE)
            break;
        if (out == MLIC_XFER_FAILED)
            goto done;
        usleep((useconds_t)mlic_xfer_backoff_ms(&x, &seed) * 1000);
    }
    if (st == MLIC_OK) {
        char id[256], secret[256], token[16384];
        const char *xml = (const char *)x.buf;
        if (mlic_xml_text(xml, x.len, "AccessKeyId", id, sizeof id) <= 0 ||
            mlic_xml_text(xml, x.len, "SecretAccessKey", secret, sizeof secret) <= 0 ||
            mlic_xml_text(xml, x.len, "SessionToken", token, sizeof token) <= 0) {
            st = mlic_fail(MLIC_ERR_FORMAT, "%s: the reply holds no credentials. HINT: is %s an "
                           "STS endpoint?", path, sts->host);
        } else {
            mlic_credentials_free(&s3->creds);
            s3->creds.access_key_id = strdup(id);
            s3->creds.secret = strdup(secret);
            s3->creds.session_token = strdup(token);
            s3->creds.source = "STS AssumeRole";
            if (!s3->creds.access_key_id || !s3->creds.secret || !s3->creds.session_token)
                st = mlic_fail(MLIC_ERR_NOMEM, "out of memory");
        }
        memset(secret, 0, sizeof secret);
        memset(token, 0, sizeof token);
    }
done:
    mlic_xfer_cleanup(&x);
    if (x.buf)
        memset(x.buf, 0, x.len);
    free(x.buf);
    free(form);
    curl_easy_cleanup(c);
    return st;
}

mlic_status mlic_sts_assume_role(mlic_service *s3, mlic_service *oss, const char *role_arn)
{
    (void)oss;
    if (!strncmp(role_arn, "acs:", 4))
        return mlic_fail(MLIC_ERR_UNSUPPORTED, "role '%s': assuming an Alibaba RAM role is not "
                         "supported (mlic implements AWS's STS only). HINT: assume the role "
                         "outside mlic (aliyun sts AssumeRole) and pass the temporary "
                         "credentials in OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET and "
                         "OSS_SESSION_TOKEN (or ALIBABA_CLOUD_SECURITY_TOKEN)", role_arn);
    if (strncmp(role_arn, "arn:", 4))
        return mlic_fail(MLIC_ERR_INVALID_ARG, "role '%s' is not a role ARN. HINT: write "
                         "arn:aws:iam::ACCOUNT:role/NAME", role_arn);
    if (!s3->creds.access_key_id)
        return mlic_fail(MLIC_ERR_INVALID_ARG, "role '%s': no credentials to assume it with "
                         "(looked at %s). HINT: set them in the environment (docs/storage.md)",
                         role_arn, s3->searched);
    mlic_service sts = *s3;
    sts.host = NULL;
    sts.path_style = 1;
    sts.have_endpoint = 1;
    mlic_status st;
    const char *ep = env("AWS_ENDPOINT_URL_STS");
    char aws[128];
    if (ep) {
        st = mlic_endpoint_parse(&sts.https, &sts.host, ep, "AWS_ENDPOINT_URL_STS");
    } else if (s3->host && !strstr(s3->host, ".amazonaws.com")) {
        st = (sts.host = strdup(s3->host)) ? MLIC_OK : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    } else {
        snprintf(aws, sizeof aws, "https://sts.%s.amazonaws.com", s3->region);
        st = mlic_endpoint_parse(&sts.https, &sts.host, aws, "STS's endpoint");
    }
    if (st == MLIC_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        st = mlic_fail(MLIC_ERR_NETWORK, "STS AssumeRole %s: curl_global_init failed", role_arn);
    else if (st == MLIC_OK) {
        st = call_sts(s3, &sts, role_arn);
        curl_global_cleanup();
    }
    free(sts.host);
    return st;
}
