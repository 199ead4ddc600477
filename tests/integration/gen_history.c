/* gen_history CONFIG START_EPOCH_S: writes a month of history into CONFIG's data_dir the way the
 * gateway's engine writes it, without a broker or probes: a storage shipment "fridge-a" of 8
 * probes and a transit shipment "truck-42" of 2 loggers, one reading a minute each, judged by
 * the same rules (config_rules_new, rules_tick before each minute as the engine's ticks, then
 * rules_feed) with every alarm transition stored as the engine stores it (store_append_alert
 * with the messages_alert payload), and acknowledgements with their comments. For
 * tests/integration/test_history_report.c; deterministic, no clock read.
 *
 * The history (minutes from START):
 * - fridge-a, probes fridge-p1..p8: 2-8 °C with a daily swing, in steps of 0.1 °C; the first
 *   5 minutes are flagged unsynced; p5 cannot be read for 16 minutes on day 7 (faults) and p8
 *   once every 5000 minutes; p3 and p4 go above 8 °C (peak 9.8 °C) on day 11 03:00-03:40 (the
 *   door), acknowledged; p7 drops to 1.2 °C on day 19 at 14:00 (freeze), acknowledged.
 * - truck-42, loggers truck-l1, truck-l2 reporting from day 24, the shipment from day 25 00:00
 *   to day 27 00:00 (ended, and the loggers go on for two more hours): l1 at 31 °C for 3 hours
 *   on day 25 (the heat-30 budget of who-esi-type1); l2's values carry a third added every 7th
 *   minute, so that exact output needs all 17 digits.
 * The shipments are recorded with their sensors (store_shipment_ensure_config) and the truck is
 * ended through the store (store_shipment_end), so the audit trail is whole and verify passes.
 *
 * gen_history --readings CONFIG SHIPMENT prints the shipment's readings as the store itself
 * defines them (store_shipment_readings_each), for the test to hold coldchainctl's read-only
 * queries against.
 *
 * Exit: 0 written, 1 failure (said on stderr), 2 usage, 78 bad config. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "messages.h"
#include "rules.h"
#include "store.h"

#define MINUTE_MS 60000LL
#define DAY_MIN 1440LL
#define FRIDGE_DAYS 30
#define TRUCK_FROM_MIN (24 * DAY_MIN)        /* the loggers start reporting */
#define TRUCK_START_MIN (25 * DAY_MIN)       /* the shipment starts */
#define TRUCK_END_MIN (27 * DAY_MIN)         /* and ends */
#define TRUCK_UNTIL_MIN (27 * DAY_MIN + 120) /* the loggers stop */
#define BATCH_ROWS 4096

struct gen {
    struct config *cfg;
    struct store *store;
    struct rules *rules;
    struct rules_event *events;
    size_t cap;
};

/* The engine's emit_alert_by() (gateway/engine.c): the same row, the same payload. */
static int emit(struct gen *g, const struct rules_event *re, const char *who, const char *comment)
{
    const struct config_shipment *s = &g->cfg->shipments[re->shipment];
    const struct alarm_def *def = &g->cfg->profiles[s->profile].alarms[re->alarm];
    const char *sensor_id = s->sensor_ids[re->sensor];
    const struct alarm_event *ev = &re->ev;
    struct store_alert sa = {.seq = store_alert_seq_next(g->store),
                             .ts_ms = ev->ts_ms,
                             .level = ev->level,
                             .value = ev->value,
                             .worst = ev->worst,
                             .since_ms = ev->since_ms,
                             .amount_ms = ev->amount_ms};
    if (messages_uuid(sa.id, sizeof(sa.id)) < 0)
        return -EIO;
    snprintf(sa.shipment_id, sizeof(sa.shipment_id), "%s", s->id);
    snprintf(sa.alarm_id, sizeof(sa.alarm_id), "%s", def->id);
    snprintf(sa.sensor_id, sizeof(sa.sensor_id), "%s", sensor_id);
    snprintf(sa.transition, sizeof(sa.transition), "%s", alarm_transition_name(ev->transition));
    snprintf(sa.state, sizeof(sa.state), "%s", alarm_isa_state_name(ev->isa_state));
    struct messages_alert ma = {.gateway_id = g->cfg->gateway_id,
                                .id = sa.id,
                                .seq = sa.seq,
                                .shipment_id = s->id,
                                .sensor_id = sensor_id,
                                .def = def,
                                .ev = ev,
                                .who = who,
                                .comment = comment};
    char *payload = messages_alert(&ma);
    int r = payload ? store_append_alert(g->store, &sa, "coldchain/v1/test/alerts", payload, NULL)
                    : -ENOMEM;
    free(payload);
    return r;
}

static int emit_all(struct gen *g, int n)
{
    for (int i = 0; i < n; i++) {
        int r = emit(g, &g->events[i], NULL, NULL);
        if (r < 0)
            return r;
    }
    return n < 0 ? n : 0;
}

/* A deterministic noise in [-1, 1] for (probe, minute). */
static double noise(unsigned probe, int64_t minute)
{
    uint64_t x =
        (uint64_t)minute * 0x9E3779B97F4A7C15ull ^ (uint64_t)(probe + 1) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return (double)(x % 2001) / 1000.0 - 1.0;
}

