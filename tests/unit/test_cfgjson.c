/* The config building blocks: duration syntax, the member accessors' defaults, required members,
 * type and range errors with their JSON paths, key checking, identifiers, and RFC 3339 stamps of
 * fixed timestamps (no clock is read). */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "cfgjson.h"
#include "clock.h"
#include "cunit_main.h"

/* ---- durations ---- */

static const struct {
    const char *text;
    int64_t ms;
} good_durations[] = {
    {"0s", 0},
    {"0ms", 0},
    {"500ms", 500},
    {"1s", 1000},
    {"30s", 30000},
    {"10m", 600000},
    {"90m", 5400000},
    {"10h", 36000000},
    {"2d", 172800000},
    {"1h30m", 5400000},
    {"1m30s", 90000},
    {"1s500ms", 1500},
    {"1d2h3m4s5ms", 93784005},
    {"007s", 7000},
    {"9223372036854775807ms", INT64_MAX},
    {"106751991167d7h", INT64_C(106751991167) * 86400000 + 7 * 3600000},
};

static const char *const bad_durations[] = {
    "",                      /* empty */
    "30",                    /* no unit */
    "s",                     /* no number */
    "ms",                    /* no number */
    "-5s",                   /* negative */
    "+5s",                   /* sign */
    "1.5h",                  /* not an integer */
    " 30s",                  /* spaces */
    "30s ",                  /* trailing space */
    "30 s",                  /* space inside */
    "30x",                   /* unknown unit */
    "30S",                   /* units are lower case */
    "1y",                    /* no years */
    "5sec",                  /* unknown unit */
    "1h30",                  /* last group without unit */
    "30m1h",                 /* groups out of order */
    "5s5s",                  /* same unit twice */
    "1s1d",                  /* out of order */
    "9223372036854775808ms", /* integer overflow */
    "99999999999999999999s", /* integer overflow */
    "106751991168d",         /* overflow multiplying by the unit */
    "106751991167d8h",       /* overflow adding the groups */
};

static void test_durations_in_every_unit_parse(void)
{
    for (size_t i = 0; i < sizeof(good_durations) / sizeof(good_durations[0]); i++) {
        int64_t ms = -1;
        int rc = cfg_parse_duration(good_durations[i].text, &ms);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(ms, good_durations[i].ms);
        if (rc != 0 || ms != good_durations[i].ms)
            fprintf(stderr, "\n  duration \"%s\": rc %d ms %lld\n", good_durations[i].text, rc,
                    (long long)ms);
    }
}

static void test_bad_durations_are_rejected_and_leave_output_alone(void)
{
    for (size_t i = 0; i < sizeof(bad_durations) / sizeof(bad_durations[0]); i++) {
        int64_t ms = 12345;
        int rc = cfg_parse_duration(bad_durations[i], &ms);
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT_EQUAL(ms, 12345);
        if (rc != -EINVAL)
            fprintf(stderr, "\n  duration \"%s\" was accepted as %lld\n", bad_durations[i],
                    (long long)ms);
    }
    int64_t ms;
    CU_ASSERT_EQUAL(cfg_parse_duration(NULL, &ms), -EINVAL);
}

/* ---- paths and errors ---- */

static void test_paths_join_keys_and_indexes(void)
{
    char buf[64];
    CU_ASSERT_STRING_EQUAL(cfg_path_key(buf, sizeof(buf), "", "mqtt"), "mqtt");
    CU_ASSERT_STRING_EQUAL(cfg_path_key(buf, sizeof(buf), NULL, "mqtt"), "mqtt");
    CU_ASSERT_STRING_EQUAL(cfg_path_key(buf, sizeof(buf), "mqtt", "uri"), "mqtt.uri");
    CU_ASSERT_STRING_EQUAL(cfg_path_index(buf, sizeof(buf), "buses", 3), "buses[3]");
    char small[8];
    cfg_path_key(small, sizeof(small), "profiles", "long-name");
    CU_ASSERT_EQUAL(strlen(small), sizeof(small) - 1); /* truncated, still terminated */
}

static void test_cfg_fail_fills_path_and_message(void)
{
    struct cfg_error err;
    CU_ASSERT_EQUAL(cfg_fail(&err, "a.b[2]", "expected %s", "x"), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err.path, "a.b[2]");
    CU_ASSERT_STRING_EQUAL(err.msg, "expected x");
    CU_ASSERT_EQUAL(cfg_fail(NULL, "a", "no error struct"), -EINVAL);
}

