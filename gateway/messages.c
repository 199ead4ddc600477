/* Payload builders with cJSON. Numbers are rounded to 4 decimals on the wire: a probe's 51 ×
 * 0.1 is 5.1000000000000005 in binary, and people and dashboards should read 5.1. The store
 * keeps the unrounded value. */
#include "messages.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <sys/random.h>

#include "clock.h"
#include "version.h"

static cJSON *add_value(cJSON *obj, const char *key, double v)
{
    if (!isfinite(v))
        return cJSON_AddNullToObject(obj, key);
    return cJSON_AddNumberToObject(obj, key, round(v * 1e4) / 1e4);
}

static cJSON *add_time(cJSON *obj, const char *key, int64_t ts_ms)
{
    char buf[40];
    return cJSON_AddStringToObject(obj, key, clock_format_rfc3339(ts_ms, buf, sizeof(buf)));
}

static cJSON *add_flags(cJSON *obj, uint8_t flags)
{
    cJSON *arr = cJSON_AddArrayToObject(obj, "flags");
    if (!arr)
        return NULL;
    static const struct {
        uint8_t bit;
        const char *name;
    } names[] = {
        {READING_FAULT, "fault"}, {READING_UNSYNCED, "unsynced"}, {READING_ESTIMATED, "estimated"}};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if ((flags & names[i].bit) && !cJSON_AddItemToArray(arr, cJSON_CreateString(names[i].name)))
            return NULL;
    }
    return arr;
}

/* Prints and frees. cJSON's Add* functions return NULL on allocation failure and leave the tree
 * consistent, so builders check once, at the end, through `ok`. */
static char *finish(cJSON *root, bool ok)
{
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

char *messages_status(const char *gateway_id, const char *state, const char *reason,
                      int64_t started_ms, int64_t now_ms)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = cJSON_AddStringToObject(root, "gateway", gateway_id) &&
              cJSON_AddStringToObject(root, "state", state) &&
              cJSON_AddStringToObject(root, "version", COLDCHAIN_VERSION) &&
              add_time(root, "ts", now_ms) && add_time(root, "started", started_ms) &&
              cJSON_AddNumberToObject(root, "uptime_s", (double)((now_ms - started_ms) / 1000));
    if (ok && reason)
        ok = cJSON_AddStringToObject(root, "reason", reason) != NULL;
    return finish(root, ok);
}

static bool add_reading(cJSON *obj, const struct reading *r)
{
    return add_value(obj, "value", (r->flags & READING_FAULT) ? (double)NAN : r->value) &&
           cJSON_AddStringToObject(obj, "unit", quantity_unit(r->quantity)) &&
           add_time(obj, "ts", r->ts_ms) && add_flags(obj, r->flags);
}

char *messages_telemetry(const char *gateway_id, const struct reading *readings, size_t count)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *arr = NULL;
    bool ok = cJSON_AddStringToObject(root, "gateway", gateway_id) &&
              (arr = cJSON_AddArrayToObject(root, "readings"));
    for (size_t i = 0; ok && i < count; i++) {
        const struct reading *r = &readings[i];
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            ok = false;
            break;
        }
        ok = cJSON_AddStringToObject(o, "sensor", r->sensor_id) &&
             cJSON_AddStringToObject(o, "quantity", quantity_name(r->quantity)) &&
             add_reading(o, r);
    }
    return finish(root, ok);
}

/* Kinds judged against a limit: the alert says which, and with what hysteresis. */
static bool has_limit(enum alarm_kind kind)
{
    return kind == ALARM_KIND_THRESHOLD || kind == ALARM_KIND_BATTERY ||
           kind == ALARM_KIND_BUDGET || kind == ALARM_KIND_MKT;
}

/* What only some kinds have: the budget, the MKT window, the rate, the silence. The amount is
 * the instance's at the transition; acknowledging or shelving says nothing about it. */
