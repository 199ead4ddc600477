/* A btsnoop capture through the live daemon into MQTT (sensors/ble.h): coldchain-sim ble writes a
 * capture of every supported format along an excursion, with its recorded times a few seconds
 * ahead; the daemon's ble bus replays it with those times, and a real mosquitto carries the
 * result. Asserted: each format's temperatures reach telemetry with the simulator's values and
 * the recorded timestamps; an invalid marker reaches it as a fault with no value, never as a
 * temperature; the heat alarm is raised on every probe; a probe that falls silent becomes stale
 * through the rules and recovers; the replay plays once and the daemon stops cleanly. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC_TELEMETRY "coldchain/v1/ble-gw/telemetry"
#define TOPIC_ALERTS "coldchain/v1/ble-gw/alerts"

/* Start a few seconds ahead, so the daemon is up before the first recorded advert is due. */
#define LEAD_S 3
#define BASE_C 4.0
#define HOT_C 10.5
/* Script times (s after the start): base until 6, hot from 7 to 20, base again from 21. */
#define SCRIPT "0s=4.0,6s=4.0,7s=10.5,20s=10.5,21s=4.0"
#define DURATION "34s"
/* Device 0's temperature is marked invalid from 23 s for 7 s; device 1 is silent from 24 s
 * for 7 s (the stale alarm is 5 s; the lead before the capture is shorter). */
#define FAULTS "23s=invalid@0,24s=silent@1"
#define FAULT_FOR "7s"

static const struct device {
    const char *format;  /* coldchain-sim ble's name */
    const char *address;
    const char *sensor;
    bool humidity;       /* the format carries relative humidity */
} devices[] = {
    {"ruuvi5", "C7:00:00:00:00:01", "ble-ruuvi5", true},
    {"ruuvi3", "C7:00:00:00:00:02", "ble-ruuvi3", true},
    {"bthome", "C7:00:00:00:00:03", "ble-bthome", true},
    {"pvvx", "A4:C1:38:00:00:04", "ble-pvvx", true},
    {"atc1441", "A4:C1:38:00:00:05", "ble-atc", true},
    {"govee", "A4:C1:38:00:00:06", "ble-govee", true},
    {"inkbird", "49:42:07:00:00:07", "ble-inkbird", true},
};
#define DEVICE_COUNT (sizeof(devices) / sizeof(devices[0]))

static struct harness_sub *sub;

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool str_is(const cJSON *o, const char *key, const char *want)
{
    const char *s = jstr(o, key);
    return s != NULL && strcmp(s, want) == 0;
}

struct tally {
    int base, hot, other, faults, fault_with_value, humidity;
    int64_t first_ts_ms, last_ts_ms;
    double other_value;
};

/* Sorts every telemetry reading of one sensor: temperatures near the base or the hot value
 * (within the formats' resolution; the simulator adds 0.5 °C per device), anything else, and
 * faults. */
static struct tally count_readings(size_t dev)
{
    struct tally t = {.first_ts_ms = INT64_MAX, .last_ts_ms = 0};
    double offset = 0.5 * (double)dev;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_TELEMETRY) != 0 || !m->json)
            continue;
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
        {
            if (!str_is(r, "sensor", devices[dev].sensor))
                continue;
            if (str_is(r, "quantity", "humidity") && !harness_reading_has_flag(r, "fault"))
                t.humidity++;
            if (!str_is(r, "quantity", "temperature"))
                continue;
            int64_t ts;
            if (jstr(r, "ts") && harness_parse_ts_ms(jstr(r, "ts"), &ts) == 0) {
                t.first_ts_ms = ts < t.first_ts_ms ? ts : t.first_ts_ms;
                t.last_ts_ms = ts > t.last_ts_ms ? ts : t.last_ts_ms;
            }
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
            if (harness_reading_has_flag(r, "fault")) {
                t.faults++;
                t.fault_with_value += !cJSON_IsNull(v);
            } else if (cJSON_IsNumber(v) && fabs(v->valuedouble - (BASE_C + offset)) <= 0.06) {
                t.base++;
            } else if (cJSON_IsNumber(v) && fabs(v->valuedouble - (HOT_C + offset)) <= 0.06) {
                t.hot++;
            } else {
                /* On the ramps (6-7 s, 20-21 s) a value in between is right too. */
                if (cJSON_IsNumber(v) && v->valuedouble > BASE_C + offset &&
                    v->valuedouble < HOT_C + offset)
                    continue;
                t.other++;
                t.other_value = cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
            }
        }
    }
    return t;
}

