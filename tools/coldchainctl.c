/* coldchainctl: the operator's command line (DESIGN §1).
 *
 *   coldchainctl replay -c CONFIG READINGS.csv
 *   coldchainctl decode ble HEX [--address MAC]
 *   coldchainctl [--socket PATH | -c CONFIG] [--json] status | ack | shelve | unshelve |
 *                shipment start | shipment end | assign | reload ...
 *   coldchainctl [-c CONFIG] [--json] shipments | show | history | events | report ...
 *                [--db PATH]   (the history, read-only: tools/ctl_history.h)
 *   coldchainctl verify [-c CONFIG | --db PATH] [--json]   (the audit trail: gateway/audit.h)
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
 * config; 2 usage; 1 anything else.
 *
 * The other verbs are commands to the running gateway through its control socket
 * (gateway/control.h, docs/mqtt.md "The control socket"): one request line, checked here by
 * the gateway's own parser (command_parse) before it is sent, one reply line. Exit: 0 done,
 * 1 refused by the gateway, 2 usage (the parser's message), 3 the gateway cannot be reached,
 * 78 the config given with -c cannot be read. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "audit.h"
#include "ble_decode.h"
#include "clock.h"
#include "command.h"
#include "config.h"
#include "control.h"
#include "ctl_history.h"
#include "reading_csv.h"
#include "rules.h"
#include "version.h"

#define EXIT_REFUSED 1
#define EXIT_USAGE 2
#define EXIT_UNREACHABLE 3
#define EXIT_DATAERR 65
#define EXIT_NOINPUT 66
#define EXIT_CONFIG 78

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: coldchainctl replay -c CONFIG READINGS.csv\n"
            "       coldchainctl decode ble HEX [--address MAC]\n"
            "       coldchainctl [--socket PATH | -c CONFIG] [--json] COMMAND\n"
            "       coldchainctl [-c CONFIG] [--json] shipments | show | history | events |\n"
            "                    report ... [--db PATH]\n"
            "       coldchainctl --version | --help\n\n"
            "Commands to the running gateway, through its control socket:\n"
            "  status\n"
            "  ack (--alert ID | SHIPMENT ALARM SENSOR) --user U [--comment C]\n"
            "  shelve (--alert ID | SHIPMENT ALARM SENSOR) --for 2h --user U --comment C\n"
            "  unshelve (--alert ID | SHIPMENT ALARM SENSOR) --user U\n"
            "  shipment start ID --profile P [--kind storage|transit] [--description D]\n"
            "                 [--sensor S]... --user U\n"
            "  shipment end ID --user U [--comment C]\n"
            "  assign SHIPMENT SENSOR... --user U\n"
            "  reload --user U\n"
            "  --socket PATH  the control socket; default: control.sock in the data_dir of\n"
            "                 -c CONFIG, else /var/lib/coldchain/control.sock\n"
            "  --json         print the gateway's reply as it came (one JSON line)\n"
            "  --alert ID     the alarm instance by the \"id\" of one of its alerts\n"
            "  --for          how long a shelf lasts: 1m to 24h (\"30m\", \"2h\")\n"
            "  Exit: 0 done, 1 refused (the reason on stderr), 2 usage, 3 the gateway cannot\n"
            "  be reached, 78 the CONFIG cannot be read.\n\n"
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
            "CSV, 78 bad config, 2 usage.\n\n"
            "verify [-c CONFIG | --db PATH] [--json]  recomputes the history's audit trail, read-only\n"
            "        (docs/history.md) and names the first row altered, inserted or deleted.\n"
            "        Exit 0 intact, 1 tampering found, 2 usage, 3 the database cannot be opened\n"
            "        or has no audit trail, 78 the CONFIG cannot be read.\n\n");
    ctl_history_usage(out);
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

/* ---- Commands to the running gateway through its control socket ---- */

#define DEFAULT_DATA_DIR "/var/lib/coldchain"
#define REPLY_TIMEOUT_MS 30000 /* the gateway answers once its engine has carried it out */

/* The options that carry a member of the request, each named as its member, in the order of
 * enum ctl_option's bits. */
static const char *const member_options[] = {"alert",   "user", "comment",     "for",
                                             "profile", "kind", "description"};
#define MEMBER_OPTIONS (sizeof(member_options) / sizeof(member_options[0]))
#define OPT_MEMBER_BASE 256 /* getopt_long's value of member_options[i]: OPT_MEMBER_BASE + i */

