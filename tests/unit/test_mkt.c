/* Mean kinetic temperature (USP <1079.2>) and its rolling window. Every expected value is a
 * literal computed independently in Python 3 with plain float math, never by the code under
 * test; the comment beside it gives the expression. In those expressions
 *     K = 273.15; DHR = 83144 / 8.3144; f = lambda t: math.exp(-DHR / (t + K))
 *     mkt = lambda ts, ws: DHR / -math.log(sum(w * f(t) for t, w in zip(ts, ws)) / sum(ws)) - K
 * (mkt60 is mkt with DHR = 60000 / 8.3144). Window sums whose weights are whole milliseconds and
 * whose factors are powers of two are exact in binary floating point and compared exactly. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdint.h>

#include "cunit_main.h"
#include "mkt.h"

#define MKT_TOL_C 1e-6 /* °C */
#define SUM_REL_TOL 1e-9

#define HOUR_MS INT64_C(3600000)
#define DAY_MS (24 * HOUR_MS)

/* Relative comparison for sums of Arrhenius factors (~1e-16 each: no absolute tolerance fits). */
#define ASSERT_REL(actual, expected)                                                               \
    CU_ASSERT(fabs((actual) - (expected)) <= SUM_REL_TOL * fabs(expected))

/* Window sums at now_ms, compared exactly (see the top comment for why that is sound). */
#define ASSERT_SUMS_EXACT(w, now_ms, exp_w, exp_wf)                                                \
    do {                                                                                           \
        double sw_, swf_;                                                                          \
        mkt_window_sums((w), (now_ms), &sw_, &swf_);                                               \
        CU_ASSERT_EQUAL(sw_, (exp_w));                                                             \
        CU_ASSERT_EQUAL(swf_, (exp_wf));                                                           \
    } while (0)

static const double dhr_default = 10000.000000000002; /* 83144 / 8.3144 */

/* Plain (unwindowed) sums of equally or time-weighted readings. */
static double mkt_of(const double *temp_c, const double *weight, size_t n, double dh_over_r)
{
    double sw = 0.0;
    double swf = 0.0;

    for (size_t i = 0; i < n; i++) {
        double wt = weight ? weight[i] : 1.0;
        sw += wt;
        swf += wt * mkt_factor(temp_c[i], dh_over_r);
    }
    return mkt_from_sums(sw, swf, dh_over_r);
}

static double mean_of(const double *v, size_t n)
{
    double s = 0.0;

    for (size_t i = 0; i < n; i++)
        s += v[i];
    return s / (double)n;
}

