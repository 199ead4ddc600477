/* The built-in regulatory alarm presets (CDC vaccine fridge and freezer, WHO PQS E006 recorders
 * and shipping indicators, USP controlled cold and room temperature, frozen goods): a const table
 * that a config profile extends by name (docs/presets.md). Pure data behind three lookups; any
 * thread may call them, nothing is ever written. */
#ifndef COLDCHAIN_PRESETS_H
#define COLDCHAIN_PRESETS_H

#include <stddef.h>

#include "alarm.h"

struct rules_preset {
    const char *name;               /* "cdc-vaccine-fridge": what a profile's "extends" names */
    const char *description;        /* one line for people */
    const char *source;             /* the document and clause the numbers come from */
    const struct alarm_def *alarms; /* alarm_count definitions, ids unique within the preset */
    size_t alarm_count;
};

/* The preset called name (exact, case-sensitive), or NULL if there is none or name is NULL.
 * The result points into static storage: never freed, valid for the life of the program. */
const struct rules_preset *presets_find(const char *name);

/* How many presets there are. */
size_t presets_count(void);

/* The preset at index (0 ≤ index < presets_count()), or NULL past the end. Static storage,
 * as for presets_find(). */
const struct rules_preset *presets_at(size_t index);

#endif
