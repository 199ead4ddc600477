/* coldchain-sim ble, the built binary: the capture it writes is read back as the gateway reads a
 * replay (btsnoop_next + hci_le_adv_reports + ble_ad_parse + ble_decode). Every format appears;
 * the values follow the excursion scenario plus 0.5 °C per device; "invalid" gives the format's
 * fault and no value where the format has a marker; "silent" sends nothing; "repeat" sends the
 * same counter again; times run forward from --start. Each datalink and report kind reads back,
 * `btmon -r` reads the files too (skipped, and said so, when bluez is not installed), bad
 * arguments exit 2 and a file that cannot be written exits 1 and leaves no temp file. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ble_decode.h"
#include "btsnoop.h"
#include "harness.h"

#define START_S 1700000000 /* 2023-11-14T22:13:20Z, the btsnoop vectors' time */
#define START_MS (INT64_C(1000) * START_S)
#define DEVICES 7

static const char *sim;

/* The default devices, in order (docs/sensors.md, coldchain-sim --help). */
static const struct {
    const char *format; /* struct ble_values.format */
    uint8_t addr[6];
    double step; /* the format's temperature step: values are rounded to it */
    bool has_invalid_marker;
    bool has_counter;
} devices[DEVICES] = {
    {"ruuvi_rawv2", {0xD0, 0, 0, 0, 0, 1}, 0.005, true, true},
    {"ruuvi_rawv1", {0xD0, 0, 0, 0, 0, 2}, 0.01, false, false},
    {"bthome_v2", {0xA4, 0xC1, 0x38, 0, 0, 3}, 0.01, false, true},
    {"pvvx_custom", {0xA4, 0xC1, 0x38, 0, 0, 4}, 0.01, false, true},
    {"atc1441", {0xA4, 0xC1, 0x38, 0, 0, 5}, 0.1, false, true},
    {"govee_h5075", {0xA4, 0xC1, 0x38, 0, 0, 6}, 0.1, true, false},
    {"inkbird_ibs_th", {0x49, 0x42, 0x07, 0, 0, 7}, 0.01, false, false},
};

/* The excursion scenario, written here apart from tools/scenario.c:
 * 0s=5.0,10s=5.0,20s=10.5,50s=10.5,60s=5.0, holding 5.0 after the end. */
static double excursion_c(int64_t t_ms)
{
    static const double k[5][2] = {{0, 5.0}, {10000, 5.0}, {20000, 10.5}, {50000, 10.5},
                                   {60000, 5.0}};
    for (int i = 1; i < 5; i++) {
        if ((double)t_ms < k[i][0])
            return k[i - 1][1] +
                   (k[i][1] - k[i - 1][1]) * ((double)t_ms - k[i - 1][0]) / (k[i][0] - k[i - 1][0]);
    }
    return 5.0;
}

/* One advertising report as read back. */
struct report {
    int64_t ts_ms;
    uint32_t flags;
    uint8_t subevent;   /* 0x02 legacy, 0x0D extended */
    uint16_t evt_type;
    int device;         /* index in devices[], -1 unknown address */
    int rc;             /* ble_decode's */
    struct ble_values v;
};

struct capture {
    uint32_t datalink;
    size_t records;
    int64_t first_ts_ms;
    bool monotonic;
    bool new_index; /* a 2001 file's New Index record */
    struct report *r;
    size_t count, cap;
};

struct walk_ctx {
    struct capture *c;
    const struct btsnoop_record *rec;
};

static int on_report(void *arg, const uint8_t addr[6], uint8_t addr_type, int8_t rssi,
                     const uint8_t *ad, size_t ad_len)
{
    struct walk_ctx *w = arg;
    struct capture *c = w->c;
    if (c->count == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 256;
        struct report *r = realloc(c->r, cap * sizeof(*r));
        if (r == NULL)
            return -ENOMEM;
        c->r = r;
        c->cap = cap;
    }
    struct report *r = &c->r[c->count++];
    memset(r, 0, sizeof(*r));
    r->ts_ms = w->rec->ts_ms;
    r->flags = w->rec->flags;
    /* The event: [H4 04] 3E plen subevent num_reports evt_type... (one report per event). */
    const uint8_t *ev = w->rec->data + (c->datalink == BTSNOOP_DATALINK_UART ? 1 : 0);
    r->subevent = ev[2];
    r->evt_type = r->subevent == 0x0D ? (uint16_t)(ev[4] | ev[5] << 8) : ev[4];
    r->device = -1;
    for (int i = 0; i < DEVICES; i++) {
        if (memcmp(addr, devices[i].addr, 6) == 0)
            r->device = i;
    }
    struct ble_ad parsed;
    r->rc = ble_ad_parse(ad, ad_len, &parsed);
    if (r->rc == 0)
        r->rc = ble_decode(&parsed, &r->v);
    return 0;
}

