/* Paho MQTTAsync (Debian 12: libpaho-mqtt 1.3.12), MQTT 5. Paho errors are translated here and
 * logged with the broker URI; above this file only negative errno and notices travel.
 *
 * Each publish borrows a slot that carries its tag into Paho's callback. The slots live in the
 * uplink, so a publish that Paho drops at destroy time leaks nothing. No Paho persistence: the
 * SQLite outbox is the durable copy, and the engine re-sends it after a reconnect.
 *
 * Every session after the first gets a new Paho client (uplink_connect()). Paho 1.3.12 keeps
 * the publishes it had queued but not yet written (those over the broker's Receive Maximum:
 * mosquitto's default is 20) across a lost connection, and writes them first on the next one,
 * with the slots they were given. Those slots have been handed to new publishes by then: the
 * old messages would overtake the re-sent backlog (a subscriber that keeps the highest seq
 * drops what comes after), and their PUBACKs would acknowledge other outbox rows, not yet
 * delivered. Only MQTTAsync_destroy() lets go of queued publishes. */
#include "uplink.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define SLOT_COUNT 256

struct slot {
    struct uplink *uplink;
    int64_t tag;
    bool used;
};

struct uplink {
    MQTTAsync client;
    char uri[256];
    char *client_id;
    int keepalive_s;
    char *will_topic;
    char *will_payload;
    bool tls;
    bool verify_hostname;
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *username;
    char *password; /* password_len bytes; wiped before it is freed */
    size_t password_len;
    void (*notify)(void *arg, const struct uplink_notice *notice);
    void *notify_arg;
    char *command_filter;
    void (*on_command)(void *arg, struct uplink_command *command);

    pthread_mutex_t lock; /* guards slots, connected, tls_error, last_failure: Paho's threads */
    struct slot slots[SLOT_COUNT];
    size_t slots_used;
    bool connected;
    bool session_used;      /* the client has been connected: the next connect needs a new one */
    char tls_error[256];    /* OpenSSL's first error of the current connect attempt, or "" */
    char last_failure[320]; /* the kind of failure last logged as a warning; "" once connected */
};

static void post(struct uplink *u, enum uplink_notice_kind kind, int64_t tag, int rc)
{
    struct uplink_notice n = {.kind = (uint8_t)kind, .tag = tag, .rc = rc};
    u->notify(u->notify_arg, &n);
}

static void set_connected(struct uplink *u, bool connected)
{
    pthread_mutex_lock(&u->lock);
    u->connected = connected;
    pthread_mutex_unlock(&u->lock);
}

static void on_connection_lost(void *context, char *cause)
{
    struct uplink *u = context;
    set_connected(u, false);
    log_warn("mqtt[%s]: connection lost%s%s", u->uri, cause ? ": " : "", cause ? cause : "");
    post(u, UPLINK_LOST, 0, 0);
}

void uplink_command_free(struct uplink_command *c)
{
    if (!c)
        return;
    free(c->payload);
    free(c->response_topic);
    free(c->correlation);
    free(c);
}

/* Copies what the engine needs of a command message: the verb (the topic's last level), the
 * payload, and the MQTT 5 response topic and correlation data. NULL when out of memory. */
static struct uplink_command *command_copy(const char *topic, size_t topic_len,
                                           const MQTTAsync_message *m)
{
    struct uplink_command *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    size_t start = topic_len;
    while (start > 0 && topic[start - 1] != '/')
        start--;
    snprintf(c->verb, sizeof(c->verb), "%.*s", (int)(topic_len - start), topic + start);
    size_t len = m->payloadlen > 0 ? (size_t)m->payloadlen : 0;
    c->payload = malloc(len + 1);
    if (!c->payload)
        goto fail;
    if (len)
        memcpy(c->payload, m->payload, len);
    c->payload[len] = '\0';
    c->payload_len = len;
    MQTTProperties *props = (MQTTProperties *)&m->properties;
    MQTTProperty *rt = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_RESPONSE_TOPIC);
    if (rt && rt->value.data.len > 0) {
        c->response_topic = strndup(rt->value.data.data, (size_t)rt->value.data.len);
        if (!c->response_topic)
            goto fail;
    }
    MQTTProperty *cd = MQTTProperties_getProperty(props, MQTTPROPERTY_CODE_CORRELATION_DATA);
    if (cd && cd->value.data.len > 0) {
        c->correlation = malloc((size_t)cd->value.data.len);
        if (!c->correlation)
            goto fail;
        memcpy(c->correlation, cd->value.data.data, (size_t)cd->value.data.len);
        c->correlation_len = (size_t)cd->value.data.len;
    }
    return c;
