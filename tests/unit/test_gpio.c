/* The GPIO door adapter (gpio.c) and the alarm outputs (gpio_out.c) against a double of the
 * libgpiod calls (gpio_ops.h): lines whose physical level a test scripts over fake time, edges
 * queued as the kernel would, errors injected per call. The adapter's run() gets link-time fakes
 * of sensor_emit/sensor_sleep_until/sensor_stopping/sensor_log (sensor.h), so this executable
 * links the sensors library without the gateway. Nothing sleeps and no clock is read: time is
 * the fake's, advanced only by the adapter's waits and sleeps, or passed to gpio_out. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cunit_main.h"
#include "gpio.h"
#include "gpio_out.h"
#include "sensor.h"

/* ---- the libgpiod double ---------------------------------------------------------------- */

#define FAKE_LINES 64 /* the chip's line count: offsets >= this are refused, as by libgpiod */
#define FAKE_CHANGES 256
#define FAKE_CALLS 512
#define WALL_BASE_MS 1700000000000LL

struct gpiod_line {
    unsigned offset;
    int level;      /* physical level driven from outside (inputs) or by us (outputs) */
    bool requested; /* held by the code under test */
    bool events;    /* requested for edge events */
    bool output;
    unsigned flags; /* enum gpio_ops_flag of the request */
    int pending;    /* queued edge events */
    int value;      /* logical value last written (outputs) */
};

struct gpiod_chip {
    int unused;
};

/* An injected failure: the op returns err while from_ms <= now < until_ms (err 0: none), at most
 * count times (0: no limit). */
struct fail {
    int err;
    int64_t from_ms, until_ms;
    int count;
};

enum call {
    CALL_CHIP_OPEN,
    CALL_CHIP_CLOSE,
    CALL_GET_LINE,
    CALL_REQUEST_EVENTS,
    CALL_EVENT_WAIT,
    CALL_EVENT_READ,
    CALL_GET_VALUE,
    CALL_REQUEST_OUTPUT,
    CALL_SET_VALUE,
    CALL_RELEASE,
};

struct call_rec {
    enum call call;
    unsigned offset;
    int value;
};

struct change {
    int64_t at_ms;
    unsigned offset;
    int level;
};

static struct {
    int64_t now_ms;  /* CLOCK_MONOTONIC of the fake world */
    int64_t stop_at; /* sensor_stopping() turns true here */
    struct gpiod_chip chip;
    bool chip_open;
    int opens, closes;
    char chip_name[64];
    struct gpiod_line lines[FAKE_LINES];
    struct change changes[FAKE_CHANGES];
    size_t change_count, change_next;
    struct fail chip_open_fail, wait_fail;
    struct fail request_fail[FAKE_LINES], value_fail[FAKE_LINES], read_fail[FAKE_LINES];
    struct fail set_fail;
    int max_wait_ms, wait_calls;
    struct call_rec calls[FAKE_CALLS];
    size_t call_count;
} fake;

static void record(enum call c, unsigned offset, int value)
{
    if (fake.call_count < FAKE_CALLS)
        fake.calls[fake.call_count++] = (struct call_rec){c, offset, value};
}

static int fails(struct fail *f)
{
    if (f->err == 0 || fake.now_ms < f->from_ms || fake.now_ms >= f->until_ms)
        return 0;
    if (f->count > 0 && --f->count == 0) {
        int err = f->err;
        f->err = 0;
        return err;
    }
    return f->err;
}

static void fake_reset(void)
{
    memset(&fake, 0, sizeof(fake));
    fake.stop_at = INT64_MAX;
    for (unsigned i = 0; i < FAKE_LINES; i++)
        fake.lines[i].offset = i;
}

/* Scripts the physical level of line offset at at_ms (calls in time order). */
static void fake_change(int64_t at_ms, unsigned offset, int level)
{
    CU_ASSERT_FATAL(fake.change_count < FAKE_CHANGES);
    CU_ASSERT_FATAL(fake.change_count == 0 || fake.changes[fake.change_count - 1].at_ms <= at_ms);
    fake.changes[fake.change_count++] = (struct change){at_ms, offset, level};
}

/* Applies the scripted changes up to now: a level change on a line requested for events
 * queues an edge, as the kernel does. */
static void fake_apply(void)
{
    while (fake.change_next < fake.change_count &&
           fake.changes[fake.change_next].at_ms <= fake.now_ms) {
        const struct change *c = &fake.changes[fake.change_next++];
        struct gpiod_line *l = &fake.lines[c->offset];
        if (l->level != c->level && l->requested && l->events)
            l->pending++;
        l->level = c->level;
    }
}

static int fake_chip_open(const char *chip, struct gpiod_chip **chip_out)
{
    record(CALL_CHIP_OPEN, 0, 0);
    CU_ASSERT(!fake.chip_open); /* one chip handle at a time */
    int err = fails(&fake.chip_open_fail);
    if (err)
        return err;
    snprintf(fake.chip_name, sizeof(fake.chip_name), "%s", chip);
    fake.chip_open = true;
    fake.opens++;
    *chip_out = &fake.chip;
    return 0;
}

static void fake_release_line(struct gpiod_line *l)
{
    l->requested = l->events = l->output = false;
    l->pending = 0;
    l->flags = 0;
}

static void fake_chip_close(struct gpiod_chip *chip)
{
    record(CALL_CHIP_CLOSE, 0, 0);
    CU_ASSERT_PTR_EQUAL(chip, &fake.chip);
    CU_ASSERT(fake.chip_open);
    /* libgpiod 1.6.3: closing the chip releases every line */
    for (unsigned i = 0; i < FAKE_LINES; i++)
        fake_release_line(&fake.lines[i]);
    fake.chip_open = false;
    fake.closes++;
}

static int fake_get_line(struct gpiod_chip *chip, unsigned offset, struct gpiod_line **line_out)
{
    record(CALL_GET_LINE, offset, 0);
    CU_ASSERT_PTR_EQUAL(chip, &fake.chip);
    CU_ASSERT(fake.chip_open);
    if (offset >= FAKE_LINES)
        return -EINVAL;
    *line_out = &fake.lines[offset];
    return 0;
}

