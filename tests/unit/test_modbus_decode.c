/* Modbus register decoding against the published vectors (shared/sensors/vectors/
 * modbus_vectors.json: XY-MD02 frames, Vaisala's float32 30.56 in four orders and its test
 * registers, libmodbus 3.1.6's getter results), cross-checked with libmodbus's own getters, plus
 * the modbus-tcp adapter's config checking: open() accepts good buses and names the JSON path and
 * the expectation for bad ones. */
#include <errno.h>
#include <math.h>
/* With its directory: sensors/ (on the include path) has a modbus.h of its own. */
#include <modbus/modbus.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "vectors.h"
#include "modbus.h"
#include "modbus_decode.h"


/* ---- the vectors file ---------------------------------------------------------------------- */

static cJSON *vectors;

static int load_vectors(void)
{
    vectors = vectors_load("modbus_vectors.json");
    return vectors != NULL ? 0 : -EIO;
}

/* The vectors, loaded on first use. Not a suite init function: cunit_main counts failed
 * tests and assertions, and a failed suite init is neither, so a missing file would pass. */
static const cJSON *vector(const char *key)
{
    if (vectors == NULL)
        CU_ASSERT_EQUAL_FATAL(load_vectors(), 0);
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

/* "0x41F4" -> 0x41F4. */
static uint16_t hex_word(const cJSON *item)
{
    CU_ASSERT_FATAL(cJSON_IsString(item));
    return (uint16_t)strtoul(item->valuestring, NULL, 16);
}

static enum modbus_word_order order_named(const char *name)
{
    enum modbus_word_order order = MODBUS_ORDER_COUNT;
    CU_ASSERT_EQUAL_FATAL(modbus_word_order_parse(name, &order), 0);
    return order;
}

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), as the vectors file states. */
static uint16_t crc16_modbus(const uint8_t *buf, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= buf[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

/* The registers of a "read registers" response frame from the vectors ("01 04 04 00 EB ..."),
 * with the frame's own length and CRC checked so a misread fixture cannot pass. Returns the
 * register count. */
static size_t frame_registers(const char *hex, uint16_t *regs, size_t cap)
{
    uint8_t frame[256];
    size_t len = 0;
    const char *p = hex;
    while (*p != '\0' && len < sizeof(frame)) {
        char *end;
        unsigned long byte = strtoul(p, &end, 16);
        if (end == p)
            break;
        frame[len++] = (uint8_t)byte;
        p = end;
    }
    CU_ASSERT_FATAL(len >= 5);
    CU_ASSERT_FATAL(frame[1] == 0x03 || frame[1] == 0x04);
    size_t nbytes = frame[2];
    CU_ASSERT_EQUAL_FATAL(len, 3 + nbytes + 2);
    uint16_t crc = crc16_modbus(frame, len - 2);
    CU_ASSERT_EQUAL_FATAL(frame[len - 2], crc & 0xFF); /* low byte first */
    CU_ASSERT_EQUAL_FATAL(frame[len - 1], crc >> 8);
    CU_ASSERT_FATAL(nbytes / 2 <= cap);
    for (size_t i = 0; i < nbytes / 2; i++)
        regs[i] = (uint16_t)((frame[3 + 2 * i] << 8) | frame[4 + 2 * i]);
    return nbytes / 2;
}

static const cJSON *frame_with_id(const char *id)
{
    const cJSON *frame;
    cJSON_ArrayForEach(frame, vector("frames"))
    {
        const cJSON *fid = cJSON_GetObjectItemCaseSensitive(frame, "id");
        if (cJSON_IsString(fid) && strcmp(fid->valuestring, id) == 0)
            return frame;
    }
    return NULL;
}

/* ---- decoding against the vectors --------------------------------------------------------- */

static const struct modbus_point_map xymd02 = {
    .function = MODBUS_FUNCTION_INPUT,
    .address = 1,
    .type = MODBUS_VALUE_INT16,
    .order = MODBUS_ORDER_ABCD,
    .scale = 0.1,
    .offset = 0.0,
};

static void test_xymd02_frames_decode_to_the_vendor_values(void)
{
    /* The values the vendor documentation gives for these frames (the ids say them too). */
    static const struct {
        const char *id;
        double values[2];
        size_t count;
    } cases[] = {
        {"resp-23.5C-45.6pct", {23.5, 45.6}, 2},
        {"resp-30.5C", {30.5}, 1},
        {"resp-minus-20.5C", {-20.5}, 1}, /* 0xFF33, signed */
        {"resp-54.6pct", {54.6}, 1},
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        const cJSON *frame = frame_with_id(cases[c].id);
        CU_ASSERT_PTR_NOT_NULL_FATAL(frame);
        uint16_t regs[8];
        size_t n =
            frame_registers(cJSON_GetObjectItemCaseSensitive(frame, "hex")->valuestring, regs, 8);
        CU_ASSERT_EQUAL(n, cases[c].count);
        for (size_t i = 0; i < n && i < cases[c].count; i++) {
            double value = (double)NAN;
            CU_ASSERT_EQUAL(modbus_decode_point(&xymd02, regs + i, n - i, &value), 0);
            CU_ASSERT_DOUBLE_EQUAL(value, cases[c].values[i], 1e-9);
        }
    }
}

static void test_float32_30_56_decodes_in_all_four_orders(void)
{
    const cJSON *f = vector("float32_30.56");
    const cJSON *enc;
    size_t seen = 0;
    cJSON_ArrayForEach(enc, cJSON_GetObjectItemCaseSensitive(f, "encodings"))
    {
        const cJSON *words = cJSON_GetObjectItemCaseSensitive(enc, "registers");
        uint16_t regs[2] = {hex_word(cJSON_GetArrayItem(words, 0)),
                            hex_word(cJSON_GetArrayItem(words, 1))};
        struct modbus_point_map map = {
            .function = MODBUS_FUNCTION_HOLDING,
            .type = MODBUS_VALUE_FLOAT32,
            .order = order_named(cJSON_GetObjectItemCaseSensitive(enc, "order")->valuestring),
            .scale = 1.0,
        };
        double expected = cJSON_GetObjectItemCaseSensitive(enc, "value")->valuedouble;
        double value = (double)NAN;
        CU_ASSERT_EQUAL(modbus_decode_point(&map, regs, 2, &value), 0);
        /* 30.56 is not exact in binary32: equal to the float nearest to it. */
        CU_ASSERT_DOUBLE_EQUAL(value, (double)(float)expected, 0.0);
        seen++;
    }
    CU_ASSERT_EQUAL(seen, 4);
}

static void test_vaisala_test_registers_decode(void)
{
    const cJSON *v = vector("vaisala_test_registers");
    const cJSON *reg;
    size_t seen = 0;
    cJSON_ArrayForEach(reg, cJSON_GetObjectItemCaseSensitive(v, "registers"))
    {
        const char *type = cJSON_GetObjectItemCaseSensitive(reg, "type")->valuestring;
        double expected = cJSON_GetObjectItemCaseSensitive(reg, "value")->valuedouble;
        struct modbus_point_map map = {.function = MODBUS_FUNCTION_HOLDING, .scale = 1.0};
        uint16_t regs[2] = {0, 0};
        double value = (double)NAN;
        if (strcmp(type, "int16") == 0) {
            map.type = MODBUS_VALUE_INT16;
            map.order = MODBUS_ORDER_ABCD;
            regs[0] = hex_word(cJSON_GetObjectItemCaseSensitive(reg, "raw"));
            CU_ASSERT_EQUAL(modbus_decode_point(&map, regs, 1, &value), 0);
            CU_ASSERT_DOUBLE_EQUAL(value, expected, 0.0);
            seen++;
        } else if (strcmp(type, "float32 LSW first") == 0) {
            const cJSON *words = cJSON_GetObjectItemCaseSensitive(reg, "raw_words");
            map.type = MODBUS_VALUE_FLOAT32;
            map.order = MODBUS_ORDER_CDAB; /* least significant word first */
            regs[0] = hex_word(cJSON_GetArrayItem(words, 0));
            regs[1] = hex_word(cJSON_GetArrayItem(words, 1));
            CU_ASSERT_EQUAL(modbus_decode_point(&map, regs, 2, &value), 0);
            CU_ASSERT_DOUBLE_EQUAL(value, (double)(float)expected, 0.0);
            seen++;
        }
    }
    CU_ASSERT_EQUAL(seen, 2);
}

/* PROTOCOLS §3.3: libmodbus 3.1.6's getters are right; its published results are ours too. */
static void test_libmodbus_getter_vectors_decode_the_same(void)
{
    const cJSON *helpers = vector("libmodbus_3_1_6_float_helpers");
    const cJSON *item;
    size_t seen = 0;
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(helpers, "getters_correct"))
    {
        char order[5];
        unsigned r0, r1;
        /* "modbus_get_float_abcd({0x47F1,0x2000})" */
        CU_ASSERT_EQUAL_FATAL(
            sscanf(item->string, "modbus_get_float_%4[a-d]({0x%x,0x%x})", order, &r0, &r1), 3);
        struct modbus_point_map map = {
            .type = MODBUS_VALUE_FLOAT32, .order = order_named(order), .scale = 1.0};
        uint16_t regs[2] = {(uint16_t)r0, (uint16_t)r1};
        double value = (double)NAN;
        CU_ASSERT_EQUAL(modbus_decode_point(&map, regs, 2, &value), 0);
        CU_ASSERT_DOUBLE_EQUAL(value, item->valuedouble, 0.0);
        seen++;
    }
    CU_ASSERT(seen >= 4);
}

/* Every order against libmodbus's getters over many register pairs (deterministic). */
static void test_float_orders_agree_with_libmodbus_getters(void)
{
    float (*getters[MODBUS_ORDER_COUNT])(const uint16_t *) = {
        [MODBUS_ORDER_ABCD] = modbus_get_float_abcd,
        [MODBUS_ORDER_CDAB] = modbus_get_float_cdab,
        [MODBUS_ORDER_BADC] = modbus_get_float_badc,
        [MODBUS_ORDER_DCBA] = modbus_get_float_dcba,
    };
    uint32_t state = 12345;
    for (int i = 0; i < 5000; i++) {
        state = state * 1103515245u + 12345u;
        uint16_t regs[2] = {(uint16_t)(state >> 16), (uint16_t)state};
        for (int o = 0; o < MODBUS_ORDER_COUNT; o++) {
            struct modbus_point_map map = {
                .type = MODBUS_VALUE_FLOAT32, .order = (enum modbus_word_order)o, .scale = 1.0};
            float theirs = getters[o](regs);
            double ours = (double)NAN;
            int rc = modbus_decode_point(&map, regs, 2, &ours);
            if (isfinite(theirs)) {
                CU_ASSERT_EQUAL(rc, 0);
                CU_ASSERT(ours == (double)theirs);
            } else {
                CU_ASSERT_EQUAL(rc, -EBADMSG);
            }
        }
    }
}

/* ---- integer types, scale, offset ----------------------------------------------------------- */

static double decode_ok(enum modbus_value_type type, enum modbus_word_order order, uint16_t r0,
                        uint16_t r1, double scale, double offset)
{
    struct modbus_point_map map = {.type = type, .order = order, .scale = scale, .offset = offset};
    uint16_t regs[2] = {r0, r1};
    double value = (double)NAN;
    CU_ASSERT_EQUAL(modbus_decode_point(&map, regs, modbus_value_regs(type), &value), 0);
    return value;
}

static void test_integer_types_and_orders(void)
{
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT16, MODBUS_ORDER_ABCD, 0x8000, 0, 1, 0),
                           -32768.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT16, MODBUS_ORDER_ABCD, 0x7FFF, 0, 1, 0),
                           32767.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_UINT16, MODBUS_ORDER_ABCD, 0xFF33, 0, 1, 0),
                           65331.0, 0.0);
    /* 16-bit values: cdab leaves the register alone, badc and dcba swap its bytes. */
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT16, MODBUS_ORDER_CDAB, 0xFF33, 0, 0.1, 0),
                           -20.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT16, MODBUS_ORDER_BADC, 0x33FF, 0, 0.1, 0),
                           -20.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_UINT16, MODBUS_ORDER_DCBA, 0x3101, 0, 0.1, 0),
                           30.5, 1e-9);
    /* 0x00010002 = 65538 in every order. */
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT32, MODBUS_ORDER_ABCD, 0x0001, 0x0002, 1, 0),
                           65538.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT32, MODBUS_ORDER_CDAB, 0x0002, 0x0001, 1, 0),
                           65538.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT32, MODBUS_ORDER_BADC, 0x0100, 0x0200, 1, 0),
                           65538.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT32, MODBUS_ORDER_DCBA, 0x0200, 0x0100, 1, 0),
                           65538.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT32, MODBUS_ORDER_ABCD, 0xFFFF, 0xFFFE, 1, 0),
                           -2.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT32, MODBUS_ORDER_ABCD, 0x8000, 0x0000, 1, 0),
                           -2147483648.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_UINT32, MODBUS_ORDER_ABCD, 0xFFFF, 0xFFFF, 1, 0),
                           4294967295.0, 0.0);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_UINT32, MODBUS_ORDER_CDAB, 0x5678, 0x1234, 1, 0),
                           (double)0x12345678u, 0.0);
}