fail:
    uplink_command_free(c);
    return NULL;
}

static int on_message(void *context, char *topic, int topic_len, MQTTAsync_message *message)
{
    struct uplink *u = context;
    size_t len = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    if (message->retained) {
        /* A retained command would be carried out again at every connect. */
        log_warn("mqtt[%s]: retained message on %.*s ignored: commands must not be retained",
                 u->uri, (int)len, topic);
    } else if (u->on_command) {
        struct uplink_command *c = command_copy(topic, len, message);
        if (c)
            u->on_command(u->notify_arg, c);
        else
            log_err("mqtt[%s]: out of memory taking a command from %.*s", u->uri, (int)len,
                    topic);
    }
    MQTTAsync_freeMessage(&message);
    MQTTAsync_free(topic);
    return 1;
}

static void on_subscribe_failure(void *context, MQTTAsync_failureData5 *response)
{
    struct uplink *u = context;
    /* A SUBSCRIBE still queued when its connection went: dropped with the client, and made again
     * on the next connect. */
    if (response && response->code == MQTTASYNC_OPERATION_INCOMPLETE)
        return;
    log_err("mqtt[%s]: cannot subscribe to %s: %s; commands will not arrive", u->uri,
            u->command_filter,
            response && response->reasonCode ? MQTTReasonCode_toString(response->reasonCode)
                                             : "refused");
}

static void on_subscribe_success(void *context, MQTTAsync_successData5 *response)
{
    struct uplink *u = context;
    /* A SUBACK can refuse the filter (an ACL): that arrives here as a failure reason code. */
    if (response && response->reasonCode >= MQTTREASONCODE_UNSPECIFIED_ERROR) {
        log_err("mqtt[%s]: the broker refused the subscription to %s: %s; commands will not "
                "arrive", u->uri, u->command_filter,
                MQTTReasonCode_toString(response->reasonCode));
        return;
    }
    log_debug("mqtt[%s]: subscribed to %s", u->uri, u->command_filter);
}

static void subscribe_commands(struct uplink *u)
{
    if (!u->command_filter)
        return;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_subscribe_success;
    ro.onFailure5 = on_subscribe_failure;
    ro.context = u;
    ro.subscribeOptions.noLocal = 1; /* never our own replies or messages */
    int rc = MQTTAsync_subscribe(u->client, u->command_filter, 1, &ro);
    if (rc != MQTTASYNC_SUCCESS)
        log_err("mqtt[%s]: cannot subscribe to %s: %s", u->uri, u->command_filter,
                MQTTAsync_strerror(rc));
}

/* Frees every slot without a notice: their publishes belong to a session that is over, and the
 * engine sends the outbox again from its start. */
static void release_all_slots(struct uplink *u)
{
    pthread_mutex_lock(&u->lock);
    for (size_t i = 0; i < SLOT_COUNT; i++)
        u->slots[i].used = false;
    u->slots_used = 0;
    pthread_mutex_unlock(&u->lock);
}

static void on_connect_success(void *context, MQTTAsync_successData5 *response)
{
    struct uplink *u = context;
    /* A new client (uplink_connect()) has no publish of an older session; this only frees the
     * slots of publishes Paho dropped without calling back (eclipse-paho/paho.mqtt.c#28). */
    release_all_slots(u);
    pthread_mutex_lock(&u->lock);
    u->connected = true;
    u->session_used = true;
    u->last_failure[0] = '\0';
    pthread_mutex_unlock(&u->lock);
    log_info("mqtt[%s]: connected", u->uri);
    subscribe_commands(u); /* clean start: the subscription is made again on every connect */
    post(u, UPLINK_CONNECTED, 0, 0);
}

