/* Operator commands (issue 6; docs/mqtt.md "Commands"): the parser and validator of a command
 * that arrives on MQTT `<root>/cmd/<verb>` or on the local control socket, and the builders of
 * the JSON reply. Pure: no I/O, no clock, no globals; any thread. What a command does is the
 * engine's business: it gets a complete, checked struct command or nothing. */
#ifndef COLDCHAIN_COMMAND_H
#define COLDCHAIN_COMMAND_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "alarm.h"
#include "profile.h"
#include "reading.h"

#define COMMAND_PAYLOAD_MAX 4096          /* bytes of JSON; more is refused as too_large */
#define COMMAND_REQUEST_ID_MAX 65         /* "id": 1..64 printable ASCII characters, + NUL */
#define COMMAND_USER_CHARS 64             /* "user": 1..64 characters (UTF-8) */
#define COMMAND_COMMENT_CHARS 500         /* "comment": at most 500 characters (UTF-8) */
#define COMMAND_DESCRIPTION_MAX 256       /* "description": at most 255 bytes, as in the config */
#define COMMAND_SHIPMENT_MAX 64           /* a shipment id: the config's CONFIG_ID_MAX */
#define COMMAND_ALERT_ID_MAX 37           /* a UUID as alerts carry it, + NUL */
#define COMMAND_SENSORS_MAX 64            /* "sensors": at most this many */
#define COMMAND_SHELVE_MIN_MS (60 * 1000) /* "for": at least 1m */
#define COMMAND_SHELVE_MAX_MS (24 * 60 * 60 * 1000) /* "for": at most 24h */

/* The verbs: the last level of the MQTT topic, or the "verb" of a control socket request. */
enum command_verb {
    COMMAND_ACK,            /* "ack": acknowledge an alarm instance */
    COMMAND_SHELVE,         /* "shelve": silence an instance's notifications for a while */
    COMMAND_UNSHELVE,       /* "unshelve": lift a shelf before it runs out */
    COMMAND_SHIPMENT_START, /* "shipment-start" */
    COMMAND_SHIPMENT_END,   /* "shipment-end" */
    COMMAND_ASSIGN,         /* "assign": sensors to a running shipment */
    COMMAND_RELOAD,         /* "reload": the configuration, as SIGHUP does */
    COMMAND_STATUS,         /* "status": the gateway's state; changes nothing */
    COMMAND_VERB_COUNT
};

/* A checked command. Every string is NUL-terminated within its array and "" when the command
 * does not carry it; a field the verb does not take is "" or 0. Plain data, about 5 KiB: copy
 * it or pass a pointer, it owns nothing. */
struct command {
    enum command_verb verb;
    char id[COMMAND_REQUEST_ID_MAX];             /* the request id, echoed in the reply; "" none */
    char user[COMMAND_USER_CHARS * 4 + 1];       /* who: required by every verb but status */
    char comment[COMMAND_COMMENT_CHARS * 4 + 1]; /* why; required by shelve */
    /* The alarm instance of ack, shelve and unshelve: either alert_id (then shipment, alarm
     * and sensor are "") or shipment, alarm and sensor (then alert_id is ""). */
    char alert_id[COMMAND_ALERT_ID_MAX]; /* a UUID, lower case (as alerts send it) */
    char shipment[COMMAND_SHIPMENT_MAX]; /* identifier; also of the shipment verbs, assign */
    char alarm[ALARM_ID_MAX];            /* the alarm's id in the shipment's profile */
    char sensor[READING_SENSOR_ID_MAX];
    int64_t for_ms; /* shelve: how long, 1m..24h */
    /* shipment-start */
    char profile[PROFILE_NAME_MAX]; /* a profile of the config, or a preset */
    char kind[16];                  /* "storage" (the default) or "transit" */
    char description[COMMAND_DESCRIPTION_MAX];
    /* shipment-start (optional) and assign (at least one): distinct sensor ids */
    char sensors[COMMAND_SENSORS_MAX][READING_SENSOR_ID_MAX];
    size_t sensor_count;
};

/* The error codes of a refusal: the "error" of a reply. The parser uses the first six; the
 * engine, which knows the shipments and alarms, the others. Each is a static string. */
