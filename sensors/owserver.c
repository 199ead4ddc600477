/* owserver adapter: see owserver.h for the config, the promises and the owcapi facts behind
 * them.
 *
 * owcapi is called only from the bus thread (run), and only in this file's "owcapi edge"
 * section, where its -1 + errno is translated to a negative errno (STYLE §5). owcapi gives no
 * message of its own, so the log says what was asked and what errno came back. */
#include "owserver.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <owcapi.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "clock.h"
#include "ow_decode.h"

#define BUS_NAME_MAX 64 /* the gateway's identifiers are at most 63 characters */
#define HOST_MAX 254    /* a DNS name has at most 253 characters */
#define DEFAULT_SERVER "127.0.0.1:4304"
#define DEFAULT_POLL_MS 10000
#define MIN_POLL_MS 1000
#define MAX_POLL_MS (24 * 3600 * 1000)
#define MAX_PROBES 256
/* "/uncached/" + id + "/temperature" */
#define PROBE_PATH_MAX 48
/* The server is tried again after this long, doubling up to the maximum; only at polls. */
#define RECONNECT_MIN_MS 1000
#define RECONNECT_MAX_MS 60000
/* How long a TCP connect to the server may take before it counts as unreachable. */
#define CONNECT_TIMEOUT_MS 1000
/* A server that stays unreachable is logged when it starts, then after this long, doubling up
 * to the maximum, and once when it is back (STYLE §7). */
#define FAULT_LOG_FIRST_MS 60000
#define FAULT_LOG_MAX_MS 3600000
/* A probe's fault cause while the server is unreachable; the bus logs it, not each probe. */
#define FAULT_NO_SERVER (-ENOTCONN)

/* owcapi's state is global: one owserver bus at a time per process (owserver.h). */
static atomic_flag owcapi_claimed = ATOMIC_FLAG_INIT;

struct probe {
    char id[OW_ID_CAP]; /* owfs spelling, "28.000006B67845" */
    char sensor[READING_SENSOR_ID_MAX];
    char path[PROBE_PATH_MAX]; /* what OW_get() is asked for */

    /* run()'s state, bus thread only. */
    int rc;          /* this poll: 0, an enum ow_fault (> 0) or a negative errno */
    double temp_c;   /* this poll's value when rc == 0 */
    int64_t ts_ms;   /* wall clock when this poll's read ended */
    char text[24];   /* this poll's text when it did not decode, for the log */
    int last_fault;  /* the previous poll's rc */
    uint64_t faults; /* fault readings in a row */
};

struct owserver_bus {
    char name[BUS_NAME_MAX];
    char path[CFG_PATH_CAP]; /* the bus's JSON path, for for_each_point */
    char host[HOST_MAX];
    char port[6];
    char init_args[HOST_MAX + 16]; /* what OW_init() parses, like owfs's command line */
    int64_t poll_interval_ms;
    bool uncached;
    struct probe *probes;
    size_t probe_count;

    /* run()'s state, bus thread only. */
    bool ow_ready;                /* OW_init() succeeded: OW_finish() is owed */
    bool link_up;                 /* the server answered since the last loss */
    int64_t next_attempt_mono_ms; /* no attempt to reach the server before this */
    int64_t backoff_ms;           /* the wait after the next failed attempt */
    uint64_t down_count;          /* failed attempts and losses since the server was last up */
    int64_t down_since_mono_ms;
    int64_t next_log_mono_ms; /* an unreachable server is logged again from then on */
    int64_t log_interval_ms;
    uint64_t faults_emitted; /* READING_FAULT readings, all causes */
};

/* ---- config ------------------------------------------------------------------------------ */

