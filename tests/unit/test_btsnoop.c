/* The btsnoop reader and the LE advertising report walker (sensors/btsnoop.c) against the
 * published files in shared/sensors/vectors/btsnoop_vectors.json (each decoded by `btmon -r`,
 * PROTOCOLS.md §1.10), the full HCI events in ble_vectors.json, and hand-made files: two
 * records, a cut record header, a cut record, a wrong id, a report whose data runs past its
 * event. Buffers are heap copies of exactly their size, so ASan sees any read past the end.
 * The writer (btsnoop_put_header, btsnoop_put_record, hci_le_put_adv_report) must rebuild the
 * published files byte for byte, and what it writes must read back the same. */
#include <CUnit/CUnit.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "btsnoop.h"
#include "cunit_main.h"
#include "vectors.h"

/* 2023-11-14T22:13:20Z, the vectors' example_unix_time, in ms. */
#define T0_MS INT64_C(1700000000000)

static cJSON *vectors;
static cJSON *ble_vectors;

static const char *vector_str(const char *key)
{
    if (vectors == NULL)
        vectors = vectors_load("btsnoop_vectors.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(vectors);
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(vectors, key);
    CU_ASSERT_FATAL(cJSON_IsString(item));
    return item->valuestring;
}

static int suite_clean(void)
{
    cJSON_Delete(vectors);
    vectors = NULL;
    cJSON_Delete(ble_vectors);
    ble_vectors = NULL;
    return 0;
}

/* Hex to a malloc'd buffer of exactly the decoded size (at least 1 byte allocated). */
static uint8_t *unhex(const char *hex, size_t *len_out)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n ? n : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        CU_ASSERT_FATAL(sscanf(hex + 2 * i, "%2x", &v) == 1);
        b[i] = (uint8_t)v;
    }
    *len_out = n;
    return b;
}

/* Reports collected by the callback. */
struct seen {
    int calls;
    uint8_t addr[4][6];
    uint8_t addr_type[4];
    int8_t rssi[4];
    const uint8_t *ad[4];
    size_t ad_len[4];
    int fail_with; /* returned from the first call when non-zero */
};

static int collect(void *arg, const uint8_t addr[6], uint8_t addr_type, int8_t rssi,
                   const uint8_t *ad, size_t ad_len)
{
    struct seen *s = arg;
    if (s->fail_with)
        return s->fail_with;
    if (s->calls < 4) {
        memcpy(s->addr[s->calls], addr, 6);
        s->addr_type[s->calls] = addr_type;
        s->rssi[s->calls] = rssi;
        s->ad[s->calls] = ad;
        s->ad_len[s->calls] = ad_len;
    }
    s->calls++;
    return 0;
}

/* The reports both example events carry (PROTOCOLS §1.9 worked example; bleparser ATC). */
static const uint8_t addr_legacy[6] = {0xA4, 0xC1, 0x38, 0x02, 0x83, 0xF4};
static const uint8_t addr_ext[6] = {0xA4, 0xC1, 0x38, 0xBC, 0x7C, 0x4E};
static const uint8_t ad_legacy[17] = {0x10, 0x16, 0x1a, 0x18, 0xa4, 0xc1, 0x38, 0x02, 0x83,
                                      0xf4, 0x00, 0xa2, 0x2f, 0x5f, 0x0b, 0xf8, 0x19};
static const uint8_t ad_ext[17] = {0x10, 0x16, 0x1a, 0x18, 0xa4, 0xc1, 0x38, 0xbc, 0x7c,
                                   0x4e, 0x01, 0x02, 0x28, 0x4f, 0x0b, 0x67, 0x20};

static void check_legacy(const struct seen *s, int i)
{
    CU_ASSERT_EQUAL(memcmp(s->addr[i], addr_legacy, 6), 0);
    CU_ASSERT_EQUAL(s->addr_type[i], 0);
    CU_ASSERT_EQUAL(s->rssi[i], -33); /* 0xDF */
    CU_ASSERT_EQUAL(s->ad_len[i], sizeof(ad_legacy));
    CU_ASSERT(s->ad_len[i] == sizeof(ad_legacy) && memcmp(s->ad[i], ad_legacy, 17) == 0);
}

static void check_ext(const struct seen *s, int i)
{
    CU_ASSERT_EQUAL(memcmp(s->addr[i], addr_ext, 6), 0);
    CU_ASSERT_EQUAL(s->addr_type[i], 0);
    CU_ASSERT_EQUAL(s->rssi[i], -71); /* 0xB9 */
    CU_ASSERT(s->ad_len[i] == sizeof(ad_ext) && memcmp(s->ad[i], ad_ext, 17) == 0);
}

/* Walks a whole file: the number of records (or a negative code from btsnoop_next), and the
 * reports of every record into *s. */
