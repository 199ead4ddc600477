/* The rules engine: every alarm instance, keyed by (shipment, alarm definition, sensor), and a
 * condition summary per (shipment, sensor, quantity), evaluated in event time (docs/rules.md).
 * Pure: readings and time in, events out; no I/O, no clock, no threads, no allocation after
 * rules_new(). Owned and called by one thread: the engine thread, replay, or a test. */
#ifndef COLDCHAIN_RULES_H
#define COLDCHAIN_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alarm.h"
#include "reading.h"

#define RULES_HOLD_DEFAULT_MS (60 * 60 * 1000) /* without a stale alarm a value holds 1 h */

/* A scheduled suppression window (a defrost cycle): in force at ts when
 * (ts - offset_ms) mod period_ms < duration_ms. Alarms still record; events do not notify. */
struct rules_window {
    int64_t offset_ms;   /* where a window starts, from the epoch (UTC), modulo the period */
    int64_t period_ms;   /* > 0: how often (24 h for a daily defrost) */
    int64_t duration_ms; /* 0 < duration < period */
};

/* What rules_new() needs of one shipment; everything is copied. */
struct rules_shipment_def {
    const char *id;
    int64_t started_ms;                  /* readings older than this are not the shipment's */
    const struct alarm_def *alarms;      /* the profile's alarms */
    size_t alarm_count;
    const char (*sensor_ids)[READING_SENSOR_ID_MAX];
    const int64_t *cal_due_ms;           /* per sensor, the calibration due date; 0 = none;
                                          * NULL = none for all */
    size_t sensor_count;
    const int64_t *budget_used_ms;       /* per alarm, budget already used by earlier legs;
                                          * NULL = none */
    const struct rules_window *suppress; /* the profile's suppression windows */
    size_t suppress_count;
};

/* One transition; the indexes refer to the definitions given to rules_new(). */
struct rules_event {
    uint32_t shipment;
    uint32_t alarm;
    uint32_t sensor; /* index within the shipment's sensors */
    struct alarm_event ev;
};

/* Per (shipment, sensor, quantity), from the shipment's start. Weights are held time
 * (docs/rules.md): the mean and MKT are time-weighted. */
struct rules_summary {
    uint64_t count;        /* valid readings */
    uint64_t fault_count;  /* readings flagged READING_FAULT */
    uint64_t out_of_order; /* readings older than the one before (clock stepped back) */
    double min, max;       /* of valid readings; NaN before the first */
    double mean;           /* time-weighted; NaN before the first */
    double mkt_c;          /* temperature only, ΔH default, computed by rules_summary(); NaN
                            * otherwise */
    double last_value;     /* NaN if the last reading was a fault */
    int64_t last_ts_ms;    /* 0 before the first reading */
    uint8_t last_flags;
};

struct rules;

/* Builds the instances, all NORMAL. 0, -EINVAL (no shipments, a shipment without sensors, a bad
 * window, a stale/budget/rate/mkt definition without its duration), -ENOMEM. *rules_out is owned
 * by the caller: rules_free(). */
int rules_new(const struct rules_shipment_def *shipments, size_t shipment_count,
              struct rules **rules_out);
/* NULL is a no-op. */
void rules_free(struct rules *rules);

/* The most events one rules_feed() or rules_tick() call can produce: size buffers with it. */
size_t rules_max_events(const struct rules *rules);

/* A handle for a sensor id, for the hot path: >= 0, or -ENOENT if no shipment has that sensor. */
int rules_sensor_slot(const struct rules *rules, const char *sensor_id);

/* Feeds one calibrated reading to every shipment its sensor belongs to: first advances that
 * sensor's instances to r->ts_ms on the values they hold (as rules_tick does), then judges the
 * reading. A faulted or non-finite value is a fault reading. Writes at most cap events and
 * returns how many (>= 0), -ENOSPC if cap < rules_max_events(), -EINVAL for a bad quantity.
 * rules_feed_slot() is the same with a slot from rules_sensor_slot(); rules_feed() looks the
 * id up (0 events for an unknown sensor). */
