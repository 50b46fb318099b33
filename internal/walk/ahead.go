package walk

import (
	"context"
	"path/filepath"
	"sync/atomic"

	"github.com/ferrytool/ferry/internal/names"
)

// A walk lists and looks at the directories below the one it is in ahead
// of their turn, on a goroutine of its own, while it yields the entries
// it has: a sender counts its tree before it connects, with the other
// core idle, and the kernel's work (getdents and an fstatat an entry) is
// most of that count. Handing over a part of one directory, or a chunk of
// entries, costs more than it saves (the goroutine woken then runs on the
// walk's own core); a whole directory found early enough does not.
//
// A directory is listed after its own look, as in a walk without this,
// and its entries are looked at in order: what vanishes after a look is
// still found gone by the look or the listing that follows. Only
// directories of a few thousand entries are looked at ahead, and only
// those below one such are given to be listed ahead: a walk of huge
// directories holds, as before, one listing's names and no looks.

// aheadDirs bounds the directories waiting to be listed ahead, and
// aheadNames the names of those listed and not yet walked: past it the
// helper leaves a directory to the walk, which lists it in its turn.
// aheadLooks bounds the entries of one directory looked at before the walk
// comes to them (see dirJob.list), and aheadDirBytes the size of a
// directory given to be listed ahead: most file systems give a directory
// a size that grows with its entries (ext4 about 30 bytes an entry, tmpfs
// 20), so that one of many more than aheadLooks is not listed twice.
// Variables for tests.
var (
	aheadDirs           = 64
	aheadNames    int64 = 16 << 10
	aheadLooks          = 4096
	aheadDirBytes       = int64(aheadLooks) * 64
)

// gaveJob, set by tests, is told of each directory given to be listed
// ahead.
var gaveJob func(*dirJob)

// dirJob is a directory to list and, for one of at most aheadLooks names
// read in one part, the look at each of its entries.
type dirJob struct {
	real  string // its path
	name  string // the name it arrives under
	id    fileID // what its parent's look found
	taken atomic.Bool
	done  chan struct{} // closed once run, which lists it ahead of the walk, has returned

	d         *dirList
	err       error  // listing it failed, or the walk's context was done
	cancelled bool   // err is the context's
	again     bool   // listed ahead and dropped: too big to hold ahead
	looks     []look // by index in d.names; nil for a big directory
	slot      int    // its index in ahead.out, while there
	seq       int    // how many jobs were given before it
}

// look is what the walk found of an entry: its lstat, and for a regular
// file with a name the receiver takes, whether it may be read.
type look struct {
	info    entryInfo
	err     error  // the lstat's
	name    string // the name it arrives under
	problem string // names.Problem of name
	denied  error  // the permission error reading it would meet
}

// run lists the directory ahead of its turn (see list) and says it is
// done.
func (j *dirJob) run(ctx context.Context, held *atomic.Int64) {
	defer close(j.done)
	j.list(ctx, held)
}

// list lists the directory and looks at its entries, unless ctx is done:
// the walk checks its context as it reads each directory, whichever
// goroutine reads it. A directory of more than aheadLooks names, or read
// in parts, has its entries looked at in their turn, as the walk comes
// to each, so that it holds no more of one than its names; and one listed
// ahead of its turn (held not nil) is dropped, for the walk to list again
// then. Else the number of names is added to held, if not nil.
func (j *dirJob) list(ctx context.Context, held *atomic.Int64) {
	if j.err = ctx.Err(); j.err != nil {
		j.cancelled = true
		return
	}
	j.d, j.err = listDir(j.real, j.id)
	if j.err != nil {
		return
	}
	if j.d.more || len(j.d.names) > aheadLooks {
		if held != nil {
			j.d.close()
			j.d, j.again = nil, true
		}
		return
	}
	if held != nil {
		held.Add(int64(len(j.d.names)))
	}
	j.looks = make([]look, len(j.d.names))
	for i, base := range j.d.names {
		j.looks[i] = lookAt(j.d, i, j.real, j.name+"/"+base)
	}
}

