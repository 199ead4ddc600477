/* The BLE adapter (sensors/ble.c) against a scripted controller: a double of the raw-HCI ops
 * (ble_hci.h) that records every command it is sent (OGF, OCF, parameters), answers each OCF
 * with a scripted status or error, and hands out H4 packets from a script on read(), advancing
 * the fake clock by the read's timeout when nothing is due. The packets are the published HCI
 * events of shared/sensors/vectors/ble_vectors.json (legacy 0x02 and extended 0x0D reports),
 * some with a patched packet counter. The replay source reads btsnoop files written here, byte by
 * byte, into a temporary directory. The adapter's run() gets link-time fakes of sensor_emit/
 * sensor_sleep_until/sensor_stopping/sensor_log (sensor.h), so this executable links the sensors
 * library without the gateway. Nothing sleeps and no clock is read. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "ble.h"
#include "btsnoop.h"
#include "cunit_main.h"
#include "sensor.h"
#include "vectors.h"

#define WALL_BASE_MS 1700000000000LL /* the fake wall clock at fake monotonic 0 */

/* The vectors' devices (their HCI events carry these addresses). */
#define ADDR_PVVX1 "A4:C1:38:02:83:F4"    /* pvvx-real-1, and atc1441-real */
#define ADDR_PVVX2 "A4:C1:38:8D:18:B2"    /* pvvx-real-2 */
#define ADDR_ATC_EXT "A4:C1:38:BC:7C:4E"  /* atc1441-real-extended-report */
#define ADDR_RUUVI "CD:D4:FA:52:7A:F2"    /* ruuvi5-real-capture */
#define PVVX1_COUNTER_AT 31               /* the counter byte in pvvx-real-1's H4 event */

/* ---- the controller double -------------------------------------------------------------- */

#define FAKE_CALLS 512
#define FAKE_PACKETS 64
#define FAKE_PACKET_MAX 300
#define FAKE_SLEEPS 64
#define OCF_SLOTS 0x43

enum call { CALL_OPEN, CALL_COMMAND, CALL_LISTEN, CALL_CLOSE };

struct call_rec {
    enum call call;
    uint16_t ogf, ocf;
    uint8_t param[32];
    uint8_t len;
    int timeout_ms;
    int64_t at_ms;
};

struct packet {
    int64_t at_ms; /* delivered by the first read() whose wait reaches this time */
    uint8_t data[FAKE_PACKET_MAX];
    size_t len;
    int err; /* read() returns this instead (e.g. -ENETDOWN) */
};

struct ble_hci {
    int unused;
};

static struct {
    int64_t now_ms;  /* CLOCK_MONOTONIC of the fake world */
    int64_t stop_at; /* sensor_stopping() turns true here */
    struct ble_hci hci;
    bool open, listening;
    int opens, closes, listens, reads, max_read_wait_ms;
    char device[64];
    int open_err;
    uint8_t status[OCF_SLOTS]; /* the controller's answer per OCF; 0 = success */
    int err[OCF_SLOTS];        /* command() returns this for that OCF instead */
    int err_all;               /* ... or this for every command */
    size_t fail_from;          /* calls at or after this index fail with -ENETDOWN (0: never) */
    struct call_rec calls[FAKE_CALLS];
    size_t call_count;
    struct packet packets[FAKE_PACKETS];
    size_t packet_count, packet_next;
    int64_t sleeps[FAKE_SLEEPS]; /* deadlines given to sensor_sleep_until, in order */
    size_t sleep_count;
} fake;

static struct call_rec *record(enum call c)
{
    CU_ASSERT_FATAL(fake.call_count < FAKE_CALLS);
    struct call_rec *r = &fake.calls[fake.call_count++];
    memset(r, 0, sizeof(*r));
    r->call = c;
    r->at_ms = fake.now_ms;
    return r;
}

static void fake_reset(void)
{
    memset(&fake, 0, sizeof(fake));
    fake.stop_at = INT64_MAX;
}

static int fake_open(const char *device, struct ble_hci **hci_out)
{
    record(CALL_OPEN);
    CU_ASSERT(!fake.open);
    if (fake.open_err)
        return fake.open_err;
    snprintf(fake.device, sizeof(fake.device), "%s", device);
    fake.open = true;
    fake.opens++;
    *hci_out = &fake.hci;
    return 0;
}

static int fake_command(struct ble_hci *hci, uint16_t ogf, uint16_t ocf, const void *param,
                        uint8_t param_len, uint8_t *status_out, int timeout_ms)
{
    struct call_rec *r = record(CALL_COMMAND);
    CU_ASSERT_PTR_EQUAL(hci, &fake.hci);
    CU_ASSERT(fake.open);
    CU_ASSERT(timeout_ms > 0);
    r->ogf = ogf;
    r->ocf = ocf;
    r->timeout_ms = timeout_ms;
    CU_ASSERT_FATAL(param_len <= sizeof(r->param));
    r->len = param_len;
    if (param_len)
        memcpy(r->param, param, param_len);
    if (fake.fail_from && fake.call_count > fake.fail_from)
        return -ENETDOWN;
    if (fake.err_all)
        return fake.err_all;
    if (ocf < OCF_SLOTS && fake.err[ocf])
        return fake.err[ocf];
    *status_out = ocf < OCF_SLOTS ? fake.status[ocf] : BLE_HCI_STATUS_UNKNOWN_COMMAND;
    return 0;
}

static int fake_listen(struct ble_hci *hci)
{
    record(CALL_LISTEN);
    CU_ASSERT_PTR_EQUAL(hci, &fake.hci);
    fake.listens++;
    fake.listening = true;
    return 0;
}

static int fake_read(struct ble_hci *hci, uint8_t *buf, size_t cap, int timeout_ms)
{
    CU_ASSERT_PTR_EQUAL(hci, &fake.hci);
    CU_ASSERT(fake.open && fake.listening);
    CU_ASSERT(timeout_ms >= 0);
    fake.reads++;
    if (timeout_ms > fake.max_read_wait_ms)
        fake.max_read_wait_ms = timeout_ms;
    if (fake.packet_next < fake.packet_count &&
        fake.packets[fake.packet_next].at_ms <= fake.now_ms + timeout_ms) {
        const struct packet *p = &fake.packets[fake.packet_next++];
        if (p->at_ms > fake.now_ms)
            fake.now_ms = p->at_ms;
        if (p->err)
            return p->err;
        CU_ASSERT_FATAL(p->len <= cap);
        memcpy(buf, p->data, p->len);
        return (int)p->len;
    }
    fake.now_ms += timeout_ms;
    return 0;
}

static void fake_close(struct ble_hci *hci)
{
    record(CALL_CLOSE);
    if (hci == NULL)
        return;
    CU_ASSERT_PTR_EQUAL(hci, &fake.hci);
    CU_ASSERT(fake.open);
    fake.open = fake.listening = false;
    fake.closes++;
}

static const struct ble_hci_ops fake_ops = {
    .name = "fake",
    .open = fake_open,
    .command = fake_command,
    .listen = fake_listen,
    .read = fake_read,
    .close = fake_close,
};

/* Scripts one packet (an H4 event, type byte first) at at_ms (calls in time order). */
static void script_packet(int64_t at_ms, const uint8_t *data, size_t len)
{
    CU_ASSERT_FATAL(fake.packet_count < FAKE_PACKETS);
    CU_ASSERT_FATAL(len <= FAKE_PACKET_MAX);
    CU_ASSERT_FATAL(fake.packet_count == 0 ||
                    fake.packets[fake.packet_count - 1].at_ms <= at_ms);
    struct packet *p = &fake.packets[fake.packet_count++];
    p->at_ms = at_ms;
    memcpy(p->data, data, len);
    p->len = len;
    p->err = 0;
}

static void script_error(int64_t at_ms, int err)
{
    CU_ASSERT_FATAL(fake.packet_count < FAKE_PACKETS);
    struct packet *p = &fake.packets[fake.packet_count++];
    p->at_ms = at_ms;
    p->len = 0;
    p->err = err;
}

static size_t count_calls(enum call c)
{
    size_t n = 0;
    for (size_t i = 0; i < fake.call_count; i++)
        n += fake.calls[i].call == c;
    return n;
}

static size_t count_commands(uint16_t ocf)
{
    size_t n = 0;
    for (size_t i = 0; i < fake.call_count; i++)
        n += fake.calls[i].call == CALL_COMMAND && fake.calls[i].ocf == ocf;
    return n;
}

/* ---- the clocks and the sensor_ctx (link-time fakes of sensor.h) ------------------------ */

static int64_t fake_mono_ms(void)
{
    return fake.now_ms;
}

static int64_t fake_wall_ms(void)
{
    return WALL_BASE_MS + fake.now_ms;
}

static const struct ble_env fake_env = {
    .hci = &fake_ops, .mono_ms = fake_mono_ms, .wall_ms = fake_wall_ms};

struct sensor_ctx {
    int unused;
};

struct emitted {
    char sensor[READING_SENSOR_ID_MAX];
    uint8_t quantity, flags;
    double value;
    int64_t ts_ms, mono_ms;
};

#define MAX_EMITTED 512
#define MAX_LOGS 128

static struct {
    struct emitted r[MAX_EMITTED];
    size_t count;
    char logs[MAX_LOGS][1024];
    int log_prio[MAX_LOGS];
    size_t log_count;
} out;

