/* The gateway's JSON configuration (DESIGN §8): parsed into a self-contained struct config, every
 * error naming the JSON path and what was expected. Everything but config_load() is pure and is
 * fuzzed (tests/fuzz/fuzz_config.c): no input may crash it, leak, or make it call exit().
 * Main thread only (at start and, parsed aside, on SIGHUP). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "presets.h"
#include "reading_csv.h"

/* A config file is a few kilobytes; anything this large is a wrong file, not a config. */
#define CONFIG_FILE_MAX_BYTES (1024 * 1024)

/* Upper bounds on list sizes. Far above any gateway (a pharmacy has a handful of fridges), they
 * keep what a hostile or corrupt file can make us allocate proportionate. */
#define MAX_SENSORS 4096
#define MAX_BUSES 256
#define MAX_PROFILES 1024
#define MAX_SHIPMENTS 4096

#define MS_PER_S INT64_C(1000)
#define MS_PER_MIN (60 * MS_PER_S)
#define MS_PER_H (60 * MS_PER_MIN)
#define MS_PER_DAY (24 * MS_PER_H)

#define IDENTIFIER_CHARS "A-Z, a-z, 0-9, \"_\", \".\" and \"-\" (not starting with \".\")"

/* A name and where it was, sorted by name for duplicate checks and O(log n) lookups: the lists
 * can be long in a fuzzed file and shipments refer to sensors by name. */
struct name_ref {
    const char *name;
    size_t index;
};

struct parse {
    struct config *config;
    struct cfg_error *err;
    unsigned flags;                /* enum config_flags */
    struct name_ref *sensor_refs; /* config->sensor_count entries, sorted */
};

static int cmp_name_ref(const void *a, const void *b)
{
    const struct name_ref *x = a;
    const struct name_ref *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorts count names, found every stride bytes from names, into *refs_out (owned by the caller).
 * Returns 0, 1 when a name repeats (with *first_out the earlier and *dup_out the earliest
 * repeated index), or -ENOMEM. */
static int sort_names(const char *names, size_t stride, size_t count, struct name_ref **refs_out,
                      size_t *first_out, size_t *dup_out)
{
    *refs_out = NULL;
    struct name_ref *refs = calloc(count > 0 ? count : 1, sizeof(*refs));
    if (refs == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < count; i++)
        refs[i] = (struct name_ref){.name = names + i * stride, .index = i};
    qsort(refs, count, sizeof(*refs), cmp_name_ref);

    int found = 0;
    size_t group_start = 0;
    for (size_t i = 1; i < count; i++) {
        if (strcmp(refs[i].name, refs[i - 1].name) != 0) {
            group_start = i;
            continue;
        }
        /* Within a group the indexes ascend; report the repeat that comes first in the file. */
        if (found == 0 || refs[i].index < *dup_out) {
            *first_out = refs[group_start].index;
            *dup_out = refs[i].index;
            found = 1;
        }
    }
    *refs_out = refs;
    return found;
}

/* The index of name in sorted refs, or -1. */
static long find_name(const struct name_ref *refs, size_t count, const char *name)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(refs[mid].name, name);
        if (c == 0) {
            /* Names are unique once sort_names() found no repeat. */
            return (long)refs[mid].index;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}



/* Reads key as an identifier (cfg_is_identifier) of at most cap - 1 characters into buf. */
static int get_identifier(const cJSON *obj, const char *path, const char *key, bool required,
                          char *buf, size_t cap, struct cfg_error *err)
{
    char text[256];
    char member_path[sizeof(err->path)];
    int rc = cfg_get_string(obj, path, key, required, "", text, sizeof(text), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(text, cap))
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "expected an identifier of 1 to %zu characters from " IDENTIFIER_CHARS
                        ", got \"%.40s\"",
                        cap - 1, text);
    memcpy(buf, text, strlen(text) + 1);
    return 0;
}

/* Reads a string that must not be empty. */
static int get_text(const cJSON *obj, const char *path, const char *key, bool required,
                    const char *def, char *buf, size_t cap, struct cfg_error *err)
{
    char member_path[sizeof(err->path)];
    int rc = cfg_get_string(obj, path, key, required, def, buf, cap, err);
    if (rc < 0)
        return rc;
    if (buf[0] == '\0')
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "expected a non-empty text");
    return 0;
}

/* Checks that arr (an array at path) has 1..max elements. */
static int check_count(const cJSON *arr, const char *path, const char *what, size_t max,
                       size_t *count_out, struct cfg_error *err)
{
    size_t count = 0;
    for (const cJSON *item = arr->child; item != NULL; item = item->next)
        count++;
    if (count == 0)
        return cfg_fail(err, path, "expected at least one %s", what);
    if (count > max)
        return cfg_fail(err, path, "expected at most %zu %ss, got %zu", max, what, count);
    *count_out = count;
    return 0;
}

/* ---- mqtt ---- */

/* The schemes Paho 1.3.12 (Debian 12) connects with: tcp:// and mqtt:// in the clear, ssl:// and
 * mqtts:// over TLS (MQTTAsync_createWithOptions() in src/MQTTAsync.c). Its ws:// and wss://
 * (MQTT over WebSockets) are not offered. */
static const struct {
    const char *scheme;
    bool tls;
} uri_schemes[] = {{"tcp://", false}, {"mqtt://", false}, {"ssl://", true}, {"mqtts://", true}};

static int parse_mqtt_uri(const cJSON *mqtt, struct config_mqtt *m, bool *tls_out,
                          struct cfg_error *err)
{
    int rc = get_text(mqtt, "mqtt", "uri", true, NULL, m->uri, sizeof(m->uri), err);
    if (rc < 0)
        return rc;
    if (strncmp(m->uri, "ws://", 5) == 0 || strncmp(m->uri, "wss://", 6) == 0)
        return cfg_fail(err, "mqtt.uri",
                        "MQTT over WebSockets (ws://, wss://) is not supported: use tcp://, "
                        "mqtt://, ssl:// or mqtts://, got \"%.60s\"",
                        m->uri);
    for (size_t i = 0; i < sizeof(uri_schemes) / sizeof(uri_schemes[0]); i++) {
        size_t n = strlen(uri_schemes[i].scheme);
        if (strncmp(m->uri, uri_schemes[i].scheme, n) != 0 || m->uri[n] == '\0')
            continue;
        /* The uri is in every log line about the broker: no "user:password@" in it. */
        if (strchr(m->uri + n, '@') != NULL)
            return cfg_fail(err, "mqtt.uri",
                            "expected no user name or password in the uri (\"@\"): use "
                            "\"username\" and \"password_file\"");
        *tls_out = uri_schemes[i].tls;
        return 0;
    }
    return cfg_fail(err, "mqtt.uri",
                    "expected a broker URI such as \"tcp://127.0.0.1:1883\" or "
                    "\"ssl://broker.example.com:8883\" (tcp://, mqtt://, ssl:// or mqtts://), "
                    "got \"%.60s\"",
                    m->uri);
}

/* Reads key, when present, as an absolute path into buf ("" when absent and not required).
 * Absolute because the files are opened again at every connect from the daemon's working
 * directory (/ under systemd), where a relative path would not mean what it seemed to. */
static int get_file_path(const cJSON *obj, const char *path, const char *key, bool required,
                         char *buf, size_t cap, struct cfg_error *err)
{
    char member_path[CFG_PATH_CAP];
    int rc = cfg_get_string(obj, path, key, required, "", buf, cap, err);
    if (rc < 0)
        return rc;
    if (cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
        return 0;
    bool printable = true;
    for (const char *c = buf; *c != '\0'; c++)
        printable = printable && (unsigned char)*c >= 0x20 && *c != 0x7f;
    if (buf[0] != '/' || !printable)
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "expected an absolute file path (starting with \"/\", no control "
                        "characters)%s%.60s%s",
                        printable ? ", got \"" : "", printable ? buf : "", printable ? "\"" : "");
    return 0;
}

