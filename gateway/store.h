/* The history: SQLite database <data_dir>/history.db in WAL mode (DESIGN §6). Readings are
 * appended into an open batch transaction committed by store_flush(); an alert commits at once,
 * together with the batch before it and its outbox row, before it can be published.
 * One writer: the engine thread only. Readers (coldchainctl, tests) open the file themselves. */
#ifndef COLDCHAIN_STORE_H
#define COLDCHAIN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reading.h"

struct store;

/* Opens (creating if needed) <data_dir>/history.db, sets WAL and synchronous=FULL, creates or
 * migrates the schema (PRAGMA user_version). data_dir must exist. 0, -ENOMEM, -EIO (SQLite error,
 * logged with the file name), -EPROTO (database from a newer version). */
int store_open(const char *data_dir, struct store **store_out);

/* Commits the open batch and closes. NULL is a no-op. */
void store_close(struct store *store);

/* Records the shipment if it is new (started_ms = now_ms) and returns its start time.
 * An existing shipment keeps its original start. 0 or -EIO. */
int store_shipment_ensure(struct store *store, const char *id, const char *kind,
                          const char *profile, int64_t now_ms, int64_t *started_ms_out);

/* Appends one reading to the open batch (begins a transaction if none is open). A faulted
 * reading is stored with a NULL value. 0 or -EIO. */
int store_append_reading(struct store *store, const struct reading *r);

/* Number of rows written since the last commit. */
size_t store_pending(const struct store *store);

/* Commits the open batch, if any. 0 or -EIO (the batch is rolled back and lost only if the
 * commit itself failed; the error is logged). */
int store_flush(struct store *store);

/* The sequence number the next alert will take: 1 on a new database, gap-free after. */
uint64_t store_alert_seq_next(const struct store *store);

/* One alarm transition, as kept in the audit trail and announced on <root>/alerts. */
struct store_alert {
    uint64_t seq;           /* must equal store_alert_seq_next() */
    char id[40];            /* unique id (UUID text) of this alert */
    int64_t ts_ms;          /* wall ms of the reading that caused the transition */
    char shipment_id[64];
    char alarm_id[32];
    char sensor_id[32];
    char transition[16];    /* alarm_transition_name(): "raised", "cleared", ... */
    char state[16];         /* alarm_isa_state_name() after it: "active", "returned", ... */
    uint8_t level;          /* reminder level */
    double value;           /* the value judged (NaN: none) */
    double worst;           /* most extreme value of the excursion */
    int64_t since_ms;       /* when the excursion started */
    int64_t amount_ms;      /* budget used, silence, credit (docs/mqtt.md) */
};

/* In one transaction: commits the open batch, inserts the alert row and an outbox row (topic,
 * payload, QoS 1, not retained); durable when it returns 0. On success the next seq is
 * alert->seq + 1 and *outbox_id_out (may be NULL) is the outbox row id. -EINVAL if seq is not
 * the next one, -EIO otherwise (nothing written). */
int store_append_alert(struct store *store, const struct store_alert *alert, const char *topic,
                       const char *payload, int64_t *outbox_id_out);

/* The alarm instance an alert belongs to, by the alert's id (as sent in alerts): fills
 * out->id, shipment_id, alarm_id and sensor_id. 0, -ENOENT (no such alert), -EIO. */
int store_alert_instance(struct store *store, const char *alert_id, struct store_alert *out);

/* Calls fn for the latest transition of every (shipment, alarm, sensor) that has one, so the
 * engine can restore active alarms after a restart. A non-zero return from fn stops the walk
 * and is returned. 0 or -EIO. */
int store_last_alarms(struct store *store, int (*fn)(void *arg, const struct store_alert *last),
                      void *arg);


/* Calls fn for every reading stamped at or after from_ms, in the order they were stored, so the
 * engine can rebuild the rules' state after a restart (docs/rules.md "Restarts"). A non-zero
 * return from fn stops the walk and is returned. 0 or -EIO. */
int store_readings_each(struct store *store, int64_t from_ms,
                        int (*fn)(void *arg, const struct reading *r), void *arg);

/* Queues a message for the broker (joins the open batch). With replace_topic, unsent rows with
 * the same topic are deleted first (a newer twin or status supersedes an older one).
 * 0 with *id_out (may be NULL), or -EIO. */
int store_outbox_put(struct store *store, const char *topic, const void *payload, size_t len,
                     int qos, bool retain, bool replace_topic, int64_t *id_out);

struct store_outbox_msg {
    int64_t id;
    char topic[256];
    void *payload;          /* malloc'd, owned by the msg: store_outbox_msg_clear() frees it */
    size_t len;
    int qos;
    bool retain;
};

/* The oldest queued message with id > after_id. 0 and *msg_out filled; 1 when there is none;
 * -EIO, -ENOMEM. */
int store_outbox_next(struct store *store, int64_t after_id, struct store_outbox_msg *msg_out);
void store_outbox_msg_clear(struct store_outbox_msg *msg);

/* Removes a message the broker acknowledged (joins the open batch). A missing id is not an
 * error (it was replaced meanwhile). 0 or -EIO. */
int store_outbox_ack(struct store *store, int64_t id);

/* Drops the count oldest queued messages of topic (joins the open batch), to keep the outbox
 * bounded. 0 with *dropped_out the number dropped, or -EIO. */
int store_outbox_trim(struct store *store, const char *topic, int64_t count, int64_t *dropped_out);

/* Number of queued messages. 0 or -EIO. */
int store_outbox_count(struct store *store, int64_t *count_out);

#endif
