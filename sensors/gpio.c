/* GPIO door-contact adapter: see gpio.h for the config and the promises. */
#include "gpio.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "clock.h"

#define DEFAULT_CHIP "gpiochip0"
#define CHIP_CAP 128
#define MAX_LINE 511
#define MAX_DOORS GPIO_OPS_WAIT_MAX
#define DEFAULT_DEBOUNCE_MS 50
#define MAX_DEBOUNCE_MS 5000
#define DEFAULT_HEARTBEAT_MS 60000
#define MIN_HEARTBEAT_MS 1000
#define MAX_HEARTBEAT_MS (24 * 3600 * 1000)
/* The longest event wait: how late a stop may be seen (sensor.h: stop must be prompt). */
#define WAIT_MAX_MS 200
/* A contact that keeps chattering is read anyway this many debounce periods after its first
 * edge, so vibration cannot hide a door that was opened. */
#define SETTLE_CAP_FACTOR 4

/* What was last emitted for a door. */
enum door_emitted {
    EMITTED_NONE = -1, /* nothing yet in this run */
    EMITTED_CLOSED = 0,
    EMITTED_OPEN = 1,
    EMITTED_FAULT = 2,
};

struct door {
    /* From the config. */
    unsigned line_offset;
    char sensor[READING_SENSOR_ID_MAX];
    unsigned flags; /* enum gpio_ops_flag: active-low for open_when low, the bias */
    int64_t debounce_ms;
    /* Run state, reset by each run(). */
    struct gpiod_line *line;    /* requested for events when not NULL; owned by the chip */
    bool settling;              /* edges seen, waiting for the line to be quiet */
    int64_t first_edge_mono_ms; /* first edge of the current settling */
    int64_t settle_mono_ms;     /* when to read the line */
    int64_t due_mono_ms;        /* next heartbeat, or next request attempt while faulty */
    int emitted;                /* enum door_emitted */
    int last_err;               /* -errno of the failing step; 0 when the line is fine */
    uint64_t faults;            /* fault readings in the current fault */
    uint64_t edges;             /* events drained, for the logs */
};

struct gpio_bus {
    char name[64];
    char path[CFG_PATH_CAP]; /* the bus's JSON path, for for_each_point */
    char chip_name[CHIP_CAP];
    int64_t heartbeat_ms;
    struct gpio_env env;
    struct door *doors;
    size_t door_count;
    struct gpiod_chip *chip; /* open while run() has it */
};

static void bus_free(struct gpio_bus *bus)
{
    if (!bus)
        return;
    free(bus->doors);
    free(bus);
}

/* ---- config ---------------------------------------------------------------------------- */

static int parse_door(const cJSON *item, const char *path, struct door *d, struct cfg_error *err)
{
    static const char *const keys[] = {"line", "sensor", "open_when", "bias", "debounce", NULL};
    char mp[CFG_PATH_CAP];
    char open_when[8], bias[16];
    long long line;
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc == 0)
        rc = cfg_get_int(item, path, "line", true, 0, 0, MAX_LINE, &line, err);
    if (rc == 0)
        rc = cfg_get_string(item, path, "sensor", true, NULL, d->sensor, sizeof(d->sensor), err);
    if (rc < 0)
        return rc;
    d->line_offset = (unsigned)line;
    if (!cfg_is_identifier(d->sensor, sizeof(d->sensor)))
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "sensor"), "expected a sensor id");
    rc = cfg_get_string(item, path, "open_when", true, NULL, open_when, sizeof(open_when), err);
    if (rc < 0)
        return rc;
    if (strcmp(open_when, "low") == 0)
        d->flags |= GPIO_OPS_ACTIVE_LOW; /* logical 1 (open) is the low level */
    else if (strcmp(open_when, "high") != 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "open_when"),
                        "expected \"high\" or \"low\" (the line's level while the door is "
                        "open), got \"%s\"",
                        open_when);
    rc = cfg_get_string(item, path, "bias", false, "pull-up", bias, sizeof(bias), err);
    if (rc < 0)
        return rc;
    if (strcmp(bias, "pull-up") == 0)
        d->flags |= GPIO_OPS_BIAS_PULL_UP;
    else if (strcmp(bias, "pull-down") == 0)
        d->flags |= GPIO_OPS_BIAS_PULL_DOWN;
    else if (strcmp(bias, "disable") == 0)
        d->flags |= GPIO_OPS_BIAS_DISABLE;
    else if (strcmp(bias, "as-is") != 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "bias"),
                        "expected \"pull-up\", \"pull-down\", \"disable\" or \"as-is\", "
                        "got \"%s\"",
                        bias);
    return cfg_get_duration(item, path, "debounce", false, DEFAULT_DEBOUNCE_MS, 0, MAX_DEBOUNCE_MS,
                            &d->debounce_ms, err);
}

