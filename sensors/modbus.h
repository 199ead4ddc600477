/* The Modbus adapters (DESIGN §9): a bus's devices are polled over libmodbus on the bus's own
 * thread, registers are decoded by modbus_decode.c and every point yields a reading per poll —
 * a value, or a READING_FAULT (value NaN) when it could not be read: while the connection is down
 * every point of the bus, when a device does not answer (after `retries`) every point of that
 * device, when it answers one read with a Modbus exception the points of that read, and a point
 * whose registers hold a float NaN/infinity. Never an old value. Scheduling is on
 * CLOCK_MONOTONIC, readings are stamped with the wall clock when their read ended.
 * open/close/for_each_point/name on the main thread, run on the bus thread (sensor.h).
 *
 * Bus config ("modbus-tcp"; every key is checked, an unknown one is an error):
 *   name, type                  checked by the gateway
 *   host                        required; IPv4/IPv6 address or host name
 *   port                        1..65535, default 502
 *   poll_interval               duration >= 100ms, default "10s": every device, every interval
 *   response_timeout            duration 10ms..60s, default "1s"
 *   retries                     0..10, default 1: further attempts of a failed read in one poll
 *   reconnect_min/max           back-off between connection attempts, default "1s" / "60s"
 *   devices[]                   >= 1: { unit_id, points[] >= 1 }
 *     points[]: sensor (identifier), quantity, function ("input"|"holding", default input),
 *               address (PDU address 0..65535), type (default int16), word_order (default abcd),
 *               scale (default 0.1 for the integer types, the XY-MD02's x10, and 1 for float32),
 *               offset (default 0)
 */
#ifndef COLDCHAIN_MODBUS_H
#define COLDCHAIN_MODBUS_H

#include "sensor.h"

/* type "modbus-tcp": one TCP connection per bus (a Modbus TCP device or an RTU gateway). */
extern const struct sensor_adapter modbus_tcp_adapter;

/* type "modbus-rtu": one RS-485 line (a USB adapter's /dev/ttyUSB0) with its devices.
 * Link keys: device (required, a path), baud (9600; 1200..115200, the standard rates), parity
 * ("none", "even", "odd"; default none), data_bits (8; 7..8), stop_bits (1; 1..2). A device that
 * does not answer costs its response timeout and its retries, then the next device is read. */
extern const struct sensor_adapter modbus_rtu_adapter;

#endif
