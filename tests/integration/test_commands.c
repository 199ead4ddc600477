/* Operator commands in the live daemon (docs/mqtt.md "Commands"), over MQTT and over the local
 * control socket, against a real mosquitto: a status request answered by MQTT 5 request/response
 * (mosquitto_rr: response topic and correlation data echoed); an acknowledgement of a raised
 * alarm that becomes an "acknowledged" alert carrying who and why; a second one refused; every
 * kind of bad command (malformed JSON, unknown verb, missing field, unknown field, unknown
 * alarm, sensor, shipment and alert) refused with its code on the MQTT 3.1.1 fallback topic,
 * changing nothing; a retained command ignored; and shelve, unshelve and status through
 * coldchainctl on the control socket. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/cmd-gw"

static struct harness_sub *sub;
static int mqtt_port;

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

/* Runs a client to its end and returns its output (stdout and stderr), malloc'd; *status_out
 * its wait status. */
static char *run(const char *name, const char *const argv[], int *status_out)
{
    struct harness_proc *p = harness_spawn(name, argv);
    *status_out = -1;
    if (!p || harness_proc_wait(p, 20000, status_out) < 0)
        return NULL;
    return harness_read_file(harness_proc_log(p));
}

static int exit_code(int status)
{
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The reply JSON in a client's output: the last line that parses as an object. */
static cJSON *last_json(const char *out)
{
    cJSON *found = NULL;
    const char *line = out;
    while (line && *line) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *brace = memchr(line, '{', len);
        if (brace) {
            cJSON *j = cJSON_ParseWithLength(brace, len - (size_t)(brace - line));
            if (cJSON_IsObject(j)) {
                cJSON_Delete(found);
                found = j;
            } else {
                cJSON_Delete(j);
            }
        }
        line = end ? end + 1 : NULL;
    }
    return found;
}

struct alert_match {
    const char *alarm, *transition;
};

static bool is_alert(const struct harness_msg *m, void *arg)
{
    const struct alert_match *w = arg;
    return m->json && str_is(m->json, "alarm", w->alarm) &&
           str_is(m->json, "transition", w->transition);
}

static bool is_reply_with(const struct harness_msg *m, void *arg)
{
    return m->json && cJSON_GetObjectItemCaseSensitive(m->json, "ok") &&
           str_is(m->json, "id", (const char *)arg);
}

/* A reply without a request id (one that could not be read from the request) and this code. */
static bool is_anonymous_reply(const struct harness_msg *m, void *arg)
{
    return m->json && cJSON_GetObjectItemCaseSensitive(m->json, "ok") &&
           !cJSON_GetObjectItemCaseSensitive(m->json, "id") &&
           str_is(m->json, "error", (const char *)arg);
}

static int count_transitions(const char *transition)
{
    int n = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, ROOT "/alerts") == 0 && m->json &&
            str_is(m->json, "transition", transition))
            n++;
    }
    return n;
}

/* Publishes a command as an MQTT 3.1.1 client would (no response topic) and waits for the
 * reply with its request id on the fallback topic (request_id NULL: the first reply without
 * one whose error is code). Returns the reply or NULL. */
static const cJSON *command_v311(const char *verb, const char *payload, const char *request_id,
                                 const char *code)
{
    size_t from = harness_sub_count(sub);
    char topic[128], port[16];
    snprintf(topic, sizeof(topic), ROOT "/cmd/%s", verb);
    snprintf(port, sizeof(port), "%d", mqtt_port);
    int status;
    char *out = run("mosquitto_pub",
                    (const char *const[]){"mosquitto_pub", "-V", "mqttv311", "-h", "127.0.0.1",
                                          "-p", port, "-q", "1", "-t", topic, "-m", payload,
                                          NULL},
                    &status);
    free(out);
    if (exit_code(status) != 0)
        return NULL;
    long i = request_id ? harness_sub_wait(sub, from, ROOT "/reply", is_reply_with,
                                           (void *)request_id, 10000)
                        : harness_sub_wait(sub, from, ROOT "/reply", is_anonymous_reply,
                                           (void *)code, 10000);
    return i < 0 ? NULL : harness_sub_msg(sub, (size_t)i)->json;
}

