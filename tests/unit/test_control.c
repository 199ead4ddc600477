/* control.c with a fake handler, over a real Unix socket in a temporary directory: a request
 * and its reply, refusals answered without the handler, clients served side by side, a slow
 * client cut off at its deadline, the socket's mode and group, a stale socket replaced and a
 * live one refused. With COLDCHAINCTL set (meson sets it), coldchainctl is run against the same
 * socket: its exit statuses 0, 1, 2 and 3.
 * Waiting here is on sockets with deadlines, never a sleep. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "command.h"
#include "control.h"
#include "cunit_main.h"

static char dir[64];
static char path[100]; /* fits a socket address (108) */

/* The fake engine: counts calls, keeps the last command, answers as told. */
static atomic_int calls;
static struct command last;
static int handler_rc;          /* returned by the handler; 0: a reply */
static const char *refuse_code; /* non-NULL: reply with this refusal */

static int fake_handle(void *arg, const struct command *cmd, char **reply_json_out)
{
    (void)arg;
    last = *cmd;
    atomic_fetch_add(&calls, 1);
    if (handler_rc != 0)
        return handler_rc;
    if (refuse_code != NULL) {
        *reply_json_out = command_reply_error(command_verb_name(cmd->verb), cmd->id, refuse_code,
                                              "no such alarm in fridge-a");
        return 0;
    }
    cJSON *result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "user", cmd->user);
    *reply_json_out = command_reply_ok(cmd, result);
    cJSON_Delete(result);
    return 0;
}

static void reset_fake(void)
{
    atomic_store(&calls, 0);
    memset(&last, 0, sizeof(last));
    handler_rc = 0;
    refuse_code = NULL;
}

static struct control *open_started(int timeout_ms)
{
    struct control_options opts = {.path = path, .client_timeout_ms = timeout_ms};
    struct control *ctl = NULL;
    reset_fake();
    CU_ASSERT_EQUAL_FATAL(control_open(&opts, fake_handle, NULL, &ctl), 0);
    CU_ASSERT_EQUAL_FATAL(control_start(ctl), 0);
    return ctl;
}

static int connect_to(const char *p)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", p);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(fd >= 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        close(fd);
        return -errno;
    }
    return fd;
}

static void send_text(int fd, const char *text)
{
    size_t len = strlen(text);
    CU_ASSERT_EQUAL(send(fd, text, len, MSG_NOSIGNAL), (ssize_t)len);
}