static void test_constants_and_factor_match_usp(void)
{
    CU_ASSERT_DOUBLE_EQUAL(mkt_dh_over_r(MKT_DELTA_H_DEFAULT_J_MOL), dhr_default, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(mkt_dh_over_r(60000.0), 7216.395650918888, 1e-9); /* 60000 / 8.3144 */
    ASSERT_REL(mkt_factor(25.0, dhr_default), 2.7145116010974796e-15);       /* f(25) */
    ASSERT_REL(mkt_factor(5.0, dhr_default), 2.434002283685056e-16);         /* f(5) */
    ASSERT_REL(mkt_factor(-20.0, dhr_default), 6.988460531478679e-18);       /* f(-20) */
}

static void test_constant_temperature_is_its_own_mkt(void)
{
    static const double temps[] = {5.0, 25.0, -20.0, 0.0, 40.0};

    for (size_t i = 0; i < sizeof(temps) / sizeof(temps[0]); i++) {
        double t[4] = {temps[i], temps[i], temps[i], temps[i]};
        CU_ASSERT_DOUBLE_EQUAL(mkt_of(t, NULL, 4, dhr_default), temps[i], MKT_TOL_C);
        /* The weight scale does not matter: one hour in ms. */
        CU_ASSERT_DOUBLE_EQUAL(
            mkt_from_sums(3.6e6, 3.6e6 * mkt_factor(temps[i], dhr_default), dhr_default), temps[i],
            MKT_TOL_C);
    }
}

struct equal_weight_case {
    const char *what;
    double temps[52];
    size_t n;
    double mkt_c;
    double mean_c;
};

/* The 52 weeks are a warehouse year, generated once in Python as
 *     [round(24 + 6*math.sin(2*math.pi*(k-13)/52) + (1.5 if k % 7 == 3 else 0), 1)
 *      for k in range(52)]
 * and pasted here, so the data is fixed; the expected MKT is mkt(weeks, [1]*52). */
static const struct equal_weight_case equal_weight_cases[] = {
    {"20, 25, 30",
     {20, 25, 30},
     3,
     25.858208428104035, /* mkt([20,25,30], [1]*3) */
     25.0},
    {"2, 8, 8, 15",
     {2, 8, 8, 15},
     4,
     9.503625898600944, /* mkt([2,8,8,15], [1]*4) */
     8.25},
    {"30, 5, 5, 5",
     {30, 5, 5, 5},
     4,
     18.996342058504524, /* mkt([30,5,5,5], [1]*4) */
     11.25},
    {"52 weekly means",
     {18.0, 18.0, 18.2, 19.9, 18.7, 19.1, 19.5, 20.0, 20.6, 21.2, 23.4, 22.6, 23.3,
      24.0, 24.7, 25.4, 26.1, 28.3, 27.4, 28.0, 28.5, 28.9, 29.3, 29.6, 31.3, 30.0,
      30.0, 30.0, 29.8, 29.6, 29.3, 30.4, 28.5, 28.0, 27.4, 26.8, 26.1, 25.4, 26.2,
      24.0, 23.3, 22.6, 21.9, 21.2, 20.6, 21.5, 19.5, 19.1, 18.7, 18.4, 18.2, 18.0},
     52,
     25.15096828583114, /* mkt(weeks, [1]*52) */
     24.201923076923073 /* sum(weeks) / 52 */},
};

static void test_equal_weights_match_reference_and_exceed_mean(void)
{
    for (size_t i = 0; i < sizeof(equal_weight_cases) / sizeof(equal_weight_cases[0]); i++) {
        const struct equal_weight_case *c = &equal_weight_cases[i];
        double got = mkt_of(c->temps, NULL, c->n, dhr_default);

        CU_ASSERT_DOUBLE_EQUAL(got, c->mkt_c, MKT_TOL_C);
        CU_ASSERT_DOUBLE_EQUAL(mean_of(c->temps, c->n), c->mean_c, 1e-12);
        /* Jensen: exp(-ΔH/(R·T)) is convex in T over this range, so MKT >= mean. */
        CU_ASSERT(got >= mean_of(c->temps, c->n));
    }
}

static void test_time_weights_equal_repeated_readings(void)
{
    static const double four[] = {30.0, 5.0, 5.0, 5.0};
    static const double two[] = {30.0, 5.0};
    static const double hours_ms[] = {3.6e6, 3 * 3.6e6}; /* 1 h at 30 °C, 3 h at 5 °C */
    double weighted = mkt_of(two, hours_ms, 2, dhr_default);

    CU_ASSERT_DOUBLE_EQUAL(weighted, 18.996342058504524, MKT_TOL_C); /* mkt([30,5], [1,3]) */
    CU_ASSERT_DOUBLE_EQUAL(weighted, mkt_of(four, NULL, 4, dhr_default), 1e-9);
}

static void test_other_activation_energy(void)
{
    static const double t1[] = {2, 8, 8, 15};
    static const double t2[] = {20, 25, 30};
    double dhr60 = mkt_dh_over_r(60000.0);

    CU_ASSERT_DOUBLE_EQUAL(mkt_of(t1, NULL, 4, dhr60), 9.140037330202233, MKT_TOL_C);
    /* ^ mkt60([2,8,8,15], [1]*4) */
    CU_ASSERT_DOUBLE_EQUAL(mkt_of(t2, NULL, 3, dhr60), 25.611723023953516, MKT_TOL_C);
    /* ^ mkt60([20,25,30], [1]*3) */
    /* A lower ΔH weighs the warm readings less: the MKT moves towards the mean. */
    CU_ASSERT(mkt_of(t1, NULL, 4, dhr60) < mkt_of(t1, NULL, 4, dhr_default));
    CU_ASSERT(mkt_of(t1, NULL, 4, dhr60) >= mean_of(t1, 4));
}

static void test_empty_or_nonpositive_sums_give_nan(void)
{
    CU_ASSERT(isnan(mkt_from_sums(0.0, 0.0, dhr_default)));
    CU_ASSERT(isnan(mkt_from_sums(0.0, 1e-16, dhr_default)));
    CU_ASSERT(isnan(mkt_from_sums(-1.0, 1e-16, dhr_default)));
    CU_ASSERT(isnan(mkt_from_sums(1.0, 0.0, dhr_default)));
    CU_ASSERT(isnan(mkt_from_sums(1.0, -1e-16, dhr_default)));
    CU_ASSERT(isnan(mkt_from_sums((double)NAN, 1e-16, dhr_default)));

    struct mkt_window w;
    double sw, swf;
    mkt_window_init(&w, DAY_MS);
    mkt_window_sums(&w, 1700000000000, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 0.0);
    CU_ASSERT_EQUAL(swf, 0.0);
    CU_ASSERT(isnan(mkt_from_sums(sw, swf, dhr_default)));
}

static void test_window_init_sets_bucket_length(void)
{
    struct mkt_window w;

    mkt_window_init(&w, DAY_MS);
    CU_ASSERT_EQUAL(w.window_ms, DAY_MS);
    CU_ASSERT_EQUAL(w.bucket_ms, 360000); /* 86400000 // 240: 6 min */
    mkt_window_init(&w, MKT_WINDOW_BUCKETS);
    CU_ASSERT_EQUAL(w.bucket_ms, 1);
    mkt_window_init(&w, 1000);
    CU_ASSERT_EQUAL(w.bucket_ms, 4); /* 1000 // 240 */
}

/* Irregular readings, each holding until the next, inside one 24 h window starting at
 * 1700000000000 ms (not a bucket boundary: 1700000000000 / 360000 = 4722222.22). */
struct held {
    int64_t start_s; /* after the base */
    int64_t end_s;
    double temp_c;
};

static const struct held one_hour[] = {
    {0, 300, 4.0},     {300, 420, 4.5},   {420, 1000, 5.2},  {1000, 1337, 7.9},
    {1337, 2000, 8.3}, {2000, 2400, 6.0}, {2400, 3600, 5.1},
};

static void test_window_inside_one_window_matches_plain_sums(void)
{
    const int64_t base_ms = 1700000000000;
    const size_t n = sizeof(one_hour) / sizeof(one_hour[0]);
    struct mkt_window w;
    double plain_w = 0.0;
    double plain_wf = 0.0;

    mkt_window_init(&w, DAY_MS);
    for (size_t i = 0; i < n; i++) {
        double f = mkt_factor(one_hour[i].temp_c, dhr_default);
        int64_t start_ms = base_ms + one_hour[i].start_s * 1000;
        int64_t end_ms = base_ms + one_hour[i].end_s * 1000;
        mkt_window_add(&w, start_ms, end_ms, f);
        plain_w += (double)(end_ms - start_ms);
        plain_wf += (double)(end_ms - start_ms) * f;
    }

    double sw, swf;
    mkt_window_sums(&w, base_ms + HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 3600000.0); /* whole ms: exact */
    ASSERT_REL(swf, 1.0078503803185915e-09);
    /* ^ sum(w*f(t) for t, w in zip([4.0,4.5,5.2,7.9,8.3,6.0,5.1],
     *       [300000,120000,580000,337000,663000,400000,1200000])) */
    CU_ASSERT_EQUAL(sw, plain_w);
    ASSERT_REL(swf, plain_wf);
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 6.086863971217667, MKT_TOL_C);
    /* ^ mkt([4.0,4.5,5.2,7.9,8.3,6.0,5.1], [300000,120000,580000,337000,663000,400000,1200000]) */
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default),
                           mkt_from_sums(plain_w, plain_wf, dhr_default), 1e-9);
}

