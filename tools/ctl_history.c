/* coldchainctl shipments | show | history | events | report (ctl_history.h, docs/history.md
 * "Reading the history"). Human tables by default, --json for scripts. */
#include "ctl_history.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alarmlog.h"
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "ctlfmt.h"
#include "histdb.h"
#include "reading_csv.h"
#include "report.h"
#include "shipsum.h"
#include "shipview.h"

#define DEFAULT_DB "/var/lib/coldchain/history.db"

/* A progress line on a terminal at most this often. */
#define PROGRESS_INTERVAL_MS 250

enum option_bit {
    OPT_DB = 1u << 0,
    OPT_FROM = 1u << 1,
    OPT_TO = 1u << 2,
    OPT_SENSOR = 1u << 3,
    OPT_FORMAT = 1u << 4,
    OPT_OUTPUT = 1u << 5,
};

struct verb {
    const char *name;
    unsigned options;    /* enum option_bit besides -c, --db and --json */
    bool needs_shipment; /* takes one SHIPMENT word */
};

static const struct verb verbs[] = {
    {"shipments", 0, false},
    {"show", 0, true},
    {"history", OPT_FROM | OPT_TO | OPT_SENSOR | OPT_FORMAT, true},
    {"events", 0, true},
    {"report", OPT_OUTPUT, true},
};

struct args {
    const struct verb *verb;
    const char *config_path;
    const char *db_path;
    bool json;
    const char *shipment;
    struct histdb_filter filter;
    const char *format; /* history: "csv" or "json" */
    const char *output; /* report: the file */
};

bool ctl_history_is_verb(const char *verb)
{
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verbs[i].name, verb) == 0)
            return true;
    }
    return false;
}

void ctl_history_usage(FILE *out)
{
    fprintf(out,
            "Reading the history (read-only; safe while the gateway runs; docs/history.md):\n"
            "  shipments                      every shipment: kind, profile, start, end, alarms\n"
            "                                 raised and the worst excursion\n"
            "  show SHIPMENT                  what a pharmacist needs: the profile's limits,\n"
            "                                 min/max/mean/MKT and time beyond each limit per\n"
            "                                 probe, budgets used, alarms with acknowledgements,\n"
            "                                 whether verify passes\n"
            "  history SHIPMENT [--from T] [--to T] [--sensor S] [--format csv|json]\n"
            "                                 every stored reading, as stored (CSV header\n"
            "                                 ts,sensor,quantity,value,unit,flags; a fault has\n"
            "                                 an empty value, null in JSON); T is RFC 3339 or\n"
            "                                 epoch seconds, --to excluded\n"
            "  events SHIPMENT                the shipment's rows of the audit trail (schema 3);\n"
            "                                 of an older history, its alarm transitions\n"
            "  report SHIPMENT -o FILE.html   one self-contained HTML report (charts, summary,\n"
            "                                 alarm log) that prints to PDF from a browser\n"
            "  -c CONFIG      the gateway's config: its data_dir holds history.db; it names the\n"
            "                 sensors and profiles (a schema 2 history does not record which\n"
            "                 sensors were a shipment's: there show, history and report need it)\n"
            "  --db PATH      the database itself (default: history.db in CONFIG's data_dir,\n"
            "                 else " DEFAULT_DB ")\n"
            "  --json         JSON for scripts instead of a table\n"
            "  Exit: 0 done, 1 no such shipment (or sensor), 2 usage, 3 the database cannot be\n"
            "  opened or is not a gateway history, 78 the CONFIG cannot be read.\n");
}

