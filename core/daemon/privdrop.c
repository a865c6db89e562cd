// SPDX-License-Identifier: MIT
/*
 * The daemon's drop of root and the root helper that outlives it only to
 * remove the socket files (see privdrop.h).  Capabilities are set with the
 * raw capget/capset system calls: three masks do not need libcap.
 */
#include "privdrop.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

#define MAX_PATHS	   4
#define RELEASE_TIMEOUT_MS 2000
#define HELPER_FD	   3
/* Locked memory the dropped daemon may use for keys: ~80,000 peers. */
#define TS_PRIVDROP_MEMLOCK ((rlim_t)256 << 20)
#define CAP_BIT(c)	    (UINT64_C(1) << (c))

/* The helper's end, seen from the daemon; -1 when there was no drop. */
static int helper_fd = -1;
static pid_t helper_pid = -1;

/* What the helper may remove: the file it was told about, not a successor's. */
struct owned_path {
	const char *path;
	dev_t dev;
	ino_t ino;
	bool known;
};

static int set_caps(uint64_t keep)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = (uint32_t)keep;
	data[1].effective = data[1].permitted = (uint32_t)(keep >> 32);
	return (int)syscall(SYS_capset, &hdr, data);
}

/* The highest capability this kernel knows (the bounding set has one bit per). */
static int cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_LAST_CAP;

	if (f) {
		if (fscanf(f, "%d", &last) != 1 || last < 0 || last > 63)
			last = CAP_LAST_CAP;
		fclose(f);
	}
	return last;
}

/* Empty the bounding set but for keep: no later execve can gain anything else. */
static int drop_bounding(uint64_t keep)
{
	int last = cap_last();

	for (int c = 0; c <= last; c++) {
		if (keep & CAP_BIT(c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return -errno;
	}
	return 0;
}

static uint64_t effective_caps(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 0;
	return data[0].effective | ((uint64_t)data[1].effective << 32);
}

static void remove_owned(const struct owned_path *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (p[i].known && lstat(p[i].path, &st) == 0 && st.st_dev == p[i].dev &&
		    st.st_ino == p[i].ino)
			unlink(p[i].path);
	}
}

/*
 * The helper: uid 0 (the owner of the socket directories) but no capability
 * at all, no open file but its end of the socket pair, deaf to signals (a
 * Ctrl-C to the process group is the daemon's business).  One byte or end
 * of file from the daemon: remove the files, acknowledge, exit.
 */
static _Noreturn void helper_main(int fd, const struct owned_path *p, size_t n)
{
	int null = open("/dev/null", O_RDWR);
	char c = 0;
	ssize_t r;

	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
	}
	if (dup2(fd, HELPER_FD) < 0)
		_exit(1);
	close_range(HELPER_FD + 1, ~0U, 0);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "tinescale-priv", 0, 0, 0);
	if (drop_bounding(0) < 0 || set_caps(0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(1);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	do
		r = read(HELPER_FD, &c, 1);
	while (r < 0 && errno == EINTR);
	remove_owned(p, n);
	if (write(HELPER_FD, "A", 1) < 0)
		_exit(1);
	_exit(0);
}

static int start_helper(const char *const *paths, size_t n, char *err, size_t errlen)
{
	struct owned_path owned[MAX_PATHS];
	int sv[2];
	pid_t pid;

	if (n > MAX_PATHS) {
		snprintf(err, errlen, "privdrop: at most %d socket paths", MAX_PATHS);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		owned[i].path = paths[i];
		owned[i].known = paths[i] && lstat(paths[i], &st) == 0;
		if (owned[i].known) {
			owned[i].dev = st.st_dev;
			owned[i].ino = st.st_ino;
		}
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(err, errlen, "privdrop: socketpair: %s", strerror(errno));
		return -errno;
	}
	pid = fork();
	if (pid < 0) {
		int e = errno;

		snprintf(err, errlen, "privdrop: fork: %s", strerror(e));
		close(sv[0]);
		close(sv[1]);
		return -e;
	}
	if (pid == 0)
		helper_main(sv[1], owned, n);
	close(sv[1]);
	helper_fd = sv[0];
	helper_pid = pid;
	return 0;
}

/*
 * Key material lives in locked memory (base/secmem.h), which root may lock
 * without limit and the dropped daemon only up to RLIMIT_MEMLOCK, often
 * 8 MiB: raise it while we may, to what peers and keypairs of a large
 * configuration need.
 */
static void raise_memlock(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < TS_PRIVDROP_MEMLOCK) {
		rl.rlim_cur = TS_PRIVDROP_MEMLOCK;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < TS_PRIVDROP_MEMLOCK)
			rl.rlim_max = TS_PRIVDROP_MEMLOCK;
		/* Without CAP_SYS_RESOURCE (a container) only up to the hard limit. */
		if (setrlimit(RLIMIT_MEMLOCK, &rl) < 0 && getrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_MEMLOCK, &rl);
		}
	}
}

