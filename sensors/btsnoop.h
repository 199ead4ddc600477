/* btsnoop captures (what `btmon -w` and hcidump write) and the HCI LE advertising reports inside
 * them (PROTOCOLS.md §1.9, §1.10), so a field capture can be replayed into the gateway; and the
 * writer's side of the same, for the simulator (coldchain-sim ble). Pure: it works on a caller's
 * memory buffer, does no I/O, reads no clock, never logs. Any thread. */
#ifndef COLDCHAIN_BTSNOOP_H
#define COLDCHAIN_BTSNOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BTSNOOP_HEADER_LEN 16 /* "btsnoop\0" | version BE32 = 1 | datalink BE32 */
#define BTSNOOP_RECORD_HEADER_LEN 24
/* BlueZ refuses records above BTSNOOP_MAX_PACKET_SIZE (src/shared/btsnoop.h: 1486 + 4). */
#define BTSNOOP_MAX_RECORD_LEN 1490

/* Datalinks (BlueZ BTSNOOP_FORMAT_*). */
#define BTSNOOP_DATALINK_HCI 1001     /* unencapsulated: no H4 byte, flags bit0 rx, bit1 cmd/evt */
#define BTSNOOP_DATALINK_UART 1002    /* H4: data starts with the type byte (04 = event) */
#define BTSNOOP_DATALINK_MONITOR 2001 /* btmon -w: flags = (index << 16) | opcode */

/* Linux monitor opcodes (BlueZ BTSNOOP_OPCODE_*), the low 16 bits of a 2001 record's flags. */
#define BTSNOOP_OPCODE_NEW_INDEX 0
#define BTSNOOP_OPCODE_COMMAND 2
#define BTSNOOP_OPCODE_EVENT 3
#define BTSNOOP_OPCODE_SYSTEM_NOTE 12
/* A 2001 record's flags: the controller index in the high 16 bits (0xFFFF: none, as the
 * kernel's system notes carry), the opcode in the low 16. */
#define BTSNOOP_MONITOR_FLAGS(index, opcode) ((uint32_t)(index) << 16 | (uint32_t)(opcode))
/* 1001/1002 flags of a received HCI event: bit 0 received, bit 1 command/event. */
#define BTSNOOP_FLAGS_RECEIVED_EVENT 3u

/* Checks the file header in buf[0..len). Returns 0 with *datalink_out set (may be NULL) for
 * datalinks 1001, 1002 and 2001; -EPROTONOSUPPORT (datalink still set) for any other datalink
 * (2002 simulator, ...); -EBADMSG if len < 16, the id is not "btsnoop\0" or the version is not 1;
 * -EINVAL if buf is NULL. */
int btsnoop_header(const uint8_t *buf, size_t len, uint32_t *datalink_out);

/* One record. data points into the caller's buffer (borrowed, valid as long as it is). */
struct btsnoop_record {
    int64_t ts_ms;     /* wall clock, Unix epoch ms (floor of the file's µs) */
    uint32_t flags;    /* as stored: direction/kind bits (1001/1002) or index<<16|opcode (2001) */
    const uint8_t *data;
    size_t len;        /* included length, bytes at data; <= BTSNOOP_MAX_RECORD_LEN */
};

/* Reads the record at *offset in buf[0..len) (start with *offset = BTSNOOP_HEADER_LEN) and
 * advances *offset past it. Returns 0 with *rec filled; 1 at the clean end (*offset == len;
 * *rec and *offset untouched); -EBADMSG for a record whose header or data runs past len, whose
 * included length exceeds its original length or BTSNOOP_MAX_RECORD_LEN (*rec and *offset
 * untouched); -EINVAL for NULL arguments or *offset outside [BTSNOOP_HEADER_LEN, len]. Never
 * reads past len. */
int btsnoop_next(const uint8_t *buf, size_t len, size_t *offset, struct btsnoop_record *rec);

/* fn is called once per advertising report. addr is as printed (MSB first: A4:C1:38:02:83:F4), a copy
 * valid for the call; addr_type 0 public, 1 random, ...; rssi in dBm (127 = not available, in
 * extended reports); ad/ad_len the advertising data, pointing into the caller's packet (ad may
 * be non-NULL with ad_len 0). A negative return stops the walk and is returned by
 * hci_le_adv_reports(); other values are ignored. (Spelled out below: STYLE §3, no pointer
 * typedefs.) */

