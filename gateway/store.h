/* The history: SQLite database <data_dir>/history.db in WAL mode (DESIGN §6, docs/history.md).
 * Readings are appended into an open batch transaction committed by store_flush(); an alert commits
 * at once, together with the batch before it and its outbox row, before it can be published.
 * Every committed batch of readings, every alert and every change to a shipment appends an event
 * to a SHA-256 hash chain in the same transaction (the audit trail that audit_verify() checks).
 * One writer: the engine thread only. Readers (coldchainctl, tests) open the file themselves. */
#ifndef COLDCHAIN_STORE_H
#define COLDCHAIN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "reading.h"

struct store;

/* Opens (creating if needed) <data_dir>/history.db, sets WAL and synchronous=FULL, creates or
 * migrates the schema (PRAGMA user_version). A new history's first event is "created"; one from
 * before schema 3 gets a "migration" event and events that seal the shipments, alerts and
 * readings it held (docs/history.md). data_dir must exist. 0, -ENOMEM, -EIO (SQLite or libcrypto
 * error, logged with the file name), -EPROTO (database from a newer version). */
int store_open(const char *data_dir, struct store **store_out);

/* Commits the open batch and closes. NULL is a no-op. */
void store_close(struct store *store);

/* store_shipment_ensure_config() without description and sensors; 0 for an ended shipment too.
 * 0, -EINVAL, -EIO. */
int store_shipment_ensure(struct store *store, const char *id, const char *kind,
                          const char *profile, int64_t now_ms, int64_t *started_ms_out);

/* Appends one reading to the open batch (begins a transaction if none is open). A faulted
 * reading is stored with a NULL value. Its id is store_reading_id_last() after. 0 or -EIO. */
int store_append_reading(struct store *store, const struct reading *r);

/* Number of rows written since the last commit. */
size_t store_pending(const struct store *store);

/* Commits the open batch, if any; its readings are sealed by a "readings" event in the same
 * transaction. 0 or -EIO (the batch is rolled back and lost only if the seal or the commit
 * itself failed; the error is logged). */
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

/* Commits the open batch, then in one transaction: inserts the alert row, its "alarm" event (the
 * row's and the payload's SHA-256) and an outbox row (topic, payload, QoS 1, not retained);
 * durable when it returns 0. On success the next seq is
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

/* ---- shipments: lifecycle and sensor assignments (docs/history.md "Shipments") ----
 * A shipment starts (by config, command or coldchainctl), gets sensors assigned, and ends.
 * Readings belong to a shipment by its assignment windows: a reading of sensor S stamped t is
 * the shipment's when S was assigned to it at t (from_ms <= t < to_ms); a sensor may belong to
 * several shipments at once. Ending closes every window at ended_ms; an ended shipment is
 * immutable: no assignment, no second end, and no reading stamped at or after ended_ms is its.
 * Each change commits at once (the open batch first), with its event, before the call returns.
 * Strings are borrowed for the call. ids: 1..63 bytes; sensor ids 1..31; kind 1..15; profile
 * 1..63; description 0..255; actor (who: a user, NULL for the config) 0..255. A list of sensors
 * is sensor_ids with sensor_count ids of READING_SENSOR_ID_MAX bytes each, back to back: a
 * char [n][READING_SENSOR_ID_MAX] array as config and command hold them (pass its [0]); NULL
 * when sensor_count is 0. */

#define STORE_SHIPMENT_ENDED 1 /* store_shipment_ensure_config(): the shipment has ended */
#define STORE_UNCHANGED 1      /* assign/unassign: nothing to do, nothing written */

/* "config" or "command": how the shipment was started. */
#define STORE_SOURCE_CONFIG "config"
#define STORE_SOURCE_COMMAND "command"

/* The shipment of a config (source "config"). New: recorded with started_ms = now_ms, its
 * sensors assigned from then on, and a "shipment-start" event. Existing: keeps its start, kind,
 * profile and description; a sensor of the list not assigned to it now is assigned (an "assign"
 * event): from its start when the shipment has no assignment at all (its first ensure with
 * sensors, e.g. a history from before schema 3), else from now_ms. Sensors assigned but not in
 * the list stay assigned (store_shipment_unassign() removes one). *started_ms_out (may be NULL)
 * is the start. 0; STORE_SHIPMENT_ENDED (ended: nothing assigned); -EINVAL (a bad argument, a
 * sensor twice); -EIO. */
