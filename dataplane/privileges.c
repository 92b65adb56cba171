/* Privilege drop (privileges.h): setgroups, setgid, setuid, a check that
 * there is no way back, then no_new_privs. */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "log.h"

/* The user to become: --user, else PRIVILEGES_DEFAULT_USER when it exists, else
 * PRIVILEGES_FALLBACK_USER. Returns NULL after logging when there is none. */
static const struct passwd *privileges_user(const char *requested)
{
    const char *name = requested != NULL ? requested : PRIVILEGES_DEFAULT_USER;
    errno = 0;
    const struct passwd *pw = getpwnam(name);
    if (pw == NULL && requested == NULL) {
        log_info("user " PRIVILEGES_DEFAULT_USER
                 " does not exist: running as " PRIVILEGES_FALLBACK_USER);
        name = PRIVILEGES_FALLBACK_USER;
        errno = 0;
        pw = getpwnam(name);
    }
    if (pw == NULL)
        log_error("cannot drop privileges: user %s: %s", name,
                  errno != 0 ? strerror(errno) : "no such user");
    return pw;
}

/* Started as root: become an unprivileged user for good (setgroups, then
 * setgid, then setuid: each step needs the privilege the next one drops).
 * In every case, no_new_privs: nothing this process executes can gain
 * privileges (set-user-ID, file capabilities). Returns -1 after logging. */
int privileges_drop(const char *requested, const char *image_path)
{
    if (geteuid() == 0) {
        const struct passwd *pw = privileges_user(requested);
        if (pw == NULL)
            return -1;
        /* getpwnam's buffer is overwritten by the next lookup: copy. */
        char name[64];
        snprintf(name, sizeof(name), "%s", pw->pw_name);
        uid_t uid = pw->pw_uid;
        gid_t gid = pw->pw_gid;
        if (uid == 0) {
            log_error("cannot drop privileges: user %s has uid 0", name);
            return -1;
        }
        if (setgroups(0, NULL) < 0) {
            log_error("cannot drop privileges: setgroups: %s", strerror(errno));
            return -1;
        }
        if (setgid(gid) < 0) {
            log_error("cannot drop privileges: setgid %u: %s", (unsigned)gid, strerror(errno));
            return -1;
        }
        if (setuid(uid) < 0) {
            log_error("cannot drop privileges: setuid %u: %s", (unsigned)uid, strerror(errno));
            return -1;
        }
        /* With euid 0, setuid sets the real, effective and saved IDs: there
         * must be no way back. */
        uid_t ruid, euid, suid;
        gid_t rgid, egid, sgid;
        if (setuid(0) == 0 || seteuid(0) == 0 || getresuid(&ruid, &euid, &suid) < 0 ||
            getresgid(&rgid, &egid, &sgid) < 0 || ruid != uid || euid != uid || suid != uid ||
            rgid != gid || egid != gid || sgid != gid || getgroups(0, NULL) != 0) {
            log_error("cannot drop privileges: still able to regain them after becoming %s", name);
            return -1;
        }
        /* The image is re-mapped on every reload: a state directory the
         * user cannot read would refuse every new version. */
        if (access(image_path, R_OK) < 0)
            log_error("user %s cannot read %s (%s): new images will be refused; make the "
                      "state directory and the image readable by it",
                      name, image_path, strerror(errno));
        log_info("running as user %s (uid %u)", name, (unsigned)uid);
    } else {
        uid_t uid = geteuid();
        const struct passwd *pw = getpwuid(uid);
        if (requested != NULL && (pw == NULL || strcmp(pw->pw_name, requested) != 0))
            log_warning("--user %s ignored: not started as root", requested);
        if (pw != NULL)
            log_info("running as user %s (uid %u)", pw->pw_name, (unsigned)uid);
        else
            log_info("running as uid %u", (unsigned)uid);
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        log_error("cannot set no_new_privs: %s", strerror(errno));
        return -1;
    }
    return 0;
}
