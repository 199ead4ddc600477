/* The audit trail's arithmetic (DESIGN §6, docs/history.md): the canonical encodings of an
 * event, a reading row and an alert row and their SHA-256 (OpenSSL libcrypto, EVP), shared by
 * the store that writes the chain and by audit_verify(), which recomputes it from a history
 * opened read-only while the daemon may be writing. No globals; any thread, one hasher per
 * thread. Nothing here logs: failures are codes, and verify's findings are data. */
#ifndef COLDCHAIN_AUDIT_H
#define COLDCHAIN_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_HASH_LEN 32      /* bytes of a SHA-256 */
#define AUDIT_HEX_SIZE 65      /* a SHA-256 as 64 lower-case hex digits, + NUL */
#define AUDIT_FINGERPRINT_LEN 4 /* bytes of its row hash per reading in a readings event's "rows" */

/* prev_hash of event 1. */
#define AUDIT_GENESIS_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* A text field with its length: SQLite gives lengths, and a text may hold any byte. */
struct audit_text {
    const char *p; /* NULL: SQL NULL (only where a field may be NULL) */
    size_t len;
};

/* An incremental SHA-256; reusable: begin, update..., end, begin again. */
struct audit_hasher;

/* 0, -ENOMEM, -EIO (libcrypto has no SHA-256). The caller frees with audit_hasher_free(). */
int audit_hasher_new(struct audit_hasher **hasher_out);
/* NULL is a no-op. */
void audit_hasher_free(struct audit_hasher *hasher);
/* Each 0 or -EIO. */
int audit_hasher_begin(struct audit_hasher *hasher);
int audit_hasher_update(struct audit_hasher *hasher, const void *data, size_t len);
int audit_hasher_end(struct audit_hasher *hasher, uint8_t digest_out[AUDIT_HASH_LEN]);

/* Writes len bytes as 2 * len lower-case hex digits and a NUL into out. */
void audit_hex(const uint8_t *bytes, size_t len, char *out);

/* len bytes as base64 (RFC 4648, with padding), malloc'd and NUL-terminated; NULL when out of
 * memory. The caller frees. */
char *audit_base64(const uint8_t *bytes, size_t len);

/* SHA-256 of len bytes, as hex. 0, -ENOMEM, -EIO. */
int audit_sha256_hex(const void *data, size_t len, char hex_out[AUDIT_HEX_SIZE]);

/* SHA-256 of a file's content (the config file, for a "config" event). 0, -errno of open or
 * read, -ENOMEM, -EIO. */
int audit_file_sha256(const char *path, char hex_out[AUDIT_HEX_SIZE]);

/* One row of the events table. shipment_id and actor may be NULL (p == NULL). */
struct audit_event {
    int64_t id;
    int64_t ts_ms;
    struct audit_text kind;
    struct audit_text shipment_id;
    struct audit_text actor;
    struct audit_text detail;    /* compact JSON object */
    struct audit_text prev_hash; /* hex of the previous event's hash, AUDIT_GENESIS_HASH for 1 */
};

/* The event's hash (docs/history.md "Hashes"): SHA-256 over the netstrings of "event", id,
 * ts_ms, kind, shipment_id, actor, detail and prev_hash. 0 or -EIO. */
int audit_event_hash(struct audit_hasher *hasher, const struct audit_event *ev,
                     char hex_out[AUDIT_HEX_SIZE]);

/* One row of the readings table. value is used when has_value (NULL otherwise: a fault). */
struct audit_reading_row {
    int64_t id;
    struct audit_text sensor_id;
    int64_t quantity;
    int64_t ts_ms;
    bool has_value;
    double value;
    int64_t flags;
};

/* The reading's row hash: SHA-256 over the netstrings of "reading", id, sensor_id, quantity,
 * ts_ms, value (IEEE 754 binary64, big-endian, hex; "~" for NULL) and flags. 0 or -EIO. */
int audit_reading_hash(struct audit_hasher *hasher, const struct audit_reading_row *row,
                       uint8_t digest_out[AUDIT_HASH_LEN]);

/* One row of the alerts table. */
struct audit_alert_row {
    int64_t seq;
    struct audit_text alert_id;
    int64_t ts_ms;
    struct audit_text shipment_id, alarm_id, sensor_id, transition;
    bool has_value;
    double value;
    bool has_worst;
    double worst;
    int64_t since_ms;
    struct audit_text payload;
    struct audit_text state;
    int64_t level;
    int64_t amount_ms;
};

/* The alert's row hash: SHA-256 over the netstrings of "alert" and the columns in the order of
 * the struct. 0 or -EIO. */
int audit_alert_hash(struct audit_hasher *hasher, const struct audit_alert_row *row,
                     uint8_t digest_out[AUDIT_HASH_LEN]);

struct sqlite3_stmt;

