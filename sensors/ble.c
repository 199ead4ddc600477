/* BLE adapter: see ble.h for the config and the promises. */
#include "ble.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "ble_decode.h"
#include "btsnoop.h"
#include "clock.h"

#define DEFAULT_DEVICE "hci0"
#define DEFAULT_INTERVAL_MS 30000
#define MIN_INTERVAL_MS 1000
#define MAX_INTERVAL_MS (24 * 3600 * 1000)
#define DEFAULT_QUIET_MS (5 * 60 * 1000)
#define MIN_QUIET_MS 10000
#define MAX_QUIET_MS (24 * 3600 * 1000)
#define QUIET_BACKOFF_MAX 8 /* consecutive quiet restarts stretch the wait up to 8 x */
#define MAX_PROBES 64
#define READ_WAIT_MS 500    /* how long one read waits, so a stop is seen quickly */
#define COMMAND_TIMEOUT_MS 1000
#define IDLE_SLEEP_MS 3600000
#define FUTURE_NOTE_MS 60000

/* Scan interval and window, in 0.625 ms units: 30 ms both, so the radio listens all the time
 * (a thermometer advertises a few times a minute; none may be missed for long). */
#define SCAN_INTERVAL 0x0030
#define SCAN_WINDOW 0x0030

enum scan_mode { SCAN_AUTO, SCAN_ACTIVE, SCAN_PASSIVE };

/* A probe's configured format: which decoder reads it, the decoder's format names it accepts,
 * and whether it sends its data in scan responses (then the scan must be active). */
struct format {
    const char *name;
    int (*decode)(const struct ble_ad *ad, struct ble_values *out);
    const char *prefix; /* of ble_values.format */
    bool scan_response;
};

static const struct format formats[] = {
    {"ruuvi", ble_ruuvi_decode, "ruuvi", false},
    {"bthome", ble_bthome_decode, "bthome", false},
    {"pvvx", ble_xiaomi_decode, "pvvx", false},
    {"atc1441", ble_xiaomi_decode, "atc1441", false},
    {"govee", ble_govee_decode, "govee", true},
    {"inkbird", ble_inkbird_decode, "inkbird", true},
};
#define FORMAT_COUNT (sizeof(formats) / sizeof(formats[0]))
#define FORMAT_NAMES "ruuvi, bthome, pvvx, atc1441, govee or inkbird"

struct probe {
    uint8_t addr[6];                      /* MSB first, as printed */
    char text[18];                        /* "A4:C1:38:8D:18:B2" */
    char sensor[READING_SENSOR_ID_MAX];
    const struct format *format;          /* NULL: whatever decodes it */
    /* run state */
    bool seen;                            /* decoded at least once this run */
    bool have_counter;
    uint32_t counter;
    bool emitted;
    int64_t last_emit_ts_ms;
    int last_error;                       /* the last decoding problem logged; 0 when fine */
    uint64_t repeats, limited, bad;
};

struct ble_bus {
    struct ble_env env;
    char name[64];
    char path[CFG_PATH_CAP];
    char device[32];
    char replay[PATH_MAX];
    bool replay_now;
    bool active;
    int64_t interval_ms;
    int64_t quiet_ms;
    struct probe *probes;
    size_t probe_count;
    /* run state */
    struct sensor_ctx *ctx;
    int last_open_error;
    uint64_t reports, readings;
};

/* ---- config ---------------------------------------------------------------------------- */

static void bus_free(struct ble_bus *bus)
{
    if (!bus)
        return;
    free(bus->probes);
    free(bus);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "A4:C1:38:8D:18:B2" (either case) into bytes, MSB first, and the upper-case spelling. */
static int parse_address(const char *s, uint8_t addr[6], char text[18])
{
    if (strlen(s) != 17)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -EINVAL;
        addr[i] = (uint8_t)(hi << 4 | lo);
    }
    snprintf(text, 18, "%02X:%02X:%02X:%02X:%02X:%02X", addr[0], addr[1], addr[2], addr[3],
             addr[4], addr[5]);
    return 0;
}

