/* The GPIO door-contact adapter (DESIGN §9, PROTOCOLS.md §4): reed switches on the lines of one
 * GPIO chip, watched through libgpiod v1 edge events on the bus's own thread, debounced here
 * (libgpiod 1.6 has no debounce), and reported as QUANTITY_DOOR readings: 0 closed, 1 open.
 * open/close/for_each_point/name on the main thread, run on the bus thread (sensor.h).
 *
 * What is emitted, per door:
 *  - at start, the line's state as soon as it is requested;
 *  - after edges: once the line has been quiet for `debounce` (at the latest 4 x debounce after
 *    the first edge, so a chattering contact is still read), the line is read, and a reading is
 *    emitted only when that state differs from the last one emitted: a bounce never becomes a
 *    pair of open/close readings;
 *  - every `heartbeat` without a change, the line is read again and its state re-emitted, so the
 *    rules' stale alarm sees a live contact (set heartbeat below that alarm's `stale`);
 *  - a line that cannot be opened, requested, waited on or read: a READING_FAULT (value NaN)
 *    at once and then every heartbeat, never a guessed state; the line is requested again every
 *    heartbeat, and the first good read after a fault is emitted. Logged when the fault starts or
 *    changes, again after 2, 4, 8, ... fault readings, and once when it clears.
 * Readings are stamped with the wall clock when the line was read; scheduling is on
 * CLOCK_MONOTONIC. Event waits last at most 200 ms, so a stop is seen within that.
 *
 * Bus config ("gpio"; every key is checked, an unknown one is an error):
 *   name, type     checked by the gateway
 *   chip           "gpiochip0" (default: /dev/gpiochip0) or an absolute path ("/dev/gpiochip1").
 *                  All doors of a bus are lines of this one chip; another chip is another bus.
 *   heartbeat      duration 1s..24h, default "60s"
 *   doors[]        1..64 (libgpiod's bulk wait), each:
 *     line         the line offset on the chip, 0..511 (on a Raspberry Pi 1-4, gpiochip0 line N is
 *                  BCM GPIO N, the "GPIO17" of pinouts, not the header pin number; a Pi 5's
                  header is on another chip: check with `gpioinfo`)
 *     sensor       the door's sensor id (an identifier; one line per sensor)
 *     open_when    required, "high" or "low": the level of the line while the door is OPEN.
 *                  No default, because a wrong guess reports a shut fridge as open or, worse, an
 *                  open one as shut. "low" requests the line active-low, so that in both cases
 *                  the kernel's logical value 1 means open.
 *     bias         "pull-up" (default), "pull-down", "disable" or "as-is": the SoC's internal
 *                  resistor. Needs Linux >= 5.5 (older kernels refuse the request: fault
 *                  readings); a GPIO driver without bias support ignores it silently.
 *     debounce     duration 0..5s, default "50ms": how long the line must be quiet after an edge
 *                  before it is read.
 *
 * Wiring a reed switch (for the technician): run the switch's two wires to the GPIO pin and to
 * a GND pin (never to 5 V; 3.3 V logic only), and keep bias "pull-up" — or better, add an
 * external 4.7k-10k resistor from the pin to 3.3 V, because the SoC's ~50k pull-up is weak on a
 * long cable and some drivers ignore bias. With the usual normally-open reed switch (its contact
 * closes when the magnet is near, i.e. when the door is shut) the pin reads low while the door is
 * shut and high while it is open: "open_when": "high". That is also the fail-safe choice: a cut
 * or unplugged wire reads high, i.e. open, so the door alarm fires instead of going quiet.
 * A normally-closed switch wired the same way needs "open_when": "low" (and a cut wire then
 * looks shut: prefer normally-open contacts). Use twisted pair or shielded cable on long runs;
 * the debounce absorbs contact bounce, not induced noise.
 *
 * Example:
 *   { "name": "doors", "type": "gpio", "chip": "gpiochip0", "heartbeat": "60s",
 *     "doors": [ { "line": 17, "sensor": "fridge-a-door", "open_when": "high" },
 *                { "line": 27, "sensor": "fridge-b-door", "open_when": "high",
 *                  "debounce": "100ms" } ] }
 */
#ifndef COLDCHAIN_GPIO_H
#define COLDCHAIN_GPIO_H

#include <stdint.h>

#include "gpio_ops.h"
#include "sensor.h"

/* type "gpio": door contacts, over gpio_ops_libgpiod and the real clocks. */
extern const struct sensor_adapter gpio_adapter;

/* What the adapter takes from the world, so tests can replace all of it (STYLE §10): the GPIO
 * calls and the two clocks. gpio_adapter uses gpio_ops_libgpiod, clock_mono_ms() and
 * clock_wall_ms(). The functions must stay valid while the state lives. */
struct gpio_env {
    const struct gpio_ops *ops;
    int64_t (*mono_ms)(void); /* CLOCK_MONOTONIC, ms: schedules debounce and heartbeat */
    int64_t (*wall_ms)(void); /* wall clock, ms since the Unix epoch: stamps readings */
};

/* gpio_adapter.open() with another environment (copied into the state): validates the bus
 * config without touching the GPIO. Returns 0 and *state_out, -EINVAL with err filled, or
 * -ENOMEM. The state is then driven through gpio_adapter's run/close/for_each_point/name.
 * Main thread (tests: any single thread). */
int gpio_adapter_open_env(const struct gpio_env *env, const cJSON *cfg, const char *path,
                          struct cfg_error *err, void **state_out);

#endif
