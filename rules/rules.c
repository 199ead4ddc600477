/* The rules in event time (docs/rules.md is the contract; tests/unit/test_rules*.c hold it).
 *
 * Every instance keeps a *held value*: the value it judged last and its timestamp. A value holds
 * until the next one, but never longer than the shipment's hold (its shortest stale duration):
 * past that the sensor is stale, neither in nor out of range. Time only moves forward through
 * advance(), which accounts the held value up to an instant and fires what the held value
 * implies on the way (a delay that ran out, a budget spent, a sensor gone stale, a reminder),
 * stamped with the exact instant it happened. A reading first advances its sensor's instances to
 * its timestamp, then is judged. So a live gateway that ticks every second and a replay that
 * only sees readings announce the same events at the same stamps.
 *
 * Layout: flat arrays sized at rules_new(), sensor-major within a shipment so one reading
 * touches contiguous instances; rules_feed_slot() never allocates. */
#include "rules.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mkt.h"

#define RATE_SAMPLES 32 /* a rate window's resolution: 1/32 of the period */
/* Reminders one call may send for one instance: it bounds the event buffer. The daemon ticks
 * every second and reschedules reminders from "now" after a restart, so it never has more than
 * one due; a replay across a silence longer than this many periods sends these and resumes on
 * schedule (docs/rules.md). */
#define RENOTIFY_MAX_PER_CALL 16
/* advance: a fire, every calibration stage, an unshelve, an end of suppression, the reminders;
 * then judging the reading. */
#define EVENTS_PER_INSTANCE (1 + (ALARM_CAL_STAGES + 1) + 1 + 1 + RENOTIFY_MAX_PER_CALL + 1)

struct rate_ring {
    int64_t ts_ms[RATE_SAMPLES];
    double value[RATE_SAMPLES];
    uint8_t head;  /* next slot to write */
    uint8_t count;
};

struct mkt_state {
    double dh_over_r;
    double sum_w, sum_wf;   /* committed, whole shipment (window: unused) */
    double last_factor;     /* of the held temperature */
    int64_t last_weight_ms; /* weight of the provisional term */
    struct mkt_window *window; /* NULL: the whole shipment */
};

/* Per (shipment, sensor, quantity): the summary and its time-weighted sums. */
struct track {
    struct rules_summary sum;
    bool have_value;
    double value;              /* last valid value */
    int64_t value_ts_ms;
    int64_t weight_ms;         /* weight of the last value until the next arrives */
    double sum_w, sum_wv, sum_wf; /* committed intervals; f: MKT factor (temperature) */
    double value_factor;
};

struct sensor_state {
    int64_t last_any_ms;  /* last reading of any quantity, valid or fault; start if none */
};

struct shipment {
    char id[64];
    int64_t started_ms;
    int64_t hold_ms;
    struct alarm_def *alarms;
    size_t alarm_count;
    char (*sensor_ids)[READING_SENSOR_ID_MAX];
    int64_t *cal_due_ms;
    size_t sensor_count;
    struct rules_window *suppress;
    size_t suppress_count;
    struct alarm_instance *instances; /* sensor_count * alarm_count, sensor-major */
    struct track *tracks;             /* sensor_count * QUANTITY_COUNT */
    struct sensor_state *sensors;     /* sensor_count */
};

struct membership {
    uint32_t shipment;
    uint32_t sensor;
};

struct slot {
    char id[READING_SENSOR_ID_MAX];
    uint32_t first; /* into rules->members */
    uint32_t count;
};

struct rules {
    struct shipment *shipments;
    size_t shipment_count;
    struct slot *slots; /* sorted by id */
    size_t slot_count;
    struct membership *members;
    struct rate_ring *rates;
    size_t rate_count;
    struct mkt_state *mkts;
    size_t mkt_count;
    size_t instance_count;
    int64_t now_ms; /* latest time seen (tick or reading) */
    double dh_over_r_default;
};

/* ---- small helpers ---------------------------------------------------------------------- */

static int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

static int64_t floor_mod(int64_t a, int64_t m)
{
    int64_t r = a % m;
    return r < 0 ? r + m : r;
}

static struct alarm_instance *inst_at(const struct shipment *s, size_t alarm, size_t sensor)
{
    return &s->instances[sensor * s->alarm_count + alarm];
}

static bool in_window(const struct shipment *s, int64_t ts_ms, int64_t *end_out)
{
    for (size_t i = 0; i < s->suppress_count; i++) {
        const struct rules_window *w = &s->suppress[i];
        int64_t into = floor_mod(ts_ms - w->offset_ms, w->period_ms);
        if (into < w->duration_ms) {
            if (end_out)
                *end_out = ts_ms - into + w->duration_ms;
            return true;
        }
    }
    return false;
}

static bool notify_at(const struct shipment *s, const struct alarm_instance *inst, int64_t ts_ms)
{
    bool shelved = inst->shelved_until_ms != 0 && ts_ms < inst->shelved_until_ms;
    return !shelved && !in_window(s, ts_ms, NULL);
}

/* Fills an event from the instance after a transition. */
static void make_event(struct alarm_event *ev, enum alarm_transition t,
                       const struct alarm_instance *inst, bool notify, int64_t ts_ms,
                       double value, int64_t amount_ms)
{
    ev->transition = (uint8_t)t;
    ev->isa_state = (uint8_t)alarm_isa_state(inst);
    ev->notify = notify;
    ev->level = inst->level;
    ev->ts_ms = ts_ms;
    ev->value = value;
    ev->worst = inst->worst;
    ev->since_ms = inst->since_ms;
    ev->amount_ms = amount_ms;
}

struct emitter {
    struct rules_event *events;
    size_t n;
    uint32_t shipment, sensor;
};

static struct alarm_event *emit(struct emitter *em, size_t alarm)
{
    struct rules_event *e = &em->events[em->n++];
    e->shipment = em->shipment;
    e->alarm = (uint32_t)alarm;
    e->sensor = em->sensor;
    return &e->ev;
}