static int parse_probe(const cJSON *item, const char *path, struct probe *p,
                       struct cfg_error *err)
{
    static const char *const keys[] = {"address", "sensor", "format", NULL};
    char mp[CFG_PATH_CAP];
    char address[32], format[16];
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(item, path, "address", true, NULL, address, sizeof(address), err);
    if (rc < 0)
        return rc;
    if (parse_address(address, p->addr, p->text) < 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "address"),
                        "expected a Bluetooth address such as \"A4:C1:38:8D:18:B2\", got "
                        "\"%.20s\"",
                        address);
    rc = cfg_get_string(item, path, "sensor", true, NULL, p->sensor, sizeof(p->sensor), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(p->sensor, sizeof(p->sensor)))
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "sensor"),
                        "expected a sensor id");
    rc = cfg_get_string(item, path, "format", false, "", format, sizeof(format), err);
    if (rc < 0)
        return rc;
    p->format = NULL;
    if (format[0] != '\0') {
        for (size_t i = 0; i < FORMAT_COUNT; i++) {
            if (strcmp(formats[i].name, format) == 0)
                p->format = &formats[i];
        }
        if (p->format == NULL)
            return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "format"),
                            "expected " FORMAT_NAMES ", got \"%.20s\"", format);
    }
    return 0;
}

static int parse_probes(const cJSON *cfg, const char *path, struct ble_bus *bus,
                        struct cfg_error *err)
{
    const cJSON *probes;
    char mp[CFG_PATH_CAP];
    int rc = cfg_get_array(cfg, path, "probes", true, &probes, err);
    if (rc < 0)
        return rc;
    int count = cJSON_GetArraySize(probes);
    cfg_path_key(mp, sizeof(mp), path, "probes");
    if (count < 1 || count > MAX_PROBES)
        return cfg_fail(err, mp, "expected 1 to %d probes, got %d", MAX_PROBES, count);
    bus->probes = calloc((size_t)count, sizeof(*bus->probes));
    if (!bus->probes)
        return -ENOMEM;
    const cJSON *item;
    cJSON_ArrayForEach(item, probes)
    {
        char pp[CFG_PATH_CAP];
        cfg_path_index(pp, sizeof(pp), mp, bus->probe_count);
        struct probe *p = &bus->probes[bus->probe_count];
        rc = parse_probe(item, pp, p, err);
        if (rc < 0)
            return rc;
        for (size_t k = 0; k < bus->probe_count; k++) {
            if (memcmp(bus->probes[k].addr, p->addr, sizeof(p->addr)) == 0)
                return cfg_fail(err, pp, "address %s is listed twice (also %s[%zu])", p->text,
                                mp, k);
            /* Two probes feeding one sensor would interleave two fridges' temperatures. */
            if (strcmp(bus->probes[k].sensor, p->sensor) == 0) {
                char sp[CFG_PATH_CAP];
                return cfg_fail(err, cfg_path_key(sp, sizeof(sp), pp, "sensor"),
                                "sensor \"%s\" is already read by %s[%zu]", p->sensor, mp, k);
            }
        }
        bus->probe_count++;
    }
    return 0;
}

static int parse_source(const cJSON *cfg, const char *path, struct ble_bus *bus,
                        struct cfg_error *err)
{
    char mp[CFG_PATH_CAP], start[16];
    bool has_device = cJSON_GetObjectItemCaseSensitive(cfg, "device") != NULL;
    bool has_replay = cJSON_GetObjectItemCaseSensitive(cfg, "replay") != NULL;
    if (has_device && has_replay)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "replay"),
                        "a bus reads either a controller (\"device\") or a capture file "
                        "(\"replay\"), not both");
    int rc = cfg_get_string(cfg, path, "device", false, DEFAULT_DEVICE, bus->device,
                            sizeof(bus->device), err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "replay", false, "", bus->replay, sizeof(bus->replay),
                            err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "replay_start", false, "recorded", start, sizeof(start),
                            err);
    if (rc < 0)
        return rc;
    if (has_replay && bus->replay[0] == '\0')
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "replay"),
                        "expected the path of a btsnoop file (btmon -w)");
    if (strcmp(start, "recorded") != 0 && strcmp(start, "now") != 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "replay_start"),
                        "expected \"recorded\" or \"now\", got \"%.20s\"", start);
    if (!has_replay && cJSON_GetObjectItemCaseSensitive(cfg, "replay_start") != NULL)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "replay_start"),
                        "only a bus with \"replay\" has a replay start");
    bus->replay_now = strcmp(start, "now") == 0;
    if (!has_replay && strncmp(bus->device, "hci", 3) != 0 &&
        parse_address(bus->device, (uint8_t[6]){0}, (char[18]){0}) < 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "device"),
                        "expected a controller such as \"hci0\" or its address, got \"%.20s\"",
                        bus->device);
    return 0;
}