static int walk(const uint8_t *buf, size_t len, uint32_t datalink, struct seen *s,
                int64_t *ts_out, size_t nts)
{
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    int n = 0;
    int rc;
    while ((rc = btsnoop_next(buf, len, &off, &rec)) == 0) {
        CU_ASSERT(rec.data >= buf && rec.data + rec.len <= buf + len);
        if ((size_t)n < nts)
            ts_out[n] = rec.ts_ms;
        CU_ASSERT(hci_le_adv_reports(rec.data, rec.len, datalink, rec.flags, collect, s) >= 0);
        n++;
    }
    return rc == 1 ? n : rc;
}

static void test_vector_file_2001_monitor_has_legacy_and_extended_report(void)
{
    size_t len;
    uint8_t *buf = unhex(vector_str("file_2001_hex"), &len);
    uint32_t dl = 0;
    CU_ASSERT_EQUAL(btsnoop_header(buf, len, &dl), 0);
    CU_ASSERT_EQUAL(dl, BTSNOOP_DATALINK_MONITOR);
    struct seen s = {0};
    int64_t ts[2] = {0};
    CU_ASSERT_EQUAL(walk(buf, len, dl, &s, ts, 2), 2);
    CU_ASSERT_EQUAL(ts[0], T0_MS);
    CU_ASSERT_EQUAL(ts[1], T0_MS + 250);
    CU_ASSERT_EQUAL_FATAL(s.calls, 2);
    check_legacy(&s, 0);
    check_ext(&s, 1);
    free(buf);
}

static void test_vector_files_1002_and_1001_have_one_legacy_report(void)
{
    static const struct {
        const char *key;
        uint32_t datalink;
    } files[] = {{"file_1002_hex", BTSNOOP_DATALINK_UART}, {"file_1001_hex", BTSNOOP_DATALINK_HCI}};
    for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
        size_t len;
        uint8_t *buf = unhex(vector_str(files[f].key), &len);
        uint32_t dl = 0;
        CU_ASSERT_EQUAL(btsnoop_header(buf, len, &dl), 0);
        CU_ASSERT_EQUAL(dl, files[f].datalink);
        struct seen s = {0};
        int64_t ts = 0;
        CU_ASSERT_EQUAL(walk(buf, len, dl, &s, &ts, 1), 1);
        CU_ASSERT_EQUAL(ts, T0_MS);
        CU_ASSERT_EQUAL_FATAL(s.calls, 1);
        check_legacy(&s, 0);
        free(buf);
    }
}

static void test_vector_example_events_as_h4(void)
{
    size_t len;
    uint8_t *ev = unhex(vector_str("example_event"), &len);
    struct seen s = {0};
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev, len, BTSNOOP_DATALINK_UART, 3, collect, &s), 1);
    CU_ASSERT_EQUAL_FATAL(s.calls, 1);
    check_legacy(&s, 0);
    CU_ASSERT(s.ad[0] > ev && s.ad[0] + s.ad_len[0] <= ev + len);
    free(ev);

    ev = unhex(vector_str("example_event_2_in_2001_file"), &len);
    memset(&s, 0, sizeof(s));
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev, len, BTSNOOP_DATALINK_UART, 3, collect, &s), 1);
    CU_ASSERT_EQUAL_FATAL(s.calls, 1);
    check_ext(&s, 0);
    /* The same bytes without the H4 byte, as a monitor event record. */
    memset(&s, 0, sizeof(s));
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev + 1, len - 1, BTSNOOP_DATALINK_MONITOR, 3, collect, &s),
                    1);
    check_ext(&s, 0);
    free(ev);
}

/* Every full HCI event in ble_vectors.json (H4 byte first) carries one report with its AD. */
static void test_ble_vector_hci_events_give_their_ad(void)
{
    if (ble_vectors == NULL)
        ble_vectors = vectors_load("ble_vectors.json");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ble_vectors);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(ble_vectors, "vectors");
    int checked = 0;
    const cJSON *v;
    cJSON_ArrayForEach(v, list)
    {
        const cJSON *ev_hex = cJSON_GetObjectItemCaseSensitive(v, "hci_event_hex");
        const cJSON *ad_hex = cJSON_GetObjectItemCaseSensitive(v, "ad_hex");
        if (!cJSON_IsString(ev_hex) || !cJSON_IsString(ad_hex))
            continue;
        size_t len, ad_len;
        uint8_t *ev = unhex(ev_hex->valuestring, &len);
        uint8_t *ad = unhex(ad_hex->valuestring, &ad_len);
        struct seen s = {0};
        CU_ASSERT_EQUAL(hci_le_adv_reports(ev, len, BTSNOOP_DATALINK_UART, 3, collect, &s), 1);
        CU_ASSERT_EQUAL(s.calls, 1);
        CU_ASSERT(s.ad_len[0] == ad_len && memcmp(s.ad[0], ad, ad_len) == 0);
        /* The address is sent little-endian at a fixed place for either subevent. */
        size_t at = ev[3] == 0x02 ? 7 : 8;
        for (int b = 0; b < 6; b++)
            CU_ASSERT_EQUAL(s.addr[0][b], ev[at + 5 - b]);
        free(ev);
        free(ad);
        checked++;
    }
    CU_ASSERT_EQUAL(checked, 21); /* PROTOCOLS §6: 21 vectors carry hci_event_hex */
}