static void test_value_is_raw_times_scale_plus_offset(void)
{
    /* A 0..1000 = -40..-30 °C transmitter: 1000 x 0.01 - 40. */
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_UINT16, MODBUS_ORDER_ABCD, 1000, 0, 0.01, -40.0),
                           -30.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(decode_ok(MODBUS_VALUE_INT16, MODBUS_ORDER_ABCD, 235, 0, 0.1, -0.3),
                           23.2, 1e-9);
    /* float32 23.5 (0x41BC0000) in °F to °C is not our job, but a gain is: x2 + 1. */
    CU_ASSERT_DOUBLE_EQUAL(
        decode_ok(MODBUS_VALUE_FLOAT32, MODBUS_ORDER_ABCD, 0x41BC, 0x0000, 2.0, 1.0), 48.0, 0.0);
}

static void test_nan_and_infinity_are_not_measurements(void)
{
    static const struct {
        enum modbus_word_order order;
        uint16_t regs[2];
    } cases[] = {
        {MODBUS_ORDER_ABCD, {0x7FC0, 0x0000}}, /* quiet NaN */
        {MODBUS_ORDER_CDAB, {0x0000, 0x7FC0}}, /* Vaisala "unavailable", low word first */
        {MODBUS_ORDER_ABCD, {0x7F80, 0x0000}}, /* +infinity */
        {MODBUS_ORDER_ABCD, {0xFF80, 0x0000}}, /* -infinity */
        {MODBUS_ORDER_DCBA, {0x0100, 0xA07F}}, /* a signalling NaN, both swapped */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct modbus_point_map map = {
            .type = MODBUS_VALUE_FLOAT32, .order = cases[i].order, .scale = 1.0};
        double value = 42.0;
        CU_ASSERT_EQUAL(modbus_decode_point(&map, cases[i].regs, 2, &value), -EBADMSG);
        CU_ASSERT_DOUBLE_EQUAL(value, 42.0, 0.0); /* left alone */
    }
    /* The largest float times a huge scale overflows to infinity: no measurement either. */
    struct modbus_point_map big = {
        .type = MODBUS_VALUE_FLOAT32, .order = MODBUS_ORDER_ABCD, .scale = 1e300};
    uint16_t max_float[2] = {0x7F7F, 0xFFFF};
    double value;
    CU_ASSERT_EQUAL(modbus_decode_point(&big, max_float, 2, &value), -EBADMSG);
}

