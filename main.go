// Command ferry moves files and byte streams between two machines over one
// direct TCP connection: "ferry recv" listens and writes what arrives,
// "ferry send HOST PATH..." connects and sends files and directories.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"net"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/transfer"
)

// DefaultPort is where ferry listens and connects unless told otherwise.
const DefaultPort = 7575

// Exit statuses, as the SPEC fixes them.
const (
	exitOK          = 0
	exitFailed      = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a command-line mistake: exit status 2 with the usage hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	// Each of these interrupts the run: it aborts its transfers, telling
	// the peer, removes its temporary files, and exits 130. SIGHUP comes
	// from a closed terminal or a dropped ssh session; under nohup it is
	// ignored, and must stay so.
	interrupts := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		interrupts = append(interrupts, syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), interrupts...)
	defer stop()
	// A closed stdout (recv - | head) becomes a write error the sender is
	// told about, instead of a silent death by SIGPIPE.
	signal.Ignore(syscall.SIGPIPE)

	var err error
	var out *output
	switch args[0] {
	case "recv", "receive":
		out, err = recvCmd(ctx, args[1:], stdout, stderr)
	case "send":
		out, err = sendCmd(ctx, args[1:], stdin, stderr)
	case "version", "--version", "-version", "-V":
		err = versionCmd(args[0], args[1:], stdout)
	case "help", "-h", "--help", "-help":
		err = helpCmd(args[1:], stdout)
	case "completion":
		err = completionCmd(args[1:], stdout)
	case "-v", "--verbose":
		err = usagef("unknown command %q: the version is ferry version (or -V); -v is send's and recv's --verbose", args[0])
	default:
		err = usagef("unknown command %q", args[0])
	}
	if out == nil {
		out = &output{w: stderr}
	}
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		// Asked for, as in ferry send --help: output, not an error.
		fmt.Fprint(stdout, helpText(args[0]))
		return exitOK
	case errors.As(err, &ue):
		out.fail(err)
		if !out.json {
			fmt.Fprintf(stderr, "Run '%s' for usage.\n", helpCommand(args[0]))
		}
		return exitUsage
	case ctx.Err() != nil:
		out.fail(errors.New("interrupted"))
		return exitInterrupted
	}
	out.fail(err)
	return exitFailed
}

// common holds the flags both commands take.
type common struct {
	quiet    bool
	verbose  bool
	json     bool
	timeout  time.Duration
	code     string // --code, or FERRY_CODE when --code is not given
	plain    bool
	raw      bool
	noResume bool
	stdin    bool          // send's source is stdin, which cannot resume
	wait     time.Duration // send's --wait for its receiver
	streams  int           // send's -P
}

// register adds the flags both commands take to fs. The usage strings are
// what shell completion shows; the help texts in help.go say more.
func (c *common) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.quiet, "q", false, "print errors and warnings only")
	fs.BoolVar(&c.quiet, "quiet", false, "print errors and warnings only")
	fs.BoolVar(&c.verbose, "v", false, "list each file as it completes")
	fs.BoolVar(&c.verbose, "verbose", false, "list each file as it completes")
	fs.BoolVar(&c.json, "json", false, "print JSON lines on stderr instead of messages")
	fs.DurationVar(&c.timeout, "timeout", transfer.DefaultTimeout, "give up on a silent peer after this `DURATION`")
	fs.StringVar(&c.code, "code", "", "the receiver's `CODE` (or env FERRY_CODE)")
	fs.BoolVar(&c.plain, "plain", false, "no code and no encryption, for trusted networks only")
	fs.BoolVar(&c.raw, "raw", false, "no framing at all, as netcat")
	fs.BoolVar(&c.noResume, "no-resume", false, "start every file over, keeping no partial data")
}