#define COMMAND_ERR_BAD_JSON "bad_json"           /* not JSON, not an object, a \u0000 */
#define COMMAND_ERR_UNKNOWN_VERB "unknown_verb"   /* no such verb */
#define COMMAND_ERR_MISSING_FIELD "missing_field" /* a required field is absent */
#define COMMAND_ERR_BAD_FIELD "bad_field"         /* a field of the wrong type, form or size */
#define COMMAND_ERR_UNKNOWN_FIELD "unknown_field" /* a field the verb does not take */
#define COMMAND_ERR_TOO_LARGE "too_large"         /* more than COMMAND_PAYLOAD_MAX bytes */
#define COMMAND_ERR_UNKNOWN_SHIPMENT "unknown_shipment" /* no shipment (running) by that id */
#define COMMAND_ERR_UNKNOWN_ALARM "unknown_alarm"       /* the profile has no such alarm */
#define COMMAND_ERR_UNKNOWN_SENSOR "unknown_sensor"     /* not a sensor (of that shipment) */
#define COMMAND_ERR_UNKNOWN_ALERT "unknown_alert"       /* no alert with that id */
#define COMMAND_ERR_UNKNOWN_PROFILE "unknown_profile"   /* neither a profile nor a preset */
#define COMMAND_ERR_NOT_ACTIVE "not_active" /* nothing to ack, or not shelved to unshelve */
#define COMMAND_ERR_ENDED "ended"           /* the shipment has ended */
#define COMMAND_ERR_BUSY "busy"             /* the gateway cannot take it now: try again */
#define COMMAND_ERR_REFUSED "refused"       /* any other refusal; the message says why */
/* The gateway failed (e.g. the history could not be written); nothing was changed. */
#define COMMAND_ERR_INTERNAL "internal"

#define COMMAND_MESSAGE_MAX 384

/* Why a command was refused. */
struct command_error {
    const char *code;                /* one of COMMAND_ERR_*, static */
    const char *verb;                /* the verb's name when it was read, else NULL; static */
    char id[COMMAND_REQUEST_ID_MAX]; /* the request id when it was read, else "" */
    /* For people: the field and what was expected, printable ASCII. E.g.
     * "for": expected a duration from 1m to 24h such as "2h", got "forever" */
    char message[COMMAND_MESSAGE_MAX];
};

/* Parses and checks one command. verb: the verb from the MQTT topic (`cmd/<verb>`), or NULL for
 * the control socket, whose object names it in "verb" (on MQTT a "verb" member is allowed if it
 * agrees with the topic). payload: len bytes of JSON, not necessarily NUL-terminated; on MQTT an
 * empty payload stands for {}. Every member the verb does not take is refused, as are duplicate
 * members and strings holding \u0000.
 * Returns 0 with *cmd_out filled, or -EINVAL with *err filled (err may be NULL) and *cmd_out
 * untouched: nothing is half-parsed. cJSON running out of memory reads as bad_json. */
int command_parse(const char *verb, const char *payload, size_t len, struct command *cmd_out,
                  struct command_error *err);

/* "ack", "shipment-start", ...; NULL for a value out of range. */
const char *command_verb_name(enum command_verb verb);

/* The command back as a control socket request, one compact JSON object with "verb" and every
 * field it carries (command_parse(NULL, ...) of it gives the same command): for the audit trail
 * and for clients. malloc'd, the caller frees; NULL when out of memory. */
char *command_to_json(const struct command *cmd);

/* Replies, compact JSON (docs/mqtt.md "Replies"); malloc'd, the caller frees; NULL when out of
 * memory. "id" is left out when there is no request id, "verb" when it is not known.
 *   {"ok":true,"verb":"ack","id":"r-17","result":{...}}
 * result (may be NULL: no "result") is borrowed and copied. */
char *command_reply_ok(const struct command *cmd, const cJSON *result);
/*   {"ok":false,"verb":"ack","id":"r-17","error":"unknown_alarm","message":"..."}
 * verb and request_id may be NULL; code is one of COMMAND_ERR_*; message (NULL: "") says why. */
char *command_reply_error(const char *verb, const char *request_id, const char *code,
                          const char *message);
/* The reply to a command_parse() failure. */
char *command_reply_parse_error(const struct command_error *err);

#endif