static int parse_time(const char *verb, const char *opt, const char *text, int64_t *out)
{
    if (reading_csv_parse_ts(text, strlen(text), out) < 0) {
        fprintf(stderr,
                "coldchainctl %s: %s %s: expected an RFC 3339 time "
                "(2026-11-22T18:40:00Z) or epoch seconds\n",
                verb, opt, text);
        return -EINVAL;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},
        {"sensor", required_argument, NULL, 's'},
        {"format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    const char *name = a->verb->name;
    unsigned given = 0;
    int opt;
    optind = 0; /* 0: glibc starts afresh and permutes, options and words in any order */
    while ((opt = getopt_long(argc, argv, "c:o:", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'D':
            a->db_path = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 'F':
            given |= OPT_FROM;
            a->filter.has_from = true;
            if (parse_time(name, "--from", optarg, &a->filter.from_ms) < 0)
                return -EINVAL;
            break;
        case 'T':
            given |= OPT_TO;
            a->filter.has_to = true;
            if (parse_time(name, "--to", optarg, &a->filter.to_ms) < 0)
                return -EINVAL;
            break;
        case 's':
            given |= OPT_SENSOR;
            a->filter.sensor = optarg;
            break;
        case 'f':
            given |= OPT_FORMAT;
            a->format = optarg;
            break;
        case 'o':
            given |= OPT_OUTPUT;
            a->output = optarg;
            break;
        default:
            fprintf(stderr, "coldchainctl %s: see coldchainctl --help\n", name);
            return -EINVAL;
        }
    }
    unsigned extra = given & ~a->verb->options;
    if (extra != 0) {
        static const char *const names[] = {"db", "from", "to", "sensor", "format", "output"};
        unsigned bit = 0;
        while (!(extra & (1u << bit)))
            bit++;
        fprintf(stderr, "coldchainctl %s: --%s is not an option of this command\n", name,
                names[bit]);
        return -EINVAL;
    }
    int words = argc - optind;
    if (a->verb->needs_shipment ? words != 1 : words != 0) {
        fprintf(stderr, "coldchainctl %s: expected %s\n", name,
                a->verb->needs_shipment ? "one SHIPMENT" : "no words");
        return -EINVAL;
    }
    if (a->verb->needs_shipment)
        a->shipment = argv[optind];
    if (strcmp(name, "history") == 0) {
        if (a->format == NULL)
            a->format = a->json ? "json" : "csv";
        if (strcmp(a->format, "csv") != 0 && strcmp(a->format, "json") != 0) {
            fprintf(stderr, "coldchainctl history: --format %s: expected csv or json\n", a->format);
            return -EINVAL;
        }
    }
    if (strcmp(name, "report") == 0 && a->output == NULL) {
        fprintf(stderr, "coldchainctl report: expected -o FILE.html\n");
        return -EINVAL;
    }
    if (a->filter.has_from && a->filter.has_to && a->filter.to_ms <= a->filter.from_ms) {
        fprintf(stderr, "coldchainctl %s: --to must be later than --from\n", name);
        return -EINVAL;
    }
    return 0;
}

/* ---- shipments --------------------------------------------------------------------------- */

struct shipment_row {
    struct histdb_shipment s;
    uint64_t raised;
    bool has_worst;
    struct histdb_alert *worst; /* owned */
};

struct shipment_list {
    struct histdb *db;
    struct shipment_row *rows;
    size_t count;
};

static int collect_shipment(void *arg, const struct histdb_shipment *s)
{
    struct shipment_list *l = arg;
    struct shipment_row *grown = realloc(l->rows, (l->count + 1) * sizeof(*grown));
    if (grown == NULL)
        return -ENOMEM;
    l->rows = grown;
    struct shipment_row *r = &l->rows[l->count++];
    memset(r, 0, sizeof(*r));
    r->s = *s;
    r->worst = malloc(sizeof(*r->worst));
    if (r->worst == NULL)
        return -ENOMEM;
    return 0;
}

/* "9.8 °C, above 8 °C (heat on probe-3)" */
static void worst_text(const struct histdb_alert *w, char *buf, size_t cap)
{
    char v[CTLFMT_EXACT_MAX], l[CTLFMT_EXACT_MAX];
    snprintf(buf, cap, "%s %s, %s %s %s (%s on %s)", ctlfmt_exact(w->worst, v, sizeof(v)), w->unit,
             ctlfmt_condition_name(w->condition), ctlfmt_exact(w->limit, l, sizeof(l)), w->unit,
             w->alarm_id, w->sensor_id);
}

static void json_time_or_null(FILE *out, int64_t ts_ms)
{
    char buf[40];
    if (ts_ms == 0)
        fputs("null", out);
    else
        fprintf(out, "\"%s\"", clock_format_rfc3339(ts_ms, buf, sizeof(buf)));
}

static void json_number_or_null(FILE *out, double v)
{
    char buf[CTLFMT_EXACT_MAX];
    fputs(isfinite(v) ? ctlfmt_exact(v, buf, sizeof(buf)) : "null", out);
}

/* A minute is enough in a table: "2026-11-22 18:40 UTC". */
static void table_time(int64_t ts_ms, char *buf, size_t cap)
{
    char full[CTLFMT_TIME_MAX];
    ctlfmt_time(ts_ms, full, sizeof(full));
    snprintf(buf, cap, "%.16s UTC", full);
}

static int cmd_shipments(struct histdb *db, bool json)
{
    struct shipment_list l = {.db = db};
    int rc = histdb_shipments_each(db, collect_shipment, &l);
    for (size_t i = 0; rc == 0 && i < l.count; i++)
        rc = histdb_alarm_counts(db, l.rows[i].s.id, &l.rows[i].raised, &l.rows[i].has_worst,
                                 l.rows[i].worst);
    if (rc < 0)
        goto out;
    if (json) {
        fputs("[", stdout);
        for (size_t i = 0; i < l.count; i++) {
            const struct shipment_row *r = &l.rows[i];
            fputs(i ? ",\n {" : "\n {", stdout);
            fputs("\"id\":", stdout);
            ctlfmt_json_string(stdout, r->s.id);
            fputs(",\"kind\":", stdout);
            ctlfmt_json_string(stdout, r->s.kind);
            fputs(",\"profile\":", stdout);
            ctlfmt_json_string(stdout, r->s.profile);
            fputs(",\"started\":", stdout);
            json_time_or_null(stdout, r->s.started_ms);
            fputs(",\"ended\":", stdout);
            json_time_or_null(stdout, r->s.ended_ms);
            printf(",\"alarms_raised\":%" PRIu64 ",\"worst_excursion\":", r->raised);
            if (!r->has_worst) {
                fputs("null}", stdout);
                continue;
            }
            const struct histdb_alert *w = r->worst;
            fputs("{\"alarm\":", stdout);
            ctlfmt_json_string(stdout, w->alarm_id);
            fputs(",\"sensor\":", stdout);
            ctlfmt_json_string(stdout, w->sensor_id);
            fputs(",\"condition\":", stdout);
            ctlfmt_json_string(stdout, w->condition);
            fputs(",\"limit\":", stdout);
            json_number_or_null(stdout, w->limit);
            fputs(",\"worst\":", stdout);
            json_number_or_null(stdout, w->worst);
            fputs(",\"unit\":", stdout);
            ctlfmt_json_string(stdout, w->unit);
            fputs(",\"since\":", stdout);
            json_time_or_null(stdout, w->since_ms);
            fputs("}}", stdout);
        }
        fputs(l.count ? "\n]\n" : "]\n", stdout);
        goto out;
    }
    int wid = 2, wkind = 4, wprof = 7;
    for (size_t i = 0; i < l.count; i++) {
        int n = (int)strlen(l.rows[i].s.id);
        wid = n > wid ? n : wid;
        n = (int)strlen(l.rows[i].s.kind);
        wkind = n > wkind ? n : wkind;
        n = (int)strlen(l.rows[i].s.profile);
        wprof = n > wprof ? n : wprof;
    }
    printf("%-*s  %-*s  %-*s  %-20s  %-20s  %6s  %s\n", wid, "ID", wkind, "KIND", wprof, "PROFILE",
           "STARTED", "ENDED", "ALARMS", "WORST EXCURSION");
    for (size_t i = 0; i < l.count; i++) {
        const struct shipment_row *r = &l.rows[i];
        char started[CTLFMT_TIME_MAX], ended[CTLFMT_TIME_MAX], worst[200];
        table_time(r->s.started_ms, started, sizeof(started));
        if (r->s.ended_ms != 0)
            table_time(r->s.ended_ms, ended, sizeof(ended));
        else
            snprintf(ended, sizeof(ended), "running");
        if (r->has_worst)
            worst_text(r->worst, worst, sizeof(worst));
        else
            snprintf(worst, sizeof(worst), "no alarm");
        printf("%-*s  %-*s  %-*s  %-20s  %-20s  %6" PRIu64 "  %s\n", wid, r->s.id, wkind, r->s.kind,
               wprof, r->s.profile, started, ended, r->raised, worst);
    }
out:
    for (size_t i = 0; i < l.count; i++)
        free(l.rows[i].worst);
    free(l.rows);
    return rc;
}

/* ---- show -------------------------------------------------------------------------------- */

/* Reports why a shipment could not be opened; the exit status. */
static int view_error(const struct args *a, const char *db_path, int rc)
{
    const char *verb = a->verb->name;
    switch (rc) {
    case -ENOENT:
        fprintf(stderr, "coldchainctl %s: no shipment \"%s\" in %s\n", verb, a->shipment, db_path);
        return CTL_HISTORY_EXIT_NOT_FOUND;
    case -ENODATA:
        if (a->config_path == NULL) {
            fprintf(stderr,
                    "coldchainctl %s: %s: this database (schema 2) does not record which "
                    "sensors belong to a shipment; give -c CONFIG, the gateway's config\n",
                    verb, a->shipment);
            return CTL_HISTORY_EXIT_USAGE;
        }
        fprintf(stderr,
                "coldchainctl %s: %s: not in %s, so its sensors are not known (this database, "
                "schema 2, does not record them)\n",
                verb, a->shipment, a->config_path);
        return CTL_HISTORY_EXIT_NOT_FOUND;
    case -EINVAL:
        fprintf(stderr, "coldchainctl %s: %s: its profile is not one the rules accept\n", verb,
                a->shipment);
        return 1;
    case -ENOMEM:
        fprintf(stderr, "coldchainctl %s: out of memory\n", verb);
        return 1;
    default:
        return 1; /* -EIO: SQLite's message is out already */
    }
}

static void show_identity(const struct shipview *v)
{
    const struct histdb_shipment *s = &v->shipment;
    char t1[CTLFMT_TIME_MAX], t2[CTLFMT_TIME_MAX], d[CTLFMT_DURATION_MAX];
    printf("Shipment %s: %s, profile %s\n", s->id, s->kind, s->profile);
    if (v->description[0] != '\0')
        printf("  %s\n", v->description);
    ctlfmt_time(s->started_ms, t1, sizeof(t1));
    printf("  Started %s%s%s%s", t1, v->started_by[0] ? " (" : "", v->started_by,
           v->started_by[0] ? ")" : "");
    if (s->ended_ms != 0) {
        printf(", ended %s (%s)", ctlfmt_time(s->ended_ms, t2, sizeof(t2)),
               ctlfmt_duration(s->ended_ms - s->started_ms, d, sizeof(d)));
        if (v->ended_by[0])
            printf(" by %s", v->ended_by);
        if (v->end_comment[0])
            printf(": \"%s\"", v->end_comment);
        printf(".\n");
    } else {
        printf(", still running; figures as of the latest reading, %s.\n",
               v->rows ? ctlfmt_time(v->last_ms, t2, sizeof(t2)) : "none yet");
    }
    printf("  %" PRIu64 " readings from %zu sensor assignment%s:", v->rows, v->window_count,
           v->window_count == 1 ? "" : "s");
    for (size_t i = 0; i < v->window_count; i++) {
        const char *id = v->windows[i].sensor_id;
        const char *name = shipview_sensor_name(v, id);
        printf("%s %s", i ? "," : "", id);
        if (strcmp(name, id) != 0)
            printf(" (%s)", name);
    }
    printf("\n\n");
}

static void print_finding(void *arg, const char *sentence)
{
    (void)arg;
    printf("  - %s\n", sentence);
}

static void show_limits(const struct shipview *v)
{
    const struct config_profile *p = shipsum_profile(v->sum);
    if (p == NULL) {
        printf("Limits: profile %s is not known here (neither in the config nor a built-in "
               "preset): no limits are shown. Give -c CONFIG.\n\n",
               v->shipment.profile);
        return;
    }
    printf("Limits (profile %s%s%s):\n", p->name, p->description[0] ? ": " : "", p->description);
    for (size_t a = 0; a < p->alarm_count; a++) {
        char rule[160];
        const struct alarm_def *def = &p->alarms[a];
        printf("  %-12s %-8s %s\n", def->id, alarm_severity_name(def->severity),
               ctlfmt_alarm_rule(def, rule, sizeof(rule)));
    }
    printf("\n");
}

static void fixed2(double v, char *buf, size_t cap)
{
    if (isfinite(v))
        snprintf(buf, cap, "%.2f", v);
    else
        snprintf(buf, cap, "-");
}

static void show_summaries(const struct shipview *v)
{
    struct rules *rules = shipsum_rules(v->sum);
    if (rules == NULL) {
        printf("No sensors: nothing was measured.\n\n");
        return;
    }
    size_t nsens = rules_sensor_count(rules, 0), nal = rules_alarm_count(rules, 0);
    for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
        bool any = false;
        for (size_t k = 0; k < nsens; k++) {
            const struct rules_summary *s = rules_summary(rules, 0, k, q);
            any = any || s->count + s->fault_count > 0;
        }
        if (!any)
            continue;
        const char *unit = quantity_unit(q);
        bool temp = q == QUANTITY_TEMPERATURE;
        printf("%c%s per probe (mean time-weighted%s; values in %s):\n",
               quantity_name(q)[0] - 'a' + 'A', quantity_name(q) + 1,
               temp ? "; MKT by USP <1079.2>, ΔH 83.144 kJ/mol" : "", unit[0] ? unit : "1/0");
        printf("  %-16s %9s %7s %9s %9s %9s", "probe", "readings", "faults", "min", "max", "mean");
        if (temp)
            printf(" %9s", "MKT");
        for (size_t a = 0; a < nal; a++) {
            const struct alarm_def *def = rules_alarm_def(rules, 0, a);
            if (def->quantity == q && shipsum_alarm_has_limit(def) &&
                !shipsum_alarm_repeats_limit(rules, a)) {
                char h[48];
                snprintf(h, sizeof(h), "beyond %s", def->id);
                printf(" %14s", h);
            }
        }
        printf("\n");
        for (size_t k = 0; k < nsens; k++) {
            const struct rules_summary *s = rules_summary(rules, 0, k, q);
            if (s->count + s->fault_count == 0)
                continue;
            /* Two decimals for people; --json has every digit. */
            char mn[32], mx[32], mean[32], mkt[32];
            fixed2(s->min, mn, sizeof(mn));
            fixed2(s->max, mx, sizeof(mx));
            fixed2(s->mean, mean, sizeof(mean));
            printf("  %-16s %9" PRIu64 " %7" PRIu64 " %9s %9s %9s", rules_sensor_id(rules, 0, k),
                   s->count, s->fault_count, mn, mx, mean);
            if (temp) {
                fixed2(s->mkt_c, mkt, sizeof(mkt));
                printf(" %9s", mkt);
            }
            for (size_t a = 0; a < nal; a++) {
                const struct alarm_def *def = rules_alarm_def(rules, 0, a);
                if (def->quantity != q || !shipsum_alarm_has_limit(def) ||
                    shipsum_alarm_repeats_limit(rules, a))
                    continue;
                char d[CTLFMT_DURATION_MAX];
                const struct alarm_instance *inst = rules_instance(rules, 0, a, k);
                printf(" %14s", ctlfmt_duration(inst->beyond_ms, d, sizeof(d)));
            }
            printf("\n");
        }
        printf("\n");
    }
    bool header = false;
    for (size_t a = 0; a < nal; a++) {
        const struct alarm_def *def = rules_alarm_def(rules, 0, a);
        if (def->kind != ALARM_KIND_BUDGET)
            continue;
        if (!header)
            printf("Budgets (time beyond a limit in total, earlier legs included):\n");
        header = true;
        size_t shown = 0;
        for (size_t k = 0; k < nsens; k++) {
            char used[CTLFMT_DURATION_MAX], of[CTLFMT_DURATION_MAX];
            int64_t u = shipsum_budget_used_ms(v->sum, a, k);
            if (u <= 0)
                continue; /* said once below for all of them */
            shown++;
            printf("  %s on %s: %s of %s used (%.0f %%)%s\n", def->id, rules_sensor_id(rules, 0, k),
                   ctlfmt_duration(u, used, sizeof(used)),
                   ctlfmt_duration(def->budget_ms, of, sizeof(of)),
                   def->budget_ms > 0 ? 100.0 * (double)u / (double)def->budget_ms : 0.0,
                   u >= def->budget_ms ? ": SPENT" : "");
        }
        if (shown < nsens)
            printf("  %s: nothing used on %s\n", def->id, shown ? "the other probes" : "any probe");
    }
    if (header)
        printf("\n");
}

/* " (the name people know it by)" when the config gives one. */
static void print_name(const struct shipview *v, const char *sensor_id)
{
    const char *name = shipview_sensor_name(v, sensor_id);
    if (strcmp(name, sensor_id) != 0)
        printf(" (%s)", name);
}

static void show_alarms(const struct shipview *v)
{
    const struct alarmlog *log = &v->alarms;
    size_t raised = 0;
    for (size_t i = 0; i < log->count; i++)
        raised += log->entries[i].raised_ms != 0;
    if (log->count == 0) {
        printf("Alarms: none.\n\n");
        return;
    }
    printf("Alarms: %zu raised (%" PRIu64 " transitions; `coldchainctl events %s` lists them):\n",
           raised, log->transitions, v->shipment.id);
    for (size_t i = 0; i < log->count; i++) {
        const struct alarmlog_entry *e = &log->entries[i];
        char t[CTLFMT_TIME_MAX], val[CTLFMT_EXACT_MAX], lim[CTLFMT_EXACT_MAX];
        char d[CTLFMT_DURATION_MAX];
        if (e->raised_ms != 0) {
            printf("  %s  %s on %s", ctlfmt_time(e->raised_ms, t, sizeof(t)), e->alarm_id,
                   e->sensor_id);
            print_name(v, e->sensor_id);
            printf(" raised");
            if (alarmlog_has_values(e) && isfinite(e->raised_value))
                printf(" at %s %s", ctlfmt_exact(e->raised_value, val, sizeof(val)), e->unit);
            if (e->condition[0] && isfinite(e->limit))
                printf(" (%s %s %s)", ctlfmt_condition_name(e->condition),
                       ctlfmt_exact(e->limit, lim, sizeof(lim)), e->unit);
            if (alarmlog_has_values(e) && isfinite(e->worst))
                printf(", worst %s %s", ctlfmt_exact(e->worst, val, sizeof(val)), e->unit);
            if (strcmp(e->kind, "budget") == 0 && e->amount_ms != 0)
                printf(", budget used %s", ctlfmt_duration(e->amount_ms, d, sizeof(d)));
            if (e->cleared_ms != 0)
                printf("; cleared %s, %s after it began", ctlfmt_time(e->cleared_ms, t, sizeof(t)),
                       ctlfmt_duration(e->cleared_ms - (e->since_ms ? e->since_ms : e->raised_ms),
                                       d, sizeof(d)));
            else
                printf("; not cleared (%s)", e->state);
            if (e->reminders != 0)
                printf("; %u reminder%s", e->reminders, e->reminders == 1 ? "" : "s");
            printf("\n");
        } else {
            printf("  %s on %s", e->alarm_id, e->sensor_id);
            print_name(v, e->sensor_id);
            printf(":\n");
        }
        for (size_t k = 0; k < e->note_count; k++) {
            const struct alarmlog_note *n = &e->notes[k];
            printf("      %s %s by %s%s%s%s\n", n->transition, ctlfmt_time(n->ts_ms, t, sizeof(t)),
                   n->by[0] ? n->by : "(nobody named)", n->comment[0] ? ": \"" : "", n->comment,
                   n->comment[0] ? "\"" : "");
        }
        if (e->raised_ms != 0 && strcmp(e->state, "active") == 0 && e->note_count == 0)
            printf("      not acknowledged\n");
    }
    printf("\n");
}

static void json_summaries(const struct shipview *v)
{
    struct rules *rules = shipsum_rules(v->sum);
    size_t nsens = rules ? rules_sensor_count(rules, 0) : 0;
    size_t nal = rules ? rules_alarm_count(rules, 0) : 0;
    fputs(",\n \"sensors\":[", stdout);
    bool first = true;
    for (size_t k = 0; k < nsens; k++) {
        for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
            const struct rules_summary *s = rules_summary(rules, 0, k, q);
            if (s->count + s->fault_count == 0)
                continue;
            fputs(first ? "\n  {\"sensor\":" : ",\n  {\"sensor\":", stdout);
            first = false;
            ctlfmt_json_string(stdout, rules_sensor_id(rules, 0, k));
            fputs(",\"name\":", stdout);
            ctlfmt_json_string(stdout, shipview_sensor_name(v, rules_sensor_id(rules, 0, k)));
            printf(",\"quantity\":\"%s\",\"unit\":", quantity_name(q));
            ctlfmt_json_string(stdout, quantity_unit(q));
            printf(",\"readings\":%" PRIu64 ",\"faults\":%" PRIu64 ",\"out_of_order\":%" PRIu64,
                   s->count, s->fault_count, s->out_of_order);
            fputs(",\"min\":", stdout);
            json_number_or_null(stdout, s->min);
            fputs(",\"max\":", stdout);
            json_number_or_null(stdout, s->max);
            fputs(",\"mean\":", stdout);
            json_number_or_null(stdout, s->mean);
            if (q == QUANTITY_TEMPERATURE) {
                fputs(",\"mkt\":", stdout);
                json_number_or_null(stdout, s->mkt_c);
            }
            fputs(",\"beyond_s\":{", stdout);
            bool f2 = true;
            for (size_t a = 0; a < nal; a++) {
                const struct alarm_def *def = rules_alarm_def(rules, 0, a);
                if (def->quantity != q || !shipsum_alarm_has_limit(def))
                    continue;
                const struct alarm_instance *inst = rules_instance(rules, 0, a, k);
                fputs(f2 ? "" : ",", stdout);
                f2 = false;
                ctlfmt_json_string(stdout, def->id);
                printf(":%.3f", (double)inst->beyond_ms / 1000.0);
            }
            fputs("},\"budget_used_s\":{", stdout);
            f2 = true;
            for (size_t a = 0; a < nal; a++) {
                const struct alarm_def *def = rules_alarm_def(rules, 0, a);
                if (def->quantity != q || def->kind != ALARM_KIND_BUDGET)
                    continue;
                fputs(f2 ? "" : ",", stdout);
                f2 = false;
                ctlfmt_json_string(stdout, def->id);
                printf(":%.3f", (double)shipsum_budget_used_ms(v->sum, a, k) / 1000.0);
            }
            fputs("}}", stdout);
        }
    }
    fputs(first ? "]" : "\n ]", stdout);
}