/* Reads path back; false (with a failed check) if it is not a well-formed capture. */
static bool read_capture(const char *path, struct capture *c)
{
    memset(c, 0, sizeof(*c));
    c->monotonic = true;
    FILE *f = fopen(path, "rb");
    if (!harness_check(f != NULL, "%s can be opened", path))
        return false;
    uint8_t *buf = NULL;
    size_t len = 0;
    for (;;) {
        uint8_t *b = realloc(buf, len + 65536);
        if (b == NULL)
            break;
        buf = b;
        size_t n = fread(buf + len, 1, 65536, f);
        len += n;
        if (n < 65536)
            break;
    }
    fclose(f);
    bool ok = harness_check(buf && btsnoop_header(buf, len, &c->datalink) == 0,
                            "%s: a btsnoop header with a supported datalink", path);
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    int rc = ok ? 0 : 1;
    int64_t last = INT64_MIN;
    while (rc == 0 && (rc = btsnoop_next(buf, len, &off, &rec)) == 0) {
        if (c->records++ == 0)
            c->first_ts_ms = rec.ts_ms;
        if (rec.ts_ms < last)
            c->monotonic = false;
        last = rec.ts_ms;
        if (c->datalink == BTSNOOP_DATALINK_MONITOR &&
            rec.flags == BTSNOOP_MONITOR_FLAGS(0, BTSNOOP_OPCODE_NEW_INDEX) && rec.len == 16 &&
            memcmp(rec.data + 8, "hci0", 5) == 0)
            c->new_index = true;
        struct walk_ctx w = {c, &rec};
        int n = hci_le_adv_reports(rec.data, rec.len, c->datalink, rec.flags, on_report, &w);
        if (n < 0)
            rc = n;
    }
    ok = harness_check(ok && rc == 1, "%s: every record and report reads (%d)", path, rc) && ok;
    free(buf);
    return ok;
}

/* Runs the simulator with args (NULL-terminated after "ble"); its exit code (-1: no exit) and
 * its output (caller frees). */
