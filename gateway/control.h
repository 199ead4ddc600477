/* The local control socket (issue 6; docs/mqtt.md "The control socket"): a Unix stream socket
 * through which `coldchainctl` on the gateway itself sends the same commands as MQTT's
 * cmd/<verb>. One thread of its own accepts clients, reads one request line from each, parses it
 * (command.h) and hands the command to the engine's handler, then writes the reply line and
 * closes. control_open/start/stop/close: the main thread (or whichever thread owns the engine's
 * lifecycle, see control_stop). The handler: the control thread. */
#ifndef COLDCHAIN_CONTROL_H
#define COLDCHAIN_CONTROL_H

#include <stddef.h>

#include "command.h"

#define CONTROL_SOCKET_NAME "control.sock" /* in the data_dir, by default */
#define CONTROL_CLIENT_TIMEOUT_MS 5000     /* a client has this long to send its request */
#define CONTROL_CLIENTS_MAX 16             /* served at once; more wait in the backlog */

struct control_options {
    const char *path;      /* the socket's path (at most 107 bytes); see control_default_path */
    const char *group;     /* NULL or "": the daemon's own group; else the socket is chgrp'd
                            * to it (e.g. "coldchain") so that its members may connect */
    int client_timeout_ms; /* 0: CONTROL_CLIENT_TIMEOUT_MS (tests set it shorter) */
};

/* The handler, handle(arg, cmd, reply_json_out) in control_open(), carries out one command and
 * writes its reply. Called on the control thread, one command at a time (other clients wait,
 * their read timeouts still running), and it may block until the engine thread has executed
 * the command. Returns 0 with *reply_json_out a malloc'd reply
 * (command_reply_ok / command_reply_error) that the control thread sends and frees; or a negative
 * errno and no reply, which the client receives as "busy" for -EBUSY, -EAGAIN and -ECANCELED
 * (the engine is stopping or cannot take commands now) and as "internal" otherwise. cmd is
 * borrowed for the call. The handler must return promptly once the engine stops taking
 * commands: control_stop() waits for a call in progress. */
struct control;

/* Writes "<data_dir>/control.sock" into buf. 0, or -ENAMETOOLONG when it does not fit in cap or
 * in a socket address. Any thread. */
int control_default_path(const char *data_dir, char *buf, size_t cap);

/* Creates the listening socket at opts->path with mode 0660 (and opts->group), without starting
 * the thread: a socket file left by a crashed daemon (nobody accepts on it) is replaced; a path
 * where a live daemon listens is refused with -EADDRINUSE, a path that is not a socket with
 * -EEXIST. Other errors: -ENAMETOOLONG (path too long), -ENOENT (no such group), -EPERM (chgrp
 * refused), -EINVAL, -ENOMEM, or the -errno of socket/bind/listen. Each failure is logged with
 * the path and what to do. opts and its strings are copied. *control_out is the caller's:
 * control_close(). */
int control_open(const struct control_options *opts,
                 int (*handle)(void *arg, const struct command *cmd, char **reply_json_out),
                 void *arg, struct control **control_out);

/* Starts the control thread. 0, -EALREADY, or -errno from pthread_create. */
int control_start(struct control *control);

/* Wakes the control thread, waits for it to finish (including a handler call in progress: the
 * handler must not be waiting for the thread that calls this) and closes every client, those
 * not yet accepted too. The handler is not called after it returns; a client that connects
 * later waits for control_start() or control_close(). A no-op when not started; NULL is a
 * no-op. */
void control_stop(struct control *control);

/* Stops the thread if it runs, closes the socket and removes the socket file (if it is still
 * the one this daemon created). NULL is a no-op. */
void control_close(struct control *control);

#endif
