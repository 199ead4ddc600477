/* The shipment report as one HTML file (report.h). The charts are drawn from a min/max per
 * column of the plot: however many readings fall into a column, its lowest and highest are
 * drawn, so a one-minute spike in a month-long chart is never averaged or sampled away. */
#include "report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "ctlfmt.h"
#include "version.h"

/* The SVG's coordinate system: the plot area is REPORT_CHART_COLUMNS wide, one unit per column,
 * with room for the °C labels on the left and the limits' names on the right. */
#define PLOT_LEFT 64.0
#define PLOT_TOP 12.0
#define PLOT_HEIGHT 240.0
#define SVG_WIDTH (PLOT_LEFT + REPORT_CHART_COLUMNS + 120.0)
#define SVG_HEIGHT (PLOT_TOP + PLOT_HEIGHT + 40.0)

/* Readings further apart than this are not joined by the line: the chart shows the gap. The
 * rules' own hold without a stale alarm (docs/rules.md "Time"). */
#define GAP_MS RULES_HOLD_DEFAULT_MS

/* The narrowest shading of an excursion, in columns. */
#define EXCURSION_MIN_WIDTH 4.0

enum column_flag {
    COL_HIGH = 1u << 0,  /* a reading beyond an upper limit (above, at or above) */
    COL_LOW = 1u << 1,   /* a reading beyond a lower limit (below, at or below) */
    COL_FAULT = 1u << 2, /* a reading that was a fault */
};

struct column {
    double min, max;
    uint32_t count; /* valid temperature readings */
    uint8_t flags;  /* enum column_flag */
};

struct probe {
    char id[READING_SENSOR_ID_MAX];
    struct column col[REPORT_CHART_COLUMNS];
    double min, max; /* over every valid reading */
    uint64_t count, faults;
};

struct chart {
    int64_t t0_ms, t1_ms; /* the time axis: the shipment's start to its end (or last reading) */
    struct probe *probes;
    size_t probe_count;
    const struct alarm_def *const *limits; /* temperature limits of the profile */
    size_t limit_count;
};

/* ---- escaping ------------------------------------------------------------------------------ */

/* Writes s with every character that means something in HTML (text or attribute) escaped:
 * sensor names, comments and ids come from people and must stay text. */
static void esc(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*s, out);
        }
    }
}

/* ---- the pass over the readings ------------------------------------------------------------ */

/* Above or at or above: an upper limit. */
static bool limit_is_high(const struct alarm_def *def)
{
    return def->condition == ALARM_ABOVE || def->condition == ALARM_AT_OR_ABOVE;
}

static int chart_row(void *arg, const struct histdb_reading *row)
{
    struct chart *c = arg;
    const struct reading *r = &row->r;
    if (r->quantity != QUANTITY_TEMPERATURE || r->ts_ms < c->t0_ms || r->ts_ms > c->t1_ms)
        return 0;
    struct probe *p = NULL;
    for (size_t i = 0; i < c->probe_count && p == NULL; i++) {
        if (strcmp(c->probes[i].id, r->sensor_id) == 0)
            p = &c->probes[i];
    }
    if (p == NULL)
        return 0;
    int64_t span = c->t1_ms - c->t0_ms;
    size_t x = span > 0
                   ? (size_t)((double)(r->ts_ms - c->t0_ms) / (double)span * REPORT_CHART_COLUMNS)
                   : 0;
    if (x >= REPORT_CHART_COLUMNS)
        x = REPORT_CHART_COLUMNS - 1;
    struct column *col = &p->col[x];
    if ((r->flags & READING_FAULT) || !isfinite(r->value)) {
        col->flags |= COL_FAULT;
        p->faults++;
        return 0;
    }
    double v = r->value;
    if (col->count == 0 || v < col->min)
        col->min = v;
    if (col->count == 0 || v > col->max)
        col->max = v;
    col->count++;
    if (p->count == 0 || v < p->min)
        p->min = v;
    if (p->count == 0 || v > p->max)
        p->max = v;
    p->count++;
    for (size_t i = 0; i < c->limit_count; i++) {
        const struct alarm_def *def = c->limits[i];
        if (alarm_condition_met(def, v))
            col->flags |= limit_is_high(def) ? COL_HIGH : COL_LOW;
    }
    return 0;
}