static int run_sim(const char *name, const char *const args[], char **log_out)
{
    const char *argv[32] = {sim, "ble"};
    size_t n = 2;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    struct harness_proc *p = harness_spawn(name, argv);
    int status = -1;
    if (!p || harness_proc_wait(p, 60000, &status) < 0) {
        if (p)
            harness_proc_stop(p, 1000, &status);
    }
    if (log_out)
        *log_out = p ? harness_read_file(harness_proc_log(p)) : NULL;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The N of "sim: ble wrote N adverts ...", or -1. */
static long summary_count(const char *log)
{
    const char *s = log ? strstr(log, "sim: ble wrote ") : NULL;
    return s ? strtol(s + strlen("sim: ble wrote "), NULL, 10) : -1;
}

static bool in(int64_t t, int64_t from_ms, int64_t to_ms)
{
    return t >= from_ms && t < to_ms;
}

/* The main run: every format, the excursion scenario, each fault kind. */
static void check_main_run(const char *out)
{
    char *log = NULL;
    int code = run_sim("sim-ble", (const char *const[]){"--out", out, "--scenario", "excursion",
                                                        "--start", "1700000000", "--faults",
                                                        "70s=invalid,90s=silent@0,100s=repeat@2",
                                                        NULL},
                       &log);
    HARNESS_REQUIRE(code == 0, "coldchain-sim ble exits 0 (%d)", code);
    harness_check(log && strstr(log, "from 7 devices") && strstr(log, "datalink 2001") &&
                      strstr(log, "start 2023-11-14T22:13:20.000Z") && strstr(log, "duration 2m"),
                  "its summary line names devices, datalink, start and duration: %s",
                  log ? log : "(none)");
    struct capture c;
    HARNESS_REQUIRE(read_capture(out, &c), "the capture reads back");
    harness_check(c.datalink == BTSNOOP_DATALINK_MONITOR, "datalink 2001 by default (%u)",
                  (unsigned)c.datalink);
    harness_check(c.new_index, "a btmon file: a New Index record for hci0");
    harness_check(c.first_ts_ms == START_MS, "the first record is at --start (%lld)",
                  (long long)c.first_ts_ms);
    harness_check(c.monotonic, "timestamps never go back");
    harness_check((long)c.count == summary_count(log), "the summary counts every report (%zu)",
                  c.count);

    bool seen[DEVICES] = {false};
    int bad_value = 0, wrong_fault = 0, unknown = 0, not_ours = 0, bad_type = 0;
    int at30[DEVICES] = {0}, invalid_seen[DEVICES] = {0}, silent_seen = 0;
    int before_silence = 0, after_silence = 0, repeats = 0, repeat_breaks = 0, gaps = 0;
    uint32_t repeat_counter = 0, last_counter[DEVICES] = {0};
    bool have_last[DEVICES] = {false};
    for (size_t k = 0; k < c.count; k++) {
        const struct report *r = &c.r[k];
        int64_t t = r->ts_ms - START_MS;
        int i = r->device;
        if (i < 0) {
            unknown++;
            continue;
        }
        if (r->rc == BLE_NOT_MINE) {
            /* The ADV_IND before a scan response: name only, connectable (0x00). */
            if (r->evt_type != 0x00 || (i != 5 && i != 6))
                not_ours++;
            continue;
        }
        if (r->rc != 0 || strcmp(r->v.format, devices[i].format) != 0) {
            not_ours++;
            continue;
        }
        seen[i] = true;
        /* Data in the scan response for Govee and Inkbird, in the advert for the others. */
        uint16_t want_type = i >= 5 ? 0x04 : i <= 1 ? 0x03 : 0x00;
        if (r->subevent != 0x02 || r->evt_type != want_type)
            bad_type++;
        bool invalid = in(t, 70000, 80000);
        if (invalid && devices[i].has_invalid_marker) {
            if ((r->v.present & BLE_TEMPERATURE) || !(r->v.faults & BLE_TEMPERATURE))
                wrong_fault++;
            else
                invalid_seen[i]++;
        } else if (!(r->v.present & BLE_TEMPERATURE) || (r->v.faults & BLE_TEMPERATURE)) {
            wrong_fault++;
        } else {
            double want = excursion_c(t) + 0.5 * i;
            /* Half a step of rounding, plus the 1 ms a scan response comes after its advert. */
            if (fabs(r->v.temperature_c - want) > devices[i].step / 2 + 0.001)
                bad_value++;
            if (in(t, 30000, 31000) && fabs(r->v.temperature_c - (10.5 + 0.5 * i)) < 1e-9)
                at30[i]++;
        }
        if (i == 0) {
            silent_seen += in(t, 90000, 100000);
            before_silence += in(t, 89000, 90000);
            after_silence += in(t, 100000, 101000);
        }
        if (i == 2) {
            /* bthome: the packet id counts up by one per advert, except while repeating. */
            if (in(t, 100000, 110000)) {
                if (repeats++ == 0)
                    repeat_counter = last_counter[i];
                if (r->v.counter != repeat_counter)
                    repeat_breaks++;
            } else if (have_last[i] && r->v.counter != ((last_counter[i] + 1) & 0xFF)) {
                gaps++;
            }
        }
        if (devices[i].has_counter) {
            last_counter[i] = r->v.counter;
            have_last[i] = true;
        }
    }
    for (int i = 0; i < DEVICES; i++) {
        harness_check(seen[i], "device %d (%s) appears and decodes", i, devices[i].format);
        harness_check(at30[i] == 1, "at t=30s device %d (%s) reads 10.5 + 0.5 x %d °C", i,
                      devices[i].format, i);
        if (devices[i].has_invalid_marker)
            harness_check(invalid_seen[i] == 10,
                          "device %d (%s): 10 adverts in the invalid period give the fault bit "
                          "and no value (%d)", i, devices[i].format, invalid_seen[i]);
    }
    harness_check(unknown == 0, "no report from an address that is not a default device (%d)",
                  unknown);
    harness_check(not_ours == 0, "every report decodes as its device's format (%d not)",
                  not_ours);
    harness_check(bad_type == 0, "legacy reports of the event type each format sends (%d not)",
                  bad_type);
    harness_check(wrong_fault == 0, "faults exactly in the invalid period, for formats with a "
                  "marker (%d wrong)", wrong_fault);
    harness_check(bad_value == 0, "every temperature follows the scenario + 0.5 x device (%d "
                  "off)", bad_value);
    harness_check(silent_seen == 0 && before_silence == 1 && after_silence == 1,
                  "silent: device 0 sends nothing from 90s to 100s, and sends before and after");
    harness_check(repeats == 10 && repeat_breaks == 0,
                  "repeat: device 2's 10 adverts from 100s to 110s carry its last counter (%u)",
                  (unsigned)repeat_counter);
    harness_check(gaps == 0, "outside the repeat, device 2's counter counts up by one (%d gaps)",
                  gaps);
    free(c.r);
    free(log);
}

static void check_other_layouts(const char *dir)
{
    static const struct {
        const char *datalink, *reports;
        uint32_t want_link;
    } runs[] = {
        {"1002", "extended", BTSNOOP_DATALINK_UART},
        {"1001", "mixed", BTSNOOP_DATALINK_HCI},
        {"2001", "mixed", BTSNOOP_DATALINK_MONITOR},
    };
    for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
        char out[1024];
        snprintf(out, sizeof(out), "%s/layout-%s-%s.btsnoop", dir, runs[k].datalink,
                 runs[k].reports);
        char *log = NULL;
        int code = run_sim("sim-ble-layout",
                           (const char *const[]){"--out", out, "--start", "1700000000",
                                                 "--duration", "5s", "--interval", "500ms",
                                                 "--datalink", runs[k].datalink, "--reports",
                                                 runs[k].reports, NULL},
                           &log);
        harness_check(code == 0, "--datalink %s --reports %s exits 0 (%d)", runs[k].datalink,
                      runs[k].reports, code);
        struct capture c;
        if (!read_capture(out, &c))
            continue;
        size_t legacy = 0, extended = 0, decoded = 0;
        for (size_t i = 0; i < c.count; i++) {
            legacy += c.r[i].subevent == 0x02;
            extended += c.r[i].subevent == 0x0D;
            decoded += c.r[i].rc == 0;
        }
        bool mixed = strcmp(runs[k].reports, "mixed") == 0;
        harness_check(c.datalink == runs[k].want_link && c.first_ts_ms == START_MS &&
                          c.monotonic,
                      "datalink %s: read as %u, first record at --start, in time order",
                      runs[k].datalink, (unsigned)c.datalink);
        /* 10 rounds x 7 devices, and an ADV_IND before each Govee and Inkbird scan response. */
        harness_check(c.count == 90 && decoded == 70 && (long)c.count == summary_count(log),
                      "datalink %s: 90 reports, 70 carrying a reading (%zu, %zu)",
                      runs[k].datalink, c.count, decoded);
        harness_check(mixed ? legacy > 0 && extended > 0 : legacy == 0 && extended == c.count,
                      "--reports %s: %zu legacy, %zu extended", runs[k].reports, legacy,
                      extended);
        free(c.r);
        free(log);
    }
}