/* Reads until the server closes (at most 5 s); returns what came, NUL-terminated. */
static char *read_all(int fd)
{
    static char buf[8192];
    size_t used = 0;
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int r = poll(&pfd, 1, 5000);
        CU_ASSERT_FATAL(r == 1);
        ssize_t n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
        if (n <= 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    return buf;
}

static char *request(const char *text)
{
    int fd = connect_to(path);
    CU_ASSERT_FATAL(fd >= 0);
    send_text(fd, text);
    char *reply = read_all(fd);
    close(fd);
    return reply;
}

static void test_round_trip(void)
{
    struct control *ctl = open_started(0);
    char *reply = request("{\"verb\":\"ack\",\"id\":\"r-1\",\"shipment\":\"fridge-a\",\"alarm\":"
                          "\"heat\",\"sensor\":\"fridge-a\",\"user\":\"anna\"}\n");
    CU_ASSERT_STRING_EQUAL(reply, "{\"ok\":true,\"verb\":\"ack\",\"id\":\"r-1\",\"result\":"
                                  "{\"user\":\"anna\"}}\n");
    CU_ASSERT_EQUAL(atomic_load(&calls), 1);
    CU_ASSERT_EQUAL(last.verb, COMMAND_ACK);
    CU_ASSERT_STRING_EQUAL(last.alarm, "heat");
    /* \r\n, and a request without a newline ended by the client's shutdown. */
    reply = request("{\"verb\":\"status\"}\r\n");
    CU_ASSERT_STRING_EQUAL(reply, "{\"ok\":true,\"verb\":\"status\",\"result\":{\"user\":\"\"}}\n");
    int fd = connect_to(path);
    send_text(fd, "{\"verb\":\"status\",\"id\":\"half\"}");
    shutdown(fd, SHUT_WR);
    CU_ASSERT_PTR_NOT_NULL(strstr(read_all(fd), "\"id\":\"half\""));
    close(fd);
    CU_ASSERT_EQUAL(atomic_load(&calls), 3);
    control_close(ctl);
    /* The socket file goes with it. */
    struct stat st;
    CU_ASSERT_EQUAL(lstat(path, &st), -1);
}

static void test_refusals_skip_the_handler(void)
{
    struct control *ctl = open_started(0);
    char *reply = request("{nope\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "{\"ok\":false,\"error\":\"bad_json\",\"message\":"));
    reply = request("{\"verb\":\"ack\",\"id\":\"r-2\",\"user\":\"anna\"}\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "{\"ok\":false,\"verb\":\"ack\",\"id\":\"r-2\","
                                         "\"error\":\"missing_field\""));
    /* A line over 4096 bytes. */
    static char big[COMMAND_PAYLOAD_MAX + 100];
    memset(big, ' ', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    reply = request(big);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"error\":\"too_large\""));
    CU_ASSERT_EQUAL(atomic_load(&calls), 0);

    /* The handler's own refusal, and its failures. */
    refuse_code = COMMAND_ERR_UNKNOWN_ALARM;
    reply = request("{\"verb\":\"reload\",\"user\":\"a\"}\n");
    CU_ASSERT_STRING_EQUAL(reply, "{\"ok\":false,\"verb\":\"reload\",\"error\":\"unknown_alarm\","
                                  "\"message\":\"no such alarm in fridge-a\"}\n");
    refuse_code = NULL;
    handler_rc = -ECANCELED;
    reply = request("{\"verb\":\"reload\",\"user\":\"a\"}\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"error\":\"busy\""));
    handler_rc = -EIO;
    reply = request("{\"verb\":\"reload\",\"user\":\"a\"}\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(reply, "\"error\":\"internal\""));
    control_close(ctl);
}

static void test_two_clients_at_once(void)
{
    struct control *ctl = open_started(0);
    /* A holds half a request; B is answered meanwhile; then A completes and is answered. */
    int a = connect_to(path);
    send_text(a, "{\"verb\":\"status\",");
    int b = connect_to(path);
    send_text(b, "{\"verb\":\"status\",\"id\":\"b\"}\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(read_all(b), "\"id\":\"b\""));
    close(b);
    send_text(a, "\"id\":\"a\"}\n");
    CU_ASSERT_PTR_NOT_NULL(strstr(read_all(a), "\"id\":\"a\""));
    close(a);
    CU_ASSERT_EQUAL(atomic_load(&calls), 2);
    control_close(ctl);
}

static void test_slow_client_is_cut_off(void)
{
    struct control *ctl = open_started(200);
    int slow = connect_to(path);
    send_text(slow, "{\"verb\":");
    /* Others are served while it dawdles. */
    CU_ASSERT_PTR_NOT_NULL(strstr(request("{\"verb\":\"status\"}\n"), "\"ok\":true"));
    /* At its deadline the server closes it without an answer. */
    CU_ASSERT_STRING_EQUAL(read_all(slow), "");
    close(slow);
    /* A client that connects and says nothing at all, likewise. */
    int mute = connect_to(path);
    CU_ASSERT_STRING_EQUAL(read_all(mute), "");
    close(mute);
    CU_ASSERT_EQUAL(atomic_load(&calls), 1);
    control_close(ctl);
}

