/* coldchain-sim: simulated sensors for tests, the demo and bench work (DESIGN §1, §9).
 *
 * modbus-tcp: a libmodbus TCP slave on a loopback port, serving several clients from one
 * select() loop (the shape of libmodbus's tests/bandwidth-server-many-up.c). It answers only
 * its --unit; a request for any other unit gets no answer at all, as from an absent device on
 * an RS-485 line behind a gateway, so clients can test their timeouts. Registers (PDU
 * addresses, PROTOCOLS.md §3):
 *   input   0x0001       temperature, int16 x10 °C, rounded     (XY-MD02 layout, §3.1)
 *   input   0x0002       relative humidity, int16 x10 %         (XY-MD02)
 *   input   0x0100-0101  temperature, float32 CDAB (low word first, Vaisala style, §3.2)
 *   holding 0x0000-0001  relative humidity, float32 CDAB     (Vaisala HMP map, §3.2)
 *   holding 0x0002-0003  temperature, float32 CDAB             (Vaisala HMP map)
 *   holding 0x0101       the unit id; 0x0102 baud code 0 (9600) (XY-MD02 settings)
 *   holding 0x1F00-1F06  Vaisala test registers: int16 -12345, float32 CDAB -123.45,
 *                        string "-123.45"
 * Anything else answers "illegal data address". The temperature follows a scenario:
 * piecewise-linear keyframes (time since start on CLOCK_MONOTONIC -> °C) that hold the last
 * value after the end, or start over with --loop. Registers are refreshed before each reply.
 * Floats are encoded here by hand: Debian 12's libmodbus 3.1.6 modbus_set_float_*() write the
 * wrong byte order (PROTOCOLS §3.3), and a simulator that agreed with a buggy client would let
 * the tests pass on wrong data.
 *
 * Exit: 0 on SIGINT/SIGTERM, 1 when it cannot serve (port in use, ...), 2 on bad arguments. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
/* With its directory: sensors/ (on the include path) has a modbus.h of its own. */
#include <modbus/modbus.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <poll.h>
#include <termios.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfgjson.h"
#include "clock.h"
#include "version.h"
#include "modbus_decode.h"
#include "scenario.h"
#include "sim_ble.h"
#include "w1_decode.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2

#define LISTEN_BACKLOG 16
#define PRINT_INTERVAL_MS 1000

/* Register map (see the top of the file). */
#define REG_TEMP 0x0001
#define REG_HUMIDITY 0x0002
#define REG_FLOAT_TEMP 0x0100
#define INPUT_REG_COUNT (REG_FLOAT_TEMP + 2)
#define HOLD_HMP_RH 0x0000
#define HOLD_HMP_T 0x0002
#define HOLD_UNIT 0x0101
#define HOLD_BAUD 0x0102
#define HOLD_VAISALA_INT 0x1F00
#define HOLD_VAISALA_FLOAT 0x1F01
#define HOLD_VAISALA_STRING 0x1F03
#define HOLD_REG_COUNT (HOLD_VAISALA_STRING + 4)

#define MAX_PROBES 8
#define MAX_FAULTS 32
#define W1_WRITE_MS 200 /* how often the fake tree is rewritten */

/* A fault the w1 simulator puts in its files for a while (PROTOCOLS.md §2.1). */
enum w1_sim_fault {
    W1_SIM_OK,
    W1_SIM_CRC,     /* w1: kernel verdict NO (old kernels); modbus-rtu: a corrupt reply CRC */
    W1_SIM_85,      /* the power-on value, with a valid CRC */
    W1_SIM_127,     /* 127.9375 °C: insufficient power, valid CRC */
    W1_SIM_ZERO,    /* all-zero scratchpad: passes the CRC */
    W1_SIM_EMPTY,   /* zero-length read (current kernels after failed retries) */
    W1_SIM_MISSING, /* the probe's folder is gone: unplugged */
    W1_SIM_GARBAGE, /* not w1_therm text at all */
    MB_SIM_TIMEOUT,   /* modbus-rtu: the devices do not answer */
    MB_SIM_EXCEPTION, /* modbus-rtu: exception 04, server device failure */
};
#define MAX_UNITS 8
#define MAX_EXTRA_REGS 32

/* --register FUNCTION:ADDRESS:TYPE[:ORDER[:SCALE]]: the scenario temperature served at another
 * place in any register type and word order, as a counts value (temperature / scale). The
 * encoding is written here, apart from the gateway's decoder, so a test of one checks the other. */
struct extra_reg {
    bool holding;
    uint16_t address;
    enum modbus_value_type type;
    enum modbus_word_order order;
    double scale;
};

struct w1_fault_at {
    int64_t t_ms;
    enum w1_sim_fault kind;
    int unit; /* modbus-rtu: only this unit ("10s=timeout@2"); 0 = every unit */
};