static int fake_request_events(struct gpiod_line *line, const char *consumer, unsigned flags)
{
    record(CALL_REQUEST_EVENTS, line->offset, (int)flags);
    CU_ASSERT_STRING_EQUAL(consumer, "coldchain");
    CU_ASSERT(!line->requested);
    int err = fails(&fake.request_fail[line->offset]);
    if (err)
        return err;
    line->requested = line->events = true;
    line->flags = flags;
    line->pending = 0;
    return 0;
}

static int fake_event_wait(struct gpiod_line *const *lines, size_t count, int timeout_ms,
                           bool *ready)
{
    record(CALL_EVENT_WAIT, (unsigned)count, timeout_ms);
    fake.wait_calls++;
    if (timeout_ms > fake.max_wait_ms)
        fake.max_wait_ms = timeout_ms;
    CU_ASSERT(timeout_ms >= 0);
    CU_ASSERT(count >= 1 && count <= GPIO_OPS_WAIT_MAX);
    for (size_t i = 0; i < count; i++)
        CU_ASSERT(lines[i]->requested && lines[i]->events);
    int err = fails(&fake.wait_fail);
    if (err)
        return err;
    int64_t end_ms = fake.now_ms + timeout_ms;
    for (;;) {
        fake_apply();
        bool any = false;
        for (size_t i = 0; i < count; i++) {
            ready[i] = lines[i]->pending > 0;
            any = any || ready[i];
        }
        if (any)
            return 1;
        if (fake.change_next >= fake.change_count ||
            fake.changes[fake.change_next].at_ms > end_ms) {
            fake.now_ms = end_ms;
            return 0;
        }
        fake.now_ms = fake.changes[fake.change_next].at_ms;
    }
}

static int fake_event_read(struct gpiod_line *line)
{
    record(CALL_EVENT_READ, line->offset, line->pending);
    CU_ASSERT(line->pending > 0); /* a read of an empty queue would block */
    int err = fails(&fake.read_fail[line->offset]);
    if (err)
        return err;
    int n = line->pending > 16 ? 16 : line->pending;
    line->pending -= n;
    return n;
}

static int fake_get_value(struct gpiod_line *line, int *value_out)
{
    record(CALL_GET_VALUE, line->offset, 0);
    CU_ASSERT(line->requested);
    if (!line->requested)
        return -EPERM;
    int err = fails(&fake.value_fail[line->offset]);
    if (err)
        return err;
    fake_apply();
    *value_out = line->level ^ ((line->flags & GPIO_OPS_ACTIVE_LOW) ? 1 : 0);
    return 0;
}

static int fake_request_output(struct gpiod_line *line, const char *consumer, unsigned flags,
                               int value)
{
    record(CALL_REQUEST_OUTPUT, line->offset, value);
    CU_ASSERT_STRING_EQUAL(consumer, "coldchain");
    int err = fails(&fake.request_fail[line->offset]);
    if (err)
        return err;
    line->requested = line->output = true;
    line->flags = flags;
    line->value = value;
    line->level = value ^ ((flags & GPIO_OPS_ACTIVE_LOW) ? 1 : 0);
    return 0;
}

static int fake_set_value(struct gpiod_line *line, int value)
{
    record(CALL_SET_VALUE, line->offset, value);
    CU_ASSERT(line->requested && line->output);
    int err = fails(&fake.set_fail);
    if (err)
        return err;
    line->value = value;
    line->level = value ^ ((line->flags & GPIO_OPS_ACTIVE_LOW) ? 1 : 0);
    return 0;
}

static void fake_release(struct gpiod_line *line)
{
    record(CALL_RELEASE, line->offset, 0);
    fake_release_line(line);
}

static const struct gpio_ops fake_ops = {
    .name = "fake",
    .chip_open = fake_chip_open,
    .chip_close = fake_chip_close,
    .get_line = fake_get_line,
    .request_events = fake_request_events,
    .event_wait = fake_event_wait,
    .event_read = fake_event_read,
    .get_value = fake_get_value,
    .request_output = fake_request_output,
    .set_value = fake_set_value,
    .release = fake_release,
};

static size_t count_calls(enum call c)
{
    size_t n = 0;
    for (size_t i = 0; i < fake.call_count; i++)
        n += fake.calls[i].call == c;
    return n;
}

/* ---- the clocks and the sensor_ctx (link-time fakes of sensor.h) ------------------------ */

static int64_t fake_mono_ms(void)
{
    return fake.now_ms;
}

static int64_t fake_wall_ms(void)
{
    return WALL_BASE_MS + fake.now_ms;
}

static const struct gpio_env fake_env = {
    .ops = &fake_ops, .mono_ms = fake_mono_ms, .wall_ms = fake_wall_ms};

struct sensor_ctx {
    int unused;
};

struct emitted {
    char sensor[READING_SENSOR_ID_MAX];
    uint8_t quantity, flags;
    double value;
    int64_t ts_ms, mono_ms;
};

#define MAX_EMITTED 1024
#define MAX_LOGS 64

static struct {
    struct emitted r[MAX_EMITTED];
    size_t count;
    char logs[MAX_LOGS][256];
    int log_prio[MAX_LOGS];
    size_t log_count;
} out;

int sensor_emit(struct sensor_ctx *ctx, const struct reading *r)
{
    CU_ASSERT_PTR_NOT_NULL(ctx);
    CU_ASSERT_FATAL(out.count < MAX_EMITTED);
    struct emitted *e = &out.r[out.count++];
    memcpy(e->sensor, r->sensor_id, sizeof(e->sensor));
    e->quantity = r->quantity;
    e->flags = r->flags;
    e->value = r->value;
    e->ts_ms = r->ts_ms;
    e->mono_ms = fake.now_ms;
    return fake.now_ms >= fake.stop_at ? -ECANCELED : 0;
}

bool sensor_sleep_until(struct sensor_ctx *ctx, int64_t mono_ms)
{
    (void)ctx;
    if (fake.stop_at <= mono_ms) {
        if (fake.now_ms < fake.stop_at)
            fake.now_ms = fake.stop_at;
        return false;
    }
    if (mono_ms > fake.now_ms)
        fake.now_ms = mono_ms;
    return true;
}

bool sensor_stopping(struct sensor_ctx *ctx)
{
    (void)ctx;
    return fake.now_ms >= fake.stop_at;
}

