/* The audit trail's hashes and its verifier (docs/history.md). libcrypto's and SQLite's codes
 * stop here: a hash failure is -EIO, and verify's failures are a code with a sentence in
 * report->error, for the caller to print (coldchainctl is a command, not a daemon). */
#include "audit.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct audit_hasher {
    EVP_MD *md; /* fetched once: an implicit fetch per digest would look the algorithm up again */
    EVP_MD_CTX *ctx;
};

int audit_hasher_new(struct audit_hasher **hasher_out)
{
    struct audit_hasher *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->ctx = EVP_MD_CTX_new();
    h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (h->ctx == NULL || h->md == NULL) {
        int rc = h->ctx == NULL ? -ENOMEM : -EIO;
        audit_hasher_free(h);
        return rc;
    }
    *hasher_out = h;
    return 0;
}

void audit_hasher_free(struct audit_hasher *hasher)
{
    if (hasher == NULL)
        return;
    EVP_MD_CTX_free(hasher->ctx);
    EVP_MD_free(hasher->md);
    free(hasher);
}

int audit_hasher_begin(struct audit_hasher *hasher)
{
    return EVP_DigestInit_ex(hasher->ctx, hasher->md, NULL) == 1 ? 0 : -EIO;
}

int audit_hasher_update(struct audit_hasher *hasher, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    return EVP_DigestUpdate(hasher->ctx, data, len) == 1 ? 0 : -EIO;
}

int audit_hasher_end(struct audit_hasher *hasher, uint8_t digest_out[AUDIT_HASH_LEN])
{
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(hasher->ctx, digest_out, &len) != 1 || len != AUDIT_HASH_LEN)
        return -EIO;
    return 0;
}

void audit_hex(const uint8_t *bytes, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0xf];
    }
    out[2 * len] = '\0';
}

char *audit_base64(const uint8_t *bytes, size_t len)
{
    char *out = malloc((len + 2) / 3 * 4 + 1);
    if (out != NULL)
        EVP_EncodeBlock((unsigned char *)out, bytes, (int)len);
    return out;
}

int audit_sha256_hex(const void *data, size_t len, char hex_out[AUDIT_HEX_SIZE])
{
    struct audit_hasher *h = NULL;
    uint8_t digest[AUDIT_HASH_LEN];
    int rc = audit_hasher_new(&h);
    if (rc == 0)
        rc = audit_hasher_begin(h);
    if (rc == 0)
        rc = audit_hasher_update(h, data, len);
    if (rc == 0)
        rc = audit_hasher_end(h, digest);
    if (rc == 0)
        audit_hex(digest, sizeof(digest), hex_out);
    audit_hasher_free(h);
    return rc;
}

int audit_file_sha256(const char *path, char hex_out[AUDIT_HEX_SIZE])
{
    struct audit_hasher *h = NULL;
    uint8_t digest[AUDIT_HASH_LEN];
    char buf[16384];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = audit_hasher_new(&h);
    if (rc == 0)
        rc = audit_hasher_begin(h);
    while (rc == 0) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            rc = -errno;
        if (n <= 0)
            break;
        rc = audit_hasher_update(h, buf, (size_t)n);
    }
    if (rc == 0)
        rc = audit_hasher_end(h, digest);
    if (rc == 0)
        audit_hex(digest, sizeof(digest), hex_out);
    audit_hasher_free(h);
    close(fd);
    return rc;
}

/* ---- the canonical encoding (docs/history.md "Hashes") ----
 * Every field is a netstring, "<length in decimal>:<bytes>,", or "~" for NULL: no value can be
 * read as another, whatever bytes it holds. Integers are their decimal text ("-" for negative,
 * no leading zeros); reals the 16 hex digits of their IEEE 754 binary64 bits, big-endian, with
 * -0 as +0 (SQLite gives -0.0 back as 0.0) and NaN as NULL (SQLite stores NaN as NULL). */

struct enc {
    struct audit_hasher *h;
    int rc;
};

static void put(struct enc *e, const void *p, size_t n)
{
    if (e->rc == 0)
        e->rc = audit_hasher_update(e->h, p, n);
}

static void put_text(struct enc *e, struct audit_text t)
{
    if (t.p == NULL) {
        put(e, "~", 1);
        return;
    }
    char len[24];
    int k = snprintf(len, sizeof(len), "%zu:", t.len);
    put(e, len, (size_t)k);
    put(e, t.p, t.len);
    put(e, ",", 1);
}

static void put_str(struct enc *e, const char *s)
{
    put_text(e, (struct audit_text){s, strlen(s)});
}

static void put_int(struct enc *e, int64_t v)
{
    char b[24];
    int k = snprintf(b, sizeof(b), "%" PRId64, v);
    put_text(e, (struct audit_text){b, (size_t)k});
}

static void put_real(struct enc *e, bool has, double v)
{
    if (!has || isnan(v)) {
        put(e, "~", 1);
        return;
    }
    if (v == 0.0)
        v = 0.0; /* -0.0 == 0.0: both become +0.0 */
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    char b[17];
    snprintf(b, sizeof(b), "%016" PRIx64, bits);
    put_text(e, (struct audit_text){b, 16});
}

int audit_event_hash(struct audit_hasher *hasher, const struct audit_event *ev,
                     char hex_out[AUDIT_HEX_SIZE])
{
    uint8_t digest[AUDIT_HASH_LEN];
    struct enc e = {.h = hasher, .rc = audit_hasher_begin(hasher)};
    put_str(&e, "event");
    put_int(&e, ev->id);
    put_int(&e, ev->ts_ms);
    put_text(&e, ev->kind);
    put_text(&e, ev->shipment_id);
    put_text(&e, ev->actor);
    put_text(&e, ev->detail);
    put_text(&e, ev->prev_hash);
    if (e.rc == 0)
        e.rc = audit_hasher_end(hasher, digest);
    if (e.rc == 0)
        audit_hex(digest, sizeof(digest), hex_out);
    return e.rc;
}

