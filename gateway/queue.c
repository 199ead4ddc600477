/* A ring buffer under one mutex, with a condition variable for blocked producers and an eventfd
 * to wake the engine's poll(). Readings may fill `capacity` slots; the extra `reserve` slots are
 * for uplink notices only, so a burst of readings cannot stall Paho's callback threads. */
#include "queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define UPLINK_RESERVE 256

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_full;
    struct queue_msg *ring;
    size_t slots;     /* capacity + reserve */
    size_t capacity;  /* slots readings may use */
    size_t head;      /* next to pop */
    size_t count;
    int efd;
    _Atomic uint64_t full_waits;
};

int queue_new(size_t capacity, struct queue **queue_out)
{
    if (capacity == 0)
        return -EINVAL;
    struct queue *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->slots = capacity + UPLINK_RESERVE;
    q->capacity = capacity;
    q->ring = calloc(q->slots, sizeof(*q->ring));
    if (!q->ring) {
        free(q);
        return -ENOMEM;
    }
    q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->efd < 0) {
        int r = -errno;
        free(q->ring);
        free(q);
        return r;
    }
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_full, NULL);
    *queue_out = q;
    return 0;
}

void queue_free(struct queue *q)
{
    if (!q)
        return;
    close(q->efd);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
}

int queue_push(struct queue *q, const struct queue_msg *msg)
{
    size_t limit = msg->kind != QUEUE_READING ? q->slots : q->capacity;
    pthread_mutex_lock(&q->lock);
    if (q->count >= limit) {
        q->full_waits++;
        while (q->count >= limit)
            pthread_cond_wait(&q->not_full, &q->lock);
    }
    q->ring[(q->head + q->count) % q->slots] = *msg;
    q->count++;
    pthread_mutex_unlock(&q->lock);
    /* Wake the engine. A failed write means the counter is already huge: it is readable. */
    uint64_t one = 1;
    ssize_t w = write(q->efd, &one, sizeof(one));
    (void)w;
    return 0;
}

size_t queue_pop(struct queue *q, struct queue_msg *out, size_t cap)
{
    /* Clear the eventfd before taking messages: a push after this point sets it again, so a
     * wake-up is never lost between the pop and the next poll(). */
    uint64_t value;
    ssize_t rd = read(q->efd, &value, sizeof(value));
    (void)rd;

    pthread_mutex_lock(&q->lock);
    size_t n = q->count < cap ? q->count : cap;
    for (size_t i = 0; i < n; i++)
        out[i] = q->ring[(q->head + i) % q->slots];
    q->head = (q->head + n) % q->slots;
    q->count -= n;
    bool more = q->count > 0;
    if (n)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);

    if (more) {
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof(one));
        (void)w;
    }
    return n;
}

int queue_fd(const struct queue *q)
{
    return q->efd;
}

uint64_t queue_full_waits(const struct queue *q)
{
    return q->full_waits;
}
