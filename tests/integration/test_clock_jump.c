/* Wall clock steps under the live daemon (issue 8): libfaketime moves the daemon's wall clock an
 * hour forward and back while a probe reads a steady 5 °C. Asserted: each step is seen, logged
 * and recorded in the audit trail; no alert carries a negative or a huge duration; the gap the
 * forward step makes is judged as a stale sensor (the docs' "a jump forward longer than the
 * hold is a gap"), never as an excursion; the trail still verifies. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/clock-gw"
#define FAKETIME_LIB "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"

static char *run(const char *name, const char *const argv[], int *status_out)
{
    struct harness_proc *p = harness_spawn(name, argv);
    *status_out = -1;
    if (!p || harness_proc_wait(p, 20000, status_out) < 0)
        return NULL;
    return harness_read_file(harness_proc_log(p));
}

static int count_in_log(struct harness_proc *p, const char *needle)
{
    char *log = harness_read_file(harness_proc_log(p));
    int n = 0;
    for (const char *at = log; at && (at = strstr(at, needle)) != NULL; at++)
        n++;
    free(log);
    return n;
}

int main(void)
{
    char config[PATH_MAX], data[PATH_MAX], offset_file[PATH_MAX], uri[64], text[4096];
    if (harness_init("clock-jump") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    const char *ctl_bin = getenv("COLDCHAINCTL");
    HARNESS_REQUIRE(gateway_bin && sim_bin && ctl_bin, "the programs are named");
    if (access(FAKETIME_LIB, R_OK) != 0) {
        if (getenv("COLDCHAIN_REQUIRE_PEERS"))
            HARNESS_REQUIRE(false, "%s (Debian package faketime) is installed", FAKETIME_LIB);
        harness_skip("libfaketime is not installed (Debian package faketime)");
    }
    harness_mosquitto_path();
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    harness_path(offset_file, sizeof(offset_file), "faketime");

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    struct harness_sub *sub = harness_sub_new(uri, "clock-sub", ROOT "/#");
    HARNESS_REQUIRE(sub, "subscribed");
    int sim_port;
    struct harness_proc *sim = harness_start_modbus_sim(sim_bin, 0, 1, "0s=5.0", NULL, &sim_port);
    HARNESS_REQUIRE(sim, "simulator at 5 °C");
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"clock-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\"},\n"
        " \"store\": {\"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-t\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-t\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": 8.0, \"delay\": \"10s\"},\n"
        "   {\"id\": \"tor\", \"above\": 8.0, \"budget\": \"30m\"},\n"
        "   {\"id\": \"silent\", \"stale\": \"2m\"}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-t\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-t\"]}]}\n",
        data, uri, sim_port);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");

    /* Only the gateway runs under libfaketime; its monotonic clock stays true, as the
     * kernel's does when NTP steps the wall clock. */
    HARNESS_REQUIRE(harness_write_file(offset_file, "+0\n") == 0, "offset file written");
    char asan[1024];
    const char *old_asan = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0", old_asan ? old_asan : "",
             old_asan && *old_asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", offset_file, 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("FAKETIME_CACHE_DURATION", "1", 1); /* libfaketime re-reads the file at most so often */
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    setenv("LD_PRELOAD", FAKETIME_LIB, 1);
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    unsetenv("LD_PRELOAD");
    unsetenv("FAKETIME_TIMESTAMP_FILE");
    unsetenv("FAKETIME_CACHE_DURATION");
    if (old_asan)
        setenv("ASAN_OPTIONS", old_asan, 1);
    HARNESS_REQUIRE(gw, "gateway started under libfaketime");

    harness_sub_pump(sub, 4000);
    harness_write_file(offset_file, "+3600\n"); /* NTP's first sync after a boot without RTC */
    harness_sub_pump(sub, 6000);
    harness_write_file(offset_file, "+0\n");    /* and back */
    harness_sub_pump(sub, 6000);
    harness_check(harness_proc_alive(gw), "the gateway runs through both steps");

    int alerts = 0, bad_durations = 0, heat = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, ROOT "/alerts") != 0 || !m->json)
            continue;
        alerts++;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(m->json, "duration_s");
        if (cJSON_IsNumber(d) && (d->valuedouble < 0 || d->valuedouble > 2 * 3600))
            bad_durations++;
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(m->json, "alarm");
        if (cJSON_IsString(a) && strcmp(a->valuestring, "silent") != 0)
            heat++;
    }
    harness_check(bad_durations == 0, "no alert with a negative or huge duration (of %d)", alerts);
    harness_check(heat == 0, "no heat or budget alarm from a steady 5 °C across the steps");

    int status;
    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0");
    harness_check(count_in_log(gw, "the wall clock jumped by +3600 s") == 1,
                  "the step forward is logged once");
    harness_check(count_in_log(gw, "the wall clock jumped by -3600 s") == 1,
                  "the step back is logged once");
    char db[PATH_MAX + 32];
    snprintf(db, sizeof(db), "%s/history.db", data);
    char *out = run("sqlite-clock",
                    (const char *const[]){"sqlite3", "-readonly", db,
                                          "SELECT COUNT(*) FROM events WHERE kind = 'clock'", NULL},
                    &status);
    harness_check(out && atoi(out) == 2, "two clock events in the audit trail (got %s)",
                  out ? out : "nothing");
    free(out);
    out = run("ctl-verify", (const char *const[]){ctl_bin, "verify", "--db", db, NULL}, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coldchainctl verify: the trail is intact (%.300s)", out ? out : "");
    free(out);
    harness_proc_stop(sim, 5000, &status);
    harness_exit();
}