int sensor_emit(struct sensor_ctx *ctx, const struct reading *r)
{
    CU_ASSERT_PTR_NOT_NULL(ctx);
    CU_ASSERT_FATAL(out.count < MAX_EMITTED);
    struct emitted *e = &out.r[out.count++];
    memcpy(e->sensor, r->sensor_id, sizeof(e->sensor));
    e->quantity = r->quantity;
    e->flags = r->flags;
    e->value = r->value;
    e->ts_ms = r->ts_ms;
    e->mono_ms = fake.now_ms;
    return fake.now_ms >= fake.stop_at ? -ECANCELED : 0;
}

bool sensor_sleep_until(struct sensor_ctx *ctx, int64_t mono_ms)
{
    (void)ctx;
    if (fake.sleep_count < FAKE_SLEEPS)
        fake.sleeps[fake.sleep_count++] = mono_ms;
    if (fake.stop_at <= mono_ms) {
        if (fake.now_ms < fake.stop_at)
            fake.now_ms = fake.stop_at;
        return false;
    }
    if (mono_ms > fake.now_ms)
        fake.now_ms = mono_ms;
    return true;
}

bool sensor_stopping(struct sensor_ctx *ctx)
{
    (void)ctx;
    return fake.now_ms >= fake.stop_at;
}

void sensor_log(struct sensor_ctx *ctx, int priority, const char *fmt, ...)
{
    (void)ctx;
    if (out.log_count >= MAX_LOGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out.logs[out.log_count], sizeof(out.logs[0]), fmt, ap);
    va_end(ap);
    out.log_prio[out.log_count++] = priority;
}

static size_t logs_with(int priority, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < out.log_count; i++)
        n += out.log_prio[i] == priority && strstr(out.logs[i], needle) != NULL;
    return n;
}

static void dump_logs(void)
{
    for (size_t i = 0; i < out.log_count; i++)
        fprintf(stderr, "  log <%d> %s\n", out.log_prio[i], out.logs[i]);
}

/* Readings of one sensor, in order, into list (up to cap). Returns how many. */
static size_t readings_of(const char *sensor, const struct emitted **list, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < out.count && n < cap; i++) {
        if (strcmp(out.r[i].sensor, sensor) == 0)
            list[n++] = &out.r[i];
    }
    return n;
}

/* ---- vectors and packets ---------------------------------------------------------------- */

static cJSON *ble_vectors;

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

static size_t unhex(const char *hex, uint8_t *buf, size_t cap)
{
    size_t n = strlen(hex) / 2;
    CU_ASSERT_FATAL(strlen(hex) % 2 == 0 && n <= cap);
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        CU_ASSERT_FATAL(hi >= 0 && lo >= 0);
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    return n;
}

static const cJSON *vector(const char *id)
{
    if (ble_vectors == NULL)
        ble_vectors = vectors_load("ble_vectors.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ble_vectors);
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(ble_vectors, "vectors"))
    {
        const cJSON *vid = cJSON_GetObjectItemCaseSensitive(v, "id");
        if (cJSON_IsString(vid) && strcmp(vid->valuestring, id) == 0)
            return v;
    }
    fprintf(stderr, "no vector %s\n", id);
    CU_FAIL_FATAL("vector missing");
    return NULL;
}

static const char *vector_str(const cJSON *v, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, key);
    CU_ASSERT_FATAL(cJSON_IsString(s));
    return s->valuestring;
}

/* A vector's full H4 event (hci_event_hex) into buf. Returns its length. */
static size_t vector_event(const char *id, uint8_t *buf, size_t cap)
{
    return unhex(vector_str(vector(id), "hci_event_hex"), buf, cap);
}

static void parse_addr(const char *text, uint8_t addr[6])
{
    for (int i = 0; i < 6; i++)
        addr[i] = (uint8_t)(hex_digit(text[3 * i]) << 4 | hex_digit(text[3 * i + 1]));
}

/* An H4 LE Advertising Report event (0x04 0x3E len 0x02, one report: ADV_NONCONN_IND, public
 * address little-endian, the AD, RSSI) for a vector that comes with its AD only. */
static size_t legacy_event(const char *addr_text, const uint8_t *ad, size_t ad_len, int8_t rssi,
                           uint8_t *buf, size_t cap)
{
    CU_ASSERT_FATAL(ad_len <= 31 && cap >= 15 + ad_len);
    uint8_t addr[6];
    parse_addr(addr_text, addr);
    size_t n = 0;
    buf[n++] = 0x04;
    buf[n++] = 0x3E;
    buf[n++] = (uint8_t)(12 + ad_len);
    buf[n++] = 0x02; /* LE Advertising Report */
    buf[n++] = 1;    /* one report */
    buf[n++] = 0x03; /* ADV_NONCONN_IND */
    buf[n++] = 0x00; /* public */
    for (int i = 5; i >= 0; i--)
        buf[n++] = addr[i];
    buf[n++] = (uint8_t)ad_len;
    memcpy(buf + n, ad, ad_len);
    n += ad_len;
    buf[n++] = (uint8_t)rssi;
    return n;
}

/* pvvx-real-1 (A4:C1:38:02:83:F4: 17.05 °C, 44.57 %, 88 %) with its packet counter set. */
static size_t pvvx1_event(uint8_t counter, uint8_t *buf, size_t cap)
{
    size_t n = vector_event("pvvx-real-1", buf, cap);
    CU_ASSERT_FATAL(buf[PVVX1_COUNTER_AT] == 247);
    buf[PVVX1_COUNTER_AT] = counter;
    return n;
}

static void script_pvvx1(int64_t at_ms, uint8_t counter)
{
    uint8_t ev[FAKE_PACKET_MAX];
    size_t n = pvvx1_event(counter, ev, sizeof(ev));
    script_packet(at_ms, ev, n);
}

/* ---- adapter helpers -------------------------------------------------------------------- */

static struct sensor_ctx ctx;

static void setup_each(void)
{
    fake_reset();
    memset(&out, 0, sizeof(out));
}

static int open_cfg(const char *json, struct cfg_error *err, void **state)
{
    cJSON *cfg = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    int rc = ble_adapter_open_env(&fake_env, cfg, "buses[0]", err, state);
    cJSON_Delete(cfg);
    return rc;
}