struct options {
    struct extra_reg extra[MAX_EXTRA_REGS];
    size_t extra_count;
    const char *device;
    int units[MAX_UNITS];
    size_t unit_count;
    int baud;
    const char *root;
    const char *probes[MAX_PROBES];
    size_t probe_count;
    struct w1_fault_at faults[MAX_FAULTS];
    size_t fault_count;
    int64_t fault_for_ms;
    const char *host;
    int port;
    const char *port_file;
    int unit;
    const char *scenario;
    const char *script;
    bool loop;
    double humidity_pct;
    bool quiet;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: coldchain-sim modbus-tcp [options]\n"
                 "       coldchain-sim w1 --root DIR --probe ID [--probe ID ...] [options]\n"
                 "       coldchain-sim modbus-rtu --device TTY [--unit N ...] [options]\n"
                 "       coldchain-sim ble --out FILE [--device FORMAT[=ADDRESS] ...] [options]\n"
                 "       coldchain-sim --version | --help\n"
                 "\n"
                 "A Modbus TCP fridge probe (XY-MD02 registers, plus a Vaisala-style float).\n"
                 "  --host ADDR        IPv4 address to listen on (default 127.0.0.1)\n"
                 "  --port N           TCP port, 0 picks a free one (default 1502)\n"
                 "  --port-file FILE   write the port there once listening (atomically)\n"
                 "  --unit N           Modbus unit id 1..247 answered (default 1)\n"
                 "  --scenario NAME    steady, excursion or freeze (default steady)\n"
                 "  --script KEYS      keyframes TIME=°C, e.g. \"0s=5.0,10s=5.0,20s=10.5\"\n"
                 "  --loop             start the scenario over at its end (default: hold)\n"
                 "  --humidity PCT     relative humidity 0..100 (default 45.0)\n"
                 "  --register SPEC    also serve the temperature as FUNCTION:ADDRESS:TYPE[:ORDER\n"
                 "                     [:SCALE]], e.g. input:0x0200:int32:cdab:0.01 (repeatable;\n"
                 "                     addresses up to 0x0101 input, 0x1F07 holding)\n"
                 "  --quiet            no line per second\n"
                 "  --version, --help\n"
                 "\n"
                 "w1: a fake Linux w1 sysfs tree (DIR/ID/w1_slave and DIR/ID/temperature, rewritten\n"
                 "every 200 ms, atomically) for DS18B20 (28-...), DS18S20 (10-...) and kin, along\n"
                 "the same scenarios.\n"
                 "  --root DIR         the devices folder to write (created if missing)\n"
                 "  --probe ID         a device folder name such as 28-000006b67845 (up to 8)\n"
                 "  --faults KEYS      TIME=KIND, e.g. \"10s=crc,20s=85\"; KIND: crc, 85, 127, zero,\n"
                 "                     empty, missing (folder removed), garbage\n"
                 "  --fault-for TIME   how long each fault lasts (default 3s)\n"
                 "  --scenario, --script, --loop, --quiet as above\n"
                 "\n"
                 "modbus-rtu: the same registers over a serial line (a pty from socat in tests), for\n"
                 "several units on one bus; unit number i (0-based, in the order given) reads the\n"
                 "scenario plus 0.5 °C x i. Frames are built here (CRC-16/MODBUS), so faults can be\n"
                 "put in: --faults \"10s=timeout,20s=exception,30s=crc\" (each for --fault-for);\n"
                 "KIND@N limits a fault to unit N: \"10s=timeout@2\" (one dead device on the line).\n"
                 "  --device TTY       the serial device to serve on\n"
                 "  --unit N           a unit id to answer (repeat for several; default 1)\n"
                 "  --baud N           line speed (default 9600; a pty ignores it)\n");
    fprintf(out, "\n"
                 "ble: BLE thermometer adverts along the scenario, written as a btsnoop capture\n"
                 "(what `btmon -w` writes) for replay; every advert is decoded back before it is\n"
                 "written, and a mismatch stops the run (exit 1). Nothing is sent on air.\n"
                 "  --out FILE         the capture to write (atomically: a temp file, renamed)\n"
                 "  --device FORMAT[=ADDRESS]\n"
                 "                     a device (repeatable, up to 16); FORMAT: ruuvi5, ruuvi3,\n"
                 "                     bthome, pvvx, atc1441, govee (H5075), inkbird (IBS-TH2\n"
                 "                     \"tps\"). Default: one of each, in that order.\n"
                 "                     Without ADDRESS, device N (from 1) gets its format's\n"
                 "                     prefix and last byte N: D0:00:00:00:00:N (ruuvi, random),\n"
                 "                     A4:C1:38:00:00:N (bthome, pvvx, atc1441, govee),\n"
                 "                     49:42:07:00:00:N (inkbird). Device i (from 0) reads the\n"
                 "                     scenario plus 0.5 °C x i, rounded to its format's step\n"
                 "  --start now|UNIX_SECONDS  time of the first record (default now)\n"
                 "  --duration TIME    length of the capture (default 2m)\n"
                 "  --interval TIME    between two adverts of one device (default 1s, >= 100ms);\n"
                 "                     the devices' adverts are spread over it\n"
                 "  --datalink N       2001 (btmon, default), 1002 (H4 UART) or 1001 (HCI)\n"
                 "  --reports KIND     legacy (LE Advertising Report, default), extended (LE\n"
                 "                     Extended Advertising Report) or mixed (alternating)\n"
                 "  --extended         the same as --reports extended\n"
                 "  --faults KEYS      TIME=KIND[@N],..., e.g. \"30s=invalid@2,90s=repeat\"\n"
                 "                     (@N: device N only, from 0; else every device). KIND:\n"
                 "                     invalid: the format's not-available marker (ruuvi5:\n"
                 "                       temperature 0x8000, humidity and pressure 0xFFFF; govee:\n"
                 "                       the error bit); ruuvi3, bthome, pvvx, atc1441 and\n"
                 "                       inkbird have no such marker: their values go unchanged\n"
                 "                     silent: no adverts (the device's counter runs on)\n"
                 "                     repeat: the last measurement and its counter again\n"
                 "  --fault-for TIME   how long each fault lasts (default 10s)\n"
                 "  --humidity PCT     relative humidity 0..100 (default 45.0)\n"
                 "  --battery PCT      battery level 0..100 (default 90; as mV: 2200 + 9 x PCT)\n"
                 "  --scenario, --script, --loop as above\n");
}

/* Says what is wrong, then how to call us. Returns -EINVAL (exit status 2 in main). */
__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "coldchain-sim: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n");
    usage(stderr);
    return -EINVAL;
}

/* Parses a whole decimal integer in [min, max]. */
static int parse_int(const char *text, long min, long max, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || v < min || v > max)
        return -EINVAL;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Parses "input:0x0200:int32:cdab:0.01". */
