/* The Inkbird IBS-TH1 ("sps") / IBS-TH2, P01B ("tps") decoder (sensors/ble_inkbird.c) against
 * every published vector of that format in shared/sensors/vectors/ble_vectors.json (bleparser
 * test_inkbird.py, inkbird-ble tests/test_parser.py and Theengs test_ble.cpp; each vector quotes
 * its source), each with and without its local name, then constructed frames (CRC computed here,
 * by an implementation checked against the catalogue's check value) for the edges of each field,
 * the name rules, the checks that stand in for the name when there is none, every truncation and
 * oversized payloads. Every advert is decoded from a buffer of exactly its size, so ASan sees any
 * read past the end. */
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
    int rc = ble_inkbird_decode(&ad, out);
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

/* CRC-16/MODBUS one input bit at a time (the decoder folds in whole bytes: a different shape on
 * purpose); checked against the catalogue's check value: "123456789" -> 0x4B37. */
static unsigned crc16_modbus(const uint8_t *p, size_t n)
{
    unsigned crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        for (int b = 0; b < 8; b++) {
            unsigned bit = ((p[i] >> b) ^ crc) & 1u;
            crc >>= 1;
            if (bit)
                crc ^= 0xA001u;
        }
    }
    return crc;
}

/* The 9 bytes: temp int16 LE x 0.01 | hum uint16 LE x 0.01 | probe | CRC LE | battery | 0x08. */
static void frame(uint8_t b[9], int temp_centi, unsigned hum, unsigned probe, unsigned batt)
{
    unsigned t = (unsigned)temp_centi & 0xFFFFu;
    b[0] = (uint8_t)t;
    b[1] = (uint8_t)(t >> 8);
    b[2] = (uint8_t)hum;
    b[3] = (uint8_t)(hum >> 8);
    b[4] = (uint8_t)probe;
    unsigned crc = crc16_modbus(b, 5);
    b[5] = (uint8_t)crc;
    b[6] = (uint8_t)(crc >> 8);
    b[7] = (uint8_t)batt;
    b[8] = 0x08;
}

/* Decodes the 9 (or n) bytes as the whole manufacturer data, with an optional name AD. */
static int decode_frame(const uint8_t *b, size_t n, const char *name, struct ble_values *v)
{
    size_t alen;
    uint8_t *adv =
        build_ad(name, 0xFF, b, n >= 2 ? 2 : n, b + (n >= 2 ? 2 : n), n >= 2 ? n - 2 : 0, &alen);
    int rc = decode(adv, alen, v);
    free(adv);
    return rc;
}

/* Whether the advert's AD bytes carry a local name. */
static int has_name(const char *hex)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    struct ble_ad ad;
    int named = ble_ad_parse(b, n, &ad) == 0 && ad.name != NULL;
    free(b);
    return named;
}

static void test_crc_helper_matches_the_catalogue(void)
{
    CU_ASSERT_EQUAL(crc16_modbus((const uint8_t *)"123456789", 9), 0x4B37);
    /* PROTOCOLS.md §1.5: 9C 08 F4 10 00 -> 0x4EBA. */
    static const uint8_t b[] = {0x9C, 0x08, 0xF4, 0x10, 0x00};
    CU_ASSERT_EQUAL(crc16_modbus(b, 5), 0x4EBA);
}

/* Each vector as its AD bytes stand, and again with its local_name as if the scan response had
 * named it. The Theengs vector with edited values and a stale CRC (crc_ok false) is never read:
 * -EBADMSG with the name, not mine without. */
