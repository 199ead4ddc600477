/* The control socket: one thread polls the listening socket, an eventfd that control_stop()
 * signals, and up to CONTROL_CLIENTS_MAX clients. Everything is non-blocking, and each client
 * has a deadline, so a client that connects and sends nothing (or stops reading its reply)
 * holds up nobody but itself. One request per connection: the first line is answered and the
 * connection closed (bytes after it are ignored), which is all coldchainctl needs and leaves no
 * state between requests. */
#include "control.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

#define LISTEN_BACKLOG 16

struct client {
    int fd; /* -1: a free slot */
    int64_t deadline_mono_ms;
    size_t len;                        /* request bytes read */
    char buf[COMMAND_PAYLOAD_MAX + 2]; /* the request, "\r\n", or enough to see it is too long */
    char *reply;                       /* while writing: the reply line, malloc'd */
    size_t reply_len, reply_sent;
    struct ucred peer; /* SO_PEERCRED, for the log */
};

struct control {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int timeout_ms;
    int (*handle)(void *arg, const struct command *cmd, char **reply_json_out);
    void *arg;
    int listen_fd;
    int wake_fd; /* eventfd: readable once control_stop() asked the thread to end */
    dev_t dev;   /* the socket file this daemon made, so that close removes only */
    ino_t ino;   /* that one */
    bool started;
    pthread_t thread;
    struct client clients[CONTROL_CLIENTS_MAX];
};

int control_default_path(const char *data_dir, char *buf, size_t cap)
{
    size_t max = sizeof(((struct sockaddr_un *)0)->sun_path);
    if (data_dir == NULL || buf == NULL || cap == 0)
        return -EINVAL;
    int n = snprintf(buf, cap, "%s/%s", data_dir, CONTROL_SOCKET_NAME);
    if (n < 0 || (size_t)n >= cap || (size_t)n >= max)
        return -ENAMETOOLONG;
    return 0;
}

/* Looks up a group by name. 0, -ENOENT, -ENOMEM, or -errno. */
static int group_id(const char *name, gid_t *gid_out)
{
    struct group grp, *found = NULL;
    long size = sysconf(_SC_GETGR_R_SIZE_MAX);
    size_t cap = size > 0 ? (size_t)size : 16384;
    int rc;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL)
            return -ENOMEM;
        rc = getgrnam_r(name, &grp, buf, cap, &found);
        if (rc == 0 && found != NULL)
            *gid_out = grp.gr_gid;
        free(buf);
        if (rc != ERANGE || cap > (1u << 20))
            break;
        cap *= 2;
    }
    if (rc != 0)
        return -rc;
    return found != NULL ? 0 : -ENOENT;
}

static void set_address(struct sockaddr_un *addr, const char *path)
{
    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    memcpy(addr->sun_path, path, strlen(path) + 1);
}

/* Is somebody accepting on the socket at path? 0: no, a crashed daemon's file, removed;
 * -EADDRINUSE: yes; -EEXIST: not a socket; other -errno: cannot tell. Absent: 0. */
static int clear_stale(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        int rc = -errno;
        log_err("control: %s: %s", path, strerror(-rc));
        return rc;
    }
    if (!S_ISSOCK(st.st_mode)) {
        log_err("control: %s exists and is not a socket; refusing to replace it (remove it or "
                "give the control socket another path)",
                path);
        return -EEXIST;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int rc = -errno;
        log_err("control: socket: %s", strerror(-rc));
        return rc;
    }
    struct sockaddr_un addr;
    set_address(&addr, path);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 ? 0 : -errno;
    close(fd);
    if (rc == 0) {
        log_err("control: %s: another coldchain-gateway is running and listening there; stop it "
                "first, or give this one another control socket path",
                path);
        return -EADDRINUSE;
    }
    if (rc != -ECONNREFUSED) {
        log_err("control: %s: cannot tell whether a daemon listens there: %s", path, strerror(-rc));
        return rc;
    }
    /* Connection refused: a socket file nobody accepts on, left by a daemon that died. */
    if (unlink(path) != 0 && errno != ENOENT) {
        rc = -errno;
        log_err("control: %s: cannot remove the stale socket: %s", path, strerror(-rc));
        return rc;
    }
    log_notice("control: %s: replaced the socket left by a daemon that stopped without "
               "removing it",
               path);
    return 0;
}

