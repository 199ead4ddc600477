/* btsnoop file reader and HCI LE advertising report walker (PROTOCOLS.md §1.9, §1.10; BlueZ
 * src/shared/btsnoop.{h,c}, monitor/bt.h, monitor/packet.c). Everything is bounds-checked
 * against the caller's length before it is read. */
#include "btsnoop.h"

#include <errno.h>
#include <string.h>

/* µs from 0000-01-01 to 1970-01-01 (PROTOCOLS §1.10: unix_µs + 0x00DCDDB30F2F8000; BlueZ writes
 * the same as 2000-based µs + 0x00E03AB44A676000). */
#define BTSNOOP_EPOCH_DELTA_US INT64_C(0x00DCDDB30F2F8000)

#define H4_EVENT 0x04
#define HCI_EV_LE_META 0x3E
#define LE_ADV_REPORT 0x02
#define LE_EXT_ADV_REPORT 0x0D

/* Fixed bytes of one report before its data (PROTOCOLS §1.9):
 * legacy:   evt_type(1) addr_type(1) addr(6) data_len(1) | data | rssi(1)
 * extended: evt_type(2) addr_type(1) addr(6) primary_phy(1) secondary_phy(1) sid(1)
 *           tx_power(1) rssi(1) periodic_interval(2) direct_addr_type(1) direct_addr(6)
 *           data_len(1) | data */
#define LEGACY_FIXED 9
#define EXT_FIXED 24

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int btsnoop_header(const uint8_t *buf, size_t len, uint32_t *datalink_out)
{
    static const uint8_t magic[8] = {'b', 't', 's', 'n', 'o', 'o', 'p', 0};
    if (buf == NULL)
        return -EINVAL;
    if (len < BTSNOOP_HEADER_LEN || memcmp(buf, magic, sizeof(magic)) != 0 || be32(buf + 8) != 1)
        return -EBADMSG;
    uint32_t datalink = be32(buf + 12);
    if (datalink_out)
        *datalink_out = datalink;
    switch (datalink) {
    case BTSNOOP_DATALINK_HCI:
    case BTSNOOP_DATALINK_UART:
    case BTSNOOP_DATALINK_MONITOR:
        return 0;
    default:
        return -EPROTONOSUPPORT;
    }
}

int btsnoop_next(const uint8_t *buf, size_t len, size_t *offset, struct btsnoop_record *rec)
{
    if (buf == NULL || offset == NULL || rec == NULL)
        return -EINVAL;
    size_t off = *offset;
    if (off < BTSNOOP_HEADER_LEN || off > len)
        return -EINVAL;
    if (off == len)
        return 1;
    if (len - off < BTSNOOP_RECORD_HEADER_LEN)
        return -EBADMSG;
    const uint8_t *h = buf + off;
    uint32_t orig_len = be32(h);
    uint32_t incl_len = be32(h + 4);
    uint64_t ts_raw = be64(h + 16);
    /* Compare in size_t after the bound, so nothing wraps: incl_len <= 1490. */
    if (incl_len > orig_len || incl_len > BTSNOOP_MAX_RECORD_LEN ||
        (size_t)incl_len > len - off - BTSNOOP_RECORD_HEADER_LEN)
        return -EBADMSG;
    /* The timestamp is a signed count from 0000-01-01; a negative one is not a time. */
    if (ts_raw > (uint64_t)INT64_MAX)
        return -EBADMSG;
    int64_t unix_us = (int64_t)ts_raw - BTSNOOP_EPOCH_DELTA_US;
    int64_t ts_ms = unix_us / 1000;
    if (unix_us % 1000 < 0)
        ts_ms--; /* floor, so a time before 1970 does not round toward it */
    rec->ts_ms = ts_ms;
    rec->flags = be32(h + 8);
    rec->data = h + BTSNOOP_RECORD_HEADER_LEN;
    rec->len = incl_len;
    *offset = off + BTSNOOP_RECORD_HEADER_LEN + incl_len;
    return 0;
}

/* Walks the count reports in p[0..n) (the LE Meta parameters after subevent and num_reports),
 * calling fn for each; with fn == NULL it only validates. Returns count, -EBADMSG, or fn's
 * negative return. */