/* ---- axes ---------------------------------------------------------------------------------- */

/* A step of 1, 2 or 5 times a power of ten giving about `ticks` ticks over span. */
static double nice_step(double span, int ticks)
{
    double raw = span / ticks;
    double p = pow(10.0, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1.0 : m < 3.5 ? 2.0 : m < 7.5 ? 5.0 : 10.0) * p;
}

static int64_t time_step_ms(int64_t span_ms)
{
    static const int64_t steps[] = {
        60000,    300000,   900000,   1800000,   3600000,   7200000,    10800000,
        21600000, 43200000, 86400000, 172800000, 604800000, 1209600000, 2592000000,
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        if (span_ms / steps[i] <= 10)
            return steps[i];
    }
    return steps[sizeof(steps) / sizeof(steps[0]) - 1];
}

static double x_of(const struct chart *c, int64_t ts_ms)
{
    int64_t span = c->t1_ms - c->t0_ms;
    return PLOT_LEFT +
           (span > 0 ? (double)(ts_ms - c->t0_ms) / (double)span : 0.0) * REPORT_CHART_COLUMNS;
}

struct yaxis {
    double lo, hi;
};

static double y_of(const struct yaxis *y, double v)
{
    return PLOT_TOP + (y->hi - v) / (y->hi - y->lo) * PLOT_HEIGHT;
}

/* "11-22 18:00" for steps under a day, "11-22" from a day up; UTC like every time here. */
static void tick_label(int64_t ts_ms, int64_t step_ms, char *buf, size_t cap)
{
    char full[CTLFMT_TIME_MAX];
    ctlfmt_time(ts_ms, full, sizeof(full));
    if (step_ms >= 86400000)
        snprintf(buf, cap, "%.5s", full + 5);
    else
        snprintf(buf, cap, "%.5s %.5s", full + 5, full + 11);
}

/* ---- one chart ----------------------------------------------------------------------------- */

