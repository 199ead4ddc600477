/* The gateway's configuration: one JSON file (DESIGN §8) parsed into a plain, self-contained
 * object. Every error names the file, the JSON path and what was expected. Parsing is pure apart
 * from config_load() reading the file, so it is fuzzed (tests/fuzz/fuzz_config.c).
 * Main thread: parsed before anything starts, and again aside on SIGHUP. */
#ifndef COLDCHAIN_CONFIG_H
#define COLDCHAIN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "alarm.h"
#include "cfgjson.h"
#include "gpio_out.h"
#include "profile.h"
#include "reading.h"
#include "rules.h"
#include "sensor.h"

#define CONFIG_ID_MAX 64

struct config_calibration {
    double offset; /* added after the gain, in the quantity's unit; default 0 */
    double gain;   /* multiplies the raw value; default 1 */
};

struct config_sensor {
    char id[READING_SENSOR_ID_MAX];  /* identifier (cfg_is_identifier) */
    char name[128];                  /* for people; defaults to the id */
    struct config_calibration calibration[QUANTITY_COUNT];
    int64_t calibration_due_ms;      /* "calibration_due": "2027-03-01" (00:00 UTC); 0 = none */
    char certificate[64];            /* the calibration certificate's id, for the audit; "" */
};

struct config_bus {
    char name[CONFIG_ID_MAX];
    const struct sensor_adapter *adapter; /* from the registry, by "type" */
    void *state;                          /* adapter->open() result, owned: config_free closes */
};

struct config_shipment {
    char id[CONFIG_ID_MAX];
    char kind[16];            /* "storage" or "transit" */
    char description[256];
    size_t profile;           /* index into config.profiles */
    char (*sensor_ids)[READING_SENSOR_ID_MAX]; /* sensor_count entries, owned */
    size_t sensor_count;
    int64_t *budget_used_ms;  /* per alarm of its profile: used by earlier legs, owned */
};

/* TLS towards the broker (docs/configuration.md). Paths are absolute; config_load() has checked
 * that each file could be opened, Paho reads them again at every connect. */
struct config_mqtt_tls {
    bool enabled;             /* "tls" given: the uri is ssl:// or mqtts:// */
    char ca_file[512];        /* PEM CA certificate(s) that must have signed the broker's */
    char cert_file[512];      /* PEM client certificate (chain), "" = none */
    char key_file[512];       /* its unencrypted PEM private key; given with cert_file only */
    bool verify_hostname;     /* the broker's certificate must name the uri's host; default true */
};

struct config_mqtt {
    char uri[256];            /* "tcp://", "mqtt://" (plain) or "ssl://", "mqtts://" (TLS) */
    char prefix[128];         /* topic root is <prefix>/<gateway_id>/ ; default "coldchain/v1" */
    char client_id[128];      /* default "coldchain-<gateway_id>" */
    int64_t keepalive_ms;     /* default 30 s */
    int telemetry_qos;        /* 0 or 1; default 0 */
    int64_t telemetry_interval_ms; /* readings are batched this long; default 10 s */
    int64_t twin_interval_ms;      /* at most one twin per shipment per this; default 5 s */
    int64_t reconnect_min_ms;      /* back-off after a failed connect; default 1 s */
    int64_t reconnect_max_ms;      /* back-off ceiling; default 60 s */
    struct config_mqtt_tls tls;
    char username[128];       /* "" = none; printable ASCII without spaces */
    char password_file[512];  /* "" = no password */
    /* Read from password_file by config_load() (config_parse() leaves it empty). A secret: it
     * never goes to a log, an error message or a payload, and config_free() wipes it. */
    char password[512];
    size_t password_len;
};

/* A local alarm output (buzzer, LED, relay) on a GPIO line (sensors/gpio_out.h). */
struct config_output {
    char name[CONFIG_ID_MAX];
    struct gpio_out_config gpio;
    unsigned states; /* bit (1 << enum gpio_out_state) for each state it shows */
};

struct config_store {
    long long batch_max;       /* commit after this many rows; default 256 */
    int64_t batch_interval_ms; /* ... or after this long; default 2 s */
    int64_t retention_ms;      /* readings of ended, uplinked shipments are purged after this;
                                * 0 (default): kept for ever */
    long long outbox_max;      /* messages waiting for the broker before the oldest QoS 1
                                * telemetry is dropped (alerts never are); default 1000000 */
};

/* The local control socket (gateway/control.h). */
struct config_control {
    char socket[108];  /* its path (a Unix socket address holds 107 bytes); default
                        * "<data_dir>/control.sock" */
    char group[64];    /* "": the daemon's group; else the socket's group (mode 0660) */
};

