/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * privs.c - the core directives User and Group, and the privilege drop of
 * the start: the sockets are bound (and the pid file written) as root, then
 * the process changes to the configured user for good, before any module
 * init runs and before any connection is accepted. A process cannot regain
 * root, so a reload that changes User or Group is refused, and a reload's
 * new address that only root may bind fails with a message that says so.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#include "daemon_int.h"

#define PW_BUF_START 16384
#define PW_BUF_MAX (1024 * 1024)

pevi_core_conf_t *pevi_gen_core(pev_gen_t *gen, int make)
{
    if (!gen->core && make)
        gen->core = apr_pcalloc(gen->conf_pool, sizeof *gen->core);
    return gen->core;
}

static apr_status_t proc_pool_gone(void *data)
{
    apr_pool_destroy(data);
    return APR_SUCCESS;
}

pevi_proc_t *pevi_daemon_proc(pev_daemon_t *d)
{
    if (!d->proc) {
        d->proc = apr_pcalloc(d->pool, sizeof *d->proc);
        /* its own pool: a worker may add a record while the main thread
         * makes subpools of d->pool (limits.c, under the workers' lock) */
        if (apr_pool_create_unmanaged_ex(&d->proc->hosts_pool, NULL, NULL) == APR_SUCCESS)
            apr_pool_cleanup_register(d->pool, d->proc->hosts_pool, proc_pool_gone,
                                      apr_pool_cleanup_null);
        else
            d->proc->hosts_pool = d->pool;  /* no workers can start then */
    }
    return d->proc;
}

/* A whole decimal id, or -1. */
static long parse_id(const char *s)
{
    char *end;
    long v;

    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (*end || errno == ERANGE || v < 0 || v > 0x7fffffffL)
        return -1;
    return v;
}

/* One reentrant lookup: the entry of @a name (or of uid/gid @a id when it
 * is not -1) into @a entry, its strings in @a buf of @a size bytes; the
 * call's result (ERANGE: @a buf is too small), *found set when there is an
 * entry. */
typedef int (*entry_get_fn)(void *entry, const char *name, long id, char *buf,
                            apr_size_t size, int *found);

static int get_user(void *entry, const char *name, long id, char *buf, apr_size_t size,
                    int *found)
{
    struct passwd *res = NULL;
    int rc = id >= 0 ? getpwuid_r((uid_t) id, entry, buf, size, &res)
                     : getpwnam_r(name, entry, buf, size, &res);

    *found = res != NULL;
    return rc;
}

static int get_group(void *entry, const char *name, long id, char *buf, apr_size_t size,
                     int *found)
{
    struct group *res = NULL;
    int rc = id >= 0 ? getgrgid_r((gid_t) id, entry, buf, size, &res)
                     : getgrnam_r(name, entry, buf, size, &res);

    *found = res != NULL;
    return rc;
}

/* The entry of @a name (or numeric id) into *entry by @a get, with its
 * strings in @a pool, the buffer growing while it is too small; 0, or an
 * errno (ENOENT: none). */
static int lookup_entry(const char *name, void *entry, entry_get_fn get, apr_pool_t *pool)
{
    long id = parse_id(name);
    apr_size_t size;

    for (size = PW_BUF_START; size <= PW_BUF_MAX; size *= 4) {
        int found = 0;
        int rc = get(entry, name, id, apr_palloc(pool, size), size, &found);

        if (rc == ERANGE)
            continue;
        if (rc != 0)
            return rc;
        return found ? 0 : ENOENT;
    }
    return ERANGE;
}

/* The error of a User or Group lookup that returned @a rc for @a name
 * (numeric value @a id, or -1), or NULL when the value is usable: found, or
 * a number without an entry. */
