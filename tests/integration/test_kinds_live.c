/* The alarm kinds in the live daemon (docs/rules.md), against a real mosquitto and the Modbus
 * simulator: a profile that extends the CDC fridge preset overrides its heat alarm (delay,
 * reminders) and adds a time-out-of-range budget, a probe-fault alarm and an MKT alarm.
 *
 *   1. the fridge warms to 10.5 °C: heat is raised after its delay and, unacknowledged,
 *      re-notified on time by the engine's ticks (no reading is needed for that);
 *   2. the budget is spent exactly 4 s of held time after the excursion began;
 *   3. the probe is unplugged (simulator stopped): readings become faults, the fault alarm is
 *      raised, and heat stays active (a dead probe is no evidence of cooling);
 *   4. the twin carries the preset's freeze alarm, the budget left (none) and the MKT;
 *   5. a second probe that never reports goes stale 2 s after the shipment starts;
 *   6. after a restart the spent budget is still spent (rebuilt from the history), the silent
 *      probe is still stale, and nothing announced before is raised or cleared again. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC_ALERTS "coldchain/v1/kinds-gw/alerts"
#define TOPIC_TWIN "coldchain/v1/kinds-gw/shipments/fridge-k/twin"

static const char *gateway_bin, *sim_bin;
static char config_path[PATH_MAX], data_dir[PATH_MAX], uri[64];
static int mosq_port, sim_port;
static struct harness_sub *sub;
static struct harness_proc *gw, *sim;

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jis(const cJSON *o, const char *key, const char *want)
{
    const char *got = jstr(o, key);
    return got && strcmp(got, want) == 0;
}

static double jnum(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

static int write_config(void)
{
    char text[4096];
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"kinds-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"1s\", \"twin_interval\": \"500ms\","
        " \"reconnect_min\": \"200ms\", \"reconnect_max\": \"2s\"},\n"
        " \"store\": {\"batch_max\": 16, \"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-k\", \"name\": \"Fridge K\"},"
        " {\"id\": \"fridge-k2\", \"name\": \"Fridge K, second probe (not wired)\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\", \"response_timeout\": \"200ms\","
        " \"reconnect_min\": \"200ms\", \"reconnect_max\": \"1s\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-k\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"extends\": \"cdc-vaccine-fridge\", \"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": 8.0, \"delay\": \"2s\", \"hysteresis\": 0.5,"
        " \"renotify\": \"3s\"},\n"
        "   {\"id\": \"tor\", \"above\": 8.0, \"budget\": \"4s\"},\n"
        "   {\"id\": \"probe-fault\", \"fault\": true, \"delay\": \"1s\"},\n"
        "   {\"id\": \"mkt\", \"mkt_above\": 7.0},\n"
        "   {\"id\": \"silent\", \"stale\": \"2s\"}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-k\", \"kind\": \"storage\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-k\", \"fridge-k2\"]}]}\n",
        data_dir, uri, sim_port);
    if (n < 0 || n >= (int)sizeof(text))
        return -ENAMETOOLONG;
    return harness_write_file(config_path, text);
}

struct want {
    const char *alarm, *transition;
    size_t not_before; /* only messages from this index */
};

static bool is_alert(const struct harness_msg *m, void *arg)
{
    const struct want *w = arg;
    return m->json && jis(m->json, "alarm", w->alarm) &&
           jis(m->json, "transition", w->transition) &&
           jis(m->json, "sensor", strcmp(w->alarm, "silent") == 0 ? "fridge-k2" : "fridge-k");
}

/* harness_sub_wait() that gives up early when the gateway dies. */
static long wait_for(const char *topic, bool (*match)(const struct harness_msg *, void *),
                     void *arg, size_t from, int64_t timeout_ms)
{
    int64_t deadline = harness_mono_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - harness_mono_ms();
        long idx = harness_sub_wait(sub, from, topic, match, arg, left < 500 ? (left > 0 ? left : 0)
                                                                              : 500);
        if (idx != -ETIMEDOUT || left <= 0)
            return idx;
        if (gw && !harness_proc_alive(gw))
            return -ECHILD;
    }
}

