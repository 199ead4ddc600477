/* JSON config accessors whose errors name the JSON path and say what was expected and what was
 * found (DESIGN §8, STYLE §5). Pure: no I/O, no state, any thread. */
#include "cfgjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DURATION_EXAMPLES "a duration such as \"30s\", \"10m\" or \"1h30m\""

/* How much of a value found in the file is quoted back in a message: enough to recognise it,
 * short enough that the expectation still fits in cfg_error.msg. */
#define QUOTE_MAX_BYTES 40

int cfg_fail(struct cfg_error *err, const char *path, const char *fmt, ...)
{
    if (err == NULL)
        return -EINVAL;
    snprintf(err->path, sizeof(err->path), "%s", path != NULL ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    return -EINVAL;
}

const char *cfg_path_key(char *buf, size_t cap, const char *base, const char *key)
{
    if (cap == 0)
        return buf;
    if (base == NULL || base[0] == '\0')
        snprintf(buf, cap, "%s", key);
    else
        snprintf(buf, cap, "%s.%s", base, key);
    return buf;
}

const char *cfg_path_index(char *buf, size_t cap, const char *base, size_t index)
{
    if (cap == 0)
        return buf;
    snprintf(buf, cap, "%s[%zu]", base != NULL ? base : "", index);
    return buf;
}

/* Unit table for durations, largest first: groups must come in this order, each at most once,
 * so "1h30m" reads as people expect and "30m1h" or "5s5s" (likely typos) are refused. */
static const struct {
    const char *name;
    int64_t ms;
} duration_units[] = {
    {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1},
};
#define DURATION_UNIT_COUNT (sizeof(duration_units) / sizeof(duration_units[0]))

int cfg_parse_duration(const char *text, int64_t *ms_out)
{
    if (text == NULL || text[0] == '\0')
        return -EINVAL;

    int64_t total_ms = 0;
    size_t next_unit = 0; /* index of the largest unit still allowed */
    const char *p = text;
    while (*p != '\0') {
        /* An integer: digits only, so "-5s", "+5s", " 5s" and "1.5h" are all refused. */
        if (*p < '0' || *p > '9')
            return -EINVAL;
        int64_t count = 0;
        while (*p >= '0' && *p <= '9') {
            int digit = *p - '0';
            if (count > (INT64_MAX - digit) / 10)
                return -EINVAL;
            count = count * 10 + digit;
            p++;
        }
        /* The unit: the letters up to the next digit or the end. */
        const char *unit = p;
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            p++;
        size_t unit_len = (size_t)(p - unit);
        if (unit_len == 0)
            return -EINVAL;
        size_t u = 0;
        while (u < DURATION_UNIT_COUNT && (strlen(duration_units[u].name) != unit_len ||
                                           strncmp(duration_units[u].name, unit, unit_len) != 0))
            u++;
        if (u == DURATION_UNIT_COUNT || u < next_unit)
            return -EINVAL;
        next_unit = u + 1;
        int64_t unit_ms = duration_units[u].ms;
        if (count > INT64_MAX / unit_ms)
            return -EINVAL;
        int64_t group_ms = count * unit_ms;
        if (total_ms > INT64_MAX - group_ms)
            return -EINVAL;
        total_ms += group_ms;
    }
    *ms_out = total_ms;
    return 0;
}

/* Writes ms back in the syntax cfg_parse_duration reads ("1h30m", "500ms", "0s"), for messages
 * that state a range. */
static const char *format_duration(char *buf, size_t cap, int64_t ms)
{
    if (ms < 0) {
        snprintf(buf, cap, "%" PRId64 "ms", ms);
        return buf;
    }
    if (ms == 0) {
        snprintf(buf, cap, "0s");
        return buf;
    }
    size_t used = 0;
    buf[0] = '\0';
    for (size_t u = 0; u < DURATION_UNIT_COUNT && ms > 0; u++) {
        int64_t count = ms / duration_units[u].ms;
        if (count == 0)
            continue;
        ms -= count * duration_units[u].ms;
        int n = snprintf(buf + used, cap - used, "%" PRId64 "%s", count, duration_units[u].name);
        if (n < 0 || (size_t)n >= cap - used)
            break;
        used += (size_t)n;
    }
    return buf;
}

/* Copies up to QUOTE_MAX_BYTES of s for quoting in a message: control characters become '?'
 * (the message goes to a log line) and a UTF-8 sequence is not cut in half. */
static const char *quote_text(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    size_t limit = cap - 4 < QUOTE_MAX_BYTES ? cap - 4 : QUOTE_MAX_BYTES;
    while (s[n] != '\0' && n < limit) {
        unsigned char c = (unsigned char)s[n];
        buf[n] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        n++;
    }
    bool cut = s[n] != '\0';
    if (cut) {
        /* Back off to the start of a UTF-8 sequence if the cut fell inside one. */
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* What a JSON value is, for "expected X, got Y" messages. */
static const char *describe(char *buf, size_t cap, const cJSON *item)
{
    char quoted[QUOTE_MAX_BYTES + 4];
    if (cJSON_IsString(item) && item->valuestring != NULL)
        snprintf(buf, cap, "\"%s\"", quote_text(quoted, sizeof(quoted), item->valuestring));
    else if (cJSON_IsNumber(item))
        snprintf(buf, cap, "%.15g", item->valuedouble);
    else if (cJSON_IsTrue(item))
        snprintf(buf, cap, "true");
    else if (cJSON_IsFalse(item))
        snprintf(buf, cap, "false");
    else if (cJSON_IsNull(item))
        snprintf(buf, cap, "null");
    else if (cJSON_IsArray(item))
        snprintf(buf, cap, "an array");
    else if (cJSON_IsObject(item))
        snprintf(buf, cap, "an object");
    else
        snprintf(buf, cap, "an invalid value");
    return buf;
}

int cfg_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                   struct cfg_error *err)
{
    char found[QUOTE_MAX_BYTES + 8];
    if (!cJSON_IsObject(obj))
        return cfg_fail(err, path, "expected an object, got %s",
                        describe(found, sizeof(found), obj));

    for (const cJSON *child = obj->child; child != NULL; child = child->next) {
        const char *key = child->string != NULL ? child->string : "";
        size_t i = 0;
        while (allowed[i] != NULL && strcmp(allowed[i], key) != 0)
            i++;
        if (allowed[i] == NULL) {
            char known[440];
            size_t used = 0;
            known[0] = '\0';
            for (size_t k = 0; allowed[k] != NULL; k++) {
                int n = snprintf(known + used, sizeof(known) - used, "%s%s", k > 0 ? ", " : "",
                                 allowed[k]);
                if (n < 0 || (size_t)n >= sizeof(known) - used)
                    break;
                used += (size_t)n;
            }
            char quoted[QUOTE_MAX_BYTES + 4];
            return cfg_fail(err, path, "unknown key \"%s\"; known keys: %s",
                            quote_text(quoted, sizeof(quoted), key), known);
        }
        /* cJSON keeps duplicate members and lookups return the first: a second "limit" would be
         * silently ignored, so it is refused. Every earlier sibling is an allowed key, so this
         * loop is bounded by the size of the allowed list, not by the input. */
        for (const cJSON *prev = obj->child; prev != child; prev = prev->next) {
            if (prev->string != NULL && strcmp(prev->string, key) == 0)
                return cfg_fail(err, path, "key \"%s\" appears more than once", key);
        }
    }
    return 0;
}

/* Finds key in obj. Returns 0 with *item_out (NULL when absent and not required) or -EINVAL. */
static int lookup(const cJSON *obj, const char *path, const char *key, bool required,
                  const cJSON **item_out, struct cfg_error *err)
{
    char found[QUOTE_MAX_BYTES + 8];
    *item_out = NULL;
    if (!cJSON_IsObject(obj))
        return cfg_fail(err, path, "expected an object, got %s",
                        describe(found, sizeof(found), obj));
    /* Case-sensitive: cJSON_GetObjectItem() would let "Limit" stand for "limit". */
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (item == NULL && required) {
        char member_path[sizeof(err->path)];
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "missing (required)");
    }
    *item_out = item;
    return 0;
}

int cfg_get_string(const cJSON *obj, const char *path, const char *key, bool required,
                   const char *def, char *buf, size_t cap, struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    cfg_path_key(member_path, sizeof(member_path), path, key);

    const char *value = def != NULL ? def : "";
    if (item != NULL) {
        if (!cJSON_IsString(item) || item->valuestring == NULL)
            return cfg_fail(err, member_path, "expected a string, got %s",
                            describe(found, sizeof(found), item));
        value = item->valuestring;
    }
    size_t len = strlen(value);
    if (cap == 0 || len >= cap)
        return cfg_fail(err, member_path, "expected at most %zu characters, got %zu",
                        cap > 0 ? cap - 1 : 0, len);
    memcpy(buf, value, len + 1);
    return 0;
}

/* "a number between 0 and 100", "a number >= 0", "a number": the range part of a message. */
static const char *describe_range(char *buf, size_t cap, const char *what, double min, double max)
{
    bool has_min = min > -DBL_MAX;
    bool has_max = max < DBL_MAX;
    if (has_min && has_max)
        snprintf(buf, cap, "%s between %.15g and %.15g", what, min, max);
    else if (has_min)
        snprintf(buf, cap, "%s >= %.15g", what, min);
    else if (has_max)
        snprintf(buf, cap, "%s <= %.15g", what, max);
    else
        snprintf(buf, cap, "%s", what);
    return buf;
}

int cfg_get_number(const cJSON *obj, const char *path, const char *key, bool required, double def,
                   double min, double max, double *out, struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    char expected[128];
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    if (item == NULL) {
        *out = def;
        return 0;
    }
    cfg_path_key(member_path, sizeof(member_path), path, key);
    describe_range(expected, sizeof(expected), "a number", min, max);
    /* cJSON turns 1e999 into infinity; no limit or reading is meaningfully infinite. */
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble < min ||
        item->valuedouble > max)
        return cfg_fail(err, member_path, "expected %s, got %s", expected,
                        describe(found, sizeof(found), item));
    *out = item->valuedouble;
    return 0;
}

