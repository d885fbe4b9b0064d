/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * check_bus_model.c - randomized model-based test of the bus (rules 1-13).
 *
 * A seeded generator performs POOLEV_MODEL_OPS (default 200,000) random
 * operations: register (also from callbacks), unregister by handle and by
 * filter, generate by name and by handle (also nested), pool create / clear /
 * destroy in a random tree (also from callbacks, also the bus's own pool and
 * its ancestors), module add and remove, duplicate registrations, dumps.
 *
 * The reference model is deliberately naive: a flat array of listeners with
 * alive/running flags; a dispatch takes a snapshot of the live listeners of
 * the event, sorts it by (priority, module order, id) and calls each one that
 * is still alive and not running. For every top-level operation the model runs
 * first and records the calls it expects together with the concrete action
 * each call performs (targets chosen from the model's state). The real bus
 * then runs the same operation; every real callback checks that it is the
 * next expected call and replays the recorded action. Any difference in who
 * is called, in which order, or in a returned status fails with the seed.
 *
 * Reproduce a failure: POOLEV_SEED=<seed> make check TESTS=t/check_bus_model
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_strings.h>
#include <poolev.h>
#include "harness.h"

#define NEVENTS 7               /* e0..e5 and the module-unload event */
#define EV_UNLOAD 6
#define MAXPOOLS 24
#define MAXLIVE 64              /* keeps dispatch fan-out small */
#define ANY (-2)
#define CORE (-1)

static const char *const EVNAME[NEVENTS] = {
    "e0", "e1", "e2", "e3", "e4", "e5", PEV_EVENT_MODULE_UNLOAD
};

/* ------------------------------------------------------------------ state */

typedef struct {
    int alive, running;
    int event, mod, prio, pool, fnsel;  /* pool -1: bus lifetime */
    pev_listener_t *h;                  /* real handle */
    int *ud;                            /* real user_data (holds the id) */
} lis_t;

typedef struct {
    int order, removed;
    char name[16];
    pev_module_t *h;
} mod_t;

typedef struct {
    int parent, alive;                  /* model */
    apr_pool_t *real;                   /* real (NULL once gone) */
} mpool_t;

enum { A_NONE, A_REG, A_UNREG, A_FILTER, A_GEN, A_POOL, A_MODREM };

typedef struct {
    int kind;
    int a, b, c, d, e, f;               /* operands, see act_* */
    apr_status_t expect;
} act_t;

typedef struct {
    int id;                             /* listener expected to be called */
    act_t act;                          /* what it then does */
} step_t;

static pt_rng_t RNG;
static lis_t *L;
static int NL, CAPL;
static mod_t MODS[16384];
static int NMODS, FIRST_MOD;            /* modules of the current bus: >= FIRST_MOD */
static int NEXT_ORDER;
static mpool_t P[MAXPOOLS];
static int BUS_POOL = -1, BUS_ALIVE, MAX_DEPTH, LIVE;
static pev_bus_t *RBUS;
static pev_event_t *HANDLES[NEVENTS];
static long OPNO;
static uint64_t SEED;

static step_t *STEPS;
static int NSTEPS, CAPSTEPS, CURSOR;

/* event_data tokens: the real callback checks it got its dispatch's token */
static int TOKENS[64];
static int NTOK;

/* Fail the test with the seed and the operation number. */
#define MODEL_FAIL(...) do {                                                    \
        char m_[512];                                                           \
        snprintf(m_, sizeof m_, __VA_ARGS__);                                   \
        ck_abort_msg("seed %llu, op %ld: %s", (unsigned long long) SEED, OPNO, m_); \
    } while (0)

#define EXPECT_STATUS(what, got, want) do {                                     \
        apr_status_t g_ = (got), w_ = (want);                                   \
        if (g_ != w_)                                                           \
            MODEL_FAIL("%s: status %d, model says %d", what, g_, w_);           \
    } while (0)

/* ------------------------------------------------------------------ pools */

static int in_subtree(int q, int root)
{
    for (; q >= 0; q = P[q].parent)
        if (q == root)
            return 1;
    return 0;
}

static int random_live_pool(void)
{
    int ids[MAXPOOLS], n = 0, i;

    for (i = 0; i < MAXPOOLS; i++)
        if (P[i].alive)
            ids[n++] = i;
    return ids[pt_below(&RNG, (unsigned) n)];
}

