/* Profile and alarm parsing. The kind of an alarm follows from the key that carries its
 * parameter ("budget", "mkt_above", "rate", "stale", "fault", "door_open", "battery_below",
 * "calibration_due"; none of them: a threshold), so a definition reads as what it means:
 *   {"id": "tor", "quantity": "temperature", "above": 8.0, "budget": "2h"}
 * Errors name the JSON path and what was expected, like the rest of the config. */
#include "profile.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mkt.h"
#include "presets.h"
#include "reading.h"

#define MS_PER_S INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_MIN)
#define MS_PER_DAY (24 * MS_PER_H)
#define DURATION_MAX_MS (3660 * MS_PER_DAY) /* ten years: no alarm waits longer */

static const char *const condition_keys[] = {"above", "at_or_above", "below", "at_or_below"};

/* The keys that make an alarm a kind other than a plain threshold. */
static const struct {
    const char *key;
    enum alarm_kind kind;
} kind_keys[] = {
    {"budget", ALARM_KIND_BUDGET},       {"mkt_above", ALARM_KIND_MKT},
    {"rate", ALARM_KIND_RATE},           {"stale", ALARM_KIND_STALE},
    {"fault", ALARM_KIND_FAULT},         {"door_open", ALARM_KIND_DOOR},
    {"battery_below", ALARM_KIND_BATTERY}, {"calibration_due", ALARM_KIND_CALIBRATION},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* The keys each kind takes besides the common ones (id, quantity, severity, renotify, message,
 * action): a key of another kind is a mistake to report, not a setting to ignore ("window" on a
 * threshold would otherwise look like it does something). */
static const char *const kind_params[ALARM_KIND_COUNT][8] = {
    [ALARM_KIND_THRESHOLD] = {"above", "at_or_above", "below", "at_or_below", "condition",
                              "limit", "hysteresis", "delay"},
    [ALARM_KIND_DOOR] = {"door_open"},
    [ALARM_KIND_BATTERY] = {"battery_below", "hysteresis", "delay"},
    [ALARM_KIND_BUDGET] = {"above", "at_or_above", "below", "at_or_below", "condition", "limit",
                           "budget"},
    [ALARM_KIND_MKT] = {"mkt_above", "window", "delta_h", "hysteresis", "delay"},
    [ALARM_KIND_RATE] = {"rate", "per", "direction", "hysteresis", "delay"},
    [ALARM_KIND_STALE] = {"stale"},
    [ALARM_KIND_FAULT] = {"fault", "delay"},
    [ALARM_KIND_CALIBRATION] = {"calibration_due"},
};

static bool takes_key(enum alarm_kind kind, const char *key)
{
    static const char *const common[] = {"id", "quantity", "severity", "renotify", "message",
                                         "action"};
    for (size_t i = 0; i < N_ELEMS(common); i++) {
        if (strcmp(common[i], key) == 0)
            return true;
    }
    for (size_t i = 0; i < N_ELEMS(kind_params[kind]) && kind_params[kind][i]; i++) {
        if (strcmp(kind_params[kind][i], key) == 0)
            return true;
    }
    return false;
}

static const char *member(char *buf, size_t cap, const char *path, const char *key)
{
    return cfg_path_key(buf, cap, path, key);
}

/* "1h30m", "2d", "45s" for people; ms only when it has some. */
static void format_duration(char *buf, size_t cap, int64_t ms)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{MS_PER_DAY, "d"}, {MS_PER_H, "h"}, {MS_PER_MIN, "m"}, {MS_PER_S, "s"},
                 {1, "ms"}};
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_ELEMS(units) && len < cap; i++) {
        int64_t n = ms / units[i].ms;
        if (n == 0)
            continue;
        ms -= n * units[i].ms;
        int w = snprintf(buf + len, cap - len, "%lld%s", (long long)n, units[i].unit);
        if (w < 0)
            break;
        len += (size_t)w;
    }
    if (buf[0] == '\0')
        snprintf(buf, cap, "0s");
}

