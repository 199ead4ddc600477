/* The engine loop. Order of work on a reading (DESIGN §3): validate and calibrate, append to
 * the open batch, feed the rules; an alarm transition commits (with the batch before it) and
 * enters the outbox before anything is published, so a crash between the two only delays the
 * alert, never loses it. Telemetry and twins are coalesced on CLOCK_MONOTONIC timers. */
#include "engine.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "clock.h"
#include "gpio_out.h"
#include "log.h"
#include "messages.h"
#include "queue.h"
#include "rules.h"
#include "sensor_host.h"
#include "store.h"
#include "uplink.h"

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

    int64_t started_ms;
    uint64_t watchdog_usec;
    int64_t watchdog_due_mono_ms;
    uint64_t readings_total;
    uint64_t alerts_total;
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

static void pump_outbox(struct engine *e)
{
    while (e->connected && uplink_in_flight(e->uplink) < MAX_IN_FLIGHT) {
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
    for (size_t i = 0; i < e->cfg->shipment_count; i++) {
        if (!e->twin_dirty[i] || (!force && now_mono_ms < e->twin_due_mono_ms[i]))
            continue;
        put_outbox(e, e->topic_twin[i],
                   messages_twin(e->cfg, i, e->rules, e->shipment_started_ms[i], clock_wall_ms()),
                   true, true);
        e->twin_dirty[i] = false;
        e->twin_due_mono_ms[i] = now_mono_ms + e->cfg->mqtt.twin_interval_ms;
    }
}

static void send_telemetry(struct engine *e)
{
    if (e->telemetry_count == 0)
        return;
    char *payload = messages_telemetry(e->cfg->gateway_id, e->telemetry, e->telemetry_count);
    if (!payload) {
        log_err("engine: out of memory building telemetry");
    } else if (e->cfg->mqtt.telemetry_qos > 0) {
        put_outbox(e, e->topic_telemetry, payload, false, false);
        payload = NULL;
    } else if (e->connected) {
        /* QoS 0 telemetry is best effort by configuration: every reading is in the history;
         * tag -1 marks it as not from the outbox. */
        uplink_publish(e->uplink, e->topic_telemetry, payload, strlen(payload), 0, false, -1);
    }
    free(payload);
    e->telemetry_count = 0;
}

/* ---- readings ---- */

static void emit_alert(struct engine *e, const struct rules_event *re)
{
    const struct config *cfg = e->cfg;
    const struct config_shipment *s = &cfg->shipments[re->shipment];
    const struct alarm_def *def = &cfg->profiles[s->profile].alarms[re->alarm];
    const char *sensor_id = s->sensor_ids[re->sensor];
    const struct alarm_event *ev = &re->ev;
    struct store_alert sa = {
        .seq = store_alert_seq_next(e->store),
        .ts_ms = ev->ts_ms,
        .level = ev->level,
        .value = ev->value,
        .worst = ev->worst,
        .since_ms = ev->since_ms,
        .amount_ms = ev->amount_ms,
    };
    if (messages_uuid(sa.id, sizeof(sa.id)) < 0)
        snprintf(sa.id, sizeof(sa.id), "%.24s-%llu", cfg->gateway_id, (unsigned long long)sa.seq);
    snprintf(sa.shipment_id, sizeof(sa.shipment_id), "%s", s->id);
    snprintf(sa.alarm_id, sizeof(sa.alarm_id), "%s", def->id);
    snprintf(sa.sensor_id, sizeof(sa.sensor_id), "%s", sensor_id);
    snprintf(sa.transition, sizeof(sa.transition), "%s", alarm_transition_name(ev->transition));
    snprintf(sa.state, sizeof(sa.state), "%s", alarm_isa_state_name(ev->isa_state));

    struct messages_alert ma = {.gateway_id = cfg->gateway_id, .id = sa.id, .seq = sa.seq,
                                .shipment_id = s->id, .sensor_id = sensor_id, .def = def,
                                .ev = ev};
    char *payload = messages_alert(&ma);
    int r = payload ? store_append_alert(e->store, &sa, e->topic_alerts, payload, NULL) : -ENOMEM;
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
    log_msg(prio, "alarm[%s/%s/%s]: %s%s%s%s%s seq %llu%s%s", s->id, def->id, sensor_id,
            sa.transition, raised ? ": " : "", raised ? def->message : "", value,
            ev->notify ? "" : " (not notified: shelved or suppressed)",
            (unsigned long long)sa.seq, r < 0 ? " NOT RECORDED: " : "", r < 0 ? strerror(-r) : "");
    if (r == 0)
        e->alerts_total++;
}

static void emit_events(struct engine *e, int n)
{
    for (int i = 0; i < n; i++)
        emit_alert(e, &e->events[i]);
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

    if (store_append_reading(e->store, &rd) == 0 && e->batch_due_mono_ms == 0)
        e->batch_due_mono_ms = now_mono_ms + cfg->store.batch_interval_ms;

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
    if (store_pending(e->store) >= (size_t)cfg->store.batch_max) {
        store_flush(e->store);
        e->batch_due_mono_ms = 0;
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
        sd_notify(0, "STATUS=Running; connected to the broker");
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
        sd_notify(0, "STATUS=Running; broker unreachable, alerts queued");
        break;
    case UPLINK_LOST:
        e->connected = false;
        e->connecting = false;
        e->outbox_cursor = 0;
        e->reconnect_due_mono_ms = now_mono_ms + m->reconnect_min_ms;
        sd_notify(0, "STATUS=Running; connection to the broker lost");
        break;
    case UPLINK_DELIVERED:
        if (n->tag > 0)
            store_outbox_ack(e->store, n->tag);
        break;
    case UPLINK_FAILED:
        /* Send it again, after whatever is before it. */
        if (n->tag > 0 && n->tag <= e->outbox_cursor)
            e->outbox_cursor = n->tag - 1;
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
        else if ((flags & RULES_ALERT_SENSOR) && (shows & (1u << GPIO_OUT_SENSOR_FAULT)))
            want = GPIO_OUT_SENSOR_FAULT;
        else if ((flags & (RULES_ALERT_ACTIVE | RULES_ALERT_CRITICAL_UNACKED)) &&
                 (shows & (1u << GPIO_OUT_WARNING)))
            want = GPIO_OUT_WARNING;
        if (want != gpio_out_get_state(e->outputs[i]))
            log_info("output[%s]: %s", e->cfg->outputs[i].name,
                     want == GPIO_OUT_OFF                ? "off"
                     : want == GPIO_OUT_CRITICAL_UNACKED ? "on: a critical alarm is unacknowledged"
                     : want == GPIO_OUT_SENSOR_FAULT     ? "fault pattern: a probe is faulty or silent"
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
    if (e->batch_due_mono_ms && now_mono_ms >= e->batch_due_mono_ms) {
        store_flush(e->store);
        e->batch_due_mono_ms = 0;
    }
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
    if (!e->connected && !e->connecting && now_mono_ms >= e->reconnect_due_mono_ms) {
        if (uplink_connect(e->uplink) == 0) {
            e->connecting = true;
        } else {
            e->reconnect_due_mono_ms = now_mono_ms + e->backoff_ms;
        }
    }
    if (e->watchdog_usec && now_mono_ms >= e->watchdog_due_mono_ms) {
        sd_notify(0, "WATCHDOG=1");
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
                    emit_alert(e, &re);
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

int engine_new(const struct config *cfg, int sigfd, struct engine **engine_out)
{
    int r = -ENOMEM;
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->cfg = cfg;
    e->sigfd = sigfd;
    e->started_ms = clock_wall_ms();
    e->backoff_ms = cfg->mqtt.reconnect_min_ms;

    size_t ns = cfg->shipment_count;
    e->topic_twin = calloc(ns, sizeof(*e->topic_twin));
    e->shipment_started_ms = calloc(ns, sizeof(*e->shipment_started_ms));
    e->twin_dirty = calloc(ns, sizeof(*e->twin_dirty));
    e->twin_due_mono_ms = calloc(ns, sizeof(*e->twin_due_mono_ms));
    e->telemetry = calloc(TELEMETRY_MAX, sizeof(*e->telemetry));
    e->hosts = calloc(cfg->bus_count ? cfg->bus_count : 1, sizeof(*e->hosts));
    e->outputs = calloc(cfg->output_count ? cfg->output_count : 1, sizeof(*e->outputs));
    if (!e->topic_twin || !e->shipment_started_ms || !e->twin_dirty || !e->twin_due_mono_ms ||
        !e->telemetry || !e->hosts || !e->outputs)
        goto out;

    snprintf(e->topic_status, TOPIC_MAX, "%s/%s/status", cfg->mqtt.prefix, cfg->gateway_id);
    snprintf(e->topic_alerts, TOPIC_MAX, "%s/%s/alerts", cfg->mqtt.prefix, cfg->gateway_id);
    snprintf(e->topic_telemetry, TOPIC_MAX, "%s/%s/telemetry", cfg->mqtt.prefix,
             cfg->gateway_id);
    for (size_t i = 0; i < ns; i++)
        snprintf(e->topic_twin[i], TOPIC_MAX, "%s/%s/shipments/%s/twin", cfg->mqtt.prefix,
                 cfg->gateway_id, cfg->shipments[i].id);

    r = store_open(cfg->data_dir, &e->store);
    if (r < 0)
        goto out;
    for (size_t i = 0; i < ns; i++) {
        const struct config_shipment *s = &cfg->shipments[i];
        r = store_shipment_ensure(e->store, s->id, s->kind, cfg->profiles[s->profile].name,
                                  e->started_ms, &e->shipment_started_ms[i]);
        if (r < 0)
            goto out;
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
        .password = m->password_len ? m->password : NULL, .password_len = m->password_len};
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
    sd_notify(0, "STOPPING=1\nSTATUS=Stopping: finishing the last readings");
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
    put_due_twins(e, clock_mono_ms(), true);
    put_status(e, "offline", "shutdown");
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

int engine_run(struct engine *e)
{
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
                    log_warn("engine: SIGHUP: reloading the configuration is not supported yet; "
                             "restart the service to apply a changed config");
                } else {
                    log_notice("engine: %s received", strsignal((int)si.ssi_signo));
                    break;
                }
            }
        }
        drain_queue(e);
    }
out:
    shutdown_engine(e);
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
    uplink_free(e->uplink);
    queue_free(e->queue);
    rules_free(e->rules);
    store_close(e->store);
    free(e->events);
    free(e->telemetry);
    free(e->hosts);
    free(e->topic_twin);
    free(e->shipment_started_ms);
    free(e->twin_dirty);
    free(e->twin_due_mono_ms);
    free(e);
}