static int check_chip(const char *chip, const char *path, struct cfg_error *err)
{
    char mp[CFG_PATH_CAP];
    if (chip[0] == '/' || cfg_is_identifier(chip, CHIP_CAP))
        return 0;
    return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "chip"),
                    "expected a chip name such as \"" DEFAULT_CHIP
                    "\" or an absolute path such as \"/dev/gpiochip0\"");
}

int gpio_adapter_open_env(const struct gpio_env *env, const cJSON *cfg, const char *path,
                          struct cfg_error *err, void **state_out)
{
    static const char *const keys[] = {"name", "type", "chip", "heartbeat", "doors", NULL};
    char mp[CFG_PATH_CAP];
    const cJSON *doors;
    int rc;
    if (!env || !env->ops || !env->mono_ms || !env->wall_ms || !cfg || !path || !state_out)
        return -EINVAL;
    *state_out = NULL;
    struct gpio_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    bus->env = *env;
    snprintf(bus->path, sizeof(bus->path), "%s", path);
    rc = cfg_check_keys(cfg, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "name", true, NULL, bus->name, sizeof(bus->name), err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "chip", false, DEFAULT_CHIP, bus->chip_name,
                            sizeof(bus->chip_name), err);
    if (rc == 0)
        rc = check_chip(bus->chip_name, path, err);
    if (rc == 0)
        rc = cfg_get_duration(cfg, path, "heartbeat", false, DEFAULT_HEARTBEAT_MS, MIN_HEARTBEAT_MS,
                              MAX_HEARTBEAT_MS, &bus->heartbeat_ms, err);
    if (rc == 0)
        rc = cfg_get_array(cfg, path, "doors", true, &doors, err);
    if (rc < 0)
        goto out;
    int count = cJSON_GetArraySize(doors);
    cfg_path_key(mp, sizeof(mp), path, "doors");
    if (count < 1 || count > MAX_DOORS) {
        rc = cfg_fail(err, mp, "expected 1 to %d doors, got %d", MAX_DOORS, count);
        goto out;
    }
    bus->doors = calloc((size_t)count, sizeof(*bus->doors));
    if (!bus->doors) {
        rc = -ENOMEM;
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, doors)
    {
        char dp[CFG_PATH_CAP];
        struct door *d = &bus->doors[bus->door_count];
        cfg_path_index(dp, sizeof(dp), mp, bus->door_count);
        rc = parse_door(item, dp, d, err);
        if (rc < 0)
            goto out;
        for (size_t k = 0; k < bus->door_count; k++) {
            if (bus->doors[k].line_offset == d->line_offset) {
                rc = cfg_fail(err, dp, "line %u is listed twice (also %s[%zu])", d->line_offset, mp,
                              k);
                goto out;
            }
            if (strcmp(bus->doors[k].sensor, d->sensor) == 0) {
                rc = cfg_fail(err, dp, "sensor \"%s\" is listed twice (also %s[%zu])", d->sensor,
                              mp, k);
                goto out;
            }
        }
        bus->door_count++;
    }
    *state_out = bus;
    bus = NULL;
    rc = 0;
out:
    bus_free(bus);
    return rc;
}