static int parse_register(const char *text, struct options *o)
{
    char copy[128], *save = NULL;
    struct extra_reg r = {.order = MODBUS_ORDER_ABCD, .scale = 1.0};
    if (o->extra_count == MAX_EXTRA_REGS)
        return usage_error("--register: at most %d", MAX_EXTRA_REGS);
    snprintf(copy, sizeof(copy), "%s", text);
    char *fn = strtok_r(copy, ":", &save), *addr = strtok_r(NULL, ":", &save),
         *type = strtok_r(NULL, ":", &save), *order = strtok_r(NULL, ":", &save),
         *scale = strtok_r(NULL, ":", &save);
    char *end = NULL;
    long a = addr ? strtol(addr, &end, 0) : -1;
    if (!fn || !type || (strcmp(fn, "input") && strcmp(fn, "holding")) || !end || *end ||
        a < 0 || a > INPUT_REG_COUNT + 0x1000 ||
        modbus_value_type_parse(type, &r.type) < 0 ||
        (order && modbus_word_order_parse(order, &r.order) < 0) ||
        (scale && parse_double(scale, -1e9, 1e9, &r.scale) < 0) || r.scale == 0)
        return usage_error("--register: \"%s\": expected FUNCTION:ADDRESS:TYPE[:ORDER[:SCALE]], "
                           "e.g. input:0x0200:int32:cdab:0.01", text);
    r.holding = strcmp(fn, "holding") == 0;
    r.address = (uint16_t)a;
    o->extra[o->extra_count++] = r;
    return 0;
}

/* Parses "TIME=KIND,..." for the w1 simulator. */
static int parse_faults(const char *text, struct options *o)
{
    static const struct {
        const char *name;
        enum w1_sim_fault kind;
    } kinds[] = {{"crc", W1_SIM_CRC},          {"85", W1_SIM_85},
                 {"127", W1_SIM_127},          {"zero", W1_SIM_ZERO},
                 {"empty", W1_SIM_EMPTY},      {"missing", W1_SIM_MISSING},
                 {"garbage", W1_SIM_GARBAGE},  {"timeout", MB_SIM_TIMEOUT},
                 {"exception", MB_SIM_EXCEPTION}};
    char *copy = strdup(text);
    int rc = 0;
    if (copy == NULL)
        return -ENOMEM;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        struct w1_fault_at f = {0};
        if (eq == NULL) {
            rc = usage_error("--faults: \"%s\": expected TIME=KIND, such as 10s=crc", item);
            break;
        }
        *eq = '\0';
        if (cfg_parse_duration(item, &f.t_ms) < 0) {
            rc = usage_error("--faults: \"%s\": expected a time such as 10s", item);
            break;
        }
        char *at = strchr(eq + 1, '@');
        if (at != NULL) {
            *at = '\0';
            if (parse_int(at + 1, 1, 247, &f.unit) < 0) {
                rc = usage_error("--faults: \"@%s\": expected a unit id from 1 to 247", at + 1);
                break;
            }
        }
        for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
            if (strcmp(kinds[i].name, eq + 1) == 0)
                f.kind = kinds[i].kind;
        }
        if (f.kind == W1_SIM_OK) {
            rc = usage_error("--faults: \"%s\": expected crc, 85, 127, zero, empty, missing, "
                             "garbage (w1) or timeout, exception, crc (modbus-rtu)", eq + 1);
            break;
        }
        if (o->fault_count == MAX_FAULTS) {
            rc = usage_error("--faults: at most %d", MAX_FAULTS);
            break;
        }
        o->faults[o->fault_count++] = f;
    }
    free(copy);
    return rc;
}

/* A value x10, rounded, as the int16 register the XY-MD02 sends (two's complement). */
static uint16_t x10_register(double value)
{
    long v = lround(value * 10.0);
    if (v < INT16_MIN)
        v = INT16_MIN;
    if (v > INT16_MAX)
        v = INT16_MAX;
    return (uint16_t)v; /* conversion to unsigned is modulo 2^16: two's complement */
}

/* A float32 in CDAB order (low word first), by hand: see the top of the file. */
static void put_float_cdab(uint16_t *regs, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof(bits));
    regs[0] = (uint16_t)(bits & 0xFFFF);
    regs[1] = (uint16_t)(bits >> 16);
}

/* The 32 bits A B C D (A most significant) laid across two registers in order. */
static void put_u32(uint16_t *regs, uint32_t v, enum modbus_word_order order)
{
    uint16_t hi = (uint16_t)(v >> 16), lo = (uint16_t)v;
    uint16_t swap_hi = (uint16_t)(hi << 8 | hi >> 8), swap_lo = (uint16_t)(lo << 8 | lo >> 8);
    switch (order) {
    case MODBUS_ORDER_ABCD: regs[0] = hi; regs[1] = lo; break;
    case MODBUS_ORDER_CDAB: regs[0] = lo; regs[1] = hi; break;
    case MODBUS_ORDER_BADC: regs[0] = swap_hi; regs[1] = swap_lo; break;
    case MODBUS_ORDER_DCBA: regs[0] = swap_lo; regs[1] = swap_hi; break;
    default: break;
    }
}

