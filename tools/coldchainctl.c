/* coldchainctl: the operator's command line (DESIGN §1).
 *
 *   coldchainctl replay -c CONFIG READINGS.csv
 *
 * replay runs the gateway's own rules (config_rules_new(), the same calibration) over a CSV of
 * readings and prints one JSON object per line: every alarm transition in the order the rules
 * produced it, then one summary per shipment, sensor and quantity. It answers "would this
 * profile have alarmed on that history?" without a gateway, a broker or a database
 * (docs/rules.md "Replay"). Time is the readings' own: before each reading the rules are
 * advanced to its timestamp, as the live gateway's ticks advance them, so a sensor that falls
 * silent goes stale in the replay too.
 *
 * Exit: 0 done; 65 (EX_DATAERR) some lines were bad (each reported on stderr with its line
 * number; the rest were replayed); 66 (EX_NOINPUT) the CSV cannot be read; 78 (EX_CONFIG) a bad
 * config; 2 usage; 1 anything else. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ble_decode.h"
#include "clock.h"
#include "config.h"
#include "reading_csv.h"
#include "rules.h"
#include "version.h"

#define EXIT_USAGE 2
#define EXIT_DATAERR 65
#define EXIT_NOINPUT 66
#define EXIT_CONFIG 78

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: coldchainctl replay -c CONFIG READINGS.csv\n"
            "       coldchainctl decode ble HEX [--address MAC]\n"
            "       coldchainctl --version | --help\n\n"
            "replay  runs the gateway's rules over readings and prints JSON lines: each alarm\n"
            "        transition, then a summary per shipment, sensor and quantity.\n"
            "        CSV header: ts,sensor,quantity,value (ts RFC 3339 or epoch seconds;\n"
            "        value empty or \"fault\" for a faulted reading). The config needs only\n"
            "        \"profiles\" (or presets) and \"shipments\".\n\n"
            "decode ble  decodes one BLE advertisement's data (the AD structures of an HCI LE\n"
            "        advertising report, as hex) and prints one JSON object: the format and the\n"
            "        values it carries; values the format marks invalid are listed in \"faults\".\n"
            "        Exit 0 decoded, 1 no decoder knows the data, 2 malformed hex or data.\n\n"
            "Exit status (replay): 0 done, 65 bad lines (reported, the rest replayed), 66 unreadable\n"
            "CSV, 78 bad config, 2 usage.\n");
}

/* Prints one JSON object on its own line; false when out of memory. */
static bool print_line(cJSON *o)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!text)
        return false;
    puts(text);
    free(text);
    return true;
}

static bool add_ts(cJSON *o, const char *key, int64_t ts_ms)
{
    char buf[40];
    return cJSON_AddStringToObject(o, key, clock_format_rfc3339(ts_ms, buf, sizeof(buf))) != NULL;
}

static bool add_num(cJSON *o, const char *key, double v)
{
    return isfinite(v) ? cJSON_AddNumberToObject(o, key, v) != NULL
                       : cJSON_AddNullToObject(o, key) != NULL;
}

/* "state" is what the transition leaves people with in one word: raised alarms are "active",
 * cleared ones "cleared"; the other transitions name themselves. */
static const char *state_word(const struct alarm_event *ev)
{
    switch ((enum alarm_transition)ev->transition) {
    case ALARM_RAISED:
        return "active";
    case ALARM_CLEARED:
        return "cleared";
    default:
        return alarm_transition_name(ev->transition);
    }
}

static bool print_event(const struct rules *rules, const struct rules_event *re)
{
    const struct alarm_def *def = rules_alarm_def(rules, re->shipment, re->alarm);
    const struct alarm_event *ev = &re->ev;
    cJSON *o = cJSON_CreateObject();
    bool ok = o && cJSON_AddStringToObject(o, "type", "alarm") && add_ts(o, "ts", ev->ts_ms) &&
              cJSON_AddStringToObject(o, "shipment", rules_shipment_id(rules, re->shipment)) &&
              cJSON_AddStringToObject(o, "sensor",
                                      rules_sensor_id(rules, re->shipment, re->sensor)) &&
              cJSON_AddStringToObject(o, "alarm", def->id) &&
              cJSON_AddStringToObject(o, "kind", alarm_kind_name(def->kind)) &&
              cJSON_AddStringToObject(o, "state", state_word(ev)) &&
              cJSON_AddStringToObject(o, "isa_state", alarm_isa_state_name(ev->isa_state)) &&
              cJSON_AddBoolToObject(o, "notify", ev->notify) &&
              cJSON_AddNumberToObject(o, "level", ev->level) && add_num(o, "value", ev->value) &&
              add_num(o, "worst", ev->worst) &&
              (ev->since_ms ? add_ts(o, "since", ev->since_ms)
                            : cJSON_AddNullToObject(o, "since") != NULL);
    if (ok && ev->amount_ms)
        ok = cJSON_AddNumberToObject(o, "amount_s", (double)ev->amount_ms / 1000.0) != NULL;
    if (!ok) {
        cJSON_Delete(o);
        return false;
    }
    return print_line(o);
}

