/* The BLE adapter (DESIGN §9, PROTOCOLS.md §1): battery thermometers read from their
 * advertisements, without pairing, either live from a controller by a raw HCI LE scan or from
 * a btsnoop capture file (what `btmon -w` writes) as a replay source.
 *
 * Each advertising report (legacy or extended, advert or scan response) from a configured
 * address is decoded (ble_decode.h) and becomes readings of the probe's sensor: temperature,
 * humidity and battery %, as the format carries them; a quantity the format marks invalid is a
 * READING_FAULT (value NaN), never a value. A report whose packet counter equals the last one
 * is a repeat of one measurement and is dropped; otherwise at most one report per probe per
 * `interval` becomes readings, the first one after the interval, so a reading is always what
 * the sensor just sent, never an old value sent again. A probe that stops advertising gives no
 * readings at all: its sensor becomes stale through the rules.
 *
 * Live: the scan is active where a configured format sends its data in scan responses (Govee,
 * Inkbird, or a probe of no stated format), passive otherwise. The scanner disables any scan
 * left running, then tries the legacy LE scan commands and falls back to the extended ones
 * (0x2041/0x2042) when the controller answers Command Disallowed, as BT5 controllers do after
 * bluetoothd drove them with extended commands. Scanners are known to stop silently after
 * hours or days: when no report at all (from any device) has come for `quiet_restart`, the
 * scan is stopped and started again and the log says so; the controller going away ends run()
 * with -ENETDOWN and the gateway restarts it with back-off. Needs CAP_NET_RAW (and
 * CAP_NET_ADMIN, docs/sensors.md).
 *
 * Replay: records are read in file order; each report is stamped with its record's time
 * ("replay_start": "recorded") or shifted so that the first record is the moment the replay
 * starts ("now"), and is handed on no earlier than that time: a capture from the past goes
 * through at once, one whose times lie ahead (or are shifted to now) plays in real time. At the
 * end of the file the bus stays idle until the gateway stops; nothing is sent again.
 *
 * Bus config ("ble"; every key is checked):
 *   name, type          checked by the gateway
 *   device              the controller, default "hci0" (not with replay)
 *   replay              a btsnoop file to read instead of a controller
 *   replay_start        "recorded" (default) or "now"; only with replay
 *   scan                "auto" (default), "active" or "passive"
 *   interval            duration >= 1s, default "30s": readings per probe at most this often
 *   quiet_restart       duration >= 10s, default "5m": restart a scan that heard nothing
 *   probes[]            1..64: { address: "A4:C1:38:8D:18:B2", sensor, format (optional:
 *                       ruuvi, bthome, pvvx, atc1441, govee, inkbird) }
 */
#ifndef COLDCHAIN_BLE_H
#define COLDCHAIN_BLE_H

#include <stdint.h>

#include "ble_hci.h"
#include "sensor.h"

extern const struct sensor_adapter ble_adapter;

/* What the adapter takes from the world, so tests can replace it (STYLE §10): the HCI calls
 * and the two clocks. ble_adapter uses ble_hci_bluez, clock_mono_ms() and clock_wall_ms(). */
struct ble_env {
    const struct ble_hci_ops *hci;
    int64_t (*mono_ms)(void); /* CLOCK_MONOTONIC, ms: the quiet-radio watchdog */
    int64_t (*wall_ms)(void); /* wall clock, ms since the Unix epoch: stamps live readings */
};

/* ble_adapter.open() with another environment (copied into the state). Returns 0 and
 * *state_out, -EINVAL with err filled, or -ENOMEM; then driven through ble_adapter's other
 * functions. */
int ble_adapter_open_env(const struct ble_env *env, const cJSON *cfg, const char *path,
                         struct cfg_error *err, void **state_out);

#endif
