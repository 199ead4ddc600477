/* coldchain-sim ble (sim_ble.h): BLE thermometers along a scenario, written as a btsnoop file.
 *
 * Every advert is encoded here by hand from the byte layouts in PROTOCOLS.md §1.1-§1.5 - the
 * inverse of the decoders in sensors/ble_*.c, written apart from them - and then decoded back
 * with ble_ad_parse() + ble_decode() before it is written. An advert that does not decode to
 * what was meant (format, which values are given or marked invalid, each value within the
 * format's resolution) stops the run with exit 1 and a message naming format and value: the
 * simulator can never write a capture that the gateway would misread.
 *
 * Adverts are laid out as a controller delivers them (PROTOCOLS.md §1.9): one report per HCI LE
 * Meta event, legacy (subevent 0x02) or extended (0x0D); the formats that send their data in the
 * scan response (Govee, Inkbird: PROTOCOLS.md §1.0, DESIGN §9) as an ADV_IND with the name and
 * then a SCAN_RSP with the data, 1 ms later. The file is what `btmon -w` writes (datalink 2001:
 * a New Index record for hci0 and a system note, then events with opcode 3 on index 0), or H4
 * (1002) or unencapsulated HCI (1001) with flags 3. Built in a temporary file and renamed. */
#include "sim_ble.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ble_decode.h"
#include "btsnoop.h"
#include "cfgjson.h"
#include "clock.h"
#include "scenario.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

#define MAX_DEVICES 16
#define MAX_FAULTS 32
#define MIN_INTERVAL_MS 100 /* leaves >= 6 ms per device for an ADV_IND and its SCAN_RSP */
#define MAX_SPAN_MS (7 * 24 * 3600 * INT64_C(1000))
#define MAX_START_S INT64_C(253402300799) /* 9999-12-31T23:59:59Z */
#define SCAN_RSP_DELAY_MS 1
#define AD_MAX 31               /* a legacy PDU's advertising data */
#define PRESSURE_HPA 1013.25    /* what the Ruuvi formats carry as air pressure */
#define DEVICE_OFFSET_C 0.5     /* device i reads the scenario plus 0.5 °C x i, as modbus-rtu */

enum format {
    FMT_RUUVI5,
    FMT_RUUVI3,
    FMT_BTHOME,
    FMT_PVVX,
    FMT_ATC1441,
    FMT_GOVEE,
    FMT_INKBIRD,
    FMT_COUNT
};

enum ble_fault { FAULT_NONE, FAULT_INVALID, FAULT_SILENT, FAULT_REPEAT };

enum report_kind { REPORTS_LEGACY, REPORTS_EXTENDED, REPORTS_MIXED };

/* One measurement as a device took it, before its format rounds or clamps it. */
struct meas {
    double temp_c;
    double humidity_pct;
    int battery_pct; /* 0..100 */
    uint32_t counter;
    bool invalid; /* sent with the format's "not available" marker */
};

struct device {
    enum format fmt;
    uint8_t addr[6]; /* MSB first, as printed */
    int8_t rssi;
    struct meas last; /* what it sent last, for "repeat" */
    bool has_last;
    uint32_t next_counter;
};

struct fault_at {
    int64_t t_ms;
    enum ble_fault kind;
    int device; /* 0-based; -1 = every device */
};

struct options {
    const char *out;
    const char *scenario;
    const char *script;
    bool loop;
    int64_t start_ms;
    int64_t duration_ms;
    const char *duration_text;
    int64_t interval_ms;
    uint32_t datalink;
    enum report_kind reports;
    struct device devices[MAX_DEVICES];
    const char *device_text[MAX_DEVICES]; /* as given, for messages */
    bool addr_given[MAX_DEVICES];
    size_t device_count;
    struct fault_at faults[MAX_FAULTS];
    size_t fault_count;
    int64_t fault_for_ms;
    double humidity_pct;
    int battery_pct;
};

/* What each format is and carries, for the encoder, the self-check and the usage text. The
 * limits are what the format (or, where stricter, our decoder's plausibility range) can carry;
 * values outside are clamped, values between steps rounded to the step. */
struct format_info {
    const char *name;       /* on the command line */
    const char *decoded_as; /* struct ble_values.format */
    uint8_t addr_prefix[5]; /* default address: these, then the device's position (1-based) */
    uint8_t addr_type;      /* 0 public, 1 random */
    bool scan_response;     /* data in a SCAN_RSP after an ADV_IND with the name */
    uint16_t legacy_type;   /* event type of the advert carrying the name or the data */
    uint32_t carries;       /* enum ble_value_bit the decoder gives */
    uint32_t invalid_marks; /* what "invalid" marks as not available (0: no such marker) */
    double temp_min_c, temp_max_c, temp_step_c;
    double humidity_min_pct, humidity_max_pct, humidity_step_pct;
    uint32_t counter_mod; /* the counter wraps here; 0: no counter */
};