static void test_too_few_registers_or_bad_arguments_are_einval(void)
{
    uint16_t regs[2] = {0x41BC, 0x0000};
    struct modbus_point_map fl = {
        .type = MODBUS_VALUE_FLOAT32, .order = MODBUS_ORDER_ABCD, .scale = 1.0};
    struct modbus_point_map i16 = xymd02;
    double value = 42.0;

    CU_ASSERT_EQUAL(modbus_decode_point(&fl, regs, 1, &value), -EINVAL);
    CU_ASSERT_EQUAL(modbus_decode_point(&fl, regs, 0, &value), -EINVAL);
    CU_ASSERT_EQUAL(modbus_decode_point(&i16, regs, 0, &value), -EINVAL);
    CU_ASSERT_EQUAL(modbus_decode_point(&i16, NULL, 1, &value), -EINVAL);
    CU_ASSERT_EQUAL(modbus_decode_point(NULL, regs, 2, &value), -EINVAL);
    CU_ASSERT_EQUAL(modbus_decode_point(&i16, regs, 1, NULL), -EINVAL);
    CU_ASSERT_DOUBLE_EQUAL(value, 42.0, 0.0);
    struct modbus_point_map bad = fl;
    bad.type = (enum modbus_value_type)99;
    CU_ASSERT_EQUAL(modbus_decode_point(&bad, regs, 2, &value), -EINVAL);
    bad = fl;
    bad.order = (enum modbus_word_order)7;
    CU_ASSERT_EQUAL(modbus_decode_point(&bad, regs, 2, &value), -EINVAL);
    /* More registers than needed are fine: the rest belongs to other points. */
    CU_ASSERT_EQUAL(modbus_decode_point(&i16, regs, 2, &value), 0);
}

