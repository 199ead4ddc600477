/* The bounded queue from every producer (adapter threads, Paho's threads) to the engine thread
 * (DESIGN §3). It never drops: when it is full, producers block (backpressure) and a counter
 * says how often. Uplink notices have a small reserve so Paho's threads are not held up behind
 * readings. push: any thread; pop and fd: the engine thread. */
#ifndef COLDCHAIN_QUEUE_H
#define COLDCHAIN_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "reading.h"
#include "uplink.h"

enum queue_kind {
    QUEUE_READING,
    QUEUE_UPLINK,
    QUEUE_COMMAND, /* an operator command for the engine (engine.c owns the job's type) */
};

struct queue_msg {
    uint8_t kind; /* enum queue_kind */
    union {
        struct reading reading;
        struct uplink_notice uplink;
        void *job;
    } u;
};

struct queue;

/* capacity counts readings; uplink notices get a reserve on top. 0, -EINVAL, -ENOMEM, -EIO. */
int queue_new(size_t capacity, struct queue **queue_out);
/* NULL is a no-op. Producers must have stopped. */
void queue_free(struct queue *queue);

/* Copies msg in. Blocks while full. 0. */
int queue_push(struct queue *queue, const struct queue_msg *msg);

/* Moves up to cap messages out, oldest first, without blocking. Returns how many. */
size_t queue_pop(struct queue *queue, struct queue_msg *out, size_t cap);

/* An eventfd that is readable while messages are waiting, for the engine's poll(). */
int queue_fd(const struct queue *queue);

/* How many times a producer had to wait because the queue was full. */
uint64_t queue_full_waits(const struct queue *queue);

#endif
