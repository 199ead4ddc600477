/* The uplink's figures (issue 6, part 7; DESIGN §11): what a pharmacist waits for, and how fast a
 * gateway catches up after an outage. Two measurements against a real mosquitto on loopback,
 * the built daemon and the Modbus simulator:
 *
 *   latency  The simulator toggles its temperature between 5 and 10 °C every 100 ms; the gateway
 *            polls it every 100 ms and a zero-delay alarm (above 8 °C, hysteresis 0.5) is raised
 *            or cleared by nearly every reading. An alert's "ts" is the timestamp of the reading
 *            that crossed the limit: the wall clock when the gateway's Modbus read ended. The
 *            subscriber stamps each alert with the same machine's wall clock when it takes it
 *            off the socket; the difference is the latency from the reading to the subscriber:
 *            the engine, the SQLite commit with its fsync, the outbox, Paho, mosquitto and back.
 *            "ts" has millisecond resolution and is rounded down, so each figure is 0 to 1 ms
 *            above the truth.
 *   drain    COUNT messages of an alert's size are queued in a fresh history.db's outbox through
 *            store_outbox_put() (the engine's own path; by outbox_seed, the drain test's
 *            helper); the gateway starts against the broker and sends them; the rate is from
 *            the first message's arrival to the last's.
 *
 * Goals (docs/performance.md) are printed beside the figures, never asserted. Not installed;
 * tools/bench/uplink builds a release tree and runs it. Exits 0, 1 when a run was invalid (a
 * lost or reordered message, a stall: the figures would mean nothing), 2 on a bad argument. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>

#include "harness.h"

#define GATEWAY_ID "bench-gw"
#define ROOT "coldchain/v1/" GATEWAY_ID "/"
#define T_ALERTS ROOT "alerts"
#define T_BACKLOG ROOT "backlog"

#define ALERTS_DEFAULT 1000
#define DRAIN_DEFAULT 100000
#define WARMUP_ALERTS 10 /* the first alerts meet a gateway that is still starting */
#define STALL_MS 10000   /* no new message for this long: the run stopped */
#define GOAL_P99_MS 5.0
#define GOAL_DRAIN_PER_S 10000.0
/* 5 °C for 100 ms, 10 °C for 100 ms, again and again. */
#define TOGGLE_SCRIPT "0s=5.0,100ms=5.0,100ms=10.0,200ms=10.0"

struct options {
    long alerts;
    long drain;
    const char *gateway;
    const char *sim;
    const char *seed; /* outbox_seed (tests/integration/outbox_seed.c) */
    int telemetry_qos;
    const char *telemetry_interval; /* the gateway's mqtt.telemetry_interval */
};

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: bench_uplink [--alerts N] [--drain N] [--gateway PATH] [--sim PATH]\n"
            "                    [--seed PATH]\n"
            "  --alerts N      alerts to time after %d of warm-up (default %d)\n"
            "  --drain N       messages in the backlog (default %d)\n"
            "  --gateway PATH  coldchain-gateway (default $COLDCHAIN_GATEWAY)\n"
            "  --sim PATH      coldchain-sim (default $COLDCHAIN_SIM)\n"
            "  --seed PATH     outbox_seed (default $COLDCHAIN_OUTBOX_SEED)\n"
            "Temp files go under $TMPDIR (default /tmp): put it on the disk the gateway's\n"
            "data_dir would be on, the commit's fsync is part of the latency.\n",
            WARMUP_ALERTS, ALERTS_DEFAULT, DRAIN_DEFAULT);
}

static int parse_args(int argc, char **argv, struct options *o)
{
    o->alerts = ALERTS_DEFAULT;
    o->drain = DRAIN_DEFAULT;
    o->gateway = getenv("COLDCHAIN_GATEWAY");
    o->sim = getenv("COLDCHAIN_SIM");
    o->seed = getenv("COLDCHAIN_OUTBOX_SEED");
    o->telemetry_interval = "10s";
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (v && strcmp(argv[i], "--alerts") == 0) {
            o->alerts = strtol(v, &end, 10);
        } else if (v && strcmp(argv[i], "--drain") == 0) {
            o->drain = strtol(v, &end, 10);
        } else if (v && strcmp(argv[i], "--gateway") == 0) {
            o->gateway = v;
        } else if (v && strcmp(argv[i], "--sim") == 0) {
            o->sim = v;
        } else if (v && strcmp(argv[i], "--seed") == 0) {
            o->seed = v;
        } else if (v && strcmp(argv[i], "--telemetry-qos") == 0) {
            o->telemetry_qos = (int)strtol(v, &end, 10);
        } else if (v && strcmp(argv[i], "--telemetry-interval") == 0) {
            o->telemetry_interval = v; /* the gateway's config check judges it */
        } else {
            usage(stderr);
            return -EINVAL;
        }
        if (end && *end != '\0')
            return -EINVAL;
        i++;
    }
    if (o->alerts < 1 || o->drain < 2 || !o->gateway || !o->sim || !o->seed ||
        o->telemetry_qos < 0 || o->telemetry_qos > 1) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