static bool print_summaries(const struct rules *rules)
{
    for (size_t si = 0; si < rules_shipment_count(rules); si++) {
        for (size_t k = 0; k < rules_sensor_count(rules, si); k++) {
            for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
                const struct rules_summary *sum = rules_summary(rules, si, k, q);
                if (sum->count + sum->fault_count == 0)
                    continue;
                cJSON *o = cJSON_CreateObject();
                cJSON *beyond = NULL, *excursions = NULL, *longest = NULL;
                bool ok =
                    o && cJSON_AddStringToObject(o, "type", "summary") &&
                    cJSON_AddStringToObject(o, "shipment", rules_shipment_id(rules, si)) &&
                    cJSON_AddStringToObject(o, "sensor", rules_sensor_id(rules, si, k)) &&
                    cJSON_AddStringToObject(o, "quantity", quantity_name(q)) &&
                    add_num(o, "min", sum->min) && add_num(o, "max", sum->max) &&
                    add_num(o, "mean", sum->mean) &&
                    (q != QUANTITY_TEMPERATURE || add_num(o, "mkt", sum->mkt_c)) &&
                    cJSON_AddNumberToObject(o, "samples", (double)sum->count) &&
                    cJSON_AddNumberToObject(o, "faults", (double)sum->fault_count) &&
                    cJSON_AddNumberToObject(o, "out_of_order", (double)sum->out_of_order) &&
                    (beyond = cJSON_AddObjectToObject(o, "beyond_s")) &&
                    (excursions = cJSON_AddObjectToObject(o, "excursions")) &&
                    (longest = cJSON_AddObjectToObject(o, "longest_s"));
                for (size_t a = 0; ok && a < rules_alarm_count(rules, si); a++) {
                    const struct alarm_def *def = rules_alarm_def(rules, si, a);
                    const struct alarm_instance *inst = rules_instance(rules, si, a, k);
                    if (def->quantity != q || def->kind == ALARM_KIND_STALE ||
                        def->kind == ALARM_KIND_CALIBRATION)
                        continue;
                    int64_t l = inst->longest_ms > inst->current_ms ? inst->longest_ms
                                                                    : inst->current_ms;
                    ok = cJSON_AddNumberToObject(beyond, def->id,
                                                 (double)inst->beyond_ms / 1000.0) &&
                         cJSON_AddNumberToObject(excursions, def->id, inst->excursions) &&
                         cJSON_AddNumberToObject(longest, def->id, (double)l / 1000.0);
                }
                if (!ok) {
                    cJSON_Delete(o);
                    return false;
                }
                if (!print_line(o))
                    return false;
            }
        }
    }
    return true;
}