#define T BLE_TEMPERATURE
#define H BLE_HUMIDITY
#define P BLE_PRESSURE
#define PCT BLE_BATTERY_PCT
#define MV BLE_BATTERY_MV
#define CNT BLE_COUNTER
static const struct format_info formats[FMT_COUNT] = {
    /* Ruuvi RAWv2: int16 x 0.005 °C (0x8000 n/a), uint16 x 0.0025 % (0xFFFF n/a); the sequence
     * number's 65535 is "not available", so it wraps at 65535. Random static address, sent
     * non-connectable (the bleparser capture's event type 03). */
    [FMT_RUUVI5] = {"ruuvi5", "ruuvi_rawv2", {0xD0, 0, 0, 0, 0}, 1, false, 0x03,
                    T | H | P | MV | CNT, T | H | P, -163.835, 163.835, 0.005, 0.0, 100.0,
                    0.0025, 65535},
    /* Ruuvi RAWv1: sign-magnitude °C with 1/100 fraction, humidity x 0.5 %, no n/a marker
     * ("it is suggested to send 0", which would read as a real 0.00 °C: not sent). */
    [FMT_RUUVI3] = {"ruuvi3", "ruuvi_rawv1", {0xD0, 0, 0, 0, 0}, 1, false, 0x03,
                    T | H | P | MV, 0, -127.99, 127.99, 0.01, 0.0, 100.0, 0.5, 0},
    /* BTHome v2: packet id, battery %, sint16 x 0.01 °C, uint16 x 0.01 %, voltage mV; no n/a. */
    [FMT_BTHOME] = {"bthome", "bthome_v2", {0xA4, 0xC1, 0x38, 0, 0}, 0, false, 0x00,
                    CNT | PCT | T | H | MV, 0, -327.67, 327.67, 0.01, 0.0, 100.0, 0.01, 256},
    /* pvvx custom: int16 x 0.01 °C, uint16 x 0.01 %; no n/a. The decoder refuses temperatures
     * outside -67.5 ... 137.5 °C as not measurable by these sensors. */
    [FMT_PVVX] = {"pvvx", "pvvx_custom", {0xA4, 0xC1, 0x38, 0, 0}, 0, false, 0x00,
                  T | H | MV | PCT | CNT, 0, -67.5, 137.5, 0.01, 0.0, 100.0, 0.01, 256},
    /* atc1441: int16 BE x 0.1 °C, humidity whole %; no n/a. */
    [FMT_ATC1441] = {"atc1441", "atc1441", {0xA4, 0xC1, 0x38, 0, 0}, 0, false, 0x00,
                     T | H | MV | PCT | CNT, 0, -67.5, 137.5, 0.1, 0.0, 100.0, 1.0, 256},
    /* Govee H5075: packed 0.1 °C / 0.1 %, -40 ... 100 °C (govee-ble's range), humidity at most
     * 99.9; bit 7 of the battery byte = error, which voids temperature and humidity. */
    [FMT_GOVEE] = {"govee", "govee_h5075", {0xA4, 0xC1, 0x38, 0, 0}, 0, true, 0x00,
                   T | H | PCT, T | H, -40.0, 100.0, 0.1, 0.0, 99.9, 0.1, 0},
    /* Inkbird IBS-TH2 ("tps"), a hygrometer: int16 x 0.01 °C, uint16 x 0.01 %, CRC-16/MODBUS;
     * no n/a marker. Humidity 0 (and 0xFFFF) is what the P01B probe sends under the same name for
     * "no hygrometer" (inkbird-ble #256), so the lowest humidity sent is 0.01 %. */
    [FMT_INKBIRD] = {"inkbird", "inkbird_ibs_th", {0x49, 0x42, 0x07, 0, 0}, 0, true, 0x00,
                     T | H | PCT, 0, -327.67, 327.67, 0.01, 0.01, 100.0, 0.01, 0},
};
#undef T
#undef H
#undef P
#undef PCT
#undef MV
#undef CNT

/* Legacy event types and their extended equivalents (legacy PDU bit 4 set; Core spec Vol 4
 * Part E 7.7.65.13: ADV_IND 0x13, ADV_NONCONN_IND 0x10, SCAN_RSP to an ADV_IND 0x1B). */
#define ADV_IND 0x00
#define ADV_NONCONN_IND 0x03
#define SCAN_RSP 0x04
static uint16_t extended_type(uint16_t legacy)
{
    switch (legacy) {
    case ADV_IND:
        return 0x13;
    case ADV_NONCONN_IND:
        return 0x10;
    default:
        return 0x1B;
    }
}

/* sim.c's: the usage text, and a message about a bad argument followed by it (then -EINVAL). */
static void (*print_usage)(FILE *out);
static int (*usage_error)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- encoding: PROTOCOLS.md §1.1-§1.5, by hand ------------------------------------------- */

static double clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void be16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void le16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* A value in steps of step, rounded, after clamping to [lo, hi]: the integer the format sends. */
static long steps(double v, double lo, double hi, double step)
{
    return lround(clamp(v, lo, hi) / step);
}

/* The format's integer for a temperature or a humidity, in its steps and limits. */
static long temp_steps(const struct format_info *f, double temp_c)
{
    return steps(temp_c, f->temp_min_c, f->temp_max_c, f->temp_step_c);
}

static long humidity_steps(const struct format_info *f, double humidity_pct)
{
    return steps(humidity_pct, f->humidity_min_pct, f->humidity_max_pct, f->humidity_step_pct);
}

static int battery_mv(int pct)
{
    return 2200 + 9 * pct; /* a CR2032 from 2.2 V (empty) to 3.1 V (full) */
}

/* CRC-16/MODBUS (init 0xFFFF, reflected polynomial 0xA001), which an Inkbird sends over its
 * bytes 0-4 (PROTOCOLS.md §1.5: 9C 08 F4 10 00 -> 0x4EBA). */
