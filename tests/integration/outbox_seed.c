/* outbox_seed: queues COUNT messages in <data_dir>/history.db's outbox through the store's own
 * store_outbox_put(), as the engine queues messages while the broker is away, so that
 * test_drain.c can start the daemon on a backlog far longer than a test could wait to build.
 *
 *   outbox_seed DATA_DIR COUNT TOPIC [PAYLOAD_BYTES]
 *
 * Message n (1..COUNT) is {"seq":n,"backlog":true,"pad":"xx..."}, padded to PAYLOAD_BYTES
 * (default 200), QoS 1, not retained; the rows are committed 10 000 to a transaction. Prints
 * "seeded COUNT messages, outbox ids FIRST..LAST" and exits 0; 1 on failure, 2 on bad arguments. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define COMMIT_EVERY 10000
#define PAYLOAD_MAX 65536

int main(int argc, char **argv)
{
    struct store *store = NULL;
    char *payload = NULL;
    int64_t first_id = 0, last_id = 0;
    int status = 1;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: outbox_seed DATA_DIR COUNT TOPIC [PAYLOAD_BYTES]\n");
        return 2;
    }
    char *end = NULL;
    long count = strtol(argv[2], &end, 10);
    long bytes = argc == 5 ? strtol(argv[4], NULL, 10) : 200;
    if (*end != '\0' || count < 1 || bytes < 64 || bytes > PAYLOAD_MAX) {
        fprintf(stderr, "outbox_seed: COUNT must be a positive integer and PAYLOAD_BYTES 64..%d\n",
                PAYLOAD_MAX);
        return 2;
    }
    payload = malloc((size_t)bytes + 1);
    if (!payload) {
        fprintf(stderr, "outbox_seed: out of memory\n");
        goto out;
    }
    int rc = store_open(argv[1], &store);
    if (rc < 0) {
        fprintf(stderr, "outbox_seed: cannot open the store in %s: %s\n", argv[1], strerror(-rc));
        goto out;
    }
    for (long n = 1; n <= count; n++) {
        int len =
            snprintf(payload, (size_t)bytes + 1, "{\"seq\":%ld,\"backlog\":true,\"pad\":\"", n);
        while (len < bytes - 2)
            payload[len++] = 'x';
        memcpy(payload + len, "\"}", 3);
        len += 2;
        int64_t id = 0;
        rc = store_outbox_put(store, argv[3], payload, (size_t)len, 1, false, false, &id);
        if (rc == 0 && n % COMMIT_EVERY == 0)
            rc = store_flush(store);
        if (rc < 0) {
            fprintf(stderr, "outbox_seed: message %ld: %s\n", n, strerror(-rc));
            goto out;
        }
        if (n == 1)
            first_id = id;
        last_id = id;
    }
    rc = store_flush(store);
    if (rc < 0) {
        fprintf(stderr, "outbox_seed: commit: %s\n", strerror(-rc));
        goto out;
    }
    printf("seeded %ld messages, outbox ids %lld..%lld\n", count, (long long)first_id,
           (long long)last_id);
    status = 0;
out:
    store_close(store);
    free(payload);
    return status;
}