static void *open_bus(const char *json)
{
    struct cfg_error err = {0};
    void *state = NULL;
    int rc = open_cfg(json, &err, &state);
    if (rc != 0)
        fprintf(stderr, "open failed: %s: %s\n", err.path, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    return state;
}

/* Runs the adapter until stop is asked at stop_at (fake time); returns run()'s result and
 * checks that it left the controller closed. */
static int run_to(void *state, int64_t stop_at)
{
    fake.stop_at = stop_at;
    int rc = ble_adapter.run(state, &ctx);
    CU_ASSERT(!fake.open);
    CU_ASSERT_EQUAL(fake.opens, fake.closes);
    return rc;
}

/* Runs until stop; asserts run() returned 0 promptly. */
static void run_until(void *state, int64_t stop_at)
{
    int rc = run_to(state, stop_at);
    if (rc != 0)
        dump_logs();
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(fake.now_ms >= stop_at);
    CU_ASSERT(fake.now_ms - stop_at <= 1000);
}

#define PROBE(addr, sensor, extra) "{\"address\":\"" addr "\",\"sensor\":\"" sensor "\"" extra "}"
#define BUS(extra, probes)                                                                         \
    "{\"name\":\"fridges\",\"type\":\"ble\"" extra ",\"probes\":[" probes "]}"
#define ONE_PVVX(extra) BUS(extra, PROBE(ADDR_PVVX1, "fridge-a", ",\"format\":\"pvvx\""))

/* Checks call i is the LE command ocf with exactly these parameters. */
static void expect_command(size_t i, uint16_t ocf, const uint8_t *param, uint8_t len)
{
    CU_ASSERT_FATAL(i < fake.call_count);
    const struct call_rec *c = &fake.calls[i];
    bool ok = c->call == CALL_COMMAND && c->ogf == BLE_HCI_OGF_LE && c->ocf == ocf &&
              c->len == len && memcmp(c->param, param, len) == 0;
    if (!ok) {
        fprintf(stderr, "call %zu: kind %d ogf 0x%02X ocf 0x%04X len %u:", i, (int)c->call,
                c->ogf, c->ocf, c->len);
        for (unsigned k = 0; k < c->len; k++)
            fprintf(stderr, " %02X", c->param[k]);
        fprintf(stderr, "; want ocf 0x%04X len %u\n", ocf, len);
    }
    CU_ASSERT(ok);
}

static void expect_call(size_t i, enum call c)
{
    CU_ASSERT_FATAL(i < fake.call_count);
    CU_ASSERT_EQUAL(fake.calls[i].call, c);
}

static const uint8_t LEGACY_OFF[2] = {0x00, 0x00};
static const uint8_t EXT_OFF[6] = {0, 0, 0, 0, 0, 0};
static const uint8_t LEGACY_ON[2] = {0x01, 0x00}; /* enable, filter_dup 0 */
static const uint8_t EXT_ON[6] = {0x01, 0x00, 0, 0, 0, 0};

/* The four commands of a legacy scan start from index i: disable both kinds, parameters with
 * the given scan type, enable. Returns the index after them. */
static size_t expect_legacy_start(size_t i, uint8_t type)
{
    const uint8_t params[7] = {type, 0x30, 0x00, 0x30, 0x00, 0x00, 0x00};
    expect_command(i, BLE_HCI_OCF_SET_SCAN_ENABLE, LEGACY_OFF, 2);
    expect_command(i + 1, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, EXT_OFF, 6);
    expect_command(i + 2, BLE_HCI_OCF_SET_SCAN_PARAMETERS, params, 7);
    expect_command(i + 3, BLE_HCI_OCF_SET_SCAN_ENABLE, LEGACY_ON, 2);
    return i + 4;
}

static size_t expect_stop(size_t i)
{
    expect_command(i, BLE_HCI_OCF_SET_SCAN_ENABLE, LEGACY_OFF, 2);
    expect_command(i + 1, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, EXT_OFF, 6);
    return i + 2;
}

/* The scan type byte of the first Set Scan Parameters the controller got. */
static int scan_type_sent(void)
{
    for (size_t i = 0; i < fake.call_count; i++) {
        if (fake.calls[i].call == CALL_COMMAND &&
            fake.calls[i].ocf == BLE_HCI_OCF_SET_SCAN_PARAMETERS)
            return fake.calls[i].param[0];
    }
    return -1;
}

/* ---- config ----------------------------------------------------------------------------- */

struct point {
    char sensor[READING_SENSOR_ID_MAX];
    uint8_t quantity;
    char path[CFG_PATH_CAP];
};

struct points {
    struct point p[16];
    size_t n;
};

static int collect_point(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    struct points *ps = arg;
    CU_ASSERT_FATAL(ps->n < 16);
    struct point *p = &ps->p[ps->n++];
    snprintf(p->sensor, sizeof(p->sensor), "%s", sensor_id);
    p->quantity = quantity;
    snprintf(p->path, sizeof(p->path), "%s", path);
    return 0;
}

static void test_every_key_is_accepted_without_touching_the_radio(void)
{
    void *state = open_bus(BUS(",\"device\":\"hci1\",\"scan\":\"active\",\"interval\":\"10s\","
                               "\"quiet_restart\":\"1m\"",
                               PROBE("a4:c1:38:8d:18:b2", "fridge-a", ",\"format\":\"pvvx\"") ","
                               PROBE(ADDR_RUUVI, "fridge-b", "")));
    CU_ASSERT_EQUAL(fake.call_count, 0);
    CU_ASSERT_STRING_EQUAL(ble_adapter.name(state), "fridges");
    struct points ps = {0};
    CU_ASSERT_EQUAL(ble_adapter.for_each_point(state, collect_point, &ps), 0);
    static const struct {
        const char *sensor;
        uint8_t quantity;
        const char *path;
    } want[] = {
        {"fridge-a", QUANTITY_TEMPERATURE, "buses[0].probes[0].sensor"},
        {"fridge-a", QUANTITY_HUMIDITY, "buses[0].probes[0].sensor"},
        {"fridge-a", QUANTITY_BATTERY, "buses[0].probes[0].sensor"},
        {"fridge-b", QUANTITY_TEMPERATURE, "buses[0].probes[1].sensor"},
        {"fridge-b", QUANTITY_HUMIDITY, "buses[0].probes[1].sensor"},
        {"fridge-b", QUANTITY_BATTERY, "buses[0].probes[1].sensor"},
    };
    CU_ASSERT_EQUAL_FATAL(ps.n, 6);
    for (size_t i = 0; i < 6; i++) {
        CU_ASSERT_STRING_EQUAL(ps.p[i].sensor, want[i].sensor);
        CU_ASSERT_EQUAL(ps.p[i].quantity, want[i].quantity);
        CU_ASSERT_STRING_EQUAL(ps.p[i].path, want[i].path);
    }
    /* the device is the one opened */
    run_until(state, 100);
    CU_ASSERT_STRING_EQUAL(fake.device, "hci1");
    ble_adapter.close(state);

    /* the replay keys, and a controller given by its address */
    state = open_bus(BUS(",\"replay\":\"/nonexistent/capture.btsnoop\",\"replay_start\":\"now\"",
                         PROBE(ADDR_PVVX1, "fridge-a", "")));
    ble_adapter.close(state);
    state = open_bus(BUS(",\"replay\":\"/nonexistent/capture.btsnoop\","
                         "\"replay_start\":\"recorded\"",
                         PROBE(ADDR_PVVX1, "fridge-a", "")));
    ble_adapter.close(state);
    state = open_bus(BUS(",\"device\":\"00:1A:7D:DA:71:13\"", PROBE(ADDR_PVVX1, "fridge-a", "")));
    ble_adapter.close(state);
    ble_adapter.close(NULL);
    CU_ASSERT_EQUAL(fake.opens, 1);
}

static void test_the_registry_knows_ble(void)
{
    CU_ASSERT_PTR_EQUAL(sensor_adapter_find("ble"), &ble_adapter);
    CU_ASSERT_PTR_NOT_NULL(strstr(sensor_adapter_types(), "ble"));
}

static void test_bad_configs_name_the_path(void)
{
    static const struct {
        const char *json, *path, *msg;
    } cases[] = {
        {BUS("", PROBE("A4:C1:38:8D:18", "a", "")), "buses[0].probes[0].address",
         "Bluetooth address"},
        {BUS("", PROBE("A4-C1-38-8D-18-B2", "a", "")), "buses[0].probes[0].address",
         "Bluetooth address"},
        {BUS("", PROBE("G4:C1:38:8D:18:B2", "a", "")), "buses[0].probes[0].address",
         "Bluetooth address"},
        {BUS("", "{\"sensor\":\"a\"}"), "buses[0].probes[0].address", "missing"},
        {BUS("", PROBE(ADDR_PVVX1, "a", ",\"format\":\"xiaomi\"")), "buses[0].probes[0].format",
         "ruuvi, bthome, pvvx, atc1441, govee or inkbird"},
        {BUS("", PROBE(ADDR_PVVX1, "a b", "")), "buses[0].probes[0].sensor", "sensor id"},
        {BUS("", PROBE(ADDR_PVVX1, "a", ",\"fromat\":\"pvvx\"")), "buses[0].probes[0]",
         "fromat"},
        {BUS("", PROBE(ADDR_PVVX1, "a", "") "," PROBE("a4:c1:38:02:83:f4", "b", "")),
         "buses[0].probes[1]", "address A4:C1:38:02:83:F4 is listed twice"},
        {BUS("", PROBE(ADDR_PVVX1, "a", "") "," PROBE(ADDR_PVVX2, "a", "")),
         "buses[0].probes[1].sensor", "sensor \"a\" is already read by buses[0].probes[0]"},
        {BUS(",\"device\":\"hci0\",\"replay\":\"x.btsnoop\"", PROBE(ADDR_PVVX1, "a", "")),
         "buses[0].replay", "not both"},
        {BUS(",\"replay\":\"\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].replay", "btsnoop"},
        {BUS(",\"replay_start\":\"now\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].replay_start",
         "only a bus with \"replay\""},
        {BUS(",\"replay\":\"x.btsnoop\",\"replay_start\":\"later\"",
             PROBE(ADDR_PVVX1, "a", "")),
         "buses[0].replay_start", "\"recorded\" or \"now\""},
        {BUS(",\"device\":\"bt0\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].device", "hci0"},
        {BUS(",\"scan\":\"passive\"", PROBE(ADDR_PVVX1, "a", ",\"format\":\"govee\"")),
         "buses[0].scan", "scan responses"},
        {BUS(",\"scan\":\"passive\"",
             PROBE(ADDR_PVVX2, "a", ",\"format\":\"ruuvi\"") ","
             PROBE(ADDR_PVVX1, "b", ",\"format\":\"inkbird\"")),
         "buses[0].scan", "A4:C1:38:02:83:F4 (inkbird)"},
        {BUS(",\"scan\":\"sometimes\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].scan",
         "\"auto\", \"active\" or \"passive\""},
        {BUS(",\"interval\":\"500ms\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].interval",
         "between 1s and 1d"},
        {BUS(",\"interval\":\"999ms\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].interval", ""},
        {BUS(",\"interval\":30", PROBE(ADDR_PVVX1, "a", "")), "buses[0].interval", ""},
        {BUS(",\"quiet_restart\":\"9s\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0].quiet_restart",
         ""},
        {BUS(",\"intervall\":\"10s\"", PROBE(ADDR_PVVX1, "a", "")), "buses[0]",
         "unknown key \"intervall\""},
        {BUS("", ""), "buses[0].probes", "expected 1 to 64 probes, got 0"},
        {"{\"name\":\"fridges\",\"type\":\"ble\"}", "buses[0].probes", "missing"},
        {"{\"type\":\"ble\",\"probes\":[" PROBE(ADDR_PVVX1, "a", "") "]}", "buses[0].name",
         "missing"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cfg_error err = {0};
        void *state = (void *)&err; /* must be cleared */
        int rc = open_cfg(cases[i].json, &err, &state);
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT_PTR_NULL(state);
        if (strcmp(err.path, cases[i].path) != 0 || strstr(err.msg, cases[i].msg) == NULL)
            fprintf(stderr, "case %zu: got %s: %s\n", i, err.path, err.msg);
        CU_ASSERT_STRING_EQUAL(err.path, cases[i].path);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
    }
    CU_ASSERT_EQUAL(fake.call_count, 0);
}

/* 64 probes are the most a bus takes; 65 are refused. */
static void test_64_probes_are_the_limit(void)
{
    for (int count = 64; count <= 65; count++) {
        cJSON *cfg = cJSON_CreateObject();
        CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
        cJSON_AddStringToObject(cfg, "name", "many");
        cJSON_AddStringToObject(cfg, "type", "ble");
        cJSON *probes = cJSON_AddArrayToObject(cfg, "probes");
        for (int i = 0; i < count; i++) {
            char addr[32], sensor[32];
            snprintf(addr, sizeof(addr), "A4:C1:38:00:00:%02X", i);
            snprintf(sensor, sizeof(sensor), "fridge-%d", i);
            cJSON *p = cJSON_CreateObject();
            CU_ASSERT_PTR_NOT_NULL_FATAL(p);
            cJSON_AddStringToObject(p, "address", addr);
            cJSON_AddStringToObject(p, "sensor", sensor);
            cJSON_AddItemToArray(probes, p);
        }
        struct cfg_error err = {0};
        void *state = NULL;
        int rc = ble_adapter_open_env(&fake_env, cfg, "buses[3]", &err, &state);
        if (count == 64) {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_PTR_NOT_NULL(state);
            ble_adapter.close(state);
        } else {
            CU_ASSERT_EQUAL(rc, -EINVAL);
            CU_ASSERT_PTR_NULL(state);
            CU_ASSERT_STRING_EQUAL(err.path, "buses[3].probes");
            CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "got 65"));
        }
        cJSON_Delete(cfg);
    }
}

static int stop_at_second(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    (void)sensor_id;
    (void)quantity;
    (void)path;
    int *n = arg;
    return ++*n == 2 ? 42 : 0;
}

static void test_the_point_walk_stops_at_a_nonzero_return(void)
{
    void *state = open_bus(ONE_PVVX(""));
    int n = 0;
    CU_ASSERT_EQUAL(ble_adapter.for_each_point(state, stop_at_second, &n), 42);
    CU_ASSERT_EQUAL(n, 2);
    ble_adapter.close(state);
}

/* "auto" is passive only when every probe's format puts its data in the advert itself. */
static void test_auto_scan_is_active_only_where_a_format_needs_scan_responses(void)
{
    static const struct {
        const char *scan, *formats[3];
        int type;
    } cases[] = {
        {"auto", {"ruuvi", "bthome", "pvvx"}, 0x00},
        {"auto", {"atc1441", NULL, NULL}, 0x00},
        {"auto", {"ruuvi", "govee", NULL}, 0x01},
        {"auto", {"inkbird", NULL, NULL}, 0x01},
        {"auto", {"pvvx", "", NULL}, 0x01}, /* "": a probe of no stated format */
        {NULL, {"pvvx", NULL, NULL}, 0x00},  /* no "scan" key: auto */
        {NULL, {"", NULL, NULL}, 0x01},
        {"active", {"ruuvi", NULL, NULL}, 0x01},
        {"passive", {"pvvx", "", NULL}, 0x00},
    };
    static const char *const addrs[] = {ADDR_PVVX1, ADDR_PVVX2, ADDR_RUUVI};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup_each();
        char json[1024], probes[600] = "";
        size_t used = 0;
        for (size_t k = 0; k < 3 && cases[i].formats[k] != NULL; k++) {
            char format[48] = "";
            if (cases[i].formats[k][0] != '\0')
                snprintf(format, sizeof(format), ",\"format\":\"%s\"", cases[i].formats[k]);
            used += (size_t)snprintf(probes + used, sizeof(probes) - used,
                                     "%s{\"address\":\"%s\",\"sensor\":\"s%zu\"%s}",
                                     k ? "," : "", addrs[k], k, format);
        }
        char scan[48] = "";
        if (cases[i].scan)
            snprintf(scan, sizeof(scan), ",\"scan\":\"%s\"", cases[i].scan);
        snprintf(json, sizeof(json), "{\"name\":\"b\",\"type\":\"ble\"%s,\"probes\":[%s]}", scan,
                 probes);
        void *state = open_bus(json);
        run_until(state, 100);
        if (scan_type_sent() != cases[i].type)
            fprintf(stderr, "case %zu (%s): scan type %d\n", i, json, scan_type_sent());
        CU_ASSERT_EQUAL(scan_type_sent(), cases[i].type);
        ble_adapter.close(state);
    }
}

/* ---- scan start and stop ---------------------------------------------------------------- */

static void test_the_scan_starts_with_legacy_commands_and_stops_on_stop(void)
{
    void *state = open_bus(ONE_PVVX(""));
    run_until(state, 2000);
    /* open, disable both kinds of scan, legacy parameters (passive, 30 ms / 30 ms, public own
     * address, accept all), enable without duplicate filtering, listen; on stop: disable both,
     * close */
    expect_call(0, CALL_OPEN);
    CU_ASSERT_STRING_EQUAL(fake.device, "hci0");
    size_t i = expect_legacy_start(1, 0x00);
    expect_call(i++, CALL_LISTEN);
    i = expect_stop(i);
    expect_call(i++, CALL_CLOSE);
    CU_ASSERT_EQUAL(fake.call_count, i);
    CU_ASSERT_EQUAL(count_commands(BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS), 0);
    /* reads wait briefly, so that a stop is seen quickly */
    CU_ASSERT(fake.reads >= 4);
    CU_ASSERT(fake.max_read_wait_ms > 0 && fake.max_read_wait_ms <= 1000);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "scanning on hci0 (passive, legacy commands)"), 1);
    CU_ASSERT_EQUAL(out.count, 0);
    /* the gateway may run it again: it starts over */
    run_until(state, fake.now_ms + 1000);
    CU_ASSERT_EQUAL(fake.opens, 2);
    CU_ASSERT_EQUAL(count_calls(CALL_LISTEN), 2);
    ble_adapter.close(state);
}

static void test_command_disallowed_falls_back_to_extended_commands(void)
{
    static const uint8_t refusals[] = {BLE_HCI_STATUS_COMMAND_DISALLOWED,
                                       BLE_HCI_STATUS_UNKNOWN_COMMAND};
    for (size_t r = 0; r < sizeof(refusals); r++) {
        setup_each();
        fake.status[BLE_HCI_OCF_SET_SCAN_PARAMETERS] = refusals[r];
        void *state = open_bus(BUS(",\"scan\":\"active\"", PROBE(ADDR_PVVX1, "fridge-a", "")));
        run_until(state, 1000);
        const uint8_t legacy[7] = {0x01, 0x30, 0x00, 0x30, 0x00, 0x00, 0x00};
        /* own address public, accept all, LE 1M only, active, interval and window LE16 */
        const uint8_t ext[8] = {0x00, 0x00, 0x01, 0x01, 0x30, 0x00, 0x30, 0x00};
        expect_call(0, CALL_OPEN);
        expect_command(1, BLE_HCI_OCF_SET_SCAN_ENABLE, LEGACY_OFF, 2);
        expect_command(2, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, EXT_OFF, 6);
        expect_command(3, BLE_HCI_OCF_SET_SCAN_PARAMETERS, legacy, 7);
        expect_command(4, BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS, ext, 8);
        /* enable, filter_dup 0, duration 0, period 0 */
        expect_command(5, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, EXT_ON, 6);
        expect_call(6, CALL_LISTEN);
        size_t i = expect_stop(7);
        expect_call(i++, CALL_CLOSE);
        CU_ASSERT_EQUAL(fake.call_count, i);
        CU_ASSERT_EQUAL(logs_with(LOG_INFO, "using the extended ones"), 1);
        CU_ASSERT_EQUAL(logs_with(LOG_INFO, "(active, extended commands)"), 1);
        ble_adapter.close(state);
    }
    /* a passive scan says so in the extended parameters too */
    setup_each();
    fake.status[BLE_HCI_OCF_SET_SCAN_PARAMETERS] = BLE_HCI_STATUS_COMMAND_DISALLOWED;
    void *state = open_bus(ONE_PVVX(""));
    run_until(state, 1000);
    const uint8_t ext[8] = {0x00, 0x00, 0x01, 0x00, 0x30, 0x00, 0x30, 0x00};
    expect_command(4, BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS, ext, 8);
    ble_adapter.close(state);
}

static void test_a_disallowed_legacy_enable_falls_back_too(void)
{
    fake.status[BLE_HCI_OCF_SET_SCAN_ENABLE] = BLE_HCI_STATUS_COMMAND_DISALLOWED;
    void *state = open_bus(ONE_PVVX(""));
    run_until(state, 1000);
    CU_ASSERT_EQUAL(count_commands(BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "extended commands"), 1);
    ble_adapter.close(state);
}

static void test_a_controller_refusing_both_ends_run_with_an_error(void)
{
    fake.status[BLE_HCI_OCF_SET_SCAN_PARAMETERS] = BLE_HCI_STATUS_COMMAND_DISALLOWED;
    fake.status[BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS] = BLE_HCI_STATUS_COMMAND_DISALLOWED;
    void *state = open_bus(ONE_PVVX(""));
    int rc = run_to(state, 10000);
    CU_ASSERT(rc < 0);
    CU_ASSERT_EQUAL(rc, -EIO);
    CU_ASSERT_EQUAL(fake.now_ms, 0); /* at once, no reads */
    CU_ASSERT_EQUAL(count_calls(CALL_LISTEN), 0);
    CU_ASSERT_EQUAL(count_commands(BLE_HCI_OCF_SET_EXT_SCAN_ENABLE), 1); /* the disable only */
    expect_call(fake.call_count - 1, CALL_CLOSE);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "refused the extended scan too (HCI status 0x0C)"), 1);

    /* another refusal of the legacy parameters is not a reason to try the extended ones */
    setup_each();
    fake.status[BLE_HCI_OCF_SET_SCAN_PARAMETERS] = 0x12; /* Invalid HCI Command Parameters */
    CU_ASSERT_EQUAL(run_to(state, 10000), -EIO);
    CU_ASSERT_EQUAL(count_commands(BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS), 0);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "refused the legacy scan (HCI status 0x12)"), 1);
    ble_adapter.close(state);
}