/* Binds and listens on path with mode 0660 and group gid (or (gid_t)-1 to leave it). Nobody can
 * connect before listen(), so the socket is never reachable with looser permissions. */
static int bind_socket(struct control *ctl, gid_t gid, const char *group)
{
    struct sockaddr_un addr;
    struct stat st;
    int rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        log_err("control: socket: %s", strerror(-rc));
        return rc;
    }
    set_address(&addr, ctl->path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        rc = -errno;
        log_err("control: %s: cannot create the socket: %s", ctl->path, strerror(-rc));
        close(fd);
        return rc;
    }
    if (chmod(ctl->path, 0660) != 0) {
        rc = -errno;
        log_err("control: %s: chmod 0660: %s", ctl->path, strerror(-rc));
        goto fail;
    }
    /* A socket created with the daemon's own group needs no chown, which our unit's system
     * call filter (~@privileged) would refuse. */
    struct stat made;
    if (gid != (gid_t)-1 && stat(ctl->path, &made) == 0 && made.st_gid == gid)
        gid = (gid_t)-1;
    if (gid != (gid_t)-1 && chown(ctl->path, (uid_t)-1, gid) != 0) {
        rc = -errno;
        log_err("control: %s: cannot give the socket to group \"%s\": %s (the daemon must run "
                "as root or be a member of that group)",
                ctl->path, group, strerror(-rc));
        goto fail;
    }
    if (stat(ctl->path, &st) != 0 || listen(fd, LISTEN_BACKLOG) != 0) {
        rc = -errno;
        log_err("control: %s: %s", ctl->path, strerror(-rc));
        goto fail;
    }
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    ctl->listen_fd = fd;
    return 0;
fail:
    close(fd);
    unlink(ctl->path);
    return rc;
}

int control_open(const struct control_options *opts,
                 int (*handle)(void *arg, const struct command *cmd, char **reply_json_out),
                 void *arg, struct control **control_out)
{
    struct control *ctl = NULL;
    gid_t gid = (gid_t)-1;
    int rc;

    if (opts == NULL || opts->path == NULL || opts->path[0] == '\0' || handle == NULL ||
        control_out == NULL || opts->client_timeout_ms < 0)
        return -EINVAL;
    if (strlen(opts->path) >= sizeof(ctl->path)) {
        log_err("control: %s: a socket path has at most %zu bytes", opts->path,
                sizeof(ctl->path) - 1);
        return -ENAMETOOLONG;
    }
    if (opts->group != NULL && opts->group[0] != '\0') {
        rc = group_id(opts->group, &gid);
        if (rc < 0) {
            log_err("control: %s: group \"%s\": %s", opts->path, opts->group,
                    rc == -ENOENT ? "no such group" : strerror(-rc));
            return rc;
        }
    }
    ctl = calloc(1, sizeof(*ctl));
    if (ctl == NULL)
        return -ENOMEM;
    memcpy(ctl->path, opts->path, strlen(opts->path) + 1);
    ctl->timeout_ms =
        opts->client_timeout_ms > 0 ? opts->client_timeout_ms : CONTROL_CLIENT_TIMEOUT_MS;
    ctl->handle = handle;
    ctl->arg = arg;
    ctl->listen_fd = -1;
    for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
        ctl->clients[i].fd = -1;
    ctl->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctl->wake_fd < 0) {
        rc = -errno;
        log_err("control: eventfd: %s", strerror(-rc));
        goto fail;
    }
    rc = clear_stale(ctl->path);
    if (rc < 0)
        goto fail;
    rc = bind_socket(ctl, gid, opts->group);
    if (rc < 0)
        goto fail;
    log_info("control: listening on %s (mode 0660%s%s)", ctl->path,
             gid != (gid_t)-1 ? ", group " : "", gid != (gid_t)-1 ? opts->group : "");
    *control_out = ctl;
    return 0;
fail:
    if (ctl->wake_fd >= 0)
        close(ctl->wake_fd);
    free(ctl);
    return rc;
}

static void client_close(struct client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->reply);
    c->fd = -1;
    c->reply = NULL;
    c->len = c->reply_len = c->reply_sent = 0;
}

