/* The few libgpiod v1 calls the GPIO code uses (the door adapter gpio.c, the alarm outputs
 * gpio_out.c), as a const table so that tests pass a double instead of hardware (STYLE §10).
 * The real table, gpio_ops_libgpiod, is the only code that includes <gpiod.h>, and the only
 * place libgpiod's -1/NULL + errno is translated: every op returns 0 or a negative errno.
 * A chip and its lines are used by one thread at a time: the thread that opened the chip.
 *
 * Facts relied on, from libgpiod 1.6.3 as Debian 12 ships it (libgpiod-dev 1.6.3-1+b3,
 * /usr/include/gpiod.h, and lib/core.c at the v1.6.3 tag, commit bb4e5ce):
 *  - a line handle belongs to its chip: gpiod_chip_get_line() returns the same object for the
 *    same offset, and gpiod_chip_close() releases every requested line and frees them all, so
 *    no line may be used after its chip is closed;
 *  - gpiod_chip_get_line() fails with EINVAL for an offset >= the chip's line count;
 *  - gpiod_line_event_wait_bulk() ppoll()s the lines' event fds; all lines must be requested
 *    and on one chip (else EPERM / EINVAL); it returns 0 on timeout, 1 with the ready lines;
 *  - gpiod_line_event_read_multiple() does one read() of up to 16 events (the kernel's FIFO
 *    depth) and blocks when none is queued, so it is only called on a line found ready;
 *  - gpiod_line_get_value() works on a line requested for events (the kernel's lineevent_ioctl
 *    answers GPIOHANDLE_GET_LINE_VALUES with gpiod_get_value_cansleep(): the logical value,
 *    inverted when the line was requested ACTIVE_LOW);
 *  - the bias flags are passed through to the kernel (GPIOHANDLE_REQUEST_BIAS_*, Linux >= 5.5;
 *    an older kernel refuses them with EINVAL). A GPIO driver without bias support ignores them
 *    silently (gpiolib's gpio_set_bias() treats ENOTSUPP as success), so an external pull
 *    resistor is the wiring to trust;
 *  - v1 has no debounce (v2 has): debouncing is the caller's job (PROTOCOLS.md §4). */
#ifndef COLDCHAIN_GPIO_OPS_H
#define COLDCHAIN_GPIO_OPS_H

#include <stdbool.h>
#include <stddef.h>

/* Opaque handles. With gpio_ops_libgpiod they are libgpiod's own; a test double defines these
 * two structs itself (it never includes <gpiod.h>). */
struct gpiod_chip;
struct gpiod_line;

/* Request flags, translated by each ops table to its own (libgpiod: GPIOD_LINE_REQUEST_FLAG_*).
 * At most one of the BIAS flags; none leaves the bias as the board set it. */
enum gpio_ops_flag {
    GPIO_OPS_ACTIVE_LOW = 1u << 0,     /* logical 1 is the low level, both ways */
    GPIO_OPS_BIAS_DISABLE = 1u << 1,   /* no internal pull */
    GPIO_OPS_BIAS_PULL_UP = 1u << 2,   /* internal pull-up */
    GPIO_OPS_BIAS_PULL_DOWN = 1u << 3, /* internal pull-down */
};

/* The most lines one event_wait() takes (libgpiod's GPIOD_LINE_BULK_MAX_LINES). */
#define GPIO_OPS_WAIT_MAX 64

/* The consumer label the kernel shows for our lines (gpioinfo). */
#define GPIO_OPS_CONSUMER "coldchain"

struct gpio_ops {
    const char *name; /* "libgpiod", or the double's name */
    /* Opens a chip by name ("gpiochip0": /dev/gpiochip0) or by an absolute path ("/dev/...").
     * 0 and *chip_out, or -ENOENT (no such chip), -EACCES, -ENODEV, ... */
    int (*chip_open)(const char *chip, struct gpiod_chip **chip_out);
    /* Releases every line of the chip and frees it and them. NULL is a no-op. */
    void (*chip_close)(struct gpiod_chip *chip);
    /* The chip's line at offset, owned by the chip. 0 and *line_out, or -EINVAL (no such
     * offset on this chip), -EIO. */
    int (*get_line)(struct gpiod_chip *chip, unsigned offset, struct gpiod_line **line_out);
    /* Requests the line as an input with events on both edges. flags: enum gpio_ops_flag.
     * 0, or -EBUSY (another consumer holds it), -EINVAL/-EOPNOTSUPP (flags refused), ... */
    int (*request_events)(struct gpiod_line *line, const char *consumer, unsigned flags);
    /* Waits up to timeout_ms (>= 0) for an event on any of count (1..GPIO_OPS_WAIT_MAX) lines
     * requested with request_events(), all of one chip. Returns 0 on timeout, 1 when events
     * are queued with ready_out[i] set for each line that has some (the others false), or a
     * negative errno (-EINTR counts as a timeout for the caller to retry). */
    int (*event_wait)(struct gpiod_line *const *lines, size_t count, int timeout_ms,
                      bool *ready_out);
    /* Drains the events queued on a line that event_wait() found ready. Returns how many
     * (>= 1), or a negative errno. The events' types and times are not needed: the caller
     * reads the settled level after its debounce. */
    int (*event_read)(struct gpiod_line *line);
    /* Reads the line's logical value (0 or 1; inverted when requested active-low). 0 and
     * *value_out, or a negative errno. */
    int (*get_value)(struct gpiod_line *line, int *value_out);
    /* Requests the line as an output driven to the logical value (0 or 1) at once. 0 or a
     * negative errno (-EBUSY, ...). */
    int (*request_output)(struct gpiod_line *line, const char *consumer, unsigned flags, int value);
    /* Drives a line requested for output to the logical value. 0 or a negative errno. */
    int (*set_value)(struct gpiod_line *line, int value);
    /* Gives the line back to the kernel; the handle stays valid (it is the chip's) and may be
     * requested again. Releasing a line that is not requested is a no-op. */
    void (*release)(struct gpiod_line *line);
};

/* The real calls, in gpio_libgpiod.c. */
extern const struct gpio_ops gpio_ops_libgpiod;

#endif