/* "tls" goes with an ssl:// or mqtts:// uri and only with one: TLS is never half-configured. */
static int parse_mqtt_tls(const cJSON *mqtt, bool tls_uri, struct config_mqtt *m,
                          struct cfg_error *err)
{
    static const char *const keys[] = {"ca_file", "cert_file", "key_file", "verify_hostname",
                                       NULL};
    struct config_mqtt_tls *t = &m->tls;
    const cJSON *tls;
    int rc = cfg_get_object(mqtt, "mqtt", "tls", false, &tls, err);
    if (rc < 0)
        return rc;
    if (tls == NULL && tls_uri)
        return cfg_fail(err, "mqtt.tls",
                        "missing: an ssl:// or mqtts:// uri needs \"tls\" with at least "
                        "\"ca_file\" (the CA certificate that signed the broker's)");
    if (tls == NULL)
        return 0;
    if (!tls_uri)
        return cfg_fail(err, "mqtt.tls",
                        "expected only with an ssl:// or mqtts:// uri (TLS), but mqtt.uri is "
                        "\"%.60s\"",
                        m->uri);
    rc = cfg_check_keys(tls, "mqtt.tls", keys, err);
    if (rc < 0)
        return rc;
    t->enabled = true;
    rc = get_file_path(tls, "mqtt.tls", "ca_file", true, t->ca_file, sizeof(t->ca_file), err);
    if (rc < 0)
        return rc;
    rc = get_file_path(tls, "mqtt.tls", "cert_file", false, t->cert_file, sizeof(t->cert_file),
                       err);
    if (rc < 0)
        return rc;
    rc = get_file_path(tls, "mqtt.tls", "key_file", false, t->key_file, sizeof(t->key_file), err);
    if (rc < 0)
        return rc;
    if ((t->cert_file[0] == '\0') != (t->key_file[0] == '\0'))
        return cfg_fail(err, t->cert_file[0] ? "mqtt.tls.key_file" : "mqtt.tls.cert_file",
                        "missing: a client certificate needs both \"cert_file\" and "
                        "\"key_file\" (its private key), or neither");
    return cfg_get_bool(tls, "mqtt.tls", "verify_hostname", false, true, &t->verify_hostname,
                        err);
}

/* The user name is UTF-8 in MQTT (§1.5.4) and "user:hash" in mosquitto's password file; printable
 * ASCII without spaces keeps it unambiguous there and in logs. */
static int parse_mqtt_user(const cJSON *mqtt, struct config_mqtt *m, struct cfg_error *err)
{
    int rc = cfg_get_string(mqtt, "mqtt", "username", false, "", m->username,
                            sizeof(m->username), err);
    if (rc < 0)
        return rc;
    bool present = cJSON_GetObjectItemCaseSensitive(mqtt, "username") != NULL;
    bool ok = !present || m->username[0] != '\0';
    for (const char *c = m->username; *c != '\0'; c++)
        ok = ok && *c > 0x20 && *c < 0x7f && *c != ':';
    if (!ok)
        return cfg_fail(err, "mqtt.username",
                        "expected a user name of 1 to %zu printable ASCII characters without "
                        "spaces or \":\"",
                        sizeof(m->username) - 1);
    rc = get_file_path(mqtt, "mqtt", "password_file", false, m->password_file,
                       sizeof(m->password_file), err);
    if (rc < 0)
        return rc;
    if (m->password_file[0] != '\0' && m->username[0] == '\0')
        return cfg_fail(err, "mqtt.username",
                        "missing: \"password_file\" needs the \"username\" it is the password of");
    return 0;
}

/* A topic prefix goes in front of every topic we publish and subscribe: wildcards or empty
 * levels in it would make subscriptions match other gateways' topics. */
static int check_topic_prefix(const char *prefix, struct cfg_error *err)
{
    size_t len = strlen(prefix);
    bool ok = len > 0 && prefix[0] != '/' && prefix[len - 1] != '/' && prefix[0] != '$' &&
              strpbrk(prefix, "+#") == NULL && strstr(prefix, "//") == NULL;
    if (!ok)
        return cfg_fail(err, "mqtt.prefix",
                        "expected a topic prefix such as \"coldchain/v1\" (no \"+\", \"#\", empty "
                        "levels or leading \"$\"), got \"%.60s\"",
                        prefix);
    return 0;
}