/* Which options a command takes: bit i is member_options[i], then --sensor. */
enum ctl_option {
    OPT_ALERT = 1u << 0,
    OPT_USER = 1u << 1,
    OPT_COMMENT = 1u << 2,
    OPT_FOR = 1u << 3,
    OPT_PROFILE = 1u << 4,
    OPT_KIND = 1u << 5,
    OPT_DESCRIPTION = 1u << 6,
    OPT_SENSOR = 1u << 7,
};

struct ctl_args {
    const char *socket_path;
    const char *config_path;
    bool json;
    unsigned given;                        /* enum ctl_option bits */
    const char *member[MEMBER_OPTIONS];    /* --alert, --user, ...: argv's strings, or NULL */
    const char **sensors;                  /* --sensor, in order */
    size_t sensor_count;
    char **positional;
    size_t positional_count;
};

/* Is a coldchain-gateway process running? Its pid, or 0. The kernel's comm is cut at 15
 * characters: "coldchain-gatew". */
static long gateway_pid(void)
{
    DIR *d = opendir("/proc");
    long found = 0;
    if (d == NULL)
        return 0;
    struct dirent *e;
    while (found == 0 && (e = readdir(d)) != NULL) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        if (fgets(comm, sizeof(comm), f) != NULL && strcmp(comm, "coldchain-gatew\n") == 0)
            found = pid;
        fclose(f);
    }
    closedir(d);
    return found;
}

/* Says why the socket cannot be reached, and whether the daemon runs at all. */
static int unreachable(const char *path, int err)
{
    const char *hint = "";
    if (err == ENOENT)
        hint = " (no socket there)";
    else if (err == ECONNREFUSED)
        hint = " (a socket file is there, but nobody accepts on it: the daemon that made it "
               "has stopped)";
    else if (err == EACCES || err == EPERM)
        hint = " (run as root or as a member of the socket's group, e.g. coldchain)";
    fprintf(stderr, "coldchainctl: cannot reach the gateway at %s: %s%s\n", path, strerror(err),
            hint);
    long pid = gateway_pid();
    if (pid > 0)
        fprintf(stderr,
                "coldchainctl: coldchain-gateway is running (pid %ld); is its control "
                "socket elsewhere? give --socket PATH or -c CONFIG\n",
                pid);
    else
        fprintf(stderr, "coldchainctl: no coldchain-gateway process is running "
                        "(systemctl status coldchain-gateway)\n");
    return EXIT_UNREACHABLE;
}

/* Sends line (with its '\n') and reads the reply line into *reply_out (malloc'd). 0, or an
 * exit status after saying why. */
static int exchange(const char *path, const char *line, char **reply_out)
{
    struct sockaddr_un addr;
    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "coldchainctl: %s: a socket path has at most %zu bytes\n", path,
                sizeof(addr.sun_path) - 1);
        return EXIT_USAGE;
    }
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return unreachable(path, err);
    }
    int status = EXIT_UNREACHABLE;
    size_t len = strlen(line), sent = 0, used = 0, cap = 0;
    char *buf = NULL;
    while (sent < len) {
        ssize_t n = send(fd, line + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "coldchainctl: %s: sending the request: %s\n", path, strerror(errno));
            goto out;
        }
        sent += (size_t)n;
    }
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, REPLY_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            fprintf(stderr, "coldchainctl: %s: no reply within %d s\n", path,
                    REPLY_TIMEOUT_MS / 1000);
            goto out;
        }
        if (used + 1024 > cap) {
            char *nb = realloc(buf, cap + 4096);
            if (nb == NULL) {
                fprintf(stderr, "coldchainctl: out of memory\n");
                goto out;
            }
            buf = nb;
            cap += 4096;
        }
        ssize_t n = r < 0 ? -1 : recv(fd, buf + used, cap - used - 1, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "coldchainctl: %s: reading the reply: %s\n", path, strerror(errno));
            goto out;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    if (used == 0 || buf[used - 1] != '\n') {
        fprintf(stderr,
                "coldchainctl: %s: the gateway closed the connection without a "
                "complete reply\n",
                path);
        goto out;
    }
    buf[used - 1] = '\0';
    *reply_out = buf;
    buf = NULL;
    status = 0;
out:
    free(buf);
    close(fd);
    return status;
}

