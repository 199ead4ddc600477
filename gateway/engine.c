/* The engine loop. Order of work on a reading (DESIGN §3): validate and calibrate, append to
 * the open batch, feed the rules; an alarm transition commits (with the batch before it) and
 * enters the outbox before anything is published, so a crash between the two only delays the
 * alert, never loses it. Telemetry and twins are coalesced on CLOCK_MONOTONIC timers. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "clock.h"
#include "command.h"
#include "audit.h"
#include "control.h"
#include "gpio_out.h"
#include "log.h"
#include "messages.h"
#include "presets.h"
#include "queue.h"
#include "rules.h"
#include "sensor_host.h"
#include "store.h"
#include "uplink.h"
#include "version.h"

#define QUEUE_CAPACITY 4096
#define POP_BATCH 256
#define MAX_IN_FLIGHT 32         /* outbox messages handed to Paho and not yet acknowledged */
#define TELEMETRY_MAX 500        /* readings per telemetry message */
#define SHUTDOWN_DRAIN_MS 3000   /* how long a stop waits for the broker to take the outbox */
#define TOPIC_MAX 384
/* Rules tick this far behind the wall clock, so a reading stamped a moment ago and still on its
 * way through the queue is judged before time moves past it (docs/rules.md "Time"). */
#define TICK_LAG_MS 1000
#define TICK_INTERVAL_MS 1000
/* A reload's verdict: the config path (512), the JSON path (192) and what was expected (512). */
#define RELOAD_MESSAGE_MAX 1280
/* A publish the broker refused (an ACL, a quota) is sent again after this, doubling up to the
 * reconnect ceiling: never dropped (it may be an alert), never in a tight loop. */
#define REFUSED_RETRY_MIN_MS 1000

struct engine {
    const struct config *cfg;
    int sigfd;
    struct store *store;
    struct rules *rules;
    struct queue *queue;
    struct uplink *uplink;
    struct sensor_host **hosts;
    size_t host_count;
    struct gpio_out **outputs;       /* per config output; NULL where its line could not be had */

    char topic_status[TOPIC_MAX];
    char topic_alerts[TOPIC_MAX];
    char topic_telemetry[TOPIC_MAX];
    char topic_commands[TOPIC_MAX];  /* <root>/cmd/+ */
    char topic_reply[TOPIC_MAX];     /* <root>/reply: replies to clients without a response topic */
    char (*topic_twin)[TOPIC_MAX];   /* per shipment */
    int64_t *shipment_started_ms;    /* per shipment */
    bool *twin_dirty;                /* per shipment */
    int64_t *twin_due_mono_ms;       /* per shipment: earliest time the next twin may go */

    struct rules_event *events;
    size_t events_cap;
    struct reading *telemetry;
    size_t telemetry_count;
    int64_t telemetry_due_mono_ms;
    int64_t batch_due_mono_ms;       /* 0: no open batch */
    int64_t tick_due_mono_ms;

    bool connected;
    bool connecting;
    unsigned connect_failures;
    int64_t backoff_ms;
    int64_t reconnect_due_mono_ms;
    int64_t outbox_cursor;           /* highest outbox id handed to Paho in this session */
    int64_t outbox_paused_until_mono_ms; /* after the broker refused a message; 0: not paused */
    int64_t refused_backoff_ms;      /* 0 until the broker refuses one */

    int64_t started_ms;
    uint64_t watchdog_usec;
    int64_t watchdog_due_mono_ms;
    uint64_t readings_total;
    uint64_t alerts_total;

    struct control *control;         /* the local control socket; NULL if it could not be had */
    atomic_bool commands_closed;     /* the engine takes no more commands (stopping) */
    struct config *reload_config;    /* a checked new config: run() returns to apply it */
    uint64_t outbox_dropped;         /* QoS 1 telemetry dropped to keep the outbox bounded */
    /* Retention: which readings have reached the broker (docs/history.md "Retention"). QoS 1
     * telemetry: the outbox id of each telemetry message and the last reading in it; a PUBACK
     * for an id means every older outbox row was acknowledged too (in-order acks, sent in id
     * order), so the mark moves to its reading. QoS 0: a batch published while connected, as
     * long as none was dropped: after a drop the mark stays (nothing unsent is ever purged). */
    struct {
        int64_t outbox_id, reading_id;
    } uplink_marks[64];
    size_t uplink_mark_count;
    bool telemetry_gap;
    int64_t purge_due_mono_ms;
    int64_t clock_wall_ms, clock_mono_ms; /* at the last turn: a wall clock step shows */

    /* When the history cannot be written (a full disk, a database error): readings wait in a
     * bounded ring and alerts in order in memory, and both are written when storage comes
     * back (tried every STORAGE_RETRY_MS). batch mirrors the readings of the open batch, which
     * a failed commit rolls back. */
    struct reading *batch;
    size_t batch_count;
    struct reading *ring;
    size_t ring_head, ring_count;
    uint64_t ring_dropped;
    struct held_alert *held;
    size_t held_count;
    bool storage_failed;
    int64_t storage_retry_due_mono_ms;
    bool outbox_over_logged;
    uint64_t commands_total;
};

static void notify_status(struct engine *e);

#define RING_MAX 20000           /* readings held in memory while the history cannot be written */
#define HELD_ALERTS_MAX 4096     /* alerts held likewise (none is ever dropped below this) */
#define STORAGE_RETRY_MS 5000

struct held_alert {
    struct store_alert sa;
    char *payload;
};

/* ---- uplink notices: called on Paho's threads, so only the queue is touched ---- */

static void post_notice(void *arg, const struct uplink_notice *notice)
{
    struct engine *e = arg;
    struct queue_msg msg = {.kind = QUEUE_UPLINK};
    msg.u.uplink = *notice;
    queue_push(e->queue, &msg);
}

/* ---- outbox ---- */

/* At most one window of publishes per turn of the loop. Every publish comes back as a notice
 * through the queue, which Paho's thread posts while it holds Paho's own lock. A loop that
 * refilled the window as fast as acknowledgements freed it (a fast broker: the slot is free
 * before its notice is read) would never return to drain the queue; once 4096 notices fill it,
 * Paho's thread waits in queue_push() with its lock held, the next uplink_publish() waits for
 * that lock, and both stop for good: no more publishes, no keepalive, no SIGTERM
 * (tests/integration/test_drain.c). */
static void pump_outbox(struct engine *e)
{
    if (e->outbox_paused_until_mono_ms && clock_mono_ms() < e->outbox_paused_until_mono_ms)
        return;
    e->outbox_paused_until_mono_ms = 0;
    for (int sent = 0;
         sent < MAX_IN_FLIGHT && e->connected && uplink_in_flight(e->uplink) < MAX_IN_FLIGHT;
         sent++) {
        struct store_outbox_msg msg;
        int r = store_outbox_next(e->store, e->outbox_cursor, &msg);
        if (r != 0)
            return; /* 1: nothing waiting; < 0: logged by the store, retried on the next turn */
        r = uplink_publish(e->uplink, msg.topic, msg.payload, msg.len, msg.qos, msg.retain,
                           msg.id);
        if (r == 0)
            e->outbox_cursor = msg.id;
        store_outbox_msg_clear(&msg);
        if (r != 0)
            return; /* -ENOTCONN: a LOST notice is on its way; -EBUSY: wait for acks */
    }
}

static void put_outbox(struct engine *e, const char *topic, char *payload, bool retain,
                       bool replace)
{
    if (!payload) {
        log_err("engine: out of memory building a message for %s", topic);
        return;
    }
    store_outbox_put(e->store, topic, payload, strlen(payload), 1, retain, replace, NULL);
    free(payload);
}

static void put_status(struct engine *e, const char *state, const char *reason)
{
    put_outbox(e, e->topic_status,
               messages_status(e->cfg->gateway_id, state, reason, e->started_ms, clock_wall_ms()),
               true, true);
}

/* ---- twins and telemetry ---- */

static void put_due_twins(struct engine *e, int64_t now_mono_ms, bool force)
{
    struct messages_health health = {.started_ms = e->started_ms,
                                     .broker_connected = e->connected,
                                     .clock_synced = clock_wall_synced(),
                                     .outbox = -1,
                                     .outbox_dropped = e->outbox_dropped,
                                     .buses = e->cfg->bus_count};
    bool any = false;
    for (size_t i = 0; i < e->cfg->shipment_count && !any; i++)
        any = e->twin_dirty[i] && (force || now_mono_ms >= e->twin_due_mono_ms[i]);
    if (!any)
        return;
    store_outbox_count(e->store, &health.outbox);
    for (size_t i = 0; i < e->cfg->shipment_count; i++) {
        if (!e->twin_dirty[i] || (!force && now_mono_ms < e->twin_due_mono_ms[i]))
            continue;
        put_outbox(e, e->topic_twin[i],
                   messages_twin(e->cfg, i, e->rules, e->shipment_started_ms[i], clock_wall_ms(),
                                 &health),
                   true, true);
        e->twin_dirty[i] = false;
        e->twin_due_mono_ms[i] = now_mono_ms + e->cfg->mqtt.twin_interval_ms;
    }
}

/* Before QoS 1 telemetry joins a full outbox, the oldest telemetry makes room. Alerts, twins and
 * status are never dropped (twins and status replace their older selves anyway), so an outbox
 * full of alerts grows past the bound: that is said once. */