static void test_socket_mode_and_group(void)
{
    mode_t old = umask(0);
    struct control *ctl = open_started(0);
    umask(old);
    struct stat st;
    CU_ASSERT_EQUAL_FATAL(lstat(path, &st), 0);
    CU_ASSERT_TRUE(S_ISSOCK(st.st_mode));
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
    control_close(ctl);

    /* chgrp to a group this process is in: its own. */
    struct group *g = getgrgid(getgid());
    CU_ASSERT_PTR_NOT_NULL_FATAL(g);
    char name[64];
    snprintf(name, sizeof(name), "%s", g->gr_name);
    struct control_options opts = {.path = path, .group = name};
    CU_ASSERT_EQUAL_FATAL(control_open(&opts, fake_handle, NULL, &ctl), 0);
    CU_ASSERT_EQUAL(lstat(path, &st), 0);
    CU_ASSERT_EQUAL(st.st_gid, getgid());
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0660);
    control_close(ctl);

    opts.group = "no-such-group-coldchain";
    CU_ASSERT_EQUAL(control_open(&opts, fake_handle, NULL, &ctl), -ENOENT);
    CU_ASSERT_EQUAL(lstat(path, &st), -1);
}

static void test_stale_socket_is_replaced(void)
{
    /* What a crashed daemon leaves: a bound socket file that nobody accepts on. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    CU_ASSERT_EQUAL_FATAL(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(fd);
    CU_ASSERT_EQUAL(connect_to(path), -ECONNREFUSED);

    struct control *ctl = open_started(0);
    CU_ASSERT_PTR_NOT_NULL(strstr(request("{\"verb\":\"status\"}\n"), "\"ok\":true"));
    control_close(ctl);
}

static void test_live_socket_is_refused(void)
{
    struct control *ctl = open_started(0);
    struct control_options opts = {.path = path};
    struct control *second = NULL;
    CU_ASSERT_EQUAL(control_open(&opts, fake_handle, NULL, &second), -EADDRINUSE);
    CU_ASSERT_PTR_NULL(second);
    /* The first is untouched and still answers. */
    CU_ASSERT_PTR_NOT_NULL(strstr(request("{\"verb\":\"status\"}\n"), "\"ok\":true"));
    control_close(ctl);

    /* A file that is not a socket is never replaced. */
    int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    CU_ASSERT_FATAL(f >= 0);
    close(f);
    CU_ASSERT_EQUAL(control_open(&opts, fake_handle, NULL, &second), -EEXIST);
    struct stat st;
    CU_ASSERT_EQUAL(lstat(path, &st), 0);
    CU_ASSERT_TRUE(S_ISREG(st.st_mode));
    unlink(path);

    /* A path too long for a socket address. */
    char long_path[200];
    memset(long_path, 'x', sizeof(long_path) - 1);
    long_path[sizeof(long_path) - 1] = '\0';
    opts.path = long_path;
    CU_ASSERT_EQUAL(control_open(&opts, fake_handle, NULL, &second), -ENAMETOOLONG);
    char buf[128];
    CU_ASSERT_EQUAL(control_default_path("/var/lib/coldchain", buf, sizeof(buf)), 0);
    CU_ASSERT_STRING_EQUAL(buf, "/var/lib/coldchain/control.sock");
    CU_ASSERT_EQUAL(control_default_path(long_path, buf, sizeof(buf)), -ENAMETOOLONG);
}

static void test_stop_and_restart(void)
{
    struct control *ctl = open_started(0);
    int idle = connect_to(path); /* a client in the middle of nothing does not hold up stop */
    control_stop(ctl);
    control_stop(ctl);
    CU_ASSERT_STRING_EQUAL(read_all(idle), "");
    close(idle);
    CU_ASSERT_EQUAL(control_start(ctl), 0);
    CU_ASSERT_EQUAL(control_start(ctl), -EALREADY);
    CU_ASSERT_PTR_NOT_NULL(strstr(request("{\"verb\":\"status\"}\n"), "\"ok\":true"));
    control_close(ctl);
    control_close(NULL);
}

