/* The history views and the report (issue 7, docs/history.md "Reading the history"): a month of
 * a fridge of 8 probes (345 600 readings) and a two-day truck shipment, written by gen_history
 * through the store and the rules as the engine writes them. Then, with coldchainctl:
 * - shipments, show, events: what they say agrees with the database (counts, min/max, the
 *   worst excursion, the acknowledgement and its comment), and show's mean and MKT are the
 *   numbers `coldchainctl replay` computes from the exported readings;
 * - history: CSV and JSON equal the stored rows exactly, row for row (bit-equal values, faults
 *   as empty/null, flags, the shipment's window), are the rows the store itself calls the
 *   shipment's (store_shipment_readings_each, through gen_history --readings), and
 *   --sensor/--from/--to narrow it;
 * - it reads while a writer holds a write transaction open (WAL), and sees only what was
 *   committed;
 * - the exit codes of --help;
 * - report: generated (its time printed, never asserted), no markup from names or comments
 *   gets through, and headless Chromium renders it: the DOM has the title, the shipment id, one
 *   chart per probe with its limit lines, the summary's numbers and the acknowledgement's
 *   comment, and a screenshot is written. Skipped (77) at that step when chromium is missing. */
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "harness.h"

extern char **environ;

#define T0_S 1790812800LL /* 2026-10-01T00:00:00Z */
#define MINUTE_MS 60000LL
#define DAY_MS (1440 * MINUTE_MS)
#define TRUCK_START_MS ((T0_S * 1000) + 25 * DAY_MS)
#define TRUCK_END_MS ((T0_S * 1000) + 27 * DAY_MS)

static const char *ctl;
static char cfg_path[600], db_path[600];

/* Runs argv with stdout and stderr into files (either may be NULL: /dev/null); its exit status,
 * or -1 if it could not run or died of a signal. */
static int run(const char *const argv[], const char *out, const char *err)
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&fa, 2, err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (posix_spawn(&pid, argv[0], &fa, NULL, (char *const *)argv, environ) == 0) {
        int ws;
        while (waitpid(pid, &ws, 0) < 0 && errno == EINTR)
            ;
        status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    return status;
}

/* Runs coldchainctl with args (NULL-terminated, at most 14), output into "<dir>/<name>.out" and
 * ".err"; the exit status. */
static int ctl_run(const char *name, const char *const *args)
{
    const char *argv[16] = {ctl};
    size_t n = 1;
    while (args[n - 1] != NULL && n < 15) {
        argv[n] = args[n - 1];
        n++;
    }
    argv[n] = NULL;
    char out[600], err[600];
    snprintf(out, sizeof(out), "%s/%s.out", harness_dir(), name);
    snprintf(err, sizeof(err), "%s/%s.err", harness_dir(), name);
    return run(argv, out, err);
}

static char *ctl_output(const char *name, const char *ext)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.%s", harness_dir(), name, ext);
    return harness_read_file(path);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The shortest text that reads back as v, as coldchainctl writes exact values. */
static void exact(double v, char *buf, size_t cap)
{
    for (int d = 1; d <= 17; d++) {
        snprintf(buf, cap, "%.*g", d, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static bool same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof(a)) == 0;
}

/* Equal as far as cJSON's printing keeps a double: within DBL_EPSILON of the larger. */
static bool cjson_equal(double a, double b)
{
    return fabs(a - b) <= fmax(fabs(a), fabs(b)) * DBL_EPSILON;
}

/* ---- the fixture ------------------------------------------------------------------------- */

static void write_config(void)
{
    char data[560], text[4096];
    harness_path(data, sizeof(data), "data");
    HARNESS_REQUIRE(mkdir(data, 0755) == 0, "data dir made");
    snprintf(db_path, sizeof(db_path), "%s/history.db", data);
    snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"test-pharmacy\", \"data_dir\": \"%s\",\n"
        " \"sensors\": [\n"
        "  {\"id\": \"fridge-p1\", \"name\": \"Top shelf, left\"},\n"
        "  {\"id\": \"fridge-p2\", \"name\": \"Top shelf, right\"},\n"
        "  {\"id\": \"fridge-p3\", \"name\": \"Middle shelf <script>alert('x')</script> & co\"},\n"
        "  {\"id\": \"fridge-p4\"}, {\"id\": \"fridge-p5\"}, {\"id\": \"fridge-p6\"},\n"
        "  {\"id\": \"fridge-p7\", \"name\": \"Door \\\"rack\\\"\"}, {\"id\": \"fridge-p8\"},\n"
        "  {\"id\": \"truck-l1\", \"name\": \"Logger by the doors\"}, {\"id\": \"truck-l2\"}],\n"
        " \"profiles\": {\"pharmacy-fridge\": {\n"
        "   \"description\": \"CDC 2-8 °C, a 2 h budget above 8 °C, probe checks\",\n"
        "   \"extends\": \"cdc-vaccine-fridge\",\n"
        "   \"alarms\": [{\"id\": \"tor\", \"above\": 8.0, \"budget\": \"2h\", "
        "\"severity\": \"warning\"},\n"
        "              {\"id\": \"probe-fault\", \"fault\": true, \"delay\": \"10m\"},\n"
        "              {\"id\": \"probe-silent\", \"stale\": \"20m\"}]}},\n"
        " \"shipments\": [\n"
        "  {\"id\": \"fridge-a\", \"kind\": \"storage\", \"profile\": \"pharmacy-fridge\",\n"
        "   \"description\": \"Vaccine fridge A (back office)\",\n"
        "   \"sensors\": [\"fridge-p1\", \"fridge-p2\", \"fridge-p3\", \"fridge-p4\", "
        "\"fridge-p5\", \"fridge-p6\", \"fridge-p7\", \"fridge-p8\"]},\n"
        "  {\"id\": \"truck-42\", \"kind\": \"transit\", \"profile\": \"who-esi-type1\",\n"
        "   \"sensors\": [\"truck-l1\", \"truck-l2\"], \"budget_used\": {\"heat-30\": "
        "\"1h30m\"}}]}\n",
        data);
    harness_path(cfg_path, sizeof(cfg_path), "gateway.json");
    HARNESS_REQUIRE(harness_write_file(cfg_path, text) == 0, "config written");
}

