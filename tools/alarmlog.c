/* Alert transitions grouped into excursions (alarmlog.h); the transitions and what each means
 * are docs/mqtt.md "Transitions and states". */
#include "alarmlog.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The latest entry of the instance (alarm, sensor), or NULL. */
static struct alarmlog_entry *latest(struct alarmlog *log, const struct histdb_alert *a)
{
    for (size_t i = log->count; i-- > 0;) {
        struct alarmlog_entry *e = &log->entries[i];
        if (strcmp(e->alarm_id, a->alarm_id) == 0 && strcmp(e->sensor_id, a->sensor_id) == 0)
            return e;
    }
    return NULL;
}

static struct alarmlog_entry *add_entry(struct alarmlog *log, const struct histdb_alert *a)
{
    struct alarmlog_entry *grown = realloc(log->entries, (log->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return NULL;
    log->entries = grown;
    struct alarmlog_entry *e = &log->entries[log->count++];
    memset(e, 0, sizeof(*e));
    snprintf(e->alarm_id, sizeof(e->alarm_id), "%s", a->alarm_id);
    snprintf(e->sensor_id, sizeof(e->sensor_id), "%s", a->sensor_id);
    snprintf(e->kind, sizeof(e->kind), "%s", a->kind);
    snprintf(e->quantity, sizeof(e->quantity), "%s", a->quantity);
    snprintf(e->severity, sizeof(e->severity), "%s", a->severity);
    snprintf(e->condition, sizeof(e->condition), "%s", a->condition);
    snprintf(e->unit, sizeof(e->unit), "%s", a->unit);
    e->limit = a->limit;
    e->raised_value = (double)NAN;
    e->worst = (double)NAN;
    return e;
}

static int add_note(struct alarmlog_entry *e, const struct histdb_alert *a)
{
    struct alarmlog_note *grown = realloc(e->notes, (e->note_count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -ENOMEM;
    e->notes = grown;
    struct alarmlog_note *n = &e->notes[e->note_count];
    memset(n, 0, sizeof(*n));
    n->ts_ms = a->ts_ms;
    snprintf(n->transition, sizeof(n->transition), "%s", a->transition);
    n->by = strdup(a->by);
    n->comment = strdup(a->comment);
    if (n->by == NULL || n->comment == NULL) {
        free(n->by);
        free(n->comment);
        return -ENOMEM;
    }
    e->note_count++;
    return 0;
}

static int read_alert(void *arg, const struct histdb_alert *a)
{
    struct alarmlog *log = arg;
    log->transitions++;
    struct alarmlog_entry *e = latest(log, a);
    bool raised = strcmp(a->transition, "raised") == 0;
    /* A new activation after the last one cleared, or a first sign of an instance. */
    if (e == NULL || (raised && (e->raised_ms == 0 || e->cleared_ms != 0))) {
        e = add_entry(log, a);
        if (e == NULL)
            return -ENOMEM;
    }
    snprintf(e->state, sizeof(e->state), "%s", a->state);
    if (isfinite(a->worst))
        e->worst = a->worst;
    if (a->amount_ms != 0)
        e->amount_ms = a->amount_ms;
    if (raised) {
        e->raised_ms = a->ts_ms;
        e->raised_value = a->value;
        e->since_ms = a->since_ms;
    } else if (strcmp(a->transition, "cleared") == 0) {
        e->cleared_ms = a->ts_ms;
    } else if (strcmp(a->transition, "renotified") == 0) {
        e->reminders++;
    } else if (strcmp(a->transition, "acknowledged") == 0 ||
               strcmp(a->transition, "shelved") == 0 || strcmp(a->transition, "unshelved") == 0 ||
               strcmp(a->transition, "resolved") == 0) {
        return add_note(e, a);
    }
    return 0;
}

bool alarmlog_has_values(const struct alarmlog_entry *e)
{
    static const char *const kinds[] = {"threshold", "budget", "mkt", "rate", "door", "battery"};
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(e->kind, kinds[i]) == 0)
            return true;
    }
    return false;
}

int alarmlog_read(struct histdb *db, const char *shipment_id, struct alarmlog *log)
{
    return histdb_alerts_each(db, shipment_id, read_alert, log);
}

void alarmlog_clear(struct alarmlog *log)
{
    if (log == NULL)
        return;
    for (size_t i = 0; i < log->count; i++) {
        for (size_t k = 0; k < log->entries[i].note_count; k++) {
            free(log->entries[i].notes[k].by);
            free(log->entries[i].notes[k].comment);
        }
        free(log->entries[i].notes);
    }
    free(log->entries);
    memset(log, 0, sizeof(*log));
}