int audit_reading_hash(struct audit_hasher *hasher, const struct audit_reading_row *row,
                       uint8_t digest_out[AUDIT_HASH_LEN])
{
    struct enc e = {.h = hasher, .rc = audit_hasher_begin(hasher)};
    put_str(&e, "reading");
    put_int(&e, row->id);
    put_text(&e, row->sensor_id);
    put_int(&e, row->quantity);
    put_int(&e, row->ts_ms);
    put_real(&e, row->has_value, row->value);
    put_int(&e, row->flags);
    if (e.rc == 0)
        e.rc = audit_hasher_end(hasher, digest_out);
    return e.rc;
}

int audit_alert_hash(struct audit_hasher *hasher, const struct audit_alert_row *row,
                     uint8_t digest_out[AUDIT_HASH_LEN])
{
    struct enc e = {.h = hasher, .rc = audit_hasher_begin(hasher)};
    put_str(&e, "alert");
    put_int(&e, row->seq);
    put_text(&e, row->alert_id);
    put_int(&e, row->ts_ms);
    put_text(&e, row->shipment_id);
    put_text(&e, row->alarm_id);
    put_text(&e, row->sensor_id);
    put_text(&e, row->transition);
    put_real(&e, row->has_value, row->value);
    put_real(&e, row->has_worst, row->worst);
    put_int(&e, row->since_ms);
    put_text(&e, row->payload);
    put_text(&e, row->state);
    put_int(&e, row->level);
    put_int(&e, row->amount_ms);
    if (e.rc == 0)
        e.rc = audit_hasher_end(hasher, digest_out);
    return e.rc;
}

static struct audit_text col_text(sqlite3_stmt *st, int col)
{
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return (struct audit_text){NULL, 0};
    const char *p = (const char *)sqlite3_column_text(st, col);
    return (struct audit_text){p ? p : "", (size_t)sqlite3_column_bytes(st, col)};
}

static bool col_is(sqlite3_stmt *st, int col, int type)
{
    return sqlite3_column_type(st, col) == type;
}

static bool col_real_or_null(sqlite3_stmt *st, int col)
{
    return col_is(st, col, SQLITE_FLOAT) || col_is(st, col, SQLITE_NULL);
}

bool audit_reading_row_of(sqlite3_stmt *st, struct audit_reading_row *row)
{
    /* The types first: sqlite3_column_text() would convert a number in place. */
    bool ok = col_is(st, 0, SQLITE_INTEGER) && col_is(st, 1, SQLITE_TEXT) &&
              col_is(st, 2, SQLITE_INTEGER) && col_is(st, 3, SQLITE_INTEGER) &&
              col_real_or_null(st, 4) && col_is(st, 5, SQLITE_INTEGER);
    *row = (struct audit_reading_row){
        .id = sqlite3_column_int64(st, 0),
        .sensor_id = col_text(st, 1),
        .quantity = sqlite3_column_int64(st, 2),
        .ts_ms = sqlite3_column_int64(st, 3),
        .has_value = !col_is(st, 4, SQLITE_NULL),
        .value = sqlite3_column_double(st, 4),
        .flags = sqlite3_column_int64(st, 5),
    };
    return ok;
}

bool audit_alert_row_of(sqlite3_stmt *st, struct audit_alert_row *row)
{
    static const int text_cols[] = {1, 3, 4, 5, 6, 10, 11};
    static const int int_cols[] = {0, 2, 9, 12, 13};
    bool ok = col_real_or_null(st, 7) && col_real_or_null(st, 8);
    for (size_t i = 0; i < sizeof(text_cols) / sizeof(text_cols[0]); i++)
        ok = ok && col_is(st, text_cols[i], SQLITE_TEXT);
    for (size_t i = 0; i < sizeof(int_cols) / sizeof(int_cols[0]); i++)
        ok = ok && col_is(st, int_cols[i], SQLITE_INTEGER);
    /* Text from the text columns only: sqlite3_column_text() on a number converts it in place,
     * and a real read back from its text is not always the same double. */
    struct audit_text t[14] = {{0}};
    for (size_t i = 0; i < sizeof(text_cols) / sizeof(text_cols[0]); i++)
        t[text_cols[i]] = col_text(st, text_cols[i]);
    *row = (struct audit_alert_row){
        .seq = sqlite3_column_int64(st, 0),
        .alert_id = t[1],
        .ts_ms = sqlite3_column_int64(st, 2),
        .shipment_id = t[3],
        .alarm_id = t[4],
        .sensor_id = t[5],
        .transition = t[6],
        .has_value = !col_is(st, 7, SQLITE_NULL),
        .value = sqlite3_column_double(st, 7),
        .has_worst = !col_is(st, 8, SQLITE_NULL),
        .worst = sqlite3_column_double(st, 8),
        .since_ms = sqlite3_column_int64(st, 9),
        .payload = t[10],
        .state = t[11],
        .level = sqlite3_column_int64(st, 12),
        .amount_ms = sqlite3_column_int64(st, 13),
    };
    return ok;
}

const char *audit_what_name(enum audit_what what)
{
    switch (what) {
    case AUDIT_ALTERED:
        return "altered";
    case AUDIT_INSERTED:
        return "inserted";
    case AUDIT_DELETED:
        return "deleted";
    }
    return "?";
}

/* ---- details ---- */

/* Integers in details are JSON numbers; cJSON holds them as doubles, exact below 2^53. */
static bool json_int(const cJSON *obj, const char *key, int64_t *out)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(it))
        return false;
    double d = it->valuedouble;
    if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d))
        return false;
    *out = (int64_t)d;
    return true;
}

static bool json_str(const cJSON *obj, const char *key, char *out, size_t cap)
{
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsString(it) || strlen(it->valuestring) >= cap)
        return false;
    memcpy(out, it->valuestring, strlen(it->valuestring) + 1);
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static bool is_hex(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (hexval(s[i]) < 0)
            return false;
    return true;
}

