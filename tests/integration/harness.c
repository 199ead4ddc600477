/* Integration-test harness: see harness.h. The process table is a fixed static array so that
 * the fatal-signal handler can kill and report processes with async-signal-safe calls only. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <MQTTClient.h>

#define MAX_PROCS 128 /* every process keeps its slot, so its log can be printed on failure */
#define MAX_SUBS 8
#define START_ATTEMPTS 3
#define POLL_INTERVAL_MS 20
#define READY_TIMEOUT_MS 10000 /* a peer that is not accepting after 10 s is broken */
#define EXIT_STOP_TIMEOUT_MS 3000
#define MAX_DUMPED_MESSAGES 60

struct harness_proc {
    char name[32];
    char log_path[PATH_MAX];
    volatile pid_t pid;         /* 0: slot unused */
    volatile sig_atomic_t done; /* reaped; status is valid */
    int status;                 /* wait status */
};

struct harness_sub {
    MQTTClient client;
    char client_id[64];
    struct harness_msg *msgs;
    size_t count;
    size_t cap;
};

static struct harness_proc procs[MAX_PROCS];
static volatile sig_atomic_t nprocs;
static struct harness_sub *subs[MAX_SUBS];
static char tmp_dir[PATH_MAX];
static int passed;
static int failed;
static bool cleaned;

/* ---- time and files -------------------------------------------------------------------- */

int64_t harness_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t harness_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void harness_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int harness_parse_ts_ms(const char *text, int64_t *ts_ms_out)
{
    struct tm tm = {0};
    int ms = 0;
    int used = 0;

    if (!text || !ts_ms_out)
        return -EINVAL;
    if (sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &used) != 7 ||
        used != (int)strlen(text) || used != 24)
        return -EINVAL;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ts_ms_out = (int64_t)timegm(&tm) * 1000 + ms;
    return 0;
}

int harness_write_file(const char *path, const char *text)
{
    char tmp[PATH_MAX];
    size_t len = strlen(text);
    int rc = 0;
    int fd;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, text + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        off += (size_t)n;
    }
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    /* Renamed into place so that a reader (the gateway on reload, a poll) never sees half. */
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

char *harness_read_file(const char *path)
{
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    size_t len = 0;
    size_t cap = 0;

    if (!f)
        return NULL;
    for (;;) {
        if (cap - len < 4096) {
            char *grown = realloc(buf, cap + 65536);
            if (!grown) {
                free(buf);
                buf = NULL;
                goto out;
            }
            buf = grown;
            cap += 65536;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (n == 0)
            break;
    }
    buf[len] = '\0';
out:
    fclose(f);
    return buf;
}

int harness_free_port(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t addr_len = sizeof(addr);
    int port = -EIO;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -errno;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &addr_len) < 0) {
        port = -errno;
        goto out;
    }
    port = ntohs(addr.sin_port);
out:
    close(fd);
    return port;
}

const char *harness_dir(void)
{
    return tmp_dir;
}

int harness_path(char *buf, size_t len, const char *name)
{
    if (snprintf(buf, len, "%s/%s", tmp_dir, name) >= (int)len)
        return -ENAMETOOLONG;
    return 0;
}

/* ---- async-signal-safe reporting ------------------------------------------------------- */

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static void write_str(int fd, const char *s)
{
    write_all(fd, s, strlen(s));
}

/* Copies every process's log to stderr; only open/read/write, so the signal handler can use it. */
static void dump_logs(void)
{
    static char buf[8192];

    for (int i = 0; i < nprocs; i++) {
        int fd = open(procs[i].log_path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        write_str(2, "\n----- log of ");
        write_str(2, procs[i].name);
        write_str(2, " (");
        write_str(2, procs[i].log_path);
        write_str(2, ") -----\n");
        if (fd < 0)
            continue;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            write_all(2, buf, (size_t)n);
        close(fd);
        write_str(2, "----- end of ");
        write_str(2, procs[i].name);
        write_str(2, " -----\n");
    }
}

/* meson's timeout (SIGTERM), ^C, an assert() or a crash: the children would die by their
 * parent-death signal anyway, but kill them now and leave the logs and temp dir to look at. */
static void on_fatal_signal(int sig)
{
    for (int i = 0; i < nprocs; i++)
        if (procs[i].pid > 0 && !procs[i].done)
            kill(-procs[i].pid, SIGKILL);
    write_str(2, "\nharness: fatal signal, killed all children\n");
    dump_logs();
    write_str(2, "harness: kept temp dir ");
    write_str(2, tmp_dir);
    write_str(2, "\n");
    raise(sig); /* SA_RESETHAND restored the default action */
}

/* ---- child processes ------------------------------------------------------------------- */

const char *harness_proc_name(const struct harness_proc *p)
{
    return p->name;
}

pid_t harness_proc_pid(const struct harness_proc *p)
{
    return p->pid;
}

const char *harness_proc_log(const struct harness_proc *p)
{
    return p->log_path;
}

const char *harness_status_str(int status, char *buf, size_t len)
{
    if (WIFEXITED(status))
        snprintf(buf, len, "exit %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, len, "signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, len, "wait status 0x%x", (unsigned)status);
    return buf;
}

struct harness_proc *harness_spawn(const char *name, const char *const argv[])
{
    struct harness_proc *p;
    pid_t parent = getpid();
    pid_t pid;
    int log_fd;

    if (nprocs >= MAX_PROCS) {
        fprintf(stderr, "harness: cannot start %s: process table full\n", name);
        return NULL;
    }
    p = &procs[nprocs];
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    if (snprintf(p->log_path, sizeof(p->log_path), "%s/%02d-%s.log", tmp_dir, (int)nprocs, name) >=
        (int)sizeof(p->log_path)) {
        fprintf(stderr, "harness: cannot start %s: log path too long\n", name);
        return NULL;
    }
    log_fd = open(p->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        fprintf(stderr, "harness: cannot start %s: %s: %s\n", name, p->log_path, strerror(errno));
        return NULL;
    }
    fflush(NULL); /* or buffered output would be written twice, by both processes */
    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "harness: cannot start %s: fork: %s\n", name, strerror(errno));
        close(log_fd);
        return NULL;
    }
    if (pid == 0) {
        sigset_t none;
        int null_fd = open("/dev/null", O_RDONLY);

        /* Own group, so stop and cleanup can signal everything it starts; parent-death signal,
         * so nothing outlives a test that is killed outright. The getppid() check closes the
         * race where the parent died before prctl(). */
        setpgid(0, 0);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
            _exit(127);
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < NSIG; sig++)
            signal(sig, SIG_DFL);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
            _exit(127);
        /* The test's own sockets (the MQTT subscriber) must not leak into the child. */
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execvp(argv[0], (char *const *)argv);
        dprintf(2, "harness: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    /* Also from the parent: a signal to the group must work even before the child runs. */
    setpgid(pid, pid);
    close(log_fd);
    p->pid = pid;
    nprocs++;
    {
        char line[1024];
        size_t off = 0;
        for (int i = 0; argv[i] && off < sizeof(line); i++)
            off += (size_t)snprintf(line + off, sizeof(line) - off, "%s%s", i ? " " : "", argv[i]);
        printf("# started %s (pid %d): %s\n", name, (int)pid, line);
    }
    return p;
}

