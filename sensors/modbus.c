/* The Modbus adapters (modbus.h): config, the poll loop of a bus thread, and the libmodbus edge.
 *
 * Every poll gives every configured point exactly one reading: its decoded value, or a
 * READING_FAULT with value NaN when it could not be read — never an old or made-up value
 * (DESIGN §4). The transport is a small const table (struct modbus_link) selected by the bus
 * type, so "modbus-rtu" is a second table and a second adapter entry, not a rewrite.
 *
 * libmodbus is called only from the bus thread (run) and only through read_block() and
 * try_connect(), where its -1 + errno is translated to a negative errno and its message is kept
 * for the log (STYLE §5). */
#include "modbus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
/* Spelt with its directory: pkg-config's -I.../include/modbus comes after sensors/ on the
 * command line, so a bare <modbus.h> would find our own modbus.h. */
#include <modbus/modbus.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "clock.h"
#include "modbus_decode.h"

#define BUS_NAME_MAX 64 /* the gateway's identifiers are at most 63 characters */
#define HOST_MAX 254    /* a DNS name has at most 253 characters */
#define WORD_MAX 32     /* longest accepted enum word ("temperature", "float32", ...) */
#define MAX_DEVICES 247 /* one per RS-485 address behind a gateway */
#define MAX_BUS_POINTS 1024
/* A fault that repeats is logged when it starts, then after this long, doubling up to the
 * maximum, and once when it clears (STYLE §7). */
#define FAULT_LOG_FIRST_MS 60000
#define FAULT_LOG_MAX_MS 3600000

#define DEFAULT_TCP_PORT 502
#define DEFAULT_POLL_MS 10000
#define MIN_POLL_MS 100
#define MAX_POLL_MS 86400000
#define DEFAULT_TIMEOUT_MS 1000
#define MIN_TIMEOUT_MS 10
#define MAX_TIMEOUT_MS 60000
#define DEFAULT_RETRIES 1
#define MAX_RETRIES 10
#define DEFAULT_RECONNECT_MIN_MS 1000
#define DEFAULT_RECONNECT_MAX_MS 60000
/* The XY-MD02's int16 x 10 is this adapter's default (modbus.h); a float32 is already in its
 * unit, and scaling it by 0.1 by default would be a silent factor-of-ten error. */
#define DEFAULT_INT_SCALE 0.1
#define DEFAULT_FLOAT_SCALE 1.0

struct modbus_bus;

/* How a bus reaches its devices. type selects it (the adapter's config "type"); keys are the
 * config keys it adds to the common ones; parse reads them at open(); new_ctx creates the
 * libmodbus context on the bus thread (NULL with errno set); describe names the peer for logs. */
struct modbus_link {
    const char *type;
    const char *const *keys;
    int (*parse)(struct modbus_bus *bus, const cJSON *cfg, const char *path, struct cfg_error *err);
    modbus_t *(*new_ctx)(const struct modbus_bus *bus);
    void (*describe)(const struct modbus_bus *bus, char *buf, size_t cap);
};

struct tcp_params {
    char host[HOST_MAX];
    int port;
};

struct rtu_params {
    char device[128]; /* "/dev/ttyUSB0", "/dev/serial/by-id/..." */
    int baud;
    char parity;      /* 'N', 'E', 'O' (libmodbus) */
    int data_bits;
    int stop_bits;
};

/* One member per link kind. */
union link_params {
    struct tcp_params tcp;
    struct rtu_params rtu;
};

/* A repeating fault's log pacing and counters. */
struct fault_log {
    uint64_t count;           /* consecutive failures; 0 while healthy */
    uint64_t total;           /* every failure since run() started */
    int64_t since_mono_ms;    /* when the current run of failures began */
    int64_t next_log_mono_ms; /* a repeat is logged again from then on */
    int64_t interval_ms;      /* the current repeat interval */
};

struct point {
    char sensor_id[READING_SENSOR_ID_MAX];
    uint8_t quantity; /* enum quantity */
    struct modbus_point_map map;
    size_t block;               /* index in the device's blocks of the read that covers it */
    struct fault_log bad_value; /* registers read but no measurement in them (float NaN) */
};

/* One read request: contiguous registers of one function, at most 125 (the Modbus PDU limit,
 * MODBUS_MAX_READ_REGISTERS). Filled on each poll. */
struct block {
    uint8_t function; /* enum modbus_function */
    uint16_t address;
    uint16_t count;
    int rc;        /* this poll: 0 when regs are fresh, else a negative errno */
    int64_t ts_ms; /* wall clock when the read ended */
    uint16_t regs[MODBUS_MAX_READ_REGISTERS];
};

struct device {
    int unit_id;
    struct point *points; /* point_count, in config order */
    size_t point_count;
    struct block *blocks; /* block_count, sorted by function then address */
    size_t block_count;
    struct fault_log fault; /* failed reads of this device */
    uint64_t reads_ok;
};

struct modbus_bus {
    const struct modbus_link *link;
    char name[BUS_NAME_MAX];
    char path[CFG_PATH_CAP]; /* the bus's JSON path, for for_each_point */
    union link_params params;
    int64_t poll_interval_ms;
    int64_t response_timeout_ms;
    int64_t reconnect_min_ms;
    int64_t reconnect_max_ms;
    int retries;
    struct device *devices;
    size_t device_count;

    /* From here on: run()'s state, bus thread only. */
    modbus_t *mb;
    bool connected;
    int64_t next_connect_mono_ms; /* no connection attempt before this */
    int64_t backoff_ms;           /* the wait after the next failed attempt */
    struct fault_log link_fault;  /* connection refused or lost */
    struct fault_log overrun;     /* polls that took longer than poll_interval */
    uint64_t faults_emitted;      /* READING_FAULT readings, all causes */
};

/* ---- fault pacing ------------------------------------------------------------------------ */

/* Counts a failure. True when it should be logged: the first of a run, then at a backing-off
 * interval. */
static bool fault_note(struct fault_log *f, int64_t now_mono_ms)
{
    f->total++;
    if (f->count++ == 0) {
        f->since_mono_ms = now_mono_ms;
        f->interval_ms = FAULT_LOG_FIRST_MS;
        f->next_log_mono_ms = now_mono_ms + f->interval_ms;
        return true;
    }
    if (now_mono_ms < f->next_log_mono_ms)
        return false;
    f->interval_ms = f->interval_ms * 2 > FAULT_LOG_MAX_MS ? FAULT_LOG_MAX_MS : f->interval_ms * 2;
    f->next_log_mono_ms = now_mono_ms + f->interval_ms;
    return true;
}

