/* command.c: every verb is accepted in both forms (MQTT topic, control socket line), every kind
 * of bad command is refused with its code and a message naming the field, a refusal leaves the
 * output untouched, and replies are the documented JSON. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "cunit_main.h"

static struct command cmd;
static struct command_error err;

/* Parses text (NUL-terminated) with verb from the topic (NULL: the socket form). */
static int parse(const char *verb, const char *text)
{
    memset(&cmd, 0, sizeof(cmd));
    memset(&err, 0, sizeof(err));
    return command_parse(verb, text, strlen(text), &cmd, &err);
}

/* Refused with code, and the message contains want. */
static void check_refused(const char *verb, const char *text, const char *code, const char *want)
{
    struct command poisoned;
    memset(&poisoned, 0xA5, sizeof(poisoned));
    cmd = poisoned;
    memset(&err, 0, sizeof(err));
    int rc = command_parse(verb, text, strlen(text), &cmd, &err);
    CU_ASSERT_EQUAL(rc, -EINVAL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err.code);
    CU_ASSERT_STRING_EQUAL(err.code, code);
    if (strstr(err.message, want) == NULL || strcmp(err.code, code) != 0)
        fprintf(stderr, "\n  %s -> %s: %s (wanted %s: %s)\n", text, err.code, err.message, code,
                want);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, want));
    /* Nothing half-applied. */
    CU_ASSERT_EQUAL(memcmp(&cmd, &poisoned, sizeof(cmd)), 0);
}

/* The command written back by command_to_json() parses to the same command. */
static void check_round_trip(void)
{
    struct command first = cmd, again;
    char *text = command_to_json(&first);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    memset(&again, 0, sizeof(again));
    int rc = command_parse(NULL, text, strlen(text), &again, &err);
    if (rc != 0)
        fprintf(stderr, "\n  %s -> %s\n", text, err.message);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(memcmp(&first, &again, sizeof(first)), 0);
    free(text);
}

