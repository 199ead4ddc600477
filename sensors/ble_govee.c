/* Govee thermo-hygrometers (PROTOCOLS.md §1.4): Manufacturer Specific Data with company id 0xEC88,
 * sent little-endian as `88 EC`. Two layouts, told apart by the length after the company id as
 * govee-ble does (src/govee_ble/parser.py @8bc3c0e3f926, itself from bleparser govee.py): 6 bytes
 * H5072/H5075 (also H5129), 7 bytes H5074. Pure: see ble_decode.h.
 *
 * Other lengths under 0xEC88 are other Govee products this decoder does not read (H5112/H5140:
 * 8 bytes, H5051/H5071: 9 bytes, ...): BLE_NOT_MINE, so a Govee lamp next to the probes is not
 * counted as a stream of bad adverts. Fewer than 6 bytes is no layout govee-ble knows under this
 * id: a truncated thermometer advert, -EBADMSG. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ble_decode.h"

#define GOVEE_COMPANY_ID 0xEC88
#define H5075_LEN 6
#define H5074_LEN 7
#define INKBIRD_LEN 9 /* all of an Inkbird IBS-TH's manufacturer data, "company id" included */

/* An iBeacon as one manufacturer-data value: Apple's company id 4C 00, type 02, length 15, then
 * UUID (16), major (2), minor (2), TX power (1) = 25 bytes. CoreBluetooth hands it over glued
 * behind the Govee bytes; govee-ble: "INTELLI_ROCKS sometimes ends up glued on to the end of the
 * message" and cuts the last 25 bytes (vector govee-h5075-ibeacon-glued). */
#define IBEACON_LEN 25

/* govee-ble MIN_TEMP / MAX_TEMP: a reading outside is reported as "error", in tenths and in
 * hundredths of a degree. */
#define TEMP_MIN_DECI (-400)
#define TEMP_MAX_DECI 1000

enum model { MODEL_UNNAMED, MODEL_H5074, MODEL_H507X };

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

/* CRC-16/MODBUS (init 0xFFFF, reflected polynomial 0xA001), as the Inkbird IBS-TH sends it over
 * its bytes 0-4 in bytes 5-6 (PROTOCOLS.md §1.5; ble_inkbird.c). */
static unsigned crc16_modbus(const uint8_t *p, size_t n)
{
    unsigned crc = 0xFFFF;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++)
            crc = (crc & 1u) ? (crc >> 1) ^ 0xA001u : crc >> 1;
    }
    return crc;
}