static unsigned inkbird_crc(const uint8_t *p, size_t n)
{
    unsigned crc = 0xFFFF;
    for (size_t i = 0; i < n * 8; i++) {
        if (i % 8 == 0)
            crc ^= p[i / 8];
        crc = (crc >> 1) ^ ((crc & 1u) ? 0xA001u : 0u);
    }
    return crc;
}

/* Appends an AD structure: length, type, value. */
static size_t put_ad(uint8_t *ad, size_t at, uint8_t type, const uint8_t *value, size_t n)
{
    ad[at] = (uint8_t)(n + 1);
    ad[at + 1] = type;
    memcpy(ad + at + 2, value, n);
    return at + 2 + n;
}

static size_t put_flags(uint8_t *ad, size_t at)
{
    static const uint8_t general_le_only = 0x06; /* LE General Discoverable, BR/EDR off */
    return put_ad(ad, at, 0x01, &general_le_only, 1);
}

/* Ruuvi data format 5 (RAWv2), 24 bytes big-endian after company id 0x0499 (§1.1). */
static size_t encode_ruuvi5(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    uint8_t v[2 + 24] = {0x99, 0x04, 0x05};
    uint8_t *p = v + 2;
    long t = temp_steps(f, m->temp_c);
    long h = humidity_steps(f, m->humidity_pct);
    be16(p + 1, m->invalid ? 0x8000u : (unsigned)(uint16_t)(int16_t)t);
    be16(p + 3, m->invalid ? 0xFFFFu : (unsigned)h);
    be16(p + 5, m->invalid ? 0xFFFFu : (unsigned)lround(PRESSURE_HPA * 100.0) - 50000u);
    be16(p + 7, 0);    /* acceleration x, y, z in mG: lying flat */
    be16(p + 9, 0);
    be16(p + 11, 1000);
    be16(p + 13, (unsigned)(battery_mv(m->battery_pct) - 1600) << 5 | (4 + 40) / 2); /* +4 dBm */
    p[15] = 0;         /* movement counter */
    be16(p + 16, m->counter);
    memcpy(p + 18, d->addr, 6);
    size_t at = put_flags(ad, 0);
    return put_ad(ad, at, 0xFF, v, sizeof(v));
}

/* Ruuvi data format 3 (RAWv1), 14 bytes after company id 0x0499 (§1.1). */
static size_t encode_ruuvi3(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    uint8_t v[2 + 14] = {0x99, 0x04, 0x03};
    uint8_t *p = v + 2;
    long centi = temp_steps(f, m->temp_c);
    long mag = labs(centi);
    p[1] = (uint8_t)humidity_steps(f, m->humidity_pct);
    p[2] = (uint8_t)((centi < 0 ? 0x80 : 0) | mag / 100); /* sign-magnitude */
    p[3] = (uint8_t)(mag % 100);
    be16(p + 4, (unsigned)lround(PRESSURE_HPA * 100.0) - 50000u);
    be16(p + 10, 1000); /* acceleration z, mG */
    be16(p + 12, (unsigned)battery_mv(m->battery_pct));
    size_t at = put_flags(ad, 0);
    return put_ad(ad, at, 0xFF, v, sizeof(v));
}

/* BTHome v2, service data 0xFCD2: info 0x40, then objects in ascending id order (§1.2). */
static size_t encode_bthome(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    uint8_t v[2 + 1 + 2 + 2 + 3 + 3 + 3] = {0xD2, 0xFC, 0x40};
    long t = temp_steps(f, m->temp_c);
    long h = humidity_steps(f, m->humidity_pct);
    v[3] = 0x00; /* packet id */
    v[4] = (uint8_t)m->counter;
    v[5] = 0x01; /* battery, % */
    v[6] = (uint8_t)m->battery_pct;
    v[7] = 0x02; /* temperature, sint16 x 0.01 */
    le16(v + 8, (unsigned)(uint16_t)(int16_t)t);
    v[10] = 0x03; /* humidity, uint16 x 0.01 */
    le16(v + 11, (unsigned)h);
    v[13] = 0x0C; /* voltage, uint16 x 0.001 V */
    le16(v + 14, (unsigned)battery_mv(m->battery_pct));
    size_t at = put_flags(ad, 0);
    return put_ad(ad, at, 0x16, v, sizeof(v));
}

/* pvvx custom, service data 0x181A, 15 bytes all little-endian (§1.3). */
static size_t encode_pvvx(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    uint8_t v[2 + 15] = {0x1A, 0x18};
    uint8_t *p = v + 2;
    for (int b = 0; b < 6; b++)
        p[b] = d->addr[5 - b]; /* MAC, LSB first */
    long t = temp_steps(f, m->temp_c);
    le16(p + 6, (unsigned)(uint16_t)(int16_t)t);
    le16(p + 8, (unsigned)humidity_steps(f, m->humidity_pct));
    le16(p + 10, (unsigned)battery_mv(m->battery_pct));
    p[12] = (uint8_t)m->battery_pct;
    p[13] = (uint8_t)m->counter;
    p[14] = 0; /* flags: no reed switch, no trigger */
    size_t at = put_flags(ad, 0);
    return put_ad(ad, at, 0x16, v, sizeof(v));
}

