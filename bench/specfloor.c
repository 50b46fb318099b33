// specfloor: the least a receiver can do that keeps SPEC.md's promise for a
// tree of files, as a yardstick for bench/manyfiles.sh (TOOLS=floor).
//
// It reads a tar stream (the ustar/GNU headers `tar c` writes for short
// names) on stdin and, under DIR, makes each directory and writes each file
// under a temporary name in its own directory (O_EXCL, O_NOFOLLOW),
// with its mode and mtime. At the end it makes the data durable (one syncfs),
// renames every file into place (refusing to replace one) and makes the
// names durable (a second syncfs): SPEC's "temporary name, fsync, rename",
// with the fewest system calls and no checksum, encryption, framing, acks or
// progress. It is C, so it shows what the promise costs the kernel and the
// disk, with nothing of ferry's own on top.
//
// With -p (pipelined) a second thread does the syncs and renames, a batch of
// BATCH files at a time, while more files are written, as ferry's receiver
// does: the second syncfs of each batch is the first of the next, and only
// the last batch's syncs and renames come after the stream ends.
//
// Build: cc -O2 -pthread -o specfloor specfloor.c
// Use:   nc -l PORT | specfloor [-p] DIR
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define BATCH 1000

static char buf[1 << 20];
static size_t have, pos;

// fill makes at least need bytes available at buf+pos; 0 at end of input.
static int fill(size_t need) {
	if (have - pos >= need)
		return 1;
	memmove(buf, buf + pos, have - pos);
	have -= pos;
	pos = 0;
	while (have < need) {
		ssize_t n = read(0, buf + have, sizeof buf - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		have += (size_t)n;
	}
	return 1;
}

static void die(const char *what, const char *name) {
	fprintf(stderr, "specfloor: %s %s: %s\n", what, name, errno ? strerror(errno) : "bad input");
	exit(1);
}

struct pending {
	char *tmp, *name;
};

static int root;
static const char *rootName;
static struct pending *q;
static size_t n;

// MAXFILES bounds the queue, allocated once (and touched only as it fills)
// so the flusher can read it without a lock while it grows.
#define MAXFILES (1 << 22)

// flushed is how many of q the flusher has put in place; ready how many it
// may. Both under mu.
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t more = PTHREAD_COND_INITIALIZER;
static size_t ready, flushed;
static int ended;

// place makes q[from:to] durable and renames it into place.
static void place(size_t from, size_t to) {
	if (syncfs(root))
		die("syncing", rootName);
	for (size_t i = from; i < to; i++)
		if (renameat2(root, q[i].tmp, root, q[i].name, RENAME_NOREPLACE))
			die("renaming", q[i].name);
}

static void *flusher(void *arg) {
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (ready == flushed && !ended)
			pthread_cond_wait(&more, &mu);
		if (ready == flushed)
			break;
		size_t from = flushed, to = ready;
		pthread_mutex_unlock(&mu);
		place(from, to);
		pthread_mutex_lock(&mu);
		flushed = to;
	}
	pthread_mutex_unlock(&mu);
	return 0;
}

int main(int argc, char **argv) {
	int pipelined = argc == 3 && strcmp(argv[1], "-p") == 0;
	if (argc != 2 + pipelined) {
		fprintf(stderr, "usage: specfloor [-p] DIR < tar-stream\n");
		return 2;
	}
	rootName = argv[1 + pipelined];
	root = open(rootName, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (root < 0)
		die("opening", rootName);
	q = malloc(MAXFILES * sizeof *q);
	if (!q)
		die("allocating", "queue");
	pthread_t th;
	if (pipelined && pthread_create(&th, 0, flusher, 0))
		die("starting", "flusher");
	for (;;) {
		errno = 0;
		if (!fill(BLOCK))
			die("reading", "header");
		char *h = buf + pos;
		pos += BLOCK;
		if (!h[0])
			break; // the end-of-archive block
		char name[101];
		memcpy(name, h, 100);
		name[100] = 0;
		size_t l = strlen(name);
		if (l && name[l - 1] == '/')
			name[--l] = 0;
		unsigned long size = strtoul(h + 124, 0, 8);
		unsigned mode = (unsigned)strtoul(h + 100, 0, 8) & 07777;
		struct timespec mt = {(time_t)strtol(h + 136, 0, 8), 0};
		char type = h[156];
		if (type == '5') {
			if (mkdirat(root, name, 0700) && errno != EEXIST)
				die("making directory", name);
			continue;
		}
		if (type != '0' && type != 0)
			die("unsupported entry type for", name);
		const char *slash = strrchr(name, '/');
		int dirlen = slash ? (int)(slash - name + 1) : 0;
		char tmp[160];
		snprintf(tmp, sizeof tmp, "%.*s.specfloor-%zu.part", dirlen, name, n);
		int fd = openat(root, tmp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode & 0777);
		if (fd < 0)
			die("creating", tmp);
		// In pieces the buffer holds, then past the padding to a block.
		for (unsigned long left = size; left > 0;) {
			size_t part = left < sizeof buf / 2 ? left : sizeof buf / 2;
			if (!fill(part))
				die("reading data of", name);
			if (write(fd, buf + pos, part) != (ssize_t)part)
				die("writing", tmp);
			pos += part;
			left -= part;
		}
		size_t pad = (BLOCK - size % BLOCK) % BLOCK;
		if (!fill(pad))
			die("reading data of", name);
		pos += pad;
		struct timespec ts[2] = {mt, mt};
		if (futimens(fd, ts) || close(fd))
			die("finishing", tmp);
		if (n == MAXFILES)
			die("too many files at", name);
		q[n].tmp = strdup(tmp);
		q[n].name = strdup(name);
		n++;
		if (pipelined && n % BATCH == 0) {
			pthread_mutex_lock(&mu);
			ready = n;
			pthread_cond_signal(&more);
			pthread_mutex_unlock(&mu);
		}
	}
	if (pipelined) {
		pthread_mutex_lock(&mu);
		ready = n;
		ended = 1;
		pthread_cond_signal(&more);
		pthread_mutex_unlock(&mu);
		pthread_join(th, 0);
	} else {
		place(0, n);
	}
	if (syncfs(root))
		die("syncing", rootName);
	return 0;
}
