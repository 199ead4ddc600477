/* Chaos: the outbox loses nothing (issue 6, part 6; DESIGN §7, docs/mqtt.md). Two Modbus
 * simulators loop through excursions every few seconds, so five probes keep raising and clearing
 * zero-delay and short-delay alarms, while
 *
 *   - mosquitto is stopped and started again on the same port BROKER_RESTARTS times, with SIGTERM
 *     and SIGKILL in a seeded random order (it keeps its sessions in a database saved every
 *     second and at SIGTERM); every third time it returns after a long outage, hangs (SIGSTOP)
 *     at the gateway's first publish, so the gateway has a full window of unacknowledged
 *     messages, and is then killed;
 *   - the gateway is killed with SIGKILL and started again GATEWAY_KILLS times, during outages
 *     and while the broker is up;
 *   - one subscriber with a persistent session (clean start 0, session expiry) records every
 *     alert at QoS 1, and reconnects with its session after each broker restart.
 *
 * Then the excursions stop, the outbox drains and the gateway stops cleanly, and the test
 * asserts, against history.db read with the sqlite3 CLI (read-only):
 *   1. every alert seq from 1 to the highest in the alerts table arrived, with the id recorded
 *      for it; duplicates are allowed (at least once) but counted and printed;
 *   2. the alerts arrived in order: no seq arrived for the first time after a higher one (a
 *      subscriber that keeps the highest seq, as docs/mqtt.md says, would drop it);
 *   3. the broker kept the subscriber's session through every restart (its CONNACKs said so),
 *      and the outbox is empty at the end;
 *   4. the retained twin of each shipment agrees with the history: each alarm's state is the
 *      state of its latest transition in the alerts table (normal if it has none), and
 *      active_alarms counts those active or acknowledged.
 * COLDCHAIN_CHAOS_SEED=N repeats a run's order of signals and pauses. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define GATEWAY_ID "chaos-gw"
#define ROOT "coldchain/v1/" GATEWAY_ID "/"
#define T_ALERTS ROOT "alerts"

#define BROKER_RESTARTS 12
#define GATEWAY_KILLS 4
#define SESSION_EXPIRY_S 3600
#define MIN_ALERTS 100 /* fewer and the run proved little: the simulators did not drive it */
#define QUIET_TIMEOUT_MS 60000
#define MAX_SEQ 100000

/* fridge-1: 5 °C, 10 °C (heat at once, warm after its 1 s delay), 1 °C (both clear, freeze),
 * back to 5 °C (freeze clears): six alerts per probe every 6 s. */
#define SCRIPT_1 "0s=5.0,1500ms=5.0,1500ms=10.0,3s=10.0,3s=1.0,4500ms=1.0,4500ms=5.0,6s=5.0"
/* fridge-2: 5 °C, 9 °C for 1.5 s (heat, then warm), back to 5 °C: four alerts every 5 s. */
#define SCRIPT_2 "0s=5.0,1s=5.0,1s=9.0,2500ms=9.0,2500ms=5.0,5s=5.0"
/* The end: fridge-1 stays warm (heat and warm active), fridge-2 cool (all returned). */
#define FINAL_1 "0s=10.0"
#define FINAL_2 "0s=5.0"

static const char *gateway_bin, *sim_bin;
static char config_path[PATH_MAX], data_dir[PATH_MAX], db_path[PATH_MAX];
static char mosq_dir[PATH_MAX], uri[64], sub_client_id[64];
/* The broker's debug log says whether it kept the subscriber's session (its CONNACK flags). */
#define BROKER_EXTRA "log_type all\nmax_queued_messages 0\n"
static int mosq_port, sim_ports[2];
static struct harness_proc *mosq, *gw, *sims[2];
static struct harness_sub *sub;
static bool sub_up;
static unsigned rng;
static int gateway_crashes, session_lost, sub_reconnects;

/* ---- small helpers ----------------------------------------------------------------------- */

static unsigned rand_below(unsigned n)
{
    rng = rng * 1103515245u + 12345u; /* any fixed generator: the seed repeats a run */
    return (rng >> 16) % n;
}