/* The alarm becomes active at ts_ms. */
static void raise_at(struct emitter *em, size_t a, const struct shipment *s,
                     const struct alarm_def *def, struct alarm_instance *inst, int64_t ts_ms,
                     double value, int64_t amount_ms)
{
    inst->state = ALARM_ACTIVE;
    inst->raised_ms = ts_ms;
    inst->unacked = true;
    inst->level = 0;
    bool notify = notify_at(s, inst, ts_ms);
    inst->notified = notify;
    inst->renotify_due_ms = def->renotify_ms > 0 ? ts_ms + def->renotify_ms : 0;
    make_event(emit(em, a), ALARM_RAISED, inst, notify, ts_ms, value, amount_ms);
}

static void end_excursion(struct alarm_instance *inst)
{
    inst->longest_ms = max64(inst->longest_ms, inst->current_ms);
    inst->current_ms = 0;
}

static void clear_at(struct emitter *em, size_t a, const struct shipment *s,
                     struct alarm_instance *inst, int64_t ts_ms, double value, int64_t amount_ms)
{
    inst->state = ALARM_NORMAL;
    inst->renotify_due_ms = 0;
    /* Raised and over while suppressed or shelved: nobody was told, so no acknowledgement is
     * owed (it returns to normal, not to "returned"). */
    if (!inst->notified)
        inst->unacked = false;
    make_event(emit(em, a), ALARM_CLEARED, inst, notify_at(s, inst, ts_ms), ts_ms, value,
               amount_ms);
    inst->worst = (double)NAN;
    inst->since_ms = 0;
}

/* ---- judging a value --------------------------------------------------------------------- */

/* The condition on the judged value: the limit for threshold-like kinds and MKT, the allowed
 * change for rate, "is a fault" (1) for fault. */
static bool judged_met(const struct alarm_def *def, double v)
{
    switch ((enum alarm_kind)def->kind) {
    case ALARM_KIND_RATE:
        return v > def->rate;
    case ALARM_KIND_FAULT:
        return v > 0.5;
    default:
        return alarm_condition_met(def, v);
    }
}

static bool judged_cleared(const struct alarm_def *def, double v)
{
    switch ((enum alarm_kind)def->kind) {
    case ALARM_KIND_RATE:
        return v <= def->rate - def->hysteresis;
    case ALARM_KIND_FAULT:
        return v < 0.5;
    default:
        return alarm_condition_cleared(def, v);
    }
}

static bool uses_held_condition(enum alarm_kind kind)
{
    return alarm_kind_is_threshold(kind) || kind == ALARM_KIND_FAULT ||
           kind == ALARM_KIND_RATE || kind == ALARM_KIND_MKT || kind == ALARM_KIND_BUDGET;
}

static double worst_of(const struct alarm_def *def, double a, double b)
{
    if (def->kind == ALARM_KIND_RATE || def->kind == ALARM_KIND_FAULT)
        return isnan(a) ? b : isnan(b) ? a : fmax(a, b);
    return alarm_more_extreme(def, a, b);
}

static int64_t budget_used_ms(const struct alarm_instance *inst)
{
    return inst->seed_ms + inst->beyond_ms - inst->credit_ms;
}

/* ---- advancing time ---------------------------------------------------------------------- */

/* What an alert about this instance reports as its amount at instant at: the budget used, the
 * silence so far, the time left until the calibration is due; 0 for other kinds. */
static int64_t amount_at(const struct alarm_def *def, const struct alarm_instance *inst,
                         const struct sensor_state *ss, int64_t cal_due_ms, int64_t at)
{
    switch ((enum alarm_kind)def->kind) {
    case ALARM_KIND_BUDGET:
        return budget_used_ms(inst);
    case ALARM_KIND_STALE:
        return at - ss->last_any_ms;
    case ALARM_KIND_CALIBRATION:
        return cal_due_ms - at;
    default:
        return 0;
    }
}

/* Accounts the held value up to t and fires what it implies. Does not judge a new value. */
static void advance_instance(struct emitter *em, size_t a, const struct shipment *s,
                             const struct sensor_state *ss, int64_t cal_due_ms,
                             struct alarm_instance *inst, int64_t t)
{
    const struct alarm_def *def = &s->alarms[a];
    enum alarm_kind kind = (enum alarm_kind)def->kind;

    if (kind == ALARM_KIND_BUDGET && inst->state != ALARM_ACTIVE &&
        budget_used_ms(inst) >= def->budget_ms) {
        /* Earlier legs already used it all (the seed): spent from the shipment's start. */
        int64_t at = s->started_ms ? s->started_ms : t;
        inst->since_ms = at;
        raise_at(em, a, s, def, inst, at, (double)NAN, inst->seed_ms - inst->credit_ms);
    }
    if (uses_held_condition(kind) && inst->have_held) {
        int64_t held_end = inst->held_ts_ms + s->hold_ms;
        int64_t cover_end = min64(t, held_end);
        bool met = inst->held_met;
        int64_t from = max64(inst->accounted_ms, inst->held_ts_ms);
        if (met && cover_end > from) {
            int64_t before = budget_used_ms(inst);
            inst->beyond_ms += cover_end - from;
            inst->current_ms += cover_end - from;
            /* Raised at the instant the sum reached the budget, with exactly the budget used
             * then, whichever call noticed it. */
            if (kind == ALARM_KIND_BUDGET && inst->state != ALARM_ACTIVE &&
                budget_used_ms(inst) >= def->budget_ms)
                raise_at(em, a, s, def, inst, from + (def->budget_ms - before), inst->held,
                         def->budget_ms);
        }
        if (cover_end > inst->accounted_ms)
            inst->accounted_ms = cover_end;
        /* The held value covers [held_ts, cover_end): a delay that ends inside it ran out. */
        if (kind != ALARM_KIND_BUDGET && inst->state == ALARM_PENDING &&
            inst->since_ms + def->delay_ms < cover_end)
            raise_at(em, a, s, def, inst, inst->since_ms + def->delay_ms, inst->held, 0);
        if (t > held_end) {
            /* Stale: the value no longer holds. A delay cannot run on no evidence, and an
             * excursion that cannot be seen is over as far as accounting goes. An active alarm
             * stays active: silence is not evidence that the goods are back in range. */
            if (inst->state == ALARM_PENDING) {
                inst->state = ALARM_NORMAL;
                inst->worst = (double)NAN;
            }
            end_excursion(inst);
            inst->have_held = false;
        }
    }