static void write_chart(FILE *out, const struct chart *c, const struct probe *p, const char *name)
{
    struct yaxis y = {.lo = p->count ? p->min : 0.0, .hi = p->count ? p->max : 10.0};
    for (size_t i = 0; i < c->limit_count; i++) {
        y.lo = fmin(y.lo, c->limits[i]->limit);
        y.hi = fmax(y.hi, c->limits[i]->limit);
    }
    double pad = fmax((y.hi - y.lo) * 0.08, 0.5);
    y.lo -= pad;
    y.hi += pad;
    double ystep = nice_step(y.hi - y.lo, 6);
    y.lo = floor(y.lo / ystep) * ystep;
    y.hi = ceil(y.hi / ystep) * ystep;

    fprintf(out, "<figure class=\"probe\" id=\"chart-");
    esc(out, p->id);
    fprintf(out, "\"><figcaption><b>");
    esc(out, p->id);
    fprintf(out, "</b>");
    if (strcmp(name, p->id) != 0) {
        fputs(" — ", out);
        esc(out, name);
    }
    fprintf(out,
            "</figcaption>\n<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f "
            "%.0f\" role=\"img\" aria-label=\"temperature of ",
            SVG_WIDTH, SVG_HEIGHT);
    esc(out, p->id);
    fprintf(out, "\">\n<rect class=\"plot\" x=\"%.1f\" y=\"%.1f\" width=\"%d\" height=\"%.1f\"/>\n",
            PLOT_LEFT, PLOT_TOP, REPORT_CHART_COLUMNS, PLOT_HEIGHT);

    /* Excursions: every column with a reading beyond a limit, shaded over the plot's height. */
    for (size_t x = 0; x < REPORT_CHART_COLUMNS;) {
        uint8_t f = p->col[x].flags & (COL_HIGH | COL_LOW);
        if (f == 0) {
            x++;
            continue;
        }
        size_t end = x;
        while (end < REPORT_CHART_COLUMNS && (p->col[end].flags & (COL_HIGH | COL_LOW)) == f)
            end++;
        /* At least EXCURSION_MIN_WIDTH wide, centred: a quarter of an hour in a month is one
         * column, and must still catch the eye. */
        double w = (double)(end - x), x0 = (double)x;
        if (w < EXCURSION_MIN_WIDTH) {
            x0 -= (EXCURSION_MIN_WIDTH - w) / 2;
            w = EXCURSION_MIN_WIDTH;
        }
        fprintf(out,
                "<rect class=\"excursion %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                "height=\"%.1f\"/>\n",
                f == COL_HIGH  ? "high"
                : f == COL_LOW ? "low"
                               : "high low",
                PLOT_LEFT + x0, PLOT_TOP, w, PLOT_HEIGHT);
        x = end;
    }

    /* °C grid and labels. */
    for (double v = y.lo; v <= y.hi + ystep / 2; v += ystep) {
        double yy = y_of(&y, v);
        char label[32];
        snprintf(label, sizeof(label), "%.*f", ystep < 1.0 ? (ystep < 0.1 ? 2 : 1) : 0,
                 fabs(v) < ystep / 1e6 ? 0.0 : v);
        fprintf(out,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"ylabel\" x=\"%.1f\" y=\"%.1f\">%s °C</text>\n",
                PLOT_LEFT, yy, PLOT_LEFT + REPORT_CHART_COLUMNS, yy, PLOT_LEFT - 6, yy + 4, label);
    }
    /* Time ticks, on whole steps of UTC. */
    int64_t tstep = time_step_ms(c->t1_ms - c->t0_ms);
    int64_t t = (c->t0_ms / tstep + (c->t0_ms % tstep != 0)) * tstep;
    for (; t <= c->t1_ms; t += tstep) {
        char label[32];
        double xx = x_of(c, t);
        tick_label(t, tstep, label, sizeof(label));
        fprintf(out,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text class=\"xlabel\" x=\"%.1f\" y=\"%.1f\">%s</text>\n",
                xx, PLOT_TOP, xx, PLOT_TOP + PLOT_HEIGHT + 4, xx, PLOT_TOP + PLOT_HEIGHT + 18,
                label);
    }

    /* The limits, each a dashed line with its value and the alarms that use it at the right
     * (heat and a budget on the same 8 °C share one line). */
    for (size_t i = 0; i < c->limit_count; i++) {
        const struct alarm_def *def = c->limits[i];
        bool high = limit_is_high(def);
        size_t first = 0;
        while (first < i &&
               !(c->limits[first]->limit == def->limit && limit_is_high(c->limits[first]) == high))
            first++;
        if (first < i)
            continue; /* drawn with an earlier one */
        char lim[CTLFMT_EXACT_MAX];
        double yy = y_of(&y, def->limit);
        fprintf(out, "<line class=\"limit %s\" data-alarm=\"", high ? "high" : "low");
        for (size_t k = i, n = 0; k < c->limit_count; k++) {
            if (c->limits[k]->limit == def->limit && limit_is_high(c->limits[k]) == high) {
                fputs(n++ ? " " : "", out);
                esc(out, c->limits[k]->id);
            }
        }
        fprintf(out, "\" data-limit=\"%s\" x1=\"%.1f\" y1=\"%.2f\" x2=\"%.1f\" y2=\"%.2f\"/>",
                ctlfmt_exact(def->limit, lim, sizeof(lim)), PLOT_LEFT, yy,
                PLOT_LEFT + REPORT_CHART_COLUMNS, yy);
        fprintf(out, "<text class=\"limitlabel\" x=\"%.1f\" y=\"%.2f\">%s °C ",
                PLOT_LEFT + REPORT_CHART_COLUMNS + 4, yy + 4, lim);
        for (size_t k = i, n = 0; k < c->limit_count; k++) {
            if (c->limits[k]->limit == def->limit && limit_is_high(c->limits[k]) == high) {
                fputs(n++ ? ", " : "", out);
                esc(out, c->limits[k]->id);
            }
        }
        fputs("</text>\n", out);
    }

    /* The trace: per column a stroke from its min to its max, joined to the next column with
     * readings unless the readings are further apart than GAP_MS. */
    double col_ms = (double)(c->t1_ms - c->t0_ms) / REPORT_CHART_COLUMNS;
    fputs("<path class=\"trace\" d=\"", out);
    long prev = -1;
    for (size_t x = 0; x < REPORT_CHART_COLUMNS; x++) {
        const struct column *col = &p->col[x];
        if (col->count == 0)
            continue;
        bool join = prev >= 0 && (double)((long)x - prev - 1) * col_ms <= (double)GAP_MS;
        double xx = PLOT_LEFT + (double)x + 0.5;
        fprintf(out, "%s%.1f %.2f", join ? "L" : "M", xx, y_of(&y, col->max));
        if (col->min != col->max)
            fprintf(out, "L%.1f %.2f", xx, y_of(&y, col->min));
        prev = (long)x;
    }
    fputs("\"/>\n", out);

    /* Faults: a grey tick under the plot where the probe could not be read. */
    for (size_t x = 0; x < REPORT_CHART_COLUMNS; x++) {
        if (p->col[x].flags & COL_FAULT)
            fprintf(out, "<rect class=\"fault\" x=\"%.1f\" y=\"%.1f\" width=\"1\" height=\"4\"/>",
                    PLOT_LEFT + (double)x, PLOT_TOP + PLOT_HEIGHT);
    }
    fputs("\n</svg></figure>\n", out);
}

