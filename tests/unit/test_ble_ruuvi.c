/* The Ruuvi decoder (sensors/ble_ruuvi.c) against the published vectors (shared/sensors/vectors/
 * ble_vectors.json: the four official RAWv2 cases and three RAWv1 cases of ruuvi/docs
 * @150ebb448223, and bleparser's real captures), the field examples of the same documents, each
 * "not available" marker on its own, and hostile input: every truncation of a good payload,
 * oversized payloads, other companies and other Ruuvi formats. Every advert is an exact-size heap
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

static uint8_t *copy_of(const uint8_t *data, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    if (len)
        memcpy(b, data, len);
    return b;
}

/* Decodes Manufacturer Specific Data (company id + data) given directly, from an exact-size
 * copy; *out is first filled with a pattern so that a decoder writing on failure shows. */
static int decode_mfr(const uint8_t *mfr, size_t len, struct ble_values *out)
{
    uint8_t *copy = copy_of(mfr, len);
    struct ble_ad ad;
    memset(&ad, 0, sizeof(ad));
    ad.mfr = copy;
    ad.mfr_len = len;
    memset(out, 0xA5, sizeof(*out));
    int rc = ble_ruuvi_decode(&ad, out);
    free(copy);
    return rc;
}

static int decode_mfr_hex(const char *hex, struct ble_values *out)
{
    size_t len;
    uint8_t *b = hex_bytes(hex, &len);
    int rc = decode_mfr(b, len, out);
    free(b);
    return rc;
}

static bool untouched(const struct ble_values *v)
{
    struct ble_values pattern;
    memset(&pattern, 0xA5, sizeof(pattern));
    return memcmp(v, &pattern, sizeof(pattern)) == 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The published vectors */

/* Half of each format's resolution (ruuvi docs): RAWv2 temperature 0.005 degC, humidity
 * 0.0025 %, pressure 1 Pa; RAWv1 temperature 0.01 degC, humidity 0.5 %, pressure 1 Pa. Battery
 * and counter are integers and compared exactly. */
struct tolerance {
    double temperature_c, humidity_pct, pressure_hpa;
};
static const struct tolerance RAWV2_TOL = {0.0025, 0.00125, 0.005};
static const struct tolerance RAWV1_TOL = {0.005, 0.25, 0.005};

/* The vectors' names of faults, as bits; names of quantities this interface does not carry
 * (acceleration, TX power, movement counter, MAC) map to 0. */
static uint32_t fault_bit(const char *name)
{
    static const struct {
        const char *name;
        uint32_t bit;
    } map[] = {
        {"temperature", BLE_TEMPERATURE}, {"humidity", BLE_HUMIDITY}, {"pressure", BLE_PRESSURE},
        {"battery", BLE_BATTERY_MV},      {"counter", BLE_COUNTER},
    };
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(map[i].name, name) == 0)
            return map[i].bit;
    }
    return 0;
}

/* Compares one expected key: a number must be present and within tol, null must be absent.
 * Adds the key's bit to *want_present when a number is expected. Returns false on a mismatch. */
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
    CU_ASSERT_FATAL(cJSON_IsNumber(e));
    *want_present |= bit;
    bool ok = (v->present & bit) && fabs(got - e->valuedouble) <= tol;
    CU_ASSERT(ok);
    if (!ok)
        fprintf(stderr, "\n    vector %s: %s expected %g, got %g (present %s)\n", id, key,
                e->valuedouble, got, (v->present & bit) ? "yes" : "no");
    return ok;
}

/* source: every vector of formats ruuvi_rawv2 / ruuvi_rawv1 in ble_vectors.json, e.g.
 * ruuvi/docs data-format-5-rawv2.md "Case: valid data. Raw binary data:
 * 0x0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F | Temperature 24.3 C | Pressure 100044 |
 * Humidity 53.49 RH-% | ... | Voltage 2.977 V | ... | Measurement Sequence 205" and "Case:
 * Invalid values ... every field: NAN". The whole ad_hex goes through ble_ad_parse() first. */
