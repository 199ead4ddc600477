/* Names and units of the quantities a reading can carry. */
#include "reading.h"

#include <errno.h>
#include <string.h>

static const struct {
    const char *name;
    const char *unit;
} quantities[QUANTITY_COUNT] = {
    [QUANTITY_TEMPERATURE] = {"temperature", "°C"},
    [QUANTITY_HUMIDITY] = {"humidity", "%RH"},
    [QUANTITY_DOOR] = {"door", ""},
    [QUANTITY_BATTERY] = {"battery", "%"},
};

const char *quantity_name(unsigned quantity)
{
    return quantity < QUANTITY_COUNT ? quantities[quantity].name : NULL;
}

const char *quantity_unit(unsigned quantity)
{
    return quantity < QUANTITY_COUNT ? quantities[quantity].unit : "";
}

int quantity_parse(const char *name, uint8_t *quantity_out)
{
    for (unsigned i = 0; i < QUANTITY_COUNT; i++) {
        if (strcmp(name, quantities[i].name) == 0) {
            *quantity_out = (uint8_t)i;
            return 0;
        }
    }
    return -ENOENT;
}
