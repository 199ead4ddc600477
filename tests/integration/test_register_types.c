/* Every Modbus register type and word order end to end (issue 4): coldchain-sim serves the
 * scenario temperature in each of them (its encoder is written apart from the gateway's
 * decoder), the daemon reads each as a sensor of its own into a real mosquitto, and every one
 * must arrive as the same temperature. A freezer at -18.25 °C for the signed types and floats,
 * a fridge at 4.5 °C for the unsigned ones. mbpoll, an independent master, checks the
 * simulator's float encodings in two orders first. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define TOPIC_TELEMETRY "coldchain/v1/regs-gw/telemetry"

struct point {
    const char *sensor;
    const char *spec;   /* the simulator's --register */
    const char *config; /* the same point in the gateway's config */
    double want;
};

/* Signed and float, on the freezer simulator (-18.25 °C). */
static const struct point signed_points[] = {
    {"s-int16", "input:16:int16:abcd:0.01", "\"address\": 16, \"type\": \"int16\", \"scale\": 0.01",
     -18.25},
    {"s-int32-abcd", "input:32:int32:abcd:0.001",
     "\"address\": 32, \"type\": \"int32\", \"word_order\": \"abcd\", \"scale\": 0.001", -18.25},
    {"s-int32-cdab", "input:34:int32:cdab:0.001",
     "\"address\": 34, \"type\": \"int32\", \"word_order\": \"cdab\", \"scale\": 0.001", -18.25},
    {"s-int32-badc", "input:36:int32:badc:0.001",
     "\"address\": 36, \"type\": \"int32\", \"word_order\": \"badc\", \"scale\": 0.001", -18.25},
    {"s-int32-dcba", "input:38:int32:dcba:0.001",
     "\"address\": 38, \"type\": \"int32\", \"word_order\": \"dcba\", \"scale\": 0.001", -18.25},
    {"s-float-abcd", "holding:64:float32:abcd",
     "\"function\": \"holding\", \"address\": 64, \"type\": \"float32\", \"word_order\": \"abcd\"",
     -18.25},
    {"s-float-cdab", "holding:66:float32:cdab",
     "\"function\": \"holding\", \"address\": 66, \"type\": \"float32\", \"word_order\": \"cdab\"",
     -18.25},
    {"s-float-badc", "holding:68:float32:badc",
     "\"function\": \"holding\", \"address\": 68, \"type\": \"float32\", \"word_order\": \"badc\"",
     -18.25},
    {"s-float-dcba", "holding:70:float32:dcba",
     "\"function\": \"holding\", \"address\": 70, \"type\": \"float32\", \"word_order\": \"dcba\"",
     -18.25},
};

