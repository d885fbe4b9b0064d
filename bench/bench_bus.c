/* SPDX-License-Identifier: Apache-2.0
 * Copyright 2026 The poolev Authors
 *
 * bench_bus.c - how fast is the poolev event bus?
 *
 * Measures dispatch (by name and by interned handle, 1/4/16 listeners),
 * lookup cost against the number of event names, register+unregister churn
 * next to a per-item APR pool-cleanup baseline, and destroying a lifetime
 * pool full of listeners. The floor of a dispatch is measured too: the same
 * callbacks called through an array of function pointers (no lookup, no
 * list, no checks), 1/4/16 of them per event; and, when configure found
 * GLib's gobject-2.0, GLib signals with the same numbers of handlers (a
 * signal with one pointer argument, emitted by name and by id). Against
 * ProFTPD's Events API (a list of names searched with strncmp on every
 * generate; reimplemented in bench_bus_proftpd.c, which says what it
 * reproduces and what it leaves out): 1, 10, 100 and 1,000 event names with
 * one listener each, the generated name drawn uniformly from a fixed seeded
 * sequence, and one name generated every time (at the head and at the tail
 * of ProFTPD's list), poolev by name and by handle against the list, with
 * and without the trace check of ProFTPD's default build. Each figure
 * is the median of R runs (POOLEV_BENCH_RUNS, default 7), each run
 * calibrated to >= MIN_RUN_NS.
 * Targets are reported, never enforced: the exit status is 0 either way.
 */
#include "config.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <apr_general.h>
#include <apr_pools.h>
#include <apr_strings.h>

#include "poolev.h"
#include "benchutil.h"
#include "bench_bus_proftpd.h"

#ifdef HAVE_GLIB
#include <glib-object.h>
#endif

#define DEFAULT_RUNS 7
#define MIN_RUN_NS (UINT64_C(50) * 1000000)  /* 50 ms per timed loop */

#define MANY_NAMES 100000u      /* row 4: the big bus */
#define FEW_NAMES 10u           /* row 4: the small bus, also the hot set */
#define CHURN_HELD 10000u       /* row 5: listeners / cleanups already held */
#define CHURN_NAMES 100u
#define DESTROY_LISTENERS 100000u   /* row 6 */
#define DESTROY_NAMES 1000u
#define DESTROY_REPS 4          /* pool destroys timed per run */
#define PF_MAX_NAMES 1000u      /* ProFTPD rows: the largest registry */
#define PF_SEQ_LEN 65536u       /* the generated names' sequence (a power of 2) */
#define PF_SEQ_SEED 0x2545f491u /* its seed */
#define PF_CLAIM 31.0           /* ProFTPD / poolev claimed at 1,000 names */

/* Listener callback: add one to the counter @a user_data points at. */
static void count_call(const void *event_data, void *user_data)
{
    (void) event_data;
    ++*(uint64_t *) user_data;
}

/* Pool cleanup of the APR baseline: does nothing. */
static apr_status_t noop_cleanup(void *data)
{
    (void) data;
    return APR_SUCCESS;
}


/* @a count names "<prefix>NNNNNN" of equal length, allocated from @a pool. */
static const char **make_names(apr_pool_t *pool, const char *prefix, unsigned count)
{
    const char **names = apr_palloc(pool, count * sizeof *names);
    unsigned i;

    for (i = 0; i < count; i++)
        names[i] = apr_psprintf(pool, "%s%06u", prefix, i);
    return names;
}


/* Current listener count of @a bus (pev_bus_stats). */
static apr_size_t bus_listeners(const pev_bus_t *bus)
{
    pev_bus_stats_t s;

    CHECK(pev_bus_stats(bus, &s));
    return s.listeners;
}

/* ------------------------------------------------------------------------ */
/* Generate loops (rows 1, 2 and 4)                                          */

typedef struct gen_ctx {
    pev_bus_t *bus;
    const char *const *names;   /* generated round-robin */
    unsigned nnames;
    pev_event_t *ev;            /* for the handle loop */
    uint64_t calls;             /* generate calls made, for the sanity check */
} gen_ctx_t;

/* Loop body: generate the context's names by name, round-robin. */
static void loop_generate_name(void *p, uint64_t iters)
{
    gen_ctx_t *g = p;
    unsigned j = 0;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        CHECK(pev_event_generate(g->bus, g->names[j], NULL));
        if (++j == g->nnames)
            j = 0;
    }
    g->calls += iters;
}

/* Loop body: generate the context's interned event by handle. */
static void loop_generate_handle(void *p, uint64_t iters)
{
    gen_ctx_t *g = p;
    uint64_t i;

    for (i = 0; i < iters; i++)
        CHECK(pev_event_generate_handle(g->ev, NULL));
    g->calls += iters;
}

/* Sum of @a n counters. */
static uint64_t sum_counters(const uint64_t *c, unsigned n)
{
    uint64_t s = 0;
    unsigned i;

    for (i = 0; i < n; i++)
        s += c[i];
    return s;
}

/* ------------------------------------------------------------------------ */
/* The floor: an indirect call per listener (rows 1-3)                       */

typedef struct floor_listener {
    void (*fn)(const void *event_data, void *user_data);
    void *user_data;
} floor_listener_t;

typedef struct floor_ctx {
    floor_listener_t l[16];
    unsigned nl;
    uint64_t calls;
} floor_ctx_t;

/* Loop body: per "generate", call the @a nl callbacks through the array.
 * The barrier makes every iteration reload the pointers, as a dispatch that
 * callbacks may change must. */
static void loop_floor(void *p, uint64_t iters)
{
    floor_ctx_t *f = p;
    uint64_t i;
    unsigned j;

    for (i = 0; i < iters; i++) {
        bench_barrier();
        for (j = 0; j < f->nl; j++)
            f->l[j].fn(NULL, f->l[j].user_data);
    }
    f->calls += iters;
}

