/* Throughput of the pure rules engine (rules/rules.h): readings per second through
 * rules_feed_slot() on one core, with a realistic profile, so that a change to rules/ can be
 * judged by numbers. Not installed; tools/bench/run builds it in release mode and runs it pinned.
 * Single-threaded, like the engine thread it models. Prints `key: value` lines, one block per
 * variant; exits 1 if a rules call fails, 2 on a bad argument. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rules.h"

/* 20 shipments × 10 sensors, not 200 single-sensor shipments: a reefer truck or a cold room
 * carries several probes (air supply, air return, product simulants at the door and at the back),
 * and a gateway serves a handful of such loads. It is also the layout the engine is built for
 * (instances are sensor-major within a shipment) and the fairer one: rules.c copies the profile
 * (8 × 624 bytes of alarm_def, mostly message text) per shipment, so 200 one-sensor shipments
 * would spread the definitions over 1 MB and measure cache misses on text nobody reads. */
#define SHIPMENTS 20
#define SENSORS_PER_SHIPMENT 10
#define SENSOR_COUNT (SHIPMENTS * SENSORS_PER_SHIPMENT)

#define MIN_MS INT64_C(60000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

#define PERIOD_MS MIN_MS /* each sensor is read once a minute of event time */
/* Within a round the sensors are read one after the other, 300 ms apart, as a bus poller does. */
#define STAGGER_MS (PERIOD_MS / SENSOR_COUNT)
#define START_MS INT64_C(1704067200000) /* 2024-01-01T00:00:00Z: the shipments' start */
#define READINGS_DEFAULT 10000000u

/* One profile for every shipment. The first THRESHOLD_ONLY_COUNT entries are the cheap variant. */
static const struct alarm_def profile[] = {
    {
        .id = "heat",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .severity = ALARM_CRITICAL,
        .limit = 8.0,
        .hysteresis = 0.3,
        .delay_ms = 30 * MIN_MS,
        .message = "Temperature above 8 °C for 30 min",
        .action = "Check the door and the refrigeration unit",
    },
    {
        .id = "freeze",
        .kind = ALARM_KIND_THRESHOLD,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_BELOW,
        .severity = ALARM_CRITICAL,
        .limit = 2.0,
        .delay_ms = 0,
        .message = "Temperature below 2 °C",
        .action = "Quarantine freeze-sensitive product",
    },
    {
        .id = "heat-budget",
        .kind = ALARM_KIND_BUDGET,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_AT_OR_ABOVE,
        .severity = ALARM_CRITICAL,
        .limit = 30.0,
        .budget_ms = 10 * HOUR_MS,
        .message = "10 h at or above 30 °C used up",
    },
    {
        .id = "mkt",
        .kind = ALARM_KIND_MKT,
        .quantity = QUANTITY_TEMPERATURE,
        .condition = ALARM_ABOVE,
        .severity = ALARM_WARNING,
        .limit = 8.0,
        .window_ms = 24 * HOUR_MS,
        .delta_h_j_mol = 83144.0, /* USP <1079.2> */
        .message = "24 h mean kinetic temperature above 8 °C",
    },
    {
        .id = "rate",
        .kind = ALARM_KIND_RATE,
        .quantity = QUANTITY_TEMPERATURE,
        .severity = ALARM_WARNING,
        .direction = ALARM_EITHER,
        .limit = 0.0,
        .rate = 2.0,
        .window_ms = 10 * MIN_MS,
        .message = "Temperature changed by more than 2 °C in 10 min",
    },
    {
        .id = "stale",
        .kind = ALARM_KIND_STALE,
        .quantity = QUANTITY_COUNT, /* any quantity */
        .severity = ALARM_WARNING,
        .stale_ms = 20 * MIN_MS,
        .message = "No reading for 20 min",
    },
    {
        .id = "fault",
        .kind = ALARM_KIND_FAULT,
        .quantity = QUANTITY_TEMPERATURE,
        .severity = ALARM_WARNING,
        .delay_ms = 5 * MIN_MS,
        .message = "Probe fault for 5 min",
    },
    {
        .id = "calibration",
        .kind = ALARM_KIND_CALIBRATION,
        .quantity = QUANTITY_COUNT,
        .severity = ALARM_WARNING,
        .cal_warn_ms = {90 * DAY_MS, 30 * DAY_MS},
        .message = "Probe calibration due",
    },
};
#define PROFILE_COUNT (sizeof(profile) / sizeof(profile[0]))
#define THRESHOLD_ONLY_COUNT 2

