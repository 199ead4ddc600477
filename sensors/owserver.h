/* The owserver adapter (DESIGN §9, PROTOCOLS.md §2.2): 1-Wire probes read through owfs's owcapi
 * from an owserver, which owns the bus adapter (USB DS9490, DS2482 on I2C, serial) or runs on
 * another machine. Each poll reads every configured probe's temperature and emits it, or a
 * READING_FAULT (value NaN) when the read failed (no such device, server gone) or gave text that
 * is not a temperature or a value a probe sends when it is not measuring (ow_decode.h). Never an
 * old value. While the server cannot be reached every probe reads as a fault on every poll, and
 * the server is tried again with a back-off.
 * open/close/for_each_point/name on the main thread, run on the bus thread.
 *
 * One owserver bus per process: owcapi keeps one global, process-wide connection state
 * (OW_init()/OW_finish() take no handle), so a second owserver bus would silently share or reset
 * the first one's. run() claims owcapi for its bus; a second owserver bus's run() logs why and
 * returns -EBUSY. Put every owserver probe on one bus (an owserver serves many bus masters).
 *
 * Bus config ("owserver"; every key is checked):
 *   name, type          checked by the gateway
 *   server              "host:port" of the owserver, default "127.0.0.1:4304"; a host name or an
 *                       IPv4 address (owcapi's own syntax has no brackets for IPv6)
 *   poll_interval       duration >= 1s, default "10s"
 *   uncached            bool, default true: read /uncached/<id>/temperature, which makes the
 *                       owserver convert now instead of answering from its cache
 *   probes[]            >= 1: { id, sensor }; id is the owfs id "28.000006B67845" (family, '.',
 *                       12 hex digits) or the Linux sysfs spelling "28-000006b67845"
 *
 * Facts this adapter is built on (observed with Debian 12's owserver and libowcapi 3.2p4):
 *   - OW_init() on a server that refuses the connection sleeps 5 s, tries once more and fails,
 *     and each failed OW_init() leaks about 1 KB; so the server's TCP port is tried first and
 *     OW_init() is only called when it accepts.
 *   - After a successful OW_init() owcapi reconnects by itself when the server comes back; each
 *     OW_finish() + OW_init() cycle leaks about 2 KB. So a lost server is not re-initialised,
 *     only waited for; owcapi is re-initialised only if it stays broken while the port accepts.
 *   - owcapi's own reconnect to a server that went away leaks about 80 bytes per attempt (its
 *     address lookup, ClientAddr). So while the server is unreachable OW_get() is not called:
 *     an outage costs a couple of those, not one per probe and poll.
 *   - A missing device and a dead server both fail OW_get() with errno ENOENT: the server's port
 *     tells them apart.
 *   - OW_init() starts a thread of libow's own (it inherits the bus thread's blocked signals) and
 *     sets SIGPIPE to SIG_IGN process-wide.
 */
#ifndef COLDCHAIN_OWSERVER_H
#define COLDCHAIN_OWSERVER_H

#include "sensor.h"

extern const struct sensor_adapter owserver_adapter;

#endif
