/* Drain: a backlog of 100 000 messages leaves the outbox after an outage, all of them, in order
 * (issue 6, part 6; DESIGN §7: "on reconnect the backlog is sent in order").
 *
 * outbox_seed queues the messages through the store's own store_outbox_put() (building them
 * through the daemon would take hours at alert rates). A persistent-session subscriber is made
 * on a broker that is then stopped; the gateway starts while the broker is away and fails to
 * connect; the broker comes back on the same port with the subscriber's session, the subscriber
 * reconnects, and the gateway sends the backlog. The test asserts that every message 1..100 000
 * arrived and that none arrived for the first time after a later one, and that the outbox is
 * empty once the gateway stops (sqlite3 CLI, read-only). The drain rate is printed, never
 * asserted (DESIGN §11: performance is measured by tools/bench/uplink, not by tests).
 *
 * A drain that stops (no message for 15 s, the gateway deaf to SIGTERM) is the deadlock between
 * the engine's pump_outbox() and Paho's callbacks described in docs/performance.md; this test
 * found it, and fails on it in some runs until the engine's loop is bounded. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define GATEWAY_ID "drain-gw"
#define T_BACKLOG "coldchain/v1/" GATEWAY_ID "/backlog"
#define BACKLOG 100000
#define PAYLOAD_BYTES "200"
#define DRAIN_TIMEOUT_MS 100000
#define STALL_MS 15000 /* no new message for this long, with messages left: the drain stopped */
/* mosquitto keeps at most 1000 messages queued for a subscriber by default and drops the rest
 * ("Outgoing messages are being dropped"): the test's subscriber reads slower than the gateway
 * sends, and must be given all of them. */
#define BROKER_EXTRA "max_queued_messages 0\n"

static char db_path[PATH_MAX];

static long sql_long(const char *query)
{
    return harness_sqlite_long(db_path, query);
}

static long jseq(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "seq");
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static int write_config(const char *path, const char *data_dir, int port)
{
    char text[2048];
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"" GATEWAY_ID "\", \"data_dir\": \"%s\", \"log_level\": \"info\",\n"
        " \"mqtt\": {\"uri\": \"tcp://127.0.0.1:%d\", \"twin_interval\": \"5s\","
        " \"reconnect_min\": \"100ms\", \"reconnect_max\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"probe\"}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [{\"id\": \"heat\", \"quantity\": "
        "\"temperature\", \"condition\": \"above\", \"limit\": 8.0, \"delay\": \"0s\"}]}},\n"
        " \"shipments\": [{\"id\": \"fridge\", \"kind\": \"storage\", \"profile\": \"fridge\","
        " \"sensors\": [\"probe\"]}]}\n",
        data_dir, port);
    if (n < 0 || n >= (int)sizeof(text))
        return -ENAMETOOLONG;
    return harness_write_file(path, text);
}

