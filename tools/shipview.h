/* Everything `coldchainctl show` and the report say about one shipment, gathered from the
 * read-only history (histdb.h): the shipment's row, which readings are its own, its profile, the
 * summary by the gateway's rules (shipsum.h) and its alarms (alarmlog.h). Loaded in two steps so
 * that the report can draw its charts in the same single pass over the readings as the summary.
 * One thread: coldchainctl's main. */
#ifndef COLDCHAIN_SHIPVIEW_H
#define COLDCHAIN_SHIPVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "alarmlog.h"
#include "histdb.h"
#include "shipsum.h"

struct config;

struct shipview {
    struct histdb_shipment shipment;
    const struct config *config; /* borrowed, may be NULL */
    const char *description;     /* the history's (schema 3), else the config's, or ""; borrowed */
    char started_by[192];        /* from the audit trail (schema 3): "from the config", "by
                                  * command of <who>"; "" when not recorded */
    char ended_by[128];          /* who ended it, "" when not recorded */
    char end_comment[512];       /* and why, "" when not recorded */
    struct histdb_window *windows; /* owned */
    size_t window_count;
    struct shipsum *sum;       /* owned */
    struct alarmlog alarms;    /* owned */
    uint64_t rows;             /* readings of the shipment */
    int64_t first_ms, last_ms; /* their earliest and latest stamps (0: none) */
    int64_t end_ms;            /* what the summary is as of: the end, else the latest
                                * reading, else the start */
};

/* Step one: the shipment called id, its windows, the extent of its readings, its alarms, and a
 * summary ready to be fed. config (may be NULL) is borrowed for the view's life.
 * 0; -ENOENT (no such shipment); -ENODATA (the file does not say which sensors were the
 * shipment's, and config does not either: histdb_windows()); -EINVAL (its profile is refused by
 * the rules); -EIO; -ENOMEM. On failure the view holds what was loaded: shipview_clear() it. */
int shipview_open(struct histdb *db, const char *id, const struct config *config,
                  struct shipview *view);

/* Step two: one pass over the shipment's readings in stored order, each fed to the summary and
 * then to hook (may be NULL), then the summary moved on to end_ms. A non-zero return from hook
 * stops the pass and is returned. 0, -EIO, -ENOMEM, or the rules' error. */
int shipview_scan(struct histdb *db, struct shipview *view,
                  int (*hook)(void *arg, const struct histdb_reading *row), void *arg);

/* The name people know a sensor by (the config's "name"), or its id. Borrowed. */
const char *shipview_sensor_name(const struct shipview *view, const char *sensor_id);

/* Calls fn with each finding of a scanned view, one plain sentence each, most important first:
 * the time each probe spent beyond each limit (in how many excursions, the longest), budgets
 * spent, alarms nobody acknowledged, faults; or that nothing went beyond a limit. */
void shipview_findings(const struct shipview *view, void (*fn)(void *arg, const char *sentence),
                       void *arg);

/* Frees what the view owns and zeroes it. NULL is a no-op. */
void shipview_clear(struct shipview *view);

#endif
