/* The two small systemd protocols, implemented directly (no libsystemd):
 * sd_notify datagrams to $NOTIFY_SOCKET and socket activation through
 * $LISTEN_FDS / $LISTEN_PID / $LISTEN_FDNAMES. */
#ifndef NANODNS_SD_NOTIFY_H
#define NANODNS_SD_NOTIFY_H

#define SD_LISTEN_FDS_START 3

/* Send state ("READY=1", "RELOADING=1", "STOPPING=1", "STATUS=...") to
 * $NOTIFY_SOCKET (a path, or '@' for the abstract namespace). Returns 1 when
 * sent, 0 when NOTIFY_SOCKET is unset, -1 on error. */
int sd_notify_send(const char *state);

/* Number of descriptors passed to this process (from fd 3), 0 when none or
 * LISTEN_PID is not this process. The variables are unset afterwards so
 * children do not inherit them; the descriptors get FD_CLOEXEC. */
int sd_listen_fds(void);

#endif