/* Unsigned, on the fridge simulator (4.5 °C). */
static const struct point unsigned_points[] = {
    {"u-uint16", "input:16:uint16:abcd:0.1", "\"address\": 16, \"type\": \"uint16\"", 4.5},
    {"u-uint32-abcd", "input:32:uint32:abcd:0.001",
     "\"address\": 32, \"type\": \"uint32\", \"word_order\": \"abcd\", \"scale\": 0.001", 4.5},
    {"u-uint32-cdab", "input:34:uint32:cdab:0.001",
     "\"address\": 34, \"type\": \"uint32\", \"word_order\": \"cdab\", \"scale\": 0.001", 4.5},
    {"u-uint32-badc", "input:36:uint32:badc:0.001",
     "\"address\": 36, \"type\": \"uint32\", \"word_order\": \"badc\", \"scale\": 0.001", 4.5},
    {"u-uint32-dcba", "input:38:uint32:dcba:0.001",
     "\"address\": 38, \"type\": \"uint32\", \"word_order\": \"dcba\", \"scale\": 0.001", 4.5},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct harness_proc *start_sim(const char *sim_bin, const char *temp,
                                      const struct point *pts, size_t n, int *port_out)
{
    const char *argv[64];
    char port_file[PATH_MAX];
    size_t k = 0;
    snprintf(port_file, sizeof(port_file), "%s/sim-%s.port", harness_dir(), temp);
    argv[k++] = sim_bin;
    argv[k++] = "modbus-tcp";
    argv[k++] = "--port";
    argv[k++] = "0";
    argv[k++] = "--port-file";
    argv[k++] = port_file;
    argv[k++] = "--script";
    argv[k++] = temp;
    argv[k++] = "--quiet";
    for (size_t i = 0; i < n; i++) {
        argv[k++] = "--register";
        argv[k++] = pts[i].spec;
    }
    argv[k] = NULL;
    struct harness_proc *p = harness_spawn("sim", argv);
    if (!p || harness_wait_port_file(p, port_file, 10000, port_out) < 0)
        return NULL;
    return p;
}

/* mbpoll reads one float32 at the holding address in its default (cdab) or big-endian order. */
static bool mbpoll_float(int port, int address, bool big_endian, const char *want)
{
    char p[16], a[16];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(a, sizeof(a), "%d", address);
    const char *argv[] = {"mbpoll", "-m", "tcp", "-p", p, "-a", "1", "-t", "4:float", "-0", "-r",
                          a, "-c", "1", "-1", big_endian ? "-B" : "-1", "127.0.0.1", NULL};
    struct harness_proc *pr = harness_spawn("mbpoll", argv);
    int status = -1;
    if (!pr || harness_proc_wait(pr, 10000, &status) < 0)
        return false;
    char *log = harness_read_file(harness_proc_log(pr));
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && log && strstr(log, want);
    free(log);
    return ok;
}

static void append_bus(char *text, size_t cap, const char *name, int port,
                       const struct point *pts, size_t n)
{
    size_t len = strlen(text);
    len += (size_t)snprintf(text + len, cap - len,
                            "{\"name\": \"%s\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
                            " \"port\": %d, \"poll_interval\": \"1s\", \"devices\": [{\"unit_id\": 1,"
                            " \"points\": [",
                            name, port);
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(text + len, cap - len,
                                "%s{\"sensor\": \"%s\", \"quantity\": \"temperature\", %s}",
                                i ? ", " : "", pts[i].sensor, pts[i].config);
    snprintf(text + len, cap - len, "]}]}");
}

int main(void)
{
    char config[PATH_MAX], data[PATH_MAX], uri[64], text[16384];
    if (harness_init("register-types") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin && access(gateway_bin, X_OK) == 0 &&
                        access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY and COLDCHAIN_SIM name executables");
    harness_mosquitto_path();
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");

    int freezer_port = 0, fridge_port = 0;
    struct harness_proc *freezer =
        start_sim(sim_bin, "0s=-18.25", signed_points, N(signed_points), &freezer_port);
    HARNESS_REQUIRE(freezer, "freezer simulator (-18.25 °C) on %d", freezer_port);
    struct harness_proc *fridge =
        start_sim(sim_bin, "0s=4.5", unsigned_points, N(unsigned_points), &fridge_port);
    HARNESS_REQUIRE(fridge, "fridge simulator (4.5 °C) on %d", fridge_port);
    if (system("command -v mbpoll >/dev/null 2>&1") == 0) {
        harness_check(mbpoll_float(freezer_port, 66, false, "-18.25"),
                      "mbpoll reads the simulator's cdab float as -18.25");
        harness_check(mbpoll_float(freezer_port, 64, true, "-18.25"),
                      "mbpoll -B reads the simulator's abcd float as -18.25");
    }

    int mq_port = 0;
    struct harness_proc *mosq = harness_start_mosquitto(&mq_port);
    HARNESS_REQUIRE(mosq, "mosquitto on %d", mq_port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", mq_port);
    struct harness_sub *sub = harness_sub_new(uri, "regs-sub", "coldchain/v1/regs-gw/#");
    HARNESS_REQUIRE(sub, "subscribed");

    snprintf(text, sizeof(text),
             "{\"gateway_id\": \"regs-gw\", \"data_dir\": \"%s\", \"mqtt\": {\"uri\": \"%s\","
             " \"telemetry_interval\": \"500ms\"},\n \"sensors\": [",
             data, uri);
    for (size_t i = 0; i < N(signed_points) + N(unsigned_points); i++) {
        const struct point *pt = i < N(signed_points) ? &signed_points[i]
                                                      : &unsigned_points[i - N(signed_points)];
        size_t len = strlen(text);
        snprintf(text + len, sizeof(text) - len, "%s{\"id\": \"%s\"}", i ? ", " : "", pt->sensor);
    }
    strncat(text, "],\n \"buses\": [", sizeof(text) - strlen(text) - 1);
    append_bus(text, sizeof(text), "freezer", freezer_port, signed_points, N(signed_points));
    strncat(text, ", ", sizeof(text) - strlen(text) - 1);
    append_bus(text, sizeof(text), "fridge", fridge_port, unsigned_points, N(unsigned_points));
    strncat(text, "],\n \"shipments\": [{\"id\": \"regs\", \"profile\": \"frozen\", \"sensors\": [",
            sizeof(text) - strlen(text) - 1);
    for (size_t i = 0; i < N(signed_points) + N(unsigned_points); i++) {
        const struct point *pt = i < N(signed_points) ? &signed_points[i]
                                                      : &unsigned_points[i - N(signed_points)];
        size_t len = strlen(text);
        snprintf(text + len, sizeof(text) - len, "%s\"%s\"", i ? ", " : "", pt->sensor);
    }
    strncat(text, "]}]}\n", sizeof(text) - strlen(text) - 1);
    HARNESS_REQUIRE(strlen(text) < sizeof(text) - 8 && harness_write_file(config, text) == 0,
                    "config written");
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started");
    for (int64_t end = harness_mono_ms() + 6000; harness_mono_ms() < end;)
        harness_sub_pump(sub, 250);
    HARNESS_REQUIRE(harness_proc_alive(gw), "the gateway runs");

    for (size_t i = 0; i < N(signed_points) + N(unsigned_points); i++) {
        const struct point *pt = i < N(signed_points) ? &signed_points[i]
                                                      : &unsigned_points[i - N(signed_points)];
        int good = 0, bad = 0;
        double last = (double)NAN;
        for (size_t m = 0; m < harness_sub_count(sub); m++) {
            const struct harness_msg *msg = harness_sub_msg(sub, m);
            if (strcmp(msg->topic, TOPIC_TELEMETRY) != 0 || !msg->json)
                continue;
            const cJSON *r;
            cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(msg->json, "readings"))
            {
                const cJSON *s = cJSON_GetObjectItemCaseSensitive(r, "sensor");
                if (!cJSON_IsString(s) || strcmp(s->valuestring, pt->sensor) != 0)
                    continue;
                const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, "value");
                last = cJSON_IsNumber(v) ? v->valuedouble : (double)NAN;
                if (cJSON_IsNumber(v) && fabs(v->valuedouble - pt->want) < 1e-6)
                    good++;
                else
                    bad++;
            }
        }
        harness_check(good >= 3 && bad == 0, "%s (%s): reads %g (%d readings, %d otherwise; last %g)",
                      pt->sensor, pt->spec, pt->want, good, bad, last);
    }
    int status;
    char st[32];
    harness_proc_stop(gw, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "gateway exits 0 (got %s)",
                  harness_status_str(status, st, sizeof(st)));
    harness_exit();
}