static void test_published_vectors_decode(void)
{
    int checked = 0, rejected = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        if (strcmp(str_of(vec, "format"), "inkbird_ibs_th") != 0)
            continue;
        const char *id = str_of(vec, "id");
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(vec, "expected");
        int crc_ok = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(expected, "crc_ok"));
        const char *names[] = {NULL, str_of(vec, "local_name")};
        CU_ASSERT_PTR_NOT_NULL(names[1]);
        for (int pass = 0; pass < 2; pass++) {
            if (pass == 1 && !names[1])
                break;
            struct ble_values v;
            int rc = decode_hex_named(str_of(vec, "ad_hex"), names[pass], &v);
            if (!crc_ok) {
                /* Named (by its AD bytes or by us), it is the Inkbird's and bad. */
                int named = pass == 1 || has_name(str_of(vec, "ad_hex"));
                CU_ASSERT_EQUAL(rc, named ? -EBADMSG : BLE_NOT_MINE);
                if (pass == 1)
                    rejected++;
                continue;
            }
            CU_ASSERT_EQUAL(rc, 0);
            if (rc != 0) {
                fprintf(stderr, "\n    vector %s%s: rc %d", id, pass ? " (named)" : "", rc);
                continue;
            }
            CU_ASSERT_STRING_EQUAL(v.format, "inkbird_ibs_th");
            CU_ASSERT_EQUAL(check_values(id, vec, &v, 0.005, 0.005), 0);
        }
        if (crc_ok)
            checked++;
    }
    /* 7 in the file: 6 real ones and the synthetic one with the stale CRC. */
    CU_ASSERT_EQUAL(checked, 6);
    CU_ASSERT_EQUAL(rejected, 1);
}

/* ble_decode() answers these adverts as this decoder does: no other decoder takes them. */
static void test_dispatcher_gives_the_same(void)
{
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        if (strcmp(str_of(vec, "format"), "inkbird_ibs_th") != 0)
            continue;
        size_t n;
        uint8_t *b = unhex(str_of(vec, "ad_hex"), &n);
        struct ble_ad ad;
        CU_ASSERT_EQUAL_FATAL(ble_ad_parse(b, n, &ad), 0);
        struct ble_values direct, via;
        memset(&direct, 0, sizeof(direct));
        memset(&via, 0, sizeof(via));
        int rc = ble_inkbird_decode(&ad, &direct);
        CU_ASSERT_EQUAL(ble_decode(&ad, &via), rc);
        if (rc == 0)
            CU_ASSERT(memcmp(&direct, &via, sizeof(via)) == 0);
        free(b);
    }
}

struct row {
    const char *what;
    int temp_centi;
    unsigned hum, probe, batt;
    const char *name;
    int rc;
    uint32_t present, faults;
    double temp_c, hum_pct, batt_pct;
};

static void run_rows(const struct row *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t b[9];
        frame(b, rows[i].temp_centi, rows[i].hum, rows[i].probe, rows[i].batt);
        struct ble_values v;
        int rc = decode_frame(b, sizeof(b), rows[i].name, &v);
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
        }
        if (rc != rows[i].rc ||
            (rc == 0 && (v.present != rows[i].present || v.faults != rows[i].faults)))
            fprintf(stderr, "\n    %s: rc %d present %#x faults %#x", rows[i].what, rc,
                    rc == 0 ? v.present : 0, rc == 0 ? v.faults : 0);
    }
}

#define THB (BLE_TEMPERATURE | BLE_HUMIDITY | BLE_BATTERY_PCT)
#define TB (BLE_TEMPERATURE | BLE_BATTERY_PCT)

