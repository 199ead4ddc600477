/* Integration-test harness (STYLE §10): one temp dir per test, child processes (mosquitto,
 * simulators, the gateway) in their own process groups that die with the test, free loopback
 * ports, deadline-bounded readiness polls, counted checks and an MQTT subscriber that keeps every
 * message it receives. For single-threaded test programs: call everything from main's thread. */
#ifndef COLDCHAIN_TESTS_HARNESS_H
#define COLDCHAIN_TESTS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

/* meson reads this exit status as "skipped". */
#define HARNESS_EXIT_SKIP 77

/* ---- lifecycle and checks -------------------------------------------------------------- */

/* Creates the test's temp dir (mkdtemp under $TMPDIR or /tmp, named after test_name), installs
 * the cleanup that runs on every exit path (exit(), harness_exit(), and fatal signals such as
 * meson's timeout SIGTERM or an abort) and line-buffers stdout. Returns 0 or a negative errno. */
int harness_init(const char *test_name);

/* The temp dir made by harness_init(); owned by the harness. */
const char *harness_dir(void);

/* Writes "<temp dir>/<name>" into buf. Returns 0, or -ENAMETOOLONG if it does not fit. */
int harness_path(char *buf, size_t len, const char *name);

/* Counts one check and prints "ok: ..." or "FAIL: ..." on stdout. Returns ok. */
bool harness_check(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Number of failed checks so far. */
int harness_failures(void);

/* A check whose failure makes the rest of the test meaningless: count it, and on failure end
 * the test through harness_exit(). */
#define HARNESS_REQUIRE(ok, ...)                                                                   \
    do {                                                                                           \
        if (!harness_check((ok), __VA_ARGS__))                                                     \
            harness_exit();                                                                        \
    } while (0)

/* Ends the test: closes subscribers, stops and reaps every process started (SIGTERM to its
 * group, SIGKILL after a deadline), prints every process's log to stderr if a check failed,
 * removes the temp dir on success or keeps it (and prints its path) on failure, prints
 * "N passed, N failed" as the last line and exits 0 or 1. */
noreturn void harness_exit(void);

/* For a missing peer program (mosquitto, owserver): exits 77 (skipped) after cleanup, unless
 * COLDCHAIN_REQUIRE_PEERS=1 is set (CI), where it counts a failed check and exits 1. */
noreturn void harness_skip(const char *why);

/* ---- time, files, ports ---------------------------------------------------------------- */

int64_t harness_mono_ms(void); /* CLOCK_MONOTONIC, ms */
int64_t harness_wall_ms(void); /* CLOCK_REALTIME, ms since epoch */

/* Parses an RFC 3339 UTC timestamp with milliseconds ("2026-11-22T18:37:09.123Z").
 * Returns 0 and sets *ts_ms_out, or -EINVAL. */
int harness_parse_ts_ms(const char *text, int64_t *ts_ms_out);

/* Writes text to path atomically (temp file + rename). Returns 0 or a negative errno. */
int harness_write_file(const char *path, const char *text);

/* Reads a whole file. Returns a NUL-terminated malloc'd copy the caller frees, or NULL. */
char *harness_read_file(const char *path);

/* Finds an unused loopback TCP port by binding port 0 and closing the socket again. Another
 * process may take it before it is used: callers retry (see harness_start_mosquitto()).
 * Returns the port (> 0) or a negative errno. */
int harness_free_port(void);

/* Sleeps for ms; only for the interval of a deadline-bounded poll, never in place of a check. */
void harness_sleep_ms(int64_t ms);

/* ---- child processes ------------------------------------------------------------------- */

struct harness_proc; /* owned by the harness; valid until the test exits */

/* Starts argv (argv[0] an absolute path or a name looked up in PATH) in a process group of its
 * own, with SIGKILL as its parent-death signal, stdin from /dev/null and stdout/stderr appended
 * to "<temp dir>/<NN>-<name>.log". Returns the process, or NULL (the reason printed) if it could
 * not be forked or if the harness's process table is full. A failed exec shows up as exit 127. */
struct harness_proc *harness_spawn(const char *name, const char *const argv[]);

const char *harness_proc_name(const struct harness_proc *p);
pid_t harness_proc_pid(const struct harness_proc *p);
const char *harness_proc_log(const struct harness_proc *p); /* path of its log file */

/* True while the process runs. Once it has exited it is reaped, anything left in its process
 * group is killed, and its wait status is kept for harness_proc_wait()/harness_proc_stop(). */
bool harness_proc_alive(struct harness_proc *p);

/* Waits up to timeout_ms for the process to exit by itself. Returns 0 with its wait status in
 * *status_out (may be NULL), or -ETIMEDOUT (still running, untouched). */
int harness_proc_wait(struct harness_proc *p, int64_t timeout_ms, int *status_out);

/* SIGTERM to the process group, up to timeout_ms for the leader to exit, then SIGKILL to the
 * group. Always reaps. Returns 0 if it exited without SIGKILL, -ETIMEDOUT if it had to be killed;
 * either way *status_out (may be NULL) gets the wait status. An already exited process returns
 * 0 and its status. */
int harness_proc_stop(struct harness_proc *p, int64_t timeout_ms, int *status_out);

/* Describes a wait status ("exit 0", "signal 9") in buf; returns buf. */
const char *harness_status_str(int status, char *buf, size_t len);

/* Polls a TCP connect to 127.0.0.1:port until it succeeds, checking that p (may be NULL) is
 * still alive between attempts. Returns 0, -ECHILD if p exited (for a listener: usually the port
 * was taken), or -ETIMEDOUT. */
int harness_wait_tcp(struct harness_proc *p, int port, int64_t timeout_ms);

/* Polls until path exists and holds a port number (written by the child, renamed into place),
 * checking p is alive. Returns 0 and *port_out, -ECHILD, -ETIMEDOUT. */
int harness_wait_port_file(struct harness_proc *p, const char *path, int64_t timeout_ms,
                           int *port_out);

/* ---- peers ----------------------------------------------------------------------------- */

/* Returns the path of the mosquitto binary (PATH, then /usr/sbin and /usr/local/sbin, where
 * Debian installs it), or calls harness_skip() if there is none. */
const char *harness_mosquitto_path(void);

/* Starts a mosquitto listening on 127.0.0.1 with anonymous access and no persistence, on a free
 * port; if it dies before accepting (port taken meanwhile), retries with a new port, 3 attempts
 * in all. Skips (harness_skip) if mosquitto is not installed. Returns the process and its port
 * in *port_out, or NULL. */
struct harness_proc *harness_start_mosquitto(int *port_out);

/* Starts `sim_path modbus-tcp --host 127.0.0.1 --port P --unit unit_id --script script --quiet`
 * (script may be NULL, then scenario must name a built-in one). port 0: the simulator picks a
 * free port and writes it to a port file, which is awaited. port > 0: that port; if the
 * simulator dies before accepting (port briefly busy), it is started again, 3 attempts in all.
 * Then waits for a TCP connect. Returns the process and its port in *port_out, or NULL. */
struct harness_proc *harness_start_modbus_sim(const char *sim_path, int port, int unit_id,
                                              const char *script, const char *scenario,
                                              int *port_out);

/* True when a telemetry reading object's "flags" list holds flag ("fault", "unsynced"). */
bool harness_reading_has_flag(const cJSON *reading, const char *flag);

/* owserver from PATH or Debian's /usr/bin; NULL when not installed. */
const char *harness_owserver_path(void);

/* Starts `bin -c conf --tester=28,10 -p 127.0.0.1:port --foreground --error_print=2` (conf an
 * empty file: Debian's /etc/owfs.conf adds a FAKE bus). port 0 picks a free one. A taken port
 * makes owserver exit at once with status 0 (PROTOCOLS.md §2.2), so it is checked to be still
 * alive after accepting; 3 attempts. Returns the process with *port_out, or NULL. */
struct harness_proc *harness_start_owserver(const char *bin, const char *conf, int port,
                                            int *port_out);

/* Tells LeakSanitizer, in the processes started from now on, to ignore exactly the leak Debian's
 * libowcapi 3.2p4 has when it reconnects to an owserver that went away (ClientAddr, ~80 bytes,
 * reproduced without our code). 0 or a negative errno. */
int harness_ignore_owcapi_leak(void);

/* ---- MQTT subscriber (Paho synchronous client, MQTT 5) --------------------------------- */

struct harness_msg {
    char *topic;
    char *payload;      /* NUL-terminated copy of the payload */
    size_t payload_len; /* bytes, without the added NUL */
    cJSON *json;        /* the payload parsed, NULL if it is not JSON */
    int qos;
    bool retained;        /* the publisher's flag: subscribed with "retain as published" */
    int64_t recv_mono_ms; /* when the test took it off the socket */
};

struct harness_sub; /* owned by the caller; the harness closes any left open at exit */

/* Connects to uri (clean start, client_id must be unique) and subscribes to filter at QoS 1
 * with "retain as published", so the retained flag of messages forwarded live shows what the
 * publisher set (MQTT 5 §3.8.3.1). Returns the subscriber, or NULL (reason printed). */
struct harness_sub *harness_sub_new(const char *uri, const char *client_id, const char *filter);

/* Disconnects and frees the subscriber and every message it kept. NULL is a no-op. */
void harness_sub_free(struct harness_sub *s);

/* Messages received so far, in arrival order; indexes stay valid until harness_sub_free(). */
size_t harness_sub_count(const struct harness_sub *s);
const struct harness_msg *harness_sub_msg(const struct harness_sub *s, size_t index);

/* Receives and keeps messages for up to timeout_ms. Returns how many arrived, or -ENOTCONN if
 * the connection is lost. */
int harness_sub_pump(struct harness_sub *s, int64_t timeout_ms);

/* Finds the first message at index >= from_index whose topic is exactly topic (NULL: any) and
 * that match accepts (NULL: any), receiving more until timeout_ms has passed. Every message
 * received is kept, matching or not. Returns its index, or -ETIMEDOUT, or -ENOTCONN. */
long harness_sub_wait(struct harness_sub *s, size_t from_index, const char *topic,
                      bool (*match)(const struct harness_msg *m, void *arg), void *arg,
                      int64_t timeout_ms);

/* ---- mosquitto with a config of the test's own; programs; logs -------------------------- */

/* Starts a mosquitto from a config the test composes: common (global options such as
 * allow_anonymous, password_file, acl_file; NULL for none), then for each of the listener_count
 * (1 to 8) strings in listeners a "listener <free port> 127.0.0.1" line followed by that string
 * (the listener's own options: cafile, certfile, keyfile, require_certificate ...; "" for a
 * plain listener). "persistence false" is added, and "user root" when the test runs as root, as
 * mosquitto would otherwise become the mosquitto user before reading the test's keys. Waits until
 * every port accepts and mosquitto says it is running; if it dies first (a port taken meanwhile),
 * retries with new ports, 3 attempts. Skips (harness_skip) if mosquitto is not installed.
 * Returns the process with ports_out[i] the port of listeners[i], or NULL. */
struct harness_proc *harness_start_mosquitto_conf(const char *common, const char *const *listeners,
                                                  size_t listener_count, int *ports_out);

/* Looks name up in PATH, then /usr/bin, /usr/sbin and /usr/local/sbin; writes its path into buf.
 * Returns 0, or -ENOENT when there is no such executable. */
int harness_find_program(const char *name, char *buf, size_t len);

/* Polls p's log until it contains text. Returns 0, -ECHILD if p exited without writing it, or
 * -ETIMEDOUT. */
int harness_proc_wait_log(struct harness_proc *p, const char *text, int64_t timeout_ms);


/* ---- restarts: a broker that keeps its sessions, a subscriber that keeps its own -------- */

/* Sends sig to p's process group and waits up to timeout_ms for p to exit (SIGKILL to the group
 * after that). Always reaps. Returns 0, or -ETIMEDOUT if it had to be killed; *status_out (may
 * be NULL) gets the wait status. An already exited process returns 0 and its status. */
int harness_proc_kill(struct harness_proc *p, int sig, int64_t timeout_ms, int *status_out);

/* Starts a mosquitto listening on 127.0.0.1:port (0: a free port) with anonymous access and
 * persistence in dir (which must exist): the database dir/mosquitto.db is saved every second
 * and at a clean exit (SIGTERM), so a broker started again with the same port and dir, even
 * after a SIGKILL, gets back the sessions (and their queued messages) and retained messages of
 * its last save. extra (NULL: none) holds further global lines of the test's own. Waits until
 * the port accepts and mosquitto says it is running. If it dies first (the port still held),
 * retries: with port 0 on a new port, 3 attempts; with a given port on the same one, 10
 * attempts 300 ms apart. Skips (harness_skip) if mosquitto is not installed. Returns the process
 * with *port_out, or NULL. */
struct harness_proc *harness_start_mosquitto_persistent(int port, const char *dir,
                                                        const char *extra, int *port_out);

/* Like harness_sub_new(), but the subscriber's session outlives its connection: clean start 0
 * and a Session Expiry Interval of session_expiry_s (MQTT 5 §3.1.2.4, §3.2.2.3.2), so the broker
 * keeps its subscription and queues QoS 1 messages for it while it is away. Its Receive Maximum
 * is 65535, so that a broker does not hold back messages it has already acknowledged to their
 * publisher (mosquitto's window is otherwise 20). Returns the subscriber, or NULL (reason
 * printed). */
struct harness_sub *harness_sub_new_persistent(const char *uri, const char *client_id,
                                               const char *filter, uint32_t session_expiry_s);

/* Connects a subscriber of harness_sub_new_persistent() again, with the same client id and clean
 * start 0, retrying until timeout_ms has passed (the broker may still be starting). A broker
 * that kept the session then sends what it queued for it, and again (DUP) what it had sent but
 * not had acknowledged. The filter is always subscribed again, with Retain Handling 1 (MQTT 5
 * §3.8.3.1: retained messages only for a subscription the session does not have), which changes
 * nothing in a session that survived and restores one the broker lost: Paho 1.3.12's synchronous
 * client reports CONNACK's Session Present only for MQTT 3.1.1, so the client cannot tell which
 * (mosquitto's debug log can: "Sending CONNACK to <client id> (1, 0)"). Messages kept so far
 * stay. Returns 0, -ETIMEDOUT, or -EINVAL if s is not a persistent subscriber. */
int harness_sub_reconnect(struct harness_sub *s, int64_t timeout_ms);

/* True while the subscriber's client believes it is connected (a lost connection shows up at
 * the next receive). */
bool harness_sub_connected(const struct harness_sub *s);

/* Runs the sqlite3 CLI (harness_find_program()) on db_path, read-only (-readonly: a live
 * gateway's WAL database may be read while it writes), with a 5 s busy timeout, for one query.
 * Returns its output, rows as "a|b|c\n" without a header, malloc'd for the caller to free; NULL
 * if sqlite3 is not installed or fails (reason printed). */
char *harness_sqlite(const char *db_path, const char *query);

/* harness_sqlite() for a query whose answer is one integer: it, or -1. */
long harness_sqlite_long(const char *db_path, const char *query);

#endif