/* "host:port": a host name or IPv4 address (letters, digits, '.', '-', '_'), then 1..65535. */
static int parse_server(struct owserver_bus *bus, const char *text)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof(bus->host))
        return -EINVAL;
    for (const char *s = text; s < colon; s++) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_'))
            return -EINVAL;
    }
    const char *digits = colon + 1;
    size_t n = strlen(digits);
    if (n == 0 || n > 5 || digits[0] == '0')
        return -EINVAL;
    long port = 0;
    for (size_t i = 0; i < n; i++) {
        if (digits[i] < '0' || digits[i] > '9')
            return -EINVAL;
        port = port * 10 + (digits[i] - '0');
    }
    if (port > 65535)
        return -EINVAL;
    memcpy(bus->host, text, (size_t)(colon - text));
    bus->host[colon - text] = '\0';
    memcpy(bus->port, digits, n + 1);
    /* The text was checked above, so it cannot smuggle another option into owcapi's argument
     * parser. -C: Celsius whatever the server's or a config file's temperature_scale says
     * (-F would give Fahrenheit: observed 1.7 reading as 35.06). */
    snprintf(bus->init_args, sizeof(bus->init_args), "-s %s:%s -C", bus->host, bus->port);
    return 0;
}

static int parse_probe(const cJSON *item, const char *path, struct owserver_bus *bus,
                       struct probe *p, struct cfg_error *err)
{
    static const char *const keys[] = {"id", "sensor", NULL};
    char mp[CFG_PATH_CAP];
    char id[OW_ID_CAP + 8];
    int rc = cfg_check_keys(item, path, keys, err);
    if (rc < 0)
        return rc;
    const cJSON *id_item = cJSON_GetObjectItemCaseSensitive(item, "id");
    if (cJSON_IsString(id_item) && id_item->valuestring &&
        strlen(id_item->valuestring) >= sizeof(id))
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "id"),
                        "expected an owfs id such as \"28.000006B67845\" (or the sysfs "
                        "\"28-000006b67845\"), got a longer text");
    rc = cfg_get_string(item, path, "id", true, NULL, id, sizeof(id), err);
    if (rc < 0)
        return rc;
    if (ow_parse_id(id, p->id) < 0)
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "id"),
                        "expected an owfs id such as \"28.000006B67845\" (family, '.', 12 hex "
                        "digits; or the sysfs \"28-000006b67845\"), got \"%.24s\"",
                        id);
    rc = cfg_get_string(item, path, "sensor", true, NULL, p->sensor, sizeof(p->sensor), err);
    if (rc < 0)
        return rc;
    if (!cfg_is_identifier(p->sensor, sizeof(p->sensor)))
        return cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "sensor"),
                        "expected a sensor id of 1 to %d characters from A-Z, a-z, 0-9, \"_\", "
                        "\".\" and \"-\", got \"%.40s\"",
                        READING_SENSOR_ID_MAX - 1, p->sensor);
    snprintf(p->path, sizeof(p->path), "%s/%s/temperature", bus->uncached ? "/uncached" : "",
             p->id);
    return 0;
}

static void bus_free(struct owserver_bus *bus)
{
    if (!bus)
        return;
    free(bus->probes);
    free(bus);
}