static void test_register_counts_and_names(void)
{
    CU_ASSERT_EQUAL(modbus_value_regs(MODBUS_VALUE_INT16), 1);
    CU_ASSERT_EQUAL(modbus_value_regs(MODBUS_VALUE_UINT16), 1);
    CU_ASSERT_EQUAL(modbus_value_regs(MODBUS_VALUE_INT32), 2);
    CU_ASSERT_EQUAL(modbus_value_regs(MODBUS_VALUE_UINT32), 2);
    CU_ASSERT_EQUAL(modbus_value_regs(MODBUS_VALUE_FLOAT32), 2);
    CU_ASSERT_EQUAL(modbus_value_regs((enum modbus_value_type)42), 0);

    for (int t = 0; t < MODBUS_VALUE_COUNT; t++) {
        enum modbus_value_type back = MODBUS_VALUE_COUNT;
        const char *name = modbus_value_type_name((enum modbus_value_type)t);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        CU_ASSERT_EQUAL(modbus_value_type_parse(name, &back), 0);
        CU_ASSERT_EQUAL((int)back, t);
    }
    for (int o = 0; o < MODBUS_ORDER_COUNT; o++) {
        enum modbus_word_order back = MODBUS_ORDER_COUNT;
        const char *name = modbus_word_order_name((enum modbus_word_order)o);
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        CU_ASSERT_EQUAL(modbus_word_order_parse(name, &back), 0);
        CU_ASSERT_EQUAL((int)back, o);
    }
    enum modbus_function fn;
    CU_ASSERT_EQUAL(modbus_function_parse("input", &fn), 0);
    CU_ASSERT_EQUAL(fn, MODBUS_FUNCTION_INPUT);
    CU_ASSERT_EQUAL(fn, 4);
    CU_ASSERT_EQUAL(modbus_function_parse("holding", &fn), 0);
    CU_ASSERT_EQUAL(fn, 3);
    CU_ASSERT_STRING_EQUAL(modbus_function_name(MODBUS_FUNCTION_INPUT), "input");
    CU_ASSERT_PTR_NULL(modbus_function_name((enum modbus_function)0));
    CU_ASSERT_PTR_NULL(modbus_value_type_name(MODBUS_VALUE_COUNT));
    CU_ASSERT_PTR_NULL(modbus_word_order_name(MODBUS_ORDER_COUNT));

    enum modbus_value_type t;
    enum modbus_word_order o;
    CU_ASSERT_EQUAL(modbus_value_type_parse("INT16", &t), -ENOENT);
    CU_ASSERT_EQUAL(modbus_value_type_parse("float", &t), -ENOENT);
    CU_ASSERT_EQUAL(modbus_value_type_parse(NULL, &t), -ENOENT);
    CU_ASSERT_EQUAL(modbus_word_order_parse("abdc", &o), -ENOENT);
    CU_ASSERT_EQUAL(modbus_word_order_parse("", &o), -ENOENT);
    CU_ASSERT_EQUAL(modbus_function_parse("coil", &fn), -ENOENT);
}