/* ------------------------------------------------------------------ model */

static int order_of(const lis_t *l)
{
    return l->mod == CORE ? 1 << 30 : MODS[l->mod].order;
}

static int cmp_lis(const void *x, const void *y)
{
    const lis_t *a = &L[*(const int *) x], *b = &L[*(const int *) y];

    if (a->prio != b->prio)
        return a->prio < b->prio ? -1 : 1;
    if (order_of(a) != order_of(b))
        return order_of(a) < order_of(b) ? -1 : 1;
    return *(const int *) x < *(const int *) y ? -1 : 1;
}

static void model_kill(int id)
{
    if (L[id].alive) {
        L[id].alive = 0;
        LIVE--;
    }
}

static void model_bus_gone(void)
{
    int i;

    for (i = 0; i < NL; i++)
        model_kill(i);
    BUS_ALIVE = 0;
}

static void model_pool(int pid, int clear)
{
    int q, i;

    for (q = 0; q < MAXPOOLS; q++)
        if (P[q].alive && in_subtree(q, pid) && (q != pid || !clear))
            P[q].alive = 0;
    for (i = 0; i < NL; i++)
        if (L[i].alive && L[i].pool >= 0 && in_subtree(L[i].pool, pid))
            model_kill(i);
    if (BUS_ALIVE && in_subtree(BUS_POOL, pid))
        model_bus_gone();
}

static apr_status_t model_generate(int ev, int active);
static void choose_action(act_t *act, int active);

static void model_apply(act_t *act, int active);

static apr_status_t model_modremove(int m, int active)
{
    apr_status_t st;
    int i;

    if (MODS[m].removed)
        return PEV_EREMOVED;
    MODS[m].removed = 1;
    st = model_generate(EV_UNLOAD, active);
    if (st == PEV_EDESTROYED)
        return st;
    for (i = 0; i < NL; i++)
        if (L[i].alive && L[i].mod == m)
            model_kill(i);
    return st == PEV_ENESTING ? st : APR_SUCCESS;
}

static apr_status_t model_generate(int ev, int active)
{
    int *snap, n = 0, i;
    act_t act;

    if (active >= MAX_DEPTH)
        return PEV_ENESTING;
    snap = malloc(sizeof *snap * (size_t) (NL + 1));
    for (i = 0; i < NL; i++)
        if (L[i].alive && L[i].event == ev)
            snap[n++] = i;
    qsort(snap, (size_t) n, sizeof *snap, cmp_lis);
    for (i = 0; i < n; i++) {
        int s;

        /* index, not pointer: callbacks may grow (realloc) L */
        if (!L[snap[i]].alive || L[snap[i]].running)
            continue;
        if (NSTEPS == CAPSTEPS) {
            CAPSTEPS = CAPSTEPS ? 2 * CAPSTEPS : 1024;
            STEPS = realloc(STEPS, sizeof *STEPS * (size_t) CAPSTEPS);
        }
        s = NSTEPS++;
        STEPS[s].id = snap[i];
        L[snap[i]].running = 1;
        choose_action(&act, active + 1);
        model_apply(&act, active + 1);      /* may append to (realloc) STEPS */
        STEPS[s].act = act;
        L[snap[i]].running = 0;
        if (!BUS_ALIVE) {
            free(snap);
            return PEV_EDESTROYED;
        }
    }
    free(snap);
    return APR_SUCCESS;
}

static int new_listener(int ev, int mod, int prio, int pool, int fnsel)
{
    lis_t *l;

    if (NL == CAPL) {
        CAPL = CAPL ? 2 * CAPL : 4096;
        L = realloc(L, sizeof *L * (size_t) CAPL);
    }
    l = &L[NL];
    memset(l, 0, sizeof *l);
    l->alive = 1;
    l->event = ev;
    l->mod = mod;
    l->prio = prio;
    l->pool = pool;
    l->fnsel = fnsel;
    LIVE++;
    return NL++;
}

/* Apply an action to the model (and record the status the real call must
 * return in act->expect). */