static void test_eperm_says_which_capability_is_missing(void)
{
    fake.err_all = -EPERM;
    void *state = open_bus(ONE_PVVX(""));
    CU_ASSERT_EQUAL(run_to(state, 10000), -EPERM);
    CU_ASSERT_EQUAL(count_calls(CALL_LISTEN), 0);
    expect_call(fake.call_count - 1, CALL_CLOSE);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "CAP_NET_RAW"), 1);
    if (logs_with(LOG_ERR, "CAP_NET_RAW") != 1)
        dump_logs();

    /* a missing controller is logged once however often the gateway retries */
    setup_each();
    fake.open_err = -ENODEV;
    CU_ASSERT_EQUAL(run_to(state, 10000), -ENODEV);
    CU_ASSERT_EQUAL(run_to(state, 10000), -ENODEV);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "no such controller"), 1);
    CU_ASSERT_EQUAL(out.log_count, 1);
    fake.open_err = -EAFNOSUPPORT;
    CU_ASSERT_EQUAL(run_to(state, 10000), -EAFNOSUPPORT);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "no Bluetooth"), 1);
    CU_ASSERT_EQUAL(fake.call_count, 3); /* three opens, nothing else */
    ble_adapter.close(state);
}

static void test_a_controller_going_away_ends_run_with_enetdown(void)
{
    void *state = open_bus(ONE_PVVX(""));
    script_pvvx1(1000, 1);
    script_error(2000, -ENETDOWN);
    CU_ASSERT_EQUAL(run_to(state, 60000), -ENETDOWN);
    CU_ASSERT_EQUAL(fake.now_ms, 2000);
    /* the scan is disabled (best effort), then the socket closed */
    size_t n = fake.call_count;
    expect_command(n - 3, BLE_HCI_OCF_SET_SCAN_ENABLE, LEGACY_OFF, 2);
    expect_command(n - 2, BLE_HCI_OCF_SET_EXT_SCAN_ENABLE, EXT_OFF, 6);
    expect_call(n - 1, CALL_CLOSE);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "lost hci0"), 1);
    CU_ASSERT_EQUAL(out.count, 3); /* the reading before it stands */
    ble_adapter.close(state);
}