static int parse_mqtt(const cJSON *root, struct config *c, struct cfg_error *err)
{
    static const char *const keys[] = {"uri",           "prefix",
                                       "client_id",     "keepalive",
                                       "telemetry_qos", "telemetry_interval",
                                       "twin_interval", "reconnect_min",
                                       "reconnect_max", "tls",
                                       "username",      "password_file",
                                       NULL};
    const cJSON *mqtt;
    struct config_mqtt *m = &c->mqtt;
    long long qos;
    bool tls_uri = false;
    char def_client_id[sizeof(m->client_id)];
    int rc = cfg_get_object(root, "", "mqtt", true, &mqtt, err);
    if (rc < 0)
        return rc;
    /* Secrets come from files, never from the JSON (DESIGN §7): say so rather than "unknown key".
     * The value is not quoted. */
    if (cJSON_IsObject(mqtt) && cJSON_GetObjectItemCaseSensitive(mqtt, "password") != NULL)
        return cfg_fail(err, "mqtt.password",
                        "a password is not written in the config: put it alone in a file that "
                        "only the gateway can read and name that file in \"password_file\"");
    rc = cfg_check_keys(mqtt, "mqtt", keys, err);
    if (rc < 0)
        return rc;
    rc = parse_mqtt_uri(mqtt, m, &tls_uri, err);
    if (rc < 0)
        return rc;
    rc = parse_mqtt_tls(mqtt, tls_uri, m, err);
    if (rc < 0)
        return rc;
    rc = parse_mqtt_user(mqtt, m, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_string(mqtt, "mqtt", "prefix", false, "coldchain/v1", m->prefix, sizeof(m->prefix),
                        err);
    if (rc < 0)
        return rc;
    rc = check_topic_prefix(m->prefix, err);
    if (rc < 0)
        return rc;
    snprintf(def_client_id, sizeof(def_client_id), "coldchain-%s", c->gateway_id);
    rc = get_text(mqtt, "mqtt", "client_id", false, def_client_id, m->client_id,
                  sizeof(m->client_id), err);
    if (rc < 0)
        return rc;
    /* MQTT's keep alive is a 16-bit count of seconds (MQTT 5 §3.1.2.10). */
    rc = cfg_get_duration(mqtt, "mqtt", "keepalive", false, 30 * MS_PER_S, MS_PER_S,
                          65535 * MS_PER_S, &m->keepalive_ms, err);
    if (rc < 0)
        return rc;
    if (m->keepalive_ms % MS_PER_S != 0)
        return cfg_fail(err, "mqtt.keepalive", "expected whole seconds, such as \"30s\"");
    rc = cfg_get_int(mqtt, "mqtt", "telemetry_qos", false, 0, 0, 1, &qos, err);
    if (rc < 0)
        return rc;
    m->telemetry_qos = (int)qos;
    rc = cfg_get_duration(mqtt, "mqtt", "telemetry_interval", false, 10 * MS_PER_S, 100, MS_PER_H,
                          &m->telemetry_interval_ms, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_duration(mqtt, "mqtt", "twin_interval", false, 5 * MS_PER_S, 100, MS_PER_H,
                          &m->twin_interval_ms, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_duration(mqtt, "mqtt", "reconnect_min", false, MS_PER_S, 100, MS_PER_H,
                          &m->reconnect_min_ms, err);
    if (rc < 0)
        return rc;
    /* The default ceiling follows a larger floor, so setting only reconnect_min stays valid. */
    int64_t def_max_ms = m->reconnect_min_ms > 60 * MS_PER_S ? m->reconnect_min_ms : 60 * MS_PER_S;
    rc = cfg_get_duration(mqtt, "mqtt", "reconnect_max", false, def_max_ms, 100, MS_PER_DAY,
                          &m->reconnect_max_ms, err);
    if (rc < 0)
        return rc;
    if (m->reconnect_max_ms < m->reconnect_min_ms) {
        /* Both are present here (the default follows reconnect_min) and are valid strings. */
        const cJSON *min = cJSON_GetObjectItemCaseSensitive(mqtt, "reconnect_min");
        const cJSON *max = cJSON_GetObjectItemCaseSensitive(mqtt, "reconnect_max");
        return cfg_fail(err, "mqtt.reconnect_max",
                        "expected a duration of at least reconnect_min (\"%.20s\"), got \"%.20s\"",
                        min != NULL ? min->valuestring : "1s",
                        max != NULL ? max->valuestring : "60s");
    }
    return 0;
}

/* ---- store ---- */

static int parse_store(const cJSON *root, struct config *c, struct cfg_error *err)
{
    static const char *const keys[] = {"batch_max", "batch_interval", "outbox_max", "retention",
                                       NULL};
    const cJSON *store;
    int rc = cfg_get_object(root, "", "store", false, &store, err);
    if (rc < 0)
        return rc;
    c->store.batch_max = 256;
    c->store.batch_interval_ms = 2 * MS_PER_S;
    c->store.outbox_max = 1000000;
    c->store.retention_ms = 0;
    if (store == NULL)
        return 0;
    rc = cfg_check_keys(store, "store", keys, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_int(store, "store", "batch_max", false, 256, 1, 100000, &c->store.batch_max, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_duration(store, "store", "batch_interval", false, 2 * MS_PER_S, 100,
                          10 * MS_PER_MIN, &c->store.batch_interval_ms, err);
    if (rc < 0)
        return rc;
    rc = cfg_get_int(store, "store", "outbox_max", false, 1000000, 1000, 100000000,
                     &c->store.outbox_max, err);
    if (rc < 0)
        return rc;
    /* 0 keeps everything; otherwise at least a day (a typo of "30s" must not purge a record). */
    rc = cfg_get_duration(store, "store", "retention", false, 0, 0, 100LL * 365 * MS_PER_DAY,
                          &c->store.retention_ms, err);
    if (rc == 0 && c->store.retention_ms != 0 && c->store.retention_ms < MS_PER_DAY)
        rc = cfg_fail(err, "store.retention", "expected \"0s\" (keep everything) or at least "
                      "\"1d\"");
    return rc;
}

/* "control": {"socket": "/run/coldchain/control.sock", "group": "coldchain"}: the local control
 * socket (gateway/control.h). The socket defaults to control.sock in the data_dir. */
static int parse_control(const cJSON *root, struct config *c, struct cfg_error *err)
{
    static const char *const keys[] = {"socket", "group", NULL};
    const cJSON *control;
    int rc = cfg_get_object(root, "", "control", false, &control, err);
    c->control.socket[0] = c->control.group[0] = '\0';
    if (rc == 0 && control != NULL) {
        rc = cfg_check_keys(control, "control", keys, err);
        if (rc == 0)
            rc = cfg_get_string(control, "control", "socket", false, "", c->control.socket,
                                sizeof(c->control.socket), err);
        if (rc == 0)
            rc = cfg_get_string(control, "control", "group", false, "", c->control.group,
                                sizeof(c->control.group), err);
    }
    if (rc < 0)
        return rc;
    if (c->control.socket[0] != '\0' && c->control.socket[0] != '/')
        return cfg_fail(err, "control.socket", "expected an absolute path such as "
                        "\"/run/coldchain/control.sock\"");
    if (c->control.socket[0] == '\0' &&
        snprintf(c->control.socket, sizeof(c->control.socket), "%s/control.sock",
                 c->data_dir) >= (int)sizeof(c->control.socket))
        return cfg_fail(err, "data_dir", "too long for the control socket's path (at most %zu "
                        "bytes with /control.sock)", sizeof(c->control.socket) - 1);
    return 0;
}

/* ---- sensors ---- */

/* "two_point": [{"raw": 0.12, "reference": 0.0}, {"raw": 99.71, "reference": 100.0}]: two
 * points of a calibration certificate (what the probe read, what the reference said). The line
 * through them gives the gain and the offset: reference = raw * gain + offset. */
static int parse_two_point(const cJSON *item, const char *path, struct config_calibration *c,
                           struct cfg_error *err)
{
    static const char *const keys[] = {"raw", "reference", NULL};
    char tp[sizeof(err->path)], pp[sizeof(err->path)];
    cfg_path_key(tp, sizeof(tp), path, "two_point");
    if (cJSON_GetObjectItemCaseSensitive(item, "gain") != NULL ||
        cJSON_GetObjectItemCaseSensitive(item, "offset") != NULL)
        return cfg_fail(err, tp, "give either \"two_point\" or \"gain\"/\"offset\", not both");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(item, "two_point");
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) != 2)
        return cfg_fail(err, tp, "expected two points: [{\"raw\": 0.12, \"reference\": 0.0}, "
                                 "{\"raw\": 99.71, \"reference\": 100.0}]");
    double raw[2], ref[2];
    for (int i = 0; i < 2; i++) {
        const cJSON *pt = cJSON_GetArrayItem(arr, i);
        cfg_path_index(pp, sizeof(pp), tp, (size_t)i);
        int rc = cfg_check_keys(pt, pp, keys, err);
        if (rc == 0)
            rc = cfg_get_number(pt, pp, "raw", true, 0, -1e6, 1e6, &raw[i], err);
        if (rc == 0)
            rc = cfg_get_number(pt, pp, "reference", true, 0, -1e6, 1e6, &ref[i], err);
        if (rc < 0)
            return rc;
    }
    if (raw[1] == raw[0])
        return cfg_fail(err, tp, "expected two different raw values, got %g twice", raw[0]);
    c->gain = (ref[1] - ref[0]) / (raw[1] - raw[0]);
    c->offset = ref[0] - c->gain * raw[0];
    /* A probe whose readings fall when the temperature rises is a swapped pair, not a probe. */
    if (!(c->gain > 0.0))
        return cfg_fail(err, tp, "the points give a gain of %g: expected the reference to rise "
                                 "with the raw value", c->gain);
    return 0;
}

static int parse_calibration(const cJSON *sensor, const char *path, struct config_sensor *s,
                             struct cfg_error *err)
{
    static const char *const cal_keys[] = {"offset", "gain", "two_point", NULL};
    const char *quantity_keys[QUANTITY_COUNT + 1];
    char cal_path[sizeof(err->path)];
    char q_path[sizeof(err->path)];
    const cJSON *cal;

    for (unsigned q = 0; q < QUANTITY_COUNT; q++) {
        s->calibration[q].offset = 0.0;
        s->calibration[q].gain = 1.0;
        quantity_keys[q] = quantity_name(q);
    }
    quantity_keys[QUANTITY_COUNT] = NULL;

    int rc = cfg_get_object(sensor, path, "calibration", false, &cal, err);
    if (rc < 0 || cal == NULL)
        return rc;
    cfg_path_key(cal_path, sizeof(cal_path), path, "calibration");
    /* The member names are quantity names: an unknown one is reported with the known ones. */
    rc = cfg_check_keys(cal, cal_path, quantity_keys, err);
    if (rc < 0)
        return rc;
    for (const cJSON *item = cal->child; item != NULL; item = item->next) {
        uint8_t q;
        if (quantity_parse(item->string, &q) < 0)
            return cfg_fail(err, cal_path, "unknown quantity");
        cfg_path_key(q_path, sizeof(q_path), cal_path, item->string);
        rc = cfg_check_keys(item, q_path, cal_keys, err);
        if (rc < 0)
            return rc;
        if (cJSON_GetObjectItemCaseSensitive(item, "two_point") != NULL) {
            rc = parse_two_point(item, q_path, &s->calibration[q], err);
            if (rc < 0)
                return rc;
            continue;
        }
        rc = cfg_get_number(item, q_path, "offset", false, 0.0, -DBL_MAX, DBL_MAX,
                            &s->calibration[q].offset, err);
        if (rc < 0)
            return rc;
        rc = cfg_get_number(item, q_path, "gain", false, 1.0, -DBL_MAX, DBL_MAX,
                            &s->calibration[q].gain, err);
        if (rc < 0)
            return rc;
        /* A gain of 0 would turn every reading into the offset: a fridge that can never alarm. */
        if (!(s->calibration[q].gain > 0.0)) {
            char gain_path[sizeof(err->path)];
            return cfg_fail(err, cfg_path_key(gain_path, sizeof(gain_path), q_path, "gain"),
                            "expected a number > 0, got %.15g", s->calibration[q].gain);
        }
    }
    return 0;
}

/* "calibration_due": "2027-03-01": the date the certificate runs out, at 00:00 UTC. */
static int parse_calibration_due(const cJSON *sensor, const char *path, struct config_sensor *s,
                                 struct cfg_error *err)
{
    char text[32], ts[48], mp[sizeof(err->path)];
    if (cJSON_GetObjectItemCaseSensitive(sensor, "calibration_due") == NULL)
        return 0;
    int rc = cfg_get_string(sensor, path, "calibration_due", true, NULL, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    int n = snprintf(ts, sizeof(ts), "%sT00:00:00Z", text);
    if (strlen(text) != 10 || n <= 0 || reading_csv_parse_ts(ts, (size_t)n, &s->calibration_due_ms) < 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "calibration_due"),
                        "expected a date as YYYY-MM-DD, got \"%.20s\"", text);
    return 0;
}

static int parse_sensors(const cJSON *root, struct parse *p)
{
    static const char *const keys[] = {"id",          "name",           "calibration",
                                       "certificate", "calibration_due", NULL};
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    const cJSON *arr;
    char path[sizeof(err->path)];
    size_t count = 0, first = 0, dup = 0;

    int rc = cfg_get_array(root, "", "sensors", true, &arr, err);
    if (rc < 0)
        return rc;
    rc = check_count(arr, "sensors", "sensor", MAX_SENSORS, &count, err);
    if (rc < 0)
        return rc;
    c->sensors = calloc(count, sizeof(*c->sensors));
    if (c->sensors == NULL)
        return -ENOMEM;

    const cJSON *item = arr->child;
    for (size_t i = 0; i < count; i++, item = item->next) {
        struct config_sensor *s = &c->sensors[i];
        cfg_path_index(path, sizeof(path), "sensors", i);
        rc = cfg_check_keys(item, path, keys, err);
        if (rc < 0)
            return rc;
        rc = get_identifier(item, path, "id", true, s->id, sizeof(s->id), err);
        if (rc < 0)
            return rc;
        rc = get_text(item, path, "name", false, s->id, s->name, sizeof(s->name), err);
        if (rc < 0)
            return rc;
        rc = parse_calibration(item, path, s, err);
        if (rc < 0)
            return rc;
        rc = parse_calibration_due(item, path, s, err);
        if (rc < 0)
            return rc;
        rc = cfg_get_string(item, path, "certificate", false, "", s->certificate,
                            sizeof(s->certificate), err);
        if (rc < 0)
            return rc;
        c->sensor_count = i + 1;
    }

    rc = sort_names(c->sensors[0].id, sizeof(c->sensors[0]), count, &p->sensor_refs, &first, &dup);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        char id_path[sizeof(err->path)];
        cfg_path_index(path, sizeof(path), "sensors", dup);
        return cfg_fail(err, cfg_path_key(id_path, sizeof(id_path), path, "id"),
                        "duplicate sensor id \"%s\" (also sensors[%zu])", c->sensors[dup].id,
                        first);
    }
    return 0;
}

static long find_sensor(const struct parse *p, const char *id)
{
    return find_name(p->sensor_refs, p->config->sensor_count, id);
}

/* ---- buses ---- */

static int check_point(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    struct parse *p = arg;
    if (sensor_id == NULL || find_sensor(p, sensor_id) < 0)
        return cfg_fail(p->err, path, "sensor \"%.40s\" is not declared in sensors[]",
                        sensor_id != NULL ? sensor_id : "");
    if (quantity >= QUANTITY_COUNT)
        return cfg_fail(p->err, path, "unknown quantity %u", (unsigned)quantity);
    return 0;
}

static int parse_bus(const cJSON *item, size_t i, struct parse *p)
{
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    struct config_bus *bus = &c->buses[i];
    char path[sizeof(err->path)];
    char type[256];

    cfg_path_index(path, sizeof(path), "buses", i);
    if (!cJSON_IsObject(item))
        return cfg_fail(err, path, "expected an object");
    /* Only name and type are ours; the adapter's open() checks every other key of the bus. */
    int rc = get_identifier(item, path, "name", true, bus->name, sizeof(bus->name), err);
    if (rc < 0)
        return rc;
    for (size_t k = 0; k < i; k++) {
        if (strcmp(c->buses[k].name, bus->name) == 0) {
            char name_path[sizeof(err->path)];
            return cfg_fail(err, cfg_path_key(name_path, sizeof(name_path), path, "name"),
                            "duplicate bus name \"%s\" (also buses[%zu])", bus->name, k);
        }
    }
    rc = cfg_get_string(item, path, "type", true, NULL, type, sizeof(type), err);
    if (rc < 0)
        return rc;
    bus->adapter = sensor_adapter_find(type);
    if (bus->adapter == NULL) {
        char type_path[sizeof(err->path)];
        return cfg_fail(err, cfg_path_key(type_path, sizeof(type_path), path, "type"),
                        "unknown bus type \"%.40s\"; known types: %s", type,
                        sensor_adapter_types());
    }
    /* owfs's owcapi keeps one connection per process (sensors/owserver.h): one owserver bus
     * serves every probe on that server. */
    for (size_t k = 0; k < i && strcmp(type, "owserver") == 0; k++) {
        if (c->buses[k].adapter == bus->adapter) {
            char type_path[sizeof(err->path)];
            return cfg_fail(err, cfg_path_key(type_path, sizeof(type_path), path, "type"),
                            "only one owserver bus is supported (also buses[%zu]): list every "
                            "probe of that server in it",
                            k);
        }
    }

    memset(err, 0, sizeof(*err));
    rc = bus->adapter->open(item, path, err, &bus->state);
    if (rc < 0) {
        bus->state = NULL;
        /* An adapter that forgot to say why still gets the bus named. */
        if (rc == -EINVAL && err->msg[0] == '\0')
            cfg_fail(err, path, "invalid %s bus", bus->adapter->type);
        return rc;
    }
    c->bus_count = i + 1;
    return bus->adapter->for_each_point(bus->state, check_point, p);
}

static int parse_buses(const cJSON *root, struct parse *p)
{
    struct config *c = p->config;
    const cJSON *arr;
    size_t count = 0;

    int rc = cfg_get_array(root, "", "buses", false, &arr, p->err);
    if (rc < 0 || arr == NULL)
        return rc;
    /* No bus at all is allowed: sensors of a kind without an adapter yet (BLE) may wait. */
    if (arr->child == NULL)
        return 0;
    rc = check_count(arr, "buses", "bus", MAX_BUSES, &count, p->err);
    if (rc < 0)
        return rc;
    c->buses = calloc(count, sizeof(*c->buses));
    if (c->buses == NULL)
        return -ENOMEM;
    const cJSON *item = arr->child;
    for (size_t i = 0; i < count; i++, item = item->next) {
        rc = parse_bus(item, i, p);
        if (rc != 0)
            return rc < 0 ? rc : -EINVAL;
    }
    return 0;
}

/* ---- profiles ---- */

/* The config's own profiles (profile.c parses each). Presets are added on demand by
 * shipments. */
static int parse_profiles(const cJSON *root, struct parse *p)
{
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    const cJSON *obj;
    char path[sizeof(err->path)];
    size_t count = 0;

    int rc = cfg_get_object(root, "", "profiles", false, &obj, err);
    if (rc < 0 || obj == NULL)
        return rc;
    for (const cJSON *item = obj->child; item != NULL; item = item->next)
        count++;
    if (count > MAX_PROFILES)
        return cfg_fail(err, "profiles", "expected at most %d profiles, got %zu", MAX_PROFILES,
                        count);
    /* Room for every preset too: shipments may name them. */
    c->profiles = calloc(count + presets_count() + 1, sizeof(*c->profiles));
    if (c->profiles == NULL)
        return -ENOMEM;

    const cJSON *item = obj->child;
    for (size_t i = 0; i < count; i++, item = item->next) {
        const char *name = item->string != NULL ? item->string : "";
        if (!cfg_is_identifier(name, PROFILE_NAME_MAX))
            return cfg_fail(err, "profiles",
                            "expected profile names of 1 to %d characters from " IDENTIFIER_CHARS
                            ", got \"%.40s\"",
                            PROFILE_NAME_MAX - 1, name);
        for (size_t k = 0; k < i; k++) {
            if (strcmp(c->profiles[k].name, name) == 0)
                return cfg_fail(err, "profiles", "profile \"%s\" is defined more than once",
                                name);
        }
        c->profile_count = i + 1;
        rc = profile_parse(item, name, cfg_path_key(path, sizeof(path), "profiles", name),
                           &c->profiles[i], err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* The profile called name: the config's own, or a preset added to the list on first use. */
static long find_profile(struct config *c, const char *name)
{
    for (size_t i = 0; i < c->profile_count; i++) {
        if (strcmp(c->profiles[i].name, name) == 0)
            return (long)i;
    }
    if (!presets_find(name))
        return -ENOENT;
    if (c->profiles == NULL) {
        c->profiles = calloc(presets_count() + 1, sizeof(*c->profiles));
        if (c->profiles == NULL)
            return -ENOMEM;
    }
    int rc = profile_from_preset(name, &c->profiles[c->profile_count]);
    if (rc < 0)
        return rc;
    return (long)c->profile_count++;
}

/* ---- shipments ---- */

static int parse_shipment_sensors(const cJSON *item, const char *path, struct config_shipment *sh,
                                  struct parse *p, size_t *seen_by)
{
    struct cfg_error *err = p->err;
    const cJSON *arr;
    char arr_path[sizeof(err->path)];
    char elem_path[sizeof(err->path)];
    size_t count = 0;

    int rc = cfg_get_array(item, path, "sensors", true, &arr, err);
    if (rc < 0)
        return rc;
    cfg_path_key(arr_path, sizeof(arr_path), path, "sensors");
    rc = check_count(arr, arr_path, "sensor", MAX_SENSORS, &count, err);
    if (rc < 0)
        return rc;
    sh->sensor_ids = calloc(count, sizeof(*sh->sensor_ids));
    if (sh->sensor_ids == NULL)
        return -ENOMEM;

    const cJSON *s = arr->child;
    for (size_t j = 0; j < count; j++, s = s->next) {
        cfg_path_index(elem_path, sizeof(elem_path), arr_path, j);
        if (!cJSON_IsString(s) || s->valuestring == NULL)
            return cfg_fail(err, elem_path, "expected a sensor id (a string)");
        long idx = find_sensor(p, s->valuestring);
        if (idx < 0 && (p->flags & CONFIG_RULES_ONLY)) {
            /* Replay: the CSV names the sensors; only the id matters. */
            if (!cfg_is_identifier(s->valuestring, READING_SENSOR_ID_MAX))
                return cfg_fail(err, elem_path,
                                "expected a sensor id of 1 to %d characters from " IDENTIFIER_CHARS,
                                READING_SENSOR_ID_MAX - 1);
            for (size_t k = 0; k < j; k++) {
                if (strcmp(sh->sensor_ids[k], s->valuestring) == 0)
                    return cfg_fail(err, elem_path, "sensor \"%s\" is listed twice (also %s[%zu])",
                                    s->valuestring, arr_path, k);
            }
            memcpy(sh->sensor_ids[j], s->valuestring, strlen(s->valuestring) + 1);
            sh->sensor_count = j + 1;
            continue;
        }
        if (idx < 0)
            return cfg_fail(err, elem_path, "sensor \"%.40s\" is not declared in sensors[]",
                            s->valuestring);
        /* seen_by[sensor] holds j + 1 of this shipment's earlier mention, 0 for none; the
         * caller clears it between shipments. */
        if (seen_by[idx] != 0)
            return cfg_fail(err, elem_path, "sensor \"%s\" is listed twice (also %s[%zu])",
                            s->valuestring, arr_path, seen_by[idx] - 1);
        seen_by[idx] = j + 1;
        memcpy(sh->sensor_ids[j], p->config->sensors[idx].id,
               strlen(p->config->sensors[idx].id) + 1);
        sh->sensor_count = j + 1;
    }
    return 0;
}

/* "budget_used": {"<budget alarm id>": "1h30m"}: what earlier legs of the journey used. */
static int parse_budget_used(const cJSON *item, const char *path, struct config_shipment *sh,
                             const struct config_profile *prof, struct cfg_error *err)
{
    char bp[sizeof(err->path)], ap[sizeof(err->path)];
    const cJSON *obj;
    int rc = cfg_get_object(item, path, "budget_used", false, &obj, err);
    if (rc < 0)
        return rc;
    sh->budget_used_ms = calloc(prof->alarm_count + 1, sizeof(*sh->budget_used_ms));
    if (sh->budget_used_ms == NULL)
        return -ENOMEM;
    if (obj == NULL)
        return 0;
    cfg_path_key(bp, sizeof(bp), path, "budget_used");
    for (const cJSON *e = obj->child; e != NULL; e = e->next) {
        const char *id = e->string != NULL ? e->string : "";
        cfg_path_key(ap, sizeof(ap), bp, id);
        for (const cJSON *prev = obj->child; prev != e; prev = prev->next) {
            if (prev->string != NULL && strcmp(prev->string, id) == 0)
                return cfg_fail(err, ap, "key \"%s\" appears more than once", id);
        }
        int a = profile_alarm_index(prof, id);
        if (a < 0 || prof->alarms[a].kind != ALARM_KIND_BUDGET)
            return cfg_fail(err, ap, "expected the id of a budget alarm of profile \"%s\"",
                            prof->name);
        rc = cfg_get_duration(obj, bp, id, true, 0, 0, INT64_MAX / 4, &sh->budget_used_ms[a],
                              err);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int parse_shipment(const cJSON *item, const char *path, struct config_shipment *sh,
                          struct parse *p, size_t *seen_by)
{
    static const char *const keys[] = {"id",      "kind",    "description", "profile",
                                       "sensors", "budget_used", NULL};
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    char member_path[sizeof(err->path)];
    char text[256];

    int rc = cfg_check_keys(item, path, keys, err);
    if (rc < 0)
        return rc;
    rc = get_identifier(item, path, "id", true, sh->id, sizeof(sh->id), err);
    if (rc < 0)
        return rc;
    rc = cfg_get_string(item, path, "kind", false, "storage", text, sizeof(text), err);
    if (rc < 0)
        return rc;
    if (strcmp(text, "storage") != 0 && strcmp(text, "transit") != 0)
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, "kind"),
                        "expected storage or transit, got \"%.40s\"", text);
    memcpy(sh->kind, text, strlen(text) + 1);
    rc = cfg_get_string(item, path, "description", false, "", sh->description,
                        sizeof(sh->description), err);
    if (rc < 0)
        return rc;

    rc = cfg_get_string(item, path, "profile", true, NULL, text, sizeof(text), err);
    if (rc < 0)
        return rc;
    long idx = find_profile(c, text);
    if (idx == -ENOMEM)
        return -ENOMEM;
    if (idx < 0) {
        char known[512] = "";
        for (size_t i = 0; i < c->profile_count; i++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof(known) - len, "%s, ", c->profiles[i].name);
        }
        for (size_t i = 0; i < presets_count(); i++) {
            size_t len = strlen(known);
            snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
                     presets_at(i)->name);
        }
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, "profile"),
                        "unknown profile \"%.40s\"; profiles and presets: %s", text, known);
    }
    sh->profile = (size_t)idx;
    rc = parse_shipment_sensors(item, path, sh, p, seen_by);
    if (rc < 0)
        return rc;
    return parse_budget_used(item, path, sh, &c->profiles[sh->profile], err);
}

static int parse_shipments(const cJSON *root, struct parse *p)
{
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    const cJSON *arr;
    char path[sizeof(err->path)];
    size_t count = 0, first = 0, dup = 0;
    size_t *seen_by = NULL;
    struct name_ref *refs = NULL;

    int rc = cfg_get_array(root, "", "shipments", true, &arr, err);
    if (rc < 0)
        goto out;
    rc = check_count(arr, "shipments", "shipment", MAX_SHIPMENTS, &count, err);
    if (rc < 0)
        goto out;
    c->shipments = calloc(count, sizeof(*c->shipments));
    seen_by = calloc(c->sensor_count + 1, sizeof(*seen_by));
    if (c->shipments == NULL || seen_by == NULL) {
        rc = -ENOMEM;
        goto out;
    }

    const cJSON *item = arr->child;
    for (size_t i = 0; i < count; i++, item = item->next) {
        struct config_shipment *sh = &c->shipments[i];
        cfg_path_index(path, sizeof(path), "shipments", i);
        c->shipment_count = i + 1;
        rc = parse_shipment(item, path, sh, p, seen_by);
        if (rc < 0)
            goto out;
        /* Clear only what this shipment marked: clearing all would be quadratic. */
        for (size_t j = 0; j < sh->sensor_count; j++) {
            long idx = find_sensor(p, sh->sensor_ids[j]);
            if (idx >= 0)
                seen_by[idx] = 0;
        }
    }

    rc = sort_names(c->shipments[0].id, sizeof(c->shipments[0]), count, &refs, &first, &dup);
    if (rc < 0)
        goto out;
    if (rc > 0) {
        char id_path[sizeof(err->path)];
        cfg_path_index(path, sizeof(path), "shipments", dup);
        rc = cfg_fail(err, cfg_path_key(id_path, sizeof(id_path), path, "id"),
                      "duplicate shipment id \"%s\" (also shipments[%zu])", c->shipments[dup].id,
                      first);
        goto out;
    }
    rc = 0;
out:
    free(refs);
    free(seen_by);
    return rc;
}

/* ---- outputs ---- */

/* "outputs": [{"name": "buzzer", "chip": "gpiochip0", "line": 22, "active_low": true,
 *              "states": ["critical_unacked", "sensor_fault"]}]: gpio_out.h has the wiring. */
static int parse_outputs(const cJSON *root, struct parse *p)
{
    static const char *const keys[] = {"name", "chip", "line", "active_low", "states", NULL};
    static const char *const state_names[GPIO_OUT_STATE_COUNT] = {
        [GPIO_OUT_CRITICAL_UNACKED] = "critical_unacked",
        [GPIO_OUT_WARNING] = "warning",
        [GPIO_OUT_SENSOR_FAULT] = "sensor_fault",
    };
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    const cJSON *arr;
    char path[sizeof(err->path)], mp[sizeof(err->path)], ep[sizeof(err->path)];
    int rc = cfg_get_array(root, "", "outputs", false, &arr, err);
    if (rc < 0 || arr == NULL)
        return rc;
    int count = cJSON_GetArraySize(arr);
    if (count > 16)
        return cfg_fail(err, "outputs", "expected at most 16 outputs, got %d", count);
    c->outputs = calloc(count > 0 ? (size_t)count : 1, sizeof(*c->outputs));
    if (c->outputs == NULL)
        return -ENOMEM;
    const cJSON *item;
    cJSON_ArrayForEach(item, arr)
    {
        struct config_output *o = &c->outputs[c->output_count];
        long long line;
        cfg_path_index(path, sizeof(path), "outputs", c->output_count);
        rc = cfg_check_keys(item, path, keys, err);
        if (rc == 0)
            rc = get_identifier(item, path, "name", true, o->name, sizeof(o->name), err);
        if (rc == 0)
            rc = cfg_get_string(item, path, "chip", false, "gpiochip0", o->gpio.chip,
                                sizeof(o->gpio.chip), err);
        if (rc == 0)
            rc = cfg_get_int(item, path, "line", true, 0, 0, 511, &line, err);
        if (rc == 0)
            rc = cfg_get_bool(item, path, "active_low", false, false, &o->gpio.active_low, err);
        if (rc < 0)
            return rc;
        o->gpio.line = (unsigned)line;
        const cJSON *states = cJSON_GetObjectItemCaseSensitive(item, "states");
        if (states == NULL) {
            o->states = (1u << GPIO_OUT_CRITICAL_UNACKED) | (1u << GPIO_OUT_WARNING) |
                        (1u << GPIO_OUT_SENSOR_FAULT);
        } else {
            cfg_path_key(mp, sizeof(mp), path, "states");
            if (!cJSON_IsArray(states) || cJSON_GetArraySize(states) == 0)
                return cfg_fail(err, mp, "expected a list of critical_unacked, warning, "
                                         "sensor_fault");
            size_t i = 0;
            const cJSON *st;
            cJSON_ArrayForEach(st, states)
            {
                cfg_path_index(ep, sizeof(ep), mp, i++);
                int found = -1;
                for (int k = 1; k < GPIO_OUT_STATE_COUNT && cJSON_IsString(st); k++) {
                    if (strcmp(state_names[k], st->valuestring) == 0)
                        found = k;
                }
                if (found < 0)
                    return cfg_fail(err, ep, "expected critical_unacked, warning or sensor_fault");
                o->states |= 1u << found;
            }
        }
        for (size_t k = 0; k < c->output_count; k++) {
            if (strcmp(c->outputs[k].name, o->name) == 0)
                return cfg_fail(err, path, "output \"%s\" is defined twice", o->name);
        }
        c->output_count++;
    }
    return 0;
}

/* ---- top level ---- */

static bool is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Reports a cJSON parse failure at pos as line:column (1-based; columns count bytes). */
static int fail_json(const char *text, size_t len, const char *pos, const char *what,
                     struct cfg_error *err)
{
    size_t line = 1, column = 1;
    size_t end =
        (pos != NULL && pos >= text && (size_t)(pos - text) <= len) ? (size_t)(pos - text) : len;
    for (size_t i = 0; i < end; i++) {
        if (text[i] == '\n') {
            line++;
            column = 1;
        } else {
            column++;
        }
    }
    return cfg_fail(err, "", "%s at line %zu, column %zu", what, line, column);
}

static int parse_root(const cJSON *root, struct parse *p)
{
    static const char *const keys[] = {"gateway_id", "data_dir",  "log_level", "mqtt",
                                       "store",      "sensors",   "buses",     "profiles",
                                       "shipments",  "outputs",   "control",   NULL};
    struct config *c = p->config;
    struct cfg_error *err = p->err;
    char level[256];

    int rc = cfg_check_keys(root, "", keys, err);
    if (rc < 0)
        goto out;
    bool rules_only = p->flags & CONFIG_RULES_ONLY;
    if (rules_only && cJSON_GetObjectItemCaseSensitive(root, "gateway_id") == NULL)
        snprintf(c->gateway_id, sizeof(c->gateway_id), "replay");
    else
        rc = get_identifier(root, "", "gateway_id", true, c->gateway_id, sizeof(c->gateway_id),
                            err);
    if (rc < 0)
        goto out;
    rc = get_text(root, "", "data_dir", false, "/var/lib/coldchain", c->data_dir,
                  sizeof(c->data_dir), err);
    if (rc < 0)
        goto out;
    rc = cfg_get_string(root, "", "log_level", false, "info", level, sizeof(level), err);
    if (rc < 0)
        goto out;
    if (log_level_parse(level, &c->log_level) < 0) {
        rc = cfg_fail(err, "log_level",
                      "expected error, warning, notice, info or debug, got \"%.40s\"", level);
        goto out;
    }
    if (!rules_only || cJSON_GetObjectItemCaseSensitive(root, "mqtt") != NULL) {
        rc = parse_mqtt(root, c, err);
        if (rc < 0)
            goto out;
    }
    rc = parse_store(root, c, err);
    if (rc < 0)
        goto out;
    rc = parse_control(root, c, err);
    if (rc < 0)
        goto out;
    if (!rules_only || cJSON_GetObjectItemCaseSensitive(root, "sensors") != NULL) {
        rc = parse_sensors(root, p);
        if (rc < 0)
            goto out;
    }
    rc = parse_buses(root, p);
    if (rc < 0)
        goto out;
    rc = parse_profiles(root, p);
    if (rc < 0)
        goto out;
    rc = parse_shipments(root, p);
    if (rc < 0)
        goto out;
    rc = parse_outputs(root, p);
out:
    return rc;
}

int config_parse(const char *text, size_t len, const char *label, unsigned flags,
                 struct config **config_out, struct cfg_error *err)
{
    struct cfg_error local_err;
    struct config *c = NULL;
    cJSON *root = NULL;
    char *copy = NULL;
    struct parse p = {0};
    int rc;

    if (err == NULL)
        err = &local_err;
    memset(err, 0, sizeof(*err));
    if (config_out == NULL || (text == NULL && len > 0)) {
        rc = -EINVAL;
        goto out;
    }
    *config_out = NULL;
    if (len > CONFIG_FILE_MAX_BYTES) {
        rc = cfg_fail(err, "", "expected a config of at most 1 MiB, got %zu bytes", len);
        goto out;
    }
    /* A NUL-terminated copy: cJSON then cannot read past the input whatever it contains. */
    copy = malloc(len + 1);
    if (copy == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    if (len > 0)
        memcpy(copy, text, len);
    copy[len] = '\0';

    /* Editors on Windows may start a UTF-8 file with a byte order mark; it is not JSON. */
    size_t skip = (len >= 3 && memcmp(copy, "\xEF\xBB\xBF", 3) == 0) ? 3 : 0;
    size_t first = skip;
    while (first < len && is_json_space(copy[first]))
        first++;
    if (first == len) {
        rc = cfg_fail(err, "", "the file is empty: expected a JSON object");
        goto out;
    }
    const char *end = NULL;
    /* Not require_null_terminated: cJSON 1.7.15 then wants the NUL inside the given length.
     * Trailing text is checked below instead. */
    root = cJSON_ParseWithLengthOpts(copy + skip, len - skip, &end, false);
    if (root == NULL) {
        rc = fail_json(copy + skip, len - skip, end, "invalid JSON", err);
        goto out;
    }
    while (end != NULL && end < copy + len && is_json_space(*end))
        end++;
    if (end != NULL && end < copy + len) {
        rc = fail_json(copy + skip, len - skip, end, "unexpected text after the JSON object", err);
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        rc = cfg_fail(err, "", "expected a JSON object at the top level");
        goto out;
    }

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    snprintf(c->path, sizeof(c->path), "%s", label != NULL ? label : "");
    p.config = c;
    p.err = err;
    p.flags = flags;
    rc = parse_root(root, &p);
    if (rc < 0)
        goto out;
    *config_out = c;
    c = NULL;
    rc = 0;
out:
    if (rc == -ENOMEM && err->msg[0] == '\0')
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    free(p.sensor_refs);
    config_free(c);
    cJSON_Delete(root);
    free(copy);
    return rc;
}

/* ---- files the config names (config_load() only: config_parse() does no I/O) ---- */

/* Opens file, named at json_path, and checks that it is a regular file. secret (what the file is,
 * or NULL) further requires that it gives "others" no access: whoever can read it can pose as
 * this gateway. Returns the open descriptor, or -EINVAL with err naming the file and why. */
static int open_named_file(const char *json_path, const char *file, const char *secret,
                           struct cfg_error *err)
{
    char why[128];
    struct stat st;
    /* O_NONBLOCK: a FIFO put there by mistake must not hang the check; it fails S_ISREG. */
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return cfg_fail(err, json_path, "cannot read %s: %s", file,
                        strerror_r(e, why, sizeof(why)));
    }
    int rc = fd;
    if (!S_ISREG(st.st_mode))
        rc = cfg_fail(err, json_path, "%s is not a regular file: expected a file", file);
    else if (secret != NULL && (st.st_mode & (S_IROTH | S_IWOTH)) != 0)
        rc = cfg_fail(err, json_path,
                      "%s is %s by every user on this machine (mode %04o): %s must give others "
                      "no access (chmod 0640, owner root, group coldchain)",
                      file, (st.st_mode & S_IROTH) ? "readable" : "writable",
                      (unsigned)(st.st_mode & 07777), secret);
    if (rc < 0)
        close(fd);
    return rc;
}

/* Reads the password: the whole file, less one trailing newline ("\n" or "\r\n"). Nothing of
 * its content ever goes into err. */
static int read_password(struct config_mqtt *m, struct cfg_error *err)
{
    const char *key = "mqtt.password_file";
    char why[128];
    size_t len = 0;
    int fd = open_named_file(key, m->password_file, "a password file", err);
    if (fd < 0)
        return fd;
    int rc = 0;
    /* One byte more than fits the password, to tell "full" from "too long". */
    char spill[sizeof(m->password) + 1];
    for (;;) {
        ssize_t n = read(fd, spill + len, sizeof(spill) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = cfg_fail(err, key, "cannot read %s: %s", m->password_file,
                          strerror_r(errno, why, sizeof(why)));
            goto out;
        }
        if (n == 0 || (len += (size_t)n) == sizeof(spill))
            break;
    }
    if (len > 0 && spill[len - 1] == '\n')
        len--;
    if (len > 0 && spill[len - 1] == '\r')
        len--;
    if (len >= sizeof(m->password)) {
        rc = cfg_fail(err, key, "%s is longer than %zu bytes: expected only the password",
                      m->password_file, sizeof(m->password) - 1);
        goto out;
    }
    if (len == 0) {
        rc = cfg_fail(err, key, "%s is empty: expected the password", m->password_file);
        goto out;
    }
    if (memchr(spill, '\n', len) || memchr(spill, '\r', len) || memchr(spill, '\0', len)) {
        rc = cfg_fail(err, key,
                      "%s holds more than one line or a NUL byte: expected only the password "
                      "(one trailing newline is allowed)",
                      m->password_file);
        goto out;
    }
    memcpy(m->password, spill, len);
    m->password[len] = '\0';
    m->password_len = len;
out:
    explicit_bzero(spill, sizeof(spill));
    close(fd);
    return rc;
}

static int load_mqtt_files(struct config_mqtt *m, struct cfg_error *err)
{
    const struct {
        const char *json_path;
        const char *file;
        const char *secret;
    } files[] = {
        {"mqtt.tls.ca_file", m->tls.ca_file, NULL},
        {"mqtt.tls.cert_file", m->tls.cert_file, NULL},
        {"mqtt.tls.key_file", m->tls.key_file, "a private key file"},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (files[i].file[0] == '\0')
            continue;
        int fd = open_named_file(files[i].json_path, files[i].file, files[i].secret, err);
        if (fd < 0)
            return fd;
        close(fd);
    }
    if (m->password_file[0] != '\0')
        return read_password(m, err);
    return 0;
}

int config_load(const char *path, unsigned flags, struct config **config_out,
                struct cfg_error *err)
{
    struct cfg_error local_err;
    char *text = NULL;
    size_t len = 0;
    int fd = -1;
    int rc;

    if (err == NULL)
        err = &local_err;
    memset(err, 0, sizeof(*err));
    if (path == NULL || config_out == NULL) {
        rc = -EINVAL;
        goto out;
    }
    *config_out = NULL;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    /* One byte more than allowed, to tell "exactly 1 MiB" from "larger". */
    text = malloc(CONFIG_FILE_MAX_BYTES + 1);
    if (text == NULL) {
        rc = -ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, text + len, CONFIG_FILE_MAX_BYTES + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > CONFIG_FILE_MAX_BYTES) {
            rc = -EFBIG;
            snprintf(err->msg, sizeof(err->msg), "larger than 1 MiB: not a config file");
            goto out;
        }
    }
    rc = config_parse(text, len, path, flags, config_out, err);
    /* A replay does not connect: it needs neither the TLS files nor a password it may not be
     * allowed to read. */
    if (rc == 0 && !(flags & CONFIG_RULES_ONLY)) {
        rc = load_mqtt_files(&(*config_out)->mqtt, err);
        if (rc < 0) {
            config_free(*config_out);
            *config_out = NULL;
        }
    }
out:
    if (rc < 0 && err->msg[0] == '\0') {
        char buf[128];
        snprintf(err->msg, sizeof(err->msg), "%s", strerror_r(-rc, buf, sizeof(buf)));
    }
    if (fd >= 0)
        close(fd);
    free(text);
    return rc;
}