static int parse_scan(const cJSON *cfg, const char *path, struct ble_bus *bus,
                      struct cfg_error *err)
{
    char scan[16], mp[CFG_PATH_CAP];
    int rc = cfg_get_string(cfg, path, "scan", false, "auto", scan, sizeof(scan), err);
    if (rc < 0)
        return rc;
    if (strcmp(scan, "active") == 0) {
        bus->active = true;
    } else if (strcmp(scan, "passive") == 0) {
        bus->active = false;
        for (size_t i = 0; i < bus->probe_count; i++) {
            const struct format *f = bus->probes[i].format;
            if (f != NULL && f->scan_response)
                return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "scan"),
                                "probe %s (%s) sends its data in scan responses, which a "
                                "passive scan never asks for: use \"active\" or \"auto\"",
                                bus->probes[i].text, f->name);
        }
    } else if (strcmp(scan, "auto") == 0) {
        /* Active unless every probe is known to put its data in the advert itself. */
        bus->active = false;
        for (size_t i = 0; i < bus->probe_count; i++) {
            const struct format *f = bus->probes[i].format;
            if (f == NULL || f->scan_response)
                bus->active = true;
        }
    } else {
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "scan"),
                        "expected \"auto\", \"active\" or \"passive\", got \"%.20s\"", scan);
    }
    return 0;
}

int ble_adapter_open_env(const struct ble_env *env, const cJSON *cfg, const char *path,
                         struct cfg_error *err, void **state_out)
{
    static const char *const keys[] = {"name",  "type",     "device",        "replay",
                                       "replay_start", "scan", "interval", "quiet_restart",
                                       "probes", NULL};
    if (!env || !cfg || !path || !state_out)
        return -EINVAL;
    *state_out = NULL;
    struct ble_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    bus->env = *env;
    snprintf(bus->path, sizeof(bus->path), "%s", path);
    int rc = cfg_check_keys(cfg, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "name", true, NULL, bus->name, sizeof(bus->name), err);
    if (rc == 0)
        rc = parse_source(cfg, path, bus, err);
    if (rc == 0)
        rc = cfg_get_duration(cfg, path, "interval", false, DEFAULT_INTERVAL_MS,
                              MIN_INTERVAL_MS, MAX_INTERVAL_MS, &bus->interval_ms, err);
    if (rc == 0)
        rc = cfg_get_duration(cfg, path, "quiet_restart", false, DEFAULT_QUIET_MS,
                              MIN_QUIET_MS, MAX_QUIET_MS, &bus->quiet_ms, err);
    if (rc == 0)
        rc = parse_probes(cfg, path, bus, err);
    if (rc == 0)
        rc = parse_scan(cfg, path, bus, err);
    if (rc < 0) {
        bus_free(bus);
        return rc;
    }
    *state_out = bus;
    return 0;
}

static int bus_open(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out)
{
    static const struct ble_env real = {
        .hci = &ble_hci_bluez,
        .mono_ms = clock_mono_ms,
        .wall_ms = clock_wall_ms,
    };
    return ble_adapter_open_env(&real, cfg, path, err, state_out);
}

static void bus_close(void *state)
{
    bus_free(state);
}

