/* The payload contract (docs/mqtt.md) held against docs/schemas/ with the Python validator
 * (tests/integration/validate_schemas.py, python3-jsonschema):
 *
 *   1. every JSON example in docs/mqtt.md validates against the schema of its section, and each
 *      schema's own examples are the doc's;
 *   2. the validator can fail: broken payloads (an alert without "seq", a twin alarm "on fire",
 *      a fault-free reading without a value, an offline status without a reason, a reply with an
 *      unknown error code, a status whose gateway is not the topic's) are each rejected;
 *   3. a real mosquitto, the Modbus simulator's excursion scenario and the daemon, with a profile
 *      that has an alarm of every kind (a door and a battery read from registers that hold 1 and
 *      0, a probe at an address the simulator refuses, a probe that is never read, a calibration
 *      due in 20 days): every message on the gateway's root for about 30 s, with a status
 *      request (MQTT 5 response topic and MQTT 3.1.1), an ack, a shelve and an unshelve, is
 *      captured to a file and must validate, with every topic kind, alert kind and the twin's
 *      optional fields present; the bad commands published meanwhile are rejected by the schema
 *      as the gateway refuses them.
 * Paths from meson: COLDCHAIN_GATEWAY, COLDCHAIN_SIM, COLDCHAIN_PYTHON (python3) and
 * COLDCHAIN_SCHEMA_VALIDATOR. Without python3-jsonschema the test is skipped (harness_skip). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/schema-gw"
#define CAPTURE_MS 30000 /* from the gateway's start, at least */

static const char *python, *validator;
static struct harness_sub *sub;
static char port_text[16];

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool jis(const cJSON *o, const char *key, const char *want)
{
    const char *s = jstr(o, key);
    return s && strcmp(s, want) == 0;
}

static bool has(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key) != NULL;
}

/* Prints a program's output as comment lines of the test's log. */
static void print_output(const char *out)
{
    const char *line = out ? out : "(no output)";
    while (*line) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        printf("# %.*s\n", len, line);
        line = end ? end + 1 : line + len;
    }
}

/* Runs the validator with args (NULL-terminated, at most 8) to its end. Returns its exit code
 * (-1: it did not end normally) and its output in *out (malloc'd, may be NULL). */