static void expect_refusal(const char *verb, const char *payload, const char *request_id,
                           const char *code)
{
    const cJSON *r = command_v311(verb, payload, request_id, code);
    harness_check(r && cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(r, "ok")) &&
                      str_is(r, "error", code) && jstr(r, "message") &&
                      strlen(jstr(r, "message")) > 10,
                  "cmd/%s %s: refused with %s (%s)", verb, payload, code,
                  r ? (jstr(r, "message") ? jstr(r, "message") : "no message") : "no reply");
}

int main(void)
{
    char config[PATH_MAX], data[PATH_MAX], sock[PATH_MAX], uri[64], port[16], text[8192];
    if (harness_init("commands") < 0) {
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

    struct harness_proc *mosq = harness_start_mosquitto(&mqtt_port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", mqtt_port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", mqtt_port);
    snprintf(port, sizeof(port), "%d", mqtt_port);
    sub = harness_sub_new(uri, "cmd-sub", "#");
    HARNESS_REQUIRE(sub, "subscribed");

    int sim_port;
    struct harness_proc *sim = harness_start_modbus_sim(sim_bin, 0, 1, "0s=5.0,1s=5.0,2s=10.5",
                                                        NULL, &sim_port);
    HARNESS_REQUIRE(sim, "simulator on port %d", sim_port);
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"cmd-gw\", \"data_dir\": \"%s\", \"log_level\": \"debug\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"1s\", \"twin_interval\": \"500ms\"},\n"
        " \"store\": {\"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-c\", \"name\": \"Fridge C\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-c\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": 8.0, \"delay\": \"1s\"},\n"
        "   {\"id\": \"freeze\", \"below\": 2.0}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-c\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-c\"]}]}\n",
        data, uri, sim_port);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");
    /* A retained command is never carried out: the broker would hand it over again at every
     * connect. (To a subscriber already connected a broker delivers a retained publish as a
     * plain one, so this one is left before the gateway connects.) */
    int status;
    char *out = run("pub-retained",
                    (const char *const[]){"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-r",
                                          "-q", "1", "-t", ROOT "/cmd/status", "-m",
                                          "{\"id\": \"r-1\"}", NULL},
                    &status);
    free(out);
    HARNESS_REQUIRE(exit_code(status) == 0, "a retained status command is left on the broker");

    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");

    struct alert_match raised = {"heat", "raised"};
    long ai = harness_sub_wait(sub, 0, ROOT "/alerts", is_alert, &raised, 20000);
    HARNESS_REQUIRE(ai >= 0, "the heat alarm is raised");
    char alert_id[64];
    snprintf(alert_id, sizeof(alert_id), "%s", jstr(harness_sub_msg(sub, (size_t)ai)->json, "id"));

    /* The control socket: group-accessible, not world-accessible. */
    struct stat st;
    harness_check(stat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0660,
                  "%s is a socket with mode 0660 (got %o)", sock, (unsigned)(st.st_mode & 0777));

    harness_check(harness_sub_wait(sub, 0, ROOT "/reply", is_reply_with, "r-1", 1000) < 0,
                  "the retained command got no reply: it was not carried out");
    out = run("pub-clear", (const char *const[]){"mosquitto_pub", "-h", "127.0.0.1", "-p", port,
                                                 "-r", "-n", "-t", ROOT "/cmd/status", NULL},
              &status);
    free(out);

    /* MQTT 5 request/response: the reply goes to the response topic with the correlation data. */
    out = run("rr-status",
                    (const char *const[]){"mosquitto_rr", "-h", "127.0.0.1", "-p", port, "-t",
                                          ROOT "/cmd/status", "-e", "client/replies/rr-1", "-m",
                                          "{\"id\": \"st-1\"}", "-D", "publish",
                                          "correlation-data", "corr-42", "-F", "%D|%p", "-W",
                                          "10", NULL},
                    &status);
    harness_check(exit_code(status) == 0 && out && strstr(out, "corr-42|{"),
                  "status over MQTT 5: a reply on the response topic with the correlation data "
                  "(got: %.200s)", out ? out : "nothing");
    cJSON *reply = out ? last_json(out) : NULL;
    const cJSON *result = reply ? cJSON_GetObjectItemCaseSensitive(reply, "result") : NULL;
    harness_check(reply && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) &&
                      str_is(reply, "verb", "status") && str_is(reply, "id", "st-1") &&
                      str_is(result, "gateway", "cmd-gw") &&
                      cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(result, "shipments")) == 1,
                  "the status reply says ok, the gateway and its shipment");
    cJSON_Delete(reply);
    free(out);

    /* Bad commands: each refused with its code, and nothing changes. */
    int acks_before = count_transitions("acknowledged");
    /* A request id cannot be read from broken JSON: that reply comes without one. */
    expect_refusal("ack", "{\"id\": \"b-1\", this is not json", NULL, "bad_json");
    expect_refusal("explode", "{\"id\": \"b-2\"}", "b-2", "unknown_verb");
    expect_refusal("ack", "{\"id\": \"b-3\", \"shipment\": \"fridge-c\", \"alarm\": \"heat\","
                          " \"sensor\": \"fridge-c\"}", "b-3", "missing_field");
    expect_refusal("ack", "{\"id\": \"b-4\", \"shipment\": \"fridge-c\", \"alarm\": \"heat\","
                          " \"sensor\": \"fridge-c\", \"user\": \"ana\", \"force\": true}",
                   "b-4", "unknown_field");
    expect_refusal("ack", "{\"id\": \"b-5\", \"shipment\": \"fridge-c\", \"alarm\": \"smoke\","
                          " \"sensor\": \"fridge-c\", \"user\": \"ana\"}", "b-5", "unknown_alarm");
    expect_refusal("ack", "{\"id\": \"b-6\", \"shipment\": \"fridge-c\", \"alarm\": \"heat\","
                          " \"sensor\": \"fridge-z\", \"user\": \"ana\"}", "b-6", "unknown_sensor");
    expect_refusal("ack", "{\"id\": \"b-7\", \"shipment\": \"fridge-q\", \"alarm\": \"heat\","
                          " \"sensor\": \"fridge-c\", \"user\": \"ana\"}", "b-7",
                   "unknown_shipment");
    expect_refusal("ack", "{\"id\": \"b-8\", \"alert\": \"00000000-0000-4000-8000-000000000000\","
                          " \"user\": \"ana\"}", "b-8", "unknown_alert");
    expect_refusal("shelve", "{\"id\": \"b-9\", \"alert\": \"00000000-0000-4000-8000-0000000000"
                             "00\", \"user\": \"ana\", \"for\": \"forever\", \"comment\": \"x\"}",
                   "b-9", "bad_field");
    expect_refusal("ack", "{\"id\": \"b-10\", \"shipment\": \"fridge-c\", \"alarm\": \"freeze\","
                          " \"sensor\": \"fridge-c\", \"user\": \"ana\"}", "b-10", "not_active");
    harness_check(count_transitions("acknowledged") == acks_before,
                  "the refused commands acknowledged nothing");

    /* Acknowledge by the alert's id: an "acknowledged" alert with who and why. */
    char payload[512];
    snprintf(payload, sizeof(payload),
             "{\"id\": \"a-1\", \"alert\": \"%s\", \"user\": \"ana.pharmacist\", \"comment\": "
             "\"Door was left open; vaccines moved to fridge B.\"}",
             alert_id);
    const cJSON *r = command_v311("ack", payload, "a-1", NULL);
    harness_check(r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")) &&
                      str_is(cJSON_GetObjectItemCaseSensitive(r, "result"), "state",
                             "acknowledged"),
                  "ack by alert id: ok, the alarm is acknowledged");
    struct alert_match acked = {"heat", "acknowledged"};
    long k = harness_sub_wait(sub, 0, ROOT "/alerts", is_alert, &acked, 10000);
    const cJSON *ack_alert = k >= 0 ? harness_sub_msg(sub, (size_t)k)->json : NULL;
    harness_check(ack_alert && str_is(ack_alert, "by", "ana.pharmacist") &&
                      jstr(ack_alert, "comment") &&
                      strstr(jstr(ack_alert, "comment"), "fridge B"),
                  "the acknowledged alert carries who and why");
    expect_refusal("ack", "{\"id\": \"a-2\", \"shipment\": \"fridge-c\", \"alarm\": \"heat\","
                          " \"sensor\": \"fridge-c\", \"user\": \"ana\"}", "a-2", "not_active");

    /* The control socket, through coldchainctl. */
    out = run("ctl-shelve",
              (const char *const[]){ctl_bin, "--socket", sock, "shelve", "fridge-c", "heat",
                                    "fridge-c", "--for", "2h", "--user", "ben", "--comment",
                                    "compressor repair until noon", NULL},
              &status);
    harness_check(exit_code(status) == 0, "coldchainctl shelve: exit 0 (output: %.200s)",
                  out ? out : "");
    free(out);
    struct alert_match shelved = {"heat", "shelved"};
    harness_check(harness_sub_wait(sub, 0, ROOT "/alerts", is_alert, &shelved, 10000) >= 0,
                  "a shelved alert is sent");
    out = run("ctl-status", (const char *const[]){ctl_bin, "--socket", sock, "--json", "status",
                                                  NULL},
              &status);
    reply = out ? last_json(out) : NULL;
    harness_check(exit_code(status) == 0 && reply &&
                      cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")),
                  "coldchainctl status --json: ok (output: %.200s)", out ? out : "");
    cJSON_Delete(reply);
    free(out);
    out = run("ctl-unshelve", (const char *const[]){ctl_bin, "--socket", sock, "unshelve",
                                                    "--alert", alert_id, "--user", "ben", NULL},
              &status);
    harness_check(exit_code(status) == 0, "coldchainctl unshelve --alert: exit 0 (%.200s)",
                  out ? out : "");
    free(out);
    out = run("ctl-unshelve-again",
              (const char *const[]){ctl_bin, "--socket", sock, "unshelve", "--alert", alert_id,
                                    "--user", "ben", NULL},
              &status);
    harness_check(exit_code(status) == 1 && out && strstr(out, "not_active"),
                  "unshelving again is refused: exit 1, not_active (%.200s)", out ? out : "");
    free(out);
    /* The shipment lifecycle by command: start, a second start refused, end, and an ended
     * shipment immutable. Each change starts the engine again with the new set of shipments. */
    size_t mark = harness_sub_count(sub);
    out = run("ctl-start", (const char *const[]){ctl_bin, "--socket", sock, "shipment", "start",
                                                 "truck-9", "--profile", "cdc-vaccine-fridge",
                                                 "--kind", "transit", "--sensor", "fridge-c",
                                                 "--user", "ben", NULL},
              &status);
    harness_check(exit_code(status) == 0, "shipment start truck-9: exit 0 (%.200s)",
                  out ? out : "");
    free(out);
    harness_check(harness_sub_wait(sub, mark, ROOT "/shipments/truck-9/twin", NULL, NULL, 15000) >=
                      0,
                  "the new shipment's twin is published");
    out = run("ctl-start-again",
              (const char *const[]){ctl_bin, "--socket", sock, "shipment", "start", "truck-9",
                                    "--profile", "fridge", "--user", "ben", NULL},
              &status);
    harness_check(exit_code(status) == 1 && out && strstr(out, "exists already"),
                  "starting truck-9 again is refused: ids are never reused (%.200s)",
                  out ? out : "");
    free(out);
    out = run("ctl-start-bad-profile",
              (const char *const[]){ctl_bin, "--socket", sock, "shipment", "start", "truck-10",
                                    "--profile", "no-such-profile", "--user", "ben", NULL},
              &status);
    harness_check(exit_code(status) == 1 && out && strstr(out, "unknown_profile"),
                  "an unknown profile is refused (%.200s)", out ? out : "");
    free(out);
    out = run("ctl-end", (const char *const[]){ctl_bin, "--socket", sock, "shipment", "end",
                                               "truck-9", "--user", "ben", "--comment",
                                               "Delivered, cartons intact", NULL},
              &status);
    harness_check(exit_code(status) == 0, "shipment end truck-9: exit 0 (%.200s)",
                  out ? out : "");
    free(out);
    /* The engine restarts after the end: wait until it answers again. */
    for (int i = 0; i < 50; i++) {
        out = run("ctl-assign-ended",
                  (const char *const[]){ctl_bin, "--socket", sock, "assign", "truck-9",
                                        "fridge-c", "--user", "ben", NULL},
                  &status);
        if (exit_code(status) != 3)
            break;
        free(out);
        out = NULL;
        harness_sleep_ms(200);
    }
    harness_check(exit_code(status) == 1 && out && strstr(out, "ended"),
                  "an ended shipment cannot be assigned sensors (%.200s)", out ? out : "");
    free(out);

    harness_proc_stop(gw, 15000, &status);
    char sts[32];
    harness_check(exit_code(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, sts, sizeof(sts)));
    harness_check(access(sock, F_OK) != 0, "the control socket is removed at exit");

    /* The audit trail holds every command carried out, the lifecycle, and it verifies. */
    char db[PATH_MAX + 32];
    snprintf(db, sizeof(db), "%s/history.db", data);
    out = run("sqlite-events",
              (const char *const[]){"sqlite3", "-readonly", db,
                                    "SELECT kind || ':' || COALESCE(actor, '') FROM events "
                                    "ORDER BY id",
                                    NULL},
              &status);
    harness_check(out && strstr(out, "config:") && strstr(out, "command:ana.pharmacist") &&
                      strstr(out, "command:ben") && strstr(out, "shipment-start:ben") &&
                      strstr(out, "shipment-end:ben") && strstr(out, "alarm:"),
                  "the events: config, the commands with their users, shipment start and end, "
                  "alarms");
    free(out);
    /* Telemetry that reached the broker (QoS 0, published while connected) moves the mark
     * retention goes by, never past the last reading. */
    out = run("sqlite-uplinked",
              (const char *const[]){"sqlite3", "-readonly", db,
                                    "SELECT (SELECT value FROM meta WHERE key = 'uplinked_id') "
                                    "|| ' ' || (SELECT MAX(id) FROM readings)",
                                    NULL},
              &status);
    long long uplinked = -1, last = -1;
    harness_check(out && sscanf(out, "%lld %lld", &uplinked, &last) == 2 && uplinked > 0 && uplinked <= last,
                  "the uplinked mark moved with the telemetry (mark %lld, last reading %lld)",
                  uplinked, last);
    free(out);
    out = run("ctl-verify", (const char *const[]){ctl_bin, "verify", "--db", db, NULL}, &status);
    harness_check(exit_code(status) == 0, "coldchainctl verify: the trail is intact (%.300s)",
                  out ? out : "");
    free(out);
    char *log = harness_read_file(harness_proc_log(gw));
    harness_check(log && strstr(log, "retained message") && strstr(log, "ana.pharmacist"),
                  "the log names the ignored retained command and who acknowledged");
    free(log);
    harness_proc_stop(sim, 5000, &status);
    harness_exit();
}
