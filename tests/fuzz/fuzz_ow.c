/* Fuzz target for the owfs text decoder (sensors/ow_decode.c): the text comes from an owserver
 * over the network, the ids from the config. The first byte picks what is decoded (bit 7 set: an
 * id, else a temperature); the rest is the text. Whatever the bytes: no crash, nothing read past
 * the length, and the contract holds — OW_OK gives a finite temperature in the range a probe
 * can report that is not one of the non-measurement values, a fault is one of the named ones and
 * leaves the temperature untouched; an accepted id is the owfs spelling, upper case. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ow_decode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_id(const char *id)
{
    if (strlen(id) != OW_ID_LEN || id[2] != '.')
        abort();
    for (size_t i = 0; i < OW_ID_LEN; i++) {
        if (i != 2 && !((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F')))
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    size_t len = size - 1;
    if (mode & 0x80) {
        /* ids are C strings from the config: a NUL-terminated copy, exactly sized. */
        char *text = malloc(len + 1);
        if (!text)
            return 0;
        memcpy(text, data + 1, len);
        text[len] = '\0';
        char id[OW_ID_CAP] = "untouched";
        if (ow_parse_id(text, id) == 0)
            check_id(id);
        else if (strcmp(id, "untouched") != 0)
            abort();
        free(text);
        return 0;
    }
    /* A copy of exactly the text's size, so ASan sees any read past it. */
    char *text = malloc(len ? len : 1);
    if (!text)
        return 0;
    memcpy(text, data + 1, len);
    double t = -1000.0;
    int rc = ow_decode_temperature(text, len, &t);
    if (rc == OW_OK && (!isfinite(t) || t < -273.15 || t > 2048.0 || t == 85.0 || t == 127.9375))
        abort();
    if (rc != OW_OK && (rc < OW_FAULT_EMPTY || rc > OW_FAULT_LOW_POWER || t != -1000.0))
        abort();
    free(text);
    return 0;
}