/* ---- reports ---------------------------------------------------------------------------- */

/* The readings of one vector's HCI event from a configured probe, with and without its format
 * stated: the vector's expected values, stamped with the fake wall clock at the read. */
static const struct {
    const char *id, *format;
} decodable[] = {
    {"ruuvi5-real-capture", "ruuvi"},
    {"ruuvi3-valid", "ruuvi"},
    {"bthome-temp-hum", "bthome"},
    {"pvvx-real-1", "pvvx"},
    {"pvvx-real-2", "pvvx"},
    {"pvvx-real-extended-report", "pvvx"},
    {"atc1441-real", "atc1441"},
    {"atc1441-real-extended-report", "atc1441"},
    {"govee-h5075-bleparser", "govee"},
    {"govee-h5075-negative", "govee"},
    {"inkbird-th1", "inkbird"},
    {"inkbird-th1-external-probe", "inkbird"},
    {"inkbird-th2-t-only", "inkbird"},
    {"inkbird-th2-negative", "inkbird"},
};

/* The address in an H4 advertising report event, as printed. */
static void event_address(const uint8_t *ev, char text[18])
{
    size_t at = ev[3] == 0x02 ? 7 : 8;
    snprintf(text, 18, "%02X:%02X:%02X:%02X:%02X:%02X", ev[at + 5], ev[at + 4], ev[at + 3],
             ev[at + 2], ev[at + 1], ev[at]);
}

/* Checks sensor's readings of quantity against a vector's expected key: a number: exactly one
 * reading, that value (within tol), no flags, stamped ts_ms; null: never a value (a fault or
 * nothing); absent: nothing. */
static void check_quantity(const cJSON *expected, const char *key, const char *sensor,
                           uint8_t quantity, double tol, int64_t ts_ms, const char *id)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(expected, key);
    size_t n = 0;
    const struct emitted *r = NULL;
    for (size_t i = 0; i < out.count; i++) {
        if (strcmp(out.r[i].sensor, sensor) == 0 && out.r[i].quantity == quantity) {
            n++;
            r = &out.r[i];
        }
    }
    bool ok;
    if (cJSON_IsNumber(e))
        ok = n == 1 && r->flags == 0 && fabs(r->value - e->valuedouble) <= tol &&
             r->ts_ms == ts_ms;
    else if (cJSON_IsNull(e))
        ok = n == 0 || (n == 1 && r->flags == READING_FAULT && isnan(r->value));
    else
        ok = n == 0;
    if (!ok)
        fprintf(stderr, "%s: %s: %zu readings, last %g flags %u ts %lld\n", id, key, n,
                r ? r->value : 0.0, r ? r->flags : 0u, r ? (long long)r->ts_ms : 0LL);
    CU_ASSERT(ok);
}

static void test_vector_events_give_their_expected_readings(void)
{
    for (size_t i = 0; i < sizeof(decodable) / sizeof(decodable[0]); i++) {
        for (int with_format = 0; with_format <= 1; with_format++) {
            setup_each();
            uint8_t ev[FAKE_PACKET_MAX];
            size_t len = vector_event(decodable[i].id, ev, sizeof(ev));
            char addr[18], json[512], format[48] = "";
            event_address(ev, addr);
            if (with_format)
                snprintf(format, sizeof(format), ",\"format\":\"%s\"", decodable[i].format);
            snprintf(json, sizeof(json),
                     "{\"name\":\"b\",\"type\":\"ble\",\"probes\":[{\"address\":\"%s\","
                     "\"sensor\":\"fridge-v\"%s}]}",
                     addr, format);
            void *state = open_bus(json);
            script_packet(1234, ev, len);
            run_until(state, 3000);
            const cJSON *expected =
                cJSON_GetObjectItemCaseSensitive(vector(decodable[i].id), "expected");
            int64_t ts = WALL_BASE_MS + 1234;
            check_quantity(expected, "temperature_c", "fridge-v", QUANTITY_TEMPERATURE, 0.006, ts,
                           decodable[i].id);
            check_quantity(expected, "humidity_pct", "fridge-v", QUANTITY_HUMIDITY, 0.006, ts,
                           decodable[i].id);
            check_quantity(expected, "battery_pct", "fridge-v", QUANTITY_BATTERY, 0.5, ts,
                           decodable[i].id);
            CU_ASSERT(out.count >= 1);
            /* readings come in the order temperature, humidity, battery */
            for (size_t k = 1; k < out.count; k++)
                CU_ASSERT(out.r[k - 1].quantity < out.r[k].quantity);
            CU_ASSERT_EQUAL(logs_with(LOG_INFO, "fridge-v found"), 1);
            CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "fridge-v"), 0);
            ble_adapter.close(state);
        }
    }
}

static void test_the_found_line_names_format_and_rssi(void)
{
    void *state = open_bus(BUS("", PROBE(ADDR_PVVX1, "fridge-a", "") ","
                                       PROBE("A4:C1:38:63:37:8B", "fridge-b", "")));
    uint8_t ev[FAKE_PACKET_MAX];
    script_pvvx1(100, 247);
    size_t n = vector_event("pvvx-real-extended-report", ev, sizeof(ev));
    script_packet(200, ev, n);
    run_until(state, 1000);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "fridge-a found: pvvx"), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "RSSI -34 dBm"), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "RSSI -70 dBm"), 1); /* extended: byte 18 */
    CU_ASSERT_EQUAL(out.count, 6);
    ble_adapter.close(state);
}

/* Devices nobody configured, and the formats no decoder reads (encrypted, SwitchBot,
 * MiBeacon), give nothing. */
static void test_unconfigured_or_unreadable_devices_give_nothing(void)
{
    void *state = open_bus(BUS("", PROBE(ADDR_PVVX2, "fridge-b", ",\"format\":\"pvvx\"")));
    script_pvvx1(100, 1); /* A4:C1:38:02:83:F4: not configured */
    run_until(state, 1000);
    CU_ASSERT_EQUAL(out.count, 0);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, ""), 0);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "1 reports, 0 readings"), 1);
    ble_adapter.close(state);

    static const char *const unreadable[] = {
        "bthome-encrypted-test",         "pvvx-encrypted",
        "switchbot-meter-s1-bleparser",  "switchbot-meterplus-bleparser",
        "mibeacon-lywsd03mmc-v3-plain",  "mibeacon-lywsd03mmc-v5-encrypted",
    };
    for (size_t i = 0; i < sizeof(unreadable) / sizeof(unreadable[0]); i++) {
        setup_each();
        uint8_t ev[FAKE_PACKET_MAX];
        size_t len = vector_event(unreadable[i], ev, sizeof(ev));
        char addr[18], json[256];
        event_address(ev, addr);
        snprintf(json, sizeof(json),
                 "{\"name\":\"b\",\"type\":\"ble\",\"probes\":[{\"address\":\"%s\","
                 "\"sensor\":\"fridge-v\"}]}",
                 addr);
        state = open_bus(json);
        script_packet(100, ev, len);
        script_packet(200, ev, len);
        run_until(state, 1000);
        if (out.count != 0)
            fprintf(stderr, "%s gave readings\n", unreadable[i]);
        CU_ASSERT_EQUAL(out.count, 0);
        CU_ASSERT(logs_with(LOG_WARNING, "fridge-v") <= 1); /* a bad one: said once */
        ble_adapter.close(state);
    }
}