/* atc1441, service data 0x181A, 13 bytes big-endian (§1.3). */
static size_t encode_atc1441(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    uint8_t v[2 + 13] = {0x1A, 0x18};
    uint8_t *p = v + 2;
    memcpy(p, d->addr, 6); /* MAC, MSB first */
    long t = temp_steps(f, m->temp_c);
    be16(p + 6, (unsigned)(uint16_t)(int16_t)t);
    p[8] = (uint8_t)humidity_steps(f, m->humidity_pct);
    p[9] = (uint8_t)m->battery_pct;
    be16(p + 10, (unsigned)battery_mv(m->battery_pct));
    p[12] = (uint8_t)m->counter;
    size_t at = put_flags(ad, 0);
    return put_ad(ad, at, 0x16, v, sizeof(v));
}

/* Govee H5075 scan response: company id 0xEC88, 00 | packed value (3, BE) | battery | 00 with
 * packed = |deci °C| x 1000 + deci %, bit 23 = negative, battery bit 7 = error (§1.4). */
static size_t encode_govee(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    long deci_c = temp_steps(f, m->temp_c);
    long deci_pct = humidity_steps(f, m->humidity_pct);
    uint32_t packed = (uint32_t)(labs(deci_c) * 1000 + deci_pct) | (deci_c < 0 ? 0x800000u : 0);
    uint8_t v[2 + 6] = {0x88, 0xEC, 0x00, (uint8_t)(packed >> 16), (uint8_t)(packed >> 8),
                        (uint8_t)packed,
                        (uint8_t)((unsigned)m->battery_pct | (m->invalid ? 0x80u : 0u)), 0x00};
    return put_ad(ad, 0, 0xFF, v, sizeof(v));
}

/* Inkbird IBS-TH2 scan response: name "tps", then 9 bytes of manufacturer data with no company
 * id: int16 LE x 0.01 °C | uint16 LE x 0.01 % | probe 0 (internal) | CRC-16 LE of bytes 0-4 |
 * battery % | 06 (unknown; the value in the published "tps" captures) (§1.5). */
static size_t encode_inkbird(const struct device *d, const struct meas *m, uint8_t *ad)
{
    const struct format_info *f = &formats[d->fmt];
    uint8_t v[9];
    long t = temp_steps(f, m->temp_c);
    le16(v, (unsigned)(uint16_t)(int16_t)t);
    le16(v + 2, (unsigned)humidity_steps(f, m->humidity_pct));
    v[4] = 0;
    le16(v + 5, inkbird_crc(v, 5));
    v[7] = (uint8_t)m->battery_pct;
    v[8] = 0x06;
    size_t at = put_ad(ad, 0, 0x09, (const uint8_t *)"tps", 3);
    return put_ad(ad, at, 0xFF, v, sizeof(v));
}

/* The ADV_IND that comes before a scan response: flags, the name (and service list) only. */
static size_t encode_named_adv(const struct device *d, uint8_t *ad)
{
    size_t at = put_flags(ad, 0);
    if (d->fmt == FMT_GOVEE) {
        static const uint8_t uuids[2] = {0x88, 0xEC};
        char name[16];
        snprintf(name, sizeof(name), "GVH5075_%02X%02X", d->addr[4], d->addr[5]);
        at = put_ad(ad, at, 0x09, (const uint8_t *)name, strlen(name));
        return put_ad(ad, at, 0x03, uuids, sizeof(uuids)); /* complete 16-bit UUID list */
    }
    static const uint8_t uuids[2] = {0xF0, 0xFF}; /* Inkbird: incomplete list, 0xFFF0 */
    at = put_ad(ad, at, 0x02, uuids, sizeof(uuids));
    return put_ad(ad, at, 0x09, (const uint8_t *)"tps", 3);
}

static size_t encode_data(const struct device *d, const struct meas *m, uint8_t *ad)
{
    static size_t (*const encoders[FMT_COUNT])(const struct device *, const struct meas *,
                                               uint8_t *) = {
        [FMT_RUUVI5] = encode_ruuvi5, [FMT_RUUVI3] = encode_ruuvi3,
        [FMT_BTHOME] = encode_bthome, [FMT_PVVX] = encode_pvvx,
        [FMT_ATC1441] = encode_atc1441, [FMT_GOVEE] = encode_govee,
        [FMT_INKBIRD] = encode_inkbird,
    };
    return encoders[d->fmt](d, m, ad);
}

/* ---- the self-check --------------------------------------------------------------------- */

static void format_addr(const uint8_t a[6], char out[18])
{
    snprintf(out, 18, "%02X:%02X:%02X:%02X:%02X:%02X", a[0], a[1], a[2], a[3], a[4], a[5]);
}

/* Decodes ad as the gateway will and compares it with what m meant. with_data false: the advert
 * before a scan response, which must decode as nobody's. 0, or -EPROTO after a message. */
