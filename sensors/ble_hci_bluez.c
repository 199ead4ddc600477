/* ble_hci_ops over BlueZ's libbluetooth raw HCI socket (ble_hci.h). The only file that includes
 * BlueZ's headers. */
#include <bluetooth/bluetooth.h>
#include <bluetooth/hci.h>
#include <bluetooth/hci_lib.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ble_hci.h"

struct ble_hci {
    int dd;
    struct hci_filter old_filter;
    bool have_old_filter;
};

static int errno_or(int fallback)
{
    return errno != 0 ? -errno : -fallback;
}

static int bluez_open(const char *device, struct ble_hci **hci_out)
{
    /* A kernel without Bluetooth refuses the socket family; say so rather than "no device". */
    int probe = socket(AF_BLUETOOTH, SOCK_RAW | SOCK_CLOEXEC, BTPROTO_HCI);
    if (probe < 0)
        return errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT ? -EAFNOSUPPORT : -errno;
    close(probe);

    errno = 0;
    int id = hci_devid(device);
    if (id < 0)
        return -ENODEV;
    struct ble_hci *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    errno = 0;
    h->dd = hci_open_dev(id);
    if (h->dd < 0) {
        int rc = errno_or(ENODEV);
        free(h);
        return rc;
    }
    socklen_t len = sizeof(h->old_filter);
    h->have_old_filter =
        getsockopt(h->dd, SOL_HCI, HCI_FILTER, &h->old_filter, &len) == 0;
    *hci_out = h;
    return 0;
}

static int bluez_command(struct ble_hci *h, uint16_t ogf, uint16_t ocf, const void *param,
                         uint8_t param_len, uint8_t *status_out, int timeout_ms)
{
    uint8_t status = 0xFF;
    uint8_t cparam[255];
    memcpy(cparam, param, param_len);
    struct hci_request rq = {
        .ogf = ogf,
        .ocf = ocf,
        .cparam = cparam,
        .clen = param_len,
        .rparam = &status,
        .rlen = 1,
    };
    errno = 0;
    if (hci_send_req(h->dd, &rq, timeout_ms) < 0)
        return errno_or(EIO);
    *status_out = status;
    return 0;
}

static int bluez_listen(struct ble_hci *h)
{
    struct hci_filter f;
    hci_filter_clear(&f);
    hci_filter_set_ptype(HCI_EVENT_PKT, &f);
    hci_filter_set_event(EVT_LE_META_EVENT, &f);
    if (setsockopt(h->dd, SOL_HCI, HCI_FILTER, &f, sizeof(f)) < 0)
        return -errno;
    return 0;
}

static int bluez_read(struct ble_hci *h, uint8_t *buf, size_t cap, int timeout_ms)
{
    struct pollfd pfd = {.fd = h->dd, .events = POLLIN};
    int n = poll(&pfd, 1, timeout_ms);
    if (n < 0)
        return errno == EINTR ? 0 : -errno;
    if (n == 0)
        return 0;
    if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
        return -ENETDOWN;
    ssize_t got = read(h->dd, buf, cap);
    if (got < 0)
        return errno == EINTR || errno == EAGAIN ? 0 : -errno;
    return (int)got;
}

static void bluez_close(struct ble_hci *h)
{
    if (!h)
        return;
    if (h->have_old_filter)
        setsockopt(h->dd, SOL_HCI, HCI_FILTER, &h->old_filter, sizeof(h->old_filter));
    hci_close_dev(h->dd);
    free(h);
}

const struct ble_hci_ops ble_hci_bluez = {
    .name = "bluez",
    .open = bluez_open,
    .command = bluez_command,
    .listen = bluez_listen,
    .read = bluez_read,
    .close = bluez_close,
};