/* A probe configured with one format that sends another gives nothing, and says so once. */
static void test_a_format_mismatch_gives_nothing_and_is_logged_once(void)
{
    static const char *const wrong[] = {"atc1441", "ruuvi", "bthome", "govee", "inkbird"};
    for (size_t i = 0; i < sizeof(wrong) / sizeof(wrong[0]); i++) {
        setup_each();
        char json[256];
        snprintf(json, sizeof(json),
                 BUS(",\"scan\":\"active\"", PROBE(ADDR_PVVX1, "fridge-a", ",\"format\":\"%s\"")),
                 wrong[i]);
        void *state = open_bus(json);
        script_pvvx1(1000, 1);
        script_pvvx1(2000, 1);
        script_pvvx1(40000, 2);
        script_pvvx1(80000, 3);
        run_until(state, 90000);
        CU_ASSERT_EQUAL(out.count, 0);
        if (logs_with(LOG_WARNING, "another format than the configured one") != 1) {
            fprintf(stderr, "configured %s:\n", wrong[i]);
            dump_logs();
        }
        CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "another format than the configured one"), 1);
        CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "fridge-a"), 1);
        ble_adapter.close(state);
    }
}

/* Ruuvi RAWv2 "invalid values" (temperature 0x8000, humidity 0xFFFF): faults, never values. */
static void test_invalid_markers_give_fault_readings(void)
{
    void *state = open_bus(BUS("", PROBE(ADDR_RUUVI, "fridge-r", ",\"format\":\"ruuvi\"")));
    uint8_t ad[64], ev[FAKE_PACKET_MAX];
    size_t ad_len = unhex(vector_str(vector("ruuvi5-invalid"), "ad_hex"), ad, sizeof(ad));
    size_t len = legacy_event(ADDR_RUUVI, ad, ad_len, -60, ev, sizeof(ev));
    script_packet(500, ev, len);
    run_until(state, 1000);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-r", r, 8), 2);
    CU_ASSERT_EQUAL(r[0]->quantity, QUANTITY_TEMPERATURE);
    CU_ASSERT_EQUAL(r[1]->quantity, QUANTITY_HUMIDITY);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(r[i]->flags, READING_FAULT);
        CU_ASSERT(isnan(r[i]->value));
        CU_ASSERT_EQUAL(r[i]->ts_ms, WALL_BASE_MS + 500);
    }
    ble_adapter.close(state);
}

static void test_repeats_and_reports_within_the_interval_give_nothing(void)
{
    void *state = open_bus(ONE_PVVX(",\"interval\":\"10s\""));
    script_pvvx1(1000, 1);  /* readings */
    script_pvvx1(2000, 1);  /* the same measurement again */
    script_pvvx1(3000, 2);  /* new, but 2 s after the last readings */
    script_pvvx1(10999, 3); /* 9.999 s after */
    script_pvvx1(11000, 4); /* 10 s after: readings */
    script_pvvx1(12000, 4); /* repeat */
    script_pvvx1(25000, 4); /* a repeat stays a repeat after the interval */
    script_pvvx1(26000, 5); /* readings */
    run_until(state, 30000);
    const struct emitted *r[16];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a", r, 16), 9);
    static const int64_t want_ts[] = {1000, 11000, 26000};
    static const uint8_t quantities[] = {QUANTITY_TEMPERATURE, QUANTITY_HUMIDITY,
                                         QUANTITY_BATTERY};
    for (size_t i = 0; i < 9; i++) {
        CU_ASSERT_EQUAL(r[i]->ts_ms, WALL_BASE_MS + want_ts[i / 3]);
        CU_ASSERT_EQUAL(r[i]->mono_ms, want_ts[i / 3]);
        CU_ASSERT_EQUAL(r[i]->quantity, quantities[i % 3]);
        CU_ASSERT_EQUAL(r[i]->flags, 0);
    }
    CU_ASSERT_DOUBLE_EQUAL(r[0]->value, 17.05, 0.006);
    CU_ASSERT_DOUBLE_EQUAL(r[1]->value, 44.57, 0.006);
    CU_ASSERT_DOUBLE_EQUAL(r[2]->value, 88.0, 0.001);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "8 reports, 9 readings"), 1);
    ble_adapter.close(state);
}

/* Govee carries no counter: only the interval limits it. */
static void test_a_format_without_counter_is_limited_by_the_interval_only(void)
{
    uint8_t ev[FAKE_PACKET_MAX];
    size_t len = vector_event("govee-h5075-bleparser", ev, sizeof(ev));
    char addr[18];
    event_address(ev, addr);
    char json[256];
    snprintf(json, sizeof(json),
             BUS(",\"interval\":\"5s\"", PROBE("%s", "fridge-g", ",\"format\":\"govee\"")), addr);
    void *state = open_bus(json);
    script_packet(1000, ev, len);
    script_packet(3000, ev, len);
    script_packet(6000, ev, len);
    run_until(state, 7000);
    const struct emitted *r[16];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-g", r, 16), 6);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS + 1000);
    CU_ASSERT_EQUAL(r[3]->ts_ms, WALL_BASE_MS + 6000);
    ble_adapter.close(state);
}

/* ---- quiet radio ------------------------------------------------------------------------ */

/* No report at all: restarts after 10 s, then 20, 40, 80, 80 s (2x, 4x, 8x at most). */
static void test_a_quiet_radio_is_restarted_with_back_off(void)
{
    void *state = open_bus(ONE_PVVX(",\"quiet_restart\":\"10s\""));
    run_until(state, 240000);
    static const int64_t want_at[] = {0, 10000, 30000, 70000, 150000, 230000};
    size_t starts = 0;
    for (size_t i = 0; i < fake.call_count; i++) {
        if (fake.calls[i].call != CALL_COMMAND ||
            fake.calls[i].ocf != BLE_HCI_OCF_SET_SCAN_PARAMETERS)
            continue;
        CU_ASSERT_FATAL(starts < 6);
        if (fake.calls[i].at_ms != want_at[starts])
            fprintf(stderr, "start %zu at %lld\n", starts, (long long)fake.calls[i].at_ms);
        CU_ASSERT_EQUAL(fake.calls[i].at_ms, want_at[starts]);
        /* each one a full start: disable both, parameters, enable, listen */
        expect_legacy_start(i - 2, 0x00);
        expect_call(i + 2, CALL_LISTEN);
        starts++;
    }
    CU_ASSERT_EQUAL(starts, 6);
    CU_ASSERT_EQUAL(count_calls(CALL_LISTEN), 6);
    CU_ASSERT_EQUAL(count_calls(CALL_OPEN), 1); /* the socket is kept */
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "restarting the scan"), 5);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "no advertisement from any device on hci0 for 10 s"), 1);
    /* the silence is counted from the last advertisement (here: the scan's start), not from
     * the last restart */
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "for 30 s; restarting the scan (restart 2)"), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "for 230 s; restarting the scan (restart 5)"), 1);
    if (logs_with(LOG_WARNING, "for 30 s; restarting the scan (restart 2)") != 1)
        dump_logs();
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "5 quiet restarts"), 1);
    CU_ASSERT_EQUAL(out.count, 0);
    ble_adapter.close(state);
}

static void test_a_report_after_quiet_restarts_is_logged_and_resets_the_back_off(void)
{
    void *state = open_bus(ONE_PVVX(",\"quiet_restart\":\"10s\",\"interval\":\"1s\""));
    script_pvvx1(5000, 7);  /* heard: readings */
    /* restarts at 15, 35, 75 s */
    script_pvvx1(80000, 7); /* the same measurement after the restarts: no old value again */
    /* heard again: the next quiet period is 10 s again */
    run_until(state, 95000);
    static const int64_t want_at[] = {0, 15000, 35000, 75000, 90000};
    size_t starts = 0;
    for (size_t i = 0; i < fake.call_count; i++) {
        if (fake.calls[i].call == CALL_COMMAND &&
            fake.calls[i].ocf == BLE_HCI_OCF_SET_SCAN_PARAMETERS) {
            CU_ASSERT_FATAL(starts < 5);
            CU_ASSERT_EQUAL(fake.calls[i].at_ms, want_at[starts]);
            starts++;
        }
    }
    CU_ASSERT_EQUAL(starts, 5);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "restarting the scan"), 4);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "advertisements heard again on hci0 after 75 s of "
                                        "silence"),
                    1);
    if (logs_with(LOG_INFO, "after 75 s of silence") != 1)
        dump_logs();
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "for 10 s; restarting the scan (restart 4)"), 1);
    const struct emitted *r[16];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS + 5000);
    ble_adapter.close(state);
}

static void test_a_failed_restart_ends_run(void)
{
    void *state = open_bus(ONE_PVVX(",\"quiet_restart\":\"10s\""));
    fake.fail_from = 6; /* open, 4 commands, listen; then the controller is gone */
    CU_ASSERT_EQUAL(run_to(state, 60000), -ENETDOWN);
    CU_ASSERT_EQUAL(fake.now_ms, 10000);
    CU_ASSERT_EQUAL(logs_with(LOG_ERR, "cannot start the scan on hci0"), 1);
    expect_call(fake.call_count - 1, CALL_CLOSE);
    ble_adapter.close(state);
}

/* ---- replay ----------------------------------------------------------------------------- */

static char tmp_dir[64];

static int replay_suite_init(void)
{
    snprintf(tmp_dir, sizeof(tmp_dir), "%s", "/tmp/test_ble.XXXXXX");
    return mkdtemp(tmp_dir) == NULL ? -1 : 0;
}

static int suite_clean(void);