static void put_extra(modbus_mapping_t *map, const struct options *o, double temp_c)
{
    for (size_t i = 0; o && i < o->extra_count; i++) {
        const struct extra_reg *r = &o->extra[i];
        uint16_t *tab = r->holding ? map->tab_registers : map->tab_input_registers;
        int nb = r->holding ? map->nb_registers : map->nb_input_registers;
        if ((int)r->address + 2 > nb)
            continue;
        double counts = temp_c / r->scale;
        uint32_t bits;
        switch (r->type) {
        case MODBUS_VALUE_INT16:
            tab[r->address] = (uint16_t)(int16_t)lround(counts);
            continue;
        case MODBUS_VALUE_UINT16:
            tab[r->address] = (uint16_t)lround(counts);
            continue;
        case MODBUS_VALUE_INT32:
            bits = (uint32_t)(int32_t)lround(counts);
            break;
        case MODBUS_VALUE_UINT32:
            bits = (uint32_t)llround(counts);
            break;
        case MODBUS_VALUE_FLOAT32: {
            float f = (float)counts;
            memcpy(&bits, &f, sizeof(bits));
            break;
        }
        default:
            continue;
        }
        put_u32(&tab[r->address], bits, r->order);
    }
}

static const struct options *extra_opts; /* for update_registers: the --register list */

static void update_registers(modbus_mapping_t *map, double temp_c, double humidity_pct)
{
    put_extra(map, extra_opts, temp_c);
    map->tab_input_registers[REG_TEMP] = x10_register(temp_c);
    map->tab_input_registers[REG_HUMIDITY] = x10_register(humidity_pct);
    put_float_cdab(&map->tab_input_registers[REG_FLOAT_TEMP], (float)temp_c);
    put_float_cdab(&map->tab_registers[HOLD_HMP_RH], (float)humidity_pct);
    put_float_cdab(&map->tab_registers[HOLD_HMP_T], (float)temp_c);
}

static void init_holding(modbus_mapping_t *map, int unit)
{
    static const char vaisala_text[8] = "-123.45";
    uint16_t *hold = map->tab_registers;
    hold[HOLD_UNIT] = (uint16_t)unit;
    hold[HOLD_BAUD] = 0;
    hold[HOLD_VAISALA_INT] = (uint16_t)(65536 - 12345);  /* int16 -12345 = 0xCFC7 */
    put_float_cdab(&hold[HOLD_VAISALA_FLOAT], -123.45f); /* E666 C2F6 */
    for (size_t i = 0; i < 4; i++)
        hold[HOLD_VAISALA_STRING + i] = (uint16_t)(((unsigned char)vaisala_text[2 * i] << 8) |
                                                   (unsigned char)vaisala_text[2 * i + 1]);
}

/* Writes the port to path through a temporary file and rename(), so a reader never sees a
 * half-written number. */
static int write_port_file(const char *path, int port)
{
    char tmp[PATH_MAX];
    FILE *f = NULL;
    int rc = 0;
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
        rc = -ENAMETOOLONG;
        goto out;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        rc = -errno;
        goto out;
    }
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0) {
        f = NULL;
        rc = -errno;
        unlink(tmp);
        goto out;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        unlink(tmp);
    }
out:
    return rc;
}