static int bus_for_each_point(const void *state, sensor_point_fn fn, void *arg)
{
    static const uint8_t quantities[] = {QUANTITY_TEMPERATURE, QUANTITY_HUMIDITY,
                                         QUANTITY_BATTERY};
    const struct ble_bus *bus = state;
    for (size_t i = 0; i < bus->probe_count; i++) {
        char probes[CFG_PATH_CAP], item[CFG_PATH_CAP], path[CFG_PATH_CAP];
        cfg_path_key(probes, sizeof(probes), bus->path, "probes");
        cfg_path_index(item, sizeof(item), probes, i);
        cfg_path_key(path, sizeof(path), item, "sensor");
        for (size_t q = 0; q < sizeof(quantities); q++) {
            int rc = fn(arg, bus->probes[i].sensor, quantities[q], path);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static const char *bus_name(const void *state)
{
    return ((const struct ble_bus *)state)->name;
}

/* ---- one advertising report ------------------------------------------------------------ */

struct report_ctx {
    struct ble_bus *bus;
    int64_t ts_ms; /* the report's wall-clock time */
};

static void emit(struct ble_bus *bus, const struct probe *p, uint8_t quantity, bool present,
                 bool fault, double value, int64_t ts_ms)
{
    if (!present && !fault)
        return; /* the format does not carry it */
    struct reading r = {.quantity = quantity, .ts_ms = ts_ms,
                        .value = fault ? (double)NAN : value,
                        .flags = fault ? READING_FAULT : 0};
    memcpy(r.sensor_id, p->sensor, sizeof(r.sensor_id));
    sensor_emit(bus->ctx, &r);
    bus->readings++;
}

/* A report from a probe that could not be read: logged when it starts or changes. */
static void note_bad(struct ble_bus *bus, struct probe *p, int error, const char *what)
{
    p->bad++;
    if (p->last_error == error)
        return;
    p->last_error = error;
    sensor_log(bus->ctx, LOG_WARNING, "ble[%s/%s]: %s: %s; ignored (%s gets no reading from it)",
               bus->name, p->text, p->sensor, what, p->sensor);
}

static struct probe *find_probe(struct ble_bus *bus, const uint8_t addr[6])
{
    for (size_t i = 0; i < bus->probe_count; i++) {
        if (memcmp(bus->probes[i].addr, addr, 6) == 0)
            return &bus->probes[i];
    }
    return NULL;
}

static int on_report(void *arg, const uint8_t addr[6], uint8_t addr_type, int8_t rssi,
                     const uint8_t *data, size_t data_len)
{
    (void)addr_type;
    struct report_ctx *rc = arg;
    struct ble_bus *bus = rc->bus;
    bus->reports++;
    struct probe *p = find_probe(bus, addr);
    if (p == NULL)
        return 0;

    struct ble_ad ad;
    struct ble_values v;
    if (ble_ad_parse(data, data_len, &ad) < 0) {
        note_bad(bus, p, -EBADMSG, "advertising data whose AD structures run past its end");
        return 0;
    }
    int r = p->format ? p->format->decode(&ad, &v) : ble_decode(&ad, &v);
    if (r == BLE_NOT_MINE) {
        /* An advert that only names the device (its scan response has the data) is no one's;
         * data another decoder reads means the configured format is wrong: say so, or the
         * sensor just goes stale with no reason given. */
        struct ble_values other;
        if (p->format && ble_decode(&ad, &other) == 0)
            note_bad(bus, p, 1, "it sends another format than the configured one");
        return 0;
    }
    if (r < 0) {
        note_bad(bus, p, r, p->format ? "malformed data in its format" : "malformed data");
        return 0;
    }
    if (p->format && strncmp(v.format, p->format->prefix, strlen(p->format->prefix)) != 0) {
        note_bad(bus, p, 1, "it sends another format than the configured one");
        return 0;
    }
    if (p->last_error != 0)
        sensor_log(bus->ctx, LOG_INFO, "ble[%s/%s]: %s decodes again after %" PRIu64
                   " bad reports", bus->name, p->text, p->sensor, p->bad);
    p->last_error = 0;
    if (!p->seen) {
        p->seen = true;
        sensor_log(bus->ctx, LOG_INFO, "ble[%s/%s]: %s found: %s, RSSI %d dBm", bus->name,
                   p->text, p->sensor, v.format, rssi);
    }

    /* The same packet counter is the same measurement sent again. */
    if (v.present & BLE_COUNTER) {
        bool repeat = p->have_counter && p->counter == v.counter;
        p->have_counter = true;
        p->counter = v.counter;
        if (repeat) {
            p->repeats++;
            return 0;
        }
    }
    /* At most one report per interval; a clock that stepped back starts it again. */
    if (p->emitted && rc->ts_ms >= p->last_emit_ts_ms &&
        rc->ts_ms - p->last_emit_ts_ms < bus->interval_ms) {
        p->limited++;
        return 0;
    }
    p->emitted = true;
    p->last_emit_ts_ms = rc->ts_ms;
    emit(bus, p, QUANTITY_TEMPERATURE, v.present & BLE_TEMPERATURE, v.faults & BLE_TEMPERATURE,
         v.temperature_c, rc->ts_ms);
    emit(bus, p, QUANTITY_HUMIDITY, v.present & BLE_HUMIDITY, v.faults & BLE_HUMIDITY,
         v.humidity_pct, rc->ts_ms);
    emit(bus, p, QUANTITY_BATTERY, v.present & BLE_BATTERY_PCT, v.faults & BLE_BATTERY_PCT,
         v.battery_pct, rc->ts_ms);
    return 0;
}

static void reset_run_state(struct ble_bus *bus, struct sensor_ctx *ctx)
{
    bus->ctx = ctx;
    bus->reports = 0;
    bus->readings = 0;
    for (size_t i = 0; i < bus->probe_count; i++) {
        struct probe *p = &bus->probes[i];
        /* The counter and the last emission stay: after a restart (a lost controller) the
         * measurement already sent must not be sent again as if it were new. */
        p->seen = false;
        p->last_error = 0;
        p->repeats = p->limited = p->bad = 0;
    }
}

/* ---- live: the raw HCI scan ------------------------------------------------------------ */

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFF);
    p[1] = (uint8_t)(v >> 8);
}

static int command(struct ble_bus *bus, struct ble_hci *h, uint16_t ocf, const uint8_t *param,
                   uint8_t len, uint8_t *status)
{
    return bus->env.hci->command(h, BLE_HCI_OGF_LE, ocf, param, len, status, COMMAND_TIMEOUT_MS);
}

static void log_command_error(struct ble_bus *bus, const char *what, int rc)
{
    sensor_log(bus->ctx, LOG_ERR, "ble[%s]: cannot %s on %s: %s%s", bus->name, what, bus->device,
               strerror(-rc),
               rc == -EPERM || rc == -EACCES
                   ? " (the daemon needs CAP_NET_RAW and CAP_NET_ADMIN: docs/sensors.md)"
                   : "");
}

/* Stops whatever scan runs, legacy or extended (either may be refused: that is fine). */
static void scan_stop(struct ble_bus *bus, struct ble_hci *h)
{
    uint8_t status;
    static const uint8_t legacy_off[2] = {0, 0};
    static const uint8_t ext_off[6] = {0, 0, 0, 0, 0, 0};
    command(bus, h, BLE_HCI_OCF_SET_SCAN_ENABLE, legacy_off, sizeof(legacy_off), &status);
    command(bus, h, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, ext_off, sizeof(ext_off), &status);
}

/* Starts the scan: legacy commands, or the extended ones where the controller refuses the
 * legacy ones (PROTOCOLS §1.9). 0 with *extended_out set, or a negative errno (logged). */
static int scan_start(struct ble_bus *bus, struct ble_hci *h, bool *extended_out)
{
    uint8_t type = bus->active ? 0x01 : 0x00;
    uint8_t status = 0;
    scan_stop(bus, h); /* a scan left running makes Set Scan Parameters fail (bluez#403) */

    uint8_t legacy[7] = {type, 0, 0, 0, 0, 0x00 /* public own address */, 0x00 /* accept all */};
    put_le16(legacy + 1, SCAN_INTERVAL);
    put_le16(legacy + 3, SCAN_WINDOW);
    int rc = command(bus, h, BLE_HCI_OCF_SET_SCAN_PARAMETERS, legacy, sizeof(legacy), &status);
    if (rc == 0 && status == BLE_HCI_STATUS_OK) {
        /* filter_dup 0: the controller must pass every advert on; repeats are dropped here by
         * their packet counter. */
        static const uint8_t on[2] = {0x01, 0x00};
        rc = command(bus, h, BLE_HCI_OCF_SET_SCAN_ENABLE, on, sizeof(on), &status);
        if (rc == 0 && status == BLE_HCI_STATUS_OK) {
            *extended_out = false;
            return 0;
        }
    }
    if (rc < 0) {
        log_command_error(bus, "start the scan", rc);
        return rc;
    }
    if (status != BLE_HCI_STATUS_COMMAND_DISALLOWED && status != BLE_HCI_STATUS_UNKNOWN_COMMAND) {
        sensor_log(bus->ctx, LOG_ERR, "ble[%s]: %s refused the legacy scan (HCI status 0x%02X)",
                   bus->name, bus->device, status);
        return -EIO;
    }
    sensor_log(bus->ctx, LOG_INFO, "ble[%s]: %s refuses the legacy scan commands (HCI status "
               "0x%02X, as after extended advertising): using the extended ones",
               bus->name, bus->device, status);
    uint8_t ext[8] = {0x00 /* public */, 0x00 /* accept all */, 0x01 /* LE 1M */, type,
                      0, 0, 0, 0};
    put_le16(ext + 4, SCAN_INTERVAL);
    put_le16(ext + 6, SCAN_WINDOW);
    rc = command(bus, h, BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS, ext, sizeof(ext), &status);
    if (rc == 0 && status == BLE_HCI_STATUS_OK) {
        static const uint8_t on[6] = {0x01, 0x00, 0, 0, 0, 0}; /* no duration, no period */
        rc = command(bus, h, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, on, sizeof(on), &status);
    }
    if (rc < 0) {
        log_command_error(bus, "start the extended scan", rc);
        return rc;
    }
    if (status != BLE_HCI_STATUS_OK) {
        sensor_log(bus->ctx, LOG_ERR, "ble[%s]: %s refused the extended scan too (HCI status "
                   "0x%02X)", bus->name, bus->device, status);
        return -EIO;
    }
    *extended_out = true;
    return 0;
}

static int start_listening(struct ble_bus *bus, struct ble_hci *h, bool *extended)
{
    int rc = scan_start(bus, h, extended);
    if (rc == 0) {
        rc = bus->env.hci->listen(h);
        if (rc < 0)
            log_command_error(bus, "listen for advertisements", rc);
    }
    return rc;
}

static int run_live(struct ble_bus *bus, struct sensor_ctx *ctx)
{
    const struct ble_hci_ops *ops = bus->env.hci;
    struct ble_hci *h = NULL;
    int rc = ops->open(bus->device, &h);
    if (rc < 0) {
        /* The gateway retries with back-off: say it once per cause, not per attempt. */
        if (rc != bus->last_open_error)
            sensor_log(ctx, LOG_ERR, "ble[%s]: cannot open the Bluetooth controller %s: %s%s",
                       bus->name, bus->device, strerror(-rc),
                       rc == -EAFNOSUPPORT ? " (this kernel has no Bluetooth)"
                       : rc == -ENODEV     ? " (no such controller: hciconfig lists them)"
                       : rc == -EPERM || rc == -EACCES
                           ? " (the daemon needs CAP_NET_RAW and CAP_NET_ADMIN)"
                           : "");
        bus->last_open_error = rc;
        return rc;
    }
    bus->last_open_error = 0;
    bool extended = false;
    rc = start_listening(bus, h, &extended);
    if (rc < 0) {
        ops->close(h);
        return rc;
    }
    sensor_log(ctx, LOG_INFO, "ble[%s]: scanning on %s (%s, %s commands) for %zu probe(s)",
               bus->name, bus->device, bus->active ? "active" : "passive",
               extended ? "extended" : "legacy", bus->probe_count);

    uint8_t buf[BTSNOOP_MAX_RECORD_LEN];
    int64_t heard_mono_ms = bus->env.mono_ms(); /* the watchdog's reference: report or restart */
    int64_t report_mono_ms = heard_mono_ms;      /* the last report (or the start), for the log */
    unsigned quiet_restarts = 0; /* in a row, without a report in between */
    uint64_t restarts_total = 0;
    while (!sensor_stopping(ctx)) {
        int n = ops->read(h, buf, sizeof(buf), READ_WAIT_MS);
        if (n < 0) {
            sensor_log(ctx, LOG_ERR, "ble[%s]: lost %s: %s", bus->name, bus->device,
                       strerror(-n));
            rc = n;
            break;
        }
        int64_t now_mono_ms = bus->env.mono_ms();
        if (n > 0) {
            struct report_ctx r = {.bus = bus, .ts_ms = bus->env.wall_ms()};
            int reports = hci_le_adv_reports(buf, (size_t)n, BTSNOOP_DATALINK_UART, 0,
                                             on_report, &r);
            if (reports > 0) {
                if (quiet_restarts > 0)
                    sensor_log(ctx, LOG_INFO, "ble[%s]: advertisements heard again on %s "
                               "after %" PRId64 " s of silence", bus->name, bus->device,
                               (now_mono_ms - report_mono_ms) / 1000);
                quiet_restarts = 0;
                heard_mono_ms = report_mono_ms = now_mono_ms;
            }
            continue;
        }
        /* Nothing at all from any device: the scan may have died silently. Consecutive
         * restarts wait longer each time (no device in range is not worth a log line a
         * minute). */
        unsigned factor = quiet_restarts < 3 ? 1u << quiet_restarts : QUIET_BACKOFF_MAX;
        if (now_mono_ms - heard_mono_ms < bus->quiet_ms * factor)
            continue;
        quiet_restarts++;
        restarts_total++;
        sensor_log(ctx, LOG_WARNING, "ble[%s]: no advertisement from any device on %s for %" PRId64
                   " s; restarting the scan (restart %" PRIu64 ")", bus->name, bus->device,
                   (now_mono_ms - report_mono_ms) / 1000, restarts_total);
        rc = start_listening(bus, h, &extended);
        if (rc < 0)
            break;
        heard_mono_ms = bus->env.mono_ms(); /* the next check is a longer period away */
    }
    scan_stop(bus, h);
    ops->close(h);
    sensor_log(ctx, LOG_INFO, "ble[%s]: scan on %s stopped: %" PRIu64 " reports, %" PRIu64
               " readings, %" PRIu64 " quiet restarts", bus->name, bus->device, bus->reports,
               bus->readings, restarts_total);
    return sensor_stopping(ctx) ? 0 : (rc < 0 ? rc : -EIO);
}

/* ---- replay: a btsnoop file ------------------------------------------------------------ */

/* Sleeps until the wall clock reaches wall_ms (by the monotonic clock, so a clock step does
 * not stall it). False when stop was asked. */
static bool wait_until_wall(struct ble_bus *bus, struct sensor_ctx *ctx, int64_t wall_ms)
{
    int64_t ahead = wall_ms - bus->env.wall_ms();
    if (ahead <= 0)
        return !sensor_stopping(ctx);
    return sensor_sleep_until(ctx, bus->env.mono_ms() + ahead);
}

static int replay_file(struct ble_bus *bus, struct sensor_ctx *ctx, const uint8_t *buf,
                       size_t len)
{
    uint32_t datalink = 0;
    int rc = btsnoop_header(buf, len, &datalink);
    if (rc == -EPROTONOSUPPORT) {
        sensor_log(ctx, LOG_ERR, "ble[%s]: %s: btsnoop datalink %" PRIu32 " is not one this "
                   "reader knows (1001, 1002, 2001 from btmon -w)", bus->name, bus->replay,
                   datalink);
        return rc;
    }
    if (rc < 0) {
        sensor_log(ctx, LOG_ERR, "ble[%s]: %s is not a btsnoop file (btmon -w writes one)",
                   bus->name, bus->replay);
        return rc;
    }
    size_t offset = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    uint64_t records = 0, bad_events = 0;
    int64_t shift_ms = 0;
    bool first = true;
    while ((rc = btsnoop_next(buf, len, &offset, &rec)) == 0) {
        records++;
        int count = hci_le_adv_reports(rec.data, rec.len, datalink, rec.flags, NULL, NULL);
        if (count < 0)
            bad_events++;
        if (count <= 0)
            continue; /* btmon's notes, commands, other events */
        if (first) {
            first = false;
            int64_t now_ms = bus->env.wall_ms();
            if (bus->replay_now)
                shift_ms = now_ms - rec.ts_ms;
            else if (rec.ts_ms - now_ms > FUTURE_NOTE_MS)
                sensor_log(ctx, LOG_INFO, "ble[%s]: %s starts %" PRId64 " s from now; "
                           "waiting for its recorded time", bus->name, bus->replay,
                           (rec.ts_ms - now_ms) / 1000);
        }
        struct report_ctx r = {.bus = bus, .ts_ms = rec.ts_ms + shift_ms};
        if (!wait_until_wall(bus, ctx, r.ts_ms))
            return 0;
        hci_le_adv_reports(rec.data, rec.len, datalink, rec.flags, on_report, &r);
    }
    if (rc < 0)
        sensor_log(ctx, LOG_ERR, "ble[%s]: %s: the record at byte %zu is malformed or cut "
                   "short; the rest of the file is not read", bus->name, bus->replay, offset);
    sensor_log(ctx, LOG_INFO, "ble[%s]: replay of %s finished: %" PRIu64 " records, %" PRIu64
               " advertising reports, %" PRIu64 " readings%s", bus->name, bus->replay, records,
               bus->reports, bus->readings,
               bad_events ? " (some malformed HCI events skipped)" : "");
    for (size_t i = 0; i < bus->probe_count; i++) {
        const struct probe *p = &bus->probes[i];
        if (!p->seen)
            sensor_log(ctx, LOG_WARNING, "ble[%s/%s]: %s is not in %s", bus->name, p->text,
                       p->sensor, bus->replay);
    }
    return 0;
}

static int run_replay(struct ble_bus *bus, struct sensor_ctx *ctx)
{
    int fd = open(bus->replay, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        sensor_log(ctx, LOG_ERR, "ble[%s]: cannot open %s: %s", bus->name, bus->replay,
                   strerror(-rc));
        return rc;
    }
    struct stat st;
    int rc = 0;
    void *map = MAP_FAILED;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
    } else if (st.st_size < BTSNOOP_HEADER_LEN) {
        rc = -EBADMSG;
        sensor_log(ctx, LOG_ERR, "ble[%s]: %s is too short for a btsnoop file", bus->name,
                   bus->replay);
    } else {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED)
            rc = -errno;
    }
    close(fd);
    if (rc == 0) {
        rc = replay_file(bus, ctx, map, (size_t)st.st_size);
        munmap(map, (size_t)st.st_size);
    } else if (rc != -EBADMSG) {
        sensor_log(ctx, LOG_ERR, "ble[%s]: cannot read %s: %s", bus->name, bus->replay,
                   strerror(-rc));
    }
    /* A capture is played once: idle until the gateway stops, whatever happened, so nothing
     * is ever sent twice (run() returning would make the gateway start it over). */
    while (sensor_sleep_until(ctx, bus->env.mono_ms() + IDLE_SLEEP_MS))
        ;
    return 0;
}

static int bus_run(void *state, struct sensor_ctx *ctx)
{
    struct ble_bus *bus = state;
    if (!bus || !ctx)
        return -EINVAL;
    reset_run_state(bus, ctx);
    return bus->replay[0] != '\0' ? run_replay(bus, ctx) : run_live(bus, ctx);
}

const struct sensor_adapter ble_adapter = {
    .type = "ble",
    .open = bus_open,
    .run = bus_run,
    .close = bus_close,
    .for_each_point = bus_for_each_point,
    .name = bus_name,
};
