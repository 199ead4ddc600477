/* The 1-Wire adapter over the Linux w1 sysfs driver (DESIGN §9, PROTOCOLS.md §2.1): each poll
 * reads every configured probe's file under <root>/<id>/ and emits a temperature, or a
 * READING_FAULT when the probe is gone from the bus, the read came back empty, the CRC failed
 * or the value is one a probe sends when it is not measuring (w1_decode.h). Never an old value.
 * A read can take the probe's conversion time (750 ms at 12 bits), so probes are read in turn on
 * the bus's own thread. open/close/for_each_point/name on the main thread, run on the bus thread.
 *
 * Bus config ("w1"; every key is checked):
 *   name, type          checked by the gateway
 *   root                the w1 devices folder, default "/sys/bus/w1/devices" (tests: a fake tree)
 *   file                "w1_slave" (default: the scratchpad with its CRC) or "temperature"
 *   poll_interval       duration >= 1s, default "10s"
 *   probes[]            >= 1: { id: "28-000006b67845" (the device folder), sensor }
 */
#ifndef COLDCHAIN_W1_H
#define COLDCHAIN_W1_H

#include "sensor.h"

extern const struct sensor_adapter w1_adapter;

#endif