static void json_limits(const struct shipview *v)
{
    const struct config_profile *p = shipsum_profile(v->sum);
    fputs(",\n \"limits\":", stdout);
    if (p == NULL) {
        fputs("null", stdout);
        return;
    }
    fputs("[", stdout);
    for (size_t a = 0; a < p->alarm_count; a++) {
        const struct alarm_def *def = &p->alarms[a];
        char rule[160];
        fputs(a ? ",\n  {\"alarm\":" : "\n  {\"alarm\":", stdout);
        ctlfmt_json_string(stdout, def->id);
        printf(",\"kind\":\"%s\",\"severity\":\"%s\"", alarm_kind_name(def->kind),
               alarm_severity_name(def->severity));
        if (shipsum_alarm_has_limit(def) || def->kind == ALARM_KIND_MKT) {
            printf(",\"quantity\":\"%s\",\"condition\":\"%s\",\"limit\":",
                   quantity_name(def->quantity), alarm_condition_name(def->condition));
            json_number_or_null(stdout, def->limit);
        }
        if (def->kind == ALARM_KIND_BUDGET)
            printf(",\"budget_s\":%.3f", (double)def->budget_ms / 1000.0);
        fputs(",\"rule\":", stdout);
        ctlfmt_json_string(stdout, ctlfmt_alarm_rule(def, rule, sizeof(rule)));
        fputs("}", stdout);
    }
    fputs(p->alarm_count ? "\n ]" : "]", stdout);
}