static int replay(const char *config_path, const char *csv_path)
{
    struct config *config = NULL;
    struct rules *rules = NULL;
    struct rules_event *events = NULL;
    struct cfg_error cerr;
    FILE *in = NULL;
    char *line = NULL;
    size_t cap = 0;
    int status = 1;

    int r = config_load(config_path, CONFIG_RULES_ONLY, &config, &cerr);
    if (r < 0) {
        config_print_error(stderr, config_path, r, &cerr);
        return EXIT_CONFIG;
    }
    r = config_rules_new(config, NULL, &rules);
    if (r < 0) {
        fprintf(stderr, "%s: cannot build the rules: %s\n", config_path, strerror(-r));
        status = EXIT_CONFIG;
        goto out;
    }
    size_t cap_events = rules_max_events(rules);
    events = calloc(cap_events, sizeof(*events));
    if (!events)
        goto out;
    in = strcmp(csv_path, "-") == 0 ? stdin : fopen(csv_path, "r");
    if (!in) {
        fprintf(stderr, "%s: %s\n", csv_path, strerror(errno));
        status = EXIT_NOINPUT;
        goto out;
    }

    unsigned long lineno = 0, bad = 0;
    bool header_seen = false;
    int64_t now_ms = INT64_MIN;
    ssize_t len;
    char err[READING_CSV_ERR_MAX];
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        if (!header_seen) {
            if (reading_csv_header(line, (size_t)len, err) < 0) {
                fprintf(stderr, "%s:%lu: %s\n", csv_path, lineno, err);
                status = EXIT_DATAERR;
                goto out;
            }
            header_seen = true;
            continue;
        }
        struct reading rd;
        int kind = reading_csv_line(line, (size_t)len, &rd, err);
        if (kind == READING_CSV_SKIP)
            continue;
        if (kind < 0) {
            fprintf(stderr, "%s:%lu: %s\n", csv_path, lineno, err);
            bad++;
            continue;
        }
        int slot = rules_sensor_slot(rules, rd.sensor_id);
        if (slot < 0) {
            fprintf(stderr, "%s:%lu: sensor \"%s\" is in no shipment of %s\n", csv_path,
                    lineno, rd.sensor_id, config_path);
            bad++;
            continue;
        }
        config_calibrate(config, &rd, NULL);
        /* Time moves on for every sensor, as the live gateway's ticks move it. */
        if (rd.ts_ms > now_ms) {
            now_ms = rd.ts_ms;
            int n = rules_tick(rules, now_ms, events, cap_events);
            for (int i = 0; i < n; i++) {
                if (!print_event(rules, &events[i]))
                    goto out;
            }
        }
        int n = rules_feed_slot(rules, slot, &rd, events, cap_events);
        if (n < 0) {
            fprintf(stderr, "%s:%lu: %s\n", csv_path, lineno, strerror(-n));
            bad++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            if (!print_event(rules, &events[i]))
                goto out;
        }
    }
    if (ferror(in)) {
        fprintf(stderr, "%s: %s\n", csv_path, strerror(errno));
        status = EXIT_NOINPUT;
        goto out;
    }
    if (!header_seen) {
        fprintf(stderr, "%s: empty: expected the header ts,sensor,quantity,value\n", csv_path);
        status = EXIT_DATAERR;
        goto out;
    }
    if (!print_summaries(rules))
        goto out;
    if (bad)
        fprintf(stderr, "%s: %lu bad line%s reported above; the other lines were replayed\n",
                csv_path, bad, bad == 1 ? "" : "s");
    status = bad ? EXIT_DATAERR : 0;
out:
    if (fflush(stdout) != 0 && status == 0)
        status = 1;
    if (in && in != stdin)
        fclose(in);
    free(line);
    free(events);
    rules_free(rules);
    config_free(config);
    return status;
}

/* Hex digits, optionally separated by spaces or colons ("0201061BFF9904..." or "02:01:06"). */
static int parse_hex(const char *text, uint8_t *out, size_t cap, size_t *len_out)
{
    size_t n = 0;
    int hi = -1;
    for (const char *c = text; *c; c++) {
        if (*c == ' ' || *c == ':')
            continue;
        int v = (*c >= '0' && *c <= '9')   ? *c - '0'
                : (*c >= 'a' && *c <= 'f') ? *c - 'a' + 10
                : (*c >= 'A' && *c <= 'F') ? *c - 'A' + 10
                                           : -1;
        if (v < 0)
            return -EINVAL;
        if (hi < 0) {
            hi = v;
            continue;
        }
        if (n == cap)
            return -E2BIG;
        out[n++] = (uint8_t)(hi << 4 | v);
        hi = -1;
    }
    if (hi >= 0)
        return -EINVAL;
    *len_out = n;
    return 0;
}