void sensor_log(struct sensor_ctx *ctx, int priority, const char *fmt, ...)
{
    (void)ctx;
    if (out.log_count >= MAX_LOGS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out.logs[out.log_count], sizeof(out.logs[0]), fmt, ap);
    va_end(ap);
    out.log_prio[out.log_count++] = priority;
}

static size_t logs_with(int priority, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < out.log_count; i++)
        n += out.log_prio[i] == priority && strstr(out.logs[i], needle) != NULL;
    return n;
}

/* Readings of one sensor, in order, into list (up to cap). Returns how many. */
static size_t readings_of(const char *sensor, const struct emitted **list, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < out.count && n < cap; i++) {
        if (strcmp(out.r[i].sensor, sensor) == 0)
            list[n++] = &out.r[i];
    }
    return n;
}

/* ---- adapter helpers -------------------------------------------------------------------- */

static struct sensor_ctx ctx;

/* Before every test (CUnit's per-test setup): a fresh fake world. */
static void setup_each(void)
{
    fake_reset();
    memset(&out, 0, sizeof(out));
}

/* Opens a bus from JSON text with the fake environment; asserts it parses. */
static void *open_bus(const char *json)
{
    cJSON *cfg = cJSON_Parse(json);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
    struct cfg_error err = {0};
    void *state = NULL;
    int rc = gpio_adapter_open_env(&fake_env, cfg, "buses[0]", &err, &state);
    if (rc != 0)
        fprintf(stderr, "open failed: %s: %s\n", err.path, err.msg);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(state);
    cJSON_Delete(cfg);
    return state;
}

/* Runs the adapter until stop is asked at stop_at (fake time); asserts it returned 0 promptly
 * and left nothing held. */
static void run_until(void *state, int64_t stop_at)
{
    fake.stop_at = stop_at;
    CU_ASSERT_EQUAL(gpio_adapter.run(state, &ctx), 0);
    CU_ASSERT(fake.now_ms >= stop_at);
    CU_ASSERT(fake.now_ms - stop_at <= 200);
    CU_ASSERT(fake.max_wait_ms <= 200);
    CU_ASSERT(!fake.chip_open);
    CU_ASSERT_EQUAL(fake.opens, fake.closes);
    for (unsigned i = 0; i < FAKE_LINES; i++)
        CU_ASSERT(!fake.lines[i].requested);
}

#define ONE_DOOR(extra)                                                                            \
    "{\"name\":\"doors\",\"type\":\"gpio\",\"heartbeat\":\"60s\",\"doors\":[{\"line\":17,"         \
    "\"sensor\":\"fridge-a-door\"" extra "}]}"

/* ---- adapter: config -------------------------------------------------------------------- */

static int count_points(void *arg, const char *sensor_id, uint8_t quantity, const char *path)
{
    int *n = arg;
    CU_ASSERT_EQUAL(quantity, QUANTITY_DOOR);
    if (*n == 0) {
        CU_ASSERT_STRING_EQUAL(sensor_id, "fridge-a-door");
        CU_ASSERT_STRING_EQUAL(path, "buses[0].doors[0].sensor");
    } else {
        CU_ASSERT_STRING_EQUAL(sensor_id, "fridge-b-door");
        CU_ASSERT_STRING_EQUAL(path, "buses[0].doors[1].sensor");
    }
    (*n)++;
    return 0;
}

static void test_config_is_read_without_touching_the_gpio(void)
{
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"doors\":["
                           "{\"line\":17,\"sensor\":\"fridge-a-door\",\"open_when\":\"high\"},"
                           "{\"line\":27,\"sensor\":\"fridge-b-door\",\"open_when\":\"low\","
                           "\"bias\":\"as-is\",\"debounce\":\"0ms\"}]}");
    CU_ASSERT_EQUAL(fake.call_count, 0);
    CU_ASSERT_STRING_EQUAL(gpio_adapter.name(state), "doors");
    int n = 0;
    CU_ASSERT_EQUAL(gpio_adapter.for_each_point(state, count_points, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    gpio_adapter.close(state);
    gpio_adapter.close(NULL);
    CU_ASSERT_EQUAL(fake.call_count, 0);
}

static void test_the_registry_knows_gpio(void)
{
    CU_ASSERT_PTR_EQUAL(sensor_adapter_find("gpio"), &gpio_adapter);
    CU_ASSERT_PTR_NOT_NULL(strstr(sensor_adapter_types(), "gpio"));
}

static void test_bad_configs_name_the_path(void)
{
    static const struct {
        const char *json, *path, *msg;
    } cases[] = {
        {ONE_DOOR(""), "buses[0].doors[0].open_when", "missing"},
        {ONE_DOOR(",\"open_when\":\"up\""), "buses[0].doors[0].open_when", "\"high\" or \"low\""},
        {ONE_DOOR(",\"open_when\":\"high\",\"bias\":\"weak\""), "buses[0].doors[0].bias",
         "pull-up"},
        {ONE_DOOR(",\"open_when\":\"high\",\"debounce\":\"6s\""), "buses[0].doors[0].debounce", ""},
        {ONE_DOOR(",\"open_when\":\"high\",\"dealy\":1"), "buses[0].doors[0]", "dealy"},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"doors\":[{\"line\":512,\"sensor\":\"a\","
         "\"open_when\":\"high\"}]}",
         "buses[0].doors[0].line", ""},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"doors\":[{\"line\":-1,\"sensor\":\"a\","
         "\"open_when\":\"high\"}]}",
         "buses[0].doors[0].line", ""},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"doors\":[{\"line\":1,\"sensor\":\"a b\","
         "\"open_when\":\"high\"}]}",
         "buses[0].doors[0].sensor", "sensor id"},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"doors\":[]}", "buses[0].doors", "1 to 64"},
        {"{\"name\":\"d\",\"type\":\"gpio\"}", "buses[0].doors", "missing"},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"heartbeat\":\"500ms\",\"doors\":[{\"line\":1,"
         "\"sensor\":\"a\",\"open_when\":\"high\"}]}",
         "buses[0].heartbeat", ""},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"chip\":\"gpio chip\",\"doors\":[{\"line\":1,"
         "\"sensor\":\"a\",\"open_when\":\"high\"}]}",
         "buses[0].chip", "absolute path"},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"doors\":[{\"line\":1,\"sensor\":\"a\","
         "\"open_when\":\"high\"},{\"line\":1,\"sensor\":\"b\",\"open_when\":\"high\"}]}",
         "buses[0].doors[1]", "line 1 is listed twice"},
        {"{\"name\":\"d\",\"type\":\"gpio\",\"doors\":[{\"line\":1,\"sensor\":\"a\","
         "\"open_when\":\"high\"},{\"line\":2,\"sensor\":\"a\",\"open_when\":\"high\"}]}",
         "buses[0].doors[1]", "sensor \"a\" is listed twice"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cJSON *cfg = cJSON_Parse(cases[i].json);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
        struct cfg_error err = {0};
        void *state = NULL;
        int rc = gpio_adapter_open_env(&fake_env, cfg, "buses[0]", &err, &state);
        CU_ASSERT_EQUAL(rc, -EINVAL);
        CU_ASSERT_PTR_NULL(state);
        if (strcmp(err.path, cases[i].path) != 0 || strstr(err.msg, cases[i].msg) == NULL)
            fprintf(stderr, "case %zu: got %s: %s\n", i, err.path, err.msg);
        CU_ASSERT_STRING_EQUAL(err.path, cases[i].path);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, cases[i].msg));
        cJSON_Delete(cfg);
    }
    CU_ASSERT_EQUAL(fake.call_count, 0);
}

