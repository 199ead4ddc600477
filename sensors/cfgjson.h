/* Reading the JSON config with errors that name the JSON path and what was expected
 * (DESIGN §8). Shared by the gateway's config module and the adapters' open(). Pure: no I/O.
 * Any thread; nothing here keeps state. */
#ifndef COLDCHAIN_CFGJSON_H
#define COLDCHAIN_CFGJSON_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The first error found. path is a JSON path ("buses[0].devices[1].unit_id"), msg says what was
 * expected. The file name is added by whoever knows it. */
struct cfg_error {
    char path[192];
    char msg[512];
};

/* The size of a JSON path buffer, for callers building paths of their own. */
#define CFG_PATH_CAP sizeof(((struct cfg_error *)0)->path)

/* Fills err (if not NULL) and returns -EINVAL, so callers can `return cfg_fail(...)`. */
int cfg_fail(struct cfg_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes "<base>.<key>" (or "<key>" when base is empty) into buf. Returns buf. */
const char *cfg_path_key(char *buf, size_t cap, const char *base, const char *key);
/* Writes "<base>[<index>]" into buf. Returns buf. */
const char *cfg_path_index(char *buf, size_t cap, const char *base, size_t index);

/* Parses a duration: one or more <integer><unit> groups, units ms, s, m, h, d ("500ms", "30s",
 * "1h30m"). Returns 0 and *ms_out, or -EINVAL (empty, no unit, unknown unit, overflow). */
int cfg_parse_duration(const char *text, int64_t *ms_out);

/* Rejects any member of obj (an object) whose name is not in allowed (NULL-terminated):
 * a misspelt "dealy" must not silently become "no delay". */
int cfg_check_keys(const cJSON *obj, const char *path, const char *const *allowed,
                   struct cfg_error *err);

/* Member accessors. Each looks up key in obj (an object whose path is `path`). When the member
 * is absent: required -> -EINVAL with "missing"; otherwise the default is stored and 0 returned.
 * Present but of the wrong type or out of [min, max] -> -EINVAL naming the expectation. */
int cfg_get_string(const cJSON *obj, const char *path, const char *key, bool required,
                   const char *def, char *buf, size_t cap, struct cfg_error *err);
int cfg_get_number(const cJSON *obj, const char *path, const char *key, bool required,
                   double def, double min, double max, double *out, struct cfg_error *err);
int cfg_get_int(const cJSON *obj, const char *path, const char *key, bool required,
                long long def, long long min, long long max, long long *out,
                struct cfg_error *err);
int cfg_get_bool(const cJSON *obj, const char *path, const char *key, bool required, bool def,
                 bool *out, struct cfg_error *err);
int cfg_get_duration(const cJSON *obj, const char *path, const char *key, bool required,
                     int64_t def_ms, int64_t min_ms, int64_t max_ms, int64_t *out_ms,
                     struct cfg_error *err);
/* Looks up an array member; absent and not required -> 0 with *out = NULL. */
int cfg_get_array(const cJSON *obj, const char *path, const char *key, bool required,
                  const cJSON **out, struct cfg_error *err);
/* Looks up an object member; absent and not required -> 0 with *out = NULL. */
int cfg_get_object(const cJSON *obj, const char *path, const char *key, bool required,
                   const cJSON **out, struct cfg_error *err);

/* An identifier safe in MQTT topics, file names and logs: 1..cap-1 chars of [A-Za-z0-9_.-]. */
bool cfg_is_identifier(const char *s, size_t cap);

#endif