static int self_check(const struct device *d, size_t index, int64_t t_ms, const struct meas *m,
                      const uint8_t *ad, size_t ad_len, bool with_data)
{
    const struct format_info *f = &formats[d->fmt];
    struct ble_ad parsed;
    struct ble_values got;
    char what[160] = "";
    int rc = ble_ad_parse(ad, ad_len, &parsed);
    if (rc == 0)
        rc = ble_decode(&parsed, &got);
    if (!with_data) {
        if (rc != BLE_NOT_MINE)
            snprintf(what, sizeof(what), "its advert without data decodes (%d)", rc);
    } else if (rc != 0) {
        snprintf(what, sizeof(what), "does not decode (%d)", rc);
    } else if (strcmp(got.format, f->decoded_as) != 0) {
        snprintf(what, sizeof(what), "decodes as format %s, intended %s", got.format,
                 f->decoded_as);
    } else {
        uint32_t want_faults = m->invalid ? f->invalid_marks : 0;
        uint32_t want_present = f->carries & ~want_faults;
        double want_t = clamp(m->temp_c, f->temp_min_c, f->temp_max_c);
        double want_h = clamp(m->humidity_pct, f->humidity_min_pct, f->humidity_max_pct);
        const double eps = 1e-6;
        if (got.present != want_present || got.faults != want_faults)
            snprintf(what, sizeof(what), "gives values 0x%02x and faults 0x%02x, intended 0x%02x "
                     "and 0x%02x", (unsigned)got.present, (unsigned)got.faults,
                     (unsigned)want_present, (unsigned)want_faults);
        else if ((got.present & BLE_TEMPERATURE) &&
                 fabs(got.temperature_c - want_t) > f->temp_step_c / 2 + eps)
            snprintf(what, sizeof(what), "temperature decodes as %.4f °C, intended %.4f °C",
                     got.temperature_c, want_t);
        else if ((got.present & BLE_HUMIDITY) &&
                 fabs(got.humidity_pct - want_h) > f->humidity_step_pct / 2 + eps)
            snprintf(what, sizeof(what), "humidity decodes as %.4f %%, intended %.4f %%",
                     got.humidity_pct, want_h);
        else if ((got.present & BLE_PRESSURE) && fabs(got.pressure_hpa - PRESSURE_HPA) > eps)
            snprintf(what, sizeof(what), "pressure decodes as %.2f hPa, intended %.2f hPa",
                     got.pressure_hpa, PRESSURE_HPA);
        else if ((got.present & BLE_BATTERY_PCT) && got.battery_pct != m->battery_pct)
            snprintf(what, sizeof(what), "battery decodes as %.0f %%, intended %d %%",
                     got.battery_pct, m->battery_pct);
        else if ((got.present & BLE_BATTERY_MV) && got.battery_mv != battery_mv(m->battery_pct))
            snprintf(what, sizeof(what), "battery decodes as %d mV, intended %d mV",
                     got.battery_mv, battery_mv(m->battery_pct));
        else if ((got.present & BLE_COUNTER) && got.counter != m->counter)
            snprintf(what, sizeof(what), "counter decodes as %u, intended %u",
                     (unsigned)got.counter, (unsigned)m->counter);
    }
    if (what[0] == '\0')
        return 0;
    char addr[18];
    format_addr(d->addr, addr);
    fprintf(stderr, "coldchain-sim ble: self-check failed: %s device %zu (%s) at t=%.3fs: %s\n",
            f->name, index, addr, (double)t_ms / 1000.0, what);
    return -EPROTO;
}

/* ---- the file ----------------------------------------------------------------------------- */

struct writer {
    FILE *f;
    uint32_t datalink;
    size_t reports;
};

/* Writes one record. 0 or -EIO. */
static int write_record(struct writer *w, int64_t ts_ms, uint32_t flags, const uint8_t *data,
                        size_t len)
{
    uint8_t rec[BTSNOOP_RECORD_HEADER_LEN + 128];
    int n = btsnoop_put_record(rec, sizeof(rec), ts_ms, flags, data, len);
    if (n < 0)
        return n;
    return fwrite(rec, 1, (size_t)n, w->f) == (size_t)n ? 0 : -EIO;
}

/* What btmon -w writes first (PROTOCOLS.md §1.10: readers skip non-event opcodes): New Index
 * for hci0 (type 0 primary, bus 0 virtual, address 00:00:00:00:00:00, name "hci0") and a system
 * note on no index (0xFFFF), as the kernel sends its notes. Other datalinks: nothing. */
static int write_preamble(struct writer *w, int64_t ts_ms, const char *scenario_name)
{
    if (w->datalink != BTSNOOP_DATALINK_MONITOR)
        return 0;
    uint8_t new_index[16] = {0x00, 0x00, 0, 0, 0, 0, 0, 0, 'h', 'c', 'i', '0'};
    int rc = write_record(w, ts_ms, BTSNOOP_MONITOR_FLAGS(0, BTSNOOP_OPCODE_NEW_INDEX), new_index,
                          sizeof(new_index));
    if (rc < 0)
        return rc;
    char note[96];
    int n = snprintf(note, sizeof(note), "coldchain-sim ble: simulated adverts, scenario %s",
                     scenario_name);
    if (n < 0 || (size_t)n >= sizeof(note))
        n = (int)sizeof(note) - 1;
    return write_record(w, ts_ms, BTSNOOP_MONITOR_FLAGS(0xFFFF, BTSNOOP_OPCODE_SYSTEM_NOTE),
                        (const uint8_t *)note, (size_t)n + 1); /* with its NUL, as BlueZ's */
}

static int write_report(struct writer *w, int64_t ts_ms, const struct device *d, bool extended,
                        uint16_t legacy_type, const uint8_t *ad, size_t ad_len)
{
    struct hci_le_adv adv = {
        .extended = extended,
        .evt_type = extended ? extended_type(legacy_type) : legacy_type,
        .addr_type = formats[d->fmt].addr_type,
        .rssi = d->rssi,
        .ad = ad,
        .ad_len = ad_len,
    };
    memcpy(adv.addr, d->addr, 6);
    uint8_t ev[64];
    int n = hci_le_put_adv_report(ev, sizeof(ev), w->datalink, &adv);
    if (n < 0)
        return n;
    uint32_t flags = w->datalink == BTSNOOP_DATALINK_MONITOR
                         ? BTSNOOP_MONITOR_FLAGS(0, BTSNOOP_OPCODE_EVENT)
                         : BTSNOOP_FLAGS_RECEIVED_EVENT;
    int rc = write_record(w, ts_ms, flags, ev, (size_t)n);
    if (rc == 0)
        w->reports++;
    return rc;
}