/* Ends a run of failures. Returns how many there were (0: nothing to report). */
static uint64_t fault_clear(struct fault_log *f)
{
    uint64_t n = f->count;
    f->count = 0;
    return n;
}

/* ---- config ------------------------------------------------------------------------------ */

/* A JSON value as found in the file, for "expected X, got Y"; control characters are replaced
 * because the message ends up in a log line. */
static const char *describe_json(char *buf, size_t cap, const cJSON *item)
{
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        char text[44];
        size_t n = 0;
        for (const char *s = item->valuestring; *s != '\0' && n < 40; s++, n++)
            text[n] = ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s;
        text[n] = '\0';
        snprintf(buf, cap, "\"%s\"%s", text, strlen(item->valuestring) > 40 ? "..." : "");
    } else if (cJSON_IsNumber(item)) {
        snprintf(buf, cap, "%.15g", item->valuedouble);
    } else if (cJSON_IsBool(item)) {
        snprintf(buf, cap, "%s", cJSON_IsTrue(item) ? "true" : "false");
    } else if (cJSON_IsNull(item)) {
        snprintf(buf, cap, "null");
    } else if (cJSON_IsArray(item)) {
        snprintf(buf, cap, "an array");
    } else {
        snprintf(buf, cap, "an object");
    }
    return buf;
}

/* Reads a string member naming one of a fixed set of words into buf (def when absent and not
 * required). expected lists the words for the message. The caller parses the word and, when it
 * is unknown, reports it with bad_word(). */
static int get_word(const cJSON *obj, const char *path, const char *key, bool required,
                    const char *def, const char *expected, char *buf, size_t cap,
                    struct cfg_error *err)
{
    char member[CFG_PATH_CAP];
    char found[64];
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

    cfg_path_key(member, sizeof(member), path, key);
    if (item == NULL) {
        if (required)
            return cfg_fail(err, member, "missing (required): expected %s", expected);
        snprintf(buf, cap, "%s", def);
        return 0;
    }
    if (!cJSON_IsString(item) || item->valuestring == NULL || strlen(item->valuestring) >= cap)
        return cfg_fail(err, member, "expected %s, got %s", expected,
                        describe_json(found, sizeof(found), item));
    memcpy(buf, item->valuestring, strlen(item->valuestring) + 1);
    return 0;
}

static int bad_word(const cJSON *obj, const char *path, const char *key, const char *expected,
                    struct cfg_error *err)
{
    char member[CFG_PATH_CAP];
    char found[64];
    return cfg_fail(
        err, cfg_path_key(member, sizeof(member), path, key), "expected %s, got %s", expected,
        describe_json(found, sizeof(found), cJSON_GetObjectItemCaseSensitive(obj, key)));
}

/* "temperature, humidity, door or battery", from the quantity table. */
static const char *quantity_choices(char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
        const char *sep = q == 0 ? "" : (q + 1 == QUANTITY_COUNT ? " or " : ", ");
        int n = snprintf(buf + used, cap - used, "%s%s", sep, quantity_name(q));
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

static int parse_point(const cJSON *obj, const char *path, struct point *pt, struct cfg_error *err)
{
    static const char *const keys[] = {"sensor",     "type",  "quantity", "function", "address",
                                       "word_order", "scale", "offset",   NULL};
    char member[CFG_PATH_CAP];
    char word[WORD_MAX];
    char text[256];
    char choices[96];
    long long address;
    enum modbus_function function;
    int rc;

    rc = cfg_check_keys(obj, path, keys, err);
    if (rc < 0)
        return rc;

    rc = cfg_get_string(obj, path, "sensor", true, NULL, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(text, READING_SENSOR_ID_MAX))
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "sensor"),
                        "expected a sensor id of 1 to %d characters from A-Z, a-z, 0-9, \"_\", "
                        "\".\" and \"-\" (not starting with \".\"), got \"%.40s\"",
                        READING_SENSOR_ID_MAX - 1, text);
    memcpy(pt->sensor_id, text, strlen(text) + 1);

    quantity_choices(choices, sizeof(choices));
    rc = get_word(obj, path, "quantity", true, NULL, choices, word, sizeof(word), err);
    if (rc < 0)
        return rc;
    if (quantity_parse(word, &pt->quantity) < 0)
        return bad_word(obj, path, "quantity", choices, err);

    rc = get_word(obj, path, "function", false, "input", "input or holding", word, sizeof(word),
                  err);
    if (rc < 0)
        return rc;
    if (modbus_function_parse(word, &function) < 0)
        return bad_word(obj, path, "function", "input or holding", err);
    pt->map.function = (uint8_t)function;

    rc = get_word(obj, path, "type", false, "int16", "int16, uint16, int32, uint32 or float32",
                  word, sizeof(word), err);
    if (rc < 0)
        return rc;
    if (modbus_value_type_parse(word, &pt->map.type) < 0)
        return bad_word(obj, path, "type", "int16, uint16, int32, uint32 or float32", err);

    rc = get_word(obj, path, "word_order", false, "abcd", "abcd, cdab, badc or dcba", word,
                  sizeof(word), err);
    if (rc < 0)
        return rc;
    if (modbus_word_order_parse(word, &pt->map.order) < 0)
        return bad_word(obj, path, "word_order", "abcd, cdab, badc or dcba", err);

    rc = cfg_get_int(obj, path, "address", true, 0, 0, 65535, &address, err);
    if (rc < 0)
        return rc;
    size_t regs = modbus_value_regs(pt->map.type);
    if ((size_t)address + regs - 1 > 65535)
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "address"),
                        "expected an address between 0 and %zu for a %s (%zu registers), got %lld",
                        65536 - regs, modbus_value_type_name(pt->map.type), regs, address);
    pt->map.address = (uint16_t)address;

    double def_scale =
        pt->map.type == MODBUS_VALUE_FLOAT32 ? DEFAULT_FLOAT_SCALE : DEFAULT_INT_SCALE;
    rc = cfg_get_number(obj, path, "scale", false, def_scale, -1e12, 1e12, &pt->map.scale, err);
    if (rc < 0)
        return rc;
    /* A zero scale would turn every reading into the offset: a constant that looks healthy. */
    if (pt->map.scale == 0.0)
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "scale"),
                        "expected a non-zero number, got 0");
    rc = cfg_get_number(obj, path, "offset", false, 0.0, -1e12, 1e12, &pt->map.offset, err);
    if (rc < 0)
        return rc;
    return 0;
}

