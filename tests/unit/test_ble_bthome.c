/* The BTHome v2 decoder (sensors/ble_bthome.c) against the published vectors (shared/sensors/
 * vectors/ble_vectors.json: bthome.io format.html and encryption.html @0cf388b02e1c, bthome-ble
 * test_parser_v2.py @d55bd3aea080, Theengs' Shelly BLU H&T and ABN07), every example of the
 * spec's object tables (which checks each object's size independently of the decoder's table),
 * each quantity's limits, the device information byte, and hostile input: every truncation,
 * lengths that run past the end, long and unknown objects. Every advert is an exact-size heap
 * copy, so ASan sees any read past its end. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ble_decode.h"
#include "cunit_main.h"
#include "vectors.h"

static cJSON *vectors;

static const cJSON *vector_list(void)
{
    if (vectors == NULL)
        vectors = vectors_load("ble_vectors.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(vectors);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(vectors, "vectors");
    CU_ASSERT_FATAL(cJSON_IsArray(list));
    return list;
}

static int suite_clean(void)
{
    cJSON_Delete(vectors);
    vectors = NULL;
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The bytes of a hex string in a heap block of exactly their number (at least 1 allocated). */
static uint8_t *hex_bytes(const char *hex, size_t *len_out)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        CU_ASSERT_FATAL(hi >= 0 && lo >= 0);
        b[i] = (uint8_t)(hi << 4 | lo);
    }
    *len_out = n;
    return b;
}

/* Decodes BTHome service data (the bytes after the UUID) given directly, from an exact-size
 * copy; *out is first filled with a pattern so that a decoder writing on failure shows. */
static int decode_svc(const uint8_t *data, size_t len, struct ble_values *out)
{
    uint8_t *copy = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
    if (len)
        memcpy(copy, data, len);
    struct ble_ad ad;
    memset(&ad, 0, sizeof(ad));
    ad.service[0].uuid = 0xFCD2;
    ad.service[0].data = copy;
    ad.service[0].len = len;
    ad.service_count = 1;
    memset(out, 0xA5, sizeof(*out));
    int rc = ble_bthome_decode(&ad, out);
    free(copy);
    return rc;
}

static int decode_svc_hex(const char *hex, struct ble_values *out)
{
    size_t len;
    uint8_t *b = hex_bytes(hex, &len);
    int rc = decode_svc(b, len, out);
    free(b);
    return rc;
}

static bool untouched(const struct ble_values *v)
{
    struct ble_values pattern;
    memset(&pattern, 0xA5, sizeof(pattern));
    return memcmp(v, &pattern, sizeof(pattern)) == 0;
}

/* Half the finest resolution BTHome gives each quantity (bthome.io): temperature 0.01 degC
 * (0x02), humidity 0.01 % (0x03), pressure 0.01 hPa (0x04); battery % and mV, and the packet id,
 * are integers. Coarser objects (0x45 0.1, 0x57 1, 0x58 0.35 degC; 0x2E 1 %) are held to the
 * same, tighter, bound. */
#define TOL 0.005

/* ------------------------------------------------------------------------------------------ */
/* The published vectors */

/* Compares one expected key: a number must be present and within tol, null must be absent. An
 * array is a multi-channel object (bthome.io "Multiple measurements of the same type"); this
 * interface carries one of each, the first channel. Adds the key's bit to *want_present when a
 * value is expected. Returns false on a mismatch. */