/* Reaps p once it has exited. WNOWAIT first: while the leader is an unreaped zombie its pid
 * cannot be reused, so the SIGKILL to its group reaches only what it left behind. */
static bool reap_if_exited(struct harness_proc *p)
{
    siginfo_t info;

    if (p->done)
        return true;
    memset(&info, 0, sizeof(info));
    if (waitid(P_PID, (id_t)p->pid, &info, WEXITED | WNOHANG | WNOWAIT) < 0) {
        if (errno == EINTR)
            return false;
        /* ECHILD: someone else reaped it; nothing more can be learned. */
        p->status = 0xff00;
        p->done = 1;
        return true;
    }
    if (info.si_pid == 0)
        return false;
    kill(-p->pid, SIGKILL);
    while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
        ;
    p->done = 1;
    return true;
}

bool harness_proc_alive(struct harness_proc *p)
{
    return !reap_if_exited(p);
}

int harness_proc_wait(struct harness_proc *p, int64_t timeout_ms, int *status_out)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;

    while (!reap_if_exited(p)) {
        if (harness_mono_ms() >= deadline_ms)
            return -ETIMEDOUT;
        harness_sleep_ms(POLL_INTERVAL_MS / 2);
    }
    if (status_out)
        *status_out = p->status;
    return 0;
}

int harness_proc_stop(struct harness_proc *p, int64_t timeout_ms, int *status_out)
{
    int rc = 0;

    if (!reap_if_exited(p)) {
        kill(-p->pid, SIGTERM);
        if (harness_proc_wait(p, timeout_ms, NULL) == -ETIMEDOUT) {
            fprintf(stderr, "harness: %s (pid %d) ignored SIGTERM for %lld ms, killing it\n",
                    p->name, (int)p->pid, (long long)timeout_ms);
            kill(-p->pid, SIGKILL);
            while (!reap_if_exited(p))
                harness_sleep_ms(POLL_INTERVAL_MS / 2);
            rc = -ETIMEDOUT;
        }
    }
    if (status_out)
        *status_out = p->status;
    return rc;
}

int harness_wait_tcp(struct harness_proc *p, int port, int64_t timeout_ms)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (;;) {
        int fd;
        int rc;

        if (p && !harness_proc_alive(p))
            return -ECHILD;
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
        close(fd);
        /* Connected: but if another process holds the port, our child is dying of EADDRINUSE
         * right now. Its liveness after the connect is what tells the two apart. */
        if (rc == 0) {
            if (p && !harness_proc_alive(p))
                return -ECHILD;
            return 0;
        }
        if (harness_mono_ms() >= deadline_ms)
            return -ETIMEDOUT;
        harness_sleep_ms(POLL_INTERVAL_MS);
    }
}

int harness_wait_port_file(struct harness_proc *p, const char *path, int64_t timeout_ms,
                           int *port_out)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;

    for (;;) {
        char *text = harness_read_file(path);

        if (text) {
            char *end = NULL;
            long port = strtol(text, &end, 10);
            bool ok = end != text && port > 0 && port < 65536 && (*end == '\0' || *end == '\n');
            free(text);
            if (ok) {
                *port_out = (int)port;
                return 0;
            }
        }
        if (p && !harness_proc_alive(p))
            return -ECHILD;
        if (harness_mono_ms() >= deadline_ms)
            return -ETIMEDOUT;
        harness_sleep_ms(POLL_INTERVAL_MS);
    }
}

/* Polls p's log until it contains text, while p is alive. Returns 0, -ECHILD or -ETIMEDOUT. */
static int wait_log_text(struct harness_proc *p, const char *text, int64_t timeout_ms)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;

    for (;;) {
        char *log = harness_read_file(p->log_path);
        bool found = log && strstr(log, text);

        free(log);
        if (found)
            return 0;
        if (!harness_proc_alive(p))
            return -ECHILD;
        if (harness_mono_ms() >= deadline_ms)
            return -ETIMEDOUT;
        harness_sleep_ms(POLL_INTERVAL_MS);
    }
}

/* ---- peers ----------------------------------------------------------------------------- */