/* 24 h window (6 min buckets): 12 h at 10 °C from 0, then 24 h at 5 °C, as one interval. */
static void test_window_forgets_what_left_it(void)
{
    const double f10 = mkt_factor(10.0, dhr_default);
    const double f5 = mkt_factor(5.0, dhr_default);
    struct mkt_window w;
    double sw, swf;

    mkt_window_init(&w, DAY_MS);
    mkt_window_add(&w, 0, 12 * HOUR_MS, f10);
    mkt_window_add(&w, 12 * HOUR_MS, 36 * HOUR_MS, f5);
    CU_ASSERT_EQUAL(w.newest, 359); /* (36*3600000 - 1) // 360000 */

    /* At 36 h the buckets are 121..359 (bucket 360 starts at now and is empty): 239 × 6 min,
     * all at 5 °C. */
    mkt_window_sums(&w, 36 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 86040000.0);                     /* 239 * 360000 */
    ASSERT_REL(swf, 86040000.0 * 2.434002283685056e-16); /* 86040000 * f(5) */
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 5.0, MKT_TOL_C);

    /* One ms earlier the window is 120..359, exactly 24 h, still all 5 °C. */
    mkt_window_sums(&w, 36 * HOUR_MS - 1, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 86400000.0); /* 240 * 360000 */
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 5.0, MKT_TOL_C);

    /* 48 h: buckets 241..480, of which 241..359 hold data. */
    mkt_window_sums(&w, 48 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 42840000.0); /* (359 - 241 + 1) * 360000 */
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 5.0, MKT_TOL_C);

    /* A full window after the last data: nothing left. */
    mkt_window_sums(&w, 60 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 0.0);
    CU_ASSERT_EQUAL(swf, 0.0);
    CU_ASSERT(isnan(mkt_from_sums(sw, swf, dhr_default)));
}