    if (kind == ALARM_KIND_STALE && inst->state != ALARM_ACTIVE &&
        t > ss->last_any_ms + def->stale_ms) {
        inst->since_ms = ss->last_any_ms;
        raise_at(em, a, s, def, inst, ss->last_any_ms + def->stale_ms, (double)NAN,
                 def->stale_ms);
    }

    if (kind == ALARM_KIND_CALIBRATION && cal_due_ms != 0) {
        int64_t stages[ALARM_CAL_STAGES + 1];
        size_t n = 0;
        for (size_t i = 0; i < ALARM_CAL_STAGES && def->cal_warn_ms[i] > 0; i++)
            stages[n++] = cal_due_ms - def->cal_warn_ms[i];
        stages[n++] = cal_due_ms;
        /* Every stage reached, in order, each stamped at its own instant. */
        while (inst->stage < n && t >= stages[inst->stage]) {
            int64_t at = stages[inst->stage];
            if (inst->state != ALARM_ACTIVE) {
                inst->since_ms = at;
                raise_at(em, a, s, def, inst, at, (double)NAN, cal_due_ms - at);
            } else {
                inst->unacked = true;
                inst->level = inst->stage;
                bool notify = notify_at(s, inst, at);
                inst->notified = inst->notified || notify;
                make_event(emit(em, a), ALARM_RENOTIFIED, inst, notify, at, (double)NAN,
                           cal_due_ms - at);
            }
            inst->stage++;
        }
    }

    if (inst->shelved_until_ms != 0 && t >= inst->shelved_until_ms) {
        int64_t at = inst->shelved_until_ms;
        inst->shelved_until_ms = 0;
        bool notify = !in_window(s, at, NULL);
        if (inst->state == ALARM_ACTIVE && notify)
            inst->notified = true;
        make_event(emit(em, a), ALARM_UNSHELVED, inst, notify, at, inst->value,
                   amount_at(def, inst, ss, cal_due_ms, at));
    }

    if (inst->state == ALARM_ACTIVE && inst->unacked && !inst->notified &&
        inst->shelved_until_ms == 0) {
        /* Raised while suppressed: announce it when the window ends, if it is still on. */
        int64_t end = inst->raised_ms;
        for (size_t i = 0; i <= s->suppress_count && in_window(s, end, &end); i++) {
        }
        if (end <= t && !in_window(s, end, NULL)) {
            inst->notified = true;
            make_event(emit(em, a), ALARM_RENOTIFIED, inst, true, end, inst->value,
                       amount_at(def, inst, ss, cal_due_ms, end));
        }
    }

    for (unsigned sent = 0; inst->state == ALARM_ACTIVE && inst->unacked &&
                            inst->renotify_due_ms != 0 && t >= inst->renotify_due_ms;) {
        int64_t at = inst->renotify_due_ms;
        if (sent == RENOTIFY_MAX_PER_CALL) {
            /* Skip to the latest reminder due: the next one comes on schedule. */
            int64_t missed = (t - at) / def->renotify_ms;
            inst->renotify_due_ms = at + (missed + 1) * def->renotify_ms;
            break;
        }
        inst->renotify_due_ms = at + def->renotify_ms;
        if (notify_at(s, inst, at)) {
            if (inst->level < UINT8_MAX)
                inst->level++;
            make_event(emit(em, a), ALARM_RENOTIFIED, inst, true, at, inst->value,
                       amount_at(def, inst, ss, cal_due_ms, at));
            sent++;
        }
    }
}

static void advance_sensor(struct rules *rules, uint32_t si, uint32_t k,
                           struct rules_event *events, size_t *n, int64_t t)
{
    struct shipment *s = &rules->shipments[si];
    struct emitter em = {.events = events, .n = *n, .shipment = si, .sensor = k};
    struct sensor_state *ss = &s->sensors[k];
    /* Without a start time (replay of a file), silence counts from the first moment seen. */
    if (ss->last_any_ms == 0)
        ss->last_any_ms = t;
    int64_t due = s->cal_due_ms ? s->cal_due_ms[k] : 0;
    for (size_t a = 0; a < s->alarm_count; a++)
        advance_instance(&em, a, s, ss, due, inst_at(s, a, k), t);
    *n = em.n;
}

/* ---- judging a reading ------------------------------------------------------------------- */

/* Threshold machinery over a judged value v at ts (after advance to ts). */
static void judge(struct emitter *em, size_t a, const struct shipment *s,
                  struct alarm_instance *inst, double v, int64_t ts, bool out_of_order)
{
    const struct alarm_def *def = &s->alarms[a];
    bool met = judged_met(def, v);
    bool was_met = inst->have_held && inst->held_met;

    if (out_of_order && inst->state == ALARM_PENDING) {
        /* The clock stepped back: continuity is broken, so the delay starts again; a clock
         * jump can never shorten it. */
        inst->state = ALARM_NORMAL;
        was_met = false;
    }
    /* An excursion is an unbroken run of held values that meet the condition. */
    if (met && !was_met) {
        end_excursion(inst);
        inst->excursions++;
    } else if (!met && was_met) {
        end_excursion(inst);
    }
    inst->have_held = true;
    inst->held_met = met;
    inst->held = v;
    inst->held_ts_ms = ts;
    if (out_of_order || inst->accounted_ms < ts)
        inst->accounted_ms = ts;
    inst->value = v;