static int bus_open(const cJSON *cfg, const char *path, struct cfg_error *err, void **state_out)
{
    static const char *const keys[] = {"name",     "type",   "server", "poll_interval",
                                       "uncached", "probes", NULL};
    char mp[CFG_PATH_CAP];
    char server[HOST_MAX + 8];
    const cJSON *probes;
    int rc;
    if (!cfg || !path || !state_out)
        return -EINVAL;
    *state_out = NULL;
    struct owserver_bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    snprintf(bus->path, sizeof(bus->path), "%s", path);
    rc = cfg_check_keys(cfg, path, keys, err);
    if (rc == 0)
        rc = cfg_get_string(cfg, path, "name", true, NULL, bus->name, sizeof(bus->name), err);
    if (rc == 0)
        rc =
            cfg_get_string(cfg, path, "server", false, DEFAULT_SERVER, server, sizeof(server), err);
    if (rc < 0)
        goto out;
    if (parse_server(bus, server) < 0) {
        rc = cfg_fail(err, cfg_path_key(mp, sizeof(mp), path, "server"),
                      "expected \"host:port\" such as \"" DEFAULT_SERVER "\" (a host name or "
                      "IPv4 address, a port of 1 to 65535), got \"%.60s\"",
                      server);
        goto out;
    }
    rc = cfg_get_duration(cfg, path, "poll_interval", false, DEFAULT_POLL_MS, MIN_POLL_MS,
                          MAX_POLL_MS, &bus->poll_interval_ms, err);
    if (rc == 0)
        rc = cfg_get_bool(cfg, path, "uncached", false, true, &bus->uncached, err);
    if (rc == 0)
        rc = cfg_get_array(cfg, path, "probes", true, &probes, err);
    if (rc < 0)
        goto out;
    int count = cJSON_GetArraySize(probes);
    cfg_path_key(mp, sizeof(mp), path, "probes");
    if (count < 1 || count > MAX_PROBES) {
        rc = cfg_fail(err, mp, "expected 1 to %d probes, got %d", MAX_PROBES, count);
        goto out;
    }
    bus->probes = calloc((size_t)count, sizeof(*bus->probes));
    if (!bus->probes) {
        rc = -ENOMEM;
        goto out;
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, probes)
    {
        char pp[CFG_PATH_CAP];
        struct probe *p = &bus->probes[bus->probe_count];
        cfg_path_index(pp, sizeof(pp), mp, bus->probe_count);
        rc = parse_probe(item, pp, bus, p, err);
        if (rc < 0)
            goto out;
        for (size_t k = 0; k < bus->probe_count; k++) {
            /* Compared in the owfs spelling, so "28-000006b67845" meets "28.000006B67845". */
            if (strcmp(bus->probes[k].id, p->id) == 0) {
                rc = cfg_fail(err, pp, "probe %s is listed twice (also %s[%zu])", p->id, mp, k);
                goto out;
            }
            /* Two probes feeding one sensor would give it two temperatures per poll. */
            if (strcmp(bus->probes[k].sensor, p->sensor) == 0) {
                char sp[CFG_PATH_CAP];
                rc = cfg_fail(err, cfg_path_key(sp, sizeof(sp), pp, "sensor"),
                              "sensor \"%s\" is already read by %s[%zu]", p->sensor, mp, k);
                goto out;
            }
        }
        bus->probe_count++;
    }
    *state_out = bus;
    bus = NULL;
    rc = 0;
out:
    bus_free(bus);
    return rc;
}

static void bus_close(void *state)
{
    bus_free(state);
}

static int bus_for_each_point(const void *state, sensor_point_fn fn, void *arg)
{
    const struct owserver_bus *bus = state;
    char probes_path[CFG_PATH_CAP];
    char probe_path[CFG_PATH_CAP];
    char sensor_path[CFG_PATH_CAP];
    if (!bus || !fn)
        return -EINVAL;
    cfg_path_key(probes_path, sizeof(probes_path), bus->path, "probes");
    for (size_t i = 0; i < bus->probe_count; i++) {
        cfg_path_index(probe_path, sizeof(probe_path), probes_path, i);
        cfg_path_key(sensor_path, sizeof(sensor_path), probe_path, "sensor");
        int rc = fn(arg, bus->probes[i].sensor, QUANTITY_TEMPERATURE, sensor_path);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char *bus_name(const void *state)
{
    const struct owserver_bus *bus = state;
    return bus ? bus->name : NULL;
}

/* ---- the server's port ------------------------------------------------------------------- */

/* Connects to host:port and closes again: 0 when the server accepts, or a negative errno
 * (-ECONNREFUSED, -ETIMEDOUT after CONNECT_TIMEOUT_MS per address, -EHOSTUNREACH, or -ENOENT
 * when the name does not resolve). Bus thread. */
static int server_reachable(const struct owserver_bus *bus)
{
    /* No AI_ADDRCONFIG: it can refuse even 127.0.0.1 on a box whose only interface is
     * loopback. */
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *list = NULL;
    int rc = getaddrinfo(bus->host, bus->port, &hints, &list);
    if (rc != 0)
        return rc == EAI_SYSTEM ? -errno : -ENOENT;
    rc = -EHOSTUNREACH;
    for (const struct addrinfo *ai = list; ai; ai = ai->ai_next) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            rc = 0;
        } else if (errno != EINPROGRESS) {
            rc = -errno;
        } else {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n;
            do {
                n = poll(&pfd, 1, CONNECT_TIMEOUT_MS);
            } while (n < 0 && errno == EINTR);
            int so_error = 0;
            socklen_t so_len = sizeof(so_error);
            if (n == 0)
                rc = -ETIMEDOUT;
            else if (n < 0)
                rc = -errno;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) < 0)
                rc = -errno;
            else
                rc = -so_error;
        }
        close(fd);
        if (rc == 0)
            break;
    }
    freeaddrinfo(list);
    return rc;
}