/* Every cut of a vector file is either a clean end at a record boundary or -EBADMSG. */
static void test_every_truncation_of_vector_file_is_caught(void)
{
    size_t full;
    uint8_t *src = unhex(vector_str("file_2001_hex"), &full);
    for (size_t len = 0; len < full; len++) {
        uint8_t *buf = malloc(len ? len : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
        memcpy(buf, src, len);
        int hrc = btsnoop_header(buf, len, NULL);
        if (len < BTSNOOP_HEADER_LEN) {
            CU_ASSERT_EQUAL(hrc, -EBADMSG);
        } else {
            CU_ASSERT_EQUAL(hrc, 0);
            struct seen s = {0};
            int n = walk(buf, len, BTSNOOP_DATALINK_MONITOR, &s, NULL, 0);
            /* Record boundaries: 16, 16+24+31 = 71, 71+24+45 = 140 (= full). */
            int want = len == 16 ? 0 : len == 71 ? 1 : -EBADMSG;
            CU_ASSERT_EQUAL(n, want);
        }
        free(buf);
    }
    free(src);
}

/* ---- hand-made files ---- */

struct file {
    uint8_t b[2048];
    size_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void file_header(struct file *f, uint32_t datalink)
{
    memcpy(f->b, "btsnoop\0", 8);
    put32(f->b + 8, 1);
    put32(f->b + 12, datalink);
    f->len = 16;
}

/* A record at unix_ms (µs since 0000-01-01 = unix µs + 0x00DCDDB30F2F8000). */
static void file_record(struct file *f, uint32_t flags, int64_t unix_ms, const uint8_t *data,
                        size_t n)
{
    uint64_t ts = (uint64_t)(unix_ms * 1000 + INT64_C(0x00DCDDB30F2F8000));
    uint8_t *p = f->b + f->len;
    put32(p, (uint32_t)n);
    put32(p + 4, (uint32_t)n);
    put32(p + 8, flags);
    put32(p + 12, 0);
    put32(p + 16, (uint32_t)(ts >> 32));
    put32(p + 20, (uint32_t)ts);
    memcpy(p + 24, data, n);
    f->len += 24 + n;
}

/* An exact-size heap copy of the first len bytes. */
static uint8_t *copy(const struct file *f, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    memcpy(b, f->b, len);
    return b;
}

/* H4 LE Advertising Report: ADV_IND, random address 11:22:33:44:55:66, AD 02 01 06, RSSI -60. */
static const uint8_t h4_adv[] = {0x04, 0x3e, 0x0f, 0x02, 0x01, 0x00, 0x01, 0x66, 0x55, 0x44, 0x33,
                                 0x22, 0x11, 0x03, 0x02, 0x01, 0x06, 0xc4};
/* H4 Command Complete for LE Set Scan Enable (0x200C), status 0. */
static const uint8_t h4_cmd_complete[] = {0x04, 0x0e, 0x04, 0x01, 0x0c, 0x20, 0x00};

static void test_two_records_one_advert_one_other_event(void)
{
    struct file f;
    file_header(&f, BTSNOOP_DATALINK_UART);
    file_record(&f, 3, T0_MS + 1, h4_adv, sizeof(h4_adv));
    file_record(&f, 3, T0_MS + 2, h4_cmd_complete, sizeof(h4_cmd_complete));
    uint8_t *buf = copy(&f, f.len);
    uint32_t dl;
    CU_ASSERT_EQUAL(btsnoop_header(buf, f.len, &dl), 0);
    CU_ASSERT_EQUAL(dl, BTSNOOP_DATALINK_UART);

    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    CU_ASSERT_EQUAL_FATAL(btsnoop_next(buf, f.len, &off, &rec), 0);
    CU_ASSERT_EQUAL(rec.ts_ms, T0_MS + 1);
    CU_ASSERT_EQUAL(rec.flags, 3);
    CU_ASSERT_EQUAL(rec.len, sizeof(h4_adv));
    CU_ASSERT_EQUAL(off, 16 + 24 + sizeof(h4_adv));
    struct seen s = {0};
    CU_ASSERT_EQUAL(hci_le_adv_reports(rec.data, rec.len, dl, rec.flags, collect, &s), 1);
    static const uint8_t want_addr[6] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66};
    CU_ASSERT_EQUAL(memcmp(s.addr[0], want_addr, 6), 0);
    CU_ASSERT_EQUAL(s.addr_type[0], 1);
    CU_ASSERT_EQUAL(s.rssi[0], -60);
    CU_ASSERT_EQUAL(s.ad_len[0], 3);
    CU_ASSERT_PTR_EQUAL(s.ad[0], rec.data + 14);

    CU_ASSERT_EQUAL_FATAL(btsnoop_next(buf, f.len, &off, &rec), 0);
    CU_ASSERT_EQUAL(rec.ts_ms, T0_MS + 2);
    CU_ASSERT_EQUAL(hci_le_adv_reports(rec.data, rec.len, dl, rec.flags, collect, &s), 0);
    CU_ASSERT_EQUAL(s.calls, 1);
    CU_ASSERT_EQUAL(off, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), 1);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), 1); /* stays at the end */
    free(buf);
}