static void json_alarms(const struct shipview *v)
{
    const struct alarmlog *log = &v->alarms;
    fputs(",\n \"alarms\":[", stdout);
    for (size_t i = 0; i < log->count; i++) {
        const struct alarmlog_entry *e = &log->entries[i];
        fputs(i ? ",\n  {\"alarm\":" : "\n  {\"alarm\":", stdout);
        ctlfmt_json_string(stdout, e->alarm_id);
        fputs(",\"sensor\":", stdout);
        ctlfmt_json_string(stdout, e->sensor_id);
        fputs(",\"kind\":", stdout);
        ctlfmt_json_string(stdout, e->kind);
        fputs(",\"raised\":", stdout);
        json_time_or_null(stdout, e->raised_ms);
        fputs(",\"value\":", stdout);
        json_number_or_null(stdout, e->raised_value);
        fputs(",\"worst\":", stdout);
        json_number_or_null(stdout, e->worst);
        fputs(",\"since\":", stdout);
        json_time_or_null(stdout, e->since_ms);
        fputs(",\"cleared\":", stdout);
        json_time_or_null(stdout, e->cleared_ms);
        fputs(",\"state\":", stdout);
        ctlfmt_json_string(stdout, e->state);
        printf(",\"reminders\":%u,\"actions\":[", e->reminders);
        for (size_t k = 0; k < e->note_count; k++) {
            const struct alarmlog_note *n = &e->notes[k];
            fputs(k ? ",{\"transition\":" : "{\"transition\":", stdout);
            ctlfmt_json_string(stdout, n->transition);
            fputs(",\"ts\":", stdout);
            json_time_or_null(stdout, n->ts_ms);
            fputs(",\"by\":", stdout);
            ctlfmt_json_string(stdout, n->by);
            fputs(",\"comment\":", stdout);
            ctlfmt_json_string(stdout, n->comment);
            fputs("}", stdout);
        }
        fputs("]}", stdout);
    }
    fputs(log->count ? "\n ]" : "]", stdout);
}