    switch ((enum alarm_state)inst->state) {
    case ALARM_NORMAL:
        if (!met)
            return;
        inst->state = ALARM_PENDING;
        inst->since_ms = ts;
        inst->worst = v;
        if (def->kind == ALARM_KIND_BUDGET) {
            /* A budget starts no delay: it is spent by time, in advance(). A seed may already
             * exceed it. */
            if (budget_used_ms(inst) >= def->budget_ms)
                raise_at(em, a, s, def, inst, ts, v, budget_used_ms(inst));
            return;
        }
        if (def->delay_ms == 0)
            raise_at(em, a, s, def, inst, ts, v, 0);
        return;
    case ALARM_PENDING:
        if (!met) {
            inst->state = ALARM_NORMAL;
            inst->worst = (double)NAN;
            return;
        }
        inst->worst = worst_of(def, inst->worst, v);
        if (def->kind != ALARM_KIND_BUDGET && ts - inst->since_ms >= def->delay_ms)
            raise_at(em, a, s, def, inst, ts, v, 0);
        return;
    case ALARM_ACTIVE:
        if (met) {
            inst->worst = worst_of(def, inst->worst, v);
            return;
        }
        /* A spent budget stays spent: only a resolve gives time back. */
        if (def->kind != ALARM_KIND_BUDGET && judged_cleared(def, v))
            clear_at(em, a, s, inst, ts, v, 0);
        return;
    }
}

/* The change within the rate window, in the alarm's direction, including v at ts. */
static double rate_change(struct rate_ring *ring, const struct alarm_def *def, double v,
                          int64_t ts)
{
    double lo = v, hi = v;
    for (unsigned i = 0; i < ring->count; i++) {
        unsigned at = (ring->head + RATE_SAMPLES - 1 - i) % RATE_SAMPLES;
        if (ring->ts_ms[at] < ts - def->window_ms || ring->ts_ms[at] > ts)
            break;
        double x = ring->value[at];
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
    }
    /* Thin to one sample per 1/32 of the window: memory stays fixed, resolution 3 %. */
    unsigned last = (ring->head + RATE_SAMPLES - 1) % RATE_SAMPLES;
    if (ring->count == 0 || ts < ring->ts_ms[last] ||
        ts - ring->ts_ms[last] >= def->window_ms / RATE_SAMPLES) {
        if (ring->count && ts < ring->ts_ms[last])
            ring->count = 0; /* clock stepped back: the old samples are not comparable */
        ring->ts_ms[ring->head] = ts;
        ring->value[ring->head] = v;
        ring->head = (uint8_t)((ring->head + 1) % RATE_SAMPLES);
        if (ring->count < RATE_SAMPLES)
            ring->count++;
    }
    switch ((enum alarm_direction)def->direction) {
    case ALARM_RISING:
        return v - lo;
    case ALARM_FALLING:
        return hi - v;
    case ALARM_EITHER:
        break;
    }
    return fmax(v - lo, hi - v);
}

/* MKT of the instance after the track took the reading (committed sums + the provisional
 * term of the newest value, which weighs the interval before it: USP's formula for evenly
 * spaced readings). */
static double mkt_value(struct mkt_state *m, int64_t ts)
{
    double w = m->sum_w, wf = m->sum_wf;
    if (m->window)
        mkt_window_sums(m->window, ts, &w, &wf);
    w += (double)m->last_weight_ms;
    wf += (double)m->last_weight_ms * m->last_factor;
    return mkt_from_sums(w, wf, m->dh_over_r);
}

static void mkt_commit(struct mkt_state *m, int64_t from, int64_t to)
{
    if (to <= from)
        return;
    if (m->window) {
        mkt_window_add(m->window, from, to, m->last_factor);
    } else {
        m->sum_w += (double)(to - from);
        m->sum_wf += (double)(to - from) * m->last_factor;
    }
}

static void track_valid(struct track *tr, double v, int64_t ts, int64_t hold_ms,
                        double dh_over_r, bool temperature, bool out_of_order)
{
    struct rules_summary *sum = &tr->sum;
    if (tr->have_value && !out_of_order) {
        int64_t held = min64(ts - tr->value_ts_ms, hold_ms);
        if (held > 0) {
            double w = (double)held;
            tr->sum_w += w;
            tr->sum_wv += w * tr->value;
            if (temperature)
                tr->sum_wf += w * tr->value_factor;
            tr->weight_ms = held;
        }
    }
    if (tr->weight_ms == 0)
        tr->weight_ms = 1; /* the first value alone: any positive weight */
    tr->have_value = true;
    tr->value = v;
    tr->value_ts_ms = ts;
    if (temperature)
        tr->value_factor = mkt_factor(v, dh_over_r);
    sum->count++;
    sum->min = isnan(sum->min) ? v : fmin(sum->min, v);
    sum->max = isnan(sum->max) ? v : fmax(sum->max, v);
    double w = (double)tr->weight_ms;
    sum->mean = (tr->sum_wv + w * v) / (tr->sum_w + w);
    /* The summary's MKT costs a logarithm: rules_summary() computes it when asked. */
}

static void feed_member(struct rules *rules, uint32_t si, uint32_t k, const struct reading *r,
                        struct rules_event *events, size_t *n)
{
    struct shipment *s = &rules->shipments[si];
    if (r->ts_ms < s->started_ms)
        return;
    advance_sensor(rules, si, k, events, n, r->ts_ms);

    struct emitter em = {.events = events, .n = *n, .shipment = si, .sensor = k};
    struct track *tr = &s->tracks[k * QUANTITY_COUNT + r->quantity];
    struct sensor_state *ss = &s->sensors[k];
    bool valid = !(r->flags & READING_FAULT) && isfinite(r->value);
    bool out_of_order = tr->sum.last_ts_ms != 0 && r->ts_ms < tr->sum.last_ts_ms;
    int64_t prev_valid_ts = tr->value_ts_ms;
    bool had_value = tr->have_value;

    struct rules_summary *sum = &tr->sum;
    if (out_of_order)
        sum->out_of_order++;
    sum->last_ts_ms = r->ts_ms;
    sum->last_flags = r->flags;
    bool temperature = r->quantity == QUANTITY_TEMPERATURE;
    if (valid) {
        sum->last_value = r->value;
        track_valid(tr, r->value, r->ts_ms, s->hold_ms, rules->dh_over_r_default, temperature,
                    out_of_order);
    } else {
        sum->fault_count++;
        sum->last_value = (double)NAN;
    }

