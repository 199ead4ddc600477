/* gpio_ops over libgpiod 1.6 (see gpio_ops.h for the facts relied on). The only file that
 * includes <gpiod.h>: libgpiod's -1/NULL + errno becomes a negative errno here, once. */
#include "gpio_ops.h"

#include <errno.h>
#include <gpiod.h>
#include <time.h>

_Static_assert(GPIO_OPS_WAIT_MAX == GPIOD_LINE_BULK_MAX_LINES,
               "event_wait's bound is libgpiod's bulk size");

/* errno after a libgpiod failure; a path that left it unset must still be an error. */
static int neg_errno(void)
{
    return errno > 0 ? -errno : -EIO;
}

static int to_gpiod_flags(unsigned flags)
{
    int f = 0;
    if (flags & GPIO_OPS_ACTIVE_LOW)
        f |= GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW;
    if (flags & GPIO_OPS_BIAS_DISABLE)
        f |= GPIOD_LINE_REQUEST_FLAG_BIAS_DISABLE;
    if (flags & GPIO_OPS_BIAS_PULL_UP)
        f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_UP;
    if (flags & GPIO_OPS_BIAS_PULL_DOWN)
        f |= GPIOD_LINE_REQUEST_FLAG_BIAS_PULL_DOWN;
    return f;
}

static int lg_chip_open(const char *chip, struct gpiod_chip **chip_out)
{
    if (!chip || !chip_out)
        return -EINVAL;
    errno = 0;
    /* gpiod_chip_open_by_name() is gpiod_chip_open("/dev/<name>") in 1.6.3. */
    struct gpiod_chip *c = chip[0] == '/' ? gpiod_chip_open(chip) : gpiod_chip_open_by_name(chip);
    if (!c)
        return neg_errno();
    *chip_out = c;
    return 0;
}

static void lg_chip_close(struct gpiod_chip *chip)
{
    if (chip)
        gpiod_chip_close(chip);
}

static int lg_get_line(struct gpiod_chip *chip, unsigned offset, struct gpiod_line **line_out)
{
    if (!chip || !line_out)
        return -EINVAL;
    errno = 0;
    struct gpiod_line *line = gpiod_chip_get_line(chip, offset);
    if (!line)
        return neg_errno();
    *line_out = line;
    return 0;
}

static int lg_request_events(struct gpiod_line *line, const char *consumer, unsigned flags)
{
    errno = 0;
    if (gpiod_line_request_both_edges_events_flags(line, consumer, to_gpiod_flags(flags)) < 0)
        return neg_errno();
    return 0;
}

static int lg_event_wait(struct gpiod_line *const *lines, size_t count, int timeout_ms,
                         bool *ready_out)
{
    if (!lines || !ready_out || count == 0 || count > GPIO_OPS_WAIT_MAX || timeout_ms < 0)
        return -EINVAL;
    struct gpiod_line_bulk bulk, ready;
    gpiod_line_bulk_init(&bulk);
    for (size_t i = 0; i < count; i++) {
        gpiod_line_bulk_add(&bulk, lines[i]);
        ready_out[i] = false;
    }
    struct timespec timeout = {.tv_sec = timeout_ms / 1000,
                               .tv_nsec = (long)(timeout_ms % 1000) * 1000000L};
    errno = 0;
    int rc = gpiod_line_event_wait_bulk(&bulk, &timeout, &ready);
    if (rc < 0)
        return neg_errno();
    if (rc == 0)
        return 0;
    for (unsigned k = 0; k < ready.num_lines; k++) {
        for (size_t i = 0; i < count; i++) {
            if (ready.lines[k] == lines[i])
                ready_out[i] = true;
        }
    }
    return 1;
}

static int lg_event_read(struct gpiod_line *line)
{
    /* 16: the kernel's per-line event FIFO depth, the most one read() returns. */
    struct gpiod_line_event events[16];
    errno = 0;
    int n = gpiod_line_event_read_multiple(line, events, 16);
    if (n < 0)
        return neg_errno();
    return n;
}

static int lg_get_value(struct gpiod_line *line, int *value_out)
{
    if (!value_out)
        return -EINVAL;
    errno = 0;
    int v = gpiod_line_get_value(line);
    if (v < 0)
        return neg_errno();
    *value_out = v != 0;
    return 0;
}

static int lg_request_output(struct gpiod_line *line, const char *consumer, unsigned flags,
                             int value)
{
    errno = 0;
    if (gpiod_line_request_output_flags(line, consumer, to_gpiod_flags(flags), value != 0) < 0)
        return neg_errno();
    return 0;
}

static int lg_set_value(struct gpiod_line *line, int value)
{
    errno = 0;
    if (gpiod_line_set_value(line, value != 0) < 0)
        return neg_errno();
    return 0;
}

static void lg_release(struct gpiod_line *line)
{
    if (line)
        gpiod_line_release(line);
}

const struct gpio_ops gpio_ops_libgpiod = {
    .name = "libgpiod",
    .chip_open = lg_chip_open,
    .chip_close = lg_chip_close,
    .get_line = lg_get_line,
    .request_events = lg_request_events,
    .event_wait = lg_event_wait,
    .event_read = lg_event_read,
    .get_value = lg_get_value,
    .request_output = lg_request_output,
    .set_value = lg_set_value,
    .release = lg_release,
};