const char *harness_mosquitto_path(void)
{
    static char found[PATH_MAX];
    const char *env_path = getenv("PATH");
    char dirs[4096];
    char *save = NULL;

    if (found[0])
        return found;
    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/usr/local/sbin", env_path ? env_path : "");
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (snprintf(found, sizeof(found), "%s/mosquitto", dir) < (int)sizeof(found) &&
            access(found, X_OK) == 0)
            return found;
    }
    found[0] = '\0';
    harness_skip("mosquitto is not installed (apt-get install mosquitto)");
}

struct harness_proc *harness_start_mosquitto(int *port_out)
{
    const char *bin = harness_mosquitto_path();

    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        char conf_path[PATH_MAX];
        char conf[256];
        struct harness_proc *p;
        int port = harness_free_port();
        int rc;

        if (port < 0) {
            fprintf(stderr, "harness: no free port: %s\n", strerror(-port));
            return NULL;
        }
        snprintf(conf, sizeof(conf),
                 "listener %d 127.0.0.1\nallow_anonymous true\n"
                 "persistence false\n",
                 port);
        if (snprintf(conf_path, sizeof(conf_path), "%s/mosquitto-%d.conf", tmp_dir, attempt) >=
                (int)sizeof(conf_path) ||
            harness_write_file(conf_path, conf) < 0) {
            fprintf(stderr, "harness: cannot write %s\n", conf_path);
            return NULL;
        }
        p = harness_spawn("mosquitto", (const char *const[]){bin, "-c", conf_path, NULL});
        if (!p)
            return NULL;
        rc = harness_wait_tcp(p, port, READY_TIMEOUT_MS);
        /* The connect may have reached whoever took the port from us, while our broker is
         * still on its way to EADDRINUSE: its own "running" line, written after it has bound
         * every listener, is the proof that the port is ours. */
        if (rc == 0)
            rc = wait_log_text(p, " running", READY_TIMEOUT_MS);
        if (rc == 0) {
            *port_out = port;
            return p;
        }
        fprintf(stderr, "harness: mosquitto on port %d %s (attempt %d of %d)\n", port,
                rc == -ECHILD ? "exited before accepting" : "did not accept in time", attempt,
                START_ATTEMPTS);
        harness_proc_stop(p, EXIT_STOP_TIMEOUT_MS, NULL);
    }
    return NULL;
}

struct harness_proc *harness_start_modbus_sim(const char *sim_path, int port, int unit_id,
                                              const char *script, const char *scenario,
                                              int *port_out)
{
    static int sim_count;

    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        char port_arg[16];
        char unit_arg[16];
        char port_file[PATH_MAX];
        const char *argv[16];
        struct harness_proc *p;
        int n = 0;
        int got_port = port;
        int rc = 0;

        snprintf(port_arg, sizeof(port_arg), "%d", port);
        snprintf(unit_arg, sizeof(unit_arg), "%d", unit_id);
        if (snprintf(port_file, sizeof(port_file), "%s/sim-%d.port", tmp_dir, ++sim_count) >=
            (int)sizeof(port_file))
            return NULL;
        argv[n++] = sim_path;
        argv[n++] = "modbus-tcp";
        argv[n++] = "--host";
        argv[n++] = "127.0.0.1";
        argv[n++] = "--port";
        argv[n++] = port_arg;
        if (port == 0) {
            argv[n++] = "--port-file";
            argv[n++] = port_file;
        }
        argv[n++] = "--unit";
        argv[n++] = unit_arg;
        argv[n++] = script ? "--script" : "--scenario";
        argv[n++] = script ? script : scenario;
        argv[n++] = "--quiet";
        argv[n] = NULL;
        p = harness_spawn("sim", argv);
        if (!p)
            return NULL;
        if (port == 0)
            rc = harness_wait_port_file(p, port_file, READY_TIMEOUT_MS, &got_port);
        if (rc == 0)
            rc = harness_wait_tcp(p, got_port, READY_TIMEOUT_MS);
        if (rc == 0) {
            *port_out = got_port;
            return p;
        }
        fprintf(stderr, "harness: simulator on port %d %s (attempt %d of %d)\n", got_port,
                rc == -ECHILD ? "exited before accepting" : "did not accept in time", attempt,
                START_ATTEMPTS);
        harness_proc_stop(p, EXIT_STOP_TIMEOUT_MS, NULL);
    }
    return NULL;
}

/* ---- MQTT subscriber ------------------------------------------------------------------- */

struct harness_sub *harness_sub_new(const char *uri, const char *client_id, const char *filter)
{
    MQTTClient_createOptions create_opts = MQTTClient_createOptions_initializer;
    MQTTClient_connectOptions conn_opts = MQTTClient_connectOptions_initializer5;
    MQTTSubscribe_options sub_opts = MQTTSubscribe_options_initializer;
    MQTTResponse resp = MQTTResponse_initializer;
    struct harness_sub *s = calloc(1, sizeof(*s));
    int slot = -1;
    int rc;