/* ---- a subscriber that keeps nothing: only what the measurement needs ---- */

static MQTTClient sub_new(const char *uri, const char *client_id, const char *topic)
{
    MQTTClient c = NULL;
    MQTTClient_createOptions create = MQTTClient_createOptions_initializer;
    MQTTClient_connectOptions conn = MQTTClient_connectOptions_initializer5;
    create.MQTTVersion = MQTTVERSION_5;
    if (MQTTClient_createWithOptions(&c, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                     &create) != MQTTCLIENT_SUCCESS)
        return NULL;
    conn.keepAliveInterval = 60;
    conn.cleanstart = 1;
    MQTTResponse r = MQTTClient_connect5(c, &conn, NULL, NULL);
    bool ok = r.reasonCode == MQTTREASONCODE_SUCCESS;
    MQTTResponse_free(r);
    if (ok) {
        r = MQTTClient_subscribe5(c, topic, 1, NULL, NULL);
        ok = r.reasonCode >= 0 && r.reasonCode < 0x80;
        MQTTResponse_free(r);
    }
    if (!ok) {
        fprintf(stderr, "bench: cannot subscribe %s to %s on %s\n", client_id, topic, uri);
        MQTTClient_destroy(&c);
        return NULL;
    }
    return c;
}

static void sub_free(MQTTClient c)
{
    if (!c)
        return;
    MQTTClient_disconnect5(c, 100, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
    MQTTClient_destroy(&c);
}

/* One message's payload, with the wall and monotonic time it was taken off the socket. Returns 1
 * with *payload_out (the caller frees it), 0 on timeout, -ENOTCONN. */
static int sub_take(MQTTClient c, int64_t timeout_ms, char **payload_out, int64_t *wall_us_out,
                    int64_t *mono_us_out)
{
    char *topic = NULL;
    int topic_len = 0;
    MQTTClient_message *m = NULL;
    int rc = MQTTClient_receive(c, &topic, &topic_len, &m, (unsigned long)timeout_ms);
    int64_t now_wall_us = wall_us(), now_mono_us = mono_us();
    if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED)
        return -ENOTCONN;
    MQTTClient_free(topic);
    if (!m)
        return MQTTClient_isConnected(c) ? 0 : -ENOTCONN;
    *payload_out = strndup(m->payload, (size_t)m->payloadlen);
    *wall_us_out = now_wall_us;
    *mono_us_out = now_mono_us;
    MQTTClient_freeMessage(&m);
    return *payload_out ? 1 : -ENOMEM;
}

static long field_long(const char *payload, const char *key)
{
    const char *at = strstr(payload, key);
    return at ? strtol(at + strlen(key), NULL, 10) : -1;
}