/* ---- adapter: run ----------------------------------------------------------------------- */

static void test_first_state_is_emitted_with_the_request_flags(void)
{
    fake.lines[17].level = 0; /* reed switch closed: pulled to ground */
    void *state = open_bus(ONE_DOOR(",\"open_when\":\"high\""));
    run_until(state, 100);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 1);
    CU_ASSERT_EQUAL(r[0]->quantity, QUANTITY_DOOR);
    CU_ASSERT_EQUAL(r[0]->value, 0.0);
    CU_ASSERT_EQUAL(r[0]->flags, 0);
    CU_ASSERT_EQUAL(r[0]->mono_ms, 0);
    CU_ASSERT_EQUAL(r[0]->ts_ms, WALL_BASE_MS);
    CU_ASSERT_STRING_EQUAL(fake.chip_name, "gpiochip0");
    /* open_when high: no active-low; the default bias pulls up */
    bool saw_request = false;
    for (size_t i = 0; i < fake.call_count; i++) {
        if (fake.calls[i].call == CALL_REQUEST_EVENTS) {
            CU_ASSERT_EQUAL(fake.calls[i].offset, 17);
            CU_ASSERT_EQUAL(fake.calls[i].value, GPIO_OPS_BIAS_PULL_UP);
            saw_request = true;
        }
    }
    CU_ASSERT(saw_request);
    gpio_adapter.close(state);
}

static void test_open_when_maps_the_level_to_open(void)
{
    /* line 17 opens high, line 27 opens low (active-low); both start with the door shut */
    fake.lines[17].level = 0;
    fake.lines[27].level = 1;
    void *state =
        open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"chip\":\"/dev/gpiochip1\",\"doors\":["
                 "{\"line\":17,\"sensor\":\"fridge-a-door\",\"open_when\":\"high\"},"
                 "{\"line\":27,\"sensor\":\"fridge-b-door\",\"open_when\":\"low\","
                 "\"bias\":\"pull-down\"}]}");
    fake_change(1000, 17, 1); /* A opens */
    fake_change(2000, 27, 0); /* B opens */
    fake_change(3000, 17, 0); /* A shuts */
    fake_change(4000, 27, 1); /* B shuts */
    run_until(state, 5000);
    CU_ASSERT_STRING_EQUAL(fake.chip_name, "/dev/gpiochip1");
    const struct emitted *a[8], *b[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", a, 8), 3);
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-b-door", b, 8), 3);
    static const double want[] = {0.0, 1.0, 0.0};
    static const int64_t a_at[] = {0, 1050, 3050}, b_at[] = {0, 2050, 4050};
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(a[i]->value, want[i]);
        CU_ASSERT_EQUAL(b[i]->value, want[i]);
        CU_ASSERT_EQUAL(a[i]->mono_ms, a_at[i]);
        CU_ASSERT_EQUAL(b[i]->mono_ms, b_at[i]);
        CU_ASSERT_EQUAL(a[i]->ts_ms, WALL_BASE_MS + a_at[i]);
    }
    /* B was requested active-low with a pull-down */
    for (size_t i = 0; i < fake.call_count; i++) {
        if (fake.calls[i].call == CALL_REQUEST_EVENTS && fake.calls[i].offset == 27)
            CU_ASSERT_EQUAL(fake.calls[i].value, GPIO_OPS_ACTIVE_LOW | GPIO_OPS_BIAS_PULL_DOWN);
    }
    gpio_adapter.close(state);
}

static void test_bounce_within_debounce_gives_one_reading(void)
{
    fake.lines[17].level = 0;
    void *state = open_bus(ONE_DOOR(",\"open_when\":\"high\",\"debounce\":\"50ms\""));
    /* the door opens with a bouncing contact: five edges in 30 ms, settling high */
    fake_change(1000, 17, 1);
    fake_change(1005, 17, 0);
    fake_change(1012, 17, 1);
    fake_change(1020, 17, 0);
    fake_change(1030, 17, 1);
    run_until(state, 3000);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 2);
    CU_ASSERT_EQUAL(r[0]->value, 0.0);
    CU_ASSERT_EQUAL(r[1]->value, 1.0);
    CU_ASSERT_EQUAL(r[1]->mono_ms, 1080);            /* quiet for 50 ms after the last edge */
    CU_ASSERT_EQUAL(count_calls(CALL_GET_VALUE), 2); /* the first read and the settled one */
    gpio_adapter.close(state);
}

static void test_a_bounce_back_to_the_same_state_gives_no_reading(void)
{
    fake.lines[17].level = 0;
    void *state = open_bus(ONE_DOOR(",\"open_when\":\"high\""));
    fake_change(1000, 17, 1); /* a knock on the door: the contact lifts for 10 ms */
    fake_change(1010, 17, 0);
    run_until(state, 3000);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 1);
    CU_ASSERT_EQUAL(r[0]->value, 0.0);
    CU_ASSERT_EQUAL(count_calls(CALL_GET_VALUE), 2); /* it was read, and found shut */
    gpio_adapter.close(state);
}

