/* w1 sysfs adapter: see w1.h for the config and the promises. */
#include "w1.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "w1_decode.h"

#define DEFAULT_ROOT "/sys/bus/w1/devices"
#define DEFAULT_POLL_MS 10000
#define MIN_POLL_MS 1000
#define MAX_POLL_MS (24 * 3600 * 1000)
#define MAX_PROBES 256
#define FILE_MAX_BYTES 256 /* w1_slave is 76 bytes; anything longer is not w1_therm's */

struct probe {
    char id[16];                          /* "28-000006b67845" */
    uint8_t family;
    char sensor[READING_SENSOR_ID_MAX];
    char path[PATH_MAX];
    int last_fault;                       /* enum w1_fault, or -errno of the read; 0 when fine */
    uint64_t faults;                      /* fault readings emitted */
};

struct w1_bus {
    char name[64];
    char path[CFG_PATH_CAP]; /* the bus's JSON path, for for_each_point */
    char root[PATH_MAX - 32];
    char file[16];
    bool temperature_file;
    int64_t poll_interval_ms;
    struct probe *probes;
    size_t probe_count;
};

static void bus_free(struct w1_bus *bus)
{
    if (!bus)
        return;
    free(bus->probes);
    free(bus);
}

static int parse_probe(const cJSON *item, const char *path, struct w1_bus *bus,
                       struct probe *p, struct cfg_error *err)
{
    static const char *const keys[] = {"id", "sensor", NULL};
    char mp[CFG_PATH_CAP];
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(item, path, "id", true, NULL, p->id, sizeof(p->id), err);
    if (rc < 0)
        return rc;
    if (w1_parse_id(p->id, &p->family) < 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "id"),
                        "expected a 1-Wire device folder name such as \"28-000006b67845\", "
                        "got \"%.20s\"",
                        p->id);
    rc = cfg_get_string(item, path, "sensor", true, NULL, p->sensor, sizeof(p->sensor), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(p->sensor, sizeof(p->sensor)))
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "sensor"),
                        "expected a sensor id");
    int n = snprintf(p->path, sizeof(p->path), "%s/%s/%s", bus->root, p->id, bus->file);
    if (n < 0 || (size_t)n >= sizeof(p->path))
        return cfg_fail(err, path, "the probe's path under root is too long");
    return 0;
}

static int bus_open(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out)
{
    static const char *const keys[] = {"name", "type", "root", "file", "poll_interval", "probes",
                                       NULL};
    char mp[CFG_PATH_CAP];
    const cJSON *probes;
    int rc;
    if (!cfg || !path || !state_out)
        return -EINVAL;
    *state_out = NULL;
    struct w1_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    snprintf(bus->path, sizeof(bus->path), "%s", path);
    rc = cfg_check_keys(cfg, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "name", true, NULL, bus->name, sizeof(bus->name), err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "root", false, DEFAULT_ROOT, bus->root, sizeof(bus->root),
                            err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "file", false, "w1_slave", bus->file, sizeof(bus->file),
                            err);
    if (rc < 0)
        goto out;
    if (strcmp(bus->file, "w1_slave") != 0 && strcmp(bus->file, "temperature") != 0) {
        rc = cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "file"),
                      "expected \"w1_slave\" or \"temperature\", got \"%.20s\"", bus->file);
        goto out;
    }
    bus->temperature_file = strcmp(bus->file, "temperature") == 0;
    if (bus->root[0] != '/') {
        rc = cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "root"),
                      "expected an absolute folder such as \"" DEFAULT_ROOT "\"");
        goto out;
    }
    rc = cfg_get_duration(cfg, path, "poll_interval", false, DEFAULT_POLL_MS, MIN_POLL_MS,
                          MAX_POLL_MS, &bus->poll_interval_ms, err);
    if (rc == 0)
        rc = cfg_get_array(cfg, path, "probes", true, &probes, err);
    if (rc < 0)
        goto out;
    int count = cJSON_GetArraySize(probes);
    cfg_path_key(mp, sizeof(mp), path, "probes");
    if (count < 1 || count > MAX_PROBES) {
        rc = cfg_fail(err, mp, "expected 1 to %d probes, got %d", MAX_PROBES, count);
        goto out;
    }
    bus->probes = calloc((size_t)count, sizeof(*bus->probes));
    if (!bus->probes) {
        rc = -ENOMEM;
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, probes)
    {
        char pp[CFG_PATH_CAP];
        cfg_path_index(pp, sizeof(pp), mp, bus->probe_count);
        rc = parse_probe(item, pp, bus, &bus->probes[bus->probe_count], err);
        if (rc < 0)
            goto out;
        for (size_t k = 0; k < bus->probe_count; k++) {
            const struct probe *p = &bus->probes[bus->probe_count];
            if (strcmp(bus->probes[k].id, p->id) == 0) {
                rc = cfg_fail(err, pp, "probe \"%s\" is listed twice (also %s[%zu])",
                              bus->probes[k].id, mp, k);
                goto out;
            }
            /* Two probes feeding one sensor would give it two temperatures per poll. */
            if (strcmp(bus->probes[k].sensor, p->sensor) == 0) {
                char sp[CFG_PATH_CAP];
                rc = cfg_fail(err, cfg_path_key(sp, sizeof(sp), pp, "sensor"),
                              "sensor \"%s\" is already read by %s[%zu]", p->sensor, mp, k);
                goto out;
            }
        }
        bus->probe_count++;
    }
    *state_out = bus;
    bus = NULL;
    rc = 0;
