/* The one interface every sensor adapter implements (DESIGN §9, STYLE §9), and the services the
 * gateway gives a running adapter. An adapter's run() is the body of its bus thread; open() and
 * close() run on the main thread. Decoders are separate, pure files. */
#ifndef COLDCHAIN_SENSOR_H
#define COLDCHAIN_SENSOR_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfgjson.h"
#include "reading.h"

/* Given by the gateway to a running adapter; implemented in gateway/sensor_host.c. */
struct sensor_ctx;

/* Hands a reading to the engine. Blocks while the engine's queue is full (backpressure, never a
 * drop). Stamps READING_UNSYNCED itself. Returns 0, or -ECANCELED once stop was asked (the
 * reading is then still delivered). Adapter thread only. */
int sensor_emit(struct sensor_ctx *ctx, const struct reading *r);

/* Sleeps until CLOCK_MONOTONIC reaches mono_ms. Returns false at once when stop was asked:
 * the adapter must then return from run(). Adapter thread only. */
bool sensor_sleep_until(struct sensor_ctx *ctx, int64_t mono_ms);

/* True once stop was asked. Any thread. */
bool sensor_stopping(struct sensor_ctx *ctx);

/* Logs with a syslog priority (LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG); the bus name is
 * prefixed by the adapter itself ("modbus[fridge-bus/unit1]: ..."). Adapter thread. */
void sensor_log(struct sensor_ctx *ctx, int priority, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Called once per configured point (sensor id + quantity); a non-zero return stops the walk
 * and is returned. path is the point's JSON path, for error messages. */
typedef int (*sensor_point_fn)(void *arg, const char *sensor_id, uint8_t quantity,
                               const char *path);

struct sensor_adapter {
    const char *type; /* the bus "type" in the config: "modbus-tcp", ... */
    /* Validates the bus's config object (path names it for errors) without touching hardware
     * and returns an adapter state. 0, -EINVAL with err filled, or -ENOMEM. Main thread. */
    int (*open)(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out);
    /* The bus thread's body: polls until sensor_sleep_until() says stop. Returns 0 on stop, or
     * a negative errno on a fatal error (the gateway restarts it with back-off). */
    int (*run)(void *state, struct sensor_ctx *ctx);
    /* Frees the state; NULL is a no-op. Main thread, after run() has returned. */
    void (*close)(void *state);
    /* Walks the configured points so the gateway can check every sensor id is declared. */
    int (*for_each_point)(const void *state, sensor_point_fn fn, void *arg);
    /* The bus's name from its config, for logs. */
    const char *(*name)(const void *state);
};

/* The adapter for a config "type", or NULL. The table is in registry.c. */
const struct sensor_adapter *sensor_adapter_find(const char *type);
/* Comma-separated list of known types, for error messages. */
const char *sensor_adapter_types(void);

#endif