/* Sends what is left of the reply; closes the client once all of it went, or on an error. */
static void client_write(struct client *c)
{
    while (c->reply_sent < c->reply_len) {
        ssize_t n = send(c->fd, c->reply + c->reply_sent, c->reply_len - c->reply_sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            log_debug("control: client pid %d: reply not delivered: %s", (int)c->peer.pid,
                      strerror(errno));
            break;
        }
        c->reply_sent += (size_t)n;
    }
    client_close(c);
}

/* Turns the request into the reply line and starts sending it. */
static void client_answer(struct control *ctl, struct client *c, const char *line, size_t len,
                          int64_t now_mono_ms)
{
    struct command cmd;
    struct command_error err;
    char *reply = NULL;

    if (len > COMMAND_PAYLOAD_MAX) {
        reply = command_reply_error(NULL, NULL, COMMAND_ERR_TOO_LARGE,
                                    "the request line is longer than 4096 bytes");
        log_info("control: client pid %d uid %u: refused: request longer than %d bytes",
                 (int)c->peer.pid, (unsigned)c->peer.uid, COMMAND_PAYLOAD_MAX);
    } else if (command_parse(NULL, line, len, &cmd, &err) < 0) {
        reply = command_reply_parse_error(&err);
        log_info("control: client pid %d uid %u: refused %s: %s: %s", (int)c->peer.pid,
                 (unsigned)c->peer.uid, err.verb != NULL ? err.verb : "a request", err.code,
                 err.message);
    } else {
        log_debug("control: client pid %d uid %u: %s by \"%s\"", (int)c->peer.pid,
                  (unsigned)c->peer.uid, command_verb_name(cmd.verb), cmd.user);
        int rc = ctl->handle(ctl->arg, &cmd, &reply);
        if (rc < 0 || reply == NULL) {
            bool busy = rc == -EBUSY || rc == -EAGAIN || rc == -ECANCELED;
            free(reply);
            reply = command_reply_error(
                command_verb_name(cmd.verb), cmd.id, busy ? COMMAND_ERR_BUSY : COMMAND_ERR_INTERNAL,
                busy ? "the gateway cannot take commands now (starting or stopping); try again"
                     : "the gateway failed to carry out the command; see its log");
            log_warn("control: %s failed: %s", command_verb_name(cmd.verb),
                     rc < 0 ? strerror(-rc) : "no reply");
        }
    }
    size_t n = reply != NULL ? strlen(reply) : 0;
    char *out = reply != NULL ? realloc(reply, n + 2) : NULL;
    if (out == NULL) {
        free(reply);
        log_err("control: out of memory for a reply");
        client_close(c);
        return;
    }
    out[n] = '\n';
    out[n + 1] = '\0';
    c->reply = out;
    c->reply_len = n + 1;
    c->reply_sent = 0;
    c->deadline_mono_ms = now_mono_ms + ctl->timeout_ms;
    client_write(c);
}

/* Reads what the client sent; answers once a line (or the end of its data) is in. */
static void client_read(struct control *ctl, struct client *c, int64_t now_mono_ms)
{
    for (;;) {
        size_t room = sizeof(c->buf) - c->len;
        ssize_t n = recv(c->fd, c->buf + c->len, room, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n < 0) {
            log_debug("control: client pid %d: %s", (int)c->peer.pid, strerror(errno));
            client_close(c);
            return;
        }
        if (n == 0) {
            /* The client shut its side without a newline: what it sent is the request. */
            if (c->len == 0)
                client_close(c);
            else
                client_answer(ctl, c, c->buf, c->len, now_mono_ms);
            return;
        }
        char *nl = memchr(c->buf + c->len, '\n', (size_t)n);
        c->len += (size_t)n;
        if (nl != NULL) {
            size_t len = (size_t)(nl - c->buf);
            if (len > 0 && c->buf[len - 1] == '\r')
                len--;
            client_answer(ctl, c, c->buf, len, now_mono_ms);
            return;
        }
        if (c->len == sizeof(c->buf)) {
            client_answer(ctl, c, c->buf, c->len, now_mono_ms);
            return;
        }
    }
}