/* Fills *row from columns 0..5 of a stepped statement over readings (id, sensor_id, quantity,
 * ts_ms, value, flags); its text points into the statement, valid until it steps again. True
 * when every column has the type the store writes (a text, integers, a real or NULL value): a
 * value of another type cannot have been written by the gateway. */
bool audit_reading_row_of(struct sqlite3_stmt *st, struct audit_reading_row *row);

/* The same for columns 0..13 of a statement over alerts, in the order of struct
 * audit_alert_row. */
bool audit_alert_row_of(struct sqlite3_stmt *st, struct audit_alert_row *row);

/* ---- seals and purges, as their events' details say them ---- */

struct cJSON;

/* A "readings" event's detail: {"first_id", "last_id", "count", "sha256", "rows"}. */
struct audit_seal {
    int64_t first_id, last_id; /* the run of reading ids it seals */
    int64_t count;             /* last_id - first_id + 1 */
    char sha256[AUDIT_HEX_SIZE]; /* over the rows' hashes, in id order */
    /* With want_rows: the fingerprints ("rows" decoded), AUDIT_FINGERPRINT_LEN bytes per reading
     * in id order, malloc'd (the caller frees); else NULL. */
    uint8_t *rows;
};

/* Parses and checks a readings event's detail. 0; -EBADMSG (a field missing or inconsistent:
 * count, id order, hex, base64, rows' length); -ENOMEM. Nothing to free on failure. */
int audit_seal_parse(const struct cJSON *detail, bool want_rows, struct audit_seal *out);

/* One entry of a purge event's "units": the seal (by its event), the ids purged from it so far
 * and the count and hash of the rows that remain. */
struct audit_purge_unit {
    int64_t event_id, first_id, last_id;
    uint8_t *purged;  /* malloc'd bitmap, bit i % 8 of byte i / 8 for id first_id + i */
    int64_t count;
    char sha256[AUDIT_HEX_SIZE];
};

/* Parses one entry. 0, -EBADMSG, -ENOMEM. Nothing to free on failure. */
int audit_purge_unit_parse(const struct cJSON *entry, struct audit_purge_unit *out);

/* Bit i of a purge bitmap. */
static inline bool audit_bit(const uint8_t *map, int64_t i)
{
    return (map[i / 8] >> (i % 8)) & 1;
}

/* ---- verify ---- */

enum audit_what {
    AUDIT_ALTERED,  /* the row is there, its content is not what was sealed */
    AUDIT_INSERTED, /* a row no event accounts for */
    AUDIT_DELETED,  /* a row an event accounts for is missing */
};

/* "altered", "inserted", "deleted". */
const char *audit_what_name(enum audit_what what);

struct audit_finding {
    char table[20];   /* "events", "shipments", "shipment_sensors", "readings", "alerts" */
    int64_t id;       /* events/readings/shipment_sensors id, alerts seq; 0 for shipments */
    int64_t id_last;  /* the last id of a run of rows with the same finding; == id for one */
    char key[112];    /* shipments: the shipment id; shipment_sensors: "shipment/sensor"; else "" */
    enum audit_what what;
    char detail[256]; /* for people: what does not agree with what */
};

#define AUDIT_FINDINGS_MAX 32

struct audit_report {
    int schema;                /* PRAGMA user_version */
    int64_t events;            /* rows of the events table */
    int64_t head_id;           /* the last event: its id and hash (0 and "" when none) */
    char head_hash[AUDIT_HEX_SIZE];
    int64_t readings;          /* rows of the readings table */
    int64_t readings_sealed;   /* readings ids sealed by readings events (purged ones included) */
    int64_t readings_purged;   /* of those, purged by retention (purge events) */
    int64_t alerts;            /* rows of the alerts table */
    int64_t shipments;         /* rows of the shipments table */
    size_t finding_count;      /* every finding (a run of rows counts once) */
    size_t findings_kept;      /* the first ones, in order: events, shipments, assignments,
                                * readings, alerts; each table by id */
    struct audit_finding findings[AUDIT_FINDINGS_MAX];
    char error[512];           /* why it could not verify (return < 0) */
};

/* Opens the history at db_path read-only (SQLITE_OPEN_READONLY, one read transaction: a
 * consistent snapshot while the daemon writes in WAL mode), recomputes the audit trail and
 * fills *out (docs/history.md "Verify"): event ids without gaps, each prev_hash link and hash;
 * each sealed reading against its fingerprint and each seal's count and SHA-256 (purged rows
 * against the purge events); readings no seal covers; each alarm event against its alerts row;
 * alerts no alarm event covers; shipments and sensor assignments against the lifecycle events.
 * Returns 0 intact, 1 findings (out->findings), or with out->error filled: -ENOENT (no such
 * file), -EPROTO (not a history, or one without the audit trail: schema < 3, or newer than
 * this code), -EIO (SQLite failed), -ENOMEM. */
int audit_verify(const char *db_path, struct audit_report *out);

#endif
