/* The pvvx-custom and atc1441 decoder (sensors/ble_xiaomi.c) against every published vector of
 * those formats in shared/sensors/vectors/ble_vectors.json (bleparser test_atc_parser.py and
 * Theengs test_ble.cpp captures; each vector quotes its source), then constructed frames for the
 * edges of each field, the encrypted frames it cannot read, every truncation of every vector's
 * payload and oversized payloads. Every advert is decoded from a buffer of exactly its size, so
 * ASan sees any read past the end. */
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

/* Parses the advert and runs the decoder. *out is preset to a pattern that must survive any
 * result but 0 ("*out is filled only on 0"). Returns the decoder's result, or 100 + the walker's
 * when the walker refused the advert. */
static int decode(const uint8_t *adv, size_t len, struct ble_values *out)
{
    struct ble_ad ad;
    int prc = ble_ad_parse(adv, len, &ad);
    if (prc != 0)
        return 100 + prc;
    struct ble_values before;
    memset(&before, 0xA5, sizeof(before));
    *out = before;
    int rc = ble_xiaomi_decode(&ad, out);
    if (rc != 0)
        CU_ASSERT(memcmp(&before, out, sizeof(before)) == 0);
    CU_ASSERT(rc == 0 || rc == BLE_NOT_MINE || rc == -EBADMSG);
    if (rc == 0) {
        CU_ASSERT_PTR_NOT_NULL(out->format);
        CU_ASSERT_EQUAL(out->present & out->faults, 0);
    }
    return rc;
}

static int decode_hex(const char *hex, struct ble_values *out)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    int rc = decode(b, n, out);
    free(b);
    return rc;
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
    if (strcmp(vector_format, "pvvx_custom") == 0)
        return "pvvx_custom";
    if (strcmp(vector_format, "atc1441") == 0)
        return "atc1441";
    return NULL;
}

/* pvvx: 0.01 degC, 0.01 %; atc1441: 0.1 degC, 1 % (READMEs). */
static double temp_tol(const char *format)
{
    return strcmp(format, "pvvx_custom") == 0 ? 0.005 : 0.05;
}

static double hum_tol(const char *format)
{
    return strcmp(format, "pvvx_custom") == 0 ? 0.005 : 0.5;
}

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
        struct ble_values v;
        int rc = decode_hex(str_of(vec, "ad_hex"), &v);
        CU_ASSERT_EQUAL(rc, 0);
        if (rc != 0) {
            fprintf(stderr, "\n    vector %s: rc %d", id, rc);
            continue;
        }
        CU_ASSERT_STRING_EQUAL(v.format, fmt);
        CU_ASSERT_EQUAL(check_values(id, vec, &v, temp_tol(fmt), hum_tol(fmt)), 0);
        checked++;
    }
    /* 6 pvvx custom + 4 atc1441 in the file (the encrypted one is a format of its own). */
    CU_ASSERT_EQUAL(checked, 10);
}

/* ble_decode() answers these adverts as this decoder does: no other decoder takes them. */
static void test_dispatcher_gives_the_same(void)
{
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *fmt = str_of(vec, "format");
        if (!format_of(fmt) && strcmp(fmt, "pvvx_custom_encrypted") != 0)
            continue;
        size_t n;
        uint8_t *b = unhex(str_of(vec, "ad_hex"), &n);
        struct ble_ad ad;
        CU_ASSERT_EQUAL_FATAL(ble_ad_parse(b, n, &ad), 0);
        struct ble_values direct, via;
        memset(&direct, 0, sizeof(direct));
        memset(&via, 0, sizeof(via));
        int rc = ble_xiaomi_decode(&ad, &direct);
        CU_ASSERT_EQUAL(ble_decode(&ad, &via), rc);
        if (rc == 0)
            CU_ASSERT(memcmp(&direct, &via, sizeof(via)) == 0);
        free(b);
    }
}

/* Encrypted frames are this firmware's, but need the bind key: -EBADMSG, never values. */
static void test_encrypted_frames_are_mine_but_unreadable(void)
{
    int seen = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        if (strcmp(str_of(vec, "format"), "pvvx_custom_encrypted") != 0)
            continue;
        /* bleparser test_atc_custom_encrypted: 11 bytes after the UUID. */
        struct ble_values v;
        CU_ASSERT_EQUAL(decode_hex(str_of(vec, "ad_hex"), &v), -EBADMSG);
        seen++;
    }
    CU_ASSERT_EQUAL(seen, 1);
    /* atc1441 encrypted (pvvx adv_atc_enc_t): counter + 3 ciphertext + 4 MIC = 8 bytes. */
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("0B161A1811D603FBFA7B6DFB", &v), -EBADMSG);
}

