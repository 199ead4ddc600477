/* owfs number text and ids (PROTOCOLS.md §2.2). owcapi's OW_get() returns a temperature as the
 * bare text owfs formats ("4", "1.7", "95.3024": no padding, no newline, observed with Debian's
 * libowcapi 3.2p4); owread pads the same text to 12 characters. owfs formats floating values
 * with %G, so an exponent ("2.5E-05") is possible near zero. The conversion is done here, digit
 * by digit, rather than with strtod(): it is pure, needs no NUL after the text and cannot be
 * changed by a locale. */
#include "ow_decode.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* No probe owfs reads reports a temperature outside these: below absolute zero is impossible,
 * and a MAX31850 thermocouple converter (14 bits x 0.25 °C) tops out below 2048 °C. */
#define TEMP_MIN_C (-273.15)
#define TEMP_MAX_C 2048.0
/* Below 2^53, so every mantissa is exact in a double. */
#define MAX_SIGNIFICANT_DIGITS 15
#define MAX_EXPONENT_DIGITS 4
/* owfs prints at most a dozen characters; a longer number is not its text. This also bounds
 * every count below. */
#define MAX_NUMBER_CHARS 64

/* Powers of ten that a double holds exactly. */
static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
#define POW10_EXACT_MAX 22

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* mantissa * 10^e10. With |e10| <= 22 this is one correctly rounded operation on two exact
 * doubles, so the result is the double nearest to the decimal text, as strtod() would give. */
static double scale10(uint64_t mantissa, int e10)
{
    double v = (double)mantissa;
    while (e10 > POW10_EXACT_MAX) {
        v *= pow10_exact[POW10_EXACT_MAX];
        e10 -= POW10_EXACT_MAX;
    }
    while (e10 < -POW10_EXACT_MAX) {
        v /= pow10_exact[POW10_EXACT_MAX];
        e10 += POW10_EXACT_MAX;
    }
    return e10 >= 0 ? v * pow10_exact[e10] : v / pow10_exact[-e10];
}

int ow_decode_temperature(const char *text, size_t len, double *temp_c_out)
{
    if (!text)
        return OW_FAULT_EMPTY;
    size_t at = 0, end = len;
    while (at < end && text[at] == ' ')
        at++;
    while (end > at && text[end - 1] == ' ')
        end--;
    if (at == end)
        return OW_FAULT_EMPTY;
    if (end - at > MAX_NUMBER_CHARS)
        return OW_FAULT_FORMAT;

    bool negative = false;
    if (text[at] == '-') {
        negative = true;
        at++;
    }
    /* value = mantissa * 10^e10. Zeros are held back (pending) until a non-zero digit follows,
     * so trailing zeros ("4.000000000000000000") cost no significant digits. */
    uint64_t mantissa = 0;
    int e10 = 0, significant = 0, pending_int = 0, pending_frac = 0;
    size_t int_digits = 0, frac_digits = 0;
    bool fraction = false;
    for (; at < end; at++) {
        char c = text[at];
        if (c == '.' && !fraction) {
            if (int_digits == 0)
                return OW_FAULT_FORMAT; /* ".5": owfs always prints the integer part */
            fraction = true;
            continue;
        }
        if (!is_digit(c))
            break;
        if (fraction)
            frac_digits++;
        else
            int_digits++;
        if (c == '0') {
            if (mantissa == 0) {
                if (fraction)
                    e10--; /* a leading zero of the fraction: 0.0625 */
            } else if (fraction) {
                pending_frac++;
            } else {
                pending_int++;
            }
            continue;
        }
        significant += pending_int + pending_frac + 1;
        if (significant > MAX_SIGNIFICANT_DIGITS)
            return OW_FAULT_FORMAT;
        for (int i = 0; i < pending_int + pending_frac; i++)
            mantissa *= 10;
        e10 -= pending_frac;
        pending_int = pending_frac = 0;
        mantissa = mantissa * 10 + (uint64_t)(c - '0');
        if (fraction)
            e10--;
    }
    if (int_digits == 0 || (fraction && frac_digits == 0))
        return OW_FAULT_FORMAT; /* "-", "5." */
    /* Zeros left pending: those of the integer part scale it ("100"), those of the fraction
     * are trailing and mean nothing ("4.50"). */
    e10 += pending_int;

    if (at < end && (text[at] == 'E' || text[at] == 'e')) {
        at++;
        bool exp_negative = false;
        if (at < end && (text[at] == '+' || text[at] == '-')) {
            exp_negative = text[at] == '-';
            at++;
        }
        int exponent = 0, exp_digits = 0;
        while (at < end && is_digit(text[at]) && exp_digits < MAX_EXPONENT_DIGITS) {
            exponent = exponent * 10 + (text[at] - '0');
            at++;
            exp_digits++;
        }
        if (exp_digits == 0)
            return OW_FAULT_FORMAT;
        e10 += exp_negative ? -exponent : exponent;
    }
    if (at != end)
        return OW_FAULT_FORMAT; /* anything else after the number, or too long an exponent */

    /* Above 10^15 x 10^3 the value is out of range anyway; this also bounds scale10()'s work. */
    if (mantissa != 0 && e10 > 3)
        return OW_FAULT_RANGE;
    double temp_c = mantissa == 0 ? 0.0 : scale10(mantissa, e10); /* "-0" is 0 */
    if (negative && mantissa != 0)
        temp_c = -temp_c;
    if (temp_c < TEMP_MIN_C || temp_c > TEMP_MAX_C)
        return OW_FAULT_RANGE;
    /* Values that are not measurements, whatever way the text spells them (PROTOCOLS.md §2.1:
     * both have valid CRCs, so only the value tells). */
    if (temp_c == 85.0)
        return OW_FAULT_POWER_ON;
    if (temp_c == 127.9375)
        return OW_FAULT_LOW_POWER;
    *temp_c_out = temp_c;
    return OW_OK;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int ow_parse_id(const char *text, char id_out[OW_ID_CAP])
{
    static const char upper[] = "0123456789ABCDEF";
    char id[OW_ID_CAP];
    if (!text || !id_out)
        return -EINVAL;
    /* owfs "%02X.%012llX"; the kernel's sysfs folder "%02x-%012llx" (PROTOCOLS.md §2.1). */
    for (size_t i = 0; i < OW_ID_LEN; i++) {
        if (text[i] == '\0')
            return -EINVAL;
        if (i == 2) {
            if (text[i] != '.' && text[i] != '-')
                return -EINVAL;
            id[i] = '.';
            continue;
        }
        int v = hex_value(text[i]);
        if (v < 0)
            return -EINVAL;
        id[i] = upper[v];
    }
    if (text[OW_ID_LEN] != '\0')
        return -EINVAL;
    id[OW_ID_LEN] = '\0';
    for (size_t i = 0; i < OW_ID_CAP; i++)
        id_out[i] = id[i];
    return 0;
}

const char *ow_fault_name(enum ow_fault fault)
{
    switch (fault) {
    case OW_OK:
        return "ok";
    case OW_FAULT_EMPTY:
        return "empty value";
    case OW_FAULT_FORMAT:
        return "not a number";
    case OW_FAULT_RANGE:
        return "no probe reads that temperature";
    case OW_FAULT_POWER_ON:
        return "power-on value 85 °C";
    case OW_FAULT_LOW_POWER:
        return "127.94 °C: insufficient power";
    }
    return "?";
}
