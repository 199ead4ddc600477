/* The few raw-HCI calls the BLE scanner (ble.c) makes, as a const table so that tests pass a
 * double for the radio, which this machine does not have (STYLE §10). The real table,
 * ble_hci_bluez, is the only code that includes BlueZ's headers, and the only place
 * libbluetooth's -1 + errno is translated: every op returns 0 (or a count) or a negative errno.
 * The scanner builds the HCI commands itself (ble.c), so the legacy/extended fallback is the
 * scanner's logic and is tested; the ops only move bytes.
 *
 * Facts relied on (PROTOCOLS.md §1.9; BlueZ 5.66 lib/hci.c as Debian 12 ships it):
 *  - hci_open_dev() gives a raw HCI socket bound to one controller; without CAP_NET_RAW the
 *    kernel refuses commands outside its security filter (hci_sock.c), which shows as EPERM;
 *  - hci_send_req() sends one command, waits for its Command Complete (or Command Status)
 *    event with the socket's filter narrowed to it, restores the filter, and copies the
 *    event's return parameters, whose first byte is the controller's status;
 *  - what the controller then sends arrives by read() as H4 packets: the type byte (0x04 for
 *    an event) and the event. */
#ifndef COLDCHAIN_BLE_HCI_H
#define COLDCHAIN_BLE_HCI_H

#include <stddef.h>
#include <stdint.h>

/* Opaque: the real ops keep the socket in it; a double defines it itself. */
struct ble_hci;

/* HCI status codes the scanner tells apart (Core spec Vol 1 Part F). */
#define BLE_HCI_STATUS_OK 0x00
#define BLE_HCI_STATUS_UNKNOWN_COMMAND 0x01
#define BLE_HCI_STATUS_COMMAND_DISALLOWED 0x0C

/* LE controller commands (OGF 0x08). Legacy scan ones are in libbluetooth's hci.h; the
 * extended ones only in monitor/bt.h, so all four are spelled here. */
#define BLE_HCI_OGF_LE 0x08
#define BLE_HCI_OCF_SET_SCAN_PARAMETERS 0x000B
#define BLE_HCI_OCF_SET_SCAN_ENABLE 0x000C
#define BLE_HCI_OCF_SET_EXT_SCAN_PARAMETERS 0x0041
#define BLE_HCI_OCF_SET_EXT_SCAN_ENABLE 0x0042

struct ble_hci_ops {
    const char *name; /* "bluez", or the double's name */
    /* Opens the controller "hci0" (or a controller's address, as hci_devid() takes it).
     * 0 and *hci_out, -ENODEV (no such controller), -EAFNOSUPPORT (no Bluetooth in this
     * kernel), -EPERM/-EACCES, ... */
    int (*open)(const char *device, struct ble_hci **hci_out);
    /* Sends one LE command and waits at most timeout_ms for its completion. 0 with
     * *status_out the controller's status; -ETIMEDOUT, -EPERM (missing CAP_NET_RAW),
     * -ENETDOWN (controller down or gone), -EIO. */
    int (*command)(struct ble_hci *hci, uint16_t ogf, uint16_t ocf, const void *param,
                   uint8_t param_len, uint8_t *status_out, int timeout_ms);
    /* From now on, read() gives LE Meta events only. 0 or -errno. */
    int (*listen)(struct ble_hci *hci);
    /* Waits at most timeout_ms for one H4 packet (type byte first) and copies it into buf.
     * Returns its length, 0 when nothing came in time, or -errno (-ENETDOWN: the controller
     * went away). */
    int (*read)(struct ble_hci *hci, uint8_t *buf, size_t cap, int timeout_ms);
    /* Puts back the socket's old filter and closes it. NULL is a no-op. */
    void (*close)(struct ble_hci *hci);
};

extern const struct ble_hci_ops ble_hci_bluez;

#endif
