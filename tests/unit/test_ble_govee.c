/* The Govee H5072/H5075 and H5074 decoder (sensors/ble_govee.c) against every published vector of
 * those formats in shared/sensors/vectors/ble_vectors.json (govee-ble tests/test_parser.py,
 * bleparser test_govee_parser.py and Theengs test_ble.cpp; each vector quotes its source), then
 * constructed frames for the edges of each field, the error bit and the -40 ... 100 degC window,
 * the local name against the length, the Inkbird whose temperature reads as Govee's company id,
 * every truncation of every vector's payload and oversized payloads. Every advert is decoded
 * from a buffer of exactly its size, so ASan sees any read past the end. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <math.h>
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
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    return list;
}

static int suite_clean(void)
{
    cJSON_Delete(vectors);
    vectors = NULL;
    return 0;
}

static const char *str_of(const cJSON *v, const char *key)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(v, key);
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

/* The bytes of a hex string, in a buffer of exactly their number (1 byte for none). */
static uint8_t *unhex(const char *hex, size_t *len_out)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (size_t i = 0; i < n; i++) {
        unsigned x;
        CU_ASSERT_EQUAL_FATAL(sscanf(hex + 2 * i, "%2x", &x), 1);
        b[i] = (uint8_t)x;
    }
    *len_out = n;
    return b;
}

/* An advert, exactly sized: a Complete Local Name AD when name is given, then one AD of `type`
 * whose value is head[hlen] followed by body[blen]. */
static uint8_t *build_ad(const char *name, uint8_t type, const uint8_t *head, size_t hlen,
                         const uint8_t *body, size_t blen, size_t *len_out)
{
    size_t nlen = name ? strlen(name) : 0;
    size_t n = (name ? 2 + nlen : 0) + 2 + hlen + blen;
    CU_ASSERT_FATAL(1 + hlen + blen <= 255 && nlen < 255);
    uint8_t *b = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    size_t at = 0;
    if (name) {
        b[at++] = (uint8_t)(1 + nlen);
        b[at++] = 0x09;
        memcpy(b + at, name, nlen);
        at += nlen;
    }
    b[at++] = (uint8_t)(1 + hlen + blen);
    b[at++] = type;
    if (hlen)
        memcpy(b + at, head, hlen);
    if (blen)
        memcpy(b + at + hlen, body, blen);
    *len_out = n;
    return b;
}

/* Parses the advert and runs the decoder; when name is given and the advert has none, as if the
 * scan response had named it (an exact-size copy). *out is preset to a pattern that must survive
 * any result but 0 ("*out is filled only on 0"). Returns the decoder's result, or 100 + the
 * walker's when the walker refused the advert. */
static int decode_named(const uint8_t *adv, size_t len, const char *name, struct ble_values *out)
{
    struct ble_ad ad;
    int prc = ble_ad_parse(adv, len, &ad);
    if (prc != 0)
        return 100 + prc;
    char *name_copy = NULL;
    if (name && !ad.name) {
        name_copy = malloc(strlen(name) ? strlen(name) : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name_copy);
        memcpy(name_copy, name, strlen(name));
        ad.name = name_copy;
        ad.name_len = strlen(name);
    }
    struct ble_values before;
    memset(&before, 0xA5, sizeof(before));
    *out = before;
    int rc = ble_govee_decode(&ad, out);
    free(name_copy);
    if (rc != 0)
        CU_ASSERT(memcmp(&before, out, sizeof(before)) == 0);
    CU_ASSERT(rc == 0 || rc == BLE_NOT_MINE || rc == -EBADMSG);
    if (rc == 0) {
        CU_ASSERT_PTR_NOT_NULL(out->format);
        CU_ASSERT_EQUAL(out->present & out->faults, 0);
    }
    return rc;
}

static int decode(const uint8_t *adv, size_t len, struct ble_values *out)
{
    return decode_named(adv, len, NULL, out);
}

static int decode_hex_named(const char *hex, const char *name, struct ble_values *out)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    int rc = decode_named(b, n, name, out);
    free(b);
    return rc;
}

static int decode_hex(const char *hex, struct ble_values *out)
{
    return decode_hex_named(hex, NULL, out);
}

/* The values a vector states (its "expected", else its independent "reference_decode"), each
 * compared within half the format's resolution; null = not given, and named as a fault. Returns
 * the number of mismatches, each printed with the vector's id. */