static double tenths(double v)
{
    return round(v * 10.0) / 10.0;
}

/* fridge-p<probe+1> at minute m; NaN for a fault. */
static double fridge_value(unsigned probe, int64_t m)
{
    if (probe == 4 && m >= 7 * DAY_MIN + 600 && m < 7 * DAY_MIN + 616)
        return (double)NAN;
    if (probe == 7 && m % 5000 == 4999)
        return (double)NAN;
    double day = (double)(m % DAY_MIN) / (double)DAY_MIN;
    double v = 4.6 + 0.12 * probe + 0.6 * sin(2.0 * M_PI * day + probe) + 0.2 * noise(probe, m);
    int64_t door = 11 * DAY_MIN + 180; /* day 11, 03:00 */
    if ((probe == 2 || probe == 3) && m >= door && m < door + 40) {
        double k = (double)(m - door) / 20.0; /* up for 20 minutes, down for 20 */
        double peak = probe == 2 ? 9.8 : 9.1;
        v += (peak - v) * (k <= 1.0 ? k : 2.0 - k);
    }
    int64_t cold = 19 * DAY_MIN + 840; /* day 19, 14:00 */
    if (probe == 6 && m >= cold && m < cold + 30) {
        double k = (double)(m - cold) / 15.0;
        v += (1.2 - v) * (k <= 1.0 ? k : 2.0 - k);
    }
    return tenths(v);
}

static double truck_value(unsigned logger, int64_t m)
{
    double v = 5.0 + 1.5 * sin((double)m / 300.0 + logger) + 0.3 * noise(10 + logger, m);
    int64_t hot = TRUCK_START_MIN + 600; /* day 25, 10:00 */
    if (logger == 0 && m >= hot && m < hot + 180)
        v = 31.0;
    v = tenths(v);
    if (logger == 1 && m % 7 == 0)
        v += 1.0 / 3.0;
    return v;
}

static int append(struct gen *g, const char *sensor, double v, uint8_t flags, int64_t ts_ms)
{
    struct reading r = {
        .quantity = QUANTITY_TEMPERATURE, .flags = flags, .value = v, .ts_ms = ts_ms};
    snprintf(r.sensor_id, sizeof(r.sensor_id), "%s", sensor);
    if (isnan(v))
        r.flags |= READING_FAULT;
    int n = store_append_reading(g->store, &r);
    if (n < 0)
        return n;
    n = rules_feed(g->rules, &r, g->events, g->cap);
    if (n < 0)
        return n;
    if (store_pending(g->store) >= BATCH_ROWS) {
        int f = store_flush(g->store);
        if (f < 0)
            return f;
    }
    return emit_all(g, n);
}

static int find(const struct gen *g, const char *shipment, const char *alarm, const char *sensor,
                size_t *si, size_t *a, size_t *k)
{
    for (*si = 0; *si < g->cfg->shipment_count; (*si)++) {
        const struct config_shipment *s = &g->cfg->shipments[*si];
        if (strcmp(s->id, shipment) != 0)
            continue;
        int ai = profile_alarm_index(&g->cfg->profiles[s->profile], alarm);
        for (*k = 0; ai >= 0 && *k < s->sensor_count; (*k)++) {
            if (strcmp(s->sensor_ids[*k], sensor) == 0) {
                *a = (size_t)ai;
                return 0;
            }
        }
    }
    return -ENOENT;
}

/* Someone acknowledges the alarm at ts_ms, as the engine's ack command does. */
static int ack(struct gen *g, const char *alarm, const char *sensor, int64_t ts_ms, const char *who,
               const char *comment)
{
    size_t si, a, k;
    if (find(g, "fridge-a", alarm, sensor, &si, &a, &k) < 0)
        return -ENOENT;
    struct rules_event re = {.shipment = (uint32_t)si, .alarm = (uint32_t)a, .sensor = (uint32_t)k};
    int r = rules_ack(g->rules, si, a, k, ts_ms, &re.ev);
    return r < 0 ? r : emit(g, &re, who, comment);
}

/* As the engine records a config's shipment (gateway/engine.c): with its sensors, assigned from
 * its start (schema 3, docs/history.md "Shipments"). */
static int ensure(struct gen *g, size_t i, int64_t started_ms)
{
    const struct config_shipment *s = &g->cfg->shipments[i];
    int r = store_shipment_ensure_config(
        g->store, s->id, s->kind, g->cfg->profiles[s->profile].name, s->description,
        s->sensor_count ? s->sensor_ids[0] : NULL, s->sensor_count, started_ms, NULL);
    return r == STORE_SHIPMENT_ENDED ? -EEXIST : r;
}

static int print_reading(void *arg, int64_t id, const struct reading *r)
{
    (void)arg;
    /* %a: the double exactly, as hex; nothing for a fault. */
    if (r->flags & READING_FAULT)
        printf("%lld,%s,%u,%lld,,%u\n", (long long)id, r->sensor_id, r->quantity,
               (long long)r->ts_ms, r->flags);
    else
        printf("%lld,%s,%u,%lld,%a,%u\n", (long long)id, r->sensor_id, r->quantity,
               (long long)r->ts_ms, r->value, r->flags);
    return 0;
}