static void bound_outbox(struct engine *e)
{
    int64_t depth = 0, dropped = 0;
    long long max = e->cfg->store.outbox_max;
    if (store_outbox_count(e->store, &depth) < 0 || depth < max)
        return;
    store_outbox_trim(e->store, e->topic_telemetry, depth - max + 1, &dropped);
    if (dropped > 0 && e->outbox_dropped == 0)
        log_warn("engine: the outbox holds %lld messages (store.outbox_max %lld): the oldest "
                 "telemetry is dropped to make room; alerts never are", (long long)depth, max);
    else if (dropped == 0 && !e->outbox_over_logged) {
        log_warn("engine: the outbox holds %lld messages, more than store.outbox_max %lld, and "
                 "none is telemetry that could be dropped: it keeps growing until the broker "
                 "takes them", (long long)depth, max);
        e->outbox_over_logged = true;
    }
    e->outbox_dropped += (uint64_t)dropped;
}

static void note_uplink_mark(struct engine *e, int64_t outbox_id, int64_t reading_id)
{
    size_t cap = sizeof(e->uplink_marks) / sizeof(e->uplink_marks[0]);
    if (e->uplink_mark_count == cap) {
        /* Forgetting the oldest only delays its mark: a later one covers its readings. */
        memmove(&e->uplink_marks[0], &e->uplink_marks[1], (cap - 1) * sizeof(e->uplink_marks[0]));
        e->uplink_mark_count--;
    }
    e->uplink_marks[e->uplink_mark_count].outbox_id = outbox_id;
    e->uplink_marks[e->uplink_mark_count].reading_id = reading_id;
    e->uplink_mark_count++;
}

/* A PUBACK for outbox id tag: every telemetry message up to it has reached the broker. */
static void uplink_mark_delivered(struct engine *e, int64_t tag)
{
    int64_t reading_id = 0;
    size_t n = 0;
    while (n < e->uplink_mark_count && e->uplink_marks[n].outbox_id <= tag)
        reading_id = e->uplink_marks[n++].reading_id;
    if (n == 0)
        return;
    memmove(&e->uplink_marks[0], &e->uplink_marks[n],
            (e->uplink_mark_count - n) * sizeof(e->uplink_marks[0]));
    e->uplink_mark_count -= n;
    store_mark_uplinked(e->store, reading_id);
}

static void send_telemetry(struct engine *e)
{
    if (e->telemetry_count == 0)
        return;
    char *payload = messages_telemetry(e->cfg->gateway_id, e->telemetry, e->telemetry_count);
    if (!payload) {
        log_err("engine: out of memory building telemetry");
    } else if (e->cfg->mqtt.telemetry_qos > 0) {
        bound_outbox(e);
        int64_t id = 0;
        if (store_outbox_put(e->store, e->topic_telemetry, payload, strlen(payload), 1, false,
                             false, &id) == 0)
            note_uplink_mark(e, id, store_reading_id_last(e->store));
    } else if (e->connected &&
               uplink_publish(e->uplink, e->topic_telemetry, payload, strlen(payload), 0, false,
                              -1) == 0) {
        /* QoS 0 telemetry is best effort by configuration: every reading is in the history;
         * tag -1 marks it as not from the outbox. */
        if (!e->telemetry_gap)
            store_mark_uplinked(e->store, store_reading_id_last(e->store));
    } else {
        e->telemetry_gap = true;
    }
    free(payload);
    e->telemetry_count = 0;
}

/* ---- readings ---- */

/* ---- storage faults ---- */

static void ring_push(struct engine *e, const struct reading *r)
{
    if (e->ring_count == RING_MAX) {
        /* Full: the oldest reading goes (the ring keeps the latest hours for the record). */
        e->ring_head = (e->ring_head + 1) % RING_MAX;
        e->ring_count--;
        if (e->ring_dropped++ == 0)
            log_msg(LOG_CRIT, "store: %d readings are waiting in memory for the history: the "
                    "oldest are now dropped", RING_MAX);
    }
    e->ring[(e->ring_head + e->ring_count) % RING_MAX] = *r;
    e->ring_count++;
}

/* The history failed: what the failed transaction held goes to the ring. */
static void storage_failed(struct engine *e, const char *what)
{
    for (size_t i = 0; i < e->batch_count; i++)
        ring_push(e, &e->batch[i]);
    e->batch_count = 0;
    e->batch_due_mono_ms = 0;
    if (!e->storage_failed)
        log_msg(LOG_CRIT, "store: the history cannot be written (%s; the store's error is "
                "above: a full disk or a database error): readings wait in memory (up to %d), "
                "alerts too and are sent once written, the local alarm shows a fault; "
                "retrying every %d s", what, RING_MAX, STORAGE_RETRY_MS / 1000);
    e->storage_failed = true;
    e->storage_retry_due_mono_ms = clock_mono_ms() + STORAGE_RETRY_MS;
}

static int flush_batch(struct engine *e)
{
    e->batch_due_mono_ms = 0;
    int r = store_flush(e->store);
    if (r < 0)
        storage_failed(e, "commit");
    else
        e->batch_count = 0;
    return r;
}

/* Writes what waited in memory: the readings in one transaction, then the alerts in order.
 * Nothing leaves memory before it is committed. */
static void retry_storage(struct engine *e, int64_t now_mono_ms)
{
    size_t n = e->ring_count;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = store_append_reading(e->store, &e->ring[(e->ring_head + i) % RING_MAX]);
    if (r == 0)
        r = store_flush(e->store);
    if (r == 0) {
        e->ring_head = (e->ring_head + n) % RING_MAX;
        e->ring_count -= n;
    }
    size_t done = 0;
    while (r == 0 && done < e->held_count) {
        struct held_alert *h = &e->held[done];
        r = store_append_alert(e->store, &h->sa, e->topic_alerts, h->payload, NULL);
        if (r == 0) {
            free(h->payload);
            done++;
            e->alerts_total++;
        }
    }
    memmove(e->held, e->held + done, (e->held_count - done) * sizeof(*e->held));
    e->held_count -= done;
    if (r < 0) {
        e->storage_retry_due_mono_ms = now_mono_ms + STORAGE_RETRY_MS;
        return;
    }
    log_notice("store: the history can be written again: %zu readings and %zu alerts written "
               "from memory%s", n, done, e->ring_dropped ? ", but older readings were dropped "
               "when memory was full" : "");
    e->storage_failed = false;
    e->ring_dropped = 0;
}

/* Records and queues one transition; who/comment for operator actions (else NULL). Returns 0
 * with the alert's seq and id, or a negative errno when it could not be recorded. */
static int emit_alert_by(struct engine *e, const struct rules_event *re, const char *who,
                         const char *comment, uint64_t *seq_out, char *id_out, size_t id_cap)
{
    const struct config *cfg = e->cfg;
    const struct config_shipment *s = &cfg->shipments[re->shipment];
    const struct alarm_def *def = &cfg->profiles[s->profile].alarms[re->alarm];
    const char *sensor_id = s->sensor_ids[re->sensor];
    const struct alarm_event *ev = &re->ev;
    struct store_alert sa = {
        .seq = e->held_count ? e->held[e->held_count - 1].sa.seq + 1
                             : store_alert_seq_next(e->store),
        .ts_ms = ev->ts_ms,
        .level = ev->level,
        .value = ev->value,
        .worst = ev->worst,
        .since_ms = ev->since_ms,
        .amount_ms = ev->amount_ms,
    };
    /* Without the kernel's randomness (it cannot fail on Linux >= 3.17 once booted), an id
     * still unique on this gateway and still shaped as a UUID: the time and the seq. */
    if (messages_uuid(sa.id, sizeof(sa.id)) < 0)
        snprintf(sa.id, sizeof(sa.id), "%08llx-0000-4000-8000-%012llx",
                 (unsigned long long)(ev->ts_ms / 1000) & 0xFFFFFFFFull,
                 (unsigned long long)sa.seq & 0xFFFFFFFFFFFFull);
    snprintf(sa.shipment_id, sizeof(sa.shipment_id), "%s", s->id);
    snprintf(sa.alarm_id, sizeof(sa.alarm_id), "%s", def->id);
    snprintf(sa.sensor_id, sizeof(sa.sensor_id), "%s", sensor_id);
    snprintf(sa.transition, sizeof(sa.transition), "%s", alarm_transition_name(ev->transition));
    snprintf(sa.state, sizeof(sa.state), "%s", alarm_isa_state_name(ev->isa_state));

    struct messages_alert ma = {.gateway_id = cfg->gateway_id, .id = sa.id, .seq = sa.seq,
                                .shipment_id = s->id, .sensor_id = sensor_id, .def = def,
                                .ev = ev, .who = who, .comment = comment};
    char *payload = messages_alert(&ma);
    int r = -ENOMEM;
    bool held = false;
    if (payload && !e->storage_failed) {
        r = store_append_alert(e->store, &sa, e->topic_alerts, payload, NULL);
        if (r == 0)
            e->batch_count = 0; /* the open batch was committed with it */
        else
            storage_failed(e, "an alert");
    }
    /* Held in order until the history can be written: then recorded and sent, never lost. */
    if (payload && r < 0 && e->held_count < HELD_ALERTS_MAX) {
        e->held[e->held_count++] = (struct held_alert){.sa = sa, .payload = payload};
        payload = NULL;
        held = true;
    }
    free(payload);
    e->twin_dirty[re->shipment] = true;

    /* The log line is what a technician reads in the journal, so it is complete on its own. */
    bool raised = ev->transition == ALARM_RAISED;
    int prio = r < 0                                   ? LOG_CRIT
               : raised && def->severity == ALARM_CRITICAL ? LOG_WARNING
                                                            : LOG_NOTICE;
    char value[48] = "";
    if (!isnan(ev->value) && def->quantity < QUANTITY_COUNT)
        snprintf(value, sizeof(value), " (%s %.2f %s)",
                 def->kind == ALARM_KIND_MKT ? "MKT" : quantity_name(def->quantity), ev->value,
                 def->kind == ALARM_KIND_RATE ? "change" : quantity_unit(def->quantity));
    log_msg(prio, "alarm[%s/%s/%s]: %s%s%s%s%s%s%s seq %llu%s%s", s->id, def->id, sensor_id,
            sa.transition, raised ? ": " : "", raised ? def->message : "", value,
            who ? " by " : "", who ? who : "",
            ev->notify ? "" : " (not notified: shelved or suppressed)",
            (unsigned long long)sa.seq,
            held ? " (held in memory until the history can be written)"
            : r < 0 ? " NOT RECORDED: " : "",
            !held && r < 0 ? strerror(-r) : "");
    if (r == 0)
        e->alerts_total++;
    if (held)
        r = 0;
    if (seq_out)
        *seq_out = sa.seq;
    if (id_out)
        snprintf(id_out, id_cap, "%s", sa.id);
    return r;
}

