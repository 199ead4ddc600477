/* Mean kinetic temperature, USP <1079.2>, and its rolling window. The formula and the defaults
 * are in mkt.h; the window's time buckets are explained at struct mkt_window below. */
#include "mkt.h"

#include <assert.h>
#include <math.h>
#include <string.h>

#define RING_SLOTS (MKT_WINDOW_BUCKETS + 1)

/* Division rounding towards minus infinity. C rounds towards zero, which would put -1 ms into
 * the bucket of +1 ms (bucket 0) and make bucket 0 twice as long; timestamps before 1970 and
 * test clocks near zero are negative. b > 0 here (bucket_ms >= 1). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;

    if (a % b != 0 && a < 0)
        q--;
    return q;
}

/* b - a for a <= b, which may not fit in int64_t (INT64_MIN .. INT64_MAX) but always fits in
 * uint64_t; unsigned arithmetic wraps instead of overflowing. */
static uint64_t distance(int64_t a, int64_t b)
{
    return (uint64_t)b - (uint64_t)a;
}

static size_t slot_of(int64_t bucket)
{
    int64_t r = bucket % RING_SLOTS;

    return (size_t)(r < 0 ? r + RING_SLOTS : r);
}

static size_t slot_next(size_t slot)
{
    return slot + 1 == RING_SLOTS ? 0 : slot + 1;
}

static size_t slot_prev(size_t slot)
{
    return slot == 0 ? RING_SLOTS - 1 : slot - 1;
}

double mkt_dh_over_r(double delta_h_j_mol)
{
    return delta_h_j_mol / MKT_R_J_MOL_K;
}

/* USP <1079.2>: exp(-ΔH/(R·T)) with T = t + 273.15 K. Not guarded: a temperature at or below
 * absolute zero has no Arrhenius factor, and the rules reject temperatures outside what a probe
 * can report (docs/rules.md) before they get here. */
double mkt_factor(double temp_c, double dh_over_r)
{
    return exp(-dh_over_r / (temp_c + MKT_KELVIN));
}

/* MKT is the temperature whose factor is the mean factor m = Σw·f / Σw: m = exp(-(ΔH/R)/MKT),
 * so MKT = (ΔH/R) / -ln m. The negated tests also turn NaN sums into NaN. */
double mkt_from_sums(double sum_w, double sum_wf, double dh_over_r)
{
    if (!(sum_w > 0.0) || !(sum_wf > 0.0))
        return (double)NAN; /* glibc's NAN is a float: -Wdouble-promotion */
    return dh_over_r / -log(sum_wf / sum_w) - MKT_KELVIN;
}

/* The ring holds buckets newest - MKT_WINDOW_BUCKETS .. newest, bucket b in slot b mod
 * RING_SLOTS; every other slot's content is stale and is zeroed before the slot is reused. A
 * fresh window has newest = INT64_MIN and every slot zero: that is the same state as "the
 * newest bucket is the earliest there is and nothing was added", so no separate "empty" flag is
 * needed and even a bucket numbered INT64_MIN works. Weights are in milliseconds. */
void mkt_window_init(struct mkt_window *w, int64_t window_ms)
{
    assert(w);
    /* The caller validates the configured window; a shorter one would give bucket_ms 0. */
    assert(window_ms >= MKT_WINDOW_BUCKETS);
    if (window_ms < MKT_WINDOW_BUCKETS)
        window_ms = MKT_WINDOW_BUCKETS; /* NDEBUG builds: no division by zero later */
    memset(w, 0, sizeof(*w));
    w->window_ms = window_ms;
    w->bucket_ms = window_ms / MKT_WINDOW_BUCKETS;
    w->newest = INT64_MIN;
}

static void recompute_older(struct mkt_window *w)
{
    double sw = 0.0, swf = 0.0;
    size_t t = slot_of(w->newest);
    for (int i = 1; i < MKT_WINDOW_BUCKETS; i++) {
        t = slot_prev(t);
        sw += w->sum_w[t];
        swf += w->sum_wf[t];
    }
    w->older_w = sw;
    w->older_wf = swf;
    w->steps_since_recompute = 0;
}

/* Makes bucket `to` (> w->newest) the newest, zeroing the slots of the buckets it passes so
 * that what they held (buckets older than the ring) cannot be counted again. A reading every
 * few seconds moves by zero or one bucket, so the loop is short; a gap longer than the ring
 * clears everything at once.
 *
 * older_w/older_wf cache the buckets newest-239 .. newest-1 (mkt_window_sums() adds the newest
 * one), so a window's sums cost two additions, not 240. Moving by k buckets, the old newest
 * joins the cache and buckets old-239 .. old-240+k leave it; they are subtracted before their
 * slots are zeroed for reuse. Subtracting drifts by rounding, so once per window length the
 * cache is summed afresh. */