    if (!s) {
        fprintf(stderr, "harness: out of memory\n");
        return NULL;
    }
    for (int i = 0; i < MAX_SUBS && slot < 0; i++)
        if (!subs[i])
            slot = i;
    if (slot < 0) {
        fprintf(stderr, "harness: too many subscribers\n");
        free(s);
        return NULL;
    }
    snprintf(s->client_id, sizeof(s->client_id), "%s", client_id);
    create_opts.MQTTVersion = MQTTVERSION_5;
    rc = MQTTClient_createWithOptions(&s->client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                      &create_opts);
    if (rc != MQTTCLIENT_SUCCESS) {
        fprintf(stderr, "harness: MQTT client %s for %s: %s\n", client_id, uri,
                MQTTClient_strerror(rc));
        free(s);
        return NULL;
    }
    subs[slot] = s;
    /* The test calls MQTTClient_receive() at least every few seconds; 60 s keeps the broker
     * from dropping us while a step waits for a process to stop. */
    conn_opts.keepAliveInterval = 60;
    conn_opts.cleanstart = 1;
    conn_opts.connectTimeout = 5;
    resp = MQTTClient_connect5(s->client, &conn_opts, NULL, NULL);
    if (resp.reasonCode != MQTTREASONCODE_SUCCESS) {
        fprintf(stderr, "harness: MQTT connect %s to %s: reason %d (%s)\n", client_id, uri,
                (int)resp.reasonCode, MQTTReasonCode_toString(resp.reasonCode));
        MQTTResponse_free(resp);
        harness_sub_free(s);
        return NULL;
    }
    MQTTResponse_free(resp);
    /* Retain As Published (MQTT 5 §3.8.3.1): without it the broker clears the retained flag on
     * messages forwarded to an existing subscription, and "status is retained" could not be
     * checked on messages that arrive live. */
    sub_opts.retainAsPublished = 1;
    resp = MQTTClient_subscribe5(s->client, filter, 1, &sub_opts, NULL);
    if (resp.reasonCode >= 0x80 || resp.reasonCode < 0) {
        fprintf(stderr, "harness: MQTT subscribe %s to %s: reason %d (%s)\n", client_id, filter,
                (int)resp.reasonCode, MQTTReasonCode_toString(resp.reasonCode));
        MQTTResponse_free(resp);
        harness_sub_free(s);
        return NULL;
    }
    MQTTResponse_free(resp);
    printf("# subscriber %s on %s subscribed to %s\n", client_id, uri, filter);
    return s;
}

void harness_sub_free(struct harness_sub *s)
{
    if (!s)
        return;
    for (int i = 0; i < MAX_SUBS; i++)
        if (subs[i] == s)
            subs[i] = NULL;
    if (MQTTClient_isConnected(s->client))
        MQTTClient_disconnect5(s->client, 100, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
    MQTTClient_destroy(&s->client);
    for (size_t i = 0; i < s->count; i++) {
        free(s->msgs[i].topic);
        free(s->msgs[i].payload);
        cJSON_Delete(s->msgs[i].json);
    }
    free(s->msgs);
    free(s);
}

size_t harness_sub_count(const struct harness_sub *s)
{
    return s->count;
}

const struct harness_msg *harness_sub_msg(const struct harness_sub *s, size_t index)
{
    return index < s->count ? &s->msgs[index] : NULL;
}

/* Takes one message off the connection, waiting up to timeout_ms. Returns 1 if one was kept,
 * 0 on timeout, -ENOTCONN if the connection is gone, -ENOMEM. */
static int receive_one(struct harness_sub *s, int64_t timeout_ms)
{
    char *topic = NULL;
    int topic_len = 0;
    MQTTClient_message *m = NULL;
    struct harness_msg *kept;
    int rc;

    if (timeout_ms < 0)
        timeout_ms = 0;
    rc = MQTTClient_receive(s->client, &topic, &topic_len, &m, (unsigned long)timeout_ms);
    /* TOPICNAME_TRUNCATED only means the topic holds a NUL; topic_len is right either way. */
    if (rc != MQTTCLIENT_SUCCESS && rc != MQTTCLIENT_TOPICNAME_TRUNCATED) {
        fprintf(stderr, "harness: MQTT receive on %s: %s\n", s->client_id, MQTTClient_strerror(rc));
        return -ENOTCONN;
    }
    if (!m) {
        MQTTClient_free(topic);
        return MQTTClient_isConnected(s->client) ? 0 : -ENOTCONN;
    }
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct harness_msg *grown = realloc(s->msgs, cap * sizeof(*grown));
        if (!grown) {
            rc = -ENOMEM;
            goto out;
        }
        s->msgs = grown;
        s->cap = cap;
    }
    kept = &s->msgs[s->count];
    memset(kept, 0, sizeof(*kept));
    kept->topic = strndup(topic, (size_t)(topic_len > 0 ? topic_len : (int)strlen(topic)));
    kept->payload = malloc((size_t)m->payloadlen + 1);
    if (!kept->topic || !kept->payload) {
        free(kept->topic);
        free(kept->payload);
        rc = -ENOMEM;
        goto out;
    }
    memcpy(kept->payload, m->payload, (size_t)m->payloadlen);
    kept->payload[m->payloadlen] = '\0';
    kept->payload_len = (size_t)m->payloadlen;
    kept->json = cJSON_ParseWithLength(kept->payload, kept->payload_len);
    kept->qos = m->qos;
    kept->retained = m->retained != 0;
    kept->recv_mono_ms = harness_mono_ms();
    s->count++;
    rc = 1;
out:
    MQTTClient_freeMessage(&m);
    MQTTClient_free(topic);
    return rc;
}

int harness_sub_pump(struct harness_sub *s, int64_t timeout_ms)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;
    int got = 0;

    for (;;) {
        int64_t left_ms = deadline_ms - harness_mono_ms();
        int rc;

        if (left_ms <= 0)
            return got;
        rc = receive_one(s, left_ms);
        if (rc < 0)
            return rc;
        got += rc;
    }
}

long harness_sub_wait(struct harness_sub *s, size_t from_index, const char *topic,
                      bool (*match)(const struct harness_msg *m, void *arg), void *arg,
                      int64_t timeout_ms)
{
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;
    size_t next = from_index;

    for (;;) {
        for (; next < s->count; next++) {
            const struct harness_msg *m = &s->msgs[next];
            if ((!topic || strcmp(m->topic, topic) == 0) && (!match || match(m, arg)))
                return (long)next;
        }
        int64_t left_ms = deadline_ms - harness_mono_ms();
        if (left_ms <= 0)
            return -ETIMEDOUT;
        /* Receive in slices so that a long wait still answers keepalive pings. */
        int rc = receive_one(s, left_ms < 1000 ? left_ms : 1000);
        if (rc < 0)
            return rc;
    }
}