/* ---- accessors ---- */

static cJSON *doc;
static const char *const doc_text =
    "{\"name\":\"fridge\",\"count\":7,\"ratio\":0.25,\"pct\":140,\"half\":1.5,"
    "\"on\":true,\"delay\":\"30m\",\"bad_delay\":\"30\",\"list\":[1,2],\"sub\":{\"x\":1},"
    "\"huge\":1e300,\"inf\":1e999,\"neg\":-3,\"nul\":null,\"Limit\":5}";

static int setup_doc(void)
{
    doc = cJSON_Parse(doc_text);
    return doc == NULL ? -1 : 0;
}

static int teardown_doc(void)
{
    cJSON_Delete(doc);
    doc = NULL;
    return 0;
}

static void test_absent_optional_members_take_their_defaults(void)
{
    struct cfg_error err;
    char s[16];
    double d;
    long long n;
    bool b;
    int64_t ms;
    const cJSON *item = doc;
    CU_ASSERT_EQUAL(cfg_get_string(doc, "p", "absent", false, "dflt", s, sizeof(s), &err), 0);
    CU_ASSERT_STRING_EQUAL(s, "dflt");
    CU_ASSERT_EQUAL(cfg_get_string(doc, "p", "absent", false, NULL, s, sizeof(s), &err), 0);
    CU_ASSERT_STRING_EQUAL(s, "");
    CU_ASSERT_EQUAL(cfg_get_number(doc, "p", "absent", false, 2.5, 0, 10, &d, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 2.5, 0);
    CU_ASSERT_EQUAL(cfg_get_int(doc, "p", "absent", false, 42, 0, 100, &n, &err), 0);
    CU_ASSERT_EQUAL(n, 42);
    CU_ASSERT_EQUAL(cfg_get_bool(doc, "p", "absent", false, true, &b, &err), 0);
    CU_ASSERT_TRUE(b);
    CU_ASSERT_EQUAL(cfg_get_duration(doc, "p", "absent", false, 30000, 0, INT64_MAX, &ms, &err), 0);
    CU_ASSERT_EQUAL(ms, 30000);
    CU_ASSERT_EQUAL(cfg_get_array(doc, "p", "absent", false, &item, &err), 0);
    CU_ASSERT_PTR_NULL(item);
    item = doc;
    CU_ASSERT_EQUAL(cfg_get_object(doc, "p", "absent", false, &item, &err), 0);
    CU_ASSERT_PTR_NULL(item);
}

static void test_present_members_are_read(void)
{
    struct cfg_error err;
    char s[16];
    double d;
    long long n;
    bool b;
    int64_t ms;
    const cJSON *item;
    CU_ASSERT_EQUAL(cfg_get_string(doc, "", "name", true, NULL, s, sizeof(s), &err), 0);
    CU_ASSERT_STRING_EQUAL(s, "fridge");
    CU_ASSERT_EQUAL(cfg_get_number(doc, "", "ratio", true, 0, 0, 1, &d, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 0.25, 0);
    CU_ASSERT_EQUAL(cfg_get_int(doc, "", "count", true, 0, 1, 10, &n, &err), 0);
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(cfg_get_int(doc, "", "neg", true, 0, LLONG_MIN, LLONG_MAX, &n, &err), 0);
    CU_ASSERT_EQUAL(n, -3);
    CU_ASSERT_EQUAL(cfg_get_bool(doc, "", "on", true, false, &b, &err), 0);
    CU_ASSERT_TRUE(b);
    CU_ASSERT_EQUAL(cfg_get_duration(doc, "", "delay", true, 0, 0, INT64_MAX, &ms, &err), 0);
    CU_ASSERT_EQUAL(ms, 1800000);
    CU_ASSERT_EQUAL(cfg_get_array(doc, "", "list", true, &item, &err), 0);
    CU_ASSERT_EQUAL(cJSON_GetArraySize(item), 2);
    CU_ASSERT_EQUAL(cfg_get_object(doc, "", "sub", true, &item, &err), 0);
    CU_ASSERT_PTR_NOT_NULL(cJSON_GetObjectItemCaseSensitive(item, "x"));
}

/* One accessor call that must fail, with the path and a part of the message it must give. */
struct bad_get {
    const char *what;
    int rc;
    struct cfg_error err;
};

static void expect_error(const struct bad_get *g, const char *path, const char *msg_part)
{
    CU_ASSERT_EQUAL(g->rc, -EINVAL);
    CU_ASSERT_STRING_EQUAL(g->err.path, path);
    CU_ASSERT_PTR_NOT_NULL(strstr(g->err.msg, msg_part));
    if (g->rc != -EINVAL || strcmp(g->err.path, path) != 0 || strstr(g->err.msg, msg_part) == NULL)
        fprintf(stderr, "\n  %s: rc %d, got \"%s: %s\", wanted \"%s: ...%s...\"\n", g->what, g->rc,
                g->err.path, g->err.msg, path, msg_part);
}

static void test_missing_required_members_name_their_path(void)
{
    struct bad_get g = {.what = "required string"};
    char s[16];
    double d;
    long long n;
    bool b;
    int64_t ms;
    const cJSON *item;
    g.rc = cfg_get_string(doc, "mqtt", "uri", true, "x", s, sizeof(s), &g.err);
    expect_error(&g, "mqtt.uri", "missing (required)");
    g.rc = cfg_get_number(doc, "profiles.p.alarms[0]", "limit", true, 0, -1e9, 1e9, &d, &g.err);
    expect_error(&g, "profiles.p.alarms[0].limit", "missing (required)");
    g.rc = cfg_get_int(doc, "", "batch", true, 0, 0, 1, &n, &g.err);
    expect_error(&g, "batch", "missing (required)");
    g.rc = cfg_get_bool(doc, "x", "flag", true, false, &b, &g.err);
    expect_error(&g, "x.flag", "missing (required)");
    g.rc = cfg_get_duration(doc, "x", "delay2", true, 0, 0, 1, &ms, &g.err);
    expect_error(&g, "x.delay2", "missing (required)");
    g.rc = cfg_get_array(doc, "", "sensors", true, &item, &g.err);
    expect_error(&g, "sensors", "missing (required)");
    g.rc = cfg_get_object(doc, "", "mqtt", true, &item, &g.err);
    expect_error(&g, "mqtt", "missing (required)");
}

static void test_wrong_types_say_what_was_expected_and_found(void)
{
    struct bad_get g = {.what = "wrong type"};
    char s[16];
    double d;
    long long n;
    bool b;
    int64_t ms;
    const cJSON *item;
    g.rc = cfg_get_string(doc, "p", "count", true, NULL, s, sizeof(s), &g.err);
    expect_error(&g, "p.count", "expected a string, got 7");
    g.rc = cfg_get_string(doc, "p", "nul", true, NULL, s, sizeof(s), &g.err);
    expect_error(&g, "p.nul", "expected a string, got null");
    g.rc = cfg_get_number(doc, "p", "name", true, 0, 0, 1, &d, &g.err);
    expect_error(&g, "p.name", "got \"fridge\"");
    g.rc = cfg_get_int(doc, "p", "on", true, 0, 0, 1, &n, &g.err);
    expect_error(&g, "p.on", "got true");
    g.rc = cfg_get_bool(doc, "p", "count", true, false, &b, &g.err);
    expect_error(&g, "p.count", "expected true or false, got 7");
    g.rc = cfg_get_duration(doc, "p", "bad_delay", true, 0, 0, INT64_MAX, &ms, &g.err);
    expect_error(&g, "p.bad_delay",
                 "expected a duration such as \"30s\", \"10m\" or \"1h30m\", got \"30\"");
    g.rc = cfg_get_duration(doc, "p", "count", true, 0, 0, INT64_MAX, &ms, &g.err);
    expect_error(&g, "p.count", "expected a duration such as");
    g.rc = cfg_get_array(doc, "p", "sub", true, &item, &g.err);
    expect_error(&g, "p.sub", "expected an array, got an object");
    g.rc = cfg_get_object(doc, "p", "list", true, &item, &g.err);
    expect_error(&g, "p.list", "expected an object, got an array");
    /* The parent itself is not an object. */
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(doc, "list");
    g.rc = cfg_get_string(list, "p.list", "x", false, "", s, sizeof(s), &g.err);
    expect_error(&g, "p.list", "expected an object, got an array");
}

static void test_out_of_range_values_state_the_range(void)
{
    struct bad_get g = {.what = "range"};
    double d;
    long long n;
    int64_t ms;
    char s[4];
    g.rc = cfg_get_number(doc, "store", "pct", true, 0, 0, 100, &d, &g.err);
    expect_error(&g, "store.pct", "expected a number between 0 and 100, got 140");
    g.rc = cfg_get_number(doc, "", "neg", true, 0, 0, DBL_MAX, &d, &g.err);
    expect_error(&g, "neg", "expected a number >= 0, got -3");
    g.rc = cfg_get_number(doc, "", "inf", true, 0, -DBL_MAX, DBL_MAX, &d, &g.err);
    expect_error(&g, "inf", "expected a number, got");
    g.rc = cfg_get_int(doc, "", "count", true, 0, 1, 5, &n, &g.err);
    expect_error(&g, "count", "expected an integer between 1 and 5, got 7");
    g.rc = cfg_get_int(doc, "", "half", true, 0, LLONG_MIN, LLONG_MAX, &n, &g.err);
    expect_error(&g, "half", "expected an integer, got 1.5");
    g.rc = cfg_get_int(doc, "", "huge", true, 0, LLONG_MIN, LLONG_MAX, &n, &g.err);
    expect_error(&g, "huge", "expected an integer");
    g.rc = cfg_get_int(doc, "", "neg", true, 0, 0, LLONG_MAX, &n, &g.err);
    expect_error(&g, "neg", "expected an integer >= 0, got -3");
    g.rc = cfg_get_duration(doc, "store", "delay", true, 0, 100, 600000, &ms, &g.err);
    expect_error(&g, "store.delay", "expected a duration between 100ms and 10m, got \"30m\"");
    g.rc = cfg_get_duration(doc, "store", "delay", true, 0, 3600000, INT64_MAX, &ms, &g.err);
    expect_error(&g, "store.delay", "expected a duration of at least 1h, got \"30m\"");
    g.rc = cfg_get_string(doc, "", "name", true, NULL, s, sizeof(s), &g.err);
    expect_error(&g, "name", "expected at most 3 characters, got 6");
}

static void test_lookups_are_case_sensitive(void)
{
    struct cfg_error err;
    double d = 0;
    CU_ASSERT_EQUAL(cfg_get_number(doc, "", "limit", false, -1, -10, 10, &d, &err), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, -1, 0); /* "Limit" is not "limit" */
}

static void test_unknown_keys_are_listed_with_the_known_ones(void)
{
    static const char *const known[] = {"id", "quantity", "condition", "limit", "delay", NULL};
    cJSON *alarm = cJSON_Parse("{\"id\":\"heat\",\"limit\":8,\"dealy\":\"30m\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(alarm);
    struct bad_get g = {.what = "check_keys"};
    g.rc = cfg_check_keys(alarm, "profiles.fridge.alarms[0]", known, &g.err);
    expect_error(&g, "profiles.fridge.alarms[0]",
                 "unknown key \"dealy\"; known keys: id, quantity, condition, limit, delay");
    cJSON_Delete(alarm);

    alarm = cJSON_Parse("{\"id\":\"heat\",\"limit\":8,\"delay\":\"30m\"}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(alarm);
    CU_ASSERT_EQUAL(cfg_check_keys(alarm, "a", known, &g.err), 0);
    cJSON_Delete(alarm);

    alarm = cJSON_Parse("{\"limit\":8,\"limit\":9}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(alarm);
    g.rc = cfg_check_keys(alarm, "a", known, &g.err);
    expect_error(&g, "a", "\"limit\" appears more than once");
    cJSON_Delete(alarm);

    alarm = cJSON_Parse("[1]");
    CU_ASSERT_PTR_NOT_NULL_FATAL(alarm);
    g.rc = cfg_check_keys(alarm, "a", known, &g.err);
    expect_error(&g, "a", "expected an object, got an array");
    cJSON_Delete(alarm);
}

static void test_long_or_hostile_values_are_quoted_short_and_clean(void)
{
    static const char *const known[] = {"id", NULL};
    cJSON *obj = cJSON_Parse("{\"a\\nb\\u0001cdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz"
                             "abcdefghijklmnopqrstuvwxyz\":1}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
    struct cfg_error err;
    CU_ASSERT_EQUAL(cfg_check_keys(obj, "p", known, &err), -EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "unknown key \"a?b?cdef"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "...\"; known keys: id"));
    CU_ASSERT_PTR_NULL(strchr(err.msg, '\n'));
    cJSON_Delete(obj);
}

static void test_identifiers(void)
{
    CU_ASSERT_TRUE(cfg_is_identifier("fridge-a", 32));
    CU_ASSERT_TRUE(cfg_is_identifier("Fridge_A.2", 32));
    CU_ASSERT_TRUE(cfg_is_identifier("a", 2));
    CU_ASSERT_FALSE(cfg_is_identifier("ab", 2)); /* cap includes the NUL */
    CU_ASSERT_FALSE(cfg_is_identifier("", 32));
    CU_ASSERT_FALSE(cfg_is_identifier(NULL, 32));
    CU_ASSERT_FALSE(cfg_is_identifier("fridge a", 32));
    CU_ASSERT_FALSE(cfg_is_identifier("fridge/a", 32));
    CU_ASSERT_FALSE(cfg_is_identifier("fridge+", 32));
    CU_ASSERT_FALSE(cfg_is_identifier("fridge#", 32));
    CU_ASSERT_FALSE(cfg_is_identifier("k\xc3\xbchl", 32));
    CU_ASSERT_FALSE(cfg_is_identifier("..", 32));
    CU_ASSERT_FALSE(cfg_is_identifier(".hidden", 32));
}

/* ---- RFC 3339 ---- */

static const struct {
    int64_t ts_ms;
    const char *text;
} stamps[] = {
    {0, "1970-01-01T00:00:00.000Z"},
    {1795372629123, "2026-11-22T18:37:09.123Z"},
    {951868799999, "2000-02-29T23:59:59.999Z"},
    {1000, "1970-01-01T00:00:01.000Z"},
    {-1, "1969-12-31T23:59:59.999Z"},
    {-1000, "1969-12-31T23:59:59.000Z"},
    {-1001, "1969-12-31T23:59:58.999Z"},
    {253402300799999, "9999-12-31T23:59:59.999Z"},
    {253402300800000, "9999-12-31T23:59:59.999Z"}, /* clamped */
    {INT64_MAX, "9999-12-31T23:59:59.999Z"},
    {INT64_MIN, "0000-01-01T00:00:00.000Z"},
};

static void test_rfc3339_of_fixed_timestamps(void)
{
    for (size_t i = 0; i < sizeof(stamps) / sizeof(stamps[0]); i++) {
        char buf[25];
        CU_ASSERT_PTR_EQUAL(clock_format_rfc3339(stamps[i].ts_ms, buf, sizeof(buf)), buf);
        CU_ASSERT_STRING_EQUAL(buf, stamps[i].text);
    }
    char small[11];
    clock_format_rfc3339(0, small, sizeof(small));
    CU_ASSERT_STRING_EQUAL(small, "1970-01-01");
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("durations", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "durations in every unit parse", test_durations_in_every_unit_parse);
    CU_add_test(s, "bad durations are rejected",
                test_bad_durations_are_rejected_and_leave_output_alone);

    s = CU_add_suite("paths", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "paths join keys and indexes", test_paths_join_keys_and_indexes);
    CU_add_test(s, "cfg_fail fills path and message", test_cfg_fail_fills_path_and_message);

    s = CU_add_suite("accessors", setup_doc, teardown_doc);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "absent optional members take their defaults",
                test_absent_optional_members_take_their_defaults);
    CU_add_test(s, "present members are read", test_present_members_are_read);
    CU_add_test(s, "missing required members name their path",
                test_missing_required_members_name_their_path);
    CU_add_test(s, "wrong types say what was expected and found",
                test_wrong_types_say_what_was_expected_and_found);
    CU_add_test(s, "out of range values state the range", test_out_of_range_values_state_the_range);
    CU_add_test(s, "lookups are case sensitive", test_lookups_are_case_sensitive);
    CU_add_test(s, "unknown keys are listed with the known ones",
                test_unknown_keys_are_listed_with_the_known_ones);
    CU_add_test(s, "long or hostile values are quoted short and clean",
                test_long_or_hostile_values_are_quoted_short_and_clean);
    CU_add_test(s, "identifiers", test_identifiers);

    s = CU_add_suite("rfc3339", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "rfc3339 of fixed timestamps", test_rfc3339_of_fixed_timestamps);
    return CU_get_error();
}
