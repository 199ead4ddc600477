/* The built-in presets carry the published numbers exactly (docs/presets.md): one table row per
 * alarm, checked field by field, plus the table's own invariants (unique names and ids, texts
 * that fit). Pure data: no time, no I/O. */
#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alarm.h"
#include "cunit_main.h"
#include "mkt.h"
#include "presets.h"
#include "reading.h"

#define MINUTE_MS (60 * 1000LL)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct expected_alarm {
    const char *preset;
    const char *id;
    enum alarm_kind kind;
    enum alarm_condition condition;
    double limit;      /* °C */
    double hysteresis; /* °C */
    int64_t delay_ms;
    int64_t budget_ms;
    int64_t window_ms;
    enum alarm_severity severity;
};

/* The decided numbers, in the order the presets list their alarms. */
static const struct expected_alarm expected[] = {
    /* CDC Vaccine Storage and Handling Toolkit: refrigerator 2–8 °C, freezer −50…−15 °C. */
    {"cdc-vaccine-fridge", "heat", ALARM_KIND_THRESHOLD, ALARM_ABOVE, 8.0, 0.3, 0, 0, 0,
     ALARM_CRITICAL},
    {"cdc-vaccine-fridge", "freeze", ALARM_KIND_THRESHOLD, ALARM_BELOW, 2.0, 0.3, 0, 0, 0,
     ALARM_CRITICAL},
    {"cdc-vaccine-freezer", "heat", ALARM_KIND_THRESHOLD, ALARM_ABOVE, -15.0, 0.3, 0, 0, 0,
     ALARM_CRITICAL},
    {"cdc-vaccine-freezer", "cold", ALARM_KIND_THRESHOLD, ALARM_BELOW, -50.0, 0.3, 0, 0, 0,
     ALARM_CRITICAL},
    /* WHO PQS E006/TR06 30-day temperature recorders. */
    {"who-30dtr", "heat", ALARM_KIND_THRESHOLD, ALARM_ABOVE, 8.0, 0.3, 10 * HOUR_MS, 0, 0,
     ALARM_CRITICAL},
    {"who-30dtr", "freeze", ALARM_KIND_THRESHOLD, ALARM_AT_OR_BELOW, -0.5, 0.3, 60 * MINUTE_MS, 0,
     0, ALARM_CRITICAL},
    /* USP <659> controlled cold temperature, USP <1079.2> MKT over 24 h. */
    {"usp-cct", "heat", ALARM_KIND_THRESHOLD, ALARM_ABOVE, 8.0, 0.3, 0, 0, 0, ALARM_CRITICAL},
    {"usp-cct", "freeze", ALARM_KIND_THRESHOLD, ALARM_BELOW, 2.0, 0.3, 0, 0, 0, ALARM_CRITICAL},
    {"usp-cct", "mkt", ALARM_KIND_MKT, ALARM_ABOVE, 8.0, 0.0, 0, 0, 24 * HOUR_MS, ALARM_CRITICAL},
    /* USP <659> controlled room temperature, USP <1079.2> MKT over 30 days. */
    {"usp-crt", "cold", ALARM_KIND_THRESHOLD, ALARM_BELOW, 15.0, 0.3, 0, 0, 0, ALARM_CRITICAL},
    {"usp-crt", "warm", ALARM_KIND_THRESHOLD, ALARM_ABOVE, 30.0, 0.3, 24 * HOUR_MS, 0, 0,
     ALARM_CRITICAL},
    {"usp-crt", "hot", ALARM_KIND_THRESHOLD, ALARM_ABOVE, 40.0, 0.3, 0, 0, 0, ALARM_CRITICAL},
    {"usp-crt", "mkt", ALARM_KIND_MKT, ALARM_ABOVE, 25.0, 0.0, 0, 0, 30 * DAY_MS, ALARM_CRITICAL},
    /* WHO PQS E006/TR07 electronic shipping indicators: limits belong to the excursion. */
    {"who-esi-type1", "heat-45", ALARM_KIND_THRESHOLD, ALARM_AT_OR_ABOVE, 45.0, 0.0, HOUR_MS, 0, 0,
     ALARM_CRITICAL},
    {"who-esi-type1", "heat-30", ALARM_KIND_BUDGET, ALARM_AT_OR_ABOVE, 30.0, 0.0, 0, 10 * HOUR_MS,
     0, ALARM_CRITICAL},
    {"who-esi-type1", "freeze", ALARM_KIND_THRESHOLD, ALARM_AT_OR_BELOW, -0.5, 0.0, HOUR_MS, 0, 0,
     ALARM_CRITICAL},
    {"who-esi-type2", "heat-45", ALARM_KIND_THRESHOLD, ALARM_AT_OR_ABOVE, 45.0, 0.0, HOUR_MS, 0, 0,
     ALARM_CRITICAL},
    {"who-esi-type2", "heat-30", ALARM_KIND_BUDGET, ALARM_AT_OR_ABOVE, 30.0, 0.0, 0, 10 * HOUR_MS,
     0, ALARM_CRITICAL},
    {"who-esi-type2", "heat-10", ALARM_KIND_BUDGET, ALARM_AT_OR_ABOVE, 10.0, 0.0, 0, 20 * HOUR_MS,
     0, ALARM_CRITICAL},
    /* Frozen goods −25…−15 °C. */
    {"frozen", "heat", ALARM_KIND_THRESHOLD, ALARM_ABOVE, -15.0, 0.3, 0, 0, 0, ALARM_CRITICAL},
    {"frozen", "cold", ALARM_KIND_THRESHOLD, ALARM_BELOW, -25.0, 0.3, 0, 0, 0, ALARM_CRITICAL},
};