#ifdef HAVE_GLIB
/* ------------------------------------------------------------------------ */
/* GLib signals (rows 1-3, when configure found gobject-2.0)                 */

typedef struct glib_ctx {
    GObject *obj;               /* an instance of the emitter type */
    guint signal;               /* its "bench-generate" signal */
    uint64_t calls;
} glib_ctx_t;

/* Signal handler: add one to the counter @a user_data points at. */
static void glib_count(GObject *obj, gpointer event_data, gpointer user_data)
{
    (void) obj;
    (void) event_data;
    ++*(uint64_t *) user_data;
}

/* Loop body: emit the signal by name (a name lookup, like generate by name). */
static void loop_glib_name(void *p, uint64_t iters)
{
    glib_ctx_t *g = p;
    uint64_t i;

    for (i = 0; i < iters; i++)
        g_signal_emit_by_name(g->obj, "bench-generate", NULL);
    g->calls += iters;
}

/* Loop body: emit the signal by its id (like generate by handle). */
static void loop_glib_id(void *p, uint64_t iters)
{
    glib_ctx_t *g = p;
    uint64_t i;

    for (i = 0; i < iters; i++)
        g_signal_emit(g->obj, g->signal, 0, NULL);
    g->calls += iters;
}

/* The emitter type: a GObject subclass with a signal "bench-generate" of
 * one pointer argument (the event data), no class handler, the
 * VOID:POINTER marshaller. Its signal id into @a signal. */
static GType glib_emitter_type(guint *signal)
{
    static GType type;
    static guint sig;

    if (!type) {
        type = g_type_register_static_simple(G_TYPE_OBJECT, "PoolevBenchEmitter",
                                             sizeof(GObjectClass), NULL, sizeof(GObject),
                                             NULL, 0);
        sig = g_signal_new("bench-generate", type, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                           g_cclosure_marshal_VOID__POINTER, G_TYPE_NONE, 1,
                           G_TYPE_POINTER);
    }
    *signal = sig;
    return type;
}

#endif /* HAVE_GLIB */

/* ------------------------------------------------------------------------ */
/* Rows 1-3: poolev, the floor and GLib, timed in turn                       */

/** The sides of a dispatch comparison. */
enum { SIDE_POOLEV, SIDE_FLOOR, SIDE_GLIB, DISPATCH_SIDES };

/* Median ns per generate of one event with @a nl listeners, into
 * @a ns[SIDE_*]: poolev by name (by handle when @a by_handle), the floor (the
 * same calls through an array; by_handle: not measured) and GLib (by name, by
 * id when @a by_handle; when built with it). Each side's loop is calibrated
 * and warmed up, then the sides are timed in turn within each run, the order
 * rotated from run to run, so that a disturbance of the machine hits every
 * side alike. A side not measured gets 0. */
static void bench_dispatch(apr_pool_t *root, int runs, unsigned nl, int by_handle,
                           double *ns)
{
    static double v[DISPATCH_SIDES][BENCH_MAX_RUNS];
    apr_pool_t *pool = new_pool(root);
    uint64_t counters[DISPATCH_SIDES][16];
    const char *name = "bench.generate";
    bench_loop_t loop[DISPATCH_SIDES];
    gen_ctx_t g = { 0 };
    floor_ctx_t f = { 0 };
    uint64_t *calls[DISPATCH_SIDES];
    int have[DISPATCH_SIDES] = { 1, !by_handle, 0 };
    int r, j, side;
    unsigned i;
#ifdef HAVE_GLIB
    glib_ctx_t gl = { 0 };
#endif

    expect(nl <= 16, "at most 16 listeners");
    memset(counters, 0, sizeof counters);
    memset(loop, 0, sizeof loop);
    CHECK(pev_bus_create(&g.bus, pool));
    for (i = 0; i < nl; i++)
        CHECK(pev_event_register(NULL, g.bus, NULL, name, count_call,
                                 &counters[SIDE_POOLEV][i], NULL));
    g.names = &name;
    g.nnames = 1;
    loop[SIDE_POOLEV].fn = loop_generate_name;
    loop[SIDE_POOLEV].ctx = &g;
    calls[SIDE_POOLEV] = &g.calls;
    if (by_handle) {
        CHECK(pev_event_intern(&g.ev, g.bus, name));
        loop[SIDE_POOLEV].fn = loop_generate_handle;
    }
    f.nl = nl;
    for (i = 0; i < nl; i++) {
        f.l[i].fn = count_call;
        f.l[i].user_data = &counters[SIDE_FLOOR][i];
    }
    bench_sink_ptr(&f);         /* the compiler cannot know the callees */
    loop[SIDE_FLOOR].fn = loop_floor;
    loop[SIDE_FLOOR].ctx = &f;
    calls[SIDE_FLOOR] = &f.calls;
#ifdef HAVE_GLIB
    have[SIDE_GLIB] = 1;
    gl.obj = g_object_new(glib_emitter_type(&gl.signal), NULL);
    for (i = 0; i < nl; i++)
        g_signal_connect(gl.obj, "bench-generate", G_CALLBACK(glib_count),
                         &counters[SIDE_GLIB][i]);
    loop[SIDE_GLIB].fn = by_handle ? loop_glib_id : loop_glib_name;
    loop[SIDE_GLIB].ctx = &gl;
    calls[SIDE_GLIB] = &gl.calls;
#endif

    for (side = 0; side < DISPATCH_SIDES; side++)
        if (have[side]) {
            loop[side].iters = bench_calibrate(loop[side].fn, loop[side].ctx, MIN_RUN_NS);
            (void) bench_loop_run(&loop[side]);         /* warm-up */
        }
    for (r = 0; r < runs; r++)
        for (j = 0; j < DISPATCH_SIDES; j++) {
            side = (r + j) % DISPATCH_SIDES;
            if (have[side])
                v[side][r] = bench_loop_run(&loop[side]);
        }
    for (side = 0; side < DISPATCH_SIDES; side++) {
        ns[side] = have[side] ? bench_median_of(v[side], runs) : 0;
        if (have[side])
            expect(sum_counters(counters[side], nl) == *calls[side] * nl,
                   "every generate called every listener once");
    }
#ifdef HAVE_GLIB
    g_object_unref(gl.obj);
#endif
    apr_pool_destroy(pool);
}