/* ---- checks, cleanup, exit ------------------------------------------------------------- */

bool harness_check(bool ok, const char *fmt, ...)
{
    va_list ap;

    if (ok)
        passed++;
    else
        failed++;
    fputs(ok ? "ok: " : "FAIL: ", stdout);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    return ok;
}

int harness_failures(void)
{
    return failed;
}

static void dump_messages(const struct harness_sub *s)
{
    size_t first = s->count > MAX_DUMPED_MESSAGES ? s->count - MAX_DUMPED_MESSAGES : 0;

    fprintf(stderr, "\n----- last %zu of %zu MQTT messages seen by %s -----\n", s->count - first,
            s->count, s->client_id);
    for (size_t i = first; i < s->count; i++)
        fprintf(stderr, "[%zu] %s%s q%d: %.600s\n", i, s->msgs[i].topic,
                s->msgs[i].retained ? " (retained)" : "", s->msgs[i].qos, s->msgs[i].payload);
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Idempotent; runs from harness_exit(), harness_skip() and atexit. */
static void cleanup(void)
{
    bool failing = failed > 0;

    if (cleaned)
        return;
    cleaned = true;
    for (int i = 0; i < MAX_SUBS; i++) {
        if (subs[i] && failing)
            dump_messages(subs[i]);
        harness_sub_free(subs[i]);
    }
    /* Latest first: the gateway before the simulators and the broker it talks to. */
    for (int i = nprocs - 1; i >= 0; i--) {
        if (!procs[i].done) {
            char what[64];
            int status;
            harness_proc_stop(&procs[i], EXIT_STOP_TIMEOUT_MS, &status);
            printf("# stopped %s (pid %d) at exit: %s\n", procs[i].name, (int)procs[i].pid,
                   harness_status_str(status, what, sizeof(what)));
        }
    }
    fflush(stdout);
    if (!tmp_dir[0])
        return;
    if (failing) {
        dump_logs();
        fprintf(stderr, "harness: kept temp dir %s\n", tmp_dir);
    } else if (nftw(tmp_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) < 0) {
        fprintf(stderr, "harness: cannot remove %s: %s\n", tmp_dir, strerror(errno));
    }
}

noreturn void harness_exit(void)
{
    cleanup();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    exit(failed ? 1 : 0);
}

noreturn void harness_skip(const char *why)
{
    const char *require = getenv("COLDCHAIN_REQUIRE_PEERS");

    if (require && strcmp(require, "1") == 0) {
        harness_check(false, "%s, and COLDCHAIN_REQUIRE_PEERS=1 forbids skipping", why);
        harness_exit();
    }
    printf("SKIP: %s\n", why);
    cleanup();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    exit(HARNESS_EXIT_SKIP);
}

int harness_init(const char *test_name)
{
    const char *base = getenv("TMPDIR");
    struct sigaction sa;
    static const int fatal[] = {SIGTERM, SIGINT, SIGHUP, SIGABRT, SIGSEGV, SIGBUS, SIGFPE};

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!base || !base[0])
        base = "/tmp";
    if (snprintf(tmp_dir, sizeof(tmp_dir), "%s/coldchain-%s-XXXXXX", base, test_name) >=
        (int)sizeof(tmp_dir)) {
        tmp_dir[0] = '\0';
        return -ENAMETOOLONG;
    }
    if (!mkdtemp(tmp_dir)) {
        int err = errno;
        fprintf(stderr, "harness: mkdtemp %s: %s\n", tmp_dir, strerror(err));
        tmp_dir[0] = '\0';
        return -err;
    }
    printf("# temp dir %s\n", tmp_dir);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
        sigaction(fatal[i], &sa, NULL);
    /* A broker that goes away must not kill the test with SIGPIPE before it can report. */
    signal(SIGPIPE, SIG_IGN);
    atexit(cleanup);
    return 0;
}

/* ---- owserver (see harness.h) ---- */

/* owserver from PATH or Debian's /usr/bin; NULL when not installed. */
const char *harness_owserver_path(void)
{
    static char found[PATH_MAX];
    const char *env_path = getenv("PATH");
    char dirs[4096];
    char *save = NULL;
    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin", env_path ? env_path : "");
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (snprintf(found, sizeof(found), "%s/owserver", dir) < (int)sizeof(found) &&
            access(found, X_OK) == 0)
            return found;
    }
    return NULL;
}

/* Starts `owserver -c <empty> --tester=28,10 -p 127.0.0.1:port --foreground --error_print=2`
 * (Debian's /etc/owfs.conf adds a FAKE bus: hence the empty config). port 0: a free port, 3
 * attempts. Then waits for the port and checks the process is still alive: an owserver that could
 * not bind exits within milliseconds while the connect reached another one. */
struct harness_proc *harness_start_owserver(const char *bin, const char *conf, int port,
                                            int *port_out)
{
    for (int attempt = 1; attempt <= 3; attempt++) {
        int p = port > 0 ? port : harness_free_port();
        char listen[32];
        if (p < 0)
            return NULL;
        snprintf(listen, sizeof(listen), "127.0.0.1:%d", p);
        struct harness_proc *ows = harness_spawn(
            "owserver", (const char *const[]){bin, "-c", conf, "--tester=28,10", "-p", listen,
                                              "--foreground", "--error_print=2", NULL});
        if (!ows)
            return NULL;
        int rc = harness_wait_tcp(ows, p, 10000);
        if (rc == 0) {
            harness_sleep_ms(500);
            if (harness_proc_alive(ows)) {
                *port_out = p;
                return ows;
            }
            rc = -ECHILD;
        }
        fprintf(stderr, "owserver on %s %s (attempt %d of 3)\n", listen,
                rc == -ECHILD ? "exited: port taken?" : "did not accept in time", attempt);
        harness_proc_stop(ows, 1000, NULL);
        if (port > 0)
            harness_sleep_ms(1000); /* the same port: give its holder time to let go */
    }
    return NULL;
}

