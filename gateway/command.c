/* Commands: parse into a local struct, check everything, copy out only when all of it passed
 * (nothing half-applied). Refusals name the field and what was expected, in the manner of the
 * config parser (DESIGN §8, STYLE §5), but carry a code from a fixed set so that programs can
 * tell them apart (docs/mqtt.md "Errors"). */
#include "command.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgjson.h"
#include "config.h"

_Static_assert(COMMAND_SHIPMENT_MAX == CONFIG_ID_MAX, "a shipment id is as long as the config's");
_Static_assert(sizeof(((struct command *)0)->description) ==
                   sizeof(((struct config_shipment *)0)->description),
               "a description is as long as the config's");
_Static_assert(sizeof(((struct command *)0)->kind) == sizeof(((struct config_shipment *)0)->kind),
               "a kind is as long as the config's");

/* How much of a value from outside is quoted back in a message. */
#define QUOTE_MAX 40

#define DURATION_EXPECTED "a duration from 1m to 24h such as \"2h\""
#define INSTANCE_EXPECTED                                                                          \
    "the alarm instance: \"alert\" (the id of an alert) or \"shipment\", \"alarm\" and "           \
    "\"sensor\""

/* Members every verb takes besides its own; find_verb() checks "verb". */
static const char *const common_keys[] = {"verb", "id", "user", "comment", NULL};
static const char *const instance_keys[] = {"alert", "shipment", "alarm", "sensor", NULL};
static const char *const shelve_keys[] = {"alert", "shipment", "alarm", "sensor", "for", NULL};
static const char *const start_keys[] = {"shipment",    "profile", "kind",
                                         "description", "sensors", NULL};
static const char *const end_keys[] = {"shipment", NULL};
static const char *const assign_keys[] = {"shipment", "sensors", NULL};
static const char *const no_keys[] = {NULL};

static const struct {
    const char *name;
    const char *const *keys; /* the verb's own members, NULL-terminated */
    bool needs_user;
} verbs[COMMAND_VERB_COUNT] = {
    [COMMAND_ACK] = {"ack", instance_keys, true},
    [COMMAND_SHELVE] = {"shelve", shelve_keys, true},
    [COMMAND_UNSHELVE] = {"unshelve", instance_keys, true},
    [COMMAND_SHIPMENT_START] = {"shipment-start", start_keys, true},
    [COMMAND_SHIPMENT_END] = {"shipment-end", end_keys, true},
    [COMMAND_ASSIGN] = {"assign", assign_keys, true},
    [COMMAND_RELOAD] = {"reload", no_keys, true},
    [COMMAND_STATUS] = {"status", no_keys, false},
};

const char *command_verb_name(enum command_verb verb)
{
    return (unsigned)verb < COMMAND_VERB_COUNT ? verbs[verb].name : NULL;
}

static int fail(struct command_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct command_error *err, const char *code, const char *fmt, ...)
{
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* Copies up to QUOTE_MAX bytes of s (len bytes) for a message: anything but printable ASCII
 * becomes '?', so that a message is always printable ASCII whatever was sent. */
static const char *quote(char *buf, size_t cap, const char *s, size_t len)
{
    size_t n = 0;
    while (n < len && n < QUOTE_MAX && n + 4 < cap) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = (c < 0x20 || c > 0x7e) ? '?' : (char)c;
        n++;
    }
    if (n < len) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* What a JSON value is, for "expected X, got Y": a string quoted, a number, true, false or
 * null as cJSON writes it, "an array", "an object". */
static const char *describe(char *buf, size_t cap, const cJSON *item)
{
    char quoted[QUOTE_MAX + 4];
    if (cJSON_IsString(item) && item->valuestring != NULL) {
        quote(quoted, sizeof(quoted), item->valuestring, strlen(item->valuestring));
        snprintf(buf, cap, "\"%s\"", quoted);
    } else if (cJSON_IsArray(item) || cJSON_IsObject(item)) {
        snprintf(buf, cap, "%s", cJSON_IsArray(item) ? "an array" : "an object");
    } else {
        char *text = cJSON_PrintUnformatted(item);
        snprintf(buf, cap, "%s",
                 text != NULL ? quote(quoted, sizeof(quoted), text, strlen(text)) : "a value");
        free(text);
    }
    return buf;
}

static int fail_missing(struct command_error *err, const char *field, const char *expected)
{
    return fail(err, COMMAND_ERR_MISSING_FIELD, "\"%s\": missing: expected %s", field, expected);
}

static int fail_bad(struct command_error *err, const char *field, const char *expected,
                    const cJSON *got)
{
    char found[QUOTE_MAX + 8];
    return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": expected %s, got %s", field, expected,
                describe(found, sizeof(found), got));
}