static const char *condition_words(enum alarm_condition c)
{
    switch (c) {
    case ALARM_ABOVE:
        return "above";
    case ALARM_AT_OR_ABOVE:
        return "at or above";
    case ALARM_BELOW:
        return "below";
    case ALARM_AT_OR_BELOW:
        return "at or below";
    }
    return "?";
}

/* What a pharmacist reads when the config gives no message: the alarm's meaning in words. */
static void default_message(struct alarm_def *a)
{
    char d1[32], d2[32];
    char *m = a->message;
    size_t cap = sizeof(a->message);
    const char *unit = quantity_unit(a->quantity);
    char name[32];
    snprintf(name, sizeof(name), "%s", quantity_name(a->quantity) ? quantity_name(a->quantity)
                                                                  : "value");
    name[0] = (char)(name[0] >= 'a' && name[0] <= 'z' ? name[0] - 'a' + 'A' : name[0]);
    switch ((enum alarm_kind)a->kind) {
    case ALARM_KIND_THRESHOLD:
        format_duration(d1, sizeof(d1), a->delay_ms);
        snprintf(m, cap, "%s %s %g %s%s%s.", name,
                 condition_words((enum alarm_condition)a->condition), a->limit, unit,
                 a->delay_ms ? " for " : "", a->delay_ms ? d1 : "");
        break;
    case ALARM_KIND_DOOR:
        format_duration(d1, sizeof(d1), a->delay_ms);
        snprintf(m, cap, "Door open for more than %s.", d1);
        break;
    case ALARM_KIND_BATTERY:
        snprintf(m, cap, "Sensor battery below %g %%: replace it.", a->limit);
        break;
    case ALARM_KIND_BUDGET:
        format_duration(d1, sizeof(d1), a->budget_ms);
        snprintf(m, cap, "%s %s %g %s for %s in total: the budget is spent.", name,
                 condition_words((enum alarm_condition)a->condition), a->limit, unit, d1);
        break;
    case ALARM_KIND_MKT:
        format_duration(d1, sizeof(d1), a->window_ms);
        snprintf(m, cap, "Mean kinetic temperature above %g °C%s%s.", a->limit,
                 a->window_ms ? " over the last " : " over the shipment",
                 a->window_ms ? d1 : "");
        break;
    case ALARM_KIND_RATE:
        format_duration(d1, sizeof(d1), a->window_ms);
        snprintf(m, cap, "%s %s by more than %g %s within %s.", name,
                 a->direction == ALARM_RISING    ? "rose"
                 : a->direction == ALARM_FALLING ? "fell"
                                                 : "changed",
                 a->rate, unit, d1);
        break;
    case ALARM_KIND_STALE:
        format_duration(d1, sizeof(d1), a->stale_ms);
        snprintf(m, cap, "No reading from the sensor for %s: check its power and connection.",
                 d1);
        break;
    case ALARM_KIND_FAULT:
        format_duration(d2, sizeof(d2), a->delay_ms);
        snprintf(m, cap, "The sensor reports a fault%s%s: check the probe and its cable.",
                 a->delay_ms ? " for " : "", a->delay_ms ? d2 : "");
        break;
    case ALARM_KIND_CALIBRATION:
        snprintf(m, cap, "The sensor's calibration is due: have it calibrated.");
        break;
    case ALARM_KIND_COUNT:
        break;
    }
}

static int get_duration(const cJSON *item, const char *path, const char *key, bool required,
                        int64_t min_ms, int64_t *out, struct cfg_error *err)
{
    return cfg_get_duration(item, path, key, required, *out, min_ms, DURATION_MAX_MS, out, err);
}

static int parse_quantity(const cJSON *item, const char *path, enum alarm_kind kind,
                          struct alarm_def *a, struct cfg_error *err)
{
    char text[64], mp[sizeof(err->path)];
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(item, "quantity");
    uint8_t fixed = QUANTITY_COUNT;
    if (kind == ALARM_KIND_DOOR)
        fixed = QUANTITY_DOOR;
    else if (kind == ALARM_KIND_BATTERY)
        fixed = QUANTITY_BATTERY;
    bool sensor_wide = kind == ALARM_KIND_STALE || kind == ALARM_KIND_CALIBRATION;

