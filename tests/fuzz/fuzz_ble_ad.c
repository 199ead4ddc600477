/* Fuzz target for the AD-structure walker and every BLE decoder behind the dispatcher
 * (sensors/ble_ad.c, ble_decode.h): advertising data straight from the radio. Whatever the
 * bytes: no crash, nothing read past the length, and the contract holds: a decoded value is
 * finite, and no value is both given and marked invalid. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ble_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct ble_ad ad;
    if (ble_ad_parse(copy, size, &ad) == 0) {
        struct ble_values v;
        int rc = ble_decode(&ad, &v);
        if (rc == 0) {
            if (!v.format || (v.present & v.faults))
                abort();
            if (((v.present & BLE_TEMPERATURE) && !isfinite(v.temperature_c)) ||
                ((v.present & BLE_HUMIDITY) && !isfinite(v.humidity_pct)) ||
                ((v.present & BLE_PRESSURE) && !isfinite(v.pressure_hpa)) ||
                ((v.present & BLE_BATTERY_PCT) && !isfinite(v.battery_pct)))
                abort();
        } else if (rc != BLE_NOT_MINE && rc >= 0) {
            abort();
        }
    }
    free(copy);
    return 0;
}