static int name_is(const struct ble_ad *ad, const char *want)
{
    size_t n = strlen(want);
    if (!ad->name || ad->name_len != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = ad->name[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return 0;
    }
    return 1;
}

static int name_has(const struct ble_ad *ad, const char *part)
{
    size_t n = strlen(part);
    if (!ad->name || ad->name_len < n)
        return 0;
    for (size_t i = 0; i + n <= ad->name_len; i++) {
        if (memcmp(ad->name + i, part, n) == 0)
            return 1;
    }
    return 0;
}

/* The model a local name states ("GVH5075_DBF8", "Govee_H5074_5FF4"), when the advert has one. */
static enum model named_model(const struct ble_ad *ad)
{
    if (name_has(ad, "H5074"))
        return MODEL_H5074;
    if (name_has(ad, "H5072") || name_has(ad, "H5075") || name_has(ad, "H5129"))
        return MODEL_H507X;
    return MODEL_UNNAMED;
}

static void put_battery_pct(struct ble_values *v, unsigned pct)
{
    if (pct > 100) {
        v->faults |= BLE_BATTERY_PCT;
    } else {
        v->battery_pct = pct;
        v->present |= BLE_BATTERY_PCT;
    }
}

/* H5072/H5075/H5129, 6 bytes after the company id (govee-ble decode_temp_humid_battery_error on
 * data[1:5]; PROTOCOLS.md §1.4):
 *
 *   off  field
 *   0    0x00
 *   1-3  packed value, big-endian: bit 23 = negative; m = v & 0x7FFFFF;
 *        temperature = int(m / 1000) / 10 degC (truncated), humidity = (m % 1000) / 10 %
 *   4    bits 0-6 battery %, bit 7 = error
 *   5    (not used)
 *
 * govee-ble reports temperature and humidity both as "error" when the error bit is set or the
 * temperature is outside -40 ... 100 degC, and the battery in any case (vectors
 * govee-h5075-out-of-range, govee-h5075-oversized). Example 00 03 4D B2 64 00: 0x034DB2 = 216498
 * -> 21.6 degC, 49.8 %, 100 %. */
static void decode_h5075(const uint8_t *p, struct ble_values *v)
{
    v->format = "govee_h5075";
    uint32_t packed = (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
    uint32_t mag = packed & 0x7FFFFFu;
    int deci = (int)(mag / 1000u); /* tenths of a degree, truncated as govee-ble does */
    if (packed & 0x800000u)
        deci = -deci;
    if ((p[4] & 0x80) || deci < TEMP_MIN_DECI || deci > TEMP_MAX_DECI) {
        v->faults |= BLE_TEMPERATURE | BLE_HUMIDITY;
    } else {
        v->temperature_c = deci / 10.0;
        v->humidity_pct = (mag % 1000u) / 10.0; /* 0 ... 99.9 by construction */
        v->present |= BLE_TEMPERATURE | BLE_HUMIDITY;
    }
    put_battery_pct(v, p[4] & 0x7Fu);
}

/* H5074, 7 bytes after the company id (govee-ble struct "<hHB" on data[1:6]; PROTOCOLS.md §1.4):
 *
 *   off  field
 *   0    0x00
 *   1-2  temperature  int16 LE x 0.01 degC
 *   3-4  humidity     uint16 LE x 0.01 %
 *   5    battery %
 *   6    (not used; 0x02 in both vectors)
 *
 * govee-ble applies no range check here. This decoder applies the one govee-ble uses for the
 * packed models (-40 ... 100 degC) and 0 ... 100 % to humidity and battery, field by field:
 * anything outside was not measured and is a fault, not a value. */
static void decode_h5074(const uint8_t *p, struct ble_values *v)
{
    v->format = "govee_h5074";
    unsigned t = u16le(p + 1);
    int centi = t >= 0x8000u ? (int)t - 0x10000 : (int)t;
    if (centi < TEMP_MIN_DECI * 10 || centi > TEMP_MAX_DECI * 10) {
        v->faults |= BLE_TEMPERATURE;
    } else {
        v->temperature_c = centi / 100.0;
        v->present |= BLE_TEMPERATURE;
    }

    unsigned hum = u16le(p + 3);
    if (hum > 10000) {
        v->faults |= BLE_HUMIDITY;
    } else {
        v->humidity_pct = hum / 100.0;
        v->present |= BLE_HUMIDITY;
    }
    put_battery_pct(v, p[5]);
}

int ble_govee_decode(const struct ble_ad *ad, struct ble_values *out)
{
    assert(ad && out); /* the caller's buffers; the advert itself is checked below */
    if (!ad->mfr || ad->mfr_len < 2 || u16le(ad->mfr) != GOVEE_COMPANY_ID)
        return BLE_NOT_MINE;
    /* An Inkbird IBS-TH sends no company id: its first two bytes are the temperature, and
     * -49.84 degC is 88 EC; its 9 bytes are then 88 EC + 7, an H5074's length (PROTOCOLS.md
     * §1.5), and its bytes would read as a plausible H5074 (humidity's high byte and the probe
     * flag as the temperature). Its name says so; without one, its CRC does: bytes 5-6 are the
     * CRC-16/MODBUS of bytes 0-4, which an H5074 frame matches 1 time in 65536 - and that one is
     * then left to the Inkbird decoder's own checks. */
    enum model named = named_model(ad);
    if (name_is(ad, "sps") || name_is(ad, "tps"))
        return BLE_NOT_MINE;
    if (ad->mfr_len == INKBIRD_LEN && named != MODEL_H5074 &&
        crc16_modbus(ad->mfr, 5) == u16le(ad->mfr + 5))
        return BLE_NOT_MINE;

    const uint8_t *p = ad->mfr + 2;
    size_t len = ad->mfr_len - 2;
    if (len > IBEACON_LEN && p[len - IBEACON_LEN] == 0x4C && p[len - IBEACON_LEN + 1] == 0x00 &&
        p[len - IBEACON_LEN + 2] == 0x02 && p[len - IBEACON_LEN + 3] == 0x15)
        len -= IBEACON_LEN;

    /* Only the length tells H5074 from H5072/H5075 (govee-ble does the same). Where the advert
     * also names its model, a length that contradicts the name is a cut or padded frame, not the
     * other model: a 7-byte H5074 cut to 6 bytes would otherwise read as an H5075. */
    struct ble_values v;
    memset(&v, 0, sizeof(v));
    if (len < H5075_LEN)
        return -EBADMSG;
    if (len == H5075_LEN) {
        if (named == MODEL_H5074)
            return -EBADMSG;
        decode_h5075(p, &v);
    } else if (len == H5074_LEN) {
        if (named == MODEL_H507X)
            return -EBADMSG;
        decode_h5074(p, &v);
    } else {
        /* A named H5074/H5075 with another length is ours and malformed; otherwise another
         * Govee product (see the head of this file). */
        return named == MODEL_UNNAMED ? BLE_NOT_MINE : -EBADMSG;
    }
    *out = v;
    return 0;
}