/* ---- the owcapi edge --------------------------------------------------------------------- */

/* OW_init() with the bus's server: 0 or -EIO (owcapi says no more than -1). */
static int ow_open(struct owserver_bus *bus)
{
    if (OW_init(bus->init_args) < 0)
        return -EIO;
    bus->ow_ready = true;
    return 0;
}

static void ow_close(struct owserver_bus *bus)
{
    if (bus->ow_ready)
        OW_finish();
    bus->ow_ready = false;
}

/* Reads path into text (NUL-terminated, cut to cap - 1). The length read (>= 0), or a negative
 * errno: -ENOENT for no such device or property (and for a server that is gone), ... OW_get()
 * allocates the buffer it returns; it is freed here on every path. */
static ssize_t ow_read(const char *path, char *text, size_t cap)
{
    char *buf = NULL;
    size_t len = 0;
    errno = 0;
    ssize_t n = OW_get(path, &buf, &len);
    int e = errno;
    if (n < 0 || !buf) {
        free(buf);
        return n < 0 && e > 0 ? -e : -EIO;
    }
    /* owcapi says len and n are the same length; trust the smaller. */
    size_t got = (size_t)n < len ? (size_t)n : len;
    if (got >= cap)
        got = cap - 1;
    memcpy(text, buf, got);
    text[got] = '\0';
    free(buf);
    return (ssize_t)got;
}

/* ---- polling ----------------------------------------------------------------------------- */

static void server_down(struct owserver_bus *bus, int64_t poll_mono_ms)
{
    int64_t now_mono_ms = clock_mono_ms();
    if (bus->down_count++ == 0) {
        bus->down_since_mono_ms = now_mono_ms;
        bus->log_interval_ms = FAULT_LOG_FIRST_MS;
        bus->next_log_mono_ms = 0; /* the first one is logged */
    }
    bus->link_up = false;
    bus->next_attempt_mono_ms = poll_mono_ms + bus->backoff_ms;
    bus->backoff_ms =
        bus->backoff_ms * 2 > RECONNECT_MAX_MS ? RECONNECT_MAX_MS : bus->backoff_ms * 2;
}

/* True when the current outage should be logged (its start, then at a backing-off interval). */
static bool down_log_due(struct owserver_bus *bus)
{
    int64_t now_mono_ms = clock_mono_ms();
    if (now_mono_ms < bus->next_log_mono_ms)
        return false;
    bus->next_log_mono_ms = now_mono_ms + bus->log_interval_ms;
    bus->log_interval_ms =
        bus->log_interval_ms * 2 > FAULT_LOG_MAX_MS ? FAULT_LOG_MAX_MS : bus->log_interval_ms * 2;
    return true;
}

/* Tries to reach the server unless it is up or the back-off says not yet. poll_mono_ms is the
 * poll's deadline: the next attempt is scheduled from it, so a back-off equal to the poll
 * interval really retries on every poll. */