/* Pre-generated readings, stored compactly (9 bytes each instead of a 56-byte struct reading, so
 * that 10 M fit in 90 MB and streaming them does not dominate): reading i is sensor
 * i % SENSOR_COUNT in round i / SENSOR_COUNT. */
struct workload {
    size_t count;
    double *value_c; /* °C; NaN for a fault */
    uint8_t *flags;  /* enum reading_flag bits */
};

/* xorshift64* (Vigna): cheap, deterministic, good enough for test data. */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

/* Uniform in [0, 1). */
static double rng_unit(uint64_t *state)
{
    return (double)(rng_next(state) >> 11) * 0x1.0p-53;
}

/* Each probe follows a mean-reverting walk around its set point (5 °C, σ ≈ 0.3 °C), so in
 * normal operation nothing fires. Now and then the set point moves for a while: a door left
 * open or a defrost (to ~10.5 °C for 20–80 min, crossing 8 °C past the 30 min delay about half
 * of the time, and fast enough to trip the rate alarm), or a unit running too cold (to ~0.5 °C).
 * Faults come in bursts of 10 readings (a probe off the bus for 10 min, past the fault alarm's
 * 5 min delay), one burst per 10 000 readings: ~0.1 % of readings. */
struct probe {
    double temp_c;
    double offset_c; /* the excursion's shift of the set point, 0 when none */
    unsigned excursion_left;
    unsigned fault_left;
};

static int workload_generate(struct workload *w, size_t count)
{
    struct probe probes[SENSOR_COUNT];
    uint64_t rng = UINT64_C(0x9E3779B97F4A7C15);
    int r = -ENOMEM;

    w->count = count;
    w->value_c = malloc(count * sizeof(*w->value_c));
    w->flags = malloc(count);
    if (!w->value_c || !w->flags)
        goto out;
    for (size_t k = 0; k < SENSOR_COUNT; k++)
        probes[k] = (struct probe){.temp_c = 4.5 + rng_unit(&rng)};
    for (size_t i = 0; i < count; i++) {
        struct probe *p = &probes[i % SENSOR_COUNT];
        if (p->fault_left == 0 && rng_next(&rng) % 10000 == 0)
            p->fault_left = 10;
        if (p->fault_left > 0) {
            p->fault_left--;
            w->value_c[i] = (double)NAN;
            w->flags[i] = READING_FAULT;
            continue;
        }
        if (p->excursion_left > 0) {
            if (--p->excursion_left == 0)
                p->offset_c = 0.0;
        } else {
            uint64_t dice = rng_next(&rng) % 20000;
            if (dice < 4) {
                p->offset_c = 5.5;
                p->excursion_left = 20 + (unsigned)(rng_next(&rng) % 61);
            } else if (dice < 6) {
                p->offset_c = -4.5;
                p->excursion_left = 20 + (unsigned)(rng_next(&rng) % 41);
            }
        }
        p->temp_c += 0.1 * (5.0 + p->offset_c - p->temp_c) + 0.5 * (rng_unit(&rng) - 0.5);
        w->value_c[i] = p->temp_c;
        w->flags[i] = 0;
    }
    r = 0;
out:
    if (r < 0) {
        free(w->value_c);
        free(w->flags);
        w->value_c = NULL;
        w->flags = NULL;
    }
    return r;
}

static void workload_free(struct workload *w)
{
    free(w->value_c);
    free(w->flags);
}

struct result {
    size_t alarms_per_sensor;
    size_t readings;
    double seconds;     /* CLOCK_MONOTONIC: the figure */
    double cpu_seconds; /* CLOCK_THREAD_CPUTIME_ID: well below seconds means the core was shared */
    uint64_t events;
    uint64_t checksum; /* sum of the events' ts_ms, wrapping */
    uint64_t raised[PROFILE_COUNT];
};

