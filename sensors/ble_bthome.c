/* BTHome v2 (PROTOCOLS.md §1.2): Service Data with the 16-bit UUID 0xFCD2 (sent `D2 FC`), then
 * a device information byte and objects `id | value` (little-endian, a fixed size per id).
 * Source: bthome.io format.html @0cf388b02e1c (https://bthome.io/format/); the MAC-included bit
 * as bthome-ble parser.py @d55bd3aea080 reads it. Unencrypted only. Pure: see ble_decode.h. */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ble_decode.h"

#define BTHOME_UUID 0xFCD2

/* Device information byte (bthome.io "BTHome Device Information"):
 *   bit 0     encryption flag
 *   bit 1     "reserved for future use"; bthome-ble reads it as "MAC included": the device's
 *             address, 6 bytes reversed, follows the info byte
 *   bit 2     trigger-based device (sends irregularly; nothing to decode)
 *   bit 3-4   reserved
 *   bit 5-7   BTHome version, 2 here (0x40 plain, 0x41 encrypted, 0x44 trigger-based) */
#define INFO_ENCRYPTED 0x01u
#define INFO_MAC_INCLUDED 0x02u
#define INFO_VERSION(b) ((unsigned)(b) >> 5)
#define MAC_LEN 6

/* The value size in bytes of every object id bthome.io format.html @0cf388b02e1c defines
 * (tables "Sensor data", "Binary Sensor data", "Events", "Device information", "Packet id").
 * 0 = not defined: decoding stops there ("A BTHome receiver will stop parsing object ids as soon
 * as it finds an object id that isn't supported"), since the size of what follows is unknown. */