static bool check_key(const cJSON *expected, const char *key, uint32_t bit, double got, double tol,
                      const struct ble_values *v, uint32_t *want_present, const char *id)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(expected, key);
    if (e == NULL)
        return true;
    if (cJSON_IsNull(e)) {
        CU_ASSERT_FALSE(v->present & bit);
        if (v->present & bit) {
            fprintf(stderr, "\n    vector %s: %s should be absent, got %g\n", id, key, got);
            return false;
        }
        return true;
    }
    if (cJSON_IsArray(e))
        e = cJSON_GetArrayItem(e, 0);
    CU_ASSERT_FATAL(cJSON_IsNumber(e));
    *want_present |= bit;
    bool ok = (v->present & bit) && fabs(got - e->valuedouble) <= tol;
    CU_ASSERT(ok);
    if (!ok)
        fprintf(stderr, "\n    vector %s: %s expected %g, got %g (present %s)\n", id, key,
                e->valuedouble, got, (v->present & bit) ? "yes" : "no");
    return ok;
}

/* source: every vector of format bthome_v2 in ble_vectors.json, e.g. bthome.io format.html
 * "An example of a BTHome payload is: 020106 0B094449592D73656E736F72 0A16D2FC4002C40903BF13
 * ... a temperature of 25.00 C ... a humidity of 50.55%", and bthome-ble
 * test_bthome_battery_wrong_object_id_humidity "Should only return the battery reading, as
 * humidity is after wrong object id." The whole ad_hex goes through ble_ad_parse() first.
 * Expected -EBADMSG: a vector with "error" (bthome-ble test_has_incorrect_version: version 7),
 * and the two encrypted ones (a bindkey): the objects are ciphertext and this interface has no
 * key, so their temperature/humidity cannot be checked here. */
static void test_published_vectors_decode(void)
{
    int checked = 0, encrypted = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *format = cJSON_GetObjectItemCaseSensitive(vec, "format")->valuestring;
        if (strcmp(format, "bthome_v2") != 0)
            continue;
        const char *id = cJSON_GetObjectItemCaseSensitive(vec, "id")->valuestring;
        const char *hex = cJSON_GetObjectItemCaseSensitive(vec, "ad_hex")->valuestring;
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(vec, "expected");
        bool has_key = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(vec, "bindkey"));
        bool has_error = cJSON_GetObjectItemCaseSensitive(expected, "error") != NULL;
        size_t len;
        uint8_t *adv = hex_bytes(hex, &len);
        struct ble_ad ad;
        CU_ASSERT_EQUAL_FATAL(ble_ad_parse(adv, len, &ad), 0);
        struct ble_values v;
        memset(&v, 0xA5, sizeof(v));
        int rc = ble_bthome_decode(&ad, &v);
        checked++;
        if (has_key || has_error) {
            CU_ASSERT_EQUAL(rc, -EBADMSG);
            CU_ASSERT(untouched(&v));
            encrypted += has_key;
            free(adv);
            continue;
        }
        CU_ASSERT_EQUAL(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "\n    vector %s: rc %d\n", id, rc);
            free(adv);
            continue;
        }
        CU_ASSERT_STRING_EQUAL(v.format, "bthome_v2");
        uint32_t want = 0;
        bool ok = true;
        ok &= check_key(expected, "temperature_c", BLE_TEMPERATURE, v.temperature_c, TOL, &v, &want,
                        id);
        ok &= check_key(expected, "humidity_pct", BLE_HUMIDITY, v.humidity_pct, TOL, &v, &want, id);
        ok &= check_key(expected, "pressure_hpa", BLE_PRESSURE, v.pressure_hpa, TOL, &v, &want, id);
        ok &=
            check_key(expected, "battery_pct", BLE_BATTERY_PCT, v.battery_pct, TOL, &v, &want, id);
        ok &= check_key(expected, "battery_mv", BLE_BATTERY_MV, v.battery_mv, 0.0, &v, &want, id);
        ok &= check_key(expected, "counter", BLE_COUNTER, v.counter, 0.0, &v, &want, id);
        /* Exactly the expected quantities; BTHome has no "not available" marker, so no faults
         * (the quantities after an unknown object are not known to be there at all). */
        CU_ASSERT_EQUAL(v.present, want);
        CU_ASSERT_EQUAL(v.faults, 0);
        if (!ok || v.present != want || v.faults != 0)
            fprintf(stderr, "\n    vector %s: present %#x (want %#x), faults %#x\n", id,
                    (unsigned)v.present, (unsigned)want, (unsigned)v.faults);
        free(adv);
    }
    CU_ASSERT_EQUAL(checked, 14);
    CU_ASSERT_EQUAL(encrypted, 2);
}