static int64_t rand_between(int64_t lo_ms, int64_t hi_ms)
{
    return lo_ms + (int64_t)rand_below((unsigned)(hi_ms - lo_ms + 1));
}

static const char *jstr(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long jseq(const cJSON *o)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "seq");
    return cJSON_IsNumber(v) ? (long)v->valuedouble : -1;
}

static char *sql(const char *query)
{
    return harness_sqlite(db_path, query);
}

static long sql_long(const char *query)
{
    return harness_sqlite_long(db_path, query);
}

/* ---- the processes ------------------------------------------------------------------------- */

static int write_config(void)
{
    char text[8192];
    /* Every point reads the simulator's temperature through another register and type, so a
     * simulator's step moves all its probes at once: bursts of alerts in one engine turn. */
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"" GATEWAY_ID "\", \"data_dir\": \"%s\", \"log_level\": \"info\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"keepalive\": \"10s\", \"telemetry_interval\": \"1s\","
        " \"twin_interval\": \"500ms\", \"reconnect_min\": \"100ms\", \"reconnect_max\": \"1s\"},\n"
        " \"store\": {\"batch_max\": 64, \"batch_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"f1a\"}, {\"id\": \"f1b\"}, {\"id\": \"f1c\"},"
        " {\"id\": \"f1d\"}, {\"id\": \"f1e\"}, {\"id\": \"f1f\"},"
        " {\"id\": \"f2a\"}, {\"id\": \"f2b\"}, {\"id\": \"f2c\"}, {\"id\": \"f2d\"}],\n"
        " \"buses\": [\n"
        "  {\"name\": \"bus1\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\", \"port\": %d,"
        " \"poll_interval\": \"200ms\", \"response_timeout\": \"300ms\","
        " \"reconnect_min\": \"100ms\", \"reconnect_max\": \"500ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [\n"
        "    {\"sensor\": \"f1a\", \"quantity\": \"temperature\", \"address\": 1},\n"
        "    {\"sensor\": \"f1b\", \"quantity\": \"temperature\", \"address\": 256,"
        " \"type\": \"float32\", \"word_order\": \"cdab\"},\n"
        "    {\"sensor\": \"f1c\", \"quantity\": \"temperature\", \"function\": \"holding\","
        " \"address\": 2, \"type\": \"float32\", \"word_order\": \"cdab\"},\n"
        "    {\"sensor\": \"f1d\", \"quantity\": \"temperature\", \"address\": 1},\n"
        "    {\"sensor\": \"f1e\", \"quantity\": \"temperature\", \"address\": 256,"
        " \"type\": \"float32\", \"word_order\": \"cdab\"},\n"
        "    {\"sensor\": \"f1f\", \"quantity\": \"temperature\", \"function\": \"holding\","
        " \"address\": 2, \"type\": \"float32\", \"word_order\": \"cdab\"}]}]},\n"
        "  {\"name\": \"bus2\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\", \"port\": %d,"
        " \"poll_interval\": \"200ms\", \"response_timeout\": \"300ms\","
        " \"reconnect_min\": \"100ms\", \"reconnect_max\": \"500ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [\n"
        "    {\"sensor\": \"f2a\", \"quantity\": \"temperature\", \"address\": 1},\n"
        "    {\"sensor\": \"f2b\", \"quantity\": \"temperature\", \"address\": 256,"
        " \"type\": \"float32\", \"word_order\": \"cdab\"},\n"
        "    {\"sensor\": \"f2c\", \"quantity\": \"temperature\", \"address\": 1},\n"
        "    {\"sensor\": \"f2d\", \"quantity\": \"temperature\", \"address\": 256,"
        " \"type\": \"float32\", \"word_order\": \"cdab\"}]}]}],\n"
        " \"profiles\": {\"chaos\": {\"alarms\": [\n"
        "   {\"id\": \"heat\", \"quantity\": \"temperature\", \"condition\": \"above\","
        " \"limit\": 8.0, \"hysteresis\": 0.5, \"delay\": \"0s\", \"severity\": \"critical\"},\n"
        "   {\"id\": \"warm\", \"quantity\": \"temperature\", \"condition\": \"above\","
        " \"limit\": 6.5, \"hysteresis\": 0.3, \"delay\": \"1s\", \"severity\": \"warning\"},\n"
        "   {\"id\": \"freeze\", \"quantity\": \"temperature\", \"condition\": \"below\","
        " \"limit\": 2.0, \"hysteresis\": 0.5, \"delay\": \"0s\", \"severity\": \"critical\"}]}},\n"
        " \"shipments\": [\n"
        "  {\"id\": \"fridge-1\", \"kind\": \"storage\", \"profile\": \"chaos\","
        " \"sensors\": [\"f1a\", \"f1b\", \"f1c\", \"f1d\", \"f1e\", \"f1f\"]},\n"
        "  {\"id\": \"fridge-2\", \"kind\": \"storage\", \"profile\": \"chaos\","
        " \"sensors\": [\"f2a\", \"f2b\", \"f2c\", \"f2d\"]}]}\n",
        data_dir, uri, sim_ports[0], sim_ports[1]);
    if (n < 0 || n >= (int)sizeof(text))
        return -ENAMETOOLONG;
    return harness_write_file(config_path, text);
}