int harness_ignore_owcapi_leak(void)
{
    /* libowcapi 3.2p4 leaks its server address lookup (ClientAddr: getaddrinfo's list and two
     * strdup()s, about 80 bytes) each time it reconnects to a server that went away; observed
     * with a 20-line owcapi program under ASan, no gateway code involved. */
    char supp[PATH_MAX], lsan[PATH_MAX + 256];
    const char *old = getenv("LSAN_OPTIONS");
    if (harness_path(supp, sizeof(supp), "lsan-owcapi.supp") < 0)
        return -ENAMETOOLONG;
    int rc = harness_write_file(supp, "leak:ClientAddr\n");
    if (rc < 0)
        return rc;
    snprintf(lsan, sizeof(lsan), "%s%ssuppressions=%s:print_suppressions=0", old ? old : "",
             old && *old ? ":" : "", supp);
    return setenv("LSAN_OPTIONS", lsan, 1) == 0 ? 0 : -errno;
}

bool harness_reading_has_flag(const cJSON *reading, const char *flag)
{
    const cJSON *f;
    cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(reading, "flags"))
    {
        if (cJSON_IsString(f) && strcmp(f->valuestring, flag) == 0)
            return true;
    }
    return false;
}

/* ---- mosquitto with a config of the test's own; programs; logs (see harness.h) ---- */

#define MAX_CONF_LISTENERS 8

/* Writes the config of harness_start_mosquitto_conf() for ports into path. 0 or negative errno. */
static int write_mosquitto_conf(const char *path, const char *common, const char *const *listeners,
                                size_t count, const int *ports)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    if (!f)
        return -errno;
    fprintf(f, "%spersistence false\n%s\n", geteuid() == 0 ? "user root\n" : "",
            common ? common : "");
    for (size_t i = 0; i < count; i++)
        fprintf(f, "listener %d 127.0.0.1\n%s\n", ports[i], listeners[i]);
    if (fclose(f) != 0) {
        free(text);
        return -EIO;
    }
    int rc = harness_write_file(path, text);
    free(text);
    return rc;
}

/* Every port accepts, and then mosquitto's own "running" line, written once every listener is
 * bound, proves that the ports are its own (see harness_start_mosquitto()). 0, -ECHILD (it
 * exited: usually a port was taken meanwhile) or -ETIMEDOUT. */
static int mosquitto_ready(struct harness_proc *p, const int *ports, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        int rc = harness_wait_tcp(p, ports[i], READY_TIMEOUT_MS);
        if (rc < 0)
            return rc;
    }
    return wait_log_text(p, " running", READY_TIMEOUT_MS);
}

struct harness_proc *harness_start_mosquitto_conf(const char *common, const char *const *listeners,
                                                  size_t listener_count, int *ports_out)
{
    const char *bin = harness_mosquitto_path();
    static int conf_count;

    if (listener_count == 0 || listener_count > MAX_CONF_LISTENERS) {
        fprintf(stderr, "harness: mosquitto with %zu listeners: 1 to %d\n", listener_count,
                MAX_CONF_LISTENERS);
        return NULL;
    }
    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        char conf_path[PATH_MAX];
        int ports[MAX_CONF_LISTENERS];
        int rc = 0;

        for (size_t i = 0; i < listener_count && rc == 0;) {
            ports[i] = harness_free_port();
            if (ports[i] < 0) {
                rc = ports[i];
                break;
            }
            /* Each port is free when asked for, but the same one may come back twice. */
            size_t k = 0;
            while (k < i && ports[k] != ports[i])
                k++;
            if (k == i)
                i++;
        }
        if (rc < 0) {
            fprintf(stderr, "harness: no free port: %s\n", strerror(-rc));
            return NULL;
        }
        if (snprintf(conf_path, sizeof(conf_path), "%s/mosquitto-conf-%d.conf", tmp_dir,
                     ++conf_count) >= (int)sizeof(conf_path) ||
            write_mosquitto_conf(conf_path, common, listeners, listener_count, ports) < 0) {
            fprintf(stderr, "harness: cannot write %s\n", conf_path);
            return NULL;
        }
        struct harness_proc *p =
            harness_spawn("mosquitto", (const char *const[]){bin, "-c", conf_path, NULL});
        if (!p)
            return NULL;
        rc = mosquitto_ready(p, ports, listener_count);
        if (rc == 0) {
            memcpy(ports_out, ports, listener_count * sizeof(*ports));
            return p;
        }
        fprintf(stderr, "harness: mosquitto with %s: %s (attempt %d of %d)\n", conf_path,
                strerror(-rc), attempt, START_ATTEMPTS);
        harness_proc_stop(p, EXIT_STOP_TIMEOUT_MS, NULL);
    }
    return NULL;
}