static int validate(const char *name, const char *const *args, char **out)
{
    const char *argv[12] = {python, validator};
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 11; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    struct harness_proc *p = harness_spawn(name, argv);
    int status = -1;
    *out = NULL;
    if (!p || harness_proc_wait(p, 60000, &status) < 0)
        return -1;
    *out = harness_read_file(harness_proc_log(p));
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Writes one capture record {"topic", "payload", "retained"?} as a JSON line to f. */
static bool put_record(FILE *f, const char *topic, const char *payload, int retained)
{
    cJSON *r = cJSON_CreateObject();
    bool ok = r && cJSON_AddStringToObject(r, "topic", topic) &&
              cJSON_AddStringToObject(r, "payload", payload) &&
              (retained < 0 || cJSON_AddBoolToObject(r, "retained", retained));
    char *text = ok ? cJSON_PrintUnformatted(r) : NULL;
    ok = text && fprintf(f, "%s\n", text) > 0;
    free(text);
    cJSON_Delete(r);
    return ok;
}

/* A capture file holding the one message topic/payload. */
static bool write_one(const char *path, const char *topic, const char *payload)
{
    FILE *f = fopen(path, "w");
    bool ok = f && put_record(f, topic, payload, -1);
    return f && fclose(f) == 0 && ok;
}

/* The validator must refuse the message, and say why with expect in its output. */
static void expect_rejected(const char *what, const char *topic, const char *payload,
                            const char *expect)
{
    char path[PATH_MAX], name[64];
    snprintf(name, sizeof(name), "bad-%s.jsonl", what);
    harness_path(path, sizeof(path), name);
    if (!harness_check(write_one(path, topic, payload), "%s: written", name))
        return;
    char *out = NULL;
    int rc = validate(name, (const char *const[]){path, NULL}, &out);
    harness_check(rc == 1 && out && strstr(out, expect),
                  "the validator rejects %s (exit %d, expected 1 and \"%s\")", what, rc, expect);
    if (rc != 1 || !out || !strstr(out, expect))
        print_output(out);
    free(out);
}

/* 2. payloads that must not pass, built from the doc's examples. */
static void check_rejections(void)
{
    expect_rejected(
        "alert-without-seq", ROOT "/alerts",
        "{\"id\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\",\"ts\":\"2026-11-22T18:40:21."
        "003Z\",\"gateway\":\"schema-gw\",\"shipment\":\"fridge-a\",\"sensor\":\"fridge-"
        "a\",\"alarm\":\"heat\",\"kind\":\"threshold\",\"quantity\":\"temperature\","
        "\"transition\":\"raised\",\"state\":\"active\",\"notify\":true,\"level\":0,"
        "\"severity\":\"critical\",\"value\":9.1,\"worst\":9.1,\"unit\":\"°C\","
        "\"condition\":\"above\",\"limit\":8,\"hysteresis\":0.5,\"delay_s\":5,"
        "\"since\":\"2026-11-22T18:40:16.003Z\",\"duration_s\":5,\"message\":\"m\","
        "\"action\":\"\"}",
        "'seq' is a required property");
    expect_rejected("twin-on-fire", ROOT "/shipments/fridge-a/twin",
                    "{\"gateway\":\"schema-gw\",\"ts\":\"2026-11-22T18:40:24.000Z\",\"shipment\":"
                    "{\"id\":\"fridge-a\",\"kind\":\"storage\",\"profile\":\"p\",\"description\":"
                    "\"\",\"started\":\"2026-11-22T18:40:00.000Z\"},\"sensors\":[],\"alarms\":["
                    "{\"alarm\":\"heat\",\"kind\":\"threshold\",\"sensor\":\"fridge-a\",\"state\":"
                    "\"on fire\",\"severity\":\"critical\",\"condition\":\"above\",\"limit\":8,"
                    "\"since\":\"2026-11-22T18:40:16.003Z\",\"worst\":9.2,\"beyond_s\":7,"
                    "\"excursions\":1,\"longest_s\":7,\"message\":\"m\"}],\"active_alarms\":1}",
                    "'on fire' is not one of");
    expect_rejected(
        "value-null-without-fault", ROOT "/telemetry",
        "{\"gateway\":\"schema-gw\",\"readings\":[{\"sensor\":\"fridge-a\",\"quantity\":"
        "\"temperature\",\"value\":null,\"unit\":\"°C\",\"ts\":"
        "\"2026-11-22T18:40:01.003Z\",\"flags\":[]}]}",
        "readings/0/value: None is not of type 'number'");
    expect_rejected("offline-without-reason", ROOT "/status",
                    "{\"gateway\":\"schema-gw\",\"state\":\"offline\",\"version\":\"0.1.0\",\"ts\":"
                    "\"2026-11-22T18:40:00.012Z\",\"started\":\"2026-11-22T18:40:00.004Z\","
                    "\"uptime_s\":0}",
                    "'reason' is a required property");
    expect_rejected("reply-unknown-error", ROOT "/reply",
                    "{\"ok\":false,\"error\":\"oops\",\"message\":\"m\"}", "'oops' is not one of");
    expect_rejected("gateway-not-the-topics", ROOT "/status",
                    "{\"gateway\":\"other-gw\",\"state\":\"online\",\"version\":\"0.1.0\",\"ts\":"
                    "\"2026-11-22T18:40:00.012Z\",\"started\":\"2026-11-22T18:40:00.004Z\","
                    "\"uptime_s\":0}",
                    "the topic says 'schema-gw'");
}

static int write_config(const char *path, const char *data_dir, int mqtt_port, int sim_port)
{
    /* The calibration falls due in 20 days: its 30-day warning is already due. */
    char due[16];
    time_t t = time(NULL) + 20 * 86400;
    struct tm tm;
    strftime(due, sizeof(due), "%Y-%m-%d", gmtime_r(&t, &tm));
    char text[4096];
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"schema-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"tcp://127.0.0.1:%d\", \"telemetry_interval\": \"1s\","
        " \"twin_interval\": \"1s\", \"reconnect_min\": \"200ms\", \"reconnect_max\": \"2s\"},\n"
        " \"store\": {\"batch_max\": 16, \"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-s\", \"name\": \"Fridge S, middle shelf\","
        " \"calibration_due\": \"%s\", \"certificate\": \"CAL-TEST-0001\"},\n"
        "   {\"id\": \"fridge-s2\", \"name\": \"Fridge S, a probe nobody wired\"},\n"
        "   {\"id\": \"fridge-s3\", \"name\": \"Fridge S, a probe at a bad address\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\", \"response_timeout\": \"200ms\","
        " \"reconnect_min\": \"200ms\", \"reconnect_max\": \"1s\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [\n"
        "     {\"sensor\": \"fridge-s\", \"quantity\": \"temperature\", \"address\": 1},\n"
        "     {\"sensor\": \"fridge-s\", \"quantity\": \"humidity\", \"address\": 2},\n"
        /* Holding 0x0101 is the unit id (1): a door that stays open. 0x0102, the baud code
         * (0): a flat battery. Input 0x0200 is outside the map: every read a fault. */
        "     {\"sensor\": \"fridge-s\", \"quantity\": \"door\", \"function\": \"holding\","
        " \"address\": 257, \"scale\": 1},\n"
        "     {\"sensor\": \"fridge-s\", \"quantity\": \"battery\", \"function\": \"holding\","
        " \"address\": 258, \"scale\": 1},\n"
        "     {\"sensor\": \"fridge-s3\", \"quantity\": \"temperature\", \"address\": 512}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"extends\": \"cdc-vaccine-fridge\", \"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": 8.0, \"delay\": \"2s\", \"hysteresis\": 0.5,"
        " \"renotify\": \"4s\"},\n"
        "   {\"id\": \"tor\", \"above\": 8.0, \"budget\": \"3s\"},\n"
        "   {\"id\": \"mkt\", \"mkt_above\": 5.5},\n"
        "   {\"id\": \"warming\", \"rate\": 1.0, \"per\": \"2s\", \"direction\": \"rising\","
        " \"severity\": \"warning\"},\n"
        "   {\"id\": \"probe-fault\", \"fault\": true, \"delay\": \"1s\"},\n"
        "   {\"id\": \"silent\", \"stale\": \"2s\"},\n"
        "   {\"id\": \"door\", \"door_open\": \"2s\"},\n"
        "   {\"id\": \"battery\", \"battery_below\": 20},\n"
        "   {\"id\": \"calibration\", \"calibration_due\": [\"30d\", \"7d\"]}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-s\", \"kind\": \"storage\", \"profile\": \"fridge\","
        " \"description\": \"Schema test fridge\","
        " \"sensors\": [\"fridge-s\", \"fridge-s2\", \"fridge-s3\"]}]}\n",
        data_dir, mqtt_port, due, sim_port);
    if (n < 0 || n >= (int)sizeof(text))
        return -ENAMETOOLONG;
    return harness_write_file(path, text);
}