static void emit_events(struct engine *e, int n)
{
    for (int i = 0; i < n; i++)
        emit_alert_by(e, &e->events[i], NULL, NULL, NULL, NULL, 0);
}

static void handle_reading(struct engine *e, const struct reading *in, int64_t now_mono_ms)
{
    const struct config *cfg = e->cfg;
    struct reading rd = *in;
    int idx = config_sensor_index(cfg, rd.sensor_id);
    if (idx < 0 || rd.quantity >= QUANTITY_COUNT) {
        /* The config check makes this unreachable for configured adapters. */
        log_err("engine: reading from undeclared sensor \"%.*s\" ignored",
                READING_SENSOR_ID_MAX, rd.sensor_id);
        return;
    }
    double raw;
    if (config_calibrate(cfg, &rd, &raw))
        log_warn("sensor[%s]: %s %.3f is not a possible reading; recorded as a fault",
                 rd.sensor_id, quantity_name(rd.quantity), raw);
    e->readings_total++;

    if (e->storage_failed) {
        ring_push(e, &rd);
    } else if (store_append_reading(e->store, &rd) == 0) {
        if (e->batch_count < (size_t)cfg->store.batch_max)
            e->batch[e->batch_count++] = rd;
        if (e->batch_due_mono_ms == 0)
            e->batch_due_mono_ms = now_mono_ms + cfg->store.batch_interval_ms;
    } else {
        ring_push(e, &rd);
        storage_failed(e, "a reading");
    }

    emit_events(e, rules_feed(e->rules, &rd, e->events, e->events_cap));

    for (size_t i = 0; i < cfg->shipment_count; i++) {
        const struct config_shipment *s = &cfg->shipments[i];
        for (size_t k = 0; k < s->sensor_count; k++) {
            if (strcmp(s->sensor_ids[k], rd.sensor_id) == 0)
                e->twin_dirty[i] = true;
        }
    }

    e->telemetry[e->telemetry_count++] = rd;
    if (e->telemetry_count == TELEMETRY_MAX)
        send_telemetry(e);
    if (store_pending(e->store) >= (size_t)cfg->store.batch_max)
        flush_batch(e);
}

/* ---- operator commands (docs/mqtt.md "Commands") ---- */

/* A command on its way to the engine thread. From MQTT it carries the raw message (parsed on the
 * engine thread; the reply goes back over MQTT); from the control socket the parsed command and
 * a rendezvous: the control thread waits for the reply, or gives up when the engine stops. Two
 * references then (the waiter's and the engine's): whoever drops the last one frees it. */
struct cmd_job {
    struct uplink_command *mqtt;
    struct command cmd;
    pthread_mutex_t lock;
    pthread_cond_t done_cv;
    int refs;
    bool done;
    char *reply;
};

static void job_release(struct cmd_job *job)
{
    if (job->mqtt) {
        uplink_command_free(job->mqtt);
        free(job);
        return;
    }
    pthread_mutex_lock(&job->lock);
    int refs = --job->refs;
    pthread_mutex_unlock(&job->lock);
    if (refs > 0)
        return;
    free(job->reply);
    pthread_cond_destroy(&job->done_cv);
    pthread_mutex_destroy(&job->lock);
    free(job);
}

/* Paho's thread: the message is queued as it came. */
static void post_command(void *arg, struct uplink_command *c)
{
    struct engine *e = arg;
    struct cmd_job *job = calloc(1, sizeof(*job));
    if (!job) {
        uplink_command_free(c);
        return;
    }
    job->mqtt = c;
    struct queue_msg msg = {.kind = QUEUE_COMMAND};
    msg.u.job = job;
    queue_push(e->queue, &msg);
}

/* The control thread: hands the command over and waits for the engine's reply. */
static int control_handle(void *arg, const struct command *cmd, char **reply_out)
{
    struct engine *e = arg;
    if (atomic_load(&e->commands_closed))
        return -ECANCELED;
    struct cmd_job *job = calloc(1, sizeof(*job));
    if (!job)
        return -ENOMEM;
    job->cmd = *cmd;
    job->refs = 2;
    pthread_mutex_init(&job->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&job->done_cv, &attr);
    pthread_condattr_destroy(&attr);
    struct queue_msg msg = {.kind = QUEUE_COMMAND};
    msg.u.job = job;
    queue_push(e->queue, &msg);

    pthread_mutex_lock(&job->lock);
    while (!job->done && !atomic_load(&e->commands_closed)) {
        int64_t until = clock_mono_ms() + 100;
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (until % 1000) * 1000000};
        pthread_cond_timedwait(&job->done_cv, &job->lock, &ts);
    }
    bool done = job->done;
    char *reply = job->reply;
    job->reply = NULL;
    pthread_mutex_unlock(&job->lock);
    job_release(job);
    if (!done)
        return -ECANCELED;
    if (!reply)
        return -ENOMEM;
    *reply_out = reply;
    return 0;
}

/* The instance a command names: by alert id (through the history) or by shipment, alarm and
 * sensor. 0 with the indexes, or a reply refusing it (*reply_out). */
static int find_instance(struct engine *e, const struct command *c, size_t *si_out,
                         size_t *alarm_out, size_t *sensor_out, char **reply_out)
{
    const struct config *cfg = e->cfg;
    const char *verb = command_verb_name(c->verb);
    char msg[COMMAND_MESSAGE_MAX];
    struct store_alert sa;
    const char *shipment = c->shipment, *alarm = c->alarm, *sensor = c->sensor;
    if (c->alert_id[0]) {
        int r = store_alert_instance(e->store, c->alert_id, &sa);
        if (r < 0) {
            snprintf(msg, sizeof(msg), "no alert with id %s in this gateway's history",
                     c->alert_id);
            *reply_out = command_reply_error(verb, c->id, r == -ENOENT ? COMMAND_ERR_UNKNOWN_ALERT
                                                                       : COMMAND_ERR_INTERNAL,
                                             msg);
            return -EINVAL;
        }
        shipment = sa.shipment_id;
        alarm = sa.alarm_id;
        sensor = sa.sensor_id;
    }
    for (size_t si = 0; si < cfg->shipment_count; si++) {
        const struct config_shipment *s = &cfg->shipments[si];
        if (strcmp(s->id, shipment) != 0)
            continue;
        int a = profile_alarm_index(&cfg->profiles[s->profile], alarm);
        if (a < 0) {
            snprintf(msg, sizeof(msg), "shipment %s (profile %s) has no alarm \"%s\"", s->id,
                     cfg->profiles[s->profile].name, alarm);
            *reply_out = command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_ALARM, msg);
            return -EINVAL;
        }
        for (size_t k = 0; k < s->sensor_count; k++) {
            if (strcmp(s->sensor_ids[k], sensor) == 0) {
                *si_out = si;
                *alarm_out = (size_t)a;
                *sensor_out = k;
                return 0;
            }
        }
        snprintf(msg, sizeof(msg), "sensor \"%s\" is not in shipment %s", sensor, s->id);
        *reply_out = command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_SENSOR, msg);
        return -EINVAL;
    }
    snprintf(msg, sizeof(msg), "no shipment \"%s\" on this gateway", shipment);
    *reply_out = command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_SHIPMENT, msg);
    return -EINVAL;
}

/* ack, shelve, unshelve: the rules change the instance, and the transition is an alert like any
 * other (recorded, then sent), carrying who and why. */
