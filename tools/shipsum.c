/* A shipment's summary by the gateway's own rules (shipsum.h). Nothing here computes a
 * statistic: the rules do (rules/rules.c, rules/mkt.c); this file only builds them as the
 * engine does and feeds them as the engine's restart does (gateway/engine.c replay_reading). */
#include "shipsum.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

struct shipsum {
    struct config_profile own;            /* a preset copied here when config had no profile */
    const struct config_profile *profile; /* &own, a profile of config, or NULL */
    struct rules *rules;                  /* NULL without sensors */
    struct rules_event *events;           /* rules_max_events(): events are discarded */
    size_t events_cap;
    int64_t now_ms; /* the newest time the rules were moved to */
};

static const struct config_profile *find_profile(const struct config *config, const char *name)
{
    for (size_t i = 0; config != NULL && i < config->profile_count; i++) {
        if (strcmp(config->profiles[i].name, name) == 0)
            return &config->profiles[i];
    }
    return NULL;
}

static const struct config_shipment *find_shipment(const struct config *config, const char *id)
{
    for (size_t i = 0; config != NULL && i < config->shipment_count; i++) {
        if (strcmp(config->shipments[i].id, id) == 0)
            return &config->shipments[i];
    }
    return NULL;
}

int shipsum_new(const struct histdb_shipment *s, const struct histdb_window *windows,
                size_t window_count, const struct config *config, struct shipsum **out)
{
    char(*ids)[READING_SENSOR_ID_MAX] = NULL;
    int64_t *due = NULL;
    int rc = -ENOMEM;
    struct shipsum *sum = calloc(1, sizeof(*sum));
    if (sum == NULL)
        goto out;
    sum->now_ms = INT64_MIN;
    sum->profile = find_profile(config, s->profile);
    if (sum->profile == NULL) {
        rc = profile_from_preset(s->profile, &sum->own);
        if (rc == -ENOMEM)
            goto out;
        if (rc == 0)
            sum->profile = &sum->own;
    }
    /* The sensors, each once: a sensor assigned twice has two windows but one set of
     * instances, as in the engine. */
    ids = calloc(window_count + 1, sizeof(*ids));
    due = calloc(window_count + 1, sizeof(*due));
    if (ids == NULL || due == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < window_count; i++) {
        size_t k = 0;
        while (k < n && strcmp(ids[k], windows[i].sensor_id) != 0)
            k++;
        if (k < n)
            continue;
        memcpy(ids[n], windows[i].sensor_id, sizeof(ids[n]));
        int idx = config != NULL ? config_sensor_index(config, ids[n]) : -ENOENT;
        due[n] = idx >= 0 ? config->sensors[idx].calibration_due_ms : 0;
        n++;
    }
    if (n == 0) {
        rc = 0; /* nothing to summarise */
        *out = sum;
        sum = NULL;
        goto out;
    }
    /* Budget seeds belong to the config's shipment only while it still uses this profile:
     * they are indexed by the profile's alarms. */
    const struct config_shipment *cs = find_shipment(config, s->id);
    const int64_t *seed = NULL;
    if (cs != NULL && sum->profile != NULL && &config->profiles[cs->profile] == sum->profile)
        seed = cs->budget_used_ms;
    const struct config_profile *p = sum->profile;
    struct rules_shipment_def def = {
        .id = s->id,
        .started_ms = s->started_ms,
        .alarms = p != NULL ? p->alarms : NULL,
        .alarm_count = p != NULL ? p->alarm_count : 0,
        .sensor_ids = (const char(*)[READING_SENSOR_ID_MAX])ids,
        .cal_due_ms = due,
        .sensor_count = n,
        .budget_used_ms = seed,
        .suppress = p != NULL ? p->suppress : NULL,
        .suppress_count = p != NULL ? p->suppress_count : 0,
    };
    rc = rules_new(&def, 1, &sum->rules);
    if (rc < 0)
        goto out;
    sum->events_cap = rules_max_events(sum->rules);
    sum->events = calloc(sum->events_cap, sizeof(*sum->events));
    if (sum->events == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    *out = sum;
    sum = NULL;
    rc = 0;
out:
    free(ids);
    free(due);
    shipsum_free(sum);
    return rc;
}

void shipsum_free(struct shipsum *sum)
{
    if (sum == NULL)
        return;
    rules_free(sum->rules);
    free(sum->events);
    profile_clear(&sum->own);
    free(sum);
}

int shipsum_feed(struct shipsum *sum, const struct reading *r)
{
    if (sum->rules == NULL)
        return 0;
    int slot = rules_sensor_slot(sum->rules, r->sensor_id);
    if (slot < 0)
        return 0;
    /* gateway/engine.c replay_reading(): the tick first, then the reading. */
    if (r->ts_ms > sum->now_ms) {
        sum->now_ms = r->ts_ms;
        int n = rules_tick(sum->rules, r->ts_ms, sum->events, sum->events_cap);
        if (n < 0)
            return n;
    }
    int n = rules_feed_slot(sum->rules, slot, r, sum->events, sum->events_cap);
    return n < 0 ? n : 0;
}

int shipsum_finish(struct shipsum *sum, int64_t end_ms)
{
    if (sum->rules == NULL || end_ms <= sum->now_ms)
        return 0;
    sum->now_ms = end_ms;
    int n = rules_tick(sum->rules, end_ms, sum->events, sum->events_cap);
    return n < 0 ? n : 0;
}

const struct config_profile *shipsum_profile(const struct shipsum *sum)
{
    return sum->profile;
}

struct rules *shipsum_rules(const struct shipsum *sum)
{
    return sum->rules;
}

int64_t shipsum_budget_used_ms(const struct shipsum *sum, size_t alarm, size_t sensor)
{
    const struct alarm_def *def = sum->rules ? rules_alarm_def(sum->rules, 0, alarm) : NULL;
    if (def == NULL || def->kind != ALARM_KIND_BUDGET)
        return 0;
    return def->budget_ms - rules_budget_left_ms(sum->rules, 0, alarm, sensor);
}

bool shipsum_alarm_has_limit(const struct alarm_def *def)
{
    return alarm_kind_is_threshold(def->kind) || def->kind == ALARM_KIND_BUDGET;
}

bool shipsum_alarm_repeats_limit(const struct rules *rules, size_t alarm)
{
    const struct alarm_def *def = rules_alarm_def(rules, 0, alarm);
    for (size_t b = 0; b < alarm; b++) {
        const struct alarm_def *o = rules_alarm_def(rules, 0, b);
        if (shipsum_alarm_has_limit(o) && o->quantity == def->quantity &&
            o->condition == def->condition && o->limit == def->limit)
            return true;
    }
    return false;
}