/* The fault in force for device at t_ms: the latest one started less than fault_for ago. */
static enum ble_fault fault_at(const struct options *o, int64_t t_ms, size_t device)
{
    enum ble_fault f = FAULT_NONE;
    for (size_t i = 0; i < o->fault_count; i++) {
        const struct fault_at *x = &o->faults[i];
        if (t_ms >= x->t_ms && t_ms < x->t_ms + o->fault_for_ms &&
            (x->device < 0 || (size_t)x->device == device))
            f = x->kind;
    }
    return f;
}

/* One advertising event of device i at t_ms (since the start). -EPROTO (self-check), -EIO. */
static int advertise(struct writer *w, struct options *o, const struct scenario *sc, size_t i,
                     int64_t t_ms, bool extended)
{
    struct device *d = &o->devices[i];
    const struct format_info *f = &formats[d->fmt];
    enum ble_fault fault = fault_at(o, t_ms, i);
    struct meas m;
    if (fault == FAULT_REPEAT && d->has_last) {
        m = d->last; /* the same measurement, counter and all */
    } else {
        /* A new measurement; a silent device measures too (its counter shows the gap). */
        m.temp_c = scenario_temp_c(sc, t_ms) + DEVICE_OFFSET_C * (double)i;
        m.humidity_pct = o->humidity_pct;
        m.battery_pct = o->battery_pct;
        m.counter = d->next_counter;
        m.invalid = fault == FAULT_INVALID;
        if (f->counter_mod)
            d->next_counter = (d->next_counter + 1) % f->counter_mod;
        d->last = m;
        d->has_last = true;
    }
    if (fault == FAULT_SILENT)
        return 0;
    int64_t ts_ms = o->start_ms + t_ms;
    uint8_t ad[AD_MAX + 1];
    int rc;
    if (f->scan_response) {
        size_t n = encode_named_adv(d, ad);
        rc = self_check(d, i, t_ms, &m, ad, n, false);
        if (rc == 0)
            rc = write_report(w, ts_ms, d, extended, ADV_IND, ad, n);
        if (rc < 0)
            return rc;
        ts_ms += SCAN_RSP_DELAY_MS;
    }
    size_t n = encode_data(d, &m, ad);
    rc = self_check(d, i, t_ms, &m, ad, n, true);
    if (rc == 0)
        rc = write_report(w, ts_ms, d, extended, f->scan_response ? SCAN_RSP : f->legacy_type, ad,
                          n);
    return rc;
}

/* Writes the whole capture to f (the devices' counters advance). 0; -EPROTO (self-check, the
 * message printed); another negative errno for I/O (not printed). */
static int write_capture(FILE *f, struct options *o, const struct scenario *sc,
                         size_t *reports_out)
{
    struct writer w = {.f = f, .datalink = o->datalink};
    uint8_t header[BTSNOOP_HEADER_LEN];
    int rc = btsnoop_put_header(header, sizeof(header), o->datalink);
    if (rc < 0)
        return rc;
    if (fwrite(header, 1, sizeof(header), f) != sizeof(header))
        return -EIO;
    rc = write_preamble(&w, o->start_ms, sc->name);
    int64_t d_count = (int64_t)o->device_count;
    for (int64_t k = 0; rc == 0 && k * o->interval_ms < o->duration_ms; k++) {
        for (size_t i = 0; rc == 0 && i < o->device_count; i++) {
            /* Spread over the interval, so no two devices send at the same ms. */
            int64_t t_ms = k * o->interval_ms + o->interval_ms * (int64_t)i / d_count;
            bool extended = o->reports == REPORTS_EXTENDED ||
                            (o->reports == REPORTS_MIXED && (k + (int64_t)i) % 2 == 1);
            if (t_ms < o->duration_ms)
                rc = advertise(&w, o, sc, i, t_ms, extended);
        }
    }
    *reports_out = w.reports;
    return rc;
}

/* ---- arguments ---------------------------------------------------------------------------- */

static int parse_addr(const char *text, uint8_t addr[6])
{
    unsigned b[6];
    char end;
    if (strlen(text) != 17 || sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2],
                                     &b[3], &b[4], &b[5], &end) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++) {
        if (text[3 * i] == ' ' || text[3 * i] == '+' || text[3 * i] == '-')
            return -EINVAL; /* sscanf's %x would take these */
        addr[i] = (uint8_t)b[i];
    }
    return 0;
}

/* --device FORMAT[=ADDRESS] */
static int add_device(struct options *o, const char *text)
{
    if (o->device_count == MAX_DEVICES)
        return usage_error("--device: at most %d devices", MAX_DEVICES);
    size_t name_len = strcspn(text, "=");
    struct device *d = &o->devices[o->device_count];
    enum format fmt = FMT_COUNT;
    for (int i = 0; i < FMT_COUNT; i++) {
        if (strlen(formats[i].name) == name_len && strncmp(formats[i].name, text, name_len) == 0)
            fmt = (enum format)i;
    }
    if (fmt == FMT_COUNT)
        return usage_error("--device: \"%s\": expected FORMAT[=ADDRESS] with FORMAT one of "
                           "ruuvi5, ruuvi3, bthome, pvvx, atc1441, govee, inkbird", text);
    memset(d, 0, sizeof(*d));
    d->fmt = fmt;
    if (text[name_len] == '=') {
        if (parse_addr(text + name_len + 1, d->addr) < 0)
            return usage_error("--device: \"%s\": expected an address such as A4:C1:38:00:00:01",
                               text + name_len + 1);
        o->addr_given[o->device_count] = true;
    }
    o->device_text[o->device_count++] = text;
    return 0;
}