static void generate(void)
{
    const char *gen = getenv("COLDCHAIN_GEN_HISTORY");
    HARNESS_REQUIRE(gen != NULL, "COLDCHAIN_GEN_HISTORY is set");
    char t0[32], err[600];
    snprintf(t0, sizeof(t0), "%lld", T0_S);
    harness_path(err, sizeof(err), "gen_history.err");
    int64_t start = harness_mono_ms();
    int st = run((const char *const[]){gen, cfg_path, t0, NULL}, NULL, err);
    printf("gen_history: a month of history written in %.1f s\n",
           (double)(harness_mono_ms() - start) / 1000.0);
    if (st != 0) {
        char *e = harness_read_file(err);
        fprintf(stderr, "%s", e ? e : "");
        free(e);
    }
    HARNESS_REQUIRE(st == 0, "gen_history wrote the history (exit %d)", st);
}

static sqlite3 *db;
static int64_t schema; /* PRAGMA user_version: 3 with assignments and the audit trail */

static int64_t db_int(const char *sql, const char *text)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        if (text != NULL)
            sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

static double db_double(const char *sql, const char *text)
{
    sqlite3_stmt *st = NULL;
    double v = (double)NAN;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_double(st, 0);
    }
    sqlite3_finalize(st);
    return v;
}

/* ---- history: row for row ---------------------------------------------------------------- */

/* The stored rows of a shipment's export, in the order coldchainctl promises: by row id. */
static sqlite3_stmt *stored_rows(const char *sensor_like, int64_t from_ms, int64_t to_ms)
{
    sqlite3_stmt *st = NULL;
    HARNESS_REQUIRE(sqlite3_prepare_v2(db,
                                       "SELECT sensor_id, quantity, ts_ms, value, flags FROM "
                                       "readings WHERE sensor_id LIKE ?1 AND ts_ms >= ?2 AND "
                                       "ts_ms < ?3 ORDER BY id",
                                       -1, &st, NULL) == SQLITE_OK,
                    "query of the stored rows prepared");
    sqlite3_bind_text(st, 1, sensor_like, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, from_ms);
    sqlite3_bind_int64(st, 3, to_ms);
    return st;
}

static const char *flag_words(int flags, bool json)
{
    static char buf[64];
    buf[0] = '\0';
    static const char *const names[] = {"fault", "unsynced", "estimated"};
    for (int i = 0; i < 3; i++) {
        if (!(flags & (1 << i)))
            continue;
        size_t len = strlen(buf);
        snprintf(buf + len, sizeof(buf) - len, json ? "%s\"%s\"" : "%s%s",
                 len ? (json ? "," : " ") : "", names[i]);
    }
    return buf;
}

/* Compares one exported row with the stored one; prints the first difference. */
static bool row_equal(sqlite3_stmt *st, const char *sensor, const char *quantity, int64_t ts_ms,
                      bool has_value, double value, const char *flags, bool json,
                      unsigned long line)
{
    const char *want_sensor = (const char *)sqlite3_column_text(st, 0);
    int q = sqlite3_column_int(st, 1);
    bool null = sqlite3_column_type(st, 3) == SQLITE_NULL;
    double want = sqlite3_column_double(st, 3);
    bool ok = strcmp(sensor, want_sensor) == 0 && q == 0 && strcmp(quantity, "temperature") == 0 &&
              ts_ms == sqlite3_column_int64(st, 2) && has_value == !null &&
              (null || same_double(value, want)) &&
              strcmp(flags, flag_words(sqlite3_column_int(st, 4), json)) == 0;
    if (!ok)
        printf("line %lu: got %s %s %" PRId64 " %s%.17g [%s], stored %s %d %" PRId64
               " %s%.17g [%s]\n",
               line, sensor, quantity, ts_ms, has_value ? "" : "null ", value, flags, want_sensor,
               q, (int64_t)sqlite3_column_int64(st, 2), null ? "null " : "", want,
               flag_words(sqlite3_column_int(st, 4), json));
    return ok;
}

/* Checks a CSV export against the stored rows; writes the first four columns to replay_csv
 * (may be NULL) for `coldchainctl replay`. Returns the rows compared. */