static void start_gateway(const char *why)
{
    gw = harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config_path, NULL});
    HARNESS_REQUIRE(gw, "gateway started (%s)", why);
}

/* A gateway that died on its own is a bug (a crash, an ASan report): counted as a failure, and
 * started again so the rest of the run still says what it can. */
static void check_gateway(void)
{
    if (!gw || harness_proc_alive(gw))
        return;
    char what[64];
    int status = 0;
    harness_proc_wait(gw, 0, &status);
    gateway_crashes++;
    harness_check(false, "the gateway died by itself (%s); see its log",
                  harness_status_str(status, what, sizeof(what)));
    start_gateway("after it died");
}

/* Waits ms while the subscriber takes everything the broker sends. */
static void run_for(int64_t ms)
{
    int64_t end_ms = harness_mono_ms() + ms;
    for (;;) {
        int64_t left_ms = end_ms - harness_mono_ms();
        if (left_ms <= 0)
            break;
        if (sub_up) {
            if (harness_sub_pump(sub, left_ms < 200 ? left_ms : 200) < 0)
                sub_up = false; /* the broker went away; reconnected when it is back */
        } else {
            harness_sleep_ms(left_ms < 50 ? left_ms : 50);
        }
        check_gateway();
    }
}

/* Connects the subscriber again, and asks the broker whether it still had the session: Paho
 * 1.3.12 does not report Session Present for MQTT 5, mosquitto's debug log does. */
static void reconnect_subscriber(void)
{
    char connack[128];
    int rc = harness_sub_reconnect(sub, 10000);
    HARNESS_REQUIRE(rc == 0, "subscriber reconnected to the restarted broker (%s)",
                    rc == 0 ? "ok" : strerror(-rc));
    sub_up = true;
    sub_reconnects++;
    snprintf(connack, sizeof(connack), "Sending CONNACK to %s (1, 0)", sub_client_id);
    if (harness_proc_wait_log(mosq, connack, 2000) < 0) {
        session_lost++;
        printf("# the broker had lost the subscriber's session (no \"%s\" in its log)\n", connack);
    }
}

static void kill_gateway(const char *when)
{
    char what[64];
    int status = 0;
    harness_proc_kill(gw, SIGKILL, 5000, &status);
    printf("# gateway killed %s (%s)\n", when, harness_status_str(status, what, sizeof(what)));
    gw = NULL;
}

/* One outage: the broker stops by sig, stays away down_ms (the gateway killed meanwhile when
 * kill_gw), and comes back on the same port with its database. */