/* One frame per row, decoded from its service data bytes after 1A 18. */
struct row {
    const char *what;
    const char *payload_hex;
    int rc;
    uint32_t present, faults;
    double temp_c, hum_pct, batt_pct;
    int batt_mv;
    unsigned counter;
};

static void run_rows(const struct row *rows, size_t n)
{
    static const uint8_t uuid[] = {0x1A, 0x18};
    for (size_t i = 0; i < n; i++) {
        size_t plen, alen;
        uint8_t *payload = unhex(rows[i].payload_hex, &plen);
        uint8_t *adv = build_ad(NULL, 0x16, uuid, 2, payload, plen, &alen);
        struct ble_values v;
        int rc = decode(adv, alen, &v);
        CU_ASSERT_EQUAL(rc, rows[i].rc);
        if (rc == 0 && rows[i].rc == 0) {
            CU_ASSERT_EQUAL(v.present, rows[i].present);
            CU_ASSERT_EQUAL(v.faults, rows[i].faults);
            if (v.present & BLE_TEMPERATURE)
                CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, rows[i].temp_c, 1e-9);
            if (v.present & BLE_HUMIDITY)
                CU_ASSERT_DOUBLE_EQUAL(v.humidity_pct, rows[i].hum_pct, 1e-9);
            if (v.present & BLE_BATTERY_PCT)
                CU_ASSERT_DOUBLE_EQUAL(v.battery_pct, rows[i].batt_pct, 1e-9);
            if (v.present & BLE_BATTERY_MV)
                CU_ASSERT_EQUAL(v.battery_mv, rows[i].batt_mv);
            if (v.present & BLE_COUNTER)
                CU_ASSERT_EQUAL(v.counter, rows[i].counter);
        }
        if (rc != rows[i].rc ||
            (rc == 0 && (v.present != rows[i].present || v.faults != rows[i].faults)))
            fprintf(stderr, "\n    %s: rc %d present %#x faults %#x", rows[i].what, rc,
                    rc == 0 ? v.present : 0, rc == 0 ? v.faults : 0);
        free(adv);
        free(payload);
    }
}

#define ALL (BLE_TEMPERATURE | BLE_HUMIDITY | BLE_BATTERY_PCT | BLE_BATTERY_MV | BLE_COUNTER)