static int check_values(const char *id, const cJSON *vec, const struct ble_values *v,
                        double temp_tol, double hum_tol)
{
    static const struct {
        const char *key;
        uint32_t bit;
    } keys[] = {{"temperature_c", BLE_TEMPERATURE},
                {"humidity_pct", BLE_HUMIDITY},
                {"battery_pct", BLE_BATTERY_PCT},
                {"battery_mv", BLE_BATTERY_MV},
                {"counter", BLE_COUNTER}};
    const cJSON *expected = cJSON_GetObjectItemCaseSensitive(vec, "expected");
    const cJSON *reference = cJSON_GetObjectItemCaseSensitive(vec, "reference_decode");
    int bad = 0;
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(expected, keys[k].key);
        if (!want)
            want = cJSON_GetObjectItemCaseSensitive(reference, keys[k].key);
        if (!want)
            continue;
        uint32_t bit = keys[k].bit;
        double got = bit == BLE_TEMPERATURE   ? v->temperature_c
                     : bit == BLE_HUMIDITY    ? v->humidity_pct
                     : bit == BLE_BATTERY_PCT ? v->battery_pct
                     : bit == BLE_BATTERY_MV  ? (double)v->battery_mv
                                              : (double)v->counter;
        double tol = bit == BLE_TEMPERATURE ? temp_tol : bit == BLE_HUMIDITY ? hum_tol : 0.5;
        if (cJSON_IsNumber(want)) {
            if (!(v->present & bit) || fabs(got - want->valuedouble) > tol) {
                fprintf(stderr, "\n    vector %s: %s want %g, got %s %g", id, keys[k].key,
                        want->valuedouble, (v->present & bit) ? "" : "(absent)", got);
                bad++;
            }
        } else if (cJSON_IsNull(want)) {
            if ((v->present & bit) || !(v->faults & bit)) {
                fprintf(stderr, "\n    vector %s: %s should be absent and a fault", id,
                        keys[k].key);
                bad++;
            }
        }
    }
    return bad;
}

/* The decoder's name for a vector format of this decoder, or NULL. */
static const char *format_of(const char *vector_format)
{
    if (strcmp(vector_format, "govee_h5072_h5075") == 0)
        return "govee_h5075";
    if (strcmp(vector_format, "govee_h5074") == 0)
        return "govee_h5074";
    return NULL;
}

/* H5072/H5075: 0.1 degC, 0.1 %; H5074: 0.01 degC, 0.01 % (govee-ble parser.py). */
static double tol(const char *format)
{
    return strcmp(format, "govee_h5075") == 0 ? 0.05 : 0.005;
}

static uint32_t fault_bit(const char *name)
{
    return strcmp(name, "temperature") == 0 ? BLE_TEMPERATURE
           : strcmp(name, "humidity") == 0  ? BLE_HUMIDITY
                                            : 0;
}

/* Each vector as published, and again with its local_name as if the scan response had named
 * it (govee-h5075-1 names "GVH5075_DBF8" but its AD bytes do not carry it). */
static void test_published_vectors_decode(void)
{
    int checked = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *fmt = format_of(str_of(vec, "format"));
        if (!fmt)
            continue;
        const char *id = str_of(vec, "id");
        const char *names[] = {NULL, str_of(vec, "local_name")};
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && !names[1])
                break;
            struct ble_values v;
            int rc = decode_hex_named(str_of(vec, "ad_hex"), names[pass], &v);
            CU_ASSERT_EQUAL(rc, 0);
            if (rc != 0) {
                fprintf(stderr, "\n    vector %s%s: rc %d", id, pass ? " (named)" : "", rc);
                continue;
            }
            CU_ASSERT_STRING_EQUAL(v.format, fmt);
            CU_ASSERT_EQUAL(check_values(id, vec, &v, tol(fmt), tol(fmt)), 0);
            const cJSON *faults = cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(vec, "expected"), "faults");
            const cJSON *f;
            cJSON_ArrayForEach(f, faults)
            {
                uint32_t bit = fault_bit(f->valuestring);
                CU_ASSERT(bit != 0 && (v.faults & bit) && !(v.present & bit));
            }
        }
        checked++;
    }
    /* 10 H5072/H5075 + 2 H5074 in the file. */
    CU_ASSERT_EQUAL(checked, 12);
}