/* What can be said about the audit trail of the history at path: audit_verify() recomputes the
 * whole chain (every shipment's rows, not this one's only), read-only, as `coldchainctl verify`
 * does. */
static void audit_status(const char *path, struct report_audit *out)
{
    memset(out, 0, sizeof(*out));
    out->verified = -1;
    struct audit_report *rep = calloc(1, sizeof(*rep));
    if (rep == NULL) {
        snprintf(out->statement, sizeof(out->statement), "%s",
                 "verify could not run: out of memory");
        return;
    }
    int rc = audit_verify(path, rep);
    if (rc >= 0) {
        out->head_id = rep->head_id;
        snprintf(out->head_hash, sizeof(out->head_hash), "%s", rep->head_hash);
    }
    if (rc == 0) {
        out->verified = 1;
        snprintf(out->statement, sizeof(out->statement),
                 "verify passed: the audit trail of %" PRId64 " events is intact, and so are the "
                 "%" PRId64 " readings, %" PRId64 " alerts and %" PRId64
                 " shipments it seals (checked now, over the whole history)",
                 rep->events, rep->readings, rep->alerts, rep->shipments);
    } else if (rc == 1) {
        const struct audit_finding *f = &rep->findings[0];
        out->verified = 0;
        snprintf(out->statement, sizeof(out->statement),
                 "verify FAILED: %zu finding%s; the first: %s %s%s%" PRId64 " %s: %.200s. "
                 "`coldchainctl verify` lists them",
                 rep->finding_count, rep->finding_count == 1 ? "" : "s", f->table, f->key,
                 f->key[0] ? " " : "", f->id, audit_what_name(f->what), f->detail);
    } else if (rc == -EPROTO && rep->schema < 3) {
        snprintf(out->statement, sizeof(out->statement),
                 "not verifiable: this history (schema %d) was written before the audit trail",
                 rep->schema);
    } else {
        snprintf(out->statement, sizeof(out->statement), "verify could not run: %.400s",
                 rep->error);
    }
    free(rep);
}