/* Publishes a command with mosquitto_pub (MQTT 3.1.1, or 5 with a response topic); payload
 * NULL sends an empty one. */
static void publish(const char *verb, const char *payload, const char *response_topic)
{
    char topic[128];
    snprintf(topic, sizeof(topic), ROOT "/cmd/%s", verb);
    const char *argv[24] = {
        "mosquitto_pub", "-h", "127.0.0.1", "-p", port_text, "-q", "1", "-t", topic};
    size_t n = 9;
    if (payload) {
        argv[n++] = "-m";
        argv[n++] = payload;
    } else {
        argv[n++] = "-n";
    }
    if (response_topic) {
        /* MQTT 5 request/response (MQTT 5.0 §3.3.2.3.5, §3.3.2.3.6). */
        static const char *const v5[] = {
            "-V",          "5",  "-D",      "publish",       "correlation-data",
            "schema-corr", "-D", "publish", "response-topic"};
        for (size_t i = 0; i < sizeof(v5) / sizeof(v5[0]); i++)
            argv[n++] = v5[i];
        argv[n++] = response_topic;
    }
    argv[n] = NULL;
    struct harness_proc *p = harness_spawn("pub", argv);
    int status = -1;
    harness_check(p && harness_proc_wait(p, 10000, &status) == 0 && WIFEXITED(status) &&
                      WEXITSTATUS(status) == 0,
                  "published %s", topic);
}

