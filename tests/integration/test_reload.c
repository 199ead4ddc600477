/* Reloading the configuration in the live daemon (SIGHUP, and the reload command on the control
 * socket), against a real mosquitto and the Modbus simulator: a bad new configuration is refused,
 * the log says why and the old one keeps running (readings and alarms go on); a good one is
 * applied (a raised limit clears the heat alarm, judged again from the history) without losing
 * the history or the alert sequence. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/reload-gw"

static struct harness_sub *sub;

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool is_transition(const struct harness_msg *m, void *arg)
{
    const char *t = m->json ? jstr(m->json, "transition") : NULL;
    return t && strcmp(t, (const char *)arg) == 0;
}

static bool is_online(const struct harness_msg *m, void *arg)
{
    (void)arg;
    const char *st = m->json ? jstr(m->json, "state") : NULL;
    return st && strcmp(st, "online") == 0;
}

static bool is_telemetry(const struct harness_msg *m, void *arg)
{
    (void)m;
    (void)arg;
    return true;
}

static int write_config(const char *path, const char *data, const char *uri, int sim_port,
                        const char *heat_limit)
{
    char text[4096];
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"reload-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\","
        " \"twin_interval\": \"500ms\"},\n"
        " \"store\": {\"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-r\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-r\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": %s, \"delay\": \"1s\"}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-r\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-r\"]}]}\n",
        data, uri, sim_port, heat_limit);
    if (n < 0 || n >= (int)sizeof(text))
        return -1;
    return harness_write_file(path, text);
}

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
    char config[PATH_MAX], data[PATH_MAX], sock[PATH_MAX], uri[64];
    if (harness_init("reload") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    const char *ctl_bin = getenv("COLDCHAINCTL");
    HARNESS_REQUIRE(gateway_bin && sim_bin && ctl_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0 && access(ctl_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY, COLDCHAIN_SIM and COLDCHAINCTL name executables");
    harness_mosquitto_path();
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    harness_path(sock, sizeof(sock), "data/control.sock");

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    sub = harness_sub_new(uri, "reload-sub", ROOT "/#");
    HARNESS_REQUIRE(sub, "subscribed");
    int sim_port;
    struct harness_proc *sim =
        harness_start_modbus_sim(sim_bin, 0, 1, "0s=10.5", NULL, &sim_port);
    HARNESS_REQUIRE(sim, "simulator at 10.5 °C on port %d", sim_port);
    HARNESS_REQUIRE(write_config(config, data, uri, sim_port, "8.0") == 0, "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");
    HARNESS_REQUIRE(harness_sub_wait(sub, 0, ROOT "/alerts", is_transition, "raised", 20000) >= 0,
                    "heat raised at 10.5 °C above 8 °C");

    /* A bad configuration: refused on SIGHUP, the running one stays. */
    HARNESS_REQUIRE(harness_write_file(config, "{\"gateway_id\": \"reload-gw\", \"mqtt\": ") == 0,
                    "config broken");
    kill(harness_proc_pid(gw), SIGHUP);
    harness_sleep_ms(1500);
    harness_check(count_in_log(gw, "reload refused, the running configuration stays") == 1,
                  "SIGHUP with a bad config: the log says it is refused and why");
    size_t mark = harness_sub_count(sub);
    harness_check(harness_sub_wait(sub, mark, ROOT "/telemetry", is_telemetry, NULL, 5000) >= 0,
                  "readings go on after the refused reload");
    harness_check(harness_proc_alive(gw), "the gateway still runs");

    /* The reload command with the bad config: refused with the reason, exit 1. */
    int status;
    char *out = run("ctl-reload-bad", (const char *const[]){ctl_bin, "--socket", sock, "reload",
                                                            "--user", "admin", NULL},
                    &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 1 && out &&
                      strstr(out, "refused") && strstr(out, "gateway.json"),
                  "coldchainctl reload with a bad config: refused, naming the file (%.300s)",
                  out ? out : "");
    free(out);

    /* A good one raising the limit to 12 °C: applied; the alarm is judged again and clears. */
    HARNESS_REQUIRE(write_config(config, data, uri, sim_port, "12.0") == 0, "config fixed");
    mark = harness_sub_count(sub);
    out = run("ctl-reload", (const char *const[]){ctl_bin, "--socket", sock, "reload", "--user",
                                                  "admin", NULL},
              &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coldchainctl reload with a good config: exit 0 (%.300s)", out ? out : "");
    free(out);
    harness_check(harness_sub_wait(sub, mark, ROOT "/status", is_online, NULL, 15000) >= 0,
                  "the gateway is online again after the reload");
    long cleared = harness_sub_wait(sub, mark, ROOT "/alerts", is_transition, "cleared", 15000);
    harness_check(cleared >= 0, "heat cleared: 10.5 °C is not above the new 12 °C");
    if (cleared >= 0) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(
            harness_sub_msg(sub, (size_t)cleared)->json, "seq");
        harness_check(cJSON_IsNumber(seq) && seq->valuedouble == 2,
                      "the alert sequence carries on across the reload (seq 2)");
    }
    harness_check(count_in_log(gw, "configuration reloaded") == 1, "the log says it reloaded");

    /* SIGHUP with the same good file: reloads again, nothing is raised or cleared anew. */
    mark = harness_sub_count(sub);
    kill(harness_proc_pid(gw), SIGHUP);
    harness_check(harness_sub_wait(sub, mark, ROOT "/status", is_online, NULL, 15000) >= 0,
                  "SIGHUP with a good config: online again");
    harness_sub_pump(sub, 2000);
    harness_check(harness_sub_wait(sub, mark, ROOT "/alerts", is_transition, "raised", 1) < 0 &&
                      harness_sub_wait(sub, mark, ROOT "/alerts", is_transition, "cleared", 1) < 0,
                  "no alarm raised or cleared again by a reload that changed nothing");

    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0");
    harness_proc_stop(sim, 5000, &status);
    harness_exit();
}