int store_shipment_ensure_config(struct store *store, const char *id, const char *kind,
                                 const char *profile, const char *description,
                                 const char *sensor_ids, size_t sensor_count, int64_t now_ms,
                                 int64_t *started_ms_out);

/* Starts a shipment at ts_ms with its sensors (may be none) assigned from ts_ms, and appends a
 * "shipment-start" event (kind, profile, description, source, started_ms, sensors).
 * source: STORE_SOURCE_CONFIG or STORE_SOURCE_COMMAND. 0; -EEXIST (a shipment with that id
 * exists, running or ended: ids are never reused); -EINVAL; -EIO. Nothing is written on error. */
int store_shipment_start(struct store *store, const char *id, const char *kind,
                         const char *profile, const char *description, const char *source,
                         int64_t ts_ms, const char *actor, const char *sensor_ids,
                         size_t sensor_count);

/* Ends a shipment at ts_ms: closes its assignments there, sets ended_ms, and appends a
 * "shipment-end" event (ended_ms, comment when not NULL). 0; -ENOENT (no such shipment);
 * -EALREADY (ended already); -EINVAL (ts_ms before its start, a bad argument); -EIO. */
int store_shipment_end(struct store *store, const char *id, int64_t ts_ms, const char *actor,
                       const char *comment);

/* Assigns a sensor to a running shipment from ts_ms on, with an "assign" event. 0;
 * STORE_UNCHANGED (assigned to it already); -ENOENT (no such shipment); -ESHUTDOWN (the
 * shipment has ended: it is immutable); -EINVAL (ts_ms before its start, a bad argument);
 * -EIO. */
int store_shipment_assign(struct store *store, const char *id, const char *sensor_id,
                          int64_t ts_ms, const char *actor);

/* Ends a sensor's assignment to a running shipment at ts_ms, with an "unassign" event. 0;
 * STORE_UNCHANGED (not assigned to it); -ENOENT; -ESHUTDOWN; -EINVAL (ts_ms before the
 * assignment began); -EIO. */
int store_shipment_unassign(struct store *store, const char *id, const char *sensor_id,
                            int64_t ts_ms, const char *actor);

/* One window in which a sensor's readings belong to a shipment. */
struct store_assignment {
    char sensor_id[READING_SENSOR_ID_MAX];
    int64_t from_ms; /* wall ms, inclusive */
    int64_t to_ms;   /* wall ms, exclusive; INT64_MAX while assigned */
};

struct store_shipment {
    char id[64];
    char kind[16];
    char profile[64];
    char description[256];
    char source[16];    /* STORE_SOURCE_CONFIG or STORE_SOURCE_COMMAND */
    int64_t started_ms; /* wall ms */
    bool ended;
    int64_t ended_ms;   /* wall ms when ended, else 0 */
    /* In store_shipments_each(): every window, in the order assigned; valid during the call
     * only. store_shipment_get() leaves them NULL and 0. */
    const struct store_assignment *assignments;
    size_t assignment_count;
};

/* One shipment by id (without its assignments). 0, -ENOENT, -EINVAL, -EIO. */
int store_shipment_get(struct store *store, const char *id, struct store_shipment *out);

/* Calls fn for every shipment, oldest start first, with its assignments. A non-zero return from
 * fn stops the walk and is returned. 0, -EIO, -ENOMEM. */
int store_shipments_each(struct store *store,
                         int (*fn)(void *arg, const struct store_shipment *s), void *arg);

/* Calls fn for every reading of the shipment: of its sensors, within their assignment windows,
 * stamped from_ms <= ts_ms < to_ms (INT64_MIN, INT64_MAX: all), of sensor_id only when not
 * NULL, in the order stored (the order the engine judged them in); id is the row's id. Faults
 * come with value NaN. A non-zero return from fn stops the walk and is returned. 0, -ENOENT
 * (no such shipment), -EINVAL, -EIO. */
int store_shipment_readings_each(struct store *store, const char *shipment_id, int64_t from_ms,
                                 int64_t to_ms, const char *sensor_id,
                                 int (*fn)(void *arg, int64_t id, const struct reading *r),
                                 void *arg);

