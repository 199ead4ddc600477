/* Scenarios for the simulators (scenario.h). Moved out of sim.c unchanged in behaviour, so that
 * every simulator mode reads the same scripts. */
#include "scenario.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgjson.h"

/* int16 x10 is what the Modbus registers can carry; every other simulator clamps to its own. */
#define TEMP_MIN_C -3276.8
#define TEMP_MAX_C 3276.7

static const struct {
    const char *name;
    const char *script;
} builtin_scenarios[] = {
    {"steady", "0s=5.0"},
    /* A fridge that warms past 8 °C for half a minute (a door left open) and recovers. */
    {"excursion", "0s=5.0,10s=5.0,20s=10.5,50s=10.5,60s=5.0"},
    /* A fridge whose thermostat fails cold: vaccines must not freeze (CDC storage guidance). */
    {"freeze", "0s=5.0,10s=5.0,20s=0.5,50s=0.5,60s=5.0"},
};
#define BUILTIN_COUNT (sizeof(builtin_scenarios) / sizeof(builtin_scenarios[0]))

/* One keyframe "TIME=°C" (item is modified). 0 or -EINVAL with err filled. */
static int parse_keyframe(char *item, struct scenario_keyframe *k, char *err, size_t errcap)
{
    char *eq = strchr(item, '=');
    if (eq == NULL) {
        snprintf(err, errcap, "--script: \"%s\": expected TIME=°C, such as 10s=5.0", item);
        return -EINVAL;
    }
    *eq = '\0';
    if (cfg_parse_duration(item, &k->t_ms) < 0) {
        snprintf(err, errcap, "--script: \"%s\": expected a time such as 10s, 1m30s or 500ms",
                 item);
        return -EINVAL;
    }
    const char *text = eq + 1;
    char *end;
    errno = 0;
    k->temp_c = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(k->temp_c) ||
        k->temp_c < TEMP_MIN_C || k->temp_c > TEMP_MAX_C) {
        snprintf(err, errcap,
                 "--script: \"%s\": expected a temperature in °C between -3276.8 and 3276.7 "
                 "(int16 x10)",
                 text);
        return -EINVAL;
    }
    return 0;
}

/* Parses "TIME=°C,TIME=°C,..." into sc->frames. */
static int parse_script(const char *text, struct scenario *sc, char *err, size_t errcap)
{
    char *copy = strdup(text);
    int rc = 0;
    if (copy == NULL) {
        snprintf(err, errcap, "out of memory");
        rc = -ENOMEM;
        goto out;
    }
    sc->count = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        struct scenario_keyframe k;
        char shown[64];
        snprintf(shown, sizeof(shown), "%s", item); /* parse_keyframe cuts item at the '=' */
        rc = parse_keyframe(item, &k, err, errcap);
        if (rc < 0)
            goto out;
        if (sc->count > 0 && k.t_ms < sc->frames[sc->count - 1].t_ms) {
            snprintf(err, errcap, "--script: \"%s\": times must not go backwards", shown);
            rc = -EINVAL;
            goto out;
        }
        if (sc->count == SCENARIO_MAX_KEYFRAMES) {
            snprintf(err, errcap, "--script: more than %d keyframes", SCENARIO_MAX_KEYFRAMES);
            rc = -EINVAL;
            goto out;
        }
        sc->frames[sc->count++] = k;
    }
    if (sc->count == 0) {
        snprintf(err, errcap, "--script: \"%s\": expected at least one TIME=°C", text);
        rc = -EINVAL;
    }
out:
    free(copy);
    return rc;
}

int scenario_load(struct scenario *sc, const char *name, const char *script, bool loop, char *err,
                  size_t errcap)
{
    sc->name = "script";
    sc->loop = loop;
    if (name != NULL && script != NULL) {
        snprintf(err, errcap, "--scenario and --script exclude each other");
        return -EINVAL;
    }
    if (script == NULL) {
        const char *want = name != NULL ? name : "steady";
        for (size_t i = 0; i < BUILTIN_COUNT && script == NULL; i++) {
            if (strcmp(builtin_scenarios[i].name, want) == 0) {
                script = builtin_scenarios[i].script;
                sc->name = builtin_scenarios[i].name;
            }
        }
        if (script == NULL) {
            snprintf(err, errcap, "--scenario: \"%s\": expected steady, excursion or freeze", want);
            return -EINVAL;
        }
    }
    return parse_script(script, sc, err, errcap);
}

double scenario_temp_c(const struct scenario *sc, int64_t t_ms)
{
    int64_t end_ms = sc->frames[sc->count - 1].t_ms;
    if (sc->loop && end_ms > 0)
        t_ms %= end_ms;
    if (t_ms <= sc->frames[0].t_ms)
        return sc->frames[0].temp_c;
    for (size_t i = 1; i < sc->count; i++) {
        const struct scenario_keyframe *a = &sc->frames[i - 1];
        const struct scenario_keyframe *b = &sc->frames[i];
        if (t_ms < b->t_ms) {
            double f = (double)(t_ms - a->t_ms) / (double)(b->t_ms - a->t_ms);
            return a->temp_c + (b->temp_c - a->temp_c) * f;
        }
    }
    return sc->frames[sc->count - 1].temp_c;
}