static void test_truncated_record_header_is_bad(void)
{
    struct file f;
    file_header(&f, BTSNOOP_DATALINK_UART);
    file_record(&f, 3, T0_MS, h4_adv, sizeof(h4_adv));
    uint8_t *buf = copy(&f, 16 + 23); /* one byte of the timestamp missing */
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec = {0};
    CU_ASSERT_EQUAL(btsnoop_next(buf, 16 + 23, &off, &rec), -EBADMSG);
    CU_ASSERT_EQUAL(off, BTSNOOP_HEADER_LEN); /* not advanced */
    CU_ASSERT_PTR_NULL(rec.data);
    free(buf);
}

static void test_included_length_past_end_is_bad(void)
{
    struct file f;
    file_header(&f, BTSNOOP_DATALINK_UART);
    file_record(&f, 3, T0_MS, h4_adv, sizeof(h4_adv));
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    uint8_t *buf = copy(&f, f.len - 1); /* data one byte short */
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len - 1, &off, &rec), -EBADMSG);
    free(buf);
    /* A huge included length must not wrap the bound check. */
    put32(f.b + 16, 0xFFFFFFFFu);
    put32(f.b + 20, 0xFFFFFFFFu);
    buf = copy(&f, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), -EBADMSG);
    CU_ASSERT_EQUAL(off, BTSNOOP_HEADER_LEN);
    free(buf);
}

static void test_inconsistent_lengths_and_time_are_bad(void)
{
    struct file f;
    file_header(&f, BTSNOOP_DATALINK_UART);
    file_record(&f, 3, T0_MS, h4_adv, sizeof(h4_adv));
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    /* Included longer than original. */
    put32(f.b + 16, sizeof(h4_adv) - 1);
    uint8_t *buf = copy(&f, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), -EBADMSG);
    free(buf);
    /* Included shorter than original (a snap length) is fine. */
    put32(f.b + 16, 5000);
    buf = copy(&f, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), 0);
    free(buf);
    /* A negative timestamp (before 0000-01-01). */
    off = BTSNOOP_HEADER_LEN;
    f.b[16 + 16] = 0x80;
    buf = copy(&f, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), -EBADMSG);
    free(buf);
}

/* BlueZ refuses records above BTSNOOP_MAX_PACKET_SIZE = 1486 + 4 (the vectors' max_packet). */
static void test_record_length_bound_is_bluez_max_packet(void)
{
    static uint8_t big[BTSNOOP_MAX_RECORD_LEN + 1];
    CU_ASSERT_EQUAL(BTSNOOP_MAX_RECORD_LEN, 1486 + 4);
    struct file f;
    file_header(&f, BTSNOOP_DATALINK_MONITOR);
    file_record(&f, 12, T0_MS, big, BTSNOOP_MAX_RECORD_LEN);
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    uint8_t *buf = copy(&f, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), 0);
    free(buf);
    file_header(&f, BTSNOOP_DATALINK_MONITOR);
    file_record(&f, 12, T0_MS, big, sizeof(big));
    off = BTSNOOP_HEADER_LEN;
    buf = copy(&f, f.len);
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), -EBADMSG);
    free(buf);
}

static void test_header_checks(void)
{
    struct file f;
    uint32_t dl = 0;
    file_header(&f, BTSNOOP_DATALINK_MONITOR);
    f.b[0] = 'B'; /* wrong id */
    uint8_t *buf = copy(&f, 16);
    CU_ASSERT_EQUAL(btsnoop_header(buf, 16, &dl), -EBADMSG);
    free(buf);
    file_header(&f, BTSNOOP_DATALINK_MONITOR);
    put32(f.b + 8, 2); /* version */
    buf = copy(&f, 16);
    CU_ASSERT_EQUAL(btsnoop_header(buf, 16, &dl), -EBADMSG);
    free(buf);
    file_header(&f, 2002); /* simulator */
    buf = copy(&f, 16);
    CU_ASSERT_EQUAL(btsnoop_header(buf, 16, &dl), -EPROTONOSUPPORT);
    CU_ASSERT_EQUAL(dl, 2002);
    free(buf);
    buf = copy(&f, 15);
    CU_ASSERT_EQUAL(btsnoop_header(buf, 15, &dl), -EBADMSG);
    free(buf);
    CU_ASSERT_EQUAL(btsnoop_header(NULL, 16, &dl), -EINVAL);
}

static void test_offset_outside_file_is_invalid(void)
{
    struct file f;
    file_header(&f, BTSNOOP_DATALINK_UART);
    uint8_t *buf = copy(&f, f.len);
    struct btsnoop_record rec;
    size_t off = 8;
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), -EINVAL);
    off = f.len + 1;
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), -EINVAL);
    off = f.len;
    CU_ASSERT_EQUAL(btsnoop_next(buf, f.len, &off, &rec), 1); /* header only: no records */
    free(buf);
}