static void test_a_chattering_contact_is_read_after_four_debounce_periods(void)
{
    fake.lines[17].level = 0;
    void *state = open_bus(ONE_DOOR(",\"open_when\":\"high\",\"debounce\":\"50ms\""));
    /* an edge every 20 ms from 1000 to 1400, high on even steps: never quiet for 50 ms */
    for (int k = 0; k <= 20; k++)
        fake_change(1000 + 20 * k, 17, k % 2 == 0 ? 1 : 0);
    run_until(state, 3000);
    const struct emitted *r[8];
    /* read at the first edge + 4 x 50 ms (a high step); the next window, 1220..1420, reads it
     * high again (k = 20 at 1400): no second reading */
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 2);
    CU_ASSERT_EQUAL(r[1]->mono_ms, 1200);
    CU_ASSERT_EQUAL(r[1]->value, 1.0);
    CU_ASSERT_EQUAL(count_calls(CALL_GET_VALUE), 3);
    gpio_adapter.close(state);
}

static void test_the_heartbeat_reemits_the_state(void)
{
    fake.lines[17].level = 1; /* open from the start */
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"heartbeat\":\"1s\","
                           "\"doors\":[{\"line\":17,\"sensor\":\"fridge-a-door\","
                           "\"open_when\":\"high\",\"debounce\":\"50ms\"}]}");
    fake_change(2500, 17, 0); /* shut at 2.5 s: read at 2550, then the heartbeat restarts */
    run_until(state, 4700);
    const struct emitted *r[16];
    size_t n = readings_of("fridge-a-door", r, 16);
    static const int64_t at[] = {0, 1000, 2000, 2550, 3550, 4550};
    static const double want[] = {1, 1, 1, 0, 0, 0};
    CU_ASSERT_EQUAL_FATAL(n, sizeof(at) / sizeof(at[0]));
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(r[i]->mono_ms, at[i]);
        CU_ASSERT_EQUAL(r[i]->value, want[i]);
        CU_ASSERT_EQUAL(r[i]->flags, 0);
    }
    /* the heartbeat reads the line again rather than repeating what it remembers */
    CU_ASSERT_EQUAL(count_calls(CALL_GET_VALUE), 6);
    gpio_adapter.close(state);
}

static void test_a_request_failure_gives_fault_readings_then_recovers(void)
{
    fake.lines[17].level = 0;
    fake.lines[27].level = 0;
    fake.request_fail[17] = (struct fail){-EBUSY, 0, 2500, 0}; /* another program holds it */
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"heartbeat\":\"1s\","
                           "\"doors\":[{\"line\":17,\"sensor\":\"fridge-a-door\","
                           "\"open_when\":\"high\"},{\"line\":27,\"sensor\":\"fridge-b-door\","
                           "\"open_when\":\"high\"}]}");
    run_until(state, 3100);
    const struct emitted *a[16], *b[16];
    size_t na = readings_of("fridge-a-door", a, 16);
    CU_ASSERT_EQUAL_FATAL(na, 4);
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(a[i]->mono_ms, (int64_t)i * 1000);
        CU_ASSERT(isnan(a[i]->value));
        CU_ASSERT_EQUAL(a[i]->flags, READING_FAULT);
        CU_ASSERT_EQUAL(a[i]->quantity, QUANTITY_DOOR);
    }
    CU_ASSERT_EQUAL(a[3]->mono_ms, 3000); /* requested again on the heartbeat, and read */
    CU_ASSERT_EQUAL(a[3]->value, 0.0);
    CU_ASSERT_EQUAL(a[3]->flags, 0);
    /* the other door is unaffected */
    size_t nb = readings_of("fridge-b-door", b, 16);
    CU_ASSERT_EQUAL(nb, 4);
    for (size_t i = 0; i < nb; i++)
        CU_ASSERT_EQUAL(b[i]->flags, 0);
    /* logged at the start and after 2 faults (not 3), and once when it cleared */
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "line 17]: requesting the line failed"), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "line 17]: still: requesting the line failed"), 1);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, strerror(EBUSY)), 2);
    CU_ASSERT_EQUAL(logs_with(LOG_INFO, "fridge-a-door reads again (closed) after 3"), 1);
    gpio_adapter.close(state);
}

static void test_a_missing_chip_faults_every_door(void)
{
    fake.chip_open_fail = (struct fail){-ENOENT, 0, INT64_MAX, 0};
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"chip\":\"gpiochip9\","
                           "\"heartbeat\":\"1s\",\"doors\":[{\"line\":17,"
                           "\"sensor\":\"fridge-a-door\",\"open_when\":\"high\"},{\"line\":27,"
                           "\"sensor\":\"fridge-b-door\",\"open_when\":\"high\"}]}");
    run_until(state, 2500);
    CU_ASSERT_EQUAL(out.count, 6); /* both doors at 0, 1000, 2000 */
    for (size_t i = 0; i < out.count; i++) {
        CU_ASSERT(isnan(out.r[i].value));
        CU_ASSERT_EQUAL(out.r[i].flags, READING_FAULT);
    }
    CU_ASSERT_EQUAL(count_calls(CALL_EVENT_WAIT), 0); /* nothing to wait on: it slept */
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "opening the chip failed"), 4); /* 1st, 2nd each */
    gpio_adapter.close(state);
}

static void test_a_line_beyond_the_chip_faults(void)
{
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"doors\":[{\"line\":200,"
                           "\"sensor\":\"fridge-a-door\",\"open_when\":\"high\"}]}");
    run_until(state, 100);
    CU_ASSERT_EQUAL_FATAL(out.count, 1);
    CU_ASSERT_EQUAL(out.r[0].flags, READING_FAULT);
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "getting the line failed"), 1);
    gpio_adapter.close(state);
}

static void test_a_read_failure_gives_a_fault_never_a_state(void)
{
    fake.lines[17].level = 1;
    fake.value_fail[17] = (struct fail){-EIO, 900, 1500, 0};
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"heartbeat\":\"1s\","
                           "\"doors\":[{\"line\":17,\"sensor\":\"fridge-a-door\","
                           "\"open_when\":\"high\"}]}");
    run_until(state, 2100);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 3);
    CU_ASSERT_EQUAL(r[0]->value, 1.0);
    CU_ASSERT_EQUAL(r[1]->mono_ms, 1000);
    CU_ASSERT_EQUAL(r[1]->flags, READING_FAULT);
    CU_ASSERT(isnan(r[1]->value));
    CU_ASSERT_EQUAL(r[2]->mono_ms, 2000);
    CU_ASSERT_EQUAL(r[2]->value, 1.0);
    /* the failed line was given back and requested again */
    CU_ASSERT_EQUAL(count_calls(CALL_REQUEST_EVENTS), 2);
    gpio_adapter.close(state);
}

