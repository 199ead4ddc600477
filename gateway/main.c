/* coldchain-gateway: parses the command line and the config, blocks signals before any thread
 * exists, creates the engine and runs it on its own thread. Exit status: 0 after a clean stop,
 * 78 (EX_CONFIG) for a bad config before anything was opened, 1 for any other failure. */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "engine.h"
#include "log.h"
#include "version.h"

#define EXIT_CONFIG 78 /* sysexits.h EX_CONFIG */
#define DEFAULT_CONFIG "/etc/coldchain/gateway.json"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: coldchain-gateway [-c FILE] [--check-config]\n"
            "Watches temperature probes, judges excursions, keeps the history and tells people\n"
            "over MQTT.\n\n"
            "  -c, --config FILE   the JSON configuration (default " DEFAULT_CONFIG ")\n"
            "      --check-config  validate the configuration and exit\n"
            "      --version       print the version and exit\n"
            "  -h, --help          this text\n\n"
            "Exit status: 0 stopped cleanly, 78 configuration error, 1 other failure.\n");
}

struct engine_thread {
    struct engine *engine;
    int result;
    struct config *reload; /* a new configuration to run with, or NULL */
};

static void *engine_main(void *arg)
{
    struct engine_thread *t = arg;
    t->result = engine_run(t->engine, &t->reload);
    return NULL;
}

/* Creates data_dir if it is missing (not its parents: a missing parent is a typo or an
 * unmounted card, and the daemon should say so rather than write into the root filesystem). */
static int ensure_data_dir(const char *dir)
{
    if (mkdir(dir, 0750) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 'C'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = DEFAULT_CONFIG;
    bool check_only = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'C':
            check_only = true;
            break;
        case 'V':
            printf("coldchain-gateway %s\n", COLDCHAIN_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "coldchain-gateway: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    struct config *config = NULL;
    struct cfg_error err = {0};
    int r = config_load(config_path, 0, &config, &err);
    if (r < 0) {
        config_print_error(stderr, config_path, r, &err);
        return EXIT_CONFIG;
    }
    if (check_only) {
        printf("%s: configuration is valid: gateway %s, %zu sensors on %zu buses, %zu profiles, "
               "%zu shipments\n",
               config_path, config->gateway_id, config->sensor_count, config->bus_count,
               config->profile_count, config->shipment_count);
        config_free(config);
        return 0;
    }
    log_set_level(config->log_level);

    /* Signals are blocked in every thread (threads inherit the mask) and read by the engine
     * through a signalfd; no code runs in a signal handler. SIGPIPE is ignored so a dropped
     * broker socket is an error return, not a death. */
    int exit_status = 1;
    int sigfd = -1;
    struct engine *engine = NULL;
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_sigmask(SIG_BLOCK, &mask, NULL) != 0 ||
        (sigfd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0) {
        log_err("gateway: cannot set up signals: %s", strerror(errno));
        goto out;
    }

    /* A reload stops the engine and starts a new one with the new configuration: its state is
     * rebuilt from the history, as after a restart, so alarms carry on where they were. */
    for (bool reloaded = false;; reloaded = true) {
        r = ensure_data_dir(config->data_dir);
        if (r < 0) {
            log_err("gateway: data_dir %s: %s", config->data_dir, strerror(-r));
            goto out;
        }
        r = engine_new(config, sigfd, reloaded, &engine);
        if (r < 0) {
            log_err("gateway: cannot start: %s", strerror(-r));
            goto out;
        }
        log_info("gateway: coldchain-gateway %s starting with %s", COLDCHAIN_VERSION,
                 config_path);

        struct engine_thread t = {.engine = engine};
        pthread_t thread;
        r = pthread_create(&thread, NULL, engine_main, &t);
        if (r != 0) {
            log_err("gateway: cannot start the engine thread: %s", strerror(r));
            goto out;
        }
        pthread_join(thread, NULL);
        engine_free(engine);
        engine = NULL;
        if (t.reload == NULL || t.result != 0) {
            config_free(t.reload);
            exit_status = t.result == 0 ? 0 : 1;
            break;
        }
        config_free(config);
        config = t.reload;
        log_set_level(config->log_level);
        log_notice("gateway: configuration reloaded from %s", config_path);
    }
    log_info("gateway: stopped%s", exit_status ? " after an error" : "");
out:
    engine_free(engine);
    if (sigfd >= 0)
        close(sigfd);
    config_free(config);
    return exit_status;
}