    for (size_t a = 0; a < s->alarm_count; a++) {
        const struct alarm_def *def = &s->alarms[a];
        struct alarm_instance *inst = inst_at(s, a, k);
        bool any_quantity = def->quantity >= QUANTITY_COUNT;
        if (!any_quantity && def->quantity != r->quantity)
            continue;
        switch ((enum alarm_kind)def->kind) {
        case ALARM_KIND_STALE:
            if (inst->state == ALARM_ACTIVE)
                clear_at(&em, a, s, inst, r->ts_ms, (double)NAN, r->ts_ms - ss->last_any_ms);
            break;
        case ALARM_KIND_FAULT:
            judge(&em, a, s, inst, valid ? 0.0 : 1.0, r->ts_ms, out_of_order);
            break;
        case ALARM_KIND_CALIBRATION:
            break;
        case ALARM_KIND_RATE:
            if (valid)
                judge(&em, a, s, inst, rate_change(&rules->rates[inst->aux], def, r->value,
                                                   r->ts_ms),
                      r->ts_ms, out_of_order);
            break;
        case ALARM_KIND_MKT:
            if (valid) {
                struct mkt_state *m = &rules->mkts[inst->aux];
                if (had_value && !out_of_order) {
                    int64_t held = min64(r->ts_ms - prev_valid_ts, s->hold_ms);
                    mkt_commit(m, prev_valid_ts, prev_valid_ts + held);
                    if (held > 0)
                        m->last_weight_ms = held;
                }
                if (m->last_weight_ms == 0)
                    m->last_weight_ms = 1;
                m->last_factor = m->dh_over_r == rules->dh_over_r_default && temperature
                                     ? tr->value_factor
                                     : mkt_factor(r->value, m->dh_over_r);
                judge(&em, a, s, inst, mkt_value(m, r->ts_ms), r->ts_ms, out_of_order);
            }
            break;
        default: /* threshold, door, battery, budget */
            if (valid)
                judge(&em, a, s, inst, r->value, r->ts_ms, out_of_order);
            break;
        }
    }
    if (r->ts_ms > ss->last_any_ms || out_of_order)
        ss->last_any_ms = r->ts_ms;
    *n = em.n;
}

/* ---- public ------------------------------------------------------------------------------ */

void rules_free(struct rules *rules)
{
    if (!rules)
        return;
    for (size_t i = 0; i < rules->shipment_count; i++) {
        struct shipment *s = &rules->shipments[i];
        free(s->alarms);
        free(s->sensor_ids);
        free(s->cal_due_ms);
        free(s->suppress);
        free(s->instances);
        free(s->tracks);
        free(s->sensors);
    }
    for (size_t i = 0; i < rules->mkt_count; i++)
        free(rules->mkts[i].window);
    free(rules->mkts);
    free(rules->rates);
    free(rules->slots);
    free(rules->members);
    free(rules->shipments);
    free(rules);
}

static bool def_valid(const struct alarm_def *d)
{
    if (d->kind >= ALARM_KIND_COUNT || d->hysteresis < 0 || d->delay_ms < 0 ||
        d->renotify_ms < 0 || !isfinite(d->limit))
        return false;
    if (d->quantity > QUANTITY_COUNT ||
        (d->quantity == QUANTITY_COUNT && d->kind != ALARM_KIND_STALE &&
         d->kind != ALARM_KIND_CALIBRATION))
        return false;
    switch ((enum alarm_kind)d->kind) {
    case ALARM_KIND_BUDGET:
        return d->budget_ms > 0;
    case ALARM_KIND_MKT:
        return d->window_ms == 0 ||
               (d->window_ms >= MKT_WINDOW_BUCKETS && d->delta_h_j_mol > 0);
    case ALARM_KIND_RATE:
        return d->window_ms >= RATE_SAMPLES && d->rate > 0;
    case ALARM_KIND_STALE:
        return d->stale_ms > 0;
    default:
        return true;
    }
}

static int cmp_slot(const void *a, const void *b)
{
    return strcmp(((const struct slot *)a)->id, ((const struct slot *)b)->id);
}

/* One slot per distinct sensor id, each listing the (shipment, sensor) pairs it feeds. */
static int build_slots(struct rules *rules, size_t total_sensors)
{
    rules->slots = calloc(total_sensors, sizeof(*rules->slots));
    rules->members = calloc(total_sensors, sizeof(*rules->members));
    if (!rules->slots || !rules->members)
        return -ENOMEM;
    size_t n = 0;
    for (size_t si = 0; si < rules->shipment_count; si++) {
        const struct shipment *s = &rules->shipments[si];
        for (size_t k = 0; k < s->sensor_count; k++)
            memcpy(rules->slots[n++].id, s->sensor_ids[k], READING_SENSOR_ID_MAX);
    }
    qsort(rules->slots, n, sizeof(*rules->slots), cmp_slot);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (distinct && strcmp(rules->slots[distinct - 1].id, rules->slots[i].id) == 0)
            continue;
        rules->slots[distinct++] = rules->slots[i];
    }
    rules->slot_count = distinct;
    /* Members grouped by slot, in shipment order. */
    size_t m = 0;
    for (size_t i = 0; i < distinct; i++) {
        struct slot *sl = &rules->slots[i];
        sl->first = (uint32_t)m;
        sl->count = 0;
        for (size_t si = 0; si < rules->shipment_count; si++) {
            const struct shipment *s = &rules->shipments[si];
            for (size_t k = 0; k < s->sensor_count; k++) {
                if (strcmp(s->sensor_ids[k], sl->id) == 0) {
                    rules->members[m++] = (struct membership){(uint32_t)si, (uint32_t)k};
                    sl->count++;
                }
            }
        }
    }
    return 0;
}