/* ble_decode() answers these adverts as this decoder does: no other decoder takes them. */
static void test_dispatcher_gives_the_same(void)
{
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        if (!format_of(str_of(vec, "format")))
            continue;
        size_t n;
        uint8_t *b = unhex(str_of(vec, "ad_hex"), &n);
        struct ble_ad ad;
        CU_ASSERT_EQUAL_FATAL(ble_ad_parse(b, n, &ad), 0);
        struct ble_values direct, via;
        memset(&direct, 0, sizeof(direct));
        memset(&via, 0, sizeof(via));
        int rc = ble_govee_decode(&ad, &direct);
        CU_ASSERT_EQUAL(ble_decode(&ad, &via), rc);
        if (rc == 0)
            CU_ASSERT(memcmp(&direct, &via, sizeof(via)) == 0);
        free(b);
    }
}

/* One frame per row: the bytes after 88 EC, with a local name or none. */
struct row {
    const char *what;
    const char *name;
    const char *payload_hex;
    int rc;
    const char *format;
    uint32_t present, faults;
    double temp_c, hum_pct, batt_pct;
};

static void run_rows(const struct row *rows, size_t n)
{
    static const uint8_t company[] = {0x88, 0xEC};
    for (size_t i = 0; i < n; i++) {
        size_t plen, alen;
        uint8_t *payload = unhex(rows[i].payload_hex, &plen);
        uint8_t *adv = build_ad(rows[i].name, 0xFF, company, 2, payload, plen, &alen);
        struct ble_values v;
        int rc = decode(adv, alen, &v);
        CU_ASSERT_EQUAL(rc, rows[i].rc);
        if (rc == 0 && rows[i].rc == 0) {
            CU_ASSERT_STRING_EQUAL(v.format, rows[i].format);
            CU_ASSERT_EQUAL(v.present, rows[i].present);
            CU_ASSERT_EQUAL(v.faults, rows[i].faults);
            if (v.present & BLE_TEMPERATURE) {
                CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, rows[i].temp_c, 1e-9);
                CU_ASSERT(!signbit(v.temperature_c) || v.temperature_c < 0);
            }
            if (v.present & BLE_HUMIDITY)
                CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, rows[i].hum_pct, 1e-9);
            if (v.present & BLE_BATTERY_PCT)
                CU_ASSERT_DOUBLE_EQUAL(v.battery_pct, rows[i].batt_pct, 1e-9);
        }
        if (rc != rows[i].rc ||
            (rc == 0 && (v.present != rows[i].present || v.faults != rows[i].faults)))
            fprintf(stderr, "\n    %s: rc %d present %#x faults %#x", rows[i].what, rc,
                    rc == 0 ? v.present : 0, rc == 0 ? v.faults : 0);
        free(adv);
        free(payload);
    }
}

#define TH (BLE_TEMPERATURE | BLE_HUMIDITY)
#define THB (BLE_TEMPERATURE | BLE_HUMIDITY | BLE_BATTERY_PCT)

/* H5072/H5075: 00 | packed BE (bit 23 negative; m / 1000 = 0.1 degC truncated, m % 1000 =
 * 0.1 %) | battery (bit 7 error) | 00. Packed values computed independently (Python). */