func (c *common) check() error {
	if c.timeout < time.Millisecond {
		return usagef("--timeout must be at least 1ms, not %s", c.timeout)
	}
	if c.plain && c.raw {
		return usagef("--plain and --raw exclude each other: --raw has no framing at all")
	}
	if c.plain || c.raw {
		if c.code != "" {
			return usagef("--code has no use with --plain or --raw, which send without encryption")
		}
		return nil
	}
	from := "--code"
	if c.code == "" {
		c.code, from = os.Getenv("FERRY_CODE"), "FERRY_CODE"
	}
	if c.code != "" {
		if err := transfer.CheckCode(c.code); err != nil {
			return usagef("%s: the code is too short: at least %d letters or digits", from, transfer.MinCodeLen)
		}
	}
	return nil
}

// mode is how a send command must be typed to match this receiver.
func (c *common) mode(shownCode string) string {
	switch {
	case c.raw:
		return "--raw"
	case c.plain:
		return "--plain"
	}
	return "--code " + shownCode
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("ferry "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// recvOptions holds the flags only recv takes.
type recvOptions struct {
	listen     string
	keep       bool
	overwrite  bool
	keepPerms  bool
	partialAge time.Duration
}

// defaultPartialAge is how long recv keeps the partial data of a file
// whose transfer failed, for the same file to resume.
const defaultPartialAge = 7 * 24 * time.Hour

// recvFlags makes recv's FlagSet, with c's flags on it. recvCmd parses
// with it; help's tests and shell completion read the flags it holds.
func recvFlags(c *common) (*flag.FlagSet, *recvOptions) {
	fs := newFlagSet("recv")
	c.register(fs)
	var o recvOptions
	fs.StringVar(&o.listen, "l", fmt.Sprintf(":%d", DefaultPort), "the `ADDR` to listen on")
	fs.StringVar(&o.listen, "listen", fmt.Sprintf(":%d", DefaultPort), "the `ADDR` to listen on")
	fs.BoolVar(&o.keep, "k", false, "serve senders until interrupted")
	fs.BoolVar(&o.keep, "keep-open", false, "serve senders until interrupted")
	fs.BoolVar(&o.overwrite, "overwrite", false, "replace existing files")
	fs.BoolVar(&o.keepPerms, "keep-perms", false, "keep the sender's mode bits as they are")
	fs.DurationVar(&o.partialAge, "partial-age", defaultPartialAge, "remove partial data older than this `DURATION` at start")
	return fs, &o
}

// sendFlags makes send's FlagSet, with c's flags on it, as recvFlags does
// recv's.
func sendFlags(c *common) (fs *flag.FlagSet, mode, name *string) {
	fs = newFlagSet("send")
	c.register(fs)
	mode = fs.String("z", "auto", "compress with `MODE`, one of auto, zstd, s2, none")
	fs.StringVar(mode, "compress", "auto", "compress with `MODE`, one of auto, zstd, s2, none")
	name = fs.String("name", "stdin", "the file `NAME` for a stream from stdin")
	fs.DurationVar(&c.wait, "wait", 0, "retry connecting until the receiver is up, for at most `DURATION`")
	fs.IntVar(&c.streams, "P", 1, "stripe the transfer over `N` parallel connections, 1 to 16")
	fs.IntVar(&c.streams, "parallel", 1, "stripe the transfer over `N` parallel connections, 1 to 16")
	return fs, mode, name
}

// flagError says, in ferry's words, what is wrong with args, on which fs
// failed with err: it scans args as the flag package does, stopping at the
// first flag that is unknown, lacks its value or has one its flag does not
// take, with the flag spelled as the usage text spells it (--timeout, not
// -timeout). What the flag package found and this scan does not is given
// as the package said it.
func flagError(fs *flag.FlagSet, args []string, err error) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if len(a) < 2 || a[0] != '-' {
			continue // a positional argument, taken between flags
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		f := fs.Lookup(name)
		switch {
		case f == nil:
			return unknownFlag(fs, args, name)
		case isBoolFlag(f) && hasValue:
			if f.Value.Set(value) != nil {
				return usagef("%s: invalid boolean value %q", dashed(name), value)
			}
			continue
		case isBoolFlag(f):
			continue
		case !hasValue && i+1 == len(args):
			return usagef("%s needs a value", dashed(name))
		case !hasValue:
			i++
			value = args[i]
		}
		if f.Value.Set(value) != nil {
			hint := ""
			if name == "timeout" || name == "wait" {
				hint = " (want a duration such as 30s or 2m)"
			}
			return usagef("%s: invalid value %q%s", dashed(name), value, hint)
		}
	}
	return usagef("%s", err)
}

// dashed is a flag's name as the usage text writes it: -k, --keep-open.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// unknownFlag is the usage error for the flag name, quoted as it was typed
// in args. Short flags run together, as nc -lk and ssh -p22 take them, get
// the spelling ferry wants.
func unknownFlag(fs *flag.FlagSet, args []string, name string) error {
	typed := dashed(name)
	for _, a := range args {
		if a == "--" {
			break
		}
		if flagName, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "="); flagName == name && strings.HasPrefix(a, "-") {
			typed, _, _ = strings.Cut(a, "=")
			break
		}
	}
	if hint := splitShortFlags(fs, typed); hint != "" {
		return usagef("unknown flag %s: did you mean %s?", typed, hint)
	}
	return usagef("unknown flag %s", typed)
}