static void test_field_edges(void)
{
    static const struct row rows[] = {
        {"22.04 degC 43.40 % (inkbird-th1)", 2204, 4340, 0, 100, "sps", 0, THB, 0, 22.04, 43.4,
         100},
        {"the same without a name", 2204, 4340, 0, 100, NULL, 0, THB, 0, 22.04, 43.4, 100},
        {"int16 minimum: -327.68 degC (CRC-protected)", -32768, 4340, 0, 100, "sps", 0, THB, 0,
         -327.68, 43.4, 100},
        {"int16 maximum: 327.67 degC", 32767, 4340, 0, 100, "sps", 0, THB, 0, 327.67, 43.4, 100},
        {"-0.01 degC", -1, 4340, 0, 100, "tps", 0, THB, 0, -0.01, 43.4, 100},
        {"humidity 100.00 %", 2204, 10000, 0, 100, "sps", 0, THB, 0, 22.04, 100.0, 100},
        {"humidity 0.01 %", 2204, 1, 0, 100, "sps", 0, THB, 0, 22.04, 0.01, 100},
        {"humidity 100.01 %, named: corrupt", 2204, 10001, 0, 100, "sps", -EBADMSG, 0, 0, 0, 0, 0},
        {"humidity 100.01 %, unnamed: not mine", 2204, 10001, 0, 100, NULL, BLE_NOT_MINE, 0, 0, 0,
         0, 0},
        {"humidity 0, tps: no sensor", 2047, 0, 0, 51, "tps", 0, TB, BLE_HUMIDITY, 20.47, 0, 51},
        {"humidity 0, sps: not believed", 2047, 0, 0, 51, "sps", 0, TB, BLE_HUMIDITY, 20.47, 0, 51},
        {"humidity 0xFFFF, tps: no sensor", 2692, 0xFFFF, 0, 96, "tps", 0, TB, BLE_HUMIDITY, 26.92,
         0, 96},
        {"humidity 0xFFFF, unnamed: no sensor", 2692, 0xFFFF, 0, 96, NULL, 0, TB, BLE_HUMIDITY,
         26.92, 0, 96},
        {"humidity 0xFFFF, sps: corrupt", 0, 0xFFFF, 0, 0, "sps", -EBADMSG, 0, 0, 0, 0, 0},
        {"external probe (1)", 2619, 5624, 1, 100, "sps", 0, THB, 0, 26.19, 56.24, 100},
        {"external probe (3)", 2619, 5624, 3, 100, NULL, 0, THB, 0, 26.19, 56.24, 100},
        {"probe 2, named: unknown", 2204, 4340, 2, 100, "sps", -EBADMSG, 0, 0, 0, 0, 0},
        {"probe 2, unnamed: not mine", 2204, 4340, 2, 100, NULL, BLE_NOT_MINE, 0, 0, 0, 0, 0},
        {"probe 0xFF, named", 2204, 4340, 0xFF, 100, "tps", -EBADMSG, 0, 0, 0, 0, 0},
        {"battery 0 %", 2204, 4340, 0, 0, "sps", 0, THB, 0, 22.04, 43.4, 0},
        {"battery 101 %, named: a fault, the rest stands", 2204, 4340, 0, 101, "sps", 0,
         BLE_TEMPERATURE | BLE_HUMIDITY, BLE_BATTERY_PCT, 22.04, 43.4, 0},
        {"battery 248 %, named (HA core #94139)", 2204, 4340, 0, 248, "tps", 0,
         BLE_TEMPERATURE | BLE_HUMIDITY, BLE_BATTERY_PCT, 22.04, 43.4, 0},
        {"battery 101 %, unnamed: not mine", 2204, 4340, 0, 101, NULL, BLE_NOT_MINE, 0, 0, 0, 0, 0},
        {"+0.76 degC = 4C 00, Apple's id, unnamed: not mine", 76, 4340, 0, 100, NULL, BLE_NOT_MINE,
         0, 0, 0, 0, 0},
        {"+0.76 degC named", 76, 4340, 0, 100, "sps", 0, THB, 0, 0.76, 43.4, 100},
        {"name in capitals", 2204, 4340, 0, 100, "SPS", 0, THB, 0, 22.04, 43.4, 100},
    };
    run_rows(rows, sizeof(rows) / sizeof(rows[0]));
}

/* A wrong CRC: -EBADMSG named, not mine unnamed; every single-bit error in bytes 0-6 is caught.
 * Bytes 7 and 8 are not covered by the CRC: changing them changes no verdict. */
static void test_crc_is_enforced(void)
{
    uint8_t good[9];
    frame(good, 2204, 4340, 0, 100);
    for (size_t byte = 0; byte < 7; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            uint8_t b[9];
            memcpy(b, good, sizeof(b));
            b[byte] ^= (uint8_t)(1u << bit);
            struct ble_values v;
            CU_ASSERT_EQUAL(decode_frame(b, sizeof(b), "sps", &v), -EBADMSG);
            CU_ASSERT_EQUAL(decode_frame(b, sizeof(b), NULL, &v), BLE_NOT_MINE);
        }
    }
    uint8_t b[9];
    memcpy(b, good, sizeof(b));
    b[8] = 0xFF;
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_frame(b, sizeof(b), "sps", &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(v.temperature_c, 22.04, 1e-9);
}