struct alert_match {
    const char *alarm, *sensor, *transition;
};

static bool is_alert(const struct harness_msg *m, void *arg)
{
    const struct alert_match *w = arg;
    return m->json && str_is(m->json, "alarm", w->alarm) && str_is(m->json, "sensor", w->sensor) &&
           str_is(m->json, "transition", w->transition);
}

static int count_alerts(const char *alarm, const char *sensor, const char *transition)
{
    struct alert_match w = {alarm, sensor, transition};
    int n = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_ALERTS) == 0 && is_alert(m, &w))
            n++;
    }
    return n;
}

static int write_config(const char *path, const char *data, const char *uri, const char *capture)
{
    char text[8192];
    size_t len = 0;
#define PUT(...)                                                                                   \
    do {                                                                                           \
        int n_ = snprintf(text + len, sizeof(text) - len, __VA_ARGS__);                            \
        if (n_ < 0 || (size_t)n_ >= sizeof(text) - len)                                            \
            return -1;                                                                             \
        len += (size_t)n_;                                                                         \
    } while (0)
    PUT("{\"gateway_id\": \"ble-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\"},\n \"sensors\": [",
        data, uri);
    for (size_t i = 0; i < DEVICE_COUNT; i++)
        PUT("%s{\"id\": \"%s\"}", i ? ", " : "", devices[i].sensor);
    PUT("],\n \"buses\": [{\"name\": \"fridge-radio\", \"type\": \"ble\", \"replay\": \"%s\","
        " \"interval\": \"1s\", \"probes\": [\n",
        capture);
    for (size_t i = 0; i < DEVICE_COUNT; i++)
        PUT("   {\"address\": \"%s\", \"sensor\": \"%s\"}%s\n", devices[i].address,
            devices[i].sensor, i + 1 < DEVICE_COUNT ? "," : "");
    PUT("  ]}],\n \"profiles\": {\"fridge\": {\"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": 8.0, \"delay\": \"2s\"},\n"
        "   {\"id\": \"probe-fault\", \"fault\": true, \"delay\": \"1s\"},\n"
        "   {\"id\": \"silent\", \"stale\": \"5s\"},\n"
        "   {\"id\": \"battery\", \"battery_below\": 20}]}},\n"
        " \"shipments\": [{\"id\": \"fridge\", \"profile\": \"fridge\", \"sensors\": [");
    for (size_t i = 0; i < DEVICE_COUNT; i++)
        PUT("%s\"%s\"", i ? ", " : "", devices[i].sensor);
    PUT("]}]}\n");
#undef PUT
    return harness_write_file(path, text);
}

