/* One shipment gathered for people (shipview.h). */
#include "shipview.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "ctlfmt.h"

/* The shipment's start and end as the audit trail recorded them: how it was started (config or
 * command, and by whom) and who ended it with what comment (docs/history.md "Events"). */
static int note_lifecycle(void *arg, const struct histdb_event *e)
{
    struct shipview *view = arg;
    cJSON *detail = NULL;
    if (strcmp(e->kind, "shipment-start") == 0) {
        detail = cJSON_Parse(e->detail);
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(detail, "source");
        const char *source = cJSON_IsString(src) ? src->valuestring : "?";
        bool config = strcmp(source, "config") == 0;
        snprintf(view->started_by, sizeof(view->started_by), "%s%.20s%s%.128s",
                 config ? "from the " : "by ", source, e->actor[0] ? " of " : "", e->actor);
    } else if (strcmp(e->kind, "shipment-end") == 0) {
        detail = cJSON_Parse(e->detail);
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(detail, "comment");
        snprintf(view->ended_by, sizeof(view->ended_by), "%s", e->actor);
        snprintf(view->end_comment, sizeof(view->end_comment), "%s",
                 cJSON_IsString(c) ? c->valuestring : "");
    }
    cJSON_Delete(detail);
    return 0;
}

int shipview_open(struct histdb *db, const char *id, const struct config *config,
                  struct shipview *view)
{
    memset(view, 0, sizeof(*view));
    view->config = config;
    view->description = "";
    int rc = histdb_shipment_get(db, id, &view->shipment);
    if (rc < 0)
        return rc;
    /* The history's own description (schema 3) is what the shipment was started with. */
    for (size_t i = 0; config != NULL && i < config->shipment_count; i++) {
        if (strcmp(config->shipments[i].id, id) == 0)
            view->description = config->shipments[i].description;
    }
    if (view->shipment.description[0] != '\0')
        view->description = view->shipment.description;
    rc = histdb_events_each(db, id, note_lifecycle, view);
    if (rc < 0)
        return rc;
    rc = histdb_windows(db, &view->shipment, config, &view->windows, &view->window_count);
    if (rc < 0)
        return rc;
    rc = histdb_readings_extent(db, view->windows, view->window_count, NULL, &view->rows,
                                &view->first_ms, &view->last_ms);
    if (rc < 0)
        return rc;
    view->end_ms = view->shipment.ended_ms != 0 ? view->shipment.ended_ms
                   : view->rows > 0             ? view->last_ms
                                                : view->shipment.started_ms;
    rc = shipsum_new(&view->shipment, view->windows, view->window_count, config, &view->sum);
    if (rc < 0)
        return rc;
    return alarmlog_read(db, id, &view->alarms);
}

struct scan {
    struct shipview *view;
    int (*hook)(void *arg, const struct histdb_reading *row);
    void *arg;
};

static int scan_row(void *arg, const struct histdb_reading *row)
{
    struct scan *sc = arg;
    int rc = shipsum_feed(sc->view->sum, &row->r);
    if (rc == 0 && sc->hook != NULL)
        rc = sc->hook(sc->arg, row);
    return rc;
}

int shipview_scan(struct histdb *db, struct shipview *view,
                  int (*hook)(void *arg, const struct histdb_reading *row), void *arg)
{
    struct scan sc = {.view = view, .hook = hook, .arg = arg};
    int rc = histdb_readings_each(db, view->windows, view->window_count, NULL, scan_row, &sc);
    if (rc != 0)
        return rc;
    return shipsum_finish(view->sum, view->end_ms);
}

const char *shipview_sensor_name(const struct shipview *view, const char *sensor_id)
{
    int idx = view->config != NULL ? config_sensor_index(view->config, sensor_id) : -ENOENT;
    return idx >= 0 ? view->config->sensors[idx].name : sensor_id;
}

