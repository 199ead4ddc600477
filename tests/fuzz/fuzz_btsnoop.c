/* Fuzz target for the btsnoop reader and the LE advertising report walker (sensors/btsnoop.c),
 * input a capture file from the field. Whatever the bytes: no crash, nothing read past the
 * length, offsets only move forward and stay inside the file, every record and every report's
 * AD lies inside the input, and codes are the documented ones. An unsupported datalink is still
 * walked with each supported one, so the record and report parsers see every input. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "btsnoop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct bounds {
    const uint8_t *lo, *hi; /* the record's data: [lo, hi) */
    int calls;
};

static int check_report(void *arg, const uint8_t addr[6], uint8_t addr_type, int8_t rssi,
                        const uint8_t *ad, size_t ad_len)
{
    struct bounds *b = arg;
    (void)addr_type;
    (void)rssi;
    if (addr == NULL || ad == NULL || ad < b->lo || ad > b->hi || ad_len > (size_t)(b->hi - ad))
        abort();
    volatile uint8_t sink = addr[0] ^ addr[5];
    for (size_t i = 0; i < ad_len; i++)
        sink ^= ad[i]; /* ASan checks every byte */
    (void)sink;
    b->calls++;
    return 0;
}

static void walk(const uint8_t *buf, size_t len, uint32_t datalink)
{
    size_t off = BTSNOOP_HEADER_LEN;
    struct btsnoop_record rec;
    int rc;
    size_t prev = off;
    while ((rc = btsnoop_next(buf, len, &off, &rec)) == 0) {
        if (off <= prev || rec.data != buf + prev + BTSNOOP_RECORD_HEADER_LEN || rec.len > BTSNOOP_MAX_RECORD_LEN ||
            rec.len > (size_t)(buf + len - rec.data) || off != (size_t)(rec.data - buf) + rec.len)
            abort();
        struct bounds b = {rec.data, rec.data + rec.len, 0};
        int n = hci_le_adv_reports(rec.data, rec.len, datalink, rec.flags, check_report, &b);
        if (n != -EBADMSG && (n < 0 || n != b.calls))
            abort();
        if (n == -EBADMSG && b.calls != 0)
            abort(); /* a malformed event delivers nothing */
        prev = off;
    }
    if (rc != 1 && rc != -EBADMSG)
        abort();
    if (off != prev || off > len)
        abort(); /* the end and errors leave the offset where it was */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly the input's size, so ASan sees any read past it. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    uint32_t datalink = 0;
    int rc = btsnoop_header(buf, size, &datalink);
    if (rc != 0 && rc != -EBADMSG && rc != -EPROTONOSUPPORT)
        abort();
    if (rc == 0) {
        walk(buf, size, datalink);
    } else if (rc == -EPROTONOSUPPORT) {
        walk(buf, size, BTSNOOP_DATALINK_UART);
        walk(buf, size, BTSNOOP_DATALINK_MONITOR);
    }
    /* The whole input as one packet too, under each datalink. */
    static const uint32_t links[] = {BTSNOOP_DATALINK_HCI, BTSNOOP_DATALINK_UART,
                                     BTSNOOP_DATALINK_MONITOR};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        struct bounds b = {buf, buf + size, 0};
        int n = hci_le_adv_reports(buf, size, links[i], 3, check_report, &b);
        if (n != -EBADMSG && (n < 0 || n != b.calls))
            abort();
    }
    free(buf);
    return 0;
}