/* Orders points for grouping into reads: by function, then address, widest first. */
static int cmp_point_ptr(const void *a, const void *b)
{
    const struct point *pa = *(const struct point *const *)a;
    const struct point *pb = *(const struct point *const *)b;
    if (pa->map.function != pb->map.function)
        return pa->map.function < pb->map.function ? -1 : 1;
    if (pa->map.address != pb->map.address)
        return pa->map.address < pb->map.address ? -1 : 1;
    size_t na = modbus_value_regs(pa->map.type), nb = modbus_value_regs(pb->map.type);
    if (na != nb)
        return na > nb ? -1 : 1;
    return pa < pb ? -1 : (pa > pb ? 1 : 0); /* config order: a stable plan */
}

/* Groups a device's points into as few reads as possible: points of one function whose
 * registers touch or overlap share a read of at most 125 registers. Gaps are not bridged:
 * reading registers nobody configured can make a device answer "illegal data address".
 * Returns 0 or -ENOMEM. */
static int plan_blocks(struct device *dev)
{
    struct point **sorted = calloc(dev->point_count, sizeof(*sorted));
    int rc = 0;
    if (sorted == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    dev->blocks = calloc(dev->point_count, sizeof(*dev->blocks));
    if (dev->blocks == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < dev->point_count; i++)
        sorted[i] = &dev->points[i];
    qsort(sorted, dev->point_count, sizeof(*sorted), cmp_point_ptr);

    struct block *blk = NULL;
    uint32_t end = 0; /* one past the block's last register */
    for (size_t i = 0; i < dev->point_count; i++) {
        struct point *pt = sorted[i];
        uint32_t first = pt->map.address;
        uint32_t last = first + (uint32_t)modbus_value_regs(pt->map.type); /* exclusive */
        uint32_t new_end = last > end ? last : end;
        if (blk == NULL || pt->map.function != blk->function || first > end ||
            new_end - blk->address > MODBUS_MAX_READ_REGISTERS) {
            blk = &dev->blocks[dev->block_count++];
            blk->function = pt->map.function;
            blk->address = pt->map.address;
            new_end = last;
        }
        end = new_end;
        blk->count = (uint16_t)(end - blk->address);
        pt->block = (size_t)(blk - dev->blocks);
    }
out:
    free(sorted);
    return rc;
}

/* Built-in device models (docs/sensors.md): a technician names the probe instead of its register
 * map. Each point of a model reads one quantity of the device's one "sensor". */
struct model_point {
    uint8_t quantity;
    struct modbus_point_map map;
};

static const struct {
    const char *name;
    struct model_point points[2];
    size_t count;
} models[] = {
    /* XY-MD02 / SHT20-style RS-485 probe (PROTOCOLS.md §3.1, vendor documentation): input
     * registers 0x0001 temperature and 0x0002 humidity, int16 in tenths. */
    {"xy-md02",
     {{QUANTITY_TEMPERATURE, {MODBUS_FUNCTION_INPUT, 1, MODBUS_VALUE_INT16, MODBUS_ORDER_ABCD, 0.1, 0}},
      {QUANTITY_HUMIDITY, {MODBUS_FUNCTION_INPUT, 2, MODBUS_VALUE_INT16, MODBUS_ORDER_ABCD, 0.1, 0}}},
     2},
    /* Vaisala HMP4/HMP7 transmitters (PROTOCOLS.md §3.2, the user guides): holding registers
     * 0x0000 RH and 0x0002 T, IEEE 754 binary32, least significant word first (cdab); an
     * unavailable value is a quiet NaN, which decodes to a fault. */
    {"vaisala-hmp",
     {{QUANTITY_TEMPERATURE,
       {MODBUS_FUNCTION_HOLDING, 2, MODBUS_VALUE_FLOAT32, MODBUS_ORDER_CDAB, 1.0, 0}},
      {QUANTITY_HUMIDITY,
       {MODBUS_FUNCTION_HOLDING, 0, MODBUS_VALUE_FLOAT32, MODBUS_ORDER_CDAB, 1.0, 0}}},
     2},
};

/* "model": "xy-md02", "sensor": "fridge-a" in place of "points". */
static int parse_model(const cJSON *obj, const char *path, struct device *dev,
                       struct cfg_error *err)
{
    char member[CFG_PATH_CAP], name[WORD_MAX], sensor[256];
    int rc = cfg_get_string(obj, path, "model", true, NULL, name, sizeof(name), err);
    if (rc < 0)
        return rc;
    size_t m = 0;
    while (m < sizeof(models) / sizeof(models[0]) && strcmp(models[m].name, name) != 0)
        m++;
    if (m == sizeof(models) / sizeof(models[0]))
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "model"),
                        "expected xy-md02 or vaisala-hmp (or \"points\" for any other device), "
                        "got \"%.40s\"",
                        name);
    rc = cfg_get_string(obj, path, "sensor", true, NULL, sensor, sizeof(sensor), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(sensor, READING_SENSOR_ID_MAX))
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "sensor"),
                        "expected a sensor id of 1 to %d characters from A-Z, a-z, 0-9, \"_\", "
                        "\".\" and \"-\" (not starting with \".\"), got \"%.40s\"",
                        READING_SENSOR_ID_MAX - 1, sensor);
    dev->points = calloc(models[m].count, sizeof(*dev->points));
    if (dev->points == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < models[m].count; i++) {
        struct point *pt = &dev->points[i];
        memcpy(pt->sensor_id, sensor, strlen(sensor) + 1);
        pt->quantity = models[m].points[i].quantity;
        pt->map = models[m].points[i].map;
        dev->point_count++;
    }
    return 0;
}

