/* Modbus RTU end to end (issue 4): a socat pseudo-terminal pair stands in for the RS-485 line,
 * coldchain-sim modbus-rtu serves three devices on one end, and
 *   1. mbpoll, an independent Modbus master, reads each device and finds the absent one silent
 *      (the simulator itself is checked by someone else's code);
 *   2. the daemon reads the three devices over the other end into a real mosquitto: each
 *      device's temperature reaches MQTT telemetry; while the simulator injects timeouts,
 *      exceptions and corrupt CRCs, the readings are faults with no value, never temperatures;
 *      afterwards the values come back. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC_TELEMETRY "coldchain/v1/rtu-gw/telemetry"

static struct harness_sub *sub;

struct tally {
    int near, other, faults, fault_with_value;
};

static struct tally count_readings(const char *sensor, const char *quantity, double want)
{
    struct tally t = {0};
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_TELEMETRY) != 0 || !m->json)
            continue;
        const cJSON *r;
        cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
        {
            const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "sensor");
            const cJSON *q = cJSON_GetObjectItemCaseSensitive(r, "quantity");
            if (!cJSON_IsString(s) || strcmp(s->valuestring, sensor) != 0 || !cJSON_IsString(q) ||
                strcmp(q->valuestring, quantity) != 0)
                continue;
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
            if (harness_reading_has_flag(r, "fault")) {
                t.faults++;
                t.fault_with_value += !cJSON_IsNull(v);
            } else if (cJSON_IsNumber(v) && fabs(v->valuedouble - want) < 0.05) {
                t.near++;
            } else {
                t.other++;
            }
        }
    }
    return t;
}

/* Runs mbpoll on tty for unit; returns its log (caller frees) and exit status. */
static char *mbpoll(const char *tty, int unit, int *status)
{
    char u[8];
    snprintf(u, sizeof(u), "%d", unit);
    struct harness_proc *p = harness_spawn(
        "mbpoll", (const char *const[]){"mbpoll", "-m", "rtu", "-a", u, "-b", "9600", "-P",
                                        "none", "-t", "3", "-0", "-r", "1", "-c", "1", "-1", "-o",
                                        "0.5", tty, NULL});
    HARNESS_REQUIRE(p, "mbpoll started");
    *status = -1;
    if (harness_proc_wait(p, 10000, status) < 0)
        harness_proc_stop(p, 1000, status);
    return harness_read_file(harness_proc_log(p));
}

