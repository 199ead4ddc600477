/* Alarm outputs on GPIO lines (DESIGN §9): a buzzer, an LED or a relay driven in a pattern that
 * tells the state at a glance. The engine decides the state; this module only turns it into
 * levels over time: pure timing on the times it is given (no clock reads, no threads, no logs),
 * with the line driven through the gpio_ops table (gpio_ops.h) so tests use a double.
 * One thread at a time per output: the engine thread.
 *
 * Patterns (the level is the logical one, 1 = on; times from the state's start):
 *   GPIO_OUT_OFF               off
 *   GPIO_OUT_CRITICAL_UNACKED  steady on
 *   GPIO_OUT_WARNING           slow blink: on 0-1000 ms, off 1000-2000 ms, every 2 s
 *   GPIO_OUT_SENSOR_FAULT      two short pulses every 2 s: on 0-200, off 200-400, on 400-600,
 *                              off 600-2000 ms (a pattern no blink can be mistaken for)
 * A new state starts its pattern at once, at its phase 0 (on, for all but OFF), even in the
 * middle of the previous pattern; setting the state it already has does not restart it.
 *
 * Intended config (parsed by the gateway's config module, not here):
 *   "outputs": [
 *     { "name": "buzzer", "chip": "gpiochip0", "line": 22, "active_low": true,
 *       "states": ["critical_unacked", "sensor_fault"] },
 *     { "name": "panel-led", "line": 23 }
 *   ]
 *   name        an identifier, for logs and status
 *   chip        "gpiochip0" (default) or an absolute path, as for the gpio adapter (gpio.h)
 *   line        line offset on the chip, 0..511, required; not a line a gpio bus watches
 *   active_low  default false; true when the load is on while the pin is LOW (most relay boards)
 *   states      which states this output shows, default all three; in the others it is off
 *               (a siren on critical only, an LED on everything)
 *
 * Wiring (for the technician): a GPIO pin gives 3.3 V and a few mA; it drives an LED through a
 * resistor (pin -> 330 ohm -> LED -> GND: active_low false) but a buzzer or a beacon only
 * through a relay or a transistor. For a relay module — most 1-/2-channel boards sold for the
 * Raspberry Pi switch on when their IN is pulled LOW: "active_low": true — connect VCC to 5 V,
 * GND to GND and IN to the GPIO pin; use a board with an opto-coupler or a 3.3 V-rated input (one
 * that pulls IN up to 5 V through its own resistor can push 5 V into the pin). Wire the buzzer's
 * own supply through the relay's COM and NO contacts, so an unpowered or unplugged relay is
 * silent, not stuck on. The pin is requested already driven to "off", so the relay does not
 * click at start; at boot, before the gateway runs, the pin is an input, which an active-low
 * board's own pull-up also reads as off.
 */
#ifndef COLDCHAIN_GPIO_OUT_H
#define COLDCHAIN_GPIO_OUT_H

#include <stdbool.h>
#include <stdint.h>

#include "gpio_ops.h"

enum gpio_out_state {
    GPIO_OUT_OFF = 0,
    GPIO_OUT_CRITICAL_UNACKED, /* steady on */
    GPIO_OUT_WARNING,          /* 1 s on, 1 s off */
    GPIO_OUT_SENSOR_FAULT,     /* 200 ms on, 200 ms off, 200 ms on, then off to 2 s */
    GPIO_OUT_STATE_COUNT
};

/* The pattern times, ms (see above). */
#define GPIO_OUT_PERIOD_MS 2000
#define GPIO_OUT_BLINK_ON_MS 1000
#define GPIO_OUT_PULSE_MS 200

#define GPIO_OUT_CHIP_CAP 128

struct gpio_out_config {
    char chip[GPIO_OUT_CHIP_CAP]; /* "gpiochip0" (empty: the same) or an absolute /dev path */
    unsigned line;                /* line offset on the chip, 0..511 */
    bool active_low;              /* on = the LOW level (relay boards switching on LOW) */
};

/* An output line held for the output's life. */
struct gpio_out;

/* Opens cfg->chip, requests cfg->line as an output already driven off, in state OFF. ops and
 * cfg are borrowed for the call; ops must outlive the output. Returns 0 and *out (owned by the
 * caller: gpio_out_free), -EINVAL (NULL argument, line > 511, chip not NUL-terminated),
 * -ENOMEM, or the ops' negative errno: -ENOENT (no such chip), -EACCES, -EINVAL (no such line
 * on the chip), -EBUSY (the line is held by someone else), ... Nothing is left open on
 * failure. */
int gpio_out_new(const struct gpio_ops *ops, const struct gpio_out_config *cfg,
                 struct gpio_out **out);

/* Switches to state at now_mono_ms (CLOCK_MONOTONIC, ms): a different state starts its pattern
 * at now and drives its first level at once; the same state changes nothing but is ticked.
 * Returns 0, -EINVAL (NULL or unknown state: the state is unchanged), or the negative errno of
 * a failed write (the state is taken; the write is retried on the next tick). */
int gpio_out_set_state(struct gpio_out *out, enum gpio_out_state state, int64_t now_mono_ms);

/* Drives the level the pattern has at now_mono_ms; writes the line only when that level
 * differs from the one last written (or the last write failed). Call it at least at
 * gpio_out_next_change_ms(); calling it more often is harmless. A time before the state's start
 * counts as the start. Returns 0, -EINVAL (NULL), or a failed write's negative errno. */
int gpio_out_tick(struct gpio_out *out, int64_t now_mono_ms);

/* The CLOCK_MONOTONIC time (ms) of the pattern's next level change after the last
 * set_state/tick time, or INT64_MAX when the state is steady (OFF, CRITICAL_UNACKED). */
int64_t gpio_out_next_change_ms(const struct gpio_out *out);

/* The current state (GPIO_OUT_OFF for NULL). */
enum gpio_out_state gpio_out_get_state(const struct gpio_out *out);

/* Writes that failed since the output was created (the engine reports it). */
uint64_t gpio_out_write_errors(const struct gpio_out *out);

/* Drives the line off, releases it and closes the chip. NULL is a no-op. A relay is left off,
 * not in whatever phase the pattern was: a stopped gateway must not leave a siren on. */
void gpio_out_free(struct gpio_out *out);

#endif