/* "now" is the wall clock when the simulator ran. */
static void check_start_now(const char *dir)
{
    char out[1024];
    snprintf(out, sizeof(out), "%s/now.btsnoop", dir);
    int64_t before = harness_wall_ms();
    int code = run_sim("sim-ble-now",
                       (const char *const[]){"--out", out, "--duration", "2s", "--device",
                                             "pvvx", NULL},
                       NULL);
    int64_t after = harness_wall_ms();
    struct capture c;
    if (harness_check(code == 0, "--start now (the default) exits 0") && read_capture(out, &c)) {
        harness_check(c.first_ts_ms >= before && c.first_ts_ms <= after,
                      "without --start the capture starts at the wall clock");
        harness_check(c.count == 2 && c.r[0].rc == 0 && c.r[1].ts_ms - c.r[0].ts_ms == 1000,
                      "one pvvx device: 2 adverts 1 s apart in 2 s");
        free(c.r);
    }
}

/* btmon from PATH or Debian's /usr/bin into buf; false when it is not installed. */
static bool find_btmon(char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s:/usr/bin", path ? path : "");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (snprintf(buf, cap, "%s/btmon", d) < (int)cap && access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

/* btmon reads the capture as a capture of its own; skipped, and said so, without bluez. */
static void check_btmon(const char *dir)
{
    char btmon[1024];
    if (!find_btmon(btmon, sizeof(btmon))) {
        printf("skipped: btmon -r (btmon is not installed: Debian package bluez)\n");
        return;
    }
    if (setenv("TZ", "UTC", 1) != 0) /* btmon -T prints local time */
        harness_check(false, "TZ=UTC for btmon");
    static const char *const files[] = {"main.btsnoop", "layout-1002-extended.btsnoop",
                                        "layout-1001-mixed.btsnoop"};
    static const int want_events[] = {-1, 90, 90};
    for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, files[k]);
        /* -T: dates, which btmon prints in local time. */
        struct harness_proc *p =
            harness_spawn("btmon", (const char *const[]){btmon, "-T", "-r", path, NULL});
        int status = -1;
        if (!p || harness_proc_wait(p, 30000, &status) < 0) {
            if (p)
                harness_proc_stop(p, 1000, &status);
        }
        char *log = p ? harness_read_file(harness_proc_log(p)) : NULL;
        int events = 0, reports = 0;
        /* btmon shortens its header lines to 80 columns off a terminal ("LE Meta E.. (0x3e)"):
         * count the event code. */
        for (const char *s = log; s && (s = strstr(s, "> HCI Event: LE Meta")); s++) {
            const char *code = strchr(s, '(');
            events += code && strncmp(code, "(0x3e)", 6) == 0;
        }
        for (const char *s = log; s && (s = strstr(s, "Advertising Report (0x")); s++)
            reports++;
        bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && events > 0 &&
                  events == reports && (want_events[k] < 0 || events == want_events[k]);
        if (k == 0)
            ok = ok && strstr(log, "New Index") && strstr(log, "hci0") && events == 1070 &&
                 strstr(log, "2023-11-14 22:13:20.000000");
        harness_check(ok, "btmon -r %s: exit 0, %d LE Meta events, each an advertising report%s",
                      files[k], events, k == 0 ? "; hci0 and --start's date" : "");
        free(log);
    }
}

