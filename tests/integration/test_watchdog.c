/* The service under a systemd-like supervisor (issue 8): the daemon runs with NOTIFY_SOCKET and
 * WATCHDOG_USEC as systemd gives them, and this test plays systemd's part: it reads the
 * notifications, checks READY=1, the STATUS line and the watchdog pings, and when the pings stop
 * (the daemon is frozen with SIGSTOP: a stuck engine sends none) it kills and restarts it, as
 * WatchdogSec= with Restart=on-failure does. The restarted daemon is ready again, pings again,
 * and carries the alert sequence on from its history. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define ROOT "coldchain/v1/wd-gw"
#define WATCHDOG_USEC "1000000"

struct notes {
    int ready, pings, status;
    char last_status[512];
};

/* Reads the notifications that arrive within ms. */
static void collect(int fd, int64_t ms, struct notes *n)
{
    int64_t end = harness_mono_ms() + ms;
    char buf[4096];
    for (;;) {
        int64_t left = end - harness_mono_ms();
        if (left <= 0)
            break;
        struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ssize_t got = recv(fd, buf, sizeof(buf) - 1, 0);
        if (got <= 0)
            continue;
        buf[got] = '\0';
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
            if (strcmp(line, "READY=1") == 0)
                n->ready++;
            else if (strcmp(line, "WATCHDOG=1") == 0)
                n->pings++;
            else if (strncmp(line, "STATUS=", 7) == 0) {
                n->status++;
                snprintf(n->last_status, sizeof(n->last_status), "%s", line + 7);
            }
        }
    }
}

static bool is_raised(const struct harness_msg *m, void *arg)
{
    (void)arg;
    const cJSON *t = m->json ? cJSON_GetObjectItemCaseSensitive(m->json, "transition") : NULL;
    return cJSON_IsString(t) && strcmp(t->valuestring, "raised") == 0;
}

int main(void)
{
    char config[PATH_MAX], data[PATH_MAX], sock_path[PATH_MAX], uri[64], text[4096];
    if (harness_init("watchdog") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    const char *gateway_bin = getenv("COLDCHAIN_GATEWAY");
    const char *sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(gateway_bin && sim_bin, "the programs are named");
    harness_mosquitto_path();
    harness_path(config, sizeof(config), "gateway.json");
    harness_path(data, sizeof(data), "data");
    harness_path(sock_path, sizeof(sock_path), "notify.sock");

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    HARNESS_REQUIRE(fd >= 0 && strlen(sock_path) < sizeof(sa.sun_path), "a notify socket");
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
    HARNESS_REQUIRE(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bound at %s", sock_path);

    int port;
    struct harness_proc *mosq = harness_start_mosquitto(&port);
    HARNESS_REQUIRE(mosq, "mosquitto on 127.0.0.1:%d", port);
    snprintf(uri, sizeof(uri), "tcp://127.0.0.1:%d", port);
    struct harness_sub *sub = harness_sub_new(uri, "wd-sub", ROOT "/#");
    HARNESS_REQUIRE(sub, "subscribed");
    int sim_port;
    struct harness_proc *sim = harness_start_modbus_sim(sim_bin, 0, 1, "0s=10.5", NULL, &sim_port);
    HARNESS_REQUIRE(sim, "simulator at 10.5 °C");
    int n = snprintf(
        text, sizeof(text),
        "{\"gateway_id\": \"wd-gw\", \"data_dir\": \"%s\",\n"
        " \"mqtt\": {\"uri\": \"%s\", \"telemetry_interval\": \"500ms\"},\n"
        " \"sensors\": [{\"id\": \"fridge-w\"}],\n"
        " \"buses\": [{\"name\": \"bus0\", \"type\": \"modbus-tcp\", \"host\": \"127.0.0.1\","
        " \"port\": %d, \"poll_interval\": \"250ms\",\n"
        "   \"devices\": [{\"unit_id\": 1, \"points\": [{\"sensor\": \"fridge-w\", \"quantity\":"
        " \"temperature\", \"address\": 1, \"type\": \"int16\", \"scale\": 0.1}]}]}],\n"
        " \"profiles\": {\"fridge\": {\"alarms\": [{\"id\": \"heat\", \"above\": 8.0}]}},\n"
        " \"shipments\": [{\"id\": \"fridge-w\", \"profile\": \"fridge\","
        " \"sensors\": [\"fridge-w\"]}]}\n",
        data, uri, sim_port);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(config, text) == 0,
                    "config written");

    setenv("NOTIFY_SOCKET", sock_path, 1);
    setenv("WATCHDOG_USEC", WATCHDOG_USEC, 1);
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "gateway started with NOTIFY_SOCKET and WatchdogSec=1s");
    struct notes first = {0};
    collect(fd, 4000, &first);
    harness_check(first.ready == 1, "READY=1 once (got %d)", first.ready);
    /* Pinged at half the period: about 8 in 4 s; allow for a slow start under ASan. */
    harness_check(first.pings >= 5, "watchdog pings every half period (%d in 4 s)", first.pings);
    harness_check(strstr(first.last_status, "alarms active") &&
                      strstr(first.last_status, "outbox") && strstr(first.last_status, "buses up"),
                  "STATUS says buses, alarms and outbox: \"%s\"", first.last_status);
    harness_check(harness_sub_wait(sub, 0, ROOT "/alerts", is_raised, NULL, 5000) >= 0,
                  "the heat alarm is raised (seq 1)");

    /* Stuck: no pings. The supervisor notices within the watchdog period and restarts it. */
    kill(harness_proc_pid(gw), SIGSTOP);
    struct notes stuck = {0};
    collect(fd, 1500, &stuck);
    harness_check(stuck.pings == 0, "no ping from a frozen daemon (%d)", stuck.pings);
    kill(harness_proc_pid(gw), SIGKILL);
    int status;
    harness_proc_wait(gw, 10000, &status);
    size_t mark = harness_sub_count(sub);
    struct harness_proc *again =
        harness_spawn("gateway-restarted", (const char *const[]){gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(again, "restarted, as Restart=on-failure does");
    struct notes second = {0};
    collect(fd, 4000, &second);
    harness_check(second.ready == 1 && second.pings >= 5,
                  "the restarted daemon is ready (%d) and pings again (%d)", second.ready,
                  second.pings);
    /* Its history says heat was announced: no second "raised" after the restart. */
    harness_sub_pump(sub, 1000);
    harness_check(harness_sub_wait(sub, mark, ROOT "/alerts", is_raised, NULL, 1) < 0,
                  "the alarm raised before the restart is not raised again");
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    harness_proc_stop(again, 15000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the restarted daemon exits 0");
    struct notes last = {0};
    collect(fd, 300, &last);
    close(fd);
    harness_proc_stop(sim, 5000, &status);
    harness_exit();
}