static const char *lookup_failed(apr_pool_t *p, const char *what, const char *name, int rc,
                                 long id)
{
    char eb[128];

    if (rc == ENOENT && id < 0)
        return apr_psprintf(p, "no such %s '%s'", what, name);
    if (rc != 0 && rc != ENOENT)
        return apr_psprintf(p, "cannot look up %s '%s': %s", what, name,
                            pev_strerror(APR_FROM_OS_ERROR(rc), eb, sizeof eb));
    return NULL;
}

/* User NAME|UID: looked up now, so that a configuration check (and the
 * start's message, with the file and line) names a user that does not
 * exist. */
static const char *core_user(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pevi_core_conf_t *core = pevi_gen_core(gen, 1);
    apr_pool_t *p = gen->conf_pool;
    struct passwd pw;
    long id = parse_id(argv[1]);
    const char *err;
    int rc;

    (void) mconf;
    (void) argc;
    rc = lookup_entry(argv[1], &pw, get_user, p);
    if ((err = lookup_failed(p, "user", argv[1], rc, id)) != NULL)
        return err;
    core->user = argv[1];
    if (rc == 0) {
        core->uid = pw.pw_uid;
        core->user_gid = pw.pw_gid;
        core->login = apr_pstrdup(p, pw.pw_name);
    }
    else {                          /* a uid without a passwd entry */
        core->uid = (uid_t) id;
        core->user_gid = 0;
        core->login = NULL;
    }
    return NULL;
}

/* Group NAME|GID */
static const char *core_group(pev_gen_t *gen, void *mconf, int argc, char *argv[])
{
    pevi_core_conf_t *core = pevi_gen_core(gen, 1);
    apr_pool_t *p = gen->conf_pool;
    struct group gr;
    long id = parse_id(argv[1]);
    const char *err;
    int rc;

    (void) mconf;
    (void) argc;
    rc = lookup_entry(argv[1], &gr, get_group, p);
    if ((err = lookup_failed(p, "group", argv[1], rc, id)) != NULL)
        return err;
    core->group = argv[1];
    core->gid = rc == 0 ? gr.gr_gid : (gid_t) id;
    return NULL;
}

const pev_directive_t pevi_privs_directives[] = {
    { "User", 1, 1, core_user, "NAME|UID" },
    { "Group", 1, 1, core_group, "NAME|GID" },
    { NULL, 0, 0, NULL, NULL }
};

/* The uid and gid a configuration asks for; 0 when it sets no User. */
static int wanted(const pevi_core_conf_t *core, uid_t *uid, gid_t *gid)
{
    if (!core || !core->user)
        return 0;
    *uid = core->uid;
    *gid = core->group ? core->gid : core->user_gid;
    return 1;
}

static const char *or_none(const char *s)
{
    return s ? s : "(none)";
}

