/* The reading: one measurement as it travels from an adapter thread through the queue to the
 * engine (DESIGN §4). A plain value type, copied by value; no thread owns it. */
#ifndef COLDCHAIN_READING_H
#define COLDCHAIN_READING_H

#include <stdbool.h>
#include <stdint.h>

enum quantity {
    QUANTITY_TEMPERATURE = 0, /* °C */
    QUANTITY_HUMIDITY = 1,    /* % relative humidity */
    QUANTITY_DOOR = 2,        /* 0 closed, 1 open */
    QUANTITY_BATTERY = 3,     /* % */
    QUANTITY_COUNT
};

enum reading_flag {
    READING_FAULT = 1u << 0,     /* the sensor could not be read: value is NaN and means nothing */
    READING_UNSYNCED = 1u << 1,  /* the wall clock was not NTP-synchronised when stamped */
    READING_ESTIMATED = 1u << 2, /* the value is derived, not measured */
};

#define READING_SENSOR_ID_MAX 32

struct reading {
    char sensor_id[READING_SENSOR_ID_MAX]; /* NUL-terminated, config id of the probe */
    uint8_t quantity;                      /* enum quantity */
    uint8_t flags;                         /* enum reading_flag bits */
    double value;                          /* in the quantity's unit; NaN when READING_FAULT */
    int64_t ts_ms;                         /* wall clock, ms since the Unix epoch */
};

/* The quantity's config/MQTT name ("temperature", ...), or NULL for an unknown value. */
const char *quantity_name(unsigned quantity);
/* The unit shown to people ("°C", "%RH", ...), or "" for an unknown value. */
const char *quantity_unit(unsigned quantity);
/* Looks a quantity up by name. Returns 0 and sets *quantity_out, or -ENOENT. */
int quantity_parse(const char *name, uint8_t *quantity_out);

#endif
