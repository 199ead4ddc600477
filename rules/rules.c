/* Instances and summaries laid out in flat arrays: shipment-major, then alarm, then sensor.
 * Sizes are fixed at rules_new(), so rules_feed() never allocates. */
#include "rules.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct shipment {
    struct alarm_def *alarms;
    size_t alarm_count;
    char (*sensor_ids)[READING_SENSOR_ID_MAX];
    size_t sensor_count;
    struct alarm_instance *instances;  /* alarm_count * sensor_count */
    struct rules_summary *summaries;   /* sensor_count * QUANTITY_COUNT */
};

struct rules {
    struct shipment *shipments;
    size_t shipment_count;
    size_t max_events;
};

static void summary_init(struct rules_summary *s)
{
    memset(s, 0, sizeof(*s));
    s->min = (double)NAN;
    s->max = (double)NAN;
    s->last_value = (double)NAN;
}

void rules_free(struct rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->shipment_count; i++) {
        struct shipment *s = &rules->shipments[i];
        free(s->alarms);
        free(s->sensor_ids);
        free(s->instances);
        free(s->summaries);
    }
    free(rules->shipments);
    free(rules);
}

int rules_new(const struct rules_shipment_def *defs, size_t shipment_count,
              struct rules **rules_out)
{
    if (shipment_count == 0 || shipment_count > UINT32_MAX)
        return -EINVAL;
    int r = -ENOMEM;
    struct rules *rules = calloc(1, sizeof(*rules));
    if (!rules)
        return -ENOMEM;
    rules->shipments = calloc(shipment_count, sizeof(*rules->shipments));
    if (!rules->shipments)
        goto out;
    rules->shipment_count = shipment_count;

    for (size_t i = 0; i < shipment_count; i++) {
        const struct rules_shipment_def *d = &defs[i];
        struct shipment *s = &rules->shipments[i];
        if (d->sensor_count == 0) {
            r = -EINVAL;
            goto out;
        }
        s->alarm_count = d->alarm_count;
        s->sensor_count = d->sensor_count;
        s->alarms = calloc(d->alarm_count ? d->alarm_count : 1, sizeof(*s->alarms));
        s->sensor_ids = calloc(d->sensor_count, sizeof(*s->sensor_ids));
        s->instances = calloc(d->alarm_count * d->sensor_count + 1, sizeof(*s->instances));
        s->summaries = calloc(d->sensor_count * QUANTITY_COUNT, sizeof(*s->summaries));
        if (!s->alarms || !s->sensor_ids || !s->instances || !s->summaries)
            goto out;
        if (d->alarm_count)
            memcpy(s->alarms, d->alarms, d->alarm_count * sizeof(*s->alarms));
        memcpy(s->sensor_ids, d->sensor_ids, d->sensor_count * sizeof(*s->sensor_ids));
        for (size_t k = 0; k < d->alarm_count * d->sensor_count; k++)
            alarm_init(&s->instances[k]);
        for (size_t k = 0; k < d->sensor_count * QUANTITY_COUNT; k++)
            summary_init(&s->summaries[k]);
        /* A reading reaches each alarm of its quantity at most once per shipment. */
        rules->max_events += d->alarm_count;
    }
    *rules_out = rules;
    rules = NULL;
    r = 0;
out:
    rules_free(rules);
    return r;
}

size_t rules_max_events(const struct rules *rules)
{
    return rules->max_events;
}

static void summary_add(struct rules_summary *s, const struct reading *r, bool valid)
{
    s->last_ts_ms = r->ts_ms;
    s->last_flags = r->flags;
    if (!valid) {
        s->fault_count++;
        s->last_value = (double)NAN;
        return;
    }
    s->last_value = r->value;
    s->count++;
    s->sum += r->value;
    s->min = isnan(s->min) ? r->value : fmin(s->min, r->value);
    s->max = isnan(s->max) ? r->value : fmax(s->max, r->value);
}

int rules_feed(struct rules *rules, const struct reading *r, struct rules_event *events,
               size_t cap)
{
    if (cap < rules->max_events)
        return -ENOSPC;
    if (r->quantity >= QUANTITY_COUNT)
        return 0;
    bool valid = !(r->flags & READING_FAULT) && isfinite(r->value);
    size_t n = 0;

    for (size_t si = 0; si < rules->shipment_count; si++) {
        struct shipment *s = &rules->shipments[si];
        for (size_t k = 0; k < s->sensor_count; k++) {
            if (strncmp(s->sensor_ids[k], r->sensor_id, READING_SENSOR_ID_MAX) != 0)
                continue;
            summary_add(&s->summaries[k * QUANTITY_COUNT + r->quantity], r, valid);
            if (!valid)
                continue;
            for (size_t a = 0; a < s->alarm_count; a++) {
                const struct alarm_def *def = &s->alarms[a];
                if (def->quantity != r->quantity)
                    continue;
                struct rules_event *e = &events[n];
                if (alarm_feed(&s->instances[a * s->sensor_count + k], def, r->value, r->ts_ms,
                               &e->ev) > 0) {
                    e->shipment = (uint32_t)si;
                    e->alarm = (uint32_t)a;
                    e->sensor = (uint32_t)k;
                    n++;
                }
            }
        }
    }
    return (int)n;
}

static struct alarm_instance *instance_at(const struct rules *rules, size_t shipment,
                                          size_t alarm, size_t sensor)
{
    if (shipment >= rules->shipment_count)
        return NULL;
    const struct shipment *s = &rules->shipments[shipment];
    if (alarm >= s->alarm_count || sensor >= s->sensor_count)
        return NULL;
    return &s->instances[alarm * s->sensor_count + sensor];
}

const struct alarm_instance *rules_instance(const struct rules *rules, size_t shipment,
                                            size_t alarm, size_t sensor)
{
    return instance_at(rules, shipment, alarm, sensor);
}

const struct rules_summary *rules_summary(const struct rules *rules, size_t shipment,
                                          size_t sensor, unsigned quantity)
{
    if (shipment >= rules->shipment_count || quantity >= QUANTITY_COUNT)
        return NULL;
    const struct shipment *s = &rules->shipments[shipment];
    if (sensor >= s->sensor_count)
        return NULL;
    return &s->summaries[sensor * QUANTITY_COUNT + quantity];
}

int rules_restore(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                  const struct alarm_instance *inst)
{
    struct alarm_instance *cur = instance_at(rules, shipment, alarm, sensor);
    if (!cur)
        return -EINVAL;
    *cur = *inst;
    return 0;
}

int rules_seed_summary(struct rules *rules, size_t shipment, size_t sensor, unsigned quantity,
                       const struct rules_summary *seed)
{
    if (!rules_summary(rules, shipment, sensor, quantity))
        return -EINVAL;
    struct shipment *s = &rules->shipments[shipment];
    s->summaries[sensor * QUANTITY_COUNT + quantity] = *seed;
    return 0;
}