static char *run_alarm_command(struct engine *e, const struct command *c)
{
    const char *verb = command_verb_name(c->verb);
    size_t si, a, k;
    char *reply = NULL;
    if (find_instance(e, c, &si, &a, &k, &reply) < 0)
        return reply;
    int64_t now_ms = clock_wall_ms();
    struct rules_event re = {.shipment = (uint32_t)si, .alarm = (uint32_t)a, .sensor = (uint32_t)k};
    int r;
    if (c->verb == COMMAND_ACK)
        r = rules_ack(e->rules, si, a, k, now_ms, &re.ev);
    else if (c->verb == COMMAND_SHELVE)
        r = rules_shelve(e->rules, si, a, k, now_ms, now_ms + c->for_ms, &re.ev);
    else
        r = rules_unshelve(e->rules, si, a, k, now_ms, &re.ev);
    if (r == -EALREADY) {
        return command_reply_error(verb, c->id, COMMAND_ERR_NOT_ACTIVE,
                                   c->verb == COMMAND_ACK
                                       ? "nothing to acknowledge: the alarm is not raised, or "
                                         "was acknowledged already"
                                       : "the alarm is not shelved");
    }
    if (r < 0)
        return command_reply_error(verb, c->id, COMMAND_ERR_REFUSED, strerror(-r));
    const char *who = c->user;
    const char *comment = c->comment[0] ? c->comment : NULL;
    uint64_t seq = 0;
    char alert_id[64] = "";
    r = emit_alert_by(e, &re, who, comment, &seq, alert_id, sizeof(alert_id));
    if (r < 0)
        return command_reply_error(verb, c->id, COMMAND_ERR_INTERNAL,
                                   "the transition could not be recorded in the history");
    cJSON *result = cJSON_CreateObject();
    if (result) {
        cJSON_AddStringToObject(result, "shipment", e->cfg->shipments[si].id);
        cJSON_AddStringToObject(result, "alarm", rules_alarm_def(e->rules, si, a)->id);
        cJSON_AddStringToObject(result, "sensor", e->cfg->shipments[si].sensor_ids[k]);
        cJSON_AddStringToObject(result, "state", alarm_isa_state_name(re.ev.isa_state));
        cJSON_AddStringToObject(result, "alert", alert_id);
        cJSON_AddNumberToObject(result, "seq", (double)seq);
    }
    reply = command_reply_ok(c, result);
    cJSON_Delete(result);
    return reply;
}

static char *run_status(struct engine *e, const struct command *c)
{
    const struct config *cfg = e->cfg;
    int64_t now_ms = clock_wall_ms();
    int64_t outbox = -1;
    store_outbox_count(e->store, &outbox);
    cJSON *r = cJSON_CreateObject();
    if (!r)
        return NULL;
    cJSON_AddStringToObject(r, "gateway", cfg->gateway_id);
    cJSON_AddStringToObject(r, "version", COLDCHAIN_VERSION);
    cJSON_AddNumberToObject(r, "uptime_s", (double)((now_ms - e->started_ms) / 1000));
    cJSON_AddBoolToObject(r, "broker_connected", e->connected);
    cJSON_AddNumberToObject(r, "outbox", (double)outbox);
    cJSON_AddNumberToObject(r, "outbox_dropped", (double)e->outbox_dropped);
    cJSON_AddStringToObject(r, "storage", e->storage_failed ? "failing" : "ok");
    cJSON_AddNumberToObject(r, "held_readings", (double)e->ring_count);
    cJSON_AddNumberToObject(r, "held_alerts", (double)e->held_count);
    cJSON_AddNumberToObject(r, "readings", (double)e->readings_total);
    cJSON_AddNumberToObject(r, "alerts", (double)e->alerts_total);
    cJSON_AddNumberToObject(r, "buses", (double)cfg->bus_count);
    cJSON *ships = cJSON_AddArrayToObject(r, "shipments");
    for (size_t si = 0; ships && si < cfg->shipment_count; si++) {
        const struct config_shipment *s = &cfg->shipments[si];
        const struct config_profile *p = &cfg->profiles[s->profile];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(ships, o);
        cJSON_AddStringToObject(o, "id", s->id);
        cJSON_AddStringToObject(o, "profile", p->name);
        cJSON *active = cJSON_AddArrayToObject(o, "active_alarms");
        for (size_t a = 0; active && a < p->alarm_count; a++) {
            for (size_t k = 0; k < s->sensor_count; k++) {
                const struct alarm_instance *inst = rules_instance(e->rules, si, a, k);
                if (!inst || inst->state != ALARM_ACTIVE)
                    continue;
                cJSON *x = cJSON_CreateObject();
                if (!x)
                    continue;
                cJSON_AddItemToArray(active, x);
                cJSON_AddStringToObject(x, "alarm", p->alarms[a].id);
                cJSON_AddStringToObject(x, "sensor", s->sensor_ids[k]);
                cJSON_AddStringToObject(x, "state", inst->unacked ? "active" : "acknowledged");
                if (inst->shelved_until_ms > now_ms)
                    cJSON_AddBoolToObject(x, "shelved", true);
            }
        }
    }
    char *reply = command_reply_ok(c, r);
    cJSON_Delete(r);
    return reply;
}

/* Reads and checks the config file again (SIGHUP, the reload command). A good one is kept for
 * engine_run() to hand back, which stops this engine so the gateway starts again with it; a bad
 * one is refused and the running one stays. 0, or -EINVAL with why in msg. */
static int prepare_reload(struct engine *e, char *msg, size_t cap)
{
    struct config *next = NULL;
    struct cfg_error err = {0};
    int r = config_load(e->cfg->path, 0, &next, &err);
    if (r < 0) {
        if (err.path[0])
            snprintf(msg, cap, "%s: %s: %s", e->cfg->path, err.path, err.msg);
        else
            snprintf(msg, cap, "%s: %s", e->cfg->path, err.msg[0] ? err.msg : strerror(-r));
        log_err("engine: reload refused, the running configuration stays: %s", msg);
        sd_notifyf(0, "STATUS=Running; reload refused (bad configuration): %s", msg);
        return -EINVAL;
    }
    config_free(e->reload_config);
    e->reload_config = next;
    snprintf(msg, cap, "%s is valid: the gateway restarts its buses and rules with it",
             e->cfg->path);
    log_notice("engine: reloading: %s", msg);
    return 0;
}

/* shipment-start, shipment-end, assign: checked against the configuration and the history,
 * recorded in the store (with their events), then applied by starting the engine again, as a
 * reload does: the rules are rebuilt from the history with the new set of shipments. */
static char *run_shipment_command(struct engine *e, const struct command *c)
{
    const struct config *cfg = e->cfg;
    const char *verb = command_verb_name(c->verb);
    char msg[RELOAD_MESSAGE_MAX];
    struct store_shipment ss;
    int64_t now_ms = clock_wall_ms();
    int known = store_shipment_get(e->store, c->shipment, &ss);
    if (known < 0 && known != -ENOENT)
        return command_reply_error(verb, c->id, COMMAND_ERR_INTERNAL, "the history cannot be read");

    if (c->verb == COMMAND_SHIPMENT_START) {
        if (known == 0) {
            snprintf(msg, sizeof(msg), "shipment \"%s\" exists already (%s): a shipment id is "
                     "never used twice", c->shipment, ss.ended ? "ended" : "running");
            return command_reply_error(verb, c->id, COMMAND_ERR_REFUSED, msg);
        }
        bool profile_known = presets_find(c->profile) != NULL;
        for (size_t i = 0; i < cfg->profile_count && !profile_known; i++)
            profile_known = strcmp(cfg->profiles[i].name, c->profile) == 0;
        if (!profile_known) {
            snprintf(msg, sizeof(msg), "no profile or preset \"%s\"", c->profile);
            return command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_PROFILE, msg);
        }
    } else if (known == -ENOENT) {
        snprintf(msg, sizeof(msg), "no shipment \"%s\" on this gateway", c->shipment);
        return command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_SHIPMENT, msg);
    } else if (ss.ended) {
        snprintf(msg, sizeof(msg), "shipment %s has ended: it cannot change any more",
                 c->shipment);
        return command_reply_error(verb, c->id, COMMAND_ERR_ENDED, msg);
    }
    for (size_t k = 0; k < c->sensor_count; k++) {
        if (config_sensor_index(cfg, c->sensors[k]) < 0) {
            snprintf(msg, sizeof(msg), "sensor \"%s\" is not declared in the configuration",
                     c->sensors[k]);
            return command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_SENSOR, msg);
        }
    }
    /* The engine starts again with the configuration file: it must be good now. */
    if (prepare_reload(e, msg, sizeof(msg)) < 0)
        return command_reply_error(verb, c->id, COMMAND_ERR_REFUSED, msg);

    int r = 0;
    const char *comment = c->comment[0] ? c->comment : NULL;
    if (c->verb == COMMAND_SHIPMENT_START) {
        r = store_shipment_start(e->store, c->shipment, c->kind[0] ? c->kind : "storage",
                                 c->profile, c->description, STORE_SOURCE_COMMAND, now_ms, c->user,
                                 (const char *)c->sensors, c->sensor_count);
    } else if (c->verb == COMMAND_SHIPMENT_END) {
        r = store_shipment_end(e->store, c->shipment, now_ms, c->user, comment);
    } else {
        for (size_t k = 0; k < c->sensor_count && r >= 0; k++)
            r = store_shipment_assign(e->store, c->shipment, c->sensors[k], now_ms, c->user);
    }
    if (r < 0) {
        /* Nothing changed: the engine runs on as it was. */
        config_free(e->reload_config);
        e->reload_config = NULL;
        return command_reply_error(verb, c->id, r == -EEXIST ? COMMAND_ERR_REFUSED
                                                : r == -EALREADY || r == -ESHUTDOWN
                                                    ? COMMAND_ERR_ENDED
                                                    : COMMAND_ERR_INTERNAL,
                                   strerror(-r));
    }
    cJSON *result = cJSON_CreateObject();
    if (result) {
        cJSON_AddStringToObject(result, "shipment", c->shipment);
        char ts[32];
        cJSON_AddStringToObject(result, c->verb == COMMAND_SHIPMENT_END ? "ended" : "at",
                                clock_format_rfc3339(now_ms, ts, sizeof(ts)));
    }
    char *reply = command_reply_ok(c, result);
    cJSON_Delete(result);
    return reply;
}