// lookAt looks at entry i of d, at path below real, arriving as name.
func lookAt(d *dirList, i int, real, name string) look {
	info, err := d.stat(i)
	if err != nil {
		return look{err: err}
	}
	if afterLook != nil {
		afterLook(filepath.Join(real, d.names[i]))
	}
	l := look{info: info}
	if !listable(info.mode) {
		return l
	}
	l.name = name
	if l.problem = names.Problem(name); l.problem == "" && info.mode.IsRegular() {
		l.denied = d.denied(i)
	}
	return l
}

// isClosed says whether c is closed.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// ahead is a walk's directories listed ahead of their turn, and the
// goroutine that lists them.
type ahead struct {
	ctx    context.Context
	jobs   chan *dirJob  // to the helper, at most aheadDirs
	helped chan struct{} // closed once the helper has returned
	out    []*dirJob     // given to the helper, not yet walked
	given  int           // jobs given so far
	names  atomic.Int64  // the names of those listed ahead
}

// submit gives the helper the directory real, arriving as name, which the
// look id found, if it has room for it; it returns the job, or nil for a
// directory the walk lists in its turn.
func (a *ahead) submit(real, name string, id fileID) *dirJob {
	if len(a.out) == aheadDirs {
		return nil
	}
	if a.jobs == nil {
		a.jobs, a.helped = make(chan *dirJob, aheadDirs), make(chan struct{})
		go a.help()
	}
	j := &dirJob{real: real, name: name, id: id, done: make(chan struct{}), slot: len(a.out), seq: a.given}
	if gaveJob != nil {
		gaveJob(j)
	}
	a.given++
	a.out = append(a.out, j)
	a.jobs <- j
	return j
}

// help lists the directories given, in the order given, until the walk
// ends; one it comes to with too many names held is left to the walk.
func (a *ahead) help() {
	defer close(a.helped)
	for j := range a.jobs {
		if a.names.Load() < aheadNames && j.taken.CompareAndSwap(false, true) {
			j.run(a.ctx, &a.names)
		}
	}
}

// take returns j listed, by the helper or now, and drops it from out.
// While the helper lists j, the walk lists the next directory the helper
// has not come to, rather than wait.
func (a *ahead) take(j *dirJob) {
	last := a.out[len(a.out)-1]
	a.out[j.slot], last.slot = last, j.slot
	a.out[len(a.out)-1] = nil
	a.out = a.out[:len(a.out)-1]
	if j.taken.CompareAndSwap(false, true) {
		j.list(a.ctx, nil)
		return
	}
	for !isClosed(j.done) {
		var k *dirJob
		if a.names.Load() < aheadNames {
			k = a.nextUntaken()
		}
		if k == nil {
			<-j.done
			break
		}
		k.run(a.ctx, &a.names)
	}
	switch {
	case j.again:
		j.again = false
		j.list(a.ctx, nil)
	case j.d != nil:
		a.names.Add(-int64(len(j.d.names)))
	}
}

// nextUntaken takes the directory given first of those in out no one has
// begun to list, or returns nil if there is none.
func (a *ahead) nextUntaken() *dirJob {
	for {
		var first *dirJob
		for _, k := range a.out {
			if !k.taken.Load() && (first == nil || k.seq < first.seq) {
				first = k
			}
		}
		if first == nil || first.taken.CompareAndSwap(false, true) {
			return first
		}
	}
}

// end stops the helper and closes the directories it listed that the
// walk did not come to.
func (a *ahead) end() {
	if a.jobs == nil {
		return
	}
	var listed []*dirJob
	for _, j := range a.out {
		if !j.taken.CompareAndSwap(false, true) {
			listed = append(listed, j)
		}
	}
	close(a.jobs)
	<-a.helped
	for _, j := range listed {
		if j.d != nil {
			j.d.close()
		}
	}
	a.out = nil
}