/* How the text of people (names, comments) is checked: UTF-8, no control characters (C0, DEL,
 * C1: a comment goes into logs and the audit trail as one line). Returns the number of
 * characters, or -1 with why filled. */
static long text_chars(const char *s, char *why, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    long chars = 0;
    while (*p != '\0') {
        unsigned char c = p[0];
        unsigned long cp;
        size_t n;
        if (c < 0x80) {
            cp = c;
            n = 1;
        } else if (c >= 0xC2 && c <= 0xDF) {
            cp = c & 0x1Fu;
            n = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            cp = c & 0x0Fu;
            n = 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            cp = c & 0x07u;
            n = 4;
        } else {
            snprintf(why, cap, "text that is not valid UTF-8");
            return -1;
        }
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                snprintf(why, cap, "text that is not valid UTF-8");
                return -1;
            }
            cp = cp << 6 | (p[i] & 0x3Fu);
        }
        /* Overlong forms, UTF-16 surrogates and beyond U+10FFFF are not UTF-8 (RFC 3629 §3). */
        if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
            (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
            snprintf(why, cap, "text that is not valid UTF-8");
            return -1;
        }
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
            snprintf(why, cap, "a control character (U+%04lX) at character %ld", cp, chars + 1);
            return -1;
        }
        p += n;
        chars++;
    }
    return chars;
}

/* Looks key up; *item_out NULL when absent. Case-sensitive: "User" is not "user". */
static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A string member, or a refusal naming what was expected. *s_out NULL when absent and not
 * required. */
static int get_string(const cJSON *obj, const char *key, bool required, const char *expected,
                      const char **s_out, struct command_error *err)
{
    const cJSON *item = member(obj, key);
    *s_out = NULL;
    if (item == NULL)
        return required ? fail_missing(err, key, expected) : 0;
    if (!cJSON_IsString(item) || item->valuestring == NULL)
        return fail_bad(err, key, expected, item);
    *s_out = item->valuestring;
    return 0;
}

enum text_kind {
    TEXT_CHARS, /* UTF-8 for people, counted in characters */
    TEXT_BYTES, /* UTF-8 for people, counted in bytes (the config's descriptions) */
    TEXT_ASCII, /* printable ASCII (request ids) */
};

/* Reads a text member into buf (cap bytes): at least min and at most max characters (or bytes,
 * by kind). Absent: "" (or missing_field when required). */
static int get_text(const cJSON *obj, const char *key, bool required, enum text_kind kind,
                    size_t min, size_t max, const char *expected, char *buf, size_t cap,
                    struct command_error *err)
{
    const char *s;
    int rc = get_string(obj, key, required, expected, &s, err);
    if (rc < 0 || s == NULL) {
        if (rc == 0)
            buf[0] = '\0';
        return rc;
    }
    char why[96];
    size_t bytes = strlen(s);
    long chars = text_chars(s, why, sizeof(why));
    if (chars < 0)
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": expected %s, got %s", key, expected, why);
    size_t count = kind == TEXT_CHARS ? (size_t)chars : bytes;
    if (kind == TEXT_ASCII && (size_t)chars != bytes)
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": expected %s, got non-ASCII text", key,
                    expected);
    if (count > max)
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": expected %s, got %zu %s", key, expected,
                    count, kind == TEXT_CHARS ? "characters" : "bytes");
    bool blank = true;
    for (const char *p = s; *p != '\0' && blank; p++)
        blank = *p == ' ';
    if (count < min || (min > 0 && blank))
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": expected %s, got %s", key, expected,
                    count == 0 ? "\"\"" : "only spaces");
    if (bytes >= cap) /* cannot happen with the caps in command.h; never trust a length */
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": expected %s, got %zu bytes", key, expected,
                    bytes);
    memcpy(buf, s, bytes + 1);
    return 0;
}

