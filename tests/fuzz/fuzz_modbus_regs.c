/* Fuzz target for the Modbus register decoder (DESIGN §11: registers are outside input).
 * Input layout: byte 0 picks the value type, byte 1 the word order (one past the last of each
 * is an invalid enum, to exercise the argument checks), byte 2 the scale and byte 3 the offset
 * from small tables that include the extremes; the rest are registers, two bytes each, big
 * endian as on the wire. The decoder runs at every register position, so the short tail of the
 * buffer is decoded too. It must not crash and must keep its contract: 0 with a finite value,
 * -EBADMSG (no measurement) or -EINVAL (too few registers, bad map), value untouched on error. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "modbus_decode.h"

#define MAX_REGS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const double scales[] = {0.1, 1.0, 0.01, -0.1, 10.0, 1e-12, 1e12, 1e300, -1e300};
static const double offsets[] = {0.0, -40.0, 273.15, -1e12, 1e12, 1e308};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint16_t regs[MAX_REGS];
    if (size < 4)
        return 0;

    struct modbus_point_map map = {
        .function = MODBUS_FUNCTION_INPUT,
        .type = (enum modbus_value_type)(data[0] % (MODBUS_VALUE_COUNT + 1)),
        .order = (enum modbus_word_order)(data[1] % (MODBUS_ORDER_COUNT + 1)),
        .scale = scales[data[2] % (sizeof(scales) / sizeof(scales[0]))],
        .offset = offsets[data[3] % (sizeof(offsets) / sizeof(offsets[0]))],
    };
    bool valid_map = map.type < MODBUS_VALUE_COUNT && map.order < MODBUS_ORDER_COUNT;
    size_t nregs = (size - 4) / 2;
    if (nregs > MAX_REGS)
        nregs = MAX_REGS;
    for (size_t i = 0; i < nregs; i++)
        regs[i] = (uint16_t)((data[4 + 2 * i] << 8) | data[5 + 2 * i]);

    /* Position nregs itself (an empty tail) is decoded too: it must be -EINVAL. */
    for (size_t at = 0; at <= nregs; at++) {
        const double untouched = 1234.5;
        double value = untouched;
        int rc = modbus_decode_point(&map, regs + at, nregs - at, &value);
        bool enough = valid_map && nregs - at >= modbus_value_regs(map.type);
        /* abort() makes a broken contract a finding, like a crash. */
        if (rc == 0 && (!enough || !isfinite(value)))
            abort();
        if (rc != 0 && value != untouched)
            abort();
        if (rc != 0 && rc != -EBADMSG && rc != -EINVAL)
            abort();
        if (rc == -EINVAL && enough)
            abort();
        /* An integer (< 2^32) times a scale up to 1e12 plus an offset up to 1e12 is finite:
         * always a measurement. */
        if (rc == -EBADMSG && map.type != MODBUS_VALUE_FLOAT32 && fabs(map.scale) <= 1e12 &&
            fabs(map.offset) <= 1e12)
            abort();
    }
    return 0;
}
