/* coldchainctl replay, the built binary on files (docs/rules.md "Replay"): the transitions a
 * pharmacist would have been told, with their exact stamps, the summaries, a preset's budgets,
 * and bad lines reported by number with exit 65 while the rest is replayed. The data are in
 * tests/data/replay/. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MAX_LINES 64

static const char *ctl;

struct run {
    int status;
    char *log;                  /* stdout and stderr, as written */
    cJSON *json[MAX_LINES];     /* the JSON lines, in order */
    size_t count;
};

static void run_replay(struct run *out, const char *name, const char *config, const char *csv)
{
    char cfg_path[1024], csv_path[1024], what[32];
    snprintf(cfg_path, sizeof(cfg_path), "%s/%s", TEST_DATA_DIR "/replay", config);
    snprintf(csv_path, sizeof(csv_path), "%s/%s", TEST_DATA_DIR "/replay", csv);
    struct harness_proc *p = harness_spawn(
        name, (const char *const[]){ctl, "replay", "-c", cfg_path, csv_path, NULL});
    HARNESS_REQUIRE(p, "%s: coldchainctl started", name);
    memset(out, 0, sizeof(*out));
    out->status = -1;
    if (harness_proc_wait(p, 30000, &out->status) < 0)
        harness_proc_stop(p, 1000, &out->status);
    harness_check(WIFEXITED(out->status), "%s: exits by itself (%s)", name,
                  harness_status_str(out->status, what, sizeof(what)));
    out->log = harness_read_file(harness_proc_log(p));
    HARNESS_REQUIRE(out->log, "%s: its output can be read", name);
    /* strtok cuts a copy: the log itself is searched whole afterwards. */
    char *copy = strdup(out->log);
    HARNESS_REQUIRE(copy, "%s: memory for its output", name);
    for (char *line = strtok(copy, "\n"); line && out->count < MAX_LINES;
         line = strtok(NULL, "\n")) {
        if (line[0] == '{')
            out->json[out->count++] = cJSON_Parse(line);
    }
    free(copy);
}

static void run_free(struct run *r)
{
    for (size_t i = 0; i < r->count; i++)
        cJSON_Delete(r->json[i]);
    free(r->log);
}

static const char *str(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
}

/* The alarm lines, one expectation each, in order. */
struct want {
    const char *ts, *alarm, *state;
    double amount_s; /* NaN: not checked */
};

static void check_alarms(const struct run *r, const char *name, const struct want *want,
                         size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < r->count; i++) {
        const cJSON *o = r->json[i];
        if (strcmp(str(o, "type"), "alarm") != 0)
            continue;
        if (k < n) {
            const struct want *w = &want[k];
            bool ok = strcmp(str(o, "ts"), w->ts) == 0 && strcmp(str(o, "alarm"), w->alarm) == 0 &&
                      strcmp(str(o, "state"), w->state) == 0 &&
                      (isnan(w->amount_s) || num(o, "amount_s") == w->amount_s);
            harness_check(ok, "%s: transition %zu is %s %s at %s (got %s %s at %s)", name, k + 1,
                          w->alarm, w->state, w->ts, str(o, "alarm"), str(o, "state"),
                          str(o, "ts"));
        }
        k++;
    }
    harness_check(k == n, "%s: %zu transitions (got %zu)", name, n, k);
}

static const cJSON *summary(const struct run *r)
{
    for (size_t i = 0; i < r->count; i++) {
        if (strcmp(str(r->json[i], "type"), "summary") == 0)
            return r->json[i];
    }
    return NULL;
}

static double beyond(const cJSON *sum, const char *id)
{
    return num(cJSON_GetObjectItemCaseSensitive(sum, "beyond_s"), id);
}

/* A fridge warms to 9 °C from 09:00 to 10:20 and its probe falls silent from 10:50 to 12:00. */
static void test_fridge_history(void)
{
    struct run r;
    run_replay(&r, "fridge", "fridge.json", "fridge.csv");
    harness_check(WEXITSTATUS(r.status) == 0, "fridge: exit 0 (got %d)", WEXITSTATUS(r.status));
    const struct want want[] = {
        /* delay 30 m from the first 9 °C reading at 09:00 */
        {"2026-01-05T09:30:00.000Z", "heat", "active", (double)NAN},
        {"2026-01-05T10:00:00.000Z", "heat", "renotified", (double)NAN},
        {"2026-01-05T10:20:00.000Z", "heat", "cleared", (double)NAN},
        /* stale 20 m after the 10:50 reading, stamped exactly then; cleared after 70 m */
        {"2026-01-05T11:10:00.000Z", "probe-silent", "active", 1200},
        {"2026-01-05T12:00:00.000Z", "probe-silent", "cleared", 4200},
    };
    check_alarms(&r, "fridge", want, sizeof(want) / sizeof(want[0]));
    const cJSON *sum = summary(&r);
    harness_check(sum && num(sum, "samples") == 19 && num(sum, "faults") == 1,
                  "fridge: summary counts 19 readings and 1 fault");
    /* Time-weighted: 5.0 for 110 min (the 70 min gap held only for the 20 min hold), 9.0 for
     * 80 min, 5.2 for 20 min (the interval before it): 1374 / 210. */
    harness_check(sum && fabs(num(sum, "mean") - 1374.0 / 210.0) < 1e-9,
                  "fridge: time-weighted mean is 1374/210 (got %.9f)", num(sum, "mean"));
    harness_check(sum && beyond(sum, "heat") == 4800 && beyond(sum, "tor") == 4800,
                  "fridge: 80 min beyond 8 °C for heat and the budget");
    harness_check(sum && num(sum, "mkt") > num(sum, "mean") && num(sum, "mkt") < 9.0,
                  "fridge: MKT above the mean, below the maximum (got %g)", num(sum, "mkt"));
    run_free(&r);
}