static const cJSON *alert_at(long idx)
{
    return idx >= 0 ? harness_sub_msg(sub, (size_t)idx)->json : NULL;
}

static int64_t ts_of(const cJSON *o, const char *key)
{
    int64_t ms = -1;
    const char *s = jstr(o, key);
    if (!s || harness_parse_ts_ms(s, &ms) < 0)
        return -1;
    return ms;
}

static const cJSON *twin_alarm(const cJSON *twin, const char *id)
{
    const cJSON *alarms = cJSON_GetObjectItemCaseSensitive(twin, "alarms");
    for (const cJSON *a = alarms ? alarms->child : NULL; a; a = a->next) {
        if (jis(a, "alarm", id))
            return a;
    }
    return NULL;
}

static bool twin_budget_spent(const struct harness_msg *m, void *arg)
{
    (void)arg;
    const cJSON *tor = m->json ? twin_alarm(m->json, "tor") : NULL;
    return tor && jnum(tor, "budget_left_s") <= 0 && jis(tor, "state", "active");
}

static void start_gateway(const char *step)
{
    gw = harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config_path, NULL});
    HARNESS_REQUIRE(gw, "%s: gateway started", step);
}

static void stop_gateway(const char *step)
{
    char st[32];
    int status = -1;
    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: gateway exits 0 (got %s)",
                  step, harness_status_str(status, st, sizeof(st)));
    gw = NULL;
}