static const char *ident_expected(char *buf, size_t cap, const char *what, size_t id_cap)
{
    snprintf(buf, cap, "%s: 1 to %zu of A-Z a-z 0-9 _ . - (not starting with .)", what, id_cap - 1);
    return buf;
}

/* An identifier member (cfg_is_identifier) into buf of cap bytes. */
static int get_ident(const cJSON *obj, const char *key, bool required, const char *what, char *buf,
                     size_t cap, struct command_error *err)
{
    char expected[128];
    const char *s;
    ident_expected(expected, sizeof(expected), what, cap);
    int rc = get_string(obj, key, required, expected, &s, err);
    if (rc < 0 || s == NULL)
        return rc;
    if (!cfg_is_identifier(s, cap))
        return fail_bad(err, key, expected, member(obj, key));
    memcpy(buf, s, strlen(s) + 1);
    return 0;
}

/* An alert id: a UUID (RFC 4122 text, 8-4-4-4-12 hex digits), kept in lower case as
 * messages_uuid() writes it, so "9B2F..." finds the alert too. */
static int get_alert_id(const cJSON *obj, char *buf, struct command_error *err)
{
    static const char expected[] = "the id of an alert, a UUID such as "
                                   "\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\"";
    const char *s;
    int rc = get_string(obj, "alert", true, expected, &s, err);
    if (rc < 0)
        return rc;
    bool ok = strlen(s) == COMMAND_ALERT_ID_MAX - 1;
    for (size_t i = 0; ok && i < COMMAND_ALERT_ID_MAX - 1; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        ok = dash ? s[i] == '-' : isxdigit((unsigned char)s[i]) != 0;
    }
    if (!ok)
        return fail_bad(err, "alert", expected, member(obj, "alert"));
    for (size_t i = 0; i < COMMAND_ALERT_ID_MAX; i++)
        buf[i] = (char)tolower((unsigned char)s[i]);
    return 0;
}

/* The alarm instance of ack, shelve and unshelve. */
static int get_instance(const cJSON *obj, struct command *c, struct command_error *err)
{
    bool by_alert = member(obj, "alert") != NULL;
    bool by_key = member(obj, "shipment") != NULL || member(obj, "alarm") != NULL ||
                  member(obj, "sensor") != NULL;
    if (by_alert && by_key)
        return fail(err, COMMAND_ERR_BAD_FIELD,
                    "\"alert\": give either \"alert\" or \"shipment\", \"alarm\" and "
                    "\"sensor\", not both");
    if (!by_alert && !by_key)
        return fail_missing(err, "alert", INSTANCE_EXPECTED);
    if (by_alert)
        return get_alert_id(obj, c->alert_id, err);
    int rc =
        get_ident(obj, "shipment", true, "a shipment id", c->shipment, sizeof(c->shipment), err);
    if (rc == 0)
        rc = get_ident(obj, "alarm", true, "the id of an alarm of the shipment's profile", c->alarm,
                       sizeof(c->alarm), err);
    if (rc == 0)
        rc = get_ident(obj, "sensor", true, "a sensor id", c->sensor, sizeof(c->sensor), err);
    return rc;
}

static int get_for(const cJSON *obj, int64_t *ms_out, struct command_error *err)
{
    const char *s;
    int64_t ms;
    int rc = get_string(obj, "for", true, DURATION_EXPECTED, &s, err);
    if (rc < 0)
        return rc;
    if (cfg_parse_duration(s, &ms) < 0 || ms < COMMAND_SHELVE_MIN_MS || ms > COMMAND_SHELVE_MAX_MS)
        return fail_bad(err, "for", DURATION_EXPECTED, member(obj, "for"));
    *ms_out = ms;
    return 0;
}

