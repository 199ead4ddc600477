/* Power loss, fifty times (issue 8): the daemon is killed with SIGKILL at random moments while a
 * probe is polled four times a second and an excursion keeps raising and clearing alarms.
 * After every kill the database passes PRAGMA integrity_check; at the end, every reading the
 * broker received in telemetry is in the history except at most one uncommitted batch per kill
 * (store.batch_max), every alert the broker received is in the history (an alert is committed
 * before it is sent), the alert sequence has no gap, and the audit trail verifies. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/kill-gw"
#define KILLS 50
#define BATCH_MAX 16

static char *run(const char *name, const char *const argv[], int *status_out)
{
    struct harness_proc *p = harness_spawn(name, argv);
    *status_out = -1;
    if (!p || harness_proc_wait(p, 30000, status_out) < 0)
        return NULL;
    return harness_read_file(harness_proc_log(p));
}

static char *sql(const char *db, const char *query)
{
    int status;
    return run("sqlite3", (const char *const[]){"sqlite3", "-readonly", db, query, NULL},
               &status);
}

int main(void)
{
    char config[PATH_MAX], data[PATH_MAX], db[PATH_MAX + 32], uri[64], text[4096];
    if (harness_init("kill-loop") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    const char *ctl_bin = getenv("COLDCHAINCTL");
    HARNESS_REQUIRE(gateway_bin && sim_bin && ctl_bin, "the programs are named");
    harness_mosquitto_path();
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    snprintf(db, sizeof(db), "%s/history.db", data);

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    struct harness_sub *sub = harness_sub_new(uri, "kill-sub", ROOT "/#");
    HARNESS_REQUIRE(sub, "subscribed");
    /* 5 °C and 10.5 °C by turns, 2 s each, over and over: alarms all along. */
    char port_file[PATH_MAX];
    harness_path(port_file, sizeof(port_file), "sim.port");
    struct harness_proc *sim = harness_spawn(
        "sim", (const char *const[]){sim_bin, "modbus-tcp", "--host", "127.0.0.1", "--port", "0",
                                     "--port-file", port_file, "--unit", "1", "--script",
                                     "0s=5.0,1900ms=5.0,2s=10.5,3900ms=10.5,4s=5.0", "--loop",
                                     "--quiet", NULL});
    int sim_port = 0;
    HARNESS_REQUIRE(sim && harness_wait_port_file(sim, port_file, 10000, &sim_port) == 0,
                    "looping simulator on port %d", sim_port);
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"kill-gw\", \"data_dir\": \"%s\", \"log_level\": \"notice\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"200ms\"},\n"
        " \"store\": {\"batch_max\": %d, \"batch_interval\": \"1s\"},\n"
        " \"sensors\": [{\"id\": \"fridge-k\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-k\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [\n"
        "   {\"id\": \"heat\", \"above\": 8.0}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-k\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-k\"]}]}\n",
        data, uri, BATCH_MAX, sim_port);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");
    int status;
    srand(12345);
    int integrity_failures = 0;
    for (int k = 0; k < KILLS; k++) {
        struct harness_proc *gw =
            harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
        HARNESS_REQUIRE(gw, "gateway started (%d)", k);
        harness_sub_pump(sub, 600 + rand() % 900);
        kill(harness_proc_pid(gw), SIGKILL);
        harness_proc_wait(gw, 10000, &status);
        char *ok = sql(db, "PRAGMA integrity_check");
        if (!ok || strncmp(ok, "ok", 2) != 0) {
            integrity_failures++;
            harness_check(false, "integrity_check after kill %d: %.200s", k + 1, ok ? ok : "");
        }
        free(ok);
    }
    harness_check(integrity_failures == 0, "integrity_check ok after each of %d kills", KILLS);
    /* A last, clean run: what the killed ones left in the outbox goes out now. */
    struct harness_proc *gw =
        harness_spawn("gateway-last", (const char *const[]){gateway_bin, "-c", config, NULL});
    harness_sub_pump(sub, 3000);
    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the last run exits 0");
    harness_sub_pump(sub, 500);

    /* Telemetry readings against the history: ts_ms of each stored reading. */
    char *stored = sql(db, "SELECT group_concat(ts_ms, ' ') FROM readings");
    HARNESS_REQUIRE(stored, "readings read back");
    size_t nstored = 0, cap = 1024;
    long long *ts = malloc(cap * sizeof(*ts));
    for (char *p = stored, *end; ts && *p; p = end) {
        long long v = strtoll(p, &end, 10);
        if (end == p)
            break;
        if (nstored == cap)
            ts = realloc(ts, (cap *= 2) * sizeof(*ts));
        ts[nstored++] = v;
    }
    free(stored);
    /* One query for all (the harness runs at most 128 processes in a test). */
    char *stored_alerts = sql(db, "SELECT group_concat(alert_id, ' ') FROM alerts");
    int sent = 0, missing = 0, alerts = 0, alerts_missing = 0;
    long long max_seq = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (!m->json)
            continue;
        if (strcmp(m->topic, ROOT "/telemetry") == 0) {
            const cJSON *r;
            cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
            {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "ts");
                int64_t want;
                if (!cJSON_IsString(t) || harness_parse_ts_ms(t->valuestring, &want) < 0)
                    continue;
                sent++;
                bool found = false;
                for (size_t j = 0; j < nstored && !found; j++)
                    found = ts[j] == want;
                missing += !found;
            }
        } else if (strcmp(m->topic, ROOT "/alerts") == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->json, "id");
            const cJSON *seq = cJSON_GetObjectItemCaseSensitive(m->json, "seq");
            if (!cJSON_IsString(id) || !cJSON_IsNumber(seq))
                continue;
            alerts++;
            if ((long long)seq->valuedouble > max_seq)
                max_seq = (long long)seq->valuedouble;
            alerts_missing += !(stored_alerts && strstr(stored_alerts, id->valuestring));
        }
    }
    free(ts);
    free(stored_alerts);
    printf("# %d readings in telemetry, %zu stored, %d sent but not stored; %d alerts received\n",
           sent, nstored, missing, alerts);
    harness_check(sent > 200, "readings were flowing (%d in telemetry)", sent);
    harness_check(missing <= KILLS * BATCH_MAX,
                  "readings lost to the kills: %d, at most one open batch (%d) per kill", missing,
                  BATCH_MAX);
    harness_check(alerts > 10 && alerts_missing == 0,
                  "every alert received (%d) is in the history (%d missing)", alerts,
                  alerts_missing);
    char *gaps = sql(db, "SELECT COUNT(*), MIN(seq), MAX(seq) FROM alerts");
    long long count = 0, lo = 0, hi = 0;
    harness_check(gaps && sscanf(gaps, "%lld|%lld|%lld", &count, &lo, &hi) == 3 && lo == 1 &&
                      hi == count && hi >= max_seq,
                  "the alert sequence is gap-free: %lld alerts, seq %lld..%lld", count, lo, hi);
    free(gaps);
    char *out = run("ctl-verify", (const char *const[]){ctl_bin, "verify", "--db", db, NULL},
                    &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coldchainctl verify after %d kills: intact (%.300s)", KILLS, out ? out : "");
    free(out);
    harness_exit();
}