static void model_apply(act_t *act, int active)
{
    int i, n;

    switch (act->kind) {
    case A_NONE:
        break;
    case A_REG:         /* a=event b=mod c=prio d=pool e=fnsel f=new id */
        if (act->b >= 0 && MODS[act->b].removed) {
            act->expect = PEV_EREMOVED;
            act->f = -1;
        }
        else {
            act->expect = APR_SUCCESS;
            act->f = new_listener(act->a, act->b, act->c, act->d, act->e);
        }
        break;
    case A_UNREG:       /* a=id */
        act->expect = L[act->a].alive ? APR_SUCCESS : APR_ENOENT;
        model_kill(act->a);
        break;
    case A_FILTER:      /* a=mod (ANY/CORE/id) b=event (-1 any) c=fnsel (0 any) */
        for (i = n = 0; i < NL; i++) {
            lis_t *l = &L[i];
            if (!l->alive)
                continue;
            if (act->a == CORE ? l->mod != CORE : (act->a != ANY && l->mod != act->a))
                continue;
            if (act->b >= 0 && l->event != act->b)
                continue;
            if (act->c && l->fnsel != act->c)
                continue;
            model_kill(i);
            n++;
        }
        act->expect = n ? APR_SUCCESS : APR_ENOENT;
        break;
    case A_GEN:         /* a=event b=by handle */
        act->expect = model_generate(act->a, active);
        break;
    case A_POOL:        /* a=pool b=clear */
        model_pool(act->a, act->b);
        act->expect = APR_SUCCESS;
        break;
    case A_MODREM:      /* a=module */
        act->expect = model_modremove(act->a, active);
        break;
    }
}

static int random_live_listener(void)
{
    int tries;

    for (tries = 0; tries < 64 && NL; tries++) {
        int i = (int) pt_below(&RNG, (unsigned) NL);
        if (L[i].alive)
            return i;
    }
    return -1;
}

static void choose_register(act_t *act)
{
    static const int prios[] = { -1, 0, 0, 0, 1 };
    int nm = NMODS - FIRST_MOD;

    act->kind = A_REG;
    act->a = pt_below(&RNG, 12) == 0 ? EV_UNLOAD : (int) pt_below(&RNG, 6);
    act->b = nm && pt_below(&RNG, 3) ? FIRST_MOD + (int) pt_below(&RNG, (unsigned) nm) : CORE;
    act->c = prios[pt_below(&RNG, 5)];
    act->d = pt_below(&RNG, 5) == 0 ? -1 : random_live_pool();
    act->e = 1 + (int) pt_below(&RNG, 2);
}

static void choose_filter(act_t *act)
{
    int nm = NMODS - FIRST_MOD, r = (int) pt_below(&RNG, 4);

    act->kind = A_FILTER;
    act->a = r == 0 ? ANY : r == 1 || !nm ? CORE : FIRST_MOD + (int) pt_below(&RNG, (unsigned) nm);
    act->b = pt_below(&RNG, 3) ? (int) pt_below(&RNG, NEVENTS) : -1;
    act->c = (int) pt_below(&RNG, 3);
    if (act->a == ANY && act->b < 0 && act->c == 0 && pt_below(&RNG, 4))
        act->c = 1;             /* "remove everything" stays rare */
}

/* Clear or destroy a pool. Mostly one that does not hold the bus; once in
 * fifty times the bus's own pool or one of its ancestors (the bus dies). */
static void choose_pool_action(act_t *act)
{
    int ids[MAXPOOLS], n = 0, i;

    act->kind = A_POOL;
    if (pt_below(&RNG, 50) == 0) {
        for (i = BUS_POOL; i >= 0; i = P[i].parent)
            ids[n++] = i;
        act->a = ids[pt_below(&RNG, (unsigned) n)];
        act->b = act->a == 0 ? 1 : (int) pt_below(&RNG, 2);
        return;
    }
    for (i = 1; i < MAXPOOLS; i++)
        if (P[i].alive && !in_subtree(BUS_POOL, i))
            ids[n++] = i;
    if (!n) {
        act->kind = A_NONE;
        return;
    }
    act->a = ids[pt_below(&RNG, (unsigned) n)];
    act->b = (int) pt_below(&RNG, 2);
}

