/* TLS and authentication against a real mosquitto (DESIGN §7; docs/mqtt.md, "Security"). The test
 * makes its own PKI with the openssl CLI (a CA, a server certificate for 127.0.0.1 and localhost,
 * a client certificate, and an unrelated CA), a password file with mosquitto_passwd and the ACL
 * of docs/mqtt.md, and runs one mosquitto with a plain, a TLS and a client-certificate listener.
 * It checks that the gateway connects with the right CA and password (an independent subscriber,
 * mosquitto_sub over TLS, sees its status), with a client certificate where one is required,
 * that a wrong CA and a wrong password are refused and logged once as what they are while the
 * gateway keeps retrying, that --check-config refuses a password file others can read, and that
 * the password never reaches the daemon's stderr or a payload. COLDCHAIN_GATEWAY comes from meson. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define GW_ID "tls-gw" /* also its MQTT user name: the ACL confines user X to coldchain/v1/X/ */
#define ROOT "coldchain/v1/" GW_ID "/"
/* Distinctive, so that finding it anywhere it must not be is unambiguous. */
#define GW_PASSWORD "gw-Pa55-q7Zt3x"
#define READER_PASSWORD "reader-pw-51"
#define PHARMACIST_PASSWORD "pharmacist-pw-88"
#define EX_CONFIG 78
#define TOOL_TIMEOUT_MS 30000
#define CONNECT_TIMEOUT_MS 20000
#define STOP_TIMEOUT_MS 15000

enum { PLAIN, TLS, CLIENT_CERT, LISTENERS };

struct tls_test {
    const char *gateway_bin;
    char openssl[PATH_MAX];
    char mosquitto_passwd[PATH_MAX];
    char mosquitto_sub[PATH_MAX];
    char mosquitto_pub[PATH_MAX];
    int ports[LISTENERS];
    struct harness_proc *mosq;
};

/* "<temp dir>/<name>" in one of a few rotating buffers, for building argument lists. */
static const char *path(const char *name)
{
    static char bufs[16][PATH_MAX];
    static unsigned next;
    char *buf = bufs[next++ % 16];
    if (harness_path(buf, PATH_MAX, name) < 0)
        harness_check(false, "path for %s fits", name);
    return buf;
}

