/* BLE advertisement decoding (PROTOCOLS.md §1): the walker over the AD structures an HCI LE
 * advertising report carries, and the decoders of the common wireless thermometers, one file each
 * (ble_ruuvi.c, ble_bthome.c, ble_xiaomi.c for pvvx/ATC1441, ble_govee.c, ble_inkbird.c). Pure:
 * bytes in, values out; no I/O, no clock, no state. Any thread.
 *
 * A decoder returns 0 when the data is its format and was decoded (values marked invalid by the
 * format are then left out of `present` and set in `faults`, never given as values),
 * BLE_NOT_MINE (> 0) when the data is not its format, or -EBADMSG when it is its format but
 * malformed (too short, a bad length, an unknown version it cannot read). */
#ifndef COLDCHAIN_BLE_DECODE_H
#define COLDCHAIN_BLE_DECODE_H

#include <stddef.h>
#include <stdint.h>

#define BLE_NOT_MINE 1
#define BLE_AD_MAX_ITEMS 16

/* The AD structures of one advertisement (or scan response) that decoders look at. Pointers
 * point into the caller's buffer. */
struct ble_ad {
    const uint8_t *mfr;        /* Manufacturer Specific Data (0xFF): company id (LE) + data */
    size_t mfr_len;
    struct {
        uint16_t uuid;         /* Service Data, 16-bit UUID (0x16): the UUID ... */
        const uint8_t *data;   /* ... and the data after it */
        size_t len;
    } service[BLE_AD_MAX_ITEMS];
    size_t service_count;
    const char *name;          /* Complete or Shortened Local Name (0x09/0x08), not terminated */
    size_t name_len;
};

/* Walks len bytes of AD structures: len(1) type(1) value(len-1). A length of 0 ends the data
 * (padding follows); a length that runs past the end is malformed. Returns 0 with *ad filled, or
 * -EBADMSG. */
int ble_ad_parse(const uint8_t *data, size_t len, struct ble_ad *ad);

/* Which values a decoder gave (present) or found marked invalid (faults). */
enum ble_value_bit {
    BLE_TEMPERATURE = 1u << 0,
    BLE_HUMIDITY = 1u << 1,
    BLE_PRESSURE = 1u << 2,
    BLE_BATTERY_PCT = 1u << 3,
    BLE_BATTERY_MV = 1u << 4,
    BLE_COUNTER = 1u << 5, /* the sensor's own packet/measurement counter */
};

struct ble_values {
    const char *format;   /* the decoder's name: "ruuvi_rawv2", "bthome_v2", ... (static) */
    uint32_t present;     /* enum ble_value_bit */
    uint32_t faults;      /* enum ble_value_bit: carried but marked invalid by the format */
    double temperature_c;
    double humidity_pct;
    double pressure_hpa;
    double battery_pct;
    int battery_mv;
    uint32_t counter;     /* repeats of one measurement carry the same counter */
};

/* Each decoder: 0, BLE_NOT_MINE or -EBADMSG as above; *out is filled only on 0. */
int ble_ruuvi_decode(const struct ble_ad *ad, struct ble_values *out);   /* formats 5 and 3 */
int ble_bthome_decode(const struct ble_ad *ad, struct ble_values *out);  /* v2, unencrypted */
int ble_xiaomi_decode(const struct ble_ad *ad, struct ble_values *out);  /* pvvx custom, ATC1441 */
int ble_govee_decode(const struct ble_ad *ad, struct ble_values *out);   /* H5072/H5075 */
int ble_inkbird_decode(const struct ble_ad *ad, struct ble_values *out); /* IBS-TH1/TH2 */

/* Tries every decoder: the first that decodes the data wins (0); otherwise -EBADMSG if one
 * recognised its marker in malformed data, or BLE_NOT_MINE when none knows the data. */
int ble_decode(const struct ble_ad *ad, struct ble_values *out);

#endif