static bool add_kind_fields(cJSON *o, const struct alarm_def *def, const struct alarm_event *ev)
{
    if (ev->transition == ALARM_SHELVED)
        return add_time(o, "shelved_until", ev->ts_ms + ev->amount_ms) != NULL;
    if (ev->transition == ALARM_ACKNOWLEDGED || ev->transition == ALARM_UNSHELVED)
        return true;
    switch ((enum alarm_kind)def->kind) {
    case ALARM_KIND_BUDGET:
        return cJSON_AddNumberToObject(o, "budget_s", (double)(def->budget_ms / 1000)) &&
               cJSON_AddNumberToObject(o, ev->transition == ALARM_RESOLVED ? "credit_s"
                                                                           : "budget_used_s",
                                       (double)(ev->amount_ms / 1000));
    case ALARM_KIND_MKT:
        return cJSON_AddNumberToObject(o, "window_s", (double)(def->window_ms / 1000)) != NULL;
    case ALARM_KIND_RATE:
        return add_value(o, "rate", def->rate) &&
               cJSON_AddNumberToObject(o, "per_s", (double)(def->window_ms / 1000));
    case ALARM_KIND_STALE:
        return cJSON_AddNumberToObject(o, "silent_s", (double)(ev->amount_ms / 1000)) != NULL;
    case ALARM_KIND_CALIBRATION:
        return cJSON_AddNumberToObject(o, "due_in_s", (double)(ev->amount_ms / 1000)) != NULL;
    default:
        return true;
    }
}

char *messages_alert(const struct messages_alert *a)
{
    const struct alarm_def *def = a->def;
    const struct alarm_event *ev = a->ev;
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    bool ok = cJSON_AddStringToObject(root, "id", a->id) &&
              cJSON_AddNumberToObject(root, "seq", (double)a->seq) &&
              add_time(root, "ts", ev->ts_ms) &&
              cJSON_AddStringToObject(root, "gateway", a->gateway_id) &&
              cJSON_AddStringToObject(root, "shipment", a->shipment_id) &&
              cJSON_AddStringToObject(root, "sensor", a->sensor_id) &&
              cJSON_AddStringToObject(root, "alarm", def->id) &&
              cJSON_AddStringToObject(root, "kind", alarm_kind_name(def->kind)) &&
              cJSON_AddStringToObject(root, "quantity",
                                      def->quantity < QUANTITY_COUNT ? quantity_name(def->quantity)
                                                                     : "any") &&
              cJSON_AddStringToObject(root, "transition", alarm_transition_name(ev->transition)) &&
              cJSON_AddStringToObject(root, "state", alarm_isa_state_name(ev->isa_state)) &&
              cJSON_AddBoolToObject(root, "notify", ev->notify) &&
              cJSON_AddNumberToObject(root, "level", ev->level) &&
              cJSON_AddStringToObject(root, "severity", alarm_severity_name(def->severity)) &&
              /* A fault alarm judges "is a fault" (1/0) internally: no value to show. */
              add_value(root, "value", def->kind == ALARM_KIND_FAULT ? (double)NAN : ev->value) &&
              add_value(root, "worst", def->kind == ALARM_KIND_FAULT ? (double)NAN : ev->worst) &&
              cJSON_AddStringToObject(root, "unit", def->quantity < QUANTITY_COUNT
                                                        ? quantity_unit(def->quantity)
                                                        : "") &&
              (!has_limit(def->kind) ||
               (cJSON_AddStringToObject(root, "condition", alarm_condition_name(def->condition)) &&
                add_value(root, "limit", def->limit) &&
                add_value(root, "hysteresis", def->hysteresis))) &&
              cJSON_AddNumberToObject(root, "delay_s", (double)def->delay_ms / 1000.0) &&
              (ev->since_ms ? add_time(root, "since", ev->since_ms) != NULL
                            : cJSON_AddNullToObject(root, "since") != NULL) &&
              cJSON_AddNumberToObject(root, "duration_s",
                                      ev->since_ms ? (double)((ev->ts_ms - ev->since_ms) / 1000)
                                                   : 0.0) &&
              add_kind_fields(root, def, ev) &&
              cJSON_AddStringToObject(root, "message", def->message) &&
              cJSON_AddStringToObject(root, "action", def->action);
    if (ok && a->who)
        ok = cJSON_AddStringToObject(root, "by", a->who) != NULL;
    if (ok && a->comment)
        ok = cJSON_AddStringToObject(root, "comment", a->comment) != NULL;
    return finish(root, ok);
}