/* Prints the reply; the exit status: 0 ok, 1 refused, 3 not a reply. */
static int print_reply(const char *text, bool raw)
{
    cJSON *reply = cJSON_Parse(text);
    const cJSON *ok = cJSON_GetObjectItemCaseSensitive(reply, "ok");
    if (!cJSON_IsBool(ok)) {
        fprintf(stderr, "coldchainctl: the gateway's reply is not one: %.200s\n", text);
        cJSON_Delete(reply);
        return EXIT_UNREACHABLE;
    }
    int status = cJSON_IsTrue(ok) ? 0 : EXIT_REFUSED;
    if (raw) {
        puts(text);
    } else if (status == 0) {
        const cJSON *result = cJSON_GetObjectItemCaseSensitive(reply, "result");
        char *pretty = result != NULL ? cJSON_Print(result) : NULL;
        if (pretty != NULL && strcmp(pretty, "{\n}") != 0 && strcmp(pretty, "{}") != 0)
            printf("ok\n%s\n", pretty);
        else
            puts("ok");
        free(pretty);
    } else {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(reply, "error");
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(reply, "message");
        fprintf(stderr, "refused: %s (%s)\n",
                cJSON_IsString(message) ? message->valuestring : "no reason given",
                cJSON_IsString(code) ? code->valuestring : "?");
    }
    cJSON_Delete(reply);
    return status;
}

/* The socket: --socket, else control.sock in -c CONFIG's data_dir, else the default's. */
static int socket_path(const struct ctl_args *a, char *buf, size_t cap)
{
    if (a->socket_path != NULL) {
        snprintf(buf, cap, "%s", a->socket_path);
        return 0;
    }
    const char *data_dir = DEFAULT_DATA_DIR;
    struct config *config = NULL;
    if (a->config_path != NULL) {
        struct cfg_error cerr;
        int r = config_load(a->config_path, 0, &config, &cerr);
        if (r < 0) {
            config_print_error(stderr, a->config_path, r, &cerr);
            return EXIT_CONFIG;
        }
        data_dir = config->data_dir;
    }
    int r = control_default_path(data_dir, buf, cap);
    if (r < 0)
        fprintf(stderr, "coldchainctl: %s/%s: too long for a socket path\n", data_dir,
                CONTROL_SOCKET_NAME);
    config_free(config);
    return r < 0 ? EXIT_USAGE : 0;
}

static bool add_opt(cJSON *req, const char *key, const char *value)
{
    return value == NULL || cJSON_AddStringToObject(req, key, value) != NULL;
}

/* Builds the request of verb from the arguments. NULL after a usage message (or when out of
 * memory, said too). */