/* ---- shipments started, assigned and ended at run time (the store's lifecycle) ---- */

int config_find_shipment(const struct config *c, const char *id)
{
    for (size_t i = 0; i < c->shipment_count; i++) {
        if (strcmp(c->shipments[i].id, id) == 0)
            return (int)i;
    }
    return -ENOENT;
}

int config_add_shipment(struct config *c, const char *id, const char *kind, const char *profile,
                        const char *description, const char (*sensors)[READING_SENSOR_ID_MAX],
                        size_t sensor_count, struct cfg_error *err)
{
    if (!cfg_is_identifier(id, CONFIG_ID_MAX))
        return cfg_fail(err, "shipment", "expected a shipment id, got \"%.40s\"", id);
    if (config_find_shipment(c, id) >= 0)
        return cfg_fail(err, "shipment", "shipment \"%s\" exists already", id);
    if (strcmp(kind, "storage") != 0 && strcmp(kind, "transit") != 0)
        return cfg_fail(err, "kind", "expected storage or transit, got \"%.40s\"", kind);
    if (c->shipment_count >= MAX_SHIPMENTS)
        return cfg_fail(err, "shipment", "at most %d shipments", MAX_SHIPMENTS);
    for (size_t k = 0; k < sensor_count; k++) {
        if (config_sensor_index(c, sensors[k]) < 0)
            return cfg_fail(err, "sensors", "sensor \"%.40s\" is not declared in sensors[]",
                            sensors[k]);
        for (size_t j = 0; j < k; j++) {
            if (strcmp(sensors[j], sensors[k]) == 0)
                return cfg_fail(err, "sensors", "sensor \"%s\" is listed twice", sensors[k]);
        }
    }
    long prof = find_profile(c, profile);
    if (prof == -ENOMEM)
        return -ENOMEM;
    if (prof < 0)
        return cfg_fail(err, "profile", "unknown profile \"%.40s\": neither a profile of the "
                        "configuration nor a preset", profile);
    struct config_shipment *grown =
        realloc(c->shipments, (c->shipment_count + 1) * sizeof(*c->shipments));
    if (!grown)
        return -ENOMEM;
    c->shipments = grown;
    struct config_shipment *sh = &c->shipments[c->shipment_count];
    memset(sh, 0, sizeof(*sh));
    snprintf(sh->id, sizeof(sh->id), "%s", id);
    snprintf(sh->kind, sizeof(sh->kind), "%s", kind);
    snprintf(sh->description, sizeof(sh->description), "%s", description ? description : "");
    sh->profile = (size_t)prof;
    sh->sensor_ids = calloc(sensor_count + 1, sizeof(*sh->sensor_ids));
    sh->budget_used_ms = calloc(c->profiles[prof].alarm_count + 1, sizeof(*sh->budget_used_ms));
    if (!sh->sensor_ids || !sh->budget_used_ms) {
        free(sh->sensor_ids);
        free(sh->budget_used_ms);
        return -ENOMEM;
    }
    for (size_t k = 0; k < sensor_count; k++)
        snprintf(sh->sensor_ids[k], sizeof(sh->sensor_ids[k]), "%s", sensors[k]);
    sh->sensor_count = sensor_count;
    c->shipment_count++;
    return 0;
}