void shipview_findings(const struct shipview *view, void (*fn)(void *arg, const char *sentence),
                       void *arg)
{
    struct rules *rules = shipsum_rules(view->sum);
    char line[512], d1[CTLFMT_DURATION_MAX], d2[CTLFMT_DURATION_MAX], lim[CTLFMT_EXACT_MAX];
    size_t nsens = rules ? rules_sensor_count(rules, 0) : 0;
    size_t nal = rules ? rules_alarm_count(rules, 0) : 0;
    bool beyond = false;
    if (rules == NULL) {
        fn(arg, "No sensor belonged to this shipment: nothing was measured.");
        return;
    }
    for (size_t a = 0; a < nal; a++) {
        const struct alarm_def *def = rules_alarm_def(rules, 0, a);
        if (!shipsum_alarm_has_limit(def) || shipsum_alarm_repeats_limit(rules, a))
            continue;
        for (size_t k = 0; k < nsens; k++) {
            const struct alarm_instance *inst = rules_instance(rules, 0, a, k);
            if (inst->beyond_ms <= 0)
                continue;
            int64_t longest =
                inst->longest_ms > inst->current_ms ? inst->longest_ms : inst->current_ms;
            const char *unit = quantity_unit(def->quantity);
            snprintf(line, sizeof(line),
                     "%s was %s %s%s%s (%s) for %s in total, in %" PRIu32
                     " excursion%s; the longest lasted %s.",
                     rules_sensor_id(rules, 0, k), ctlfmt_condition(def->condition),
                     ctlfmt_exact(def->limit, lim, sizeof(lim)), unit[0] ? " " : "", unit, def->id,
                     ctlfmt_duration(inst->beyond_ms, d1, sizeof(d1)), inst->excursions,
                     inst->excursions == 1 ? "" : "s", ctlfmt_duration(longest, d2, sizeof(d2)));
            fn(arg, line);
            beyond = true;
        }
    }
    for (size_t a = 0; a < nal; a++) {
        const struct alarm_def *def = rules_alarm_def(rules, 0, a);
        for (size_t k = 0; def->kind == ALARM_KIND_BUDGET && k < nsens; k++) {
            int64_t used = shipsum_budget_used_ms(view->sum, a, k);
            if (used <= 0)
                continue;
            if (used >= def->budget_ms)
                snprintf(line, sizeof(line), "The budget %s on %s is spent: %s used of %s.",
                         def->id, rules_sensor_id(rules, 0, k),
                         ctlfmt_duration(used, d1, sizeof(d1)),
                         ctlfmt_duration(def->budget_ms, d2, sizeof(d2)));
            else
                snprintf(line, sizeof(line),
                         "The budget %s on %s: %s of %s used (%.0f %%), earlier legs included.",
                         def->id, rules_sensor_id(rules, 0, k),
                         ctlfmt_duration(used, d1, sizeof(d1)),
                         ctlfmt_duration(def->budget_ms, d2, sizeof(d2)),
                         100.0 * (double)used / (double)def->budget_ms);
            fn(arg, line);
        }
    }
    if (!beyond)
        fn(arg, shipsum_profile(view->sum) != NULL
                    ? "No probe went beyond a limit of the profile."
                    : "The profile is not known here, so no limits could be checked.");
    size_t unacked = 0;
    for (size_t i = 0; i < view->alarms.count; i++) {
        const char *st = view->alarms.entries[i].state;
        unacked += strcmp(st, "active") == 0 || strcmp(st, "returned") == 0;
    }
    if (unacked != 0) {
        snprintf(line, sizeof(line), "%zu alarm%s still await%s an acknowledgement.", unacked,
                 unacked == 1 ? "" : "s", unacked == 1 ? "s" : "");
        fn(arg, line);
    }
    for (size_t k = 0; k < nsens; k++) {
        uint64_t faults = 0;
        for (unsigned q = 0; q < QUANTITY_COUNT; q++)
            faults += rules_summary(rules, 0, k, q)->fault_count;
        if (faults == 0)
            continue;
        snprintf(line, sizeof(line),
                 "%s could not be read %" PRIu64 " time%s (faults: no value "
                 "was recorded for them).",
                 rules_sensor_id(rules, 0, k), faults, faults == 1 ? "" : "s");
        fn(arg, line);
    }
}

void shipview_clear(struct shipview *view)
{
    if (view == NULL)
        return;
    free(view->windows);
    shipsum_free(view->sum);
    alarmlog_clear(&view->alarms);
    memset(view, 0, sizeof(*view));
}