static void test_advert_data_length_past_event_is_bad(void)
{
    uint8_t ev[sizeof(h4_adv)];
    memcpy(ev, h4_adv, sizeof(ev));
    ev[13] = 4; /* data_len 4: the data would eat the RSSI and one byte more */
    struct seen s = {0};
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev, sizeof(ev), BTSNOOP_DATALINK_UART, 3, collect, &s),
                    -EBADMSG);
    CU_ASSERT_EQUAL(s.calls, 0);
    ev[13] = 3;
    ev[2] = 0x10; /* parameter length past the packet */
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev, sizeof(ev), BTSNOOP_DATALINK_UART, 3, collect, &s),
                    -EBADMSG);
    ev[2] = 0x0f;
    ev[4] = 2; /* two reports announced, one present: none delivered */
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev, sizeof(ev), BTSNOOP_DATALINK_UART, 3, collect, &s),
                    -EBADMSG);
    CU_ASSERT_EQUAL(s.calls, 0);
    /* Extended: data_len past the event. */
    size_t len;
    uint8_t *ext = unhex(vector_str("example_event_2_in_2001_file"), &len);
    ext[len - 18] = 0x12; /* data_len 0x11 -> 0x12 */
    CU_ASSERT_EQUAL(hci_le_adv_reports(ext, len, BTSNOOP_DATALINK_UART, 3, collect, &s), -EBADMSG);
    CU_ASSERT_EQUAL(s.calls, 0);
    free(ext);
}

static void test_non_advertising_packets_give_zero(void)
{
    struct seen s = {0};
    /* Monitor: a system note (opcode 12) and a sent command (2) holding advert-like bytes. */
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv + 1, sizeof(h4_adv) - 1, BTSNOOP_DATALINK_MONITOR,
                                       12, collect, &s),
                    0);
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv + 1, sizeof(h4_adv) - 1, BTSNOOP_DATALINK_MONITOR,
                                       (1u << 16) | 2, collect, &s),
                    0);
    /* Monitor event on controller index 1 is read. */
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv + 1, sizeof(h4_adv) - 1, BTSNOOP_DATALINK_MONITOR,
                                       (1u << 16) | 3, collect, &s),
                    1);
    /* 1001: a sent command (flags 2) is not an event. */
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv + 1, sizeof(h4_adv) - 1, BTSNOOP_DATALINK_HCI, 2,
                                       collect, &s),
                    0);
    /* H4 ACL packet, another LE Meta subevent (0x01 connection complete), empty, unknown link. */
    static const uint8_t acl[] = {0x02, 0x3e, 0x0f, 0x02};
    static const uint8_t conn[] = {0x04, 0x3e, 0x02, 0x01, 0x00};
    CU_ASSERT_EQUAL(hci_le_adv_reports(acl, sizeof(acl), BTSNOOP_DATALINK_UART, 3, collect, &s), 0);
    CU_ASSERT_EQUAL(hci_le_adv_reports(conn, sizeof(conn), BTSNOOP_DATALINK_UART, 3, collect, &s),
                    0);
    CU_ASSERT_EQUAL(hci_le_adv_reports(NULL, 0, BTSNOOP_DATALINK_UART, 3, collect, &s), 0);
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv, sizeof(h4_adv), 2002, 3, collect, &s), 0);
    CU_ASSERT_EQUAL(s.calls, 1);
}

static void test_callback_error_stops_and_is_returned(void)
{
    struct seen s = {.fail_with = -ECANCELED};
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv, sizeof(h4_adv), BTSNOOP_DATALINK_UART, 3, collect,
                                       &s),
                    -ECANCELED);
    CU_ASSERT_EQUAL(hci_le_adv_reports(h4_adv, sizeof(h4_adv), BTSNOOP_DATALINK_UART, 3, NULL, NULL),
                    1);
}

/* Two legacy reports in one event, laid out one after another (as BlueZ parses them). */
static void test_two_reports_in_one_event(void)
{
    static const uint8_t ev[] = {0x04, 0x3e, 0x18, 0x02, 0x02,
                                 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x00, 0xb0,
                                 0x04, 0x01, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x02, 0x01, 0x06,
                                 0x7f};
    struct seen s = {0};
    CU_ASSERT_EQUAL(hci_le_adv_reports(ev, sizeof(ev), BTSNOOP_DATALINK_UART, 3, collect, &s), 2);
    CU_ASSERT_EQUAL_FATAL(s.calls, 2);
    static const uint8_t a0[6] = {6, 5, 4, 3, 2, 1};
    static const uint8_t a1[6] = {0x0f, 0x0e, 0x0d, 0x0c, 0x0b, 0x0a};
    CU_ASSERT_EQUAL(memcmp(s.addr[0], a0, 6), 0);
    CU_ASSERT_EQUAL(s.ad_len[0], 0);
    CU_ASSERT_EQUAL(s.rssi[0], -80);
    CU_ASSERT_EQUAL(memcmp(s.addr[1], a1, 6), 0);
    CU_ASSERT_EQUAL(s.addr_type[1], 1);
    CU_ASSERT_EQUAL(s.ad_len[1], 2);
    CU_ASSERT_EQUAL(s.rssi[1], 127);
}