static void test_published_vectors_decode(void)
{
    int checked = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *format = cJSON_GetObjectItemCaseSensitive(vec, "format")->valuestring;
        bool v2 = strcmp(format, "ruuvi_rawv2") == 0;
        if (!v2 && strcmp(format, "ruuvi_rawv1") != 0)
            continue;
        const char *id = cJSON_GetObjectItemCaseSensitive(vec, "id")->valuestring;
        const char *hex = cJSON_GetObjectItemCaseSensitive(vec, "ad_hex")->valuestring;
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(vec, "expected");
        const struct tolerance *tol = v2 ? &RAWV2_TOL : &RAWV1_TOL;
        size_t len;
        uint8_t *adv = hex_bytes(hex, &len);
        struct ble_ad ad;
        CU_ASSERT_EQUAL_FATAL(ble_ad_parse(adv, len, &ad), 0);
        struct ble_values v;
        memset(&v, 0xA5, sizeof(v));
        int rc = ble_ruuvi_decode(&ad, &v);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "\n    vector %s: rc %d\n", id, rc);
            free(adv);
            continue;
        }
        CU_ASSERT_STRING_EQUAL(v.format, format);
        uint32_t want_present = 0, want_faults = 0;
        bool ok = true;
        ok &= check_key(expected, "temperature_c", BLE_TEMPERATURE, v.temperature_c,
                        tol->temperature_c, &v, &want_present, id);
        ok &= check_key(expected, "humidity_pct", BLE_HUMIDITY, v.humidity_pct, tol->humidity_pct,
                        &v, &want_present, id);
        ok &= check_key(expected, "pressure_hpa", BLE_PRESSURE, v.pressure_hpa, tol->pressure_hpa,
                        &v, &want_present, id);
        ok &= check_key(expected, "battery_mv", BLE_BATTERY_MV, v.battery_mv, 0.0, &v,
                        &want_present, id);
        ok &= check_key(expected, "counter", BLE_COUNTER, v.counter, 0.0, &v, &want_present, id);
        const cJSON *faults = cJSON_GetObjectItemCaseSensitive(expected, "faults");
        const cJSON *f;
        cJSON_ArrayForEach(f, faults)
        {
            want_faults |= fault_bit(f->valuestring);
        }
        /* Exactly the expected quantities are given, and exactly the listed ones are faults:
         * nothing extra (RAWv1 has no counter), nothing both. */
        CU_ASSERT_EQUAL(v.present, want_present);
        CU_ASSERT_EQUAL(v.faults, want_faults);
        CU_ASSERT_EQUAL(v.present & v.faults, 0);
        if (!ok || v.present != want_present || v.faults != want_faults)
            fprintf(stderr, "\n    vector %s: present %#x (want %#x), faults %#x (want %#x)\n", id,
                    (unsigned)v.present, (unsigned)want_present, (unsigned)v.faults,
                    (unsigned)want_faults);
        free(adv);
        checked++;
    }
    CU_ASSERT_EQUAL(checked, 8); /* 5 RAWv2 + 3 RAWv1 */
}

/* Every other format's vector (Govee, Inkbird, pvvx, BTHome, ...) is not Ruuvi's. */
static void test_other_formats_are_not_mine(void)
{
    int checked = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *format = cJSON_GetObjectItemCaseSensitive(vec, "format")->valuestring;
        if (strncmp(format, "ruuvi_", 6) == 0)
            continue;
        const char *hex = cJSON_GetObjectItemCaseSensitive(vec, "ad_hex")->valuestring;
        size_t len;
        uint8_t *adv = hex_bytes(hex, &len);
        struct ble_ad ad;
        if (ble_ad_parse(adv, len, &ad) == 0) {
            struct ble_values v;
            memset(&v, 0xA5, sizeof(v));
            int rc = ble_ruuvi_decode(&ad, &v);
            CU_ASSERT_EQUAL(rc, BLE_NOT_MINE);
            CU_ASSERT(untouched(&v));
            if (rc != BLE_NOT_MINE)
                fprintf(stderr, "\n    vector %s: rc %d\n",
                        cJSON_GetObjectItemCaseSensitive(vec, "id")->valuestring, rc);
            checked++;
        }
        free(adv);
    }
    CU_ASSERT(checked >= 50);
}

/* ------------------------------------------------------------------------------------------ */
/* Edge values and markers, RAWv2 */