static unsigned long check_csv(const char *name, sqlite3_stmt *st, const char *replay_csv,
                               unsigned long *bad_out)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.out", harness_dir(), name);
    FILE *in = fopen(path, "r");
    FILE *rp = replay_csv ? fopen(replay_csv, "w") : NULL;
    HARNESS_REQUIRE(in != NULL && (replay_csv == NULL || rp != NULL), "%s: output readable", name);
    char *line = NULL;
    size_t cap = 0;
    unsigned long rows = 0, bad = 0, lineno = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        if (line[len - 1] == '\n')
            line[--len] = '\0';
        if (lineno == 1) {
            harness_check(strcmp(line, "ts,sensor,quantity,value,unit,flags") == 0,
                          "%s: header ts,sensor,quantity,value,unit,flags (got %s)", name, line);
            if (rp)
                fputs("ts,sensor,quantity,value\n", rp);
            continue;
        }
        char *f[6] = {0};
        char *save = line;
        for (int i = 0; i < 6; i++)
            f[i] = strsep(&save, ",");
        if (f[5] == NULL || save != NULL || sqlite3_step(st) != SQLITE_ROW) {
            bad++;
            if (bad < 3)
                printf("%s: line %lu: malformed or more rows than stored\n", name, lineno);
            continue;
        }
        int64_t ts = 0;
        char *end = NULL;
        double v = f[3][0] ? strtod(f[3], &end) : (double)NAN;
        bool ok = harness_parse_ts_ms(f[0], &ts) == 0 && (f[3][0] == '\0' || *end == '\0') &&
                  strcmp(f[4], "°C") == 0 &&
                  row_equal(st, f[1], f[2], ts, f[3][0] != '\0', v, f[5], false, lineno);
        bad += !ok;
        rows++;
        if (rp)
            fprintf(rp, "%s,%s,%s,%s\n", f[0], f[1], f[2], f[3]);
    }
    bool more = sqlite3_step(st) == SQLITE_ROW;
    harness_check(!more, "%s: no stored row is missing from the export", name);
    free(line);
    fclose(in);
    if (rp)
        fclose(rp);
    sqlite3_finalize(st);
    *bad_out = bad;
    return rows;
}

static unsigned long check_json_lines(const char *name, sqlite3_stmt *st, unsigned long *bad_out,
                                      unsigned long *long_values_out)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s.out", harness_dir(), name);
    FILE *in = fopen(path, "r");
    HARNESS_REQUIRE(in != NULL, "%s: output readable", name);
    char *line = NULL;
    size_t cap = 0;
    unsigned long rows = 0, bad = 0, lineno = 0, long_values = 0;
    bool open = false, closed = false;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) > 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == ','))
            line[--len] = '\0';
        if (strcmp(line, "[") == 0) {
            open = true;
            continue;
        }
        if (strcmp(line, "]") == 0) {
            closed = true;
            continue;
        }
        cJSON *o = cJSON_Parse(line);
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(o, "ts");
        const cJSON *sensor = cJSON_GetObjectItemCaseSensitive(o, "sensor");
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(o, "quantity");
        const cJSON *value = cJSON_GetObjectItemCaseSensitive(o, "value");
        const cJSON *flags = cJSON_GetObjectItemCaseSensitive(o, "flags");
        int64_t ts_ms = 0;
        char fl[64] = "";
        for (const cJSON *e = cJSON_IsArray(flags) ? flags->child : NULL; e; e = e->next) {
            size_t l = strlen(fl);
            snprintf(fl + l, sizeof(fl) - l, "%s\"%s\"", l ? "," : "",
                     cJSON_IsString(e) ? e->valuestring : "?");
        }
        /* cJSON reads numbers with strtod: exact when the text is. */
        bool ok = o && cJSON_IsString(ts) && harness_parse_ts_ms(ts->valuestring, &ts_ms) == 0 &&
                  cJSON_IsString(sensor) && cJSON_IsString(q) &&
                  (cJSON_IsNumber(value) || cJSON_IsNull(value)) && cJSON_IsArray(flags) &&
                  sqlite3_step(st) == SQLITE_ROW &&
                  row_equal(st, sensor->valuestring, q->valuestring, ts_ms, cJSON_IsNumber(value),
                            cJSON_IsNumber(value) ? value->valuedouble : 0, fl, true, lineno);
        if (ok && cJSON_IsNumber(value)) {
            const char *v = strstr(line, "\"value\":");
            long_values += v && strcspn(v + 8, ",}") >= 17;
        }
        bad += !ok;
        rows++;
        cJSON_Delete(o);
    }
    harness_check(open && closed, "%s: one JSON array, one reading a line", name);
    harness_check(sqlite3_step(st) != SQLITE_ROW, "%s: no stored row is missing", name);
    free(line);
    fclose(in);
    sqlite3_finalize(st);
    *bad_out = bad;
    *long_values_out = long_values;
    return rows;
}

/* The export called name (CSV) row for row against the store's own definition of the
 * shipment's readings (gen_history --readings: store_shipment_readings_each). */
static void check_store_agrees(const char *name, const char *shipment)
{
    char dump[600], err[600], path[600];
    harness_path(dump, sizeof(dump), "store-readings.txt");
    harness_path(err, sizeof(err), "store-readings.err");
    snprintf(path, sizeof(path), "%s/%s.out", harness_dir(), name);
    int st = run((const char *const[]){getenv("COLDCHAIN_GEN_HISTORY"), "--readings", cfg_path,
                                       shipment, NULL},
                 dump, err);
    FILE *a = fopen(path, "r"), *b = fopen(dump, "r");
    HARNESS_REQUIRE(st == 0 && a && b, "gen_history --readings %s (exit %d)", shipment, st);
    char *la = NULL, *lb = NULL;
    size_t ca = 0, cb = 0;
    unsigned long rows = 0, bad = 0;
    bool more_a = getline(&la, &ca, a) > 0; /* the header */
    for (;;) {
        more_a = getline(&la, &ca, a) > 0;
        bool more_b = getline(&lb, &cb, b) > 0;
        if (!more_a || !more_b) {
            bad += more_a != more_b;
            break;
        }
        char sensor_a[40], sensor_b[40], value_a[40] = "", value_b[40] = "", ts_a[40];
        long long id, ts_b;
        unsigned q, fl;
        int64_t ts_ms = 0;
        /* CSV: ts,sensor,quantity,value,unit,flags; the dump: id,sensor,q,ts_ms,value,flags */
        bool ok = sscanf(la, "%39[^,],%39[^,],%*[^,],%39[^,]", ts_a, sensor_a, value_a) >= 2 &&
                  sscanf(lb, "%lld,%39[^,],%u,%lld,%39[^,],%u", &id, sensor_b, &q, &ts_b, value_b,
                         &fl) >= 4 &&
                  harness_parse_ts_ms(ts_a, &ts_ms) == 0 && ts_ms == ts_b &&
                  strcmp(sensor_a, sensor_b) == 0;
        /* An empty value: sscanf stops at it, and both sides must be empty together. */
        bool fault_a = strstr(la, ",,°C,") != NULL, fault_b = strstr(lb, ",,") != NULL;
        ok = ok && fault_a == fault_b &&
             (fault_a || same_double(strtod(value_a, NULL), strtod(value_b, NULL)));
        bad += !ok;
        rows++;
    }
    harness_check(bad == 0 && rows > 0,
                  "%s: the export is the store's own store_shipment_readings_each(), row for row "
                  "(%lu rows, %lu differ)",
                  name, rows, bad);
    free(la);
    free(lb);
    fclose(a);
    fclose(b);
}