static char *run_command(struct engine *e, const struct command *c)
{
    const char *verb = command_verb_name(c->verb);
    switch (c->verb) {
    case COMMAND_STATUS:
        return run_status(e, c);
    case COMMAND_ACK:
    case COMMAND_SHELVE:
    case COMMAND_UNSHELVE:
        return run_alarm_command(e, c);
    case COMMAND_RELOAD: {
        char msg[RELOAD_MESSAGE_MAX];
        if (prepare_reload(e, msg, sizeof(msg)) < 0)
            return command_reply_error(verb, c->id, COMMAND_ERR_REFUSED, msg);
        return command_reply_ok(c, NULL);
    }
    case COMMAND_SHIPMENT_START:
    case COMMAND_SHIPMENT_END:
    case COMMAND_ASSIGN:
        return run_shipment_command(e, c);
    default:
        return command_reply_error(verb, c->id, COMMAND_ERR_UNKNOWN_VERB, "no such verb");
    }
}

static bool log_command(struct engine *e, const struct command *c, const char *from,
                        const char *reply)
{
    cJSON *j = reply ? cJSON_Parse(reply) : NULL;
    bool ok = j && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ok"));
    const cJSON *m = j ? cJSON_GetObjectItemCaseSensitive(j, "message") : NULL;
    if (c)
        log_msg(ok ? LOG_NOTICE : LOG_WARNING, "command[%s]: %s by %s%s%s%s%s", from,
                command_verb_name(c->verb), c->user[0] ? c->user : "(no user)",
                c->shipment[0] ? " on " : "", c->shipment, ok ? ": done" : ": refused: ",
                ok ? "" : (cJSON_IsString(m) ? m->valuestring : "out of memory"));
    else
        log_warn("command[%s]: refused: %s", from,
                 cJSON_IsString(m) ? m->valuestring : "out of memory");
    cJSON_Delete(j);
    e->commands_total++;
    return ok;
}

/* Every command carried out is an event of the audit trail, with who sent it and the command
 * as it was understood; status, which changes nothing, is not. */
static void audit_command(struct engine *e, const struct command *c, bool ok)
{
    if (!ok || c->verb == COMMAND_STATUS)
        return;
    char *json = command_to_json(c);
    int r = json ? store_event_append(e->store, clock_wall_ms(), STORE_EVENT_COMMAND,
                                      c->shipment[0] ? c->shipment : NULL, c->user, json, NULL)
                 : -ENOMEM;
    if (r < 0)
        log_err("engine: the %s command by %s could not be recorded in the audit trail: %s",
                command_verb_name(c->verb), c->user, strerror(-r));
    free(json);
}

static void handle_command(struct engine *e, struct cmd_job *job)
{
    if (!job->mqtt) {
        char *reply = run_command(e, &job->cmd);
        audit_command(e, &job->cmd, log_command(e, &job->cmd, "socket", reply));
        pthread_mutex_lock(&job->lock);
        job->reply = reply;
        job->done = true;
        pthread_cond_signal(&job->done_cv);
        pthread_mutex_unlock(&job->lock);
        job_release(job);
        return;
    }
    struct uplink_command *m = job->mqtt;
    struct command_error err;
    char *reply;
    if (command_parse(m->verb, m->payload, m->payload_len, &job->cmd, &err) < 0) {
        reply = command_reply_parse_error(&err);
        log_command(e, NULL, "mqtt", reply);
    } else {
        reply = run_command(e, &job->cmd);
        audit_command(e, &job->cmd, log_command(e, &job->cmd, "mqtt", reply));
    }
    const char *topic = m->response_topic ? m->response_topic : e->topic_reply;
    int r = reply ? uplink_publish_reply(e->uplink, topic, reply, m->correlation,
                                         m->correlation_len)
                  : -ENOMEM;
    if (r < 0)
        log_warn("command[mqtt]: the reply to %s could not be sent: %s", topic, strerror(-r));
    free(reply);
    job_release(job);
}

static void open_control(struct engine *e)
{
    struct control_options co = {.path = e->cfg->control.socket,
                                 .group = e->cfg->control.group};
    /* Not fatal: alarms and MQTT work without it; control_open() logged why. */
    if (control_open(&co, control_handle, e, &e->control) < 0) {
        e->control = NULL;
        return;
    }
    if (control_start(e->control) < 0) {
        control_close(e->control);
        e->control = NULL;
    }
}

/* ---- broker connection ---- */

static void handle_uplink(struct engine *e, const struct uplink_notice *n, int64_t now_mono_ms)
{
    const struct config_mqtt *m = &e->cfg->mqtt;
    switch (n->kind) {
    case UPLINK_CONNECTED:
        if (e->connect_failures)
            log_info("mqtt[%s]: connected after %u failed attempts", m->uri, e->connect_failures);
        e->connected = true;
        e->connecting = false;
        e->connect_failures = 0;
        e->backoff_ms = m->reconnect_min_ms;
        e->outbox_cursor = 0; /* a new session: everything unacknowledged goes again, in order */
        put_status(e, "online", NULL);
        for (size_t i = 0; i < e->cfg->shipment_count; i++) {
            e->twin_dirty[i] = true;
            e->twin_due_mono_ms[i] = 0;
        }
        notify_status(e);
        break;
    case UPLINK_CONNECT_FAILED:
        e->connecting = false;
        if (e->connect_failures++ == 0)
            log_warn("mqtt[%s]: cannot connect (rc %d); retrying with back-off up to %lld s, "
                     "alerts wait in the outbox meanwhile",
                     m->uri, n->rc, (long long)(m->reconnect_max_ms / 1000));
        e->reconnect_due_mono_ms = now_mono_ms + e->backoff_ms;
        e->backoff_ms = e->backoff_ms * 2 > m->reconnect_max_ms ? m->reconnect_max_ms
                                                                 : e->backoff_ms * 2;
        notify_status(e);
        break;
    case UPLINK_LOST:
        e->connected = false;
        e->connecting = false;
        e->outbox_cursor = 0;
        e->reconnect_due_mono_ms = now_mono_ms + m->reconnect_min_ms;
        notify_status(e);
        break;
    case UPLINK_DELIVERED:
        if (n->tag > 0) {
            store_outbox_ack(e->store, n->tag);
            e->refused_backoff_ms = 0;
            uplink_mark_delivered(e, n->tag);
        }
        break;
    case UPLINK_FAILED:
        /* Send it again, after whatever is before it. */
        if (n->tag > 0 && n->tag <= e->outbox_cursor)
            e->outbox_cursor = n->tag - 1;
        /* A PUBACK with a failure reason (0x80 and up: not authorized, quota exceeded, ...)
         * comes back at once: wait before sending it again, and say so once. */
        if (n->tag > 0 && n->rc >= 0x80) {
            if (e->refused_backoff_ms == 0)
                log_err("mqtt[%s]: the broker refuses to take a message from the outbox (MQTT "
                        "reason 0x%02X): check the broker's ACL for this gateway's topics; "
                        "retrying with back-off, nothing is dropped",
                        m->uri, (unsigned)n->rc);
            e->refused_backoff_ms = e->refused_backoff_ms == 0 ? REFUSED_RETRY_MIN_MS
                                    : e->refused_backoff_ms * 2 > m->reconnect_max_ms
                                        ? m->reconnect_max_ms
                                        : e->refused_backoff_ms * 2;
            e->outbox_paused_until_mono_ms = now_mono_ms + e->refused_backoff_ms;
        }
        break;
    }
}

static void drain_queue(struct engine *e)
{
    struct queue_msg msgs[POP_BATCH];
    size_t n;
    while ((n = queue_pop(e->queue, msgs, POP_BATCH)) > 0) {
        int64_t now_mono_ms = clock_mono_ms();
        for (size_t i = 0; i < n; i++) {
            if (msgs[i].kind == QUEUE_READING)
                handle_reading(e, &msgs[i].u.reading, now_mono_ms);
            else if (msgs[i].kind == QUEUE_COMMAND)
                handle_command(e, msgs[i].u.job);
            else
                handle_uplink(e, &msgs[i].u.uplink, now_mono_ms);
        }
        if (n < POP_BATCH)
            break;
    }
}

/* ---- local alarm outputs ---- */

/* The pattern each output shows: the most urgent thing going on that it is meant to show
 * (an output's "states" may leave some out: a siren on critical alarms only). */