/* Median ns per op of two loops (@a pev_loop on @a pc, @a apr_loop on
 * @a ac), timed alternately within each run so that a disturbance of the
 * machine hits both sides of a comparison alike. */
static void bench_pairs(int runs, bench_loop_fn *pev_loop, void *pc,
                        bench_loop_fn *apr_loop, void *ac,
                        double *pev_ns, double *apr_ns)
{
    double pv[BENCH_MAX_RUNS], av[BENCH_MAX_RUNS];
    uint64_t pn = bench_calibrate(pev_loop, pc, MIN_RUN_NS);
    uint64_t an = bench_calibrate(apr_loop, ac, MIN_RUN_NS);
    int r;

    for (r = 0; r < runs; r++) {
        pv[r] = bench_time_loop(pev_loop, pc, pn);
        av[r] = bench_time_loop(apr_loop, ac, an);
    }
    *pev_ns = bench_median_of(pv, runs);
    *apr_ns = bench_median_of(av, runs);
}

/* Build a bus in @a pool holding the first @a nnames of @a names (one
 * listener each, counting into @a counter) and aim @a g at @a hot[0..nhot). */
static void names_bus(apr_pool_t *pool, gen_ctx_t *g, uint64_t *counter,
                      const char **names, unsigned nnames,
                      const char *const *hot, unsigned nhot)
{
    unsigned i;

    CHECK(pev_bus_create(&g->bus, pool));
    for (i = 0; i < nnames; i++)
        CHECK(pev_event_register(NULL, g->bus, NULL, names[i], count_call, counter, NULL));
    g->names = hot;
    g->nnames = nhot;
}

/* Median ns per generate by name of the same hot names on a bus with
 * @a nfew names and one with @a nmany, measured alternately. */
static void bench_names(apr_pool_t *root, int runs, const char **names,
                        unsigned nfew, unsigned nmany, double *few, double *many)
{
    apr_pool_t *pool = new_pool(root);
    uint64_t cf = 0, cm = 0;
    gen_ctx_t gf = { 0 }, gm = { 0 };

    names_bus(pool, &gf, &cf, names, nfew, names, nfew);
    names_bus(pool, &gm, &cm, names, nmany, names, nfew);
    bench_pairs(runs, loop_generate_name, &gf, loop_generate_name, &gm, few, many);
    expect(cf == gf.calls && cm == gm.calls, "every generate found its one listener");
    apr_pool_destroy(pool);
}

/* Median ns per generate by name on a bus holding all @a nnames of @a names,
 * generating them in the order of @a order (cold lookups). */
static double bench_cold(apr_pool_t *root, int runs, const char **names,
                         unsigned nnames, const char *const *order)
{
    apr_pool_t *pool = new_pool(root);
    uint64_t counter = 0;
    gen_ctx_t g = { 0 };
    double ns;

    names_bus(pool, &g, &counter, names, nnames, order, nnames);
    ns = bench_median_loop(loop_generate_name, &g, runs, MIN_RUN_NS);
    expect(counter == g.calls, "every generate found its one listener");
    apr_pool_destroy(pool);
    return ns;
}

/* ------------------------------------------------------------------------ */
/* Against ProFTPD's event list (row 4b)                                      */

/** The sides of the ProFTPD comparison. */
enum { PF_POOLEV_NAME, PF_POOLEV_HANDLE, PF_LIST, PF_LIST_TRACE, PF_SIDES };

typedef struct pf_ctx {
    pev_bus_t *bus;             /* poolev sides */
    pev_event_t **evs;          /* by handle: the names' interned events */
    pf_registry_t *reg;         /* ProFTPD sides */
    const char *const *names;
    const uint16_t *seq;        /* PF_SEQ_LEN indices into names, cycled */
    uint32_t pos;
    uint64_t calls;
} pf_ctx_t;

/* Loop body: poolev, generate the sequence's names by name. */
static void loop_pf_poolev_name(void *p, uint64_t iters)
{
    pf_ctx_t *c = p;
    uint32_t j = c->pos;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        CHECK(pev_event_generate(c->bus, c->names[c->seq[j]], NULL));
        j = (j + 1) & (PF_SEQ_LEN - 1);
    }
    c->pos = j;
    c->calls += iters;
}

/* Loop body: poolev, generate the sequence's events by handle. */
static void loop_pf_poolev_handle(void *p, uint64_t iters)
{
    pf_ctx_t *c = p;
    uint32_t j = c->pos;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        CHECK(pev_event_generate_handle(c->evs[c->seq[j]], NULL));
        j = (j + 1) & (PF_SEQ_LEN - 1);
    }
    c->pos = j;
    c->calls += iters;
}

/* Loop body: the ProFTPD-style list, generate the sequence's names. */
static void loop_pf_list(void *p, uint64_t iters)
{
    pf_ctx_t *c = p;
    uint32_t j = c->pos;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        pf_event_generate(c->reg, c->names[c->seq[j]], NULL);
        j = (j + 1) & (PF_SEQ_LEN - 1);
    }
    c->pos = j;
    c->calls += iters;
}

/* Check that the side that made @a calls generates of the cycled @a seq
 * called name i's listener (counting into @a counter[i]) exactly as often
 * as name i came up. */