int rules_feed(struct rules *rules, const struct reading *r, struct rules_event *events,
               size_t cap);
int rules_feed_slot(struct rules *rules, int slot, const struct reading *r,
                    struct rules_event *events, size_t cap);

/* Advances every instance to now_ms (wall clock, event time): delays that ran out on a held
 * value, budgets spent, sensors gone stale, reminders due, shelves run out, suppression windows
 * ended, calibration stages reached. Events carry the exact instant they happened, not now_ms.
 * A now_ms earlier than what was seen changes nothing. Returns the event count, or -ENOSPC. */
int rules_tick(struct rules *rules, int64_t now_ms, struct rules_event *events, size_t cap);

/* Operator actions on one instance, at ts_ms. Each fills *ev_out and returns 0, or -EINVAL
 * (index out of range, a resolve of a non-budget alarm, a shelve until <= ts_ms),
 * -EALREADY (ack of an acknowledged alarm). The caller records who and why.
 * resolve credits credit_ms of the budget back (at most what was used). */
int rules_ack(struct rules *rules, size_t shipment, size_t alarm, size_t sensor, int64_t ts_ms,
              struct alarm_event *ev_out);
int rules_shelve(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                 int64_t ts_ms, int64_t until_ms, struct alarm_event *ev_out);
int rules_unshelve(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                   int64_t ts_ms, struct alarm_event *ev_out);
int rules_resolve(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                  int64_t ts_ms, int64_t credit_ms, struct alarm_event *ev_out);

/* Read access for the twin and replay. NULL if an index is out of range. */
const struct alarm_instance *rules_instance(const struct rules *rules, size_t shipment,
                                            size_t alarm, size_t sensor);
const struct alarm_def *rules_alarm_def(const struct rules *rules, size_t shipment, size_t alarm);
const struct rules_summary *rules_summary(const struct rules *rules, size_t shipment,
                                          size_t sensor, unsigned quantity);
size_t rules_shipment_count(const struct rules *rules);
size_t rules_alarm_count(const struct rules *rules, size_t shipment);
size_t rules_sensor_count(const struct rules *rules, size_t shipment);
const char *rules_shipment_id(const struct rules *rules, size_t shipment);
const char *rules_sensor_id(const struct rules *rules, size_t shipment, size_t sensor);

/* Budget left (budget - used + credit, may be negative) for a budget instance; 0 otherwise.
 * Includes the value held since the last reading up to the last time seen. */
int64_t rules_budget_left_ms(const struct rules *rules, size_t shipment, size_t alarm,
                             size_t sensor);
/* True when ts_ms falls in one of the shipment's suppression windows. */
bool rules_suppressed(const struct rules *rules, size_t shipment, int64_t ts_ms);

/* What a local alarm output (buzzer, LED) should show, over every instance that people were told
 * about and that is not shelved: a bitmask of enum rules_alert_flag. */
enum rules_alert_flag {
    RULES_ALERT_CRITICAL_UNACKED = 1u << 0, /* a critical alarm is active and nobody acked it */
    RULES_ALERT_SENSOR = 1u << 1,           /* a fault or stale alarm is active: a probe problem */
    RULES_ALERT_ACTIVE = 1u << 2,           /* any other alarm is active (warning, or acked) */
};
unsigned rules_alert_flags(const struct rules *rules, int64_t now_ms);

/* After a restart: the engine replays the history through a fresh rules object (events
 * discarded), then tells it what people were last told of each instance, so that an alarm
 * announced as active is neither raised again nor silently forgotten. isa_state is the state of
 * the last announced transition (ALARM_ISA_NORMAL if none), level its reminder level. If the
 * condition and what was announced disagree, the missing transition is written to *ev_out and
 * 1 is returned (announce it now); 0 if they agree; -EINVAL out of range. */
int rules_reconcile(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                    enum alarm_isa_state announced, uint8_t level, int64_t now_ms,
                    struct alarm_event *ev_out);

#endif