/* What a callback does, chosen from the model's state at that moment. */
static void choose_action(act_t *act, int active)
{
    unsigned r = pt_below(&RNG, 100);
    int id;

    (void) active;
    memset(act, 0, sizeof *act);
    act->kind = A_NONE;
    if (r < 55)
        return;
    if (r < 67) {
        if ((id = random_live_listener()) >= 0) {
            act->kind = A_UNREG;
            act->a = id;
        }
    }
    else if (r < 71) {
        choose_filter(act);
    }
    else if (r < 81) {
        if (LIVE < MAXLIVE)
            choose_register(act);
    }
    else if (r < 90) {
        act->kind = A_GEN;
        act->a = (int) pt_below(&RNG, NEVENTS);
        act->b = (int) pt_below(&RNG, 2);
    }
    else if (r < 94) {
        choose_pool_action(act);
    }
    else if (r < 96) {
        if (NMODS > FIRST_MOD) {
            act->kind = A_MODREM;
            act->a = FIRST_MOD + (int) pt_below(&RNG, (unsigned) (NMODS - FIRST_MOD));
        }
    }
}

/* ------------------------------------------------------------------ real */

static void real_apply(const act_t *act);

static void real_callback(const void *event_data, int *ud, int fnsel)
{
    int id = *ud;
    step_t *s;

    if (CURSOR >= NSTEPS)
        MODEL_FAIL("dispatch: listener %d called, model expected no more calls (%d)",
             id, NSTEPS);
    s = &STEPS[CURSOR++];
    if (s->id != id)
        MODEL_FAIL("dispatch: listener %d called, model expected %d", id, s->id);
    if (L[id].fnsel != fnsel)
        MODEL_FAIL("dispatch: listener %d called through fn %d", id, fnsel);
    if (L[id].event != EV_UNLOAD && (NTOK == 0 || event_data != &TOKENS[NTOK - 1]))
        MODEL_FAIL("dispatch: listener %d got foreign event_data (%d)", id, NTOK);
    real_apply(&s->act);
}

static void fn_a(const void *event_data, void *user_data)
{
    real_callback(event_data, user_data, 1);
}

static void fn_b(const void *event_data, void *user_data)
{
    real_callback(event_data, user_data, 2);
}

static void real_pool(int pid, int clear)
{
    int q;

    if (clear)
        apr_pool_clear(P[pid].real);
    else
        apr_pool_destroy(P[pid].real);
    for (q = 0; q < MAXPOOLS; q++)
        if (P[q].real && in_subtree(q, pid) && (q != pid || !clear))
            P[q].real = NULL;
}

static apr_status_t real_generate(int ev, int by_handle)
{
    apr_status_t st;

    ck_assert_int_lt(NTOK, 64);
    NTOK++;
    if (by_handle && HANDLES[ev])
        st = pev_event_generate_handle(HANDLES[ev], &TOKENS[NTOK - 1]);
    else
        st = pev_event_generate(RBUS, EVNAME[ev], &TOKENS[NTOK - 1]);
    NTOK--;
    return st;
}

static void real_apply(const act_t *act)
{
    apr_status_t st;

    switch (act->kind) {
    case A_NONE:
        break;
    case A_REG: {
        apr_pool_t *lp = act->d >= 0 ? P[act->d].real : NULL;
        int *ud = apr_palloc(lp ? lp : P[BUS_POOL].real, sizeof *ud);
        pev_listener_t *h = NULL;

        *ud = act->f;
        st = pev_event_register_ordered(&h, RBUS,
                                        act->b >= 0 ? MODS[act->b].h : NULL, EVNAME[act->a], act->e == 1 ? fn_a : fn_b,
                                        ud, act->c, lp);
        EXPECT_STATUS("register", st, act->expect);
        if (act->f >= 0) {
            L[act->f].h = h;
            L[act->f].ud = ud;
        }
        break;
    }
    case A_UNREG:
        /* only live handles are used (a dead one may have been recycled) */
        if (act->expect == APR_SUCCESS)
            EXPECT_STATUS("unregister", pev_listener_unregister(L[act->a].h), APR_SUCCESS);
        break;
    case A_FILTER: {
        const pev_module_t *m = act->a == ANY ? NULL
                              : act->a == CORE ? PEV_MODULE_CORE : MODS[act->a].h;
        st = pev_event_unregister(RBUS, m, act->b >= 0 ? EVNAME[act->b] : NULL,
                                  act->c == 0 ? NULL : act->c == 1 ? fn_a : fn_b);
        EXPECT_STATUS("filter unregister", st, act->expect);
        break;
    }
    case A_GEN:
        EXPECT_STATUS("generate", real_generate(act->a, act->b), act->expect);
        break;
    case A_POOL:
        real_pool(act->a, act->b);
        break;
    case A_MODREM:
        EXPECT_STATUS("module remove", pev_module_remove(MODS[act->a].h), act->expect);
        break;
    }
}