static void outage(int sig, int64_t down_ms, bool kill_gw)
{
    char what[64];
    int status = 0;
    harness_proc_kill(mosq, sig, 10000, &status);
    printf("# broker stopped by %s (%s); away for %lld ms%s\n",
           sig == SIGKILL ? "SIGKILL" : "SIGTERM", harness_status_str(status, what, sizeof(what)),
           (long long)down_ms, kill_gw ? ", the gateway killed and restarted meanwhile" : "");
    mosq = NULL;
    sub_up = false;
    if (kill_gw) {
        run_for(down_ms / 3);
        kill_gateway("during the outage");
        run_for(down_ms / 3);
        start_gateway("during the outage");
        run_for(down_ms - 2 * (down_ms / 3));
    } else {
        run_for(down_ms);
    }
    int port = mosq_port;
    mosq = harness_start_mosquitto_persistent(port, mosq_dir, BROKER_EXTRA, &mosq_port);
    HARNESS_REQUIRE(mosq && mosq_port == port, "broker back on port %d", port);
    reconnect_subscriber();
}

/* Waits (up to timeout_ms) until the broker's log shows a publish from the gateway: it is back
 * and sending its backlog. 1 when it did, 0 if not. */
static int wait_gateway_publishing(int64_t timeout_ms)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;
    for (;;) {
        char *log = harness_read_file(harness_proc_log(mosq));
        bool found = log && strstr(log, "Received PUBLISH from coldchain-" GATEWAY_ID " ");
        free(log);
        if (found)
            return 1;
        if (harness_mono_ms() >= deadline_ms) {
            printf("# the gateway did not publish within %lld ms of the broker's return\n",
                   (long long)timeout_ms);
            return 0;
        }
        run_for(2);
    }
}

/* ---- what arrived ------------------------------------------------------------------------ */

struct tally {
    long max_seq;      /* highest seq in history.db */
    long distinct;     /* seqs 1..max_seq that arrived */
    long duplicates;   /* alert messages beyond the first of their seq */
    long out_of_order; /* first arrivals of a seq after a higher one */
    long unknown;      /* seqs above max_seq, or without a seq */
    long id_mismatch;  /* arrived with another id than history.db gives its seq */
    char missing[512]; /* the first missing seqs, for the report */
    char disorder[512];
};

/* Counts the alerts the subscriber has against history.db's ids (ids[seq], may be NULL). */
static void tally_alerts(struct tally *t, char (*ids)[40])
{
    unsigned char *seen = calloc((size_t)t->max_seq + 2, 1);
    long highest = 0;
    if (!seen) {
        harness_check(false, "memory for %ld seqs", t->max_seq);
        harness_exit();
    }
    t->distinct = t->duplicates = t->out_of_order = t->unknown = t->id_mismatch = 0;
    t->missing[0] = t->disorder[0] = '\0';
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        if (strcmp(m->topic, T_ALERTS) != 0)
            continue;
        long seq = m->json ? jseq(m->json) : -1;
        if (seq < 1 || seq > t->max_seq) {
            t->unknown++;
            continue;
        }
        if (seen[seq]) {
            t->duplicates++;
            continue;
        }
        seen[seq] = 1;
        t->distinct++;
        if (seq < highest) {
            if (t->out_of_order++ < 10)
                snprintf(t->disorder + strlen(t->disorder),
                         sizeof(t->disorder) - strlen(t->disorder), " %ld after %ld;", seq,
                         highest);
        } else {
            highest = seq;
        }
        const char *id = jstr(m->json, "id");
        if (ids && (!id || strcmp(id, ids[seq]) != 0))
            t->id_mismatch++;
    }
    long shown = 0;
    for (long s = 1; s <= t->max_seq; s++) {
        if (!seen[s] && shown++ < 20)
            snprintf(t->missing + strlen(t->missing), sizeof(t->missing) - strlen(t->missing),
                     " %ld", s);
    }
    free(seen);
}

