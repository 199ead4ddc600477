/* coldchain-sim ble: advertisements of every supported BLE thermometer format along a scenario,
 * written as a btsnoop capture (what `btmon -w` writes) that the gateway can replay. Called from
 * sim.c's main, on the main thread. */
#ifndef COLDCHAIN_SIM_BLE_H
#define COLDCHAIN_SIM_BLE_H

#include <stdio.h>

/* Runs the ble mode. argv[0] is "ble", the options follow. usage prints the simulator's usage
 * text (for --help); usage_error prints a message about a bad argument, then the usage, and
 * returns a negative errno. Returns the exit status: 0 written, 1 the file could not be written
 * or an advert failed its self-check, 2 bad arguments (a message naming the argument on
 * stderr). */
int sim_ble_main(int argc, char **argv, void (*usage)(FILE *out),
                 int (*usage_error)(const char *fmt, ...) __attribute__((format(printf, 1, 2))));

#endif