static const struct passwd *find_user(const char *user, char *err, size_t errlen)
{
	const struct passwd *pw;

	errno = 0;
	pw = getpwnam(user ? user : TS_PRIVDROP_USER);
	if (pw || user)
		goto out;
	pw = getpwnam(TS_PRIVDROP_FALLBACK);
	if (pw)
		ts_warn("user '%s' does not exist: running as '%s' instead (create a system user "
			"'%s', or give --user)",
			TS_PRIVDROP_USER, TS_PRIVDROP_FALLBACK, TS_PRIVDROP_USER);
out:
	if (!pw)
		snprintf(err, errlen, "cannot drop root: no user '%s'%s",
			 user ? user : TS_PRIVDROP_USER, user ? "" : " and no 'nobody'");
	else if (pw->pw_uid == 0)
		snprintf(err, errlen, "cannot drop root: user '%s' has uid 0", pw->pw_name);
	return pw && pw->pw_uid ? pw : NULL;
}

int ts_privdrop(const char *user, bool bind_low, const char *const *paths, size_t n_paths,
		char *err, size_t errlen)
{
	uint64_t keep = CAP_BIT(CAP_NET_ADMIN) | (bind_low ? CAP_BIT(CAP_NET_BIND_SERVICE) : 0);
	const struct passwd *pw;
	uid_t uid;
	gid_t gid;
	int r;

	if (geteuid() != 0) {
		ts_info("not started as root: no privileges to drop");
		prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
		return 0;
	}
	/*
	 * Started as uid 0 but already confined by a service manager (systemd's
	 * CapabilityBoundingSet=CAP_NET_ADMIN): no uid change is possible, so
	 * keep uid 0, which owns the socket directories, and shed whatever
	 * capability is left beyond keep.
	 */
	if ((effective_caps() & (CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETGID))) !=
	    (CAP_BIT(CAP_SETUID) | CAP_BIT(CAP_SETGID))) {
		keep &= effective_caps();
		if (set_caps(keep) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
			r = -errno;
			snprintf(err, errlen, "cannot drop capabilities: %s", strerror(-r));
			return r;
		}
		ts_privdrop_no_dump();
		ts_info(
		    "no CAP_SETUID (a confined service): staying uid 0 with CAP_NET_ADMIN%s only",
		    keep & CAP_BIT(CAP_NET_BIND_SERVICE) ? " and CAP_NET_BIND_SERVICE" : "");
		return 0;
	}
	pw = find_user(user, err, errlen);
	if (!pw)
		return -ESRCH;
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	r = start_helper(paths, n_paths, err, errlen);
	if (r)
		return r;
	/*
	 * Bounding set first, while CAP_SETPCAP is still ours; then keep the
	 * permitted set across the uid change, change gid before uid (after,
	 * we could not), and trim permitted and effective to keep.  The
	 * supplementary groups go: the daemon user's membership elsewhere is
	 * not something the daemon needs.
	 */
	raise_memlock();
	if ((r = drop_bounding(keep)) < 0) {
		snprintf(err, errlen, "cannot drop root: bounding set: %s", strerror(-r));
		return r;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(1, &gid) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0 || set_caps(keep) < 0 ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot drop root to '%s': %s", pw->pw_name, strerror(-r));
		return r;
	}
	/* Changing credentials resets dumpable to the sysctl's choice: ours is no. */
	ts_privdrop_no_dump();
	/* Belt and braces: a drop that can be undone is no drop. */
	if (setresuid(0, 0, 0) == 0 || setresgid(0, 0, 0) == 0) {
		snprintf(err, errlen, "cannot drop root: uid 0 could be regained");
		return -EPERM;
	}
	ts_info("dropped root: running as %s (uid %u, gid %u) with CAP_NET_ADMIN%s", pw->pw_name,
		(unsigned)uid, (unsigned)gid, bind_low ? " and CAP_NET_BIND_SERVICE" : "");
	return 0;
}

void ts_privdrop_release(void)
{
	struct pollfd p = {.fd = helper_fd, .events = POLLIN};
	char c;

	if (helper_fd < 0)
		return;
	if (write(helper_fd, "R", 1) == 1 && poll(&p, 1, RELEASE_TIMEOUT_MS) == 1 &&
	    read(helper_fd, &c, 1) == 1)
		ts_debug("socket files removed");
	else
		ts_warn("the root helper did not confirm removing the socket files");
	close(helper_fd);
	helper_fd = -1;
	/* It exits once answered or once it sees end of file: reap it. */
	while (waitpid(helper_pid, NULL, 0) < 0 && errno == EINTR)
		;
	helper_pid = -1;
}

void ts_privdrop_no_dump(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		ts_warn("cannot make the process non-dumpable: %s", strerror(errno));
}

#if defined(__SANITIZE_ADDRESS__)
#define TS_LSAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TS_LSAN 1
#endif
#endif

void ts_privdrop_before_exit(void)
{
#ifdef TS_LSAN
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
}