static void drive_outputs(struct engine *e, int64_t now_mono_ms)
{
    if (e->cfg->output_count == 0)
        return;
    unsigned flags = rules_alert_flags(e->rules, clock_wall_ms());
    for (size_t i = 0; i < e->cfg->output_count; i++) {
        if (!e->outputs[i])
            continue;
        unsigned shows = e->cfg->outputs[i].states;
        enum gpio_out_state want = GPIO_OUT_OFF;
        if ((flags & RULES_ALERT_CRITICAL_UNACKED) && (shows & (1u << GPIO_OUT_CRITICAL_UNACKED)))
            want = GPIO_OUT_CRITICAL_UNACKED;
        else if ((flags & RULES_ALERT_SENSOR || e->storage_failed) &&
                 (shows & (1u << GPIO_OUT_SENSOR_FAULT)))
            want = GPIO_OUT_SENSOR_FAULT;
        else if ((flags & (RULES_ALERT_ACTIVE | RULES_ALERT_CRITICAL_UNACKED)) &&
                 (shows & (1u << GPIO_OUT_WARNING)))
            want = GPIO_OUT_WARNING;
        if (want != gpio_out_get_state(e->outputs[i]))
            log_info("output[%s]: %s", e->cfg->outputs[i].name,
                     want == GPIO_OUT_OFF                ? "off"
                     : want == GPIO_OUT_CRITICAL_UNACKED ? "on: a critical alarm is unacknowledged"
                     : want == GPIO_OUT_SENSOR_FAULT     ? "fault pattern: a probe is faulty or silent, or the history cannot be written"
                                                         : "blinking: an alarm is active");
        gpio_out_set_state(e->outputs[i], want, now_mono_ms);
        gpio_out_tick(e->outputs[i], now_mono_ms);
    }
}

static void open_outputs(struct engine *e)
{
    for (size_t i = 0; i < e->cfg->output_count; i++) {
        const struct config_output *o = &e->cfg->outputs[i];
        int r = gpio_out_new(&gpio_ops_libgpiod, &o->gpio, &e->outputs[i]);
        if (r < 0)
            /* Not fatal: the alerts still go out over MQTT; the technician reads why here. */
            log_err("output[%s]: cannot drive %s line %u: %s; it stays silent", o->name,
                    o->gpio.chip, o->gpio.line, strerror(-r));
    }
}

/* ---- timers ---- */

/* Retention (docs/history.md): readings of shipments that ended more than store.retention ago
 * and have reached the broker are purged, a few batches at a time so the engine never stalls:
 * again a second later while there is more, else in an hour. */
#define PURGE_SEALS_PER_TURN 16
#define PURGE_INTERVAL_MS (3600 * 1000)

static void run_retention(struct engine *e, int64_t now_mono_ms)
{
    struct store_purge_result res = {0};
    int r = store_purge(e->store, clock_wall_ms(), e->cfg->store.retention_ms,
                        PURGE_SEALS_PER_TURN, &res);
    if (r == -EBADMSG)
        log_msg(LOG_CRIT, "store: retention stopped: the history does not match its audit trail; run "
                 "coldchainctl verify");
    else if (r < 0)
        log_err("store: retention failed: %s", strerror(-r));
    else if (res.readings > 0)
        log_notice("store: retention purged %lld readings of ended shipments (audit event %lld)",
                   (long long)res.readings, (long long)res.event_id);
    e->purge_due_mono_ms = now_mono_ms + (r == 0 && res.more ? 1000 : PURGE_INTERVAL_MS);
}

/* The wall clock stepped (NTP's first sync after a boot without an RTC, someone setting the
 * time): seen as the wall clock moving more or less than the monotonic one. Recorded in the
 * audit trail and logged; the rules judge readings by their own stamps and already treat a
 * step back as out of order and a step forward beyond the hold as a gap (docs/rules.md). */
#define CLOCK_JUMP_MS 2000

static void note_clock_jump(struct engine *e, int64_t now_mono_ms)
{
    int64_t now_wall_ms = clock_wall_ms();
    if (e->clock_mono_ms != 0) {
        int64_t expected = e->clock_wall_ms + (now_mono_ms - e->clock_mono_ms);
        int64_t jump = now_wall_ms - expected;
        if (jump > CLOCK_JUMP_MS || jump < -CLOCK_JUMP_MS) {
            log_warn("engine: the wall clock jumped by %+lld s (from %lld to %lld ms since "
                     "1970); recorded in the audit trail",
                     (long long)((jump + (jump < 0 ? -500 : 500)) / 1000), (long long)expected,
                     (long long)now_wall_ms);
            store_event_clock(e->store, now_wall_ms, expected, now_wall_ms);
        }
    }
    e->clock_wall_ms = now_wall_ms;
    e->clock_mono_ms = now_mono_ms;
}

/* systemctl status shows this line: what a technician checks first. Sent when the broker
 * connection changes and with every watchdog ping. */
static void notify_status(struct engine *e)
{
    int64_t outbox = -1;
    store_outbox_count(e->store, &outbox);
    unsigned active = 0;
    for (size_t si = 0; si < e->cfg->shipment_count; si++) {
        const struct config_profile *p = &e->cfg->profiles[e->cfg->shipments[si].profile];
        for (size_t a = 0; a < p->alarm_count; a++) {
            for (size_t k = 0; k < e->cfg->shipments[si].sensor_count; k++) {
                const struct alarm_instance *inst = rules_instance(e->rules, si, a, k);
                active += inst && inst->state == ALARM_ACTIVE;
            }
        }
    }
    size_t buses_up = 0;
    for (size_t i = 0; i < e->host_count; i++)
        buses_up += !sensor_host_done(e->hosts[i]);
    if (e->storage_failed)
        sd_notifyf(0, "STATUS=FAULT: the history cannot be written (disk full?); %zu readings "
                   "and %zu alerts held in memory; %u alarms active, broker %s",
                   e->ring_count, e->held_count, active,
                   e->connected ? "connected" : "unreachable");
    else
        sd_notifyf(0, "STATUS=Running; %zu of %zu buses up, %u alarms active, outbox %lld, "
                   "broker %s", buses_up, e->cfg->bus_count, active, (long long)outbox,
                   e->connected ? "connected" : "unreachable (alerts wait in the outbox)");
}

static int64_t min_due(int64_t a, int64_t b)
{
    return (a == 0 || (b != 0 && b < a)) ? b : a;
}

static void run_timers(struct engine *e, int64_t now_mono_ms)
{
    /* Outbox puts and acks join the batch too; whatever is pending commits within the
     * batch interval. */
    if (e->batch_due_mono_ms == 0 && store_pending(e->store) > 0)
        e->batch_due_mono_ms = now_mono_ms + e->cfg->store.batch_interval_ms;
    if (e->batch_due_mono_ms && now_mono_ms >= e->batch_due_mono_ms)
        flush_batch(e);
    if (e->storage_failed && now_mono_ms >= e->storage_retry_due_mono_ms)
        retry_storage(e, now_mono_ms);
    note_clock_jump(e, now_mono_ms);
    if (now_mono_ms >= e->tick_due_mono_ms) {
        /* Stale sensors, delays and budgets that run out on a held value, reminders. */
        emit_events(e, rules_tick(e->rules, clock_wall_ms() - TICK_LAG_MS, e->events,
                                  e->events_cap));
        e->tick_due_mono_ms = now_mono_ms + TICK_INTERVAL_MS;
    }
    if (now_mono_ms >= e->telemetry_due_mono_ms) {
        send_telemetry(e);
        e->telemetry_due_mono_ms = now_mono_ms + e->cfg->mqtt.telemetry_interval_ms;
    }
    put_due_twins(e, now_mono_ms, false);
    drive_outputs(e, now_mono_ms);
    if (e->cfg->store.retention_ms > 0 && now_mono_ms >= e->purge_due_mono_ms)
        run_retention(e, now_mono_ms);
    if (!e->connected && !e->connecting && now_mono_ms >= e->reconnect_due_mono_ms) {
        if (uplink_connect(e->uplink) == 0) {
            e->connecting = true;
        } else {
            e->reconnect_due_mono_ms = now_mono_ms + e->backoff_ms;
        }
    }
    if (e->watchdog_usec && now_mono_ms >= e->watchdog_due_mono_ms) {
        sd_notify(0, "WATCHDOG=1");
        notify_status(e);
        e->watchdog_due_mono_ms = now_mono_ms + (int64_t)(e->watchdog_usec / 2000);
    }
    pump_outbox(e);
}

static int next_timeout_ms(struct engine *e, int64_t now_mono_ms)
{
    int64_t due = now_mono_ms + 1000;
    due = min_due(due, e->batch_due_mono_ms);
    due = min_due(due, e->telemetry_due_mono_ms);
    due = min_due(due, e->tick_due_mono_ms);
    if (!e->connected && !e->connecting)
        due = min_due(due, e->reconnect_due_mono_ms);
    for (size_t i = 0; i < e->cfg->shipment_count; i++) {
        if (e->twin_dirty[i])
            due = min_due(due, e->twin_due_mono_ms[i]);
    }
    if (e->watchdog_usec)
        due = min_due(due, e->watchdog_due_mono_ms);
    due = min_due(due, e->outbox_paused_until_mono_ms);
    for (size_t i = 0; i < e->cfg->output_count; i++) {
        if (e->outputs[i])
            due = min_due(due, gpio_out_next_change_ms(e->outputs[i]));
    }
    return due <= now_mono_ms ? 0 : (int)(due - now_mono_ms);
}

/* ---- lifecycle ---- */

/* ---- restart: the history replayed through the rules (docs/rules.md "Restarts") ---- */

struct replay {
    struct engine *e;
    int64_t now_ms; /* the newest timestamp replayed so far */
};

/* Judges a stored reading as it was judged live: time first moves on for every sensor, as the
 * engine's ticks moved it, so a probe that fell silent is stale in the replay too. The events
 * are dropped: they were announced when they happened. */
