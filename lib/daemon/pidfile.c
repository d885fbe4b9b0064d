/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * pidfile.c - the core directive PidFile: the process id written to a file
 * at the start, before the privileges are dropped, and removed at the stop.
 *
 * The file is locked (flock) while the daemon runs, and the lock, not the
 * pid written in it, says whether it is live: a pid file nobody holds the
 * lock on is stale, whatever pid it names (a pid may have been reused), and
 * is replaced. A locked one refuses the start. The file is written whole
 * under a temporary name in the same directory and renamed (or, when there
 * was none, linked) into place, so a reader never sees half a pid.
 *
 * The descriptor stays open, locked, for the daemon's life, in a pool of
 * its own (a subpool of the daemon's pool): destroying it removes the file.
 * After a privilege drop the directory may not let the daemon remove it;
 * the file is then emptied through the descriptor it still holds, and the
 * lock goes with the descriptor, so the next start sees it stale.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <apr_strings.h>

#include "daemon_int.h"

#define PIDFILE_TRIES 8     /* another process moved the file meanwhile */

typedef struct pidfile {
    pev_daemon_t *d;
    const char *path;
    int fd;                 /* open and locked; -1: none */
    dev_t dev;
    ino_t ino;
} pidfile_t;

/* PidFile PATH */
static const char *core_pidfile(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    (void) mconf;
    (void) argc;
    if (!*argv[1])
        return "expects a path";
    pevi_gen_core(gen, 1)->pidfile = argv[1];
    return NULL;
}

const pev_directive_t pevi_pidfile_directives[] = {
    { "PidFile", 1, 1, core_pidfile, "PATH" },
    { NULL, 0, 0, NULL, NULL }
};

static apr_status_t os_error(pev_daemon_t *d, const char *what, const char *path, int err)
{
    char eb[128];

    pevi_daemon_set_error(d, "PidFile %s: cannot %s: %s", path, what,
                          pev_strerror(APR_FROM_OS_ERROR(err), eb, sizeof eb));
    return APR_FROM_OS_ERROR(err);
}

/* The pid written in @a fd, or 0. */
static long read_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    char *end;
    long pid;

    if (n <= 0)
        return 0;
    buf[n] = '\0';
    pid = strtol(buf, &end, 10);
    return pid > 0 && end != buf ? pid : 0;
}

/* A new file beside @a path holding our pid, locked: its descriptor, and
 * its name in *tmp; -1 and errno on failure. */
static int write_temp(const char *path, char **tmp, apr_pool_t *pool)
{
    char line[32];
    int fd, n, err;

    *tmp = apr_pstrcat(pool, path, ".XXXXXX", NULL);
    fd = mkstemp(*tmp);
    if (fd < 0)
        return -1;
    n = snprintf(line, sizeof line, "%ld\n", (long) getpid());
    errno = 0;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || flock(fd, LOCK_EX | LOCK_NB) != 0
        || fchmod(fd, 0644) != 0 || write(fd, line, (size_t) n) != n) {
        err = errno ? errno : EIO;
        close(fd);
        unlink(*tmp);
        errno = err;
        return -1;
    }
    return fd;
}

static apr_status_t pidfile_gone(void *data)
{
    pidfile_t *pf = data;
    pev_daemon_t *d = pf->d;
    struct stat st;
    char eb[128];

    if (d->proc)
        d->proc->pid_pool = NULL;
    if (pf->fd < 0)
        return APR_SUCCESS;
    /* only the file this process wrote: someone may have replaced it */
    if (stat(pf->path, &st) == 0 && st.st_dev == pf->dev && st.st_ino == pf->ino
        && unlink(pf->path) != 0) {
        int err = errno;

        /* the dropped privileges cannot remove it: empty it, and the lock
         * goes with the descriptor, so the next start replaces it */
        if (ftruncate(pf->fd, 0) != 0)
            err = errno;
        if (!d->dying)
            pev_daemon_log(d, PEV_LOG_INFO, "cannot remove PidFile %s (%s): left empty and "
                           "unlocked; the next start replaces it", pf->path,
                           pev_strerror(APR_FROM_OS_ERROR(err), eb, sizeof eb));
    }
    close(pf->fd);
    pf->fd = -1;
    return APR_SUCCESS;
}

/* Take @a path for this process: pf->fd open and locked on the file that
 * @a path names. */