static int same_path(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

apr_status_t pevi_privs_check(pev_daemon_t *d, const pev_gen_t *gen)
{
    const pevi_core_conf_t *core = gen->core;
    const pevi_proc_t *proc = d->proc;
    uid_t uid = 0;
    gid_t gid = 0;
    int has;

    if (core && core->group && !core->user) {
        pevi_daemon_set_error(d, "Group %s is set without User (Group needs User)",
                              core->group);
        return PEV_ECONFIG;
    }
    if (core && core->user && !core->login && !core->group) {
        pevi_daemon_set_error(d, "User %s has no passwd entry: set Group too", core->user);
        return PEV_ECONFIG;
    }
    if (!proc || !proc->started || d->state != D_RUNNING)
        return APR_SUCCESS;
    /* a running daemon: what the start set up stays */
    has = wanted(core, &uid, &gid);
    if (has != proc->has_user || (has && (uid != proc->uid || gid != proc->gid))) {
        pevi_daemon_set_error(d, "User/Group changed (from %s/%s to %s/%s): they take effect "
                              "at the start only; restart the process to change them",
                              or_none(proc->user), or_none(proc->group),
                              or_none(core ? core->user : NULL),
                              or_none(core ? core->group : NULL));
        return PEV_ECONFIG;
    }
    if (!same_path(proc->pidfile, core ? core->pidfile : NULL)) {
        pevi_daemon_set_error(d, "PidFile changed (from %s to %s): it takes effect at the "
                              "start only; restart the process to change it",
                              or_none(proc->pidfile), or_none(core ? core->pidfile : NULL));
        return PEV_ECONFIG;
    }
    return APR_SUCCESS;
}

/* Set d->error for a failed step and return its status. */
static apr_status_t drop_failed(pev_daemon_t *d, const char *user, const char *step, int err)
{
    char eb[128];

    pevi_daemon_set_error(d, "cannot drop privileges to user %s: %s: %s", user, step,
                          pev_strerror(APR_FROM_OS_ERROR(err), eb, sizeof eb));
    return APR_FROM_OS_ERROR(err);
}

apr_status_t pevi_privs_drop(pev_daemon_t *d, const pev_gen_t *gen)
{
    pevi_proc_t *proc = pevi_daemon_proc(d);
    const pevi_core_conf_t *core = gen->core;
    uid_t uid;
    gid_t gid;

    proc->has_user = wanted(core, &uid, &gid);
    if (!proc->has_user) {
        proc->started = 1;
        return APR_SUCCESS;
    }
    /* kept for the reloads' comparison: once per daemon */
    proc->uid = uid;
    proc->gid = gid;
    proc->user = apr_pstrdup(d->pool, core->user);
    proc->group = core->group ? apr_pstrdup(d->pool, core->group) : NULL;
    proc->has_group = core->group != NULL;
    if (getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid) {
        proc->started = 1;          /* already that user: nothing to drop */
        pev_daemon_log(d, PEV_LOG_DEBUG, "already running as uid %lu, gid %lu",
                       (unsigned long) uid, (unsigned long) gid);
        return APR_SUCCESS;
    }
    if (geteuid() != 0) {
        pevi_daemon_set_error(d, "cannot change to user %s (uid %lu): not running as root "
                              "(uid %lu)", core->user, (unsigned long) uid,
                              (unsigned long) geteuid());
        return APR_FROM_OS_ERROR(EPERM);
    }
    /* the supplementary groups, the group, the user: in this order, since
     * each step needs the privileges the next one gives up */
    if (core->login) {
        if (initgroups(core->login, gid) != 0)
            return drop_failed(d, core->user, "initgroups", errno);
    }
    else if (setgroups(1, &gid) != 0)
        return drop_failed(d, core->user, "setgroups", errno);
    if (setgid(gid) != 0)
        return drop_failed(d, core->user, "setgid", errno);
    if (setuid(uid) != 0)
        return drop_failed(d, core->user, "setuid", errno);
    /* verify: real and effective ids, and no way back */
    if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
        pevi_daemon_set_error(d, "cannot drop privileges to user %s: the process runs as "
                              "uid %lu/%lu, gid %lu/%lu after the change", core->user,
                              (unsigned long) getuid(), (unsigned long) geteuid(),
                              (unsigned long) getgid(), (unsigned long) getegid());
        return APR_EGENERAL;
    }
    if (uid != 0 && setuid(0) == 0) {
        pevi_daemon_set_error(d, "cannot drop privileges to user %s: root could be regained "
                              "after the change", core->user);
        return APR_EGENERAL;
    }
    proc->dropped = uid != 0;
    proc->started = 1;
    pev_daemon_log(d, PEV_LOG_INFO, "running as user %s (uid %lu), group %s (gid %lu)",
                   core->user, (unsigned long) uid,
                   core->group ? core->group : "of the user", (unsigned long) gid);
    return APR_SUCCESS;
}

void pevi_privs_bind_error(pev_daemon_t *d, const char *key, apr_status_t st)
{
    char eb[128];

    if (!d->proc || !d->proc->dropped || !APR_STATUS_IS_EACCES(st))
        return;
    pevi_daemon_set_error(d, "cannot bind %s after dropping privileges: %s; use socket "
                          "activation or restart", key, pev_strerror(st, eb, sizeof eb));
}
