/* Inkbird IBS-TH1 (local name "sps") and IBS-TH2 / P01B ("tps") (PROTOCOLS.md §1.5): 9 bytes of
 * Manufacturer Specific Data with NO company id - its first two bytes are the temperature
 * (bleak/Home Assistant report 20.44 degC as "company id 2044"). Data and name come in the scan
 * response, so the adapter has to scan actively. Sources: github:Ernst79/bleparser
 * package/bleparser/inkbird.py @6845901e04e1, github:Bluetooth-Devices/inkbird-ble
 * src/inkbird_ble/parser.py @782c1e63c54e and its pull request #256, PROTOCOLS.md §1.5. Pure: see
 * ble_decode.h.
 *
 * Recognising it. With the name "sps" or "tps" (inkbird-ble INKBIRD_NAMES, matched exactly and
 * case-insensitively; bleparser the same) and manufacturer data the advert is the Inkbird's: a
 * wrong length, a CRC that does not match or a field no firmware sends is -EBADMSG. Without the
 * name (the vectors from inkbird-ble and Theengs come without it, and an adapter may get the
 * data without the scan response that names it) nothing but the bytes can tell, and this decoder
 * runs last in ble_decode(), after every other decoder failed to decode the advert: it claims 9
 * bytes only when all of these hold, and says BLE_NOT_MINE otherwise:
 *   - bytes 5-6 are the CRC-16/MODBUS of bytes 0-4 (random data passes 1 time in 65536),
 *   - the probe byte is 0, 1 or 3 (the values bleparser accepts; it drops any other),
 *   - humidity is 0 ... 100.00 % or the 0xFFFF of a model without a humidity sensor,
 *   - the battery byte is 0 ... 100,
 *   - the first two bytes are not Apple's company id 4C 00: Apple's 9-byte "Nearby Info"
 *     (4C 00 10 05 ...) is the commonest 9-byte manufacturer data on air; an Inkbird reading
 *     exactly +0.76 degC without its name is given up for that.
 * What would still make a false positive: another device's 9-byte manufacturer data whose bytes
 * 5-6 happen to equal that CRC and whose other bytes fall in those ranges (for random bytes
 * 1/65536 x 3/256 x 10002/65536 x 101/256, about 1 in 10^8), and which no decoder before this
 * one decoded. Its "temperature" would then be a plausible-looking -327 ... +327 degC. The
 * device address (Inkbird's start 49:42) would settle it, but decoders are not given it.
 *
 * Known collisions, the other way round: an Inkbird reading +11.77 degC starts with 99 04, Ruuvi's
 * company id, and one reading -49.84 degC with 88 EC, Govee's; both decoders run before this one.
 * Ruuvi's answer for such data is -EBADMSG, which ble_decode() does not let hide a later decoder's
 * 0. A Govee decoding would hide it, so ble_govee_decode() leaves adverts named "sps"/"tps", and
 * 9 bytes that carry this CRC, alone. */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ble_decode.h"

#define INKBIRD_LEN 9
#define APPLE_COMPANY_ID 0x004C

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
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

/* CRC-16/MODBUS: init 0xFFFF, reflected polynomial 0xA001, no final xor (PROTOCOLS.md §1.5,
 * derived and checked on every real vector: 9C 08 F4 10 00 -> 0x4EBA, sent as BA 4E). */
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

/* The 9 bytes (bleparser inkbird.py: unpack("<hHBHB"); PROTOCOLS.md §1.5):
 *
 *   off  field         encoding
 *   0-1  temperature   int16 LE x 0.01 degC (of the external probe when one is plugged in)
 *   2-3  humidity      uint16 LE x 0.01 %; 0 or 0xFFFF on models without a humidity sensor
 *   4    probe         0 internal sensor, 1 external probe (3 seen too, meaning external)
 *   5-6  CRC           CRC-16/MODBUS of bytes 0-4, little-endian
 *   7    battery       %
 *   8    (unknown)
 *
 * The probe flag has no place in struct ble_values; the temperature is the probe's either way.
 */
int ble_inkbird_decode(const struct ble_ad *ad, struct ble_values *out)
{
    assert(ad && out); /* the caller's buffers; the advert itself is checked below */
    int named = name_is(ad, "sps") || name_is(ad, "tps");
    int hygrometer = name_is(ad, "sps"); /* IBS-TH1 always has a humidity sensor */
    /* What a check that fails means: the named device's advert is bad; unnamed bytes are
     * simply someone else's. */
    const int bad = named ? -EBADMSG : BLE_NOT_MINE;

    if (!ad->mfr)
        return BLE_NOT_MINE; /* the name alone (the ADV_IND carries no data): nothing to read */
    const uint8_t *p = ad->mfr;
    if (ad->mfr_len != INKBIRD_LEN)
        return bad;
    if (!named && u16le(p) == APPLE_COMPANY_ID)
        return BLE_NOT_MINE;
    /* The CRC covers temperature, humidity and the probe byte; not the battery byte. */
    if (crc16_modbus(p, 5) != u16le(p + 5))
        return bad;
    if (p[4] != 0 && p[4] != 1 && p[4] != 3)
        return bad; /* bleparser: "Inkbird is reporting different probe number" -> dropped */

    struct ble_values v;
    memset(&v, 0, sizeof(v));
    v.format = "inkbird_ibs_th";

    unsigned t = u16le(p);
    v.temperature_c = (t >= 0x8000u ? (int)t - 0x10000 : (int)t) / 100.0;
    v.present |= BLE_TEMPERATURE;

    unsigned hum = u16le(p + 2);
    if (hum == 0xFFFF && hygrometer) {
        /* inkbird-ble (#141, #256): an IBS-TH with 0xFFFF humidity is a corrupt advert
         * (temperature and battery read 0 with it); the whole reading is dropped. */
        return -EBADMSG;
    } else if (hum == 0 || hum == 0xFFFF) {
        /* No humidity sensor: the IBS-TH2 / P01B send 0 (older firmware) or 0xFFFF (firmware
         * 2.3.0), inkbird-ble #256; vectors inkbird-th2-t-only, inkbird-p01b-theengs. A
         * hygrometer reading exactly 0.00 % is not believed either. */
        v.faults |= BLE_HUMIDITY;
    } else if (hum > 10000) {
        return bad; /* more than 100 %: inkbird-ble drops such an advert as corrupt (#141) */
    } else {
        v.humidity_pct = hum / 100.0;
        v.present |= BLE_HUMIDITY;
    }

    if (p[7] > 100) {
        /* Not a level. The named device's temperature still stands: the CRC vouches for it and
         * not for this byte, and real IBS-TH2s report 248 % with good readings (issue #94139
         * of github:home-assistant/core). inkbird-ble drops the whole reading instead. */
        if (!named)
            return BLE_NOT_MINE;
        v.faults |= BLE_BATTERY_PCT;
    } else {
        v.battery_pct = p[7];
        v.present |= BLE_BATTERY_PCT;
    }

    *out = v;
    return 0;
}
