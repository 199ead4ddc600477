/* A shipment's summary from its stored readings, by the gateway's own rules (rules/rules.h):
 * the readings are fed, in the order they were stored, through a rules object built from the
 * shipment's profile and sensors, exactly as the daemon rebuilds its state after a restart
 * (docs/rules.md "Restarts"). So min, max, the time-weighted mean, MKT (rules/mkt.c), the time
 * beyond each limit and the budgets are the live gateway's numbers, with no second formula.
 * One thread: coldchainctl's main. */
#ifndef COLDCHAIN_SHIPSUM_H
#define COLDCHAIN_SHIPSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "histdb.h"
#include "profile.h"
#include "rules.h"

struct config;
struct shipsum;

/* Builds the rules for shipment s: its profile by name from config (may be NULL) or, failing
 * that, the built-in preset of that name; the sensors of windows (each once, in order); the
 * budget already used by earlier legs, the calibration due dates and the profile's suppression
 * windows as config gives them. A profile known to neither gives a summary without alarms
 * (shipsum_profile() NULL). 0, -EINVAL (a profile the rules refuse), -ENOMEM. The result is the
 * caller's: shipsum_free(). */
int shipsum_new(const struct histdb_shipment *s, const struct histdb_window *windows,
                size_t window_count, const struct config *config, struct shipsum **out);

/* NULL is a no-op. */
void shipsum_free(struct shipsum *sum);

/* Judges one stored reading as the engine did: time first moves on for every sensor (as the
 * engine's ticks moved it), then the reading is fed. A sensor of no window is ignored.
 * 0, -EINVAL, -ENOSPC (from the rules). */
int shipsum_feed(struct shipsum *sum, const struct reading *r);

/* Moves time on to end_ms (the shipment's end, or its latest reading), so a delay or a budget
 * running on the last held value is counted up to there. 0 or -ENOSPC. */
int shipsum_finish(struct shipsum *sum, int64_t end_ms);

/* The profile the summary used, NULL when none was known. Borrowed from sum. */
const struct config_profile *shipsum_profile(const struct shipsum *sum);

/* The rules to read summaries and instances from (shipment index 0), NULL when the shipment
 * has no sensors. Borrowed from sum. */
struct rules *shipsum_rules(const struct shipsum *sum);

/* Budget used so far by a budget alarm on sensor k: the budget minus what is left (earlier
 * legs and credit included), in ms; 0 for other kinds. */
int64_t shipsum_budget_used_ms(const struct shipsum *sum, size_t alarm, size_t sensor);

/* True for the kinds whose time beyond a limit a summary shows: threshold, budget, door,
 * battery (the held time the condition held, docs/mqtt.md beyond_s). */
bool shipsum_alarm_has_limit(const struct alarm_def *def);

/* True when an alarm before this one in the profile watches the same quantity against the same
 * condition and limit (a budget on a threshold's limit): its time beyond is the same, and a
 * summary says it once. */
bool shipsum_alarm_repeats_limit(const struct rules *rules, size_t alarm);

#endif