/* Every other format's vector (Ruuvi, Govee, pvvx on 0x181A, SwitchBot, ...) is not BTHome. */
static void test_other_formats_are_not_mine(void)
{
    int checked = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *format = cJSON_GetObjectItemCaseSensitive(vec, "format")->valuestring;
        if (strcmp(format, "bthome_v2") == 0)
            continue;
        const char *hex = cJSON_GetObjectItemCaseSensitive(vec, "ad_hex")->valuestring;
        size_t len;
        uint8_t *adv = hex_bytes(hex, &len);
        struct ble_ad ad;
        if (ble_ad_parse(adv, len, &ad) == 0) {
            struct ble_values v;
            memset(&v, 0xA5, sizeof(v));
            int rc = ble_bthome_decode(&ad, &v);
            CU_ASSERT_EQUAL(rc, BLE_NOT_MINE);
            CU_ASSERT(untouched(&v));
            if (rc != BLE_NOT_MINE)
                fprintf(stderr, "\n    vector %s: rc %d\n",
                        cJSON_GetObjectItemCaseSensitive(vec, "id")->valuestring, rc);
            checked++;
        }
        free(adv);
    }
    CU_ASSERT(checked >= 40);
}

/* ------------------------------------------------------------------------------------------ */
/* The spec's object tables */

/* Every "Example" of bthome.io format.html @0cf388b02e1c (tables Sensor data, Binary Sensor
 * data, Events, Device information, Packet id), copied from the page: each is one whole object,
 * so its length is that object's size as the spec gives it. */
/* clang-format off */
static const char *const spec_examples[] = {
    "518756", "630057D0FF", "0161", "6001", "12E204", "56E803", "0960", "3D0960", "3E2A2C0960",
    "59EA", "5AEAEA", "5BEA0234EA", "434E34", "5D02EA", "08CA06", "5E9F8C", "400C00", "414E00",
    "424E3400", "4D12138A14", "0A138A14", "4B138A14", "4C41018A01", "528756", "03BF13", "2E23",
    "05138A14", "6402", "065E1F", "073E1D", "14020C", "2F23", "0D120C", "0E021C", "0B021B00",
    "5C02FBFFFF", "5FA00F", "04138A01", "540C48656C6C6F20576F726C6421", "3F020C", "61AC0D",
    "6503", "444E34", "624099DFFF", "57EA", "58EA", "451101", "02CA09",
    "530C48656C6C6F20576F726C6421", "505D396164", "133301", "0C020C", "4A020C", "4E87562A01",
    "478756", "48DC87", "5587562A01", "49DC87", "4632", "4F87562A01", "1501", "1601", "1700",
    "1801", "1900", "1A00", "1B01", "1C01", "0F01", "1D00", "1E01", "1F01", "2001", "2100",
    "2201", "2301", "1100", "2400", "1001", "2500", "2601", "2701", "2800", "2901", "2A00",
    "2B00", "2C01", "2D01", "3A00", "3A01", "3A02", "3A03", "3A04", "3A05", "3A06", "3A80",
    "3B0000", "3B0001", "3B0002", "3B010305", "3B010405", "3C0000", "3C0103", "3C020A", "F00100",
    "F100010204", "F2000106", "0009",
};
/* clang-format on */

/* Each example, followed by a packet id object 0x00 = 0x2A, decodes and reaches the packet id:
 * the decoder skipped exactly the example's bytes. (The packet id after a higher id is out of
 * order; like bthome-ble, the decoder does not insist.) */
