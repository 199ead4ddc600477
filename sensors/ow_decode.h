/* owfs text (PROTOCOLS.md §2.2): the temperature an owserver returns through owcapi's OW_get(),
 * and the owfs device ids the owserver adapter (owserver.h) is configured with. Pure: text in, a
 * temperature or a named fault out; no I/O, no clock, no logging. Every value a probe sends when
 * it is not measuring — the power-on 85 °C, the 127.9375 °C of a probe without enough power
 * (PROTOCOLS.md §2.1) — is a fault, never a temperature (DESIGN §4). Any thread. */
#ifndef COLDCHAIN_OW_DECODE_H
#define COLDCHAIN_OW_DECODE_H

#include <stddef.h>

enum ow_fault {
    OW_OK = 0,
    OW_FAULT_EMPTY,     /* nothing but spaces: no value came back */
    OW_FAULT_FORMAT,    /* not a decimal number as owfs prints one */
    OW_FAULT_RANGE,     /* a number no temperature probe can report */
    OW_FAULT_POWER_ON,  /* 85 °C: the power-on value, no conversion happened */
    OW_FAULT_LOW_POWER, /* 127.9375 °C: not enough power to convert (parasite mode) */
};

/* An owfs id is "28.000006B67845": the family, '.', the 48-bit serial, 12 hex digits. */
#define OW_ID_LEN 15
#define OW_ID_CAP (OW_ID_LEN + 1)

/* Decodes the text of a temperature property ("4", "1.7", "-10.0625", "  22.5625" as owread
 * pads it; also owfs's %G exponent form "2.5E-05") of len bytes (not NUL-terminated; nothing past
 * len is read). Spaces may surround the number, nothing else may. Returns 0 (OW_OK) with
 * *temp_c_out set, or the fault (> 0) with *temp_c_out untouched. The decimal text is converted
 * exactly (correctly rounded, no locale), at most 15 significant digits. */
int ow_decode_temperature(const char *text, size_t len, double *temp_c_out);

/* Normalises a probe id: the owfs spelling "28.000006B67845" or the Linux sysfs spelling
 * "28-000006b67845" (either case) becomes the owfs one, upper case, in id_out (OW_ID_CAP bytes).
 * Returns 0, or -EINVAL for anything else (id_out then untouched). */
int ow_parse_id(const char *text, char id_out[OW_ID_CAP]);

/* "power-on value 85 °C", ...: what a technician reads in the log. */
const char *ow_fault_name(enum ow_fault fault);

#endif