int main(void)
{
    char config[PATH_MAX], data[PATH_MAX], capture[PATH_MAX], uri[64], start[32];
    if (harness_init("ble-replay") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    harness_path(capture, sizeof(capture), "fridge.btsnoop");

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    sub = harness_sub_new(uri, "ble-sub", "coldchain/v1/ble-gw/#");
    HARNESS_REQUIRE(sub, "subscribed");

    /* The capture: every format, one device each, recorded times from start_s on. */
    int64_t start_s = harness_wall_ms() / 1000 + LEAD_S;
    snprintf(start, sizeof(start), "%lld", (long long)start_s);
    const char *argv[64] = {sim_bin, "ble", "--out", capture, "--script", SCRIPT, "--start",
                            start, "--duration", DURATION, "--interval", "1s", "--faults",
                            FAULTS, "--fault-for", FAULT_FOR};
    size_t argc = 16;
    char specs[DEVICE_COUNT][64];
    for (size_t i = 0; i < DEVICE_COUNT; i++) {
        snprintf(specs[i], sizeof(specs[i]), "%s=%s", devices[i].format, devices[i].address);
        argv[argc++] = "--device";
        argv[argc++] = specs[i];
    }
    argv[argc] = NULL;
    struct harness_proc *sim = harness_spawn("sim-ble", argv);
    int status;
    char st[32];
    HARNESS_REQUIRE(sim && harness_proc_wait(sim, 20000, &status) == 0 && WIFEXITED(status) &&
                        WEXITSTATUS(status) == 0,
                    "coldchain-sim ble wrote the capture (%s)",
                    harness_status_str(status, st, sizeof(st)));

    HARNESS_REQUIRE(write_config(config, data, uri, capture) == 0, "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");

    /* Every probe's heat alarm: the excursion is 7-20 s into the capture, with a 2 s delay. */
    for (size_t i = 0; i < DEVICE_COUNT; i++) {
        struct alert_match w = {"heat", devices[i].sensor, "raised"};
        harness_check(harness_sub_wait(sub, 0, TOPIC_ALERTS, is_alert, &w, 40000) >= 0,
                      "%s (%s): heat raised", devices[i].sensor, devices[i].format);
    }
    /* Device 1 falls silent at 24 s for 6 s: stale, then back. */
    struct alert_match back = {"silent", devices[1].sensor, "cleared"};
    harness_check(harness_sub_wait(sub, 0, TOPIC_ALERTS, is_alert, &back, 30000) >= 0,
                  "%s: stale while silent, cleared when it advertises again", devices[1].sensor);
    /* Until the end of the capture, plus a telemetry period. */
    int64_t end_ms = (start_s + 34) * 1000 + 1500;
    if (end_ms > harness_wall_ms())
        harness_sub_pump(sub, end_ms - harness_wall_ms());
    harness_check(harness_proc_alive(gw), "the gateway is still running");

    for (size_t i = 0; i < DEVICE_COUNT; i++) {
        struct tally t = count_readings(i);
        const char *s = devices[i].sensor;
        harness_check(t.base >= 8, "%s: at least 8 readings of %.1f °C (got %d)", s,
                      BASE_C + 0.5 * (double)i, t.base);
        harness_check(t.hot >= 6, "%s: at least 6 readings of %.1f °C (got %d)", s,
                      HOT_C + 0.5 * (double)i, t.hot);
        harness_check(t.other == 0, "%s: no temperature off the scenario (got %d, e.g. %.3f)", s,
                      t.other, t.other_value);
        harness_check(t.fault_with_value == 0, "%s: every fault reading has a null value", s);
        /* The readings carry the capture's times, not the moment they were replayed. */
        harness_check(t.first_ts_ms >= start_s * 1000 && t.first_ts_ms < start_s * 1000 + 2000 &&
                          t.last_ts_ms <= (start_s + 34) * 1000,
                      "%s: timestamps are the recorded ones (first %+lld ms, last %+lld ms from "
                      "the capture's start)",
                      s, (long long)(t.first_ts_ms - start_s * 1000),
                      (long long)(t.last_ts_ms - start_s * 1000));
        if (devices[i].humidity)
            harness_check(t.humidity >= 8, "%s: humidity readings (got %d)", s, t.humidity);
        harness_check(count_alerts("battery", s, "raised") == 0, "%s: no battery alarm at 90 %%",
                      s);
        if (i == 0) {
            harness_check(t.faults >= 2, "%s: the invalid marker gives fault readings (got %d)",
                          s, t.faults);
            harness_check(count_alerts("probe-fault", s, "raised") == 1,
                          "%s: its fault alarm is raised once", s);
        } else {
            harness_check(t.faults == 0, "%s: no fault reading (got %d)", s, t.faults);
            harness_check(count_alerts("probe-fault", s, "raised") == 0, "%s: no fault alarm",
                          s);
        }
        harness_check(count_alerts("silent", s, "raised") == (i == 1 ? 1 : 0),
                      "%s: stale %s", s, i == 1 ? "once, while silent" : "never");
    }

    /* Played once: nothing arrives after the end of the capture, and every probe, silent now,
     * becomes stale through the rules (5 s). */
    size_t before = harness_sub_count(sub);
    harness_sub_pump(sub, 7500);
    for (size_t i = 0; i < DEVICE_COUNT; i++)
        harness_check(count_alerts("silent", devices[i].sensor, "raised") == (i == 1 ? 2 : 1),
                      "%s: stale after the capture's end", devices[i].sensor);
    int late = 0;
    for (size_t i = before; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_TELEMETRY) == 0 && m->json &&
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m->json, "readings")) > 0)
            late++;
    }
    harness_check(late == 0, "no readings after the capture's end (got %d messages)", late);

    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, st, sizeof(st)));
    char *log = harness_read_file(harness_proc_log(gw));
    harness_check(log && strstr(log, "replay of ") && strstr(log, "finished"),
                  "the log says the replay finished");
    free(log);
    harness_exit();
}