static void test_every_spec_object_is_skipped_by_its_size(void)
{
    for (size_t i = 0; i < sizeof(spec_examples) / sizeof(spec_examples[0]); i++) {
        char hex[96];
        snprintf(hex, sizeof(hex), "40%s002A", spec_examples[i]);
        struct ble_values v;
        int rc = decode_svc_hex(hex, &v);
        CU_ASSERT_EQUAL(rc, 0);
        bool ok = rc == 0 && (v.present & BLE_COUNTER) &&
                  v.counter == (strcmp(spec_examples[i], "0009") == 0 ? 9u : 42u);
        CU_ASSERT(ok);
        if (!ok)
            fprintf(stderr, "\n    example %s: rc %d\n", spec_examples[i], rc);
    }
}

/* An id the spec does not define stops decoding: what came before stays, nothing after is
 * read. Every id in 0..255 that has no example above is such an id. */
static void test_every_undefined_id_stops_decoding(void)
{
    bool defined[256] = {false};
    for (size_t i = 0; i < sizeof(spec_examples) / sizeof(spec_examples[0]); i++)
        defined[hex_digit(spec_examples[i][0]) << 4 | hex_digit(spec_examples[i][1])] = true;
    int undefined = 0;
    for (int id = 0; id < 256; id++) {
        if (defined[id])
            continue;
        undefined++;
        /* battery 97, the unknown id with two bytes, then humidity 50.55 % */
        uint8_t svc[] = {0x40, 0x01, 0x61, (uint8_t)id, 0x03, 0xBF, 0x13};
        struct ble_values v;
        CU_ASSERT_EQUAL_FATAL(decode_svc(svc, sizeof(svc), &v), 0);
        CU_ASSERT_EQUAL(v.present, BLE_BATTERY_PCT);
        CU_ASSERT_DOUBLE_EQUAL(v.battery_pct, 97.0, TOL);
        CU_ASSERT_EQUAL(v.faults, 0);
        if (v.present != BLE_BATTERY_PCT)
            fprintf(stderr, "\n    id %#04x: present %#x\n", id, (unsigned)v.present);
    }
    CU_ASSERT_EQUAL(undefined, 256 - 95);
}

