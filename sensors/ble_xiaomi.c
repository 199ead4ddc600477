/* LYWSD03MMC-family thermometers (Xiaomi, Qingping, Tuya ... on Telink chips) running the pvvx or
 * the atc1441 custom firmware (PROTOCOLS.md §1.3): Service Data with the 16-bit UUID 0x181A
 * (Environmental Sensing), sent as `16 1A 18`. Both firmwares use that UUID; the length of the
 * data after it tells the formats apart (pvvx README "Custom format", atc1441 README "Advertising
 * format of the custom firmware", pvvx src/custom_beacon.h; github:pvvx/ATC_MiThermometer
 * @7363cc80e564 and github:atc1441/ATC_MiThermometer @c59a6c1). Pure: see ble_decode.h.
 *
 * The MAC the frames carry is not checked against the sender's address: decoders are not given
 * the address (struct ble_ad has none). */
#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "ble_decode.h"

#define ESS_UUID 0x181A

/* Data lengths after the UUID (the AD length byte minus type and UUID):
 *   pvvx custom     15  pvvx: "UUID 0x181A - size 19", AD length 18 = 0x12
 *   atc1441         13  atc1441 / pvvx "size 16", AD length 16 = 0x10
 *   pvvx encrypted  11  adv_cust_enc_t: counter + 6 ciphertext + 4 MIC, AD length 0x0E
 *   atc1441 encr.    8  adv_atc_enc_t: counter + 3 ciphertext + 4 MIC, AD length 0x0B */
#define PVVX_CUSTOM_LEN 15
#define ATC1441_LEN 13
#define PVVX_ENCRYPTED_LEN 11
#define ATC1441_ENCRYPTED_LEN 8

/* What a sensor behind either firmware can have measured. The widest-range sensor these builds
 * read is the DS18B20 (-55 ... +125 degC, pvvx src/my18b20.c), and pvvx adds a user offset of at
 * most +-12.5 degC (src/app.h: "temp_offset ... -12,5 - +12,5"). A temperature outside the sum
 * was not measured (e.g. -2226.6 degC from bytes of another frame): a fault, not a value. In
 * hundredths of a degree. */
#define TEMP_MIN_CENTI (-6750)
#define TEMP_MAX_CENTI 13750