/* Paho's ssl_error_cb: OpenSSL's error queue, one line per call, on Paho's thread during a
 * connect ("<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>" in
 * OpenSSL 3). The first line of an attempt is kept, as "<library>: <reason>" when it parses. */
static int on_tls_error(const char *str, size_t len, void *context)
{
    struct uplink *u = context;
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)(len < sizeof(line) ? len : sizeof(line) - 1), str);
    line[strcspn(line, "\r\n")] = '\0';
    char *field[8] = {0};
    char *save = NULL;
    size_t n = 0;
    for (char *f = strtok_r(line, ":", &save); f && n < 8; f = strtok_r(NULL, ":", &save))
        field[n++] = f;
    pthread_mutex_lock(&u->lock);
    if (u->tls_error[0] == '\0') {
        if (n >= 6 && strcmp(field[1], "error") == 0)
            snprintf(u->tls_error, sizeof(u->tls_error), "%s: %s", field[3], field[5]);
        else
            snprintf(u->tls_error, sizeof(u->tls_error), "%.*s",
                     (int)(len < sizeof(u->tls_error) ? len : sizeof(u->tls_error) - 1), str);
        u->tls_error[strcspn(u->tls_error, "\r\n")] = '\0';
    }
    pthread_mutex_unlock(&u->lock);
    return 0;
}

/* Says in words why a connect failed, into why; key gets the kind of failure (the reason code,
 * the TLS error, or neither), which is what tells a new failure from a repeated one. Paho reports
 * a refusing CONNACK as code = its reason code (message "CONNACK return code", reasonCode left
 * 0), anything else as MQTTASYNC_FAILURE with a message that varies with the connect's stage.
 * OpenSSL's reason, when there is one, is in tls_error; Paho 1.3.12 has none for a certificate
 * that does not name the host (X509_check_host() in SSLSocket_connect() queues no error), nor
 * for an alert read after the handshake. */
static void describe_failure(struct uplink *u, const MQTTAsync_failureData5 *response,
                             char *why, size_t cap, char *key, size_t key_cap)
{
    int code = response ? response->code : MQTTASYNC_FAILURE;
    int reason = response && response->reasonCode ? (int)response->reasonCode
                 : code >= 0x80 && code <= 0xff   ? code
                                                  : 0;
    const char *user = u->username ? u->username : "";
    char tls_error[sizeof(u->tls_error)];
    pthread_mutex_lock(&u->lock);
    memcpy(tls_error, u->tls_error, sizeof(tls_error));
    pthread_mutex_unlock(&u->lock);

    if (reason) {
        const char *text = MQTTReasonCode_toString((enum MQTTReasonCodes)reason);
        snprintf(key, key_cap, "reason %d", reason);
        /* mosquitto answers a wrong password with 0x87, other brokers with 0x86 (MQTT 5
         * §3.2.2.2). */
        if (reason == MQTTREASONCODE_BAD_USER_NAME_OR_PASSWORD ||
            reason == MQTTREASONCODE_NOT_AUTHORIZED)
            snprintf(why, cap,
                     "broker refused the user name or password (user \"%s\"; MQTT reason 0x%02x "
                     "%s)",
                     user, reason, text ? text : "");
        else
            snprintf(why, cap, "broker refused the connection (MQTT reason 0x%02x %s)", reason,
                     text ? text : "unknown");
    } else if (tls_error[0]) {
        snprintf(key, key_cap, "tls %s", tls_error);
        if (strstr(tls_error, "certificate verify failed"))
            snprintf(why, cap,
                     "TLS handshake failed: %s (the broker's certificate is not signed by a CA "
                     "in %s, or has expired or is not yet valid)",
                     tls_error, u->ca_file);
        else
            snprintf(why, cap, "TLS handshake failed: %s", tls_error);
    } else {
        snprintf(key, key_cap, "other");
        snprintf(why, cap, "%s (%d)%s%s",
                 response && response->message ? response->message : MQTTAsync_strerror(code),
                 code,
                 u->tls ? ", without a TLS error: the broker cannot be reached, or it closed "
                          "the connection (as one that wants a client certificate does)"
                        : "",
                 u->tls && u->verify_hostname
                     ? ", or its certificate does not name the uri's host (verify_hostname)"
                     : "");
    }
}