/* "sensors": distinct sensor ids, at least min, at most COMMAND_SENSORS_MAX. */
static int get_sensors(const cJSON *obj, size_t min, struct command *c, struct command_error *err)
{
    char expected[160], field[32];
    snprintf(expected, sizeof(expected), "an array of %zu to %d distinct sensor ids", min,
             COMMAND_SENSORS_MAX);
    const cJSON *arr = member(obj, "sensors");
    if (arr == NULL)
        return min > 0 ? fail_missing(err, "sensors", expected) : 0;
    if (!cJSON_IsArray(arr))
        return fail_bad(err, "sensors", expected, arr);
    size_t n = 0;
    /* Counted as it goes, so a huge array costs no more than COMMAND_SENSORS_MAX + 1 steps. */
    for (const cJSON *item = arr->child; item != NULL; item = item->next, n++) {
        if (n == COMMAND_SENSORS_MAX)
            return fail(err, COMMAND_ERR_BAD_FIELD, "\"sensors\": expected %s, got more than %d",
                        expected, COMMAND_SENSORS_MAX);
        snprintf(field, sizeof(field), "sensors[%zu]", n);
        char id_expected[128];
        ident_expected(id_expected, sizeof(id_expected), "a sensor id", READING_SENSOR_ID_MAX);
        if (!cJSON_IsString(item) || item->valuestring == NULL ||
            !cfg_is_identifier(item->valuestring, READING_SENSOR_ID_MAX))
            return fail_bad(err, field, id_expected, item);
        for (size_t k = 0; k < n; k++) {
            if (strcmp(c->sensors[k], item->valuestring) == 0)
                return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": \"%s\" is listed twice", field,
                            item->valuestring);
        }
        memcpy(c->sensors[n], item->valuestring, strlen(item->valuestring) + 1);
    }
    if (n < min)
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"sensors\": expected %s, got an empty array",
                    expected);
    c->sensor_count = n;
    return 0;
}

static bool in_list(const char *const *list, const char *key)
{
    for (size_t i = 0; list[i] != NULL; i++) {
        if (strcmp(list[i], key) == 0)
            return true;
    }
    return false;
}

/* Refuses members the verb does not take (a misspelt "coment" must not silently drop the
 * comment) and members given twice (cJSON keeps both and lookups see the first). */
static int check_keys(const cJSON *obj, enum command_verb verb, struct command_error *err)
{
    for (const cJSON *child = obj->child; child != NULL; child = child->next) {
        const char *key = child->string != NULL ? child->string : "";
        if (!in_list(common_keys, key) && !in_list(verbs[verb].keys, key)) {
            char quoted[QUOTE_MAX + 4], known[200];
            size_t used = 0;
            known[0] = '\0';
            for (size_t pass = 0; pass < 2; pass++) {
                const char *const *list = pass == 0 ? common_keys + 1 : verbs[verb].keys;
                for (size_t i = 0; list[i] != NULL; i++) {
                    int n = snprintf(known + used, sizeof(known) - used, "%s%s",
                                     used > 0 ? ", " : "", list[i]);
                    if (n < 0 || (size_t)n >= sizeof(known) - used)
                        break;
                    used += (size_t)n;
                }
            }
            return fail(err, COMMAND_ERR_UNKNOWN_FIELD, "unknown field \"%s\"; %s takes: %s",
                        quote(quoted, sizeof(quoted), key, strlen(key)), verbs[verb].name, known);
        }
        /* Every earlier sibling is a known key, so this is bounded by the known keys. */
        for (const cJSON *prev = obj->child; prev != child; prev = prev->next) {
            if (strcmp(prev->string, key) == 0)
                return fail(err, COMMAND_ERR_BAD_FIELD, "\"%s\": given more than once", key);
        }
    }
    return 0;
}

