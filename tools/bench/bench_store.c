/* How many bytes of history.db a reading costs, audit trail included (issue 7: the database must
 * stay bounded on a 16 GB SD card for a year of 64 probes at one reading a minute). Writes N
 * readings of 64 probes, one a minute each, through the store (gateway/store.h) in batches of
 * 256 as the engine commits them, with a storage and a transit shipment, then checkpoints the WAL
 * and measures the file. Prints `key: value` lines (and the space per table and index where
 * SQLite has dbstat); the figures go into docs/history.md. Not installed; single-threaded like
 * the engine. Exit 1 if a store call fails, 2 on a bad argument. */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

#define PROBES 64
#define BATCH 256
#define MIN_MS INT64_C(60000)
#define START_MS INT64_C(1704067200000) /* 2024-01-01T00:00:00Z */
#define READINGS_DEFAULT 500000L

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

/* Checkpoints the WAL into the file and truncates it, as a quiet gateway's file looks. */
static int checkpoint(const char *db_path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "bench_store: checkpoint: %s\n", sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* The space of each table and index, from dbstat where SQLite was built with it. */
static void print_breakdown(const char *db_path, long readings)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name "
                           "ORDER BY SUM(pgsize) DESC",
                           -1, &st, NULL) != SQLITE_OK) {
        printf("breakdown: not available (%s)\n", sqlite3_errmsg(db));
    } else {
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t bytes = sqlite3_column_int64(st, 1);
            printf("bytes_in_%s: %" PRId64 " (%.1f per reading)\n",
                   (const char *)sqlite3_column_text(st, 0), bytes, (double)bytes / readings);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

int main(int argc, char **argv)
{
    long readings = READINGS_DEFAULT;
    const char *keep_dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--readings") == 0 && i + 1 < argc) {
            readings = strtol(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            keep_dir = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_store [--readings N] [--dir EXISTING_DIR]\n"
                            "  N readings of %d probes, one a minute each, in batches of %d\n"
                            "  (default %ld); --dir keeps the database there\n",
                    PROBES, BATCH, READINGS_DEFAULT);
            return 2;
        }
    }
    if (readings < BATCH) {
        fprintf(stderr, "bench_store: --readings must be at least %d\n", BATCH);
        return 2;
    }
    char dir[256];
    if (keep_dir != NULL)
        snprintf(dir, sizeof(dir), "%s", keep_dir);
    else if (mkdtemp(strcpy(dir, "/tmp/bench_store.XXXXXX")) == NULL) {
        perror("bench_store: mkdtemp");
        return 1;
    }
    char db_path[300];
    snprintf(db_path, sizeof(db_path), "%s/history.db", dir);

    struct store *store = NULL;
    if (store_open(dir, &store) < 0)
        return 1;
    /* A cold room with 48 probes and a truck with 16: every reading belongs to a shipment. */
    char probes[PROBES][READING_SENSOR_ID_MAX];
    for (int p = 0; p < PROBES; p++)
        snprintf(probes[p], sizeof(probes[p]), "%s-%02d", p < 48 ? "room" : "truck", p);
    int rc = store_shipment_start(store, "cold-room-1", "storage", "cdc-fridge", "", "config",
                                  START_MS, NULL, probes[0], 48);
    if (rc == 0)
        rc = store_shipment_start(store, "truck-0001", "transit", "who-2-8", "", "command",
                                  START_MS, "driver", probes[48], 16);
    double t0 = now_s();
    for (long i = 0; rc == 0 && i < readings; i++) {
        int p = (int)(i % PROBES);
        struct reading r = {.quantity = QUANTITY_TEMPERATURE,
                            .ts_ms = START_MS + (i / PROBES) * MIN_MS + p * 900,
                            .value = 4.0 + (double)((i * 7919) % 400) / 100.0};
        memcpy(r.sensor_id, probes[p], sizeof(r.sensor_id));
        rc = store_append_reading(store, &r);
        if (rc == 0 && store_pending(store) >= BATCH)
            rc = store_flush(store);
    }
    if (rc == 0)
        rc = store_flush(store);
    double elapsed = now_s() - t0;
    store_close(store);
    if (rc < 0) {
        fprintf(stderr, "bench_store: the store failed: %s\n", strerror(-rc));
        return 1;
    }
    if (checkpoint(db_path) < 0)
        return 1;
    int64_t bytes = file_size(db_path);
    double per = (double)bytes / (double)readings;
    double year = 64.0 * 60 * 24 * 365; /* 64 probes, one a minute, 365 days */
    printf("readings: %ld\n", readings);
    printf("batch: %d\n", BATCH);
    printf("seconds: %.2f\n", elapsed);
    printf("readings_per_second: %.0f\n", (double)readings / elapsed);
    printf("file_bytes: %" PRId64 "\n", bytes);
    printf("bytes_per_reading: %.1f\n", per);
    printf("year_of_64_probes_readings: %.0f\n", year);
    printf("year_of_64_probes_bytes: %.0f (%.2f GB)\n", per * year, per * year / 1e9);
    print_breakdown(db_path, readings);
    if (keep_dir == NULL) {
        char path[320];
        const char *suffixes[] = {"", "-wal", "-shm"};
        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s%s", db_path, suffixes[i]);
            unlink(path);
        }
        rmdir(dir);
    }
    return 0;
}
