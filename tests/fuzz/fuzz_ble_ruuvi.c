/* Fuzz target for the Ruuvi decoder (sensors/ble_ruuvi.c). The input is advertising data, as
 * radio gives it (the seeds are the vectors' ad_hex): walked by ble_ad_parse() and decoded. The
 * same bytes are then taken whole as the data behind Ruuvi's company id, so the decoder itself
 * sees every length and format byte. Whatever the bytes: no crash, nothing read past the length
 * (exact-size copies), and the contract of ble_decode.h holds: 0, BLE_NOT_MINE or -EBADMSG; on
 * anything but 0 *out untouched; on 0 the format is one of ours, no quantity is both given and
 * faulted, nothing outside what Ruuvi carries, and every value finite and inside what its
 * format can encode. */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ble_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct ble_ad *ad)
{
    struct ble_values v, pattern;
    memset(&pattern, 0xA5, sizeof(pattern));
    v = pattern;
    int rc = ble_ruuvi_decode(ad, &v);
    if (rc != 0) {
        if ((rc != BLE_NOT_MINE && rc != -EBADMSG) || memcmp(&v, &pattern, sizeof(v)) != 0)
            abort();
        return;
    }
    if (!v.format || (v.present & v.faults))
        abort();
    const uint32_t mine = BLE_TEMPERATURE | BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_MV;
    if (strcmp(v.format, "ruuvi_rawv2") == 0) {
        /* RAWv2: int16 x 0.005 degC, uint16 x 0.0025 %, uint16 + 50000 Pa, 1600 + 11 bit mV,
         * uint16 sequence; the all-ones / most negative codes are faults, never values. */
        if (((v.present | v.faults) & ~(mine | BLE_COUNTER)) ||
            ((v.present & BLE_TEMPERATURE) &&
             !(isfinite(v.temperature_c) && fabs(v.temperature_c) <= 163.835)) ||
            ((v.present & BLE_HUMIDITY) &&
             !(isfinite(v.humidity_pct) && v.humidity_pct >= 0 && v.humidity_pct <= 163.835)) ||
            ((v.present & BLE_PRESSURE) &&
             !(isfinite(v.pressure_hpa) && v.pressure_hpa >= 500 && v.pressure_hpa <= 1155.34)) ||
            ((v.present & BLE_BATTERY_MV) && (v.battery_mv < 1600 || v.battery_mv > 3646)) ||
            ((v.present & BLE_COUNTER) && v.counter > 65534))
            abort();
    } else if (strcmp(v.format, "ruuvi_rawv1") == 0) {
        /* RAWv1: sign-magnitude +-127.99 degC, uint8 x 0.5 %, uint16 + 50000 Pa, uint16 mV; no
         * markers and no counter, so everything but an unreadable temperature is given. */
        if ((v.present | v.faults) != mine || (v.faults & ~BLE_TEMPERATURE) ||
            ((v.present & BLE_TEMPERATURE) &&
             !(isfinite(v.temperature_c) && fabs(v.temperature_c) <= 127.99)) ||
            !(isfinite(v.humidity_pct) && v.humidity_pct >= 0 && v.humidity_pct <= 127.5) ||
            !(isfinite(v.pressure_hpa) && v.pressure_hpa >= 500 && v.pressure_hpa <= 1155.35) ||
            v.battery_mv < 0 || v.battery_mv > 65535)
            abort();
    } else {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* As advertising data: a copy of exactly the input's size, so ASan sees any read past it. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    struct ble_ad ad;
    if (ble_ad_parse(copy, size, &ad) == 0)
        check(&ad);
    free(copy);

    /* As Manufacturer Specific Data: 99 04 and the input, again exactly that size. */
    uint8_t *mfr = malloc(size + 2);
    if (!mfr)
        return 0;
    mfr[0] = 0x99;
    mfr[1] = 0x04;
    if (size)
        memcpy(mfr + 2, data, size);
    memset(&ad, 0, sizeof(ad));
    ad.mfr = mfr;
    ad.mfr_len = size + 2;
    check(&ad);
    free(mfr);
    return 0;
}