static int parse_device(struct modbus_bus *bus, const cJSON *obj, const char *path, size_t index,
                        size_t *bus_points, struct cfg_error *err)
{
    static const char *const keys[] = {"unit_id", "points", "model", "sensor", NULL};
    struct device *dev = &bus->devices[index];
    char member[CFG_PATH_CAP];
    char point_path[CFG_PATH_CAP];
    const cJSON *points;
    long long unit;
    int rc;

    rc = cfg_check_keys(obj, path, keys, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_int(obj, path, "unit_id", true, 0, 0, 255, &unit, err);
    if (rc < 0)
        return rc;
    cfg_path_key(member, sizeof(member), path, "unit_id");
    /* Modbus addresses are 1..247 (0 is broadcast, which nobody answers on a serial line); a
     * TCP device also accepts 0 or 255, "no unit", and libmodbus allows exactly those. */
    if (unit > 247 && unit != 255)
        return cfg_fail(err, member, "expected a unit id between 0 and 247, or 255, got %lld",
                        unit);
    for (size_t k = 0; k < index; k++) {
        if (bus->devices[k].unit_id == unit)
            return cfg_fail(err, member, "unit_id %lld is already used by %s.devices[%zu]", unit,
                            bus->path, k);
    }
    dev->unit_id = (int)unit;

    bool has_model = cJSON_GetObjectItemCaseSensitive(obj, "model") != NULL;
    bool has_points = cJSON_GetObjectItemCaseSensitive(obj, "points") != NULL;
    if (has_model && has_points)
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "points"),
                        "give either a \"model\" or \"points\", not both");
    if (!has_model && cJSON_GetObjectItemCaseSensitive(obj, "sensor") != NULL)
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "sensor"),
                        "\"sensor\" goes with a \"model\"; with \"points\" each point names its "
                        "sensor");
    if (has_model) {
        rc = parse_model(obj, path, dev, err);
        if (rc < 0)
            return rc;
        if (*bus_points + dev->point_count > MAX_BUS_POINTS)
            return cfg_fail(err, path, "expected at most %d points on one bus", MAX_BUS_POINTS);
        for (size_t d = 0; d < index; d++) {
            const struct device *other = &bus->devices[d];
            for (size_t k = 0; k < other->point_count; k++) {
                if (strcmp(other->points[k].sensor_id, dev->points[0].sensor_id) == 0)
                    return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "sensor"),
                                    "sensor \"%s\" is already read by %s.devices[%zu]",
                                    dev->points[0].sensor_id, bus->path, d);
            }
        }
        *bus_points += dev->point_count;
        return plan_blocks(dev);
    }

    rc = cfg_get_array(obj, path, "points", true, &points, err);
    if (rc < 0)
        return rc;
    int count = cJSON_GetArraySize(points);
    cfg_path_key(member, sizeof(member), path, "points");
    if (count < 1)
        return cfg_fail(err, member, "expected at least one point");
    if (*bus_points + (size_t)count > MAX_BUS_POINTS)
        return cfg_fail(err, member, "expected at most %d points on one bus", MAX_BUS_POINTS);
    dev->points = calloc((size_t)count, sizeof(*dev->points));
    if (dev->points == NULL)
        return -ENOMEM;

    const cJSON *item;
    cJSON_ArrayForEach(item, points)
    {
        struct point *pt = &dev->points[dev->point_count];
        cfg_path_index(point_path, sizeof(point_path), member, dev->point_count);
        rc = parse_point(item, point_path, pt, err);
        if (rc < 0)
            return rc;
        dev->point_count++;
        /* Two points feeding one sensor's quantity would give it two readings per poll. */
        for (size_t d = 0; d <= index; d++) {
            const struct device *other = &bus->devices[d];
            size_t n = d == index ? dev->point_count - 1 : other->point_count;
            for (size_t k = 0; k < n; k++) {
                const struct point *o = &other->points[k];
                if (o->quantity == pt->quantity && strcmp(o->sensor_id, pt->sensor_id) == 0)
                    return cfg_fail(err, point_path,
                                    "sensor \"%s\" %s is already read by "
                                    "%s.devices[%zu].points[%zu]",
                                    pt->sensor_id, quantity_name(pt->quantity), bus->path, d, k);
            }
        }
    }
    *bus_points += dev->point_count;
    return plan_blocks(dev);
}

static void bus_free(struct modbus_bus *bus)
{
    if (bus == NULL)
        return;
    if (bus->mb != NULL) {
        modbus_close(bus->mb);
        modbus_free(bus->mb);
    }
    for (size_t i = 0; i < bus->device_count; i++) {
        free(bus->devices[i].points);
        free(bus->devices[i].blocks);
    }
    free(bus->devices);
    free(bus);
}

/* The common part of every Modbus bus's open(): keys, timing, devices and points. The link's
 * own keys are checked together with the common ones, so an unknown key lists them all. */
static int bus_open(const struct modbus_link *link, const cJSON *cfg, const char *path,
                    struct cfg_error *err, void **state_out)
{
    static const char *const common_keys[] = {
        "name",    "type",    "poll_interval", "response_timeout",
        "retries", "devices", "reconnect_min", "reconnect_max",
        NULL};
    const char *keys[32];
    struct modbus_bus *bus = NULL;
    char member[CFG_PATH_CAP];
    char type[WORD_MAX];
    const cJSON *devices;
    size_t bus_points = 0;
    size_t n = 0;
    long long retries;
    int rc;

    if (cfg == NULL || path == NULL || state_out == NULL)
        return -EINVAL;
    *state_out = NULL;

    for (size_t i = 0; common_keys[i] != NULL; i++)
        keys[n++] = common_keys[i];
    for (size_t i = 0; link->keys[i] != NULL && n + 1 < sizeof(keys) / sizeof(keys[0]); i++)
        keys[n++] = link->keys[i];
    keys[n] = NULL;
    rc = cfg_check_keys(cfg, path, keys, err);
    if (rc < 0)
        goto out;