/* If pkt[0..len) (a record's data, with its file's datalink and the record's flags) is a
 * received HCI event packet — H4 type 0x04 (1002), flags bits 0 and 1 set (1001), monitor
 * opcode 3 (2001) — holding an LE Meta event (0x3E) with an LE Advertising Report (subevent
 * 0x02, reports laid out one after another as BlueZ parses them) or an LE Extended Advertising
 * Report (0x0D), calls fn (may be NULL: just count) for each report. The whole event is checked
 * before the first call, so a malformed event gives no calls at all.
 * Returns the number of reports (>= 0; 0 for any other packet or an unknown datalink);
 * -EBADMSG if the event's parameter length runs past len or a report's fields or data run past
 * the event's parameters; a negative value returned by fn; -EINVAL if pkt is NULL with len > 0.
 * Bytes after the last report, within the event or the packet, are ignored. */
int hci_le_adv_reports(const uint8_t *pkt, size_t len, uint32_t datalink, uint32_t flags,
                       int (*fn)(void *arg, const uint8_t addr[6], uint8_t addr_type,
                                 int8_t rssi, const uint8_t *ad, size_t ad_len),
                       void *arg);

/* ---- writing (the inverse of the above) ------------------------------------------------ */

/* Writes the 16-byte file header for datalink into buf[0..cap). Returns BTSNOOP_HEADER_LEN;
 * -ENOSPC if cap < BTSNOOP_HEADER_LEN; -EINVAL if buf is NULL. Any datalink is written as
 * given. */
int btsnoop_put_header(uint8_t *buf, size_t cap, uint32_t datalink);

/* Writes one record - the 24-byte header (original and included length = len, flags, no drops,
 * ts_ms as µs since 0000-01-01) then len bytes of data - into buf[0..cap). Returns the bytes
 * written (BTSNOOP_RECORD_HEADER_LEN + len); -ENOSPC if they do not fit in cap; -EINVAL for a
 * NULL buf, NULL data with len > 0, len > BTSNOOP_MAX_RECORD_LEN, or a ts_ms btsnoop cannot
 * carry (before 0000-01-01 or past the int64 µs range). btsnoop_next() reads it back with the
 * same ts_ms. */
int btsnoop_put_record(uint8_t *buf, size_t cap, int64_t ts_ms, uint32_t flags,
                       const uint8_t *data, size_t len);

/* One advertising report to put in an HCI event. */
struct hci_le_adv {
    bool extended;      /* LE Extended Advertising Report (0x0D) instead of legacy (0x02) */
    uint16_t evt_type;  /* legacy: 0 ADV_IND, 3 ADV_NONCONN_IND, 4 SCAN_RSP, ...; extended:
                         * the LE16 bit field (0x13 ADV_IND, 0x10 ADV_NONCONN_IND, 0x1B
                         * SCAN_RSP to an ADV_IND, all legacy PDUs) */
    uint8_t addr_type;  /* 0 public, 1 random */
    uint8_t addr[6];    /* as printed, MSB first (A4:C1:38:...); sent little-endian */
    int8_t rssi;        /* dBm */
    const uint8_t *ad;  /* advertising data, borrowed for the call */
    size_t ad_len;      /* <= 31 (a legacy PDU's data; also the limit here for extended) */
};

/* Writes an HCI LE Meta event holding the one report *adv into buf[0..cap), laid out as
 * hci_le_adv_reports() reads it for datalink (1002: with the H4 type byte 0x04 first; 1001,
 * 2001: without). Extended reports carry primary PHY 1M, no secondary PHY, no SID, TX power
 * and periodic interval "not available", no direct address. Returns the packet's length;
 * -ENOSPC if it does not fit in cap; -EINVAL for NULL pointers, ad_len > 31 or an unknown
 * datalink. */
int hci_le_put_adv_report(uint8_t *buf, size_t cap, uint32_t datalink,
                          const struct hci_le_adv *adv);

#endif
