// diskfloor: the least a receiver can do that keeps ferry's promise for one
// file on a disk, as a yardstick for bench/run's disk section, the way
// specfloor.c is for many files.
//
// It writes stdin to FILE.tmp in 1 MiB writes; at the end of the input it
// makes the data durable (fdatasync), renames FILE.tmp to FILE and makes
// the name durable (fsync of the directory): ferry's "temporary name,
// fsync, rename", with no checksum, encryption, framing, acks or progress.
//
// Built with -DWINDOW=(8<<20), it also asks the kernel, as each 8 MiB
// window of the file fills, to start writing that window back
// (sync_file_range SYNC_FILE_RANGE_WRITE), and waits for the window LAG
// (2) before it (SYNC_FILE_RANGE_WAIT_BEFORE), so the dirty data stays a
// few windows long and the disk works while the network does.
// sync_file_range alone promises nothing about durability; fdatasync does,
// and then finds little left to do. On the development VM that early
// writeback was slower than none (bench/README.md), so it is off unless
// asked for.
//
// Build: cc -O2 -o diskfloor diskfloor.c
// Use:   nc -l PORT | diskfloor FILE
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef WINDOW
#define WINDOW 0
#endif
#ifndef LAG
#define LAG 2
#endif
#define CHUNK (1 << 20)

static char buf[CHUNK];

static void die(const char *what, const char *name) {
	fprintf(stderr, "diskfloor: %s %s: %s\n", what, name, strerror(errno));
	exit(1);
}

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: diskfloor FILE < data\n");
		return 2;
	}
	const char *name = argv[1];
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		die("creating", tmp);
	off_t off = 0, started = 0;
	for (;;) {
		// Fill the whole chunk if the input has it: fewer, bigger writes.
		size_t have = 0;
		while (have < sizeof buf) {
			ssize_t n = read(0, buf + have, sizeof buf - have);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("reading", "stdin");
			if (n == 0)
				break;
			have += (size_t)n;
		}
		for (size_t done = 0; done < have;) {
			ssize_t n = write(fd, buf + done, have - done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				die("writing", tmp);
			done += (size_t)n;
		}
		off += (off_t)have;
		while (WINDOW > 0 && off - started >= WINDOW) {
			if (sync_file_range(fd, started, WINDOW, SYNC_FILE_RANGE_WRITE))
				die("starting writeback of", tmp);
			if (started >= LAG * WINDOW &&
			    sync_file_range(fd, started - LAG * WINDOW, WINDOW, SYNC_FILE_RANGE_WAIT_BEFORE))
				die("waiting for writeback of", tmp);
			started += WINDOW;
		}
		if (have < sizeof buf)
			break;
	}
	if (fdatasync(fd) || close(fd))
		die("syncing", tmp);
	if (rename(tmp, name))
		die("renaming", tmp);
	char dirbuf[4096];
	snprintf(dirbuf, sizeof dirbuf, "%s", name);
	const char *dir = dirname(dirbuf);
	int dfd = open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) || close(dfd))
		die("syncing directory", dir);
	return 0;
}