static int replay_suite_clean(void)
{
    suite_clean();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A btsnoop file being built (the byte layout of btsnoop_vectors.json "header"/"record"). */
struct snoop {
    uint8_t buf[8192];
    size_t len;
};

static void put_be32(struct snoop *s, uint32_t v)
{
    CU_ASSERT_FATAL(s->len + 4 <= sizeof(s->buf));
    for (int i = 3; i >= 0; i--)
        s->buf[s->len++] = (uint8_t)(v >> (8 * i));
}

static void put_be64(struct snoop *s, uint64_t v)
{
    put_be32(s, (uint32_t)(v >> 32));
    put_be32(s, (uint32_t)v);
}

static void snoop_header(struct snoop *s, uint32_t datalink)
{
    s->len = 0;
    memcpy(s->buf, "btsnoop", 8);
    s->len = 8;
    put_be32(s, 1);
    put_be32(s, datalink);
}

/* One record at unix_us (µs since 1970) with flags and data. Returns its offset. */
static size_t snoop_record(struct snoop *s, int64_t unix_us, uint32_t flags, const uint8_t *data,
                           size_t len)
{
    size_t at = s->len;
    put_be32(s, (uint32_t)len);
    put_be32(s, (uint32_t)len);
    put_be32(s, flags);
    put_be32(s, 0);
    put_be64(s, (uint64_t)(unix_us + INT64_C(0x00DCDDB30F2F8000)));
    CU_ASSERT_FATAL(s->len + len <= sizeof(s->buf));
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    return at;
}

/* A received event record: for 1002 the H4 packet as it is; for 2001 without its H4 byte. */
static size_t snoop_event(struct snoop *s, uint32_t datalink, int64_t unix_us, const uint8_t *h4,
                          size_t len)
{
    if (datalink == BTSNOOP_DATALINK_MONITOR)
        return snoop_record(s, unix_us, 3, h4 + 1, len - 1); /* index 0, opcode 3: event */
    return snoop_record(s, unix_us, 3, h4, len);              /* received, event */
}

static void snoop_write(const struct snoop *s, size_t len, const char *name, char *path,
                        size_t cap)
{
    snprintf(path, cap, "%s/%s", tmp_dir, name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL_FATAL(fwrite(s->buf, 1, len, f), len);
    CU_ASSERT_EQUAL_FATAL(fclose(f), 0);
}

static void *open_replay(const char *path, const char *start, const char *interval)
{
    char json[1024], start_key[64] = "";
    if (start != NULL)
        snprintf(start_key, sizeof(start_key), ",\"replay_start\":\"%s\"", start);
    snprintf(json, sizeof(json),
             "{\"name\":\"capture\",\"type\":\"ble\",\"replay\":\"%s\"%s,\"interval\":\"%s\","
             "\"probes\":[" PROBE(ADDR_PVVX1, "fridge-a", "") "," PROBE(ADDR_PVVX2, "fridge-b", "")
             "," PROBE(ADDR_ATC_EXT, "fridge-c", "") "," PROBE(ADDR_RUUVI, "fridge-d", "") "]}",
             path, start_key, interval);
    return open_bus(json);
}

/* Three probes' events, a repeat, and btmon's own records, in a capture an hour old. */
static void write_past_capture(uint32_t datalink, const char *name, char *path, size_t cap,
                               int64_t t0_ms)
{
    static struct snoop s;
    uint8_t ev[FAKE_PACKET_MAX];
    size_t n;
    snoop_header(&s, datalink);
    if (datalink == BTSNOOP_DATALINK_MONITOR) {
        static const uint8_t new_index[16] = {0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                                              'h',  'c',  'i',  '0',  0,    0,    0,    0};
        static const uint8_t note[] = "Bluetooth subsystem version 2.22";
        static const uint8_t cmd[] = {0x0B, 0x20, 0x07, 0x00, 0x30, 0x00, 0x30, 0x00, 0x00, 0x00};
        snoop_record(&s, t0_ms * 1000 - 5000, 0 /* new index */, new_index, 16);
        snoop_record(&s, t0_ms * 1000 - 4000, 0xFFFF0000u | 12u, note, sizeof(note));
        snoop_record(&s, t0_ms * 1000 - 3000, BTSNOOP_OPCODE_COMMAND, cmd, sizeof(cmd));
    }
    n = pvvx1_event(1, ev, sizeof(ev));
    snoop_event(&s, datalink, t0_ms * 1000 + 456, ev, n); /* µs below the ms are dropped */
    snoop_event(&s, datalink, t0_ms * 1000 + 1000000, ev, n); /* a repeat */
    n = vector_event("pvvx-real-2", ev, sizeof(ev));
    snoop_event(&s, datalink, t0_ms * 1000 + 2000000, ev, n);
    n = vector_event("atc1441-real-extended-report", ev, sizeof(ev));
    snoop_event(&s, datalink, t0_ms * 1000 + 3000000, ev, n);
    snoop_write(&s, s.len, name, path, cap);
}

static void check_past_capture(int64_t t0_ms)
{
    const struct emitted *r[16];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, t0_ms);
    CU_ASSERT_DOUBLE_EQUAL(r[0]->value, 17.05, 0.006);
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-b", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, t0_ms + 2000);
    CU_ASSERT_DOUBLE_EQUAL(r[0]->value, 20.91, 0.006);
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-c", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, t0_ms + 3000);
    CU_ASSERT_DOUBLE_EQUAL(r[0]->value, 25.8, 0.006);
    CU_ASSERT_EQUAL(out.count, 9); /* the repeat gave nothing; nothing is sent twice */
    for (size_t i = 0; i < out.count; i++)
        CU_ASSERT_EQUAL(out.r[i].mono_ms, 0); /* at once */
    /* fridge-d is configured but not in the file */
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "fridge-d is not in"), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "4 advertising reports, 9 readings"), 1);
}

static void test_a_past_capture_replays_at_once_with_its_times(void)
{
    static const uint32_t datalinks[] = {BTSNOOP_DATALINK_MONITOR, BTSNOOP_DATALINK_UART};
    for (size_t d = 0; d < 2; d++) {
        setup_each();
        char path[256];
        int64_t t0_ms = WALL_BASE_MS - 3600000 + 123;
        write_past_capture(datalinks[d], d ? "past-1002.btsnoop" : "past-2001.btsnoop", path,
                           sizeof(path), t0_ms);
        void *state = open_replay(path, d ? "recorded" : NULL, "1s");
        /* after the end it idles: run() returns only at the stop, and nothing more comes */
        run_until(state, 3 * 3600000);
        CU_ASSERT_EQUAL(fake.now_ms, 3 * 3600000);
        check_past_capture(t0_ms);
        CU_ASSERT(fake.sleep_count >= 3);
        for (size_t i = 0; i < fake.sleep_count; i++)
            CU_ASSERT(fake.sleeps[i] >= 3600000); /* only the idle sleeps: no waits */
        CU_ASSERT_EQUAL(fake.call_count, 0);     /* no radio */
        CU_ASSERT_EQUAL(logs_with(LOG_ERR, ""), 0);
        if (d == 0)
            CU_ASSERT_EQUAL(logs_with(LOG_INFO, "finished: 7 records"), 1);
        ble_adapter.close(state);
    }
}

static void test_a_future_capture_plays_at_its_times(void)
{
    static struct snoop s;
    uint8_t ev[FAKE_PACKET_MAX];
    char path[256];
    fake.now_ms = 1000; /* the wall clock is WALL_BASE_MS + 1000 */
    snoop_header(&s, BTSNOOP_DATALINK_UART);
    size_t n = pvvx1_event(1, ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_UART, (WALL_BASE_MS + 91000) * 1000, ev, n);
    n = vector_event("pvvx-real-2", ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_UART, (WALL_BASE_MS + 96500) * 1000 + 999, ev, n);
    snoop_write(&s, s.len, "future.btsnoop", path, sizeof(path));
    void *state = open_replay(path, "recorded", "1s");
    run_until(state, 200000);
    CU_ASSERT_FATAL(fake.sleep_count >= 3);
    CU_ASSERT_EQUAL(fake.sleeps[0], 91000);
    CU_ASSERT_EQUAL(fake.sleeps[1], 96500);
    CU_ASSERT(fake.sleeps[2] > 96500);
    const struct emitted *r[16];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS + 91000);
    CU_ASSERT_EQUAL(r[0]->mono_ms, 91000);
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-b", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS + 96500);
    CU_ASSERT_EQUAL(r[0]->mono_ms, 96500);
    CU_ASSERT_EQUAL(out.count, 6);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "starts 90 s from now"), 1);
    ble_adapter.close(state);

    /* a stop while it waits ends run() at once, with nothing more sent */
    setup_each();
    fake.now_ms = 1000;
    state = open_replay(path, "recorded", "1s");
    run_until(state, 50000);
    CU_ASSERT_EQUAL(fake.now_ms, 50000);
    CU_ASSERT_EQUAL(out.count, 0);
    ble_adapter.close(state);
}

static void test_replay_now_shifts_the_first_record_to_the_start(void)
{
    static struct snoop s;
    uint8_t ev[FAKE_PACKET_MAX];
    char path[256];
    int64_t t0_ms = WALL_BASE_MS - 86400000; /* yesterday */
    snoop_header(&s, BTSNOOP_DATALINK_MONITOR);
    size_t n = pvvx1_event(1, ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_MONITOR, t0_ms * 1000, ev, n);
    n = vector_event("pvvx-real-2", ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_MONITOR, (t0_ms + 2500) * 1000, ev, n);
    n = pvvx1_event(2, ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_MONITOR, (t0_ms + 4000) * 1000, ev, n);
    snoop_write(&s, s.len, "now.btsnoop", path, sizeof(path));
    fake.now_ms = 1000;
    void *state = open_replay(path, "now", "1s");
    run_until(state, 100000);
    const struct emitted *r[16];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a", r, 16), 6);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS + 1000);
    CU_ASSERT_EQUAL(r[0]->mono_ms, 1000);
    CU_ASSERT_EQUAL(r[3]->ts_ms, WALL_BASE_MS + 5000);
    CU_ASSERT_EQUAL(r[3]->mono_ms, 5000);
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-b", r, 16), 3);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS + 3500);
    CU_ASSERT_EQUAL(r[0]->mono_ms, 3500);
    CU_ASSERT_FATAL(fake.sleep_count >= 2);
    CU_ASSERT_EQUAL(fake.sleeps[0], 3500);
    CU_ASSERT_EQUAL(fake.sleeps[1], 5000);
    CU_ASSERT_EQUAL(out.count, 9);
    ble_adapter.close(state);
}