struct config {
    char path[512];              /* the file it came from (label given to config_parse) */
    char gateway_id[CONFIG_ID_MAX];
    char data_dir[512];          /* default "/var/lib/coldchain" */
    int log_level;               /* syslog priority; "log_level": "info" by default */
    struct config_mqtt mqtt;
    struct config_store store;
    struct config_control control;
    struct config_sensor *sensors;
    size_t sensor_count;
    struct config_bus *buses;
    size_t bus_count;
    struct config_profile *profiles; /* the config's own, then the presets its shipments use */
    size_t profile_count;
    struct config_shipment *shipments;
    size_t shipment_count;
    struct config_output *outputs;   /* "outputs": buzzers, LEDs, relays; may be none */
    size_t output_count;
};

enum config_flags {
    /* For `coldchainctl replay`: only "profiles" and "shipments" matter. gateway_id, mqtt,
     * sensors and buses are optional, and shipments may name sensors not declared in
     * sensors[]. */
    CONFIG_RULES_ONLY = 1u << 0,
};

/* Parses a config text. label names the source in errors; flags: enum config_flags. Returns 0
 * with *config_out (owned by the caller: config_free), -EINVAL with err filled (path and what
 * was expected), or -ENOMEM. */
int config_parse(const char *text, size_t len, const char *label, unsigned flags,
                 struct config **config_out, struct cfg_error *err);

/* Reads and parses a file. An unreadable file is -errno with err->path "" and err->msg saying
 * why. Unlike config_parse(), which only reads the text, it then opens the files the text names
 * (except with CONFIG_RULES_ONLY, which does not connect): each file of mqtt.tls must be a
 * readable regular file, the key file and mqtt.password_file must give no access to "others",
 * and the password is read into mqtt.password. Those failures are -EINVAL with err->path the
 * key ("mqtt.password_file") and err->msg naming the file and why; never the password. */
int config_load(const char *path, unsigned flags, struct config **config_out,
                struct cfg_error *err);

/* Prints a config_load() failure the way people read it (DESIGN §8): "<file>: <JSON path>:
 * <what was expected>", or "<file>: <why it could not be read>". */
void config_print_error(FILE *out, const char *file, int rc, const struct cfg_error *err);

/* Shipments started, assigned and ended at run time (by command; the store keeps them). The
 * index of the shipment with that id, or -ENOENT. */
int config_find_shipment(const struct config *config, const char *id);
/* Adds a shipment: id new and an identifier, kind "storage" or "transit", profile one of the
 * configuration's or a preset (added to the profiles on first use), sensors declared and
 * distinct. 0, -EINVAL with err naming what is wrong, or -ENOMEM. */
int config_add_shipment(struct config *config, const char *id, const char *kind,
                        const char *profile, const char *description,
                        const char (*sensors)[READING_SENSOR_ID_MAX], size_t sensor_count,
                        struct cfg_error *err);
/* Adds a declared sensor to a shipment (0 if it has it already), -EINVAL with err, -ENOMEM. */
int config_assign_sensor(struct config *config, size_t shipment, const char *sensor,
                         struct cfg_error *err);
/* Removes a shipment (an ended one: it is no longer watched). Later indexes move down. */
void config_remove_shipment(struct config *config, size_t shipment);

/* Frees a config and closes its adapters' states. NULL is a no-op. */
void config_free(struct config *config);

/* Looks up a sensor by id: its index, or -ENOENT. */
int config_sensor_index(const struct config *config, const char *sensor_id);

/* Builds the rules for every shipment of config: its profile's alarms and suppression windows,
 * its sensors with their calibration due dates, its budget seeds. started_ms (per shipment, may
 * be NULL = 0 for all: "from the first reading seen") sets where each history starts.
 * 0, -EINVAL, -ENOMEM; *rules_out is the caller's (rules_free). The daemon and replay both use
 * it, so a replay judges exactly as the live gateway does. */
int config_rules_new(const struct config *config, const int64_t *started_ms,
                     struct rules **rules_out);

/* Applies the sensor's calibration (gain, then offset) to a valid reading, and turns a value no
 * probe of that kind can report into a fault (DESIGN §4). A sensor not in sensors[] (replay) is
 * left as it is. Returns true when the reading became a fault here; *raw_out (may be NULL) gets
 * the value before, for the log. */
bool config_calibrate(const struct config *config, struct reading *r, double *raw_out);

#endif