static int cmd_show(struct histdb *db, const struct args *a, const char *db_path,
                    const struct config *config)
{
    struct shipview v;
    int rc = shipview_open(db, a->shipment, config, &v);
    if (rc == 0)
        rc = shipview_scan(db, &v, NULL, NULL);
    if (rc < 0) {
        rc = view_error(a, db_path, rc);
        goto out;
    }
    struct report_audit audit;
    audit_status(db_path, &audit);
    if (!a->json) {
        show_identity(&v);
        printf("In short:\n");
        shipview_findings(&v, print_finding, NULL);
        printf("\n");
        show_limits(&v);
        show_summaries(&v);
        show_alarms(&v);
        if (audit.head_hash[0])
            printf("Audit trail: %s; head event %" PRId64 ", hash %s.\n", audit.statement,
                   audit.head_id, audit.head_hash);
        else
            printf("Audit trail: %s.\n", audit.statement);
        goto out;
    }
    const struct histdb_shipment *s = &v.shipment;
    fputs("{\"shipment\":{\"id\":", stdout);
    ctlfmt_json_string(stdout, s->id);
    fputs(",\"kind\":", stdout);
    ctlfmt_json_string(stdout, s->kind);
    fputs(",\"profile\":", stdout);
    ctlfmt_json_string(stdout, s->profile);
    fputs(",\"description\":", stdout);
    ctlfmt_json_string(stdout, v.description);
    fputs(",\"started\":", stdout);
    json_time_or_null(stdout, s->started_ms);
    fputs(",\"started_by\":", stdout);
    ctlfmt_json_string(stdout, v.started_by);
    fputs(",\"ended\":", stdout);
    json_time_or_null(stdout, s->ended_ms);
    fputs(",\"ended_by\":", stdout);
    ctlfmt_json_string(stdout, v.ended_by);
    fputs(",\"end_comment\":", stdout);
    ctlfmt_json_string(stdout, v.end_comment);
    fputs("},\n \"as_of\":", stdout);
    json_time_or_null(stdout, v.end_ms);
    printf(",\"readings\":%" PRIu64, v.rows);
    json_limits(&v);
    json_summaries(&v);
    json_alarms(&v);
    fputs(",\n \"audit\":{\"verified\":", stdout);
    fputs(audit.verified < 0 ? "null" : audit.verified ? "true" : "false", stdout);
    fputs(",\"head\":", stdout);
    if (audit.head_hash[0])
        ctlfmt_json_string(stdout, audit.head_hash);
    else
        fputs("null", stdout);
    fputs(",\"statement\":", stdout);
    ctlfmt_json_string(stdout, audit.statement);
    fputs("}}\n", stdout);
out:
    shipview_clear(&v);
    return rc;
}

/* ---- history ----------------------------------------------------------------------------- */

struct export
{
    bool json;
    uint64_t rows, total;
    bool progress; /* stderr is a terminal */
    int64_t next_progress_ms;
};

static void flags_text(uint8_t flags, char *buf, size_t cap, bool json)
{
    static const struct {
        uint8_t bit;
        const char *name;
    } names[] = {
        {READING_FAULT, "fault"}, {READING_UNSYNCED, "unsynced"}, {READING_ESTIMATED, "estimated"}};
    size_t len = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(flags & names[i].bit))
            continue;
        const char *sep = len == 0 ? "" : json ? "," : " ";
        len +=
            (size_t)snprintf(buf + len, cap - len, json ? "%s\"%s\"" : "%s%s", sep, names[i].name);
    }
}