int audit_seal_parse(const struct cJSON *detail, bool want_rows, struct audit_seal *out)
{
    struct audit_seal s = {0};
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(detail, "rows");
    if (!json_int(detail, "first_id", &s.first_id) || !json_int(detail, "last_id", &s.last_id) ||
        !json_int(detail, "count", &s.count) ||
        !json_str(detail, "sha256", s.sha256, sizeof(s.sha256)) ||
        !is_hex(s.sha256, AUDIT_HEX_SIZE - 1) || s.last_id < s.first_id ||
        s.count != s.last_id - s.first_id + 1 || s.count > INT32_MAX / 8 ||
        !cJSON_IsString(rows))
        return -EBADMSG;
    size_t bytes = (size_t)s.count * AUDIT_FINGERPRINT_LEN;
    size_t text = (bytes + 2) / 3 * 4;
    if (strlen(rows->valuestring) != text)
        return -EBADMSG;
    /* Decoded whole (base64 does not align with a reading's 4 bytes); EVP_DecodeBlock gives the
     * padding back as zero bytes, past the fingerprints. */
    uint8_t *decoded = malloc(text / 4 * 3);
    if (decoded == NULL)
        return -ENOMEM;
    if (EVP_DecodeBlock(decoded, (const unsigned char *)rows->valuestring, (int)text) < 0) {
        free(decoded);
        return -EBADMSG;
    }
    if (want_rows)
        s.rows = decoded;
    else
        free(decoded);
    *out = s;
    return 0;
}

int audit_purge_unit_parse(const struct cJSON *entry, struct audit_purge_unit *out)
{
    struct audit_purge_unit u = {0};
    const cJSON *bits = cJSON_GetObjectItemCaseSensitive(entry, "purged");
    if (!json_int(entry, "event", &u.event_id) || !json_int(entry, "first_id", &u.first_id) ||
        !json_int(entry, "last_id", &u.last_id) || u.last_id < u.first_id ||
        u.last_id - u.first_id >= INT32_MAX || !json_int(entry, "count", &u.count) ||
        !json_str(entry, "sha256", u.sha256, sizeof(u.sha256)) ||
        !is_hex(u.sha256, AUDIT_HEX_SIZE - 1) || !cJSON_IsString(bits))
        return -EBADMSG;
    size_t nbytes = (size_t)((u.last_id - u.first_id + 1 + 7) / 8);
    if (!is_hex(bits->valuestring, nbytes * 2))
        return -EBADMSG;
    u.purged = malloc(nbytes);
    if (u.purged == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < nbytes; i++)
        u.purged[i] = (uint8_t)(hexval(bits->valuestring[2 * i]) << 4 |
                                hexval(bits->valuestring[2 * i + 1]));
    *out = u;
    return 0;
}

/* ---- verify ---- */

/* A run of readings sealed by one readings event (a committed batch, or a chunk of the rows a
 * migration found), and what purges left of it. */
struct unit {
    int64_t event_id;
    int64_t first_id, last_id;
    int64_t count;
    char sha256[AUDIT_HEX_SIZE];
    uint8_t *purged;        /* NULL, or a bit per id from first_id (bit i%8 of byte i/8) */
    int64_t remaining;      /* with purged: the survivors' count and hash */
    char remaining_sha256[AUDIT_HEX_SIZE];
};

struct alarm_seal {
    int64_t seq;
    int64_t event_id;
    char row_sha256[AUDIT_HEX_SIZE];
    char payload_sha256[AUDIT_HEX_SIZE];
};

struct assignment {
    char sensor_id[64];
    int64_t from_ms;
    int64_t to_ms; /* INT64_MAX while assigned */
    bool matched;
};

struct shipment {
    char id[128];
    char kind[64], profile[128], description[512], source[32];
    int64_t started_ms;
    bool ended;
    int64_t ended_ms;
    struct assignment *assignments;
    size_t assignment_count, assignment_cap;
    bool matched;
};

struct verifier {
    sqlite3 *db;
    struct audit_hasher *h;
    struct audit_report *out;
    struct unit *units;
    size_t unit_count, unit_cap;
    struct alarm_seal *alarms;
    size_t alarm_count, alarm_cap;
    struct shipment *ships;
    size_t ship_count, ship_cap;
    struct audit_finding *last; /* the latest finding, to extend a run; NULL after a pass */
    struct audit_finding spare; /* where it lives once findings[] is full */
};

/* Grows an array by one element; the new element is zeroed. NULL when out of memory. */
static void *grow(void *array_ptr, size_t *count, size_t *cap, size_t size)
{
    void **array = array_ptr;
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        void *n = realloc(*array, ncap * size);
        if (n == NULL)
            return NULL;
        *array = n;
        *cap = ncap;
    }
    void *el = (char *)*array + *count * size;
    memset(el, 0, size);
    (*count)++;
    return el;
}

/* Records a finding. A finding that continues the latest one (same table, key, what and
 * detail, the next id) extends its run instead. */
static void finding(struct verifier *v, const char *table, int64_t id, const char *key,
                    enum audit_what what, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void finding(struct verifier *v, const char *table, int64_t id, const char *key,
                    enum audit_what what, const char *fmt, ...)
{
    struct audit_finding f = {.id = id, .id_last = id, .what = what};
    snprintf(f.table, sizeof(f.table), "%s", table);
    snprintf(f.key, sizeof(f.key), "%s", key ? key : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f.detail, sizeof(f.detail), fmt, ap);
    va_end(ap);

    struct audit_finding *l = v->last;
    if (l != NULL && l->what == what && id == l->id_last + 1 && strcmp(l->table, f.table) == 0 &&
        strcmp(l->key, f.key) == 0 && strcmp(l->detail, f.detail) == 0) {
        l->id_last = id;
        return;
    }
    struct audit_report *out = v->out;
    out->finding_count++;
    if (out->findings_kept < AUDIT_FINDINGS_MAX) {
        out->findings[out->findings_kept] = f;
        v->last = &out->findings[out->findings_kept++];
    } else {
        v->spare = f;
        v->last = &v->spare;
    }
}

static int fail(struct verifier *v, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct verifier *v, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->out->error, sizeof(v->out->error), fmt, ap);
    va_end(ap);
    return rc;
}