static void test_a_wait_failure_faults_the_watched_doors(void)
{
    fake.lines[17].level = 0;
    fake.wait_fail = (struct fail){-EIO, 500, INT64_MAX, 1}; /* once */
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"heartbeat\":\"1s\","
                           "\"doors\":[{\"line\":17,\"sensor\":\"fridge-a-door\","
                           "\"open_when\":\"high\"}]}");
    run_until(state, 1700);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 3);
    CU_ASSERT_EQUAL(r[0]->flags, 0);
    CU_ASSERT_EQUAL(r[1]->mono_ms, 600); /* the wait that started at 600 failed */
    CU_ASSERT_EQUAL(r[1]->flags, READING_FAULT);
    CU_ASSERT_EQUAL(r[2]->mono_ms, 1600);
    CU_ASSERT_EQUAL(r[2]->flags, 0);
    CU_ASSERT_EQUAL(fake.opens, 2); /* the chip was closed with its last line, then reopened */
    CU_ASSERT_EQUAL(logs_with(LOG_WARNING, "waiting for edges failed"), 1);
    gpio_adapter.close(state);
}

static void test_an_event_read_failure_faults_that_door(void)
{
    fake.lines[17].level = 0;
    fake.read_fail[17] = (struct fail){-EIO, 0, INT64_MAX, 1};
    void *state = open_bus("{\"name\":\"doors\",\"type\":\"gpio\",\"heartbeat\":\"1s\","
                           "\"doors\":[{\"line\":17,\"sensor\":\"fridge-a-door\","
                           "\"open_when\":\"high\"}]}");
    fake_change(300, 17, 1);
    run_until(state, 1400);
    const struct emitted *r[8];
    CU_ASSERT_EQUAL_FATAL(readings_of("fridge-a-door", r, 8), 3);
    CU_ASSERT_EQUAL(r[1]->mono_ms, 300);
    CU_ASSERT_EQUAL(r[1]->flags, READING_FAULT);
    CU_ASSERT_EQUAL(r[2]->mono_ms, 1300); /* requested again a heartbeat later, found open */
    CU_ASSERT_EQUAL(r[2]->value, 1.0);
    gpio_adapter.close(state);
}

static void test_stop_is_prompt(void)
{
    fake.lines[17].level = 0;
    void *state = open_bus(ONE_DOOR(",\"open_when\":\"high\""));
    run_until(state, 5050); /* a 60 s heartbeat, no edges: the waits must still be short */
    CU_ASSERT(fake.now_ms <= 5050 + 200);
    CU_ASSERT_EQUAL(fake.max_wait_ms, 200);
    CU_ASSERT_EQUAL(out.count, 1);
    /* and a second run (the gateway's restart) starts over: requests and reads again */
    run_until(state, fake.now_ms + 10);
    CU_ASSERT_EQUAL(out.count, 2);
    CU_ASSERT_EQUAL(fake.opens, 2);
    gpio_adapter.close(state);
}

static void test_stop_is_prompt_while_every_door_is_faulty(void)
{
    fake.chip_open_fail = (struct fail){-EACCES, 0, INT64_MAX, 0};
    void *state = open_bus(ONE_DOOR(",\"open_when\":\"high\""));
    run_until(state, 5050);
    CU_ASSERT_EQUAL(fake.now_ms, 5050); /* sensor_sleep_until woke at the stop */
    CU_ASSERT_EQUAL(out.count, 1);
    gpio_adapter.close(state);
}

/* ---- outputs ---------------------------------------------------------------------------- */

static struct gpio_out *new_output(unsigned line, bool active_low)
{
    struct gpio_out_config cfg = {.chip = "", .line = line, .active_low = active_low};
    struct gpio_out *o = NULL;
    CU_ASSERT_EQUAL_FATAL(gpio_out_new(&fake_ops, &cfg, &o), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(o);
    return o;
}

static void test_output_is_requested_already_off(void)
{
    fake.lines[22].level = 1;
    struct gpio_out *o = new_output(22, true);
    CU_ASSERT_STRING_EQUAL(fake.chip_name, "gpiochip0");
    CU_ASSERT(fake.lines[22].output);
    CU_ASSERT_EQUAL(fake.lines[22].flags, GPIO_OPS_ACTIVE_LOW);
    CU_ASSERT_EQUAL(fake.lines[22].value, 0);
    CU_ASSERT_EQUAL(fake.lines[22].level, 1); /* active-low: off is the high level */
    CU_ASSERT_EQUAL(count_calls(CALL_SET_VALUE), 0);
    CU_ASSERT_EQUAL(gpio_out_get_state(o), GPIO_OUT_OFF);
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), INT64_MAX);
    /* on is the low level */
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_CRITICAL_UNACKED, 100), 0);
    CU_ASSERT_EQUAL(fake.lines[22].level, 0);
    gpio_out_free(o);
}

/* Ticks o at each time of a table and checks the logical level after it. */
struct level_at {
    int64_t at_ms;
    int level;
};

static void check_levels(struct gpio_out *o, unsigned line, const struct level_at *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(gpio_out_tick(o, t[i].at_ms), 0);
        if (fake.lines[line].value != t[i].level)
            fprintf(stderr, "at %lld ms: level %d, want %d\n", (long long)t[i].at_ms,
                    fake.lines[line].value, t[i].level);
        CU_ASSERT_EQUAL(fake.lines[line].value, t[i].level);
    }
}

static void test_critical_is_steady_on(void)
{
    struct gpio_out *o = new_output(22, false);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_CRITICAL_UNACKED, 10000), 0);
    CU_ASSERT_EQUAL(fake.lines[22].value, 1);
    CU_ASSERT_EQUAL(fake.lines[22].level, 1);
    static const struct level_at t[] = {{10000, 1}, {10999, 1}, {11000, 1}, {12500, 1}, {99999, 1}};
    check_levels(o, 22, t, sizeof(t) / sizeof(t[0]));
    CU_ASSERT_EQUAL(count_calls(CALL_SET_VALUE), 1); /* written once, not on every tick */
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), INT64_MAX);
    gpio_out_free(o);
}