/* Runs coldchainctl with args; its exit status, and its stdout and stderr in out. */
static int run_ctl(char *out, size_t cap, const char *const *args)
{
    const char *exe = getenv("COLDCHAINCTL");
    char *argv[24];
    size_t n = 0;
    argv[n++] = (char *)exe;
    for (; args[n - 1] != NULL && n < 23; n++)
        argv[n] = (char *)args[n - 1];
    argv[n] = NULL;
    int pipefd[2];
    CU_ASSERT_FATAL(pipe2(pipefd, O_CLOEXEC) == 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        execv(exe, argv);
        _exit(127);
    }
    close(pipefd[1]);
    size_t used = 0;
    ssize_t got;
    while (used + 1 < cap && (got = read(pipefd[0], out + used, cap - 1 - used)) > 0)
        used += (size_t)got;
    out[used] = '\0';
    close(pipefd[0]);
    int status;
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_coldchainctl_against_the_socket(void)
{
    if (getenv("COLDCHAINCTL") == NULL) {
        fprintf(stderr, "COLDCHAINCTL not set: skipped ");
        return;
    }
    char out[4096];
    struct control *ctl = open_started(0);

    const char *ack[] = {"--socket", path,   "ack",       "fridge-a",        "heat", "fridge-a",
                         "--user",   "anna", "--comment", "moved the stock", NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), ack), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "ok"));
    CU_ASSERT_EQUAL(last.verb, COMMAND_ACK);
    CU_ASSERT_STRING_EQUAL(last.comment, "moved the stock");

    const char *start[] = {"shipment", "start",    "truck-42", "--profile", "who-esi-type1",
                           "--sensor", "logger-7", "--sensor", "logger-8",  "--user",
                           "driver",   "--socket", path,       "--json",    NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), start), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "{\"ok\":true,\"verb\":\"shipment-start\""));
    CU_ASSERT_EQUAL(last.verb, COMMAND_SHIPMENT_START);
    CU_ASSERT_EQUAL(last.sensor_count, 2);

    refuse_code = COMMAND_ERR_UNKNOWN_ALARM;
    const char *shelve[] = {
        "--socket", path, "shelve", "--alert", "9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f",
        "--for",    "2h", "--user", "anna",    "--comment",
        "defrost",  NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), shelve), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "refused: no such alarm in fridge-a (unknown_alarm)"));
    CU_ASSERT_EQUAL(last.for_ms, 2 * 3600 * 1000);
    refuse_code = NULL;

    /* Usage errors never reach the gateway. */
    int before = atomic_load(&calls);
    const char *bad_for[] = {"--socket", path,     "shelve", "a",         "b", "c", "--for",
                             "forever",  "--user", "u",      "--comment", "c", NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), bad_for), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "\"for\": expected a duration from 1m to 24h"));
    const char *no_user[] = {"--socket", path, "ack", "a", "b", "c", NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), no_user), 2);
    const char *wrong_option[] = {"--socket", path, "status", "--for", "2h", NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), wrong_option), 2);
    const char *both[] = {"--socket", path, "-c", "gateway.json", "status", NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), both), 2);
    CU_ASSERT_EQUAL(atomic_load(&calls), before);
    control_close(ctl);

    /* Nobody there. */
    const char *status[] = {"--socket", path, "status", NULL};
    CU_ASSERT_EQUAL(run_ctl(out, sizeof(out), status), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "No such file or directory"));
}

static int suite_init(void)
{
    snprintf(dir, sizeof(dir), "/tmp/test_control.XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/control.sock", dir);
    return 0;
}

static int suite_clean(void)
{
    unlink(path);
    return rmdir(dir);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("control", suite_init, suite_clean);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "a request and its reply; the socket file removed", test_round_trip);
    CU_add_test(s, "refusals answered without the handler; handler failures",
                test_refusals_skip_the_handler);
    CU_add_test(s, "two clients at once", test_two_clients_at_once);
    CU_add_test(s, "a slow client is cut off at its deadline", test_slow_client_is_cut_off);
    CU_add_test(s, "socket mode 0660 and its group", test_socket_mode_and_group);
    CU_add_test(s, "a stale socket is replaced", test_stale_socket_is_replaced);
    CU_add_test(s, "a live socket is refused, a plain file never replaced",
                test_live_socket_is_refused);
    CU_add_test(s, "stop with a client connected, and start again", test_stop_and_restart);
    CU_add_test(s, "coldchainctl against the socket: exit 0, 1, 2, 3",
                test_coldchainctl_against_the_socket);
    return CU_get_error();
}