/* gen_history --readings CONFIG SHIPMENT: the shipment's readings by the store's own definition
 * (store_shipment_readings_each), one line each: id,sensor,quantity,ts_ms,value (%a),flags. */
static int dump_readings(const char *config_path, const char *shipment)
{
    struct config *cfg = NULL;
    struct store *store = NULL;
    struct cfg_error cerr;
    int r = config_load(config_path, CONFIG_RULES_ONLY, &cfg, &cerr);
    if (r < 0) {
        config_print_error(stderr, config_path, r, &cerr);
        return 78;
    }
    r = store_open(cfg->data_dir, &store);
    if (r == 0)
        r = store_shipment_readings_each(store, shipment, INT64_MIN, INT64_MAX, NULL, print_reading,
                                         NULL);
    if (r < 0)
        fprintf(stderr, "gen_history --readings %s: %s\n", shipment, strerror(-r));
    store_close(store);
    config_free(cfg);
    return r < 0 || fflush(stdout) != 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
    struct gen g = {0};
    struct cfg_error cerr;
    int status = 1, r;
    if (argc == 4 && strcmp(argv[1], "--readings") == 0)
        return dump_readings(argv[2], argv[3]);
    if (argc != 3) {
        fprintf(stderr, "usage: gen_history CONFIG START_EPOCH_S\n"
                        "       gen_history --readings CONFIG SHIPMENT\n");
        return 2;
    }
    int64_t t0 = strtoll(argv[2], NULL, 10) * 1000;
    r = config_load(argv[1], CONFIG_RULES_ONLY, &g.cfg, &cerr);
    if (r < 0) {
        config_print_error(stderr, argv[1], r, &cerr);
        return 78;
    }
    int64_t started[2] = {t0, t0 + TRUCK_START_MIN * MINUTE_MS};
    if (g.cfg->shipment_count != 2 || strcmp(g.cfg->shipments[0].id, "fridge-a") != 0 ||
        strcmp(g.cfg->shipments[1].id, "truck-42") != 0) {
        fprintf(stderr, "gen_history: %s: expected the shipments fridge-a and truck-42\n", argv[1]);
        goto out;
    }
    r = store_open(g.cfg->data_dir, &g.store);
    for (size_t i = 0; r == 0 && i < 2; i++)
        r = ensure(&g, i, started[i]);
    if (r == 0)
        r = config_rules_new(g.cfg, started, &g.rules);
    if (r < 0)
        goto fail;
    g.cap = rules_max_events(g.rules);
    g.events = calloc(g.cap, sizeof(*g.events));
    if (g.events == NULL) {
        r = -ENOMEM;
        goto fail;
    }
    char id[16];
    for (int64_t m = 0; m < FRIDGE_DAYS * DAY_MIN; m++) {
        int64_t ts = t0 + m * MINUTE_MS;
        r = emit_all(&g, rules_tick(g.rules, ts, g.events, g.cap));
        for (unsigned p = 0; r == 0 && p < 8; p++) {
            snprintf(id, sizeof(id), "fridge-p%u", p + 1);
            r = append(&g, id, fridge_value(p, m), m < 5 ? READING_UNSYNCED : 0, ts);
        }
        for (unsigned l = 0; r == 0 && l < 2 && m >= TRUCK_FROM_MIN && m < TRUCK_UNTIL_MIN; l++) {
            snprintf(id, sizeof(id), "truck-l%u", l + 1);
            r = append(&g, id, truck_value(l, m), 0, ts + 500); /* half a second later */
        }
        if (r == 0 && m == 11 * DAY_MIN + 422) /* day 11, 07:02 */
            r = ack(&g, "heat", "fridge-p3", ts + 5000, "Anna Keller",
                    "Door was left open <b>overnight</b> & stock checked; \"OK\" per the "
                    "manufacturer's stability data");
        if (r == 0 && m == 11 * DAY_MIN + 425)
            r = ack(&g, "heat", "fridge-p4", ts + 7000, "Anna Keller", "Same event as fridge-p3");
        if (r == 0 && m == TRUCK_END_MIN) /* delivered: the shipment ends, as by command */
            r = store_shipment_end(g.store, "truck-42", ts, "Carla Diaz",
                                   "Delivered to the district store");
        if (r == 0 && m == 19 * DAY_MIN + 900)
            r = ack(&g, "freeze", "fridge-p7", ts + 1000, "Bob O'Neil",
                    "Thermostat knocked to max; vaccines quarantined <script>alert(1)</script>");
        if (r < 0)
            goto fail;
    }
    r = store_flush(g.store);
    if (r < 0)
        goto fail;
    status = 0;
    goto out;
fail:
    fprintf(stderr, "gen_history: %s\n", strerror(-r));
out:
    store_close(g.store);
    rules_free(g.rules);
    free(g.events);
    config_free(g.cfg);
    return status;
}