/* The official "valid data" payload with company id, as a template. */
#define RAWV2_VALID "99040512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F"

/* Builds the company id + a RAWv2 payload from its fields (big-endian, ruuvi docs table). */
static void rawv2(uint8_t out[26], unsigned temp, unsigned hum, unsigned pres, unsigned power,
                  unsigned seq)
{
    size_t len;
    uint8_t *t = hex_bytes(RAWV2_VALID, &len);
    CU_ASSERT_EQUAL_FATAL(len, 26);
    memcpy(out, t, 26);
    free(t);
    uint8_t *p = out + 2;
    p[1] = (uint8_t)(temp >> 8), p[2] = (uint8_t)temp;
    p[3] = (uint8_t)(hum >> 8), p[4] = (uint8_t)hum;
    p[5] = (uint8_t)(pres >> 8), p[6] = (uint8_t)pres;
    p[13] = (uint8_t)(power >> 8), p[14] = (uint8_t)power;
    p[16] = (uint8_t)(seq >> 8), p[17] = (uint8_t)seq;
}

/* source: data-format-5-rawv2.md field examples: temperature 0x0000 = 0, 0x01C3 = +2.255,
 * 0xFE3D = -2.255, 0x8000 invalid; humidity 0 = 0 %, 10010 = 25.025 %, 40000 = 100.0 %, 65535
 * invalid; pressure 0 = 50000 Pa, 51325 = 101325 Pa; power: 11 bits mV above 1.6 V (1.6 ...
 * 3.646 V), 5 bits TX; sequence 0 ... 65534. */
static void test_rawv2_field_examples_and_limits(void)
{
    static const struct {
        unsigned temp, hum, pres, power, seq;
        double temp_c, hum_pct, pres_hpa;
        int mv;
        unsigned counter;
    } rows[] = {
        {0x0000, 0, 0, 0x0000, 0, 0.0, 0.0, 500.00, 1600, 0},
        {0x01C3, 10010, 51325, 0x001F, 1, 2.255, 25.025, 1013.25, 1600, 1},
        {0xFE3D, 40000, 65534, 0xFFDF, 65534, -2.255, 100.0, 1155.34, 3646, 65534},
        {0x7FFF, 65534, 1, 0xFFC0, 32768, 163.835, 163.835, 500.01, 3646, 32768},
        {0x8001, 1, 0, 0x0020, 2, -163.835, 0.0025, 500.00, 1601, 2},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint8_t mfr[26];
        rawv2(mfr, rows[i].temp, rows[i].hum, rows[i].pres, rows[i].power, rows[i].seq);
        struct ble_values v;
        CU_ASSERT_EQUAL_FATAL(decode_mfr(mfr, sizeof(mfr), &v), 0);
        CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE | BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_MV |
                                       BLE_COUNTER);
        CU_ASSERT_EQUAL(v.faults, 0);
        CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, rows[i].temp_c, RAWV2_TOL.temperature_c);
        CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, rows[i].hum_pct, RAWV2_TOL.humidity_pct);
        CU_ASSERT_DOUBLE_EQUAL(v.pressure_hpa, rows[i].pres_hpa, RAWV2_TOL.pressure_hpa);
        CU_ASSERT_EQUAL(v.battery_mv, rows[i].mv);
        CU_ASSERT_EQUAL(v.counter, rows[i].counter);
    }
}

/* "Not available is signified by largest presentable number for unsigned values, smallest
 * presentable number for signed values": each marker alone faults its own quantity only. The
 * power field's TX half at 31 (n/a) does not fault the battery; the battery at 2047 does,
 * whatever the TX half. */