// splitShortFlags spells a run of short flags such as -kq or -zs2 as ferry
// takes them, -k -q or -z s2, or returns "" if s is not one.
func splitShortFlags(fs *flag.FlagSet, s string) string {
	letters, ok := strings.CutPrefix(s, "-")
	if !ok || len(letters) < 2 || strings.HasPrefix(letters, "-") {
		return ""
	}
	var parts []string
	for i := 0; i < len(letters); i++ {
		f := fs.Lookup(letters[i : i+1])
		if f == nil {
			return ""
		}
		parts = append(parts, "-"+letters[i:i+1])
		if !isBoolFlag(f) {
			rest := letters[i+1:]
			if rest != "" && allBoolFlags(fs, rest) {
				// -lk, as nc takes it: flags, and the value missing.
				parts = append(parts, valueName[f.Name])
				for _, c := range rest {
					parts = append(parts, "-"+string(c))
				}
			} else if rest != "" {
				// -zs2, -l7000: the value attached.
				parts = append(parts, rest)
			}
			break
		}
	}
	return strings.Join(parts, " ")
}

// valueName is how the usage text calls the value of each short flag that
// takes one.
var valueName = map[string]string{"l": "ADDR", "z": "MODE"}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// allBoolFlags says whether every letter of s is a short flag without a
// value.
func allBoolFlags(fs *flag.FlagSet, s string) bool {
	for _, c := range s {
		f := fs.Lookup(string(c))
		if f == nil || !isBoolFlag(f) {
			return false
		}
	}
	return true
}

// parseInterspersed parses flags wherever they stand among the arguments,
// so "ferry send host file -z none" works; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, flagError(fs, args, err)
		}
		rest := fs.Args()
		consumed := len(args) - len(rest)
		if consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// newOutput is the output for the flags c holds. A command line that did
// not parse may have --json after the mistake, unread: it still asks for
// the error as JSON.
func newOutput(stderr io.Writer, cmd string, c *common, args []string, parseErr error) *output {
	json := c.json
	if parseErr != nil {
		for _, a := range args {
			name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			on, err := strconv.ParseBool(value)
			if strings.HasPrefix(a, "-") && name == "json" && (!hasValue || err == nil && on) {
				json = true
			}
		}
	}
	return &output{w: stderr, quiet: c.quiet, verbose: c.verbose, json: json, cmd: cmd, flags: c}
}

