/* The object-storage options every subcommand takes (docs/storage.md), in mlic's spelling and
 * EasyVision's:
 *
 *   --s3-endpoint URL     s3:// endpoint (AWS_ENDPOINT_URL)
 *   --oss-endpoint HOST   oss:// endpoint (OSS_ENDPOINT)          -DossHost=HOST
 *   --region R            signing region of s3:// (AWS_REGION)
 *   --profile P           section of ~/.aws/credentials (AWS_PROFILE)
 *   --role-arn ARN        STS AssumeRole first                     -Darn=ARN
 *   --access-key-id K, --access-key-secret S, --session-token T   (discouraged: other users see
 *                         a command line; the environment is preferred)
 *   --path-style          bucket in the URL's path, not its host name
 *   --fetch-concurrency N requests in flight per fetching stage (0: automatic)
 *   -Dbuckets=oss://bucket/prefix/   the prefix relative list lines and outputs resolve against;
 *                         PAI's form "oss://bucket/?role_arn=ARN&host=HOST" also sets the role
 *                         and the endpoint when they are not given otherwise.
 *
 * A subcommand's option loop calls mlic_cli_storage_option first for each argument and, once
 * the loop is done, mlic_cli_storage_finish; mlic_cli_storage.opts then goes to the library
 * (mlic_predict_opts.storage and the like). Strings point into argv or into the struct. */
#ifndef MLIC_CLI_STORAGE_ARGS_H
#define MLIC_CLI_STORAGE_ARGS_H

#include "mlic.h"

typedef struct {
    mlic_storage_opts opts;
    const char *buckets; /* -Dbuckets without its query; NULL: not given */
    char buckets_buf[2048];
    char role_buf[512], host_buf[512];
    int secret_on_command_line;
} mlic_cli_storage;

void mlic_cli_storage_init(mlic_cli_storage *s);

/* If argv[*i] is a storage option: applies it, leaves *i on the option's last word and returns
 * 1; 0 when it is not one; -1 after printing "mlic CMD: ..." about a bad value (the caller exits
 * 2). */
int mlic_cli_storage_option(mlic_cli_storage *s, const char *cmd, int argc, char **argv, int *i);

/* After the loop: the PAI form of -Dbuckets fills what the options left unset, and a secret
 * given on the command line gets a note on stderr (never the secret). */
void mlic_cli_storage_finish(mlic_cli_storage *s, const char *cmd);

/* The lines --help prints for these options. */
extern const char mlic_cli_storage_help[];

#endif