/* The "ts" of an alert, in ms since the epoch, or -1. */
static int64_t field_ts_ms(const char *payload)
{
    const char *at = strstr(payload, "\"ts\":\"");
    char text[32];
    int64_t ts_ms = -1;
    if (!at)
        return -1;
    at += strlen("\"ts\":\"");
    const char *end = strchr(at, '"');
    if (!end || end - at >= (long)sizeof(text))
        return -1;
    snprintf(text, sizeof(text), "%.*s", (int)(end - at), at);
    return harness_parse_ts_ms(text, &ts_ms) == 0 ? ts_ms : -1;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The value below which a share q of the sorted values lie (nearest rank). */
static double percentile(const double *sorted, long n, double q)
{
    long rank = (long)ceil(q * (double)n);
    return sorted[rank < 1 ? 0 : rank > n ? n - 1 : rank - 1];
}

/* ---- the runs ---- */

static int write_config(const struct options *o, const char *path, const char *data_dir,
                        int mqtt_port, int sim_port)
{
    char text[4096];
    char bus[1024] = "";
    if (sim_port > 0)
        snprintf(bus, sizeof(bus),
                 " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": "
                 "\"127.0.0.1\", \"port\": %d, \"poll_interval\": \"100ms\", "
                 "\"response_timeout\": \"200ms\", \"reconnect_min\": \"100ms\",\n"
                 "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"probe\", "
                 "\"quantity\": \"temperature\", \"address\": 1}]}]}],\n",
                 sim_port);
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"" GATEWAY_ID "\", \"data_dir\": \"%s\",\n"
        " \"mqtt\": {\"uri\": \"tcp://127.0.0.1:%d\", \"telemetry_qos\": %d,"
        " \"telemetry_interval\": \"%s\", \"reconnect_min\": \"100ms\","
        " \"reconnect_max\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"probe\", \"name\": \"Bench probe\"}],\n%s"
        " \"profiles\": {\"bench\": {\"alarms\": [{\"id\": \"heat\", \"quantity\": "
        "\"temperature\", \"condition\": \"above\", \"limit\": 8.0, \"hysteresis\": 0.5,"
        " \"delay\": \"0s\", \"severity\": \"critical\", \"message\": \"Fridge above 8 °C\","
        " \"action\": \"Keep the door shut and check the vaccines\"}]}},\n"
        " \"shipments\": [{\"id\": \"fridge\", \"kind\": \"storage\", \"profile\": \"bench\","
        " \"sensors\": [\"probe\"]}]}\n",
        data_dir, mqtt_port, o->telemetry_qos, o->telemetry_interval, bus);
    if (n < 0 || n >= (int)sizeof(text))
        return -ENAMETOOLONG;
    return harness_write_file(path, text);
}

/* /proc/loadavg's line: the machine may be shared, and figures taken under load are not
 * comparable with those taken idle. */
static const char *loadavg(void)
{
    static char line[128];
    FILE *f = fopen("/proc/loadavg", "re");
    if (!f || !fgets(line, sizeof(line), f))
        snprintf(line, sizeof(line), "unknown\n");
    if (f)
        fclose(f);
    return line;
}

static const char *fs_name(const char *path)
{
    struct statfs st;
    if (statfs(path, &st) < 0)
        return "unknown";
    switch ((unsigned long)st.f_type) {
    case 0xEF53:
        return "ext2/3/4";
    case 0x01021994:
        return "tmpfs (no real fsync: latency figures are too good)";
    case 0x58465342:
        return "xfs";
    case 0x9123683E:
        return "btrfs";
    case 0x794C7630:
        return "overlayfs";
    case 0xF2F52010:
        return "f2fs";
    default:
        return "other";
    }
}