/* The verb's own fields. */
static int parse_fields(const cJSON *obj, struct command *c, struct command_error *err)
{
    char expected[96];
    int rc = 0;
    snprintf(expected, sizeof(expected), "who does it: 1 to %d characters", COMMAND_USER_CHARS);
    rc = get_text(obj, "user", verbs[c->verb].needs_user, TEXT_CHARS, 1, COMMAND_USER_CHARS,
                  expected, c->user, sizeof(c->user), err);
    if (rc < 0)
        return rc;
    bool reason = c->verb == COMMAND_SHELVE;
    snprintf(expected, sizeof(expected), "%s: %s%d characters", reason ? "the reason" : "a comment",
             reason ? "1 to " : "at most ", COMMAND_COMMENT_CHARS);
    rc = get_text(obj, "comment", reason, TEXT_CHARS, reason ? 1 : 0, COMMAND_COMMENT_CHARS,
                  expected, c->comment, sizeof(c->comment), err);
    if (rc < 0)
        return rc;

    switch (c->verb) {
    case COMMAND_SHELVE:
        rc = get_instance(obj, c, err);
        if (rc == 0)
            rc = get_for(obj, &c->for_ms, err);
        break;
    case COMMAND_ACK:
    case COMMAND_UNSHELVE:
        rc = get_instance(obj, c, err);
        break;
    case COMMAND_SHIPMENT_START: {
        const char *kind = NULL;
        rc = get_ident(obj, "shipment", true, "a shipment id", c->shipment, sizeof(c->shipment),
                       err);
        if (rc == 0)
            rc = get_ident(obj, "profile", true, "a profile or preset name", c->profile,
                           sizeof(c->profile), err);
        if (rc == 0)
            rc = get_string(obj, "kind", false, "storage or transit", &kind, err);
        if (rc == 0 && kind != NULL && strcmp(kind, "storage") != 0 && strcmp(kind, "transit") != 0)
            rc = fail_bad(err, "kind", "storage or transit", member(obj, "kind"));
        if (rc == 0)
            snprintf(c->kind, sizeof(c->kind), "%s", kind != NULL ? kind : "storage");
        snprintf(expected, sizeof(expected), "at most %d bytes of text",
                 COMMAND_DESCRIPTION_MAX - 1);
        if (rc == 0)
            rc = get_text(obj, "description", false, TEXT_BYTES, 0, COMMAND_DESCRIPTION_MAX - 1,
                          expected, c->description, sizeof(c->description), err);
        if (rc == 0)
            rc = get_sensors(obj, 0, c, err);
        break;
    }
    case COMMAND_SHIPMENT_END:
        rc = get_ident(obj, "shipment", true, "a shipment id", c->shipment, sizeof(c->shipment),
                       err);
        break;
    case COMMAND_ASSIGN:
        rc = get_ident(obj, "shipment", true, "a shipment id", c->shipment, sizeof(c->shipment),
                       err);
        if (rc == 0)
            rc = get_sensors(obj, 1, c, err);
        break;
    case COMMAND_RELOAD:
    case COMMAND_STATUS:
    case COMMAND_VERB_COUNT:
        break;
    }
    return rc;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Before cJSON sees it: cJSON turns "\u0000" into a NUL that silently cuts the string short,
 * and a raw NUL ends the text early; both are refused here. Backslashes occur only inside
 * strings in JSON, so skipping the character after each one walks the escapes correctly. */
static int check_nul(const char *payload, size_t len, struct command_error *err)
{
    for (size_t i = 0; i < len; i++) {
        if (payload[i] == '\0')
            return fail(err, COMMAND_ERR_BAD_JSON, "a NUL byte at byte %zu", i + 1);
        if (payload[i] != '\\')
            continue;
        if (i + 5 < len && payload[i + 1] == 'u' && memcmp(payload + i + 2, "0000", 4) == 0)
            return fail(err, COMMAND_ERR_BAD_JSON,
                        "a string holds \\u0000 at byte %zu: NUL characters are not taken", i + 1);
        i++;
    }
    return 0;
}

/* Finds the verb: the topic's, or the object's "verb". */
static int find_verb(const char *topic_verb, const cJSON *root, enum command_verb *verb_out,
                     struct command_error *err)
{
    char quoted[QUOTE_MAX + 4], known[160];
    size_t used = 0;
    for (size_t v = 0; v < COMMAND_VERB_COUNT; v++) {
        int n = snprintf(known + used, sizeof(known) - used, "%s%s", v ? ", " : "", verbs[v].name);
        if (n > 0 && (size_t)n < sizeof(known) - used)
            used += (size_t)n;
    }
    const cJSON *item = member(root, "verb");
    const char *name = topic_verb;
    if (name == NULL) {
        if (item == NULL)
            return fail(err, COMMAND_ERR_MISSING_FIELD, "\"verb\": missing: expected one of %s",
                        known);
        if (!cJSON_IsString(item) || item->valuestring == NULL) {
            char expected[200];
            snprintf(expected, sizeof(expected), "one of %s", known);
            return fail_bad(err, "verb", expected, item);
        }
        name = item->valuestring;
    }
    size_t v = 0;
    while (v < COMMAND_VERB_COUNT && strcmp(verbs[v].name, name) != 0)
        v++;
    if (v == COMMAND_VERB_COUNT)
        return fail(err, COMMAND_ERR_UNKNOWN_VERB, "unknown verb \"%s\"; known verbs: %s",
                    quote(quoted, sizeof(quoted), name, strlen(name)), known);
    err->verb = verbs[v].name;
    if (topic_verb != NULL && item != NULL &&
        (!cJSON_IsString(item) || item->valuestring == NULL ||
         strcmp(item->valuestring, topic_verb) != 0)) {
        char found[QUOTE_MAX + 8];
        return fail(err, COMMAND_ERR_BAD_FIELD, "\"verb\": expected \"%s\" as in the topic, got %s",
                    topic_verb, describe(found, sizeof(found), item));
    }
    *verb_out = (enum command_verb)v;
    return 0;
}

int command_parse(const char *verb, const char *payload, size_t len, struct command *cmd_out,
                  struct command_error *err)
{
    struct command_error local_err;
    struct command *c = NULL;
    cJSON *root = NULL;
    int rc;

    if (err == NULL)
        err = &local_err;
    memset(err, 0, sizeof(*err));
    if (cmd_out == NULL || (payload == NULL && len > 0)) {
        rc = fail(err, COMMAND_ERR_BAD_JSON, "no command");
        goto out;
    }
    if (len > COMMAND_PAYLOAD_MAX) {
        rc = fail(err, COMMAND_ERR_TOO_LARGE, "the command has %zu bytes; at most %d are taken",
                  len, COMMAND_PAYLOAD_MAX);
        goto out;
    }
    rc = check_nul(payload, len, err);
    if (rc < 0)
        goto out;
    size_t start = 0;
    while (start < len && is_space(payload[start]))
        start++;
    if (start == len && verb != NULL) {
        root = cJSON_CreateObject(); /* on MQTT an empty payload stands for {} */
    } else if (start == len) {
        rc = fail(err, COMMAND_ERR_BAD_JSON, "empty: expected a JSON object");
        goto out;
    } else {
        const char *end = NULL;
        root = cJSON_ParseWithLengthOpts(payload, len, &end, false);
        size_t at = end != NULL && end >= payload ? (size_t)(end - payload) : len;
        if (root == NULL) {
            rc = fail(err, COMMAND_ERR_BAD_JSON, "not JSON: an error near byte %zu",
                      at < len ? at + 1 : len);
            goto out;
        }
        while (at < len && is_space(payload[at]))
            at++;
        if (at < len) {
            rc = fail(err, COMMAND_ERR_BAD_JSON, "text after the JSON value at byte %zu", at + 1);
            goto out;
        }
    }
    if (root == NULL) {
        rc = fail(err, COMMAND_ERR_BAD_JSON, "out of memory");
        goto out;
    }
    if (!cJSON_IsObject(root)) {
        char found[QUOTE_MAX + 8];
        rc = fail(err, COMMAND_ERR_BAD_JSON, "expected a JSON object, got %s",
                  describe(found, sizeof(found), root));
        goto out;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = fail(err, COMMAND_ERR_BAD_JSON, "out of memory");
        goto out;
    }

    /* The request id first, so that even a refusal of the verb can be matched to its request;
     * a bad id is reported once the verb is known. */
    char id_expected[96];
    struct command_error id_err;
    snprintf(id_expected, sizeof(id_expected), "a request id: 1 to %d printable ASCII characters",
             COMMAND_REQUEST_ID_MAX - 1);
    int id_rc = get_text(root, "id", false, TEXT_ASCII, 1, COMMAND_REQUEST_ID_MAX - 1, id_expected,
                         c->id, sizeof(c->id), &id_err);
    if (id_rc == 0)
        memcpy(err->id, c->id, sizeof(err->id));
    rc = find_verb(verb, root, &c->verb, err);
    if (rc < 0)
        goto out;
    if (id_rc < 0) {
        err->code = id_err.code;
        memcpy(err->message, id_err.message, sizeof(err->message));
        rc = id_rc;
        goto out;
    }
    rc = check_keys(root, c->verb, err);
    if (rc < 0)
        goto out;
    rc = parse_fields(root, c, err);
    if (rc < 0)
        goto out;
    memcpy(cmd_out, c, sizeof(*c)); /* padding too: the result compares with memcmp */
out:
    free(c);
    cJSON_Delete(root);
    return rc;
}

/* Prints compactly and frees. cJSON's Add* return NULL on allocation failure and leave the tree
 * consistent, so builders check once, through ok. */
static char *finish(cJSON *root, bool ok)
{
    char *text = ok && root != NULL ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
}

static bool add_text(cJSON *obj, const char *key, const char *value)
{
    return value[0] == '\0' || cJSON_AddStringToObject(obj, key, value) != NULL;
}

char *command_to_json(const struct command *c)
{
    const char *name = command_verb_name(c->verb);
    if (name == NULL)
        return NULL;
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL && cJSON_AddStringToObject(root, "verb", name) &&
              add_text(root, "id", c->id) && add_text(root, "user", c->user) &&
              add_text(root, "comment", c->comment) && add_text(root, "alert", c->alert_id) &&
              add_text(root, "shipment", c->shipment) && add_text(root, "alarm", c->alarm) &&
              add_text(root, "sensor", c->sensor);
    if (ok && c->verb == COMMAND_SHELVE) {
        /* Whole minutes when it is; otherwise seconds or ms: the form cfg_parse_duration
         * reads. */
        char dur[32];
        if (c->for_ms % 60000 == 0)
            snprintf(dur, sizeof(dur), "%lldm", (long long)(c->for_ms / 60000));
        else if (c->for_ms % 1000 == 0)
            snprintf(dur, sizeof(dur), "%llds", (long long)(c->for_ms / 1000));
        else
            snprintf(dur, sizeof(dur), "%lldms", (long long)c->for_ms);
        ok = cJSON_AddStringToObject(root, "for", dur) != NULL;
    }
    if (ok && c->verb == COMMAND_SHIPMENT_START)
        ok = add_text(root, "profile", c->profile) && add_text(root, "kind", c->kind) &&
             add_text(root, "description", c->description);
    if (ok && c->sensor_count > 0) {
        cJSON *arr = cJSON_AddArrayToObject(root, "sensors");
        ok = arr != NULL;
        for (size_t i = 0; ok && i < c->sensor_count && i < COMMAND_SENSORS_MAX; i++)
            ok = cJSON_AddItemToArray(arr, cJSON_CreateString(c->sensors[i]));
    }
    return finish(root, ok);
}

/* {"ok":...,"verb":...,"id":...}: the head every reply shares. */
static cJSON *reply_head(bool ok_value, const char *verb, const char *request_id)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL && cJSON_AddBoolToObject(root, "ok", ok_value) &&
              (verb == NULL || cJSON_AddStringToObject(root, "verb", verb)) &&
              (request_id == NULL || add_text(root, "id", request_id));
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

char *command_reply_ok(const struct command *c, const cJSON *result)
{
    cJSON *root = reply_head(true, command_verb_name(c->verb), c->id);
    bool ok = root != NULL;
    if (ok && result != NULL) {
        cJSON *copy = cJSON_Duplicate(result, true);
        ok = copy != NULL && cJSON_AddItemToObject(root, "result", copy);
        if (!ok)
            cJSON_Delete(copy);
    }
    return finish(root, ok);
}

char *command_reply_error(const char *verb, const char *request_id, const char *code,
                          const char *message)
{
    cJSON *root = reply_head(false, verb, request_id);
    bool ok = root != NULL &&
              cJSON_AddStringToObject(root, "error", code != NULL ? code : COMMAND_ERR_REFUSED) &&
              cJSON_AddStringToObject(root, "message", message != NULL ? message : "");
    return finish(root, ok);
}

char *command_reply_parse_error(const struct command_error *err)
{
    return command_reply_error(err->verb, err->id, err->code, err->message);
}