static void check_history(void)
{
    int64_t t0 = T0_S * 1000;
    unsigned long bad = 0, longs = 0;

    int st =
        ctl_run("history-fridge", (const char *[]){"-c", cfg_path, "history", "fridge-a", NULL});
    harness_check(st == 0, "history fridge-a: exit 0 (got %d)", st);
    char replay_csv[600];
    harness_path(replay_csv, sizeof(replay_csv), "fridge-replay.csv");
    unsigned long rows =
        check_csv("history-fridge", stored_rows("fridge-p%", t0, INT64_MAX), replay_csv, &bad);
    harness_check(rows == 30UL * 1440 * 8 && bad == 0,
                  "history fridge-a CSV: %lu rows (30 days x 8 probes x 1/min = 345600), %lu "
                  "differ from the stored ones",
                  rows, bad);
    if (schema >= 3)
        check_store_agrees("history-fridge", "fridge-a");
    char *err = ctl_output("history-fridge", "err");
    harness_check(err && err[0] == '\0',
                  "history: nothing on stderr when it is not a terminal (no progress)");
    free(err);

    st = ctl_run("history-truck", (const char *[]){"history", "truck-42", "--format", "json",
                                                   "--db", db_path, "-c", cfg_path, NULL});
    harness_check(st == 0, "history truck-42 --format json: exit 0 (got %d)", st);
    rows = check_json_lines("history-truck", stored_rows("truck-l%", TRUCK_START_MS, TRUCK_END_MS),
                            &bad, &longs);
    int64_t all = db_int("SELECT COUNT(*) FROM readings WHERE sensor_id LIKE ?1", "truck-l%");
    harness_check(rows == 2UL * 2 * 1440 && bad == 0,
                  "history truck-42 JSON: %lu rows, only the shipment's window (the loggers "
                  "stored %" PRId64 "), %lu differ",
                  rows, all, bad);
    harness_check(longs > 0, "history JSON: %lu values needed 17 digits and read back exactly",
                  longs);
    if (schema >= 3) {
        st = ctl_run("history-truck-csv",
                     (const char *[]){"-c", cfg_path, "history", "truck-42", NULL});
        harness_check(st == 0, "history truck-42 (CSV): exit 0 (got %d)", st);
        check_store_agrees("history-truck-csv", "truck-42");
    }

    /* A window of fridge-p5 around its faults: 2 hours, 16 of them faults. */
    char from[32], to[32];
    snprintf(from, sizeof(from), "%lld", T0_S + 7 * 86400 + 9 * 3600);
    snprintf(to, sizeof(to), "%s", "2026-10-08T11:00:00Z");
    st = ctl_run("history-p5",
                 (const char *[]){"-c", cfg_path, "history", "fridge-a", "--sensor", "fridge-p5",
                                  "--from", from, "--to", to, "--format", "csv", NULL});
    harness_check(st == 0, "history --sensor --from --to: exit 0 (got %d)", st);
    rows = check_csv(
        "history-p5",
        stored_rows("fridge-p5", t0 + 7 * DAY_MS + 9 * 3600000, t0 + 7 * DAY_MS + 11 * 3600000),
        NULL, &bad);
    char *out = ctl_output("history-p5", "out");
    harness_check(rows == 120 && bad == 0 && out && count_of(out, ",,°C,fault\n") == 16,
                  "history --sensor fridge-p5 over 2 h: 120 rows equal to the stored ones, 16 "
                  "faults with an empty value (got %lu rows, %lu differ)",
                  rows, bad);
    free(out);
}

/* ---- shipments, show, events ------------------------------------------------------------- */

static cJSON *ctl_json(const char *name, const char *const *args)
{
    int st = ctl_run(name, args);
    char *out = ctl_output(name, "out");
    cJSON *j = out ? cJSON_Parse(out) : NULL;
    harness_check(st == 0 && j != NULL, "%s: exit 0 and JSON (exit %d)", name, st);
    free(out);
    return j;
}

static const cJSON *get(const cJSON *o, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(o, key);
}

