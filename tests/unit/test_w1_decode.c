/* The w1_therm text decoder against the published vectors (shared/sensors/vectors/
 * w1_vectors.json) and constructed scratchpads whose CRCs were computed independently (Python,
 * the Dallas/Maxim CRC-8), for each family and each value a probe sends when it is not
 * measuring. Also: every truncation of a good file is a fault, never a temperature. */
#include <CUnit/CUnit.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "vectors.h"
#include "w1_decode.h"

static cJSON *vectors;

static const cJSON *vector(const char *key)
{
    if (vectors == NULL)
        vectors = vectors_load("w1_vectors.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(vectors);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(vectors, key);
    CU_ASSERT_PTR_NOT_NULL_FATAL(item);
    return item;
}

static int suite_clean(void)
{
    cJSON_Delete(vectors);
    vectors = NULL;
    return 0;
}

/* The vectors' fault names, as this decoder names them. */
static int fault_of(const char *name)
{
    static const struct {
        const char *name;
        enum w1_fault fault;
    } map[] = {
        {"crc", W1_FAULT_CRC},
        {"power_on_reset_85", W1_FAULT_POWER_ON},
        {"all_zero_scratchpad", W1_FAULT_ALL_ZERO},
        {"read_failed", W1_FAULT_READ},
        {"insufficient_power_127.94", W1_FAULT_LOW_POWER},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].name, name) == 0)
            return (int)map[i].fault;
    }
    return -1;
}

static void test_published_w1_slave_vectors_decode(void)
{
    const cJSON *list = vector("w1_slave");
    int checked = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
    {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(v, "w1_slave_text");
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(v, "expected");
        const cJSON *want_t = cJSON_GetObjectItemCaseSensitive(expected, "temperature_c");
        const char *id = cJSON_GetObjectItemCaseSensitive(v, "id")->valuestring;
        if (!cJSON_IsString(text))
            continue; /* described, not given as text (127.94: constructed below) */
        if (strcmp(id, "temperature-attr") == 0)
            continue; /* a `temperature` file: test_temperature_file() */
        double t = (double)NAN;
        int rc = w1_decode_slave(text->valuestring, strlen(text->valuestring),
                                 W1_FAMILY_DS18B20, &t);
        if (cJSON_IsNumber(want_t)) {
            /* The kernel's t= truncates to whole millidegrees; the scratchpad is exact. */
            CU_ASSERT_EQUAL(rc, W1_OK);
            CU_ASSERT_DOUBLE_EQUAL(t, want_t->valuedouble, 0.001);
        } else {
            const cJSON *faults = cJSON_GetObjectItemCaseSensitive(expected, "faults");
            CU_ASSERT_EQUAL(rc, fault_of(cJSON_GetArrayItem(faults, 0)->valuestring));
            CU_ASSERT(isnan(t));
        }
        if (rc != (cJSON_IsNumber(want_t) ? W1_OK : rc))
            fprintf(stderr, "\n    vector %s: got %s\n", id, w1_fault_name((enum w1_fault)rc));
        checked++;
    }
    CU_ASSERT(checked >= 7);
}

static void test_published_rom_crc(void)
{
    const cJSON *rom = cJSON_GetArrayItem(vector("rom"), 0);
    const char *hex = cJSON_GetObjectItemCaseSensitive(rom, "rom_hex")->valuestring;
    uint8_t b[8];
    for (int i = 0; i < 8; i++) {
        unsigned v;
        CU_ASSERT_EQUAL_FATAL(sscanf(hex + 2 * i, "%2x", &v), 1);
        b[i] = (uint8_t)v;
    }
    CU_ASSERT_EQUAL(w1_crc8(b, 7), 0xA2);
    CU_ASSERT_EQUAL(w1_crc8(b, 8), 0x00);
}