/* ---- the document -------------------------------------------------------------------------- */

static const char css[] =
    "body{font:14px/1.45 \"DejaVu Sans\",Arial,sans-serif;color:#111;margin:24px auto;"
    "max-width:1180px;padding:0 16px}\n"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:24px 0 8px;"
    "border-bottom:1px solid #999}\n"
    "table{border-collapse:collapse;margin:4px 0}th,td{border:1px solid #bbb;padding:3px 7px;"
    "vertical-align:top}th{background:#eee;text-align:left}td:first-child{white-space:nowrap}"
    "td.n{text-align:right;white-space:nowrap;"
    "font-variant-numeric:tabular-nums}\n"
    ".meta{color:#333}.findings li{margin:2px 0}.bad{color:#a00;font-weight:bold}"
    ".ok{color:#060;font-weight:bold}\n"
    "figure{margin:8px 0 16px;break-inside:avoid;page-break-inside:avoid}"
    "figcaption{margin-bottom:2px}\n"
    "svg{width:100%;height:auto;display:block}\n"
    "svg .plot{fill:#fff;stroke:#666;stroke-width:1}svg .grid{stroke:#ddd;stroke-width:.6}\n"
    "svg .excursion.high{fill:#f6c6c6}svg .excursion.low{fill:#c6d8f6}"
    "svg .excursion.high.low{fill:#e0c6f6}\n"
    "svg .limit{stroke-width:1.4;stroke-dasharray:7 4}svg .limit.high{stroke:#c00}"
    "svg .limit.low{stroke:#0050c0}\n"
    "svg .trace{fill:none;stroke:#111;stroke-width:1.1;stroke-linejoin:round}"
    "svg .fault{fill:#888}\n"
    "svg text{font:12px \"DejaVu Sans\",Arial,sans-serif;fill:#333}"
    "svg .ylabel{text-anchor:end}svg .xlabel{text-anchor:middle}\n"
    "code,.hash{font-family:\"DejaVu Sans Mono\",monospace;word-break:break-all}\n"
    "footer{margin-top:24px;color:#555;font-size:12px}\n"
    "@media print{@page{size:A4 landscape;margin:12mm}body{margin:0;max-width:none;padding:0;"
    "font-size:11px}h2{break-after:avoid;page-break-after:avoid}tr{break-inside:avoid}"
    "th{background:#eee;-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    "svg .excursion{-webkit-print-color-adjust:exact;print-color-adjust:exact}}\n";