static int walk_reports(uint8_t subevent, unsigned count, const uint8_t *p, size_t n,
                        int (*fn)(void *, const uint8_t *, uint8_t, int8_t, const uint8_t *,
                                  size_t),
                        void *arg)
{
    size_t pos = 0;
    for (unsigned i = 0; i < count; i++) {
        const uint8_t *r = p + pos;
        size_t left = n - pos;
        size_t fixed = subevent == LE_ADV_REPORT ? LEGACY_FIXED : EXT_FIXED;
        if (left < fixed)
            return -EBADMSG;
        uint8_t addr_type;
        const uint8_t *addr_le;
        size_t ad_len = r[fixed - 1];
        size_t need = fixed + ad_len + (subevent == LE_ADV_REPORT ? 1 : 0);
        if (left < need)
            return -EBADMSG;
        int8_t rssi;
        if (subevent == LE_ADV_REPORT) {
            addr_type = r[1];
            addr_le = r + 2;
            rssi = (int8_t)r[fixed + ad_len];
        } else {
            addr_type = r[2];
            addr_le = r + 3;
            rssi = (int8_t)r[13];
        }
        if (fn) {
            uint8_t addr[6];
            for (int b = 0; b < 6; b++)
                addr[b] = addr_le[5 - b]; /* HCI sends the address little-endian */
            int rc = fn(arg, addr, addr_type, rssi, r + fixed, ad_len);
            if (rc < 0)
                return rc;
        }
        pos += need;
    }
    return (int)count;
}

int hci_le_adv_reports(const uint8_t *pkt, size_t len, uint32_t datalink, uint32_t flags,
                       int (*fn)(void *arg, const uint8_t addr[6], uint8_t addr_type,
                                 int8_t rssi, const uint8_t *ad, size_t ad_len),
                       void *arg)
{
    if (pkt == NULL && len > 0)
        return -EINVAL;
    const uint8_t *ev = pkt;
    size_t n = len;
    switch (datalink) {
    case BTSNOOP_DATALINK_UART:
        if (n < 1 || ev[0] != H4_EVENT)
            return 0;
        ev++;
        n--;
        break;
    case BTSNOOP_DATALINK_HCI:
        if ((flags & 3u) != 3u) /* bit0 received, bit1 command/event: a received event */
            return 0;
        break;
    case BTSNOOP_DATALINK_MONITOR:
        if ((flags & 0xFFFFu) != BTSNOOP_OPCODE_EVENT)
            return 0;
        break;
    default:
        return 0;
    }
    /* HCI event: code(1) | parameter length(1) | parameters. */
    if (n < 2 || ev[0] != HCI_EV_LE_META)
        return 0;
    size_t plen = ev[1];
    if (plen > n - 2)
        return -EBADMSG;
    const uint8_t *par = ev + 2;
    if (plen < 1 || (par[0] != LE_ADV_REPORT && par[0] != LE_EXT_ADV_REPORT))
        return 0; /* another LE Meta subevent (or an empty one): not advertising */
    if (plen < 2)
        return -EBADMSG;
    uint8_t subevent = par[0];
    unsigned count = par[1];
    /* First check the whole event, so fn sees all of its reports or none. */
    int rc = walk_reports(subevent, count, par + 2, plen - 2, NULL, NULL);
    if (rc < 0 || fn == NULL)
        return rc;
    return walk_reports(subevent, count, par + 2, plen - 2, fn, arg);
}

/* ---- writing -------------------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int btsnoop_put_header(uint8_t *buf, size_t cap, uint32_t datalink)
{
    static const uint8_t magic[8] = {'b', 't', 's', 'n', 'o', 'o', 'p', 0};
    if (buf == NULL)
        return -EINVAL;
    if (cap < BTSNOOP_HEADER_LEN)
        return -ENOSPC;
    memcpy(buf, magic, sizeof(magic));
    put_be32(buf + 8, 1); /* version */
    put_be32(buf + 12, datalink);
    return BTSNOOP_HEADER_LEN;
}