static unsigned u16le(const uint8_t *p)
{
    return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static unsigned u16be(const uint8_t *p)
{
    return (unsigned)p[0] << 8 | p[1];
}

static int s16(unsigned u)
{
    return u >= 0x8000u ? (int)u - 0x10000 : (int)u;
}

/* Temperature in hundredths of a degree: given, or a fault when outside what was measurable. */
static void put_temperature(struct ble_values *v, int centi)
{
    if (centi < TEMP_MIN_CENTI || centi > TEMP_MAX_CENTI) {
        v->faults |= BLE_TEMPERATURE;
    } else {
        v->temperature_c = centi / 100.0;
        v->present |= BLE_TEMPERATURE;
    }
}

/* Battery level in %: the firmwares send 0..100 ("battery_level; // 0..100 %"); more is not a
 * level. */
static void put_battery_pct(struct ble_values *v, unsigned pct)
{
    if (pct > 100) {
        v->faults |= BLE_BATTERY_PCT;
    } else {
        v->battery_pct = pct;
        v->present |= BLE_BATTERY_PCT;
    }
}

/* pvvx "Custom format (all data little-endian)", pvvx README and src/custom_beacon.h
 * adv_custom_t, 15 bytes after the UUID:
 *
 *   off  field           encoding
 *   0-5  MAC             [0] lowest byte first ("LSB first", as in the HCI report)
 *   6-7  temperature     int16 LE x 0.01 degC
 *   8-9  humidity        uint16 LE x 0.01 %
 *   10-11 battery        uint16 LE mV
 *   12   battery level   uint8 %, 0..100
 *   13   counter         uint8 "measurement count"
 *   14   flags           bit0 reed switch, bit1 GPIO_TRG output, bit2 TRG by thresholds,
 *                        bit3 temperature trigger, bit4 humidity trigger (not a measurement:
 *                        struct ble_values has no place for it)
 *
 * The format has no "not available" value. The firmware clamps humidity to 0..99.99 %
 * (src/sensors.c sensor_calk_th: "else if (measured_data.humi > 9999) ... = 9999"), so more than
 * 100.00 % was not measured: a fault. */
static void decode_pvvx_custom(const uint8_t *p, struct ble_values *v)
{
    v->format = "pvvx_custom";
    put_temperature(v, s16(u16le(p + 6)));

    unsigned hum = u16le(p + 8);
    if (hum > 10000) {
        v->faults |= BLE_HUMIDITY;
    } else {
        v->humidity_pct = hum / 100.0;
        v->present |= BLE_HUMIDITY;
    }

    v->battery_mv = (int)u16le(p + 10);
    v->present |= BLE_BATTERY_MV;
    put_battery_pct(v, p[12]);
    v->counter = p[13];
    v->present |= BLE_COUNTER;
}

/* atc1441 format, atc1441 README ("Byte 5-10 MAC in correct order", "Byte 11-12 Temperature in
 * int16", "Byte 13 Humidity in percent", "Byte 14 Battery in percent", "Byte 15-16 Battery in mV
 * uint16_t", "Byte 17 frame packet counter"; its bytes count from the AD length byte) and pvvx
 * src/custom_beacon.h adv_atc1441_t ("mixture of little-endian and big-endian!"), 13 bytes after
 * the UUID:
 *
 *   off  field           encoding
 *   0-5  MAC             highest byte first (big-endian)
 *   6-7  temperature     int16 BE x 0.1 degC   (vector atc1441-theengs-negative: FF D3 = -4.5)
 *   8    humidity        uint8 %
 *   9    battery level   uint8 %, 0..100
 *   10-11 battery        uint16 BE mV
 *   12   counter         uint8 frame counter
 *
 * No "not available" value either; humidity above 100 % was not measured: a fault. */
static void decode_atc1441(const uint8_t *p, struct ble_values *v)
{
    v->format = "atc1441";
    put_temperature(v, s16(u16be(p + 6)) * 10); /* 0.1 degC -> hundredths */

    if (p[8] > 100) {
        v->faults |= BLE_HUMIDITY;
    } else {
        v->humidity_pct = p[8];
        v->present |= BLE_HUMIDITY;
    }

    put_battery_pct(v, p[9]);
    v->battery_mv = (int)u16be(p + 10);
    v->present |= BLE_BATTERY_MV;
    v->counter = p[12];
    v->present |= BLE_COUNTER;
}

int ble_xiaomi_decode(const struct ble_ad *ad, struct ble_values *out)
{
    assert(ad && out); /* the caller's buffers; the advert itself is checked below */
    /* The first 0x181A service data; one with no bytes after the UUID is still ours (and bad). */
    const uint8_t *p = NULL;
    size_t len = 0;
    int found = 0;
    for (size_t i = 0; i < ad->service_count && i < BLE_AD_MAX_ITEMS && !found; i++) {
        if (ad->service[i].uuid == ESS_UUID) {
            p = ad->service[i].data;
            len = ad->service[i].len;
            found = 1;
        }
    }
    if (!found)
        return BLE_NOT_MINE;

    struct ble_values v;
    memset(&v, 0, sizeof(v));
    switch (len) {
    case PVVX_CUSTOM_LEN:
        decode_pvvx_custom(p, &v);
        break;
    case ATC1441_LEN:
        decode_atc1441(p, &v);
        break;
    case PVVX_ENCRYPTED_LEN:
    case ATC1441_ENCRYPTED_LEN:
        /* The encrypted pvvx/atc1441 frames (AES-CCM, 4-byte MIC, AAD 0x11, nonce = MAC LSB
         * first + the first 5 bytes of the AD structure; PROTOCOLS.md §1.3, vector
         * pvvx-encrypted) are ours, but reading them needs the device's bind key, which this
         * interface does not carry: not supported yet. */
        return -EBADMSG;
    default:
        /* 0x181A with a length neither firmware sends: truncated, oversized, or the 14-byte pvvx
         * frame without its flags byte, which only builds without SERVICE_TH_TRG send (in pvvx
         * src/app_config.h only DEVICE_PLM1, a soil sensor whose "humidity" is not air
         * humidity). Ours, but not readable. */
        return -EBADMSG;
    }
    *out = v;
    return 0;
}
