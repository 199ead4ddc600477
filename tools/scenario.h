/* The simulators' scenarios (tools/sim.c, tools/sim_ble.c): a fridge temperature along time,
 * given as piecewise-linear keyframes "0s=5.0,10s=5.0,20s=10.5" or by a built-in name. Pure: no
 * I/O, no clock; time since the simulator's start is an argument. Any thread. */
#ifndef COLDCHAIN_SCENARIO_H
#define COLDCHAIN_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCENARIO_MAX_KEYFRAMES 64

struct scenario_keyframe {
    int64_t t_ms; /* since the simulator started */
    double temp_c;
};

struct scenario {
    const char *name; /* for the start line: a built-in's name or "script" (static) */
    struct scenario_keyframe frames[SCENARIO_MAX_KEYFRAMES];
    size_t count;
    bool loop; /* start over at the last keyframe instead of holding its value */
};

/* Fills *sc from script (keyframes TIME=°C, times as in the config: "10s", "1m30s", "500ms", in
 * order; equal times make a step) or, when script is NULL, from the built-in scenario called
 * name (steady, excursion or freeze; NULL: steady); name and script exclude each other. Returns
 * 0; -EINVAL with a message for a person in err (naming --script or --scenario and what was
 * expected); -ENOMEM. err (errcap bytes) is the caller's. */
int scenario_load(struct scenario *sc, const char *name, const char *script, bool loop, char *err,
                  size_t errcap);

/* The scenario's temperature t_ms after the start: linear between keyframes, the first value
 * before the first, the last after the end (or the scenario again with loop). */
double scenario_temp_c(const struct scenario *sc, int64_t t_ms);

#endif