/* ------------------------------------------------------------------ ops */

/* Run one top-level action: model first, then the real bus, then compare. */
static void run_action(act_t *act)
{
    NSTEPS = 0;
    model_apply(act, 0);
    CURSOR = 0;
    real_apply(act);
    if (CURSOR != NSTEPS)
        MODEL_FAIL("dispatch: %d calls made, model expected %d", CURSOR, NSTEPS);
    if (!BUS_ALIVE)
        RBUS = NULL;
}

static void create_bus(void)
{
    int parent = random_live_pool(), pid, i;

    for (pid = 1; pid < MAXPOOLS && P[pid].alive; pid++)
        ;
    if (pid == MAXPOOLS) {          /* no slot: reuse the root as the parent */
        act_t act = { .kind = A_POOL, .a = 0, .b = 1 };
        run_action(&act);
        parent = 0;
        pid = 1;
    }
    P[pid].parent = parent;
    P[pid].alive = 1;
    ck_assert_int_eq(apr_pool_create(&P[pid].real, P[parent].real), APR_SUCCESS);
    BUS_POOL = pid;
    ck_assert_int_eq(pev_bus_create(&RBUS, P[pid].real), APR_SUCCESS);
    BUS_ALIVE = 1;
    MAX_DEPTH = 2 + (int) pt_below(&RNG, 15);
    ck_assert_int_eq(pev_bus_set_max_depth(RBUS, MAX_DEPTH), APR_SUCCESS);
    FIRST_MOD = NMODS;
    for (i = 0; i < NEVENTS; i++) {
        HANDLES[i] = NULL;
        if (pt_below(&RNG, 2))
            ck_assert_int_eq(pev_event_intern(&HANDLES[i], RBUS, EVNAME[i]), APR_SUCCESS);
    }
}

static void op_pool_create(void)
{
    int pid, parent = random_live_pool();

    for (pid = 1; pid < MAXPOOLS && P[pid].alive; pid++)
        ;
    if (pid == MAXPOOLS)
        return;
    P[pid].parent = parent;
    P[pid].alive = 1;
    ck_assert_int_eq(apr_pool_create(&P[pid].real, P[parent].real), APR_SUCCESS);
}

static void op_module_add(void)
{
    mod_t *m;

    if (NMODS == (int) (sizeof MODS / sizeof MODS[0]))
        return;
    m = &MODS[NMODS];
    snprintf(m->name, sizeof m->name, "m%d", NMODS);
    m->order = NEXT_ORDER++;
    m->removed = 0;
    ck_assert_int_eq(pev_module_add(&m->h, RBUS, m->name), APR_SUCCESS);
    ck_assert_int_eq(pev_module_add(NULL, RBUS, m->name), APR_EEXIST);
    NMODS++;
}

static void op_duplicate(void)
{
    int id = random_live_listener();
    lis_t *l;

    if (id < 0)
        return;
    l = &L[id];
    EXPECT_STATUS("duplicate register",
                  pev_event_register_ordered(NULL, RBUS,
                                             l->mod >= 0 ? MODS[l->mod].h : NULL, EVNAME[l->event],
                                             l->fnsel == 1 ? fn_a : fn_b, l->ud, 0, NULL), APR_EEXIST);
}

typedef struct { int ids[1024]; int n; } dumped_t;

static int dump_collect(void *user_data, const pev_listener_info_t *info)
{
    dumped_t *d = user_data;

    ck_assert_int_lt(d->n, 1024);
    d->ids[d->n++] = *(int *) info->user_data;
    return 0;
}