static void advance(struct mkt_window *w, int64_t to)
{
    uint64_t steps = distance(w->newest, to);

    if (steps >= RING_SLOTS) {
        memset(w->sum_w, 0, sizeof(w->sum_w));
        memset(w->sum_wf, 0, sizeof(w->sum_wf));
        w->newest = to;
        w->older_w = w->older_wf = 0.0;
        w->steps_since_recompute = 0;
        return;
    }
    size_t old = slot_of(w->newest);
    w->older_w += w->sum_w[old];
    w->older_wf += w->sum_wf[old];
    /* Bucket old-239 shares its slot with old+2 (the ring has 241 slots); slot arithmetic
     * cannot overflow at the ends of the int64_t range. */
    size_t leaving = slot_next(slot_next(old));
    for (uint64_t i = 0; i < steps; i++) {
        w->older_w -= w->sum_w[leaving];
        w->older_wf -= w->sum_wf[leaving];
        leaving = slot_next(leaving);
    }
    size_t s = old;
    for (uint64_t i = 0; i < steps; i++) {
        s = slot_next(s);
        w->sum_w[s] = 0.0;
        w->sum_wf[s] = 0.0;
    }
    w->newest = to;
    w->steps_since_recompute += (uint32_t)steps;
    if (w->steps_since_recompute >= MKT_WINDOW_BUCKETS)
        recompute_older(w);
}

static void add_to(struct mkt_window *w, size_t slot, int64_t weight_ms, double factor)
{
    double wt = (double)weight_ms;
    if (slot != slot_of(w->newest)) {
        /* only buckets inside newest-239..newest-1 are in the cache; newest-240 is not */
        size_t oldest = slot_of(w->newest - MKT_WINDOW_BUCKETS);
        if (slot != oldest) {
            w->older_w += wt;
            w->older_wf += wt * factor;
        }
    }

    w->sum_w[slot] += wt;
    w->sum_wf[slot] += wt * factor;
}

/* [start, end) is half-open: a value that ends exactly on a bucket boundary does not touch the
 * next bucket. Products bucket·bucket_ms are only formed for bucket starts that lie inside
 * (start, end], so they cannot overflow even at the ends of the int64_t range. */
void mkt_window_add(struct mkt_window *w, int64_t start_ms, int64_t end_ms, double factor)
{
    assert(w);
    if (end_ms <= start_ms)
        return; /* nothing held for any time: no weight */

    const int64_t bm = w->bucket_ms;
    int64_t first = floor_div(start_ms, bm);
    const int64_t last = floor_div(end_ms - 1, bm);

    if (last > w->newest)
        advance(w, last);
    /* Older than the ring: its slots now hold newer buckets, so those parts are dropped. */
    if (distance(last, w->newest) > MKT_WINDOW_BUCKETS)
        return;
    if (distance(first, w->newest) > MKT_WINDOW_BUCKETS) {
        first = w->newest - MKT_WINDOW_BUCKETS;
        start_ms = first * bm;
    }

    size_t s = slot_of(first);

    if (first == last) {
        add_to(w, s, end_ms - start_ms, factor);
        return;
    }
    add_to(w, s, (first + 1) * bm - start_ms, factor);
    for (int64_t b = first + 1; b < last; b++) {
        s = slot_next(s);
        add_to(w, s, bm, factor);
    }
    add_to(w, slot_of(last), end_ms - last * bm, factor);
}

/* Buckets now_b - MKT_WINDOW_BUCKETS + 1 .. now_b, each whole: the oldest is the oldest that
 * lies wholly in (now_ms - window_ms, now_ms]. Of those, only buckets still in the ring
 * (newest - MKT_WINDOW_BUCKETS .. newest) hold data. Counting down from the highest avoids
 * forming any bucket number below INT64_MIN. */
void mkt_window_sums(const struct mkt_window *w, int64_t now_ms, double *sum_w_out,
                     double *sum_wf_out)
{
    assert(w && sum_w_out && sum_wf_out);
    const int64_t now_b = floor_div(now_ms, w->bucket_ms);
    if (now_b == w->newest && w->newest != INT64_MIN) {
        size_t s0 = slot_of(now_b);
        *sum_w_out = w->older_w + w->sum_w[s0];
        *sum_wf_out = w->older_wf + w->sum_wf[s0];
        return;
    }
    const int64_t hi = now_b < w->newest ? now_b : w->newest;
    const uint64_t behind_now = distance(hi, now_b);
    const uint64_t behind_newest = distance(hi, w->newest);
    uint64_t n = 0;

    if (behind_now < MKT_WINDOW_BUCKETS && behind_newest <= MKT_WINDOW_BUCKETS) {
        uint64_t by_now = MKT_WINDOW_BUCKETS - behind_now;
        uint64_t by_ring = RING_SLOTS - behind_newest;
        uint64_t by_range = distance(INT64_MIN, hi) + 1; /* 0 only if that wrapped: huge */

        n = by_now < by_ring ? by_now : by_ring;
        if (by_range != 0 && by_range < n)
            n = by_range;
    }

    double sw = 0.0;
    double swf = 0.0;
    size_t s = slot_of(hi);

    for (uint64_t i = 0; i < n; i++) {
        sw += w->sum_w[s];
        swf += w->sum_wf[s];
        s = slot_prev(s);
    }
    *sum_w_out = sw;
    *sum_wf_out = swf;
}