static bool is_alert(const struct harness_msg *m, void *arg)
{
    const char *const *want = arg; /* alarm, transition */
    return m->json && jis(m->json, "alarm", want[0]) && jis(m->json, "transition", want[1]);
}

static bool is_reply_to(const struct harness_msg *m, void *arg)
{
    return m->json && jis(m->json, "id", arg);
}

static bool is_anonymous_status_reply(const struct harness_msg *m, void *arg)
{
    (void)arg;
    return m->json && jis(m->json, "verb", "status") && !has(m->json, "id");
}

static bool is_twin_shelved(const struct harness_msg *m, void *arg)
{
    (void)arg;
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(m->json, "alarms"))
    {
        if (jis(a, "alarm", "tor") && has(a, "shelved_until"))
            return true;
    }
    return false;
}

/* Waits for an alert of alarm with transition; its index or a negative errno. */
static long wait_alert(const char *alarm, const char *transition, int64_t timeout_ms)
{
    const char *want[] = {alarm, transition};
    return harness_sub_wait(sub, 0, ROOT "/alerts", is_alert, want, timeout_ms);
}

/* What the capture must show besides validating: every topic, alert kind and optional twin
 * field the schemas describe, so that a payload that never appeared cannot pass unchecked. */
static void check_coverage(void)
{
    static const char *const kinds[] = {"threshold", "budget", "mkt",     "rate",       "stale",
                                        "fault",     "door",   "battery", "calibration"};
    static const char *const transitions[] = {"raised",       "cleared", "renotified",
                                              "acknowledged", "shelved", "unshelved"};
    bool kind_seen[9] = {0}, transition_seen[6] = {0};
    bool budget_left = false, mkt = false, shelved_until = false, calibration = false;
    bool fault_reading = false, never_seen = false, offline = false, response_topic = false;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        const cJSON *j = m->json;
        if (!j)
            continue;
        if (strcmp(m->topic, ROOT "/alerts") == 0) {
            for (size_t k = 0; k < 9; k++)
                kind_seen[k] |= jis(j, "kind", kinds[k]);
            for (size_t k = 0; k < 6; k++)
                transition_seen[k] |= jis(j, "transition", transitions[k]);
        } else if (strcmp(m->topic, ROOT "/status") == 0) {
            offline |= jis(j, "state", "offline") && jis(j, "reason", "shutdown");
        } else if (strcmp(m->topic, ROOT "/reply/schema-test") == 0) {
            response_topic = true;
        } else if (strstr(m->topic, "/twin")) {
            const cJSON *a, *s;
            cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(j, "alarms"))
            {
                budget_left |= has(a, "budget_left_s");
                mkt |= has(a, "mkt");
                shelved_until |= has(a, "shelved_until");
            }
            cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(j, "sensors"))
            {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(s, "readings"), "temperature");
                calibration |= has(s, "calibration");
                never_seen |= cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(s, "last_seen"));
                fault_reading |= t && harness_reading_has_flag(t, "fault");
            }
        }
    }
    for (size_t k = 0; k < 9; k++)
        harness_check(kind_seen[k], "an alert of kind %s was captured", kinds[k]);
    for (size_t k = 0; k < 6; k++)
        harness_check(transition_seen[k], "a %s alert was captured", transitions[k]);
    harness_check(budget_left && mkt && shelved_until,
                  "twin alarms with budget_left_s, mkt and shelved_until were captured");
    harness_check(calibration && never_seen && fault_reading,
                  "twin sensors with calibration, a null last_seen and a fault reading were "
                  "captured");
    harness_check(offline, "the offline status (reason shutdown) was captured");
    harness_check(response_topic, "a reply on the MQTT 5 response topic was captured");
}