/* Counts the alert messages of each seq (a line per seq that came more than once). */
static void print_duplicates(long max_seq)
{
    unsigned *count = calloc((size_t)max_seq + 2, sizeof(*count));
    if (!count)
        return;
    for (size_t i = 0; i < harness_sub_count(sub); i++) {
        const struct harness_msg *m = harness_sub_msg(sub, i);
        long seq = strcmp(m->topic, T_ALERTS) == 0 && m->json ? jseq(m->json) : -1;
        if (seq >= 1 && seq <= max_seq)
            count[seq]++;
    }
    char line[1024] = "";
    int listed = 0;
    for (long s = 1; s <= max_seq; s++) {
        if (count[s] > 1 && listed++ < 60)
            snprintf(line + strlen(line), sizeof(line) - strlen(line), " %ld(x%u)", s, count[s]);
    }
    printf("# duplicated seqs (seq(times), first 60):%s\n", listed ? line : " none");
    free(count);
}

/* True once everything recorded has arrived and nothing is left to send. */
static bool settled(long *max_seq_out)
{
    long max_seq = sql_long("SELECT COALESCE(MAX(seq), 0) FROM alerts");
    long waiting = sql_long("SELECT COUNT(*) FROM outbox WHERE topic = '" T_ALERTS "'");
    *max_seq_out = max_seq;
    if (max_seq < 0 || waiting != 0)
        return false;
    struct tally t = {.max_seq = max_seq};
    tally_alerts(&t, NULL);
    return t.distinct == max_seq;
}

/* ---- the twin against the history --------------------------------------------------------- */

static bool is_retained_twin(const struct harness_msg *m, void *arg)
{
    const char *shipment = arg;
    const cJSON *s = m->json ? cJSON_GetObjectItemCaseSensitive(m->json, "shipment") : NULL;
    const char *id = jstr(s, "id");
    return m->retained && id && strcmp(id, shipment) == 0;
}

/* The state of the latest transition of (shipment, alarm, sensor) in latest ("ship|alarm|sensor|
 * state" lines), or "normal" when it has none. */
static const char *latest_state(const char *latest, const char *shipment, const char *alarm,
                                const char *sensor, char *buf, size_t len)
{
    char key[160];
    snprintf(key, sizeof(key), "%s|%s|%s|", shipment, alarm, sensor);
    for (const char *line = latest; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        if (strncmp(line, key, strlen(key)) == 0 && n > strlen(key)) {
            snprintf(buf, len, "%.*s", (int)(n - strlen(key)), line + strlen(key));
            return buf;
        }
        line = end ? end + 1 : line + n;
    }
    return "normal";
}

static void check_twin(const char *shipment, const char *latest)
{
    char client_id[64];
    snprintf(client_id, sizeof(client_id), "chaos-twin-%s-%d", shipment, (int)getpid());
    char topic[128];
    snprintf(topic, sizeof(topic), ROOT "shipments/%s/twin", shipment);
    struct harness_sub *fresh = harness_sub_new(uri, client_id, topic);
    long idx =
        fresh ? harness_sub_wait(fresh, 0, topic, is_retained_twin, (void *)shipment, 5000) : -1;
    if (!harness_check(idx >= 0, "%s: a new subscriber gets the retained twin", shipment)) {
        harness_sub_free(fresh);
        return;
    }
    const cJSON *twin = harness_sub_msg(fresh, (size_t)idx)->json;
    const cJSON *alarms = cJSON_GetObjectItemCaseSensitive(twin, "alarms");
    char diffs[1024] = "";
    int instances = 0, in_alarm = 0, heat_active = 0;
    for (const cJSON *a = cJSON_IsArray(alarms) ? alarms->child : NULL; a; a = a->next) {
        const char *alarm = jstr(a, "alarm"), *sensor = jstr(a, "sensor"),
                   *state = jstr(a, "state");
        char buf[32];
        if (!alarm || !sensor || !state)
            continue;
        instances++;
        const char *want = latest_state(latest, shipment, alarm, sensor, buf, sizeof(buf));
        if (strcmp(state, want) != 0)
            snprintf(diffs + strlen(diffs), sizeof(diffs) - strlen(diffs),
                     " %s/%s: twin %s, history %s;", alarm, sensor, state, want);
        if (strcmp(want, "active") == 0 || strcmp(want, "acknowledged") == 0)
            in_alarm++;
        if (strcmp(alarm, "heat") == 0 && strcmp(state, "active") == 0)
            heat_active++;
    }
    const cJSON *active = cJSON_GetObjectItemCaseSensitive(twin, "active_alarms");
    harness_check(instances > 0 && diffs[0] == '\0',
                  "%s: the retained twin's %d alarm states equal the latest transitions in the "
                  "alerts table%s",
                  shipment, instances, diffs);
    harness_check(cJSON_IsNumber(active) && (int)active->valuedouble == in_alarm,
                  "%s: the twin's active_alarms %g is the %d instances active or acknowledged in "
                  "the history",
                  shipment, cJSON_IsNumber(active) ? active->valuedouble : -1.0, in_alarm);
    /* The end of the scenario: fridge-1 held at 10 °C, fridge-2 at 5 °C. */
    bool warm_end = strcmp(shipment, "fridge-1") == 0;
    harness_check(warm_end ? heat_active == 6 : heat_active == 0,
                  "%s: heat is active on %d probes at the end (%s expected)", shipment, heat_active,
                  warm_end ? "6" : "none");
    harness_sub_free(fresh);
}

