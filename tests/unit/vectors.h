/* The shared sensor test vectors (../shared/sensors/vectors/<name>), parsed. Unit tests only. */
#ifndef COLDCHAIN_TESTS_VECTORS_H
#define COLDCHAIN_TESTS_VECTORS_H

#include <cjson/cJSON.h>

/* Reads and parses SHARED_VECTORS_DIR "/" file: the JSON (caller frees with cJSON_Delete), or
 * NULL with the reason on stderr. */
cJSON *vectors_load(const char *file);

#endif