static const char *const preset_names[] = {
    "cdc-vaccine-fridge", "cdc-vaccine-freezer", "who-30dtr", "usp-cct", "usp-crt",
    "who-esi-type1",      "who-esi-type2",       "frozen",
};

/* A failed check names the preset, the alarm and the field; CUnit copies the text. */
static void check(bool ok, int line, const char *preset, const char *id, const char *what)
{
    char text[160];
    snprintf(text, sizeof(text), "%s/%s: %s", preset, id != NULL ? id : "-", what);
    CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, text, __FILE__, "", CU_FALSE);
}

#define CHECK(cond, preset, id) check((cond), __LINE__, (preset), (id), #cond)

/* The definition with that id in p, or NULL. */
static const struct alarm_def *find_alarm(const struct rules_preset *p, const char *id)
{
    for (size_t i = 0; i < p->alarm_count; i++) {
        if (strcmp(p->alarms[i].id, id) == 0)
            return &p->alarms[i];
    }
    return NULL;
}

static bool text_ok(const char *text, size_t max)
{
    size_t n = strnlen(text, max);
    return n > 0 && n < max; /* not empty, and NUL-terminated inside the array */
}

static void test_every_preset_alarm_has_the_published_numbers(void)
{
    for (size_t i = 0; i < ARRAY_SIZE(expected); i++) {
        const struct expected_alarm *e = &expected[i];
        const struct rules_preset *p = presets_find(e->preset);
        CHECK(p != NULL, e->preset, e->id);
        if (p == NULL)
            continue;
        const struct alarm_def *d = find_alarm(p, e->id);
        CHECK(d != NULL, e->preset, e->id);
        if (d == NULL)
            continue;
        CHECK(d->kind == e->kind, e->preset, e->id);
        CHECK(d->quantity == QUANTITY_TEMPERATURE, e->preset, e->id);
        CHECK(d->condition == e->condition, e->preset, e->id);
        CHECK(d->limit == e->limit, e->preset, e->id);
        CHECK(d->hysteresis == e->hysteresis, e->preset, e->id);
        CHECK(d->delay_ms == e->delay_ms, e->preset, e->id);
        CHECK(d->budget_ms == e->budget_ms, e->preset, e->id);
        CHECK(d->window_ms == e->window_ms, e->preset, e->id);
        CHECK(d->severity == e->severity, e->preset, e->id);
        CHECK(d->renotify_ms == 0, e->preset, e->id);
        if (e->kind == ALARM_KIND_MKT)
            CHECK(d->delta_h_j_mol == MKT_DELTA_H_DEFAULT_J_MOL, e->preset, e->id);
        else
            CHECK(d->delta_h_j_mol == 0.0, e->preset, e->id);
        /* Fields no preset uses stay zero. */
        CHECK(d->direction == 0 && d->rate == 0.0 && d->stale_ms == 0, e->preset, e->id);
        for (size_t k = 0; k < ALARM_CAL_STAGES; k++)
            CHECK(d->cal_warn_ms[k] == 0, e->preset, e->id);
    }
}