/* Writes the capture: the gateway's messages and the good commands to capture.jsonl, each bad
 * command (its id starts with "bad-") to a file of its own. Returns how many bad ones. */
static int write_capture(const char *path)
{
    FILE *f = fopen(path, "w");
    int bad = 0;
    bool ok = f != NULL;
    for (size_t i = 0; ok && i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        const char *id = m->json ? jstr(m->json, "id") : NULL;
        if (strstr(m->topic, "/cmd/") && id && strncmp(id, "bad-", 4) == 0) {
            char bad_path[PATH_MAX], name[32];
            snprintf(name, sizeof(name), "bad-command-%d.jsonl", ++bad);
            harness_path(bad_path, sizeof(bad_path), name);
            ok = write_one(bad_path, m->topic, m->payload);
        } else {
            ok = put_record(f, m->topic, m->payload, m->retained);
        }
    }
    ok = f && fclose(f) == 0 && ok;
    HARNESS_REQUIRE(ok, "the capture written to %s and bad-command-*.jsonl", path);
    return bad;
}

int main(void)
{
    if (harness_init("schemas") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    python = getenv("COLDCHAIN_PYTHON");
    validator = getenv("COLDCHAIN_SCHEMA_VALIDATOR");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    HARNESS_REQUIRE(validator && access(validator, R_OK) == 0,
                    "COLDCHAIN_SCHEMA_VALIDATOR names the validator");
    if (!python || !*python)
        harness_skip("no python3");

    /* 1. The doc's examples. */
    char *out = NULL;
    int rc = validate("validate-docs", (const char *const[]){NULL}, &out);
    if (rc == HARNESS_EXIT_SKIP)
        harness_skip("python3-jsonschema is not installed (apt install python3-jsonschema)");
    harness_check(rc == 0, "every example in docs/mqtt.md validates (exit %d)", rc);
    print_output(out);
    free(out);

    /* 2. It can fail. */
    check_rejections();

    /* 3. A live daemon. */
    harness_mosquitto_path();
    char config[PATH_MAX], data[PATH_MAX], capture[PATH_MAX], uri[64];
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    harness_path(capture, sizeof(capture), "capture.jsonl");
    int mqtt_port = 0, sim_port = 0;
    struct harness_proc *mosq = harness_start_mosquitto(&mqtt_port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", mqtt_port);
    snprintf(port_text, sizeof(port_text), "%d", mqtt_port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", mqtt_port);
    sub = harness_sub_new(uri, "schema-sub", ROOT "/#");
    HARNESS_REQUIRE(sub, "subscribed to " ROOT "/#");
    struct harness_proc *sim =
        harness_start_modbus_sim(sim_bin, 0, 1, NULL, "excursion", &sim_port);
    HARNESS_REQUIRE(sim, "simulator (excursion) on 127.0.0.1:%d", sim_port);
    HARNESS_REQUIRE(write_config(config, data, mqtt_port, sim_port) == 0, "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");
    int64_t started = harness_mono_ms();

    /* The door is open from the start (2 s allowed): acknowledged by its alert's id. Heat is
     * left unacknowledged, so that it reminds every 4 s. */
    long door = wait_alert("door", "raised", 20000);
    HARNESS_REQUIRE(door >= 0, "door raised");
    char ack[256];
    snprintf(ack, sizeof(ack),
             "{\"id\":\"ack-1\",\"alert\":\"%s\",\"user\":\"Anna Keller\","
             "\"comment\":\"Door wedged open by a box; removed\"}",
             jstr(harness_sub_msg(sub, (size_t)door)->json, "id"));
    publish("ack", ack, NULL);
    /* The excursion warms past 8 °C about 16 s in: heat (2 s delay), then the budget. */
    HARNESS_REQUIRE(wait_alert("heat", "raised", 40000) >= 0, "heat raised");
    HARNESS_REQUIRE(wait_alert("tor", "raised", 15000) >= 0, "tor (budget) raised");
    publish("shelve",
            "{\"id\":\"shelve-1\",\"shipment\":\"fridge-s\",\"alarm\":\"tor\",\"sensor\":"
            "\"fridge-s\",\"for\":\"1h\",\"user\":\"Anna Keller\",\"comment\":\"Being moved\"}",
            NULL);
    publish("status", "{\"id\":\"status-1\"}", ROOT "/reply/schema-test");
    publish("status", NULL, NULL);
    publish("shelve",
            "{\"id\":\"bad-for\",\"shipment\":\"fridge-s\",\"alarm\":\"heat\",\"sensor\":"
            "\"fridge-s\",\"for\":\"forever\",\"user\":\"anna\",\"comment\":\"x\"}",
            NULL);
    publish("bogus", "{\"id\":\"bad-verb\"}", NULL);
    harness_check(harness_sub_wait(sub, 0, ROOT "/reply", is_reply_to, "shelve-1", 10000) >= 0,
                  "the shelve is answered");
    harness_check(harness_sub_wait(sub, 0, ROOT "/shipments/fridge-s/twin", is_twin_shelved, NULL,
                                   10000) >= 0,
                  "a twin shows the shelf (shelved_until)");
    publish("unshelve",
            "{\"id\":\"unshelve-1\",\"shipment\":\"fridge-s\",\"alarm\":\"tor\",\"sensor\":"
            "\"fridge-s\",\"user\":\"Anna Keller\"}",
            NULL);
    static const char *const replies[] = {"ack-1", "unshelve-1", "bad-for", "bad-verb"};
    for (size_t i = 0; i < 4; i++)
        harness_check(
            harness_sub_wait(sub, 0, ROOT "/reply", is_reply_to, (void *)replies[i], 10000) >= 0,
            "a reply to %s on " ROOT "/reply", replies[i]);
    harness_check(
        harness_sub_wait(sub, 0, ROOT "/reply/schema-test", is_reply_to, "status-1", 10000) >= 0,
        "the status request is answered on its response topic");
    harness_check(harness_sub_wait(sub, 0, ROOT "/reply", is_anonymous_status_reply, NULL, 10000) >=
                      0,
                  "the empty status request is answered");

    /* Heat, left unacknowledged, reminds; the rise rate falls back once the ramp ends. */
    harness_check(wait_alert("heat", "renotified", 20000) >= 0, "heat renotified");
    harness_check(wait_alert("warming", "cleared", 20000) >= 0, "warming (rate) cleared");
    int64_t left = CAPTURE_MS - (harness_mono_ms() - started);
    if (left > 0)
        harness_sub_pump(sub, left);
    int status = -1;
    char st[32];
    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, st, sizeof(st)));
    harness_sub_pump(sub, 1000);
    printf("# %zu messages captured\n", harness_sub_count(sub));
    check_coverage();

    int bad = write_capture(capture);
    rc = validate(
        "validate-capture",
        (const char *const[]){"--require", "status,telemetry,alerts,twin,cmd,reply", capture, NULL},
        &out);
    harness_check(rc == 0, "every captured message validates against docs/schemas (exit %d)", rc);
    print_output(out);
    free(out);

    /* The bad commands: the schema refuses them as the gateway did. */
    harness_check(bad == 2, "two bad commands were captured (got %d)", bad);
    for (int i = 1; i <= bad; i++) {
        char path[PATH_MAX], name[32];
        snprintf(name, sizeof(name), "bad-command-%d.jsonl", i);
        harness_path(path, sizeof(path), name);
        rc = validate(name, (const char *const[]){path, NULL}, &out);
        harness_check(rc == 1, "the schema rejects %s (exit %d)", name, rc);
        print_output(out);
        free(out);
    }
    harness_exit();
}