/* Which names make an Inkbird: exactly "sps" or "tps", in any case. */
static void test_names(void)
{
    uint8_t b[9];
    frame(b, 2204, 4340, 2, 100); /* probe 2: only a named advert is told it is bad */
    static const struct {
        const char *name;
        int rc;
    } rows[] = {{"sps", -EBADMSG},      {"tps", -EBADMSG},       {"TPS", -EBADMSG},
                {"sps ", BLE_NOT_MINE}, {"sp", BLE_NOT_MINE},    {"spsx", BLE_NOT_MINE},
                {"", BLE_NOT_MINE},     {"IBS-TH", BLE_NOT_MINE}};
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct ble_values v;
        CU_ASSERT_EQUAL(decode_frame(b, sizeof(b), rows[i].name, &v), rows[i].rc);
    }
    /* The name with no manufacturer data (the ADV_IND of inkbird-th2-negative's device). */
    struct ble_values v;
    CU_ASSERT_EQUAL(decode_hex("0201060302F0FF0409747073", &v), BLE_NOT_MINE);
    CU_ASSERT_EQUAL(decode_hex("", &v), BLE_NOT_MINE);
}

/* Cut short inside a consistent AD structure (the walker needs 2 bytes of manufacturer data):
 * -EBADMSG named, not mine unnamed, never 0. Every prefix of every vector's AD bytes too. */
static void test_every_truncation(void)
{
    int vecs = 0;
    const cJSON *vec;
    cJSON_ArrayForEach(vec, vector_list())
    {
        if (strcmp(str_of(vec, "format"), "inkbird_ibs_th") != 0)
            continue;
        size_t plen;
        uint8_t *payload = unhex(str_of(vec, "payload_hex"), &plen);
        CU_ASSERT_EQUAL_FATAL(plen, 9);
        for (size_t k = 2; k < plen; k++) {
            struct ble_values v;
            CU_ASSERT_EQUAL(decode_frame(payload, k, "sps", &v), -EBADMSG);
            CU_ASSERT_EQUAL(decode_frame(payload, k, NULL, &v), BLE_NOT_MINE);
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
            CU_ASSERT(decode_named(cut, k, str_of(vec, "local_name"), &v) != 0);
            free(cut);
        }
        free(all);
        vecs++;
    }
    CU_ASSERT_EQUAL(vecs, 7);
}

/* A good frame with bytes after it: -EBADMSG named, not mine unnamed, up to the largest AD. */
static void test_oversized_payloads(void)
{
    uint8_t big[254];
    memset(big, 0x00, sizeof(big));
    frame(big, 2204, 4340, 0, 100);
    for (size_t k = 10; k <= sizeof(big); k++) {
        struct ble_values v;
        CU_ASSERT_EQUAL(decode_frame(big, k, "tps", &v), -EBADMSG);
        CU_ASSERT_EQUAL(decode_frame(big, k, NULL, &v), BLE_NOT_MINE);
    }
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("ble_inkbird", NULL, suite_clean);
    if (!s)
        return -1;
    CU_add_test(s, "the test's CRC matches the catalogue", test_crc_helper_matches_the_catalogue);
    CU_add_test(s, "published IBS-TH vectors decode, the stale CRC does not",
                test_published_vectors_decode);
    CU_add_test(s, "the dispatcher gives the same", test_dispatcher_gives_the_same);
    CU_add_test(s, "field edges, named and unnamed", test_field_edges);
    CU_add_test(s, "the CRC is enforced", test_crc_is_enforced);
    CU_add_test(s, "sps and tps, exactly", test_names);
    CU_add_test(s, "every truncation is -EBADMSG or not mine", test_every_truncation);
    CU_add_test(s, "oversized payloads", test_oversized_payloads);
    return CU_get_error() == CUE_SUCCESS ? 0 : -1;
}
