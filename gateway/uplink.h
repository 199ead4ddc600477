/* The MQTT uplink (DESIGN §7): one Paho MQTTAsync client speaking MQTT 5. It only moves bytes;
 * what to send and when is the engine's business (the outbox is in the store). Paho's callbacks
 * run on Paho's threads and do nothing but hand a notice to the engine through notify().
 * uplink_new/free: main thread. connect/publish/disconnect: engine thread. */
#ifndef COLDCHAIN_UPLINK_H
#define COLDCHAIN_UPLINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum uplink_notice_kind {
    UPLINK_CONNECTED,      /* CONNACK success: publishing may start */
    UPLINK_CONNECT_FAILED, /* the connect attempt failed (rc: Paho/MQTT reason) */
    UPLINK_LOST,           /* an established connection went away */
    UPLINK_DELIVERED,      /* the publish with this tag completed (PUBACK for QoS 1) */
    UPLINK_FAILED,         /* the publish with this tag failed; it must be sent again */
};

struct uplink_notice {
    uint8_t kind;  /* enum uplink_notice_kind */
    int64_t tag;   /* the caller's tag for DELIVERED/FAILED (outbox id), else 0 */
    int rc;        /* Paho return or MQTT reason code, for logs */
};

/* A message received on the command filter. */
struct uplink_command {
    char verb[64];           /* the topic's last level */
    char *payload;           /* payload_len bytes, NUL-terminated for convenience */
    size_t payload_len;
    char *response_topic;    /* MQTT 5 Response Topic, or NULL (then the fallback topic) */
    void *correlation;       /* MQTT 5 Correlation Data, correlation_len bytes, or NULL */
    size_t correlation_len;
};

void uplink_command_free(struct uplink_command *command);

struct uplink_options {
    const char *uri;          /* "tcp://host:port", or "ssl://host:port" with tls */
    const char *client_id;
    int keepalive_s;
    const char *will_topic;   /* retained QoS 1 Last Will, or NULL */
    const char *will_payload;
    /* TLS, for an ssl:// or mqtts:// uri: the broker's certificate must be signed by a CA in
     * ca_file (PEM), and name the uri's host when verify_hostname. Paho reads the files at
     * every connect. */
    bool tls;
    const char *ca_file;
    const char *cert_file;    /* PEM client certificate, or NULL */
    const char *key_file;     /* its unencrypted PEM private key, or NULL */
    bool verify_hostname;
    const char *username;     /* or NULL */
    const char *password;     /* password_len bytes, or NULL; a secret: copied, never logged */
    size_t password_len;
    /* Commands: after every connect the client subscribes to command_filter ("<root>/cmd/+",
     * QoS 1) and hands each message received on it to on_command, on a Paho thread (which must
     * not block for long; the message is the callee's: uplink_command_free). Retained
     * messages are dropped here: a command is for the moment it is sent, not for every later
     * connect. NULL: no commands. */
    const char *command_filter;
    void (*on_command)(void *arg, struct uplink_command *command);
};

struct uplink;

/* Creates the client; copies what it needs of opts (and wipes its copy of the password in
 * uplink_free()). notify(arg, notice) is called from Paho's threads and must not block for long.
 * 0, -EINVAL (bad URI), -ENOMEM. */
int uplink_new(const struct uplink_options *opts,
               void (*notify)(void *arg, const struct uplink_notice *notice), void *arg,
               struct uplink **uplink_out);

/* Starts a connect (clean start, MQTT 5). The outcome arrives as UPLINK_CONNECTED or
 * UPLINK_CONNECT_FAILED. A failure is logged here with its reason in words (the broker refused
 * the user name or password, the TLS handshake failed and why) as a warning when it differs from
 * the previous attempt's, so a failure that repeats through the back-off is logged once.
 * 0 or -EIO if it could not even start. */
int uplink_connect(struct uplink *uplink);

/* Publishes; the outcome arrives as UPLINK_DELIVERED/UPLINK_FAILED with tag. 0, -ENOTCONN,
 * -EBUSY (too many publishes in flight: try again after a notice), -EIO. */
int uplink_publish(struct uplink *uplink, const char *topic, const void *payload, size_t len,
                   int qos, bool retain, int64_t tag);

/* Publishes a reply to a command at QoS 1, not retained, with the command's correlation data
 * (may be NULL), outside the outbox (tag -1: its outcome notice is ignored). 0, -ENOTCONN,
 * -EBUSY, -EIO as uplink_publish. */
int uplink_publish_reply(struct uplink *uplink, const char *topic, const char *payload,
                         const void *correlation, size_t correlation_len);

/* Number of publishes whose outcome has not arrived yet. */
size_t uplink_in_flight(struct uplink *uplink);

/* Disconnects cleanly (no Last Will), waiting at most timeout_ms for Paho to finish. */
void uplink_disconnect(struct uplink *uplink, int timeout_ms);

/* Destroys the client. NULL is a no-op. */
void uplink_free(struct uplink *uplink);

#endif