static void try_server(struct owserver_bus *bus, struct sensor_ctx *ctx, int64_t poll_mono_ms)
{
    if (bus->link_up || poll_mono_ms < bus->next_attempt_mono_ms)
        return;
    const char *what = "cannot connect";
    /* The port first: OW_init() on a refusing server sleeps 5 s and leaks (owserver.h). */
    int rc = server_reachable(bus);
    if (rc == 0 && !bus->ow_ready) {
        what = "owcapi's OW_init failed";
        rc = ow_open(bus);
    } else if (rc == 0) {
        /* owcapi was up before the loss and reconnects by itself; if it still cannot list the
         * root while the port accepts, start it afresh. */
        char root[8];
        ssize_t n = ow_read("/", root, sizeof(root));
        if (n < 0) {
            sensor_log(ctx, LOG_WARNING,
                       "owserver[%s]: %s:%s accepts connections but owcapi cannot read from it "
                       "(%s); restarting owcapi",
                       bus->name, bus->host, bus->port, strerror((int)-n));
            ow_close(bus);
            what = "owcapi's OW_init failed";
            rc = ow_open(bus);
        }
    }
    if (rc == 0) {
        bus->link_up = true;
        bus->backoff_ms = RECONNECT_MIN_MS;
        if (bus->down_count > 0)
            sensor_log(ctx, LOG_NOTICE,
                       "owserver[%s]: %s:%s is back after %" PRId64 " ms (%" PRIu64
                       " failed attempts and losses)",
                       bus->name, bus->host, bus->port, clock_mono_ms() - bus->down_since_mono_ms,
                       bus->down_count);
        else
            sensor_log(ctx, LOG_INFO, "owserver[%s]: connected to %s:%s", bus->name, bus->host,
                       bus->port);
        bus->down_count = 0;
        return;
    }
    int64_t wait_ms = bus->backoff_ms;
    server_down(bus, poll_mono_ms);
    if (down_log_due(bus))
        sensor_log(ctx, LOG_WARNING,
                   "owserver[%s]: %s to %s:%s: %s (failed attempts: %" PRIu64 "; every probe "
                   "of the bus reads as a fault; next attempt in %" PRId64 " ms)",
                   bus->name, what, bus->host, bus->port, strerror(-rc), bus->down_count, wait_ms);
}

/* Reads one probe into p->rc, p->temp_c, p->ts_ms. */
static void read_probe(struct probe *p)
{
    char text[64];
    ssize_t n = ow_read(p->path, text, sizeof(text));
    p->ts_ms = clock_wall_ms();
    p->text[0] = '\0';
    if (n < 0) {
        p->rc = (int)n;
        return;
    }
    p->rc = ow_decode_temperature(text, (size_t)n, &p->temp_c);
    if (p->rc != OW_OK) {
        /* Kept for the log, control characters replaced: it ends up in a log line. */
        size_t i = 0;
        for (; i + 1 < sizeof(p->text) && text[i] != '\0'; i++)
            p->text[i] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) ? '?' : text[i];
        p->text[i] = '\0';
    }
}

/* Logs a probe's fault when it starts or changes, and once when it clears; the readings
 * themselves carry every occurrence (STYLE §7). A dead server is the bus's to log. */
static void log_probe(struct owserver_bus *bus, struct sensor_ctx *ctx, struct probe *p)
{
    if (p->rc == p->last_fault)
        return;
    if (p->rc == 0 && p->last_fault != FAULT_NO_SERVER)
        sensor_log(ctx, LOG_INFO,
                   "owserver[%s/%s]: %s reads again (%.4f °C) after %" PRIu64 " fault readings",
                   bus->name, p->id, p->sensor, p->temp_c, p->faults);
    else if (p->rc < 0 && p->rc != FAULT_NO_SERVER)
        sensor_log(ctx, LOG_WARNING,
                   "owserver[%s/%s]: cannot read %s: %s%s; %s recorded as a "
                   "fault",
                   bus->name, p->id, p->path, strerror(-p->rc),
                   p->rc == -ENOENT ? " (the owserver has no such device: unplugged, or a wrong "
                                      "id?)"
                                    : "",
                   p->sensor);
    else if (p->rc > 0)
        sensor_log(ctx, LOG_WARNING, "owserver[%s/%s]: %s read \"%s\": %s; %s recorded as a fault",
                   bus->name, p->id, p->path, p->text, ow_fault_name((enum ow_fault)p->rc),
                   p->sensor);
    p->last_fault = p->rc;
}