static void check_shipments(void)
{
    cJSON *j =
        ctl_json("shipments-json", (const char *[]){"--json", "shipments", "-c", cfg_path, NULL});
    const cJSON *fridge = cJSON_GetArrayItem(j, 0), *truck = cJSON_GetArrayItem(j, 1);
    int64_t raised = db_int("SELECT COUNT(*) FROM alerts WHERE shipment_id = ?1 AND "
                            "transition = 'raised'",
                            "fridge-a");
    harness_check(cJSON_GetArraySize(j) == 2 && cJSON_IsString(get(fridge, "id")) &&
                      strcmp(get(fridge, "id")->valuestring, "fridge-a") == 0 &&
                      cJSON_IsNull(get(fridge, "ended")) &&
                      cJSON_GetNumberValue(get(fridge, "alarms_raised")) == (double)raised &&
                      raised >= 4,
                  "shipments --json: fridge-a first, running, %" PRId64 " alarms raised", raised);
    const cJSON *w = get(fridge, "worst_excursion");
    harness_check(cJSON_GetNumberValue(get(w, "worst")) == 9.8 &&
                      strcmp(cJSON_GetStringValue(get(w, "alarm")), "heat") == 0 &&
                      strcmp(cJSON_GetStringValue(get(w, "sensor")), "fridge-p3") == 0,
                  "shipments --json: the worst excursion is heat on fridge-p3 at 9.8");
    int64_t ended = 0;
    harness_check(cJSON_IsString(get(truck, "ended")) &&
                      harness_parse_ts_ms(get(truck, "ended")->valuestring, &ended) == 0 &&
                      ended == TRUCK_END_MS &&
                      strcmp(cJSON_GetStringValue(get(truck, "profile")), "who-esi-type1") == 0,
                  "shipments --json: truck-42 ended at day 27, profile who-esi-type1");
    cJSON_Delete(j);

    int st = ctl_run("shipments", (const char *[]){"-c", cfg_path, "shipments", NULL});
    char *out = ctl_output("shipments", "out");
    harness_check(st == 0 && out && strstr(out, "ID ") == out && strstr(out, "WORST EXCURSION") &&
                      strstr(out, "running") &&
                      strstr(out, "9.8 °C, above 8 °C (heat on fridge-p3)") &&
                      strstr(out, "2026-10-28 00:00 UTC"),
                  "shipments: a table with the running fridge, its worst excursion in words and "
                  "the truck's end");
    if (out)
        printf("---- coldchainctl shipments\n%s----\n", out);
    free(out);
}

struct show_numbers {
    double mean[8], mkt[8];
};