/* ---- the run ------------------------------------------------------------------------------- */

static void start_simulators(const char *s1, const char *s2, bool loop, const char *why)
{
    const char *scripts[2] = {s1, s2};
    for (int i = 0; i < 2; i++) {
        char port_arg[16], unit_arg[] = "1";
        int port = sim_ports[i];
        if (sims[i])
            harness_proc_stop(sims[i], 5000, NULL);
        if (!loop) {
            sims[i] = harness_start_modbus_sim(sim_bin, port, 1, scripts[i], NULL, &sim_ports[i]);
        } else {
            /* --loop is not among harness_start_modbus_sim()'s options: the port is fixed by
             * then (start_simulators() runs first with loop false to find free ports). */
            snprintf(port_arg, sizeof(port_arg), "%d", port);
            sims[i] = harness_spawn(
                "sim", (const char *const[]){sim_bin, "modbus-tcp", "--host", "127.0.0.1", "--port",
                                             port_arg, "--unit", unit_arg, "--script", scripts[i],
                                             "--loop", "--quiet", NULL});
            if (sims[i] && harness_wait_tcp(sims[i], port, 10000) < 0)
                sims[i] = NULL;
        }
        HARNESS_REQUIRE(sims[i], "simulator %d on port %d (%s)", i + 1, sim_ports[i], why);
    }
}