static cJSON *build_request(const char *verb, const char *label, const struct ctl_args *a)
{
    static const struct {
        const char *verb;
        unsigned options; /* enum ctl_option */
        size_t positional_min, positional_max;
        const char *positional_usage;
    } forms[] = {
        {"status", 0, 0, 0, ""},
        {"ack", OPT_ALERT | OPT_USER | OPT_COMMENT, 3, 3, "(--alert ID | SHIPMENT ALARM SENSOR)"},
        {"shelve", OPT_ALERT | OPT_USER | OPT_COMMENT | OPT_FOR, 3, 3,
         "(--alert ID | SHIPMENT ALARM SENSOR)"},
        {"unshelve", OPT_ALERT | OPT_USER, 3, 3, "(--alert ID | SHIPMENT ALARM SENSOR)"},
        {"shipment-start", OPT_USER | OPT_PROFILE | OPT_KIND | OPT_DESCRIPTION | OPT_SENSOR, 1, 1,
         "ID"},
        {"shipment-end", OPT_USER | OPT_COMMENT, 1, 1, "ID"},
        {"assign", OPT_USER, 2, 1 + COMMAND_SENSORS_MAX, "SHIPMENT SENSOR..."},
        {"reload", OPT_USER, 0, 0, ""},
    };
    size_t f = 0;
    while (f < sizeof(forms) / sizeof(forms[0]) && strcmp(forms[f].verb, verb) != 0)
        f++;
    if (f == sizeof(forms) / sizeof(forms[0]))
        return NULL;
    unsigned extra = a->given & ~forms[f].options;
    if (extra != 0) {
        size_t bit = 0;
        while (!(extra & (1u << bit)))
            bit++;
        fprintf(stderr, "coldchainctl %s: --%s is not an option of this command\n", label,
                bit < MEMBER_OPTIONS ? member_options[bit] : "sensor");
        return NULL;
    }
    /* ack, shelve, unshelve: --alert instead of the three names. */
    size_t min = forms[f].positional_min, max = forms[f].positional_max;
    bool by_alert = a->member[0] != NULL; /* --alert */
    if (by_alert)
        min = max = 0;
    if (a->positional_count < min || a->positional_count > max) {
        fprintf(stderr, "coldchainctl %s: expected %s%s\n", label, forms[f].positional_usage,
                by_alert ? " (with --alert, no SHIPMENT ALARM SENSOR)" : "");
        return NULL;
    }
    cJSON *req = cJSON_CreateObject();
    char id[32];
    snprintf(id, sizeof(id), "ctl-%ld", (long)getpid());
    bool ok = req != NULL && cJSON_AddStringToObject(req, "verb", verb) &&
              cJSON_AddStringToObject(req, "id", id);
    for (size_t i = 0; ok && i < MEMBER_OPTIONS; i++)
        ok = add_opt(req, member_options[i], a->member[i]);
    char **pos = a->positional;
    if (ok && !by_alert && forms[f].options & OPT_ALERT)
        ok = add_opt(req, "shipment", pos[0]) && add_opt(req, "alarm", pos[1]) &&
             add_opt(req, "sensor", pos[2]);
    else if (ok && min > 0)
        ok = add_opt(req, "shipment", pos[0]);
    if (ok && (a->sensor_count > 0 || strcmp(verb, "assign") == 0)) {
        cJSON *arr = cJSON_AddArrayToObject(req, "sensors");
        ok = arr != NULL;
        for (size_t i = 0; ok && i < a->sensor_count; i++)
            ok = cJSON_AddItemToArray(arr, cJSON_CreateString(a->sensors[i]));
        for (size_t i = 1; ok && strcmp(verb, "assign") == 0 && i < a->positional_count; i++)
            ok = cJSON_AddItemToArray(arr, cJSON_CreateString(pos[i]));
    }
    if (!ok) {
        fprintf(stderr, "coldchainctl: out of memory\n");
        cJSON_Delete(req);
        return NULL;
    }
    return req;
}