static void test_rawv2_each_marker_alone(void)
{
    static const struct {
        const char *what;
        unsigned temp, hum, pres, power, seq;
        uint32_t fault;
    } rows[] = {
        {"temperature 0x8000", 0x8000, 21396, 50044, 0xAC36, 205, BLE_TEMPERATURE},
        {"humidity 0xFFFF", 0x12FC, 0xFFFF, 50044, 0xAC36, 205, BLE_HUMIDITY},
        {"pressure 0xFFFF", 0x12FC, 21396, 0xFFFF, 0xAC36, 205, BLE_PRESSURE},
        {"voltage 2047, TX 0", 0x12FC, 21396, 50044, 0xFFE0, 205, BLE_BATTERY_MV},
        {"voltage 2047, TX 31", 0x12FC, 21396, 50044, 0xFFFF, 205, BLE_BATTERY_MV},
        {"TX 31 only", 0x12FC, 21396, 50044, 0xAC3F, 205, 0},
        {"sequence 0xFFFF", 0x12FC, 21396, 50044, 0xAC36, 0xFFFF, BLE_COUNTER},
    };
    const uint32_t all =
        BLE_TEMPERATURE | BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_MV | BLE_COUNTER;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        uint8_t mfr[26];
        rawv2(mfr, rows[i].temp, rows[i].hum, rows[i].pres, rows[i].power, rows[i].seq);
        struct ble_values v;
        CU_ASSERT_EQUAL_FATAL(decode_mfr(mfr, sizeof(mfr), &v), 0);
        CU_ASSERT_EQUAL(v.faults, rows[i].fault);
        CU_ASSERT_EQUAL(v.present, all & ~rows[i].fault);
        if (v.faults != rows[i].fault)
            fprintf(stderr, "\n    %s: faults %#x\n", rows[i].what, (unsigned)v.faults);
        /* The values that stay are the "valid data" case's. */
        if (v.present & BLE_TEMPERATURE)
            CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 24.3, RAWV2_TOL.temperature_c);
        if (v.present & BLE_BATTERY_MV)
            CU_ASSERT_EQUAL(v.battery_mv, 2977);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Edge values, RAWv1 */

/* source: data-format-3-rawv1.md: temperature "MSB is sign, next 7 bits are decimal value" +
 * fraction 1/100 (0 ... 99): 0x0000 = 0, 0x8145 = -1.69, 0x0145 = +1.69; humidity 0.5 % steps,
 * 128 = 64.0 %, 200 = 100.0 %; pressure 51325 = 101325 Pa; battery mV, 0 ... 65535. */
static void test_rawv1_field_examples(void)
{
    static const struct {
        const char *mfr_hex;
        double temp_c, hum_pct, pres_hpa;
        int mv;
    } rows[] = {
        {"99040300000000000000000000000000", 0.0, 0.0, 500.00, 0},
        {"9904038081450000000000000000FFFF", -1.69, 64.0, 500.00, 65535},
        {"990403C80145C87D000000000000 0BB8", 1.69, 100.0, 1013.25, 3000},
        {"99040300800000000000000000000001", 0.0, 0.0, 500.00, 1}, /* "-0.00" */
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char hex[64];
        size_t k = 0;
        for (const char *c = rows[i].mfr_hex; *c; c++) {
            if (*c != ' ')
                hex[k++] = *c;
        }
        hex[k] = '\0';
        struct ble_values v;
        CU_ASSERT_EQUAL_FATAL(decode_mfr_hex(hex, &v), 0);
        CU_ASSERT_STRING_EQUAL(v.format, "ruuvi_rawv1");
        CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE | BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_MV);
        CU_ASSERT_EQUAL(v.faults, 0);
        CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, rows[i].temp_c, RAWV1_TOL.temperature_c);
        CU_ASSERT_FALSE(signbit(v.temperature_c) && v.temperature_c == 0.0);
        CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, rows[i].hum_pct, RAWV1_TOL.humidity_pct);
        CU_ASSERT_DOUBLE_EQUAL(v.pressure_hpa, rows[i].pres_hpa, RAWV1_TOL.pressure_hpa);
        CU_ASSERT_EQUAL(v.battery_mv, rows[i].mv);
    }
}

/* A fraction byte outside 0 ... 99 cannot be a temperature: the temperature is a fault and the
 * other fields stand. */