static void test_h5075_field_edges(void)
{
    static const struct row rows[] = {
        {"govee-h5075-1 as published", NULL, "00034DB26400", 0, "govee_h5075", THB, 0, 21.6, 49.8,
         100},
        {"-40.0 degC, govee-ble MIN_TEMP", NULL, "00861C746400", 0, "govee_h5075", THB, 0, -40.0,
         50.0, 100},
        {"-40.1 degC: error", NULL, "0086205C6400", 0, "govee_h5075", BLE_BATTERY_PCT, TH, 0, 0,
         100},
        {"100.0 degC, govee-ble MAX_TEMP", NULL, "000F44346400", 0, "govee_h5075", THB, 0, 100.0,
         50.0, 100},
        {"100.1 degC: error", NULL, "000F481C6400", 0, "govee_h5075", BLE_BATTERY_PCT, TH, 0, 0,
         100},
        {"largest magnitude, positive", NULL, "007FFFFF6400", 0, "govee_h5075", BLE_BATTERY_PCT, TH,
         0, 0, 100},
        {"largest magnitude, negative", NULL, "00FFFFFF6400", 0, "govee_h5075", BLE_BATTERY_PCT, TH,
         0, 0, 100},
        {"0.0 degC, 0.0 %", NULL, "000000006400", 0, "govee_h5075", THB, 0, 0.0, 0.0, 100},
        {"sign bit on 0.0 degC: +0.0, 50.0 %", NULL, "008001F46400", 0, "govee_h5075", THB, 0, 0.0,
         50.0, 100},
        {"error bit (battery byte E4): both faults, battery 100 %", NULL, "00034DB2E400", 0,
         "govee_h5075", BLE_BATTERY_PCT, TH, 0, 0, 100},
        {"battery 127 %: not a level", NULL, "00034DB27F00", 0, "govee_h5075", TH, BLE_BATTERY_PCT,
         21.6, 49.8, 0},
        {"battery 0 %", NULL, "00034DB20000", 0, "govee_h5075", THB, 0, 21.6, 49.8, 0},
        {"bytes 0 and 5 are not read", NULL, "FF034DB264FF", 0, "govee_h5075", THB, 0, 21.6, 49.8,
         100},
    };
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* H5074: 00 | int16 LE x 0.01 degC | uint16 LE x 0.01 % | battery | 02. */
static void test_h5074_field_edges(void)
{
    static const struct row rows[] = {
        {"govee-h5074 as published", NULL, "00E609BC126402", 0, "govee_h5074", THB, 0, 25.34, 47.96,
         100},
        {"-40.00 degC", NULL, "0060F0BC126402", 0, "govee_h5074", THB, 0, -40.0, 47.96, 100},
        {"-40.01 degC: fault", NULL, "005FF0BC126402", 0, "govee_h5074",
         BLE_HUMIDITY | BLE_BATTERY_PCT, BLE_TEMPERATURE, 0, 47.96, 100},
        {"100.00 degC", NULL, "001027BC126402", 0, "govee_h5074", THB, 0, 100.0, 47.96, 100},
        {"100.01 degC: fault", NULL, "001127BC126402", 0, "govee_h5074",
         BLE_HUMIDITY | BLE_BATTERY_PCT, BLE_TEMPERATURE, 0, 47.96, 100},
        {"int16 minimum 0x8000", NULL, "000080BC126402", 0, "govee_h5074",
         BLE_HUMIDITY | BLE_BATTERY_PCT, BLE_TEMPERATURE, 0, 47.96, 100},
        {"int16 maximum 0x7FFF", NULL, "00FF7FBC126402", 0, "govee_h5074",
         BLE_HUMIDITY | BLE_BATTERY_PCT, BLE_TEMPERATURE, 0, 47.96, 100},
        {"100.00 % humidity", NULL, "00E60910276402", 0, "govee_h5074", THB, 0, 25.34, 100.0, 100},
        {"100.01 % humidity: fault", NULL, "00E60911276402", 0, "govee_h5074",
         BLE_TEMPERATURE | BLE_BATTERY_PCT, BLE_HUMIDITY, 25.34, 0, 100},
        {"humidity 0xFFFF: fault", NULL, "00E609FFFF6402", 0, "govee_h5074",
         BLE_TEMPERATURE | BLE_BATTERY_PCT, BLE_HUMIDITY, 25.34, 0, 100},
        {"battery 101 %: fault", NULL, "00E609BC126502", 0, "govee_h5074", TH, BLE_BATTERY_PCT,
         25.34, 47.96, 0},
    };
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* The length says the layout; a local name that names the model must agree with it. */
static void test_name_and_length(void)
{
    static const struct row rows[] = {
        {"GVH5075 name, 6 bytes", "GVH5075_DBF8", "00034DB26400", 0, "govee_h5075", THB, 0, 21.6,
         49.8, 100},
        {"GVH5072 name, 6 bytes", "GVH5072_1234", "0004344B6400", 0, "govee_h5075", THB, 0, 27.5,
         53.1, 100},
        {"H5074 name, 7 bytes", "Govee_H5074_5FF4", "00E609BC126402", 0, "govee_h5074", THB, 0,
         25.34, 47.96, 100},
        {"H5074 name, 6 bytes: an H5074 cut short", "Govee_H5074_5FF4", "00E609BC1264", -EBADMSG,
         NULL, 0, 0, 0, 0, 0},
        {"GVH5075 name, 7 bytes", "GVH5075_DBF8", "00034DB2640000", -EBADMSG, NULL, 0, 0, 0, 0, 0},
        {"GVH5072 name, 7 bytes", "GVH5072_1234", "0004344B640000", -EBADMSG, NULL, 0, 0, 0, 0, 0},
        {"GVH5075 name, 9 bytes", "GVH5075_DBF8", "00034DB26400000000", -EBADMSG, NULL, 0, 0, 0, 0,
         0},
        {"another model's name, 6 bytes: the length decides", "GVH5179_AAAA", "00034DB26400", 0,
         "govee_h5075", THB, 0, 21.6, 49.8, 100},
        {"unnamed, 8 bytes: another Govee product", NULL, "0000000000000000", BLE_NOT_MINE, NULL, 0,
         0, 0, 0, 0},
        {"unnamed, 9 bytes (H5051/H5071 layout, not read here)", NULL, "00E609BC1264020000",
         BLE_NOT_MINE, NULL, 0, 0, 0, 0, 0},
        {"H5051 name, 9 bytes", "Govee_H5051_1234", "00E609BC1264020000", BLE_NOT_MINE, NULL, 0, 0,
         0, 0, 0},
    };
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* An Inkbird IBS-TH has no company id: at -49.84 degC its first bytes are 88 EC (PROTOCOLS.md
 * §1.5), and its length is an H5074's. Named or not (its CRC tells), it is left to the Inkbird
 * decoder, and ble_decode() gets there. The frame: -4984 | 50.00 % | probe 0 | CRC-16/MODBUS
 * 0x957D (computed independently, Python) | 100 % | 08. With a bad CRC and no name it is what
 * its length says, an H5074 - and reads 0.19 degC: the case the CRC check is for. */
static void test_inkbird_at_minus_49_84_is_not_govee(void)
{
    static const char *frame = "0AFF88EC8813007D956408";
    const char *names[] = {NULL, "sps", "tps", "SPS"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct ble_values v;
        CU_ASSERT_EQUAL(decode_hex_named(frame, names[i], &v), BLE_NOT_MINE);

        size_t n;
        uint8_t *b = unhex(frame, &n);
        struct ble_ad ad;
        CU_ASSERT_EQUAL_FATAL(ble_ad_parse(b, n, &ad), 0);
        if (names[i]) {
            ad.name = names[i];
            ad.name_len = strlen(names[i]);
        }
        memset(&v, 0, sizeof(v));
        CU_ASSERT_EQUAL(ble_decode(&ad, &v), 0);
        CU_ASSERT(v.format && strcmp(v.format, "inkbird_ibs_th") == 0);
        CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, -49.84, 0.005);
        free(b);
    }
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("0AFF88EC8813007D946408", &v), 0);
    CU_ASSERT_STRING_EQUAL(v.format, "govee_h5074");
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 0.19, 1e-9);
    /* Named H5074, the CRC is not asked. */
    CU_ASSERT_EQUAL(decode_hex_named(frame, "Govee_H5074_5FF4", &v), 0);
    CU_ASSERT_STRING_EQUAL(v.format, "govee_h5074");
}