static void test_presets_hold_exactly_the_listed_alarms_in_order(void)
{
    CU_ASSERT_EQUAL(presets_count(), ARRAY_SIZE(preset_names));
    size_t row = 0;
    for (size_t i = 0; i < ARRAY_SIZE(preset_names); i++) {
        const struct rules_preset *p = presets_at(i);
        CHECK(p != NULL, preset_names[i], NULL);
        if (p == NULL)
            continue;
        CHECK(strcmp(p->name, preset_names[i]) == 0, preset_names[i], NULL);
        size_t want = 0;
        for (size_t r = 0; r < ARRAY_SIZE(expected); r++)
            want += strcmp(expected[r].preset, preset_names[i]) == 0;
        CHECK(p->alarm_count == want, preset_names[i], NULL);
        for (size_t a = 0; a < p->alarm_count && row < ARRAY_SIZE(expected); a++, row++)
            CHECK(strcmp(p->alarms[a].id, expected[row].id) == 0, p->name, p->alarms[a].id);
    }
    CU_ASSERT_EQUAL(row, ARRAY_SIZE(expected));
}

static void test_ids_are_unique_within_a_preset(void)
{
    for (size_t i = 0; i < presets_count(); i++) {
        const struct rules_preset *p = presets_at(i);
        for (size_t a = 0; a < p->alarm_count; a++) {
            const char *id = p->alarms[a].id;
            CHECK(text_ok(id, ALARM_ID_MAX), p->name, id);
            for (size_t b = a + 1; b < p->alarm_count; b++)
                CHECK(strcmp(id, p->alarms[b].id) != 0, p->name, id);
        }
    }
}

static void test_preset_names_are_unique(void)
{
    for (size_t i = 0; i < presets_count(); i++) {
        for (size_t j = i + 1; j < presets_count(); j++)
            CHECK(strcmp(presets_at(i)->name, presets_at(j)->name) != 0, presets_at(i)->name, NULL);
    }
}

static void test_every_text_is_present_and_fits(void)
{
    for (size_t i = 0; i < presets_count(); i++) {
        const struct rules_preset *p = presets_at(i);
        CHECK(p->name != NULL && p->name[0] != '\0', "?", NULL);
        CHECK(p->description != NULL && p->description[0] != '\0', p->name, NULL);
        CHECK(p->source != NULL && p->source[0] != '\0', p->name, NULL);
        CHECK(p->alarms != NULL && p->alarm_count > 0, p->name, NULL);
        for (size_t a = 0; a < p->alarm_count; a++) {
            const struct alarm_def *d = &p->alarms[a];
            CHECK(text_ok(d->message, ALARM_TEXT_MAX), p->name, d->id);
            CHECK(text_ok(d->action, ALARM_TEXT_MAX), p->name, d->id);
        }
    }
}

static void test_lookup_finds_each_preset_and_nothing_else(void)
{
    for (size_t i = 0; i < presets_count(); i++)
        CU_ASSERT_PTR_EQUAL(presets_find(presets_at(i)->name), presets_at(i));
    CU_ASSERT_PTR_NULL(presets_find("no-such-preset"));
    CU_ASSERT_PTR_NULL(presets_find(""));
    CU_ASSERT_PTR_NULL(presets_find("CDC-VACCINE-FRIDGE")); /* names are exact */
    CU_ASSERT_PTR_NULL(presets_find("cdc-vaccine-fridge "));
    CU_ASSERT_PTR_NULL(presets_find(NULL));
    CU_ASSERT_PTR_NULL(presets_at(presets_count()));
    CU_ASSERT_PTR_NULL(presets_at((size_t)-1));
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("presets", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "every preset alarm has the published numbers",
                test_every_preset_alarm_has_the_published_numbers);
    CU_add_test(s, "presets hold exactly the listed alarms, in order",
                test_presets_hold_exactly_the_listed_alarms_in_order);
    CU_add_test(s, "ids are unique within a preset", test_ids_are_unique_within_a_preset);
    CU_add_test(s, "preset names are unique", test_preset_names_are_unique);
    CU_add_test(s, "every message and action is present and fits ALARM_TEXT_MAX",
                test_every_text_is_present_and_fits);
    CU_add_test(s, "lookup finds each preset and nothing else",
                test_lookup_finds_each_preset_and_nothing_else);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
