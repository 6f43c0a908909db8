/* The systemd service manager's notification protocol (sd_notify(3)):
 * readiness, reloads and shutdown reported to $NOTIFY_SOCKET, so a unit
 * of Type=notify knows when the broker listens.  Without libsystemd: the
 * protocol is one datagram of "KEY=VALUE" lines on a Unix socket. */
#ifndef DSB_CORE_SDNOTIFY_H
#define DSB_CORE_SDNOTIFY_H

/* Sends state (e.g. "READY=1\nSTATUS=...") when the broker runs under a
 * service manager ($NOTIFY_SOCKET set: a path, or "@name" in the abstract
 * namespace).  1 sent, 0 not under one, -1 the socket refused it (errno
 * set; the broker goes on: readiness is also /readyz). */
int dsb_sd_notify(const char *state);

/* "RELOADING=1" with the MONOTONIC_USEC a Type=notify-reload unit wants. */
int dsb_sd_notify_reloading(void);

#endif