static void test_warning_blinks_one_second_on_one_off(void)
{
    struct gpio_out *o = new_output(22, false);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_WARNING, 10000), 0);
    CU_ASSERT_EQUAL(fake.lines[22].value, 1);
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), 11000);
    static const struct level_at t[] = {
        {10000, 1}, {10999, 1}, {11000, 0}, {11999, 0}, {12000, 1},
        {12999, 1}, {13000, 0}, {13500, 0}, {14000, 1}, {21000, 0},
    };
    check_levels(o, 22, t, sizeof(t) / sizeof(t[0]));
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), 22000);
    CU_ASSERT_EQUAL(count_calls(CALL_SET_VALUE), 6); /* one per change */
    gpio_out_free(o);
}

static void test_sensor_fault_gives_two_short_pulses_every_two_seconds(void)
{
    struct gpio_out *o = new_output(22, false);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_SENSOR_FAULT, 0), 0);
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), 200);
    static const struct level_at t[] = {
        {0, 1},    {199, 1},  {200, 0},  {399, 0},  {400, 1},  {599, 1},  {600, 0},
        {1000, 0}, {1999, 0}, {2000, 1}, {2199, 1}, {2200, 0}, {2400, 1}, {2600, 0},
    };
    check_levels(o, 22, t, sizeof(t) / sizeof(t[0]));
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), 4000);
    CU_ASSERT_EQUAL(gpio_out_tick(o, 450), 0); /* a time before the last tick: its level */
    CU_ASSERT_EQUAL(fake.lines[22].value, 1);
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), 600);
    gpio_out_free(o);
}

static void test_next_change_walks_the_fault_pattern(void)
{
    struct gpio_out *o = new_output(22, false);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_SENSOR_FAULT, 5000), 0);
    static const int64_t want[] = {5200, 5400, 5600, 7000, 7200, 7400, 7600, 9000};
    int64_t now = 5000;
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        int64_t next = gpio_out_next_change_ms(o);
        CU_ASSERT_EQUAL(next, want[i]);
        now = next;
        CU_ASSERT_EQUAL(gpio_out_tick(o, now), 0);
    }
    CU_ASSERT_EQUAL(count_calls(CALL_SET_VALUE), 9); /* the first on, then every change */
    gpio_out_free(o);
}

static void test_a_state_change_mid_pattern_starts_the_new_pattern_at_once(void)
{
    struct gpio_out *o = new_output(22, false);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_WARNING, 0), 0);
    /* the same state again does not restart the blink */
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_WARNING, 500), 0);
    CU_ASSERT_EQUAL(gpio_out_tick(o, 1000), 0);
    CU_ASSERT_EQUAL(fake.lines[22].value, 0);
    /* in the off half of the blink, a sensor fault: its first pulse at once */
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_SENSOR_FAULT, 1500), 0);
    CU_ASSERT_EQUAL(fake.lines[22].value, 1);
    CU_ASSERT_EQUAL(gpio_out_next_change_ms(o), 1700);
    static const struct level_at t[] = {{1699, 1}, {1700, 0}, {1900, 1}};
    check_levels(o, 22, t, sizeof(t) / sizeof(t[0]));
    /* mid-pulse, a critical alarm: steady on, no write needed */
    size_t writes = count_calls(CALL_SET_VALUE);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_CRITICAL_UNACKED, 1950), 0);
    CU_ASSERT_EQUAL(count_calls(CALL_SET_VALUE), writes);
    static const struct level_at t2[] = {{2100, 1}, {3500, 1}};
    check_levels(o, 22, t2, sizeof(t2) / sizeof(t2[0]));
    /* acknowledged and back to a warning: a fresh blink from its on half */
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_WARNING, 3600), 0);
    static const struct level_at t3[] = {{4599, 1}, {4600, 0}, {5600, 1}};
    check_levels(o, 22, t3, sizeof(t3) / sizeof(t3[0]));
    /* all clear: off at once, and it stays off */
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_OFF, 5700), 0);
    CU_ASSERT_EQUAL(fake.lines[22].value, 0);
    static const struct level_at t4[] = {{6600, 0}, {7600, 0}};
    check_levels(o, 22, t4, sizeof(t4) / sizeof(t4[0]));
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_STATE_COUNT, 8000), -EINVAL);
    CU_ASSERT_EQUAL(gpio_out_get_state(o), GPIO_OUT_OFF);
    gpio_out_free(o);
}

static void test_a_failed_write_is_retried_on_the_next_tick(void)
{
    struct gpio_out *o = new_output(22, false);
    fake.set_fail = (struct fail){-EIO, 0, INT64_MAX, 1};
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_CRITICAL_UNACKED, 0), -EIO);
    CU_ASSERT_EQUAL(gpio_out_get_state(o), GPIO_OUT_CRITICAL_UNACKED);
    CU_ASSERT_EQUAL(fake.lines[22].value, 0);
    CU_ASSERT_EQUAL(gpio_out_write_errors(o), 1);
    CU_ASSERT_EQUAL(gpio_out_tick(o, 100), 0);
    CU_ASSERT_EQUAL(fake.lines[22].value, 1);
    CU_ASSERT_EQUAL(count_calls(CALL_SET_VALUE), 2);
    gpio_out_free(o);
}

static void test_free_drives_off_then_releases(void)
{
    struct gpio_out *o = new_output(22, true);
    CU_ASSERT_EQUAL(gpio_out_set_state(o, GPIO_OUT_CRITICAL_UNACKED, 0), 0);
    size_t before = fake.call_count;
    gpio_out_free(o);
    CU_ASSERT_EQUAL_FATAL(fake.call_count - before, 3);
    CU_ASSERT_EQUAL(fake.calls[before].call, CALL_SET_VALUE);
    CU_ASSERT_EQUAL(fake.calls[before].value, 0);
    CU_ASSERT_EQUAL(fake.calls[before + 1].call, CALL_RELEASE);
    CU_ASSERT_EQUAL(fake.calls[before + 1].offset, 22);
    CU_ASSERT_EQUAL(fake.calls[before + 2].call, CALL_CHIP_CLOSE);
    CU_ASSERT(!fake.chip_open);
    CU_ASSERT_EQUAL(fake.lines[22].level, 1); /* active-low relay left de-energised */
    gpio_out_free(NULL);
}