static void on_connect_failure(void *context, MQTTAsync_failureData5 *response)
{
    struct uplink *u = context;
    int rc = response ? (response->reasonCode ? (int)response->reasonCode : response->code) : -1;
    char why[512];
    char key[sizeof(u->last_failure)];
    describe_failure(u, response, why, sizeof(why), key, sizeof(key));
    /* The engine retries with back-off: a failure of the same kind is a warning once, then
     * debug. */
    pthread_mutex_lock(&u->lock);
    bool repeated = strcmp(key, u->last_failure) == 0;
    if (!repeated)
        snprintf(u->last_failure, sizeof(u->last_failure), "%s", key);
    pthread_mutex_unlock(&u->lock);
    if (repeated)
        log_debug("mqtt[%s]: cannot connect: %s", u->uri, why);
    else
        log_warn("mqtt[%s]: cannot connect: %s", u->uri, why);
    post(u, UPLINK_CONNECT_FAILED, 0, rc);
}

/* Returns false if the slot was already released by a reconnect: that outcome is stale. */
static bool release_slot(struct slot *s, int64_t *tag_out)
{
    struct uplink *u = s->uplink;
    pthread_mutex_lock(&u->lock);
    bool was_used = s->used;
    *tag_out = s->tag;
    if (was_used) {
        s->used = false;
        u->slots_used--;
    }
    pthread_mutex_unlock(&u->lock);
    return was_used;
}

static void on_publish_success(void *context, MQTTAsync_successData5 *response)
{
    struct slot *s = context;
    struct uplink *u = s->uplink;
    int64_t tag;
    if (release_slot(s, &tag))
        post(u, UPLINK_DELIVERED, tag, 0);
}

static void on_publish_failure(void *context, MQTTAsync_failureData5 *response)
{
    struct slot *s = context;
    struct uplink *u = s->uplink;
    int64_t tag;
    if (!release_slot(s, &tag))
        return;
    int rc = response ? (response->reasonCode ? (int)response->reasonCode : response->code) : -1;
    log_debug("mqtt[%s]: publish %lld failed (%d)", u->uri, (long long)tag, rc);
    post(u, UPLINK_FAILED, tag, rc);
}

/* Copies an optional string: false only when the copy failed. */
static bool dup_option(const char *value, char **copy_out)
{
    *copy_out = value ? strdup(value) : NULL;
    return !value || *copy_out;
}

/* Creates a Paho client for the uplink's URI and client id, with its callbacks. 0, -EINVAL (a URI
 * Paho refuses), -EIO. */
static int create_client(struct uplink *u, MQTTAsync *client_out)
{
    MQTTAsync_createOptions create = MQTTAsync_createOptions_initializer5;
    MQTTAsync client = NULL;
    int rc = MQTTAsync_createWithOptions(&client, u->uri, u->client_id, MQTTCLIENT_PERSISTENCE_NONE,
                                         NULL, &create);
    if (rc != MQTTASYNC_SUCCESS) {
        log_err("mqtt[%s]: cannot create client: %s", u->uri, MQTTAsync_strerror(rc));
        return rc == MQTTASYNC_BAD_PROTOCOL ? -EINVAL : -EIO;
    }
    rc = MQTTAsync_setCallbacks(client, u, on_connection_lost, on_message, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        log_err("mqtt[%s]: cannot set callbacks: %s", u->uri, MQTTAsync_strerror(rc));
        MQTTAsync_destroy(&client);
        return -EIO;
    }
    *client_out = client;
    return 0;
}

/* Replaces a client that has had a session by a new one (see the top of the file). The old
 * client's slots are freed first, so the failure callbacks MQTTAsync_destroy() makes for its
 * queued publishes find them free and post nothing. The new client exists before the old one
 * goes: with no client left, Paho would stop its threads and start them again. 0 or -EIO (the
 * old client is kept). Engine thread, while not connected: no callback of the old client can
 * come any more but those of the destroy itself, which Paho serialises with its own mutex. */