    if (!q) {
        a->quantity = sensor_wide ? QUANTITY_COUNT
                      : fixed != QUANTITY_COUNT ? fixed
                                                : QUANTITY_TEMPERATURE;
        return 0;
    }
    if (sensor_wide)
        return cfg_fail(err, member(mp, sizeof(mp), path, "quantity"),
                        "a %s alarm watches the whole sensor: remove \"quantity\"",
                        alarm_kind_name(kind));
    int rc = cfg_get_string(item, path, "quantity", true, NULL, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    if (quantity_parse(text, &a->quantity) < 0)
        return cfg_fail(err, member(mp, sizeof(mp), path, "quantity"),
                        "expected one of temperature, humidity, door, battery, got \"%.40s\"", text);
    if (fixed != QUANTITY_COUNT && a->quantity != fixed)
        return cfg_fail(err, member(mp, sizeof(mp), path, "quantity"),
                        "a %s alarm watches %s, got \"%.40s\"", alarm_kind_name(kind),
                        quantity_name(fixed), text);
    if ((kind == ALARM_KIND_MKT) && a->quantity != QUANTITY_TEMPERATURE)
        return cfg_fail(err, member(mp, sizeof(mp), path, "quantity"),
                        "mean kinetic temperature needs temperature, got \"%.40s\"", text);
    return 0;
}

/* "above": 8.0 (or one of its siblings), or the longhand "condition" + "limit". */
static int parse_condition(const cJSON *item, const char *path, struct alarm_def *a,
                           struct cfg_error *err)
{
    char mp[sizeof(err->path)], text[64];
    int found = -1;
    for (size_t i = 0; i < N_ELEMS(condition_keys); i++) {
        if (!cJSON_GetObjectItemCaseSensitive(item, condition_keys[i]))
            continue;
        if (found >= 0)
            return cfg_fail(err, member(mp, sizeof(mp), path, condition_keys[i]),
                            "an alarm has one condition; \"%s\" is already given",
                            condition_keys[found]);
        found = (int)i;
    }
    bool longhand = cJSON_GetObjectItemCaseSensitive(item, "condition") != NULL;
    if (found >= 0 && longhand)
        return cfg_fail(err, member(mp, sizeof(mp), path, "condition"),
                        "give either \"%s\": <limit> or \"condition\" with \"limit\", not both",
                        condition_keys[found]);
    if (found >= 0) {
        a->condition = (uint8_t)found;
        return cfg_get_number(item, path, condition_keys[found], true, 0, -DBL_MAX, DBL_MAX,
                              &a->limit, err);
    }
    if (!longhand)
        return cfg_fail(err, path,
                        "expected a condition: one of \"above\", \"at_or_above\", \"below\" or "
                        "\"at_or_below\" with its limit, e.g. \"above\": 8.0");
    int rc = cfg_get_string(item, path, "condition", true, NULL, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    enum alarm_condition c;
    if (alarm_condition_parse(text, &c) < 0)
        return cfg_fail(err, member(mp, sizeof(mp), path, "condition"),
                        "expected above, at_or_above, below or at_or_below, got \"%.40s\"", text);
    a->condition = (uint8_t)c;
    return cfg_get_number(item, path, "limit", true, 0, -DBL_MAX, DBL_MAX, &a->limit, err);
}

static int parse_calibration_due(const cJSON *item, const char *path, struct alarm_def *a,
                                 struct cfg_error *err)
{
    char mp[sizeof(err->path)], ep[sizeof(err->path)];
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, "calibration_due");
    member(mp, sizeof(mp), path, "calibration_due");
    if (cJSON_IsTrue(v)) {
        /* As validated monitoring systems do: three months and one month ahead. */
        a->cal_warn_ms[0] = 90 * MS_PER_DAY;
        a->cal_warn_ms[1] = 30 * MS_PER_DAY;
        return 0;
    }
    if (!cJSON_IsArray(v))
        return cfg_fail(err, mp,
                        "expected true (warn 90 and 30 days ahead) or a list of durations "
                        "ahead of the due date, e.g. [\"90d\", \"30d\"]");
    size_t i = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        cfg_path_index(ep, sizeof(ep), mp, i);
        if (i >= ALARM_CAL_STAGES)
            return cfg_fail(err, ep, "expected at most %d warnings", ALARM_CAL_STAGES);
        int64_t ms;
        if (!cJSON_IsString(e) || cfg_parse_duration(e->valuestring, &ms) < 0 || ms <= 0 ||
            ms > DURATION_MAX_MS)
            return cfg_fail(err, ep, "expected a duration such as \"90d\"");
        if (i > 0 && ms >= a->cal_warn_ms[i - 1])
            return cfg_fail(err, ep, "expected the warnings from the earliest to the latest, "
                                     "each shorter than the one before");
        a->cal_warn_ms[i] = ms;
    }
    return 0;
}

