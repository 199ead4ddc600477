/* owfs temperature text and ids (sensors/ow_decode.c) against what Debian 12's owserver and
 * libowcapi 3.2p4 were observed to return (shared/sensors/PROTOCOLS.md §2.2: the tester's
 * constant "4" and "1.7", OW_get's unpadded "95.3024", owread's padded "      88.834"), the
 * values a probe sends when it is not measuring (§2.1), hostile text, and the exact conversion
 * checked against strtod(). Also the owserver adapter's config checking: open() accepts good
 * buses and names the JSON path and the expectation for bad ones. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "ow_decode.h"
#include "owserver.h"

/* ---- temperature text ---------------------------------------------------------------------- */

static void test_observed_owserver_texts_decode(void)
{
    static const struct {
        const char *text;
        double temp_c;
    } rows[] = {
        {"4", 4.0},               /* --tester DS18B20, through OW_get */
        {"1.7", 1.7},             /* --tester DS18S20 */
        {"95.3024", 95.3024},     /* --fake, OW_get: unpadded, length 7 */
        {"      88.834", 88.834}, /* owread pads to 12 characters */
        {"6.2", 6.2},             /* --tester DS1825 */
        {"-10.0625", -10.0625},   /* DS18B20 1/16 steps below zero */
        {"0.0625", 0.0625},
        {"0", 0.0},
        {"-0", 0.0},
        {"22.5625  ", 22.5625}, /* trailing spaces too */
        {"100", 100.0},
        {"100.05", 100.05},
        {"4.000000000000000000", 4.0}, /* trailing zeros are not significant digits */
        {"2.5E-05", 2.5e-05},          /* %G near zero */
        {"1.2E+02", 120.0},
        {"4.5e0", 4.5},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double t = (double)NAN;
        int rc = ow_decode_temperature(rows[i].text, strlen(rows[i].text), &t);
        if (rc != OW_OK)
            fprintf(stderr, "\n\"%s\" refused: %s\n", rows[i].text,
                    ow_fault_name((enum ow_fault)rc));
        CU_ASSERT_EQUAL(rc, OW_OK);
        /* Exactly the double strtod() gives for the text: no rounding slack. */
        CU_ASSERT(t == rows[i].temp_c);
    }
    double t = (double)NAN;
    CU_ASSERT_EQUAL(ow_decode_temperature("-0", 2, &t), OW_OK);
    CU_ASSERT(t == 0.0 && !signbit(t));
}

