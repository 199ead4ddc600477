/* Mean kinetic temperature (USP <1079.2>): the single temperature that would give the same total
 * degradation as the temperatures observed, weighting by the Arrhenius factor:
 *
 *     MKT = (ΔH/R) / -ln( Σ w_i·exp(-ΔH/(R·T_i)) / Σ w_i )      (T in kelvin)
 *
 * with ΔH = 83.144 kJ/mol and R = 8.3144 J/(mol·K) by default, so ΔH/R = 10 000 K. Weights are
 * time: each reading weighs how long its value held (docs/rules.md); for evenly spaced readings
 * this is exactly the USP formula over all n readings. A rolling window keeps time buckets, so
 * memory is bounded however long the window. Pure; any thread, no shared state. */
#ifndef COLDCHAIN_MKT_H
#define COLDCHAIN_MKT_H

#include <stddef.h>
#include <stdint.h>

#define MKT_DELTA_H_DEFAULT_J_MOL 83144.0 /* USP <1079.2> */
#define MKT_R_J_MOL_K 8.3144              /* the value USP uses, so ΔH/R is 10 000 K */
#define MKT_KELVIN 273.15
#define MKT_WINDOW_BUCKETS 240            /* a window's resolution: 1/240 of its length */

/* ΔH/R in kelvin for an activation energy in J/mol. */
double mkt_dh_over_r(double delta_h_j_mol);

/* The Arrhenius factor exp(-ΔH/(R·T)) of a temperature in °C. */
double mkt_factor(double temp_c, double dh_over_r);

/* MKT in °C from the sums Σw and Σw·factor; NaN when sum_w <= 0 or the sum is not positive. */
double mkt_from_sums(double sum_w, double sum_wf, double dh_over_r);

/* Σw (weights in ms) and Σw·factor over time buckets of window_ms / MKT_WINDOW_BUCKETS. */
struct mkt_window {
    int64_t window_ms;
    int64_t bucket_ms;
    int64_t newest;                      /* number (ts / bucket_ms) of the newest bucket used */
    double sum_w[MKT_WINDOW_BUCKETS + 1];
    double sum_wf[MKT_WINDOW_BUCKETS + 1];
    double older_w, older_wf; /* cache: buckets newest-MKT_WINDOW_BUCKETS+1 .. newest-1 */
    uint32_t steps_since_recompute;
};

/* Empties w for a window of window_ms (>= MKT_WINDOW_BUCKETS ms). */
void mkt_window_init(struct mkt_window *w, int64_t window_ms);

/* Adds a value held from start_ms to end_ms (end > start), split over the buckets it spans in
 * proportion to the time it spent in each. Intervals must not go back before what was added
 * last by more than the window; older parts are dropped. */
void mkt_window_add(struct mkt_window *w, int64_t start_ms, int64_t end_ms, double factor);

/* Sums over the window that ends at now_ms (the buckets whose time lies in
 * (now_ms - window_ms, now_ms], the oldest one whole). */
void mkt_window_sums(const struct mkt_window *w, int64_t now_ms, double *sum_w_out,
                     double *sum_wf_out);

#endif
