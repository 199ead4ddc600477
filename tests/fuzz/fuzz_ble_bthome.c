/* Fuzz target for the BTHome v2 decoder (sensors/ble_bthome.c). The input is advertising data,
 * as radio gives it (the seeds are the vectors' ad_hex): walked by ble_ad_parse() and decoded.
 * The same bytes are then taken whole as Service Data behind the UUID 0xFCD2, so the object
 * walker itself sees every info byte, id and length. Whatever the bytes: no crash, nothing read
 * past the length (exact-size copies), and the contract of ble_decode.h holds: 0, BLE_NOT_MINE
 * or -EBADMSG; on anything but 0 *out untouched; on 0 the format is "bthome_v2", nothing is
 * faulted (BTHome has no "not available" code), and every value is finite and inside what the
 * objects that carry it can encode. */
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
    int rc = ble_bthome_decode(ad, &v);
    if (rc != 0) {
        if ((rc != BLE_NOT_MINE && rc != -EBADMSG) || memcmp(&v, &pattern, sizeof(v)) != 0)
            abort();
        return;
    }
    const uint32_t all = BLE_TEMPERATURE | BLE_HUMIDITY | BLE_PRESSURE | BLE_BATTERY_PCT |
                         BLE_BATTERY_MV | BLE_COUNTER;
    /* Ranges (bthome.io): temperature sint16 x 0.1 at most (0x45), humidity uint16 x 0.01
     * (0x03) or uint8 (0x2E), pressure uint24 x 0.01 hPa, battery uint8 %, voltage uint16 mV,
     * packet id uint8. */
    if (!v.format || strcmp(v.format, "bthome_v2") != 0 || v.faults != 0 || (v.present & ~all) ||
        ((v.present & BLE_TEMPERATURE) &&
         !(isfinite(v.temperature_c) && fabs(v.temperature_c) <= 3276.8)) ||
        ((v.present & BLE_HUMIDITY) &&
         !(isfinite(v.humidity_pct) && v.humidity_pct >= 0 && v.humidity_pct <= 655.35)) ||
        ((v.present & BLE_PRESSURE) &&
         !(isfinite(v.pressure_hpa) && v.pressure_hpa >= 0 && v.pressure_hpa <= 167772.15)) ||
        ((v.present & BLE_BATTERY_PCT) &&
         !(isfinite(v.battery_pct) && v.battery_pct >= 0 && v.battery_pct <= 255)) ||
        ((v.present & BLE_BATTERY_MV) && (v.battery_mv < 0 || v.battery_mv > 65535)) ||
        ((v.present & BLE_COUNTER) && v.counter > 255))
        abort();
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

    /* As BTHome service data, the same exact-size copy. */
    memset(&ad, 0, sizeof(ad));
    ad.service[0].uuid = 0xFCD2;
    ad.service[0].data = copy;
    ad.service[0].len = size;
    ad.service_count = 1;
    check(&ad);
    free(copy);
    return 0;
}
