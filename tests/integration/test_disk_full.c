/* A full disk under the live daemon (issue 8): the data_dir is a small tmpfs, filled up while an
 * excursion toggles every two seconds. Asserted: the daemon says the history cannot be written
 * (log, status command), keeps running and alarming, holds readings and alerts in memory, and
 * writes them all once space returns; afterwards every alert the broker received is in the
 * history with a gap-free sequence, every reading sent in telemetry is stored, the database
 * passes integrity_check and the audit trail verifies. Needs root (mount); skipped otherwise. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/full-gw"

static char data[PATH_MAX];

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

static int count_in_log(struct harness_proc *p, const char *needle)
{
    char *log = harness_read_file(harness_proc_log(p));
    int n = 0;
    for (const char *at = log; at && (at = strstr(at, needle)) != NULL; at++)
        n++;
    free(log);
    return n;
}

/* Writes zeros into path until the file system is full. Returns the bytes written. */
static long fill(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    static char block[4096];
    long total = 0;
    while (fwrite(block, 1, sizeof(block), f) == sizeof(block))
        total += (long)sizeof(block);
    fclose(f);
    return total;
}

static void unmount(void)
{
    umount2(data, MNT_DETACH);
}

int main(void)
{
    char config[PATH_MAX], filler[PATH_MAX + 16], db[PATH_MAX + 32], sock[PATH_MAX + 32];
    char uri[64], text[4096];
    if (harness_init("disk-full") < 0) {
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
    snprintf(filler, sizeof(filler), "%s/filler", data);
    snprintf(db, sizeof(db), "%s/history.db", data);
    snprintf(sock, sizeof(sock), "%s/control.sock", data);
    mkdir(data, 0750);
    if (mount("tmpfs", data, "tmpfs", 0, "size=4m,mode=0750") != 0) {
        if (getenv("COLDCHAIN_REQUIRE_PEERS"))
            HARNESS_REQUIRE(false, "a 4 MB tmpfs mounted at %s: %s", data, strerror(errno));
        harness_skip("cannot mount a small tmpfs (needs root): the disk-full test is skipped");
    }
    atexit(unmount);

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    struct harness_sub *sub = harness_sub_new(uri, "full-sub", ROOT "/#");
    HARNESS_REQUIRE(sub, "subscribed");
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
        "{\"gateway_id\": \"full-gw\", \"data_dir\": \"%s\", \"log_level\": \"info\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"250ms\"},\n"
        " \"store\": {\"batch_max\": 16, \"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-f\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-f\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [{\"id\": \"heat\", \"above\": 8.0}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-f\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-f\"]}]}\n",
        data, uri, sim_port);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started on a 4 MB data_dir");
    harness_sub_pump(sub, 4000);

    long filled = fill(filler);
    harness_check(filled > 0, "the tmpfs is filled (%ld bytes)", filled);
    harness_sub_pump(sub, 8000);
    harness_check(harness_proc_alive(gw), "the gateway keeps running on a full disk");
    harness_check(count_in_log(gw, "the history cannot be written") == 1,
                  "the log says the history cannot be written, once");
    int status;
    char *out = run("ctl-status", (const char *const[]){ctl_bin, "--socket", sock, "--json",
                                                        "status", NULL},
                    &status);
    harness_check(out && strstr(out, "\"storage\":\"failing\""),
                  "the status command says storage is failing (%.300s)", out ? out : "");
    free(out);
    size_t alerts_while_full = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++)
        alerts_while_full += strcmp(harness_sub_msg(sub, i)->topic, ROOT "/alerts") == 0;

    unlink(filler);
    harness_sub_pump(sub, 8000);
    harness_check(count_in_log(gw, "the history can be written again") == 1,
                  "the log says storage resumed, with what was written from memory");
    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0");
    harness_sub_pump(sub, 300);

    char *stored_alerts = sql(db, "SELECT group_concat(alert_id, ' ') FROM alerts");
    char *stored_ts = sql(db, "SELECT ' ' || group_concat(ts_ms, ' ') || ' ' FROM readings");
    int alerts = 0, alerts_missing = 0, sent = 0, missing = 0;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (!m->json)
            continue;
        if (strcmp(m->topic, ROOT "/alerts") == 0) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(m->json, "id");
            alerts++;
            alerts_missing += !(cJSON_IsString(id) && stored_alerts &&
                                strstr(stored_alerts, id->valuestring));
        } else if (strcmp(m->topic, ROOT "/telemetry") == 0) {
            const cJSON *r;
            cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(m->json, "readings"))
            {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(r, "ts");
                int64_t want;
                if (!cJSON_IsString(t) || harness_parse_ts_ms(t->valuestring, &want) < 0)
                    continue;
                char needle[32];
                snprintf(needle, sizeof(needle), " %lld ", (long long)want);
                sent++;
                missing += !(stored_ts && strstr(stored_ts, needle));
            }
        }
    }
    free(stored_alerts);
    free(stored_ts);
    printf("# %d alerts received (%zu before space returned), %d readings in telemetry\n", alerts,
           alerts_while_full, sent);
    harness_check(alerts >= 4 && alerts_missing == 0,
                  "every alert received (%d) is in the history (%d missing)", alerts,
                  alerts_missing);
    harness_check(sent > 40 && missing == 0,
                  "every reading sent in telemetry (%d) is in the history (%d missing)", sent,
                  missing);
    char *gaps = sql(db, "SELECT COUNT(*) || ' ' || MIN(seq) || ' ' || MAX(seq) FROM alerts");
    long long count = 0, lo = 0, hi = 0;
    harness_check(gaps && sscanf(gaps, "%lld %lld %lld", &count, &lo, &hi) == 3 && lo == 1 &&
                      hi == count,
                  "the alert sequence is gap-free (%s)", gaps ? gaps : "");
    free(gaps);
    char *ok = sql(db, "PRAGMA integrity_check");
    harness_check(ok && strncmp(ok, "ok", 2) == 0, "integrity_check: %.100s", ok ? ok : "");
    free(ok);
    out = run("ctl-verify", (const char *const[]){ctl_bin, "verify", "--db", db, NULL}, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "coldchainctl verify: intact (%.300s)", out ? out : "");
    free(out);
    unmount(); /* before the harness removes its temp dir, which holds the mount point */
    harness_exit();
}