static void pf_check_counts(const uint16_t *seq, unsigned nnames, uint64_t calls,
                            const uint64_t *counter)
{
    uint64_t full = calls / PF_SEQ_LEN, want[PF_MAX_NAMES];
    uint32_t rem = (uint32_t) (calls % PF_SEQ_LEN), k;
    unsigned i;

    memset(want, 0, sizeof want);
    for (k = 0; k < PF_SEQ_LEN; k++)
        want[seq[k]] += full + (k < rem);
    for (i = 0; i < nnames; i++)
        expect(counter[i] == want[i], "each generate called its name's one listener");
}

/* Median ns per generate, into @a ns[PF_*], of the names @a seq picks among
 * the first @a nnames of @a names, each registered with one listener: poolev
 * by name, by handle, the ProFTPD-style list, and the list with the default
 * build's trace check. The sides are calibrated and warmed up, then timed
 * in turn within each run, the order rotated from run to run. The list's
 * cache hits (generates that found ProFTPD's one-entry cache set) are added
 * to *@a hits, the generates to *@a gens. */
static void bench_pf(apr_pool_t *root, int runs, const char **names, unsigned nnames,
                     const uint16_t *seq, double *ns, uint64_t *hits, uint64_t *gens)
{
    static double v[PF_SIDES][BENCH_MAX_RUNS];
    static uint64_t counter[PF_SIDES][PF_MAX_NAMES];
    apr_pool_t *pool = new_pool(root);
    pf_ctx_t c[PF_SIDES];
    bench_loop_t loop[PF_SIDES];
    int r, j, side;
    unsigned i;

    expect(nnames >= 1 && nnames <= PF_MAX_NAMES, "1 to 1,000 names");
    memset(counter, 0, sizeof counter);
    memset(c, 0, sizeof c);
    for (side = 0; side < PF_SIDES; side++) {
        c[side].names = names;
        c[side].seq = seq;
        loop[side].ctx = &c[side];
    }
    CHECK(pev_bus_create(&c[PF_POOLEV_NAME].bus, pool));
    CHECK(pev_bus_create(&c[PF_POOLEV_HANDLE].bus, pool));
    c[PF_POOLEV_HANDLE].evs = apr_palloc(pool, nnames * sizeof *c[PF_POOLEV_HANDLE].evs);
    c[PF_LIST].reg = pf_registry_create(pool, 0);
    c[PF_LIST_TRACE].reg = pf_registry_create(pool, 1);
    for (i = 0; i < nnames; i++) {
        CHECK(pev_event_register(NULL, c[PF_POOLEV_NAME].bus, NULL, names[i], count_call,
                                 &counter[PF_POOLEV_NAME][i], NULL));
        CHECK(pev_event_register(NULL, c[PF_POOLEV_HANDLE].bus, NULL, names[i],
                                 count_call, &counter[PF_POOLEV_HANDLE][i], NULL));
        CHECK(pev_event_intern(&c[PF_POOLEV_HANDLE].evs[i], c[PF_POOLEV_HANDLE].bus,
                               names[i]));
        expect(pf_event_register(c[PF_LIST].reg, names[i], count_call,
                                 &counter[PF_LIST][i]) == 0, "ProFTPD-style register");
        expect(pf_event_register(c[PF_LIST_TRACE].reg, names[i], count_call,
                                 &counter[PF_LIST_TRACE][i]) == 0,
               "ProFTPD-style register");
    }
    loop[PF_POOLEV_NAME].fn = loop_pf_poolev_name;
    loop[PF_POOLEV_HANDLE].fn = loop_pf_poolev_handle;
    loop[PF_LIST].fn = loop_pf_list;
    loop[PF_LIST_TRACE].fn = loop_pf_list;

    for (side = 0; side < PF_SIDES; side++) {
        loop[side].iters = bench_calibrate(loop[side].fn, loop[side].ctx, MIN_RUN_NS);
        (void) bench_loop_run(&loop[side]);             /* warm-up */
    }
    for (r = 0; r < runs; r++)
        for (j = 0; j < PF_SIDES; j++) {
            side = (r + j) % PF_SIDES;
            v[side][r] = bench_loop_run(&loop[side]);
        }
    for (side = 0; side < PF_SIDES; side++) {
        ns[side] = bench_median_of(v[side], runs);
        pf_check_counts(seq, nnames, c[side].calls, counter[side]);
    }
    for (side = PF_LIST; side <= PF_LIST_TRACE; side++) {
        *hits += pf_cache_hits(c[side].reg);
        *gens += c[side].calls;
    }
    apr_pool_destroy(pool);
}

/* Row 4b: one case of the ProFTPD comparison: time it, print its rows (the
 * four sides and the ratios; @a claim: judge ProFTPD / poolev by name against
 * PF_CLAIM) and write its TSV rows (@a kase, size @a nnames). */