static void write_time_cell(FILE *out, int64_t ts_ms)
{
    char t[CTLFMT_TIME_MAX];
    if (ts_ms == 0)
        fputs("<td>—</td>", out);
    else
        fprintf(out, "<td>%s</td>", ctlfmt_time(ts_ms, t, sizeof(t)));
}

static void write_num_cell(FILE *out, double v, bool exact)
{
    char buf[CTLFMT_EXACT_MAX];
    if (!isfinite(v))
        fputs("<td class=\"n\">—</td>", out);
    else if (exact)
        fprintf(out, "<td class=\"n\">%s</td>", ctlfmt_exact(v, buf, sizeof(buf)));
    else
        fprintf(out, "<td class=\"n\">%.2f</td>", v);
}

static void write_identity(FILE *out, const struct shipview *v)
{
    const struct histdb_shipment *s = &v->shipment;
    char t1[CTLFMT_TIME_MAX], t2[CTLFMT_TIME_MAX], d[CTLFMT_DURATION_MAX];
    fputs("<header><h1>Shipment <span id=\"shipment-id\">", out);
    esc(out, s->id);
    fputs("</span></h1>\n<p class=\"meta\">", out);
    if (v->description[0]) {
        esc(out, v->description);
        fputs("<br>", out);
    }
    fputs("Kind: ", out);
    esc(out, s->kind);
    fputs(" · profile <b>", out);
    esc(out, s->profile);
    fprintf(out, "</b> · started %s", ctlfmt_time(s->started_ms, t1, sizeof(t1)));
    if (v->started_by[0]) {
        fputs(" (", out);
        esc(out, v->started_by);
        fputs(")", out);
    }
    if (s->ended_ms != 0) {
        fprintf(out, " · ended %s (%s)", ctlfmt_time(s->ended_ms, t2, sizeof(t2)),
                ctlfmt_duration(s->ended_ms - s->started_ms, d, sizeof(d)));
        if (v->ended_by[0]) {
            fputs(" by <b>", out);
            esc(out, v->ended_by);
            fputs("</b>", out);
        }
        if (v->end_comment[0]) {
            fputs(": <q class=\"comment\">", out);
            esc(out, v->end_comment);
            fputs("</q>", out);
        }
    } else {
        fprintf(out, " · still running: figures as of the latest reading, %s",
                v->rows ? ctlfmt_time(v->last_ms, t2, sizeof(t2)) : "none yet");
    }
    fprintf(out, "<br>%" PRIu64 " readings from %zu sensor assignment%s:", v->rows, v->window_count,
            v->window_count == 1 ? "" : "s");
    for (size_t i = 0; i < v->window_count; i++) {
        const struct histdb_window *w = &v->windows[i];
        const char *name = shipview_sensor_name(v, w->sensor_id);
        fputs(i ? ", " : " ", out);
        esc(out, w->sensor_id);
        if (strcmp(name, w->sensor_id) != 0) {
            fputs(" (", out);
            esc(out, name);
            fputs(")", out);
        }
    }
    fputs("</p></header>\n", out);
}

static void write_finding(void *arg, const char *sentence)
{
    FILE *out = arg;
    fputs("<li>", out);
    esc(out, sentence);
    fputs("</li>\n", out);
}