int config_assign_sensor(struct config *c, size_t shipment, const char *sensor,
                         struct cfg_error *err)
{
    if (shipment >= c->shipment_count)
        return -EINVAL;
    struct config_shipment *sh = &c->shipments[shipment];
    if (config_sensor_index(c, sensor) < 0)
        return cfg_fail(err, "sensors", "sensor \"%.40s\" is not declared in sensors[]", sensor);
    for (size_t k = 0; k < sh->sensor_count; k++) {
        if (strcmp(sh->sensor_ids[k], sensor) == 0)
            return 0; /* assigned already: nothing to do */
    }
    char (*grown)[READING_SENSOR_ID_MAX] =
        realloc(sh->sensor_ids, (sh->sensor_count + 1) * sizeof(*sh->sensor_ids));
    if (!grown)
        return -ENOMEM;
    sh->sensor_ids = grown;
    snprintf(sh->sensor_ids[sh->sensor_count], sizeof(sh->sensor_ids[0]), "%s", sensor);
    sh->sensor_count++;
    return 0;
}

void config_remove_shipment(struct config *c, size_t shipment)
{
    if (shipment >= c->shipment_count)
        return;
    free(c->shipments[shipment].sensor_ids);
    free(c->shipments[shipment].budget_used_ms);
    memmove(&c->shipments[shipment], &c->shipments[shipment + 1],
            (c->shipment_count - shipment - 1) * sizeof(*c->shipments));
    c->shipment_count--;
}

