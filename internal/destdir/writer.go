package destdir

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ferrytool/ferry/internal/names"
)

// The small files for a batch's writer go to it in groups of up to
// smallWriterGroup files or smallWriterBytes bytes of data, so that it is
// not woken for each; up to smallWriterQueue groups may wait for it, and
// smallSlabsKept written slabs for the next files. A transfer's small
// files thus hold about 2 MiB at the most.
const (
	smallWriterGroup = 32
	smallWriterBytes = 256 << 10
	smallWriterQueue = 4
)

// smallWriter creates a batch's small files (see smallFile) on a goroutine
// of its own, so that the system calls of one file overlap the receiving
// and checking of the next: for many small files those calls are half the
// receiver's work. The batch waits for it (wait, or a flush for a mark in
// its queue) before it syncs, places, discards or closes anything it was
// given.
type smallWriter struct {
	jobs    chan writerJob
	group   []*dirDest     // files given and not yet sent to the goroutine
	bytes   int            // their data
	pending sync.WaitGroup // files given and not yet written
	failed  atomic.Bool    // err is set; later files are not written
	err     error          // the first failure, read once failed is set or after wait
}

// writerJob is a group of files for the writer to write, or with reached
// a mark in its queue: the writer sends its failure so far, or nil, on
// reached once every file given before it is written.
type writerJob struct {
	group   []*dirDest
	reached chan<- error
}

func newSmallWriter() *smallWriter {
	w := &smallWriter{jobs: make(chan writerJob, smallWriterQueue)}
	go w.run()
	return w
}

func (w *smallWriter) run() {
	for job := range w.jobs {
		if job.reached != nil {
			job.reached <- w.firstErr()
			continue
		}
		for _, d := range job.group {
			if !w.failed.Load() {
				if err := d.writeSmall(); err != nil {
					w.err = err
					w.failed.Store(true)
				}
			}
			release(d)
			w.pending.Done()
		}
	}
}

// write gives d, committed, to the writer.
func (w *smallWriter) write(d *dirDest) {
	w.pending.Add(1)
	w.group = append(w.group, d)
	w.bytes += len(d.buf)
	if len(w.group) >= smallWriterGroup || w.bytes >= smallWriterBytes {
		w.send()
	}
}

// release gives back, once d is written or skipped, the slab noted in it.
// The writer writes files in the order they were committed, which is the
// order their buffers were cut in, so every file cut from that slab is
// written too.
func release(d *dirDest) {
	d.batch.slabs.Give(d.slabBefore)
	d.buf, d.slabBefore = nil, nil
}

// send hands the files given so far to the writer's goroutine.
func (w *smallWriter) send() {
	if len(w.group) > 0 {
		w.jobs <- writerJob{group: w.group}
		w.group, w.bytes = nil, 0
	}
}

// mark returns a channel that receives the writer's failure, or nil, once
// every file given so far is written or skipped: a flush waits on it
// rather than for the writer to be idle, which would leave the writer with
// nothing to do until the receiver has given it more files.
func (w *smallWriter) mark() <-chan error {
	w.send()
	reached := make(chan error, 1)
	w.jobs <- writerJob{reached: reached}
	return reached
}

// firstErr returns the writer's failure so far, without waiting.
func (w *smallWriter) firstErr() error {
	if w.failed.Load() {
		return w.err
	}
	return nil
}

// wait waits until every file given is written, and returns the first
// failure.
func (w *smallWriter) wait() error {
	w.send()
	w.pending.Wait()
	return w.err
}

// close ends the writer once every file given is written.
func (w *smallWriter) close() {
	_ = w.wait()
	close(w.jobs)
}

// writeSmall creates a small, verified file under its temporary name with
// its mode (see Dir.perm) and the sender's time, writes it whole and
// closes it; a flush puts it in place once synced, as any other file. It
// runs on the batch's smallWriter and touches only d (and the Dir's
// settings, set before the transfer).
func (d *dirDest) writeSmall() error {
	name := d.entry.Name
	perm := d.batch.dest.perm(d.entry.Mode)
	file, err := d.dirH.create(d.tmp, perm)
	if err != nil {
		return fmt.Errorf("cannot create %s: %w", names.Quote(name), unwrapPath(err))
	}
	d.created = true
	_, err = file.Write(d.buf)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", names.Quote(name), unwrapPath(err))
	} else if perm&d.batch.dest.umask != 0 {
		// Only with --keep-perms: the umask took from create's mode bits
		// the sender's mode keeps.
		if err = file.Chmod(perm); err != nil {
			err = fmt.Errorf("setting the mode of %s: %w", names.Quote(name), unwrapPath(err))
		}
	}
	if err == nil && !d.entry.ModTime.IsZero() {
		if err = setTimes(d.dirH, file, d.tmp, d.entry.ModTime); err != nil {
			err = fmt.Errorf("setting the time of %s: %w", names.Quote(name), unwrapPath(err))
		}
	}
	if err == nil {
		// After the time is set, which the sync makes durable too.
		err = d.syncBeforeClose(file)
	}
	if cerr := file.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("closing %s: %w", names.Quote(name), unwrapPath(cerr))
	}
	if err != nil {
		return err
	}
	d.written = true
	return nil
}

// settleWriter waits for the batch's smallWriter. If it failed, the small
// files it did not write whole are discarded and dropped from the queue,
// the files before them stay queued for a flush, and its error is
// returned.
func (b *Batch) settleWriter() error {
	if b.writer == nil {
		return nil
	}
	err := b.writer.wait()
	if err == nil {
		return nil
	}
	b.queued = keepWritten(b.queued)
	return err
}

// keepWritten discards the small files of q the writer did not write
// whole, and returns the others, in q's array.
func keepWritten(q []*dirDest) []*dirDest {
	kept := q[:0]
	for _, d := range q {
		if d.small && !d.written {
			d.Discard()
			continue
		}
		kept = append(kept, d)
	}
	clear(q[len(kept):])
	return kept
}