static int db_fail(struct verifier *v, const char *what)
{
    return fail(v, -EIO, "%s: %s", what, sqlite3_errmsg(v->db));
}

static bool text_is(struct audit_text t, const char *s)
{
    return t.p != NULL && t.len == strlen(s) && memcmp(t.p, s, t.len) == 0;
}

static struct shipment *ship_find(struct verifier *v, const char *id)
{
    for (size_t i = 0; i < v->ship_count; i++)
        if (strcmp(v->ships[i].id, id) == 0)
            return &v->ships[i];
    return NULL;
}

static struct assignment *open_assignment(struct shipment *s, const char *sensor)
{
    for (size_t i = 0; i < s->assignment_count; i++)
        if (s->assignments[i].to_ms == INT64_MAX &&
            strcmp(s->assignments[i].sensor_id, sensor) == 0)
            return &s->assignments[i];
    return NULL;
}

static int add_assignment(struct shipment *s, const char *sensor, int64_t from_ms)
{
    struct assignment *a =
        grow(&s->assignments, &s->assignment_count, &s->assignment_cap, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    snprintf(a->sensor_id, sizeof(a->sensor_id), "%s", sensor);
    a->from_ms = from_ms;
    a->to_ms = INT64_MAX;
    return 0;
}

static struct unit *unit_by_event(struct verifier *v, int64_t event_id)
{
    size_t lo = 0, hi = v->unit_count;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v->units[mid].event_id < event_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->unit_count && v->units[lo].event_id == event_id ? &v->units[lo] : NULL;
}

/* What one event says about the other tables. ev is the event's own row; a detail that does
 * not say what its kind must is a finding on the event. */
static int learn(struct verifier *v, int64_t id, const char *kind,
                 struct audit_text shipment_id, const cJSON *d)
{
    char ship_id[128] = "";
    if (shipment_id.p != NULL)
        snprintf(ship_id, sizeof(ship_id), "%.*s", (int)shipment_id.len, shipment_id.p);

    if (strcmp(kind, "readings") == 0) {
        struct audit_seal seal;
        int rc = audit_seal_parse(d, false, &seal);
        if (rc == -EBADMSG) {
            finding(v, "events", id, NULL, AUDIT_ALTERED,
                    "a readings event whose first_id, last_id, count, sha256 or rows are "
                    "missing or inconsistent");
            return 0;
        }
        struct unit *n = rc == 0 ? grow(&v->units, &v->unit_count, &v->unit_cap, sizeof(*n))
                                 : NULL;
        if (n == NULL)
            return -ENOMEM;
        n->event_id = id;
        n->first_id = seal.first_id;
        n->last_id = seal.last_id;
        n->count = seal.count;
        memcpy(n->sha256, seal.sha256, sizeof(n->sha256));
        return 0;
    }
    if (strcmp(kind, "alarm") == 0) {
        struct alarm_seal a = {.event_id = id};
        if (!json_int(d, "seq", &a.seq) ||
            !json_str(d, "row_sha256", a.row_sha256, sizeof(a.row_sha256)) ||
            !json_str(d, "payload_sha256", a.payload_sha256, sizeof(a.payload_sha256))) {
            finding(v, "events", id, NULL, AUDIT_ALTERED,
                    "an alarm event without seq, row_sha256 or payload_sha256");
            return 0;
        }
        struct alarm_seal *n = grow(&v->alarms, &v->alarm_count, &v->alarm_cap, sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        *n = a;
        return 0;
    }
    if (strcmp(kind, "shipment-start") == 0) {
        struct shipment s = {0};
        snprintf(s.id, sizeof(s.id), "%s", ship_id);
        const cJSON *sensors = cJSON_GetObjectItemCaseSensitive(d, "sensors");
        if (ship_id[0] == '\0' || !json_str(d, "kind", s.kind, sizeof(s.kind)) ||
            !json_str(d, "profile", s.profile, sizeof(s.profile)) ||
            !json_str(d, "description", s.description, sizeof(s.description)) ||
            !json_str(d, "source", s.source, sizeof(s.source)) ||
            !json_int(d, "started_ms", &s.started_ms) || !cJSON_IsArray(sensors)) {
            finding(v, "events", id, NULL, AUDIT_ALTERED,
                    "a shipment-start event without its shipment, kind, profile, description, "
                    "source, started_ms or sensors");
            return 0;
        }
        if (ship_find(v, ship_id) != NULL) {
            finding(v, "events", id, NULL, AUDIT_ALTERED, "a second start of shipment %s",
                    ship_id);
            return 0;
        }
        struct shipment *n = grow(&v->ships, &v->ship_count, &v->ship_cap, sizeof(*n));
        if (n == NULL)
            return -ENOMEM;
        *n = s;
        const cJSON *it;
        cJSON_ArrayForEach(it, sensors)
        {
            if (cJSON_IsString(it) && add_assignment(n, it->valuestring, s.started_ms) < 0)
                return -ENOMEM;
        }
        /* A migrated shipment that had ended: its end comes with its start. */
        int64_t ended_ms;
        if (json_int(d, "ended_ms", &ended_ms)) {
            n->ended = true;
            n->ended_ms = ended_ms;
        }
        return 0;
    }
    if (strcmp(kind, "shipment-end") == 0 || strcmp(kind, "assign") == 0 ||
        strcmp(kind, "unassign") == 0) {
        struct shipment *s = ship_find(v, ship_id);
        if (s == NULL) {
            finding(v, "events", id, NULL, AUDIT_ALTERED, "%s of shipment \"%s\", never started",
                    kind, ship_id);
            return 0;
        }
        if (kind[0] == 's') {
            int64_t ended_ms;
            if (!json_int(d, "ended_ms", &ended_ms) || s->ended) {
                finding(v, "events", id, NULL, AUDIT_ALTERED,
                        "a shipment-end without ended_ms, or of an ended shipment");
                return 0;
            }
            s->ended = true;
            s->ended_ms = ended_ms;
            for (size_t i = 0; i < s->assignment_count; i++)
                if (s->assignments[i].to_ms == INT64_MAX)
                    s->assignments[i].to_ms = ended_ms;
            return 0;
        }
        char sensor[64];
        int64_t at_ms;
        bool assign = strcmp(kind, "assign") == 0;
        if (!json_str(d, "sensor", sensor, sizeof(sensor)) ||
            !json_int(d, assign ? "from_ms" : "to_ms", &at_ms) || s->ended) {
            finding(v, "events", id, NULL, AUDIT_ALTERED,
                    "%s without sensor or time, or to an ended shipment", kind);
            return 0;
        }
        struct assignment *a = open_assignment(s, sensor);
        if (assign && a == NULL)
            return add_assignment(s, sensor, at_ms);
        if (!assign && a != NULL)
            a->to_ms = at_ms;
        return 0;
    }
    if (strcmp(kind, "purge") == 0) {
        const cJSON *units = cJSON_GetObjectItemCaseSensitive(d, "units");
        const cJSON *it;
        if (!cJSON_IsArray(units)) {
            finding(v, "events", id, NULL, AUDIT_ALTERED, "a purge event without units");
            return 0;
        }
        cJSON_ArrayForEach(it, units)
        {
            struct audit_purge_unit pu;
            int rc = audit_purge_unit_parse(it, &pu);
            if (rc == -ENOMEM)
                return rc;
            struct unit *u = rc == 0 ? unit_by_event(v, pu.event_id) : NULL;
            if (u == NULL || pu.first_id != u->first_id || pu.last_id != u->last_id) {
                finding(v, "events", id, NULL, AUDIT_ALTERED,
                        "a purge names a seal that is not there, or says it wrongly");
                if (rc == 0)
                    free(pu.purged);
                continue;
            }
            free(u->purged);
            u->purged = pu.purged;
            u->remaining = pu.count;
            memcpy(u->remaining_sha256, pu.sha256, sizeof(pu.sha256));
        }
        return 0;
    }
    return 0;
}

/* Pass 1: the chain itself, and what each event says about the other tables. */
static int verify_events(struct verifier *v)
{
    sqlite3_stmt *st = NULL;
    cJSON *detail = NULL;
    int rc = 0, src;
    int64_t prev_id = 0;
    char prev_hash[AUDIT_HEX_SIZE] = AUDIT_GENESIS_HASH;
    bool prev_ok = true;

    if (sqlite3_prepare_v2(v->db,
                           "SELECT id, ts_ms, kind, shipment_id, actor, detail, prev_hash, hash "
                           "FROM events ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(v, "read events");
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        bool types_ok = sqlite3_column_type(st, 1) == SQLITE_INTEGER &&
                        sqlite3_column_type(st, 2) == SQLITE_TEXT &&
                        sqlite3_column_type(st, 3) != SQLITE_INTEGER &&
                        sqlite3_column_type(st, 3) != SQLITE_FLOAT &&
                        sqlite3_column_type(st, 3) != SQLITE_BLOB &&
                        sqlite3_column_type(st, 4) != SQLITE_INTEGER &&
                        sqlite3_column_type(st, 4) != SQLITE_FLOAT &&
                        sqlite3_column_type(st, 4) != SQLITE_BLOB &&
                        sqlite3_column_type(st, 5) == SQLITE_TEXT &&
                        sqlite3_column_type(st, 6) == SQLITE_TEXT &&
                        sqlite3_column_type(st, 7) == SQLITE_TEXT;
        struct audit_event ev = {
            .id = id,
            .ts_ms = sqlite3_column_int64(st, 1),
            .kind = col_text(st, 2),
            .shipment_id = col_text(st, 3),
            .actor = col_text(st, 4),
            .detail = col_text(st, 5),
            .prev_hash = col_text(st, 6),
        };
        struct audit_text stored = col_text(st, 7);
        char computed[AUDIT_HEX_SIZE] = "";
        bool self_ok = false;
        if (types_ok) {
            rc = audit_event_hash(v->h, &ev, computed);
            if (rc < 0) {
                rc = fail(v, rc, "SHA-256 failed");
                goto out;
            }
            self_ok = text_is(stored, computed);
        }
        v->out->events++;
        v->out->head_id = id;
        snprintf(v->out->head_hash, sizeof(v->out->head_hash), "%.*s",
                 stored.p ? (int)(stored.len < 64 ? stored.len : 64) : 0,
                 stored.p ? stored.p : "");

        if (id != prev_id + 1) {
            finding(v, "events", prev_id + 1, NULL, AUDIT_DELETED,
                    "missing from the chain (ids must run from 1 without a gap; next is %" PRId64
                    ")",
                    id);
            if (v->last != NULL)
                v->last->id_last = id - 1;
        } else if (!text_is(ev.prev_hash, prev_hash) && self_ok && prev_ok && id > 1) {
            /* Both rows hash right, but this one chained to another predecessor: the row
             * before was replaced by one with a recomputed hash. */
            finding(v, "events", id - 1, NULL, AUDIT_ALTERED,
                    "replaced: its hash is not the one event %" PRId64 " chained to", id);
        } else if (!text_is(ev.prev_hash, prev_hash) && self_ok) {
            finding(v, "events", id, NULL, AUDIT_ALTERED,
                    "prev_hash does not link to the event before");
        }
        if (!self_ok)
            finding(v, "events", id, NULL, AUDIT_ALTERED,
                    types_ok ? "its hash does not match its content"
                             : "a column holds a value of the wrong type");
        prev_id = id;
        prev_ok = self_ok;
        snprintf(prev_hash, sizeof(prev_hash), "%s", stored.p && stored.len == 64 ? stored.p : "");

        if (ev.kind.p == NULL || ev.detail.p == NULL)
            continue;
        char kind[32];
        snprintf(kind, sizeof(kind), "%.*s", (int)(ev.kind.len < 31 ? ev.kind.len : 31),
                 ev.kind.p);
        detail = cJSON_ParseWithLength(ev.detail.p, ev.detail.len);
        if (!cJSON_IsObject(detail)) {
            if (self_ok)
                finding(v, "events", id, NULL, AUDIT_ALTERED, "detail is not a JSON object");
        } else {
            rc = learn(v, id, kind, ev.shipment_id, detail);
            if (rc < 0) {
                rc = fail(v, rc, "out of memory");
                goto out;
            }
        }
        cJSON_Delete(detail);
        detail = NULL;
    }
    if (src != SQLITE_DONE)
        rc = db_fail(v, "read events");
out:
    cJSON_Delete(detail);
    sqlite3_finalize(st);
    return rc;
}

/* Pass 2: shipments against their start and end events. */
static int verify_shipments(struct verifier *v)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, src;
    if (sqlite3_prepare_v2(v->db,
                           "SELECT id, kind, profile, description, source, started_ms, ended_ms "
                           "FROM shipments ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(v, "read shipments");
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        char id[128];
        struct audit_text t = col_text(st, 0);
        snprintf(id, sizeof(id), "%.*s", t.p ? (int)t.len : 0, t.p ? t.p : "");
        v->out->shipments++;
        struct shipment *s = ship_find(v, id);
        if (s == NULL) {
            finding(v, "shipments", 0, id, AUDIT_INSERTED, "no shipment-start event for it");
            continue;
        }
        s->matched = true;
        const char *what = NULL;
        if (!text_is(col_text(st, 1), s->kind))
            what = "kind";
        else if (!text_is(col_text(st, 2), s->profile))
            what = "profile";
        else if (!text_is(col_text(st, 3), s->description))
            what = "description";
        else if (!text_is(col_text(st, 4), s->source))
            what = "source";
        else if (sqlite3_column_type(st, 5) != SQLITE_INTEGER ||
                 sqlite3_column_int64(st, 5) != s->started_ms)
            what = "started_ms";
        else if (s->ended ? (sqlite3_column_type(st, 6) != SQLITE_INTEGER ||
                             sqlite3_column_int64(st, 6) != s->ended_ms)
                          : sqlite3_column_type(st, 6) != SQLITE_NULL)
            what = "ended_ms";
        if (what != NULL)
            finding(v, "shipments", 0, id, AUDIT_ALTERED,
                    "%s is not what its lifecycle events say", what);
    }
    if (src != SQLITE_DONE)
        rc = db_fail(v, "read shipments");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < v->ship_count; i++)
        if (!v->ships[i].matched)
            finding(v, "shipments", 0, v->ships[i].id, AUDIT_DELETED,
                    "started by an event, not in the table");
    return rc;
}

/* Pass 3: sensor assignments against the start, assign, unassign and end events. */
static int verify_assignments(struct verifier *v)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, src;
    if (sqlite3_prepare_v2(v->db,
                           "SELECT id, shipment_id, sensor_id, from_ms, to_ms "
                           "FROM shipment_sensors ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(v, "read shipment_sensors");
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        char ship[128], sensor[64], key[112];
        struct audit_text t = col_text(st, 1);
        snprintf(ship, sizeof(ship), "%.*s", t.p ? (int)t.len : 0, t.p ? t.p : "");
        t = col_text(st, 2);
        snprintf(sensor, sizeof(sensor), "%.*s", t.p ? (int)t.len : 0, t.p ? t.p : "");
        snprintf(key, sizeof(key), "%.60s/%.40s", ship, sensor);
        int64_t from_ms = sqlite3_column_int64(st, 3);
        bool open = sqlite3_column_type(st, 4) == SQLITE_NULL;
        int64_t to_ms = open ? INT64_MAX : sqlite3_column_int64(st, 4);
        struct shipment *s = ship_find(v, ship);
        struct assignment *a = NULL;
        for (size_t i = 0; s != NULL && i < s->assignment_count; i++) {
            struct assignment *c = &s->assignments[i];
            if (!c->matched && c->from_ms == from_ms && strcmp(c->sensor_id, sensor) == 0) {
                a = c;
                break;
            }
        }
        if (a == NULL || sqlite3_column_type(st, 3) != SQLITE_INTEGER) {
            finding(v, "shipment_sensors", id, key, AUDIT_INSERTED,
                    "no event assigned this sensor from %" PRId64, from_ms);
            continue;
        }
        a->matched = true;
        if (a->to_ms != to_ms)
            finding(v, "shipment_sensors", id, key, AUDIT_ALTERED,
                    "to_ms is not what the events say (%s)",
                    a->to_ms == INT64_MAX ? "still assigned" : "unassigned or ended earlier");
    }
    if (src != SQLITE_DONE)
        rc = db_fail(v, "read shipment_sensors");
    sqlite3_finalize(st);
    for (size_t i = 0; rc == 0 && i < v->ship_count; i++) {
        struct shipment *s = &v->ships[i];
        for (size_t k = 0; k < s->assignment_count; k++) {
            if (s->assignments[k].matched)
                continue;
            char key[112];
            snprintf(key, sizeof(key), "%.60s/%.40s", s->id, s->assignments[k].sensor_id);
            finding(v, "shipment_sensors", 0, key, AUDIT_DELETED,
                    "assigned from %" PRId64 " by an event, not in the table",
                    s->assignments[k].from_ms);
        }
    }
    return rc;
}

static bool unit_purged(const struct unit *u, int64_t id)
{
    if (u->purged == NULL)
        return false;
    return audit_bit(u->purged, id - u->first_id);
}

/* The readings walk: one scan of the table in id order against the seals in id order. */
struct walk {
    size_t u;              /* the unit being checked */
    bool entered;          /* its fingerprints are loaded and its hasher begun */
    int64_t next_id;       /* the next id expected in it */
    int64_t present;       /* its rows seen (survivors) */
    bool row_finding;      /* a row of it has a finding already */
    uint8_t *rows;         /* its fingerprints (malloc'd), NULL when the event has none */
    struct audit_hasher *seal;
};

static int enter_unit(struct verifier *v, struct walk *w)
{
    struct unit *u = &v->units[w->u];
    sqlite3_stmt *st = NULL;
    free(w->rows);
    w->rows = NULL;
    w->entered = true;
    w->next_id = u->first_id;
    w->present = 0;
    w->row_finding = false;
    if (sqlite3_prepare_v2(v->db, "SELECT detail FROM events WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK)
        return db_fail(v, "read a readings event");
    sqlite3_bind_int64(st, 1, u->event_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        struct audit_text t = col_text(st, 0);
        cJSON *d = t.p ? cJSON_ParseWithLength(t.p, t.len) : NULL;
        struct audit_seal seal;
        int rc = audit_seal_parse(d, true, &seal);
        cJSON_Delete(d);
        if (rc == -ENOMEM) {
            sqlite3_finalize(st);
            return fail(v, rc, "out of memory");
        }
        if (rc == 0)
            w->rows = seal.rows;
    }
    sqlite3_finalize(st);
    int rc = audit_hasher_begin(w->seal);
    return rc < 0 ? fail(v, rc, "SHA-256 failed") : 0;
}

/* Ids from w->next_id up to before id, none of them present: deleted unless purged. */
static void missing_until(struct verifier *v, struct walk *w, int64_t id)
{
    const struct unit *u = &v->units[w->u];
    for (int64_t i = w->next_id; i < id; i++) {
        if (unit_purged(u, i))
            continue;
        finding(v, "readings", i, NULL, AUDIT_DELETED,
                "sealed by event %" PRId64 ", not purged, not in the table", u->event_id);
        w->row_finding = true;
    }
    w->next_id = id;
}

static int leave_unit(struct verifier *v, struct walk *w)
{
    const struct unit *u = &v->units[w->u];
    if (!w->entered) {
        int rc = enter_unit(v, w);
        if (rc < 0)
            return rc;
    }
    missing_until(v, w, u->last_id + 1);
    uint8_t digest[AUDIT_HASH_LEN];
    char hex[AUDIT_HEX_SIZE];
    int rc = audit_hasher_end(w->seal, digest);
    if (rc < 0)
        return fail(v, rc, "SHA-256 failed");
    audit_hex(digest, sizeof(digest), hex);
    const char *want = u->purged ? u->remaining_sha256 : u->sha256;
    int64_t want_count = u->purged ? u->remaining : u->count;
    if (!w->row_finding && (strcmp(hex, want) != 0 || w->present != want_count))
        finding(v, "readings", u->first_id, NULL, AUDIT_ALTERED,
                "rows up to %" PRId64 " do not hash to the seal of event %" PRId64
                " (each matches its fingerprint: one was altered to collide, or the seal was)",
                u->last_id, u->event_id);
    w->entered = false;
    w->u++;
    return 0;
}

static int verify_readings(struct verifier *v)
{
    sqlite3_stmt *st = NULL;
    struct walk w = {0};
    int rc = audit_hasher_new(&w.seal), src;
    if (rc < 0)
        return fail(v, rc, "SHA-256 unavailable");
    for (size_t i = 0; i < v->unit_count; i++) {
        const struct unit *u = &v->units[i];
        v->out->readings_sealed += u->last_id - u->first_id + 1;
        for (int64_t id = u->first_id; u->purged && id <= u->last_id; id++)
            v->out->readings_purged += unit_purged(u, id);
    }
    if (sqlite3_prepare_v2(v->db,
                           "SELECT id, sensor_id, quantity, ts_ms, value, flags FROM readings "
                           "ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK) {
        rc = db_fail(v, "read readings");
        goto out;
    }
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        v->out->readings++;
        while (w.u < v->unit_count && v->units[w.u].last_id < id) {
            rc = leave_unit(v, &w);
            if (rc < 0)
                goto out;
        }
        if (w.u == v->unit_count || id < v->units[w.u].first_id) {
            finding(v, "readings", id, NULL, AUDIT_INSERTED,
                    "no readings event seals it (inserted, or its seal was deleted)");
            continue;
        }
        struct unit *u = &v->units[w.u];
        if (!w.entered) {
            rc = enter_unit(v, &w);
            if (rc < 0)
                goto out;
        }
        missing_until(v, &w, id);
        w.next_id = id + 1;
        if (unit_purged(u, id)) {
            finding(v, "readings", id, NULL, AUDIT_INSERTED,
                    "purged by retention, yet in the table again");
            w.row_finding = true;
            continue;
        }
        struct audit_reading_row row;
        bool types_ok = audit_reading_row_of(st, &row);
        uint8_t digest[AUDIT_HASH_LEN];
        rc = audit_reading_hash(v->h, &row, digest);
        if (rc == 0)
            rc = audit_hasher_update(w.seal, digest, sizeof(digest));
        if (rc < 0) {
            rc = fail(v, rc, "SHA-256 failed");
            goto out;
        }
        w.present++;
        if (!types_ok) {
            finding(v, "readings", id, NULL, AUDIT_ALTERED,
                    "a column holds a value of the wrong type");
            w.row_finding = true;
        } else if (w.rows != NULL &&
                   memcmp(digest, w.rows + (id - u->first_id) * AUDIT_FINGERPRINT_LEN,
                          AUDIT_FINGERPRINT_LEN) != 0) {
            finding(v, "readings", id, NULL, AUDIT_ALTERED,
                    "does not match the fingerprint sealed by event %" PRId64, u->event_id);
            w.row_finding = true;
        }
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(v, "read readings");
        goto out;
    }
    while (w.u < v->unit_count) {
        rc = leave_unit(v, &w);
        if (rc < 0)
            goto out;
    }
out:
    free(w.rows);
    audit_hasher_free(w.seal);
    sqlite3_finalize(st);
    return rc;
}

static int cmp_alarm(const void *a, const void *b)
{
    const struct alarm_seal *x = a, *y = b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Pass 5: alerts against their alarm events. */
static int verify_alerts(struct verifier *v)
{
    sqlite3_stmt *st = NULL;
    int rc = 0, src;
    size_t k = 0;
    if (v->alarm_count > 1)
        qsort(v->alarms, v->alarm_count, sizeof(*v->alarms), cmp_alarm);
    if (sqlite3_prepare_v2(v->db,
                           "SELECT seq, alert_id, ts_ms, shipment_id, alarm_id, sensor_id, "
                           "transition, value, worst, since_ms, payload, state, level, amount_ms "
                           "FROM alerts ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return db_fail(v, "read alerts");
    while ((src = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        v->out->alerts++;
        for (; k < v->alarm_count && v->alarms[k].seq < seq; k++)
            finding(v, "alerts", v->alarms[k].seq, NULL, AUDIT_DELETED,
                    "recorded by an alarm event, not in the table");
        if (k == v->alarm_count || v->alarms[k].seq != seq) {
            finding(v, "alerts", seq, NULL, AUDIT_INSERTED, "no alarm event records it");
            continue;
        }
        const struct alarm_seal *a = &v->alarms[k++];
        struct audit_alert_row row;
        bool types_ok = audit_alert_row_of(st, &row);
        uint8_t digest[AUDIT_HASH_LEN];
        char hex[AUDIT_HEX_SIZE], payload_hex[AUDIT_HEX_SIZE] = "";
        rc = audit_alert_hash(v->h, &row, digest);
        if (rc == 0 && row.payload.p != NULL)
            rc = audit_sha256_hex(row.payload.p, row.payload.len, payload_hex);
        if (rc < 0) {
            rc = fail(v, rc, "SHA-256 failed");
            goto out;
        }
        audit_hex(digest, sizeof(digest), hex);
        if (!types_ok)
            finding(v, "alerts", seq, NULL, AUDIT_ALTERED,
                    "a column holds a value of the wrong type");
        else if (strcmp(payload_hex, a->payload_sha256) != 0)
            finding(v, "alerts", seq, NULL, AUDIT_ALTERED,
                    "its payload is not the one event %" PRId64 " recorded", a->event_id);
        else if (strcmp(hex, a->row_sha256) != 0)
            finding(v, "alerts", seq, NULL, AUDIT_ALTERED,
                    "its row is not the one event %" PRId64 " recorded", a->event_id);
    }
    if (src != SQLITE_DONE) {
        rc = db_fail(v, "read alerts");
        goto out;
    }
    for (; k < v->alarm_count; k++)
        finding(v, "alerts", v->alarms[k].seq, NULL, AUDIT_DELETED,
                "recorded by an alarm event, not in the table");
out:
    sqlite3_finalize(st);
    return rc;
}

static int cmp_unit(const void *a, const void *b)
{
    const struct unit *x = a, *y = b;
    return x->first_id < y->first_id ? -1 : x->first_id > y->first_id;
}

int audit_verify(const char *db_path, struct audit_report *out)
{
    struct verifier v = {.out = out};
    int rc = 0;

    if (db_path == NULL || out == NULL)
        return -EINVAL;
    memset(out, 0, sizeof(*out));
    struct stat sb;
    if (stat(db_path, &sb) != 0)
        return fail(&v, -errno, "%s: %s", db_path, strerror(errno));

    /* READONLY: verify never creates, migrates or writes, so it may run beside the daemon. */
    if (sqlite3_open_v2(db_path, &v.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        rc = v.db ? db_fail(&v, db_path) : fail(&v, -ENOMEM, "out of memory");
        goto out;
    }
    sqlite3_busy_timeout(v.db, 5000);
    rc = audit_hasher_new(&v.h);
    if (rc < 0) {
        rc = fail(&v, rc, "SHA-256 unavailable");
        goto out;
    }
    /* One read transaction: every pass sees the same committed state, whatever the daemon
     * commits meanwhile (WAL keeps the snapshot). */
    if (sqlite3_exec(v.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(&v, "begin a read transaction");
        goto out;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(v.db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        rc = fail(&v, -EPROTO, "%s: not an SQLite database: %s", db_path, sqlite3_errmsg(v.db));
        goto out;
    }
    out->schema = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (out->schema != 3) {
        rc = fail(&v, -EPROTO,
                  out->schema < 3 ? "%s: schema %d has no audit trail yet (the gateway adds it "
                                    "when it next opens the history)"
                                  : "%s: schema %d is newer than this coldchainctl reads",
                  db_path, out->schema);
        goto out;
    }
    rc = verify_events(&v);
    if (rc == 0) {
        /* Seals come in event order; the readings walk wants them by id. */
        if (v.unit_count > 1)
            qsort(v.units, v.unit_count, sizeof(*v.units), cmp_unit);
        rc = verify_shipments(&v);
    }
    if (rc == 0)
        rc = verify_assignments(&v);
    if (rc == 0)
        rc = verify_readings(&v);
    if (rc == 0)
        rc = verify_alerts(&v);
    if (rc == 0)
        rc = out->finding_count > 0 ? 1 : 0;
out:
    for (size_t i = 0; i < v.unit_count; i++)
        free(v.units[i].purged);
    free(v.units);
    free(v.alarms);
    for (size_t i = 0; i < v.ship_count; i++)
        free(v.ships[i].assignments);
    free(v.ships);
    audit_hasher_free(v.h);
    if (v.db != NULL)
        sqlite3_close(v.db);
    return rc;
}