static int replay_reading(void *arg, const struct reading *r)
{
    struct replay *rp = arg;
    struct engine *e = rp->e;
    if (r->ts_ms > rp->now_ms) {
        rp->now_ms = r->ts_ms;
        int n = rules_tick(e->rules, r->ts_ms, e->events, e->events_cap);
        if (n < 0)
            return n;
    }
    int n = rules_feed(e->rules, r, e->events, e->events_cap);
    return n < 0 ? n : 0;
}

struct announced {
    struct engine *e;
    uint8_t *state;  /* per instance: enum alarm_isa_state last announced */
    uint8_t *level;
    size_t *first;   /* per shipment: index of its first instance */
};

static int note_announced(void *arg, const struct store_alert *last)
{
    struct announced *an = arg;
    const struct config *cfg = an->e->cfg;
    for (size_t si = 0; si < cfg->shipment_count; si++) {
        const struct config_shipment *s = &cfg->shipments[si];
        if (strcmp(s->id, last->shipment_id) != 0)
            continue;
        const struct config_profile *p = &cfg->profiles[s->profile];
        int a = profile_alarm_index(p, last->alarm_id);
        for (size_t k = 0; a >= 0 && k < s->sensor_count; k++) {
            if (strcmp(s->sensor_ids[k], last->sensor_id) != 0)
                continue;
            size_t i = an->first[si] + (size_t)a * s->sensor_count + k;
            uint8_t st = ALARM_ISA_NORMAL;
            for (unsigned x = ALARM_ISA_NORMAL; x <= ALARM_ISA_RTN_UNACKED; x++) {
                if (strcmp(alarm_isa_state_name(x), last->state) == 0)
                    st = (uint8_t)x;
            }
            an->state[i] = st;
            an->level[i] = last->level;
        }
    }
    return 0;
}

/* Rebuilds every instance, budget and summary from the shipments' readings, then makes what
 * people were told agree with it: an alarm announced as active stays active without a second
 * "raised", one that ended while the gateway was down is cleared now, and one that began while
 * it was down is raised now. */
static int restore_state(struct engine *e)
{
    const struct config *cfg = e->cfg;
    int64_t from_ms = INT64_MAX;
    size_t total = 0;
    for (size_t i = 0; i < cfg->shipment_count; i++) {
        if (e->shipment_started_ms[i] < from_ms)
            from_ms = e->shipment_started_ms[i];
        total += cfg->profiles[cfg->shipments[i].profile].alarm_count *
                 cfg->shipments[i].sensor_count;
    }
    struct replay rp = {.e = e, .now_ms = INT64_MIN};
    int r = store_readings_each(e->store, from_ms, replay_reading, &rp);
    if (r < 0)
        return r;
    /* ... and on to now: what happened while the gateway was off (a probe gone stale, a delay
     * run out, a calibration date reached) is then in the rules' state, and reconciling below
     * announces what people were not told. */
    int64_t now_ms = clock_wall_ms();
    r = rules_tick(e->rules, now_ms - TICK_LAG_MS, e->events, e->events_cap);
    if (r < 0)
        return r;

    struct announced an = {.e = e};
    an.state = calloc(total + 1, sizeof(*an.state));
    an.level = calloc(total + 1, sizeof(*an.level));
    an.first = calloc(cfg->shipment_count, sizeof(*an.first));
    if (!an.state || !an.level || !an.first) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0, at = 0; i < cfg->shipment_count; i++) {
        an.first[i] = at;
        at += cfg->profiles[cfg->shipments[i].profile].alarm_count *
              cfg->shipments[i].sensor_count;
    }
    r = store_last_alarms(e->store, note_announced, &an);
    if (r < 0)
        goto out;
    for (size_t si = 0; si < cfg->shipment_count; si++) {
        const struct config_shipment *s = &cfg->shipments[si];
        size_t alarms = cfg->profiles[s->profile].alarm_count;
        for (size_t a = 0; a < alarms; a++) {
            for (size_t k = 0; k < s->sensor_count; k++) {
                size_t i = an.first[si] + a * s->sensor_count + k;
                struct rules_event re = {.shipment = (uint32_t)si, .alarm = (uint32_t)a,
                                         .sensor = (uint32_t)k};
                int rr = rules_reconcile(e->rules, si, a, k, an.state[i], an.level[i], now_ms,
                                         &re.ev);
                if (rr == 1)
                    emit_alert_by(e, &re, NULL, NULL, NULL, NULL, 0);
                else if (rr == 0 && an.state[i] != ALARM_ISA_NORMAL)
                    log_notice("alarm[%s/%s/%s]: still %s since the last run", s->id,
                               cfg->profiles[s->profile].alarms[a].id, s->sensor_ids[k],
                               alarm_isa_state_name(an.state[i]));
            }
        }
    }
out:
    free(an.state);
    free(an.level);
    free(an.first);
    return r;
}

static int build_rules(struct engine *e)
{
    int r = config_rules_new(e->cfg, e->shipment_started_ms, &e->rules);
    if (r < 0)
        return r;
    e->events_cap = rules_max_events(e->rules);
    e->events = calloc(e->events_cap, sizeof(*e->events));
    return e->events ? 0 : -ENOMEM;
}

/* Shipments started by command, and sensors assigned by command, join the configuration's:
 * the store keeps them. One that can no longer be watched (its profile or a sensor left the
 * configuration) is said in the log and left out. */
static int merge_shipment(void *arg, const struct store_shipment *ss)
{
    struct config *cfg = arg;
    if (ss->ended)
        return 0;
    struct cfg_error err = {0};
    int si = config_find_shipment(cfg, ss->id);
    if (si < 0) {
        if (strcmp(ss->source, STORE_SOURCE_COMMAND) != 0)
            return 0; /* a config shipment no longer in the configuration: not watched */
        int r = config_add_shipment(cfg, ss->id, ss->kind, ss->profile, ss->description, NULL, 0,
                                    &err);
        if (r == -ENOMEM)
            return r;
        if (r < 0) {
            log_err("engine: shipment %s (started by command) cannot be watched: %s: %s", ss->id,
                    err.path, err.msg);
            return 0;
        }
        si = (int)cfg->shipment_count - 1;
    }
    for (size_t k = 0; k < ss->assignment_count; k++) {
        const struct store_assignment *a = &ss->assignments[k];
        if (a->to_ms != INT64_MAX)
            continue;
        int r = config_assign_sensor(cfg, (size_t)si, a->sensor_id, &err);
        if (r == -ENOMEM)
            return r;
        if (r < 0)
            log_err("engine: sensor %s of shipment %s is not in the configuration: %s",
                    a->sensor_id, ss->id, err.msg);
    }
    return 0;
}

/* Records the configuration's shipments, drops those that have ended (an ended shipment is
 * immutable: it is not watched again), adds those started by command, and says which
 * configuration this engine runs with in the audit trail. */
static int settle_shipments(struct engine *e, struct config *cfg, bool reloaded)
{
    for (size_t i = cfg->shipment_count; i-- > 0;) {
        const struct config_shipment *s = &cfg->shipments[i];
        int r = store_shipment_ensure_config(e->store, s->id, s->kind,
                                             cfg->profiles[s->profile].name, s->description,
                                             (const char *)s->sensor_ids, s->sensor_count,
                                             e->started_ms, NULL);
        if (r < 0)
            return r;
        if (r == STORE_SHIPMENT_ENDED) {
            log_notice("engine: shipment %s has ended; it is no longer watched (remove it from "
                       "the configuration; a new shipment needs a new id)", s->id);
            config_remove_shipment(cfg, i);
        }
    }
    int r = store_shipments_each(e->store, merge_shipment, cfg);
    if (r < 0)
        return r;
    char sha[AUDIT_HEX_SIZE] = "";
    if (audit_file_sha256(cfg->path, sha) < 0)
        snprintf(sha, sizeof(sha), "unreadable");
    return store_event_config(e->store, e->started_ms, NULL, cfg->path, sha,
                              reloaded ? "reload" : "start");
}

