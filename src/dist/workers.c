#include "dist/workers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/error.h"

extern char **environ;

int mlic_dist_mpi_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_SIZE");
}

int mlic_worker_link_from_env(mlic_worker_link *w)
{
    const char *v = getenv(MLIC_WORKER_ENV);
    if (!v)
        return 0;
    char tail;
    if (sscanf(v, "%d/%d/%d%c", &w->rank, &w->nranks, &w->fd, &tail) != 3 || w->nranks < 1 ||
        w->rank < 0 || w->rank >= w->nranks || w->fd < 0)
        return -1;
    return 1;
}

static int send_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int recv_all(int fd, void *data, size_t n)
{
    char *p = data;
    while (n > 0) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

mlic_status mlic_worker_exchange(void *ctx, uint64_t share_lines, int ok, uint64_t *lines_before,
                                 int *all_ok)
{
    mlic_worker_link *w = ctx;
    uint64_t msg[2] = {share_lines, (uint64_t)(ok != 0)}, reply[2];
    if (send_all(w->fd, msg, sizeof msg) || recv_all(w->fd, reply, sizeof reply))
        return mlic_fail(MLIC_ERR_INTERNAL, "worker %d of %d lost its launcher: %s", w->rank, w->nranks,
                         strerror(errno));
    *lines_before = reply[0];
    *all_ok = reply[1] != 0;
    return MLIC_OK;
}

/* The environment of worker r: ours plus MLIC_WORKER_ENV (built before fork: after fork only
 * async-signal-safe calls are allowed). */
static char **worker_environ(int r, int n, int fd)
{
    size_t count = 0;
    while (environ[count])
        count++;
    char **env = calloc(count + 2, sizeof *env);
    char *var = malloc(64);
    if (!env || !var) {
        free(env);
        free(var);
        return NULL;
    }
    size_t k = 0, len = strlen(MLIC_WORKER_ENV);
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], MLIC_WORKER_ENV "=", len + 1))
            env[k++] = environ[i];
    snprintf(var, 64, MLIC_WORKER_ENV "=%d/%d/%d", r, n, fd);
    env[k] = var;
    return env;
}

static void free_environ(char **env)
{
    if (!env)
        return;
    size_t i = 0;
    while (env[i + 1])
        i++;
    free(env[i]);
    free(env);
}

/* In the child, between fork and exec. A process group of its own: a terminal's Ctrl-C reaches
 * the launcher alone, which passes it on once (a worker that got it twice would die of the
 * second). */
static void exec_worker(pid_t launcher, int fd, char *const *argv, char **env)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != launcher || setpgid(0, 0) != 0)
        _exit(127);
    int flags = fcntl(fd, F_GETFD);
    if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0)
        _exit(127);
    execve("/proc/self/exe", argv, env);
    _exit(127);
}

/* How often a waiting launcher looks at its cancel flag. */
#define CANCEL_POLL_MS 50

typedef struct {
    const pid_t *pids;
    int n;
    const volatile sig_atomic_t *cancel;
    int forwarded;
} launch;

/* Once the cancel flag is set: its signal to every worker, once. */
static void forward_cancel(launch *l)
{
    if (!l->cancel || !*l->cancel || l->forwarded)
        return;
    l->forwarded = 1;
    for (int r = 0; r < l->n; r++)
        kill(l->pids[r], (int)*l->cancel);
}

/* Until fd has something to read (or is closed), forwarding a cancel meanwhile. */
static void wait_readable(launch *l, int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        forward_cancel(l);
        const int r = poll(&p, 1, CANCEL_POLL_MS);
        if (r > 0 || (r < 0 && errno != EINTR))
            return;
    }
}

/* waitpid, forwarding a cancel meanwhile. */
static pid_t wait_worker(launch *l, pid_t pid, int *ws)
{
    const struct timespec pause = {0, CANCEL_POLL_MS * 1000000L};
    for (;;) {
        forward_cancel(l);
        const pid_t got = waitpid(pid, ws, WNOHANG);
        if (got != 0 && !(got < 0 && errno == EINTR))
            return got;
        nanosleep(&pause, NULL);
    }
}

static int exit_status(int ws)
{
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : WIFSIGNALED(ws) ? 128 + WTERMSIG(ws) : 1;
}

mlic_status mlic_workers_run(char *const *argv, int nworkers, int *status,
                             const volatile sig_atomic_t *cancel)
{
    pid_t *pids = calloc((size_t)nworkers, sizeof *pids);
    int *fds = malloc((size_t)nworkers * sizeof *fds);
    uint64_t (*msg)[2] = calloc((size_t)nworkers, sizeof *msg);
    if (!pids || !fds || !msg) {
        free(pids);
        free(fds);
        free(msg);
        return mlic_fail(MLIC_ERR_NOMEM, "out of memory");
    }
    mlic_status st = MLIC_OK;
    pid_t self = getpid();
    int started = 0;
    for (; started < nworkers; started++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
            st = mlic_fail(MLIC_ERR_INTERNAL, "starting worker %d: socketpair: %s", started, strerror(errno));
            break;
        }
        char **env = worker_environ(started, nworkers, sv[1]);
        pid_t pid = env ? fork() : -1;
        if (pid == 0)
            exec_worker(self, sv[1], argv, env);
        int e = errno;
        free_environ(env);
        close(sv[1]);
        if (pid < 0) {
            close(sv[0]);
            st = env ? mlic_fail(MLIC_ERR_INTERNAL, "starting worker %d: fork: %s", started, strerror(e))
                     : mlic_fail(MLIC_ERR_NOMEM, "out of memory");
            break;
        }
        pids[started] = pid;
        fds[started] = sv[0];
    }
    if (st != MLIC_OK)
        for (int r = 0; r < started; r++)
            kill(pids[r], SIGKILL);

    launch l = {.pids = pids, .n = started, .cancel = cancel};
    /* The exchange: a worker that exits before it reports counts as failed to start. */
    int all_ok = st == MLIC_OK;
    for (int r = 0; r < started; r++) {
        wait_readable(&l, fds[r]);
        if (recv_all(fds[r], msg[r], sizeof msg[r]) || !msg[r][1])
            all_ok = 0;
    }
    uint64_t before = 0;
    for (int r = 0; r < started; r++) {
        uint64_t reply[2] = {before, (uint64_t)all_ok};
        send_all(fds[r], reply, sizeof reply); /* a worker that is gone needs no answer */
        before += msg[r][0];
        close(fds[r]);
    }
    for (int r = 0; r < started; r++) {
        int ws;
        const pid_t got = wait_worker(&l, pids[r], &ws);
        status[r] = got == pids[r] ? exit_status(ws) : 1;
    }
    free(pids);
    free(fds);
    free(msg);
    return st;
}