/* The spec's examples of our quantities, and each type's limits. */
static void test_quantities_examples_and_limits(void)
{
    static const struct {
        const char *svc_hex;
        uint32_t bit;
        double value;
    } rows[] = {
        {"400009", BLE_COUNTER, 9},      /* packet id 0009 -> 9 */
        {"4000FF", BLE_COUNTER, 255},    /* uint8 */
        {"400161", BLE_BATTERY_PCT, 97}, /* 0161 -> 97 % */
        {"400100", BLE_BATTERY_PCT, 0},
        {"4002CA09", BLE_TEMPERATURE, 25.06},   /* 02CA09 -> 25.06 */
        {"40020080", BLE_TEMPERATURE, -327.68}, /* sint16 x 0.01 */
        {"4002FF7F", BLE_TEMPERATURE, 327.67},
        {"4002FFFF", BLE_TEMPERATURE, -0.01},
        {"40451101", BLE_TEMPERATURE, 27.3},    /* 451101 -> 27.3 */
        {"40450080", BLE_TEMPERATURE, -3276.8}, /* sint16 x 0.1 */
        {"4045FF7F", BLE_TEMPERATURE, 3276.7},
        {"4057EA", BLE_TEMPERATURE, -22},  /* 57EA -> -22 */
        {"405780", BLE_TEMPERATURE, -128}, /* sint8 x 1 */
        {"40577F", BLE_TEMPERATURE, 127},
        {"4058EA", BLE_TEMPERATURE, -7.7},  /* 58EA -> -7.7 */
        {"405880", BLE_TEMPERATURE, -44.8}, /* sint8 x 0.35 */
        {"40587F", BLE_TEMPERATURE, 44.45},
        {"4003BF13", BLE_HUMIDITY, 50.55},  /* 03BF13 -> 50.55 */
        {"4003FFFF", BLE_HUMIDITY, 655.35}, /* uint16 x 0.01: legal, implausible */
        {"40030000", BLE_HUMIDITY, 0},
        {"402E23", BLE_HUMIDITY, 35}, /* 2E23 -> 35 */
        {"402EFF", BLE_HUMIDITY, 255},
        {"4004138A01", BLE_PRESSURE, 1008.83},   /* 04138A01 -> 1008.83 */
        {"4004FFFFFF", BLE_PRESSURE, 167772.15}, /* uint24 x 0.01 */
        {"4004000000", BLE_PRESSURE, 0},
        {"400C020C", BLE_BATTERY_MV, 3074}, /* 0C020C -> 3.074 V */
        {"400CFFFF", BLE_BATTERY_MV, 65535},
        {"400C0000", BLE_BATTERY_MV, 0},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ble_values v;
        CU_ASSERT_EQUAL_FATAL(decode_svc_hex(rows[i].svc_hex, &v), 0);
        CU_ASSERT_EQUAL(v.present, rows[i].bit);
        CU_ASSERT_EQUAL(v.faults, 0);
        double got = rows[i].bit == BLE_COUNTER       ? v.counter
                     : rows[i].bit == BLE_BATTERY_PCT ? v.battery_pct
                     : rows[i].bit == BLE_TEMPERATURE ? v.temperature_c
                     : rows[i].bit == BLE_HUMIDITY    ? v.humidity_pct
                     : rows[i].bit == BLE_PRESSURE    ? v.pressure_hpa
                                                      : v.battery_mv;
        CU_ASSERT_DOUBLE_EQUAL(got, rows[i].value, 1e-9 + fabs(rows[i].value) * 1e-12);
        if (fabs(got - rows[i].value) > 1e-9 + fabs(rows[i].value) * 1e-12)
            fprintf(stderr, "\n    %s: got %.12g\n", rows[i].svc_hex, got);
    }
}

/* Repeated ids are channels; the first of each quantity is kept, whichever object carried it. */
static void test_first_channel_wins(void)
{
    struct ble_values v;
    /* 0x02 25.06, then 0x45 27.3, 0x57 -22: 25.06. Humidity 0x03 50.55 then 0x2E 35: 50.55. */
    CU_ASSERT_EQUAL_FATAL(decode_svc_hex("4002CA0903BF132E2345110157EA", &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.06, TOL);
    CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, 50.55, TOL);
    CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE | BLE_HUMIDITY);
    /* Two packet ids, two batteries, two voltages. */
    CU_ASSERT_EQUAL_FATAL(decode_svc_hex("400007000801610150"
                                         "0C020C0C0000",
                                         &v),
                          0);
    CU_ASSERT_EQUAL(v.counter, 7);
    CU_ASSERT_DOUBLE_EQUAL(v.battery_pct, 97.0, TOL);
    CU_ASSERT_EQUAL(v.battery_mv, 3074);
}

/* ------------------------------------------------------------------------------------------ */
/* The device information byte */