static void test_other_adverts_are_not_mine(void)
{
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_hex("020106", &v), BLE_NOT_MINE);
    /* Ruuvi's company id with a Govee-sized payload. */
    CU_ASSERT_EQUAL(decode_hex("09FF990400034DB26400", &v), BLE_NOT_MINE);
    /* Govee's id byte-swapped (EC 88 = 0x88EC). */
    CU_ASSERT_EQUAL(decode_hex("09FFEC8800034DB26400", &v), BLE_NOT_MINE);
    /* 88 EC as service data, and as a UUID list entry (govee-h5075-bleparser sends one). */
    CU_ASSERT_EQUAL(decode_hex("091688EC00034DB26400", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_hex("030388EC", &v), BLE_NOT_MINE);
    /* An iBeacon alone. */
    CU_ASSERT_EQUAL(decode_hex("1AFF4C000215494E54454C4C495F524F434B535F48575075F2FF0C", &v),
                    BLE_NOT_MINE);
}

/* A payload cut short inside a consistent AD structure is -EBADMSG below 6 bytes. At 6 bytes a
 * cut H5074 is an H5075 by length (govee-ble decides the same way); it must not come out as
 * H5074, and with its name it is -EBADMSG. The glued vector cut to 6 bytes is exactly its
 * genuine H5075 part; cut to 7 it is an H5074 by length; longer cuts are not a layout this
 * decoder reads. Every prefix of every vector's AD bytes: refused by the walker, or not 0. */