static void check_bad_arguments(const char *dir)
{
    char out[1024];
    snprintf(out, sizeof(out), "%s/bad.btsnoop", dir);
    static const struct {
        const char *args[6];
        const char *names; /* what the message must name */
    } cases[] = {
        {{"--duration", "10s"}, "--out"},
        {{"--device", "thermopro"}, "--device"},
        {{"--device", "pvvx=A4:C1:38:00:00"}, "--device"},
        {{"--device", "pvvx=A4:C1:38:00:00:09", "--device", "atc1441=a4:c1:38:00:00:09"},
         "both have the address"},
        {{"--datalink", "1003"}, "--datalink"},
        {{"--reports", "both"}, "--reports"},
        {{"--faults", "10s=invalid@7"}, "--faults"},
        {{"--faults", "10s=broken"}, "--faults"},
        {{"--interval", "10ms"}, "--interval"},
        {{"--duration", "0s"}, "--duration"},
        {{"--humidity", "101"}, "--humidity"},
        {{"--battery", "50.5"}, "--battery"},
        {{"--start", "yesterday"}, "--start"},
        {{"--scenario", "thaw"}, "--scenario"},
        {{"--script", "0s=5,10s"}, "--script"},
        {{"--frobnicate"}, "--frobnicate"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        const char *args[12];
        size_t n = 0;
        if (strcmp(cases[k].names, "--out") != 0) {
            args[n++] = "--out";
            args[n++] = out;
        }
        for (size_t a = 0; a < 6 && cases[k].args[a]; a++)
            args[n++] = cases[k].args[a];
        args[n] = NULL;
        char *log = NULL;
        int code = run_sim("sim-ble-bad", args, &log);
        harness_check(code == 2 && log && strstr(log, cases[k].names),
                      "%s %s: exit 2 naming %s (exit %d)", cases[k].args[0],
                      cases[k].args[1] ? cases[k].args[1] : "", cases[k].names, code);
        free(log);
    }
    harness_check(access(out, F_OK) != 0, "no file is written on bad arguments");
}

static void check_write_failure(const char *dir)
{
    /* A directory where the file should go: the temp file is written, the rename fails. */
    char out[1024];
    snprintf(out, sizeof(out), "%s/a-directory", dir);
    HARNESS_REQUIRE(mkdir(out, 0755) == 0, "a directory to write onto");
    char *log = NULL;
    int code = run_sim("sim-ble-io", (const char *const[]){"--out", out, "--duration", "2s",
                                                           NULL},
                       &log);
    harness_check(code == 1 && log && strstr(log, "cannot write"),
                  "a file that cannot be written: exit 1 with a message (exit %d)", code);
    free(log);
    snprintf(out, sizeof(out), "%s/no-such-dir/x.btsnoop", dir);
    code = run_sim("sim-ble-io", (const char *const[]){"--out", out, NULL}, NULL);
    harness_check(code == 1, "a folder that does not exist: exit 1 (exit %d)", code);
    int temps = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e = d ? readdir(d) : NULL; e; e = readdir(d))
        temps += strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    harness_check(temps == 0, "no temp file is left behind (%d)", temps);
}

int main(void)
{
    if (harness_init("sim-ble") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    sim = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(sim && access(sim, X_OK) == 0, "COLDCHAIN_SIM names an executable");
    const char *dir = harness_dir();
    char out[1024];
    snprintf(out, sizeof(out), "%s/main.btsnoop", dir);
    check_main_run(out);
    check_other_layouts(dir);
    check_start_now(dir);
    check_btmon(dir);
    check_bad_arguments(dir);
    check_write_failure(dir);
    harness_exit();
}