/* ---- the adapter's config ------------------------------------------------------------------- */

#define POINT_A "{\"sensor\":\"fridge-a\",\"quantity\":\"temperature\",\"address\":1}"
#define DEVICE_A "{\"unit_id\":1,\"points\":[" POINT_A "]}"
#define BUS_HEAD "\"name\":\"fridge-bus\",\"type\":\"modbus-tcp\",\"host\":\"127.0.0.1\""

/* Opens {BUS_HEAD, extra} through the adapter as buses[0]. */
static int open_bus(const char *json, struct cfg_error *err, void **state_out)
{
    cJSON *cfg = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    memset(err, 0, sizeof(*err));
    static char sentinel;
    *state_out = &sentinel; /* open() must overwrite it, with NULL on failure */
    int rc = modbus_tcp_adapter.open(cfg, "buses[0]", err, state_out);
    cJSON_Delete(cfg);
    return rc;
}

struct seen_points {
    size_t count;
    char ids[8][READING_SENSOR_ID_MAX];
    uint8_t quantities[8];
    char paths[8][192];
};

static int collect_point(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    struct seen_points *seen = arg;
    if (seen->count < 8) {
        snprintf(seen->ids[seen->count], sizeof(seen->ids[0]), "%s", sensor_id);
        seen->quantities[seen->count] = quantity;
        snprintf(seen->paths[seen->count], sizeof(seen->paths[0]), "%s", path);
    }
    seen->count++;
    return 0;
}

