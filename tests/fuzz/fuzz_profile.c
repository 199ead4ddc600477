/* Fuzz target for the profile parser (gateway/profile.c), the part of the config a pharmacist
 * edits most: alarm kinds, presets with overrides, suppression windows. The input is a JSON
 * object of profiles, as under "profiles" in the config. Whatever the bytes, profile_parse()
 * must not crash or leak, and must keep its contract: on success a profile whose alarms the
 * rules accept; on -EINVAL a message saying what was expected. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"
#include "rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = cJSON_ParseWithLength((const char *)data, size);
    if (!root)
        return 0;
    for (const cJSON *item = root->child; item; item = item->next) {
        struct config_profile p;
        struct cfg_error err;
        memset(&err, 0, sizeof(err));
        const char *name = item->string ? item->string : "";
        int rc = profile_parse(item, name, "profiles.x", &p, &err);
        if (rc == -EINVAL && (err.msg[0] == '\0' || !memchr(err.msg, '\0', sizeof(err.msg))))
            abort();
        if (rc == 0) {
            if (p.alarm_count == 0 || p.alarm_count > PROFILE_ALARMS_MAX)
                abort();
            /* Whatever the parser accepts, the rules must accept too. */
            static const char ids[1][READING_SENSOR_ID_MAX] = {"probe"};
            const struct rules_shipment_def def = {
                .id = "s", .alarms = p.alarms, .alarm_count = p.alarm_count,
                .sensor_ids = ids, .sensor_count = 1, .suppress = p.suppress,
                .suppress_count = p.suppress_count};
            struct rules *rules = NULL;
            if (rules_new(&def, 1, &rules) != 0)
                abort();
            rules_free(rules);
        } else if (rc != -EINVAL && rc != -ENOMEM) {
            abort();
        }
        profile_clear(&p);
    }
    cJSON_Delete(root);
    return 0;
}