static int init_shipment(struct rules *rules, struct shipment *s,
                         const struct rules_shipment_def *d)
{
    if (d->sensor_count == 0 || !d->id || strlen(d->id) >= sizeof(s->id))
        return -EINVAL;
    for (size_t i = 0; i < d->suppress_count; i++) {
        const struct rules_window *w = &d->suppress[i];
        if (w->period_ms <= 0 || w->duration_ms <= 0 || w->duration_ms >= w->period_ms)
            return -EINVAL;
    }
    memcpy(s->id, d->id, strlen(d->id) + 1);
    s->started_ms = d->started_ms;
    s->alarm_count = d->alarm_count;
    s->sensor_count = d->sensor_count;
    s->suppress_count = d->suppress_count;
    s->hold_ms = 0;
    for (size_t a = 0; a < d->alarm_count; a++) {
        if (!def_valid(&d->alarms[a]))
            return -EINVAL;
        if (d->alarms[a].kind == ALARM_KIND_STALE &&
            (s->hold_ms == 0 || d->alarms[a].stale_ms < s->hold_ms))
            s->hold_ms = d->alarms[a].stale_ms;
    }
    /* The shortest stale duration, however long: a value holds until the sensor is stale. */
    if (s->hold_ms == 0)
        s->hold_ms = RULES_HOLD_DEFAULT_MS;
    s->alarms = calloc(d->alarm_count ? d->alarm_count : 1, sizeof(*s->alarms));
    s->sensor_ids = calloc(d->sensor_count, sizeof(*s->sensor_ids));
    s->cal_due_ms = calloc(d->sensor_count, sizeof(*s->cal_due_ms));
    s->suppress = calloc(d->suppress_count ? d->suppress_count : 1, sizeof(*s->suppress));
    s->instances = calloc(d->alarm_count * d->sensor_count + 1, sizeof(*s->instances));
    s->tracks = calloc(d->sensor_count * QUANTITY_COUNT, sizeof(*s->tracks));
    s->sensors = calloc(d->sensor_count, sizeof(*s->sensors));
    if (!s->alarms || !s->sensor_ids || !s->cal_due_ms || !s->suppress || !s->instances ||
        !s->tracks || !s->sensors)
        return -ENOMEM;
    if (d->alarm_count)
        memcpy(s->alarms, d->alarms, d->alarm_count * sizeof(*s->alarms));
    if (d->suppress_count)
        memcpy(s->suppress, d->suppress, d->suppress_count * sizeof(*s->suppress));
    for (size_t k = 0; k < d->sensor_count; k++) {
        if (memchr(d->sensor_ids[k], '\0', READING_SENSOR_ID_MAX) == NULL)
            return -EINVAL;
        memcpy(s->sensor_ids[k], d->sensor_ids[k], READING_SENSOR_ID_MAX);
        s->cal_due_ms[k] = d->cal_due_ms ? d->cal_due_ms[k] : 0;
        s->sensors[k].last_any_ms = d->started_ms;
        for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
            struct rules_summary *sum = &s->tracks[k * QUANTITY_COUNT + q].sum;
            sum->min = sum->max = sum->mean = sum->mkt_c = sum->last_value = (double)NAN;
        }
        for (size_t a = 0; a < d->alarm_count; a++) {
            struct alarm_instance *inst = inst_at(s, a, k);
            alarm_init(inst);
            inst->seed_ms = d->budget_used_ms ? d->budget_used_ms[a] : 0;
            if (s->alarms[a].kind == ALARM_KIND_RATE)
                inst->aux = (uint32_t)rules->rate_count++;
            else if (s->alarms[a].kind == ALARM_KIND_MKT)
                inst->aux = (uint32_t)rules->mkt_count++;
        }
    }
    rules->instance_count += d->alarm_count * d->sensor_count;
    return 0;
}

static int init_side_state(struct rules *rules)
{
    rules->rates = calloc(rules->rate_count ? rules->rate_count : 1, sizeof(*rules->rates));
    rules->mkts = calloc(rules->mkt_count ? rules->mkt_count : 1, sizeof(*rules->mkts));
    if (!rules->rates || !rules->mkts)
        return -ENOMEM;
    for (size_t si = 0; si < rules->shipment_count; si++) {
        const struct shipment *s = &rules->shipments[si];
        for (size_t a = 0; a < s->alarm_count; a++) {
            const struct alarm_def *def = &s->alarms[a];
            if (def->kind != ALARM_KIND_MKT)
                continue;
            for (size_t k = 0; k < s->sensor_count; k++) {
                struct mkt_state *m = &rules->mkts[inst_at(s, a, k)->aux];
                m->dh_over_r = mkt_dh_over_r(def->delta_h_j_mol > 0 ? def->delta_h_j_mol
                                                                    : MKT_DELTA_H_DEFAULT_J_MOL);
                if (def->window_ms > 0) {
                    m->window = malloc(sizeof(*m->window));
                    if (!m->window)
                        return -ENOMEM;
                    mkt_window_init(m->window, def->window_ms);
                }
            }
        }
    }
    return 0;
}

int rules_new(const struct rules_shipment_def *defs, size_t shipment_count,
              struct rules **rules_out)
{
    if (shipment_count == 0 || shipment_count > UINT32_MAX)
        return -EINVAL;
    int r = -ENOMEM;
    struct rules *rules = calloc(1, sizeof(*rules));
    if (!rules)
        return -ENOMEM;
    rules->dh_over_r_default = mkt_dh_over_r(MKT_DELTA_H_DEFAULT_J_MOL);
    rules->shipments = calloc(shipment_count, sizeof(*rules->shipments));
    if (!rules->shipments)
        goto out;
    rules->shipment_count = shipment_count;
    size_t total_sensors = 0;
    for (size_t i = 0; i < shipment_count; i++) {
        r = init_shipment(rules, &rules->shipments[i], &defs[i]);
        if (r < 0)
            goto out;
        total_sensors += defs[i].sensor_count;
    }
    r = init_side_state(rules);
    if (r < 0)
        goto out;
    r = build_slots(rules, total_sensors);
    if (r < 0)
        goto out;
    *rules_out = rules;
    rules = NULL;
    r = 0;
out:
    rules_free(rules);
    return r;
}