/* Parses "TIME=KIND[@N],...". */
static int parse_faults(const char *text, struct options *o)
{
    static const char *const kinds[] = {[FAULT_INVALID] = "invalid", [FAULT_SILENT] = "silent",
                                        [FAULT_REPEAT] = "repeat"};
    char *copy = strdup(text);
    if (copy == NULL)
        return -ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && rc == 0;
         item = strtok_r(NULL, ",", &save)) {
        struct fault_at x = {.device = -1};
        char *eq = strchr(item, '=');
        char *at = eq ? strchr(eq, '@') : NULL;
        if (eq)
            *eq = '\0';
        if (at) {
            *at = '\0';
            char *end;
            errno = 0;
            long n = strtol(at + 1, &end, 10);
            if (errno || end == at + 1 || *end || n < 0 || n >= MAX_DEVICES) {
                rc = usage_error("--faults: \"@%s\": expected a device number from 0 (the "
                                 "first) to %d", at + 1, MAX_DEVICES - 1);
                break;
            }
            x.device = (int)n;
        }
        if (!eq || cfg_parse_duration(item, &x.t_ms) < 0) {
            rc = usage_error("--faults: \"%s\": expected TIME=KIND[@N], such as 30s=invalid@2",
                             item);
            break;
        }
        for (size_t k = 1; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            if (strcmp(kinds[k], eq + 1) == 0)
                x.kind = (enum ble_fault)k;
        }
        if (x.kind == FAULT_NONE)
            rc = usage_error("--faults: \"%s\": expected invalid, silent or repeat", eq + 1);
        else if (o->fault_count == MAX_FAULTS)
            rc = usage_error("--faults: at most %d", MAX_FAULTS);
        else
            o->faults[o->fault_count++] = x;
    }
    free(copy);
    return rc;
}

/* A duration in [min_ms, max_ms] for option name. */
static int parse_span(const char *name, const char *text, int64_t min_ms, int64_t max_ms,
                      int64_t *out)
{
    if (cfg_parse_duration(text, out) < 0 || *out < min_ms || *out > max_ms)
        return usage_error("%s: \"%s\": expected a duration from %lldms to %lldms, such as 10s",
                           name, text, (long long)min_ms, (long long)max_ms);
    return 0;
}

static int parse_number(const char *name, const char *text, double min, double max,
                        double *out)
{
    char *end;
    errno = 0;
    *out = strtod(text, &end);
    if (errno || end == text || *end || !isfinite(*out) || *out < min || *out > max)
        return usage_error("%s: \"%s\": expected a number from %g to %g", name, text, min, max);
    return 0;
}

/* Gives devices without an address their format's default, adds the default devices, and
 * checks what depends on the device list. */