func recvCmd(ctx context.Context, args []string, stdout, stderr io.Writer) (*output, error) {
	var c common
	fs, o := recvFlags(&c)
	pos, err := parseInterspersed(fs, args)
	out := newOutput(stderr, "recv", &c, args, err)
	if err != nil {
		return out, err
	}
	if err := checkRecv(&c, pos, o.keep, o.keepPerms); err != nil {
		return out, err
	}
	addr, err := listenAddr(o.listen)
	if err != nil {
		return out, err
	}
	if c.raw {
		return out, recvRaw(ctx, &c, addr, o.overwrite, pos, stdout, out)
	}
	dest := "."
	if len(pos) == 1 {
		dest = pos[0]
	}
	// A generated code is shown in the command to paste; a code the user
	// chose stays out of the output, which may end up in a service's log.
	shown := "CODE"
	if !c.plain && c.code == "" {
		c.code = transfer.NewCode()
		shown = c.code
	}
	target, closeTarget, err := openTarget(dest, o, c.noResume, stdout, out)
	if err != nil {
		return out, err
	}
	defer closeTarget()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return out, listenError(o.listen, err)
	}
	out.listening(ln.Addr().(*net.TCPAddr), dest, c.mode(shown), "FILE", shown != "CODE")
	if c.plain {
		out.warn("--plain: no code and no encryption: anyone who can reach port %d can write files here", ln.Addr().(*net.TCPAddr).Port)
	}
	if o.keep && shown == "CODE" && !c.plain {
		if t := transfer.GuessingTime(c.code); t < 100*year {
			out.warn("a code of this kind is guessed in about %s of trying, on average, against a receiver kept running: use a longer one, such as the 15 digits ferry recv makes up", roughly(t))
		}
	}
	return out, serve(ctx, out, &c, ln, target, o.keep, shown != "CODE")
}

// checkRecv refuses the combinations of recv's flags and arguments that
// make no sense.
func checkRecv(c *common, pos []string, keep, keepPerms bool) error {
	if err := c.check(); err != nil {
		return err
	}
	stdout := len(pos) == 1 && pos[0] == "-"
	switch {
	case len(pos) > 1:
		return usagef("recv takes one directory (or -), not %d arguments", len(pos))
	case keepPerms && (c.raw || stdout):
		return usagef("--keep-perms has no use with --raw or -: a stream has no sender's mode")
	case keep && c.raw:
		return usagef("-k cannot be combined with --raw: recv --raw takes one connection")
	case keep && stdout:
		return usagef("-k cannot be combined with - (stdout): concurrent senders would mix their data")
	case c.noResume && (c.raw || stdout):
		return usagef("--no-resume has no use with --raw or -: a stream keeps no partial data")
	}
	return nil
}

// openTarget opens what recv writes into: stdout for "-", else the
// directory dest, made if it is missing (and reported so), and removed
// again by the returned close if nothing arrived in it. It reports the
// partial data the directory keeps from transfers that failed, after
// removing what is older than --partial-age.
func openTarget(dest string, o *recvOptions, noResume bool, stdout io.Writer, out *output) (transfer.Destination, func(), error) {
	if dest == "-" {
		return transfer.ToWriter(stdout), func() {}, nil
	}
	dir, err := transfer.OpenDir(dest, transfer.DirOptions{Overwrite: o.overwrite, KeepPerms: o.keepPerms, Create: true, NoResume: noResume})
	if err != nil {
		return nil, nil, err
	}
	if made := dir.Created(); made != "" {
		out.created(made)
	}
	if n, bytes, err := dir.RemovePartials(time.Now().Add(-o.partialAge)); err != nil {
		out.warn("%v", err)
	} else if n > 0 {
		out.partials("removed", n, bytes, o.partialAge)
	}
	if n, bytes, err := dir.Partials(); err != nil {
		out.warn("%v", err)
	} else if n > 0 {
		out.partials("kept", n, bytes, o.partialAge)
	}
	return dir, func() { _ = dir.Close() }, nil
}

const year = 365 * 24 * time.Hour

// roughly says a long duration in days or years.
func roughly(d time.Duration) string {
	if days := int(d / (24 * time.Hour)); days < 730 {
		return fmt.Sprintf("%d days", max(days, 1))
	}
	return fmt.Sprintf("%d years", int(d/year))
}

func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("cannot listen on %s: the port is in use (another ferry recv?); choose another with -l :PORT", addr)
	}
	if errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("cannot listen on %s: permission denied (ports below 1024 need root); choose another with -l :PORT", addr)
	}
	return fmt.Errorf("cannot listen on %s: %w", addr, err)
}