/* ---- the writer ---- */

/* Builds one file with the writer: the header, then a record per event at the given times. */
static size_t put_file(uint8_t *buf, size_t cap, uint32_t datalink, const uint8_t *const ev[],
                       const size_t ev_len[], const int64_t ts_ms[], uint32_t flags, size_t n)
{
    int rc = btsnoop_put_header(buf, cap, datalink);
    CU_ASSERT_EQUAL_FATAL(rc, BTSNOOP_HEADER_LEN);
    size_t len = (size_t)rc;
    for (size_t i = 0; i < n; i++) {
        rc = btsnoop_put_record(buf + len, cap - len, ts_ms[i], flags, ev[i], ev_len[i]);
        CU_ASSERT_EQUAL_FATAL(rc, (int)(BTSNOOP_RECORD_HEADER_LEN + ev_len[i]));
        len += (size_t)rc;
    }
    return len;
}

/* The three published files, rebuilt from their events: the same bytes btmon read. */
static void test_writer_rebuilds_the_vector_files(void)
{
    size_t l1, l2;
    uint8_t *ev1 = unhex(vector_str("example_event"), &l1);             /* H4 byte first */
    uint8_t *ev2 = unhex(vector_str("example_event_2_in_2001_file"), &l2);
    uint8_t buf[512];
    static const int64_t ts[2] = {T0_MS, T0_MS + 250};

    const uint8_t *mon[2] = {ev1 + 1, ev2 + 1};
    const size_t mon_len[2] = {l1 - 1, l2 - 1};
    size_t len = put_file(buf, sizeof(buf), BTSNOOP_DATALINK_MONITOR, mon, mon_len, ts,
                          BTSNOOP_MONITOR_FLAGS(0, BTSNOOP_OPCODE_EVENT), 2);
    size_t want_len;
    uint8_t *want = unhex(vector_str("file_2001_hex"), &want_len);
    CU_ASSERT(len == want_len && memcmp(buf, want, len) == 0);
    free(want);

    const uint8_t *h4[1] = {ev1};
    len = put_file(buf, sizeof(buf), BTSNOOP_DATALINK_UART, h4, &l1, ts,
                   BTSNOOP_FLAGS_RECEIVED_EVENT, 1);
    want = unhex(vector_str("file_1002_hex"), &want_len);
    CU_ASSERT(len == want_len && memcmp(buf, want, len) == 0);
    free(want);

    len = put_file(buf, sizeof(buf), BTSNOOP_DATALINK_HCI, mon, mon_len, ts,
                   BTSNOOP_FLAGS_RECEIVED_EVENT, 1);
    want = unhex(vector_str("file_1001_hex"), &want_len);
    CU_ASSERT(len == want_len && memcmp(buf, want, len) == 0);
    free(want);
    free(ev1);
    free(ev2);
}

/* The two published events (legacy ATC1441, extended ATC1441), rebuilt from their reports. */
static void test_writer_rebuilds_the_example_events(void)
{
    size_t l1, l2;
    uint8_t *ev1 = unhex(vector_str("example_event"), &l1);
    uint8_t *ev2 = unhex(vector_str("example_event_2_in_2001_file"), &l2);
    uint8_t buf[64];
    struct hci_le_adv adv = {.evt_type = 0x00, .rssi = -33, .ad = ad_legacy,
                             .ad_len = sizeof(ad_legacy)};
    memcpy(adv.addr, addr_legacy, 6);
    int n = hci_le_put_adv_report(buf, sizeof(buf), BTSNOOP_DATALINK_UART, &adv);
    CU_ASSERT(n == (int)l1 && memcmp(buf, ev1, l1) == 0);
    /* Without the H4 byte for the other datalinks. */
    n = hci_le_put_adv_report(buf, sizeof(buf), BTSNOOP_DATALINK_MONITOR, &adv);
    CU_ASSERT(n == (int)l1 - 1 && memcmp(buf, ev1 + 1, l1 - 1) == 0);
    n = hci_le_put_adv_report(buf, sizeof(buf), BTSNOOP_DATALINK_HCI, &adv);
    CU_ASSERT(n == (int)l1 - 1 && memcmp(buf, ev1 + 1, l1 - 1) == 0);

    struct hci_le_adv ext = {.extended = true, .evt_type = 0x0013, .rssi = -71, .ad = ad_ext,
                             .ad_len = sizeof(ad_ext)};
    memcpy(ext.addr, addr_ext, 6);
    n = hci_le_put_adv_report(buf, sizeof(buf), BTSNOOP_DATALINK_UART, &ext);
    CU_ASSERT(n == (int)l2 && memcmp(buf, ev2, l2) == 0);
    free(ev1);
    free(ev2);
}

