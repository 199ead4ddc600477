/* btsnoop captures (what `btmon -w` and hcidump write) and the HCI LE advertising reports inside
 * them (PROTOCOLS.md §1.9, §1.10), so a field capture can be replayed into the gateway. Pure: it
 * works on a caller's memory buffer, does no I/O, reads no clock, never logs. Any thread. */
#ifndef COLDCHAIN_BTSNOOP_H
#define COLDCHAIN_BTSNOOP_H

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
#define BTSNOOP_OPCODE_COMMAND 2
#define BTSNOOP_OPCODE_EVENT 3

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

#endif