static void poll_bus(struct owserver_bus *bus, struct sensor_ctx *ctx, int64_t poll_mono_ms)
{
    try_server(bus, ctx, poll_mono_ms);
    bool any_read = false; /* an OW_get() succeeded in this poll: the server is there */
    for (size_t i = 0; i < bus->probe_count; i++) {
        struct probe *p = &bus->probes[i];
        if (sensor_stopping(ctx))
            return;
        if (!bus->link_up) {
            p->rc = FAULT_NO_SERVER;
            p->ts_ms = clock_wall_ms();
        } else {
            read_probe(p);
            if (p->rc >= 0) {
                any_read = true;
            } else if (!any_read) {
                /* A missing device and a dead server fail alike (owserver.h): ask the port. A
                 * dead server costs each OW_get() a while, so the rest are not tried. */
                int rc = server_reachable(bus);
                if (rc < 0) {
                    server_down(bus, poll_mono_ms);
                    sensor_log(ctx, LOG_WARNING,
                               "owserver[%s]: lost %s:%s: %s; every probe of the bus reads as "
                               "a fault until it is back",
                               bus->name, bus->host, bus->port, strerror(-rc));
                    down_log_due(bus);
                    p->rc = FAULT_NO_SERVER;
                } else {
                    any_read = true; /* the server is there: the device is not */
                }
            }
        }
        struct reading r = {.quantity = QUANTITY_TEMPERATURE,
                            .ts_ms = p->ts_ms,
                            .value = p->rc == 0 ? p->temp_c : (double)NAN,
                            .flags = p->rc == 0 ? 0 : READING_FAULT};
        memcpy(r.sensor_id, p->sensor, sizeof(r.sensor_id));
        log_probe(bus, ctx, p);
        if (p->rc == 0) {
            p->faults = 0;
        } else {
            p->faults++;
            bus->faults_emitted++;
        }
        /* -ECANCELED only says stop was asked; the reading was still delivered. */
        sensor_emit(ctx, &r);
    }
}

static int bus_run(void *state, struct sensor_ctx *ctx)
{
    struct owserver_bus *bus = state;
    if (!bus || !ctx)
        return -EINVAL;
    if (atomic_flag_test_and_set(&owcapi_claimed)) {
        sensor_log(ctx, LOG_ERR,
                   "owserver[%s]: another owserver bus is running in this process; owcapi has "
                   "one global connection, so only one owserver bus is supported: put every "
                   "owserver probe on one bus",
                   bus->name);
        return -EBUSY;
    }
    /* A restarted run() starts afresh: the server is tried at once, faults counted anew. */
    bus->ow_ready = false;
    bus->link_up = false;
    bus->next_attempt_mono_ms = 0;
    bus->backoff_ms = RECONNECT_MIN_MS;
    bus->down_count = 0;
    for (size_t i = 0; i < bus->probe_count; i++) {
        bus->probes[i].last_fault = 0;
        bus->probes[i].faults = 0;
    }
    sensor_log(ctx, LOG_INFO,
               "owserver[%s]: reading %zu probe(s) from %s:%s every %" PRId64 " ms (%s)", bus->name,
               bus->probe_count, bus->host, bus->port, bus->poll_interval_ms,
               bus->uncached ? "uncached" : "owserver's cache allowed");

    int64_t deadline_ms = clock_mono_ms();
    while (sensor_sleep_until(ctx, deadline_ms)) {
        poll_bus(bus, ctx, deadline_ms);
        deadline_ms += bus->poll_interval_ms;
        /* Uncached reads convert (750 ms per DS18B20 at 12 bits) and a dead server costs each
         * read a while: skip the missed polls rather than read back to back. */
        int64_t now_ms = clock_mono_ms();
        if (deadline_ms < now_ms)
            deadline_ms = now_ms + bus->poll_interval_ms;
    }
    sensor_log(ctx, LOG_DEBUG, "owserver[%s]: stopping; %" PRIu64 " fault readings emitted",
               bus->name, bus->faults_emitted);
    ow_close(bus);
    atomic_flag_clear(&owcapi_claimed);
    return 0;
}

const struct sensor_adapter owserver_adapter = {
    .type = "owserver",
    .open = bus_open,
    .run = bus_run,
    .close = bus_close,
    .for_each_point = bus_for_each_point,
    .name = bus_name,
};
