/* coldchainctl's views of the history for people and scripts: shipments, show, history, events
 * and report. They read <data_dir>/history.db read-only (histdb.h), so they are safe while the
 * daemon runs. coldchainctl's main() hands a verb of these over; one thread. */
#ifndef COLDCHAIN_CTL_HISTORY_H
#define COLDCHAIN_CTL_HISTORY_H

#include <stdbool.h>
#include <stdio.h>

/* Exit statuses of these verbs (printed by ctl_history_usage()). */
#define CTL_HISTORY_EXIT_NOT_FOUND 1 /* no such shipment, or sensor in it */
#define CTL_HISTORY_EXIT_USAGE 2
#define CTL_HISTORY_EXIT_NO_DB 3   /* the database cannot be opened or is not a history */
#define CTL_HISTORY_EXIT_CONFIG 78 /* the CONFIG given with -c cannot be read */

/* True for "shipments", "show", "history", "events" and "report". */
bool ctl_history_is_verb(const char *verb);

/* Runs one verb: argv[0] is the verb, the rest its words and options in any order.
 * config_path and json are what was given before the verb (may be NULL / false); options after
 * the verb win. Returns the exit status above (0: done). */
int ctl_history_main(int argc, char **argv, const char *config_path, bool json);

/* The verbs' part of `coldchainctl --help`. */
void ctl_history_usage(FILE *out);

#endif
