/* Issue 4's acceptance: one daemon with every wired kind at once — a Modbus RTU line of three
 * devices (a socat pty pair and coldchain-sim), a Modbus TCP device (coldchain-sim), two DS18B20
 * on a w1 sysfs tree (coldchain-sim) and a probe on Debian's owserver — into a real mosquitto.
 * Every sensor's readings reach MQTT with its simulator's value; then each kind fails in its own
 * way (RTU timeouts, the TCP device gone, the 85 °C power-on value on the w1 probes, the owserver
 * stopped) and each failure reaches MQTT as faults with no value, never as a temperature.
 * The door contact runs in the daemon too, but this machine has no GPIO chip nor gpio-sim: its
 * bus can only show here that a contact it cannot read reaches MQTT as faults, never as "shut";
 * its readings are tested through a double of libgpiod (tests/unit/test_gpio.c). */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC_TELEMETRY "coldchain/v1/wired-gw/telemetry"

static struct harness_sub *sub;

struct tally {
    int near, other, faults, fault_with_value;
};

/* The temperature readings of sensor received from index from on. */
static struct tally tally_of(const char *sensor, double want, size_t from)
{
    struct tally t = {0};
    for (size_t i = from; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_TELEMETRY) != 0 || !m->json)
            continue;
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "sensor");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(r, "quantity");
            if (!cJSON_IsString(s) || strcmp(s->valuestring, sensor) != 0 || !cJSON_IsString(q) ||
                strcmp(q->valuestring, "temperature") != 0)
                continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
            if (harness_reading_has_flag(r, "fault")) {
                t.faults++;
                t.fault_with_value += !cJSON_IsNull(v);
            } else if (cJSON_IsNumber(v) && fabs(v->valuedouble - want) < 0.07) {
                t.near++;
            } else {
                t.other++;
            }
        }
    }
    return t;
}

static void pump_for(struct harness_proc *gw, int64_t ms)
{
    int64_t end = harness_mono_ms() + ms;
    while (harness_mono_ms() < end && harness_proc_alive(gw))
        harness_sub_pump(sub, 250);
}