static void test_device_information_byte(void)
{
    struct ble_values v;
    /* 0x44: v2, trigger-based (the Shelly BLU H&T) decodes like 0x40. Bits 3-4 reserved: ignored.
     */
    CU_ASSERT_EQUAL(decode_svc_hex("4402CA09", &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.06, TOL);
    CU_ASSERT_EQUAL(decode_svc_hex("5802CA09", &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.06, TOL);
    /* Only the info byte: BTHome's, and nothing in it. */
    CU_ASSERT_EQUAL(decode_svc_hex("40", &v), 0);
    CU_ASSERT_EQUAL(v.present, 0);
    CU_ASSERT_EQUAL(v.faults, 0);
    CU_ASSERT_STRING_EQUAL(v.format, "bthome_v2");
    /* Bit 1, "MAC included" as bthome-ble reads it: six address bytes come first. */
    CU_ASSERT_EQUAL(decode_svc_hex("42A5808FE6485402CA09", &v), 0);
    CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.06, TOL);
    CU_ASSERT_EQUAL(decode_svc_hex("42A5808FE64854", &v), 0);
    CU_ASSERT_EQUAL(v.present, 0);
    for (size_t n = 1; n < 7; n++) {
        uint8_t svc[] = {0x42, 0xA5, 0x80, 0x8F, 0xE6, 0x48, 0x54};
        CU_ASSERT_EQUAL(decode_svc(svc, n, &v), -EBADMSG);
        CU_ASSERT(untouched(&v));
    }
    /* Encrypted (bit 0): BTHome's but not readable without the key. */
    CU_ASSERT_EQUAL(decode_svc_hex("41E445F3C9962B332211006C7C4519", &v), -EBADMSG);
    CU_ASSERT(untouched(&v));
    CU_ASSERT_EQUAL(decode_svc_hex("41", &v), -EBADMSG);
    /* Versions other than 2 (bits 5-7): 0, 1 (v1 has its own UUIDs), 3 ... 7. */
    static const char *const versions[] = {"0002CA09", "2002CA09", "6002CA09", "8002CA09",
                                           "A002CA09", "C002CA09", "E002CA09", "E4"};
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        CU_ASSERT_EQUAL(decode_svc_hex(versions[i], &v), -EBADMSG);
        CU_ASSERT(untouched(&v));
    }
    /* UUID 0xFCD2 with no data at all. */
    CU_ASSERT_EQUAL(decode_svc_hex("", &v), -EBADMSG);
    CU_ASSERT(untouched(&v));
}

/* Other UUIDs (BTHome v1's 0x181C/0x181E, pvvx 0x181A, MiBeacon 0xFE95) and adverts without
 * service data are not BTHome v2; BTHome's service data is found among others. */
static void test_uuid_selection(void)
{
    static const uint8_t data[] = {0x40, 0x02, 0xCA, 0x09};
    static const uint16_t others[] = {0x181C, 0x181E, 0x181A, 0xFE95, 0xD2FC, 0x0000};
    struct ble_ad ad;
    struct ble_values v;
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        memset(&ad, 0, sizeof(ad));
        ad.service[0].uuid = others[i];
        ad.service[0].data = data;
        ad.service[0].len = sizeof(data);
        ad.service_count = 1;
        memset(&v, 0xA5, sizeof(v));
        CU_ASSERT_EQUAL(ble_bthome_decode(&ad, &v), BLE_NOT_MINE);
        CU_ASSERT(untouched(&v));
    }
    memset(&ad, 0, sizeof(ad));
    CU_ASSERT_EQUAL(ble_bthome_decode(&ad, &v), BLE_NOT_MINE);
    /* Third of three service data structures. */
    ad.service[0].uuid = 0x181A;
    ad.service[1].uuid = 0xFE95;
    ad.service[2].uuid = 0xFCD2;
    ad.service[2].data = data;
    ad.service[2].len = sizeof(data);
    ad.service_count = 3;
    CU_ASSERT_EQUAL(ble_bthome_decode(&ad, &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.06, TOL);
}

/* ------------------------------------------------------------------------------------------ */
/* Hostile input */

/* Same value within TOL, for each quantity both have. */
static bool same_values(const struct ble_values *a, const struct ble_values *b, uint32_t bits)
{
    return (!(bits & BLE_TEMPERATURE) || fabs(a->temperature_c - b->temperature_c) <= TOL) &&
           (!(bits & BLE_HUMIDITY) || fabs(a->humidity_pct - b->humidity_pct) <= TOL) &&
           (!(bits & BLE_PRESSURE) || fabs(a->pressure_hpa - b->pressure_hpa) <= TOL) &&
           (!(bits & BLE_BATTERY_PCT) || fabs(a->battery_pct - b->battery_pct) <= TOL) &&
           (!(bits & BLE_BATTERY_MV) || a->battery_mv == b->battery_mv) &&
           (!(bits & BLE_COUNTER) || a->counter == b->counter);
}