static int parse_options(int argc, char **argv, struct options *o, struct scenario *sc)
{
    enum {
        OPT_HOST = 256,
        OPT_PORT,
        OPT_PORT_FILE,
        OPT_UNIT,
        OPT_SCENARIO,
        OPT_SCRIPT,
        OPT_LOOP,
        OPT_HUMIDITY,
        OPT_QUIET,
        OPT_HELP,
        OPT_VERSION,
        OPT_ROOT,
        OPT_PROBE,
        OPT_FAULTS,
        OPT_FAULT_FOR,
        OPT_DEVICE,
        OPT_BAUD,
        OPT_REGISTER
    };
    static const struct option longopts[] = {
        {"host", required_argument, NULL, OPT_HOST},
        {"port", required_argument, NULL, OPT_PORT},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"unit", required_argument, NULL, OPT_UNIT},
        {"scenario", required_argument, NULL, OPT_SCENARIO},
        {"script", required_argument, NULL, OPT_SCRIPT},
        {"loop", no_argument, NULL, OPT_LOOP},
        {"humidity", required_argument, NULL, OPT_HUMIDITY},
        {"quiet", no_argument, NULL, OPT_QUIET},
        {"help", no_argument, NULL, OPT_HELP},
        {"version", no_argument, NULL, OPT_VERSION},
        {"root", required_argument, NULL, OPT_ROOT},
        {"probe", required_argument, NULL, OPT_PROBE},
        {"faults", required_argument, NULL, OPT_FAULTS},
        {"fault-for", required_argument, NULL, OPT_FAULT_FOR},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"baud", required_argument, NULL, OPT_BAUD},
        {"register", required_argument, NULL, OPT_REGISTER},
        {NULL, 0, NULL, 0},
    };
    struct in_addr addr;
    int opt;

    opterr = 0;
    optind = 1;
    /* A leading ':' makes getopt tell a missing value (':') from an unknown option ('?'). */
    while ((opt = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_HOST:
            if (inet_pton(AF_INET, optarg, &addr) != 1)
                return usage_error("--host: \"%s\": expected an IPv4 address", optarg);
            o->host = optarg;
            break;
        case OPT_PORT:
            if (parse_int(optarg, 0, 65535, &o->port) < 0)
                return usage_error("--port: \"%s\": expected 0 (any free port) to 65535", optarg);
            break;
        case OPT_PORT_FILE:
            o->port_file = optarg;
            break;
        case OPT_UNIT:
            if (parse_int(optarg, 1, 247, &o->unit) < 0)
                return usage_error("--unit: \"%s\": expected a unit id from 1 to 247", optarg);
            if (o->unit_count == MAX_UNITS)
                return usage_error("--unit: at most %d units", MAX_UNITS);
            o->units[o->unit_count++] = o->unit;
            break;
        case OPT_DEVICE:
            o->device = optarg;
            break;
        case OPT_REGISTER:
            if (parse_register(optarg, o) < 0)
                return -EINVAL;
            break;
        case OPT_BAUD:
            if (parse_int(optarg, 1200, 115200, &o->baud) < 0)
                return usage_error("--baud: \"%s\": expected 1200 to 115200", optarg);
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
        case OPT_HUMIDITY:
            if (parse_double(optarg, 0.0, 100.0, &o->humidity_pct) < 0)
                return usage_error("--humidity: \"%s\": expected a percentage from 0 to 100",
                                   optarg);
            break;
        case OPT_QUIET:
            o->quiet = true;
            break;
        case OPT_HELP:
            usage(stdout);
            return 1;
        case OPT_VERSION:
            printf("coldchain-sim %s\n", COLDCHAIN_VERSION);
            return 1;
        case OPT_ROOT:
            o->root = optarg;
            break;
        case OPT_PROBE: {
            uint8_t family;
            if (w1_parse_id(optarg, &family) < 0)
                return usage_error("--probe: \"%s\": expected a device folder name such as "
                                   "28-000006b67845", optarg);
            if (o->probe_count == MAX_PROBES)
                return usage_error("--probe: at most %d probes", MAX_PROBES);
            o->probes[o->probe_count++] = optarg;
            break;
        }
        case OPT_FAULTS:
            if (parse_faults(optarg, o) < 0)
                return -EINVAL;
            break;
        case OPT_FAULT_FOR:
            if (cfg_parse_duration(optarg, &o->fault_for_ms) < 0 || o->fault_for_ms <= 0)
                return usage_error("--fault-for: \"%s\": expected a duration such as 3s", optarg);
            break;
        case ':':
            return usage_error("option \"%s\" needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option \"%s\"", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    char err[256];
    if (scenario_load(sc, o->scenario, o->script, o->loop, err, sizeof(err)) < 0)
        return usage_error("%s", err);
    return 0;
}

/* Blocks SIGINT and SIGTERM and returns a signalfd for them, so that the select() loop sees a
 * stop request as a readable fd: no handler, no race between a flag check and select(). */
static int open_signalfd(void)
{
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0)
        return -errno;
    int fd = signalfd(-1, &mask, SFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

static int serve_modbus_tcp(const struct options *o, const struct scenario *sc)
{
    modbus_t *ctx = NULL;
    modbus_mapping_t *map = NULL;
    uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
    fd_set clients;
    int server = -1;
    int sigfd = -1;
    int fdmax;
    int rc = EXIT_FAILED;
    bool port_file_written = false;

    FD_ZERO(&clients);
    sigfd = open_signalfd();
    if (sigfd < 0) {
        fprintf(stderr, "coldchain-sim: signalfd: %s\n", strerror(-sigfd));
        goto out;
    }
    ctx = modbus_new_tcp(o->host, o->port);
    map = modbus_mapping_new(0, 0, HOLD_REG_COUNT, INPUT_REG_COUNT);
    if (ctx == NULL || map == NULL) {
        fprintf(stderr, "coldchain-sim: cannot set up libmodbus: %s\n", modbus_strerror(errno));
        goto out;
    }
    init_holding(map, o->unit);
    int64_t start_mono_ms = clock_mono_ms();
    update_registers(map, scenario_temp_c(sc, 0), o->humidity_pct);

    server = modbus_tcp_listen(ctx, LISTEN_BACKLOG);
    if (server < 0) {
        fprintf(stderr, "coldchain-sim: cannot listen on %s:%d: %s\n", o->host, o->port,
                modbus_strerror(errno));
        goto out;
    }
    struct sockaddr_in bound;
    socklen_t bound_len = sizeof(bound);
    if (getsockname(server, (struct sockaddr *)&bound, &bound_len) != 0) {
        fprintf(stderr, "coldchain-sim: getsockname: %s\n", strerror(errno));
        goto out;
    }
    int port = ntohs(bound.sin_port);
    if (o->port_file != NULL) {
        int wrc = write_port_file(o->port_file, port);
        if (wrc < 0) {
            fprintf(stderr, "coldchain-sim: cannot write %s: %s\n", o->port_file, strerror(-wrc));
            goto out;
        }
        port_file_written = true;
    }
    printf("sim: modbus-tcp listening on %s:%d unit %d scenario %s\n", o->host, port, o->unit,
           sc->name);

    fdmax = server > sigfd ? server : sigfd;
    int64_t next_print_mono_ms = start_mono_ms;
    for (;;) {
        int64_t now_mono_ms = clock_mono_ms();
        if (!o->quiet && now_mono_ms >= next_print_mono_ms) {
            double t_s = (double)(now_mono_ms - start_mono_ms) / 1000.0;
            printf("sim: t=%.1fs temperature %.2f °C humidity %.1f %%\n", t_s,
                   scenario_temp_c(sc, now_mono_ms - start_mono_ms), o->humidity_pct);
            /* On the grid from the start; a stall skips lines rather than bursting them. */
            while (next_print_mono_ms <= now_mono_ms)
                next_print_mono_ms += PRINT_INTERVAL_MS;
        }
        int64_t wait_ms = o->quiet ? PRINT_INTERVAL_MS : next_print_mono_ms - now_mono_ms;
        struct timeval tv = {.tv_sec = wait_ms / 1000, .tv_usec = (wait_ms % 1000) * 1000};
        fd_set readable = clients;
        FD_SET(server, &readable);
        FD_SET(sigfd, &readable);
        int n = select(fdmax + 1, &readable, NULL, NULL, &tv);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "coldchain-sim: select: %s\n", strerror(errno));
            goto out;
        }
        if (FD_ISSET(sigfd, &readable)) {
            struct signalfd_siginfo si;
            if (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si) && !o->quiet)
                printf("sim: %s, stopping\n", strsignal((int)si.ssi_signo));
            rc = 0;
            goto out;
        }
        if (FD_ISSET(server, &readable)) {
            int fd = accept4(server, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= FD_SETSIZE) {
                close(fd); /* select() cannot watch it; the client sees its connection closed */
            } else if (fd >= 0) {
                FD_SET(fd, &clients);
                if (fd > fdmax)
                    fdmax = fd;
            }
        }
        for (int fd = 0; fd <= fdmax; fd++) {
            if (fd == server || fd == sigfd || !FD_ISSET(fd, &readable) || !FD_ISSET(fd, &clients))
                continue;
            modbus_set_socket(ctx, fd);
            int len = modbus_receive(ctx, query);
            if (len > 0) {
                /* The MBAP header's last byte is the unit identifier. */
                int unit = query[modbus_get_header_length(ctx) - 1];
                if (unit != o->unit)
                    continue;
                int64_t t_ms = clock_mono_ms() - start_mono_ms;
                update_registers(map, scenario_temp_c(sc, t_ms), o->humidity_pct);
                if (modbus_reply(ctx, query, len, map) >= 0)
                    continue;
            } else if (len == 0) {
                continue; /* a request libmodbus ignored */
            }
            /* Closed by the client, or broken: forget it. */
            close(fd);
            FD_CLR(fd, &clients);
        }
    }
out:
    for (int fd = 0; fd < FD_SETSIZE; fd++) {
        if (FD_ISSET(fd, &clients))
            close(fd);
    }
    if (server >= 0)
        close(server);
    if (port_file_written && rc == 0)
        unlink(o->port_file);
    modbus_mapping_free(map);
    if (ctx != NULL)
        modbus_free(ctx);
    if (sigfd >= 0)
        close(sigfd);
    return rc;
}