func sendCmd(ctx context.Context, args []string, stdin io.Reader, stderr io.Writer) (*output, error) {
	var c common
	fs, mode, name := sendFlags(&c)
	pos, err := parseInterspersed(fs, args)
	out := newOutput(stderr, "send", &c, args, err)
	if err != nil {
		return out, err
	}
	if err := c.check(); err != nil {
		return out, err
	}
	compression, err := transfer.ParseCompression(*mode)
	if err != nil {
		return out, usagef("-z: unknown mode %q (want auto, zstd, s2 or none)", *mode)
	}
	if err := checkSend(fs, &c, pos, *name); err != nil {
		return out, err
	}
	// Before any file is read: a mistyped address is a usage error
	// whether or not the files are there, and needs no walk to find.
	addr, err := dialAddr(pos[0])
	if err != nil {
		return out, err
	}
	if c.raw {
		return out, sendRaw(ctx, &c, addr, pos[1], stdin, out)
	}
	c.stdin = pos[1] == "-"
	total, sources, err := collect(ctx, pos, *name, stdin, out)
	if err != nil {
		return out, err
	}
	conn, err := dial(ctx, addr, &c, out)
	if err != nil {
		return out, err
	}
	bar := out.newProgress(total.Files)
	var files tally
	snd := transfer.Sender{
		Compression: compression,
		Timeout:     c.timeout,
		Code:        c.code,
		Secured:     out.secured,
		Progress:    bar.update,
		FilesDone:   func(rs []transfer.FileResult) { files.add(rs); bar.done(rs); out.filesDone("sent", rs) },
		NoResume:    c.noResume,
		Streams:     c.streams,
	}
	s, err := snd.SendSeq(ctx, conn, total, sources)
	bar.finish()
	if errors.Is(err, transfer.ErrRefused) {
		// The other files arrived: the summary says what moved.
		out.summary("sent", s, files.only())
	}
	if err != nil {
		return out, err
	}
	out.summary("sent", s, files.only())
	return out, nil
}

// checkSend refuses the combinations of send's flags and arguments that
// make no sense, with name the --name given.
func checkSend(fs *flag.FlagSet, c *common, pos []string, name string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(pos) == 0:
		return usagef("send needs a HOST and what to send: files, directories, or - for stdin")
	case len(pos) == 1:
		return usagef("send needs files or directories to send after %s (or - for stdin)", pos[0])
	case len(pos) > 2 && slices.Contains(pos[1:], "-"):
		return usagef("- (stdin) is sent alone, not with other files")
	case c.wait < 0:
		return usagef("--wait must not be negative, not %s", c.wait)
	case c.raw && len(pos) > 2:
		return usagef("send --raw sends one file or - (stdin), as netcat does; %d were given", len(pos)-1)
	case !c.raw && !c.plain && c.code == "":
		return usagef("send needs the receiver's code: --code CODE (or FERRY_CODE), as ferry recv printed it; or --plain for a receiver running with --plain")
	case c.raw && (set["z"] || set["compress"]):
		return usagef("-z does not go with --raw, which sends the bytes as they are")
	case c.raw && set["name"]:
		return usagef("--name does not go with --raw, which sends no names")
	case c.raw && c.noResume:
		return usagef("--no-resume does not go with --raw, which resumes nothing")
	case c.streams < 1 || c.streams > transfer.MaxStreams:
		return usagef("-P must be 1 to %d connections, not %d", transfer.MaxStreams, c.streams)
	case c.raw && c.streams > 1:
		return usagef("-P does not go with --raw: netcat reads one connection")
	case set["name"] && pos[1] != "-":
		return usagef("--name names a stream from stdin (-); files and directories keep their own names")
	case strings.Contains(name, "/"):
		return usagef("--name %s: give a plain file name, without /", names.Quote(name))
	}
	if why := names.Problem(name); why != "" {
		return usagef("--name %s: the receiver would refuse it: %s", names.Quote(name), why)
	}
	return nil
}