static void write_limits(FILE *out, const struct shipview *v)
{
    const struct config_profile *p = shipsum_profile(v->sum);
    fputs("<section id=\"limits\"><h2>Profile and limits</h2>\n", out);
    if (p == NULL) {
        fputs("<p>The profile <b>", out);
        esc(out, v->shipment.profile);
        fputs("</b> is neither in the configuration given nor a built-in preset: its limits "
              "cannot be shown.</p></section>\n",
              out);
        return;
    }
    if (p->description[0]) {
        fputs("<p>", out);
        esc(out, p->description);
        fputs("</p>\n", out);
    }
    fputs("<table><tr><th>Alarm</th><th>Severity</th><th>Raised when</th><th>Meaning</th></tr>\n",
          out);
    for (size_t a = 0; a < p->alarm_count; a++) {
        const struct alarm_def *def = &p->alarms[a];
        char rule[160];
        fputs("<tr><td>", out);
        esc(out, def->id);
        fprintf(out, "</td><td>%s</td><td>", alarm_severity_name(def->severity));
        esc(out, ctlfmt_alarm_rule(def, rule, sizeof(rule)));
        fputs("</td><td>", out);
        esc(out, def->message);
        fputs("</td></tr>\n", out);
    }
    fputs("</table></section>\n", out);
}

static void write_summary(FILE *out, const struct shipview *v)
{
    struct rules *rules = shipsum_rules(v->sum);
    fputs("<section id=\"summary\"><h2>Summary per probe (temperature)</h2>\n", out);
    if (rules == NULL) {
        fputs("<p>No sensors.</p></section>\n", out);
        return;
    }
    size_t nsens = rules_sensor_count(rules, 0), nal = rules_alarm_count(rules, 0);
    fputs("<p>Mean: time-weighted. MKT: mean kinetic temperature, USP &lt;1079.2&gt;, "
          "ΔH = 83.144 kJ/mol. Time beyond a limit: the time the held readings were beyond "
          "it (docs/rules.md).</p>\n",
          out);
    fputs("<table id=\"summary-table\"><tr><th>Probe</th><th>Readings</th><th>Faults</th>"
          "<th>Min °C</th><th>Max °C</th><th>Mean °C</th><th>MKT °C</th>",
          out);
    for (size_t a = 0; a < nal; a++) {
        const struct alarm_def *def = rules_alarm_def(rules, 0, a);
        if (def->quantity != QUANTITY_TEMPERATURE || !shipsum_alarm_has_limit(def))
            continue;
        char lim[CTLFMT_EXACT_MAX];
        if (!shipsum_alarm_repeats_limit(rules, a)) {
            fputs("<th>Beyond ", out);
            esc(out, def->id);
            fprintf(out, " (%s %s °C)</th>", ctlfmt_condition(def->condition),
                    ctlfmt_exact(def->limit, lim, sizeof(lim)));
        }
        if (def->kind == ALARM_KIND_BUDGET) {
            fputs("<th>Budget ", out);
            esc(out, def->id);
            fputs(" used</th>", out);
        }
    }
    fputs("</tr>\n", out);
    for (size_t k = 0; k < nsens; k++) {
        const struct rules_summary *s = rules_summary(rules, 0, k, QUANTITY_TEMPERATURE);
        const char *id = rules_sensor_id(rules, 0, k);
        fprintf(out, "<tr data-sensor=\"");
        esc(out, id);
        fputs("\"><td>", out);
        esc(out, id);
        fprintf(out, "</td><td class=\"n\">%" PRIu64 "</td><td class=\"n\">%" PRIu64 "</td>",
                s->count, s->fault_count);
        write_num_cell(out, s->min, true);
        write_num_cell(out, s->max, true);
        write_num_cell(out, s->mean, false);
        write_num_cell(out, s->mkt_c, false);
        for (size_t a = 0; a < nal; a++) {
            const struct alarm_def *def = rules_alarm_def(rules, 0, a);
            if (def->quantity != QUANTITY_TEMPERATURE || !shipsum_alarm_has_limit(def))
                continue;
            char d[CTLFMT_DURATION_MAX], b[CTLFMT_DURATION_MAX];
            const struct alarm_instance *inst = rules_instance(rules, 0, a, k);
            if (!shipsum_alarm_repeats_limit(rules, a))
                fprintf(out, "<td class=\"n\">%s</td>",
                        ctlfmt_duration(inst->beyond_ms, d, sizeof(d)));
            if (def->kind == ALARM_KIND_BUDGET) {
                int64_t used = shipsum_budget_used_ms(v->sum, a, k);
                fprintf(out, "<td class=\"n%s\">%s of %s (%.0f %%)</td>",
                        used >= def->budget_ms ? " bad" : "", ctlfmt_duration(used, d, sizeof(d)),
                        ctlfmt_duration(def->budget_ms, b, sizeof(b)),
                        def->budget_ms > 0 ? 100.0 * (double)used / (double)def->budget_ms : 0.0);
            }
        }
        fputs("</tr>\n", out);
    }
    fputs("</table></section>\n", out);
}

