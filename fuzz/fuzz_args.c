/* libFuzzer harness: the CLI's option parsing (src/cli/args.c) as `mlic predict` drives it, both
 * spellings (--name value, --name=value, EasyVision's -Dname=value), numbers and float lists. The
 * input is the argument words separated by NUL bytes; nothing runs, only the parse. */
#include "cli/args.h"
#include "cli/commands.h"
#include "fuzz.h"

#define MAX_WORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
    char *text = fuzz_terminated(data, len);
    char *argv[MAX_WORDS + 2];
    int argc = 0;
    argv[argc++] = "predict";
    for (char *w = text; w <= text + len && argc <= MAX_WORDS; w += strlen(w) + 1)
        argv[argc++] = w;
    argv[argc] = NULL;
    mlic_predict_opts o;
    int workers, progress;
    mlic_predict_parse_args(argc, argv, &o, &workers, &progress);
    /* The helpers the other subcommands use on their values (--mean, --std, --epochs...). */
    for (int i = 1; i < argc; i++) {
        float f[3];
        int n;
        mlic_args_float_list("train", "--mean", argv[i], f, 3);
        mlic_args_int("train", "--epochs", argv[i], 1, 1000000, &n);
    }
    free(text);
    return 0;
}