static void progress(struct export *x, bool done)
{
    int64_t now = clock_mono_ms();
    if (!done && now < x->next_progress_ms)
        return;
    x->next_progress_ms = now + PROGRESS_INTERVAL_MS;
    if (done) {
        fputs("\r\033[K", stderr);
        return;
    }
    fprintf(stderr, "\rcoldchainctl history: %" PRIu64 " of %" PRIu64 " readings (%.0f %%)",
            x->rows, x->total, x->total ? 100.0 * (double)x->rows / (double)x->total : 100.0);
}

static int export_row(void *arg, const struct histdb_reading *row)
{
    struct export *x = arg;
    const struct reading *r = &row->r;
    char ts[40], value[CTLFMT_EXACT_MAX], flags[64];
    clock_format_rfc3339(r->ts_ms, ts, sizeof(ts));
    ctlfmt_exact(r->value, value, sizeof(value));
    flags_text(r->flags, flags, sizeof(flags), x->json);
    const char *q = quantity_name(r->quantity);
    if (x->json) {
        fputs(x->rows ? ",\n{\"ts\":\"" : "\n{\"ts\":\"", stdout);
        fputs(ts, stdout);
        fputs("\",\"sensor\":", stdout);
        ctlfmt_json_string(stdout, r->sensor_id);
        printf(",\"quantity\":\"%s\",\"value\":%s,\"unit\":", q ? q : "?",
               value[0] ? value : "null");
        ctlfmt_json_string(stdout, quantity_unit(r->quantity));
        printf(",\"flags\":[%s]}", flags);
    } else {
        /* Sensor ids are config identifiers (no comma, quote or space); nothing to quote. */
        printf("%s,%s,%s,%s,%s,%s\n", ts, r->sensor_id, q ? q : "?", value,
               quantity_unit(r->quantity), flags);
    }
    x->rows++;
    if (x->progress && (x->rows & 1023) == 0)
        progress(x, false);
    return ferror(stdout) ? -EIO : 0;
}

static int cmd_history(struct histdb *db, const struct args *a, const char *db_path,
                       const struct config *config)
{
    struct histdb_shipment s;
    struct histdb_window *w = NULL;
    size_t n = 0;
    int rc = histdb_shipment_get(db, a->shipment, &s);
    if (rc == 0)
        rc = histdb_windows(db, &s, config, &w, &n);
    if (rc < 0) {
        rc = view_error(a, db_path, rc);
        goto out;
    }
    if (a->filter.sensor != NULL) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(w[i].sensor_id, a->filter.sensor) == 0;
        if (!found) {
            fprintf(stderr, "coldchainctl history: sensor \"%s\" is not one of %s's\n",
                    a->filter.sensor, a->shipment);
            rc = CTL_HISTORY_EXIT_NOT_FOUND;
            goto out;
        }
    }
    struct export x = {.json = strcmp(a->format, "json") == 0,
                       .progress = isatty(STDERR_FILENO) == 1};
    if (x.progress) {
        rc = histdb_readings_extent(db, w, n, &a->filter, &x.total, NULL, NULL);
        if (rc < 0)
            goto fail;
    }
    if (x.json)
        fputs("[", stdout);
    else
        puts("ts,sensor,quantity,value,unit,flags");
    rc = histdb_readings_each(db, w, n, &a->filter, export_row, &x);
    if (x.progress)
        progress(&x, true);
    if (rc < 0)
        goto fail;
    if (x.json)
        fputs(x.rows ? "\n]\n" : "]\n", stdout);
    goto out;
fail:
    if (rc == -EIO && ferror(stdout))
        fprintf(stderr, "coldchainctl history: writing the output failed\n");
    rc = 1;
out:
    free(w);
    return rc;
}

/* ---- events ------------------------------------------------------------------------------ */

struct events_out {
    bool json;
    uint64_t rows;
};

static int event_row(void *arg, const struct histdb_alert *al)
{
    struct events_out *o = arg;
    char ts[40], v[CTLFMT_EXACT_MAX];
    if (o->json) {
        fputs(o->rows ? ",\n {\"seq\":" : "\n {\"seq\":", stdout);
        printf("%" PRIu64 ",\"id\":", al->seq);
        ctlfmt_json_string(stdout, al->alert_id);
        printf(",\"ts\":\"%s\",\"alarm\":", clock_format_rfc3339(al->ts_ms, ts, sizeof(ts)));
        ctlfmt_json_string(stdout, al->alarm_id);
        fputs(",\"sensor\":", stdout);
        ctlfmt_json_string(stdout, al->sensor_id);
        fputs(",\"transition\":", stdout);
        ctlfmt_json_string(stdout, al->transition);
        fputs(",\"state\":", stdout);
        ctlfmt_json_string(stdout, al->state);
        fputs(",\"value\":", stdout);
        json_number_or_null(stdout, al->value);
        fputs(",\"worst\":", stdout);
        json_number_or_null(stdout, al->worst);
        fputs(",\"by\":", stdout);
        if (al->by[0])
            ctlfmt_json_string(stdout, al->by);
        else
            fputs("null", stdout);
        fputs(",\"comment\":", stdout);
        if (al->comment[0])
            ctlfmt_json_string(stdout, al->comment);
        else
            fputs("null", stdout);
        fputs("}", stdout);
    } else {
        ctlfmt_exact(al->value, v, sizeof(v));
        printf("%6" PRIu64 "  %s  %-12s %-16s %-13s %-13s %8s", al->seq,
               ctlfmt_time(al->ts_ms, ts, sizeof(ts)), al->alarm_id, al->sensor_id, al->transition,
               al->state, v[0] ? v : "-");
        if (al->by[0])
            printf("  by %s", al->by);
        if (al->comment[0])
            printf(": \"%s\"", al->comment);
        printf("\n");
    }
    o->rows++;
    return 0;
}