/* The fault in force at t_ms (the latest one started less than fault_for ago). */
static enum w1_sim_fault fault_at(const struct options *o, int64_t t_ms, int unit)
{
    enum w1_sim_fault f = W1_SIM_OK;
    for (size_t i = 0; i < o->fault_count; i++) {
        if (t_ms >= o->faults[i].t_ms && t_ms < o->faults[i].t_ms + o->fault_for_ms &&
            (o->faults[i].unit == 0 || o->faults[i].unit == unit))
            f = o->faults[i].kind;
    }
    return f;
}

/* ---- modbus-rtu: frames built here -------------------------------------------------------- */

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF), sent low byte first. */
static uint16_t crc16_modbus(const uint8_t *b, size_t len)
{
    uint16_t crc = 0xFFFF;
    for (size_t i = 0; i < len; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
    }
    return crc;
}

static int write_all(int fd, const uint8_t *b, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, b, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Answers one 8-byte read request (functions 3 and 4) for the units served; anything else is
 * ignored, as a device on a shared line ignores what is not for it. */
static int rtu_answer(int fd, const uint8_t req[8], const struct options *o,
                      modbus_mapping_t *const maps[], enum w1_sim_fault fault)
{
    size_t u = 0;
    while (u < o->unit_count && o->units[u] != req[0])
        u++;
    uint16_t crc = (uint16_t)(req[6] | req[7] << 8);
    if (u == o->unit_count || crc16_modbus(req, 6) != crc || fault == MB_SIM_TIMEOUT)
        return 0;
    uint8_t fn = req[1];
    unsigned start = (unsigned)req[2] << 8 | req[3], count = (unsigned)req[4] << 8 | req[5];
    uint8_t reply[3 + 2 * MODBUS_MAX_READ_REGISTERS + 2];
    size_t len;
    const uint16_t *regs = fn == 4 ? maps[u]->tab_input_registers : maps[u]->tab_registers;
    unsigned nb = fn == 4 ? (unsigned)maps[u]->nb_input_registers
                          : (unsigned)maps[u]->nb_registers;
    uint8_t exception = 0;
    if (fn != 3 && fn != 4)
        exception = 0x01; /* illegal function */
    else if (count < 1 || count > MODBUS_MAX_READ_REGISTERS || start + count > nb)
        exception = 0x02; /* illegal data address */
    else if (fault == MB_SIM_EXCEPTION)
        exception = 0x04; /* server device failure */
    reply[0] = req[0];
    if (exception) {
        reply[1] = (uint8_t)(fn | 0x80);
        reply[2] = exception;
        len = 3;
    } else {
        reply[1] = fn;
        reply[2] = (uint8_t)(2 * count);
        for (unsigned i = 0; i < count; i++) {
            reply[3 + 2 * i] = (uint8_t)(regs[start + i] >> 8);
            reply[4 + 2 * i] = (uint8_t)regs[start + i];
        }
        len = 3 + 2 * count;
    }
    uint16_t rcrc = crc16_modbus(reply, len);
    if (fault == W1_SIM_CRC)
        rcrc ^= 0xFFFF;
    reply[len] = (uint8_t)rcrc;
    reply[len + 1] = (uint8_t)(rcrc >> 8);
    return write_all(fd, reply, len + 2);
}

static int serve_modbus_rtu(const struct options *o, const struct scenario *sc)
{
    modbus_mapping_t *maps[MAX_UNITS] = {NULL};
    int fd = -1, sfd = -1, status = EXIT_FAILED;
    if (o->device == NULL || o->unit_count == 0) {
        usage_error("%s", "modbus-rtu needs --device and at least one --unit");
        return EXIT_USAGE;
    }
    for (size_t u = 0; u < o->unit_count; u++) {
        maps[u] = modbus_mapping_new(0, 0, HOLD_REG_COUNT, INPUT_REG_COUNT);
        if (maps[u] == NULL)
            goto out;
        init_holding(maps[u], o->units[u]);
    }
    fd = open(o->device, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "coldchain-sim: cannot open %s: %s\n", o->device, strerror(errno));
        goto out;
    }
    /* Raw 8N1 at the given speed (a pty ignores the speed, a USB adapter does not). */
    struct termios tio;
    if (tcgetattr(fd, &tio) == 0) {
        cfmakeraw(&tio);
        speed_t speed = o->baud == 19200 ? B19200 : o->baud == 38400 ? B38400
                      : o->baud == 57600 ? B57600 : o->baud == 115200 ? B115200
                      : o->baud == 4800 ? B4800 : o->baud == 2400 ? B2400
                      : o->baud == 1200 ? B1200 : B9600;
        cfsetspeed(&tio, speed);
        tcsetattr(fd, TCSANOW, &tio);
    }
    sfd = open_signalfd();
    if (sfd < 0)
        goto out;
    printf("sim: modbus-rtu on %s, %zu unit(s) from %d, scenario %s\n", o->device, o->unit_count,
           o->units[0], sc->name);
    int64_t start_ms = clock_mono_ms(), next_print_ms = start_ms;
    uint8_t buf[256];
    size_t have = 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        /* A silence ends a frame (Modbus RTU: 3.5 characters); 20 ms is generous on a pty. */
        int n = poll(p, 2, have ? 20 : 200);
        if (n < 0 && errno != EINTR)
            goto out;
        if (p[1].revents & POLLIN) {
            status = 0;
            goto out;
        }
        int64_t t_ms = clock_mono_ms() - start_ms;
        if (!o->quiet && clock_mono_ms() >= next_print_ms) {
            printf("sim: t=%.1fs %.2f °C\n", (double)t_ms / 1000.0, scenario_temp_c(sc, t_ms));
            next_print_ms += PRINT_INTERVAL_MS;
        }
        if (p[0].revents & POLLIN) {
            ssize_t r = read(fd, buf + have, sizeof(buf) - have);
            if (r > 0)
                have += (size_t)r;
        } else if (p[0].revents & (POLLHUP | POLLERR)) {
            /* The other end of the pty is closed (no client yet): wait, do not spin. */
            poll(NULL, 0, 50);
        }
        /* Serve every complete 8-byte request; a remainder after a silence is dropped. */
        while (have >= 8) {
            for (size_t u = 0; u < o->unit_count; u++)
                update_registers(maps[u], scenario_temp_c(sc, t_ms) + 0.5 * (double)u,
                                 o->humidity_pct);
            int rc = rtu_answer(fd, buf, o, maps, fault_at(o, t_ms, buf[0]));
            if (rc < 0) {
                fprintf(stderr, "coldchain-sim: write to %s: %s\n", o->device, strerror(-rc));
                goto out;
            }
            memmove(buf, buf + 8, have - 8);
            have -= 8;
        }
        if (n == 0)
            have = 0;
    }
