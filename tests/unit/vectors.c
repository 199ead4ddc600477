/* See vectors.h. */
#include "vectors.h"

#include <stdio.h>
#include <stdlib.h>

cJSON *vectors_load(const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", SHARED_VECTORS_DIR, file);
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    cJSON *json = NULL;
    long len;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0)
        goto out;
    text = malloc((size_t)len + 1);
    if (text == NULL || fread(text, 1, (size_t)len, f) != (size_t)len)
        goto out;
    text[len] = '\0';
    json = cJSON_Parse(text);
out:
    if (f != NULL)
        fclose(f);
    free(text);
    if (json == NULL)
        fprintf(stderr, "cannot read %s\n", path);
    return json;
}