/* Measures alert latency; returns the mean alert payload size (for the drain), or -1. */
static long run_latency(const struct options *o, const char *uri, int mqtt_port)
{
    char data_dir[PATH_MAX], config[PATH_MAX], port_arg[16];
    harness_path(data_dir, sizeof(data_dir), "latency-data");
    harness_path(config, sizeof(config), "latency.json");

    int sim_port = harness_free_port();
    snprintf(port_arg, sizeof(port_arg), "%d", sim_port);
    struct harness_proc *sim =
        harness_spawn("sim", (const char *const[]){o->sim, "modbus-tcp", "--host", "127.0.0.1",
                                                   "--port", port_arg, "--script", TOGGLE_SCRIPT,
                                                   "--loop", "--quiet", NULL});
    if (!harness_check(sim && harness_wait_tcp(sim, sim_port, 10000) == 0,
                       "simulator toggling 5/10 °C every 100 ms on port %d", sim_port))
        return -1;
    MQTTClient sub = sub_new(uri, "bench-latency", T_ALERTS);
    if (!harness_check(sub != NULL, "subscriber to %s", T_ALERTS) ||
        !harness_check(write_config(o, config, data_dir, mqtt_port, sim_port) == 0,
                       "config (telemetry_qos %d every %s)", o->telemetry_qos,
                       o->telemetry_interval))
        return -1;
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){o->gateway, "-c", config, NULL});
    if (!harness_check(gw != NULL, "gateway started"))
        return -1;

    long want = o->alerts + WARMUP_ALERTS, got = 0, last_seq = 0, gaps = 0, bytes = 0;
    double *lat_ms = calloc((size_t)o->alerts, sizeof(*lat_ms));
    if (!lat_ms)
        return -1;
    long timed = 0;
    int64_t last_us = mono_us();
    while (got < want && mono_us() - last_us < (int64_t)STALL_MS * 1000) {
        char *payload = NULL;
        int64_t arrived_wall_us, arrived_mono_us;
        int rc = sub_take(sub, 500, &payload, &arrived_wall_us, &arrived_mono_us);
        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        last_us = arrived_mono_us;
        long seq = field_long(payload, "\"seq\":");
        int64_t ts_ms = field_ts_ms(payload);
        if (seq > last_seq && ts_ms > 0) {
            gaps += seq - last_seq - 1;
            last_seq = seq;
            if (++got > WARMUP_ALERTS) {
                lat_ms[timed++] = (double)(arrived_wall_us - ts_ms * 1000) / 1000.0;
                bytes += (long)strlen(payload);
            }
        }
        free(payload);
    }
    int status = 0;
    harness_proc_stop(gw, 15000, &status);
    harness_proc_stop(sim, 5000, NULL);
    sub_free(sub);
    harness_check(timed == o->alerts && gaps == 0,
                  "%ld alerts timed after %d of warm-up, none missing (%ld missing)", timed,
                  WARMUP_ALERTS, gaps);
    if (timed == 0) {
        free(lat_ms);
        return -1;
    }
    qsort(lat_ms, (size_t)timed, sizeof(*lat_ms), cmp_double);
    double sum = 0;
    for (long i = 0; i < timed; i++)
        sum += lat_ms[i];
    printf("\nalert latency: reading that crosses a zero-delay limit -> alert at a subscriber\n"
           "  alerts:  %ld (raised and cleared; payload %ld bytes on average)\n"
           "  median:  %.2f ms\n"
           "  mean:    %.2f ms\n"
           "  p90:     %.2f ms\n"
           "  p99:     %.2f ms   (goal: under %.0f ms)\n"
           "  max:     %.2f ms\n"
           "  min:     %.2f ms\n",
           timed, bytes / timed, percentile(lat_ms, timed, 0.5), sum / (double)timed,
           percentile(lat_ms, timed, 0.9), percentile(lat_ms, timed, 0.99), GOAL_P99_MS,
           lat_ms[timed - 1], lat_ms[0]);
    /* Where the tail is: a cluster near 40 ms is Nagle's algorithm on a socket waiting for a
     * delayed ACK (docs/performance.md). */
    static const double edges_ms[] = {1, 2, 5, 10, 35, 50};
    long counts[7] = {0};
    for (long i = 0; i < timed; i++) {
        size_t b = 0;
        while (b < 6 && lat_ms[i] >= edges_ms[b])
            b++;
        counts[b]++;
    }
    printf("  spread:  <1 ms %ld, 1-2 %ld, 2-5 %ld, 5-10 %ld, 10-35 %ld, 35-50 %ld, >50 %ld\n",
           counts[0], counts[1], counts[2], counts[3], counts[4], counts[5], counts[6]);
    free(lat_ms);
    return bytes / timed;
}

/* Queues count messages of about bytes each in data_dir's outbox: outbox_seed does it through
 * store_outbox_put(), in a process of its own (the store brings Paho's asynchronous library,
 * which must not share a process with the synchronous one of the subscriber). */