int main(void)
{
    if (harness_init("kinds-live") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    gateway_bin = getenv("COLDCHAIN_GATEWAY");
    sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    harness_path(config_path, sizeof(config_path), "gateway.json");
    harness_path(data_dir, sizeof(data_dir), "data");

    struct harness_proc *mosq = harness_start_mosquitto(&mosq_port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", mosq_port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", mosq_port);
    sub = harness_sub_new(uri, "kinds-sub", "coldchain/v1/kinds-gw/#");
    HARNESS_REQUIRE(sub, "subscribed");
    /* 5 °C, then warm: 10.5 °C from 2 s on. */
    sim = harness_start_modbus_sim(sim_bin, 0, 1, "0s=5.0,1s=5.0,2s=10.5", NULL, &sim_port);
    HARNESS_REQUIRE(sim, "simulator on 127.0.0.1:%d", sim_port);
    HARNESS_REQUIRE(write_config() == 0, "config written");
    start_gateway("step 1");

    /* 1. heat: raised after its 2 s delay, then a reminder 3 s later with level 1. */
    struct want w = {"heat", "raised", 0};
    long raised = wait_for(TOPIC_ALERTS, is_alert, &w, 0, 30000);
    HARNESS_REQUIRE(raised >= 0, "step 1: heat raised");
    const cJSON *a = alert_at(raised);
    int64_t raised_ms = ts_of(a, "ts"), since_ms = ts_of(a, "since");
    harness_check(raised_ms - since_ms >= 2000 && raised_ms - since_ms < 2600,
                  "step 1: raised %lld ms after the first warm reading (delay 2 s)",
                  (long long)(raised_ms - since_ms));
    harness_check(jis(a, "state", "active") && jis(a, "kind", "threshold"),
                  "step 1: state active, kind threshold");
    w = (struct want){"heat", "renotified", 0};
    long again = wait_for(TOPIC_ALERTS, is_alert, &w, (size_t)raised, 15000);
    harness_check(again >= 0 && jnum(alert_at(again), "level") == 1 &&
                      ts_of(alert_at(again), "ts") == raised_ms + 3000,
                  "step 1: reminder with level 1 stamped exactly 3 s after the raise");

    /* 2. the budget: 4 s of held time above 8 °C, stamped at that instant. */
    w = (struct want){"tor", "raised", 0};
    long spent = wait_for(TOPIC_ALERTS, is_alert, &w, 0, 20000);
    HARNESS_REQUIRE(spent >= 0, "step 2: budget tor raised");
    a = alert_at(spent);
    harness_check(jis(a, "kind", "budget") && jnum(a, "budget_s") == 4 &&
                      jnum(a, "budget_used_s") == 4,
                  "step 2: kind budget, budget_s 4, budget_used_s 4");
    harness_check(ts_of(a, "ts") == ts_of(a, "since") + 4000,
                  "step 2: stamped exactly 4 s after the excursion began");

    /* 3. the probe is unplugged: faults, the fault alarm, heat stays active. */
    size_t mark = harness_sub_count(sub);
    int status;
    harness_proc_stop(sim, 5000, &status);
    w = (struct want){"probe-fault", "raised", 0};
    long fault = wait_for(TOPIC_ALERTS, is_alert, &w, mark, 20000);
    harness_check(fault >= 0 && jis(alert_at(fault), "kind", "fault"),
                  "step 3: probe-fault raised after the simulator stopped");
    w = (struct want){"heat", "cleared", 0};
    harness_check(wait_for(TOPIC_ALERTS, is_alert, &w, mark, 1500) < 0,
                  "step 3: heat is not cleared by a dead probe");

    /* 4. the twin: the preset's freeze alarm, no budget left, an MKT. */
    long twin = wait_for(TOPIC_TWIN, twin_budget_spent, NULL, (size_t)spent, 10000);
    HARNESS_REQUIRE(twin >= 0, "step 4: a twin shows tor active with no budget left");
    const cJSON *tw = harness_sub_msg(sub, (size_t)twin)->json;
    const cJSON *freeze = twin_alarm(tw, "freeze");
    harness_check(freeze && jis(freeze, "kind", "threshold") && jnum(freeze, "limit") == 2.0,
                  "step 4: the preset's freeze alarm (below 2 °C) is there");
    const cJSON *mkt = twin_alarm(tw, "mkt");
    harness_check(mkt && jnum(mkt, "mkt") > 5.0 && jnum(mkt, "mkt") < 10.5,
                  "step 4: the MKT alarm shows an MKT between 5 and 10.5 °C (got %g)",
                  mkt ? jnum(mkt, "mkt") : (double)NAN);
    /* 5. the probe nobody wired goes stale 2 s after the shipment started. */
    w = (struct want){"silent", "raised", 0};
    long silent = wait_for(TOPIC_ALERTS, is_alert, &w, 0, 10000);
    harness_check(silent >= 0 && jis(alert_at(silent), "kind", "stale") &&
                      jnum(alert_at(silent), "silent_s") == 2,
                  "step 5: the unwired probe is stale (silent_s 2)");
    stop_gateway("step 5");

    /* 6. restart: the budget is rebuilt from the history, the unwired probe is still stale,
     * nothing is raised or cleared twice. */
    sim = harness_start_modbus_sim(sim_bin, sim_port, 1, "0s=10.5", NULL, &sim_port);
    HARNESS_REQUIRE(sim, "step 6: simulator back on port %d", sim_port);
    mark = harness_sub_count(sub);
    start_gateway("step 6");
    twin = wait_for(TOPIC_TWIN, twin_budget_spent, NULL, mark, 20000);
    harness_check(twin >= 0, "step 6: after the restart the twin still shows the budget spent");
    harness_sub_pump(sub, 3000);
    int repeated = 0;
    for (size_t i = mark; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, TOPIC_ALERTS) != 0 || !m->json)
            continue;
        bool told_again = (jis(m->json, "transition", "raised") &&
                           (jis(m->json, "alarm", "tor") || jis(m->json, "alarm", "heat") ||
                            jis(m->json, "alarm", "silent"))) ||
                          (jis(m->json, "transition", "cleared") && jis(m->json, "alarm", "silent"));
        if (told_again) {
            printf("# told again: %s\n", m->payload);
            repeated++;
        }
    }
    harness_check(repeated == 0,
                  "step 6: heat, tor and the stale probe are neither raised nor cleared again "
                  "(%d were)", repeated);
    w = (struct want){"probe-fault", "cleared", 0};
    harness_check(wait_for(TOPIC_ALERTS, is_alert, &w, mark, 15000) >= 0,
                  "step 6: the probe answers again: probe-fault cleared");
    stop_gateway("step 6");
    harness_exit();
}
