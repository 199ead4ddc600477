/* Turns Modbus registers into a measurement: the point map of one configured point (which
 * registers, which type, which word order, scale and offset) and its pure decoder. Used by the
 * modbus adapters (modbus.c) on their bus threads, by the unit tests and the fuzz target.
 * Pure: no I/O, no clock, no logging, no state; any thread. */
#ifndef COLDCHAIN_MODBUS_DECODE_H
#define COLDCHAIN_MODBUS_DECODE_H

#include <stddef.h>
#include <stdint.h>

/* The read function, valued as its Modbus function code. */
enum modbus_function {
    MODBUS_FUNCTION_HOLDING = 3, /* read holding registers (0x03) */
    MODBUS_FUNCTION_INPUT = 4,   /* read input registers (0x04) */
};

enum modbus_value_type {
    MODBUS_VALUE_INT16,   /* one register, two's complement (XY-MD02: 0xFF33 = -205) */
    MODBUS_VALUE_UINT16,  /* one register */
    MODBUS_VALUE_INT32,   /* two registers, two's complement */
    MODBUS_VALUE_UINT32,  /* two registers */
    MODBUS_VALUE_FLOAT32, /* two registers, IEEE 754 binary32 */
    MODBUS_VALUE_COUNT
};

/* How the bytes A B C D of a 32-bit value (A = most significant) lie in two registers, each
 * register as read off the wire (big endian): ABCD = [AB][CD], CDAB = [CD][AB] (word swap:
 * Vaisala, mbpoll's default), BADC = [BA][DC] (byte swap), DCBA = [DC][BA] (both).
 * PROTOCOLS.md §3.3.
 * A 16-bit value has only the bytes A B: ABCD and CDAB read it as [AB]; BADC and DCBA, the orders
 * that swap the bytes inside a register, read it as [BA]. So the one setting means "bytes
 * swapped" for every type. */
enum modbus_word_order {
    MODBUS_ORDER_ABCD,
    MODBUS_ORDER_CDAB,
    MODBUS_ORDER_BADC,
    MODBUS_ORDER_DCBA,
    MODBUS_ORDER_COUNT
};

/* Where one point is and how to read it. value = raw * scale + offset, where raw is the
 * register content as the type says (a float32's raw is its float value). */
struct modbus_point_map {
    uint8_t function; /* enum modbus_function */
    uint16_t address; /* PDU address of the first register (0-based) */
    enum modbus_value_type type;
    enum modbus_word_order order;
    double scale;  /* unit per count: 0.1 turns 235 into 23.5 °C */
    double offset; /* in the quantity's unit, added after scaling */
};

/* How many registers a value of this type spans: 1 or 2, 0 for an unknown type. */
size_t modbus_value_regs(enum modbus_value_type type);

/* Decodes one point from regs, the registers starting at map->address (regs[0] is the register
 * at map->address; nregs may be larger, the rest is ignored). regs is borrowed.
 * Returns 0 with *value_out set;
 *  -EBADMSG when the registers hold no measurement: a float32 NaN or infinity (Vaisala sends a
 *           quiet NaN for "unavailable", PROTOCOLS §3.2), or a result that is not finite;
 *  -EINVAL  when nregs is too small for the type, or an argument or the map is invalid.
 * *value_out is left alone on error. */
int modbus_decode_point(const struct modbus_point_map *map, const uint16_t *regs, size_t nregs,
                        double *value_out);

/* Config names: "input"/"holding", "int16"/"uint16"/"int32"/"uint32"/"float32",
 * "abcd"/"cdab"/"badc"/"dcba" (lower case, exact). The parsers return 0 and set *out, or
 * -ENOENT for an unknown name (or NULL). The name functions return NULL for an unknown value. */
int modbus_function_parse(const char *name, enum modbus_function *out);
const char *modbus_function_name(enum modbus_function function);
int modbus_value_type_parse(const char *name, enum modbus_value_type *out);
const char *modbus_value_type_name(enum modbus_value_type type);
int modbus_word_order_parse(const char *name, enum modbus_word_order *out);
const char *modbus_word_order_name(enum modbus_word_order order);

#endif