int cfg_get_int(const cJSON *obj, const char *path, const char *key, bool required, long long def,
                long long min, long long max, long long *out, struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    char expected[128];
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    if (item == NULL) {
        *out = def;
        return 0;
    }
    cfg_path_key(member_path, sizeof(member_path), path, key);
    if (min > LLONG_MIN && max < LLONG_MAX)
        snprintf(expected, sizeof(expected), "an integer between %lld and %lld", min, max);
    else if (min > LLONG_MIN)
        snprintf(expected, sizeof(expected), "an integer >= %lld", min);
    else if (max < LLONG_MAX)
        snprintf(expected, sizeof(expected), "an integer <= %lld", max);
    else
        snprintf(expected, sizeof(expected), "an integer");

    /* Range-check as a double before converting: converting a double outside long long's
     * range is undefined behaviour. 2^63 is exact in a double; LLONG_MAX is not. */
    bool ok = cJSON_IsNumber(item) && isfinite(item->valuedouble) &&
              item->valuedouble == floor(item->valuedouble) &&
              item->valuedouble >= -9223372036854775808.0 &&
              item->valuedouble < 9223372036854775808.0;
    long long n = ok ? (long long)item->valuedouble : 0;
    if (!ok || n < min || n > max)
        return cfg_fail(err, member_path, "expected %s, got %s", expected,
                        describe(found, sizeof(found), item));
    *out = n;
    return 0;
}