/* The same story fed as it happens, looking at the window after each piece. */
static void test_window_followed_step_by_step(void)
{
    const double f10 = mkt_factor(10.0, dhr_default);
    const double f5 = mkt_factor(5.0, dhr_default);
    struct mkt_window w;
    double sw, swf;

    mkt_window_init(&w, DAY_MS);
    mkt_window_add(&w, 0, 12 * HOUR_MS, f10);
    mkt_window_sums(&w, 12 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 43200000.0);                     /* 12 h */
    ASSERT_REL(swf, 43200000.0 * 4.592349119596075e-16); /* 43200000 * f(10) */
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 10.0, MKT_TOL_C);

    mkt_window_add(&w, 12 * HOUR_MS, 24 * HOUR_MS, f5);
    /* Buckets 1..239 (now is bucket 240, still empty): 119 at 10 °C, 120 at 5 °C. */
    mkt_window_sums(&w, 24 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 86040000.0); /* 239 * 360000 */
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 7.858381304235934, MKT_TOL_C);
    /* ^ mkt([10,5], [119,120]) */

    mkt_window_add(&w, 24 * HOUR_MS, 36 * HOUR_MS, f5);
    mkt_window_sums(&w, 36 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 86040000.0);
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 5.0, MKT_TOL_C);
}