static void pf_case(apr_pool_t *root, int runs, bench_table_t *t, const char **names,
                    unsigned nnames, const uint16_t *seq, const char *kase,
                    const char *what, int claim, uint64_t *hits, uint64_t *gens)
{
    static const char *const impl[PF_SIDES] = { "poolev", "poolev-handle", "proftpd",
                                                "proftpd-trace" };
    double ns[PF_SIDES];
    char row[128];
    int side;

    bench_pf(root, runs, names, nnames, seq, ns, hits, gens);
    snprintf(row, sizeof row, "%s: poolev by name", what);
    bench_table_row(t, row, ns[PF_POOLEV_NAME], "ns", BENCH_INFO, 0);
    bench_table_row(t, "  poolev by handle (interned)", ns[PF_POOLEV_HANDLE], "ns",
                    BENCH_INFO, 0);
    bench_table_row(t, "  ProFTPD-style list", ns[PF_LIST], "ns", BENCH_INFO, 0);
    bench_table_row(t, "  ProFTPD-style list + trace check (default build)",
                    ns[PF_LIST_TRACE], "ns", BENCH_INFO, 0);
    if (claim)
        snprintf(row, sizeof row, "  ratio list / poolev by name (claimed >= %g)",
                 PF_CLAIM);
    else
        snprintf(row, sizeof row, "  ratio list / poolev by name");
    bench_table_row(t, row, ns[PF_LIST] / ns[PF_POOLEV_NAME], "x",
                    claim ? BENCH_AT_LEAST : BENCH_INFO, claim ? PF_CLAIM : 0);
    bench_table_row(t, "  ratio list / poolev by handle",
                    ns[PF_LIST] / ns[PF_POOLEV_HANDLE], "x", BENCH_INFO, 0);
    bench_table_row(t, "  ratio list + trace / poolev by name",
                    ns[PF_LIST_TRACE] / ns[PF_POOLEV_NAME], "x", BENCH_INFO, 0);
    for (side = 0; side < PF_SIDES; side++)
        bench_tsv_row_n(kase, nnames, impl[side], "time", ns[side], "ns/op");
}

typedef struct pf_probe {
    pf_registry_t *reg;
    int order[8];               /* which handler ran, in order */
    int n;
    int nested;                 /* generates left for handler 1 to make */
} pf_probe_t;

/* Self-check handlers: note their number; the first generates its own
 * event again (once), as a listener may. */
static void pf_probe_1(const void *event_data, void *user_data)
{
    pf_probe_t *p = user_data;

    (void) event_data;
    p->order[p->n++] = 1;
    if (p->nested-- > 0)
        pf_event_generate(p->reg, "bench.nested", NULL);
}

static void pf_probe_2(const void *event_data, void *user_data)
{
    pf_probe_t *p = user_data;

    (void) event_data;
    p->order[p->n++] = 2;
}

static void pf_probe_3(const void *event_data, void *user_data)
{
    pf_probe_t *p = user_data;

    (void) event_data;
    p->order[p->n++] = 3;
}

/* Check that the reimplementation behaves as ProFTPD's code does where its
 * structure shows: core listeners run in registration order; a duplicate
 * callback is refused; a generate nested in a listener finds the one-entry
 * cache set and resumes after the running handler, and the outer dispatch
 * then goes on, so handlers 2 and 3 run twice; a generate after the dispatch
 * finds the cache cleared. */
static void pf_selfcheck(apr_pool_t *root)
{
    static const int want[] = { 1, 2, 3, 2, 3, 1, 2, 3 };
    apr_pool_t *pool = new_pool(root);
    pf_probe_t p = { 0 };
    int i;

    p.reg = pf_registry_create(pool, 1);
    expect(pf_event_register(p.reg, "bench.other", pf_probe_2, &p) == 0, "register");
    expect(pf_event_register(p.reg, "bench.nested", pf_probe_1, &p) == 0
           && pf_event_register(p.reg, "bench.nested", pf_probe_2, &p) == 0
           && pf_event_register(p.reg, "bench.nested", pf_probe_3, &p) == 0, "register");
    expect(pf_event_register(p.reg, "bench.nested", pf_probe_3, NULL) == -1,
           "ProFTPD-style register refuses the same callback on an event");
    expect(pf_event_listening(p.reg, "bench.nested") == 3
           && pf_event_listening(p.reg, "bench.none") == 0, "ProFTPD-style listening");
    p.nested = 1;
    pf_event_generate(p.reg, "bench.nested", NULL);
    expect(pf_cache_hits(p.reg) == 1, "the nested generate found the cache set");
    pf_event_generate(p.reg, "bench.nested", NULL);
    expect(pf_cache_hits(p.reg) == 1, "a generate after a dispatch finds no cache");
    expect(p.n == 8, "eight handler calls");
    for (i = 0; i < 8; i++)
        expect(p.order[i] == want[i], "ProFTPD's order: 1, 2, 3, 2, 3, then 1, 2, 3");
    apr_pool_destroy(pool);
}

/* Row 4b: poolev against the ProFTPD-style list, every case. */
static void bench_proftpd(apr_pool_t *root, int runs, bench_table_t *t)
{
    static const unsigned sizes[] = { 1, 10, 100, PF_MAX_NAMES };
    static const char *const size_text[] = { "1 name", "10 names", "100 names",
                                             "1,000 names" };
    static uint16_t seq[PF_SEQ_LEN];
    const char **names = make_names(root, "bench.event.", PF_MAX_NAMES);
    uint64_t hits = 0, gens = 0;
    char what[96];
    unsigned s, k;

    pf_selfcheck(root);
    bench_table_section("ProFTPD's event list (bench/bench_bus_proftpd.c), one listener "
                        "per name");
    for (s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        uint32_t rng = PF_SEQ_SEED;

        for (k = 0; k < PF_SEQ_LEN; k++)
            seq[k] = (uint16_t) bench_rand_below(&rng, sizes[s]);
        snprintf(what, sizeof what, "%s, random name", size_text[s]);
        pf_case(root, runs, t, names, sizes[s], seq, "names-random", what,
                sizes[s] == PF_MAX_NAMES, &hits, &gens);
    }
    /* the same name every time: the newest (the head of ProFTPD's list, one
     * comparison) and the oldest (its tail, 1,000 comparisons) */
    for (k = 0; k < PF_SEQ_LEN; k++)
        seq[k] = PF_MAX_NAMES - 1;
    pf_case(root, runs, t, names, PF_MAX_NAMES, seq, "names-same-head",
            "1,000 names, same name (head of list)", 0, &hits, &gens);
    for (k = 0; k < PF_SEQ_LEN; k++)
        seq[k] = 0;
    pf_case(root, runs, t, names, PF_MAX_NAMES, seq, "names-same-tail",
            "1,000 names, same name (tail of list)", 0, &hits, &gens);
    printf("ProFTPD rows: names \"bench.event.NNNNNN\", registered in order, so\n"
           "ProFTPD's list holds the newest first. Random name: one xorshift32\n"
           "sequence of %u names (seed 0x%08x), cycled, the same for every side.\n"
           "The list's one-entry cache was found set by %" PRIu64 " of %" PRIu64 "\n"
           "generates: ProFTPD clears it when a dispatch ends, so it serves only a\n"
           "listener's nested generate, and a name generated twice in a row is\n"
           "looked up again. Trace check: a default (--enable-trace) build's dispatch\n"
           "asks, per handler, whether anyone listens to \"core.log.tracelog\", a walk\n"
           "of the whole list when no TraceLog is configured.\n",
           PF_SEQ_LEN, PF_SEQ_SEED, hits, gens);
}