    bus = calloc(1, sizeof(*bus));
    if (bus == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    bus->link = link;
    snprintf(bus->path, sizeof(bus->path), "%s", path);

    rc = cfg_get_string(cfg, path, "name", true, NULL, bus->name, sizeof(bus->name), err);
    if (rc < 0)
        goto out;
    rc = get_word(cfg, path, "type", true, NULL, link->type, type, sizeof(type), err);
    if (rc < 0)
        goto out;
    if (strcmp(type, link->type) != 0) {
        char expected[WORD_MAX + 2];
        snprintf(expected, sizeof(expected), "\"%s\"", link->type);
        rc = bad_word(cfg, path, "type", expected, err);
        goto out;
    }

    rc = link->parse(bus, cfg, path, err);
    if (rc < 0)
        goto out;

    rc = cfg_get_duration(cfg, path, "poll_interval", false, DEFAULT_POLL_MS, MIN_POLL_MS,
                          MAX_POLL_MS, &bus->poll_interval_ms, err);
    if (rc < 0)
        goto out;
    rc = cfg_get_duration(cfg, path, "response_timeout", false, DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS,
                          MAX_TIMEOUT_MS, &bus->response_timeout_ms, err);
    if (rc < 0)
        goto out;
    rc = cfg_get_int(cfg, path, "retries", false, DEFAULT_RETRIES, 0, MAX_RETRIES, &retries, err);
    if (rc < 0)
        goto out;
    bus->retries = (int)retries;
    rc = cfg_get_duration(cfg, path, "reconnect_min", false, DEFAULT_RECONNECT_MIN_MS, 100, 3600000,
                          &bus->reconnect_min_ms, err);
    if (rc < 0)
        goto out;
    /* The default ceiling follows a larger floor, so setting only reconnect_min stays valid
     * (as for mqtt.reconnect_max). */
    int64_t def_max_ms = bus->reconnect_min_ms > DEFAULT_RECONNECT_MAX_MS
                             ? bus->reconnect_min_ms
                             : DEFAULT_RECONNECT_MAX_MS;
    rc = cfg_get_duration(cfg, path, "reconnect_max", false, def_max_ms, 100, 86400000,
                          &bus->reconnect_max_ms, err);
    if (rc < 0)
        goto out;
    if (bus->reconnect_max_ms < bus->reconnect_min_ms) {
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(cfg, "reconnect_min");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(cfg, "reconnect_max");
        rc =
            cfg_fail(err, cfg_path_key(member, sizeof(member), path, "reconnect_max"),
                     "expected a duration of at least reconnect_min (\"%.20s\"), got \"%.20s\"",
                     min != NULL ? min->valuestring : "1s", max != NULL ? max->valuestring : "60s");
        goto out;
    }

    rc = cfg_get_array(cfg, path, "devices", true, &devices, err);
    if (rc < 0)
        goto out;
    int count = cJSON_GetArraySize(devices);
    cfg_path_key(member, sizeof(member), path, "devices");
    if (count < 1 || count > MAX_DEVICES) {
        rc = cfg_fail(err, member, "expected 1 to %d devices, got %d", MAX_DEVICES, count);
        goto out;
    }
    bus->devices = calloc((size_t)count, sizeof(*bus->devices));
    if (bus->devices == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, devices)
    {
        char device_path[CFG_PATH_CAP];
        cfg_path_index(device_path, sizeof(device_path), member, bus->device_count);
        /* Counted before parsing, so bus_free() also frees a half-parsed device. */
        bus->device_count++;
        rc = parse_device(bus, item, device_path, bus->device_count - 1, &bus_points, err);
        if (rc < 0)
            goto out;
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
    const struct modbus_bus *bus = state;
    char device_path[CFG_PATH_CAP];
    char points_path[CFG_PATH_CAP];
    char point_path[CFG_PATH_CAP];

    if (bus == NULL || fn == NULL)
        return -EINVAL;
    for (size_t d = 0; d < bus->device_count; d++) {
        const struct device *dev = &bus->devices[d];
        cfg_path_key(points_path, sizeof(points_path), bus->path, "devices");
        cfg_path_index(device_path, sizeof(device_path), points_path, d);
        cfg_path_key(points_path, sizeof(points_path), device_path, "points");
        for (size_t p = 0; p < dev->point_count; p++) {
            cfg_path_index(point_path, sizeof(point_path), points_path, p);
            int rc = fn(arg, dev->points[p].sensor_id, dev->points[p].quantity, point_path);
            if (rc != 0)
                return rc;
        }
    }
    return 0;
}

static const char *bus_name(const void *state)
{
    const struct modbus_bus *bus = state;
    return bus != NULL ? bus->name : NULL;
}

/* ---- the libmodbus edge ------------------------------------------------------------------ */

/* Translates a libmodbus failure (errno e) into a negative errno, and its text into why:
 *  -EREMOTEIO  the device answered with a Modbus exception (illegal address, busy, ...);
 *  -EBADMSG    an answer came but was wrong (bad CRC, other unit, bad length);
 *  -ETIMEDOUT  no answer within the response timeout;
 *  other       the system's errno (connection refused or reset, ...). */
static int translate_error(int e, char *why, size_t cap)
{
    /* A TCP connect that times out leaves errno at EINPROGRESS (libmodbus 3.1.6 _connect()). */
    if (e == EINPROGRESS)
        e = ETIMEDOUT;
    snprintf(why, cap, "%s", modbus_strerror(e));
    if (e > MODBUS_ENOBASE && e < MODBUS_ENOBASE + MODBUS_EXCEPTION_MAX)
        return -EREMOTEIO;
    if (e >= EMBBADCRC && e <= EMBBADSLAVE)
        return -EBADMSG;
    if (e <= 0 || e >= MODBUS_ENOBASE)
        return -EIO;
    return -e;
}

/* The errors after which the connection is gone and must be made again. */
static bool is_link_error(int rc)
{
    return rc == -ECONNRESET || rc == -ECONNREFUSED || rc == -EPIPE || rc == -EBADF ||
           rc == -ENOTCONN || rc == -ECONNABORTED;
}

/* Reads one block. 0 with blk->regs filled, or a negative errno with why filled. */
static int read_block(struct modbus_bus *bus, struct block *blk, char *why, size_t cap)
{
    int n;
    if (blk->function == MODBUS_FUNCTION_INPUT)
        n = modbus_read_input_registers(bus->mb, blk->address, blk->count, blk->regs);
    else
        n = modbus_read_registers(bus->mb, blk->address, blk->count, blk->regs);
    if (n == blk->count)
        return 0;
    if (n >= 0) {
        snprintf(why, cap, "%d registers in the answer instead of %u", n, blk->count);
        return -EBADMSG;
    }
    int rc = translate_error(errno, why, cap);
    /* After a timeout or a garbled answer a late or partial reply may still be on its way; the
     * next request must not take it for its own. */
    if (rc != -EREMOTEIO && !is_link_error(rc))
        modbus_flush(bus->mb);
    return rc;
}

/* ---- polling ----------------------------------------------------------------------------- */

/* Connects unless connected or the back-off says not yet. poll_mono_ms is the poll's deadline:
 * the next attempt is scheduled from it, not from now, so a back-off equal to the poll interval
 * really retries on every poll. */
static void try_connect(struct modbus_bus *bus, struct sensor_ctx *ctx, int64_t poll_mono_ms)
{
    char where[HOST_MAX + 16];
    char why[128];

    if (bus->connected || poll_mono_ms < bus->next_connect_mono_ms)
        return;
    bus->link->describe(bus, where, sizeof(where));
    if (modbus_connect(bus->mb) == 0) {
        bus->connected = true;
        int64_t down_ms = clock_mono_ms() - bus->link_fault.since_mono_ms;
        uint64_t failed = fault_clear(&bus->link_fault);
        if (failed > 0)
            sensor_log(ctx, LOG_NOTICE,
                       "modbus[%s]: connected to %s again after %" PRId64
                       " ms down (failed attempts and losses: %" PRIu64 ")",
                       bus->name, where, down_ms, failed);
        else
            sensor_log(ctx, LOG_INFO, "modbus[%s]: connected to %s", bus->name, where);
        return;
    }
    translate_error(errno, why, sizeof(why));
    modbus_close(bus->mb);
    bus->next_connect_mono_ms = poll_mono_ms + bus->backoff_ms;
    if (fault_note(&bus->link_fault, clock_mono_ms()))
        sensor_log(ctx, LOG_WARNING,
                   "modbus[%s]: cannot connect to %s: %s (failed attempts: %" PRIu64 "; "
                   "every point of the bus reads as a fault; next attempt in %" PRId64 " ms)",
                   bus->name, where, why, bus->link_fault.count, bus->backoff_ms);
    bus->backoff_ms =
        bus->backoff_ms * 2 > bus->reconnect_max_ms ? bus->reconnect_max_ms : bus->backoff_ms * 2;
}

/* The connection broke during a read: close it; the next attempt waits for the back-off, which
 * only a good read resets, so a peer that accepts and then drops us is not hammered. */
static void link_lost(struct modbus_bus *bus, struct sensor_ctx *ctx, const struct device *dev,
                      const char *why, int64_t poll_mono_ms)
{
    char where[HOST_MAX + 16];
    bus->link->describe(bus, where, sizeof(where));
    modbus_close(bus->mb);
    bus->connected = false;
    bus->next_connect_mono_ms = poll_mono_ms + bus->backoff_ms;
    if (fault_note(&bus->link_fault, clock_mono_ms()))
        sensor_log(ctx, LOG_WARNING,
                   "modbus[%s/unit%d]: connection to %s lost: %s; every point of the bus reads "
                   "as a fault until it is back",
                   bus->name, dev->unit_id, where, why);
    bus->backoff_ms =
        bus->backoff_ms * 2 > bus->reconnect_max_ms ? bus->reconnect_max_ms : bus->backoff_ms * 2;
}

/* Reads every block of a device into its buffers (blk->rc says which are fresh). */
static void read_device(struct modbus_bus *bus, struct sensor_ctx *ctx, struct device *dev,
                        int64_t poll_mono_ms)
{
    /* A device already known to be failing gets one attempt per poll, and after it stays silent
     * the rest of its blocks are not tried: a dead device costs the others one response timeout
     * per poll, not (1 + retries) times its number of reads. */
    int attempts = dev->fault.count > 0 ? 1 : 1 + bus->retries;
    int failed_rc = 0;
    const struct block *failed_blk = NULL;
    char failed_why[128] = "";

    if (bus->connected && modbus_set_slave(bus->mb, dev->unit_id) < 0) {
        /* Cannot happen for a unit id open() accepted; fault the device rather than read
         * another unit's registers. */
        failed_rc = translate_error(errno, failed_why, sizeof(failed_why));
    }
    for (size_t b = 0; b < dev->block_count; b++) {
        struct block *blk = &dev->blocks[b];
        char why[128] = "";
        int rc = -EIO;

        if (!bus->connected) {
            rc = -ENOTCONN;
        } else if (failed_rc != 0 && failed_rc != -EREMOTEIO) {
            /* No answer on an earlier block in this poll: do not wait for this device again. */
            rc = failed_rc;
        } else {
            for (int a = 0; a < attempts; a++) {
                rc = read_block(bus, blk, why, sizeof(why));
                if (rc == 0 || is_link_error(rc))
                    break;
            }
            if (is_link_error(rc))
                link_lost(bus, ctx, dev, why, poll_mono_ms);
            else if (rc < 0 && failed_rc == 0) {
                failed_rc = rc;
                failed_blk = blk;
                snprintf(failed_why, sizeof(failed_why), "%s", why);
            }
        }
        blk->rc = rc;
        blk->ts_ms = clock_wall_ms();
    }

    if (!bus->connected)
        return; /* the bus-level fault says it all */
    if (failed_rc != 0) {
        if (fault_note(&dev->fault, clock_mono_ms())) {
            char what[64] = "";
            if (failed_blk != NULL && failed_blk->count == 1)
                snprintf(what, sizeof(what), " of %s register %u",
                         modbus_function_name(failed_blk->function), failed_blk->address);
            else if (failed_blk != NULL)
                snprintf(what, sizeof(what), " of %s registers %u..%u",
                         modbus_function_name(failed_blk->function), failed_blk->address,
                         failed_blk->address + failed_blk->count - 1u);
            sensor_log(ctx, LOG_WARNING,
                       "modbus[%s/unit%d]: read%s failed: %s (failed reads in a row: %" PRIu64
                       "; the points not read are faults)",
                       bus->name, dev->unit_id, what, failed_why, dev->fault.count);
        }
        return;
    }
    dev->reads_ok++;
    /* A good answer proves the connection: the next loss starts the back-off afresh. */
    bus->backoff_ms = bus->reconnect_min_ms;
    uint64_t failed = fault_clear(&dev->fault);
    if (failed > 0)
        sensor_log(ctx, LOG_NOTICE, "modbus[%s/unit%d]: recovered after %" PRIu64 " failed reads",
                   bus->name, dev->unit_id, failed);
}

/* One reading per point of the device: the decoded value, or a fault. */
static void emit_device(struct modbus_bus *bus, struct sensor_ctx *ctx, struct device *dev)
{
    for (size_t p = 0; p < dev->point_count; p++) {
        struct point *pt = &dev->points[p];
        const struct block *blk = &dev->blocks[pt->block];
        struct reading r = {.quantity = pt->quantity, .ts_ms = blk->ts_ms, .value = (double)NAN};
        memcpy(r.sensor_id, pt->sensor_id, sizeof(r.sensor_id));

        if (blk->rc == 0) {
            size_t offset = pt->map.address - blk->address;
            int rc =
                modbus_decode_point(&pt->map, blk->regs + offset, blk->count - offset, &r.value);
            if (rc == 0) {
                uint64_t bad = fault_clear(&pt->bad_value);
                if (bad > 0)
                    sensor_log(ctx, LOG_NOTICE,
                               "modbus[%s/unit%d]: %s %s measures again after %" PRIu64
                               " readings without a value",
                               bus->name, dev->unit_id, pt->sensor_id, quantity_name(pt->quantity),
                               bad);
            } else {
                r.value = (double)NAN;
                r.flags = READING_FAULT;
                if (fault_note(&pt->bad_value, clock_mono_ms()))
                    sensor_log(ctx, LOG_WARNING,
                               "modbus[%s/unit%d]: %s %s: %s register %u holds no measurement "
                               "(%s); read as a fault (%" PRIu64 " in a row)",
                               bus->name, dev->unit_id, pt->sensor_id, quantity_name(pt->quantity),
                               modbus_function_name(blk->function), pt->map.address,
                               rc == -EBADMSG ? "NaN or infinite" : "undecodable",
                               pt->bad_value.count);
            }
        } else {
            r.flags = READING_FAULT;
        }
        if (r.flags & READING_FAULT)
            bus->faults_emitted++;
        /* -ECANCELED only says stop was asked; the reading was still delivered. */
        sensor_emit(ctx, &r);
    }
}

static void poll_bus(struct modbus_bus *bus, struct sensor_ctx *ctx, int64_t poll_mono_ms)
{
    try_connect(bus, ctx, poll_mono_ms);
    for (size_t d = 0; d < bus->device_count; d++) {
        if (sensor_stopping(ctx))
            return;
        read_device(bus, ctx, &bus->devices[d], poll_mono_ms);
        emit_device(bus, ctx, &bus->devices[d]);
    }
}

/* The next poll deadline on a fixed grid from the first poll (absolute deadlines, so intervals
 * do not drift by the time each poll takes). A poll that overran skips the slots it missed
 * instead of firing them back to back. */
static int64_t next_deadline(struct modbus_bus *bus, struct sensor_ctx *ctx, int64_t deadline_ms,
                             int64_t now_mono_ms)
{
    int64_t next_ms = deadline_ms + bus->poll_interval_ms;
    if (next_ms > now_mono_ms) {
        uint64_t overruns = fault_clear(&bus->overrun);
        if (overruns > 0)
            sensor_log(ctx, LOG_NOTICE,
                       "modbus[%s]: polls fit in poll_interval again after %" PRIu64 " overruns",
                       bus->name, overruns);
        return next_ms;
    }
    int64_t missed = (now_mono_ms - next_ms) / bus->poll_interval_ms + 1;
    if (fault_note(&bus->overrun, now_mono_ms))
        sensor_log(ctx, LOG_WARNING,
                   "modbus[%s]: a poll took %" PRId64 " ms, longer than poll_interval (%" PRId64
                   " ms); %" PRId64 " poll(s) skipped. Dead devices cost their response timeout.",
                   bus->name, now_mono_ms - deadline_ms, bus->poll_interval_ms, missed);
    return next_ms + missed * bus->poll_interval_ms;
}

static int bus_run(void *state, struct sensor_ctx *ctx)
{
    struct modbus_bus *bus = state;
    int rc = 0;

    if (bus == NULL || ctx == NULL)
        return -EINVAL;

    bus->mb = bus->link->new_ctx(bus);
    if (bus->mb == NULL) {
        char why[128];
        rc = translate_error(errno, why, sizeof(why));
        sensor_log(ctx, LOG_ERR, "modbus[%s]: cannot create a libmodbus context: %s", bus->name,
                   why);
        goto out;
    }
    uint32_t timeout_s = (uint32_t)(bus->response_timeout_ms / 1000);
    uint32_t timeout_us = (uint32_t)(bus->response_timeout_ms % 1000) * 1000;
    /* The byte timeout bounds a reply that stops halfway; the same budget as a silent device. */
    if (modbus_set_response_timeout(bus->mb, timeout_s, timeout_us) < 0 ||
        modbus_set_byte_timeout(bus->mb, timeout_s, timeout_us) < 0) {
        char why[128];
        rc = translate_error(errno, why, sizeof(why));
        sensor_log(ctx, LOG_ERR, "modbus[%s]: cannot set the response timeout: %s", bus->name, why);
        goto out;
    }

    /* A restarted run() starts afresh: connect at once, faults counted anew. */
    bus->connected = false;
    bus->backoff_ms = bus->reconnect_min_ms;
    bus->next_connect_mono_ms = 0;
    memset(&bus->link_fault, 0, sizeof(bus->link_fault));
    memset(&bus->overrun, 0, sizeof(bus->overrun));
    for (size_t d = 0; d < bus->device_count; d++) {
        memset(&bus->devices[d].fault, 0, sizeof(bus->devices[d].fault));
        for (size_t p = 0; p < bus->devices[d].point_count; p++)
            memset(&bus->devices[d].points[p].bad_value, 0, sizeof(struct fault_log));
    }

    int64_t deadline_ms = clock_mono_ms();
    while (sensor_sleep_until(ctx, deadline_ms)) {
        poll_bus(bus, ctx, deadline_ms);
        deadline_ms = next_deadline(bus, ctx, deadline_ms, clock_mono_ms());
    }
    sensor_log(ctx, LOG_DEBUG, "modbus[%s]: stopping; %" PRIu64 " fault readings emitted",
               bus->name, bus->faults_emitted);
out:
    if (bus->mb != NULL) {
        modbus_close(bus->mb);
        modbus_free(bus->mb);
        bus->mb = NULL;
    }
    bus->connected = false;
    return rc;
}

/* ---- modbus-tcp -------------------------------------------------------------------------- */

static int tcp_parse(struct modbus_bus *bus, const cJSON *cfg, const char *path,
                     struct cfg_error *err)
{
    struct tcp_params *tcp = &bus->params.tcp;
    char member[CFG_PATH_CAP];
    long long port;
    int rc;

    rc = cfg_get_string(cfg, path, "host", true, NULL, tcp->host, sizeof(tcp->host), err);
    if (rc < 0)
        return rc;
    bool ok = tcp->host[0] != '\0';
    for (const char *s = tcp->host; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c == 0x7f || c == '/' || c == '[' || c == ']')
            ok = false;
    }
    if (!ok)
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "host"),
                        "expected a host name or an IPv4 or IPv6 address, got \"%.40s\"",
                        tcp->host);
    rc = cfg_get_int(cfg, path, "port", false, DEFAULT_TCP_PORT, 1, 65535, &port, err);
    if (rc < 0)
        return rc;
    tcp->port = (int)port;
    return 0;
}