static void test_ack_by_alert_and_by_instance(void)
{
    CU_ASSERT_EQUAL(parse("ack", "{\"id\":\"r-17\",\"alert\":\"9B2F6C1E-2F3A-4D2B-9A51-"
                                 "8C7F0C1D2E3F\",\"user\":\"Zoë Brandt\",\"comment\":\"door "
                                 "closed, stock moved to fridge B\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_ACK);
    CU_ASSERT_STRING_EQUAL(cmd.id, "r-17");
    CU_ASSERT_STRING_EQUAL(cmd.alert_id, "9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f");
    CU_ASSERT_STRING_EQUAL(cmd.user, "Zoë Brandt");
    CU_ASSERT_STRING_EQUAL(cmd.comment, "door closed, stock moved to fridge B");
    CU_ASSERT_STRING_EQUAL(cmd.shipment, "");
    check_round_trip();

    CU_ASSERT_EQUAL(parse(NULL, "{\"verb\":\"ack\",\"shipment\":\"fridge-a\",\"alarm\":\"heat\","
                                "\"sensor\":\"fridge-a.middle\",\"user\":\"anna\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_ACK);
    CU_ASSERT_STRING_EQUAL(cmd.shipment, "fridge-a");
    CU_ASSERT_STRING_EQUAL(cmd.alarm, "heat");
    CU_ASSERT_STRING_EQUAL(cmd.sensor, "fridge-a.middle");
    CU_ASSERT_STRING_EQUAL(cmd.alert_id, "");
    CU_ASSERT_STRING_EQUAL(cmd.id, "");
    CU_ASSERT_STRING_EQUAL(cmd.comment, "");
    check_round_trip();
}

static void test_shelve_and_unshelve(void)
{
    CU_ASSERT_EQUAL(parse("shelve", "{\"shipment\":\"fridge-a\",\"alarm\":\"heat\",\"sensor\":"
                                    "\"fridge-a\",\"for\":\"1h30m\",\"user\":\"anna\","
                                    "\"comment\":\"defrost\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_SHELVE);
    CU_ASSERT_EQUAL(cmd.for_ms, 90 * 60 * 1000);
    CU_ASSERT_STRING_EQUAL(cmd.comment, "defrost");
    check_round_trip();
    CU_ASSERT_EQUAL(parse("shelve", "{\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\","
                                    "\"for\":\"1m\",\"user\":\"a\",\"comment\":\"x\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.for_ms, 60000);
    CU_ASSERT_EQUAL(parse("shelve", "{\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\","
                                    "\"for\":\"24h\",\"user\":\"a\",\"comment\":\"x\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.for_ms, 24 * 3600 * 1000);
    check_round_trip();
    CU_ASSERT_EQUAL(parse("shelve", "{\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\","
                                    "\"for\":\"90s\",\"user\":\"a\",\"comment\":\"x\"}"),
                    0);
    check_round_trip();

    CU_ASSERT_EQUAL(parse(NULL, "{\"verb\":\"unshelve\",\"shipment\":\"fridge-a\",\"alarm\":"
                                "\"heat\",\"sensor\":\"fridge-a\",\"user\":\"anna\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_UNSHELVE);
    CU_ASSERT_EQUAL(cmd.for_ms, 0);
    check_round_trip();
}

static void test_shipment_verbs(void)
{
    CU_ASSERT_EQUAL(parse("shipment-start",
                          "{\"shipment\":\"truck-42\",\"profile\":\"who-esi-type1\",\"kind\":"
                          "\"transit\",\"description\":\"Pfizer lot 7, Zürich → Basel\","
                          "\"sensors\":[\"logger-7\",\"logger-8\"],\"user\":\"driver\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_SHIPMENT_START);
    CU_ASSERT_STRING_EQUAL(cmd.shipment, "truck-42");
    CU_ASSERT_STRING_EQUAL(cmd.profile, "who-esi-type1");
    CU_ASSERT_STRING_EQUAL(cmd.kind, "transit");
    CU_ASSERT_STRING_EQUAL(cmd.description, "Pfizer lot 7, Zürich → Basel");
    CU_ASSERT_EQUAL(cmd.sensor_count, 2);
    CU_ASSERT_STRING_EQUAL(cmd.sensors[0], "logger-7");
    CU_ASSERT_STRING_EQUAL(cmd.sensors[1], "logger-8");
    check_round_trip();

    /* Defaults: storage, no description, no sensors (the config's). */
    CU_ASSERT_EQUAL(parse(NULL, "{\"verb\":\"shipment-start\",\"shipment\":\"fridge-b\","
                                "\"profile\":\"cdc-vaccine-fridge\",\"user\":\"anna\","
                                "\"sensors\":[]}"),
                    0);
    CU_ASSERT_STRING_EQUAL(cmd.kind, "storage");
    CU_ASSERT_STRING_EQUAL(cmd.description, "");
    CU_ASSERT_EQUAL(cmd.sensor_count, 0);
    check_round_trip();

    CU_ASSERT_EQUAL(parse("shipment-end", "{\"shipment\":\"truck-42\",\"user\":\"driver\","
                                          "\"comment\":\"delivered\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_SHIPMENT_END);
    check_round_trip();

    CU_ASSERT_EQUAL(parse("assign", "{\"shipment\":\"truck-42\",\"sensors\":[\"logger-9\"],"
                                    "\"user\":\"driver\"}"),
                    0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_ASSIGN);
    CU_ASSERT_EQUAL(cmd.sensor_count, 1);
    check_round_trip();
}

static void test_reload_and_status(void)
{
    CU_ASSERT_EQUAL(parse("reload", "{\"user\":\"admin\"}"), 0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_RELOAD);
    check_round_trip();
    /* On MQTT an empty payload is {}: mosquitto_pub -n -t .../cmd/status */
    CU_ASSERT_EQUAL(parse("status", ""), 0);
    CU_ASSERT_EQUAL(cmd.verb, COMMAND_STATUS);
    CU_ASSERT_EQUAL(parse("status", " \r\n"), 0);
    CU_ASSERT_EQUAL(parse(NULL, "{\"verb\":\"status\",\"id\":\"42\"}\r\n"), 0);
    CU_ASSERT_STRING_EQUAL(cmd.id, "42");
    check_round_trip();
    /* "verb" may be repeated in an MQTT payload when it agrees with the topic. */
    CU_ASSERT_EQUAL(parse("status", "{\"verb\":\"status\"}"), 0);
    /* err may be NULL. */
    CU_ASSERT_EQUAL(command_parse("status", "{}", 2, &cmd, NULL), 0);
    CU_ASSERT_EQUAL(command_parse("status", "{\"x\":1}", 7, &cmd, NULL), -EINVAL);
}

static void test_malformed_json_is_bad_json(void)
{
    check_refused("ack", "{\"user\":", COMMAND_ERR_BAD_JSON, "not JSON");
    check_refused("ack", "{\"user\":\"a\"} x", COMMAND_ERR_BAD_JSON, "text after");
    check_refused("ack", "[1,2]", COMMAND_ERR_BAD_JSON, "expected a JSON object, got an array");
    check_refused("ack", "\"ack\"", COMMAND_ERR_BAD_JSON, "expected a JSON object");
    check_refused("ack", "17", COMMAND_ERR_BAD_JSON, "expected a JSON object, got 17");
    check_refused(NULL, "", COMMAND_ERR_BAD_JSON, "empty");
    check_refused(NULL, "{\"verb\":\"status\",\"user\":\"a\\u0000b\"}", COMMAND_ERR_BAD_JSON,
                  "\\u0000");
    /* An escaped backslash before "u0000" is text, not a NUL. */
    CU_ASSERT_EQUAL(parse(NULL, "{\"verb\":\"status\",\"comment\":\"a\\\\u0000\"}"), 0);
    CU_ASSERT_STRING_EQUAL(cmd.comment, "a\\u0000");
    /* A raw NUL byte. */
    static const char raw[] = "{\"verb\":\"status\",\"user\":\"a\0b\"}";
    memset(&err, 0, sizeof(err));
    CU_ASSERT_EQUAL(command_parse(NULL, raw, sizeof(raw) - 1, &cmd, &err), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err.code, COMMAND_ERR_BAD_JSON);
    CU_ASSERT_EQUAL(command_parse(NULL, NULL, 0, &cmd, &err), -EINVAL);
    CU_ASSERT_EQUAL(command_parse("status", NULL, 0, &cmd, &err), 0);
}

static void test_unknown_verb(void)
{
    check_refused("acknowledge", "{\"id\":\"r-1\"}", COMMAND_ERR_UNKNOWN_VERB,
                  "unknown verb \"acknowledge\"; known verbs: ack, shelve");
    /* The request id is echoed even then. */
    CU_ASSERT_STRING_EQUAL(err.id, "r-1");
    CU_ASSERT_PTR_NULL(err.verb);
    check_refused(NULL, "{\"verb\":\"resolve\"}", COMMAND_ERR_UNKNOWN_VERB, "\"resolve\"");
    check_refused(NULL, "{\"verb\":\"ACK\"}", COMMAND_ERR_UNKNOWN_VERB, "\"ACK\"");
    check_refused("a\nb\x01\xff", "{}", COMMAND_ERR_UNKNOWN_VERB, "\"a?b??\"");
    check_refused(NULL, "{\"id\":\"r-2\"}", COMMAND_ERR_MISSING_FIELD, "\"verb\": missing");
    CU_ASSERT_STRING_EQUAL(err.id, "r-2");
    check_refused(NULL, "{\"verb\":7}", COMMAND_ERR_BAD_FIELD, "\"verb\": expected one of");
    check_refused("ack", "{\"verb\":\"shelve\"}", COMMAND_ERR_BAD_FIELD,
                  "\"verb\": expected \"ack\" as in the topic, got \"shelve\"");
}

static void test_missing_fields_are_named(void)
{
    check_refused("ack", "{\"id\":\"r-3\",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\"}",
                  COMMAND_ERR_MISSING_FIELD, "\"user\": missing");
    CU_ASSERT_STRING_EQUAL(err.verb, "ack");
    CU_ASSERT_STRING_EQUAL(err.id, "r-3");
    check_refused("ack", "{\"user\":\"a\"}", COMMAND_ERR_MISSING_FIELD,
                  "\"alert\": missing: expected the alarm instance");
    check_refused("ack", "{\"user\":\"a\",\"shipment\":\"s\",\"alarm\":\"heat\"}",
                  COMMAND_ERR_MISSING_FIELD, "\"sensor\": missing");
    check_refused("ack", "{\"user\":\"a\",\"sensor\":\"s\"}", COMMAND_ERR_MISSING_FIELD,
                  "\"shipment\": missing");
    check_refused("shelve",
                  "{\"user\":\"a\",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\","
                  "\"comment\":\"x\"}",
                  COMMAND_ERR_MISSING_FIELD, "\"for\": missing");
    check_refused("shelve",
                  "{\"user\":\"a\",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\","
                  "\"for\":\"2h\"}",
                  COMMAND_ERR_MISSING_FIELD, "\"comment\": missing: expected the reason");
    check_refused("shipment-start", "{\"user\":\"a\",\"shipment\":\"s\"}",
                  COMMAND_ERR_MISSING_FIELD, "\"profile\": missing");
    check_refused("shipment-end", "{\"user\":\"a\"}", COMMAND_ERR_MISSING_FIELD,
                  "\"shipment\": missing");
    check_refused("assign", "{\"user\":\"a\",\"shipment\":\"s\"}", COMMAND_ERR_MISSING_FIELD,
                  "\"sensors\": missing");
    check_refused("reload", "{}", COMMAND_ERR_MISSING_FIELD, "\"user\": missing");
}

static void test_wrong_types_are_bad_fields(void)
{
    check_refused("reload", "{\"user\":42}", COMMAND_ERR_BAD_FIELD,
                  "\"user\": expected who does it: 1 to 64 characters, got 42");
    check_refused("status", "{\"id\":17}", COMMAND_ERR_BAD_FIELD, "\"id\": expected a request id");
    check_refused("status", "{\"id\":\"\"}", COMMAND_ERR_BAD_FIELD, "got \"\"");
    check_refused("assign", "{\"user\":\"a\",\"shipment\":\"s\",\"sensors\":\"p1\"}",
                  COMMAND_ERR_BAD_FIELD, "\"sensors\": expected an array of 1 to 64");
    check_refused("assign", "{\"user\":\"a\",\"shipment\":\"s\",\"sensors\":[\"p1\",5]}",
                  COMMAND_ERR_BAD_FIELD, "\"sensors[1]\": expected a sensor id");
    check_refused("assign", "{\"user\":\"a\",\"shipment\":\"s\",\"sensors\":[]}",
                  COMMAND_ERR_BAD_FIELD, "got an empty array");
    check_refused("ack", "{\"user\":\"a\",\"alert\":\"not-a-uuid\"}", COMMAND_ERR_BAD_FIELD,
                  "\"alert\": expected the id of an alert, a UUID");
    check_refused("ack", "{\"user\":\"a\",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3\"}",
                  COMMAND_ERR_BAD_FIELD, "\"alert\"");
    check_refused("ack",
                  "{\"user\":\"a\",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\","
                  "\"shipment\":\"s\"}",
                  COMMAND_ERR_BAD_FIELD, "not both");
    check_refused("ack",
                  "{\"user\":\"a\",\"shipment\":\"fridge a\",\"alarm\":\"x\",\"sensor\":"
                  "\"y\"}",
                  COMMAND_ERR_BAD_FIELD, "\"shipment\": expected a shipment id");
    check_refused("ack",
                  "{\"user\":\"a\",\"shipment\":\".hidden\",\"alarm\":\"x\",\"sensor\":"
                  "\"y\"}",
                  COMMAND_ERR_BAD_FIELD, "\"shipment\"");
    check_refused("shipment-start",
                  "{\"user\":\"a\",\"shipment\":\"s\",\"profile\":\"p\",\"kind\":\"truck\"}",
                  COMMAND_ERR_BAD_FIELD, "\"kind\": expected storage or transit, got \"truck\"");
    check_refused("ack", "{\"user\":\"   \",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\"}",
                  COMMAND_ERR_BAD_FIELD, "got only spaces");
    check_refused("ack", "{\"user\":true}", COMMAND_ERR_BAD_FIELD, "got true");
    check_refused("ack", "{\"user\":null}", COMMAND_ERR_BAD_FIELD, "got null");
    check_refused("ack", "{\"user\":{}}", COMMAND_ERR_BAD_FIELD, "got an object");
}

static void test_unknown_and_repeated_fields(void)
{
    check_refused("ack", "{\"user\":\"a\",\"coment\":\"typo\"}", COMMAND_ERR_UNKNOWN_FIELD,
                  "unknown field \"coment\"; ack takes: id, user, comment, alert, shipment, "
                  "alarm, sensor");
    /* A field of another verb is unknown to this one. */
    check_refused("ack", "{\"user\":\"a\",\"for\":\"2h\"}", COMMAND_ERR_UNKNOWN_FIELD,
                  "unknown field \"for\"");
    check_refused("status", "{\"User\":\"a\"}", COMMAND_ERR_UNKNOWN_FIELD, "\"User\"");
    check_refused("status", "{\"user\":\"a\",\"user\":\"b\"}", COMMAND_ERR_BAD_FIELD,
                  "\"user\": given more than once");
}

static void test_size_cap(void)
{
    /* Exactly 4096 bytes is taken; one more is too_large. */
    char text[COMMAND_PAYLOAD_MAX + 2];
    const char *head = "{\"verb\":\"status\"}";
    memset(text, ' ', sizeof(text));
    memcpy(text, head, strlen(head));
    memset(&err, 0, sizeof(err));
    CU_ASSERT_EQUAL(command_parse(NULL, text, COMMAND_PAYLOAD_MAX, &cmd, &err), 0);
    CU_ASSERT_EQUAL(command_parse(NULL, text, COMMAND_PAYLOAD_MAX + 1, &cmd, &err), -EINVAL);
    CU_ASSERT_STRING_EQUAL(err.code, COMMAND_ERR_TOO_LARGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "4097 bytes; at most 4096"));
}

static void test_durations(void)
{
    static const char *const bad[] = {"\"forever\"", "\"30s\"",  "\"59s\"", "\"25h\"",
                                      "\"24h1ms\"",  "\"1d1m\"", "\"\"",    "\"-1h\"",
                                      "7200",        "null",     "\"2 h\""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char text[256];
        snprintf(text, sizeof(text),
                 "{\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\",\"user\":\"a\","
                 "\"comment\":\"c\",\"for\":%s}",
                 bad[i]);
        check_refused("shelve", text, COMMAND_ERR_BAD_FIELD,
                      "\"for\": expected a duration from 1m to 24h such as \"2h\", got ");
    }
    check_refused("shelve",
                  "{\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-8c7f0c1d2e3f\",\"user\":\"a\","
                  "\"comment\":\"c\",\"for\":\"forever\"}",
                  COMMAND_ERR_BAD_FIELD,
                  "\"for\": expected a duration from 1m to 24h such as \"2h\", got \"forever\"");
    CU_ASSERT_STRING_EQUAL(err.message,
                           "\"for\": expected a duration from 1m to 24h such as \"2h\", got "
                           "\"forever\"");
}

static void test_sensor_lists(void)
{
    char text[4096];
    size_t used =
        (size_t)snprintf(text, sizeof(text), "{\"user\":\"a\",\"shipment\":\"s\",\"sensors\":[");
    for (int i = 0; i < COMMAND_SENSORS_MAX; i++)
        used += (size_t)snprintf(text + used, sizeof(text) - used, "%s\"p%d\"", i ? "," : "", i);
    snprintf(text + used, sizeof(text) - used, "]}");
    CU_ASSERT_EQUAL(parse("assign", text), 0);
    CU_ASSERT_EQUAL(cmd.sensor_count, COMMAND_SENSORS_MAX);
    CU_ASSERT_STRING_EQUAL(cmd.sensors[63], "p63");
    check_round_trip();
    snprintf(text + used, sizeof(text) - used, ",\"p64\"]}");
    check_refused("assign", text, COMMAND_ERR_BAD_FIELD, "got more than 64");

    check_refused("assign",
                  "{\"user\":\"a\",\"shipment\":\"s\",\"sensors\":[\"p1\",\"p2\",\"p1\"]}",
                  COMMAND_ERR_BAD_FIELD, "\"sensors[2]\": \"p1\" is listed twice");
    check_refused("shipment-start",
                  "{\"user\":\"a\",\"shipment\":\"s\",\"profile\":\"p\",\"sensors\":[\"a/b\"]}",
                  COMMAND_ERR_BAD_FIELD, "\"sensors[0]\": expected a sensor id");
}

/* A string of n copies of unit inside a JSON member: {"verb":"status",<key>:"...."} */
static char *repeat_member(const char *verb_json, const char *key, const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    size_t cap = strlen(verb_json) + strlen(key) + n * ul + 16;
    char *text = malloc(cap);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    size_t used = (size_t)snprintf(text, cap, "{%s,\"%s\":\"", verb_json, key);
    for (size_t i = 0; i < n; i++) {
        memcpy(text + used, unit, ul);
        used += ul;
    }
    memcpy(text + used, "\"}", 3);
    return text;
}

static void test_string_bounds(void)
{
    static const struct {
        const char *head, *key, *unit;
        size_t ok, bad;
        const char *want;
    } cases[] = {
        {"\"verb\":\"reload\"", "user", "é", 64, 65, "got 65 characters"},
        {"\"verb\":\"status\"", "comment", "x", 500, 501, "got 501 characters"},
        {"\"verb\":\"status\"", "comment", "€", 500, 501, "got 501 characters"},
        {"\"verb\":\"status\"", "id", "r", 64, 65, "got 65 bytes"},
        {"\"verb\":\"shipment-start\",\"user\":\"u\",\"shipment\":\"s\",\"profile\":\"p\"",
         "description", "ü", 127, 128, "got 256 bytes"},
        {"\"verb\":\"shipment-end\",\"user\":\"u\"", "shipment", "s", 63, 64, "\"shipment\""},
        {"\"verb\":\"shipment-start\",\"user\":\"u\",\"shipment\":\"s\"", "profile", "p", 63, 64,
         "\"profile\""},
        {"\"verb\":\"ack\",\"user\":\"u\",\"shipment\":\"s\",\"sensor\":\"x\"", "alarm", "a", 31,
         32, "\"alarm\""},
        {"\"verb\":\"ack\",\"user\":\"u\",\"shipment\":\"s\",\"alarm\":\"x\"", "sensor", "a", 31,
         32, "\"sensor\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *text = repeat_member(cases[i].head, cases[i].key, cases[i].unit, cases[i].ok);
        int rc = parse(NULL, text);
        if (rc != 0)
            fprintf(stderr, "\n  case %zu: %s\n", i, err.message);
        CU_ASSERT_EQUAL(rc, 0);
        free(text);
        text = repeat_member(cases[i].head, cases[i].key, cases[i].unit, cases[i].bad);
        check_refused(NULL, text, COMMAND_ERR_BAD_FIELD, cases[i].want);
        free(text);
    }
}

static void test_control_characters_and_bad_utf8(void)
{
    check_refused("reload", "{\"user\":\"an\\nna\"}", COMMAND_ERR_BAD_FIELD,
                  "got a control character (U+000A) at character 3");
    check_refused("status", "{\"comment\":\"a\\tb\"}", COMMAND_ERR_BAD_FIELD, "U+0009");
    check_refused("status", "{\"comment\":\"a\x1b[31mred\"}", COMMAND_ERR_BAD_FIELD, "U+001B");
    check_refused("status", "{\"comment\":\"a\\u007f\"}", COMMAND_ERR_BAD_FIELD, "U+007F");
    check_refused("status", "{\"comment\":\"a\\u0085\"}", COMMAND_ERR_BAD_FIELD, "U+0085");
    check_refused("status", "{\"comment\":\"a\xff\"}", COMMAND_ERR_BAD_FIELD, "not valid UTF-8");
    check_refused("status", "{\"comment\":\"a\xc3\"}", COMMAND_ERR_BAD_FIELD, "not valid UTF-8");
    check_refused("status", "{\"comment\":\"\xc0\xaf\"}", COMMAND_ERR_BAD_FIELD, "not valid UTF-8");
    check_refused("status", "{\"comment\":\"\xed\xa0\x80\"}", COMMAND_ERR_BAD_FIELD,
                  "not valid UTF-8");
    check_refused("status", "{\"id\":\"r\xc3\xa9\"}", COMMAND_ERR_BAD_FIELD, "non-ASCII");
    /* Printable Unicode is fine, including a 4-byte sequence. */
    CU_ASSERT_EQUAL(parse("status", "{\"comment\":\"ok \xf0\x9f\x91\x8d \\u00e9\"}"), 0);
    CU_ASSERT_STRING_EQUAL(cmd.comment, "ok \xf0\x9f\x91\x8d \xc3\xa9");
    /* A message quotes only printable ASCII, whatever was sent. */
    check_refused("status", "{\"\xff\\n\":1}", COMMAND_ERR_UNKNOWN_FIELD, "\"??\"");
}

static void test_replies(void)
{
    CU_ASSERT_EQUAL(parse("ack", "{\"id\":\"r-17\",\"alert\":\"9b2f6c1e-2f3a-4d2b-9a51-"
                                 "8c7f0c1d2e3f\",\"user\":\"anna\"}"),
                    0);
    cJSON *result = cJSON_CreateObject();
    cJSON_AddStringToObject(result, "state", "acknowledged");
    char *text = command_reply_ok(&cmd, result);
    CU_ASSERT_STRING_EQUAL(text, "{\"ok\":true,\"verb\":\"ack\",\"id\":\"r-17\",\"result\":"
                                 "{\"state\":\"acknowledged\"}}");
    free(text);
    cJSON_Delete(result); /* borrowed: still ours */
    cmd.id[0] = '\0';
    text = command_reply_ok(&cmd, NULL);
    CU_ASSERT_STRING_EQUAL(text, "{\"ok\":true,\"verb\":\"ack\"}");
    free(text);

    text = command_reply_error("ack", "r-17", COMMAND_ERR_UNKNOWN_ALARM,
                               "fridge-a has no alarm \"hot\"");
    CU_ASSERT_STRING_EQUAL(text, "{\"ok\":false,\"verb\":\"ack\",\"id\":\"r-17\",\"error\":"
                                 "\"unknown_alarm\",\"message\":\"fridge-a has no alarm "
                                 "\\\"hot\\\"\"}");
    free(text);
    text = command_reply_error(NULL, NULL, COMMAND_ERR_BAD_JSON, NULL);
    CU_ASSERT_STRING_EQUAL(text, "{\"ok\":false,\"error\":\"bad_json\",\"message\":\"\"}");
    free(text);

    check_refused("shelve", "{\"id\":\"r-9\",\"user\":\"a\",\"comment\":\"c\"}",
                  COMMAND_ERR_MISSING_FIELD, "\"alert\"");
    text = command_reply_parse_error(&err);
    cJSON *reply = cJSON_Parse(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(reply);
    CU_ASSERT_TRUE(cJSON_IsFalse(cJSON_GetObjectItem(reply, "ok")));
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(reply, "verb")->valuestring, "shelve");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(reply, "id")->valuestring, "r-9");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(reply, "error")->valuestring, "missing_field");
    CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(reply, "message")->valuestring, err.message);
    cJSON_Delete(reply);
    free(text);
}

static void test_verb_names(void)
{
    static const char *const names[] = {"ack",          "shelve", "unshelve", "shipment-start",
                                        "shipment-end", "assign", "reload",   "status"};
    for (int v = 0; v < COMMAND_VERB_COUNT; v++) {
        CU_ASSERT_STRING_EQUAL(command_verb_name((enum command_verb)v), names[v]);
        CU_ASSERT_EQUAL(parse(names[v], "{\"user\":\"a\",\"bogus\":1}"), -EINVAL);
        CU_ASSERT_STRING_EQUAL(err.code, COMMAND_ERR_UNKNOWN_FIELD);
        CU_ASSERT_STRING_EQUAL(err.verb, names[v]);
    }
    CU_ASSERT_PTR_NULL(command_verb_name(COMMAND_VERB_COUNT));
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("command", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "ack by alert id and by shipment/alarm/sensor",
                test_ack_by_alert_and_by_instance);
    CU_add_test(s, "shelve and unshelve", test_shelve_and_unshelve);
    CU_add_test(s, "shipment-start, shipment-end, assign", test_shipment_verbs);
    CU_add_test(s, "reload and status, empty MQTT payload", test_reload_and_status);
    CU_add_test(s, "malformed JSON and non-objects are bad_json", test_malformed_json_is_bad_json);
    CU_add_test(s, "unknown and missing verbs", test_unknown_verb);
    CU_add_test(s, "missing fields are named", test_missing_fields_are_named);
    CU_add_test(s, "wrong types and forms are bad_field", test_wrong_types_are_bad_fields);
    CU_add_test(s, "unknown and repeated fields", test_unknown_and_repeated_fields);
    CU_add_test(s, "4096 bytes taken, 4097 too_large", test_size_cap);
    CU_add_test(s, "shelve durations from 1m to 24h", test_durations);
    CU_add_test(s, "sensor lists: 64 at most, no duplicates", test_sensor_lists);
    CU_add_test(s, "string bounds at and past the limit", test_string_bounds);
    CU_add_test(s, "control characters and bad UTF-8", test_control_characters_and_bad_utf8);
    CU_add_test(s, "replies are the documented JSON", test_replies);
    CU_add_test(s, "verb names", test_verb_names);
    return CU_get_error();
}