static double elapsed_s(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) * 1e-9;
}

static void account(struct result *res, const struct rules_event *events, int n)
{
    res->events += (uint64_t)n;
    for (int j = 0; j < n; j++) {
        res->checksum += (uint64_t)events[j].ev.ts_ms;
        if (events[j].ev.transition == ALARM_RAISED && events[j].alarm < PROFILE_COUNT)
            res->raised[events[j].alarm]++;
    }
}

/* Builds the shipments with the first alarm_count alarms of the profile, feeds the workload and
 * times the feed loop (with one rules_tick() per round: the live engine ticks once per wall
 * second, and a round is the readings of one period). 0, or the failing call's negative errno
 * after printing what failed. */
static int run_variant(const struct workload *w, size_t alarm_count, struct result *res)
{
    static char sensor_ids[SENSOR_COUNT][READING_SENSOR_ID_MAX];
    static int64_t cal_due_ms[SENSOR_COUNT];
    struct rules_shipment_def defs[SHIPMENTS];
    struct reading proto[SENSOR_COUNT];
    int slots[SENSOR_COUNT];
    struct rules *rules = NULL;
    struct rules_event *events = NULL;
    struct timespec t0, t1, c0, c1;
    int r;

    memset(res, 0, sizeof(*res));
    res->alarms_per_sensor = alarm_count;
    res->readings = w->count;
    for (size_t k = 0; k < SENSOR_COUNT; k++) {
        snprintf(sensor_ids[k], sizeof(sensor_ids[k]), "probe-%03zu", k);
        /* Due 40–139 days after the start: over a 10 M reading run (~35 days) some sensors pass
         * the 90-day warning and a few the 30-day one. */
        cal_due_ms[k] = START_MS + (40 + (int64_t)((k * 37) % 100)) * DAY_MS;
    }
    for (size_t s = 0; s < SHIPMENTS; s++) {
        static char ids[SHIPMENTS][16];
        snprintf(ids[s], sizeof(ids[s]), "SHP-%02zu", s);
        /* char (*)[N] does not convert to const char (*)[N] implicitly in C11. */
        const char(*shipment_sensors)[READING_SENSOR_ID_MAX] =
            (const char(*)[READING_SENSOR_ID_MAX])sensor_ids[s * SENSORS_PER_SHIPMENT];
        defs[s] = (struct rules_shipment_def){
            .id = ids[s],
            .started_ms = START_MS,
            .alarms = profile,
            .alarm_count = alarm_count,
            .sensor_ids = shipment_sensors,
            .cal_due_ms = &cal_due_ms[s * SENSORS_PER_SHIPMENT],
            .sensor_count = SENSORS_PER_SHIPMENT,
        };
    }
    r = rules_new(defs, SHIPMENTS, &rules);
    if (r < 0) {
        fprintf(stderr, "bench_rules: rules_new: %s\n", strerror(-r));
        goto out;
    }
    size_t cap = rules_max_events(rules);
    events = calloc(cap, sizeof(*events));
    if (!events) {
        fprintf(stderr, "bench_rules: %zu events: %s\n", cap, strerror(ENOMEM));
        r = -ENOMEM;
        goto out;
    }
    for (size_t k = 0; k < SENSOR_COUNT; k++) {
        slots[k] = rules_sensor_slot(rules, sensor_ids[k]);
        if (slots[k] < 0) {
            r = slots[k];
            fprintf(stderr, "bench_rules: rules_sensor_slot(%s): %s\n", sensor_ids[k],
                    strerror(-r));
            goto out;
        }
        proto[k] = (struct reading){.quantity = QUANTITY_TEMPERATURE};
        memcpy(proto[k].sensor_id, sensor_ids[k], READING_SENSOR_ID_MAX);
    }

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int64_t round_ms = START_MS;
    size_t k = 0;
    for (size_t i = 0; i < w->count; i++) {
        struct reading *rd = &proto[k];
        rd->value = w->value_c[i];
        rd->flags = w->flags[i];
        rd->ts_ms = round_ms + (int64_t)k * STAGGER_MS;
        int n = rules_feed_slot(rules, slots[k], rd, events, cap);
        if (n < 0) {
            r = n;
            fprintf(stderr, "bench_rules: rules_feed_slot(%s) at reading %zu: %s\n", rd->sensor_id,
                    i, strerror(-r));
            goto out;
        }
        if (n > 0)
            account(res, events, n);
        if (++k == SENSOR_COUNT) {
            n = rules_tick(rules, rd->ts_ms, events, cap);
            if (n < 0) {
                r = n;
                fprintf(stderr, "bench_rules: rules_tick at reading %zu: %s\n", i, strerror(-r));
                goto out;
            }
            if (n > 0)
                account(res, events, n);
            k = 0;
            round_ms += PERIOD_MS;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    res->seconds = elapsed_s(&t0, &t1);
    res->cpu_seconds = elapsed_s(&c0, &c1);
    r = 0;
out:
    free(events);
    rules_free(rules);
    return r;
}

static void print_result(const char *variant, const struct result *res, size_t alarm_count)
{
    double per_s = res->seconds > 0 ? (double)res->readings / res->seconds : 0.0;
    double ns = res->readings ? res->seconds * 1e9 / (double)res->readings : 0.0;

    printf("variant: %s\n", variant);
    printf("sensors: %d\n", SENSOR_COUNT);
    printf("alarms_per_sensor: %zu\n", res->alarms_per_sensor);
    printf("readings: %zu\n", res->readings);
    printf("seconds: %.3f\n", res->seconds);
    printf("readings_per_s: %.0f\n", per_s);
    printf("ns_per_reading: %.1f\n", ns);
    printf("events: %" PRIu64 "\n", res->events);
    printf("checksum: %" PRIu64 "\n", res->checksum);
    /* Not part of the figure: a value well below seconds means another process took the core. */
    printf("cpu_seconds: %.3f\n", res->cpu_seconds);
    /* Raised transitions per alarm: shows that the workload exercises every kind it can. */
    printf("raised:");
    for (size_t a = 0; a < alarm_count; a++)
        printf(" %s=%" PRIu64, profile[a].id, res->raised[a]);
    printf("\n\n");
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_rules [--readings N]\n"
            "  Feeds N readings (default %u) round-robin over %d sensors (%d shipments of %d)\n"
            "  to the rules engine, first with all %zu alarm kinds of the profile per sensor,\n"
            "  then with only the %d threshold alarms, and prints the throughput of each.\n",
            READINGS_DEFAULT, SENSOR_COUNT, SHIPMENTS, SENSORS_PER_SHIPMENT, PROFILE_COUNT,
            THRESHOLD_ONLY_COUNT);
}

int main(int argc, char **argv)
{
    size_t readings = READINGS_DEFAULT;
    struct workload w = {0};
    struct result res;
    int status = 1;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--readings") == 0 && i + 1 < argc) {
            const char *arg = argv[++i];
            char *end;
            errno = 0;
            unsigned long long n = strtoull(arg, &end, 10);
            /* Each reading takes 9 bytes of workload: refuse what cannot be allocated anyway. */
            if (errno || end == arg || *end || arg[0] == '-' || n == 0 ||
                n > SIZE_MAX / sizeof(double)) {
                fprintf(stderr, "bench_rules: --readings %s: expected a positive count\n", arg);
                return 2;
            }
            readings = (size_t)n;
            continue;
        }
        fprintf(stderr, "bench_rules: unexpected argument %s\n", argv[i]);
        usage(stderr);
        return 2;
    }

    if (workload_generate(&w, readings) < 0) {
        fprintf(stderr, "bench_rules: %zu readings: %s\n", readings, strerror(ENOMEM));
        goto out;
    }
    if (run_variant(&w, PROFILE_COUNT, &res) < 0)
        goto out;
    print_result("all-kinds", &res, PROFILE_COUNT);
    if (run_variant(&w, THRESHOLD_ONLY_COUNT, &res) < 0)
        goto out;
    print_result("threshold-only", &res, THRESHOLD_ONLY_COUNT);
    status = 0;
out:
    workload_free(&w);
    return status;
}