static modbus_t *tcp_new_ctx(const struct modbus_bus *bus)
{
    const struct tcp_params *tcp = &bus->params.tcp;
    struct in_addr addr;
    char service[8];

    /* An IPv4 address goes to the plain IPv4 context, which connects without getaddrinfo():
     * AI_ADDRCONFIG (used by the _pi variant) can refuse even 127.0.0.1 on a box whose only
     * configured interface is loopback. Names and IPv6 need the _pi ("protocol independent")
     * context. */
    if (inet_pton(AF_INET, tcp->host, &addr) == 1)
        return modbus_new_tcp(tcp->host, tcp->port);
    snprintf(service, sizeof(service), "%d", tcp->port);
    return modbus_new_tcp_pi(tcp->host, service);
}

static void tcp_describe(const struct modbus_bus *bus, char *buf, size_t cap)
{
    const struct tcp_params *tcp = &bus->params.tcp;
    bool v6 = strchr(tcp->host, ':') != NULL;
    snprintf(buf, cap, "%s%s%s:%d", v6 ? "[" : "", tcp->host, v6 ? "]" : "", tcp->port);
}

static const char *const tcp_keys[] = {"host", "port", NULL};

static const struct modbus_link tcp_link = {
    .type = "modbus-tcp",
    .keys = tcp_keys,
    .parse = tcp_parse,
    .new_ctx = tcp_new_ctx,
    .describe = tcp_describe,
};