static int count_in(const char *text, const char *needle)
{
    int n = 0;
    for (const char *p = text ? strstr(text, needle) : NULL; p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Runs a tool to completion; true when it exited 0 (its output is in its log). */
static bool run_tool(const char *name, const char *const argv[])
{
    char what[64];
    int status = -1;
    struct harness_proc *p = harness_spawn(name, argv);
    if (!p)
        return false;
    if (harness_proc_wait(p, TOOL_TIMEOUT_MS, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return true;
    printf("# %s: %s\n", name, harness_status_str(status, what, sizeof(what)));
    return false;
}

/* ---- the PKI, made with the openssl CLI ------------------------------------------------ */

static bool make_key(const struct tls_test *t, const char *key)
{
    return run_tool("openssl-key", (const char *const[]){t->openssl, "genpkey", "-algorithm", "EC",
                                                         "-pkeyopt", "ec_paramgen_curve:P-256",
                                                         "-out", path(key), NULL});
}

static bool make_ca(const struct tls_test *t, const char *name, const char *subject)
{
    char key[64], pem[64];
    snprintf(key, sizeof(key), "%s.key", name);
    snprintf(pem, sizeof(pem), "%s.pem", name);
    return make_key(t, key) &&
           run_tool("openssl-ca",
                    (const char *const[]){t->openssl, "req", "-x509", "-new", "-key", path(key),
                                          "-out", path(pem), "-days", "2", "-subj", subject,
                                          "-addext", "basicConstraints=critical,CA:TRUE",
                                          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                                          NULL});
}

/* A certificate for name signed by ca.pem, with the X.509 extensions in ext. */
static bool make_cert(const struct tls_test *t, const char *name, const char *subject,
                      const char *ext, const char *serial)
{
    char key[64], csr[64], ext_file[64], pem[64];
    snprintf(key, sizeof(key), "%s.key", name);
    snprintf(csr, sizeof(csr), "%s.csr", name);
    snprintf(ext_file, sizeof(ext_file), "%s.ext", name);
    snprintf(pem, sizeof(pem), "%s.pem", name);
    return make_key(t, key) && harness_write_file(path(ext_file), ext) == 0 &&
           run_tool("openssl-csr",
                    (const char *const[]){t->openssl, "req", "-new", "-key", path(key), "-subj",
                                          subject, "-out", path(csr), NULL}) &&
           run_tool("openssl-sign",
                    (const char *const[]){t->openssl, "x509", "-req", "-in", path(csr), "-CA",
                                          path("ca.pem"), "-CAkey", path("ca.key"), "-set_serial",
                                          serial, "-days", "2", "-extfile", path(ext_file),
                                          "-out", path(pem), NULL});
}

static void step_pki(struct tls_test *t)
{
    HARNESS_REQUIRE(make_ca(t, "ca", "/CN=coldchain test CA"), "openssl: a CA");
    HARNESS_REQUIRE(make_ca(t, "other-ca", "/CN=an unrelated CA"), "openssl: an unrelated CA");
    HARNESS_REQUIRE(make_cert(t, "server", "/CN=localhost",
                              "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                              "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
                              "2"),
                    "openssl: a server certificate for 127.0.0.1 and localhost, signed by the CA");
    HARNESS_REQUIRE(make_cert(t, "client", "/CN=" GW_ID,
                              "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n", "3"),
                    "openssl: a client certificate for %s, signed by the CA", GW_ID);
}

/* ---- the broker: passwords, the ACL of docs/mqtt.md, three listeners ------------------- */

/* The ACL of docs/mqtt.md ("Security"), with the test's user names. */
static const char acl[] =
    "# Gateways: the user name is the gateway_id.\n"
    "pattern write coldchain/v1/%u/status\n"
    "pattern write coldchain/v1/%u/telemetry\n"
    "pattern write coldchain/v1/%u/alerts\n"
    "pattern write coldchain/v1/%u/shipments/#\n"
    "pattern write coldchain/v1/%u/reply/#\n"
    "pattern read coldchain/v1/%u/cmd/#\n"
    "\n"
    "user pharmacist\n"
    "topic write coldchain/v1/+/cmd/#\n"
    "topic read coldchain/v1/#\n"
    "\n"
    "user reader\n"
    "topic read coldchain/v1/#\n";

static void step_broker(struct tls_test *t)
{
    char common[2048], tls[2048], client_cert[sizeof(tls) + 64];
    const char *passwd = path("mosquitto.passwd");

    HARNESS_REQUIRE(
        run_tool("mosquitto_passwd", (const char *const[]){t->mosquitto_passwd, "-b", "-c", passwd,
                                                           GW_ID, GW_PASSWORD, NULL}) &&
            run_tool("mosquitto_passwd", (const char *const[]){t->mosquitto_passwd, "-b", passwd,
                                                               "reader", READER_PASSWORD, NULL}) &&
            run_tool("mosquitto_passwd",
                     (const char *const[]){t->mosquitto_passwd, "-b", passwd, "pharmacist",
                                           PHARMACIST_PASSWORD, NULL}),
        "mosquitto_passwd: users %s, reader and pharmacist", GW_ID);
    HARNESS_REQUIRE(harness_write_file(path("mosquitto.acl"), acl) == 0, "ACL written");
    snprintf(common, sizeof(common),
             "per_listener_settings false\nallow_anonymous false\npassword_file %s\n"
             "acl_file %s\n"
             /* The defaults, and subscriptions: how the test knows a subscriber is ready. */
             "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n"
             "log_type subscribe\n",
             passwd, path("mosquitto.acl"));
    snprintf(tls, sizeof(tls), "cafile %s\ncertfile %s\nkeyfile %s\n", path("ca.pem"),
             path("server.pem"), path("server.key"));
    snprintf(client_cert, sizeof(client_cert), "%srequire_certificate true\n", tls);
    const char *listeners[LISTENERS] = {[PLAIN] = "", [TLS] = tls, [CLIENT_CERT] = client_cert};
    t->mosq = harness_start_mosquitto_conf(common, listeners, LISTENERS, t->ports);
    HARNESS_REQUIRE(t->mosq, "mosquitto accepts on 127.0.0.1: plain %d, TLS %d, TLS with client "
                             "certificates %d",
                    t->ports[PLAIN], t->ports[TLS], t->ports[CLIENT_CERT]);
}

/* ---- the gateway ----------------------------------------------------------------------- */

/* What a gateway run is given: the uri, its tls members (may be ""), its password file. */
struct gw_setup {
    const char *name;
    char uri[64];
    char tls[1024];
    const char *password_file;
};

static const char *write_config(const struct gw_setup *g)
{
    char name[64], data[64], text[4096];
    snprintf(name, sizeof(name), "%s.json", g->name);
    snprintf(data, sizeof(data), "data-%s", g->name);
    int n = snprintf(text, sizeof(text),
                     "{\"gateway_id\":\"" GW_ID "\",\"data_dir\":\"%s\",\"log_level\":\"debug\",\n"
                     " \"mqtt\":{\"uri\":\"%s\",\"keepalive\":\"10s\",\"reconnect_min\":\"200ms\","
                     "\"reconnect_max\":\"1s\",%s%s\"username\":\"" GW_ID "\","
                     "\"password_file\":\"%s\"},\n"
                     " \"sensors\":[{\"id\":\"fridge-a\"}],\n"
                     " \"shipments\":[{\"id\":\"fridge-a\",\"profile\":\"cdc-vaccine-fridge\","
                     "\"sensors\":[\"fridge-a\"]}]}\n",
                     path(data), g->uri, g->tls, g->tls[0] ? "," : "", g->password_file);
    const char *file = path(name);
    HARNESS_REQUIRE(n > 0 && n < (int)sizeof(text) && harness_write_file(file, text) == 0,
                    "%s: config written", g->name);
    return file;
}

static void tls_members(struct gw_setup *g, const char *ca, bool client_cert)
{
    if (client_cert)
        snprintf(g->tls, sizeof(g->tls),
                 "\"tls\":{\"ca_file\":\"%s\",\"cert_file\":\"%s\",\"key_file\":\"%s\"}", path(ca),
                 path("client.pem"), path("client.key"));
    else
        snprintf(g->tls, sizeof(g->tls), "\"tls\":{\"ca_file\":\"%s\"}", path(ca));
}

/* Stops a gateway: exit 0 on SIGTERM, and the password nowhere in what it wrote. */
static void stop_gateway(struct harness_proc *gw, const char *name)
{
    char what[64];
    int status = -1;
    int rc = harness_proc_stop(gw, STOP_TIMEOUT_MS, &status);
    harness_check(rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "%s: the gateway exits 0 on SIGTERM (got %s)", name,
                  harness_status_str(status, what, sizeof(what)));
    char *log = harness_read_file(harness_proc_log(gw));
    harness_check(log && !strstr(log, GW_PASSWORD),
                  "%s: the password is nowhere in the gateway's stderr (%zu bytes, debug level)",
                  name, log ? strlen(log) : 0);
    free(log);
}

/* Starts mosquitto_sub over TLS as "reader" on status, and waits until the broker logs its
 * subscription (its own output is block-buffered into a file). -R: a retained status of an
 * earlier run is not what the test waits for. */
static struct harness_proc *start_status_sub(struct tls_test *t, const char *name)
{
    char port[16], client_id[64], subscribed[128];
    snprintf(port, sizeof(port), "%d", t->ports[TLS]);
    snprintf(client_id, sizeof(client_id), "tls-test-sub-%s-%d", name, (int)getpid());
    struct harness_proc *sub = harness_spawn(
        "mosquitto_sub",
        (const char *const[]){t->mosquitto_sub, "-V", "mqttv5", "-h", "127.0.0.1", "-p", port,
                              "--cafile", path("ca.pem"), "-u", "reader", "-P", READER_PASSWORD,
                              "-i", client_id, "-t", ROOT "status", "-q", "1", "-C", "1", "-W",
                              "30", "-R", NULL});
    snprintf(subscribed, sizeof(subscribed), "%s 1 %sstatus", client_id, ROOT);
    HARNESS_REQUIRE(sub && harness_proc_wait_log(t->mosq, subscribed, TOOL_TIMEOUT_MS) == 0,
                    "%s: mosquitto_sub (TLS, user reader) subscribed to %sstatus", name, ROOT);
    return sub;
}

/* The gateway connects with g; the subscriber sees its online status, without the password. */
static void run_connects(struct tls_test *t, struct gw_setup *g)
{
    struct harness_proc *sub = start_status_sub(t, g->name);
    const char *config = write_config(g);
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){t->gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "%s: gateway started", g->name);
    char connected[128];
    snprintf(connected, sizeof(connected), "mqtt[%s]: connected", g->uri);
    harness_check(harness_proc_wait_log(gw, connected, CONNECT_TIMEOUT_MS) == 0,
                  "%s: the gateway logs \"%s\"", g->name, connected);

    char what[64];
    int status = -1;
    if (harness_proc_wait(sub, TOOL_TIMEOUT_MS + 5000, &status) < 0)
        harness_proc_stop(sub, 1000, &status);
    char *out = harness_read_file(harness_proc_log(sub));
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && out &&
                      strstr(out, "\"gateway\":\"" GW_ID "\"") &&
                      strstr(out, "\"state\":\"online\""),
                  "%s: mosquitto_sub over TLS received the gateway's online status (%s)", g->name,
                  harness_status_str(status, what, sizeof(what)));
    harness_check(out && !strstr(out, GW_PASSWORD), "%s: the password is not in the payload",
                  g->name);
    free(out);
    stop_gateway(gw, g->name);
}

/* The gateway is refused with g: the log says why (expect) as a warning exactly once while the
 * gateway goes on retrying (at least three attempts) and stays up. */
static void run_refused(struct tls_test *t, struct gw_setup *g, const char *expect)
{
    const char *config = write_config(g);
    struct harness_proc *gw =
        harness_spawn("gateway", (const char *const[]){t->gateway_bin, "-c", config, NULL});
    HARNESS_REQUIRE(gw, "%s: gateway started", g->name);
    char warning[512], connected[128];
    snprintf(warning, sizeof(warning), "<4>mqtt[%s]: cannot connect: %s", g->uri, expect);
    snprintf(connected, sizeof(connected), "mqtt[%s]: connected", g->uri);

    char *log = NULL;
    int attempts = 0;
    for (int64_t deadline_ms = harness_mono_ms() + CONNECT_TIMEOUT_MS;
         harness_mono_ms() < deadline_ms && harness_proc_alive(gw);) {
        free(log);
        log = harness_read_file(harness_proc_log(gw));
        attempts = count_in(log, "]: cannot connect: ");
        if (attempts >= 3)
            break;
        harness_sleep_ms(100);
    }
    const char *line = log ? strstr(log, warning) : NULL;
    harness_check(line != NULL, "%s: the log says \"%s\"", g->name, warning);
    if (line)
        printf("# %s: %.*s\n", g->name, (int)strcspn(line, "\n"), line);
    harness_check(count_in(log, warning) == 1 && attempts >= 3,
                  "%s: logged as a warning once, over %d attempts with back-off", g->name,
                  attempts);
    harness_check(!strstr(log ? log : "", connected), "%s: the gateway did not connect", g->name);
    harness_check(harness_proc_alive(gw), "%s: the gateway keeps running (and retrying)",
                  g->name);
    free(log);
    stop_gateway(gw, g->name);
}

/* ---- steps ----------------------------------------------------------------------------- */

/* 1. --check-config refuses a password file that every user can read (exit 78, naming the file
 * and why) and accepts the same config with the file at 0640; neither prints the password. */
static void step_check_config(struct tls_test *t)
{
    const char *open_file = path("gw-open.password");
    const char *good_file = path("gw.password");
    HARNESS_REQUIRE(harness_write_file(open_file, GW_PASSWORD "\n") == 0 &&
                        chmod(open_file, 0644) == 0 &&
                        harness_write_file(good_file, GW_PASSWORD "\n") == 0 &&
                        chmod(good_file, 0640) == 0,
                    "password files written (0644 and 0640)");

    struct gw_setup g = {.name = "check-open", .password_file = open_file};
    snprintf(g.uri, sizeof(g.uri), "ssl://127.0.0.1:%d", t->ports[TLS]);
    tls_members(&g, "ca.pem", false);
    const char *config = write_config(&g);
    struct harness_proc *p = harness_spawn(
        "check-open", (const char *const[]){t->gateway_bin, "--check-config", "-c", config, NULL});
    HARNESS_REQUIRE(p, "check-open: started coldchain-gateway --check-config");
    char what[64];
    int status = -1;
    if (harness_proc_wait(p, 10000, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG,
                  "check-open: --check-config exits %d (got %s)", EX_CONFIG,
                  harness_status_str(status, what, sizeof(what)));
    char expect[PATH_MAX + 200];
    snprintf(expect, sizeof(expect),
             "%s: mqtt.password_file: %s is readable by every user on this machine (mode 0644)",
             config, open_file);
    char *log = harness_read_file(harness_proc_log(p));
    harness_check(log && strstr(log, expect), "check-open: stderr says \"%s ...\" (got: %s)",
                  expect, log ? log : "nothing");
    harness_check(log && !strstr(log, GW_PASSWORD), "check-open: the password is not printed");
    free(log);

    g.name = "check-good";
    g.password_file = good_file;
    config = write_config(&g);
    p = harness_spawn("check-good",
                      (const char *const[]){t->gateway_bin, "--check-config", "-c", config, NULL});
    HARNESS_REQUIRE(p, "check-good: started coldchain-gateway --check-config");
    if (harness_proc_wait(p, 10000, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    log = harness_read_file(harness_proc_log(p));
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
                  "check-good: the same config with the file at 0640 is valid (got %s: %s)",
                  harness_status_str(status, what, sizeof(what)), log ? log : "");
    harness_check(log && !strstr(log, GW_PASSWORD), "check-good: the password is not printed");
    free(log);
}

/* 2. TLS, the right CA, the right password. */
static void step_tls_with_password(struct tls_test *t)
{
    struct gw_setup g = {.name = "tls-password", .password_file = path("gw.password")};
    snprintf(g.uri, sizeof(g.uri), "ssl://127.0.0.1:%d", t->ports[TLS]);
    tls_members(&g, "ca.pem", false);
    run_connects(t, &g);
}

/* 3. The listener that requires a client certificate: with cert_file and key_file (mqtts://). */
static void step_client_certificate(struct tls_test *t)
{
    struct gw_setup g = {.name = "client-cert", .password_file = path("gw.password")};
    snprintf(g.uri, sizeof(g.uri), "mqtts://127.0.0.1:%d", t->ports[CLIENT_CERT]);
    tls_members(&g, "ca.pem", true);
    run_connects(t, &g);
}

/* 4. A CA that did not sign the broker's certificate. */
static void step_wrong_ca(struct tls_test *t)
{
    struct gw_setup g = {.name = "wrong-ca", .password_file = path("gw.password")};
    snprintf(g.uri, sizeof(g.uri), "ssl://127.0.0.1:%d", t->ports[TLS]);
    tls_members(&g, "other-ca.pem", false);
    run_refused(t, &g, "TLS handshake failed: SSL routines: certificate verify failed");
}

/* 5. The wrong password (mosquitto answers CONNACK 0x87, Not authorized). */
static void step_wrong_password(struct tls_test *t)
{
    const char *file = path("gw-wrong.password");
    HARNESS_REQUIRE(harness_write_file(file, "not-" GW_PASSWORD "\n") == 0 && chmod(file, 0600) == 0,
                    "wrong password file written");
    struct gw_setup g = {.name = "wrong-password", .password_file = file};
    snprintf(g.uri, sizeof(g.uri), "ssl://127.0.0.1:%d", t->ports[TLS]);
    tls_members(&g, "ca.pem", false);
    run_refused(t, &g, "broker refused the user name or password (user \"" GW_ID "\"");
}

/* 6. No client certificate where one is required: refused. Paho 1.3.12 passes on no TLS error
 * for it (the broker's alert arrives after the handshake), so the message only lists causes. */
static void step_missing_client_certificate(struct tls_test *t)
{
    struct gw_setup g = {.name = "no-client-cert", .password_file = path("gw.password")};
    snprintf(g.uri, sizeof(g.uri), "mqtts://127.0.0.1:%d", t->ports[CLIENT_CERT]);
    tls_members(&g, "ca.pem", false);
    run_refused(t, &g, "");
}

/* Publishes one QoS 1 message as user on the plain listener; true when the broker took it
 * (mosquitto_pub only warns "Publish 1 failed: Not authorized." and still exits 0). */
static bool publish_allowed(struct tls_test *t, const char *user, const char *password,
                            const char *topic)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", t->ports[PLAIN]);
    struct harness_proc *p = harness_spawn(
        "mosquitto_pub", (const char *const[]){t->mosquitto_pub, "-V", "mqttv5", "-h", "127.0.0.1",
                                               "-p", port, "-u", user, "-P", password, "-t", topic,
                                               "-m", "{}", "-q", "1", NULL});
    int status = -1;
    if (!p)
        return false;
    if (harness_proc_wait(p, TOOL_TIMEOUT_MS, &status) < 0)
        harness_proc_stop(p, 1000, &status);
    char *log = harness_read_file(harness_proc_log(p));
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0 && log &&
              !strstr(log, "Not authorized");
    free(log);
    return ok;
}

/* 7. The ACL of docs/mqtt.md: a gateway writes under its own root only and cannot send itself
 * commands; a pharmacist can. */
static void step_acl(struct tls_test *t)
{
    harness_check(publish_allowed(t, GW_ID, GW_PASSWORD, ROOT "alerts"),
                  "ACL: %s may publish to %salerts", GW_ID, ROOT);
    harness_check(!publish_allowed(t, GW_ID, GW_PASSWORD, "coldchain/v1/other-gw/alerts"),
                  "ACL: %s may not publish to coldchain/v1/other-gw/alerts", GW_ID);
    harness_check(!publish_allowed(t, GW_ID, GW_PASSWORD, ROOT "cmd/ack"),
                  "ACL: %s may not publish a command to itself (%scmd/ack)", GW_ID, ROOT);
    harness_check(publish_allowed(t, "pharmacist", PHARMACIST_PASSWORD, ROOT "cmd/ack"),
                  "ACL: pharmacist may publish to %scmd/ack", ROOT);
    harness_check(!publish_allowed(t, "reader", READER_PASSWORD, ROOT "cmd/ack"),
                  "ACL: reader may not publish commands");
}

static void find_program(const char *name, const char *package, char *buf, size_t len)
{
    if (harness_find_program(name, buf, len) < 0) {
        char why[128];
        snprintf(why, sizeof(why), "%s is not installed (apt-get install %s)", name, package);
        harness_skip(why);
    }
}

int main(void)
{
    struct tls_test t = {0};

    if (harness_init("tls") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    t.gateway_bin = getenv("COLDCHAIN_GATEWAY");
    HARNESS_REQUIRE(t.gateway_bin && access(t.gateway_bin, X_OK) == 0,
                    "COLDCHAIN_GATEWAY names an executable (meson sets it)");
    harness_mosquitto_path(); /* skip before anything runs if there is no broker */
    find_program("openssl", "openssl", t.openssl, sizeof(t.openssl));
    find_program("mosquitto_passwd", "mosquitto", t.mosquitto_passwd, sizeof(t.mosquitto_passwd));
    find_program("mosquitto_sub", "mosquitto-clients", t.mosquitto_sub, sizeof(t.mosquitto_sub));
    find_program("mosquitto_pub", "mosquitto-clients", t.mosquitto_pub, sizeof(t.mosquitto_pub));

    step_pki(&t);
    step_broker(&t);
    step_check_config(&t);
    step_tls_with_password(&t);
    step_client_certificate(&t);
    step_wrong_ca(&t);
    step_wrong_password(&t);
    step_missing_client_certificate(&t);
    step_acl(&t);
    harness_proc_stop(t.mosq, 5000, NULL);
    harness_exit();
}