static bool add_sensor(cJSON *arr, const struct config *config, size_t shipment, size_t k,
                       const struct rules *rules)
{
    const struct config_shipment *s = &config->shipments[shipment];
    int idx = config_sensor_index(config, s->sensor_ids[k]);
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return false;
    if (!cJSON_AddItemToArray(arr, o)) {
        cJSON_Delete(o);
        return false;
    }
    cJSON *readings = NULL, *summary = NULL;
    bool ok = cJSON_AddStringToObject(o, "id", s->sensor_ids[k]) &&
              cJSON_AddStringToObject(o, "name", idx >= 0 ? config->sensors[idx].name : "") &&
              (readings = cJSON_AddObjectToObject(o, "readings")) &&
              (summary = cJSON_AddObjectToObject(o, "summary"));
    /* What an inspector asks for: which certificate, and until when. */
    if (ok && idx >= 0 &&
        (config->sensors[idx].certificate[0] || config->sensors[idx].calibration_due_ms)) {
        const struct config_sensor *cs = &config->sensors[idx];
        cJSON *cal = cJSON_AddObjectToObject(o, "calibration");
        ok = cal &&
             (cs->certificate[0] ? cJSON_AddStringToObject(cal, "certificate", cs->certificate) != NULL
                                 : cJSON_AddNullToObject(cal, "certificate") != NULL) &&
             (cs->calibration_due_ms ? add_time(cal, "due", cs->calibration_due_ms) != NULL
                                     : cJSON_AddNullToObject(cal, "due") != NULL);
    }
    int64_t last_seen_ms = 0;
    for (unsigned q = 0; ok && q < QUANTITY_COUNT; q++) {
        const struct rules_summary *sum = rules_summary(rules, shipment, k, q);
        if (!sum || sum->count + sum->fault_count == 0)
            continue;
        if (sum->last_ts_ms > last_seen_ms)
            last_seen_ms = sum->last_ts_ms;
        struct reading last = {.quantity = (uint8_t)q, .flags = sum->last_flags,
                               .value = sum->last_value, .ts_ms = sum->last_ts_ms};
        cJSON *r = cJSON_AddObjectToObject(readings, quantity_name(q));
        cJSON *m = cJSON_AddObjectToObject(summary, quantity_name(q));
        ok = r && m && add_reading(r, &last) &&
             cJSON_AddNumberToObject(m, "count", (double)sum->count) &&
             cJSON_AddNumberToObject(m, "faults", (double)sum->fault_count) &&
             add_value(m, "min", sum->min) && add_value(m, "max", sum->max) &&
             add_value(m, "mean", sum->mean) &&
             (q != QUANTITY_TEMPERATURE || add_value(m, "mkt", sum->mkt_c));
    }
    if (ok)
        ok = last_seen_ms ? add_time(o, "last_seen", last_seen_ms) != NULL
                          : cJSON_AddNullToObject(o, "last_seen") != NULL;
    return ok;
}

static bool add_health(cJSON *root, const struct messages_health *h, int64_t now_ms)
{
    cJSON *o = cJSON_AddObjectToObject(root, "health");
    return o && cJSON_AddNumberToObject(o, "uptime_s", (double)((now_ms - h->started_ms) / 1000)) &&
           cJSON_AddBoolToObject(o, "broker_connected", h->broker_connected) &&
           cJSON_AddBoolToObject(o, "clock_synced", h->clock_synced) &&
           cJSON_AddNumberToObject(o, "outbox", (double)h->outbox) &&
           cJSON_AddNumberToObject(o, "outbox_dropped", (double)h->outbox_dropped) &&
           cJSON_AddNumberToObject(o, "buses", (double)h->buses);
}