/* A capture written with every datalink and both report kinds reads back: header, records,
 * times to the ms (also before 1970), flags, reports with address, type, RSSI and data. */
static void test_writer_output_reads_back(void)
{
    static const uint32_t links[3] = {BTSNOOP_DATALINK_MONITOR, BTSNOOP_DATALINK_UART,
                                      BTSNOOP_DATALINK_HCI};
    static const int64_t ts[4] = {T0_MS, T0_MS + 1, T0_MS + 999, -1};
    static const uint8_t ad[3] = {0x02, 0x01, 0x06};
    static const uint8_t note[] = "a system note";
    for (size_t l = 0; l < 3; l++) {
        uint32_t flags = links[l] == BTSNOOP_DATALINK_MONITOR
                             ? BTSNOOP_MONITOR_FLAGS(0, BTSNOOP_OPCODE_EVENT)
                             : BTSNOOP_FLAGS_RECEIVED_EVENT;
        uint8_t file[1024];
        size_t len = (size_t)btsnoop_put_header(file, sizeof(file), links[l]);
        for (size_t i = 0; i < 4; i++) {
            struct hci_le_adv adv = {.extended = i % 2 == 1,
                                     .evt_type = i % 2 == 1 ? 0x001B : 0x04,
                                     .addr_type = (uint8_t)(i % 2),
                                     .addr = {0xA4, 0xC1, 0x38, 0x00, 0x00, (uint8_t)i},
                                     .rssi = (int8_t)(-40 - (int)i),
                                     .ad = ad,
                                     .ad_len = i == 2 ? 0 : sizeof(ad)};
            uint8_t ev[64];
            int n = hci_le_put_adv_report(ev, sizeof(ev), links[l], &adv);
            CU_ASSERT_FATAL(n > 0);
            int rc = btsnoop_put_record(file + len, sizeof(file) - len, ts[i], flags, ev,
                                        (size_t)n);
            CU_ASSERT_FATAL(rc > 0);
            len += (size_t)rc;
        }
        /* A system note on no index (monitor) or a sent command (others): not a report. */
        int rc = btsnoop_put_record(file + len, sizeof(file) - len, T0_MS + 2000,
                                    links[l] == BTSNOOP_DATALINK_MONITOR
                                        ? BTSNOOP_MONITOR_FLAGS(0xFFFF, BTSNOOP_OPCODE_SYSTEM_NOTE)
                                        : 2u,
                                    note, sizeof(note));
        CU_ASSERT_FATAL(rc > 0);
        len += (size_t)rc;

        uint8_t *buf = malloc(len);
        CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
        memcpy(buf, file, len);
        uint32_t dl = 0;
        CU_ASSERT_EQUAL(btsnoop_header(buf, len, &dl), 0);
        CU_ASSERT_EQUAL(dl, links[l]);
        size_t off = BTSNOOP_HEADER_LEN;
        struct btsnoop_record rec;
        for (size_t i = 0; i < 4; i++) {
            CU_ASSERT_EQUAL_FATAL(btsnoop_next(buf, len, &off, &rec), 0);
            CU_ASSERT_EQUAL(rec.ts_ms, ts[i]);
            CU_ASSERT_EQUAL(rec.flags, flags);
            struct seen s = {0};
            CU_ASSERT_EQUAL(hci_le_adv_reports(rec.data, rec.len, dl, rec.flags, collect, &s), 1);
            uint8_t want_addr[6] = {0xA4, 0xC1, 0x38, 0x00, 0x00, (uint8_t)i};
            CU_ASSERT_EQUAL(memcmp(s.addr[0], want_addr, 6), 0);
            CU_ASSERT_EQUAL(s.addr_type[0], i % 2);
            CU_ASSERT_EQUAL(s.rssi[0], -40 - (int)i);
            size_t want_ad = i == 2 ? 0 : sizeof(ad);
            CU_ASSERT(s.ad_len[0] == want_ad && memcmp(s.ad[0], ad, want_ad) == 0);
        }
        CU_ASSERT_EQUAL_FATAL(btsnoop_next(buf, len, &off, &rec), 0);
        CU_ASSERT_EQUAL(rec.ts_ms, T0_MS + 2000);
        CU_ASSERT(rec.len == sizeof(note) && memcmp(rec.data, note, sizeof(note)) == 0);
        CU_ASSERT_EQUAL(hci_le_adv_reports(rec.data, rec.len, dl, rec.flags, collect, NULL), 0);
        CU_ASSERT_EQUAL(btsnoop_next(buf, len, &off, &rec), 1);
        free(buf);
    }
}