int engine_new(struct config *cfg, int sigfd, bool reloaded, struct engine **engine_out)
{
    int r = -ENOMEM;
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->cfg = cfg;
    e->sigfd = sigfd;
    e->started_ms = clock_wall_ms();
    e->backoff_ms = cfg->mqtt.reconnect_min_ms;

    r = store_open(cfg->data_dir, &e->store);
    if (r < 0)
        goto out;
    r = settle_shipments(e, cfg, reloaded);
    if (r < 0)
        goto out;
    /* QoS 0 telemetry lost before this start (a crash, a stop while offline) was never
     * uplinked: the mark must not move over it. */
    int64_t uplinked = 0;
    if (cfg->mqtt.telemetry_qos == 0 && store_uplinked_id(e->store, &uplinked) == 0 &&
        uplinked < store_reading_id_last(e->store))
        e->telemetry_gap = true;
    r = -ENOMEM;

    size_t ns = cfg->shipment_count;
    e->topic_twin = calloc(ns + 1, sizeof(*e->topic_twin));
    e->shipment_started_ms = calloc(ns + 1, sizeof(*e->shipment_started_ms));
    e->twin_dirty = calloc(ns + 1, sizeof(*e->twin_dirty));
    e->twin_due_mono_ms = calloc(ns + 1, sizeof(*e->twin_due_mono_ms));
    e->telemetry = calloc(TELEMETRY_MAX, sizeof(*e->telemetry));
    e->batch = calloc((size_t)cfg->store.batch_max + 1, sizeof(*e->batch));
    e->ring = calloc(RING_MAX, sizeof(*e->ring));
    e->held = calloc(HELD_ALERTS_MAX, sizeof(*e->held));
    e->hosts = calloc(cfg->bus_count ? cfg->bus_count : 1, sizeof(*e->hosts));
    e->outputs = calloc(cfg->output_count ? cfg->output_count : 1, sizeof(*e->outputs));
    if (!e->topic_twin || !e->shipment_started_ms || !e->twin_dirty || !e->twin_due_mono_ms ||
        !e->telemetry || !e->hosts || !e->outputs || !e->batch || !e->ring || !e->held)
        goto out;

    snprintf(e->topic_status, TOPIC_MAX, "%s/%s/status", cfg->mqtt.prefix, cfg->gateway_id);
    snprintf(e->topic_alerts, TOPIC_MAX, "%s/%s/alerts", cfg->mqtt.prefix, cfg->gateway_id);
    snprintf(e->topic_telemetry, TOPIC_MAX, "%s/%s/telemetry", cfg->mqtt.prefix,
             cfg->gateway_id);
    snprintf(e->topic_commands, TOPIC_MAX, "%s/%s/cmd/+", cfg->mqtt.prefix, cfg->gateway_id);
    snprintf(e->topic_reply, TOPIC_MAX, "%s/%s/reply", cfg->mqtt.prefix, cfg->gateway_id);
    for (size_t i = 0; i < ns; i++)
        snprintf(e->topic_twin[i], TOPIC_MAX, "%s/%s/shipments/%s/twin", cfg->mqtt.prefix,
                 cfg->gateway_id, cfg->shipments[i].id);

    for (size_t i = 0; i < ns; i++) {
        struct store_shipment ss;
        r = store_shipment_get(e->store, cfg->shipments[i].id, &ss);
        if (r < 0)
            goto out;
        e->shipment_started_ms[i] = ss.started_ms;
        e->twin_dirty[i] = true;
    }
    r = build_rules(e);
    if (r < 0)
        goto out;
    r = restore_state(e);
    if (r < 0)
        goto out;
    r = store_flush(e->store);
    if (r < 0)
        goto out;

    r = queue_new(QUEUE_CAPACITY, &e->queue);
    if (r < 0)
        goto out;
    char *will = messages_status(cfg->gateway_id, "offline", "connection lost", e->started_ms,
                                 e->started_ms);
    if (!will) {
        r = -ENOMEM;
        goto out;
    }
    const struct config_mqtt *m = &cfg->mqtt;
    struct uplink_options uo = {
        .uri = m->uri, .client_id = m->client_id, .keepalive_s = (int)(m->keepalive_ms / 1000),
        .will_topic = e->topic_status, .will_payload = will, .tls = m->tls.enabled,
        .ca_file = m->tls.ca_file, .cert_file = m->tls.cert_file[0] ? m->tls.cert_file : NULL,
        .key_file = m->tls.key_file[0] ? m->tls.key_file : NULL,
        .verify_hostname = m->tls.verify_hostname,
        .username = m->username[0] ? m->username : NULL,
        .password = m->password_len ? m->password : NULL, .password_len = m->password_len,
        .command_filter = e->topic_commands, .on_command = post_command};
    r = uplink_new(&uo, post_notice, e, &e->uplink);
    free(will);
    if (r < 0)
        goto out;
    *engine_out = e;
    e = NULL;
    r = 0;
out:
    engine_free(e);
    return r;
}

static bool buses_done(struct engine *e)
{
    for (size_t i = 0; i < e->host_count; i++) {
        if (!sensor_host_done(e->hosts[i]))
            return false;
    }
    return true;
}

/* Waits for the queue (or a signal, which is left unread) for at most timeout_ms. */
static void wait_for_work(struct engine *e, int timeout_ms)
{
    struct pollfd fds[2] = {{.fd = queue_fd(e->queue), .events = POLLIN},
                            {.fd = e->sigfd, .events = POLLIN}};
    poll(fds, 2, timeout_ms);
}

static void shutdown_engine(struct engine *e)
{
    if (e->reload_config)
        sd_notify(0, "RELOADING=1\nSTATUS=Reloading the configuration");
    else
        sd_notify(0, "STOPPING=1\nSTATUS=Stopping: finishing the last readings");
    /* No more commands: a control client waiting for a reply gets "busy" (the handler sees the
     * flag within 100 ms), so control_stop() does not wait on this thread. */
    atomic_store(&e->commands_closed, true);
    control_stop(e->control);
    log_notice("engine: stopping: %llu readings and %llu alerts this run",
               (unsigned long long)e->readings_total, (unsigned long long)e->alerts_total);
    for (size_t i = 0; i < e->host_count; i++)
        sensor_host_stop(e->hosts[i]);
    /* Keep draining while the buses finish: a bus blocked on a full queue needs the room. */
    while (!buses_done(e)) {
        drain_queue(e);
        wait_for_work(e, 100);
    }
    for (size_t i = 0; i < e->host_count; i++) {
        sensor_host_free(e->hosts[i]);
        e->hosts[i] = NULL;
    }
    e->host_count = 0;
    drain_queue(e);

    send_telemetry(e);
    if (e->storage_failed) {
        retry_storage(e, clock_mono_ms());
        if (e->storage_failed)
            log_msg(LOG_CRIT, "store: stopping with the history still unwritable: %zu readings "
                    "and %zu alerts held in memory are lost", e->ring_count, e->held_count);
    }
    put_due_twins(e, clock_mono_ms(), true);
    put_status(e, "offline", e->reload_config ? "reload" : "shutdown");
    store_flush(e->store);
    e->batch_due_mono_ms = 0;

    int64_t deadline_mono_ms = clock_mono_ms() + SHUTDOWN_DRAIN_MS;
    int64_t waiting = 1;
    while (e->connected && clock_mono_ms() < deadline_mono_ms &&
           store_outbox_count(e->store, &waiting) == 0 && waiting > 0) {
        pump_outbox(e);
        wait_for_work(e, 50);
        drain_queue(e);
    }
    store_flush(e->store);
    if (waiting > 0)
        log_notice("engine: %lld messages stay in the outbox for the next start",
                   (long long)waiting);
    uplink_disconnect(e->uplink, 1000);
}

int engine_run(struct engine *e, struct config **reload_out)
{
    *reload_out = NULL;
    const struct config *cfg = e->cfg;
    int r = 0;
    for (size_t i = 0; i < cfg->bus_count; i++) {
        r = sensor_host_start(&cfg->buses[i], e->queue, &e->hosts[i]);
        if (r < 0) {
            log_err("bus[%s]: cannot start its thread: %s", cfg->buses[i].name, strerror(-r));
            goto out;
        }
        e->host_count++;
    }
    open_outputs(e);
    open_control(e);
    if (sd_watchdog_enabled(0, &e->watchdog_usec) <= 0)
        e->watchdog_usec = 0;
    sd_notifyf(0, "READY=1\nSTATUS=Running; %zu buses, %zu shipments", cfg->bus_count,
               cfg->shipment_count);
    log_notice("engine: running as %s: %zu sensors on %zu buses, %zu shipments, broker %s",
               cfg->gateway_id, cfg->sensor_count, cfg->bus_count, cfg->shipment_count,
               cfg->mqtt.uri);

    for (;;) {
        int64_t now_mono_ms = clock_mono_ms();
        run_timers(e, now_mono_ms);
        struct pollfd fds[2] = {{.fd = queue_fd(e->queue), .events = POLLIN},
                                {.fd = e->sigfd, .events = POLLIN}};
        int n = poll(fds, 2, next_timeout_ms(e, clock_mono_ms()));
        if (n < 0 && errno != EINTR) {
            r = -errno;
            log_err("engine: poll failed: %s", strerror(errno));
            break;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(e->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                if (si.ssi_signo == SIGHUP) {
                    char msg[RELOAD_MESSAGE_MAX];
                    prepare_reload(e, msg, sizeof(msg));
                } else {
                    log_notice("engine: %s received", strsignal((int)si.ssi_signo));
                    break;
                }
            }
        }
        drain_queue(e);
        if (e->reload_config)
            break;
    }
out:
    shutdown_engine(e);
    *reload_out = e->reload_config;
    e->reload_config = NULL;
    return r;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->host_count; i++)
        sensor_host_free(e->hosts[i]);
    /* Outputs are driven off and released: a relay is not left on by a stopped gateway. */
    for (size_t i = 0; e->outputs && i < e->cfg->output_count; i++)
        gpio_out_free(e->outputs[i]);
    free(e->outputs);
    config_free(e->reload_config);
    control_close(e->control);
    uplink_free(e->uplink);
    /* Commands that came in after the last turn are dropped with their jobs. */
    struct queue_msg msg;
    while (e->queue && queue_pop(e->queue, &msg, 1) == 1) {
        if (msg.kind == QUEUE_COMMAND)
            job_release(msg.u.job);
    }
    queue_free(e->queue);
    rules_free(e->rules);
    store_close(e->store);
    free(e->events);
    free(e->telemetry);
    free(e->batch);
    free(e->ring);
    for (size_t i = 0; e->held && i < e->held_count; i++)
        free(e->held[i].payload);
    free(e->held);
    free(e->hosts);
    free(e->topic_twin);
    free(e->shipment_started_ms);
    free(e->twin_dirty);
    free(e->twin_due_mono_ms);
    free(e);
}
