/* The sensor_ctx behind sensor.h. Stop is a flag plus a condition variable on CLOCK_MONOTONIC,
 * so a bus sleeping until its next poll wakes at once on shutdown. */
#include "sensor_host.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "sensor.h"

#define RESTART_MIN_MS 1000
#define RESTART_MAX_MS 60000

struct sensor_ctx {
    const struct config_bus *bus;
    struct queue *queue;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_bool stop;
    atomic_bool done;
    /* The clock's sync state is asked of the kernel at most once a second. */
    int64_t synced_checked_mono_ms;
    bool synced;
};

struct sensor_host {
    struct sensor_ctx ctx;
    pthread_t thread;
    bool started;
};

int sensor_emit(struct sensor_ctx *ctx, const struct reading *r)
{
    struct queue_msg msg = {.kind = QUEUE_READING};
    msg.u.reading = *r;
    int64_t now_mono_ms = clock_mono_ms();
    if (now_mono_ms - ctx->synced_checked_mono_ms >= 1000 || ctx->synced_checked_mono_ms == 0) {
        ctx->synced = clock_wall_synced();
        ctx->synced_checked_mono_ms = now_mono_ms;
    }
    if (!ctx->synced)
        msg.u.reading.flags |= READING_UNSYNCED;
    queue_push(ctx->queue, &msg);
    return ctx->stop ? -ECANCELED : 0;
}

bool sensor_sleep_until(struct sensor_ctx *ctx, int64_t mono_ms)
{
    struct timespec deadline = {.tv_sec = mono_ms / 1000, .tv_nsec = (mono_ms % 1000) * 1000000};
    pthread_mutex_lock(&ctx->lock);
    while (!ctx->stop && clock_mono_ms() < mono_ms) {
        if (pthread_cond_timedwait(&ctx->wake, &ctx->lock, &deadline) == ETIMEDOUT)
            break;
    }
    bool go_on = !ctx->stop;
    pthread_mutex_unlock(&ctx->lock);
    return go_on;
}

bool sensor_stopping(struct sensor_ctx *ctx)
{
    return ctx->stop;
}

void sensor_log(struct sensor_ctx *ctx, int priority, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(priority, fmt, ap);
    va_end(ap);
}

static void *bus_thread(void *arg)
{
    struct sensor_ctx *ctx = arg;
    const struct config_bus *bus = ctx->bus;
    int64_t backoff_ms = RESTART_MIN_MS;

    while (!ctx->stop) {
        int64_t started_mono_ms = clock_mono_ms();
        int r = bus->adapter->run(bus->state, ctx);
        if (ctx->stop)
            break;
        /* run() only returns early on a fatal error; restart it, backing off if it keeps
         * failing fast, and reset the back-off after a run that lasted. */
        if (clock_mono_ms() - started_mono_ms > RESTART_MAX_MS)
            backoff_ms = RESTART_MIN_MS;
        log_err("bus[%s]: adapter %s stopped: %s; restarting in %lld ms", bus->name,
                bus->adapter->type, strerror(r < 0 ? -r : EIO), (long long)backoff_ms);
        if (!sensor_sleep_until(ctx, clock_mono_ms() + backoff_ms))
            break;
        backoff_ms = backoff_ms * 2 > RESTART_MAX_MS ? RESTART_MAX_MS : backoff_ms * 2;
    }
    ctx->done = true;
    return NULL;
}

int sensor_host_start(const struct config_bus *bus, struct queue *queue,
                      struct sensor_host **host_out)
{
    struct sensor_host *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->ctx.bus = bus;
    h->ctx.queue = queue;
    pthread_mutex_init(&h->ctx.lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->ctx.wake, &attr);
    pthread_condattr_destroy(&attr);
    int r = pthread_create(&h->thread, NULL, bus_thread, &h->ctx);
    if (r != 0) {
        sensor_host_free(h);
        return -r;
    }
    h->started = true;
    *host_out = h;
    return 0;
}

void sensor_host_stop(struct sensor_host *h)
{
    pthread_mutex_lock(&h->ctx.lock);
    h->ctx.stop = true;
    pthread_cond_broadcast(&h->ctx.wake);
    pthread_mutex_unlock(&h->ctx.lock);
}

bool sensor_host_done(struct sensor_host *h)
{
    return !h->started || h->ctx.done;
}

void sensor_host_free(struct sensor_host *h)
{
    if (!h)
        return;
    if (h->started) {
        sensor_host_stop(h);
        pthread_join(h->thread, NULL);
    }
    pthread_cond_destroy(&h->ctx.wake);
    pthread_mutex_destroy(&h->ctx.lock);
    free(h);
}