size_t rules_max_events(const struct rules *rules)
{
    return rules->instance_count * EVENTS_PER_INSTANCE + 1;
}

int rules_sensor_slot(const struct rules *rules, const char *sensor_id)
{
    struct slot key;
    if (strlen(sensor_id) >= sizeof(key.id))
        return -ENOENT;
    memset(&key, 0, sizeof(key));
    memcpy(key.id, sensor_id, strlen(sensor_id));
    const struct slot *sl = bsearch(&key, rules->slots, rules->slot_count, sizeof(*sl), cmp_slot);
    return sl ? (int)(sl - rules->slots) : -ENOENT;
}

int rules_feed_slot(struct rules *rules, int slot, const struct reading *r,
                    struct rules_event *events, size_t cap)
{
    if (cap < rules_max_events(rules))
        return -ENOSPC;
    if (r->quantity >= QUANTITY_COUNT || slot < 0 || (size_t)slot >= rules->slot_count)
        return -EINVAL;
    const struct slot *sl = &rules->slots[slot];
    size_t n = 0;
    for (uint32_t i = 0; i < sl->count; i++) {
        const struct membership *m = &rules->members[sl->first + i];
        feed_member(rules, m->shipment, m->sensor, r, events, &n);
    }
    if (r->ts_ms > rules->now_ms)
        rules->now_ms = r->ts_ms;
    return (int)n;
}

int rules_feed(struct rules *rules, const struct reading *r, struct rules_event *events,
               size_t cap)
{
    if (cap < rules_max_events(rules))
        return -ENOSPC;
    if (r->quantity >= QUANTITY_COUNT)
        return -EINVAL;
    char id[READING_SENSOR_ID_MAX];
    memcpy(id, r->sensor_id, sizeof(id));
    id[sizeof(id) - 1] = '\0';
    int slot = rules_sensor_slot(rules, id);
    if (slot < 0)
        return 0;
    return rules_feed_slot(rules, slot, r, events, cap);
}

int rules_tick(struct rules *rules, int64_t now_ms, struct rules_event *events, size_t cap)
{
    if (cap < rules_max_events(rules))
        return -ENOSPC;
    size_t n = 0;
    /* Earlier than the newest reading is fine: each instance only moves forward. */
    if (now_ms > rules->now_ms)
        rules->now_ms = now_ms;
    for (uint32_t si = 0; si < rules->shipment_count; si++) {
        const struct shipment *s = &rules->shipments[si];
        if (now_ms < s->started_ms)
            continue;
        for (uint32_t k = 0; k < s->sensor_count; k++)
            advance_sensor(rules, si, k, events, &n, now_ms);
    }
    return (int)n;
}

static struct alarm_instance *find(const struct rules *rules, size_t shipment, size_t alarm,
                                   size_t sensor)
{
    if (shipment >= rules->shipment_count)
        return NULL;
    const struct shipment *s = &rules->shipments[shipment];
    if (alarm >= s->alarm_count || sensor >= s->sensor_count)
        return NULL;
    return inst_at(s, alarm, sensor);
}

int rules_ack(struct rules *rules, size_t shipment, size_t alarm, size_t sensor, int64_t ts_ms,
              struct alarm_event *ev_out)
{
    struct alarm_instance *inst = find(rules, shipment, alarm, sensor);
    if (!inst)
        return -EINVAL;
    if (!inst->unacked)
        return -EALREADY;
    inst->unacked = false;
    inst->renotify_due_ms = 0;
    make_event(ev_out, ALARM_ACKNOWLEDGED, inst, false, ts_ms, inst->value, 0);
    return 0;
}

int rules_shelve(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                 int64_t ts_ms, int64_t until_ms, struct alarm_event *ev_out)
{
    struct alarm_instance *inst = find(rules, shipment, alarm, sensor);
    if (!inst || until_ms <= ts_ms)
        return -EINVAL;
    inst->shelved_until_ms = until_ms;
    make_event(ev_out, ALARM_SHELVED, inst, false, ts_ms, inst->value, until_ms - ts_ms);
    return 0;
}

int rules_unshelve(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                   int64_t ts_ms, struct alarm_event *ev_out)
{
    struct alarm_instance *inst = find(rules, shipment, alarm, sensor);
    if (!inst)
        return -EINVAL;
    if (inst->shelved_until_ms == 0)
        return -EALREADY;
    inst->shelved_until_ms = 0;
    bool notify = !in_window(&rules->shipments[shipment], ts_ms, NULL);
    if (inst->state == ALARM_ACTIVE && notify)
        inst->notified = true;
    make_event(ev_out, ALARM_UNSHELVED, inst, notify, ts_ms, inst->value, 0);
    return 0;
}

int rules_resolve(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                  int64_t ts_ms, int64_t credit_ms, struct alarm_event *ev_out)
{
    struct alarm_instance *inst = find(rules, shipment, alarm, sensor);
    if (!inst || rules->shipments[shipment].alarms[alarm].kind != ALARM_KIND_BUDGET ||
        credit_ms <= 0)
        return -EINVAL;
    const struct alarm_def *def = &rules->shipments[shipment].alarms[alarm];
    int64_t used = budget_used_ms(inst);
    int64_t credit = min64(credit_ms, max64(used, 0));
    inst->credit_ms += credit;
    if (inst->state == ALARM_ACTIVE && budget_used_ms(inst) < def->budget_ms) {
        /* Whoever resolved it has seen it: back to normal, nothing owed. */
        inst->state = ALARM_NORMAL;
        inst->unacked = false;
        inst->renotify_due_ms = 0;
        inst->worst = (double)NAN;
    }
    make_event(ev_out, ALARM_RESOLVED, inst, true, ts_ms, inst->value, credit);
    return 0;
}

const struct alarm_instance *rules_instance(const struct rules *rules, size_t shipment,
                                            size_t alarm, size_t sensor)
{
    return find(rules, shipment, alarm, sensor);
}