static int seed_backlog(const struct options *o, const char *data_dir, long bytes)
{
    char count[24], size[24];
    int status = 0;
    snprintf(count, sizeof(count), "%ld", o->drain);
    snprintf(size, sizeof(size), "%ld", bytes);
    struct harness_proc *p = harness_spawn(
        "outbox_seed", (const char *const[]){o->seed, data_dir, count, T_BACKLOG, size, NULL});
    if (!p || harness_proc_wait(p, 600000, &status) < 0)
        return -ETIMEDOUT;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static void run_drain(const struct options *o, const char *uri, int mqtt_port, long bytes)
{
    char data_dir[PATH_MAX], config[PATH_MAX];
    harness_path(data_dir, sizeof(data_dir), "drain-data");
    harness_path(config, sizeof(config), "drain.json");
    if (!harness_check(mkdir(data_dir, 0700) == 0, "drain data dir"))
        return;
    int64_t t0_us = mono_us();
    int rc = seed_backlog(o, data_dir, bytes);
    if (!harness_check(rc == 0, "%ld messages of %ld bytes queued in %.1f s (%s)", o->drain, bytes,
                       (double)(mono_us() - t0_us) / 1e6, rc == 0 ? "ok" : strerror(-rc)))
        return;
    MQTTClient sub = sub_new(uri, "bench-drain", T_BACKLOG);
    if (!harness_check(sub != NULL, "subscriber to %s", T_BACKLOG) ||
        !harness_check(write_config(o, config, data_dir, mqtt_port, 0) == 0, "config"))
        return;
    unsigned char *seen = calloc((size_t)o->drain + 1, 1);
    if (!seen)
        return;
    int64_t start_us = mono_us();
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){o->gateway, "-c", config, NULL});
    long distinct = 0, dups = 0, reordered = 0, highest = 0;
    int64_t first_us = 0, last_us = start_us;
    while (gw && distinct < o->drain && mono_us() - last_us < (int64_t)STALL_MS * 1000) {
        char *payload = NULL;
        int64_t arrived_wall_us, arrived_mono_us;
        rc = sub_take(sub, 500, &payload, &arrived_wall_us, &arrived_mono_us);
        if (rc < 0)
            break;
        if (rc == 0)
            continue;
        long seq = field_long(payload, "\"seq\":");
        free(payload);
        if (seq < 1 || seq > o->drain)
            continue;
        if (seen[seq]) {
            dups++;
            continue;
        }
        seen[seq] = 1;
        distinct++;
        if (!first_us)
            first_us = arrived_mono_us;
        last_us = arrived_mono_us;
        if (seq < highest)
            reordered++;
        else
            highest = seq;
    }
    free(seen);
    bool stalled = distinct < o->drain;
    harness_check(!stalled && reordered == 0,
                  "all %ld arrived, in order (%ld did; %ld out of order; %ld duplicates)%s",
                  o->drain, distinct, reordered, dups,
                  stalled ? "; the drain STALLED: no message for 10 s (docs/performance.md)" : "");
    int status = 0;
    harness_proc_stop(gw, 15000, &status);
    sub_free(sub);
    if (distinct < 2 || last_us <= first_us)
        return;
    double secs = (double)(last_us - first_us) / 1e6;
    printf("\nbacklog drain: %ld messages of %ld bytes queued in the outbox, the gateway started\n"
           "  first message %.2f s after the gateway's start\n"
           "  drained in    %.2f s (first to last arrival)\n"
           "  rate:         %.0f messages/s   (goal: above %.0f messages/s)\n",
           distinct, bytes, (double)(first_us - start_us) / 1e6, secs,
           (double)(distinct - 1) / secs, GOAL_DRAIN_PER_S);
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    if (harness_init("bench-uplink") < 0)
        return 1;
    harness_mosquitto_path();
    printf(
        "# method\n"
        "#   latency: coldchain-sim toggles its temperature 5/10 °C every 100 ms, the gateway\n"
        "#   polls it every 100 ms (Modbus TCP), and a zero-delay alarm (above 8 °C, hysteresis\n"
        "#   0.5) is raised or cleared by nearly every reading. Latency = the subscriber's wall\n"
        "#   clock when it takes an alert off the socket - the alert's \"ts\", the gateway's\n"
        "#   wall clock when the Modbus read of the crossing reading ended (same machine, same\n"
        "#   clock). ts has whole ms, rounded down: each figure is 0 to 1 ms high.\n"
        "#   drain: a backlog of alert-sized messages queued in a new history.db's outbox\n"
        "#   through store_outbox_put(); the gateway starts, connects and sends it; rate from\n"
        "#   the first arrival at the subscriber to the last.\n"
        "#   broker: %s, defaults (Receive Maximum 20) but max_queued_messages 0\n"
        "#   data_dir: %s on %s\n"
        "#   load average before: %s",
        harness_mosquitto_path(), harness_dir(), fs_name(harness_dir()), loadavg());
    int port = 0;
    struct harness_proc *mosq = harness_start_mosquitto_conf(
        "allow_anonymous true\nmax_queued_messages 0\n", (const char *const[]){""}, 1, &port);
    if (!harness_check(mosq != NULL, "mosquitto on 127.0.0.1:%d", port))
        harness_exit();
    char uri[64];
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    long bytes = run_latency(&o, uri, port);
    run_drain(&o, uri, port, bytes > 64 ? bytes : 600);
    printf("\n# load average after: %s", loadavg());
    harness_exit();
}