/* Every prefix of every readable vector's service data, each its own exact-size block: either
 * -EBADMSG (cut inside an object, or no info byte), or — cut between objects, which is a valid
 * shorter packet — 0 with a subset of the full packet's quantities and the same values. Never
 * anything else. The same through ble_ad_parse() with the AD length byte shortened. */
static void test_every_truncation_is_rejected_or_a_subset(void)
{
    int checked = 0, bad = 0, shorter = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *format = cJSON_GetObjectItemCaseSensitive(vec, "format")->valuestring;
        if (strcmp(format, "bthome_v2") != 0)
            continue;
        const char *payload = cJSON_GetObjectItemCaseSensitive(vec, "payload_hex")->valuestring;
        struct ble_values full;
        int full_rc = decode_svc_hex(payload, &full);
        if (full_rc != 0)
            continue; /* encrypted / bad version: every prefix is -EBADMSG, checked below */
        size_t plen;
        uint8_t *p = hex_bytes(payload, &plen);
        for (size_t n = 0; n < plen; n++) {
            struct ble_values v;
            int rc = decode_svc(p, n, &v);
            bool ok = rc == -EBADMSG ? untouched(&v)
                                     : rc == 0 && (v.present & ~full.present) == 0 &&
                                           v.faults == 0 && same_values(&v, &full, v.present);
            CU_ASSERT(ok);
            bad += rc == -EBADMSG;
            shorter += rc == 0;
            /* As radio data: len 16 D2 FC <n bytes>. */
            size_t alen = 4 + n;
            uint8_t *adv = malloc(alen);
            CU_ASSERT_PTR_NOT_NULL_FATAL(adv);
            adv[0] = (uint8_t)(n + 3);
            adv[1] = 0x16, adv[2] = 0xD2, adv[3] = 0xFC;
            memcpy(adv + 4, p, n);
            struct ble_ad ad;
            CU_ASSERT_EQUAL_FATAL(ble_ad_parse(adv, alen, &ad), 0);
            struct ble_values w;
            CU_ASSERT_EQUAL(ble_bthome_decode(&ad, &w), rc);
            free(adv);
            checked++;
        }
        free(p);
    }
    CU_ASSERT(checked >= 80);
    CU_ASSERT(bad > 0 && shorter > 0);
    /* The encrypted and bad-version vectors stay -EBADMSG when cut. */
    static const char *const unreadable[] = {"41E445F3C9962B332211006C7C4519",
                                             "E102000C0404138A01"};
    for (size_t i = 0; i < 2; i++) {
        size_t plen;
        uint8_t *p = hex_bytes(unreadable[i], &plen);
        for (size_t n = 0; n < plen; n++) {
            struct ble_values v;
            CU_ASSERT_EQUAL(decode_svc(p, n, &v), -EBADMSG);
        }
        free(p);
    }
}

/* Objects whose length runs past the end are -EBADMSG, never a partial read: fixed sizes cut
 * short, a text/raw length byte beyond the data, a command's argument length beyond it. */
static void test_lengths_past_the_end(void)
{
    static const char *const rows[] = {
        "4002CA",   /* temperature, 1 of 2 bytes */
        "4004138A", /* pressure, 2 of 3 */
        "400161"
        "0C02",             /* voltage, 1 of 2 after a good battery */
        "40F1000102",       /* firmware version, 3 of 4 */
        "4053",             /* text, no length byte */
        "40530C48656C6C6F", /* text of 12, 5 given */
        "4054FF00",         /* raw of 255, 1 given */
        "403B",             /* command, no length byte */
        "403B01",           /* command, no opcode */
        "403B0103",         /* command, opcode, 1 argument missing */
        "403B1F03"
        "00000000000000000000", /* 31 arguments, 10 given */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ble_values v;
        int rc = decode_svc_hex(rows[i], &v);
        CU_ASSERT_EQUAL(rc, -EBADMSG);
        CU_ASSERT(untouched(&v));
        if (rc != -EBADMSG)
            fprintf(stderr, "\n    %s: rc %d\n", rows[i], rc);
    }
    /* Zero-length text and raw are whole objects. */
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_svc_hex("4053005400"
                                   "0161",
                                   &v),
                    0);
    CU_ASSERT_DOUBLE_EQUAL(v.battery_pct, 97.0, TOL);
    /* A command length byte with its reserved high bits set: its size is not known, so decoding
     * stops there, keeping what came before. */
    CU_ASSERT_EQUAL(decode_svc_hex("4002CA09"
                                   "3B2103"
                                   "2E23",
                                   &v),
                    0);
    CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE);
}