int harness_find_program(const char *name, char *buf, size_t len)
{
    const char *env_path = getenv("PATH");
    char dirs[4096];
    char *save = NULL;

    snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/sbin:/usr/local/sbin", env_path ? env_path : "");
    for (char *dir = strtok_r(dirs, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        if (snprintf(buf, len, "%s/%s", dir, name) < (int)len && access(buf, X_OK) == 0)
            return 0;
    }
    return -ENOENT;
}

int harness_proc_wait_log(struct harness_proc *p, const char *text, int64_t timeout_ms)
{
    int rc = wait_log_text(p, text, timeout_ms);
    if (rc != -ECHILD)
        return rc;
    /* It may have written the text just before it exited. */
    char *log = harness_read_file(p->log_path);
    bool found = log && strstr(log, text);
    free(log);
    return found ? 0 : -ECHILD;
}

/* ---- restarts: a broker that keeps its sessions, a subscriber that keeps its own ---- */

int harness_proc_kill(struct harness_proc *p, int sig, int64_t timeout_ms, int *status_out)
{
    int rc = 0;

    if (!reap_if_exited(p)) {
        kill(-p->pid, sig);
        if (harness_proc_wait(p, timeout_ms, NULL) == -ETIMEDOUT) {
            fprintf(stderr,
                    "harness: %s (pid %d) still running %lld ms after signal %d, killing it\n",
                    p->name, (int)p->pid, (long long)timeout_ms, sig);
            kill(-p->pid, SIGKILL);
            while (!reap_if_exited(p))
                harness_sleep_ms(POLL_INTERVAL_MS / 2);
            rc = -ETIMEDOUT;
        }
    }
    if (status_out)
        *status_out = p->status;
    return rc;
}

#define PERSISTENT_SAME_PORT_ATTEMPTS 10
#define PERSISTENT_SAME_PORT_PAUSE_MS 300

struct harness_proc *harness_start_mosquitto_persistent(int port, const char *dir,
                                                        const char *extra, int *port_out)
{
    const char *bin = harness_mosquitto_path();
    static int conf_count;
    int attempts = port > 0 ? PERSISTENT_SAME_PORT_ATTEMPTS : START_ATTEMPTS;

    for (int attempt = 1; attempt <= attempts; attempt++) {
        char conf_path[PATH_MAX];
        char *text = NULL;
        size_t len = 0;
        int p = port > 0 ? port : harness_free_port();
        int rc;

        if (p < 0) {
            fprintf(stderr, "harness: no free port: %s\n", strerror(-p));
            return NULL;
        }
        /* mosquitto started as root becomes the mosquitto user unless told otherwise, and then
         * cannot write its database into the test's private temp dir. The trailing slash is
         * required: mosquitto appends the file name to persistence_location as it is. */
        FILE *f = open_memstream(&text, &len);
        if (!f)
            return NULL;
        fprintf(f,
                "%slistener %d 127.0.0.1\nallow_anonymous true\npersistence true\n"
                "persistence_location %s/\nautosave_interval 1\n%s\n",
                geteuid() == 0 ? "user root\n" : "", p, dir, extra ? extra : "");
        if (fclose(f) != 0) {
            free(text);
            return NULL;
        }
        if (snprintf(conf_path, sizeof(conf_path), "%s/mosquitto-persistent-%d.conf", tmp_dir,
                     ++conf_count) >= (int)sizeof(conf_path) ||
            harness_write_file(conf_path, text) < 0) {
            fprintf(stderr, "harness: cannot write %s\n", conf_path);
            free(text);
            return NULL;
        }
        free(text);
        struct harness_proc *proc =
            harness_spawn("mosquitto", (const char *const[]){bin, "-c", conf_path, NULL});
        if (!proc)
            return NULL;
        /* As in harness_start_mosquitto(): its own "running" line proves the port is its own. */
        rc = harness_wait_tcp(proc, p, READY_TIMEOUT_MS);
        if (rc == 0)
            rc = wait_log_text(proc, " running", READY_TIMEOUT_MS);
        if (rc == 0) {
            *port_out = p;
            return proc;
        }
        fprintf(stderr, "harness: persistent mosquitto on port %d %s (attempt %d of %d)\n", p,
                rc == -ECHILD ? "exited before accepting" : "did not accept in time", attempt,
                attempts);
        harness_proc_stop(proc, EXIT_STOP_TIMEOUT_MS, NULL);
        if (port > 0)
            harness_sleep_ms(PERSISTENT_SAME_PORT_PAUSE_MS);
    }
    return NULL;
}

/* What a persistent subscriber needs to connect again; kept beside struct harness_sub so that
 * the subscribers of harness_sub_new() stay exactly as they were. */
struct persistent_sub {
    const struct harness_sub *sub; /* NULL: unused */
    char filter[256];
    uint32_t session_expiry_s;
};

static struct persistent_sub persistent_subs[MAX_SUBS];

static struct persistent_sub *find_persistent(const struct harness_sub *s)
{
    bool open = false;

    /* A freed subscriber's entry may name an address that a new subscriber now has: only a
     * subscriber still open and recorded with its own client id counts. */
    for (int i = 0; i < MAX_SUBS; i++)
        if (subs[i] == s)
            open = true;
    for (int i = 0; open && i < MAX_SUBS; i++)
        if (persistent_subs[i].sub == s)
            return &persistent_subs[i];
    return NULL;
}

/* One CONNECT with clean start 0 and the session expiry, then the subscription (see
 * harness_sub_reconnect() for why it is made every time). 0, or -ECONNREFUSED (reason printed
 * when loud). */
static int connect_persistent(struct harness_sub *s, const struct persistent_sub *ps, bool loud)
{
    MQTTClient_connectOptions conn_opts = MQTTClient_connectOptions_initializer5;
    MQTTSubscribe_options sub_opts = MQTTSubscribe_options_initializer;
    MQTTProperties props = MQTTProperties_initializer;
    MQTTProperty expiry = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
    MQTTProperty window = {.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM};
    MQTTResponse resp = MQTTResponse_initializer;
    int rc = 0;

    /* Receive Maximum 65535 (MQTT 5 §3.1.2.11.3): mosquitto otherwise sends a subscriber only 20
     * unacknowledged messages (max_inflight_messages) and keeps the rest in memory, after it has
     * acknowledged them to their publisher; a broker killed then loses them, and a test would
     * blame the publisher. With the window open every message is written to the socket at once,
     * before mosquitto's PUBACK to the publisher (handle__publish() in mosquitto 2.0). */
    expiry.value.integer4 = ps->session_expiry_s;
    window.value.integer2 = 65535;
    if (MQTTProperties_add(&props, &expiry) != 0 || MQTTProperties_add(&props, &window) != 0) {
        MQTTProperties_free(&props);
        return -ENOMEM;
    }
    conn_opts.keepAliveInterval = 60; /* as harness_sub_new() */
    conn_opts.cleanstart = 0;
    conn_opts.connectTimeout = 5;
    resp = MQTTClient_connect5(s->client, &conn_opts, &props, NULL);
    MQTTProperties_free(&props);
    if (resp.reasonCode != MQTTREASONCODE_SUCCESS) {
        if (loud)
            fprintf(stderr, "harness: MQTT connect %s: reason %d (%s)\n", s->client_id,
                    (int)resp.reasonCode, MQTTReasonCode_toString(resp.reasonCode));
        MQTTResponse_free(resp);
        return -ECONNREFUSED;
    }
    MQTTResponse_free(resp);
    sub_opts.retainAsPublished = 1;
    sub_opts.retainHandling = 1;
    resp = MQTTClient_subscribe5(s->client, ps->filter, 1, &sub_opts, NULL);
    if (resp.reasonCode >= 0x80 || resp.reasonCode < 0) {
        fprintf(stderr, "harness: MQTT subscribe %s to %s: reason %d (%s)\n", s->client_id,
                ps->filter, (int)resp.reasonCode, MQTTReasonCode_toString(resp.reasonCode));
        rc = -ECONNREFUSED;
    }
    MQTTResponse_free(resp);
    return rc;
}

struct harness_sub *harness_sub_new_persistent(const char *uri, const char *client_id,
                                               const char *filter, uint32_t session_expiry_s)
{
    struct persistent_sub *ps = NULL;

    for (int i = 0; i < MAX_SUBS && !ps; i++)
        if (!persistent_subs[i].sub || !find_persistent(persistent_subs[i].sub))
            ps = &persistent_subs[i];
    if (!ps || strlen(filter) >= sizeof(ps->filter)) {
        fprintf(stderr, "harness: too many persistent subscribers, or filter too long\n");
        return NULL;
    }
    /* The client as harness_sub_new() makes it. Its first session (clean start, no expiry) ends
     * with this disconnect; the persistent one begins with the next connect. */
    struct harness_sub *s = harness_sub_new(uri, client_id, filter);
    if (!s)
        return NULL;
    MQTTClient_disconnect5(s->client, 100, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
    ps->sub = s;
    snprintf(ps->filter, sizeof(ps->filter), "%s", filter);
    ps->session_expiry_s = session_expiry_s;
    if (connect_persistent(s, ps, true) < 0) {
        ps->sub = NULL;
        harness_sub_free(s);
        return NULL;
    }
    printf("# persistent subscriber %s on %s subscribed to %s (session expiry %u s)\n", client_id,
           uri, filter, (unsigned)session_expiry_s);
    return s;
}

int harness_sub_reconnect(struct harness_sub *s, int64_t timeout_ms)
{
    const struct persistent_sub *ps = find_persistent(s);
    int64_t deadline_ms = harness_mono_ms() + timeout_ms;

    if (!ps)
        return -EINVAL;
    /* The old connection may not have noticed yet that its broker went away. */
    if (MQTTClient_isConnected(s->client))
        MQTTClient_disconnect5(s->client, 0, MQTTREASONCODE_NORMAL_DISCONNECTION, NULL);
    for (;;) {
        bool last = harness_mono_ms() >= deadline_ms;
        if (connect_persistent(s, ps, last) == 0)
            return 0;
        if (last)
            return -ETIMEDOUT;
        harness_sleep_ms(POLL_INTERVAL_MS * 5);
    }
}

bool harness_sub_connected(const struct harness_sub *s)
{
    return MQTTClient_isConnected(s->client) != 0;
}

char *harness_sqlite(const char *db_path, const char *query)
{
    char bin[PATH_MAX];
    char buf[4096];
    char *out = NULL;
    size_t len = 0;
    int fds[2];
    int status = 0;

    if (harness_find_program("sqlite3", bin, sizeof(bin)) < 0) {
        fprintf(stderr, "harness: the sqlite3 CLI is not installed\n");
        return NULL;
    }
    if (pipe2(fds, O_CLOEXEC) < 0)
        return NULL;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return NULL;
    }
    if (pid == 0) {
        /* No shell: the query and the path go to sqlite3 as they are. */
        if (dup2(fds[1], 1) < 0)
            _exit(127);
        execl(bin, "sqlite3", "-readonly", "-batch", "-noheader", "-cmd", ".timeout 5000", db_path,
              query, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    FILE *m = open_memstream(&out, &len);
    for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) != 0;) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (m)
            fwrite(buf, 1, (size_t)n, m);
    }
    close(fds[0]);
    if (m)
        fclose(m);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!m || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char what[64];
        fprintf(stderr, "harness: sqlite3 %s \"%s\": %s\n", db_path, query,
                harness_status_str(status, what, sizeof(what)));
        free(out);
        return NULL;
    }
    return out;
}

long harness_sqlite_long(const char *db_path, const char *query)
{
    char *out = harness_sqlite(db_path, query);
    char *end = NULL;
    long v = out ? strtol(out, &end, 10) : -1;
    if (out && (end == out || (*end != '\0' && *end != '\n')))
        v = -1;
    free(out);
    return v;
}