/* ------------------------------------------------------------------------ */
/* Register/unregister churn against the APR cleanup baseline (row 5)        */

typedef struct churn_ctx {
    pev_bus_t *bus;
    apr_pool_t *life;           /* lifetime pool of every listener */
    const char **names;         /* CHURN_NAMES names */
    pev_listener_t **held;      /* CHURN_HELD handles */
    uint64_t *ud;               /* user_data of held[i] is &ud[i] */
    uint64_t spare;             /* user_data of the "newest" pattern */
    uint32_t rng;
} churn_ctx_t;

typedef struct cleanup_ctx {
    apr_pool_t *pool;           /* holds CHURN_HELD cleanups */
    uint64_t *data;             /* cleanup i has data &data[i] */
    uint64_t spare;
    uint32_t rng;
} cleanup_ctx_t;

/* Loop body, poolev, arbitrary order: unregister a random held listener and
 * register its replacement (same name, user_data and lifetime pool). */
static void loop_churn_random(void *p, uint64_t iters)
{
    churn_ctx_t *c = p;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        uint32_t k = bench_rand_below(&c->rng, CHURN_HELD);

        CHECK(pev_listener_unregister(c->held[k]));
        CHECK(pev_event_register(&c->held[k], c->bus, NULL, c->names[k % CHURN_NAMES],
                                 count_call, &c->ud[k], c->life));
    }
}

/* Loop body, poolev, newest: register a listener and unregister it again. */
static void loop_churn_newest(void *p, uint64_t iters)
{
    churn_ctx_t *c = p;
    pev_listener_t *l;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        CHECK(pev_event_register(&l, c->bus, NULL, c->names[0], count_call,
                                 &c->spare, c->life));
        CHECK(pev_listener_unregister(l));
    }
}

/* Loop body, APR baseline, arbitrary order: kill a random held cleanup and
 * register its replacement, as a one-cleanup-per-listener design would. */
static void loop_cleanup_random(void *p, uint64_t iters)
{
    cleanup_ctx_t *c = p;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        uint32_t k = bench_rand_below(&c->rng, CHURN_HELD);

        apr_pool_cleanup_kill(c->pool, &c->data[k], noop_cleanup);
        apr_pool_cleanup_register(c->pool, &c->data[k], noop_cleanup,
                                  apr_pool_cleanup_null);
    }
}

/* Loop body, APR baseline, newest: register a cleanup and kill it again. */
static void loop_cleanup_newest(void *p, uint64_t iters)
{
    cleanup_ctx_t *c = p;
    uint64_t i;

    for (i = 0; i < iters; i++) {
        apr_pool_cleanup_register(c->pool, &c->spare, noop_cleanup,
                                  apr_pool_cleanup_null);
        apr_pool_cleanup_kill(c->pool, &c->spare, noop_cleanup);
    }
}

/* Row 5: print the churn rows (poolev, APR baseline, speedup) for the
 * arbitrary-order and the newest-item patterns. */
static void bench_churn(apr_pool_t *root, int runs, bench_table_t *t)
{
    apr_pool_t *bpool = new_pool(root), *life = new_pool(root), *cpool = new_pool(root);
    churn_ctx_t pc = { 0 };
    cleanup_ctx_t ac = { 0 };
    pev_bus_stats_t s;
    double pev_ns, apr_ns;
    unsigned i;

    /* poolev: 10,000 listeners on one lifetime pool, over 100 names */
    CHECK(pev_bus_create(&pc.bus, bpool));
    pc.life = life;
    pc.names = make_names(bpool, "bench.churn.", CHURN_NAMES);
    pc.held = apr_palloc(life, CHURN_HELD * sizeof *pc.held);
    pc.ud = apr_pcalloc(life, CHURN_HELD * sizeof *pc.ud);
    pc.rng = 0x9e3779b9u;
    for (i = 0; i < CHURN_HELD; i++)
        CHECK(pev_event_register(&pc.held[i], pc.bus, NULL, pc.names[i % CHURN_NAMES],
                                 count_call, &pc.ud[i], life));

    /* baseline: 10,000 plain cleanups on one pool */
    ac.pool = cpool;
    ac.data = apr_pcalloc(cpool, CHURN_HELD * sizeof *ac.data);
    ac.rng = 0x9e3779b9u;
    for (i = 0; i < CHURN_HELD; i++)
        apr_pool_cleanup_register(cpool, &ac.data[i], noop_cleanup, apr_pool_cleanup_null);

    bench_pairs(runs, loop_churn_random, &pc, loop_cleanup_random, &ac, &pev_ns, &apr_ns);
    bench_table_row(t, "register+unregister, 10k held, arbitrary order: poolev",
                    pev_ns, "ns", BENCH_AT_MOST, 100);
    bench_tsv_row_n("churn-random", CHURN_HELD, "poolev", "time", pev_ns, "ns/op");
    bench_tsv_row_n("churn-random", CHURN_HELD, "apr-cleanup", "time", apr_ns, "ns/op");
    bench_table_row(t, "  same churn, APR cleanup per item (baseline)",
                    apr_ns, "ns", BENCH_INFO, 0);
    bench_table_row(t, "  speedup baseline / poolev", apr_ns / pev_ns, "x",
                    BENCH_AT_LEAST, 20);

    bench_pairs(runs, loop_churn_newest, &pc, loop_cleanup_newest, &ac, &pev_ns, &apr_ns);
    bench_table_row(t, "register, then unregister it (newest item): poolev",
                    pev_ns, "ns", BENCH_INFO, 0);
    bench_tsv_row_n("churn-newest", CHURN_HELD, "poolev", "time", pev_ns, "ns/op");
    bench_tsv_row_n("churn-newest", CHURN_HELD, "apr-cleanup", "time", apr_ns, "ns/op");
    bench_table_row(t, "  same, APR cleanup register+kill (baseline)",
                    apr_ns, "ns", BENCH_INFO, 0);
    bench_table_row(t, "  speedup baseline / poolev", apr_ns / pev_ns, "x",
                    BENCH_INFO, 0);

    /* the churn left the bus as it found it: one binding, one cleanup */
    CHECK(pev_bus_stats(pc.bus, &s));
    expect(s.listeners == CHURN_HELD, "churn keeps 10,000 listeners");
    expect(s.bindings == 1 && s.cleanups_registered == 2,
           "one binding (two pool cleanups) for all listeners of the lifetime pool");
    apr_pool_destroy(life);
    apr_pool_destroy(cpool);
    apr_pool_destroy(bpool);
}