static void test_adapter_opens_good_buses(void)
{
    static const char *const good[] = {
        /* The full example. */
        "{" BUS_HEAD ",\"port\":1502,\"poll_interval\":\"5s\",\"response_timeout\":\"1s\","
        "\"retries\":1,\"reconnect_min\":\"1s\",\"reconnect_max\":\"60s\",\"devices\":[{"
        "\"unit_id\":1,\"points\":[{\"sensor\":\"fridge-a\",\"quantity\":\"temperature\","
        "\"function\":\"input\",\"address\":1,\"type\":\"int16\",\"word_order\":\"abcd\","
        "\"scale\":0.1,\"offset\":0},{\"sensor\":\"fridge-a\",\"quantity\":\"humidity\","
        "\"address\":2}]},{\"unit_id\":240,\"points\":[{\"sensor\":\"vaisala-1\","
        "\"quantity\":\"temperature\",\"function\":\"holding\",\"address\":2,"
        "\"type\":\"float32\",\"word_order\":\"cdab\"}]}]}",
        /* Defaults only. */
        "{" BUS_HEAD ",\"devices\":[" DEVICE_A "]}",
        /* IPv6 and names; Modbus TCP's "no unit" 255; the last register of the space. */
        "{\"name\":\"b6\",\"type\":\"modbus-tcp\",\"host\":\"::1\",\"devices\":[{\"unit_id\":255,"
        "\"points\":[{\"sensor\":\"x\",\"quantity\":\"battery\",\"address\":65535,"
        "\"type\":\"uint16\"}]}]}",
        "{\"name\":\"bn\",\"type\":\"modbus-tcp\",\"host\":\"plc.example\",\"port\":65535,"
        "\"reconnect_min\":\"2m\",\"devices\":[" DEVICE_A "]}",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct cfg_error err;
        void *state;
        int rc = open_bus(good[i], &err, &state);
        if (rc != 0)
            fprintf(stderr, "\ngood bus %zu refused: %s: %s\n", i, err.path, err.msg);
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(state);
        CU_ASSERT_PTR_NOT_NULL(modbus_tcp_adapter.name(state));
        modbus_tcp_adapter.close(state);
    }

    struct cfg_error err;
    void *state;
    CU_ASSERT_EQUAL_FATAL(open_bus(good[0], &err, &state), 0);
    CU_ASSERT_STRING_EQUAL(modbus_tcp_adapter.name(state), "fridge-bus");
    CU_ASSERT_STRING_EQUAL(modbus_tcp_adapter.type, "modbus-tcp");
    struct seen_points seen = {0};
    CU_ASSERT_EQUAL(modbus_tcp_adapter.for_each_point(state, collect_point, &seen), 0);
    CU_ASSERT_EQUAL_FATAL(seen.count, 3);
    CU_ASSERT_STRING_EQUAL(seen.ids[0], "fridge-a");
    CU_ASSERT_EQUAL(seen.quantities[0], QUANTITY_TEMPERATURE);
    CU_ASSERT_STRING_EQUAL(seen.paths[0], "buses[0].devices[0].points[0]");
    CU_ASSERT_EQUAL(seen.quantities[1], QUANTITY_HUMIDITY);
    CU_ASSERT_STRING_EQUAL(seen.paths[1], "buses[0].devices[0].points[1]");
    CU_ASSERT_STRING_EQUAL(seen.ids[2], "vaisala-1");
    CU_ASSERT_STRING_EQUAL(seen.paths[2], "buses[0].devices[1].points[0]");
    modbus_tcp_adapter.close(state);
    modbus_tcp_adapter.close(NULL); /* a no-op */
}

static int stop_walk(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    (*(int *)arg)++;
    return -ECANCELED;
}

static void test_for_each_point_stops_on_nonzero(void)
{
    struct cfg_error err;
    void *state;
    int calls = 0;
    CU_ASSERT_EQUAL_FATAL(
        open_bus("{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[" POINT_A
                 ",{\"sensor\":\"b\",\"quantity\":\"temperature\",\"address\":2}]}]}",
                 &err, &state),
        0);
    CU_ASSERT_EQUAL(modbus_tcp_adapter.for_each_point(state, stop_walk, &calls), -ECANCELED);
    CU_ASSERT_EQUAL(calls, 1);
    modbus_tcp_adapter.close(state);
}