int main(void)
{
    char dir[PATH_MAX - 64], tty_sim[PATH_MAX], tty_gw[PATH_MAX], link_a[PATH_MAX + 32],
        link_b[PATH_MAX + 32], root[PATH_MAX], owconf[PATH_MAX], config[PATH_MAX],
        data[PATH_MAX], uri[64], text[3 * PATH_MAX + 4096], file[PATH_MAX + 64];
    if (harness_init("wired-all") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    const char *ows_bin = harness_owserver_path();
    if (!ows_bin || system("command -v socat >/dev/null 2>&1") != 0)
        harness_skip("owserver or socat is not installed (apt-get install owserver socat)");
    snprintf(dir, sizeof(dir), "%s", harness_dir());
    snprintf(tty_sim, sizeof(tty_sim), "%s/ttySIM", dir);
    snprintf(tty_gw, sizeof(tty_gw), "%s/ttyGW", dir);
    harness_path(root, sizeof(root), "w1-devices");
    harness_path(owconf, sizeof(owconf), "owfs-empty.conf");
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    HARNESS_REQUIRE(harness_write_file(owconf, "") == 0, "empty owfs config written");

    /* The RS-485 "cable" and its three devices: 4.5, 5.0, 5.5 °C; timeouts from 20 s, 4 s. */
    snprintf(link_a, sizeof(link_a), "pty,raw,echo=0,link=%s", tty_sim);
    snprintf(link_b, sizeof(link_b), "pty,raw,echo=0,link=%s", tty_gw);
    HARNESS_REQUIRE(harness_spawn("socat", (const char *const[]){"socat", link_a, link_b, NULL}),
                    "socat started");
    int64_t deadline = harness_mono_ms() + 5000;
    while ((access(tty_sim, F_OK) || access(tty_gw, F_OK)) && harness_mono_ms() < deadline)
        harness_sleep_ms(50);
    HARNESS_REQUIRE(access(tty_gw, F_OK) == 0, "pty pair made");
    HARNESS_REQUIRE(harness_spawn("sim-rtu",
                                  (const char *const[]){sim_bin, "modbus-rtu", "--device", tty_sim,
                                                        "--unit", "1", "--unit", "2", "--unit",
                                                        "3", "--script", "0s=4.5", "--faults",
                                                        "20s=timeout", "--fault-for", "4s",
                                                        "--quiet", NULL}),
                    "RTU simulator started");
    /* The TCP device: 3.0 °C. */
    int tcp_port;
    struct harness_proc *sim_tcp =
        harness_start_modbus_sim(sim_bin, 0, 1, "0s=3.0", NULL, &tcp_port);
    HARNESS_REQUIRE(sim_tcp, "TCP simulator on %d", tcp_port);
    /* Two DS18B20: 2.5 °C; the power-on 85 from 20 s, 4 s. */
    HARNESS_REQUIRE(harness_spawn("sim-w1",
                                  (const char *const[]){sim_bin, "w1", "--root", root, "--probe",
                                                        "28-000006b67845", "--probe",
                                                        "28-0000072a1c3f", "--script", "0s=2.5",
                                                        "--faults", "20s=85", "--fault-for", "4s",
                                                        "--quiet", NULL}),
                    "w1 simulator started");
    snprintf(file, sizeof(file), "%s/28-0000072a1c3f/w1_slave", root);
    deadline = harness_mono_ms() + 5000;
    while (access(file, R_OK) != 0 && harness_mono_ms() < deadline)
        harness_sleep_ms(50);
    /* owserver --tester: 28.000028D70000 reads 4. */
    int ow_port;
    struct harness_proc *ows = harness_start_owserver(ows_bin, owconf, 0, &ow_port);
    HARNESS_REQUIRE(ows, "owserver --tester on %d", ow_port);

    int mq_port = 0;
    struct harness_proc *mosq = harness_start_mosquitto(&mq_port);
    HARNESS_REQUIRE(mosq, "mosquitto on %d", mq_port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", mq_port);
    sub = harness_sub_new(uri, "wired-sub", "coldchain/v1/wired-gw/#");
    HARNESS_REQUIRE(sub, "subscribed");

    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"wired-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"rtu-1\"}, {\"id\": \"rtu-2\"}, {\"id\": \"rtu-3\"},"
        " {\"id\": \"tcp-1\"}, {\"id\": \"w1-a\"}, {\"id\": \"w1-b\"}, {\"id\": \"ow-1\"},"
        " {\"id\": \"door-1\"}],\n"
        " \"buses\": [\n"
        "  {\"name\": \"rs485\", \"type\": \"modbus-rtu\", \"device\": \"%s\", \"poll_interval\": \"1s\","
        " \"response_timeout\": \"200ms\", \"retries\": 0, \"devices\": [\n"
        "    {\"unit_id\": 1, \"model\": \"xy-md02\", \"sensor\": \"rtu-1\"},\n"
        "    {\"unit_id\": 2, \"model\": \"vaisala-hmp\", \"sensor\": \"rtu-2\"},\n"
        "    {\"unit_id\": 3, \"points\": [{\"sensor\": \"rtu-3\", \"quantity\": \"temperature\","
        " \"address\": 1}]}]},\n"
        "  {\"name\": \"lan\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\", \"port\": %d,"
        " \"poll_interval\": \"1s\", \"response_timeout\": \"300ms\", \"reconnect_min\": \"200ms\","
        " \"reconnect_max\": \"1s\", \"devices\": [{\"unit_id\": 1, \"model\": \"xy-md02\","
        " \"sensor\": \"tcp-1\"}]},\n"
        "  {\"name\": \"onewire\", \"type\": \"w1\", \"root\": \"%s\", \"poll_interval\": \"1s\","
        " \"probes\": [{\"id\": \"28-000006b67845\", \"sensor\": \"w1-a\"},"
        " {\"id\": \"28-0000072a1c3f\", \"sensor\": \"w1-b\"}]},\n"
        "  {\"name\": \"owfs\", \"type\": \"owserver\", \"server\": \"127.0.0.1:%d\","
        " \"poll_interval\": \"1s\", \"probes\": [{\"id\": \"28.000028D70000\", \"sensor\": \"ow-1\"}]},\n"
        "  {\"name\": \"doors\", \"type\": \"gpio\", \"chip\": \"/dev/gpiochip-none\", \"heartbeat\": \"1s\","
        " \"doors\": [{\"line\": 17, \"sensor\": \"door-1\", \"open_when\": \"high\"}]}],\n"
        " \"shipments\": [{\"id\": \"pharmacy\", \"profile\": \"cdc-vaccine-fridge\", \"sensors\":"
        " [\"rtu-1\", \"rtu-2\", \"rtu-3\", \"tcp-1\", \"w1-a\", \"w1-b\", \"ow-1\","
        " \"door-1\"]}]}\n",
        data, uri, tty_gw, tcp_port, root, ow_port);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");
    /* Step 2 stops the owserver: owcapi's known reconnect leak is ignored (harness.h). */
    HARNESS_REQUIRE(harness_ignore_owcapi_leak() == 0, "LSan suppression for libowcapi set");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");

    static const struct {
        const char *sensor;
        double want;
    } sensors[] = {{"rtu-1", 4.5}, {"rtu-2", 5.0}, {"rtu-3", 5.5}, {"tcp-1", 3.0},
                   {"w1-a", 2.5},  {"w1-b", 2.5},  {"ow-1", 4.0}};
    const size_t count = sizeof(sensors) / sizeof(sensors[0]);

    /* 1. Every kind reads. */
    pump_for(gw, 8000);
    HARNESS_REQUIRE(harness_proc_alive(gw), "the gateway runs with every wired kind");
    for (size_t i = 0; i < count; i++) {
        struct tally t = tally_of(sensors[i].sensor, sensors[i].want, 0);
        harness_check(t.near >= 3 && t.other == 0 && t.faults == 0,
                      "%s: its value %.1f reaches MQTT (%d readings, %d other, %d faults)",
                      sensors[i].sensor, sensors[i].want, t.near, t.other, t.faults);
    }

    /* 2. Every kind fails in its own way: the TCP device and the owserver are stopped now; the
     * RTU line times out and the w1 probes send 85 °C from the simulators' 20 s on. */
    size_t mark = harness_sub_count(sub);
    int status;
    harness_proc_stop(sim_tcp, 5000, &status);
    harness_proc_stop(ows, 5000, &status);
    pump_for(gw, 16000);
    HARNESS_REQUIRE(harness_proc_alive(gw), "the gateway runs on through every failure");
    for (size_t i = 0; i < count; i++) {
        struct tally t = tally_of(sensors[i].sensor, sensors[i].want, mark);
        harness_check(t.faults >= 2 && t.fault_with_value == 0 && t.other == 0,
                      "%s: its failure reaches MQTT as faults with no value (%d faults, %d with "
                      "a value, %d readings of another value)",
                      sensors[i].sensor, t.faults, t.fault_with_value, t.other);
    }
    /* The door contact: no chip here, so only faults — and never a made-up "shut". */
    int door_faults = 0, door_values = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_TELEMETRY) != 0 || !m->json)
            continue;
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "sensor");
            if (!cJSON_IsString(s) || strcmp(s->valuestring, "door-1") != 0)
                continue;
            if (harness_reading_has_flag(r, "fault") && cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(r, "value")))
                door_faults++;
            else
                door_values++;
        }
    }
    harness_check(door_faults >= 5 && door_values == 0,
                  "door-1: a contact on a chip that is not there reaches MQTT as faults only "
                  "(%d faults, %d other readings)",
                  door_faults, door_values);
    harness_proc_stop(gw, 15000, &status);
    char st[32];
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, st, sizeof(st)));
    harness_exit();
}