/* The kind-specific parameters. */
static int parse_kind(const cJSON *item, const char *path, enum alarm_kind kind,
                      struct alarm_def *a, struct cfg_error *err)
{
    char mp[sizeof(err->path)], text[32];
    int rc = 0;
    switch (kind) {
    case ALARM_KIND_THRESHOLD:
        return parse_condition(item, path, a, err);
    case ALARM_KIND_BUDGET:
        rc = parse_condition(item, path, a, err);
        if (rc < 0)
            return rc;
        return get_duration(item, path, "budget", true, MS_PER_S, &a->budget_ms, err);
    case ALARM_KIND_MKT:
        a->condition = ALARM_ABOVE;
        rc = cfg_get_number(item, path, "mkt_above", true, 0, -100, 150, &a->limit, err);
        if (rc == 0)
            rc = get_duration(item, path, "window", false, MS_PER_H, &a->window_ms, err);
        if (rc == 0) {
            double kj = MKT_DELTA_H_DEFAULT_J_MOL / 1000.0;
            rc = cfg_get_number(item, path, "delta_h", false, kj, 1.0, 1000.0, &kj, err);
            a->delta_h_j_mol = kj * 1000.0;
        }
        return rc;
    case ALARM_KIND_RATE:
        rc = cfg_get_number(item, path, "rate", true, 0, 0, DBL_MAX, &a->rate, err);
        /* A change smaller than any probe resolves would alarm on noise: 0.001 is far below
         * every probe's resolution and still a sensible number. */
        if (rc == 0 && !(a->rate >= 0.001))
            return cfg_fail(err, member(mp, sizeof(mp), path, "rate"),
                            "expected a change of at least 0.001, got %g", a->rate);
        if (rc == 0)
            rc = get_duration(item, path, "per", true, MS_PER_S, &a->window_ms, err);
        if (rc == 0 && cJSON_GetObjectItemCaseSensitive(item, "direction")) {
            enum alarm_direction d = ALARM_EITHER;
            rc = cfg_get_string(item, path, "direction", true, NULL, text, sizeof(text), err);
            if (rc < 0)
                return rc;
            if (alarm_direction_parse(text, &d) < 0)
                return cfg_fail(err, member(mp, sizeof(mp), path, "direction"),
                                "expected rising, falling or either, got \"%.20s\"", text);
            a->direction = (uint8_t)d;
        }
        return rc;
    case ALARM_KIND_STALE:
        return get_duration(item, path, "stale", true, MS_PER_S, &a->stale_ms, err);
    case ALARM_KIND_FAULT:
        if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(item, "fault")))
            return cfg_fail(err, member(mp, sizeof(mp), path, "fault"),
                            "expected true (with an optional \"delay\")");
        return 0;
    case ALARM_KIND_DOOR:
        a->condition = ALARM_ABOVE;
        a->limit = 0.5; /* 1 = open */
        return get_duration(item, path, "door_open", true, 0, &a->delay_ms, err);
    case ALARM_KIND_BATTERY:
        a->condition = ALARM_BELOW;
        a->hysteresis = 5.0; /* batteries recover a little when warm: no flapping */
        return cfg_get_number(item, path, "battery_below", true, 0, 0, 100, &a->limit, err);
    case ALARM_KIND_CALIBRATION:
        return parse_calibration_due(item, path, a, err);
    case ALARM_KIND_COUNT:
        break;
    }
    return -EINVAL;
}