/* ------------------------------------------------------------------------ */
/* Destroying a pool full of listeners (row 6)                               */

typedef struct destroy_ctx {
    apr_pool_t *root;
    const char **names;         /* DESTROY_NAMES names */
} destroy_ctx_t;

/* One run: DESTROY_REPS times, build a bus with DESTROY_LISTENERS listeners on
 * one lifetime pool (untimed), then time apr_pool_destroy() of that pool.
 * Returns ns per listener destroyed. */
static double run_destroy(void *p)
{
    const destroy_ctx_t *d = p;
    uint64_t total = 0;
    int rep;

    for (rep = 0; rep < DESTROY_REPS; rep++) {
        apr_pool_t *bpool = new_pool(d->root), *life = new_pool(d->root);
        uint64_t *ud = apr_pcalloc(life, DESTROY_LISTENERS * sizeof *ud);
        pev_bus_t *bus;
        uint64_t t0, t1;
        unsigned i;

        CHECK(pev_bus_create(&bus, bpool));
        for (i = 0; i < DESTROY_LISTENERS; i++)
            CHECK(pev_event_register(NULL, bus, NULL, d->names[i % DESTROY_NAMES],
                                     count_call, &ud[i], life));
        expect(bus_listeners(bus) == DESTROY_LISTENERS, "100,000 listeners registered");
        bench_barrier();
        t0 = bench_now_ns();
        apr_pool_destroy(life);
        t1 = bench_now_ns();
        bench_barrier();
        total += t1 - t0;
        expect(bus_listeners(bus) == 0, "pool destroy unregistered every listener");
        apr_pool_destroy(bpool);
    }
    return (double) total / ((double) DESTROY_REPS * DESTROY_LISTENERS);
}

/* ------------------------------------------------------------------------ */

/* Shuffle @a v[0..n) in place (Fisher-Yates with rand_below). */
static void shuffle(const char **v, unsigned n, uint32_t seed)
{
    unsigned i;

    for (i = n; i > 1; i--) {
        unsigned j = bench_rand_below(&seed, i);
        const char *tmp = v[i - 1];

        v[i - 1] = v[j];
        v[j] = tmp;
    }
}