static void test_a_failed_open_leaves_nothing_open(void)
{
    struct gpio_out_config cfg = {.chip = "/dev/gpiochip2", .line = 22};
    struct gpio_out *o = (struct gpio_out *)(uintptr_t)8; /* must be cleared */
    fake.request_fail[22] = (struct fail){-EBUSY, 0, INT64_MAX, 0};
    CU_ASSERT_EQUAL(gpio_out_new(&fake_ops, &cfg, &o), -EBUSY);
    CU_ASSERT_PTR_NULL(o);
    CU_ASSERT_STRING_EQUAL(fake.chip_name, "/dev/gpiochip2");
    CU_ASSERT(!fake.chip_open);
    cfg.line = 100; /* beyond this chip's lines */
    CU_ASSERT_EQUAL(gpio_out_new(&fake_ops, &cfg, &o), -EINVAL);
    CU_ASSERT(!fake.chip_open);
    fake.chip_open_fail = (struct fail){-ENOENT, 0, INT64_MAX, 0};
    CU_ASSERT_EQUAL(gpio_out_new(&fake_ops, &cfg, &o), -ENOENT);
    cfg.line = 512;
    CU_ASSERT_EQUAL(gpio_out_new(&fake_ops, &cfg, &o), -EINVAL);
    CU_ASSERT_EQUAL(gpio_out_new(NULL, &cfg, &o), -EINVAL);
    CU_ASSERT_EQUAL(fake.opens, fake.closes);
    CU_ASSERT_EQUAL(gpio_out_tick(NULL, 0), -EINVAL);
}

/* ---- the real table, where it can run without hardware -------------------------------- */

static void test_the_libgpiod_table_returns_negative_errno(void)
{
    struct gpiod_chip *chip = NULL;
    CU_ASSERT_STRING_EQUAL(gpio_ops_libgpiod.name, "libgpiod");
    /* libgpiod 1.6.3: open() fails -> ENOENT; a character device that is not a gpiochip ->
     * ENOTTY (is_gpiochip_cdev) */
    CU_ASSERT_EQUAL(gpio_ops_libgpiod.chip_open("gpiochip-coldchain-none", &chip), -ENOENT);
    CU_ASSERT_EQUAL(gpio_ops_libgpiod.chip_open("/dev/null", &chip), -ENOTTY);
    CU_ASSERT_PTR_NULL(chip);
    gpio_ops_libgpiod.chip_close(NULL);
    gpio_ops_libgpiod.release(NULL);
    bool ready[1];
    CU_ASSERT_EQUAL(gpio_ops_libgpiod.event_wait(NULL, 1, 0, ready), -EINVAL);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite_with_setup_and_teardown("gpio config", NULL, NULL, setup_each, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "config is read without touching the gpio",
                test_config_is_read_without_touching_the_gpio);
    CU_add_test(s, "the registry knows gpio", test_the_registry_knows_gpio);
    CU_add_test(s, "bad configs name the path", test_bad_configs_name_the_path);

    s = CU_add_suite_with_setup_and_teardown("gpio doors", NULL, NULL, setup_each, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "first state is emitted with the request flags",
                test_first_state_is_emitted_with_the_request_flags);
    CU_add_test(s, "open_when maps the level to open", test_open_when_maps_the_level_to_open);
    CU_add_test(s, "bounce within debounce gives one reading",
                test_bounce_within_debounce_gives_one_reading);
    CU_add_test(s, "a bounce back to the same state gives no reading",
                test_a_bounce_back_to_the_same_state_gives_no_reading);
    CU_add_test(s, "a chattering contact is read after four debounce periods",
                test_a_chattering_contact_is_read_after_four_debounce_periods);
    CU_add_test(s, "the heartbeat re-emits the state", test_the_heartbeat_reemits_the_state);
    CU_add_test(s, "a request failure gives fault readings, then recovers",
                test_a_request_failure_gives_fault_readings_then_recovers);
    CU_add_test(s, "a missing chip faults every door", test_a_missing_chip_faults_every_door);
    CU_add_test(s, "a line beyond the chip faults", test_a_line_beyond_the_chip_faults);
    CU_add_test(s, "a read failure gives a fault, never a state",
                test_a_read_failure_gives_a_fault_never_a_state);
    CU_add_test(s, "a wait failure faults the watched doors",
                test_a_wait_failure_faults_the_watched_doors);
    CU_add_test(s, "an event read failure faults that door",
                test_an_event_read_failure_faults_that_door);
    CU_add_test(s, "stop is prompt", test_stop_is_prompt);
    CU_add_test(s, "stop is prompt while every door is faulty",
                test_stop_is_prompt_while_every_door_is_faulty);

    s = CU_add_suite_with_setup_and_teardown("gpio outputs", NULL, NULL, setup_each, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "output is requested already off", test_output_is_requested_already_off);
    CU_add_test(s, "critical is steady on", test_critical_is_steady_on);
    CU_add_test(s, "warning blinks 1 s on, 1 s off", test_warning_blinks_one_second_on_one_off);
    CU_add_test(s, "sensor fault gives two short pulses every 2 s",
                test_sensor_fault_gives_two_short_pulses_every_two_seconds);
    CU_add_test(s, "next change walks the fault pattern", test_next_change_walks_the_fault_pattern);
    CU_add_test(s, "a state change mid-pattern starts the new pattern at once",
                test_a_state_change_mid_pattern_starts_the_new_pattern_at_once);
    CU_add_test(s, "a failed write is retried on the next tick",
                test_a_failed_write_is_retried_on_the_next_tick);
    CU_add_test(s, "free drives off, then releases", test_free_drives_off_then_releases);
    CU_add_test(s, "a failed open leaves nothing open", test_a_failed_open_leaves_nothing_open);

    s = CU_add_suite("libgpiod", NULL, NULL);
    if (s == NULL)
        return CU_get_error();
    CU_add_test(s, "the libgpiod table returns negative errno",
                test_the_libgpiod_table_returns_negative_errno);
    return CU_get_error();
}