static void test_non_measurements_and_bad_text_are_faults(void)
{
    static const struct {
        const char *text;
        int rc;
    } rows[] = {
        /* PROTOCOLS.md §2.1: valid CRCs, so only the value tells. Any spelling of them. */
        {"85", OW_FAULT_POWER_ON},
        {"85.0000", OW_FAULT_POWER_ON},
        {"  85", OW_FAULT_POWER_ON},
        {"8.5E+01", OW_FAULT_POWER_ON},
        {"127.9375", OW_FAULT_LOW_POWER},
        {"127.93750", OW_FAULT_LOW_POWER},
        /* Nothing came back. */
        {"", OW_FAULT_EMPTY},
        {"            ", OW_FAULT_EMPTY},
        /* Not a number as owfs prints one. */
        {"abc", OW_FAULT_FORMAT},
        {"4\n", OW_FAULT_FORMAT},
        {"\t4", OW_FAULT_FORMAT},
        {"1.7.1", OW_FAULT_FORMAT},
        {"--1", OW_FAULT_FORMAT},
        {"+4", OW_FAULT_FORMAT},
        {".5", OW_FAULT_FORMAT},
        {"5.", OW_FAULT_FORMAT},
        {"-", OW_FAULT_FORMAT},
        {"-.5", OW_FAULT_FORMAT},
        {"1e", OW_FAULT_FORMAT},
        {"1E+", OW_FAULT_FORMAT},
        {"1E+99999", OW_FAULT_FORMAT},
        {"nan", OW_FAULT_FORMAT},
        {"inf", OW_FAULT_FORMAT},
        {"-inf", OW_FAULT_FORMAT},
        {"4,5", OW_FAULT_FORMAT},
        {"4 5", OW_FAULT_FORMAT},
        {"0x10", OW_FAULT_FORMAT},
        {"1234567890123456", OW_FAULT_FORMAT}, /* 16 significant digits */
        {"1,2,3", OW_FAULT_FORMAT},
        {"28.000028D70000/", OW_FAULT_FORMAT}, /* a directory listing */
        /* Numbers no probe can report. */
        {"1E+99", OW_FAULT_RANGE},
        {"-300", OW_FAULT_RANGE},
        {"-273.16", OW_FAULT_RANGE},
        {"3000", OW_FAULT_RANGE},
        {"999999999999999", OW_FAULT_RANGE},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double t = -1000.0;
        int rc = ow_decode_temperature(rows[i].text, strlen(rows[i].text), &t);
        if (rc != rows[i].rc)
            fprintf(stderr, "\n\"%s\": got %d (%s), want %d\n", rows[i].text, rc,
                    ow_fault_name((enum ow_fault)rc), rows[i].rc);
        CU_ASSERT_EQUAL(rc, rows[i].rc);
        CU_ASSERT(t == -1000.0); /* untouched on a fault */
    }
    double t = -1000.0;
    CU_ASSERT_EQUAL(ow_decode_temperature(NULL, 4, &t), OW_FAULT_EMPTY);
    CU_ASSERT_EQUAL(ow_decode_temperature("4\0", 2, &t), OW_FAULT_FORMAT); /* a NUL inside */
    CU_ASSERT(t == -1000.0);
    /* The limits themselves are temperatures. */
    CU_ASSERT_EQUAL(ow_decode_temperature("-273.15", 7, &t), OW_OK);
    CU_ASSERT_EQUAL(ow_decode_temperature("2048", 4, &t), OW_OK);
    CU_ASSERT_EQUAL(ow_decode_temperature("125", 3, &t), OW_OK);
    CU_ASSERT(t == 125.0);
    for (enum ow_fault f = OW_OK; f <= OW_FAULT_LOW_POWER; f++)
        CU_ASSERT_STRING_NOT_EQUAL(ow_fault_name(f), "?");
}

