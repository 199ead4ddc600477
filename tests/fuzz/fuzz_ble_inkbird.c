/* Fuzz target for the Inkbird IBS-TH1/TH2 decoder (sensors/ble_inkbird.c), behind the
 * AD-structure walker: advertising data straight from the radio. Whatever the bytes: no crash,
 * nothing read past the length (an exact-size copy), and the contract holds: 0, BLE_NOT_MINE or
 * -EBADMSG; *out untouched unless 0; on 0 the decoder's own format name, no value both given and
 * marked invalid, and every given value finite and inside what the format gives once its
 * not-measured values are taken out (int16 x 0.01 degC, 0 ... 100 % RH and battery). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ble_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int in(double x, double lo, double hi)
{
    return isfinite(x) && x >= lo && x <= hi;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    struct ble_ad ad;
    if (ble_ad_parse(copy, size, &ad) == 0) {
        struct ble_values v, before;
        memset(&before, 0xA5, sizeof(before));
        v = before;
        int rc = ble_inkbird_decode(&ad, &v);
        if (rc == 0) {
            if (!v.format || (strcmp(v.format, "inkbird_ibs_th") != 0))
                abort();
            if (v.present & v.faults)
                abort();
            if (v.present & ~(uint32_t)(BLE_TEMPERATURE | BLE_HUMIDITY | BLE_BATTERY_PCT))
                abort(); /* a value this format does not carry */
            if (((v.present & BLE_TEMPERATURE) && !in(v.temperature_c, -327.68, 327.67)) ||
                ((v.present & BLE_HUMIDITY) && !in(v.humidity_pct, 0.0, 100.0)) ||
                ((v.present & BLE_BATTERY_PCT) && !in(v.battery_pct, 0.0, 100.0)))
                abort();
        } else if (rc != BLE_NOT_MINE && rc != -EBADMSG) {
            abort();
        } else if (memcmp(&v, &before, sizeof(v)) != 0) {
            abort();
        }
    }
    free(copy);
    return 0;
}
