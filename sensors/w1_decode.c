/* w1_therm text (PROTOCOLS.md §2.1). The kernel's w1_slave_show() writes
 *   "%02x " x 9, ": crc=%02x YES|NO\n"      the scratchpad just read, and the CRC verdict
 *   "%02x " x 9, "t=%d\n"                   the last good scratchpad and its temperature
 * Current kernels retry a failed read 5 times and then write nothing (a zero-length read); old
 * ones write NO with t= computed from the failed bytes. So: the first line decides, the CRC is
 * checked again here, and the temperature is computed from its scratchpad bytes. */
#include "w1_decode.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define SCRATCHPAD_BYTES 9

uint8_t w1_crc8(const uint8_t *data, size_t len)
{
    uint8_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = data[i];
        for (int bit = 0; bit < 8; bit++) {
            bool mix = (crc ^ b) & 1;
            crc >>= 1;
            if (mix)
                crc ^= 0x8C;
            b >>= 1;
        }
    }
    return crc;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Two hex digits at text[at], within len. */
static int hex_byte(const char *text, size_t len, size_t at)
{
    if (at + 2 > len)
        return -1;
    int hi = hex_digit(text[at]), lo = hex_digit(text[at + 1]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int w1_parse_id(const char *name, uint8_t *family_out)
{
    /* dev_set_name(..., "%02x-%012llx", family, serial): 2 + 1 + 12 characters. */
    if (!name || strlen(name) != 15 || name[2] != '-')
        return -EINVAL;
    for (size_t i = 3; i < 15; i++) {
        if (hex_digit(name[i]) < 0)
            return -EINVAL;
    }
    int family = hex_byte(name, 15, 0);
    if (family < 0)
        return -EINVAL;
    *family_out = (uint8_t)family;
    return 0;
}

/* Values that are not measurements, whatever their CRC (PROTOCOLS.md §2.1). */
static int check_value(double temp_c, double *temp_c_out)
{
    if (temp_c == 85.0)
        return W1_FAULT_POWER_ON;
    if (temp_c == 127.9375)
        return W1_FAULT_LOW_POWER;
    *temp_c_out = temp_c;
    return W1_OK;
}

static int decode_scratchpad(const uint8_t b[SCRATCHPAD_BYTES], uint8_t family,
                             double *temp_c_out)
{
    bool all_zero = true;
    for (int i = 0; i < 8; i++)
        all_zero = all_zero && b[i] == 0;
    if (all_zero)
        return W1_FAULT_ALL_ZERO;

    int16_t raw = (int16_t)(uint16_t)((unsigned)b[1] << 8 | b[0]);
    switch (family) {
    case W1_FAMILY_DS18B20:
    case W1_FAMILY_DS1822:
    case W1_FAMILY_DS28EA00:
        /* 12-bit two's complement, 1/16 °C (DS18B20 datasheet, "Temperature Register"). */
        return check_value(raw / 16.0, temp_c_out);
    case W1_FAMILY_MAX31850:
        /* MAX31850: byte 0 bit 0 is the fault bit; byte 2 bits 0..2 say open circuit, short to
         * GND, short to VDD. The temperature is 14 bits x 0.25 °C in bits 15..2. */
        if ((b[0] & 0x01) || (b[2] & 0x07))
            return W1_FAULT_THERMOCOUPLE;
        return check_value((raw & ~0x3) / 16.0, temp_c_out);
    case W1_FAMILY_DS18S20: {
        /* 9 bits of half degrees refined by COUNT_REMAIN (byte 6) and COUNT_PER_C (byte 7), as
         * the kernel's w1_DS18S20_convert_temp(): T = (raw >> 1) - 0.25 + (per_c - remain) /
         * per_c. A COUNT_PER_C of 0 cannot come from a DS18S20. */
        if (b[7] == 0)
            return W1_FAULT_FORMAT;
        double t = (double)(raw >> 1) - 0.25 + (double)(b[7] - b[6]) / (double)b[7];
        return check_value(t, temp_c_out);
    }
    default:
        return W1_FAULT_UNSUPPORTED;
    }
}

int w1_decode_slave(const char *text, size_t len, uint8_t family, double *temp_c_out)
{
    if (!text || len == 0)
        return W1_FAULT_READ;
    /* Line 1: nine "xx " then ": crc=xx YES" or "NO". */
    uint8_t b[SCRATCHPAD_BYTES];
    size_t at = 0;
    for (int i = 0; i < SCRATCHPAD_BYTES; i++, at += 3) {
        int v = hex_byte(text, len, at);
        if (v < 0)
            return at + 2 > len ? W1_FAULT_READ : W1_FAULT_FORMAT;
        if (at + 2 >= len)
            return W1_FAULT_READ;
        if (text[at + 2] != ' ')
            return W1_FAULT_FORMAT;
        b[i] = (uint8_t)v;
    }
    static const char crc_tag[] = ": crc=";
    if (len - at < sizeof(crc_tag) - 1 + 2)
        return W1_FAULT_READ;
    if (memcmp(text + at, crc_tag, sizeof(crc_tag) - 1) != 0)
        return W1_FAULT_FORMAT;
    at += sizeof(crc_tag) - 1;
    int kernel_crc = hex_byte(text, len, at);
    if (kernel_crc < 0)
        return W1_FAULT_FORMAT;
    at += 2;
    size_t rest = len - at;
    bool yes = rest >= 4 && memcmp(text + at, " YES", 4) == 0;
    bool no = rest >= 3 && memcmp(text + at, " NO", 3) == 0;
    if (!yes && !no)
        return rest < 4 ? W1_FAULT_READ : W1_FAULT_FORMAT;
    if (no)
        return W1_FAULT_CRC;
    /* The kernel said YES: the bytes must agree, or the text is not what it read. */
    if (w1_crc8(b, 8) != b[8] || kernel_crc != b[8])
        return W1_FAULT_CRC;
    return decode_scratchpad(b, family, temp_c_out);
}

int w1_decode_temperature(const char *text, size_t len, double *temp_c_out)
{
    if (!text || len == 0)
        return W1_FAULT_READ;
    size_t at = 0;
    bool negative = false;
    if (text[0] == '-') {
        negative = true;
        at = 1;
    }
    long long milli = 0;
    size_t digits = 0;
    while (at < len && text[at] >= '0' && text[at] <= '9' && digits < 9) {
        milli = milli * 10 + (text[at] - '0');
        at++;
        digits++;
    }
    if (digits == 0)
        return W1_FAULT_FORMAT;
    /* "%d\n": nothing but an optional newline may follow. */
    if (at < len && !(text[at] == '\n' && at + 1 == len))
        return W1_FAULT_FORMAT;
    if (negative)
        milli = -milli;
    /* The kernel truncates to whole millidegrees: 127.9375 °C reads 127937. */
    if (milli == 85000)
        return W1_FAULT_POWER_ON;
    if (milli == 127937)
        return W1_FAULT_LOW_POWER;
    /* A shorted bus also reads 0 here, but so does a real 0.000 °C, and this file gives nothing
     * to tell them apart: w1_slave (the default) does, by its all-zero bytes. */
    *temp_c_out = (double)milli / 1000.0;
    return W1_OK;
}

const char *w1_fault_name(enum w1_fault fault)
{
    switch (fault) {
    case W1_OK:
        return "ok";
    case W1_FAULT_READ:
        return "empty or short read";
    case W1_FAULT_FORMAT:
        return "unexpected text";
    case W1_FAULT_CRC:
        return "CRC error";
    case W1_FAULT_POWER_ON:
        return "power-on value 85 °C";
    case W1_FAULT_LOW_POWER:
        return "127.94 °C: insufficient power";
    case W1_FAULT_ALL_ZERO:
        return "all-zero read: shorted bus";
    case W1_FAULT_THERMOCOUPLE:
        return "thermocouple open or shorted";
    case W1_FAULT_UNSUPPORTED:
        return "unsupported family";
    }
    return "?";
}
