/* The w1 adapter in the live daemon (sensors/w1.h) against coldchain-sim's fake sysfs tree and a
 * real mosquitto: a DS18B20 and a DS18S20 read through w1_slave reach MQTT telemetry with the
 * simulator's temperature (to 1/16 °C), and every kind of bad read the kernel can give — a CRC
 * failure, the 85 °C power-on value, an all-zero read, an empty read, an unplugged probe — reaches
 * it as a fault with no value, never as a temperature. The fault alarm fires on them. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC_TELEMETRY "coldchain/v1/w1-gw/telemetry"
#define TOPIC_ALERTS "coldchain/v1/w1-gw/alerts"

static struct harness_sub *sub;

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Counts, over every telemetry message received, the readings of sensor: valid ones within tol
 * of want_c, valid ones elsewhere, and faults with a null value. */
struct tally {
    int near, other, faults, fault_with_value;
};

static struct tally count_readings(const char *sensor, double want_c, double tol)
{
    struct tally t = {0};
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_TELEMETRY) != 0 || !m->json)
            continue;
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
        {
            const char *s = jstr(r, "sensor");
            if (!s || strcmp(s, sensor) != 0)
                continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
            if (harness_reading_has_flag(r, "fault")) {
                t.faults++;
                t.fault_with_value += !cJSON_IsNull(v);
            } else if (cJSON_IsNumber(v) && fabs(v->valuedouble - want_c) <= tol) {
                t.near++;
            } else {
                t.other++;
            }
        }
    }
    return t;
}

static bool is_fault_alert(const struct harness_msg *m, void *arg)
{
    return m->json && jstr(m->json, "alarm") && strcmp(jstr(m->json, "alarm"), "probe-fault") == 0 &&
           jstr(m->json, "sensor") && strcmp(jstr(m->json, "sensor"), (const char *)arg) == 0 &&
           jstr(m->json, "transition") && strcmp(jstr(m->json, "transition"), "raised") == 0;
}

int main(void)
{
    char root[PATH_MAX - 64], config[PATH_MAX], data[PATH_MAX], uri[64], text[PATH_MAX + 4096];
    if (harness_init("w1-live") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    harness_path(root, sizeof(root), "w1-devices");
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    sub = harness_sub_new(uri, "w1-sub", "coldchain/v1/w1-gw/#");
    HARNESS_REQUIRE(sub, "subscribed");

    /* 4.25 °C all along (exact in 1/16 steps); from 6 s on a fault every 3 s, 2 s each. */
    struct harness_proc *sim = harness_spawn(
        "sim-w1", (const char *const[]){sim_bin, "w1", "--root", root, "--probe",
                                        "28-000006b67845", "--probe", "10-000802e8a1b3",
                                        "--script", "0s=4.25", "--faults",
                                        "6s=crc,9s=85,12s=zero,15s=empty,18s=missing",
                                        "--fault-for", "2s", "--quiet", NULL});
    HARNESS_REQUIRE(sim, "w1 simulator started");
    snprintf(text, sizeof(text), "%s/28-000006b67845/w1_slave", root);
    int64_t deadline = harness_mono_ms() + 5000;
    while (access(text, R_OK) != 0 && harness_mono_ms() < deadline)
        harness_sleep_ms(50);
    HARNESS_REQUIRE(access(text, R_OK) == 0, "the simulator wrote %s", text);

    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"w1-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-b20\"}, {\"id\": \"fridge-s20\"}],\n"
        " \"buses\": [{\"name\": \"onewire\", \"type\": \"w1\", \"root\": \"%s\","
        " \"poll_interval\": \"1s\", \"probes\": [\n"
        "   {\"id\": \"28-000006b67845\", \"sensor\": \"fridge-b20\"},\n"
        "   {\"id\": \"10-000802e8a1b3\", \"sensor\": \"fridge-s20\"}]}],\n"
        " \"profiles\": {\"fridge\": {\"extends\": \"cdc-vaccine-fridge\", \"alarms\": [\n"
        "   {\"id\": \"probe-fault\", \"fault\": true}]}},\n"
        " \"shipments\": [{\"id\": \"fridge\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-b20\", \"fridge-s20\"]}]}\n",
        data, uri, root);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");

    /* Both probes' fault alarms fire during the injected faults. */
    harness_check(harness_sub_wait(sub, 0, TOPIC_ALERTS, is_fault_alert, "fridge-b20", 30000) >= 0,
                  "the DS18B20's fault alarm is raised");
    harness_check(harness_sub_wait(sub, 0, TOPIC_ALERTS, is_fault_alert, "fridge-s20", 10000) >= 0,
                  "the DS18S20's fault alarm is raised");
    /* Until the last fault (missing, 18-20 s) is over and a few good reads are in. */
    harness_sub_pump(sub, 28000 - (harness_mono_ms() - (deadline - 5000)));
    harness_check(harness_proc_alive(gw), "the gateway is still running");

    const char *sensors[] = {"fridge-b20", "fridge-s20"};
    for (int i = 0; i < 2; i++) {
        struct tally t = count_readings(sensors[i], 4.25, 1.0 / 16.0);
        harness_check(t.near >= 5, "%s: at least 5 readings of 4.25 °C (got %d)", sensors[i],
                      t.near);
        /* Five faults of 2 s each, polled every second: several fault readings. */
        harness_check(t.faults >= 5, "%s: at least 5 fault readings (got %d)", sensors[i],
                      t.faults);
        harness_check(t.other == 0,
                      "%s: no reading with another value: 85, 0, -62 or an old value would be "
                      "one (got %d)",
                      sensors[i], t.other);
        harness_check(t.fault_with_value == 0, "%s: every fault reading has a null value",
                      sensors[i]);
    }
    int status;
    harness_proc_stop(gw, 15000, &status);
    char st[32];
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, st, sizeof(st)));
    harness_proc_stop(sim, 5000, &status);
    harness_exit();
}
