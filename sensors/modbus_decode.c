/* Modbus register decoding (PROTOCOLS.md §3): integer and IEEE 754 values in the four word
 * orders, then scale and offset. Pure. The byte order is done here by hand rather than with
 * libmodbus's modbus_get_float_*() so that this file needs no library and the orders of the
 * integer types follow the same rule as the floats. */
#include "modbus_decode.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

static const char *const function_names[] = {
    [MODBUS_FUNCTION_HOLDING] = "holding",
    [MODBUS_FUNCTION_INPUT] = "input",
};
#define FUNCTION_NAME_COUNT (sizeof(function_names) / sizeof(function_names[0]))

static const char *const type_names[MODBUS_VALUE_COUNT] = {
    [MODBUS_VALUE_INT16] = "int16",     [MODBUS_VALUE_UINT16] = "uint16",
    [MODBUS_VALUE_INT32] = "int32",     [MODBUS_VALUE_UINT32] = "uint32",
    [MODBUS_VALUE_FLOAT32] = "float32",
};

static const char *const order_names[MODBUS_ORDER_COUNT] = {
    [MODBUS_ORDER_ABCD] = "abcd",
    [MODBUS_ORDER_CDAB] = "cdab",
    [MODBUS_ORDER_BADC] = "badc",
    [MODBUS_ORDER_DCBA] = "dcba",
};

size_t modbus_value_regs(enum modbus_value_type type)
{
    switch (type) {
    case MODBUS_VALUE_INT16:
    case MODBUS_VALUE_UINT16:
        return 1;
    case MODBUS_VALUE_INT32:
    case MODBUS_VALUE_UINT32:
    case MODBUS_VALUE_FLOAT32:
        return 2;
    default:
        return 0;
    }
}

static uint16_t swap_bytes(uint16_t reg)
{
    return (uint16_t)((reg << 8) | (reg >> 8));
}

/* The orders that swap the two bytes inside each register. */
static bool order_swaps_bytes(enum modbus_word_order order)
{
    return order == MODBUS_ORDER_BADC || order == MODBUS_ORDER_DCBA;
}

/* The orders that send the low word (C D) first. */
static bool order_swaps_words(enum modbus_word_order order)
{
    return order == MODBUS_ORDER_CDAB || order == MODBUS_ORDER_DCBA;
}

/* The 32 bits A B C D (A most significant) from two registers in the given order. */
static uint32_t bits32(const uint16_t *regs, enum modbus_word_order order)
{
    uint16_t first = regs[0];
    uint16_t second = regs[1];
    if (order_swaps_bytes(order)) {
        first = swap_bytes(first);
        second = swap_bytes(second);
    }
    uint16_t high = order_swaps_words(order) ? second : first;
    uint16_t low = order_swaps_words(order) ? first : second;
    return ((uint32_t)high << 16) | low;
}

int modbus_decode_point(const struct modbus_point_map *map, const uint16_t *regs, size_t nregs,
                        double *value_out)
{
    if (map == NULL || value_out == NULL || (unsigned)map->order >= MODBUS_ORDER_COUNT)
        return -EINVAL;
    size_t need = modbus_value_regs(map->type);
    if (need == 0 || regs == NULL || nregs < need)
        return -EINVAL;

    double raw;
    uint16_t reg16 = order_swaps_bytes(map->order) ? swap_bytes(regs[0]) : regs[0];
    switch (map->type) {
    case MODBUS_VALUE_INT16:
        /* Two's complement by arithmetic: converting an out-of-range value to int16_t is
         * implementation-defined in C11. */
        raw = reg16 >= 0x8000u ? (double)reg16 - 65536.0 : (double)reg16;
        break;
    case MODBUS_VALUE_UINT16:
        raw = reg16;
        break;
    case MODBUS_VALUE_INT32: {
        uint32_t bits = bits32(regs, map->order);
        raw = bits >= 0x80000000u ? (double)bits - 4294967296.0 : (double)bits;
        break;
    }
    case MODBUS_VALUE_UINT32:
        raw = bits32(regs, map->order);
        break;
    case MODBUS_VALUE_FLOAT32: {
        /* IEEE 754 binary32 on the wire; float is binary32 on every platform we build for. */
        _Static_assert(sizeof(float) == sizeof(uint32_t), "float must be binary32");
        uint32_t bits = bits32(regs, map->order);
        float f;
        memcpy(&f, &bits, sizeof(f));
        /* A NaN is how Vaisala says "no value" (PROTOCOLS §3.2): a fault, never a number. */
        if (!isfinite(f))
            return -EBADMSG;
        raw = (double)f;
        break;
    }
    default:
        return -EINVAL;
    }

    double value = raw * map->scale + map->offset;
    /* A huge float32 times a huge scale overflows; infinity is no temperature either. */
    if (!isfinite(value))
        return -EBADMSG;
    *value_out = value;
    return 0;
}

/* Looks name up in a table of count names (NULL entries are holes). */
static int parse_name(const char *name, const char *const *names, size_t count, int *index_out)
{
    if (name == NULL)
        return -ENOENT;
    for (size_t i = 0; i < count; i++) {
        if (names[i] != NULL && strcmp(names[i], name) == 0) {
            *index_out = (int)i;
            return 0;
        }
    }
    return -ENOENT;
}

int modbus_function_parse(const char *name, enum modbus_function *out)
{
    int i;
    int rc = parse_name(name, function_names, FUNCTION_NAME_COUNT, &i);
    if (rc == 0)
        *out = (enum modbus_function)i;
    return rc;
}

const char *modbus_function_name(enum modbus_function function)
{
    return (unsigned)function < FUNCTION_NAME_COUNT ? function_names[function] : NULL;
}

int modbus_value_type_parse(const char *name, enum modbus_value_type *out)
{
    int i;
    int rc = parse_name(name, type_names, MODBUS_VALUE_COUNT, &i);
    if (rc == 0)
        *out = (enum modbus_value_type)i;
    return rc;
}

const char *modbus_value_type_name(enum modbus_value_type type)
{
    return (unsigned)type < MODBUS_VALUE_COUNT ? type_names[type] : NULL;
}

int modbus_word_order_parse(const char *name, enum modbus_word_order *out)
{
    int i;
    int rc = parse_name(name, order_names, MODBUS_ORDER_COUNT, &i);
    if (rc == 0)
        *out = (enum modbus_word_order)i;
    return rc;
}

const char *modbus_word_order_name(enum modbus_word_order order)
{
    return (unsigned)order < MODBUS_ORDER_COUNT ? order_names[order] : NULL;
}