char *messages_twin(const struct config *config, size_t shipment, const struct rules *rules,
                    int64_t started_ms, int64_t now_ms, const struct messages_health *health)
{
    const struct config_shipment *s = &config->shipments[shipment];
    const struct config_profile *p = &config->profiles[s->profile];
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON *ship = NULL, *sensors = NULL, *alarms = NULL;
    bool ok = cJSON_AddStringToObject(root, "gateway", config->gateway_id) &&
              add_time(root, "ts", now_ms) &&
              (ship = cJSON_AddObjectToObject(root, "shipment")) &&
              cJSON_AddStringToObject(ship, "id", s->id) &&
              cJSON_AddStringToObject(ship, "kind", s->kind) &&
              cJSON_AddStringToObject(ship, "profile", p->name) &&
              cJSON_AddStringToObject(ship, "description", s->description) &&
              add_time(ship, "started", started_ms) &&
              (sensors = cJSON_AddArrayToObject(root, "sensors")) &&
              (alarms = cJSON_AddArrayToObject(root, "alarms"));
    for (size_t k = 0; ok && k < s->sensor_count; k++)
        ok = add_sensor(sensors, config, shipment, k, rules);

    int active = 0;
    for (size_t a = 0; ok && a < p->alarm_count; a++) {
        const struct alarm_def *def = &p->alarms[a];
        for (size_t k = 0; ok && k < s->sensor_count; k++) {
            const struct alarm_instance *inst = rules_instance(rules, shipment, a, k);
            cJSON *o = cJSON_CreateObject();
            if (!o || !cJSON_AddItemToArray(alarms, o)) {
                cJSON_Delete(o);
                ok = false;
                break;
            }
            bool normal = inst->state == ALARM_NORMAL;
            active += inst->state == ALARM_ACTIVE;
            /* "pending" while a delay runs; otherwise the ISA-18.2 state people act on. */
            const char *state = inst->state == ALARM_PENDING
                                    ? "pending"
                                    : alarm_isa_state_name(alarm_isa_state(inst));
            int64_t longest_ms = inst->longest_ms > inst->current_ms ? inst->longest_ms
                                                                     : inst->current_ms;
            ok = cJSON_AddStringToObject(o, "alarm", def->id) &&
                 cJSON_AddStringToObject(o, "kind", alarm_kind_name(def->kind)) &&
                 cJSON_AddStringToObject(o, "sensor", s->sensor_ids[k]) &&
                 cJSON_AddStringToObject(o, "state", state) &&
                 cJSON_AddStringToObject(o, "severity", alarm_severity_name(def->severity)) &&
                 (!has_limit(def->kind) ||
                  (cJSON_AddStringToObject(o, "condition", alarm_condition_name(def->condition)) &&
                   add_value(o, "limit", def->limit))) &&
                 (normal ? cJSON_AddNullToObject(o, "since") : add_time(o, "since", inst->since_ms)) &&
                 add_value(o, "worst", normal ? (double)NAN : inst->worst) &&
                 cJSON_AddNumberToObject(o, "beyond_s", (double)(inst->beyond_ms / 1000)) &&
                 cJSON_AddNumberToObject(o, "excursions", inst->excursions) &&
                 cJSON_AddNumberToObject(o, "longest_s", (double)(longest_ms / 1000)) &&
                 (def->kind != ALARM_KIND_BUDGET ||
                  cJSON_AddNumberToObject(o, "budget_left_s",
                                          (double)(rules_budget_left_ms(rules, shipment, a, k) /
                                                   1000))) &&
                 (def->kind != ALARM_KIND_MKT || add_value(o, "mkt", inst->value)) &&
                 (inst->shelved_until_ms == 0 ||
                  add_time(o, "shelved_until", inst->shelved_until_ms)) &&
                 cJSON_AddStringToObject(o, "message", def->message);
        }
    }
    if (ok)
        ok = cJSON_AddNumberToObject(root, "active_alarms", active) != NULL;
    if (ok && health)
        ok = add_health(root, health, now_ms);
    return finish(root, ok);
}

int messages_uuid(char *buf, size_t cap)
{
    uint8_t b[16];
    if (cap < 37)
        return -EINVAL;
    if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
        return -errno;
    b[6] = (uint8_t)((b[6] & 0x0F) | 0x40); /* RFC 4122 §4.4: version 4 */
    b[8] = (uint8_t)((b[8] & 0x3F) | 0x80); /* variant 10 */
    snprintf(buf, cap,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
    return 0;
}