static int finish_devices(struct options *o)
{
    if (o->device_count == 0) {
        for (int i = 0; i < FMT_COUNT; i++)
            add_device(o, formats[i].name);
    }
    for (size_t i = 0; i < o->device_count; i++) {
        struct device *d = &o->devices[i];
        if (!o->addr_given[i]) {
            memcpy(d->addr, formats[d->fmt].addr_prefix, 5);
            d->addr[5] = (uint8_t)(i + 1);
        }
        d->rssi = (int8_t)(-55 - 2 * (int)i);
        for (size_t j = 0; j < i; j++) {
            if (memcmp(o->devices[j].addr, d->addr, 6) == 0) {
                char addr[18];
                format_addr(d->addr, addr);
                return usage_error("--device: \"%s\" and \"%s\" both have the address %s",
                                   o->device_text[j], o->device_text[i], addr);
            }
        }
    }
    for (size_t i = 0; i < o->fault_count; i++) {
        if (o->faults[i].device >= (int)o->device_count)
            return usage_error("--faults: \"@%d\": there are %zu devices, 0 to %zu",
                               o->faults[i].device, o->device_count, o->device_count - 1);
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o, struct scenario *sc)
{
    enum {
        OPT_OUT = 256,
        OPT_SCENARIO,
        OPT_SCRIPT,
        OPT_LOOP,
        OPT_START,
        OPT_DURATION,
        OPT_INTERVAL,
        OPT_DATALINK,
        OPT_DEVICE,
        OPT_FAULTS,
        OPT_FAULT_FOR,
        OPT_HUMIDITY,
        OPT_BATTERY,
        OPT_EXTENDED,
        OPT_REPORTS,
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"out", required_argument, NULL, OPT_OUT},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"script", required_argument, NULL, OPT_SCRIPT},
        {"loop", no_argument, NULL, OPT_LOOP},
        {"start", required_argument, NULL, OPT_START},
        {"duration", required_argument, NULL, OPT_DURATION},
        {"interval", required_argument, NULL, OPT_INTERVAL},
        {"datalink", required_argument, NULL, OPT_DATALINK},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"faults", required_argument, NULL, OPT_FAULTS},
        {"fault-for", required_argument, NULL, OPT_FAULT_FOR},
        {"humidity", required_argument, NULL, OPT_HUMIDITY},
        {"battery", required_argument, NULL, OPT_BATTERY},
        {"extended", no_argument, NULL, OPT_EXTENDED},
        {"reports", required_argument, NULL, OPT_REPORTS},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    int opt;
    double v;
    opterr = 0;
    optind = 1;
    /* A leading ':' makes getopt tell a missing value (':') from an unknown option ('?'). */
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
        case OPT_OUT:
            o->out = optarg;
            break;
        case OPT_SCENARIO:
            o->scenario = optarg;
            break;
        case OPT_SCRIPT:
            o->script = optarg;
            break;
        case OPT_LOOP:
            o->loop = true;
            break;
        case OPT_START:
            if (strcmp(optarg, "now") == 0) {
                o->start_ms = clock_wall_ms();
            } else {
                rc = parse_number("--start", optarg, 0, (double)MAX_START_S, &v);
                if (rc == 0 && v != floor(v))
                    rc = usage_error("--start: \"%s\": expected now or whole Unix seconds",
                                     optarg);
                o->start_ms = (int64_t)v * 1000;
            }
            break;
        case OPT_DURATION:
            rc = parse_span("--duration", optarg, 1000, MAX_SPAN_MS, &o->duration_ms);
            o->duration_text = optarg;
            break;
        case OPT_INTERVAL:
            rc = parse_span("--interval", optarg, MIN_INTERVAL_MS, 3600 * 1000, &o->interval_ms);
            break;
        case OPT_FAULT_FOR:
            rc = parse_span("--fault-for", optarg, 1, MAX_SPAN_MS, &o->fault_for_ms);
            break;
        case OPT_DATALINK:
            if (strcmp(optarg, "2001") == 0 || strcmp(optarg, "1002") == 0 ||
                strcmp(optarg, "1001") == 0)
                o->datalink = (uint32_t)atoi(optarg);
            else
                rc = usage_error("--datalink: \"%s\": expected 2001 (btmon), 1002 (H4) or 1001 "
                                 "(HCI)", optarg);
            break;
        case OPT_DEVICE:
            rc = add_device(o, optarg);
            break;
        case OPT_FAULTS:
            rc = parse_faults(optarg, o);
            break;
        case OPT_HUMIDITY:
            rc = parse_number("--humidity", optarg, 0.0, 100.0, &o->humidity_pct);
            break;
        case OPT_BATTERY:
            rc = parse_number("--battery", optarg, 0.0, 100.0, &v);
            if (rc == 0 && v != floor(v))
                rc = usage_error("--battery: \"%s\": expected a whole percentage", optarg);
            o->battery_pct = (int)v;
            break;
        case OPT_EXTENDED:
            o->reports = REPORTS_EXTENDED;
            break;
        case OPT_REPORTS:
            if (strcmp(optarg, "legacy") == 0)
                o->reports = REPORTS_LEGACY;
            else if (strcmp(optarg, "extended") == 0)
                o->reports = REPORTS_EXTENDED;
            else if (strcmp(optarg, "mixed") == 0)
                o->reports = REPORTS_MIXED;
            else
                rc = usage_error("--reports: \"%s\": expected legacy, extended or mixed", optarg);
            break;
        case OPT_HELP:
            print_usage(stdout);
            return 1;
        case ':':
            return usage_error("option \"%s\" needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (o->out == NULL)
        return usage_error("%s", "--out FILE is needed: where to write the capture");
    char err[256];
    if (scenario_load(sc, o->scenario, o->script, o->loop, err, sizeof(err)) < 0)
        return usage_error("%s", err);
    return finish_devices(o);
}

int sim_ble_main(int argc, char **argv, void (*usage)(FILE *out),
                 int (*usage_err)(const char *fmt, ...) __attribute__((format(printf, 1, 2))))
{
    static struct options o; /* a few kB: kept off the stack */
    static struct scenario sc;
    memset(&o, 0, sizeof(o));
    o.start_ms = clock_wall_ms();
    o.duration_ms = 2 * 60 * 1000;
    o.duration_text = "2m";
    o.interval_ms = 1000;
    o.datalink = BTSNOOP_DATALINK_MONITOR;
    o.reports = REPORTS_LEGACY;
    o.fault_for_ms = 10 * 1000;
    o.humidity_pct = 45.0;
    o.battery_pct = 90;
    print_usage = usage;
    usage_error = usage_err;

    int rc = parse_options(argc, argv, &o, &sc);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;

    char tmp[PATH_MAX];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", o.out, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        usage_error("--out: \"%s\": the path is too long", o.out);
        return EXIT_USAGE;
    }
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        fprintf(stderr, "coldchain-sim ble: cannot create %s: %s\n", tmp, strerror(errno));
        return EXIT_FAILED;
    }
    size_t reports = 0;
    rc = write_capture(f, &o, &sc, &reports);
    if (fclose(f) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, o.out) != 0)
        rc = -errno;
    if (rc < 0) {
        if (rc != -EPROTO) /* the self-check said what went wrong */
            fprintf(stderr, "coldchain-sim ble: cannot write %s: %s\n", o.out, strerror(-rc));
        unlink(tmp);
        return EXIT_FAILED;
    }
    char start[32];
    printf("sim: ble wrote %zu adverts from %zu devices to %s (datalink %u, start %s, "
           "duration %s)\n",
           reports, o.device_count, o.out, (unsigned)o.datalink,
           clock_format_rfc3339(o.start_ms, start, sizeof(start)), o.duration_text);
    return 0;
}