static int bus_open(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out)
{
    static const struct gpio_env real = {
        .ops = &gpio_ops_libgpiod,
        .mono_ms = clock_mono_ms,
        .wall_ms = clock_wall_ms,
    };
    return gpio_adapter_open_env(&real, cfg, path, err, state_out);
}

static void bus_close(void *state)
{
    struct gpio_bus *bus = state;
    if (!bus)
        return;
    /* run() closes the chip before it returns; this only matters if it never ran to the end. */
    if (bus->chip)
        bus->env.ops->chip_close(bus->chip);
    bus_free(bus);
}

static int bus_for_each_point(const void *state, sensor_point_fn fn, void *arg)
{
    const struct gpio_bus *bus = state;
    for (size_t i = 0; i < bus->door_count; i++) {
        char doors[CFG_PATH_CAP], door[CFG_PATH_CAP], sensor[CFG_PATH_CAP];
        cfg_path_key(doors, sizeof(doors), bus->path, "doors");
        cfg_path_index(door, sizeof(door), doors, i);
        cfg_path_key(sensor, sizeof(sensor), door, "sensor");
        int rc = fn(arg, bus->doors[i].sensor, QUANTITY_DOOR, sensor);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char *bus_name(const void *state)
{
    return ((const struct gpio_bus *)state)->name;
}

/* ---- run ------------------------------------------------------------------------------- */

static void emit(struct gpio_bus *bus, struct sensor_ctx *ctx, struct door *d, double value,
                 uint8_t flags)
{
    struct reading r = {
        .quantity = QUANTITY_DOOR, .flags = flags, .value = value, .ts_ms = bus->env.wall_ms()};
    memcpy(r.sensor_id, d->sensor, sizeof(r.sensor_id));
    sensor_emit(ctx, &r);
}

/* Gives a door's line back. When no door holds a line any more the chip is closed too, so the
 * next attempt reopens it: a GPIO expander that was unplugged and plugged back is a new chip. */
static void door_release(struct gpio_bus *bus, struct door *d)
{
    if (d->line) {
        bus->env.ops->release(d->line);
        d->line = NULL;
    }
    d->settling = false;
    for (size_t i = 0; i < bus->door_count; i++) {
        if (bus->doors[i].line)
            return;
    }
    if (bus->chip) {
        bus->env.ops->chip_close(bus->chip);
        bus->chip = NULL;
    }
}

/* Records a fault: a fault reading now, the next attempt a heartbeat later. what names the
 * step that failed, for the log. */
static void door_fault(struct gpio_bus *bus, struct sensor_ctx *ctx, struct door *d, int err,
                       const char *what, int64_t now_mono_ms)
{
    door_release(bus, d);
    bool changed = err != d->last_err;
    if (changed)
        d->faults = 0;
    d->faults++;
    /* Logged when it starts or changes, then after 2, 4, 8, ... fault readings. */
    if ((d->faults & (d->faults - 1)) == 0)
        sensor_log(ctx, LOG_WARNING,
                   "gpio[%s/%s line %u]: %s%s failed: %s; %s recorded as a fault (%" PRIu64
                   " in a row), retrying every %" PRId64 " ms",
                   bus->name, bus->chip_name, d->line_offset, changed ? "" : "still: ", what,
                   strerror(-err), d->sensor, d->faults, bus->heartbeat_ms);
    d->last_err = err;
    d->emitted = EMITTED_FAULT;
    d->due_mono_ms = now_mono_ms + bus->heartbeat_ms;
    emit(bus, ctx, d, (double)NAN, READING_FAULT);
}

/* Opens the chip if needed and requests the door's line for events. 0 or a negative errno,
 * with *what naming the step that failed. */
static int door_request(struct gpio_bus *bus, struct door *d, const char **what)
{
    const struct gpio_ops *ops = bus->env.ops;
    struct gpiod_line *line = NULL;
    int rc;
    if (!bus->chip) {
        *what = "opening the chip";
        rc = ops->chip_open(bus->chip_name, &bus->chip);
        if (rc < 0) {
            bus->chip = NULL;
            return rc;
        }
    }
    *what = "getting the line";
    rc = ops->get_line(bus->chip, d->line_offset, &line);
    if (rc < 0)
        return rc;
    *what = "requesting the line";
    rc = ops->request_events(line, GPIO_OPS_CONSUMER, d->flags);
    if (rc < 0)
        return rc;
    d->line = line;
    return 0;
}

/* Reads the line and emits its state when it changed or when force (a heartbeat) says so. */
static void door_sample(struct gpio_bus *bus, struct sensor_ctx *ctx, struct door *d, bool force,
                        int64_t now_mono_ms)
{
    int value = 0;
    int rc = bus->env.ops->get_value(d->line, &value);
    if (rc < 0) {
        door_fault(bus, ctx, d, rc, "reading the line", now_mono_ms);
        return;
    }
    int state = value ? EMITTED_OPEN : EMITTED_CLOSED;
    if (d->last_err != 0) {
        sensor_log(ctx, LOG_INFO,
                   "gpio[%s/%s line %u]: %s reads again (%s) after %" PRIu64 " fault reading(s)",
                   bus->name, bus->chip_name, d->line_offset, d->sensor,
                   state == EMITTED_OPEN ? "open" : "closed", d->faults);
        d->last_err = 0;
        d->faults = 0;
    }
    if (state == d->emitted && !force)
        return;
    if (state != d->emitted && d->emitted != EMITTED_NONE)
        sensor_log(ctx, LOG_DEBUG, "gpio[%s/%s line %u]: %s %s (%" PRIu64 " edge(s) so far)",
                   bus->name, bus->chip_name, d->line_offset, d->sensor,
                   state == EMITTED_OPEN ? "opened" : "closed", d->edges);
    d->emitted = state;
    d->due_mono_ms = now_mono_ms + bus->heartbeat_ms;
    emit(bus, ctx, d, state == EMITTED_OPEN ? 1.0 : 0.0, 0);
}

/* Does whatever is due at now: requests (and first reads) lines that are not held, reads lines
 * that have settled after edges, re-emits on heartbeats. Each step moves the door's deadline
 * past now, so the loop never spins. */
static void bus_service(struct gpio_bus *bus, struct sensor_ctx *ctx, int64_t now_mono_ms)
{
    for (size_t i = 0; i < bus->door_count && !sensor_stopping(ctx); i++) {
        struct door *d = &bus->doors[i];
        if (!d->line) {
            if (now_mono_ms < d->due_mono_ms)
                continue;
            const char *what = "";
            int rc = door_request(bus, d, &what);
            if (rc < 0)
                door_fault(bus, ctx, d, rc, what, now_mono_ms);
            else
                door_sample(bus, ctx, d, true, now_mono_ms);
        } else if (d->settling) {
            if (now_mono_ms < d->settle_mono_ms)
                continue;
            d->settling = false;
            door_sample(bus, ctx, d, now_mono_ms >= d->due_mono_ms, now_mono_ms);
        } else if (now_mono_ms >= d->due_mono_ms) {
            door_sample(bus, ctx, d, true, now_mono_ms);
        }
    }
}

/* The earliest deadline bus_service() will act on. */
static int64_t bus_next_deadline(const struct gpio_bus *bus)
{
    int64_t next = INT64_MAX;
    for (size_t i = 0; i < bus->door_count; i++) {
        const struct door *d = &bus->doors[i];
        int64_t t = d->line && d->settling ? d->settle_mono_ms : d->due_mono_ms;
        if (t < next)
            next = t;
    }
    return next;
}

/* An edge (or a burst of them) on a door's line: (re)start the quiet period. */
static void door_edges(struct door *d, int count, int64_t now_mono_ms)
{
    d->edges += (uint64_t)count;
    if (!d->settling) {
        d->settling = true;
        d->first_edge_mono_ms = now_mono_ms;
    }
    int64_t quiet = now_mono_ms + d->debounce_ms;
    int64_t cap = d->first_edge_mono_ms + SETTLE_CAP_FACTOR * d->debounce_ms;
    d->settle_mono_ms = quiet < cap ? quiet : cap;
}

/* Waits up to wait_ms for edges on the held lines and handles them. */
static void bus_wait(struct gpio_bus *bus, struct sensor_ctx *ctx, int64_t wait_ms)
{
    const struct gpio_ops *ops = bus->env.ops;
    struct gpiod_line *lines[MAX_DOORS];
    size_t index[MAX_DOORS];
    bool ready[MAX_DOORS];
    size_t n = 0;
    for (size_t i = 0; i < bus->door_count; i++) {
        if (bus->doors[i].line) {
            lines[n] = bus->doors[i].line;
            index[n++] = i;
        }
    }
    if (n == 0) {
        /* Nothing to wait on: sleep until the next attempt (wakes at once on stop). */
        sensor_sleep_until(ctx, bus->env.mono_ms() + wait_ms);
        return;
    }
    int rc = ops->event_wait(lines, n, (int)wait_ms, ready);
    int64_t now_mono_ms = bus->env.mono_ms();
    if (rc == -EINTR || rc == 0)
        return;
    if (rc < 0) {
        /* The wait covers every held line: they are all unwatched now. */
        for (size_t k = 0; k < n; k++)
            door_fault(bus, ctx, &bus->doors[index[k]], rc, "waiting for edges", now_mono_ms);
        return;
    }
    for (size_t k = 0; k < n; k++) {
        if (!ready[k])
            continue;
        struct door *d = &bus->doors[index[k]];
        int count = ops->event_read(d->line);
        if (count < 0)
            door_fault(bus, ctx, d, count, "reading edges", now_mono_ms);
        else
            door_edges(d, count, now_mono_ms);
    }
}

static int bus_run(void *state, struct sensor_ctx *ctx)
{
    struct gpio_bus *bus = state;
    if (!bus || !ctx)
        return -EINVAL;
    int64_t now_mono_ms = bus->env.mono_ms();
    for (size_t i = 0; i < bus->door_count; i++) {
        struct door *d = &bus->doors[i];
        d->line = NULL;
        d->settling = false;
        d->due_mono_ms = now_mono_ms; /* request and read every door at once */
        d->emitted = EMITTED_NONE;
        d->last_err = 0;
        d->faults = 0;
        d->edges = 0;
    }
    sensor_log(ctx, LOG_INFO,
               "gpio[%s]: watching %zu door(s) on %s, heartbeat every %" PRId64 " ms", bus->name,
               bus->door_count, bus->chip_name, bus->heartbeat_ms);
    while (!sensor_stopping(ctx)) {
        now_mono_ms = bus->env.mono_ms();
        bus_service(bus, ctx, now_mono_ms);
        if (sensor_stopping(ctx))
            break;
        int64_t wait_ms = bus_next_deadline(bus) - now_mono_ms;
        if (wait_ms < 0)
            wait_ms = 0;
        if (wait_ms > WAIT_MAX_MS)
            wait_ms = WAIT_MAX_MS;
        bus_wait(bus, ctx, wait_ms);
    }
    for (size_t i = 0; i < bus->door_count; i++) {
        if (bus->doors[i].line) {
            bus->env.ops->release(bus->doors[i].line);
            bus->doors[i].line = NULL;
        }
    }
    if (bus->chip) {
        bus->env.ops->chip_close(bus->chip);
        bus->chip = NULL;
    }
    return 0;
}

const struct sensor_adapter gpio_adapter = {
    .type = "gpio",
    .open = bus_open,
    .run = bus_run,
    .close = bus_close,
    .for_each_point = bus_for_each_point,
    .name = bus_name,
};