out:
    for (size_t u = 0; u < o->unit_count; u++)
        modbus_mapping_free(maps[u]);
    if (fd >= 0)
        close(fd);
    if (sfd >= 0)
        close(sfd);
    return status;
}

/* ---- w1: a fake sysfs tree -------------------------------------------------------------- */


/* The 9 scratchpad bytes a probe of family holds at temp_c, CRC included. */
static void scratchpad(uint8_t family, double temp_c, enum w1_sim_fault fault, uint8_t b[9])
{
    static const uint8_t power_on[8] = {0x50, 0x05, 0x4b, 0x46, 0x7f, 0xff, 0x0c, 0x10};
    static const uint8_t low_power[8] = {0xff, 0x07, 0x4b, 0x46, 0x7f, 0xff, 0x01, 0x10};
    if (fault == W1_SIM_85) {
        memcpy(b, power_on, 8);
    } else if (fault == W1_SIM_127) {
        memcpy(b, low_power, 8);
    } else if (fault == W1_SIM_ZERO) {
        memset(b, 0, 8);
    } else if (family == W1_FAMILY_DS18S20) {
        /* The inverse of T = (raw >> 1) - 0.25 + (16 - COUNT_REMAIN) / 16 (DS18S20 datasheet,
         * "extended resolution"), raw in half degrees, COUNT_PER_C = 16: 1/16 °C steps. */
        long deg = (long)floor(temp_c + 0.25);
        long remain = 16 - lround((temp_c + 0.25 - (double)deg) * 16.0);
        if (remain <= 0) {
            deg++;
            remain = 16;
        }
        uint16_t raw = (uint16_t)(int16_t)(deg * 2);
        uint8_t s18[8] = {(uint8_t)raw, (uint8_t)(raw >> 8), 0x4b, 0x46, 0xff, 0xff,
                          (uint8_t)remain, 0x10};
        memcpy(b, s18, 8);
    } else {
        /* DS18B20 and kin: 1/16 °C two's complement, 12-bit configuration (0x7f). */
        uint16_t raw = (uint16_t)(int16_t)lround(temp_c * 16.0);
        uint8_t b20[8] = {(uint8_t)raw, (uint8_t)(raw >> 8), 0x4b, 0x46, 0x7f, 0xff, 0x01, 0x10};
        memcpy(b, b20, 8);
    }
    b[8] = w1_crc8(b, 8);
}

/* Writes path atomically (temp file + rename), so the gateway never reads half a file. */
static int write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return -errno;
    bool ok = fwrite(text, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0)
        return -EIO;
    return 0;
}

