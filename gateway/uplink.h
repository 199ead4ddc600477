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

struct uplink_options {
    const char *uri;          /* "tcp://host:port" */
    const char *client_id;
    int keepalive_s;
    const char *will_topic;   /* retained QoS 1 Last Will, or NULL */
    const char *will_payload;
};

struct uplink;

/* Creates the client; copies what it needs of opts. notify(arg, notice) is called from Paho's
 * threads and must not block for long. 0, -EINVAL (bad URI), -ENOMEM. */
int uplink_new(const struct uplink_options *opts,
               void (*notify)(void *arg, const struct uplink_notice *notice), void *arg,
               struct uplink **uplink_out);

/* Starts a connect (clean start, MQTT 5). The outcome arrives as UPLINK_CONNECTED or
 * UPLINK_CONNECT_FAILED. 0 or -EIO if it could not even start. */
int uplink_connect(struct uplink *uplink);

/* Publishes; the outcome arrives as UPLINK_DELIVERED/UPLINK_FAILED with tag. 0, -ENOTCONN,
 * -EBUSY (too many publishes in flight: try again after a notice), -EIO. */
int uplink_publish(struct uplink *uplink, const char *topic, const void *payload, size_t len,
                   int qos, bool retain, int64_t tag);

/* Number of publishes whose outcome has not arrived yet. */
size_t uplink_in_flight(struct uplink *uplink);

/* Disconnects cleanly (no Last Will), waiting at most timeout_ms for Paho to finish. */
void uplink_disconnect(struct uplink *uplink, int timeout_ms);

/* Destroys the client. NULL is a no-op. */
void uplink_free(struct uplink *uplink);

#endif