static void test_families_and_non_measurements(void)
{
    static const struct {
        const char *what;
        uint8_t family;
        const char *line1; /* the scratchpad and CRC, as w1_slave's first line */
        int rc;
        double temp_c;
    } rows[] = {
        {"DS18B20 -10.125", W1_FAMILY_DS18B20, "5e ff 4b 46 7f ff 02 10 b6 : crc=b6 YES", W1_OK,
         -10.125},
        {"DS18S20 25.0 (count remain 12 of 16)", W1_FAMILY_DS18S20,
         "32 00 4b 46 ff ff 0c 10 6b : crc=6b YES", W1_OK, 25.0},
        {"DS18S20 -6.875", W1_FAMILY_DS18S20, "f3 ff 4b 46 ff ff 0a 10 5f : crc=5f YES", W1_OK,
         -6.875},
        {"MAX31850 25.25", W1_FAMILY_MAX31850, "94 01 00 00 ff ff ff ff 63 : crc=63 YES", W1_OK,
         25.25},
        {"MAX31850 open thermocouple", W1_FAMILY_MAX31850,
         "95 01 01 00 ff ff ff ff 17 : crc=17 YES", W1_FAULT_THERMOCOUPLE, 0},
        {"127.9375: not enough power", W1_FAMILY_DS18B20,
         "ff 07 4b 46 7f ff 01 10 2f : crc=2f YES", W1_FAULT_LOW_POWER, 0},
        {"YES, but the bytes do not match the CRC", W1_FAMILY_DS18B20,
         "72 01 4b 46 7f ff 0e 10 58 : crc=58 YES", W1_FAULT_CRC, 0},
        {"a family w1_therm does not decode (DS2438)", 0x26,
         "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES", W1_FAULT_UNSUPPORTED, 0},
        {"garbage", W1_FAMILY_DS18B20, "hello, this is not a scratchpad at all", W1_FAULT_FORMAT,
         0},
        {"kernel verdict neither YES nor NO", W1_FAMILY_DS18B20,
         "72 01 4b 46 7f ff 0e 10 57 : crc=57 MAYBE", W1_FAULT_FORMAT, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double t = (double)NAN;
        int rc = w1_decode_slave(rows[i].line1, strlen(rows[i].line1), rows[i].family, &t);
        CU_ASSERT_EQUAL(rc, rows[i].rc);
        if (rows[i].rc == W1_OK)
            CU_ASSERT_DOUBLE_EQUAL(t, rows[i].temp_c, 1e-12);
        if (rc != rows[i].rc)
            fprintf(stderr, "\n    %s: got %s\n", rows[i].what, w1_fault_name((enum w1_fault)rc));
    }
}

/* A file cut anywhere before its verdict is a fault, never a temperature, and nothing is read
 * past the length given (ASan would see it: each prefix is copied to a buffer of its size). */
static void test_every_truncation_is_a_fault(void)
{
    const char *good = "72 01 4b 46 7f ff 0e 10 57 : crc=57 YES\n72 01 4b 46 7f ff 0e 10 57 "
                       "t=23125\n";
    size_t verdict_end = strlen("72 01 4b 46 7f ff 0e 10 57 : crc=57 YES");
    for (size_t len = 0; len < verdict_end; len++) {
        char *copy = malloc(len ? len : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
        memcpy(copy, good, len);
        double t = (double)NAN;
        int rc = w1_decode_slave(copy, len, W1_FAMILY_DS18B20, &t);
        CU_ASSERT(rc > 0);
        CU_ASSERT(isnan(t));
        free(copy);
    }
    double t = (double)NAN;
    CU_ASSERT_EQUAL(w1_decode_slave(good, verdict_end, W1_FAMILY_DS18B20, &t), W1_OK);
    CU_ASSERT_DOUBLE_EQUAL(t, 23.125, 1e-12);
}

static void test_temperature_file(void)
{
    static const struct {
        const char *text;
        int rc;
        double temp_c;
    } rows[] = {
        {"23125\n", W1_OK, 23.125}, {"-1250\n", W1_OK, -1.25},    {"4937", W1_OK, 4.937},
        {"0\n", W1_OK, 0.0},        {"85000\n", W1_FAULT_POWER_ON, 0},
        {"127937\n", W1_FAULT_LOW_POWER, 0}, {"", W1_FAULT_READ, 0},
        {"12a\n", W1_FAULT_FORMAT, 0},       {"\n", W1_FAULT_FORMAT, 0},
        {"-\n", W1_FAULT_FORMAT, 0},         {"5000\n\n", W1_FAULT_FORMAT, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        double t = (double)NAN;
        int rc = w1_decode_temperature(rows[i].text, strlen(rows[i].text), &t);
        CU_ASSERT_EQUAL(rc, rows[i].rc);
        if (rows[i].rc == W1_OK)
            CU_ASSERT_DOUBLE_EQUAL(t, rows[i].temp_c, 1e-12);
    }
    /* The published vector for the temperature attribute. */
    const cJSON *list = vector("w1_slave");
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
    {
        if (strcmp(cJSON_GetObjectItemCaseSensitive(v, "id")->valuestring, "temperature-attr"))
            continue;
        const char *text = cJSON_GetObjectItemCaseSensitive(v, "w1_slave_text")->valuestring;
        double t = (double)NAN;
        CU_ASSERT_EQUAL(w1_decode_temperature(text, strlen(text), &t), W1_OK);
        CU_ASSERT_DOUBLE_EQUAL(t, 23.125, 1e-12);
    }
}

static void test_device_ids(void)
{
    uint8_t family = 0;
    CU_ASSERT_EQUAL(w1_parse_id("28-000006b67845", &family), 0);
    CU_ASSERT_EQUAL(family, 0x28);
    CU_ASSERT_EQUAL(w1_parse_id("3b-00003bc40300", &family), 0);
    CU_ASSERT_EQUAL(family, 0x3B);
    CU_ASSERT_NOT_EQUAL(w1_parse_id("28-00006b67845", &family), 0);   /* 11 digits */
    CU_ASSERT_NOT_EQUAL(w1_parse_id("28.000006B67845", &family), 0);  /* owfs spelling */
    CU_ASSERT_NOT_EQUAL(w1_parse_id("w1_bus_master1", &family), 0);
    CU_ASSERT_NOT_EQUAL(w1_parse_id("28-00000gb67845", &family), 0);
    CU_ASSERT_NOT_EQUAL(w1_parse_id(NULL, &family), 0);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("w1_decode", NULL, suite_clean);
    if (!s)
        return -1;
    CU_add_test(s, "published w1_slave vectors decode", test_published_w1_slave_vectors_decode);
    CU_add_test(s, "published ROM CRC", test_published_rom_crc);
    CU_add_test(s, "families and values that are not measurements",
                test_families_and_non_measurements);
    CU_add_test(s, "every truncation is a fault", test_every_truncation_is_a_fault);
    CU_add_test(s, "the temperature file", test_temperature_file);
    CU_add_test(s, "device ids", test_device_ids);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
