/* Fuzz target for the config parser (DESIGN §11: every parser of outside input is fuzzed).
 * Whatever the bytes, config_parse() must not crash, leak or exit, and must keep its contract:
 * on success a config, on -EINVAL no config and a message saying what was expected. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *config = NULL;
    struct cfg_error err;
    int rc = config_parse((const char *)data, size, "fuzz.json", 0, &config, &err);
    /* abort() makes a broken contract a finding, like a crash. */
    if (rc == 0 && config == NULL)
        abort();
    if (rc < 0 && config != NULL)
        abort();
    if (rc == -EINVAL && (err.msg[0] == '\0' || memchr(err.msg, '\0', sizeof(err.msg)) == NULL ||
                          memchr(err.path, '\0', sizeof(err.path)) == NULL))
        abort();
    if (rc == 0 &&
        (config->sensor_count == 0 || config->profile_count == 0 || config->shipment_count == 0))
        abort();
    config_free(config);
    return 0;
}
