/* Alarm output patterns: see gpio_out.h for the patterns and the promises. */
#include "gpio_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CHIP "gpiochip0"
#define MAX_LINE 511
#define LEVEL_UNKNOWN (-1)

struct gpio_out {
    const struct gpio_ops *ops;
    struct gpiod_chip *chip;
    struct gpiod_line *line; /* requested as an output; owned by chip */
    enum gpio_out_state state;
    int64_t start_mono_ms; /* when the state's pattern began */
    int64_t last_mono_ms;  /* the time of the last set_state/tick */
    int written;           /* logical level last written, or LEVEL_UNKNOWN after a failure */
    uint64_t write_errors;
};

/* The pattern's times within its period: the level flips at each boundary, starting on. The
 * steady states have none. */
static size_t boundaries(enum gpio_out_state state, const int64_t **list_out)
{
    static const int64_t warning[] = {GPIO_OUT_BLINK_ON_MS, GPIO_OUT_PERIOD_MS};
    static const int64_t fault[] = {GPIO_OUT_PULSE_MS, 2 * GPIO_OUT_PULSE_MS, 3 * GPIO_OUT_PULSE_MS,
                                    GPIO_OUT_PERIOD_MS};
    switch (state) {
    case GPIO_OUT_WARNING:
        *list_out = warning;
        return sizeof(warning) / sizeof(warning[0]);
    case GPIO_OUT_SENSOR_FAULT:
        *list_out = fault;
        return sizeof(fault) / sizeof(fault[0]);
    default:
        *list_out = NULL;
        return 0;
    }
}

static int64_t elapsed(const struct gpio_out *out, int64_t now_mono_ms)
{
    return now_mono_ms > out->start_mono_ms ? now_mono_ms - out->start_mono_ms : 0;
}

/* The logical level of state at elapsed_ms (>= 0) from its start. */
static int pattern_level(enum gpio_out_state state, int64_t elapsed_ms)
{
    if (state == GPIO_OUT_OFF)
        return 0;
    if (state == GPIO_OUT_CRITICAL_UNACKED)
        return 1;
    const int64_t *b;
    size_t n = boundaries(state, &b);
    int64_t phase_ms = elapsed_ms % GPIO_OUT_PERIOD_MS;
    /* On until the first boundary, off until the second, ... */
    size_t k = 0;
    while (k < n && phase_ms >= b[k])
        k++;
    return k % 2 == 0 ? 1 : 0;
}

int gpio_out_new(const struct gpio_ops *ops, const struct gpio_out_config *cfg,
                 struct gpio_out **out)
{
    if (!ops || !cfg || !out || cfg->line > MAX_LINE ||
        memchr(cfg->chip, '\0', sizeof(cfg->chip)) == NULL)
        return -EINVAL;
    *out = NULL;
    struct gpio_out *o = calloc(1, sizeof(*o));
    if (!o)
        return -ENOMEM;
    o->ops = ops;
    o->state = GPIO_OUT_OFF;
    int rc = ops->chip_open(cfg->chip[0] ? cfg->chip : DEFAULT_CHIP, &o->chip);
    if (rc < 0) {
        o->chip = NULL;
        goto out;
    }
    struct gpiod_line *line = NULL;
    rc = ops->get_line(o->chip, cfg->line, &line);
    if (rc < 0)
        goto out;
    /* Requested already at logical 0: the relay never clicks on while we start. */
    rc = ops->request_output(line, GPIO_OPS_CONSUMER, cfg->active_low ? GPIO_OPS_ACTIVE_LOW : 0, 0);
    if (rc < 0)
        goto out;
    o->line = line;
    o->written = 0;
    *out = o;
    o = NULL;
    rc = 0;
out:
    if (o) {
        if (o->chip)
            ops->chip_close(o->chip);
        free(o);
    }
    return rc;
}

int gpio_out_tick(struct gpio_out *out, int64_t now_mono_ms)
{
    if (!out)
        return -EINVAL;
    out->last_mono_ms = now_mono_ms;
    int level = pattern_level(out->state, elapsed(out, now_mono_ms));
    if (level == out->written)
        return 0;
    int rc = out->ops->set_value(out->line, level);
    if (rc < 0) {
        out->written = LEVEL_UNKNOWN;
        out->write_errors++;
        return rc;
    }
    out->written = level;
    return 0;
}

int gpio_out_set_state(struct gpio_out *out, enum gpio_out_state state, int64_t now_mono_ms)
{
    if (!out || (unsigned)state >= GPIO_OUT_STATE_COUNT)
        return -EINVAL;
    if (state != out->state) {
        out->state = state;
        out->start_mono_ms = now_mono_ms;
    }
    return gpio_out_tick(out, now_mono_ms);
}

int64_t gpio_out_next_change_ms(const struct gpio_out *out)
{
    if (!out)
        return INT64_MAX;
    const int64_t *b;
    size_t n = boundaries(out->state, &b);
    if (n == 0)
        return INT64_MAX;
    int64_t e = elapsed(out, out->last_mono_ms);
    int64_t period_start = e - e % GPIO_OUT_PERIOD_MS;
    int64_t phase_ms = e - period_start;
    size_t k = 0;
    while (k < n && phase_ms >= b[k])
        k++;
    /* k < n always: the last boundary is the period itself, which phase never reaches. */
    return out->start_mono_ms + period_start + b[k];
}

enum gpio_out_state gpio_out_get_state(const struct gpio_out *out)
{
    return out ? out->state : GPIO_OUT_OFF;
}

uint64_t gpio_out_write_errors(const struct gpio_out *out)
{
    return out ? out->write_errors : 0;
}

void gpio_out_free(struct gpio_out *out)
{
    if (!out)
        return;
    /* Off before release: after a release the kernel leaves the pin as the driver likes. A
     * failed write here has no one left to tell. */
    if (out->written != 0)
        (void)out->ops->set_value(out->line, 0);
    out->ops->release(out->line);
    out->ops->chip_close(out->chip);
    free(out);
}