int main(void)
{
    char dir[PATH_MAX - 64], tty_sim[PATH_MAX], tty_gw[PATH_MAX], config[PATH_MAX],
        data[PATH_MAX], uri[64], text[PATH_MAX + 4096], link_a[PATH_MAX + 32],
        link_b[PATH_MAX + 32];
    if (harness_init("rtu-live") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    if (system("command -v socat >/dev/null 2>&1 && command -v mbpoll >/dev/null 2>&1") != 0)
        harness_skip("socat or mbpoll is not installed (apt-get install socat mbpoll)");
    snprintf(dir, sizeof(dir), "%s", harness_dir());
    snprintf(tty_sim, sizeof(tty_sim), "%s/ttySIM", dir);
    snprintf(tty_gw, sizeof(tty_gw), "%s/ttyGW", dir);
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");

    /* The "cable": two linked pseudo-terminals (PROTOCOLS.md §3.4). */
    snprintf(link_a, sizeof(link_a), "pty,raw,echo=0,link=%s", tty_sim);
    snprintf(link_b, sizeof(link_b), "pty,raw,echo=0,link=%s", tty_gw);
    struct harness_proc *cable =
        harness_spawn("socat", (const char *const[]){"socat", "-d", "-d", link_a, link_b, NULL});
    HARNESS_REQUIRE(cable, "socat started");
    int64_t deadline = harness_mono_ms() + 5000;
    while ((access(tty_sim, F_OK) != 0 || access(tty_gw, F_OK) != 0) &&
           harness_mono_ms() < deadline)
        harness_sleep_ms(50);
    HARNESS_REQUIRE(access(tty_sim, F_OK) == 0 && access(tty_gw, F_OK) == 0,
                    "socat made the pty pair %s <-> %s", tty_sim, tty_gw);

    /* Three devices: 4.5, 5.0 and 5.5 °C. Unit 2 alone dead from 5 s to 8 s; then the whole line
     * times out, answers exceptions and corrupt CRCs from 12 s on, 3 s each. */
    struct harness_proc *sim = harness_spawn(
        "sim-rtu", (const char *const[]){sim_bin, "modbus-rtu", "--device", tty_sim, "--unit", "1",
                                         "--unit", "2", "--unit", "3", "--script", "0s=4.5",
                                         "--faults",
                                         "5s=timeout@2,12s=timeout,16s=exception,20s=crc",
                                         "--fault-for", "3s", "--quiet", NULL});
    HARNESS_REQUIRE(sim, "RTU simulator started");
    int64_t sim_start = harness_mono_ms();
    harness_sleep_ms(300);

    /* 1. An independent master reads the simulator. */
    static const struct {
        int unit;
        const char *want;
    } units[] = {{1, "[1]: \t45"}, {2, "[1]: \t50"}, {3, "[1]: \t55"}};
    for (size_t i = 0; i < 3; i++) {
        int status;
        char *log = mbpoll(tty_gw, units[i].unit, &status);
        harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && log &&
                          strstr(log, units[i].want),
                      "mbpoll: unit %d answers %s", units[i].unit, units[i].want + 6);
        free(log);
    }
    int status;
    char *log = mbpoll(tty_gw, 9, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) != 0 && log &&
                      strstr(log, "timed out"),
                  "mbpoll: an absent unit 9 times out");
    free(log);

    /* 2. The daemon on the same line. */
    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    sub = harness_sub_new(uri, "rtu-sub", "coldchain/v1/rtu-gw/#");
    HARNESS_REQUIRE(sub, "subscribed");
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"rtu-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-1\"}, {\"id\": \"fridge-2\"}, {\"id\": \"fridge-3\"}],\n"
        " \"buses\": [{\"name\": \"rs485\", \"type\": \"modbus-rtu\", \"device\": \"%s\","
        " \"baud\": 9600, \"poll_interval\": \"1s\", \"response_timeout\": \"200ms\","
        " \"retries\": 0,\n"
        "   \"devices\": [\n"
        "     {\"unit_id\": 1, \"model\": \"xy-md02\", \"sensor\": \"fridge-1\"},\n"
        "     {\"unit_id\": 2, \"model\": \"vaisala-hmp\", \"sensor\": \"fridge-2\"},\n"
        "     {\"unit_id\": 3, \"points\": [{\"sensor\": \"fridge-3\", \"quantity\": \"temperature\","
        " \"address\": 1}]}]}],\n"
        " \"shipments\": [{\"id\": \"pharmacy\", \"profile\": \"cdc-vaccine-fridge\","
        " \"sensors\": [\"fridge-1\", \"fridge-2\", \"fridge-3\"]}]}\n",
        data, uri, tty_gw);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");
    /* Past the last fault (crc, 20-23 s) and a few good polls after it. */
    int64_t until = sim_start + 28000;
    while (harness_mono_ms() < until && harness_proc_alive(gw))
        harness_sub_pump(sub, 500);
    harness_check(harness_proc_alive(gw), "the gateway is still running");

    /* Devices 1 and 2 are configured by model (xy-md02: int16 x10 input registers;
     * vaisala-hmp: float32 cdab holding registers), device 3 by its points. */
    static const struct {
        const char *sensor, *quantity;
        double want;
    } want[] = {{"fridge-1", "temperature", 4.5}, {"fridge-1", "humidity", 45.0},
                {"fridge-2", "temperature", 5.0}, {"fridge-2", "humidity", 45.0},
                {"fridge-3", "temperature", 5.5}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        struct tally t = count_readings(want[i].sensor, want[i].quantity, want[i].want);
        harness_check(t.near >= 8, "%s %s: at least 8 readings of %.1f (got %d)", want[i].sensor,
                      want[i].quantity, want[i].want, t.near);
        /* Three windows of 3 s polled every second: about 9; fewer than 8 means a kind of
         * fault did not reach MQTT as one. */
        harness_check(t.faults >= 8, "%s: at least 8 fault readings during the faults (got %d)",
                      want[i].sensor, t.faults);
        harness_check(t.other == 0, "%s: no reading with any other value (got %d)",
                      want[i].sensor, t.other);
        harness_check(t.fault_with_value == 0, "%s: every fault reading has a null value",
                      want[i].sensor);
    }
    /* One dead device stalls none of the others: while unit 2 was silent, units 1 and 3 kept
     * their reading a second (each poll only lost unit 2's 200 ms timeout). */
    struct tally t1 = count_readings("fridge-1", "temperature", 4.5);
    struct tally t2 = count_readings("fridge-2", "temperature", 5.0);
    struct tally t3 = count_readings("fridge-3", "temperature", 5.5);
    harness_check(t2.faults >= t1.faults + 2 && t2.faults >= t3.faults + 2,
                  "unit 2's own death: fridge-2 has more faults (%d) than fridge-1 (%d) and "
                  "fridge-3 (%d)",
                  t2.faults, t1.faults, t3.faults);
    harness_check(t1.near >= t2.near + 2 && t3.near >= t2.near + 2,
                  "meanwhile fridge-1 (%d) and fridge-3 (%d) kept reading more than fridge-2 (%d)",
                  t1.near, t3.near, t2.near);
    harness_proc_stop(gw, 15000, &status);
    char st[32];
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, st, sizeof(st)));
    harness_exit();
}
