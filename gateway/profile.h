/* Alarm profiles from the JSON config (docs/configuration.md "profiles", docs/rules.md): the
 * alarm schema of every kind, "extends" of a built-in preset (rules/presets.h) with overrides by
 * id, and scheduled suppression windows. Pure apart from cJSON; fuzzed on its own
 * (tests/fuzz/fuzz_profile.c). Main thread, at config load. */
#ifndef COLDCHAIN_PROFILE_H
#define COLDCHAIN_PROFILE_H

#include <stddef.h>

#include "alarm.h"
#include "cfgjson.h"
#include "rules.h"

#define PROFILE_NAME_MAX 64
#define PROFILE_ALARMS_MAX 256
#define PROFILE_WINDOWS_MAX 16

struct config_profile {
    char name[PROFILE_NAME_MAX];
    char description[256];
    char extends[PROFILE_NAME_MAX]; /* the preset it extends, "" for none */
    struct alarm_def *alarms;       /* alarm_count entries, owned */
    size_t alarm_count;
    struct rules_window *suppress;  /* suppress_count entries, owned (NULL when none) */
    size_t suppress_count;
};

/* Parses the profile object item, found at path, called name (already checked to be an
 * identifier). 0, -EINVAL with err, -ENOMEM. On failure *out holds whatever was allocated:
 * free it with profile_clear() either way. */
int profile_parse(const cJSON *item, const char *name, const char *path,
                  struct config_profile *out, struct cfg_error *err);

/* Fills *out with the built-in preset called name. 0, -ENOENT (no such preset), -ENOMEM. */
int profile_from_preset(const char *name, struct config_profile *out);

/* Frees what a profile owns and zeroes it. NULL is a no-op. */
void profile_clear(struct config_profile *profile);

/* Index of the alarm called id in the profile, or -ENOENT. */
int profile_alarm_index(const struct config_profile *profile, const char *id);

#endif
