package transfer

import (
	"context"
	"io"
	"net"
	"time"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/destdir"
	"github.com/ferrytool/ferry/internal/rawnc"
)

// The tests reach the protocol below the public API, with settings
// (Options, with its hooks) and destinations (Sink) of their own making.
type (
	Options = options
	Batch   = batch
)

// Sink is a Destination a test can implement.
type Sink interface {
	Begin(o framing.Offer) (Batch, error)
	Streams() bool
}

// sinkDestination is a Sink as a Destination.
type sinkDestination struct{ s Sink }

func (d sinkDestination) begin(o framing.Offer) (batch, error) { return d.s.Begin(o) }
func (d sinkDestination) streams() bool                        { return d.s.Streams() }

// DirSink is a Dir as a Sink, for tests that wrap its batches.
type DirSink struct{ *Dir }

// NewDirSink opens dir as OpenDir does, as a Sink.
func NewDirSink(dir string, overwrite bool) (*DirSink, error) {
	d, err := OpenDir(dir, DirOptions{Overwrite: overwrite})
	if err != nil {
		return nil, err
	}
	return &DirSink{d}, nil
}

// Begin begins a transfer into the directory.
func (d *DirSink) Begin(o framing.Offer) (Batch, error) { return d.begin(o) }

// Streams is false, as for a Dir.
func (d *DirSink) Streams() bool { return d.streams() }

// SetKeepPerms sets what DirOptions.KeepPerms sets.
func (d *DirSink) SetKeepPerms(keep bool) { d.d.SetKeepPerms(keep) }

// StreamSink is ToWriter's Destination as a Sink.
type StreamSink struct{ writerDest }

// NewStreamSink returns a Sink that writes one file to w.
func NewStreamSink(w io.Writer) *StreamSink { return &StreamSink{writerDest{w: w}} }

// Begin begins the transfer of the one file.
func (s *StreamSink) Begin(o framing.Offer) (Batch, error) { return s.begin(o) }

// Streams is true, as for ToWriter.
func (s *StreamSink) Streams() bool { return s.streams() }

// destinationOf is s as a Destination.
func destinationOf(s Sink) Destination {
	if d, ok := s.(*DirSink); ok {
		return d.Dir
	}
	return sinkDestination{s}
}

// Send sends sources with the settings o.
func Send(ctx context.Context, conn net.Conn, sources []Source, o Options) (Summary, error) {
	return send(ctx, conn, sources, o)
}

// Receive receives from conn into s with the settings o.
func Receive(ctx context.Context, conn net.Conn, s Sink, o Options) (Summary, error) {
	return receive(ctx, conn, destinationOf(s), o)
}

// Serve serves ln into s, with a zero Receiver's settings.
func Serve(ctx context.Context, ln net.Listener, s Sink, opts ServeOptions) error {
	return serve(ctx, ln, destinationOf(s), options{}, opts)
}

// ServeWith serves ln into s with the settings o.
func ServeWith(ctx context.Context, ln net.Listener, s Sink, o Options, opts ServeOptions) error {
	return serve(ctx, ln, destinationOf(s), o, opts)
}

// RawSend is Sender.SendRaw with the timeout given.
func RawSend(ctx context.Context, conn net.Conn, r io.Reader, timeout time.Duration) (int64, error) {
	s := Sender{Timeout: timeout}
	sum, err := s.SendRaw(ctx, conn, r)
	return sum.Bytes, err
}

// RawReceive is Receiver.ReceiveRaw with the timeout given and finish
// as the commit.
func RawReceive(ctx context.Context, conn net.Conn, w io.Writer, finish func() error, timeout time.Duration) (int64, error) {
	return rawnc.Receive(ctx, conn, w, finish, timeout)
}

// SetCaseInsensitive makes d treat names that differ only in case as one,
// as NewDirSink does on a file system that ignores case, so tests on a
// case-sensitive file system can check that rule.
func SetCaseInsensitive(d *DirSink) {
	destdir.SetCaseInsensitive(d.d)
}

// SetMaxNameBytes sets d's limit on the bytes of one transfer's names,
// destdir.MaxNameBytes by default.
func SetMaxNameBytes(d *DirSink, n int) {
	destdir.SetMaxNameBytes(d.d, n)
}

// SetBackgroundFlushFiles makes d's batches start a background flush once
// n files wait, if n is positive.
func SetBackgroundFlushFiles(d *DirSink, n int) {
	destdir.SetBackgroundFlushFiles(d.d, n)
}

// WithoutSyncFS makes the test's sinks sync file by file, as on systems
// without syncfs, until the test ends.
func WithoutSyncFS(t interface{ Cleanup(func()) }) {
	destdir.WithoutSyncFS(t)
}

// FailSyncFS makes the test's sinks' syncfs fail with err until the test
// ends.
func FailSyncFS(t interface{ Cleanup(func()) }, err error) {
	destdir.FailSyncFS(t, err)
}

// FailSyncFile makes the syncs of single files fail with err until the
// test ends.
func FailSyncFile(t interface{ Cleanup(func()) }, err error) {
	destdir.FailSyncFile(t, err)
}

// WithMaxConns returns o serving at most n connections at once instead of
// MaxConns.
func WithMaxConns(o Options, n int) Options {
	o.maxConns = n
	return o
}

// WithDisplaceAfter returns o displacing a silent connection after d
// instead of displaceAfter.
func WithDisplaceAfter(o Options, d time.Duration) Options {
	o.displaceAfter = &d
	return o
}

// ChunkSize is how many file bytes a sender puts in one data frame.
const ChunkSize = chunkSize

// ReportedBy gives, for a failure the peer reported, the peer's role and
// whether it reported an interruption (an abort frame).
func ReportedBy(e *Error) (role framing.Role, aborted bool) { return e.role, e.aborted }

// WithStreams returns o, a sender's, asking for n parallel streams.
func WithStreams(o Options, n int) Options {
	o.streams = n
	return o
}

// WithGranted returns o, a serving receiver's, calling granted once it
// has granted a sender parallel streams, before the sender is told.
func WithGranted(o Options, granted func()) Options {
	o.granted = granted
	return o
}