static void test_rawv1_fraction_over_99_is_a_temperature_fault(void)
{
    static const uint8_t fractions[] = {100, 0x80, 0xFF};
    for (size_t i = 0; i < sizeof(fractions); i++) {
        uint8_t mfr[] = {0x99, 0x04, 0x03, 0x29, 0x1A, 0x1E, 0xCE, 0x1E,
                         0xFC, 0x18, 0xF9, 0x42, 0x02, 0xCA, 0x0B, 0x53};
        mfr[5] = fractions[i];
        struct ble_values v;
        CU_ASSERT_EQUAL_FATAL(decode_mfr(mfr, sizeof(mfr), &v), 0);
        CU_ASSERT_EQUAL(v.faults, BLE_TEMPERATURE);
        CU_ASSERT_EQUAL(v.present, BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_MV);
        CU_ASSERT_EQUAL(v.battery_mv, 2899);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Not Ruuvi's; Ruuvi's but bad */

static void test_other_companies_and_no_mfr_are_not_mine(void)
{
    struct ble_values v;
    /* The valid RAWv2 payload behind other company ids: Apple 0x004C, 0x9904 byte-swapped,
     * Govee 0xEC88. */
    CU_ASSERT_EQUAL(decode_mfr_hex("4C000512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", &v),
                    BLE_NOT_MINE);
    CU_ASSERT(untouched(&v));
    CU_ASSERT_EQUAL(decode_mfr_hex("04990512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", &v),
                    BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_mfr_hex("88EC0512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", &v),
                    BLE_NOT_MINE);
    /* No manufacturer data at all (a BTHome advert), and one shorter than a company id. */
    struct ble_ad ad;
    memset(&ad, 0, sizeof(ad));
    memset(&v, 0xA5, sizeof(v));
    CU_ASSERT_EQUAL(ble_ruuvi_decode(&ad, &v), BLE_NOT_MINE);
    CU_ASSERT(untouched(&v));
    CU_ASSERT_EQUAL(decode_mfr_hex("99", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_mfr_hex("", &v), BLE_NOT_MINE);
}

/* Ruuvi's company id with a format this decoder cannot read (docs: 4 URL, 6, 8 encrypted, C5,
 * E1 Ruuvi Air; or none defined) is Ruuvi's and bad: -EBADMSG, *out untouched. */
static void test_other_ruuvi_formats_are_bad(void)
{
    static const uint8_t formats[] = {0x00, 0x01, 0x02, 0x04, 0x06, 0x08, 0xC5, 0xE1, 0xFF};
    for (size_t i = 0; i < sizeof(formats); i++) {
        uint8_t mfr[26];
        rawv2(mfr, 0x12FC, 21396, 50044, 0xAC36, 205);
        mfr[2] = formats[i];
        struct ble_values v;
        CU_ASSERT_EQUAL(decode_mfr(mfr, sizeof(mfr), &v), -EBADMSG);
        CU_ASSERT(untouched(&v));
    }
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_mfr_hex("9904", &v), -EBADMSG); /* Ruuvi's id, no format byte */
    CU_ASSERT(untouched(&v));
}

/* Every prefix of every vector's manufacturer data: never 0, never a read past the end (each
 * prefix is its own exact-size block). RAWv2 below 24 bytes and RAWv1 below 14 are -EBADMSG;
 * below the company id, BLE_NOT_MINE. Then the same through ble_ad_parse() with the AD
 * structure's length byte shortened to match. */
static void test_every_truncation_is_rejected(void)
{
    int checked = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *format = cJSON_GetObjectItemCaseSensitive(vec, "format")->valuestring;
        if (strncmp(format, "ruuvi_", 6) != 0)
            continue;
        const char *payload = cJSON_GetObjectItemCaseSensitive(vec, "payload_hex")->valuestring;
        size_t plen;
        uint8_t *p = hex_bytes(payload, &plen);
        size_t need = strcmp(format, "ruuvi_rawv2") == 0 ? 24 : 14;
        uint8_t *mfr = malloc(plen + 2);
        CU_ASSERT_PTR_NOT_NULL_FATAL(mfr);
        mfr[0] = 0x99, mfr[1] = 0x04;
        memcpy(mfr + 2, p, plen);
        for (size_t n = 0; n < need + 2; n++) {
            struct ble_values v;
            int rc = decode_mfr(mfr, n, &v);
            CU_ASSERT_EQUAL(rc, n < 2 ? BLE_NOT_MINE : -EBADMSG);
            CU_ASSERT(untouched(&v));
            /* As radio data: 02 01 06, then len FF <n bytes>. */
            if (n >= 2) {
                size_t alen = 3 + 2 + n;
                uint8_t *adv = malloc(alen);
                CU_ASSERT_PTR_NOT_NULL_FATAL(adv);
                memcpy(adv, "\x02\x01\x06", 3);
                adv[3] = (uint8_t)(n + 1);
                adv[4] = 0xFF;
                memcpy(adv + 5, mfr, n);
                struct ble_ad ad;
                CU_ASSERT_EQUAL_FATAL(ble_ad_parse(adv, alen, &ad), 0);
                memset(&v, 0xA5, sizeof(v));
                CU_ASSERT_EQUAL(ble_ruuvi_decode(&ad, &v), -EBADMSG);
                CU_ASSERT(untouched(&v));
                free(adv);
            }
            checked++;
        }
        free(mfr);
        free(p);
    }
    CU_ASSERT_EQUAL(checked, 5 * 26 + 3 * 16);
}

/* RAWv2 is exactly 24 bytes (docs: the AD structure is 0x1B = 27 bytes long): one byte more is
 * not RAWv2 and is rejected. RAWv1 is accepted with trailing bytes, as real tags pad it
 * (bleparser test_ruuvitag_v3: 14 bytes + 00000000), and they change nothing. */
static void test_oversized_payloads(void)
{
    struct ble_values v;
    uint8_t big[2 + 255];
    memset(big, 0, sizeof(big));
    uint8_t mfr[26];
    rawv2(mfr, 0x12FC, 21396, 50044, 0xAC36, 205);
    memcpy(big, mfr, sizeof(mfr));
    for (size_t n = 27; n <= sizeof(big); n += (n < 40 ? 1 : 50)) {
        CU_ASSERT_EQUAL(decode_mfr(big, n, &v), -EBADMSG);
        CU_ASSERT(untouched(&v));
    }

    static const uint8_t v1[] = {0x99, 0x04, 0x03, 0x29, 0x1A, 0x1E, 0xCE, 0x1E,
                                 0xFC, 0x18, 0xF9, 0x42, 0x02, 0xCA, 0x0B, 0x53};
    memset(big, 0xEE, sizeof(big));
    memcpy(big, v1, sizeof(v1));
    for (size_t n = sizeof(v1); n <= sizeof(big); n += (n < 40 ? 1 : 50)) {
        CU_ASSERT_EQUAL_FATAL(decode_mfr(big, n, &v), 0);
        CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 26.3, RAWV1_TOL.temperature_c);
        CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, 20.5, RAWV1_TOL.humidity_pct);
        CU_ASSERT_DOUBLE_EQUAL(v.pressure_hpa, 1027.66, RAWV1_TOL.pressure_hpa);
        CU_ASSERT_EQUAL(v.battery_mv, 2899);
        CU_ASSERT_EQUAL(v.present, BLE_TEMPERATURE | BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_MV);
    }
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("ble_ruuvi", NULL, suite_clean);
    if (s == NULL)
        return CU_get_error();
    if (!CU_add_test(s, "published vectors decode (RAWv2, RAWv1)", test_published_vectors_decode) ||
        !CU_add_test(s, "other formats' vectors are not mine", test_other_formats_are_not_mine) ||
        !CU_add_test(s, "RAWv2 field examples and limits", test_rawv2_field_examples_and_limits) ||
        !CU_add_test(s, "RAWv2 each n/a marker faults its quantity only",
                     test_rawv2_each_marker_alone) ||
        !CU_add_test(s, "RAWv1 field examples (sign-magnitude)", test_rawv1_field_examples) ||
        !CU_add_test(s, "RAWv1 fraction over 99 is a temperature fault",
                     test_rawv1_fraction_over_99_is_a_temperature_fault) ||
        !CU_add_test(s, "other companies and no mfr data are not mine",
                     test_other_companies_and_no_mfr_are_not_mine) ||
        !CU_add_test(s, "other Ruuvi formats are bad", test_other_ruuvi_formats_are_bad) ||
        !CU_add_test(s, "every truncation is rejected", test_every_truncation_is_rejected) ||
        !CU_add_test(s, "oversized payloads", test_oversized_payloads))
        return CU_get_error();
    return 0;
}