static void test_a_cut_capture_keeps_the_readings_before_the_cut(void)
{
    static struct snoop s;
    uint8_t ev[FAKE_PACKET_MAX];
    char path[256], needle[64];
    int64_t t0_ms = WALL_BASE_MS - 60000;
    snoop_header(&s, BTSNOOP_DATALINK_UART);
    size_t n = pvvx1_event(1, ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_UART, t0_ms * 1000, ev, n);
    /* an LE Meta event whose parameter length runs past its packet: skipped, said */
    static const uint8_t bad[] = {0x04, 0x3E, 0x30, 0x02, 0x01, 0x00};
    snoop_event(&s, BTSNOOP_DATALINK_UART, (t0_ms + 500) * 1000, bad, sizeof(bad));
    n = vector_event("pvvx-real-2", ev, sizeof(ev));
    snoop_event(&s, BTSNOOP_DATALINK_UART, (t0_ms + 1000) * 1000, ev, n);
    n = vector_event("atc1441-real-extended-report", ev, sizeof(ev));
    size_t cut_at = snoop_event(&s, BTSNOOP_DATALINK_UART, (t0_ms + 2000) * 1000, ev, n);
    /* cut in the last record's data, then in its header */
    static const size_t cuts_into[] = {BTSNOOP_RECORD_HEADER_LEN + 10, 7};
    for (size_t c = 0; c < 2; c++) {
        setup_each();
        snoop_write(&s, cut_at + cuts_into[c], "cut.btsnoop", path, sizeof(path));
        void *state = open_replay(path, NULL, "1s");
        run_until(state, 7200000);
        const struct emitted *r[16];
        CU_ASSERT_EQUAL(readings_of("fridge-a", r, 16), 3);
        CU_ASSERT_EQUAL(readings_of("fridge-b", r, 16), 3);
        CU_ASSERT_EQUAL(readings_of("fridge-c", r, 16), 0);
        CU_ASSERT_EQUAL(out.count, 6);
        snprintf(needle, sizeof(needle), "the record at byte %zu is malformed", cut_at);
        CU_ASSERT_EQUAL(logs_with(LOG_ERR, needle), 1);
        if (logs_with(LOG_ERR, needle) != 1)
            dump_logs();
        CU_ASSERT_EQUAL(logs_with(LOG_INFO, "some malformed HCI events skipped"), 1);
        CU_ASSERT_EQUAL(fake.now_ms, 7200000);
        ble_adapter.close(state);
    }
}

static void test_a_file_that_is_not_btsnoop_gives_nothing_and_idles(void)
{
    static struct snoop s;
    char path[256];
    static const struct {
        const char *name;
        uint32_t datalink;
        size_t len; /* 0: all */
        const char *want;
    } cases[] = {
        {"text.btsnoop", 0, 0, "is not a btsnoop file"},
        {"short.btsnoop", BTSNOOP_DATALINK_UART, 10, "too short for a btsnoop file"},
        {"sim.btsnoop", 2002, 0, "btsnoop datalink 2002"},
        {"missing.btsnoop", 0, SIZE_MAX, "cannot open"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup_each();
        if (cases[i].datalink == 0) {
            s.len = (size_t)snprintf((char *)s.buf, sizeof(s.buf),
                                     "time,sensor,value\n1700000000,fridge-a,4.5\n");
        } else {
            snoop_header(&s, cases[i].datalink);
            uint8_t ev[FAKE_PACKET_MAX];
            size_t n = pvvx1_event(1, ev, sizeof(ev));
            snoop_event(&s, BTSNOOP_DATALINK_UART, (WALL_BASE_MS - 1000) * 1000, ev, n);
        }
        if (cases[i].len == SIZE_MAX)
            snprintf(path, sizeof(path), "%s/%s", tmp_dir, cases[i].name);
        else
            snoop_write(&s, cases[i].len ? cases[i].len : s.len, cases[i].name, path,
                        sizeof(path));
        void *state = open_replay(path, NULL, "1s");
        if (cases[i].len == SIZE_MAX) {
            /* a file that cannot be opened is an error the gateway retries */
            CU_ASSERT(run_to(state, 7200000) < 0);
        } else {
            run_until(state, 7200000);
            CU_ASSERT_EQUAL(fake.now_ms, 7200000);
        }
        CU_ASSERT_EQUAL(out.count, 0);
        if (logs_with(LOG_ERR, cases[i].want) != 1)
            dump_logs();
        CU_ASSERT_EQUAL(logs_with(LOG_ERR, cases[i].want), 1);
        ble_adapter.close(state);
    }
}

/* ---- the real table, where it can run without hardware -------------------------------- */

static void test_the_bluez_table_is_named_and_close_null_is_a_noop(void)
{
    CU_ASSERT_STRING_EQUAL(ble_hci_bluez.name, "bluez");
    ble_hci_bluez.close(NULL);
}

static int suite_clean(void)
{
    cJSON_Delete(ble_vectors);
    ble_vectors = NULL;
    return 0;
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite_with_setup_and_teardown("ble config", NULL, suite_clean, setup_each,
                                                       NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "every key is accepted without touching the radio",
                test_every_key_is_accepted_without_touching_the_radio);
    CU_add_test(s, "the registry knows ble", test_the_registry_knows_ble);
    CU_add_test(s, "bad configs name the path", test_bad_configs_name_the_path);
    CU_add_test(s, "64 probes are the limit", test_64_probes_are_the_limit);
    CU_add_test(s, "the point walk stops at a non-zero return",
                test_the_point_walk_stops_at_a_nonzero_return);
    CU_add_test(s, "auto scan is active only where a format needs scan responses",
                test_auto_scan_is_active_only_where_a_format_needs_scan_responses);

    s = CU_add_suite_with_setup_and_teardown("ble scan", NULL, suite_clean, setup_each, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "the scan starts with legacy commands and stops on stop",
                test_the_scan_starts_with_legacy_commands_and_stops_on_stop);
    CU_add_test(s, "command disallowed falls back to the extended commands",
                test_command_disallowed_falls_back_to_extended_commands);
    CU_add_test(s, "a disallowed legacy enable falls back too",
                test_a_disallowed_legacy_enable_falls_back_too);
    CU_add_test(s, "a controller refusing both ends run with an error",
                test_a_controller_refusing_both_ends_run_with_an_error);
    CU_add_test(s, "EPERM says which capability is missing",
                test_eperm_says_which_capability_is_missing);
    CU_add_test(s, "a controller going away ends run with -ENETDOWN",
                test_a_controller_going_away_ends_run_with_enetdown);

    s = CU_add_suite_with_setup_and_teardown("ble reports", NULL, suite_clean, setup_each, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "vector events give their expected readings",
                test_vector_events_give_their_expected_readings);
    CU_add_test(s, "the found line names format and RSSI",
                test_the_found_line_names_format_and_rssi);
    CU_add_test(s, "unconfigured or unreadable devices give nothing",
                test_unconfigured_or_unreadable_devices_give_nothing);
    CU_add_test(s, "a format mismatch gives nothing and is logged once",
                test_a_format_mismatch_gives_nothing_and_is_logged_once);
    CU_add_test(s, "invalid markers give fault readings", test_invalid_markers_give_fault_readings);
    CU_add_test(s, "repeats and reports within the interval give nothing",
                test_repeats_and_reports_within_the_interval_give_nothing);
    CU_add_test(s, "a format without counter is limited by the interval only",
                test_a_format_without_counter_is_limited_by_the_interval_only);

    s = CU_add_suite_with_setup_and_teardown("ble quiet radio", NULL, suite_clean, setup_each,
                                             NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "a quiet radio is restarted with back-off",
                test_a_quiet_radio_is_restarted_with_back_off);
    CU_add_test(s, "a report after quiet restarts is logged and resets the back-off",
                test_a_report_after_quiet_restarts_is_logged_and_resets_the_back_off);
    CU_add_test(s, "a failed restart ends run", test_a_failed_restart_ends_run);

    s = CU_add_suite_with_setup_and_teardown("ble replay", replay_suite_init, replay_suite_clean,
                                             setup_each, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "a past capture replays at once with its times",
                test_a_past_capture_replays_at_once_with_its_times);
    CU_add_test(s, "a future capture plays at its times",
                test_a_future_capture_plays_at_its_times);
    CU_add_test(s, "replay now shifts the first record to the start",
                test_replay_now_shifts_the_first_record_to_the_start);
    CU_add_test(s, "a cut capture keeps the readings before the cut",
                test_a_cut_capture_keeps_the_readings_before_the_cut);
    CU_add_test(s, "a file that is not btsnoop gives nothing and idles",
                test_a_file_that_is_not_btsnoop_gives_nothing_and_idles);

    s = CU_add_suite("bluez", NULL, suite_clean);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "the bluez table is named and close(NULL) is a no-op",
                test_the_bluez_table_is_named_and_close_null_is_a_noop);
    return CU_get_error();
}
