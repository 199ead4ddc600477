/* Every adapter kind, in one const table: a new kind is one file and one line here. */
#include <stddef.h>
#include <string.h>

#include "ble.h"
#include "gpio.h"
#include "modbus.h"
#include "owserver.h"
#include "sensor.h"
#include "w1.h"

static const struct sensor_adapter *const adapters[] = {
    &modbus_tcp_adapter,
    &modbus_rtu_adapter,
    &w1_adapter,
    &owserver_adapter,
    &gpio_adapter,
    &ble_adapter,
};

const struct sensor_adapter *sensor_adapter_find(const char *type)
{
    for (size_t i = 0; i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strcmp(adapters[i]->type, type) == 0)
            return adapters[i];
    }
    return NULL;
}

const char *sensor_adapter_types(void)
{
    return "modbus-tcp, modbus-rtu, w1, gpio, owserver, ble";
}