/* Run every benchmark and print the table; exit status 0 whatever the verdicts. */
int main(void)
{
    apr_pool_t *root;
    bench_table_t t;
    int runs;
    double l1, l16, d1[DISPATCH_SIDES], d4[DISPATCH_SIDES], d16[DISPATCH_SIDES],
        dh[DISPATCH_SIDES], few, many, cold, destroy;
    const char **names, **cold_order;
    destroy_ctx_t d;

    CHECK(apr_initialize());
    atexit(apr_terminate);
    CHECK(apr_pool_create(&root, NULL));
    runs = bench_runs_from_env("POOLEV_BENCH_RUNS", DEFAULT_RUNS);

    printf("poolev %s event bus benchmark\n", POOLEV_VERSION_STRING);
    bench_tsv_begin("bus", runs);
    bench_print_machine();
    printf("figures are medians of %d runs (POOLEV_BENCH_RUNS); each run >= %" PRIu64
           " ms, after a warm-up\n\n", runs, MIN_RUN_NS / 1000000);

    bench_table_header(&t);

    /* 1-3: dispatch cost against the number of listeners, with the floor
     * and GLib timed in turn with poolev */
    bench_dispatch(root, runs, 1, 0, d1);
    bench_dispatch(root, runs, 4, 0, d4);
    bench_dispatch(root, runs, 16, 0, d16);
    bench_dispatch(root, runs, 1, 1, dh);
    l1 = d1[SIDE_POOLEV];
    l16 = d16[SIDE_POOLEV];
    bench_table_row(&t, "generate by name, 1 listener", l1, "ns", BENCH_AT_MOST, 25);
    bench_table_row(&t, "generate by name, 4 listeners", d4[SIDE_POOLEV], "ns",
                    BENCH_INFO, 0);
    bench_table_row(&t, "generate by name, 16 listeners", l16, "ns", BENCH_INFO, 0);
    bench_table_row(&t, "generate by handle (interned), 1 listener", dh[SIDE_POOLEV],
                    "ns", BENCH_AT_MOST, 10);
    bench_table_row(&t, "per extra listener: (16 listeners - 1) / 15",
                    (l16 - l1) / 15.0, "ns", BENCH_AT_MOST, 3);
    bench_table_row(&t, "floor: indirect call per listener, 1 listener", d1[SIDE_FLOOR],
                    "ns", BENCH_INFO, 0);
    bench_table_row(&t, "floor: indirect call per listener, 4 listeners", d4[SIDE_FLOOR],
                    "ns", BENCH_INFO, 0);
    bench_table_row(&t, "floor: indirect call per listener, 16 listeners",
                    d16[SIDE_FLOOR], "ns", BENCH_INFO, 0);
    bench_table_row(&t, "  floor per extra listener: (16 - 1) / 15",
                    (d16[SIDE_FLOOR] - d1[SIDE_FLOOR]) / 15.0, "ns", BENCH_INFO, 0);
    {
        static const char *const side_name[DISPATCH_SIDES] = { "poolev", "indirect-call",
                                                               "glib" };
        int side, nside = 2;

#ifdef HAVE_GLIB
        char gv[32], title[96];

        nside = 3;
        snprintf(gv, sizeof gv, "%u.%u.%u", glib_major_version, glib_minor_version,
                 glib_micro_version);
        snprintf(title, sizeof title, "GLib %s signals, the same callbacks' work", gv);
        bench_table_section(title);
        bench_tsv_info("glib", "version", gv);
        bench_table_row(&t, "GLib: g_signal_emit_by_name, 1 handler", d1[SIDE_GLIB], "ns",
                        BENCH_INFO, 0);
        bench_table_row(&t, "GLib: g_signal_emit_by_name, 4 handlers", d4[SIDE_GLIB],
                        "ns", BENCH_INFO, 0);
        bench_table_row(&t, "GLib: g_signal_emit_by_name, 16 handlers", d16[SIDE_GLIB],
                        "ns", BENCH_INFO, 0);
        bench_table_row(&t, "GLib: g_signal_emit by id, 1 handler", dh[SIDE_GLIB], "ns",
                        BENCH_INFO, 0);
        bench_table_row(&t, "  GLib per extra handler: (16 - 1) / 15",
                        (d16[SIDE_GLIB] - d1[SIDE_GLIB]) / 15.0, "ns", BENCH_INFO, 0);
        bench_table_row(&t, "  ratio GLib / poolev, by name, 1 listener",
                        d1[SIDE_GLIB] / l1, "x", BENCH_INFO, 0);
        bench_table_row(&t, "  ratio GLib / poolev, by name, 16 listeners",
                        d16[SIDE_GLIB] / l16, "x", BENCH_INFO, 0);
#endif
        for (side = 0; side < nside; side++) {
            bench_tsv_row_n("generate-name", 1, side_name[side], "time", d1[side], "ns/op");
            bench_tsv_row_n("generate-name", 4, side_name[side], "time", d4[side], "ns/op");
            bench_tsv_row_n("generate-name", 16, side_name[side], "time", d16[side],
                            "ns/op");
            bench_tsv_row("per-listener", "1-16", side_name[side], "time",
                          (d16[side] - d1[side]) / 15.0, "ns/op");
            if (side != SIDE_FLOOR)
                bench_tsv_row_n("generate-handle", 1, side_name[side], "time", dh[side],
                                "ns/op");
        }
    }

    /* 4: lookup cost against the number of names; the hot set is the same
     * 10 names (the small bus's whole set) in both buses */
    names = make_names(root, "bench.name.", MANY_NAMES);
    bench_names(root, runs, names, FEW_NAMES, MANY_NAMES, &few, &many);
    bench_table_row(&t, "generate by name, 10 names in bus (10 hot names)",
                    few, "ns", BENCH_INFO, 0);
    bench_table_row(&t, "generate by name, 100,000 names in bus (same hot names)",
                    many, "ns", BENCH_INFO, 0);
    bench_table_row(&t, "  ratio 100,000 names / 10 names", many / few, "x",
                    BENCH_AT_MOST, 1.5);
    bench_tsv_row_n("lookup-hot", FEW_NAMES, "poolev", "time", few, "ns/op");
    bench_tsv_row_n("lookup-hot", MANY_NAMES, "poolev", "time", many, "ns/op");
    cold_order = apr_pmemdup(root, names, MANY_NAMES * sizeof *names);
    shuffle(cold_order, MANY_NAMES, 12345u);
    cold = bench_cold(root, runs, names, MANY_NAMES, cold_order);
    bench_table_row(&t, "generate by name, cycling all 100,000 names (cold)",
                    cold, "ns", BENCH_INFO, 0);
    bench_tsv_row_n("lookup-cold", MANY_NAMES, "poolev", "time", cold, "ns/op");

    /* 4b: against ProFTPD's event list */
    bench_proftpd(root, runs, &t);

    /* 5: register+unregister churn */
    bench_churn(root, runs, &t);

    /* 6: destroying a lifetime pool with 100,000 listeners */
    d.root = root;
    d.names = make_names(root, "bench.destroy.", DESTROY_NAMES);
    destroy = bench_median(run_destroy, &d, runs);
    bench_table_row(&t, "pool destroy, 100,000 listeners: per listener", destroy, "ns",
                    BENCH_AT_MOST, 50);
    bench_tsv_row_n("destroy", DESTROY_LISTENERS, "poolev", "time", destroy, "ns/listener");

    printf("\nbaseline: one apr_pool_cleanup_register + apr_pool_cleanup_kill per item on a\n"
           "pool holding 10,000 cleanups. APR searches cleanups newest first, so killing\n"
           "an arbitrary item walks ~5,000 entries while killing the newest is O(1).\n");
    bench_table_footer(&t);
    apr_pool_destroy(root);
    return 0;
}