static apr_status_t take(pev_daemon_t *d, pidfile_t *pf, apr_pool_t *pool)
{
    const char *path = pf->path;
    int tries;

    for (tries = 0; tries < PIDFILE_TRIES; tries++) {
        struct stat fst, pst;
        char *tmp;
        long pid;
        int old = open(path, O_RDWR | O_CLOEXEC), fd;

        if (old < 0 && errno == EACCES)     /* someone else's: flock needs no write */
            old = open(path, O_RDONLY | O_CLOEXEC);
        if (old < 0 && errno != ENOENT)
            return os_error(d, "open it", path, errno);
        if (old >= 0) {
            if (flock(old, LOCK_EX | LOCK_NB) != 0) {
                int err = errno;

                pid = read_pid(old);
                close(old);
                if (err != EWOULDBLOCK)
                    return os_error(d, "lock it", path, err);
                pevi_daemon_set_error(d, "already running as pid %ld (PidFile %s)",
                                      pid, path);
                return APR_EEXIST;
            }
            /* locked: but is it still the file @a path names? */
            if (fstat(old, &fst) != 0 || stat(path, &pst) != 0 || fst.st_dev != pst.st_dev
                || fst.st_ino != pst.st_ino) {
                close(old);
                continue;
            }
            pid = read_pid(old);
            if (pid > 0)
                pev_daemon_log(d, PEV_LOG_INFO, "PidFile %s is stale (pid %ld %s): replacing "
                               "it", path, pid, kill((pid_t) pid, 0) == 0 || errno == EPERM
                               ? "does not hold its lock" : "is not running");
            else
                pev_daemon_log(d, PEV_LOG_INFO, "PidFile %s holds no pid: replacing it", path);
            /* the old one stays locked until the new one is in place */
            fd = write_temp(path, &tmp, pool);
            if (fd < 0) {
                int err = errno;

                close(old);
                return os_error(d, "write a new one", path, err);
            }
            if (rename(tmp, path) != 0) {
                int err = errno;

                unlink(tmp);
                close(fd);
                close(old);
                return os_error(d, "rename it into place", path, err);
            }
            close(old);
        }
        else {
            fd = write_temp(path, &tmp, pool);
            if (fd < 0)
                return os_error(d, "write it", path, errno);
            /* link(): fails if another process made one meanwhile */
            if (link(tmp, path) != 0) {
                int err = errno;

                unlink(tmp);
                close(fd);
                if (err == EEXIST)
                    continue;
                return os_error(d, "link it into place", path, err);
            }
            unlink(tmp);
        }
        if (fstat(fd, &fst) != 0) {
            int err = errno;

            close(fd);
            return os_error(d, "stat it", path, err);
        }
        pf->fd = fd;
        pf->dev = fst.st_dev;
        pf->ino = fst.st_ino;
        return APR_SUCCESS;
    }
    pevi_daemon_set_error(d, "PidFile %s: it keeps changing (another process is writing "
                          "it)", path);
    return APR_EBUSY;
}

apr_status_t pevi_pidfile_acquire(pev_daemon_t *d, const pev_gen_t *gen)
{
    pevi_proc_t *proc = pevi_daemon_proc(d);
    const char *path = gen->core ? gen->core->pidfile : NULL;
    apr_pool_t *pp;
    pidfile_t *pf;
    apr_status_t st;

    if (!path || proc->pid_pool)
        return APR_SUCCESS;
    st = apr_pool_create(&pp, d->pool);
    if (st != APR_SUCCESS)
        return st;
    apr_pool_tag(pp, "pev_pidfile");
    pf = apr_pcalloc(pp, sizeof *pf);
    pf->d = d;
    pf->fd = -1;
    pf->path = apr_pstrdup(pp, path);
    apr_pool_cleanup_register(pp, pf, pidfile_gone, apr_pool_cleanup_null);
    st = take(d, pf, pp);
    if (st != APR_SUCCESS) {
        apr_pool_destroy(pp);
        return st;
    }
    proc->pid_pool = pp;
    /* for the reloads' comparison: once per daemon */
    proc->pidfile = apr_pstrdup(d->pool, path);
    return APR_SUCCESS;
}

void pevi_pidfile_release(pev_daemon_t *d)
{
    if (d->proc && d->proc->pid_pool)
        apr_pool_destroy(d->proc->pid_pool);
}
