/* The engine: the one thread that owns all domain state (DESIGN §3). It takes readings and
 * uplink notices from the queue, calibrates and stores readings, feeds the rules, commits alerts
 * before they are published, coalesces twins, batches telemetry and pumps the outbox to the
 * broker. Signals arrive through a signalfd in its poll set.
 * engine_new/free: main thread; engine_run: the engine thread. */
#ifndef COLDCHAIN_ENGINE_H
#define COLDCHAIN_ENGINE_H

#include <stdbool.h>

#include "config.h"

struct engine;

/* Opens the store and builds the rules and the MQTT client; starts nothing yet. config is
 * borrowed and must outlive the engine; its shipments are settled against the history (ended
 * ones removed, those started or extended by command added), and the configuration's load is
 * recorded in the audit trail (reloaded: as a reload). sigfd is a signalfd for SIGTERM, SIGINT and SIGHUP
 * (borrowed). 0 or a negative errno (already logged). */
int engine_new(struct config *config, int sigfd, bool reloaded, struct engine **engine_out);

/* Starts the bus threads and the broker connection, then runs until SIGTERM or SIGINT, or a
 * reload (SIGHUP or the reload command) with a configuration that checks out: stops the
 * buses, drains the queue, commits, publishes the offline status (reason "reload" then).
 * Returns 0 after a clean stop or a negative errno on a fatal error (the history is committed
 * either way); *reload_out is the new configuration to start again with (the caller's), or
 * NULL. A reload with a bad configuration is refused and logged, and the engine runs on. */
int engine_run(struct engine *engine, struct config **reload_out);

/* NULL is a no-op. */
void engine_free(struct engine *engine);

#endif