static int write_probe(const char *root, const char *id, double temp_c, enum w1_sim_fault fault)
{
    /* root is checked to leave room for "/<id>/temperature.tmp". */
    char dir[PATH_MAX - 64], path[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/%s", root, id);
    snprintf(path, sizeof(path), "%s/w1_slave", dir);
    if (fault == W1_SIM_MISSING) {
        /* Unplugged: the kernel removes the device folder. */
        unlink(path);
        snprintf(path, sizeof(path), "%s/temperature", dir);
        unlink(path);
        rmdir(dir);
        return 0;
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return -errno;
    uint8_t family = 0;
    w1_parse_id(id, &family);
    uint8_t b[9];
    scratchpad(family, temp_c, fault, b);
    char text[160] = "";
    size_t len = 0;
    if (fault == W1_SIM_GARBAGE) {
        len = (size_t)snprintf(text, sizeof(text), "garbage on the bus\n");
    } else if (fault == W1_SIM_CRC) {
        /* Old kernels: the failed bytes with NO, then the last good ones. */
        uint8_t good[9];
        scratchpad(family, temp_c, W1_SIM_OK, good);
        len = (size_t)snprintf(text, sizeof(text),
                               "ff ff ff ff ff ff ff ff ff : crc=c9 NO\n"
                               "%02x %02x %02x %02x %02x %02x %02x %02x %02x t=-62\n",
                               good[0], good[1], good[2], good[3], good[4], good[5], good[6],
                               good[7], good[8]);
    } else if (fault != W1_SIM_EMPTY) {
        char bytes[32];
        snprintf(bytes, sizeof(bytes), "%02x %02x %02x %02x %02x %02x %02x %02x %02x", b[0],
                 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8]);
        long milli = lround(temp_c * 1000.0);
        if (fault == W1_SIM_85)
            milli = 85000;
        else if (fault == W1_SIM_127)
            milli = 127937;
        else if (fault == W1_SIM_ZERO)
            milli = 0;
        len = (size_t)snprintf(text, sizeof(text), "%s : crc=%02x YES\n%s t=%ld\n", bytes, b[8],
                               bytes, milli);
    }
    int rc = write_atomic(path, text, len);
    if (rc < 0)
        return rc;
    char temp_text[32] = "";
    size_t temp_len = 0;
    if (fault == W1_SIM_OK || fault == W1_SIM_85 || fault == W1_SIM_127 || fault == W1_SIM_ZERO) {
        long milli = fault == W1_SIM_85    ? 85000
                     : fault == W1_SIM_127 ? 127937
                     : fault == W1_SIM_ZERO ? 0
                                            : lround(temp_c * 1000.0);
        temp_len = (size_t)snprintf(temp_text, sizeof(temp_text), "%ld\n", milli);
    }
    snprintf(path, sizeof(path), "%s/temperature", dir);
    return write_atomic(path, temp_text, temp_len);
}

static int serve_w1(const struct options *o, const struct scenario *sc)
{
    if (o->root == NULL || o->probe_count == 0) {
        usage_error("%s", "w1 needs --root and at least one --probe");
        return EXIT_USAGE;
    }
    if (strlen(o->root) >= PATH_MAX - 96) {
        usage_error("%s", "--root: the path is too long");
        return EXIT_USAGE;
    }
    if (mkdir(o->root, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "sim: w1: cannot create %s: %s\n", o->root, strerror(errno));
        return EXIT_FAILED;
    }
    int sfd = open_signalfd();
    if (sfd < 0) {
        fprintf(stderr, "sim: w1: cannot set up signals: %s\n", strerror(-sfd));
        return EXIT_FAILED;
    }
    printf("sim: w1 writing %zu probe(s) under %s scenario %s\n", o->probe_count, o->root,
           sc->name);
    int64_t start_ms = clock_mono_ms();
    int64_t next_print_ms = start_ms;
    int status = 0;
    for (;;) {
        int64_t now_ms = clock_mono_ms();
        int64_t t_ms = now_ms - start_ms;
        double temp_c = scenario_temp_c(sc, t_ms);
        enum w1_sim_fault fault = fault_at(o, t_ms, 0);
        for (size_t i = 0; i < o->probe_count; i++) {
            int rc = write_probe(o->root, o->probes[i], temp_c, fault);
            if (rc < 0) {
                fprintf(stderr, "sim: w1: cannot write %s/%s: %s\n", o->root, o->probes[i],
                        strerror(-rc));
                status = EXIT_FAILED;
                goto out;
            }
        }
        if (!o->quiet && now_ms >= next_print_ms) {
            printf("sim: t=%.1fs %.2f °C%s\n", (double)t_ms / 1000.0, temp_c,
                   fault == W1_SIM_OK ? "" : " (fault injected)");
            next_print_ms += PRINT_INTERVAL_MS;
        }
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        if (poll(&pfd, 1, W1_WRITE_MS) > 0)
            break; /* SIGINT or SIGTERM */
    }
out:
    close(sfd);
    return status;
}

int main(int argc, char **argv)
{
    struct options o = {
        .fault_for_ms = 3000,
        .baud = 9600,
        .host = "127.0.0.1",
        .port = 1502,
        .unit = 1,
        .humidity_pct = 45.0,
    };
    struct scenario sc = {0};

    /* Line-buffered even into a pipe or file, so a test reading the log sees each line. */
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc < 2) {
        usage_error("%s", "expected a simulator: modbus-tcp, modbus-rtu, w1 or ble");
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("coldchain-sim %s\n", COLDCHAIN_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "ble") == 0)
        return sim_ble_main(argc - 1, argv + 1, usage, usage_error);
    bool w1 = strcmp(argv[1], "w1") == 0, rtu = strcmp(argv[1], "modbus-rtu") == 0;
    if (!w1 && !rtu && strcmp(argv[1], "modbus-tcp") != 0) {
        usage_error("unknown simulator \"%s\"; known: modbus-tcp, modbus-rtu, w1, ble", argv[1]);
        return EXIT_USAGE;
    }
    int rc = parse_options(argc - 1, argv + 1, &o, &sc);
    if (rc != 0)
        return rc > 0 ? 0 : EXIT_USAGE;
    extra_opts = &o;
    if (rtu && o.unit_count == 0)
        o.units[o.unit_count++] = o.unit;
    return w1 ? serve_w1(&o, &sc) : rtu ? serve_modbus_rtu(&o, &sc) : serve_modbus_tcp(&o, &sc);
}