int btsnoop_put_record(uint8_t *buf, size_t cap, int64_t ts_ms, uint32_t flags,
                       const uint8_t *data, size_t len)
{
    if (buf == NULL || (data == NULL && len > 0) || len > BTSNOOP_MAX_RECORD_LEN)
        return -EINVAL;
    /* µs since 0000-01-01 must be a non-negative int64 (btsnoop_next refuses the others). */
    if (ts_ms < -(BTSNOOP_EPOCH_DELTA_US / 1000) ||
        ts_ms > (INT64_MAX - BTSNOOP_EPOCH_DELTA_US) / 1000)
        return -EINVAL;
    if (cap < BTSNOOP_RECORD_HEADER_LEN || len > cap - BTSNOOP_RECORD_HEADER_LEN)
        return -ENOSPC;
    uint64_t ts = (uint64_t)(ts_ms * 1000 + BTSNOOP_EPOCH_DELTA_US);
    put_be32(buf, (uint32_t)len);      /* original length */
    put_be32(buf + 4, (uint32_t)len);  /* included length: nothing cut */
    put_be32(buf + 8, flags);
    put_be32(buf + 12, 0);             /* cumulative drops */
    put_be32(buf + 16, (uint32_t)(ts >> 32));
    put_be32(buf + 20, (uint32_t)ts);
    if (len > 0)
        memcpy(buf + BTSNOOP_RECORD_HEADER_LEN, data, len);
    return (int)(BTSNOOP_RECORD_HEADER_LEN + len);
}

/* A legacy PDU's advertising data is at most 31 bytes (Core spec Vol 6 Part B 2.3.1). */
#define LEGACY_AD_MAX 31

int hci_le_put_adv_report(uint8_t *buf, size_t cap, uint32_t datalink,
                          const struct hci_le_adv *adv)
{
    if (buf == NULL || adv == NULL || (adv->ad == NULL && adv->ad_len > 0) ||
        adv->ad_len > LEGACY_AD_MAX || (!adv->extended && adv->evt_type > 0xFF))
        return -EINVAL;
    size_t h4 = 0;
    switch (datalink) {
    case BTSNOOP_DATALINK_UART:
        h4 = 1;
        break;
    case BTSNOOP_DATALINK_HCI:
    case BTSNOOP_DATALINK_MONITOR:
        break;
    default:
        return -EINVAL;
    }
    size_t fixed = adv->extended ? EXT_FIXED : LEGACY_FIXED + 1 /* rssi after the data */;
    size_t plen = 2 + fixed + adv->ad_len; /* subevent, num_reports, the report */
    size_t total = h4 + 2 + plen;
    if (cap < total)
        return -ENOSPC;
    uint8_t *p = buf;
    if (h4)
        *p++ = H4_EVENT;
    *p++ = HCI_EV_LE_META;
    *p++ = (uint8_t)plen; /* <= 2 + 24 + 31 */
    *p++ = adv->extended ? LE_EXT_ADV_REPORT : LE_ADV_REPORT;
    *p++ = 1; /* num_reports */
    if (adv->extended) {
        *p++ = (uint8_t)adv->evt_type; /* LE16 */
        *p++ = (uint8_t)(adv->evt_type >> 8);
    } else {
        *p++ = (uint8_t)adv->evt_type;
    }
    *p++ = adv->addr_type;
    for (int b = 0; b < 6; b++)
        *p++ = adv->addr[5 - b]; /* HCI sends the address little-endian */
    if (adv->extended) {
        *p++ = 0x01;                /* primary PHY: LE 1M */
        *p++ = 0x00;                /* secondary PHY: none (a legacy PDU) */
        *p++ = 0xFF;                /* advertising SID: none */
        *p++ = 0x7F;                /* TX power: not available */
        *p++ = (uint8_t)adv->rssi;
        *p++ = 0x00;                /* periodic advertising interval: none (LE16) */
        *p++ = 0x00;
        *p++ = 0x00;                /* direct address type */
        memset(p, 0, 6);            /* direct address: none */
        p += 6;
    }
    *p++ = (uint8_t)adv->ad_len;
    if (adv->ad_len > 0)
        memcpy(p, adv->ad, adv->ad_len);
    p += adv->ad_len;
    if (!adv->extended)
        *p++ = (uint8_t)adv->rssi;
    return (int)(p - buf);
}