static int decode_ble(const char *hex, const char *address)
{
    uint8_t data[256];
    size_t len;
    int r = parse_hex(hex, data, sizeof(data), &len);
    if (r < 0) {
        fprintf(stderr, "coldchainctl decode ble: %s: expected the advertising data as hex%s\n",
                hex, r == -E2BIG ? " of at most 256 bytes" : " (pairs of 0-9, a-f)");
        return EXIT_USAGE;
    }
    struct ble_ad ad;
    if (ble_ad_parse(data, len, &ad) < 0) {
        fprintf(stderr, "coldchainctl decode ble: malformed AD structures: a length runs past "
                        "the end of the %zu bytes\n", len);
        return EXIT_USAGE;
    }
    struct ble_values v;
    r = ble_decode(&ad, &v);
    if (r == BLE_NOT_MINE) {
        fprintf(stderr, "coldchainctl decode ble: no decoder knows this data (Ruuvi, BTHome v2, "
                        "pvvx/ATC1441, Govee H5072/H5075, Inkbird IBS-TH)\n");
        return 1;
    }
    if (r < 0) {
        fprintf(stderr, "coldchainctl decode ble: the data has a known format's marker but is "
                        "malformed (too short, or a version this gateway cannot read)\n");
        return EXIT_USAGE;
    }
    static const struct {
        uint32_t bit;
        const char *key;
    } names[] = {{BLE_TEMPERATURE, "temperature_c"}, {BLE_HUMIDITY, "humidity_pct"},
                 {BLE_PRESSURE, "pressure_hpa"},     {BLE_BATTERY_PCT, "battery_pct"},
                 {BLE_BATTERY_MV, "battery_mv"},     {BLE_COUNTER, "counter"}};
    cJSON *o = cJSON_CreateObject();
    cJSON *faults = NULL;
    bool ok = o && cJSON_AddStringToObject(o, "format", v.format);
    if (ok && address)
        ok = cJSON_AddStringToObject(o, "address", address) != NULL;
    const double values[] = {v.temperature_c, v.humidity_pct, v.pressure_hpa, v.battery_pct,
                             (double)v.battery_mv, (double)v.counter};
    for (size_t i = 0; ok && i < sizeof(names) / sizeof(names[0]); i++) {
        if (v.present & names[i].bit)
            ok = cJSON_AddNumberToObject(o, names[i].key, values[i]) != NULL;
    }
    for (size_t i = 0; ok && i < sizeof(names) / sizeof(names[0]); i++) {
        if (!(v.faults & names[i].bit))
            continue;
        if (!faults && !(faults = cJSON_AddArrayToObject(o, "faults")))
            ok = false;
        else
            ok = cJSON_AddItemToArray(faults, cJSON_CreateString(names[i].key));
    }
    if (!ok) {
        cJSON_Delete(o);
        return 1;
    }
    return print_line(o) ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    int opt;
    /* "+": options end at the verb's arguments, as in git. */
    while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'V':
            printf("coldchainctl %s\n", COLDCHAIN_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *verb = argv[optind++];
    if (strcmp(verb, "decode") == 0) {
        /* coldchainctl decode ble HEX [--address MAC] */
        if (optind >= argc || strcmp(argv[optind], "ble") != 0) {
            fprintf(stderr, "coldchainctl decode: expected \"ble HEX [--address MAC]\"\n");
            return EXIT_USAGE;
        }
        const char *hex = NULL, *address = NULL;
        for (int i = optind + 1; i < argc; i++) {
            if (strcmp(argv[i], "--address") == 0 && i + 1 < argc)
                address = argv[++i];
            else if (!hex)
                hex = argv[i];
            else {
                fprintf(stderr, "coldchainctl decode ble: unexpected \"%s\"\n", argv[i]);
                return EXIT_USAGE;
            }
        }
        if (!hex) {
            fprintf(stderr, "coldchainctl decode ble: expected the advertising data as hex\n");
            return EXIT_USAGE;
        }
        return decode_ble(hex, address);
    }
    if (strcmp(verb, "replay") != 0) {
        fprintf(stderr, "coldchainctl: unknown command \"%s\"\n", verb);
        usage(stderr);
        return EXIT_USAGE;
    }
    /* Options may also follow the verb: coldchainctl replay -c gateway.json file.csv */
    optind--;
    argv[optind] = argv[0];
    argc -= optind;
    argv += optind;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        if (opt != 'c') {
            usage(stderr);
            return EXIT_USAGE;
        }
        config_path = optarg;
    }
    if (!config_path || optind != argc - 1) {
        fprintf(stderr, "coldchainctl replay: expected -c CONFIG and one READINGS.csv\n");
        return EXIT_USAGE;
    }
    return replay(config_path, argv[optind]);
}