void config_print_error(FILE *out, const char *file, int rc, const struct cfg_error *err)
{
    if (err->path[0])
        fprintf(out, "%s: %s: %s\n", file, err->path, err->msg);
    else
        fprintf(out, "%s: %s\n", file, err->msg[0] ? err->msg : strerror(-rc));
}

void config_free(struct config *config)
{
    if (config == NULL)
        return;
    for (size_t i = 0; i < config->bus_count; i++) {
        struct config_bus *bus = &config->buses[i];
        if (bus->adapter != NULL && bus->state != NULL)
            bus->adapter->close(bus->state);
    }
    free(config->buses);
    for (size_t i = 0; i < config->profile_count; i++)
        profile_clear(&config->profiles[i]);
    free(config->profiles);
    for (size_t i = 0; i < config->shipment_count; i++) {
        free(config->shipments[i].sensor_ids);
        free(config->shipments[i].budget_used_ms);
    }
    free(config->shipments);
    free(config->outputs);
    free(config->sensors);
    explicit_bzero(config->mqtt.password, sizeof(config->mqtt.password));
    free(config);
}

int config_sensor_index(const struct config *config, const char *sensor_id)
{
    if (config == NULL || sensor_id == NULL)
        return -ENOENT;
    for (size_t i = 0; i < config->sensor_count; i++) {
        if (strcmp(config->sensors[i].id, sensor_id) == 0)
            return (int)i;
    }
    return -ENOENT;
}