static void write_alarms(FILE *out, const struct shipview *v)
{
    const struct alarmlog *log = &v->alarms;
    fputs("<section id=\"alarms\"><h2>Alarm log</h2>\n", out);
    if (log->count == 0) {
        fputs("<p>No alarm was raised.</p></section>\n", out);
        return;
    }
    fputs("<table id=\"alarm-log\"><tr><th>Raised</th><th>Alarm</th><th>Probe</th>"
          "<th>Value</th><th>Worst</th><th>Limit</th><th>Cleared</th><th>State</th>"
          "<th>Acknowledgements and actions</th></tr>\n",
          out);
    for (size_t i = 0; i < log->count; i++) {
        const struct alarmlog_entry *e = &log->entries[i];
        char val[CTLFMT_EXACT_MAX], t[CTLFMT_TIME_MAX], d[CTLFMT_DURATION_MAX];
        fputs("<tr>", out);
        write_time_cell(out, e->raised_ms);
        fputs("<td>", out);
        esc(out, e->alarm_id);
        fputs("</td><td>", out);
        esc(out, e->sensor_id);
        fputs("</td>", out);
        fputs("<td class=\"n\">", out);
        if (alarmlog_has_values(e) && isfinite(e->raised_value)) {
            esc(out, ctlfmt_exact(e->raised_value, val, sizeof(val)));
            fputs(" ", out);
            esc(out, e->unit);
        }
        fputs("</td><td class=\"n\">", out);
        if (alarmlog_has_values(e) && isfinite(e->worst)) {
            esc(out, ctlfmt_exact(e->worst, val, sizeof(val)));
            fputs(" ", out);
            esc(out, e->unit);
        }
        fputs("</td><td>", out);
        if (e->condition[0] && isfinite(e->limit)) {
            esc(out, ctlfmt_condition_name(e->condition));
            fputs(" ", out);
            esc(out, ctlfmt_exact(e->limit, val, sizeof(val)));
            fputs(" ", out);
            esc(out, e->unit);
        }
        fputs("</td><td>", out);
        if (e->cleared_ms != 0) {
            fprintf(out, "%s<br>after %s", ctlfmt_time(e->cleared_ms, t, sizeof(t)),
                    ctlfmt_duration(e->cleared_ms - (e->since_ms ? e->since_ms : e->raised_ms), d,
                                    sizeof(d)));
        } else if (e->raised_ms != 0) {
            fputs("not cleared", out);
        }
        fputs("</td><td>", out);
        esc(out, e->state);
        fputs("</td><td>", out);
        for (size_t k = 0; k < e->note_count; k++) {
            const struct alarmlog_note *n = &e->notes[k];
            fputs(k ? "<br>" : "", out);
            esc(out, n->transition);
            fprintf(out, " %s by <b>", ctlfmt_time(n->ts_ms, t, sizeof(t)));
            esc(out, n->by[0] ? n->by : "(nobody named)");
            fputs("</b>", out);
            if (n->comment[0]) {
                fputs(": <q class=\"comment\">", out);
                esc(out, n->comment);
                fputs("</q>", out);
            }
        }
        if (e->note_count == 0 && e->raised_ms != 0)
            fputs("<span class=\"bad\">not acknowledged</span>", out);
        fputs("</td></tr>\n", out);
    }
    fputs("</table></section>\n", out);
}