const struct alarm_def *rules_alarm_def(const struct rules *rules, size_t shipment, size_t alarm)
{
    if (shipment >= rules->shipment_count || alarm >= rules->shipments[shipment].alarm_count)
        return NULL;
    return &rules->shipments[shipment].alarms[alarm];
}

const struct rules_summary *rules_summary(const struct rules *rules, size_t shipment,
                                          size_t sensor, unsigned quantity)
{
    if (shipment >= rules->shipment_count || quantity >= QUANTITY_COUNT)
        return NULL;
    const struct shipment *s = &rules->shipments[shipment];
    if (sensor >= s->sensor_count)
        return NULL;
    /* The rules object is the caller's and not const itself; only the summary's MKT is
     * brought up to date here, from sums kept on every reading. */
    struct track *tr = (struct track *)&s->tracks[sensor * QUANTITY_COUNT + quantity];
    if (quantity == QUANTITY_TEMPERATURE && tr->have_value) {
        double w = (double)tr->weight_ms;
        tr->sum.mkt_c = mkt_from_sums(tr->sum_w + w, tr->sum_wf + w * tr->value_factor,
                                      rules->dh_over_r_default);
    }
    return &tr->sum;
}

size_t rules_shipment_count(const struct rules *rules)
{
    return rules->shipment_count;
}

size_t rules_alarm_count(const struct rules *rules, size_t shipment)
{
    return shipment < rules->shipment_count ? rules->shipments[shipment].alarm_count : 0;
}

size_t rules_sensor_count(const struct rules *rules, size_t shipment)
{
    return shipment < rules->shipment_count ? rules->shipments[shipment].sensor_count : 0;
}

const char *rules_shipment_id(const struct rules *rules, size_t shipment)
{
    return shipment < rules->shipment_count ? rules->shipments[shipment].id : NULL;
}

const char *rules_sensor_id(const struct rules *rules, size_t shipment, size_t sensor)
{
    if (shipment >= rules->shipment_count || sensor >= rules->shipments[shipment].sensor_count)
        return NULL;
    return rules->shipments[shipment].sensor_ids[sensor];
}

int64_t rules_budget_left_ms(const struct rules *rules, size_t shipment, size_t alarm,
                             size_t sensor)
{
    const struct alarm_instance *inst = find(rules, shipment, alarm, sensor);
    if (!inst)
        return 0;
    const struct shipment *s = &rules->shipments[shipment];
    const struct alarm_def *def = &s->alarms[alarm];
    if (def->kind != ALARM_KIND_BUDGET)
        return 0;
    int64_t used = budget_used_ms(inst);
    /* The held value keeps spending until the last time seen. */
    if (inst->have_held && judged_met(def, inst->held)) {
        int64_t end = min64(rules->now_ms, inst->held_ts_ms + s->hold_ms);
        int64_t from = max64(inst->accounted_ms, inst->held_ts_ms);
        if (end > from)
            used += end - from;
    }
    return def->budget_ms - used;
}

bool rules_suppressed(const struct rules *rules, size_t shipment, int64_t ts_ms)
{
    return shipment < rules->shipment_count &&
           in_window(&rules->shipments[shipment], ts_ms, NULL);
}

unsigned rules_alert_flags(const struct rules *rules, int64_t now_ms)
{
    unsigned flags = 0;
    for (size_t si = 0; si < rules->shipment_count; si++) {
        const struct shipment *s = &rules->shipments[si];
        for (size_t k = 0; k < s->sensor_count; k++) {
            for (size_t a = 0; a < s->alarm_count; a++) {
                const struct alarm_instance *inst = inst_at(s, a, k);
                const struct alarm_def *def = &s->alarms[a];
                /* A suppressed (defrost) or shelved alarm records but does not notify: the
                 * buzzer is a notification too. */
                bool shelved = inst->shelved_until_ms != 0 && now_ms < inst->shelved_until_ms;
                if (inst->state != ALARM_ACTIVE || !inst->notified || shelved)
                    continue;
                if (def->kind == ALARM_KIND_FAULT || def->kind == ALARM_KIND_STALE)
                    flags |= RULES_ALERT_SENSOR;
                else if (def->severity == ALARM_CRITICAL && inst->unacked)
                    flags |= RULES_ALERT_CRITICAL_UNACKED;
                else
                    flags |= RULES_ALERT_ACTIVE;
            }
        }
    }
    return flags;
}

int rules_reconcile(struct rules *rules, size_t shipment, size_t alarm, size_t sensor,
                    enum alarm_isa_state announced, uint8_t level, int64_t now_ms,
                    struct alarm_event *ev_out)
{
    struct alarm_instance *inst = find(rules, shipment, alarm, sensor);
    if (!inst)
        return -EINVAL;
    const struct shipment *s = &rules->shipments[shipment];
    const struct alarm_def *def = &s->alarms[alarm];
    bool told_active = announced == ALARM_ISA_UNACKED || announced == ALARM_ISA_ACKED;
    if (inst->state == ALARM_ACTIVE) {
        if (told_active) {
            inst->unacked = announced == ALARM_ISA_UNACKED;
            inst->notified = true;
            inst->level = level;
            inst->renotify_due_ms =
                inst->unacked && def->renotify_ms > 0 ? now_ms + def->renotify_ms : 0;
            return 0;
        }
        /* Active by the history, never announced (it happened while the gateway was down, or
         * the config changed): say so now. */
        inst->unacked = true;
        inst->level = 0;
        bool notify = notify_at(s, inst, now_ms);
        inst->notified = notify;
        inst->renotify_due_ms = def->renotify_ms > 0 ? now_ms + def->renotify_ms : 0;
        make_event(ev_out, ALARM_RAISED, inst, notify, now_ms, inst->value, 0);
        return 1;
    }
    inst->notified = false;
    inst->level = 0;
    if (told_active) {
        inst->unacked = announced == ALARM_ISA_UNACKED;
        make_event(ev_out, ALARM_CLEARED, inst, notify_at(s, inst, now_ms), now_ms,
                   inst->value, 0);
        return 1;
    }
    inst->unacked = announced == ALARM_ISA_RTN_UNACKED;
    return 0;
}