static void accept_clients(struct control *ctl, int64_t now_mono_ms)
{
    for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
        struct client *c = &ctl->clients[i];
        if (c->fd >= 0)
            continue;
        int fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("control: accept: %s", strerror(errno));
            return;
        }
        c->fd = fd;
        c->len = 0;
        c->deadline_mono_ms = now_mono_ms + ctl->timeout_ms;
        socklen_t sl = sizeof(c->peer);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c->peer, &sl) != 0)
            memset(&c->peer, 0, sizeof(c->peer));
        log_debug("control: client pid %d uid %u gid %u connected", (int)c->peer.pid,
                  (unsigned)c->peer.uid, (unsigned)c->peer.gid);
    }
}

static void *control_thread(void *arg)
{
    struct control *ctl = arg;
    struct pollfd fds[2 + CONTROL_CLIENTS_MAX];
    size_t slot_of[2 + CONTROL_CLIENTS_MAX];

    for (;;) {
        int64_t now = clock_mono_ms();
        int64_t next = now + 60000;
        size_t nfds = 0, active = 0;
        fds[nfds++] = (struct pollfd){.fd = ctl->wake_fd, .events = POLLIN};
        for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
            struct client *c = &ctl->clients[i];
            if (c->fd < 0)
                continue;
            active++;
            if (c->deadline_mono_ms < next)
                next = c->deadline_mono_ms;
            slot_of[nfds] = i;
            fds[nfds++] = (struct pollfd){.fd = c->fd, .events = c->reply ? POLLOUT : POLLIN};
        }
        /* With every slot taken, new clients wait in the backlog until one is free. */
        size_t listen_at = nfds;
        if (active < CONTROL_CLIENTS_MAX)
            fds[nfds++] = (struct pollfd){.fd = ctl->listen_fd, .events = POLLIN};
        int timeout = next > now ? (int)(next - now) : 0;
        int n = poll(fds, nfds, timeout);
        if (n < 0 && errno != EINTR) {
            log_err("control: poll: %s; the control socket stops answering", strerror(errno));
            break;
        }
        if (fds[0].revents != 0)
            break; /* control_stop() */
        now = clock_mono_ms();
        for (size_t k = 1; n > 0 && k < listen_at; k++) {
            struct client *c = &ctl->clients[slot_of[k]];
            if (fds[k].revents == 0 || c->fd < 0)
                continue;
            if (c->reply != NULL)
                client_write(c);
            else
                client_read(ctl, c, now);
        }
        for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++) {
            struct client *c = &ctl->clients[i];
            if (c->fd >= 0 && now >= c->deadline_mono_ms) {
                log_info("control: client pid %d uid %u: %s within %d ms; closed", (int)c->peer.pid,
                         (unsigned)c->peer.uid,
                         c->reply ? "did not take its reply" : "sent no complete request",
                         ctl->timeout_ms);
                client_close(c);
            }
        }
        if (listen_at < nfds && fds[listen_at].revents != 0)
            accept_clients(ctl, now);
    }
    for (size_t i = 0; i < CONTROL_CLIENTS_MAX; i++)
        client_close(&ctl->clients[i]);
    return NULL;
}

int control_start(struct control *ctl)
{
    if (ctl == NULL)
        return -EINVAL;
    if (ctl->started)
        return -EALREADY;
    int rc = pthread_create(&ctl->thread, NULL, control_thread, ctl);
    if (rc != 0) {
        log_err("control: cannot start the control thread: %s", strerror(rc));
        return -rc;
    }
    ctl->started = true;
    return 0;
}

void control_stop(struct control *ctl)
{
    if (ctl == NULL || !ctl->started)
        return;
    uint64_t one = 1;
    while (write(ctl->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
    pthread_join(ctl->thread, NULL);
    ctl->started = false;
    /* Clients still in the backlog are closed too, rather than left waiting for a thread that
     * is gone; later ones wait for control_start() or control_close(). */
    int fd;
    while ((fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0 ||
           errno == EINTR || errno == ECONNABORTED) {
        if (fd >= 0)
            close(fd);
    }
    /* Drained, so that a later control_start() does not stop at once. */
    while (read(ctl->wake_fd, &one, sizeof(one)) < 0 && errno == EINTR)
        ;
}

void control_close(struct control *ctl)
{
    if (ctl == NULL)
        return;
    control_stop(ctl);
    if (ctl->listen_fd >= 0) {
        /* Only the file this daemon made: another may have replaced it after a stop. */
        struct stat st;
        if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
            unlink(ctl->path);
        close(ctl->listen_fd);
    }
    close(ctl->wake_fd);
    free(ctl);
}