int main(void)
{
    if (harness_init("chaos") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    gateway_bin = getenv("COLDCHAIN_GATEWAY");
    sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    char sqlite_bin[PATH_MAX];
    if (harness_find_program("sqlite3", sqlite_bin, sizeof(sqlite_bin)) < 0)
        harness_skip("the sqlite3 CLI is not installed (apt-get install sqlite3)");
    const char *seed_env = getenv("COLDCHAIN_CHAOS_SEED");
    rng = seed_env && *seed_env ? (unsigned)strtoul(seed_env, NULL, 10)
                                : (unsigned)time(NULL) ^ (unsigned)getpid();
    printf("# seed %u (COLDCHAIN_CHAOS_SEED=%u repeats this run's order)\n", rng, rng);
    harness_path(config_path, sizeof(config_path), "gateway.json");
    harness_path(data_dir, sizeof(data_dir), "data");
    harness_path(db_path, sizeof(db_path), "data/history.db");
    harness_path(mosq_dir, sizeof(mosq_dir), "mosquitto");
    HARNESS_REQUIRE(mkdir(mosq_dir, 0700) == 0, "broker database dir %s", mosq_dir);

    mosq = harness_start_mosquitto_persistent(0, mosq_dir, BROKER_EXTRA, &mosq_port);
    HARNESS_REQUIRE(mosq, "persistent mosquitto on 127.0.0.1:%d", mosq_port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", mosq_port);
    snprintf(sub_client_id, sizeof(sub_client_id), "chaos-sub-%d", (int)getpid());
    sub = harness_sub_new_persistent(uri, sub_client_id, ROOT "#", SESSION_EXPIRY_S);
    HARNESS_REQUIRE(sub, "persistent subscriber (clean start 0, session expiry %d s)",
                    SESSION_EXPIRY_S);
    sub_up = true;

    /* Free ports first (a script without --loop), then the looping scenarios on them. */
    start_simulators("0s=5.0", "0s=5.0", false, "ports");
    start_simulators(SCRIPT_1, SCRIPT_2, true, "excursions every few seconds");
    HARNESS_REQUIRE(write_config() == 0, "config written");
    start_gateway("first start");

    /* The broker's database must hold the subscriber's session before the first SIGKILL. */
    char db_file[PATH_MAX + 16];
    snprintf(db_file, sizeof(db_file), "%s/mosquitto.db", mosq_dir);
    struct stat st;
    int64_t deadline_ms = harness_mono_ms() + 20000;
    while ((stat(db_file, &st) < 0 || harness_sub_count(sub) == 0) &&
           harness_mono_ms() < deadline_ms)
        run_for(200);
    HARNESS_REQUIRE(stat(db_file, &st) == 0, "the broker saved its database (%s)", db_file);

    /* Every third restart is a hang: after a long outage (a backlog of alerts in the outbox)
     * the broker freezes (SIGSTOP) at the gateway's first publish, so the gateway fills its
     * window of unacknowledged messages, and then dies (SIGKILL). The other restarts: half by
     * SIGTERM, half by SIGKILL, shuffled. Gateway kills: two during outages, two while the
     * broker is up. */
    int sigs[BROKER_RESTARTS];
    for (int i = 0, n = 0; i < BROKER_RESTARTS; i++)
        sigs[i] = i % 3 == 2 ? SIGKILL : n++ % 2 ? SIGKILL : SIGTERM;
    for (int i = BROKER_RESTARTS - 1; i > 0; i--) {
        int k = (int)rand_below((unsigned)i + 1);
        if (i % 3 == 2 || k % 3 == 2)
            continue; /* the hangs keep their place and their SIGKILL */
        int tmp = sigs[i];
        sigs[i] = sigs[k];
        sigs[k] = tmp;
    }
    int kills = 0, term_count = 0, kill_count = 0, hangs = 0;
    int64_t chaos_start_ms = harness_mono_ms();
    for (int i = 0; i < BROKER_RESTARTS; i++) {
        bool hang = i % 3 == 2;
        bool before_hang = i % 3 == 1;
        bool kill_in_outage = i == 1 || i == 7;
        bool kill_while_up = i == 3 || i == 9;
        if (hang) {
            if (wait_gateway_publishing(5000)) {
                kill(-harness_proc_pid(mosq), SIGSTOP);
                hangs++;
                run_for(rand_between(300, 700));
            }
        } else if (kill_while_up) {
            int64_t up_ms = rand_between(2500, 5500);
            int64_t before_ms = rand_between(500, up_ms - 1500);
            run_for(before_ms);
            kill_gateway("while the broker is up");
            kills++;
            run_for(rand_between(200, 1200));
            start_gateway("after a kill");
            run_for(up_ms - before_ms);
        } else {
            run_for(rand_between(2500, 5500));
        }
        if (kill_in_outage)
            kills++;
        if (sigs[i] == SIGKILL)
            kill_count++;
        else
            term_count++;
        outage(sigs[i], before_hang ? rand_between(4000, 6500) : rand_between(300, 2500),
               kill_in_outage);
    }
    printf("# chaos over after %lld s: %d broker restarts (%d SIGTERM, %d SIGKILL; %d of them "
           "hung first, at the gateway's first publish after an outage), %d gateway kills\n",
           (long long)(harness_mono_ms() - chaos_start_ms) / 1000, BROKER_RESTARTS, term_count,
           kill_count, hangs, kills);

    /* The end: steady temperatures, so the alarms' states stop changing, then everything drains. */
    run_for(3000);
    start_simulators(FINAL_1, FINAL_2, false, "steady for the end");
    long max_seq = 0, last_max = -1;
    int stable = 0;
    deadline_ms = harness_mono_ms() + QUIET_TIMEOUT_MS;
    while (harness_mono_ms() < deadline_ms) {
        run_for(500);
        bool done = settled(&max_seq);
        stable = done && max_seq == last_max ? stable + 1 : 0;
        last_max = max_seq;
        if (stable >= 6) /* 3 s with no new alert, all of them received, none waiting */
            break;
    }
    printf("# settled: %s, highest seq %ld\n", stable >= 6 ? "yes" : "NO (timed out)", max_seq);

    char what[64];
    int status = 0;
    int rc = harness_proc_stop(gw, 15000, &status);
    harness_check(rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "the gateway stops cleanly on SIGTERM (%s)",
                  harness_status_str(status, what, sizeof(what)));
    gw = NULL;
    run_for(1000);

    /* The history, now that nobody writes it. */
    max_seq = sql_long("SELECT COALESCE(MAX(seq), 0) FROM alerts");
    long rows = sql_long("SELECT COUNT(*) FROM alerts");
    long outbox = sql_long("SELECT COUNT(*) FROM outbox");
    HARNESS_REQUIRE(max_seq > 0 && max_seq <= MAX_SEQ && rows == max_seq,
                    "history.db holds alerts 1..%ld without a gap (%ld rows)", max_seq, rows);
    char(*ids)[40] = calloc((size_t)max_seq + 1, sizeof(*ids));
    char *id_rows = sql("SELECT seq, alert_id FROM alerts ORDER BY seq");
    HARNESS_REQUIRE(ids && id_rows, "alert ids read from history.db");
    for (char *line = id_rows, *end; line && *line; line = end ? end + 1 : NULL) {
        end = strchr(line, '\n');
        if (end)
            *end = '\0';
        long seq = strtol(line, NULL, 10);
        const char *bar = strchr(line, '|');
        if (bar && seq >= 1 && seq <= max_seq)
            snprintf(ids[seq], sizeof(ids[seq]), "%s", bar + 1);
    }
    free(id_rows);

    harness_check(kills >= 3 && BROKER_RESTARTS >= 10 && term_count > 0 && kill_count > 0,
                  "chaos: %d broker restarts on port %d (%d by SIGTERM, %d by SIGKILL) and %d "
                  "gateway SIGKILLs",
                  BROKER_RESTARTS, mosq_port, term_count, kill_count, kills);
    harness_check(max_seq >= MIN_ALERTS, "the run raised and cleared %ld alerts (at least %d)",
                  max_seq, MIN_ALERTS);
    struct tally t = {.max_seq = max_seq};
    tally_alerts(&t, ids);
    harness_check(t.distinct == max_seq, "every alert seq 1..%ld arrived (%ld did, missing:%s)",
                  max_seq, t.distinct, t.distinct == max_seq ? " none" : t.missing);
    harness_check(t.id_mismatch == 0 && t.unknown == 0,
                  "each arrived with the id history.db gives its seq (%ld did not; %ld unknown "
                  "seqs)",
                  t.id_mismatch, t.unknown);
    harness_check(t.out_of_order == 0,
                  "in order: no seq arrived for the first time after a higher one (%ld did:%s)",
                  t.out_of_order, t.disorder);
    printf("# duplicates: %ld alert messages arrived again (at least once allows it)\n",
           t.duplicates);
    print_duplicates(max_seq);
    harness_check(gateway_crashes == 0, "the gateway never died by itself (%d times)",
                  gateway_crashes);
    harness_check(session_lost == 0,
                  "the subscriber's session survived all %d broker restarts (lost %d times)",
                  sub_reconnects, session_lost);
    harness_check(outbox == 0, "the outbox is empty after the clean stop (%ld rows)", outbox);
    free(ids);

    char *latest = sql("SELECT shipment_id, alarm_id, sensor_id, state FROM alerts WHERE seq IN "
                       "(SELECT MAX(seq) FROM alerts GROUP BY shipment_id, alarm_id, sensor_id)");
    HARNESS_REQUIRE(latest, "latest transitions read from history.db");
    check_twin("fridge-1", latest);
    check_twin("fridge-2", latest);
    free(latest);
    harness_exit();
}