/* ---- the audit trail (docs/history.md "Events") ----
 * An event: a gap-free id from 1, ts_ms, a kind, the shipment it concerns (or NULL), the actor
 * (or NULL), a compact JSON object detail, and the hash chaining it to the event before. The
 * store itself appends "created"/"migration" (the first event), "readings" (at each commit of a
 * batch of readings), "alarm" (with each alert), "shipment-start", "shipment-end", "assign",
 * "unassign" and "purge"; those kinds are refused from store_event_append(). */

#define STORE_EVENT_CONFIG "config"   /* a config loaded or reloaded: store_event_config() */
#define STORE_EVENT_COMMAND "command" /* an operator command: detail = command_to_json() */
#define STORE_EVENT_CLOCK "clock"     /* a wall clock jump seen: store_event_clock() */

/* Appends an event to the open batch (committed with it by store_flush()). kind: 1..31 of
 * [a-z0-9-], starting with a letter, not one the store appends itself. detail_json: a JSON
 * object, stored compact (re-printed by cJSON). *id_out (may be NULL) is its id. 0; -EINVAL
 * (kind reserved or malformed, detail not a JSON object, an argument too long); -ENOMEM; -EIO. */
int store_event_append(struct store *store, int64_t ts_ms, const char *kind,
                       const char *shipment_id, const char *actor, const char *detail_json,
                       int64_t *id_out);

/* A "config" event: {"path":..., "sha256":..., "why":...}. sha256_hex: the file's SHA-256 as it
 * was parsed (audit_file_sha256()); why: "start" or "reload" (any short word). Joins the open
 * batch. 0, -EINVAL, -ENOMEM, -EIO. */
int store_event_config(struct store *store, int64_t ts_ms, const char *actor, const char *path,
                       const char *sha256_hex, const char *why);

/* A "clock" event: {"from_ms":..., "to_ms":..., "jump_ms": to - from}: the wall clock was seen
 * to jump from from_ms to to_ms (NTP sync after a boot without RTC, a manual set). Joins the
 * open batch. 0, -ENOMEM, -EIO. */
int store_event_clock(struct store *store, int64_t ts_ms, int64_t from_ms, int64_t to_ms);

/* The id and hash (hex) of the last committed event: the chain's head, for a report or to keep
 * elsewhere (a chain is only as safe as a copy of its head kept out of reach). */
void store_chain_head(const struct store *store, int64_t *id_out, char hash_out[65]);

/* ---- retention (docs/history.md "Retention") ---- */

/* The id of the last reading appended (0 when none yet): what the engine passes to
 * store_mark_uplinked() once the readings up to it have reached the broker. */
int64_t store_reading_id_last(const struct store *store);

/* Records that every reading with id <= last_reading_id has been uplinked (its telemetry was
 * acknowledged by the broker, or published while connected at QoS 0). The mark only moves
 * forward; a lower id is ignored. Joins the open batch. 0, -EINVAL (beyond the last reading
 * appended), -EIO. */
int store_mark_uplinked(struct store *store, int64_t last_reading_id);

/* The uplinked mark (0 on a new history). 0 or -EIO. */
int store_uplinked_id(struct store *store, int64_t *id_out);

struct store_purge_result {
    int64_t readings;  /* rows deleted */
    int64_t seals;     /* seals (committed batches) they were taken from */
    int64_t event_id;  /* the "purge" event, 0 when nothing was purged */
    bool more;         /* max_seals stopped it: call again */
};

/* Deletes the readings that belong only to shipments that ended at or before now_ms -
 * older_than_ms, and are uplinked (id <= the mark). A reading that also belongs to a running
 * shipment, or to one that ended later, or to none, stays. Works through at most max_seals
 * seals (about batch_max readings each) per call, so one call stays short. Before deleting from
 * a seal it checks the seal's remaining rows against the chain; it appends one "purge" event
 * naming, per seal, the rows purged so far and the count and SHA-256 of those that remain, so
 * that verify still passes. Commits at once (the open batch first). 0 (out filled, also when
 * nothing was due); -EBADMSG (a seal's rows do not match the chain: nothing purged, the history
 * was altered, run verify); -EINVAL; -ENOMEM; -EIO. */
int store_purge(struct store *store, int64_t now_ms, int64_t older_than_ms, size_t max_seals,
                struct store_purge_result *out);

#endif