static int parse_alarm(const cJSON *item, const char *path, struct alarm_def *a,
                       struct cfg_error *err)
{
    static const char *const keys[] = {
        "id",       "quantity",  "condition", "limit",     "above",     "at_or_above",
        "below",    "at_or_below", "hysteresis", "delay",  "budget",    "mkt_above",
        "window",   "delta_h",   "rate",      "per",       "direction", "stale",
        "fault",    "door_open", "battery_below", "calibration_due", "severity", "renotify",
        "message",  "action",    NULL};
    char mp[sizeof(err->path)], text[64];

    memset(a, 0, sizeof(*a));
    if (!cJSON_IsObject(item))
        return cfg_fail(err, path, "expected an alarm object");
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_string(item, path, "id", true, NULL, a->id, sizeof(a->id), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(a->id, sizeof(a->id)))
        return cfg_fail(err, member(mp, sizeof(mp), path, "id"),
                        "expected an identifier of 1 to %zu characters from A-Z, a-z, 0-9, "
                        "\"_\", \".\" and \"-\"",
                        sizeof(a->id) - 1);

    enum alarm_kind kind = ALARM_KIND_THRESHOLD;
    const char *kind_key = NULL;
    for (size_t i = 0; i < N_ELEMS(kind_keys); i++) {
        if (!cJSON_GetObjectItemCaseSensitive(item, kind_keys[i].key))
            continue;
        if (kind_key)
            return cfg_fail(err, member(mp, sizeof(mp), path, kind_keys[i].key),
                            "\"%s\" and \"%s\" are different kinds of alarm: use one per alarm",
                            kind_key, kind_keys[i].key);
        kind_key = kind_keys[i].key;
        kind = kind_keys[i].kind;
    }
    a->kind = (uint8_t)kind;
    for (const cJSON *m = item->child; m; m = m->next) {
        if (m->string && !takes_key(kind, m->string))
            return cfg_fail(err, member(mp, sizeof(mp), path, m->string),
                            "a %s alarm has no \"%s\"", alarm_kind_name(kind), m->string);
    }
    rc = parse_quantity(item, path, kind, a, err);
    if (rc < 0)
        return rc;
    rc = parse_kind(item, path, kind, a, err);
    if (rc < 0)
        return rc;