/* coldchainctl [--socket PATH | -c CONFIG] [--json] VERB ...: argv[0] is the verb. */
static int run_command(int argc, char **argv, struct ctl_args *a)
{
    static const struct option options[] = {
        {"socket", required_argument, NULL, 'S'},
        {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},
        {"sensor", required_argument, NULL, 's'},
        {"alert", required_argument, NULL, OPT_MEMBER_BASE + 0},
        {"user", required_argument, NULL, OPT_MEMBER_BASE + 1},
        {"comment", required_argument, NULL, OPT_MEMBER_BASE + 2},
        {"for", required_argument, NULL, OPT_MEMBER_BASE + 3},
        {"profile", required_argument, NULL, OPT_MEMBER_BASE + 4},
        {"kind", required_argument, NULL, OPT_MEMBER_BASE + 5},
        {"description", required_argument, NULL, OPT_MEMBER_BASE + 6},
        {NULL, 0, NULL, 0},
    };
    _Static_assert(MEMBER_OPTIONS == 7, "one long option per member option");
    char verb[32], label[32]; /* "shipment-start" in the request, "shipment start" for people */
    snprintf(verb, sizeof(verb), "%s", argv[0]);
    snprintf(label, sizeof(label), "%s", argv[0]);
    int first = 1;
    /* "shipment start|end" is the verb shipment-start|end. */
    if (strcmp(verb, "shipment") == 0) {
        if (argc < 2 || (strcmp(argv[1], "start") != 0 && strcmp(argv[1], "end") != 0)) {
            fprintf(stderr, "coldchainctl shipment: expected start or end\n");
            return EXIT_USAGE;
        }
        snprintf(verb, sizeof(verb), "shipment-%s", argv[1]);
        snprintf(label, sizeof(label), "shipment %s", argv[1]);
        first = 2;
    }
    argv += first - 1;
    argc -= first - 1;
    const char **sensors = calloc((size_t)argc, sizeof(*sensors));
    char **positional = calloc((size_t)argc, sizeof(*positional));
    cJSON *req = NULL;
    char *line = NULL, *reply = NULL;
    int status = EXIT_USAGE, opt;
    if (sensors == NULL || positional == NULL) {
        fprintf(stderr, "coldchainctl: out of memory\n");
        status = 1;
        goto out;
    }
    a->sensors = sensors;
    a->positional = positional;
    optind = 0; /* 0, not 1: glibc starts afresh, forgetting main()'s "+" (stop at a word) */
    /* Options and the command's words in any order (GNU getopt permutes). */
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        switch (opt) {
        case 'S':
            a->socket_path = optarg;
            break;
        case 'c':
            a->config_path = optarg;
            break;
        case 'j':
            a->json = true;
            break;
        case 's':
            sensors[a->sensor_count++] = optarg;
            a->given |= OPT_SENSOR;
            break;
        default:
            if (opt >= OPT_MEMBER_BASE && opt < OPT_MEMBER_BASE + (int)MEMBER_OPTIONS) {
                a->member[opt - OPT_MEMBER_BASE] = optarg;
                a->given |= 1u << (opt - OPT_MEMBER_BASE);
                break;
            }
            fprintf(stderr, "coldchainctl %s: see coldchainctl --help\n", label);
            goto out;
        }
    }
    for (int i = optind; i < argc; i++)
        positional[a->positional_count++] = argv[i];
    if (a->socket_path != NULL && a->config_path != NULL) {
        fprintf(stderr, "coldchainctl: give --socket PATH or -c CONFIG, not both\n");
        goto out;
    }
    req = build_request(verb, label, a);
    if (req == NULL)
        goto out;
    char *text = cJSON_PrintUnformatted(req);
    size_t len = text != NULL ? strlen(text) : 0;
    line = text != NULL ? realloc(text, len + 2) : NULL;
    if (line == NULL) {
        free(text);
        fprintf(stderr, "coldchainctl: out of memory\n");
        status = 1;
        goto out;
    }
    /* The gateway's own parser first: a mistake is a usage error with its exact message, and
     * the gateway is not bothered with it. */
    struct command cmd;
    struct command_error err;
    if (command_parse(NULL, line, len, &cmd, &err) < 0) {
        fprintf(stderr, "coldchainctl %s: %s\n", label, err.message);
        goto out;
    }
    memcpy(line + len, "\n", 2);
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 64];
    status = socket_path(a, path, sizeof(path));
    if (status != 0)
        goto out;
    status = exchange(path, line, &reply);
    if (status == 0)
        status = print_reply(reply, a->json);
out:
    if (fflush(stdout) != 0 && status == 0)
        status = 1;
    free(reply);
    free(line);
    cJSON_Delete(req);
    free(sensors);
    free(positional);
    return status;
}

static bool is_control_verb(const char *verb)
{
    static const char *const verbs[] = {"status",   "ack",    "shelve", "unshelve",
                                        "shipment", "assign", "reload"};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        if (strcmp(verb, verbs[i]) == 0)
            return true;
    }
    return false;
}