/* WHO PQS E006 type 2 indicator: >= 10 °C 20 h and >= 30 °C 10 h, both cumulative. */
static void test_esi_budgets(void)
{
    struct run r;
    run_replay(&r, "esi", "esi-type2.json", "esi-budget.csv");
    harness_check(WEXITSTATUS(r.status) == 0, "esi: exit 0 (got %d)", WEXITSTATUS(r.status));
    const struct want want[] = {
        /* 22 °C or more all along: 20 h after the start */
        {"2026-03-01T20:00:00.000Z", "heat-10", "active", 72000},
        /* 31 °C from 10:00 to 14:00 every day: 4 + 4 + 2 h */
        {"2026-03-03T12:00:00.000Z", "heat-30", "active", 36000},
    };
    check_alarms(&r, "esi", want, sizeof(want) / sizeof(want[0]));
    const cJSON *sum = summary(&r);
    harness_check(sum && beyond(sum, "heat-30") == 3 * 4 * 3600 && beyond(sum, "heat-45") == 0,
                  "esi: 12 h beyond 30 °C, none beyond 45 °C");
    harness_check(sum && num(sum, "mean") == 23.5, "esi: mean (4·31 + 20·22)/24 = 23.5 (got %g)",
                  num(sum, "mean"));
    run_free(&r);
}

static void test_bad_lines_are_reported_by_number(void)
{
    struct run r;
    run_replay(&r, "bad-lines", "fridge.json", "bad-lines.csv");
    harness_check(WEXITSTATUS(r.status) == 65, "bad-lines: exit 65 (got %d)",
                  WEXITSTATUS(r.status));
    harness_check(strstr(r.log, "bad-lines.csv:3: sensor \"probe-9\" is in no shipment") != NULL,
                  "bad-lines: line 3 names the unknown sensor");
    harness_check(strstr(r.log, "bad-lines.csv:4: field 1 (ts): expected RFC 3339") != NULL,
                  "bad-lines: line 4 names the timestamp field");
    harness_check(strstr(r.log, "bad-lines.csv:5: field 3 (quantity)") != NULL,
                  "bad-lines: line 5 names the quantity field");
    const cJSON *sum = summary(&r);
    harness_check(sum && num(sum, "samples") == 2 && num(sum, "max") == 9.5,
                  "bad-lines: the two good readings were replayed all the same");
    run_free(&r);
}

static void test_bad_config_exits_78(void)
{
    char st[32];
    char path[1024];
    harness_path(path, sizeof(path), "bad.json");
    HARNESS_REQUIRE(harness_write_file(path, "{\"shipments\": [{\"id\": \"s\", \"profile\": "
                                             "\"cdc-fridge\", \"sensors\": [\"p\"]}]}\n") == 0,
                    "bad config written");
    struct harness_proc *p = harness_spawn(
        "bad-config", (const char *const[]){ctl, "replay", "-c", path,
                                            TEST_DATA_DIR "/replay/fridge.csv", NULL});
    int status = -1;
    HARNESS_REQUIRE(p, "bad-config: started");
    if (harness_proc_wait(p, 30000, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    char *log = harness_read_file(harness_proc_log(p));
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 78,
                  "bad-config: exit 78 (got %s)", harness_status_str(status, st, sizeof(st)));
    harness_check(log && strstr(log, "shipments[0].profile: unknown profile \"cdc-fridge\""),
                  "bad-config: names the JSON path and the unknown profile");
    free(log);
}

int main(void)
{
    if (harness_init("replay") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    ctl = getenv("COLDCHAINCTL");
    HARNESS_REQUIRE(ctl && access(ctl, X_OK) == 0, "COLDCHAINCTL names an executable");
    test_fridge_history();
    test_esi_budgets();
    test_bad_lines_are_reported_by_number();
    test_bad_config_exits_78();
    harness_exit();
}