    bool has_delay = takes_key(kind, "delay");
    if (has_delay) {
        rc = get_duration(item, path, "delay", false, 0, &a->delay_ms, err);
        if (rc < 0)
            return rc;
    }
    rc = cfg_get_number(item, path, "hysteresis", false, a->hysteresis, 0.0, DBL_MAX,
                        &a->hysteresis, err);
    if (rc < 0)
        return rc;
    rc = get_duration(item, path, "renotify", false, MS_PER_S, &a->renotify_ms, err);
    if (rc < 0)
        return rc;
    const char *def_sev = kind == ALARM_KIND_BATTERY || kind == ALARM_KIND_CALIBRATION
                              ? "warning"
                              : "critical";
    rc = cfg_get_string(item, path, "severity", false, def_sev, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    enum alarm_severity sev;
    if (alarm_severity_parse(text, &sev) < 0)
        return cfg_fail(err, member(mp, sizeof(mp), path, "severity"),
                        "expected critical or warning, got \"%.40s\"", text);
    a->severity = (uint8_t)sev;
    rc = cfg_get_string(item, path, "message", false, "", a->message, sizeof(a->message), err);
    if (rc < 0)
        return rc;
    if (a->message[0] == '\0')
        default_message(a);
    return cfg_get_string(item, path, "action", false, "", a->action, sizeof(a->action), err);
}

/* "start": "02:00" (UTC), "duration": "30m", "every": "24h" (default). */
static int parse_window(const cJSON *item, const char *path, struct rules_window *w,
                        struct cfg_error *err)
{
    static const char *const keys[] = {"start", "duration", "every", NULL};
    char mp[sizeof(err->path)], text[16];
    if (!cJSON_IsObject(item))
        return cfg_fail(err, path, "expected {\"start\": \"02:00\", \"duration\": \"30m\"}");
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(item, path, "start", true, NULL, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    bool digits = strlen(text) == 5 && text[2] == ':';
    for (int i = 0; digits && i < 5; i++)
        digits = i == 2 || (text[i] >= '0' && text[i] <= '9');
    unsigned hh = digits ? (unsigned)((text[0] - '0') * 10 + (text[1] - '0')) : 99;
    unsigned mm = digits ? (unsigned)((text[3] - '0') * 10 + (text[4] - '0')) : 99;
    if (hh > 23 || mm > 59)
        return cfg_fail(err, member(mp, sizeof(mp), path, "start"),
                        "expected a UTC time of day as HH:MM, got \"%.15s\"", text);
    w->offset_ms = (int64_t)hh * MS_PER_H + (int64_t)mm * MS_PER_MIN;
    w->period_ms = MS_PER_DAY;
    rc = cfg_get_duration(item, path, "every", false, MS_PER_DAY, MS_PER_MIN, 366 * MS_PER_DAY,
                          &w->period_ms, err);
    if (rc == 0)
        rc = cfg_get_duration(item, path, "duration", true, 0, MS_PER_S, MS_PER_DAY,
                              &w->duration_ms, err);
    if (rc < 0)
        return rc;
    if (w->duration_ms >= w->period_ms)
        return cfg_fail(err, member(mp, sizeof(mp), path, "duration"),
                        "expected less than \"every\": alarms cannot be suppressed all the time");
    return 0;
}

static int copy_preset(const struct rules_preset *p, struct config_profile *out)
{
    out->alarms = calloc(p->alarm_count ? p->alarm_count : 1, sizeof(*out->alarms));
    if (!out->alarms)
        return -ENOMEM;
    memcpy(out->alarms, p->alarms, p->alarm_count * sizeof(*out->alarms));
    out->alarm_count = p->alarm_count;
    snprintf(out->description, sizeof(out->description), "%s", p->description);
    return 0;
}

int profile_from_preset(const char *name, struct config_profile *out)
{
    const struct rules_preset *p = presets_find(name);
    memset(out, 0, sizeof(*out));
    if (!p)
        return -ENOENT;
    snprintf(out->name, sizeof(out->name), "%s", name);
    return copy_preset(p, out);
}

int profile_alarm_index(const struct config_profile *profile, const char *id)
{
    for (size_t i = 0; i < profile->alarm_count; i++) {
        if (strcmp(profile->alarms[i].id, id) == 0)
            return (int)i;
    }
    return -ENOENT;
}

static int parse_alarms(const cJSON *arr, const char *path, struct config_profile *out,
                        struct cfg_error *err)
{
    char ap[sizeof(err->path)];
    size_t count = 0;
    for (const cJSON *e = arr->child; e; e = e->next)
        count++;
    if (count == 0 && out->alarm_count == 0)
        return cfg_fail(err, path, "expected at least one alarm");
    if (count + out->alarm_count > PROFILE_ALARMS_MAX)
        return cfg_fail(err, path, "expected at most %d alarms", PROFILE_ALARMS_MAX);
    struct alarm_def *grown =
        realloc(out->alarms, (out->alarm_count + count + 1) * sizeof(*out->alarms));
    if (!grown)
        return -ENOMEM;
    out->alarms = grown;
    size_t inherited = out->alarm_count;
    /* Which inherited alarms this profile has overridden: a second override of the same id is
     * a duplicate too, not a silent "last one wins". */
    bool overridden[PROFILE_ALARMS_MAX] = {false};
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        struct alarm_def a;
        cfg_path_index(ap, sizeof(ap), path, i);
        int rc = parse_alarm(e, ap, &a, err);
        if (rc < 0)
            return rc;
        int at = profile_alarm_index(out, a.id);
        if (at >= 0 && ((size_t)at >= inherited || overridden[at])) {
            char idp[sizeof(err->path)];
            return cfg_fail(err, member(idp, sizeof(idp), ap, "id"),
                            "duplicate alarm id \"%s\" in this profile", a.id);
        }
        if (at >= 0)
            overridden[at] = true;
        /* An override replaces the preset's alarm of the same id whole. */
        if (at >= 0)
            out->alarms[at] = a;
        else
            out->alarms[out->alarm_count++] = a;
    }
    return 0;
}

int profile_parse(const cJSON *item, const char *name, const char *path,
                  struct config_profile *out, struct cfg_error *err)
{
    static const char *const keys[] = {"description", "extends", "alarms", "suppress", NULL};
    char mp[sizeof(err->path)];
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s", name);
    if (!cJSON_IsObject(item))
        return cfg_fail(err, path, "expected a profile object");
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc < 0)
        return rc;
    if (presets_find(name))
        return cfg_fail(err, path,
                        "\"%s\" is a built-in preset: give your profile another name and "
                        "\"extends\": \"%s\"",
                        name, name);
    rc = cfg_get_string(item, path, "extends", false, "", out->extends, sizeof(out->extends),
                        err);
    if (rc < 0)
        return rc;
    if (out->extends[0]) {
        const struct rules_preset *p = presets_find(out->extends);
        if (!p) {
            char known[512] = "";
            for (size_t i = 0; i < presets_count(); i++) {
                size_t len = strlen(known);
                snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                         presets_at(i)->name);
            }
            return cfg_fail(err, member(mp, sizeof(mp), path, "extends"),
                            "unknown preset \"%.40s\"; presets: %s", out->extends, known);
        }
        rc = copy_preset(p, out);
        if (rc < 0)
            return rc;
    }
    rc = cfg_get_string(item, path, "description", false, out->description, out->description,
                        sizeof(out->description), err);
    if (rc < 0)
        return rc;
    const cJSON *arr;
    rc = cfg_get_array(item, path, "alarms", out->extends[0] == '\0', &arr, err);
    if (rc < 0)
        return rc;
    if (arr) {
        rc = parse_alarms(arr, member(mp, sizeof(mp), path, "alarms"), out, err);
        if (rc < 0)
            return rc;
    }
    rc = cfg_get_array(item, path, "suppress", false, &arr, err);
    if (rc < 0 || !arr)
        return rc;
    size_t count = 0;
    for (const cJSON *e = arr->child; e; e = e->next)
        count++;
    member(mp, sizeof(mp), path, "suppress");
    if (count > PROFILE_WINDOWS_MAX)
        return cfg_fail(err, mp, "expected at most %d windows", PROFILE_WINDOWS_MAX);
    out->suppress = calloc(count ? count : 1, sizeof(*out->suppress));
    if (!out->suppress)
        return -ENOMEM;
    size_t i = 0;
    for (const cJSON *e = arr->child; e; e = e->next, i++) {
        char wp[sizeof(err->path)];
        rc = parse_window(e, cfg_path_index(wp, sizeof(wp), mp, i), &out->suppress[i], err);
        if (rc < 0)
            return rc;
        out->suppress_count = i + 1;
    }
    return 0;
}

void profile_clear(struct config_profile *profile)
{
    if (!profile)
        return;
    free(profile->alarms);
    free(profile->suppress);
    memset(profile, 0, sizeof(*profile));
}