static void test_writer_refuses_what_does_not_fit_or_cannot_be_written(void)
{
    uint8_t buf[BTSNOOP_RECORD_HEADER_LEN + BTSNOOP_MAX_RECORD_LEN + 1];
    static const uint8_t data[BTSNOOP_MAX_RECORD_LEN + 1];
    CU_ASSERT_EQUAL(btsnoop_put_header(buf, BTSNOOP_HEADER_LEN - 1, 2001), -ENOSPC);
    CU_ASSERT_EQUAL(btsnoop_put_header(NULL, 16, 2001), -EINVAL);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, 24 + 3, T0_MS, 3, data, 4), -ENOSPC);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, 23, T0_MS, 3, data, 0), -ENOSPC);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, 24, T0_MS, 3, NULL, 0), 24);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, sizeof(buf), T0_MS, 3, data,
                                       BTSNOOP_MAX_RECORD_LEN),
                    BTSNOOP_RECORD_HEADER_LEN + BTSNOOP_MAX_RECORD_LEN);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, sizeof(buf), T0_MS, 3, data, sizeof(data)), -EINVAL);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, sizeof(buf), T0_MS, 3, NULL, 1), -EINVAL);
    /* Before the btsnoop epoch (unix ms - 0x00DCDDB30F2F8000 µs / 1000), and past what int64 µs
     * can carry. */
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, sizeof(buf), INT64_C(-62168256000001), 3, data, 1),
                    -EINVAL);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, sizeof(buf), INT64_C(-62168256000000), 3, data, 1),
                    25);
    CU_ASSERT_EQUAL(btsnoop_put_record(buf, sizeof(buf), INT64_MAX / 1000, 3, data, 1), -EINVAL);

    uint8_t ad[32] = {0};
    struct hci_le_adv adv = {.ad = ad, .ad_len = 31};
    uint8_t ev[64];
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, sizeof(ev), BTSNOOP_DATALINK_UART, &adv),
                    1 + 2 + 2 + 9 + 31 + 1);
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, 1 + 2 + 2 + 9 + 31, BTSNOOP_DATALINK_UART, &adv),
                    -ENOSPC);
    adv.extended = true;
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, sizeof(ev), BTSNOOP_DATALINK_MONITOR, &adv),
                    2 + 2 + 24 + 31);
    adv.ad_len = 32;
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, sizeof(ev), BTSNOOP_DATALINK_MONITOR, &adv),
                    -EINVAL);
    adv.ad_len = 3;
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, sizeof(ev), 2002, &adv), -EINVAL);
    adv.extended = false;
    adv.evt_type = 0x13; /* an extended type in a legacy report is still one byte */
    CU_ASSERT(hci_le_put_adv_report(ev, sizeof(ev), BTSNOOP_DATALINK_HCI, &adv) > 0);
    adv.evt_type = 0x113;
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, sizeof(ev), BTSNOOP_DATALINK_HCI, &adv), -EINVAL);
    CU_ASSERT_EQUAL(hci_le_put_adv_report(ev, sizeof(ev), BTSNOOP_DATALINK_HCI, NULL), -EINVAL);
}

int register_tests(void)
{
    CU_pSuite s = CU_add_suite("btsnoop", NULL, suite_clean);
    if (s == NULL)
        return CU_get_error();
    static const struct {
        const char *name;
        CU_TestFunc fn;
    } tests[] = {
        {"vector file 2001 (btmon): legacy and extended report", test_vector_file_2001_monitor_has_legacy_and_extended_report},
        {"vector files 1002 and 1001: one legacy report", test_vector_files_1002_and_1001_have_one_legacy_report},
        {"vector example events as H4 and monitor", test_vector_example_events_as_h4},
        {"ble_vectors HCI events give their AD and address", test_ble_vector_hci_events_give_their_ad},
        {"every truncation of a vector file is caught", test_every_truncation_of_vector_file_is_caught},
        {"two records: one advert, one other event", test_two_records_one_advert_one_other_event},
        {"truncated record header is bad", test_truncated_record_header_is_bad},
        {"included length past end is bad", test_included_length_past_end_is_bad},
        {"inconsistent lengths and negative time are bad", test_inconsistent_lengths_and_time_are_bad},
        {"record length bound is BlueZ's max packet", test_record_length_bound_is_bluez_max_packet},
        {"header: id, version, datalink, length", test_header_checks},
        {"offset outside the file is invalid", test_offset_outside_file_is_invalid},
        {"advert data length past the event is bad", test_advert_data_length_past_event_is_bad},
        {"non-advertising packets give zero", test_non_advertising_packets_give_zero},
        {"callback error stops and is returned", test_callback_error_stops_and_is_returned},
        {"two reports in one event", test_two_reports_in_one_event},
        {"writer rebuilds the published files byte for byte", test_writer_rebuilds_the_vector_files},
        {"writer rebuilds the published events from their reports", test_writer_rebuilds_the_example_events},
        {"writer output reads back: times to the ms, flags, reports", test_writer_output_reads_back},
        {"writer refuses what does not fit or cannot be written", test_writer_refuses_what_does_not_fit_or_cannot_be_written},
    };
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (CU_add_test(s, tests[i].name, tests[i].fn) == NULL)
            return CU_get_error();
    }
    return 0;
}
