/* Runs one configured bus: its adapter's run() on a thread of its own, restarted with back-off
 * if it fails, and the sensor_ctx services (sensor.h) that hand readings to the engine's queue.
 * start/stop/join: the engine thread. */
#ifndef COLDCHAIN_SENSOR_HOST_H
#define COLDCHAIN_SENSOR_HOST_H

#include <stdbool.h>

#include "config.h"
#include "queue.h"

struct sensor_host;

/* Starts the bus thread. The bus and queue are borrowed and must outlive the host.
 * 0, -ENOMEM, or -errno from pthread_create. */
int sensor_host_start(const struct config_bus *bus, struct queue *queue,
                      struct sensor_host **host_out);

/* Asks the thread to stop; returns at once. A thread blocked on a full queue stops as soon as
 * the engine has drained room for its reading, so nothing is dropped. */
void sensor_host_stop(struct sensor_host *host);

/* True once the thread's body has returned. */
bool sensor_host_done(struct sensor_host *host);

/* Joins the thread and frees. NULL is a no-op. */
void sensor_host_free(struct sensor_host *host);

#endif