static int tcp_open(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out)
{
    return bus_open(&tcp_link, cfg, path, err, state_out);
}

/* ---- modbus-rtu -------------------------------------------------------------------------- */

static int rtu_parse(struct modbus_bus *bus, const cJSON *cfg, const char *path,
                     struct cfg_error *err)
{
    struct rtu_params *rtu = &bus->params.rtu;
    char member[CFG_PATH_CAP], parity[8];
    long long v;
    int rc = cfg_get_string(cfg, path, "device", true, NULL, rtu->device, sizeof(rtu->device),
                            err);
    if (rc < 0)
        return rc;
    if (rtu->device[0] != '/')
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "device"),
                        "expected the serial device's path, such as \"/dev/ttyUSB0\"");
    /* The rates RS-485 probes offer (XY-MD02: 2400..19200; transmitters up to 115200). */
    static const long long bauds[] = {1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200};
    rc = cfg_get_int(cfg, path, "baud", false, 9600, 1200, 115200, &v, err);
    if (rc < 0)
        return rc;
    bool known = false;
    for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
        known = known || bauds[i] == v;
    if (!known)
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "baud"),
                        "expected 1200, 2400, 4800, 9600, 19200, 38400, 57600 or 115200, got %lld",
                        v);
    rtu->baud = (int)v;
    rc = cfg_get_string(cfg, path, "parity", false, "none", parity, sizeof(parity), err);
    if (rc < 0)
        return rc;
    if (strcmp(parity, "none") == 0)
        rtu->parity = 'N';
    else if (strcmp(parity, "even") == 0)
        rtu->parity = 'E';
    else if (strcmp(parity, "odd") == 0)
        rtu->parity = 'O';
    else
        return cfg_fail(err, cfg_path_key(member, sizeof(member), path, "parity"),
                        "expected none, even or odd, got \"%.8s\"", parity);
    rc = cfg_get_int(cfg, path, "data_bits", false, 8, 7, 8, &v, err);
    if (rc < 0)
        return rc;
    rtu->data_bits = (int)v;
    rc = cfg_get_int(cfg, path, "stop_bits", false, 1, 1, 2, &v, err);
    if (rc < 0)
        return rc;
    rtu->stop_bits = (int)v;
    return 0;
}