static void test_adapter_refuses_bad_buses_naming_path_and_expectation(void)
{
    static const struct {
        const char *json;
        const char *path;
        const char *msg; /* a part of the message */
    } bad[] = {
        {"{" BUS_HEAD ",\"hots\":\"x\",\"devices\":[" DEVICE_A "]}", "buses[0]",
         "unknown key \"hots\"; known keys: name, type"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":1,\"word_order\":\"abdc\"}]}]}",
         "buses[0].devices[0].points[0].word_order",
         "expected abcd, cdab, badc or dcba, got \"abdc\""},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":1,\"word_order\":5}]}]}",
         "buses[0].devices[0].points[0].word_order", "expected abcd, cdab, badc or dcba, got 5"},
        {"{" BUS_HEAD "}", "buses[0].devices", "missing"},
        {"{" BUS_HEAD ",\"devices\":[]}", "buses[0].devices", "expected 1 to 247 devices"},
        {"{" BUS_HEAD ",\"devices\":{}}", "buses[0].devices", "expected an array"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"fridge a\","
         "\"quantity\":\"temperature\",\"address\":1}]}]}",
         "buses[0].devices[0].points[0].sensor", "expected a sensor id of 1 to 31 characters"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":"
         "\"a-sensor-id-that-is-far-too-long-for-a-reading\",\"quantity\":\"temperature\","
         "\"address\":1}]}]}",
         "buses[0].devices[0].points[0].sensor", "expected a sensor id"},
        {"{" BUS_HEAD ",\"port\":70000,\"devices\":[" DEVICE_A "]}", "buses[0].port",
         "expected an integer between 1 and 65535, got 70000"},
        {"{" BUS_HEAD ",\"port\":0,\"devices\":[" DEVICE_A "]}", "buses[0].port",
         "between 1 and 65535"},
        {"{" BUS_HEAD ",\"port\":\"502\",\"devices\":[" DEVICE_A "]}", "buses[0].port",
         "expected an integer"},
        {"{\"name\":\"b\",\"type\":\"modbus-tcp\",\"devices\":[" DEVICE_A "]}", "buses[0].host",
         "missing"},
        {"{\"name\":\"b\",\"type\":\"modbus-tcp\",\"host\":\"my plc\",\"devices\":[" DEVICE_A "]}",
         "buses[0].host", "expected a host name or an IPv4 or IPv6 address"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"adress\":1}]}]}",
         "buses[0].devices[0].points[0]", "unknown key \"adress\""},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\"}]}]}",
         "buses[0].devices[0].points[0].address", "missing"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":1,\"type\":\"float\"}]}]}",
         "buses[0].devices[0].points[0].type", "expected int16, uint16, int32, uint32 or float32"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temp\",\"address\":1}]}]}",
         "buses[0].devices[0].points[0].quantity",
         "expected temperature, humidity, door or battery, got \"temp\""},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":1,\"function\":\"coil\"}]}]}",
         "buses[0].devices[0].points[0].function", "expected input or holding"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":65535,\"type\":\"float32\"}]}]}",
         "buses[0].devices[0].points[0].address", "between 0 and 65534 for a float32"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":-1}]}]}",
         "buses[0].devices[0].points[0].address", "between 0 and 65535"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[{\"sensor\":\"a\","
         "\"quantity\":\"temperature\",\"address\":1,\"scale\":0}]}]}",
         "buses[0].devices[0].points[0].scale", "expected a non-zero number"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":248,\"points\":[" POINT_A "]}]}",
         "buses[0].devices[0].unit_id", "between 0 and 247, or 255"},
        {"{" BUS_HEAD ",\"devices\":[" DEVICE_A ",{\"unit_id\":1,\"points\":[{\"sensor\":\"b\","
         "\"quantity\":\"temperature\",\"address\":1}]}]}",
         "buses[0].devices[1].unit_id", "unit_id 1 is already used by buses[0].devices[0]"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[" POINT_A "," POINT_A "]}]}",
         "buses[0].devices[0].points[1]",
         "sensor \"fridge-a\" temperature is already read by buses[0].devices[0].points[0]"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"points\":[]}]}", "buses[0].devices[0].points",
         "expected at least one point"},
        {"{" BUS_HEAD ",\"devices\":[7]}", "buses[0].devices[0]", "expected an object"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"model\":\"sht31\",\"sensor\":\"a\"}]}",
         "buses[0].devices[0].model", "expected xy-md02 or vaisala-hmp"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"model\":\"xy-md02\",\"sensor\":\"a\","
         "\"points\":[" POINT_A "]}]}",
         "buses[0].devices[0].points", "give either a \"model\" or \"points\", not both"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"model\":\"xy-md02\"}]}",
         "buses[0].devices[0].sensor", "missing"},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"sensor\":\"a\",\"points\":[" POINT_A "]}]}",
         "buses[0].devices[0].sensor", "\"sensor\" goes with a \"model\""},
        {"{" BUS_HEAD ",\"devices\":[{\"unit_id\":1,\"model\":\"xy-md02\",\"sensor\":\"a\"},"
         "{\"unit_id\":2,\"model\":\"vaisala-hmp\",\"sensor\":\"a\"}]}",
         "buses[0].devices[1].sensor", "sensor \"a\" is already read by buses[0].devices[0]"},
        {"{" BUS_HEAD ",\"poll_interval\":\"50ms\",\"devices\":[" DEVICE_A "]}",
         "buses[0].poll_interval", "expected a duration between 100ms and 1d"},
        {"{" BUS_HEAD ",\"poll_interval\":5,\"devices\":[" DEVICE_A "]}", "buses[0].poll_interval",
         "expected a duration such as"},
        {"{" BUS_HEAD ",\"retries\":11,\"devices\":[" DEVICE_A "]}", "buses[0].retries",
         "between 0 and 10"},
        {"{" BUS_HEAD ",\"reconnect_min\":\"30s\",\"reconnect_max\":\"10s\",\"devices\":[" DEVICE_A
         "]}",
         "buses[0].reconnect_max", "at least reconnect_min (\"30s\"), got \"10s\""},
        {"{\"name\":\"b\",\"type\":\"modbus-rtu\",\"host\":\"h\",\"devices\":[" DEVICE_A "]}",
         "buses[0].type", "expected \"modbus-tcp\""},
        {"{" BUS_HEAD ",\"host\":\"again\",\"devices\":[" DEVICE_A "]}", "buses[0]",
         "appears more than once"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cfg_error err;
        void *state;
        int rc = open_bus(bad[i].json, &err, &state);
        bool ok = rc == -EINVAL && state == NULL && strcmp(err.path, bad[i].path) == 0 &&
                  strstr(err.msg, bad[i].msg) != NULL;
        if (!ok)
            fprintf(stderr, "\nbad bus %zu: rc %d, got \"%s: %s\", want \"%s: ...%s...\"\n", i, rc,
                    err.path, err.msg, bad[i].path, bad[i].msg);
        CU_ASSERT(ok);
        if (rc == 0)
            modbus_tcp_adapter.close(state);
    }
}

