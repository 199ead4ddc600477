/* The rules engine: every alarm instance, keyed by (shipment, alarm definition, sensor), and a
 * condition summary per (shipment, sensor, quantity). Pure: readings and time in, events out.
 * Owned and called by the engine thread only (and by tests / replay). */
#ifndef COLDCHAIN_RULES_H
#define COLDCHAIN_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "alarm.h"
#include "reading.h"

/* What rules_new() needs of one shipment; everything is copied. */
struct rules_shipment_def {
    const char *id;
    const struct alarm_def *alarms; /* the profile's alarms */
    size_t alarm_count;
    const char (*sensor_ids)[READING_SENSOR_ID_MAX];
    size_t sensor_count;
};

/* One announced transition; the indexes refer to the definitions given to rules_new(). */
struct rules_event {
    uint32_t shipment;
    uint32_t alarm;
    uint32_t sensor; /* index within the shipment's sensors */
    struct alarm_event ev;
};

/* Per (shipment, sensor, quantity). Faulted readings count only in fault_count and last_*. */
struct rules_summary {
    uint64_t count;       /* valid readings */
    uint64_t fault_count; /* readings flagged READING_FAULT */
    double min, max;      /* of valid readings; NaN before the first */
    double sum;           /* of valid readings, for the mean */
    double last_value;    /* NaN if the last reading was a fault */
    int64_t last_ts_ms;   /* 0 before the first reading */
    uint8_t last_flags;
};

struct rules;

/* Builds the instances, all NORMAL. 0, -EINVAL (no shipments, a shipment without sensors, ids
 * too long), -ENOMEM. *rules_out is owned by the caller: rules_free(). */
int rules_new(const struct rules_shipment_def *shipments, size_t shipment_count,
              struct rules **rules_out);
void rules_free(struct rules *rules);

/* The largest number of events one rules_feed() call can produce: size the buffer with it. */
size_t rules_max_events(const struct rules *rules);

/* Feeds one (calibrated) reading to every shipment its sensor belongs to. A faulted or
 * non-finite reading updates only the summary: the threshold instances keep their state, as a
 * fault is not evidence that the goods are back in range. Writes at most cap events, returns
 * how many (>= 0), or -ENOSPC if cap < rules_max_events(). */
int rules_feed(struct rules *rules, const struct reading *r, struct rules_event *events,
               size_t cap);

/* Read access for the twin. NULL if an index is out of range. */
const struct alarm_instance *rules_instance(const struct rules *rules, size_t shipment,
                                            size_t alarm, size_t sensor);
const struct rules_summary *rules_summary(const struct rules *rules, size_t shipment,
                                          size_t sensor, unsigned quantity);

/* Replaces a summary with one computed from the history, so a restart does not forget the
 * shipment's minimum and maximum so far. -EINVAL if out of range. */
int rules_seed_summary(struct rules *rules, size_t shipment, size_t sensor, unsigned quantity,
                       const struct rules_summary *seed);

/* Restores an instance after a restart (from the last transition in the history), so an alarm
 * that was active stays active instead of being raised a second time. -EINVAL if out of range. */
int rules_restore(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                  const struct alarm_instance *inst);

#endif
