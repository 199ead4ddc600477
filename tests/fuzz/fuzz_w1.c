/* Fuzz target for the w1_therm text decoder (sensors/w1_decode.c), input from a file the kernel
 * (or a broken bus) writes. The first byte picks the family and the file kind; the rest is the
 * text. Whatever the bytes: no crash, nothing read past the length, and the contract holds —
 * W1_OK gives a finite temperature that is not one of the non-measurement values, a fault is
 * one of the named ones and leaves the temperature untouched. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "w1_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t families[] = {W1_FAMILY_DS18B20, W1_FAMILY_DS18S20, W1_FAMILY_DS1822,
                                       W1_FAMILY_MAX31850, W1_FAMILY_DS28EA00, 0x26};
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    /* A copy of exactly the text's size, so ASan sees any read past it. */
    size_t len = size - 1;
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    double t = -1000.0;
    int rc = (mode & 0x80)
                 ? w1_decode_temperature(text, len, &t)
                 : w1_decode_slave(text, len, families[mode % sizeof(families)], &t);
    if (rc == W1_OK && (!isfinite(t) || t == 85.0 || t == 127.9375))
        abort();
    if (rc != W1_OK && (rc < W1_FAULT_READ || rc > W1_FAULT_UNSUPPORTED || t != -1000.0))
        abort();
    free(text);
    return 0;
}