out:
    bus_free(bus);
    return rc;
}

static void bus_close(void *state)
{
    bus_free(state);
}

static int bus_for_each_point(const void *state, sensor_point_fn fn, void *arg)
{
    const struct w1_bus *bus = state;
    for (size_t i = 0; i < bus->probe_count; i++) {
        char probes[CFG_PATH_CAP], item[CFG_PATH_CAP], path[CFG_PATH_CAP];
        cfg_path_key(probes, sizeof(probes), bus->path, "probes");
        cfg_path_index(item, sizeof(item), probes, i);
        cfg_path_key(path, sizeof(path), item, "sensor");
        int rc = fn(arg, bus->probes[i].sensor, QUANTITY_TEMPERATURE, path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char *bus_name(const void *state)
{
    return ((const struct w1_bus *)state)->name;
}

/* Reads the whole (small) file. The bytes read (>= 0; 0 is what current kernels give after a
 * failed conversion) or -errno. */
static ssize_t read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t len = 0;
    while (len < cap) {
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            return -e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    return (ssize_t)len;
}

static void read_probe(struct w1_bus *bus, struct probe *p, struct sensor_ctx *ctx)
{
    char buf[FILE_MAX_BYTES];
    double temp_c = (double)NAN;
    ssize_t n = read_file(p->path, buf, sizeof(buf));
    int fault;
    if (n < 0)
        fault = (int)n;
    else if (bus->temperature_file)
        fault = w1_decode_temperature(buf, (size_t)n, &temp_c);
    else
        fault = w1_decode_slave(buf, (size_t)n, p->family, &temp_c);

    struct reading r = {.quantity = QUANTITY_TEMPERATURE, .ts_ms = clock_wall_ms(),
                        .value = fault == W1_OK ? temp_c : (double)NAN,
                        .flags = fault == W1_OK ? 0 : READING_FAULT};
    memcpy(r.sensor_id, p->sensor, sizeof(r.sensor_id));

    /* A fault is logged when it starts or changes, and once more when it clears; the readings
     * themselves carry every occurrence. */
    if (fault != p->last_fault) {
        if (fault == W1_OK)
            sensor_log(ctx, LOG_INFO, "w1[%s/%s]: %s reads again (%.3f °C) after %" PRIu64
                       " fault readings", bus->name, p->id, p->sensor, temp_c, p->faults);
        else if (fault < 0)
            sensor_log(ctx, LOG_WARNING, "w1[%s/%s]: cannot read %s: %s%s; %s recorded as a "
                       "fault", bus->name, p->id, p->path, strerror(-fault),
                       fault == -ENOENT ? " (probe not on the bus)" : "", p->sensor);
        else
            sensor_log(ctx, LOG_WARNING, "w1[%s/%s]: %s; %s recorded as a fault", bus->name,
                       p->id, w1_fault_name((enum w1_fault)fault), p->sensor);
        if (fault == W1_OK)
            p->faults = 0;
        p->last_fault = fault;
    }
    if (fault != W1_OK)
        p->faults++;
    sensor_emit(ctx, &r);
}

static int bus_run(void *state, struct sensor_ctx *ctx)
{
    struct w1_bus *bus = state;
    if (!bus || !ctx)
        return -EINVAL;
    for (size_t i = 0; i < bus->probe_count; i++) {
        bus->probes[i].last_fault = 0;
        bus->probes[i].faults = 0;
    }
    sensor_log(ctx, LOG_INFO, "w1[%s]: reading %zu probe(s) under %s every %" PRId64 " ms",
               bus->name, bus->probe_count, bus->root, bus->poll_interval_ms);
    int64_t deadline_ms = clock_mono_ms();
    while (sensor_sleep_until(ctx, deadline_ms)) {
        for (size_t i = 0; i < bus->probe_count && !sensor_stopping(ctx); i++)
            read_probe(bus, &bus->probes[i], ctx);
        deadline_ms += bus->poll_interval_ms;
        /* Slow probes (750 ms each at 12 bits) may take longer than the interval: skip the
         * missed polls rather than read back to back. */
        int64_t now_ms = clock_mono_ms();
        if (deadline_ms < now_ms)
            deadline_ms = now_ms + bus->poll_interval_ms;
    }
    return 0;
}

const struct sensor_adapter w1_adapter = {
    .type = "w1",
    .open = bus_open,
    .run = bus_run,
    .close = bus_close,
    .for_each_point = bus_for_each_point,
    .name = bus_name,
};