static void test_pvvx_field_edges(void)
{
    /* MAC F4830238C1A4 | temp LE | hum LE | mV LE | batt % | counter | flags */
    static const struct row rows[] = {
        {"pvvx-real-1 as published", "F4830238C1A4A9066911B60B58F70D", 0, ALL, 0, 17.05, 44.57, 88,
         2998, 247},
        {"-67.50 degC, the lowest measurable", "F4830238C1A4A2E56911B60B58F70D", 0, ALL, 0, -67.5,
         44.57, 88, 2998, 247},
        {"-67.51 degC: not measured", "F4830238C1A4A1E56911B60B58F70D", 0, ALL & ~BLE_TEMPERATURE,
         BLE_TEMPERATURE, 0, 44.57, 88, 2998, 247},
        {"+137.50 degC, the highest measurable", "F4830238C1A4B6356911B60B58F70D", 0, ALL, 0, 137.5,
         44.57, 88, 2998, 247},
        {"+137.51 degC: not measured", "F4830238C1A4B7356911B60B58F70D", 0, ALL & ~BLE_TEMPERATURE,
         BLE_TEMPERATURE, 0, 44.57, 88, 2998, 247},
        {"int16 minimum 0x8000", "F4830238C1A400806911B60B58F70D", 0, ALL & ~BLE_TEMPERATURE,
         BLE_TEMPERATURE, 0, 44.57, 88, 2998, 247},
        {"int16 maximum 0x7FFF", "F4830238C1A4FF7F6911B60B58F70D", 0, ALL & ~BLE_TEMPERATURE,
         BLE_TEMPERATURE, 0, 44.57, 88, 2998, 247},
        {"0.00 degC and 0.00 %", "F4830238C1A400000000B60B58F70D", 0, ALL, 0, 0.0, 0.0, 88, 2998,
         247},
        {"-0.01 degC", "F4830238C1A4FFFF6911B60B58F70D", 0, ALL, 0, -0.01, 44.57, 88, 2998, 247},
        {"100.00 % humidity", "F4830238C1A4A9061027B60B58F70D", 0, ALL, 0, 17.05, 100.0, 88, 2998,
         247},
        {"100.01 % humidity: not measured", "F4830238C1A4A9061127B60B58F70D", 0,
         ALL & ~BLE_HUMIDITY, BLE_HUMIDITY, 17.05, 0, 88, 2998, 247},
        {"humidity 0xFFFF", "F4830238C1A4A906FFFFB60B58F70D", 0, ALL & ~BLE_HUMIDITY, BLE_HUMIDITY,
         17.05, 0, 88, 2998, 247},
        {"battery 100 %", "F4830238C1A4A9066911B60B64F70D", 0, ALL, 0, 17.05, 44.57, 100, 2998,
         247},
        {"battery 101 %: not a level", "F4830238C1A4A9066911B60B65F70D", 0, ALL & ~BLE_BATTERY_PCT,
         BLE_BATTERY_PCT, 17.05, 44.57, 0, 2998, 247},
        {"battery 255 %", "F4830238C1A4A9066911B60BFFF70D", 0, ALL & ~BLE_BATTERY_PCT,
         BLE_BATTERY_PCT, 17.05, 44.57, 0, 2998, 247},
        {"0 mV, counter 0, no flags", "F4830238C1A4A90669110000580000", 0, ALL, 0, 17.05, 44.57, 88,
         0, 0},
        {"65535 mV, counter 255, all flags", "F4830238C1A4A9066911FFFF58FFFF", 0, ALL, 0, 17.05,
         44.57, 88, 65535, 255},
    };
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_atc1441_field_edges(void)
{
    /* MAC A4C1380283F4 | temp BE | hum | batt % | mV BE | counter */
    static const struct row rows[] = {
        {"atc1441-real as published", "A4C1380283F400A22F5F0BF819", 0, ALL, 0, 16.2, 47, 95, 3064,
         25},
        {"-4.5 degC (FF D3, big-endian)", "A4C1380283F4FFD32F5F0BF819", 0, ALL, 0, -4.5, 47, 95,
         3064, 25},
        {"-67.5 degC, the lowest measurable", "A4C1380283F4FD5D2F5F0BF819", 0, ALL, 0, -67.5, 47,
         95, 3064, 25},
        {"-67.6 degC: not measured", "A4C1380283F4FD5C2F5F0BF819", 0, ALL & ~BLE_TEMPERATURE,
         BLE_TEMPERATURE, 0, 47, 95, 3064, 25},
        {"+137.5 degC", "A4C1380283F4055F2F5F0BF819", 0, ALL, 0, 137.5, 47, 95, 3064, 25},
        {"+137.6 degC: not measured", "A4C1380283F405602F5F0BF819", 0, ALL & ~BLE_TEMPERATURE,
         BLE_TEMPERATURE, 0, 47, 95, 3064, 25},
        {"int16 minimum", "A4C1380283F480002F5F0BF819", 0, ALL & ~BLE_TEMPERATURE, BLE_TEMPERATURE,
         0, 47, 95, 3064, 25},
        {"int16 maximum", "A4C1380283F47FFF2F5F0BF819", 0, ALL & ~BLE_TEMPERATURE, BLE_TEMPERATURE,
         0, 47, 95, 3064, 25},
        {"100 % humidity", "A4C1380283F400A2645F0BF819", 0, ALL, 0, 16.2, 100, 95, 3064, 25},
        {"101 % humidity: not measured", "A4C1380283F400A2655F0BF819", 0, ALL & ~BLE_HUMIDITY,
         BLE_HUMIDITY, 16.2, 0, 95, 3064, 25},
        {"255 % humidity", "A4C1380283F400A2FF5F0BF819", 0, ALL & ~BLE_HUMIDITY, BLE_HUMIDITY, 16.2,
         0, 95, 3064, 25},
        {"battery 101 %", "A4C1380283F400A22F650BF819", 0, ALL & ~BLE_BATTERY_PCT, BLE_BATTERY_PCT,
         16.2, 47, 0, 3064, 25},
        {"battery 0 %, 0 mV, counter 0", "A4C1380283F400A22F00000000", 0, ALL, 0, 16.2, 47, 0, 0,
         0},
    };
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

static void test_other_adverts_are_not_mine(void)
{
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_hex("020106", &v), BLE_NOT_MINE);
    /* Ruuvi RAWv2 (manufacturer data, not service data). */
    CU_ASSERT_EQUAL(
        decode_hex("0201061BFF99040512FC5394C37C0004FFFC040CAC364200CDCBB8334C884F", &v),
        BLE_NOT_MINE);
    /* BTHome v2 and MiBeacon service data: other UUIDs, even with pvvx's length. */
    CU_ASSERT_EQUAL(decode_hex("0A16D2FC4002C40903BF13", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_hex("1216D2FCF4830238C1A4A9066911B60B58F70D", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_hex("1216181AF4830238C1A4A9066911B60B58F70D", &v), BLE_NOT_MINE);
    /* 0x181A as a UUID list entry (type 03), not as service data. */
    CU_ASSERT_EQUAL(decode_hex("03031A18", &v), BLE_NOT_MINE);
}

/* Another service data before the 0x181A one: the 0x181A one is found and decoded. */
static void test_found_among_other_service_data(void)
{
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("020106"
                               "0516D2FC4000"
                               "12161A18F4830238C1A4A9066911B60B58F70D",
                               &v),
                    0);
    CU_ASSERT_STRING_EQUAL(v.format, "pvvx_custom");
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 17.05, 1e-9);
}

/* A payload cut short inside a consistent AD structure is -EBADMSG: the UUID says it is ours. The
 * one exception is a pvvx frame cut to 13 bytes, which is the length of an atc1441 frame - the
 * READMEs tell the formats apart by length alone. It must then not come out as pvvx_custom, and
 * its bytes in the wrong places give out-of-range values as faults. Every prefix of every
 * vector's AD bytes, too: the walker refuses it, or the decoder says -EBADMSG / not mine. */
static void test_every_truncation(void)
{
    static const uint8_t uuid[] = {0x1A, 0x18};
    int vecs = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        const char *fmt = format_of(str_of(vec, "format"));
        if (!fmt)
            continue;
        const char *id = str_of(vec, "id");
        size_t plen;
        uint8_t *payload = unhex(str_of(vec, "payload_hex"), &plen);
        for (size_t k = 0; k < plen; k++) {
            size_t alen;
            uint8_t *adv = build_ad(NULL, 0x16, uuid, 2, payload, k, &alen);
            struct ble_values v;
            int rc = decode(adv, alen, &v);
            if (k == 13 && strcmp(fmt, "pvvx_custom") == 0) {
                CU_ASSERT(rc == 0 && strcmp(v.format, "atc1441") == 0);
            } else {
                CU_ASSERT(rc == -EBADMSG);
                if (rc != -EBADMSG)
                    fprintf(stderr, "\n    vector %s cut to %zu bytes: rc %d", id, k, rc);
            }
            free(adv);
        }
        free(payload);

        size_t n;
        uint8_t *all = unhex(str_of(vec, "ad_hex"), &n);
        for (size_t k = 0; k < n; k++) {
            uint8_t *cut = malloc(k ? k : 1);
            CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
            memcpy(cut, all, k);
            struct ble_values v;
            int rc = decode(cut, k, &v);
            CU_ASSERT(rc != 0);
            free(cut);
        }
        free(all);
        vecs++;
    }
    CU_ASSERT_EQUAL(vecs, 10);
}