int config_rules_new(const struct config *config, const int64_t *started_ms,
                     struct rules **rules_out)
{
    int r = -ENOMEM;
    size_t n = config->shipment_count;
    struct rules_shipment_def *defs = calloc(n ? n : 1, sizeof(*defs));
    int64_t **due = calloc(n ? n : 1, sizeof(*due));
    if (defs == NULL || due == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct config_shipment *s = &config->shipments[i];
        const struct config_profile *p = &config->profiles[s->profile];
        due[i] = calloc(s->sensor_count, sizeof(*due[i]));
        if (due[i] == NULL)
            goto out;
        for (size_t k = 0; k < s->sensor_count; k++) {
            int idx = config_sensor_index(config, s->sensor_ids[k]);
            due[i][k] = idx >= 0 ? config->sensors[idx].calibration_due_ms : 0;
        }
        defs[i] = (struct rules_shipment_def){
            .id = s->id, .started_ms = started_ms ? started_ms[i] : 0, .alarms = p->alarms,
            .alarm_count = p->alarm_count,
            .sensor_ids = (const char(*)[READING_SENSOR_ID_MAX])s->sensor_ids,
            .cal_due_ms = due[i], .sensor_count = s->sensor_count,
            .budget_used_ms = s->budget_used_ms, .suppress = p->suppress,
            .suppress_count = p->suppress_count};
    }
    r = rules_new(defs, n, rules_out);
out:
    for (size_t i = 0; due != NULL && i < n; i++)
        free(due[i]);
    free(due);
    free(defs);
    return r;
}

