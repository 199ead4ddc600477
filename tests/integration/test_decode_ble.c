/* coldchainctl decode ble, the built binary, on every published BLE vector of the supported
 * formats (shared/sensors/vectors/ble_vectors.json, each quoting its source): the JSON object it
 * prints carries the format's values as the vector expects, leaves out what the format marks
 * invalid and names it in "faults"; unknown data exits 1, malformed hex or AD structures exit 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static const char *ctl;

/* Runs `coldchainctl decode ble hex`; the JSON it printed (caller frees) or NULL, and the exit
 * status. */
static cJSON *run_decode(const char *hex, int *exit_out, char **log_out)
{
    struct harness_proc *p =
        harness_spawn("decode", (const char *const[]){ctl, "decode", "ble", hex, NULL});
    int status = -1;
    *exit_out = -1;
    if (!p || harness_proc_wait(p, 10000, &status) < 0)
        return NULL;
    *exit_out = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    char *log = harness_read_file(harness_proc_log(p));
    cJSON *json = NULL;
    for (char *line = log; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        if (line[0] == '{' && !json)
            json = cJSON_Parse(line);
        line = nl ? nl + 1 : NULL;
    }
    if (log_out)
        *log_out = log;
    else
        free(log);
    return json;
}

static bool supported(const char *format)
{
    static const char *const formats[] = {"ruuvi_rawv2", "ruuvi_rawv1", "bthome_v2", "pvvx_custom",
                                          "atc1441",     "govee_h5072_h5075", "govee_h5074",
                                          "inkbird_ibs_th"};
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        if (strcmp(formats[i], format) == 0)
            return true;
    }
    return false;
}

int main(void)
{
    if (harness_init("decode-ble") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    ctl = getenv("COLDCHAINCTL");
    HARNESS_REQUIRE(ctl && access(ctl, X_OK) == 0, "COLDCHAINCTL names an executable");
    char *text = harness_read_file(SHARED_VECTORS_DIR "/ble_vectors.json");
    HARNESS_REQUIRE(text, "the shared BLE vectors can be read");
    cJSON *root = cJSON_Parse(text);
    free(text);
    HARNESS_REQUIRE(root, "the shared BLE vectors parse");

    static const char *const keys[] = {"temperature_c", "humidity_pct", "pressure_hpa",
                                       "battery_pct",   "battery_mv",   "counter"};
    const cJSON *v;
    int checked = 0;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "vectors"))
    {
        const char *id = cJSON_GetObjectItemCaseSensitive(v, "id")->valuestring;
        const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(v, "format");
        const cJSON *ad = cJSON_GetObjectItemCaseSensitive(v, "ad_hex");
        const cJSON *expected = cJSON_GetObjectItemCaseSensitive(v, "expected");
        if (!cJSON_IsString(fmt) || !supported(fmt->valuestring) || !cJSON_IsString(ad))
            continue;
        if (cJSON_GetObjectItemCaseSensitive(expected, "error"))
            continue; /* malformed on purpose: the decoder tests cover them */
        /* Encrypted BTHome (AES-CCM with a bind key) is not decoded yet: issue 5's stretch. */
        if (cJSON_GetObjectItemCaseSensitive(expected, "encryption_counter") ||
            cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(expected, "encrypted")))
            continue;
        int code;
        cJSON *out = run_decode(ad->valuestring, &code, NULL);
        /* A packet whose CRC does not match its bytes must be refused, not decoded. */
        if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(expected, "crc_ok"))) {
            harness_check(code != 0 && !out, "%s (%s): a bad CRC is refused (exit %d)", id,
                          fmt->valuestring, code);
            cJSON_Delete(out);
            checked++;
            continue;
        }
        bool ok = code == 0 && out;
        char why[256] = "";
        for (size_t k = 0; ok && k < sizeof(keys) / sizeof(keys[0]); k++) {
            const cJSON *want = cJSON_GetObjectItemCaseSensitive(expected, keys[k]);
            const cJSON *got = cJSON_GetObjectItemCaseSensitive(out, keys[k]);
            if (cJSON_IsNumber(want)) {
                if (!cJSON_IsNumber(got) || fabs(got->valuedouble - want->valuedouble) > 0.006) {
                    ok = false;
                    snprintf(why, sizeof(why), "%s: want %g, got %s", keys[k],
                             want->valuedouble, cJSON_IsNumber(got) ? "another value" : "none");
                }
            } else if (cJSON_IsNull(want) && got) {
                ok = false; /* marked invalid by the format: must not be given as a value */
                snprintf(why, sizeof(why), "%s: invalid in the format, but given", keys[k]);
            }
        }
        harness_check(ok, "%s (%s): decodes as published%s%s", id, fmt->valuestring,
                      why[0] ? ": " : "", why);
        cJSON_Delete(out);
        checked++;
    }
    harness_check(checked >= 20, "at least 20 published vectors checked (%d)", checked);

    int code;
    char *log = NULL;
    cJSON *out = run_decode("0201060303AAFE", &code, &log);
    harness_check(code == 1 && !out && log && strstr(log, "no decoder knows"),
                  "unknown data exits 1 with a message (exit %d)", code);
    free(log);
    cJSON_Delete(out);
    out = run_decode("02010G", &code, NULL);
    harness_check(code == 2 && !out, "malformed hex exits 2 (exit %d)", code);
    cJSON_Delete(out);
    out = run_decode("0201061BFF9904", &code, NULL);
    harness_check(code == 2 && !out, "an AD structure running past the end exits 2 (exit %d)",
                  code);
    cJSON_Delete(out);
    cJSON_Delete(root);
    harness_exit();
}
