/* Writes a history with every kind of audit event through the store, as the engine would, for
 * test_verify.sh to tamper with: a pharmacy fridge (a config shipment, probe-a and probe-b) and
 * a truck (started by command with logger-7, logger-8 assigned later, ended), readings of the
 * four probes every minute for a day in batches of 256 with a fault among them, three alerts, a
 * config, a command and a clock event, then the truck's readings uplinked and purged by
 * retention (the truck ended more than the retention age ago). Then it prints the chain's head.
 *
 *   make_audit_history DIR     (DIR exists and has no history.db yet)
 *
 * Exit 0 written, 1 a store call failed, 2 usage. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "store.h"

#define START_MS INT64_C(1767225600000) /* 2026-01-01T00:00:00Z */
#define MIN_MS INT64_C(60000)
#define DAY_MS (24 * 60 * MIN_MS)

static int fail(const char *what, int rc)
{
    fprintf(stderr, "make_audit_history: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    return 1;
}

static int alert(struct store *store, uint64_t seq, int64_t ts_ms, const char *transition,
                 const char *state)
{
    struct store_alert a = {.seq = seq, .ts_ms = ts_ms, .value = 8.6, .worst = 9.1,
                            .since_ms = ts_ms - 30 * MIN_MS, .amount_ms = 0};
    snprintf(a.id, sizeof(a.id), "6b1f0c2e-4a55-4c1e-9a51-%012" PRIu64, seq);
    snprintf(a.shipment_id, sizeof(a.shipment_id), "fridge-a");
    snprintf(a.alarm_id, sizeof(a.alarm_id), "heat");
    snprintf(a.sensor_id, sizeof(a.sensor_id), "probe-a");
    snprintf(a.transition, sizeof(a.transition), "%s", transition);
    snprintf(a.state, sizeof(a.state), "%s", state);
    char payload[256];
    snprintf(payload, sizeof(payload),
             "{\"id\":\"%s\",\"seq\":%" PRIu64 ",\"shipment\":\"fridge-a\",\"alarm\":\"heat\","
             "\"sensor\":\"probe-a\",\"transition\":\"%s\",\"value\":8.6}",
             a.id, seq, transition);
    return store_append_alert(store, &a, "coldchain/v1/gw1/alerts", payload, NULL);
}

int main(int argc, char **argv)
{
    struct store *store = NULL;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: make_audit_history DIR\n");
        return 2;
    }
    rc = store_open(argv[1], &store);
    if (rc < 0)
        return fail("open", rc);
    char fridge[2][READING_SENSOR_ID_MAX] = {"probe-a", "probe-b"};
    char truck[1][READING_SENSOR_ID_MAX] = {"logger-7"};
    rc = store_shipment_ensure_config(store, "fridge-a", "storage", "cdc-fridge",
                                      "Pharmacy vaccine fridge", fridge[0], 2, START_MS, NULL);
    if (rc == 0)
        rc = store_event_config(store, START_MS, NULL, "/etc/coldchain/gateway.json",
                                "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                                "start");
    if (rc == 0)
        rc = store_shipment_start(store, "truck-7", "transit", "who-2-8", "MMR, depot to clinic 12",
                                  STORE_SOURCE_COMMAND, START_MS, "driver-12", truck[0], 1);
    if (rc < 0)
        return fail("shipments", rc);

    uint64_t seq = 1;
    for (int64_t m = 0; m < 24 * 60; m++) {
        int64_t ts = START_MS + m * MIN_MS;
        const char *sensors[] = {"probe-a", "probe-b", "logger-7", "logger-8"};
        for (int k = 0; k < 4; k++) {
            if (k == 3 && m < 60)
                continue; /* logger-8 joins the truck after an hour */
            struct reading r = {.quantity = QUANTITY_TEMPERATURE, .ts_ms = ts + k * 100,
                                .value = 4.0 + 0.5 * sin((double)(m + 90 * k) / 60.0)};
            snprintf(r.sensor_id, sizeof(r.sensor_id), "%s", sensors[k]);
            if (k == 1 && m == 300) {
                r.flags = READING_FAULT;
                r.value = (double)NAN;
            }
            rc = store_append_reading(store, &r);
            if (rc < 0)
                return fail("reading", rc);
        }
        if (m == 60)
            rc = store_shipment_assign(store, "truck-7", "logger-8", ts, "driver-12");
        if (m == 400 || m == 430 || m == 700)
            rc = alert(store, seq++, ts, m == 430 ? "cleared" : "raised",
                       m == 430 ? "returned" : "active");
        if (m == 500)
            rc = store_event_append(store, ts, STORE_EVENT_COMMAND, "fridge-a", "Anna Keller",
                                    "{\"verb\":\"ack\",\"shipment\":\"fridge-a\",\"alarm\":"
                                    "\"heat\",\"sensor\":\"probe-a\",\"user\":\"Anna Keller\","
                                    "\"comment\":\"Door left ajar; product moved\"}",
                                    NULL);
        if (m == 600)
            rc = store_event_clock(store, ts, ts - 3000, ts);
        if (m == 720)
            rc = store_shipment_end(store, "truck-7", ts, "driver-12", "Delivered, cartons intact");
        if (rc == 0 && store_pending(store) >= 256)
            rc = store_flush(store);
        if (rc < 0)
            return fail("history", rc);
    }
    rc = store_flush(store);
    /* Everything reached the broker; the truck ended half a day ago and is kept for 6 hours. */
    if (rc == 0)
        rc = store_mark_uplinked(store, store_reading_id_last(store));
    struct store_purge_result res = {0};
    if (rc == 0)
        rc = store_purge(store, START_MS + DAY_MS, 6 * 60 * MIN_MS, 1000, &res);
    if (rc < 0)
        return fail("purge", rc);
    int64_t head_id = 0;
    char head[65] = "";
    store_chain_head(store, &head_id, head);
    store_close(store);
    printf("purged %" PRId64 " readings; head %" PRId64 " %s\n", res.readings, head_id, head);
    return res.readings > 0 ? 0 : 1;
}
