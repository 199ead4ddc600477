/* coldchain-sim read by an independent Modbus client: mbpoll (libmodbus-based, but with its own
 * float decoding). The gateway's own reads of the simulator cannot show that the simulator's
 * encoding is right: both could share a mistake, and Debian 12's libmodbus 3.1.6 float setters
 * do write the wrong byte order (PROTOCOLS §3.3). So another client checks every register kind
 * the simulator serves: the XY-MD02 int16 x10 pair, the CDAB float32 and the Vaisala test
 * registers with their published values, and the silence of an absent unit. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define UNIT_ID 7

static const char *sim_bin;
static int sim_port;

/* mbpoll prints one line per register: "[<reference>]: \t<value>[ (<signed>)]". Finds the line
 * of ref in log and reads its value, the signed one where both are printed; false if it is not
 * there. */
static bool mbpoll_value(const char *log, long ref, double *value_out)
{
    char key[32];
    snprintf(key, sizeof(key), "[%ld]:", ref);
    const char *at = log ? strstr(log, key) : NULL;
    if (!at)
        return false;
    const char *start = at + strlen(key);
    char *end;
    double value = strtod(start, &end);
    if (end == start)
        return false;
    /* A 16-bit register is printed unsigned, then signed in brackets when they differ. */
    if (strncmp(end, " (", 2) == 0)
        value = strtod(end + 2, NULL);
    *value_out = value;
    return true;
}

/* Runs one mbpoll poll (-1) of count values of type at the PDU address (-0: references are
 * 0-based, as in PROTOCOLS.md and the simulator's map) of unit. Returns its log (caller frees)
 * and its exit status in *status_out. */
static char *run_mbpoll(const char *what, int unit, const char *type, int address, int count,
                        int *status_out)
{
    char port[16], unit_arg[16], ref[16], count_arg[16];
    snprintf(port, sizeof(port), "%d", sim_port);
    snprintf(unit_arg, sizeof(unit_arg), "%d", unit);
    snprintf(ref, sizeof(ref), "%d", address);
    snprintf(count_arg, sizeof(count_arg), "%d", count);
    struct harness_proc *p = harness_spawn(
        what, (const char *const[]){"mbpoll", "-m", "tcp", "-p", port, "-a", unit_arg, "-t", type,
                                    "-0", "-r", ref, "-c", count_arg, "-1", "-o", "0.5",
                                    "127.0.0.1", NULL});
    HARNESS_REQUIRE(p, "%s: mbpoll started", what);
    *status_out = -1;
    if (harness_proc_wait(p, 10000, status_out) < 0)
        harness_proc_stop(p, 1000, status_out);
    return harness_read_file(harness_proc_log(p));
}

static void check_values(const char *what, const char *type, int address, const double *want,
                         int count, double tolerance)
{
    char st[32];
    int status;
    char *log = run_mbpoll(what, UNIT_ID, type, address, count, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: mbpoll exits 0 (got %s)",
                  what, harness_status_str(status, st, sizeof(st)));
    /* A float32 takes two registers, so mbpoll numbers the next value two references on. */
    int step = strstr(type, "float") ? 2 : 1;
    for (int i = 0; i < count; i++) {
        double got = (double)NAN;
        bool found = mbpoll_value(log, address + (long)i * step, &got);
        harness_check(found && fabs(got - want[i]) <= tolerance,
                      "%s: register 0x%04X reads %g (got %s%g)", what, address + i * step,
                      want[i], found ? "" : "nothing, ", got);
    }
    free(log);
}

int main(void)
{
    if (harness_init("sim-mbpoll") < 0) {
        printf("0 passed, 1 failed\n");
        return 1;
    }
    sim_bin = getenv("COLDCHAIN_SIM");
    HARNESS_REQUIRE(sim_bin && access(sim_bin, X_OK) == 0,
                    "COLDCHAIN_SIM names an executable (meson sets it)");
    if (system("command -v mbpoll >/dev/null 2>&1") != 0)
        harness_skip("mbpoll is not installed (apt-get install mbpoll)");

    /* A steady 5.0 °C at 45 %RH. */
    struct harness_proc *sim =
        harness_start_modbus_sim(sim_bin, 0, UNIT_ID, "0s=5.0", NULL, &sim_port);
    HARNESS_REQUIRE(sim, "simulator accepts Modbus TCP on 127.0.0.1:%d", sim_port);

    /* XY-MD02 (PROTOCOLS §3.1): input registers 0x0001 and 0x0002, int16 x10. */
    check_values("xymd02", "3", 0x0001, (const double[]){50, 450}, 2, 0.0);
    /* Float32, low word first (CDAB, §3.2): mbpoll's default float is that word order. */
    check_values("float-cdab", "3:float", 0x0100, (const double[]){5.0}, 1, 1e-6);
    /* The Vaisala test registers (§3.2): int16 -12345, then float32 -123.45 in CDAB. */
    check_values("vaisala-int16", "4", 0x1F00, (const double[]){-12345}, 1, 0.0);
    check_values("vaisala-float", "4:float", 0x1F01, (const double[]){-123.45}, 1, 1e-4);
    /* XY-MD02 settings: holding 0x0101 holds the unit id. */
    check_values("unit-register", "4", 0x0101, (const double[]){UNIT_ID}, 1, 0.0);

    /* Another unit id gets no answer at all, like an absent device behind an RS-485 gateway. */
    int status;
    char st[32];
    char *log = run_mbpoll("absent-unit", UNIT_ID + 1, "3", 0x0001, 1, &status);
    harness_check(WIFEXITED(status) && WEXITSTATUS(status) != 0 && log &&
                      strstr(log, "timed out"),
                  "absent-unit: unit %d times out and mbpoll fails (got %s)", UNIT_ID + 1,
                  harness_status_str(status, st, sizeof(st)));
    free(log);
    harness_check(harness_proc_alive(sim), "the simulator is still serving after the timeout");
    harness_exit();
}