static int renew_client(struct uplink *u)
{
    MQTTAsync fresh = NULL;
    int r = create_client(u, &fresh);
    if (r < 0)
        return r == -EINVAL ? -EIO : r;
    MQTTAsync old = u->client;
    release_all_slots(u);
    u->client = fresh;
    MQTTAsync_destroy(&old);
    pthread_mutex_lock(&u->lock);
    u->session_used = false;
    pthread_mutex_unlock(&u->lock);
    return 0;
}

int uplink_new(const struct uplink_options *opts,
               void (*notify)(void *arg, const struct uplink_notice *notice), void *arg,
               struct uplink **uplink_out)
{
    int r = -ENOMEM;
    struct uplink *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    pthread_mutex_init(&u->lock, NULL);
    snprintf(u->uri, sizeof(u->uri), "%s", opts->uri);
    u->keepalive_s = opts->keepalive_s;
    u->notify = notify;
    u->notify_arg = arg;
    for (size_t i = 0; i < SLOT_COUNT; i++)
        u->slots[i].uplink = u;
    u->tls = opts->tls;
    u->verify_hostname = opts->verify_hostname;
    if (opts->tls && (!dup_option(opts->ca_file, &u->ca_file) ||
                      !dup_option(opts->cert_file, &u->cert_file) ||
                      !dup_option(opts->key_file, &u->key_file)))
        goto out;
    if (!dup_option(opts->username, &u->username) ||
        !dup_option(opts->command_filter, &u->command_filter))
        goto out;
    u->on_command = opts->command_filter ? opts->on_command : NULL;
    if (opts->password) {
        u->password = malloc(opts->password_len ? opts->password_len : 1);
        if (!u->password)
            goto out;
        memcpy(u->password, opts->password, opts->password_len);
        u->password_len = opts->password_len;
    }
    if (opts->will_topic) {
        u->will_topic = strdup(opts->will_topic);
        if (!u->will_topic)
            goto out;
        u->will_payload = strdup(opts->will_payload ? opts->will_payload : "");
        if (!u->will_payload)
            goto out;
    }

    u->client_id = strdup(opts->client_id);
    if (!u->client_id)
        goto out;
    r = create_client(u, &u->client);
    if (r < 0)
        goto out;
    *uplink_out = u;
    u = NULL;
    r = 0;
out:
    uplink_free(u);
    return r;
}

int uplink_connect(struct uplink *u)
{
    MQTTAsync_connectOptions conn = MQTTAsync_connectOptions_initializer5;
    MQTTAsync_willOptions will = MQTTAsync_willOptions_initializer;
    pthread_mutex_lock(&u->lock);
    bool renew = u->session_used;
    pthread_mutex_unlock(&u->lock);
    if (renew && renew_client(u) < 0)
        return -EIO;
    conn.keepAliveInterval = u->keepalive_s;
    conn.cleanstart = 1;
    conn.connectTimeout = 10;
    conn.onSuccess5 = on_connect_success;
    conn.onFailure5 = on_connect_failure;
    conn.context = u;
    conn.username = u->username;
    if (u->password) {
        /* As binary data (MQTT 5 §3.1.3.6): Paho would refuse a "password" that is not UTF-8. */
        conn.binarypwd.data = u->password;
        conn.binarypwd.len = (int)u->password_len;
    }
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (u->tls) {
        ssl.trustStore = u->ca_file;
        ssl.keyStore = u->cert_file;
        ssl.privateKey = u->key_file;
        ssl.enableServerCertAuth = 1;  /* the chain must lead to a CA in trustStore */
        ssl.verify = u->verify_hostname; /* ... and the certificate name the uri's host */
        ssl.disableDefaultTrustStore = 1;
        ssl.ssl_error_cb = on_tls_error;
        ssl.ssl_error_context = u;
        conn.ssl = &ssl;
    }
    pthread_mutex_lock(&u->lock);
    u->tls_error[0] = '\0';
    pthread_mutex_unlock(&u->lock);
    if (u->will_topic) {
        will.topicName = u->will_topic;
        will.message = u->will_payload;
        will.qos = 1;
        will.retained = 1;
        conn.will = &will;
    }
    int rc = MQTTAsync_connect(u->client, &conn);
    if (rc != MQTTASYNC_SUCCESS) {
        log_warn("mqtt[%s]: cannot start connect: %s", u->uri, MQTTAsync_strerror(rc));
        return -EIO;
    }
    return 0;
}