static void test_every_truncation(void)
{
    static const uint8_t company[] = {0x88, 0xEC};
    int vecs = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *fmt = format_of(str_of(vec, "format"));
        if (!fmt)
            continue;
        const char *id = str_of(vec, "id");
        int glued = strcmp(id, "govee-h5075-ibeacon-glued") == 0;
        size_t plen;
        uint8_t *payload = unhex(str_of(vec, "payload_hex"), &plen);
        for (size_t k = 0; k < plen; k++) {
            size_t alen;
            uint8_t *adv = build_ad(NULL, 0xFF, company, 2, payload, k, &alen);
            struct ble_values v;
            int rc = decode(adv, alen, &v);
            if (k < 6) {
                CU_ASSERT_EQUAL(rc, -EBADMSG);
            } else if (glued && k == 6) {
                CU_ASSERT(rc == 0 && strcmp(v.format, "govee_h5075") == 0);
                if (rc == 0)
                    CU_ASSERT_EQUAL(check_values(id, vec, &v, 0.05, 0.05), 0);
            } else if (k == 6 || k == 7) {
                CU_ASSERT(rc == 0 && strcmp(v.format, fmt) != 0);
            } else {
                CU_ASSERT_EQUAL(rc, BLE_NOT_MINE);
            }
            free(adv);
            if (k == 6 && strcmp(fmt, "govee_h5074") == 0) {
                adv = build_ad("Govee_H5074_5FF4", 0xFF, company, 2, payload, k, &alen);
                CU_ASSERT_EQUAL(decode(adv, alen, &v), -EBADMSG);
                free(adv);
            }
        }
        free(payload);

        size_t n;
        uint8_t *all = unhex(str_of(vec, "ad_hex"), &n);
        for (size_t k = 0; k < n; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
            memcpy(cut, all, k);
            struct ble_values v;
            CU_ASSERT(decode(cut, k, &v) != 0);
            free(cut);
        }
        free(all);
        vecs++;
    }
    CU_ASSERT_EQUAL(vecs, 12);
}

/* Bytes after a frame: one more is the H5074 length; more than that is no layout of these two
 * unless they are an iBeacon, which is cut off (govee-ble: "INTELLI_ROCKS sometimes ends up glued
 * on to the end of the message"). Up to the largest AD structure. */
static void test_oversized_payloads(void)
{
    static const uint8_t company[] = {0x88, 0xEC};
    uint8_t big[252];
    memset(big, 0x5A, sizeof(big));
    static const uint8_t h5075[] = {0x00, 0x03, 0x4D, 0xB2, 0x64, 0x00};
    memcpy(big, h5075, sizeof(h5075));
    for (size_t k = 8; k <= sizeof(big); k++) {
        size_t alen;
        uint8_t *adv = build_ad(NULL, 0xFF, company, 2, big, k, &alen);
        struct ble_values v;
        CU_ASSERT_EQUAL(decode(adv, alen, &v), BLE_NOT_MINE);
        free(adv);
        adv = build_ad("GVH5075_DBF8", 0xFF, company, 2, big, k, &alen);
        CU_ASSERT_EQUAL(decode(adv, alen, &v), -EBADMSG);
        free(adv);
    }
    /* An iBeacon glued behind an H5074 frame. */
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("23FF88EC00E609BC126402"
                               "4C000215494E54454C4C495F524F434B535F48575075F2FF0C",
                               &v),
                    0);
    CU_ASSERT_STRING_EQUAL(v.format, "govee_h5074");
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 25.34, 0.005);
    /* Half an iBeacon is not cut off. */
    CU_ASSERT_EQUAL(decode_hex("16FF88EC00034DB264004C000215494E54454C4C495F52", &v), BLE_NOT_MINE);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("ble_govee", NULL, suite_clean);
    if (!s)
        return -1;
    CU_add_test(s, "published H5072/H5075 and H5074 vectors decode", test_published_vectors_decode);
    CU_add_test(s, "the dispatcher gives the same", test_dispatcher_gives_the_same);
    CU_add_test(s, "H5075 field edges, error bit and temperature window", test_h5075_field_edges);
    CU_add_test(s, "H5074 field edges", test_h5074_field_edges);
    CU_add_test(s, "the name must agree with the length", test_name_and_length);
    CU_add_test(s, "an Inkbird at -49.84 degC is not Govee's",
                test_inkbird_at_minus_49_84_is_not_govee);
    CU_add_test(s, "other adverts are not mine", test_other_adverts_are_not_mine);
    CU_add_test(s, "every truncation is -EBADMSG or another layout", test_every_truncation);
    CU_add_test(s, "oversized payloads", test_oversized_payloads);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
