/* Ruuvi advertisements (PROTOCOLS.md §1.1): Manufacturer Specific Data with company id 0x0499,
 * sent little-endian as `99 04`, then the payload whose first byte names the data format.
 * Formats 5 (RAWv2) and 3 (RAWv1) are decoded; every other Ruuvi format byte (C5, 6, E1, 8, ...)
 * is Ruuvi's but not readable here, so it is -EBADMSG, not BLE_NOT_MINE: the caller counts it
 * instead of losing it silently. Pure: see ble_decode.h. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ble_decode.h"

#define RUUVI_COMPANY_ID 0x0499

/* Payload sizes, counted from the format byte (the bytes after the company id). */
#define RAWV2_LEN 24 /* ruuvi docs: "Length ... 0x1B = 27 bytes" = type + company id + 24 */
#define RAWV1_LEN 14

static unsigned u16be(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static int s16be(const uint8_t *p)
{
    unsigned u = u16be(p);
    return u >= 0x8000u ? (int)u - 0x10000 : (int)u;
}

/* Data format 5 (RAWv2), ruuvi docs data-format-5-rawv2.md @150ebb448223. All fields big-endian
 * ("MSB first 2-complement"):
 *
 *   off    field                    encoding                                 not available
 *   0      format                   0x05
 *   1-2    temperature              int16 x 0.005 degC                       0x8000
 *   3-4    humidity                 uint16 x 0.0025 %                        0xFFFF
 *   5-6    pressure                 uint16 + 50000 Pa                        0xFFFF
 *   7-12   acceleration x, y, z     int16 mG                                 0x8000 (not used)
 *   13-14  power                    11 bit: mV above 1600, 5 bit: TX power   2047 / 31
 *   15     movement counter         uint8                                    255 (not used)
 *   16-17  measurement sequence     uint16                                   65535
 *   18-23  MAC                      6 bytes                                  all FF (not used)
 *
 * "Not available is signified by largest presentable number for unsigned values, smallest
 * presentable number for signed values and all bits set for mac." Humidity above 100 % is a
 * legal encoding ("generally indicate a faulty or miscalibrated sensor"): a plausibility
 * question for the rules, not a decode fault. */
static int decode_rawv2(const uint8_t *p, size_t len, struct ble_values *v)
{
    if (len != RAWV2_LEN)
        return -EBADMSG;
    v->format = "ruuvi_rawv2";

    int temp = s16be(p + 1);
    if (temp == -0x8000) {
        v->faults |= BLE_TEMPERATURE;
    } else {
        v->temperature_c = temp / 200.0; /* x 0.005 */
        v->present |= BLE_TEMPERATURE;
    }

    unsigned hum = u16be(p + 3);
    if (hum == 0xFFFF) {
        v->faults |= BLE_HUMIDITY;
    } else {
        v->humidity_pct = hum / 400.0; /* x 0.0025 */
        v->present |= BLE_HUMIDITY;
    }

    unsigned pres = u16be(p + 5);
    if (pres == 0xFFFF) {
        v->faults |= BLE_PRESSURE;
    } else {
        v->pressure_hpa = (pres + 50000u) / 100.0; /* Pa -> hPa */
        v->present |= BLE_PRESSURE;
    }

    unsigned batt = u16be(p + 13) >> 5; /* the top 11 bits; the low 5 are TX power */
    if (batt == 2047) {
        v->faults |= BLE_BATTERY_MV;
    } else {
        v->battery_mv = (int)batt + 1600;
        v->present |= BLE_BATTERY_MV;
    }

    unsigned seq = u16be(p + 16);
    if (seq == 0xFFFF) {
        v->faults |= BLE_COUNTER;
    } else {
        v->counter = seq;
        v->present |= BLE_COUNTER;
    }
    return 0;
}

/* Data format 3 (RAWv1), ruuvi docs data-format-3-rawv1.md @150ebb448223 (deprecated):
 *
 *   off    field                    encoding
 *   0      format                   0x03
 *   1      humidity                 uint8 x 0.5 %
 *   2      temperature, integer     bit 7 sign, bits 0-6 magnitude (sign-magnitude, not 2's c.)
 *   3      temperature, fraction    0 ... 99, 1/100 degC, negated with the sign ("FF 63" = -127.99)
 *   4-5    pressure                 uint16 BE + 50000 Pa
 *   6-11   acceleration x, y, z     int16 BE mG (not used)
 *   12-13  battery                  uint16 BE mV
 *
 * No "not available" marker ("it is suggested to send 0"), so 0 mV is a value. Real captures
 * carry trailing padding inside the same AD structure (bleparser test_ruuvitag_v3: 14 bytes +
 * 00000000), so more than 14 bytes are accepted and the rest ignored. A fraction above 99 is
 * outside the allowed values: the temperature cannot be read, so it is a fault, while the other
 * fields still stand. */
static int decode_rawv1(const uint8_t *p, size_t len, struct ble_values *v)
{
    if (len < RAWV1_LEN)
        return -EBADMSG;
    v->format = "ruuvi_rawv1";

    v->humidity_pct = p[1] * 0.5;
    v->present |= BLE_HUMIDITY;

    if (p[3] > 99) {
        v->faults |= BLE_TEMPERATURE;
    } else {
        int centi = (p[2] & 0x7F) * 100 + p[3];
        if (p[2] & 0x80)
            centi = -centi;
        v->temperature_c = centi / 100.0;
        v->present |= BLE_TEMPERATURE;
    }

    v->pressure_hpa = (u16be(p + 4) + 50000u) / 100.0; /* Pa -> hPa */
    v->present |= BLE_PRESSURE;

    v->battery_mv = (int)u16be(p + 12);
    v->present |= BLE_BATTERY_MV;
    return 0;
}

int ble_ruuvi_decode(const struct ble_ad *ad, struct ble_values *out)
{
    assert(ad && out); /* the caller's buffers; the advert itself is checked below */
    if (!ad->mfr || ad->mfr_len < 2)
        return BLE_NOT_MINE;
    /* Company id, little-endian: 99 04. */
    if ((ad->mfr[0] | ad->mfr[1] << 8) != RUUVI_COMPANY_ID)
        return BLE_NOT_MINE;
    const uint8_t *p = ad->mfr + 2;
    size_t len = ad->mfr_len - 2;
    if (len == 0)
        return -EBADMSG; /* Ruuvi's id and no format byte */

    /* Decode into a scratch copy so that *out is filled only on success. */
    struct ble_values v;
    memset(&v, 0, sizeof(v));
    int rc;
    switch (p[0]) {
    case 0x05:
        rc = decode_rawv2(p, len, &v);
        break;
    case 0x03:
        rc = decode_rawv1(p, len, &v);
        break;
    default:
        /* A Ruuvi format this decoder cannot read. Caution: Inkbird IBS-TH (§1.5) sends its
         * temperature where the company id goes, so at 11.77 degC (0x0499) its 9-byte data
         * lands here too; the dispatcher must not let this answer hide a later decoder's 0. */
        rc = -EBADMSG;
        break;
    }
    if (rc == 0)
        *out = v;
    return rc;
}