/* 240 s window, 1 s buckets; factor 0.5 so every product is exact. */
static void test_window_splits_straddling_intervals_exactly(void)
{
    struct mkt_window w;

    mkt_window_init(&w, 240000);
    mkt_window_add(&w, 1500, 3250, 0.5); /* bucket 1: 500 ms, 2: 1000 ms, 3: 250 ms */
    CU_ASSERT_EQUAL(w.newest, 3);
    ASSERT_SUMS_EXACT(&w, 1999, 500.0, 250.0);
    ASSERT_SUMS_EXACT(&w, 2999, 1500.0, 750.0);
    ASSERT_SUMS_EXACT(&w, 3000, 1750.0, 875.0);
    ASSERT_SUMS_EXACT(&w, 3999, 1750.0, 875.0);
    ASSERT_SUMS_EXACT(&w, 999, 0.0, 0.0);

    mkt_window_add(&w, 3250, 4000, 0.25); /* ends on a boundary: bucket 3 only */
    CU_ASSERT_EQUAL(w.newest, 3);
    ASSERT_SUMS_EXACT(&w, 3999, 2500.0, 1062.5); /* 1750 + 750; 875 + 750 * 0.25 */

    mkt_window_add(&w, 3999, 4001, 1.0); /* 1 ms in bucket 3, 1 ms in bucket 4 */
    CU_ASSERT_EQUAL(w.newest, 4);
    ASSERT_SUMS_EXACT(&w, 3999, 2501.0, 1063.5);
    ASSERT_SUMS_EXACT(&w, 4000, 2502.0, 1064.5);

    mkt_window_add(&w, 5000, 5000, 1.0); /* empty interval: no weight, no advance */
    mkt_window_add(&w, 6000, 5000, 1.0); /* reversed: ignored */
    CU_ASSERT_EQUAL(w.newest, 4);
    ASSERT_SUMS_EXACT(&w, 4000, 2502.0, 1064.5);
}

static void test_window_jump_longer_than_window_clears_old_data(void)
{
    struct mkt_window w;

    mkt_window_init(&w, 240000);
    mkt_window_add(&w, 0, 10000, 0.5);            /* buckets 0..9 */
    mkt_window_add(&w, 1000000, 1001000, 0.0625); /* bucket 1000 */
    ASSERT_SUMS_EXACT(&w, 1000999, 1000.0, 62.5);
    ASSERT_SUMS_EXACT(&w, 999999, 0.0, 0.0);

    /* Nothing stale anywhere in the ring. */
    double ring_w = 0.0;
    for (size_t i = 0; i < MKT_WINDOW_BUCKETS + 1; i++)
        ring_w += w.sum_w[i];
    CU_ASSERT_EQUAL(ring_w, 1000.0);
}

/* A forward move shorter than the ring clears the slots it passes. Bucket 241 reuses bucket 0's
 * slot (241 mod 241). */
static void test_window_reused_slot_starts_empty(void)
{
    struct mkt_window w;

    /* Exactly one ring ahead. */
    mkt_window_init(&w, 240000);
    mkt_window_add(&w, 0, 1000, 0.5);
    mkt_window_add(&w, 241000, 242000, 0.25);
    ASSERT_SUMS_EXACT(&w, 241999, 1000.0, 250.0);

    /* Two steps: 0 → 100 → 241; the second step passes slot 0. */
    mkt_window_init(&w, 240000);
    mkt_window_add(&w, 0, 1000, 0.5);
    mkt_window_add(&w, 100000, 101000, 0.25);
    ASSERT_SUMS_EXACT(&w, 100999, 2000.0, 750.0);
    mkt_window_add(&w, 241000, 242000, 0.125);
    ASSERT_SUMS_EXACT(&w, 241999, 2000.0, 375.0); /* buckets 100 and 241 */

    /* 240 ahead: bucket 0 is still in the ring but out of the window that ends at 240. */
    mkt_window_init(&w, 240000);
    mkt_window_add(&w, 0, 1000, 0.5);
    mkt_window_add(&w, 240000, 241000, 0.25);
    ASSERT_SUMS_EXACT(&w, 240999, 1000.0, 250.0);
    ASSERT_SUMS_EXACT(&w, 239999, 1000.0, 500.0); /* window 0..239 */
}