static void check_show(struct show_numbers *nums)
{
    cJSON *j =
        ctl_json("show-json", (const char *[]){"-c", cfg_path, "show", "fridge-a", "--json", NULL});
    const cJSON *sensors = get(j, "sensors");
    int n = 0, good = 0;
    for (const cJSON *s = sensors ? sensors->child : NULL; s; s = s->next, n++) {
        const char *id = cJSON_GetStringValue(get(s, "sensor"));
        int k = id && strncmp(id, "fridge-p", 8) == 0 ? id[8] - '1' : -1;
        if (k < 0 || k > 7)
            continue;
        double mn = db_double("SELECT MIN(value) FROM readings WHERE sensor_id = ?1", id);
        double mx = db_double("SELECT MAX(value) FROM readings WHERE sensor_id = ?1", id);
        int64_t valid = db_int("SELECT COUNT(value) FROM readings WHERE sensor_id = ?1", id);
        int64_t faults =
            db_int("SELECT COUNT(*) FROM readings WHERE sensor_id = ?1 AND value IS NULL", id);
        nums->mean[k] = cJSON_GetNumberValue(get(s, "mean"));
        nums->mkt[k] = cJSON_GetNumberValue(get(s, "mkt"));
        bool ok = same_double(cJSON_GetNumberValue(get(s, "min")), mn) &&
                  same_double(cJSON_GetNumberValue(get(s, "max")), mx) &&
                  cJSON_GetNumberValue(get(s, "readings")) == (double)valid &&
                  cJSON_GetNumberValue(get(s, "faults")) == (double)faults &&
                  isfinite(nums->mean[k]) && isfinite(nums->mkt[k]);
        if (!ok)
            printf("show --json: %s differs from the database (min %g max %g valid %" PRId64
                   " faults %" PRId64 ")\n",
                   id, mn, mx, valid, faults);
        good += ok;
    }
    harness_check(n == 8 && good == 8,
                  "show --json: 8 probes, each min, max, readings and faults as in the database");
    const cJSON *p3 = cJSON_GetArrayItem(sensors, 2);
    double heat_p3 = cJSON_GetNumberValue(get(get(p3, "beyond_s"), "heat"));
    harness_check(
        heat_p3 > 0 && cJSON_GetNumberValue(get(get(p3, "budget_used_s"), "tor")) == heat_p3,
        "show --json: fridge-p3 spent %.0f s above 8 °C, and as much of its tor budget", heat_p3);
    bool acked = false;
    for (const cJSON *a = get(j, "alarms") ? get(j, "alarms")->child : NULL; a; a = a->next) {
        for (const cJSON *x = get(a, "actions") ? get(a, "actions")->child : NULL; x; x = x->next) {
            const char *c = cJSON_GetStringValue(get(x, "comment"));
            acked =
                acked || (c && strncmp(c, "Door was left open <b>overnight</b> & stock", 43) == 0 &&
                          strcmp(cJSON_GetStringValue(get(x, "by")), "Anna Keller") == 0);
        }
    }
    harness_check(acked, "show --json: the heat alarm's acknowledgement by Anna Keller with her "
                         "comment, as written");
    const cJSON *audit = get(j, "audit");
    if (schema >= 3)
        harness_check(
            cJSON_IsTrue(get(audit, "verified")) &&
                strlen(cJSON_GetStringValue(get(audit, "head"))) == 64 &&
                strncmp(cJSON_GetStringValue(get(audit, "statement")), "verify passed", 13) == 0,
            "show --json: verify passed, with the chain's head hash");
    else
        harness_check(cJSON_IsNull(get(audit, "verified")) &&
                          cJSON_IsString(get(audit, "statement")),
                      "show --json: no audit trail to verify (schema 2), and it says so");
    cJSON_Delete(j);

    /* The same numbers by replay: the exported readings through the gateway's rules. */
    char csv[600], out[600], err[600];
    harness_path(csv, sizeof(csv), "fridge-replay.csv");
    harness_path(out, sizeof(out), "replay.out");
    harness_path(err, sizeof(err), "replay.err");
    int st = run((const char *const[]){ctl, "replay", "-c", cfg_path, csv, NULL}, out, err);
    char *text = harness_read_file(out);
    int same = 0;
    for (char *line = text ? strtok(text, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        cJSON *o = cJSON_Parse(line);
        const char *type = cJSON_GetStringValue(get(o, "type"));
        const char *id = cJSON_GetStringValue(get(o, "sensor"));
        if (type && strcmp(type, "summary") == 0 && id && strncmp(id, "fridge-p", 8) == 0) {
            int k = id[8] - '1';
            /* replay prints with cJSON, which settles for 15 digits when they read back within
             * an epsilon of the value (cJSON's compare_double); show prints exactly. */
            bool ok = k >= 0 && k < 8 &&
                      cjson_equal(cJSON_GetNumberValue(get(o, "mean")), nums->mean[k]) &&
                      cjson_equal(cJSON_GetNumberValue(get(o, "mkt")), nums->mkt[k]);
            if (!ok)
                printf("replay %s: mean %.17g mkt %.17g; show %.17g %.17g\n", id,
                       cJSON_GetNumberValue(get(o, "mean")), cJSON_GetNumberValue(get(o, "mkt")),
                       nums->mean[k], nums->mkt[k]);
            same += ok;
        }
        cJSON_Delete(o);
    }
    free(text);
    harness_check(st == 0 && same == 8,
                  "show's mean and MKT of every probe are what coldchainctl replay computes "
                  "from the exported CSV (%d of 8)",
                  same);

    st = ctl_run("show", (const char *[]){"-c", cfg_path, "show", "fridge-a", NULL});
    char *txt = ctl_output("show", "out");
    harness_check(st == 0 && txt &&
                      strstr(txt, "Shipment fridge-a: storage, profile "
                                  "pharmacy-fridge") &&
                      strstr(txt, "above 8 °C, at once") && strstr(txt, "In short:") &&
                      strstr(txt, "fridge-p3 was above 8 °C (heat) for") &&
                      strstr(txt, "acknowledged 2026-10-12 07:02:05 UTC by Anna Keller") &&
                      strstr(txt, schema >= 3 ? "Audit trail: verify passed"
                                              : "Audit trail: not "
                                                "verifiable"),
                  "show: limits, findings, the acknowledgement and the audit line in words");
    if (txt)
        printf("---- coldchainctl show fridge-a\n%s----\n", txt);
    free(txt);

    j = ctl_json("show-truck",
                 (const char *[]){"-c", cfg_path, "show", "truck-42", "--json", NULL});
    const cJSON *l1 = cJSON_GetArrayItem(get(j, "sensors"), 0);
    harness_check(cJSON_GetNumberValue(get(get(l1, "budget_used_s"), "heat-30")) == 16200.0 &&
                      cJSON_GetNumberValue(get(get(l1, "beyond_s"), "heat-30")) == 10800.0,
                  "show truck-42: heat-30 budget used 4 h 30 min (1 h 30 min of earlier legs + "
                  "3 h at 31 °C), 3 h beyond 30 °C");
    if (schema >= 3) {
        const cJSON *sh = get(j, "shipment");
        harness_check(strcmp(cJSON_GetStringValue(get(sh, "ended_by")), "Carla Diaz") == 0 &&
                          strcmp(cJSON_GetStringValue(get(sh, "end_comment")),
                                 "Delivered to the district store") == 0 &&
                          strcmp(cJSON_GetStringValue(get(sh, "started_by")), "from the config") ==
                              0,
                      "show truck-42: how it started, and who ended it and why, from the audit "
                      "trail");
    }
    cJSON_Delete(j);

    /* events: the audit trail's rows of the shipment (schema 3), else its alert transitions. */
    j = ctl_json("events-json",
                 (const char *[]){"-c", cfg_path, "events", "fridge-a", "--json", NULL});
    int64_t rows = db_int(schema >= 3 ? "SELECT COUNT(*) FROM events WHERE shipment_id = ?1"
                                      : "SELECT COUNT(*) FROM alerts WHERE shipment_id = ?1",
                          "fridge-a");
    harness_check(cJSON_GetArraySize(j) == rows && rows > 0,
                  "events --json: the %" PRId64 " %s of fridge-a", rows,
                  schema >= 3 ? "audit-trail events" : "alert transitions");
    cJSON_Delete(j);
    st = ctl_run("events", (const char *[]){"-c", cfg_path, "events", "fridge-a", NULL});
    txt = ctl_output("events", "out");
    if (schema >= 3)
        harness_check(st == 0 && txt && strstr(txt, "    ID  TIME") == txt &&
                          strstr(txt, "shipment-start") && strstr(txt, "alarm"),
                      "events: a table of the audit trail with the start and the alarms");
    else
        harness_check(st == 0 && txt && strstr(txt, "   SEQ  TIME") == txt &&
                          strstr(txt, "acknowledged") && strstr(txt, "by Bob O'Neil"),
                      "events: a table with the acknowledgements and who made them");
    free(txt);
    if (schema >= 3) {
        st = ctl_run("events-truck", (const char *[]){"-c", cfg_path, "events", "truck-42", NULL});
        txt = ctl_output("events-truck", "out");
        harness_check(st == 0 && txt && strstr(txt, "shipment-end") && strstr(txt, "Carla Diaz"),
                      "events truck-42: its end, and who ended it");
        free(txt);
    }
}

/* Reads while a writer holds an open write transaction: WAL lets it, and it sees only what was
 * committed. */
static void check_concurrent(void)
{
    sqlite3 *w = NULL;
    bool open = sqlite3_open(db_path, &w) == SQLITE_OK &&
                sqlite3_exec(w,
                             "BEGIN IMMEDIATE; INSERT INTO readings (sensor_id, quantity, "
                             "ts_ms, value, flags) VALUES ('fridge-p1', 0, 1790812800001, "
                             "99, 0);",
                             NULL, NULL, NULL) == SQLITE_OK;
    harness_check(open, "a writer holds a write transaction with an uncommitted reading");
    int st =
        ctl_run("concurrent", (const char *[]){"-c", cfg_path, "history", "fridge-a", "--sensor",
                                               "fridge-p1", "--to", "2026-10-01T00:10:00Z", NULL});
    char *out = ctl_output("concurrent", "out");
    harness_check(st == 0 && out && count_of(out, "\n") == 11 && !strstr(out, ",99,"),
                  "history reads during the writer's transaction and sees only committed rows");
    free(out);
    sqlite3_exec(w, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(w);
}

static void check_exit_codes(void)
{
    char missing[600];
    harness_path(missing, sizeof(missing), "nothing-here.db");
    struct {
        const char *what;
        const char *args[10];
        int want;
    } cases[] = {
        {"no such shipment", {"-c", cfg_path, "show", "fridge-z", NULL}, 1},
        {"no such sensor", {"-c", cfg_path, "history", "fridge-a", "--sensor", "x", NULL}, 1},
        {"show without SHIPMENT", {"-c", cfg_path, "show", NULL}, 2},
        {"--format xml", {"-c", cfg_path, "history", "fridge-a", "--format", "xml", NULL}, 2},
        {"report without -o", {"-c", cfg_path, "report", "fridge-a", NULL}, 2},
        {"--from not a time", {"-c", cfg_path, "history", "fridge-a", "--from", "soon", NULL}, 2},
        /* Schema 2 keeps a shipment's sensors in the config only; schema 3 records them. */
        {"show without the config",
         {"show", "fridge-a", "--db", db_path, NULL},
         schema >= 3 ? 0 : 2},
        {"a database that is not there", {"shipments", "--db", missing, NULL}, 3},
        {"a file that is not a history", {"shipments", "--db", cfg_path, NULL}, 3},
        {"a config that is not there", {"-c", missing, "shipments", NULL}, 78},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int st = ctl_run("exit", cases[i].args);
        harness_check(st == cases[i].want, "exit %d for %s (got %d)", cases[i].want, cases[i].what,
                      st);
    }
    int st = ctl_run("help", (const char *[]){"--help", NULL});
    char *out = ctl_output("help", "out");
    harness_check(st == 0 && out && strstr(out, "history SHIPMENT [--from T]") &&
                      strstr(out, "Exit: 0 done, 1 no such shipment (or sensor), 2 usage, 3 the "
                                  "database cannot be"),
                  "--help lists the verbs and their exit codes");
    free(out);
    /* shipments needs no config: the database alone. */
    st = ctl_run("shipments-db", (const char *[]){"shipments", "--db", db_path, NULL});
    harness_check(st == 0, "shipments --db PATH works without a config (exit %d)", st);
}

/* ---- the report -------------------------------------------------------------------------- */

/* Text as Chromium's DOM serializer writes a text node: & < > escaped, quotes as they are. */
static void dom_text(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; *s && n + 6 < cap; s++) {
        const char *e = *s == '&' ? "&amp;" : *s == '<' ? "&lt;" : *s == '>' ? "&gt;" : NULL;
        if (e) {
            memcpy(buf + n, e, strlen(e));
            n += strlen(e);
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
}

static const char *chromium_path(void)
{
    static const char *const names[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (access(names[i], X_OK) == 0)
            return names[i];
    }
    return NULL;
}

/* Runs chromium headless with extra (one argument) on report; stdout into out_path. */
static bool chromium(const char *bin, const char *name, const char *extra, const char *report,
                     const char *out_path)
{
    char cmd[4096], profile[600], home[600];
    harness_path(profile, sizeof(profile), "chromium-profile");
    harness_path(home, sizeof(home), "home");
    mkdir(home, 0700);
    /* A shell only to send stdout to its own file (the harness logs stderr); every path is
     * in the test's mkdtemp directory, without quotes or spaces. */
    snprintf(cmd, sizeof(cmd),
             "HOME='%s' exec '%s' --headless --disable-gpu --no-sandbox --no-first-run "
             "--disable-dev-shm-usage --user-data-dir='%s' %s 'file://%s' > '%s'",
             home, bin, profile, extra, report, out_path);
    struct harness_proc *p = harness_spawn(name, (const char *const[]){"/bin/sh", "-c", cmd, NULL});
    int status = -1;
    if (p == NULL || harness_proc_wait(p, 120000, &status) < 0) {
        if (p)
            harness_proc_stop(p, 2000, NULL);
        return false;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void check_report(const struct show_numbers *nums)
{
    char report[600];
    harness_path(report, sizeof(report), "report.html");
    int64_t start = harness_mono_ms();
    int st = ctl_run("report",
                     (const char *[]){"-c", cfg_path, "report", "fridge-a", "-o", report, NULL});
    int64_t took = harness_mono_ms() - start;
    printf("report: fridge-a, 30 days x 8 probes (345600 readings) rendered in %.2f s\n",
           (double)took / 1000.0);
    char *html = harness_read_file(report);
    HARNESS_REQUIRE(st == 0 && html != NULL, "report -o report.html: exit 0 and the file (%d)", st);
    struct stat sb;
    stat(report, &sb);
    printf("report: %lld bytes\n", (long long)sb.st_size);
    harness_check(!strstr(html, "<script") &&
                      strstr(html, "&lt;script&gt;alert(1)&lt;/script&gt;") &&
                      strstr(html, "Middle shelf &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; "
                                   "&amp; co"),
                  "report: the sensor name and the comment with markup are escaped, no script");
    harness_check(!strstr(html, "http://") ||
                      count_of(html, "http://") == count_of(html, "http://www.w3.org/2000/svg"),
                  "report: self-contained (no address but the SVG namespace)");
    harness_check(strstr(html, "@media print") != NULL, "report: a print stylesheet");
    free(html);

    const char *bin = chromium_path();
    if (bin == NULL) {
        if (harness_failures() > 0)
            harness_exit();
        harness_skip("chromium is not installed (tools/setup installs it)");
    }
    char dom_path[600], png[600], extra[700];
    harness_path(dom_path, sizeof(dom_path), "dom.html");
    harness_path(png, sizeof(png), "report.png");
    bool ok = chromium(bin, "chromium-dom", "--dump-dom", report, dom_path);
    char *dom = harness_read_file(dom_path);
    HARNESS_REQUIRE(ok && dom && strlen(dom) > 1000,
                    "chromium --headless --dump-dom rendered the report");
    harness_check(strstr(dom, "<title>Shipment fridge-a: temperature report</title>") != NULL,
                  "DOM: the title");
    harness_check(strstr(dom, "<span id=\"shipment-id\">fridge-a</span>") != NULL,
                  "DOM: the shipment id");
    harness_check(count_of(dom, "<svg") == 8 && count_of(dom, "class=\"probe\"") == 8,
                  "DOM: one chart (<svg>) per probe, 8 (got %zu)", count_of(dom, "<svg"));
    harness_check(count_of(dom, "data-alarm=\"heat tor\" data-limit=\"8\"") == 8 &&
                      count_of(dom, "data-alarm=\"freeze\" data-limit=\"2\"") == 8,
                  "DOM: every chart draws the limits: 8 °C (heat, tor) and 2 °C (freeze)");
    harness_check(count_of(dom, "class=\"excursion high\"") >= 2 &&
                      count_of(dom, "class=\"excursion low\"") >= 1,
                  "DOM: the excursions are shaded (above on p3 and p4, below on p7)");
    int rows = 0;
    for (int k = 0; k < 8; k++) {
        char key[64], cell[64], id[16];
        snprintf(id, sizeof(id), "fridge-p%d", k + 1);
        snprintf(key, sizeof(key), "<tr data-sensor=\"%s\">", id);
        const char *row = strstr(dom, key);
        const char *end = row ? strstr(row, "</tr>") : NULL;
        if (row == NULL || end == NULL)
            continue;
        char *r = strndup(row, (size_t)(end - row));
        char mn[32], mx[32];
        exact(db_double("SELECT MIN(value) FROM readings WHERE sensor_id = ?1", id), mn,
              sizeof(mn));
        exact(db_double("SELECT MAX(value) FROM readings WHERE sensor_id = ?1", id), mx,
              sizeof(mx));
        bool good = true;
        snprintf(cell, sizeof(cell), ">%s</td>", mn);
        good = good && strstr(r, cell);
        snprintf(cell, sizeof(cell), ">%s</td>", mx);
        good = good && strstr(r, cell);
        snprintf(cell, sizeof(cell), ">%.2f</td>", nums->mean[k]);
        good = good && strstr(r, cell);
        snprintf(cell, sizeof(cell), ">%.2f</td>", nums->mkt[k]);
        good = good && strstr(r, cell);
        if (!good)
            printf("DOM summary row of %s: %s\n", id, r);
        rows += good;
        free(r);
    }
    harness_check(rows == 8,
                  "DOM: the summary table has every probe's min, max, mean and MKT "
                  "(%d of 8)",
                  rows);
    char want[512];
    dom_text("Door was left open <b>overnight</b> & stock checked; \"OK\" per the manufacturer's "
             "stability data",
             want, sizeof(want));
    harness_check(strstr(dom, want) != NULL && strstr(dom, "Anna Keller") != NULL,
                  "DOM: the acknowledgement's comment, as text, and who wrote it");
    harness_check(strstr(dom, "<script") == NULL, "DOM: no script element");
    harness_check(strstr(dom, schema >= 3
                                  ? "id=\"verify-statement\" class=\"ok\">verify passed"
                                  : "id=\"verify-statement\" class=\"\">not verifiable") != NULL,
                  "DOM: the statement on the audit trail (%s)",
                  schema >= 3 ? "verify passed" : "schema 2: not verifiable");
    free(dom);

    snprintf(extra, sizeof(extra), "--screenshot='%s' --window-size=1200,2000", png);
    ok = chromium(bin, "chromium-png", extra, report, "/dev/null");
    struct stat ps;
    char *img = ok ? harness_read_file(png) : NULL;
    harness_check(ok && stat(png, &ps) == 0 && ps.st_size > 40 * 1024 && img &&
                      memcmp(img, "\x89PNG", 4) == 0,
                  "screenshot: a PNG of %lld bytes (more than 40 KiB)",
                  ok && stat(png, &ps) == 0 ? (long long)ps.st_size : 0LL);
    free(img);
}

int main(void)
{
    HARNESS_REQUIRE(harness_init("history_report") == 0, "harness ready");
    ctl = getenv("COLDCHAINCTL");
    HARNESS_REQUIRE(ctl != NULL, "COLDCHAINCTL is set");
    write_config();
    generate();
    HARNESS_REQUIRE(sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK,
                    "history.db opened by the test");
    schema = db_int("PRAGMA user_version", NULL);
    printf("history.db: schema %" PRId64 "\n", schema);
    struct show_numbers nums = {0};
    check_shipments();
    check_history();
    check_show(&nums);
    check_concurrent();
    check_exit_codes();
    check_report(&nums);
    sqlite3_close(db);
    harness_exit();
}