enum {
    LEN_PREFIXED = -1, /* 0x53 text, 0x54 raw: "specify the length in the first byte after the
                        * object id", then that many bytes */
    COMMAND = -2,      /* 0x3B: a byte whose "low 5 bits give the argument length" (high 3 bits
                        * reserved, 0), an opcode byte, then the arguments */
};
static const int8_t object_size[256] = {
    [0x00] = 1, /* packet id, uint8 */
    [0x01] = 1, /* battery, uint8, 1 % */
    [0x02] = 2, /* temperature, sint16, 0.01 degC */
    [0x03] = 2, /* humidity, uint16, 0.01 % */
    [0x04] = 3, /* pressure, uint24, 0.01 hPa */
    [0x05] = 3, /* illuminance, uint24, 0.01 lx */
    [0x06] = 2, /* mass (kg), uint16, 0.01 */
    [0x07] = 2, /* mass (lb), uint16, 0.01 */
    [0x08] = 2, /* dew point, sint16, 0.01 degC */
    [0x09] = 1, /* count, uint8 */
    [0x0A] = 3, /* energy, uint24, 0.001 kWh */
    [0x0B] = 3, /* power, uint24, 0.01 W */
    [0x0C] = 2, /* voltage, uint16, 0.001 V */
    [0x0D] = 2, /* pm2.5, uint16 */
    [0x0E] = 2, /* pm10, uint16 */
    [0x0F] = 1, /* generic boolean (binary sensors: uint8, 1 byte) */
    [0x10] = 1, /* power (binary) */
    [0x11] = 1, /* opening (binary) */
    [0x12] = 2, /* co2, uint16 */
    [0x13] = 2, /* tvoc, uint16 */
    [0x14] = 2, /* moisture, uint16, 0.01 % */
    [0x15] = 1, /* battery low (binary) */
    [0x16] = 1, /* battery charging (binary) */
    [0x17] = 1, /* carbon monoxide (binary) */
    [0x18] = 1, /* cold (binary) */
    [0x19] = 1, /* connectivity (binary) */
    [0x1A] = 1, /* door (binary) */
    [0x1B] = 1, /* garage door (binary) */
    [0x1C] = 1, /* gas (binary) */
    [0x1D] = 1, /* heat (binary) */
    [0x1E] = 1, /* light (binary) */
    [0x1F] = 1, /* lock (binary) */
    [0x20] = 1, /* moisture (binary) */
    [0x21] = 1, /* motion (binary) */
    [0x22] = 1, /* moving (binary) */
    [0x23] = 1, /* occupancy (binary) */
    [0x24] = 1, /* plug (binary) */
    [0x25] = 1, /* presence (binary) */
    [0x26] = 1, /* problem (binary) */
    [0x27] = 1, /* running (binary) */
    [0x28] = 1, /* safety (binary) */
    [0x29] = 1, /* smoke (binary) */
    [0x2A] = 1, /* sound (binary) */
    [0x2B] = 1, /* tamper (binary) */
    [0x2C] = 1, /* vibration (binary) */
    [0x2D] = 1, /* window (binary) */
    [0x2E] = 1, /* humidity, uint8, 1 % */
    [0x2F] = 1, /* moisture, uint8, 1 % */
    [0x3A] = 1, /* button event: event id */
    [0x3B] = COMMAND,
    [0x3C] = 2,            /* dimmer event: event id, steps */
    [0x3D] = 2,            /* count, uint16 */
    [0x3E] = 4,            /* count, uint32 */
    [0x3F] = 2,            /* rotation, sint16, 0.1 deg */
    [0x40] = 2,            /* distance (mm), uint16 */
    [0x41] = 2,            /* distance (m), uint16, 0.1 */
    [0x42] = 3,            /* duration, uint24, 0.001 s */
    [0x43] = 2,            /* current, uint16, 0.001 A */
    [0x44] = 2,            /* speed, uint16, 0.01 m/s */
    [0x45] = 2,            /* temperature, sint16, 0.1 degC */
    [0x46] = 1,            /* UV index, uint8, 0.1 */
    [0x47] = 2,            /* volume, uint16, 0.1 L */
    [0x48] = 2,            /* volume, uint16, 1 mL */
    [0x49] = 2,            /* volume flow rate, uint16, 0.001 m3/h */
    [0x4A] = 2,            /* voltage, uint16, 0.1 V */
    [0x4B] = 3,            /* gas, uint24, 0.001 m3 */
    [0x4C] = 4,            /* gas, uint32, 0.001 m3 */
    [0x4D] = 4,            /* energy, uint32, 0.001 kWh */
    [0x4E] = 4,            /* volume, uint32, 0.001 L */
    [0x4F] = 4,            /* water, uint32, 0.001 L */
    [0x50] = 4,            /* timestamp, uint32, s since 1970 */
    [0x51] = 2,            /* acceleration, uint16, 0.001 m/s2 */
    [0x52] = 2,            /* gyroscope, uint16, 0.001 deg/s */
    [0x53] = LEN_PREFIXED, /* text */
    [0x54] = LEN_PREFIXED, /* raw */
    [0x55] = 4,            /* volume storage, uint32, 0.001 L */
    [0x56] = 2,            /* conductivity, uint16 */
    [0x57] = 1,            /* temperature, sint8, 1 degC */
    [0x58] = 1,            /* temperature, sint8, 0.35 degC */
    [0x59] = 1,            /* count, sint8 */
    [0x5A] = 2,            /* count, sint16 */
    [0x5B] = 4,            /* count, sint32 */
    [0x5C] = 4,            /* power, sint32, 0.01 W */
    [0x5D] = 2,            /* current, sint16, 0.001 A */
    [0x5E] = 2,            /* direction, uint16, 0.01 deg */
    [0x5F] = 2,            /* precipitation, uint16, 0.1 mm */
    [0x60] = 1,            /* channel, uint8 */
    [0x61] = 2,            /* rotational speed, uint16 */
    [0x62] = 4,            /* speed (signed), sint32, 0.000001 m/s */
    [0x63] = 4,            /* acceleration (signed), sint32, 0.000001 m/s2 */
    [0x64] = 1,            /* light level, uint8 */
    [0x65] = 1,            /* settings revision, uint8 */
    [0xF0] = 2,            /* device type id, uint16 */
    [0xF1] = 4,            /* firmware version, uint32 */
    [0xF2] = 3,            /* firmware version, uint24 */
};

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static int s16le(const uint8_t *p)
{
    unsigned u = u16le(p);
    return u >= 0x8000u ? (int)u - 0x10000 : (int)u;
}

static int s8(uint8_t b)
{
    return b >= 0x80 ? (int)b - 0x100 : (int)b;
}

/* Which of our quantities an object id carries, or 0. */
static uint32_t quantity_of(uint8_t id)
{
    switch (id) {
    case 0x00:
        return BLE_COUNTER;
    case 0x01:
        return BLE_BATTERY_PCT;
    case 0x02:
    case 0x45:
    case 0x57:
    case 0x58:
        return BLE_TEMPERATURE;
    case 0x03:
    case 0x2E:
        return BLE_HUMIDITY;
    case 0x04:
        return BLE_PRESSURE;
    case 0x0C:
        return BLE_BATTERY_MV;
    default:
        return 0;
    }
}

/* Takes one object's value into *v if it is a quantity of ours. Repeated ids are channels
 * (bthome.io "Multiple measurements of the same type"); struct ble_values has one of each, so the
 * first wins: channel 1, and with ids in ascending order the finer temperature (0x02 before
 * 0x45, 0x57, 0x58) and humidity (0x03 before 0x2E). The caller has checked the size. */
