/* The JSON payloads of DESIGN §7 (schemas in docs/mqtt.md): status, telemetry, alerts, twin.
 * Pure builders over plain data: each returns a malloc'd NUL-terminated string the caller
 * frees, or NULL when out of memory. Engine thread (and tests). */
#ifndef COLDCHAIN_MESSAGES_H
#define COLDCHAIN_MESSAGES_H

#include <stddef.h>
#include <stdint.h>

#include "alarm.h"
#include "config.h"
#include "reading.h"
#include "rules.h"

/* state: "online" or "offline"; reason (may be NULL): "shutdown", "connection lost". */
char *messages_status(const char *gateway_id, const char *state, const char *reason,
                      int64_t started_ms, int64_t now_ms);

char *messages_telemetry(const char *gateway_id, const struct reading *readings, size_t count);

struct messages_alert {
    const char *gateway_id;
    const char *id;           /* UUID text */
    uint64_t seq;
    const char *shipment_id;
    const char *sensor_id;
    const struct alarm_def *def;
    const struct alarm_event *ev;
    const char *who;          /* acknowledged/shelved/resolved by; NULL otherwise */
    const char *comment;      /* their comment; NULL otherwise */
};
char *messages_alert(const struct messages_alert *alert);

/* The gateway's health as the twin carries it (docs/mqtt.md "health"). */
struct messages_health {
    int64_t started_ms;       /* when the daemon (this engine) started */
    bool broker_connected;    /* at the time the twin was built (a twin queued offline says so) */
    bool clock_synced;        /* the wall clock is NTP-synchronised */
    int64_t outbox;           /* messages waiting for the broker; -1 unknown */
    uint64_t outbox_dropped;  /* QoS 1 telemetry dropped to keep the outbox bounded */
    size_t buses;             /* bus threads configured */
};

/* The twin of config->shipments[shipment], from the rules' instances and summaries; health
 * (may be NULL: no "health") is the gateway's. */
char *messages_twin(const struct config *config, size_t shipment, const struct rules *rules,
                    int64_t started_ms, int64_t now_ms, const struct messages_health *health);

/* Writes a random (version 4) UUID as text into buf (cap >= 37). 0 or -errno. */
int messages_uuid(char *buf, size_t cap);

#endif
