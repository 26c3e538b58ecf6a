/*
 * engine_bench.c - micro-benchmark of the rules engine (issue 4): one
 * engine_compute() call for a 20-line purchase against a rule set with 20
 * promotions (bench/engine_rules.json, parsed with rules_from_json as the
 * daemon does), timed with clock_gettime(CLOCK_MONOTONIC).
 *
 *   engine_bench [-n CALLS] [-r RUNS] [-w WARMUP] [RULES.json]
 *
 * Prints what the purchase computes to (so a change in the rules shows), the
 * ns per call of every run, then "calls=<n>" (every call made, the first,
 * checking one included) and "median_ns_per_call=<x>" for bench/engine.sh.
 * Under valgrind --tool=callgrind --toggle-collect=engine_compute, every
 * collected instruction belongs to one of those n calls.
 *
 * Measures the engine only: no JSON, HTTP or database in the timed loop, and
 * it must not change anything outside bench/.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "api/rules_json.h"
#include "core/err.h"
#include "core/xmalloc.h"
#include "rules/engine.h"
#include "rules/rules.h"

#ifndef LY_BENCH_RULES
#define LY_BENCH_RULES "bench/engine_rules.json"
#endif

#define MAX_RUNS 100

/* 2026-11-21T10:15:00+08:00: a Saturday morning inside every promotion's window. */
#define OCCURRED_AT_US INT64_C(1795227300000000)

/* A week's shopping in nine categories, some lines alike, one excluded (tobacco). */
static const struct engine_line_in LINES[] = {
    {"F001", "fresh", 2, 1290},     {"F002", "fresh", 1, 3450},  {"F003", "fresh", 3, 590},
    {"F004", "fresh", 1, 2280},     {"D001", "dairy", 4, 650},   {"D002", "dairy", 2, 1180},
    {"D003", "dairy", 1, 2590},     {"B001", "bakery", 2, 890},  {"B002", "bakery", 1, 1590},
    {"K001", "drinks", 6, 350},     {"K002", "drinks", 2, 1990}, {"K003", "drinks", 1, 5990},
    {"S001", "snacks", 3, 790},     {"S002", "snacks", 2, 1250}, {"H001", "household", 1, 4990},
    {"H002", "household", 2, 1890}, {"Z001", "frozen", 1, 3290}, {"Z002", "frozen", 2, 1450},
    {"T001", "tobacco", 1, 3000},   {"C001", "beauty", 1, 8990},
};

#define NLINES ((int)(sizeof(LINES) / sizeof(LINES[0])))

/* A silver member, not in its birthday window, whose purchase lifts it to gold. */
static const struct engine_member MEMBER = {
    .tier = "silver",
    .qualifying_spend = 950000,
    .birthday_month = 3,
    .birthday_day = 14,
    .days_since_enrolled = 400,
    .purchase_count = 25,
    .days_since_last_purchase = 7,
    .segment = "",
    .lifecycle_stage = "",
};

static const struct engine_purchase PURCHASE = {
    .lines = LINES,
    .nlines = NLINES,
    .store_id = "S001",
    .occurred_at_us = OCCURRED_AT_US,
    .local = {.year = 2026, .month = 11, .day = 21, .hour = 10, .weekday = 5},
    .redeem_points = 2000,
    .coupon = {.kind = COUPON_NONE},
};

/* Keeps the results live so that no call can be dropped. */
static volatile int64_t sink;

static void usage(void)
{
    fprintf(stderr, "usage: engine_bench [-n CALLS] [-r RUNS] [-w WARMUP] [RULES.json]\n");
    exit(2);
}

static long arg_count(const char *s, long min)
{
    char *end;
    long v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > 1000000000L)
        usage();
    return v;
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

/* The rule set in `path`, parsed and validated as PUT /v1/rules would (heap, caller frees). */
static struct rules *load_rules(const char *path)
{
    struct rules *r = xcalloc(1, sizeof(*r));
    json_error_t je;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    struct err e;

    if (doc == NULL) {
        fprintf(stderr, "%s:%d: %s\n", path, je.line, je.text);
        exit(1);
    }
    err_clear(&e);
    if (rules_from_json(doc, r, &e) < 0) {
        fprintf(stderr, "%s: not a valid rule set: %s\n", path, e.detail);
        for (int i = 0; i < e.nfields; i++)
            fprintf(stderr, "  %s: %s\n", e.fields[i].field, e.fields[i].message);
        exit(1);
    }
    json_decref(doc);
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const char *path = LY_BENCH_RULES;
    long calls = 200000, runs = 5, warmup = 20000;
    double ns[MAX_RUNS];
    struct engine_result *out = xcalloc(1, sizeof(*out));
    struct rules *r;
    struct err e;
    int promotions = 0;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            calls = arg_count(argv[++i], 1);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            runs = arg_count(argv[++i], 1);
        else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
            warmup = arg_count(argv[++i], 0);
        else if (argv[i][0] != '-' && i == argc - 1)
            path = argv[i];
        else
            usage();
    }
    if (runs > MAX_RUNS)
        usage();
    r = load_rules(path);

    err_clear(&e);
    if (engine_compute(r, &MEMBER, &PURCHASE, out, &e) < 0) {
        fprintf(stderr, "engine_compute failed: %s\n", e.detail);
        for (int i = 0; i < e.nfields; i++)
            fprintf(stderr, "  %s: %s\n", e.fields[i].field, e.fields[i].message);
        return 1;
    }
    for (int i = 0; i < out->napplied; i++)
        promotions += strcmp(out->applied[i].kind, "promotion") == 0;
    printf("rules: %s (%d promotions, %d condition nodes)\n", path, r->npromotions, r->nnodes);
    printf("purchase: %d lines, subtotal %" PRId64 ", discount %" PRId64 ", redeemed %" PRId64
           ", points %" PRId64 " (bonus %" PRId64 "), tier %s -> %s, %d promotions fired, "
           "%d applied entries\n",
           out->nlines, out->subtotal, out->discount_total, out->redeemed_value, out->points_earned,
           out->bonus_points, r->tiers[out->tier_before].code, r->tiers[out->tier_after].code,
           promotions, out->napplied);

    for (long i = 0; i < warmup; i++) {
        engine_compute(r, &MEMBER, &PURCHASE, out, &e);
        sink = out->points_earned;
    }
    for (long k = 0; k < runs; k++) {
        int64_t t0 = now_ns(), t1;

        for (long i = 0; i < calls; i++) {
            engine_compute(r, &MEMBER, &PURCHASE, out, &e);
            sink = out->points_earned;
        }
        t1 = now_ns();
        ns[k] = (double)(t1 - t0) / (double)calls;
        printf("run %ld: %ld calls, %.1f ns/call\n", k + 1, calls, ns[k]);
    }
    qsort(ns, (size_t)runs, sizeof(ns[0]), cmp_double);
    printf("calls=%ld\n", warmup + runs * calls + 1);
    printf("median_ns_per_call=%.1f\n", ns[runs / 2]);
    free(out);
    free(r);
    return 0;
}