int cfg_get_bool(const cJSON *obj, const char *path, const char *key, bool required, bool def,
                 bool *out, struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    if (item == NULL) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(item))
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "expected true or false, got %s", describe(found, sizeof(found), item));
    *out = cJSON_IsTrue(item);
    return 0;
}

int cfg_get_duration(const cJSON *obj, const char *path, const char *key, bool required,
                     int64_t def_ms, int64_t min_ms, int64_t max_ms, int64_t *out_ms,
                     struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    if (item == NULL) {
        *out_ms = def_ms;
        return 0;
    }
    cfg_path_key(member_path, sizeof(member_path), path, key);
    int64_t ms;
    if (!cJSON_IsString(item) || cfg_parse_duration(item->valuestring, &ms) < 0)
        return cfg_fail(err, member_path, "expected " DURATION_EXAMPLES ", got %s",
                        describe(found, sizeof(found), item));
    if (ms < min_ms || ms > max_ms) {
        char min_text[40], max_text[40];
        format_duration(min_text, sizeof(min_text), min_ms);
        format_duration(max_text, sizeof(max_text), max_ms);
        if (max_ms == INT64_MAX)
            return cfg_fail(err, member_path, "expected a duration of at least %s, got %s",
                            min_text, describe(found, sizeof(found), item));
        return cfg_fail(err, member_path, "expected a duration between %s and %s, got %s", min_text,
                        max_text, describe(found, sizeof(found), item));
    }
    *out_ms = ms;
    return 0;
}

int cfg_get_array(const cJSON *obj, const char *path, const char *key, bool required,
                  const cJSON **out, struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    *out = NULL;
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    if (item != NULL && !cJSON_IsArray(item))
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "expected an array, got %s", describe(found, sizeof(found), item));
    *out = item;
    return 0;
}

int cfg_get_object(const cJSON *obj, const char *path, const char *key, bool required,
                   const cJSON **out, struct cfg_error *err)
{
    const cJSON *item;
    char member_path[sizeof(err->path)];
    char found[QUOTE_MAX_BYTES + 8];
    *out = NULL;
    int rc = lookup(obj, path, key, required, &item, err);
    if (rc < 0)
        return rc;
    if (item != NULL && !cJSON_IsObject(item))
        return cfg_fail(err, cfg_path_key(member_path, sizeof(member_path), path, key),
                        "expected an object, got %s", describe(found, sizeof(found), item));
    *out = item;
    return 0;
}

bool cfg_is_identifier(const char *s, size_t cap)
{
    if (s == NULL || s[0] == '\0')
        return false;
    /* A leading dot would make a hidden file, or "." and "..", where ids become file names. */
    if (s[0] == '.')
        return false;
    size_t len = 0;
    for (const char *p = s; *p != '\0'; p++, len++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok || len + 1 >= cap)
            return false;
    }
    return true;
}