static modbus_t *rtu_new_ctx(const struct modbus_bus *bus)
{
    const struct rtu_params *rtu = &bus->params.rtu;
    return modbus_new_rtu(rtu->device, rtu->baud, rtu->parity, rtu->data_bits, rtu->stop_bits);
}

static void rtu_describe(const struct modbus_bus *bus, char *buf, size_t cap)
{
    const struct rtu_params *rtu = &bus->params.rtu;
    snprintf(buf, cap, "%s %d %d%c%d", rtu->device, rtu->baud, rtu->data_bits, rtu->parity,
             rtu->stop_bits);
}

static const char *const rtu_keys[] = {"device", "baud", "parity", "data_bits", "stop_bits", NULL};

static const struct modbus_link rtu_link = {
    .type = "modbus-rtu",
    .keys = rtu_keys,
    .parse = rtu_parse,
    .new_ctx = rtu_new_ctx,
    .describe = rtu_describe,
};

static int rtu_open(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out)
{
    return bus_open(&rtu_link, cfg, path, err, state_out);
}

const struct sensor_adapter modbus_rtu_adapter = {
    .type = "modbus-rtu",
    .open = rtu_open,
    .run = bus_run,
    .close = bus_close,
    .for_each_point = bus_for_each_point,
    .name = bus_name,
};

const struct sensor_adapter modbus_tcp_adapter = {
    .type = "modbus-tcp",
    .open = tcp_open,
    .run = bus_run,
    .close = bus_close,
    .for_each_point = bus_for_each_point,
    .name = bus_name,
};
