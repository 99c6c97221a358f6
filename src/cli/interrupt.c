#include "cli/interrupt.h"

#include <stdio.h>
#include <string.h>

static volatile sig_atomic_t caught;

static void on_signal(int sig)
{
    if (caught) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    caught = sig;
}

const volatile sig_atomic_t *mlic_cli_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* Interrupted system calls resume: the flag is polled, and libraries (curl, oneDNN, MPI) need
     * not expect EINTR. */
    sa.sa_flags = SA_RESTART;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &caught;
}

int mlic_cli_interrupt_exit_code(void)
{
    return 128 + (caught ? caught : SIGINT);
}

/* An argument as the shell reads it back: bare if it is plain, else in single quotes. */
static void print_arg(FILE *f, const char *a)
{
    if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                        "-_./=:,+@%") == strlen(a)) {
        fprintf(f, " %s", a);
        return;
    }
    fputs(" '", f);
    for (; *a; a++)
        if (*a == '\'')
            fputs("'\\''", f);
        else
            fputc(*a, f);
    fputc('\'', f);
}

void mlic_cli_interrupt_report(const char *cmd, const char *what, int argc, char **argv)
{
    const int sig = caught ? caught : SIGINT;
    fprintf(stderr, "mlic %s: %s by %s: %s\nmlic %s: to continue, rerun the same command with "
            "--resume:\n  mlic", cmd, sig == SIGTERM ? "stopped" : "interrupted",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", what, cmd);
    int resume = 0;
    for (int i = 0; i < argc; i++) {
        print_arg(stderr, argv[i]);
        resume |= i > 0 && !strcmp(argv[i], "--resume");
    }
    fprintf(stderr, "%s\n", resume ? "" : " --resume");
}