/* Compare counts and the full dump with the model. */
static void op_check(void)
{
    dumped_t d = { .n = 0 };
    pev_bus_stats_t st;
    int ev, i, k = 0, snap[1024];

    ck_assert_int_eq(pev_bus_stats(RBUS, &st), APR_SUCCESS);
    if ((int) st.listeners != LIVE)
        MODEL_FAIL("stats: bus has %d listeners, model %d", (int) st.listeners, LIVE);
    ck_assert_int_eq(pev_bus_dump(RBUS, dump_collect, &d), APR_SUCCESS);
    /* dump order: events by name (the unload event sorts first), then
     * dispatch order */
    for (ev = 0; ev < NEVENTS; ev++) {
        int e = ev == 0 ? EV_UNLOAD : ev - 1, n = 0;
        for (i = 0; i < NL; i++)
            if (L[i].alive && L[i].event == e)
                snap[n++] = i;
        qsort(snap, (size_t) n, sizeof *snap, cmp_lis);
        if (pev_event_listening(RBUS, EVNAME[e]) != n)
            MODEL_FAIL("listening: listening(%d) differs from model (%d)", e, n);
        for (i = 0; i < n; i++, k++)
            if (k >= d.n || d.ids[k] != snap[i])
                MODEL_FAIL("dump: dump position %d differs (model id %d)", k, snap[i]);
    }
    if (k != d.n)
        MODEL_FAIL("dump: dump has %d entries, model %d", d.n, k);
}

START_TEST(model_random_operations)
{
    long ops = pt_env_long("POOLEV_MODEL_OPS", 200000), calls = 0, gens = 0;
    long buses = 0, live_sum = 0;

    SEED = pt_seed("check_bus_model");
    RNG.s = SEED;
    memset(P, 0, sizeof P);
    P[0].alive = 1;
    P[0].parent = -1;
    P[0].real = pt_pool;
    NL = NMODS = NEXT_ORDER = LIVE = 0;

    for (OPNO = 0; OPNO < ops; OPNO++) {
        act_t act;
        unsigned r;

        memset(&act, 0, sizeof act);
        if (!BUS_ALIVE) {
            create_bus();
            buses++;
        }
        r = pt_below(&RNG, 100);
        if (r < 30) {
            if (LIVE < MAXLIVE)
                choose_register(&act);
            else
                choose_filter(&act);
        }
        else if (r < 38) {
            int id = random_live_listener();
            if (id >= 0) {
                act.kind = A_UNREG;
                act.a = id;
            }
        }
        else if (r < 41) {
            choose_filter(&act);
        }
        else if (r < 72) {
            act.kind = A_GEN;
            act.a = (int) pt_below(&RNG, NEVENTS);
            act.b = (int) pt_below(&RNG, 2);
            gens++;
        }
        else if (r < 79) {
            op_pool_create();
        }
        else if (r < 86) {
            choose_pool_action(&act);
        }
        else if (r < 90) {
            op_module_add();
        }
        else if (r < 92) {
            if (NMODS > FIRST_MOD) {
                act.kind = A_MODREM;
                act.a = FIRST_MOD + (int) pt_below(&RNG, (unsigned) (NMODS - FIRST_MOD));
            }
        }
        else if (r < 94) {
            op_duplicate();
        }
        else if (r < 96) {
            op_check();
        }
        else {
            /* a double unregister of a handle still unrecycled is ENOENT */
            int id = random_live_listener();
            if (id >= 0) {
                ck_assert_int_eq(pev_listener_unregister(L[id].h), APR_SUCCESS);
                model_kill(id);
                ck_assert_int_eq(pev_listener_unregister(L[id].h), APR_ENOENT);
            }
        }
        if (act.kind != A_NONE) {
            run_action(&act);
            calls += NSTEPS;
        }
        if (BUS_ALIVE && OPNO % 64 == 0)
            op_check();
        live_sum += LIVE;
    }
    printf("check_bus_model: %ld operations, %ld top-level generates, %ld listener calls, "
           "%d registrations, %ld buses, %.1f live listeners on average\n", ops, gens,
           calls, NL, buses, (double) live_sum / (double) ops);
    free(L);
    free(STEPS);
    L = NULL;
    STEPS = NULL;
    NL = CAPL = CAPSTEPS = 0;
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bus_model");
    TCase *tc = tcase_create("model");

    tcase_add_checked_fixture(tc, pt_setup, pt_teardown);
    tcase_set_timeout(tc, 1200);
    tcase_add_test(tc, model_random_operations);
    suite_add_tcase(s, tc);
    return pt_run(s);
}