static void take(uint8_t id, const uint8_t *p, struct ble_values *v)
{
    uint32_t bit = quantity_of(id);
    if (bit == 0 || (v->present & bit))
        return;
    v->present |= bit;
    switch (id) {
    case 0x00: /* packet id, uint8: "should only process the advertisement if the packet id is
                * different compared to the previous one" */
        v->counter = p[0];
        break;
    case 0x01: /* battery, uint8, factor 1, %: 0161 -> 97 */
        v->battery_pct = p[0];
        break;
    case 0x02: /* temperature, sint16, factor 0.01, degC: 02CA09 -> 25.06 */
        v->temperature_c = s16le(p) / 100.0;
        break;
    case 0x45: /* temperature, sint16, factor 0.1, degC: 451101 -> 27.3 */
        v->temperature_c = s16le(p) / 10.0;
        break;
    case 0x57: /* temperature, sint8, factor 1, degC: 57EA -> -22 */
        v->temperature_c = s8(p[0]);
        break;
    case 0x58: /* temperature, sint8, factor 0.35, degC: 58EA -> -7.7 */
        v->temperature_c = s8(p[0]) * 0.35;
        break;
    case 0x03: /* humidity, uint16, factor 0.01, %: 03BF13 -> 50.55 */
        v->humidity_pct = u16le(p) / 100.0;
        break;
    case 0x2E: /* humidity, uint8, factor 1, %: 2E23 -> 35 */
        v->humidity_pct = p[0];
        break;
    case 0x04: /* pressure, uint24, factor 0.01, hPa: 04138A01 -> 1008.83 */
        v->pressure_hpa = (u16le(p) | (uint32_t)p[2] << 16) / 100.0;
        break;
    case 0x0C: /* voltage, uint16, factor 0.001, V: 0C020C -> 3.074; taken as the battery's */
        v->battery_mv = (int)u16le(p);
        break;
    default:
        break;
    }
}

int ble_bthome_decode(const struct ble_ad *ad, struct ble_values *out)
{
    assert(ad && out); /* the caller's buffers; the advert itself is checked below */
    const uint8_t *p = NULL;
    size_t len = 0;
    bool found = false;
    for (size_t i = 0; i < ad->service_count && i < BLE_AD_MAX_ITEMS && !found; i++) {
        if (ad->service[i].uuid == BTHOME_UUID) {
            found = true;
            p = ad->service[i].data;
            len = ad->service[i].len;
        }
    }
    if (!found)
        return BLE_NOT_MINE;
    if (len == 0 || !p)
        return -EBADMSG; /* BTHome's UUID without the device information byte */

    uint8_t info = p[0];
    if (INFO_VERSION(info) != 2)
        return -EBADMSG; /* bthome-ble test_has_incorrect_version: E1... is "not supported" */
    if (info & INFO_ENCRYPTED) {
        /* Encryption is not supported yet: the objects are AES-CCM ciphertext (bthome.io
         * encryption.html: counter(4) and MIC(4) at the end), readable only with the device's
         * bind key, which this interface does not carry. BTHome's, but unreadable here. */
        return -EBADMSG;
    }
    size_t at = 1;
    if (info & INFO_MAC_INCLUDED) {
        if (len < 1 + MAC_LEN)
            return -EBADMSG;
        at += MAC_LEN;
    }

    struct ble_values v;
    memset(&v, 0, sizeof(v));
    v.format = "bthome_v2";
    /* The spec asks senders for ascending ids but bthome-ble only warns when they are not, and
     * decodes on (vector bthome-multi-temperature has battery 0x01 last): so order is not
     * enforced. An object cut short by the end of the data makes the packet malformed: it may
     * also mean that an earlier object's size here differs from the sender's, so that what was
     * decoded is misaligned, so nothing is kept (bthome-ble keeps the objects before it). */
    while (at < len) {
        uint8_t id = p[at];
        int size = object_size[id];
        size_t start = at + 1;
        size_t n;
        if (size == 0)
            break; /* not supported: stop, keep what was decoded */
        if (size == LEN_PREFIXED || size == COMMAND) {
            if (start >= len)
                return -EBADMSG;
            uint8_t b = p[start];
            if (size == LEN_PREFIXED) {
                start++;
                n = b;
            } else {
                if (b & 0xE0)
                    break;           /* reserved bits set: a layout this revision does not know */
                n = 2 + (b & 0x1Fu); /* the length byte, the opcode, the arguments */
            }
        } else {
            n = (size_t)size;
        }
        if (n > len - start)
            return -EBADMSG;
        take(id, p + start, &v);
        at = start + n;
    }
    *out = v;
    return 0;
}