int main(void)
{
    char data_dir[PATH_MAX], mosq_dir[PATH_MAX], config_path[PATH_MAX], what[64];
    int status = 0;

    if (harness_init("drain") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *seed_bin = getenv("COLDCHAIN_OUTBOX_SEED");
    HARNESS_REQUIRE(gateway_bin && seed_bin && access(gateway_bin, X_OK) == 0 &&
                        access(seed_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_OUTBOX_SEED name executables");
    harness_mosquitto_path();
    char sqlite_bin[PATH_MAX];
    if (harness_find_program("sqlite3", sqlite_bin, sizeof(sqlite_bin)) < 0)
        harness_skip("the sqlite3 CLI is not installed (apt-get install sqlite3)");
    harness_path(data_dir, sizeof(data_dir), "data");
    harness_path(db_path, sizeof(db_path), "data/history.db");
    harness_path(mosq_dir, sizeof(mosq_dir), "mosquitto");
    harness_path(config_path, sizeof(config_path), "gateway.json");
    HARNESS_REQUIRE(mkdir(data_dir, 0700) == 0 && mkdir(mosq_dir, 0700) == 0, "directories");

    /* 1. The backlog, through the store. */
    int64_t t0_ms = harness_mono_ms();
    char count_arg[16];
    snprintf(count_arg, sizeof(count_arg), "%d", BACKLOG);
    struct harness_proc *seed =
        harness_spawn("outbox_seed", (const char *const[]){seed_bin, data_dir, count_arg, T_BACKLOG,
                                                           PAYLOAD_BYTES, NULL});
    bool seeded = seed && harness_proc_wait(seed, 60000, &status) == 0 && WIFEXITED(status) &&
                  WEXITSTATUS(status) == 0;
    HARNESS_REQUIRE(seeded, "outbox_seed queued %d messages in %lld ms (%s)", BACKLOG,
                    (long long)(harness_mono_ms() - t0_ms),
                    harness_status_str(status, what, sizeof(what)));
    long queued = sql_long("SELECT COUNT(*) FROM outbox");
    HARNESS_REQUIRE(queued == BACKLOG, "history.db's outbox holds %ld messages", queued);

    /* 2. The subscriber's session, on a broker that then goes away (and saves it). */
    int port = 0;
    struct harness_proc *mosq =
        harness_start_mosquitto_persistent(0, mosq_dir, BROKER_EXTRA, &port);
    HARNESS_REQUIRE(mosq, "persistent mosquitto on 127.0.0.1:%d", port);
    char uri[64];
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    char client_id[64];
    snprintf(client_id, sizeof(client_id), "drain-sub-%d", (int)getpid());
    struct harness_sub *sub = harness_sub_new_persistent(uri, client_id, T_BACKLOG, 3600);
    HARNESS_REQUIRE(sub, "persistent subscriber to %s", T_BACKLOG);
    harness_proc_stop(mosq, 10000, NULL);

    /* 3. The outage: the gateway starts and cannot reach the broker. */
    HARNESS_REQUIRE(write_config(config_path, data_dir, port) == 0, "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config_path, NULL});
    HARNESS_REQUIRE(gw && harness_proc_wait_log(gw, "cannot connect", 20000) == 0,
                    "the gateway runs and cannot connect: the broker is away");

    /* 4. The broker returns; the backlog drains. */
    int64_t back_ms = harness_mono_ms();
    int again = 0;
    mosq = harness_start_mosquitto_persistent(port, mosq_dir, BROKER_EXTRA, &again);
    HARNESS_REQUIRE(mosq && again == port, "the broker is back on port %d", port);
    HARNESS_REQUIRE(harness_sub_reconnect(sub, 10000) == 0, "the subscriber is back");

    unsigned char *seen = calloc(BACKLOG + 1, 1);
    HARNESS_REQUIRE(seen, "memory");
    long distinct = 0, duplicates = 0, out_of_order = 0, unknown = 0, highest = 0;
    int64_t first_ms = 0, last_ms = 0;
    size_t next = 0;
    int64_t deadline_ms = harness_mono_ms() + DRAIN_TIMEOUT_MS;
    int64_t progress_ms = harness_mono_ms();
    bool stalled = false;
    while (distinct < BACKLOG && harness_mono_ms() < deadline_ms) {
        if (harness_sub_pump(sub, 200) < 0) {
            harness_check(false, "the subscriber lost its connection during the drain");
            break;
        }
        for (; next < harness_sub_count(sub); next++) {
            const struct harness_msg *m = harness_sub_msg(sub, next);
            long seq = m->json ? jseq(m->json) : -1;
            if (seq < 1 || seq > BACKLOG) {
                unknown++;
                continue;
            }
            if (seen[seq]) {
                duplicates++;
                continue;
            }
            seen[seq] = 1;
            distinct++;
            progress_ms = harness_mono_ms();
            if (!first_ms)
                first_ms = m->recv_mono_ms;
            last_ms = m->recv_mono_ms;
            if (seq < highest) {
                if (out_of_order++ < 5)
                    printf("# seq %ld arrived first after %ld\n", seq, highest);
            } else {
                highest = seq;
            }
        }
        if (!harness_proc_alive(gw))
            break;
        if (harness_mono_ms() - progress_ms > STALL_MS) {
            stalled = true;
            break;
        }
    }
    char why[96] = "";
    if (stalled)
        snprintf(why, sizeof(why),
                 ": no new message for %d s after %ld, the gateway stopped sending",
                 STALL_MS / 1000, distinct);
    harness_check(!stalled, "the drain went on to the end%s", why);
    long missing_first = 0;
    for (long s = 1; s <= BACKLOG && !missing_first; s++)
        if (!seen[s])
            missing_first = s;
    free(seen);
    harness_check(distinct == BACKLOG, "all %d messages arrived (%ld did%s%ld)", BACKLOG, distinct,
                  missing_first ? ", the first missing is " : "", missing_first);
    harness_check(out_of_order == 0 && unknown == 0,
                  "in order: none arrived for the first time after a later one (%ld did; %ld "
                  "unknown)",
                  out_of_order, unknown);
    printf("# duplicates: %ld\n", duplicates);
    if (distinct > 1 && last_ms > first_ms)
        printf("# drain: %ld messages in %.2f s from the first to the last: %.0f messages/s "
               "(%.2f s after the broker came back; ASan build: see tools/bench/uplink for the "
               "release figure)\n",
               distinct, (double)(last_ms - first_ms) / 1000.0,
               (double)(distinct - 1) * 1000.0 / (double)(last_ms - first_ms),
               (double)(last_ms - back_ms) / 1000.0);

    /* 5. A clean stop, and nothing left behind. */
    int rc = harness_proc_stop(gw, 15000, &status);
    harness_check(rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the gateway stops cleanly on SIGTERM (%s)",
                  harness_status_str(status, what, sizeof(what)));
    long left = sql_long("SELECT COUNT(*) FROM outbox WHERE topic = '" T_BACKLOG "'");
    harness_check(left == 0, "no message of the backlog is left in the outbox (%ld)", left);
    harness_exit();
}