/* Long service data (extended advertising allows up to 254 bytes in one AD structure): 80
 * objects, a 200-byte raw object, and the values after them. */
static void test_oversized_payloads(void)
{
    uint8_t svc[254];
    size_t n = 0;
    svc[n++] = 0x40;
    for (int i = 0; i < 80; i++) { /* 80 x "window closed" 2D00 */
        svc[n++] = 0x2D;
        svc[n++] = 0x00;
    }
    svc[n++] = 0x54; /* raw, 40 bytes of 0x02 (would read as temperatures if misaligned) */
    svc[n++] = 40;
    memset(svc + n, 0x02, 40);
    n += 40;
    svc[n++] = 0x02, svc[n++] = 0xCA, svc[n++] = 0x09;
    svc[n++] = 0x03, svc[n++] = 0xBF, svc[n++] = 0x13;
    while (n + 2 <= sizeof(svc)) { /* fill with battery 97 objects */
        svc[n++] = 0x01;
        svc[n++] = 0x61;
    }
    struct ble_values v;
    CU_ASSERT_EQUAL_FATAL(decode_svc(svc, n, &v), 0);
    CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE | BLE_HUMIDITY | BLE_BATTERY_PCT);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.06, TOL);
    CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, 50.55, TOL);
    /* One byte more is an object cut short. */
    svc[n++] = 0x01;
    CU_ASSERT_EQUAL(decode_svc(svc, n, &v), -EBADMSG);
    /* A 250-byte text object. */
    uint8_t text[3 + 250];
    text[0] = 0x40, text[1] = 0x53, text[2] = 250;
    memset(text + 3, 'x', 250);
    CU_ASSERT_EQUAL(decode_svc(text, 253, &v), 0);
    CU_ASSERT_EQUAL(v.present, 0);
    CU_ASSERT_EQUAL(decode_svc(text, 252, &v), -EBADMSG);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("ble_bthome", NULL, suite_clean);
    if (s == NULL)
        return CU_get_error();
    if (!CU_add_test(s, "published vectors decode (encrypted and v7 rejected)",
                     test_published_vectors_decode) ||
        !CU_add_test(s, "other formats' vectors are not mine", test_other_formats_are_not_mine) ||
        !CU_add_test(s, "every spec object is skipped by its size",
                     test_every_spec_object_is_skipped_by_its_size) ||
        !CU_add_test(s, "every undefined id stops decoding",
                     test_every_undefined_id_stops_decoding) ||
        !CU_add_test(s, "quantities: spec examples and type limits",
                     test_quantities_examples_and_limits) ||
        !CU_add_test(s, "first channel wins", test_first_channel_wins) ||
        !CU_add_test(s, "device information byte", test_device_information_byte) ||
        !CU_add_test(s, "UUID selection", test_uuid_selection) ||
        !CU_add_test(s, "every truncation is rejected or a valid shorter packet",
                     test_every_truncation_is_rejected_or_a_subset) ||
        !CU_add_test(s, "lengths past the end are rejected", test_lengths_past_the_end) ||
        !CU_add_test(s, "oversized payloads", test_oversized_payloads))
        return CU_get_error();
    return 0;
}