static int publish_with(struct uplink *u, const char *topic, const void *payload, size_t len,
                        int qos, bool retain, int64_t tag, MQTTProperties *props)
{
    if (len > INT32_MAX)
        return -EINVAL;
    struct slot *s = NULL;
    pthread_mutex_lock(&u->lock);
    if (!u->connected) {
        pthread_mutex_unlock(&u->lock);
        return -ENOTCONN;
    }
    for (size_t i = 0; i < SLOT_COUNT; i++) {
        if (!u->slots[i].used) {
            s = &u->slots[i];
            s->used = true;
            s->tag = tag;
            u->slots_used++;
            break;
        }
    }
    pthread_mutex_unlock(&u->lock);
    if (!s)
        return -EBUSY;

    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.onSuccess5 = on_publish_success;
    ro.onFailure5 = on_publish_failure;
    ro.context = s;
    MQTTAsync_message msg = MQTTAsync_message_initializer;
    msg.payload = (void *)payload; /* Paho copies it */
    msg.payloadlen = (int)len;
    msg.qos = qos;
    msg.retained = retain;
    if (props)
        msg.properties = *props; /* Paho copies them */
    int rc = MQTTAsync_sendMessage(u->client, topic, &msg, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        int64_t ignored;
        release_slot(s, &ignored);
        if (rc == MQTTASYNC_DISCONNECTED) {
            set_connected(u, false);
            return -ENOTCONN;
        }
        log_warn("mqtt[%s]: publish to %s refused: %s", u->uri, topic, MQTTAsync_strerror(rc));
        return rc == MQTTASYNC_MAX_BUFFERED_MESSAGES ? -EBUSY : -EIO;
    }
    return 0;
}

int uplink_publish(struct uplink *u, const char *topic, const void *payload, size_t len, int qos,
                   bool retain, int64_t tag)
{
    return publish_with(u, topic, payload, len, qos, retain, tag, NULL);
}

int uplink_publish_reply(struct uplink *u, const char *topic, const char *payload,
                         const void *correlation, size_t correlation_len)
{
    MQTTProperties props = MQTTProperties_initializer;
    if (correlation && correlation_len > 0 && correlation_len <= UINT16_MAX) {
        MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_CORRELATION_DATA};
        p.value.data.data = (char *)correlation;
        p.value.data.len = (int)correlation_len;
        if (MQTTProperties_add(&props, &p) != 0)
            return -ENOMEM;
    }
    int r = publish_with(u, topic, payload, strlen(payload), 1, false, -1, &props);
    MQTTProperties_free(&props);
    return r;
}

size_t uplink_in_flight(struct uplink *u)
{
    pthread_mutex_lock(&u->lock);
    size_t n = u->slots_used;
    pthread_mutex_unlock(&u->lock);
    return n;
}

void uplink_disconnect(struct uplink *u, int timeout_ms)
{
    if (!u || !u->client || !MQTTAsync_isConnected(u->client))
        return;
    MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer5;
    d.timeout = timeout_ms;
    /* Reason 0: normal disconnection, so the broker does not publish the Last Will; the engine
     * has published the offline status itself. */
    if (MQTTAsync_disconnect(u->client, &d) == MQTTASYNC_SUCCESS) {
        /* Paho disconnects asynchronously; wait (bounded) so the socket closes before exit. */
        for (int waited_ms = 0; MQTTAsync_isConnected(u->client) && waited_ms < timeout_ms;
             waited_ms += 10) {
            struct timespec ts = {0, 10 * 1000000};
            nanosleep(&ts, NULL);
        }
    }
    set_connected(u, false);
}

void uplink_free(struct uplink *u)
{
    if (!u)
        return;
    if (u->client)
        MQTTAsync_destroy(&u->client);
    free(u->client_id);
    free(u->will_topic);
    free(u->will_payload);
    free(u->ca_file);
    free(u->cert_file);
    free(u->key_file);
    free(u->username);
    free(u->command_filter);
    if (u->password)
        explicit_bzero(u->password, u->password_len);
    free(u->password);
    pthread_mutex_destroy(&u->lock);
    free(u);
}