/* An audit-trail row (schema 3). */
static int audit_row(void *arg, const struct histdb_event *e)
{
    struct events_out *o = arg;
    char ts[40];
    if (o->json) {
        fprintf(stdout, "%s{\"id\":%" PRId64 ",\"ts\":\"%s\",\"kind\":", o->rows ? ",\n " : "\n ",
                e->id, clock_format_rfc3339(e->ts_ms, ts, sizeof(ts)));
        ctlfmt_json_string(stdout, e->kind);
        fputs(",\"actor\":", stdout);
        if (e->actor[0])
            ctlfmt_json_string(stdout, e->actor);
        else
            fputs("null", stdout);
        /* The detail as stored, as a string: an altered row must not break the output. */
        fputs(",\"detail\":", stdout);
        ctlfmt_json_string(stdout, e->detail);
        fputs(",\"prev_hash\":", stdout);
        ctlfmt_json_string(stdout, e->prev_hash);
        fputs(",\"hash\":", stdout);
        ctlfmt_json_string(stdout, e->hash);
        fputs("}", stdout);
    } else {
        printf("%6" PRId64 "  %s  %-15s %-16s %s\n", e->id, ctlfmt_time(e->ts_ms, ts, sizeof(ts)),
               e->kind, e->actor[0] ? e->actor : "-", e->detail);
    }
    o->rows++;
    return 0;
}

/* The audit trail's rows of the shipment once the history has one (schema 3); before that, the
 * alert transitions, which were the history's only record of what happened. */
static int cmd_events(struct histdb *db, const struct args *a, const char *db_path)
{
    struct histdb_shipment s;
    int rc = histdb_shipment_get(db, a->shipment, &s);
    if (rc < 0)
        return rc == -ENOENT ? view_error(a, db_path, rc) : 1;
    struct events_out o = {.json = a->json};
    bool audit = histdb_has_events(db);
    if (o.json)
        fputs("[", stdout);
    else if (audit)
        printf("%6s  %-23s  %-15s %-16s %s\n", "ID", "TIME", "KIND", "ACTOR", "DETAIL");
    else
        printf("%6s  %-23s  %-12s %-16s %-13s %-13s %8s\n", "SEQ", "TIME", "ALARM", "SENSOR",
               "TRANSITION", "STATE", "VALUE");
    rc = audit ? histdb_events_each(db, a->shipment, audit_row, &o)
               : histdb_alerts_each(db, a->shipment, event_row, &o);
    if (rc < 0)
        return 1;
    if (o.json)
        fputs(o.rows ? "\n]\n" : "]\n", stdout);
    return 0;
}

/* ---- report ------------------------------------------------------------------------------ */

static int cmd_report(struct histdb *db, const struct args *a, const char *db_path,
                      const struct config *config)
{
    struct shipview v;
    FILE *out = NULL;
    char *tmp = NULL;
    int rc = shipview_open(db, a->shipment, config, &v);
    if (rc < 0) {
        rc = view_error(a, db_path, rc);
        goto out;
    }
    /* Written aside and renamed into place: a report that exists is a whole one. */
    size_t len = strlen(a->output) + sizeof(".tmp");
    tmp = malloc(len);
    if (tmp == NULL) {
        rc = view_error(a, db_path, -ENOMEM);
        goto out;
    }
    snprintf(tmp, len, "%s.tmp", a->output);
    out = fopen(tmp, "w");
    if (out == NULL) {
        fprintf(stderr, "coldchainctl report: %s: %s\n", tmp, strerror(errno));
        rc = 1;
        goto out;
    }
    struct report_audit audit;
    audit_status(db_path, &audit);
    rc = report_write(out, db, &v, &audit, clock_wall_ms());
    if (fclose(out) != 0 && rc == 0)
        rc = -EIO;
    out = NULL;
    if (rc == 0 && rename(tmp, a->output) != 0)
        rc = -errno;
    if (rc < 0) {
        fprintf(stderr, "coldchainctl report: %s: %s\n", a->output, strerror(-rc));
        unlink(tmp);
        rc = 1;
    }
out:
    if (out != NULL)
        fclose(out);
    free(tmp);
    shipview_clear(&v);
    return rc;
}

/* ---- the verbs' entry --------------------------------------------------------------------- */

int ctl_history_main(int argc, char **argv, const char *config_path, bool json)
{
    struct args a = {.config_path = config_path, .json = json};
    struct config *config = NULL;
    struct histdb *db = NULL;
    char *db_path = NULL;
    int status = CTL_HISTORY_EXIT_USAGE;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verbs[i].name, argv[0]) == 0)
            a.verb = &verbs[i];
    }
    if (a.verb == NULL || parse_args(argc, argv, &a) < 0)
        goto out;
    if (a.config_path != NULL) {
        /* Rules only: reading the history needs the shipments and profiles, not the broker's
         * password or the buses. */
        struct cfg_error cerr;
        int r = config_load(a.config_path, CONFIG_RULES_ONLY, &config, &cerr);
        if (r < 0) {
            config_print_error(stderr, a.config_path, r, &cerr);
            status = CTL_HISTORY_EXIT_CONFIG;
            goto out;
        }
    }
    const char *path = a.db_path;
    if (path == NULL && config != NULL) {
        size_t len = strlen(config->data_dir) + sizeof("/history.db");
        db_path = malloc(len);
        if (db_path == NULL) {
            fprintf(stderr, "coldchainctl: out of memory\n");
            status = 1;
            goto out;
        }
        snprintf(db_path, len, "%s/history.db", config->data_dir);
        path = db_path;
    }
    if (path == NULL)
        path = DEFAULT_DB;
    if (histdb_open(path, &db) < 0) {
        status = CTL_HISTORY_EXIT_NO_DB;
        goto out;
    }
    const char *verb = a.verb->name;
    if (strcmp(verb, "shipments") == 0)
        status = cmd_shipments(db, a.json) < 0 ? 1 : 0;
    else if (strcmp(verb, "show") == 0)
        status = cmd_show(db, &a, path, config);
    else if (strcmp(verb, "history") == 0)
        status = cmd_history(db, &a, path, config);
    else if (strcmp(verb, "events") == 0)
        status = cmd_events(db, &a, path);
    else
        status = cmd_report(db, &a, path, config);
out:
    if (fflush(stdout) != 0 && status == 0)
        status = 1;
    histdb_close(db);
    free(db_path);
    config_free(config);
    return status;
}