static void test_window_drops_data_older_than_the_ring(void)
{
    struct mkt_window w;

    mkt_window_init(&w, 240000);
    mkt_window_add(&w, 0, 10000, 0.5);        /* buckets 0..9 */
    mkt_window_add(&w, 200000, 201000, 0.25); /* bucket 200 */
    ASSERT_SUMS_EXACT(&w, 200999, 11000.0, 5250.0);
    mkt_window_add(&w, 245000, 246000, 0.125);     /* bucket 245: the ring is 5..245 */
    ASSERT_SUMS_EXACT(&w, 245999, 6000.0, 2375.0); /* 6..9, 200, 245 */
    ASSERT_SUMS_EXACT(&w, 244999, 6000.0, 2750.0); /* 5..9, 200 */

    mkt_window_add(&w, 0, 1000, 1.0); /* bucket 0: gone, dropped */
    ASSERT_SUMS_EXACT(&w, 245999, 6000.0, 2375.0);
    ASSERT_SUMS_EXACT(&w, 244999, 6000.0, 2750.0);

    mkt_window_add(&w, 3000, 7000, 1.0); /* buckets 3..6: only 5 and 6 are kept */
    ASSERT_SUMS_EXACT(&w, 245999, 7000.0, 3375.0);
    ASSERT_SUMS_EXACT(&w, 244999, 8000.0, 4750.0);

    mkt_window_add(&w, 100000, 100500, 0.5); /* late but inside the window: kept */
    ASSERT_SUMS_EXACT(&w, 245999, 7500.0, 3625.0);
    CU_ASSERT_EQUAL(w.newest, 245);
}

/* Bucket numbers round down: -2500 ms is in bucket -3 ([-3000, -2000)), not -2. */
static void test_window_negative_timestamps_floor(void)
{
    struct mkt_window w;

    mkt_window_init(&w, 240000);
    mkt_window_add(&w, -2500, -500, 0.5); /* bucket -3: 500, -2: 1000, -1: 500 */
    CU_ASSERT_EQUAL(w.newest, -1);
    ASSERT_SUMS_EXACT(&w, -1, 2000.0, 1000.0);
    ASSERT_SUMS_EXACT(&w, -1001, 1500.0, 750.0);
    ASSERT_SUMS_EXACT(&w, -2001, 500.0, 250.0);
    ASSERT_SUMS_EXACT(&w, -3001, 0.0, 0.0);

    mkt_window_add(&w, -500, 500, 0.25); /* across zero: bucket -1: 500, 0: 500 */
    CU_ASSERT_EQUAL(w.newest, 0);
    ASSERT_SUMS_EXACT(&w, 0, 3000.0, 1250.0);
    ASSERT_SUMS_EXACT(&w, -1, 2500.0, 1125.0);
}

/* 1969-07-20T20:17:40Z is -14182940000 ms (Python: datetime(...).timestamp() * 1000). */
static void test_window_before_1970(void)
{
    const int64_t t0 = -14182940000;
    struct mkt_window w;
    double sw, swf;

    mkt_window_init(&w, DAY_MS);
    mkt_window_add(&w, t0, t0 + HOUR_MS, mkt_factor(2.0, dhr_default));
    mkt_window_add(&w, t0 + HOUR_MS, t0 + 2 * HOUR_MS, mkt_factor(8.0, dhr_default));
    mkt_window_sums(&w, t0 + 2 * HOUR_MS, &sw, &swf);
    CU_ASSERT_EQUAL(sw, 7200000.0);
    CU_ASSERT_DOUBLE_EQUAL(mkt_from_sums(sw, swf, dhr_default), 5.536424508866332, MKT_TOL_C);
    /* ^ mkt([2,8], [1,1]) */
}

