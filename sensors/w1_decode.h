/* 1-Wire temperature text from the Linux w1_therm driver (PROTOCOLS.md §2.1): the `w1_slave`
 * file (two lines: the 9 scratchpad bytes with the kernel's CRC verdict, then t=) and the newer
 * `temperature` file (millidegrees). Pure: text in, a temperature or a named fault out. Every
 * value a probe sends when it is not measuring — the power-on 85 °C, the 127.94 °C of a probe
 * without enough power, an all-zero read of a shorted bus, a thermocouple fault — is a fault,
 * never a temperature (DESIGN §4). Any thread. */
#ifndef COLDCHAIN_W1_DECODE_H
#define COLDCHAIN_W1_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum w1_fault {
    W1_OK = 0,
    W1_FAULT_READ,         /* empty or cut-short file: current kernels give up after retries */
    W1_FAULT_FORMAT,       /* not what w1_therm writes */
    W1_FAULT_CRC,          /* the kernel said NO, or the bytes do not match their CRC */
    W1_FAULT_POWER_ON,     /* 85.000 °C: the power-on value, no conversion happened */
    W1_FAULT_LOW_POWER,    /* 127.9375 °C: not enough power to convert (parasite mode) */
    W1_FAULT_ALL_ZERO,     /* all-zero scratchpad: passes the CRC, means a shorted bus */
    W1_FAULT_THERMOCOUPLE, /* MAX31850: open thermocouple or short to GND/VDD */
    W1_FAULT_UNSUPPORTED,  /* a family this decoder does not know how to read */
};

/* Families of w1_therm probes (the id's first byte, "28-..."). */
#define W1_FAMILY_DS18S20 0x10
#define W1_FAMILY_DS1822 0x22
#define W1_FAMILY_DS18B20 0x28
#define W1_FAMILY_MAX31850 0x3B /* shares its family code with the DS1825 */
#define W1_FAMILY_DS28EA00 0x42

/* Dallas/Maxim CRC-8 (x^8 + x^5 + x^4 + 1, reflected 0x8C, init 0) of len bytes. */
uint8_t w1_crc8(const uint8_t *data, size_t len);

/* Parses a device folder name "28-000006b67845": 0 with the family, or -EINVAL. */
int w1_parse_id(const char *name, uint8_t *family_out);

/* Decodes a w1_slave text of len bytes (not NUL-terminated; nothing past len is read) from a
 * probe of family. Returns 0 with *temp_c_out set (W1_OK), or the fault (> 0) and *temp_c_out
 * untouched. The temperature comes from the scratchpad bytes, exactly (t= is the kernel's
 * truncated copy, and wrong on old kernels after a CRC failure). */
int w1_decode_slave(const char *text, size_t len, uint8_t family, double *temp_c_out);

/* Decodes a `temperature` file ("23125\n", millidegrees). Same returns. */
int w1_decode_temperature(const char *text, size_t len, double *temp_c_out);

/* "crc", "power-on 85 °C", ...: what a technician reads in the log. */
const char *w1_fault_name(enum w1_fault fault);

#endif
