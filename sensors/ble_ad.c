/* The AD-structure walker and the decoder dispatch (ble_decode.h, PROTOCOLS.md §1.0). */
#include <errno.h>
#include <string.h>

#include "ble_decode.h"

int ble_ad_parse(const uint8_t *data, size_t len, struct ble_ad *ad)
{
    memset(ad, 0, sizeof(*ad));
    if (!data && len)
        return -EBADMSG;
    size_t at = 0;
    while (at < len) {
        size_t n = data[at];
        if (n == 0)
            break; /* the rest is padding */
        if (n > len - at - 1)
            return -EBADMSG; /* the structure runs past the end */
        uint8_t type = data[at + 1];
        const uint8_t *value = data + at + 2;
        size_t vlen = n - 1;
        switch (type) {
        case 0xFF: /* Manufacturer Specific Data: company id (LE, 2) + data */
            if (vlen < 2)
                return -EBADMSG;
            ad->mfr = value;
            ad->mfr_len = vlen;
            break;
        case 0x16: /* Service Data, 16-bit UUID: UUID (LE, 2) + data */
            if (vlen < 2)
                return -EBADMSG;
            if (ad->service_count < BLE_AD_MAX_ITEMS) {
                ad->service[ad->service_count].uuid = (uint16_t)(value[0] | value[1] << 8);
                ad->service[ad->service_count].data = value + 2;
                ad->service[ad->service_count].len = vlen - 2;
                ad->service_count++;
            }
            break;
        case 0x08: /* Shortened Local Name */
        case 0x09: /* Complete Local Name */
            ad->name = (const char *)value;
            ad->name_len = vlen;
            break;
        default:
            break;
        }
        at += 1 + n;
    }
    return 0;
}

int ble_decode(const struct ble_ad *ad, struct ble_values *out)
{
    static int (*const decoders[])(const struct ble_ad *, struct ble_values *) = {
        ble_ruuvi_decode, ble_bthome_decode, ble_xiaomi_decode, ble_govee_decode,
        ble_inkbird_decode,
    };
    /* Every decoder gets its try: formats without a real company id (Inkbird puts its
     * temperature there) can look like another format's marker — an Inkbird at 11.77 °C starts
     * with Ruuvi's 99 04 — so "malformed" from one decoder must not hide a decoding by another. */
    int result = BLE_NOT_MINE;
    for (size_t i = 0; i < sizeof(decoders) / sizeof(decoders[0]); i++) {
        int rc = decoders[i](ad, out);
        if (rc == 0)
            return 0;
        if (rc < 0)
            result = rc;
    }
    return result;
}