// collect gives the sources to send for the arguments pos after the HOST,
// and their totals: stdin under name for "-", else the files and
// directories named. They are walked here once, to count them and to
// find, before connecting, what cannot be sent and what is skipped, and
// walked again as they are sent, so that a tree of any size takes little
// memory.
func collect(ctx context.Context, pos []string, name string, stdin io.Reader, out *output) (transfer.Totals, iter.Seq2[transfer.Source, error], error) {
	if pos[1] == "-" {
		src := transfer.StreamSource(name, stdin)
		seq := func(yield func(transfer.Source, error) bool) { yield(src, nil) }
		t, err := transfer.Count(seq)
		return t, seq, err
	}
	t, seq, err := countTree(ctx, pos[1:], out.skipped, keepSources, keepNames)
	if err != nil {
		// ferry send FILE HOST, as scp takes it: the first argument is a
		// file here, and the last, missing, reads as an address.
		last := pos[len(pos)-1]
		if info, serr := os.Stat(pos[0]); serr == nil && info.Mode().IsRegular() && errors.Is(err, os.ErrNotExist) && looksLikeAddress(last) {
			return t, nil, fmt.Errorf("%w (and %s is a file here: the HOST comes first, as in ferry send HOST %s)", err, pos[0], pos[0])
		}
		return t, nil, err
	}
	return t, seq, nil
}

// keepSources is how many sources countTree keeps, about 4 MiB of them
// with names of a usual length; keepNames bounds the bytes of their
// names, so that a tree of long names is walked again rather than held.
const (
	keepSources = 32 << 10
	keepNames   = 2 << 20
)

// countTree walks paths to count them for the offer, and returns the
// sources to send: those it found, if there were at most keep of them
// with at most keepBytes of names, so that a tree is not walked twice
// (for 10,000 small files the second walk was a seventh of the sender's
// time); else a new walk of paths, so that the memory of a bigger tree,
// or of longer names, does not grow with it. skip is told of the
// skips, in the count only. The count runs with collections held (see
// countHeap).
func countTree(ctx context.Context, paths []string, skip func(path, reason string), keep, keepBytes int) (transfer.Totals, iter.Seq2[transfer.Source, error], error) {
	defer holdCollections(countHeap)()
	var kept []transfer.Source
	names := 0 // the bytes of the names seen
	whole := true
	counted := func(yield func(transfer.Source, error) bool) {
		for src, err := range transfer.Walk(ctx, paths, skip) {
			if err == nil && whole {
				names += len(src.Name)
				if len(kept) < keep && names <= keepBytes {
					kept = append(kept, src)
				} else {
					kept, whole = nil, false
				}
			}
			if !yield(src, err) {
				return
			}
		}
	}
	t, err := transfer.Count(counted)
	if err != nil {
		return t, nil, err
	}
	if !whole {
		return t, transfer.Walk(ctx, paths, nil), nil
	}
	return t, func(yield func(transfer.Source, error) bool) {
		for _, src := range kept {
			if !yield(src, nil) {
				return
			}
		}
	}, nil
}

// looksLikeAddress says whether s, a path that does not exist, reads as
// HOST:PORT or an IP address rather than a file name.
func looksLikeAddress(s string) bool {
	if _, port, err := net.SplitHostPort(s); err == nil {
		_, perr := strconv.Atoi(port)
		return perr == nil
	}
	return net.ParseIP(strings.Trim(s, "[]")) != nil
}

// version is the release's name, stamped by scripts/release.sh with
// -ldflags "-X main.version=..."; a plain go build leaves it empty.
var version string

// versionString says which ferry this is: the version, the commit it was
// built from (with "-dirty" if the tree had changes), and the target.
func versionString() string {
	v, commit, modified, arm := version, "unknown", false, ""
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			case "GOARM":
				arm = "v" + s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if modified {
		commit += "-dirty"
	}
	return fmt.Sprintf("ferry %s (commit %s, %s/%s%s, %s)", v, commit, runtime.GOOS, runtime.GOARCH, arm, runtime.Version())
}