/* A frame with bytes after it is neither firmware's: -EBADMSG, up to the largest AD structure. */
static void test_oversized_payloads(void)
{
    static const uint8_t uuid[] = {0x1A, 0x18};
    size_t plen;
    uint8_t *pvvx = unhex("F4830238C1A4A9066911B60B58F70D", &plen);
    uint8_t big[252];
    memset(big, 0x00, sizeof(big));
    memcpy(big, pvvx, plen);
    for (size_t k = plen + 1; k <= sizeof(big); k++) {
        size_t alen;
        uint8_t *adv = build_ad(NULL, 0x16, uuid, 2, big, k, &alen);
        struct ble_values v;
        CU_ASSERT_EQUAL(decode(adv, alen, &v), -EBADMSG);
        free(adv);
    }
    free(pvvx);
    /* The 14-byte pvvx frame without its flags byte (builds without SERVICE_TH_TRG) is not read
     * either. */
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("11161A18F4830238C1A4A9066911B60B58F7", &v), -EBADMSG);
    /* An empty 0x181A service data. */
    CU_ASSERT_EQUAL(decode_hex("03161A18", &v), -EBADMSG);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("ble_xiaomi", NULL, suite_clean);
    if (!s)
        return -1;
    CU_add_test(s, "published pvvx and atc1441 vectors decode", test_published_vectors_decode);
    CU_add_test(s, "the dispatcher gives the same", test_dispatcher_gives_the_same);
    CU_add_test(s, "encrypted frames are mine but unreadable",
                test_encrypted_frames_are_mine_but_unreadable);
    CU_add_test(s, "pvvx field edges", test_pvvx_field_edges);
    CU_add_test(s, "atc1441 field edges", test_atc1441_field_edges);
    CU_add_test(s, "other adverts are not mine", test_other_adverts_are_not_mine);
    CU_add_test(s, "found among other service data", test_found_among_other_service_data);
    CU_add_test(s, "every truncation is -EBADMSG or another frame", test_every_truncation);
    CU_add_test(s, "oversized payloads are -EBADMSG", test_oversized_payloads);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