/* Values no probe of that kind can report: a broken probe or a decoding error, never goods at
 * that temperature (DESIGN §4). */
static bool plausible(uint8_t quantity, double v)
{
    switch (quantity) {
    case QUANTITY_TEMPERATURE:
        return v >= -100.0 && v <= 150.0;
    case QUANTITY_HUMIDITY:
        return v >= 0.0 && v <= 110.0; /* a condensing probe may read a little over 100 */
    case QUANTITY_DOOR:
        return v == 0.0 || v == 1.0;
    case QUANTITY_BATTERY:
        return v >= 0.0 && v <= 100.0;
    }
    return false;
}

bool config_calibrate(const struct config *config, struct reading *r, double *raw_out)
{
    if (raw_out != NULL)
        *raw_out = r->value;
    if ((r->flags & READING_FAULT) || r->quantity >= QUANTITY_COUNT) {
        r->value = (double)NAN;
        r->flags |= READING_FAULT;
        return false;
    }
    int idx = config_sensor_index(config, r->sensor_id);
    if (idx >= 0) {
        const struct config_calibration *c = &config->sensors[idx].calibration[r->quantity];
        r->value = r->value * c->gain + c->offset;
    }
    if (isfinite(r->value) && plausible(r->quantity, r->value))
        return false;
    r->flags |= READING_FAULT;
    r->value = (double)NAN;
    return true;
}