static void test_nothing_past_len_is_read(void)
{
    double t = (double)NAN;
    /* len stops before the bytes that would change the value. */
    CU_ASSERT_EQUAL(ow_decode_temperature("4.5X", 3, &t), OW_OK);
    CU_ASSERT(t == 4.5);
    CU_ASSERT_EQUAL(ow_decode_temperature("127.9375", 5, &t), OW_OK); /* "127.9" */
    CU_ASSERT(t == 127.9);
    CU_ASSERT_EQUAL(ow_decode_temperature("85", 1, &t), OW_OK);
    CU_ASSERT(t == 8.0);
    /* An exact-size heap copy, so ASan sees any read past it; every prefix decodes or faults. */
    static const char text[] = "  -10.0625E+00  ";
    for (size_t len = 0; len <= sizeof(text) - 1; len++) {
        char *copy = malloc(len ? len : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
        memcpy(copy, text, len);
        double v = -1000.0;
        int rc = ow_decode_temperature(copy, len, &v);
        CU_ASSERT(rc == OW_OK ? isfinite(v) : v == -1000.0);
        free(copy);
    }
}

/* want in the f-th of the forms owfs or owread may print (literal formats: -Wformat=2). */
static void format_as(char *text, size_t cap, int f, double want)
{
    switch (f) {
    case 0:
        snprintf(text, cap, "%.4f", want);
        break;
    case 1:
        snprintf(text, cap, "%g", want);
        break;
    case 2:
        snprintf(text, cap, "%G", want);
        break;
    case 3:
        snprintf(text, cap, "%.6G", want);
        break;
    case 4:
        snprintf(text, cap, "%12.3f", want); /* owread's padding */
        break;
    default:
        snprintf(text, cap, "%.10E", want);
        break;
    }
}

/* Every 1/16 °C step a DS18B20 can report, and random decimals, in the forms owfs may print: the
 * decoder's double is strtod()'s (the gateway never calls setlocale(), so '.' is the point). */
static void test_conversion_matches_strtod(void)
{
    char text[64];
    int checked = 0, mismatched = 0;
    for (int raw = -55 * 16; raw <= 125 * 16; raw++) {
        double want = raw / 16.0;
        for (int f = 0; f < 6; f++) {
            format_as(text, sizeof(text), f, want);
            double ref = strtod(text, NULL), got = (double)NAN;
            if (ref == 85.0 || ref == 127.9375)
                continue;
            int rc = ow_decode_temperature(text, strlen(text), &got);
            checked++;
            if (rc != OW_OK || got != ref) {
                if (mismatched++ < 5)
                    fprintf(stderr, "\n\"%s\": rc %d, %.17g != %.17g\n", text, rc, got, ref);
            }
        }
    }
    /* A fixed linear congruential sequence: decimals with up to 15 significant digits. */
    unsigned long long x = 12345;
    for (int i = 0; i < 20000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        long long mant = (long long)((x >> 11) % 1000000000000000ULL) - 500000000000000LL;
        int frac = (int)((x >> 7) % 16);
        snprintf(text, sizeof(text), "%lld", mant);
        /* Insert a decimal point frac digits from the end (when there are that many). */
        size_t len = strlen(text);
        size_t digits = len - (text[0] == '-');
        if ((size_t)frac < digits) {
            memmove(text + len - frac + 1, text + len - frac, (size_t)frac + 1);
            text[len - frac] = '.';
            if (frac == 0)
                text[len] = '\0';
        }
        double ref = strtod(text, NULL), got = (double)NAN;
        int rc = ow_decode_temperature(text, strlen(text), &got);
        bool in_range = ref >= -273.15 && ref <= 2048.0 && ref != 85.0 && ref != 127.9375;
        checked++;
        if (in_range ? (rc != OW_OK || got != ref) : rc != OW_FAULT_RANGE) {
            if (mismatched++ < 5)
                fprintf(stderr, "\n\"%s\": rc %d, %.17g vs %.17g\n", text, rc, got, ref);
        }
    }
    CU_ASSERT(checked > 20000);
    CU_ASSERT_EQUAL(mismatched, 0);
}

/* ---- ids ----------------------------------------------------------------------------------- */

static void test_ids_in_both_spellings(void)
{
    static const struct {
        const char *text;
        const char *id; /* NULL: refused */
    } rows[] = {
        {"28.000006B67845", "28.000006B67845"},
        {"28-000006b67845", "28.000006B67845"}, /* sysfs, PROTOCOLS.md §2.1 */
        {"28.000006b67845", "28.000006B67845"},
        {"28.000028D70000", "28.000028D70000"}, /* --tester ids */
        {"10.000010EF0100", "10.000010EF0100"},
        {"3b-00003bc40300", "3B.00003BC40300"},
        {"28.00006B67845", NULL},   /* 11 digits */
        {"28.0000006B67845", NULL}, /* 13 digits */
        {"28:000006B67845", NULL},
        {"28_000006B67845", NULL},
        {"2G.000006B67845", NULL},
        {"28.000006B6784G", NULL},
        {"28.000006B67845/", NULL},
        {"/28.000006B67845", NULL},
        {"w1_bus_master1", NULL},
        {"", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char id[OW_ID_CAP] = "untouched";
        int rc = ow_parse_id(rows[i].text, id);
        if (rows[i].id) {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_STRING_EQUAL(id, rows[i].id);
        } else {
            CU_ASSERT_EQUAL(rc, -EINVAL);
            CU_ASSERT_STRING_EQUAL(id, "untouched");
        }
    }
    char id[OW_ID_CAP];
    CU_ASSERT_EQUAL(ow_parse_id(NULL, id), -EINVAL);
}

/* ---- the adapter's config ------------------------------------------------------------------ */

#define BUS_HEAD "\"name\":\"onewire\",\"type\":\"owserver\""
#define PROBE_A "{\"id\":\"28.000028D70000\",\"sensor\":\"fridge-a\"}"

static int open_bus(const char *json, struct cfg_error *err, void **state_out)
{
    cJSON *cfg = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    memset(err, 0, sizeof(*err));
    static char sentinel;
    *state_out = &sentinel; /* open() must overwrite it, with NULL on failure */
    int rc = owserver_adapter.open(cfg, "buses[2]", err, state_out);
    cJSON_Delete(cfg);
    return rc;
}

struct seen_points {
    size_t count;
    char ids[4][READING_SENSOR_ID_MAX];
    char paths[4][192];
};

static int collect_point(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    struct seen_points *seen = arg;
    CU_ASSERT_EQUAL(quantity, QUANTITY_TEMPERATURE);
    if (seen->count < 4) {
        snprintf(seen->ids[seen->count], sizeof(seen->ids[0]), "%s", sensor_id);
        snprintf(seen->paths[seen->count], sizeof(seen->paths[0]), "%s", path);
    }
    seen->count++;
    return 0;
}

static void test_adapter_opens_good_buses(void)
{
    static const char *const good[] = {
        "{" BUS_HEAD ",\"server\":\"127.0.0.1:4304\",\"poll_interval\":\"10s\","
        "\"uncached\":true,\"probes\":[" PROBE_A ",{\"id\":\"10-000010ef0100\","
        "\"sensor\":\"fridge-b\"}]}",
        "{" BUS_HEAD ",\"probes\":[" PROBE_A "]}", /* defaults */
        "{" BUS_HEAD ",\"server\":\"owserver.lan:65535\",\"uncached\":false,"
        "\"poll_interval\":\"1s\",\"probes\":[" PROBE_A "]}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cfg_error err;
        void *state;
        int rc = open_bus(good[i], &err, &state);
        if (rc != 0)
            fprintf(stderr, "\ngood bus %zu refused: %s: %s\n", i, err.path, err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(state);
        CU_ASSERT_STRING_EQUAL(owserver_adapter.name(state), "onewire");
        owserver_adapter.close(state);
    }
    struct cfg_error err;
    void *state;
    CU_ASSERT_EQUAL_FATAL(open_bus(good[0], &err, &state), 0);
    struct seen_points seen = {0};
    CU_ASSERT_EQUAL(owserver_adapter.for_each_point(state, collect_point, &seen), 0);
    CU_ASSERT_EQUAL_FATAL(seen.count, 2);
    CU_ASSERT_STRING_EQUAL(seen.ids[0], "fridge-a");
    CU_ASSERT_STRING_EQUAL(seen.paths[0], "buses[2].probes[0].sensor");
    CU_ASSERT_STRING_EQUAL(seen.ids[1], "fridge-b");
    CU_ASSERT_STRING_EQUAL(seen.paths[1], "buses[2].probes[1].sensor");
    owserver_adapter.close(state);
    owserver_adapter.close(NULL); /* a no-op */
    CU_ASSERT_STRING_EQUAL(owserver_adapter.type, "owserver");
    CU_ASSERT_PTR_EQUAL(sensor_adapter_find("owserver"), &owserver_adapter);
    CU_ASSERT_PTR_NOT_NULL(strstr(sensor_adapter_types(), "owserver"));
}

static void test_adapter_names_the_bad_key(void)
{
    static const struct {
        const char *json;
        const char *path;
        const char *msg;
    } bad[] = {
        {"{" BUS_HEAD ",\"probes\":[" PROBE_A "],\"sever\":\"x:1\"}", "buses[2]",
         "unknown key \"sever\""},
        {"{" BUS_HEAD ",\"server\":\"127.0.0.1\",\"probes\":[" PROBE_A "]}", "buses[2].server",
         "expected \"host:port\""},
        {"{" BUS_HEAD ",\"server\":\"127.0.0.1:0\",\"probes\":[" PROBE_A "]}", "buses[2].server",
         "expected \"host:port\""},
        {"{" BUS_HEAD ",\"server\":\"127.0.0.1:65536\",\"probes\":[" PROBE_A "]}",
         "buses[2].server", "expected \"host:port\""},
        {"{" BUS_HEAD ",\"server\":\":4304\",\"probes\":[" PROBE_A "]}", "buses[2].server",
         "expected \"host:port\""},
        {"{" BUS_HEAD ",\"server\":\"-s evil:1 --fake=28:4304\",\"probes\":[" PROBE_A "]}",
         "buses[2].server", "expected \"host:port\""},
        {"{" BUS_HEAD ",\"server\":\"::1:4304\",\"probes\":[" PROBE_A "]}", "buses[2].server",
         "expected \"host:port\""},
        {"{" BUS_HEAD ",\"server\":4304,\"probes\":[" PROBE_A "]}", "buses[2].server",
         "expected a string"},
        {"{" BUS_HEAD ",\"poll_interval\":\"500ms\",\"probes\":[" PROBE_A "]}",
         "buses[2].poll_interval", ""},
        {"{" BUS_HEAD ",\"uncached\":\"yes\",\"probes\":[" PROBE_A "]}", "buses[2].uncached", ""},
        {"{" BUS_HEAD "}", "buses[2].probes", "missing"},
        {"{" BUS_HEAD ",\"probes\":[]}", "buses[2].probes", "expected 1 to 256 probes"},
        {"{" BUS_HEAD ",\"probes\":[{\"id\":\"28.000028D7000\",\"sensor\":\"a\"}]}",
         "buses[2].probes[0].id", "expected an owfs id"},
        {"{" BUS_HEAD ",\"probes\":[{\"id\":\"28.000028D70000/temperature\",\"sensor\":\"a\"}]}",
         "buses[2].probes[0].id", "expected an owfs id"},
        {"{" BUS_HEAD ",\"probes\":[{\"id\":28,\"sensor\":\"a\"}]}", "buses[2].probes[0].id",
         "expected a string"},
        {"{" BUS_HEAD ",\"probes\":[{\"sensor\":\"a\"}]}", "buses[2].probes[0].id", "missing"},
        {"{" BUS_HEAD ",\"probes\":[{\"id\":\"28.000028D70000\"}]}", "buses[2].probes[0].sensor",
         "missing"},
        {"{" BUS_HEAD ",\"probes\":[{\"id\":\"28.000028D70000\",\"sensor\":\"a b\"}]}",
         "buses[2].probes[0].sensor", "expected a sensor id"},
        {"{" BUS_HEAD ",\"probes\":[{\"id\":\"28.000028D70000\",\"sensor\":\"a\","
         "\"offset\":1}]}",
         "buses[2].probes[0]", "unknown key \"offset\""},
        /* The same probe in both spellings. */
        {"{" BUS_HEAD ",\"probes\":[" PROBE_A ",{\"id\":\"28-000028d70000\",\"sensor\":\"b\"}]}",
         "buses[2].probes[1]", "listed twice"},
        {"{" BUS_HEAD ",\"probes\":[" PROBE_A ",{\"id\":\"10.000010EF0100\","
         "\"sensor\":\"fridge-a\"}]}",
         "buses[2].probes[1].sensor", "already read by"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cfg_error err;
        void *state;
        int rc = open_bus(bad[i].json, &err, &state);
        bool ok = rc == -EINVAL && state == NULL && strcmp(err.path, bad[i].path) == 0 &&
                  strstr(err.msg, bad[i].msg) != NULL;
        if (!ok)
            fprintf(stderr, "\nbad bus %zu: rc %d, %s: %s (want %s: ...%s...)\n", i, rc, err.path,
                    err.msg, bad[i].path, bad[i].msg);
        CU_ASSERT(ok);
    }
    struct cfg_error err;
    void *state;
    cJSON *cfg = cJSON_Parse("{" BUS_HEAD ",\"probes\":[" PROBE_A "]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(owserver_adapter.open(NULL, "buses[0]", &err, &state), -EINVAL);
    CU_ASSERT_EQUAL(owserver_adapter.open(cfg, NULL, &err, &state), -EINVAL);
    CU_ASSERT_EQUAL(owserver_adapter.open(cfg, "buses[0]", &err, NULL), -EINVAL);
    cJSON_Delete(cfg);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("ow_decode", NULL, NULL);
    if (!s)
        return -1;
    CU_add_test(s, "observed owserver texts decode", test_observed_owserver_texts_decode);
    CU_add_test(s, "non-measurements and bad text are faults",
                test_non_measurements_and_bad_text_are_faults);
    CU_add_test(s, "nothing past len is read", test_nothing_past_len_is_read);
    CU_add_test(s, "conversion matches strtod", test_conversion_matches_strtod);
    CU_add_test(s, "ids in both spellings", test_ids_in_both_spellings);
    CU_add_test(s, "adapter opens good buses", test_adapter_opens_good_buses);
    CU_add_test(s, "adapter names the bad key", test_adapter_names_the_bad_key);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
