/* Fuzz target for the command parser (DESIGN §11: every parser of outside input is fuzzed).
 * The input is "VERB\nPAYLOAD": the first line is the verb of an MQTT topic cmd/VERB, an empty
 * first line means the control socket form (the payload names its verb); an input without a
 * newline is a control socket payload. Verb and payload are copied into heap blocks of exactly
 * their size, so ASan reports a read past either. Beyond not crashing, the contract:
 * - 0, or -EINVAL with a code of the parser's set and a non-empty, printable ASCII message,
 *   and then the output untouched (nothing half-parsed);
 * - an accepted command keeps every invariant command.h states: strings terminated within
 *   their arrays with nothing after the NUL, identifiers valid, the fields of its verb and no
 *   others, the shelf duration in range, distinct sensors;
 * - command_to_json() of it parses to the same command, and its replies are JSON. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfgjson.h"
#include "command.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* s is a NUL-terminated string of cap bytes with only NULs after its end; returns its length. */
static size_t check_string(const char *s, size_t cap)
{
    const char *end = memchr(s, '\0', cap);
    if (end == NULL)
        abort();
    for (const char *p = end; p < s + cap; p++)
        if (*p != '\0')
            abort();
    return (size_t)(end - s);
}

static void check_ident(const char *s, size_t cap, bool required)
{
    size_t len = check_string(s, cap);
    if (len == 0 ? required : !cfg_is_identifier(s, cap))
        abort();
}

/* Text for people: no byte below 0x20 and no DEL (the parser also refuses C1 and bad UTF-8). */
static void check_text(const char *s, size_t cap, bool ascii)
{
    size_t len = check_string(s, cap);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (ascii && c > 0x7e))
            abort();
    }
}

static void check_reply(char *text, bool ok)
{
    cJSON *reply = text != NULL ? cJSON_Parse(text) : NULL;
    if (reply == NULL || cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(reply, "ok")) != ok)
        abort();
    cJSON_Delete(reply);
    free(text);
}

static void check_command(const struct command *c)
{
    if ((unsigned)c->verb >= COMMAND_VERB_COUNT)
        abort();
    check_text(c->id, sizeof(c->id), true);
    check_text(c->user, sizeof(c->user), false);
    check_text(c->comment, sizeof(c->comment), false);
    check_text(c->description, sizeof(c->description), false);
    if (c->user[0] == '\0' && c->verb != COMMAND_STATUS)
        abort();
    bool instance =
        c->verb == COMMAND_ACK || c->verb == COMMAND_SHELVE || c->verb == COMMAND_UNSHELVE;
    size_t alert_len = check_string(c->alert_id, sizeof(c->alert_id));
    bool by_alert = alert_len > 0;
    if (by_alert && (!instance || alert_len != COMMAND_ALERT_ID_MAX - 1))
        abort();
    for (size_t i = 0; i < alert_len; i++) {
        char ch = c->alert_id[i];
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? ch != '-' : !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
            abort();
    }
    bool shipment = (instance && !by_alert) || c->verb == COMMAND_SHIPMENT_START ||
                    c->verb == COMMAND_SHIPMENT_END || c->verb == COMMAND_ASSIGN;
    check_ident(c->shipment, sizeof(c->shipment), shipment);
    if (!shipment && c->shipment[0] != '\0')
        abort();
    check_ident(c->alarm, sizeof(c->alarm), instance && !by_alert);
    check_ident(c->sensor, sizeof(c->sensor), instance && !by_alert);
    if ((!instance || by_alert) && (c->alarm[0] != '\0' || c->sensor[0] != '\0'))
        abort();
    if (c->verb == COMMAND_SHELVE ? (c->for_ms < COMMAND_SHELVE_MIN_MS ||
                                     c->for_ms > COMMAND_SHELVE_MAX_MS || c->comment[0] == '\0')
                                  : c->for_ms != 0)
        abort();
    bool start = c->verb == COMMAND_SHIPMENT_START;
    check_ident(c->profile, sizeof(c->profile), start);
    size_t kind_len = check_string(c->kind, sizeof(c->kind));
    if (start ? strcmp(c->kind, "storage") != 0 && strcmp(c->kind, "transit") != 0
              : kind_len != 0 || c->profile[0] != '\0' || c->description[0] != '\0')
        abort();
    if (c->sensor_count > COMMAND_SENSORS_MAX ||
        (c->verb == COMMAND_ASSIGN ? c->sensor_count == 0 : !start && c->sensor_count != 0))
        abort();
    for (size_t i = 0; i < COMMAND_SENSORS_MAX; i++) {
        check_ident(c->sensors[i], sizeof(c->sensors[i]), i < c->sensor_count);
        if (i >= c->sensor_count && c->sensors[i][0] != '\0')
            abort();
        for (size_t k = 0; k < i && i < c->sensor_count; k++)
            if (strcmp(c->sensors[i], c->sensors[k]) == 0)
                abort();
    }

    /* Written back as a control socket request, it is the same command. */
    char *text = command_to_json(c);
    struct command again;
    struct command_error err;
    if (text == NULL || command_parse(NULL, text, strlen(text), &again, &err) != 0 ||
        memcmp(&again, c, sizeof(again)) != 0)
        abort();
    free(text);
    cJSON *result = cJSON_CreateObject();
    check_reply(command_reply_ok(c, result), true);
    cJSON_Delete(result);
}

static void check_error(const struct command_error *err)
{
    static const char *const codes[] = {COMMAND_ERR_BAD_JSON,      COMMAND_ERR_UNKNOWN_VERB,
                                        COMMAND_ERR_MISSING_FIELD, COMMAND_ERR_BAD_FIELD,
                                        COMMAND_ERR_UNKNOWN_FIELD, COMMAND_ERR_TOO_LARGE};
    bool known = false;
    for (size_t i = 0; err->code != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
        known = known || strcmp(err->code, codes[i]) == 0;
    if (!known)
        abort();
    size_t len = strnlen(err->message, sizeof(err->message));
    if (len == 0 || len == sizeof(err->message))
        abort();
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)err->message[i] < 0x20 || (unsigned char)err->message[i] > 0x7e)
            abort();
    check_text(err->id, sizeof(err->id), true);
    check_reply(command_reply_parse_error(err), false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t verb_len = nl != NULL ? (size_t)(nl - data) : 0;
    size_t at = nl != NULL ? verb_len + 1 : 0;
    char *verb = NULL;
    if (verb_len > 0) {
        verb = malloc(verb_len + 1);
        if (verb == NULL)
            return 0;
        memcpy(verb, data, verb_len);
        verb[verb_len] = '\0';
    }
    size_t len = size - at;
    /* An exact-size copy (1 byte when empty, never read): a read past len is a heap overflow. */
    char *payload = malloc(len > 0 ? len : 1);
    if (payload == NULL) {
        free(verb);
        return 0;
    }
    memcpy(payload, data + at, len);

    struct command cmd, poisoned;
    struct command_error err;
    memset(&poisoned, 0xA5, sizeof(poisoned));
    cmd = poisoned;
    int rc = command_parse(verb, payload, len, &cmd, &err);
    if (rc == 0)
        check_command(&cmd);
    else if (rc == -EINVAL) {
        check_error(&err);
        if (memcmp(&cmd, &poisoned, sizeof(cmd)) != 0)
            abort();
    } else
        abort();
    free(payload);
    free(verb);
    return 0;
}