static void test_open_checks_its_arguments(void)
{
    struct cfg_error err;
    void *state = NULL;
    cJSON *cfg = cJSON_Parse("{" BUS_HEAD ",\"devices\":[" DEVICE_A "]}");
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    CU_ASSERT_EQUAL(modbus_tcp_adapter.open(NULL, "buses[0]", &err, &state), -EINVAL);
    CU_ASSERT_EQUAL(modbus_tcp_adapter.open(cfg, NULL, &err, &state), -EINVAL);
    CU_ASSERT_EQUAL(modbus_tcp_adapter.open(cfg, "buses[0]", &err, NULL), -EINVAL);
    cJSON_Delete(cfg);
}

int register_tests(void)
{
    CU_pSuite decode = CU_add_suite("modbus_decode", NULL, suite_clean);
    CU_pSuite config = CU_add_suite("modbus_tcp config", NULL, NULL);
    if (decode == NULL || config == NULL)
        return CU_get_error();
    if (!CU_add_test(decode, "XY-MD02 frames decode to the vendor's values",
                     test_xymd02_frames_decode_to_the_vendor_values) ||
        !CU_add_test(decode, "float32 30.56 decodes in all four orders",
                     test_float32_30_56_decodes_in_all_four_orders) ||
        !CU_add_test(decode, "Vaisala test registers decode", test_vaisala_test_registers_decode) ||
        !CU_add_test(decode, "libmodbus getter vectors decode the same",
                     test_libmodbus_getter_vectors_decode_the_same) ||
        !CU_add_test(decode, "float orders agree with libmodbus getters",
                     test_float_orders_agree_with_libmodbus_getters) ||
        !CU_add_test(decode, "integer types and orders", test_integer_types_and_orders) ||
        !CU_add_test(decode, "value is raw x scale + offset",
                     test_value_is_raw_times_scale_plus_offset) ||
        !CU_add_test(decode, "NaN and infinity are not measurements (-EBADMSG)",
                     test_nan_and_infinity_are_not_measurements) ||
        !CU_add_test(decode, "too few registers or bad arguments are -EINVAL",
                     test_too_few_registers_or_bad_arguments_are_einval) ||
        !CU_add_test(decode, "register counts and config names", test_register_counts_and_names) ||
        !CU_add_test(config, "good buses open and list their points",
                     test_adapter_opens_good_buses) ||
        !CU_add_test(config, "for_each_point stops on a non-zero return",
                     test_for_each_point_stops_on_nonzero) ||
        !CU_add_test(config, "bad buses are refused naming path and expectation",
                     test_adapter_refuses_bad_buses_naming_path_and_expectation) ||
        !CU_add_test(config, "open checks its arguments", test_open_checks_its_arguments))
        return CU_get_error();
    return 0;
}