/* coldchainctl verify [-c CONFIG | --db PATH] [--json]: audit_verify() on history.db. */
static int verify(int argc, char **argv, const char *config_path, bool json)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"db", required_argument, NULL, 'd'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *db = NULL;
    char path[600];
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:", options, NULL)) != -1) {
        if (opt == 'c')
            config_path = optarg;
        else if (opt == 'd')
            db = optarg;
        else if (opt == 'j')
            json = true;
        else
            return EXIT_USAGE;
    }
    if (optind != argc || (db != NULL && config_path != NULL)) {
        fprintf(stderr, "coldchainctl verify: expected [-c CONFIG | --db PATH] [--json]\n");
        return EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "%s/history.db", DEFAULT_DATA_DIR);
    if (db != NULL) {
        snprintf(path, sizeof(path), "%s", db);
    } else if (config_path != NULL) {
        struct config *config = NULL;
        struct cfg_error cerr;
        int r = config_load(config_path, CONFIG_RULES_ONLY, &config, &cerr);
        if (r < 0) {
            config_print_error(stderr, config_path, r, &cerr);
            return EXIT_CONFIG;
        }
        snprintf(path, sizeof(path), "%s/history.db", config->data_dir);
        config_free(config);
    }
    struct audit_report *rep = calloc(1, sizeof(*rep));
    if (rep == NULL)
        return 3;
    int rc = audit_verify(path, rep);
    if (rc < 0) {
        fprintf(stderr, "coldchainctl verify: %s\n", rep->error);
        free(rep);
        return 3;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *list = NULL, *head = NULL;
        bool ok = o && cJSON_AddStringToObject(o, "db", path) &&
                  cJSON_AddBoolToObject(o, "intact", rc == 0) &&
                  (head = cJSON_AddObjectToObject(o, "head")) &&
                  cJSON_AddNumberToObject(head, "id", (double)rep->head_id) &&
                  cJSON_AddStringToObject(head, "hash", rep->head_hash) &&
                  cJSON_AddNumberToObject(o, "events", (double)rep->events) &&
                  cJSON_AddNumberToObject(o, "readings", (double)rep->readings) &&
                  cJSON_AddNumberToObject(o, "readings_sealed", (double)rep->readings_sealed) &&
                  cJSON_AddNumberToObject(o, "readings_purged", (double)rep->readings_purged) &&
                  cJSON_AddNumberToObject(o, "alerts", (double)rep->alerts) &&
                  cJSON_AddNumberToObject(o, "shipments", (double)rep->shipments) &&
                  cJSON_AddNumberToObject(o, "findings_total", (double)rep->finding_count) &&
                  (list = cJSON_AddArrayToObject(o, "findings"));
        for (size_t i = 0; ok && i < rep->findings_kept; i++) {
            const struct audit_finding *f = &rep->findings[i];
            cJSON *e = cJSON_CreateObject();
            ok = e && cJSON_AddItemToArray(list, e) &&
                 cJSON_AddStringToObject(e, "table", f->table) &&
                 cJSON_AddNumberToObject(e, "id", (double)f->id) &&
                 cJSON_AddNumberToObject(e, "id_last", (double)f->id_last) &&
                 cJSON_AddStringToObject(e, "key", f->key) &&
                 cJSON_AddStringToObject(e, "what", audit_what_name(f->what)) &&
                 cJSON_AddStringToObject(e, "detail", f->detail);
        }
        if (!ok)
            cJSON_Delete(o);
        if (!ok || !print_line(o)) /* print_line() frees o */
            fprintf(stderr, "coldchainctl verify: out of memory\n");
    } else if (rc == 0) {
        printf("%s: intact: %lld events (head %lld %s), %lld readings (%lld sealed, %lld of them "
               "purged), %lld alerts, %lld shipments\n",
               path, (long long)rep->events, (long long)rep->head_id, rep->head_hash,
               (long long)rep->readings, (long long)rep->readings_sealed,
               (long long)rep->readings_purged, (long long)rep->alerts,
               (long long)rep->shipments);
    } else {
        printf("%s: TAMPERED: %zu finding%s, the first row touched first:\n", path,
               rep->finding_count,
               rep->finding_count == 1 ? "" : "s");
        for (size_t i = 0; i < rep->findings_kept; i++) {
            const struct audit_finding *f = &rep->findings[i];
            char range[48] = "";
            if (f->id_last != f->id)
                snprintf(range, sizeof(range), "..%lld", (long long)f->id_last);
            if (f->key[0] != '\0' && f->id != 0)
                printf("  %s %s (id %lld): %s: %s\n", f->table, f->key, (long long)f->id,
                       audit_what_name(f->what), f->detail);
            else if (f->key[0] != '\0')
                printf("  %s %s: %s: %s\n", f->table, f->key, audit_what_name(f->what),
                       f->detail);
            else
                printf("  %s %lld%s: %s: %s\n", f->table, (long long)f->id, range,
                       audit_what_name(f->what), f->detail);
        }
    }
    free(rep);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"socket", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    struct ctl_args ctl = {0};
    int opt;
    /* "+": options end at the verb's arguments, as in git. */
    while ((opt = getopt_long(argc, argv, "+c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'S':
            ctl.socket_path = optarg;
            break;
        case 'j':
            ctl.json = true;
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
    if (ctl_history_is_verb(verb))
        return ctl_history_main(argc - optind + 1, argv + optind - 1, config_path, ctl.json);
    if (strcmp(verb, "verify") == 0)
        return verify(argc - optind + 1, argv + optind - 1, config_path, ctl.json);
    if (is_control_verb(verb)) {
        ctl.config_path = config_path;
        return run_command(argc - optind + 1, argv + optind - 1, &ctl);
    }
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
