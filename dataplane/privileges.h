/* Dropping root for good, the data plane's one privileged step: taken by
 * main once the sockets, the stats file and the first image are held.
 * Process-wide (setuid changes every thread): before any thread starts. */
#ifndef NANODNS_PRIVILEGES_H
#define NANODNS_PRIVILEGES_H

/* Users to run as when started as root without --user: the packaged one,
 * else the one every system has. */
#define PRIVILEGES_DEFAULT_USER "nanodns"
#define PRIVILEGES_FALLBACK_USER "nobody"

/* Started as root: become requested (NULL: PRIVILEGES_DEFAULT_USER when it
 * exists, else PRIVILEGES_FALLBACK_USER) with no way back; warn when that
 * user cannot read image_path. Otherwise stay who we are (and say so).
 * In every case set no_new_privs. Returns -1 after logging. */
int privileges_drop(const char *requested, const char *image_path);

#endif