static void write_audit(FILE *out, const struct report_audit *audit)
{
    fputs("<section id=\"audit\"><h2>Audit trail</h2>\n<p>Head of the hash chain: ", out);
    if (audit->head_hash[0] != '\0') {
        fprintf(out, "event %" PRId64 ", <code class=\"hash\" id=\"audit-head\">", audit->head_id);
        esc(out, audit->head_hash);
        fputs("</code>", out);
    } else {
        fputs("<span id=\"audit-head\">none (this history has no audit trail)</span>", out);
    }
    fprintf(out, "</p>\n<p id=\"verify-statement\" class=\"%s\">",
            audit->verified > 0    ? "ok"
            : audit->verified == 0 ? "bad"
                                   : "");
    esc(out, audit->statement);
    fputs("</p></section>\n", out);
}

int report_write(FILE *out, struct histdb *db, struct shipview *view,
                 const struct report_audit *audit, int64_t generated_ms)
{
    struct chart c = {.t0_ms = view->shipment.started_ms, .t1_ms = view->end_ms};
    const struct alarm_def **limits = NULL;
    int rc = -ENOMEM;
    if (c.t1_ms <= c.t0_ms)
        c.t1_ms = c.t0_ms + 1;
    /* One chart per probe of the shipment, in the order of its assignments. */
    c.probes = calloc(view->window_count + 1, sizeof(*c.probes));
    if (c.probes == NULL)
        goto out;
    for (size_t i = 0; i < view->window_count; i++) {
        size_t k = 0;
        while (k < c.probe_count && strcmp(c.probes[k].id, view->windows[i].sensor_id) != 0)
            k++;
        if (k == c.probe_count)
            memcpy(c.probes[c.probe_count++].id, view->windows[i].sensor_id,
                   sizeof(c.probes[0].id));
    }
    const struct config_profile *p = shipsum_profile(view->sum);
    limits = calloc(p ? p->alarm_count + 1 : 1, sizeof(*limits));
    if (limits == NULL)
        goto out;
    for (size_t a = 0; p != NULL && a < p->alarm_count; a++) {
        const struct alarm_def *def = &p->alarms[a];
        if (def->quantity == QUANTITY_TEMPERATURE && shipsum_alarm_has_limit(def))
            limits[c.limit_count++] = def;
    }
    c.limits = limits;

    rc = shipview_scan(db, view, chart_row, &c);
    if (rc < 0)
        goto out;

    char gen[CTLFMT_TIME_MAX];
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", out);
    fputs("Shipment ", out);
    esc(out, view->shipment.id);
    fputs(": temperature report</title>\n<style>\n", out);
    fputs(css, out);
    fputs("</style></head><body>\n", out);
    write_identity(out, view);
    fputs("<section id=\"findings\"><h2>In short</h2><ul class=\"findings\">\n", out);
    shipview_findings(view, write_finding, out);
    fputs("</ul></section>\n", out);
    write_limits(out, view);
    fputs("<section id=\"charts\"><h2>Temperature per probe</h2>\n<p>Each column of a chart "
          "shows the lowest and highest reading in its time span, so no excursion is hidden "
          "by the scale. Dashed lines: the limits; shaded: time spans with a reading beyond "
          "one; grey ticks under a chart: faults (the probe could not be read). Times in "
          "UTC.</p>\n",
          out);
    for (size_t i = 0; i < c.probe_count; i++)
        write_chart(out, &c, &c.probes[i], shipview_sensor_name(view, c.probes[i].id));
    fputs("</section>\n", out);
    write_summary(out, view);
    write_alarms(out, view);
    write_audit(out, audit);
    fprintf(out, "<footer>Generated %s by coldchainctl %s from the gateway's history.</footer>\n",
            ctlfmt_time(generated_ms, gen, sizeof(gen)), COLDCHAIN_VERSION);
    fputs("</body></html>\n", out);
    rc = ferror(out) ? -EIO : 0;
out:
    free(c.probes);
    free(limits);
    return rc;
}