/* The ends of int64_t: no overflow (UBSan watches), and the arithmetic still holds. */
static void test_window_extreme_timestamps(void)
{
    struct mkt_window w;

    mkt_window_init(&w, MKT_WINDOW_BUCKETS); /* 1 ms buckets */
    mkt_window_add(&w, INT64_MIN, INT64_MIN + 1000, 0.5);
    CU_ASSERT_EQUAL(w.newest, INT64_MIN + 999);
    ASSERT_SUMS_EXACT(&w, INT64_MIN + 999, 240.0, 120.0);
    ASSERT_SUMS_EXACT(&w, INT64_MIN, 0.0, 0.0);
    ASSERT_SUMS_EXACT(&w, INT64_MAX, 0.0, 0.0);

    mkt_window_init(&w, MKT_WINDOW_BUCKETS);
    mkt_window_add(&w, INT64_MIN, INT64_MAX, 0.5);
    CU_ASSERT_EQUAL(w.newest, INT64_MAX - 1);
    ASSERT_SUMS_EXACT(&w, INT64_MAX - 1, 240.0, 120.0);
    ASSERT_SUMS_EXACT(&w, INT64_MAX, 239.0, 119.5);
    ASSERT_SUMS_EXACT(&w, INT64_MIN, 0.0, 0.0);

    /* 6 min buckets: bucket INT64_MIN // 360000 = -25620477880153 starts before INT64_MIN, so
     * the first interval covers only its last 55808 ms. */
    mkt_window_init(&w, DAY_MS);
    mkt_window_add(&w, INT64_MIN, INT64_MIN + HOUR_MS, 0.5);
    CU_ASSERT_EQUAL(w.newest, -25620477880143); /* (-2**63 + 3600000 - 1) // 360000 */
    ASSERT_SUMS_EXACT(&w, INT64_MIN + HOUR_MS - 1, 3600000.0, 1800000.0);
    ASSERT_SUMS_EXACT(&w, INT64_MIN + 55807, 55808.0, 27904.0);

    mkt_window_init(&w, DAY_MS);
    mkt_window_add(&w, INT64_MAX - HOUR_MS, INT64_MAX, 0.5);
    ASSERT_SUMS_EXACT(&w, INT64_MAX, 3600000.0, 1800000.0);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("mkt", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "ΔH/R and the Arrhenius factor", test_constants_and_factor_match_usp);
    CU_add_test(s, "a constant temperature is its own MKT",
                test_constant_temperature_is_its_own_mkt);
    CU_add_test(s, "equal weights match the reference and are >= the mean",
                test_equal_weights_match_reference_and_exceed_mean);
    CU_add_test(s, "time weights equal repeated readings",
                test_time_weights_equal_repeated_readings);
    CU_add_test(s, "another activation energy", test_other_activation_energy);
    CU_add_test(s, "empty or non-positive sums give NaN", test_empty_or_nonpositive_sums_give_nan);
    CU_add_test(s, "window init sets the bucket length", test_window_init_sets_bucket_length);
    CU_add_test(s, "a window holding everything matches the plain sums",
                test_window_inside_one_window_matches_plain_sums);
    CU_add_test(s, "the window forgets what left it", test_window_forgets_what_left_it);
    CU_add_test(s, "the window followed step by step", test_window_followed_step_by_step);
    CU_add_test(s, "intervals straddling buckets are split exactly",
                test_window_splits_straddling_intervals_exactly);
    CU_add_test(s, "a jump longer than the window clears old data",
                test_window_jump_longer_than_window_clears_old_data);
    CU_add_test(s, "a reused ring slot starts empty", test_window_reused_slot_starts_empty);
    CU_add_test(s, "data older than the ring is dropped",
                test_window_drops_data_older_than_the_ring);
    CU_add_test(s, "negative timestamps round down", test_window_negative_timestamps_floor);
    CU_add_test(s, "timestamps before 1970", test_window_before_1970);
    CU_add_test(s, "the ends of int64_t", test_window_extreme_timestamps);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
