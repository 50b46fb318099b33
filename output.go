package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ferrytool/ferry/internal/names"
	"github.com/ferrytool/ferry/internal/units"
	"github.com/ferrytool/ferry/transfer"
)

// output prints ferry's messages on stderr, one voice for humans ("ferry: ...")
// or one JSON object per line with --json. It is safe for concurrent use, as
// -k transfers report at the same time.
type output struct {
	w     io.Writer
	quiet bool
	// verbose (-v) lists each file as it completes; without it a
	// transfer's messages are its start, its warnings and its summary.
	verbose bool
	json    bool
	// cmd and flags are the command ("send", "recv") and its flags, for
	// the hints added to errors; a run that is neither has none.
	cmd   string
	flags *common
	mu    sync.Mutex
}

// event writes one JSON event; with -q only errors and warnings (skipped
// entries among them), as -q leaves of the messages.
func (o *output) event(name string, fields map[string]any) {
	if o.quiet && name != "error" && name != "warning" && name != "skipped" {
		return
	}
	o.emit(name, fields)
}

// emit writes one JSON event whatever -q says.
func (o *output) emit(name string, fields map[string]any) {
	line := appendEvent(nil, name, fields)
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.w.Write(line)
}

// appendFileEvent appends the "file" event of r, the line appendEvent
// would make (the same keys, in the same order), without the reflection
// over a map that made it a tenth of a receiver's work for small files.
func appendFileEvent(b []byte, r transfer.FileResult, secs float64, peer net.Addr) []byte {
	b = append(b, `{"bytes":`...)
	b = strconv.AppendInt(b, r.Bytes, 10)
	b = append(b, `,"checksum":`...)
	b = appendJSONString(b, r.Checksum)
	b = append(b, `,"event":"file","name":`...)
	b = appendJSONString(b, r.Name)
	if peer != nil {
		b = append(b, `,"peer":`...)
		b = appendJSONString(b, peer.String())
	}
	b = append(b, `,"seconds":`...)
	b = appendJSONSeconds(b, secs)
	return append(b, "}\n"...)
}

func appendJSON(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// appendJSONString appends s as json.Marshal writes it. Most names need no
// escape, and are copied as they are; Marshal, with its allocations, was
// most of the work of a file event.
func appendJSONString(b []byte, s string) []byte {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return appendJSON(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONSeconds appends secs as json.Marshal writes it: in plain
// decimal unless it is very small or very large, as a time almost never is.
func appendJSONSeconds(b []byte, secs float64) []byte {
	if secs != 0 && (math.Abs(secs) < 1e-6 || math.Abs(secs) >= 1e21) || math.IsNaN(secs) || math.IsInf(secs, 0) {
		return appendJSON(b, secs)
	}
	return strconv.AppendFloat(b, secs, 'f', -1, 64)
}

// appendEvent appends the JSON line of event name with fields to b.
func appendEvent(b []byte, name string, fields map[string]any) []byte {
	fields["event"] = name
	line, err := json.Marshal(fields)
	if err != nil {
		line = fmt.Appendf(nil, `{"event":"error","message":%q}`, err.Error())
	}
	return append(append(b, line...), '\n')
}

func (o *output) say(format string, args ...any) {
	if o.quiet {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "ferry: %s\n", names.Quote(fmt.Sprintf(format, args...)))
}

// fail reports the error that ends the run; -q does not silence it.
func (o *output) fail(err error) { o.failFrom(nil, err) }

// failFrom reports the failure of the transfer from peer, if any: a -k
// receiver's, whose --json error events carry the peer as its other
// reports of one sender do.
func (o *output) failFrom(peer net.Addr, err error) {
	msg := o.userMessage(err)
	if o.json {
		o.event("error", withPeer(map[string]any{"message": msg}, peer))
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "ferry: error: %s\n", names.Quote(msg))
}

// userMessage is err's text for a person: the library's message, with the
// command's advice added (see hint).
func (o *output) userMessage(err error) string {
	if o.flags == nil {
		return err.Error()
	}
	return err.Error() + hint(err, o.cmd, o.flags)
}

// needed says the command holds a code made up for this run: the sender
// cannot do without it, so -q does not hide the command.
func (o *output) listening(addr *net.TCPAddr, dest, flags, what string, needed bool) {
	hosts := reachableHosts(addr)
	cmd := sendCommand(hosts[0], addr.Port, flags, what)
	where := "stdout"
	if dest != "-" {
		if abs, err := filepath.Abs(dest); err == nil {
			dest = abs
		}
		where = dest
	}
	if o.json {
		ev := map[string]any{"addr": addr.String(), "port": addr.Port, "addresses": hosts, "into": where, "command": cmd}
		if needed {
			o.emit("listening", ev)
		} else {
			o.event("listening", ev)
		}
		return
	}
	o.say("listening on port %d, receiving into %s", addr.Port, where)
	o.say("on the other machine, run:")
	if !o.quiet || needed {
		o.mu.Lock()
		fmt.Fprintf(o.w, "    %s\n", cmd)
		o.mu.Unlock()
	}
	if len(hosts) > 1 {
		others := make([]string, len(hosts)-1)
		for i, h := range hosts[1:] {
			others[i] = sendTarget(h, addr.Port)
		}
		o.say("or use another address of this machine: %s", strings.Join(others, ", "))
	}
}

// created reports the directory recv made to receive into.
func (o *output) created(dir string) {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if o.json {
		o.event("created", map[string]any{"path": dir})
		return
	}
	o.say("created %s", dir)
}

// warn prints a warning; -q does not silence it.
func (o *output) warn(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if o.json {
		o.event("warning", map[string]any{"message": msg})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "ferry: warning: %s\n", names.Quote(msg))
}

// retrying reports that the transfer from peer failed with err and that
// recv goes on waiting, with its code, for tries more tries of the sender.
func (o *output) retrying(peer net.Addr, err error, tries int) {
	msg := fmt.Sprintf("the transfer from %s failed: %s; still waiting for the sender to try again (%s)", peer, o.userMessage(err), plural(tries, "more try", "more tries"))
	if o.json {
		o.event("retrying", withPeer(map[string]any{"message": msg, "tries": tries}, peer))
		return
	}
	o.warn("%s", msg)
}

// secured reports a successful handshake.
func (o *output) secured(cipher string) { o.securedFrom(nil, cipher) }

// securedFrom is secured for the sender at peer, which recv -k names, as
// its concurrent senders report at once; nil names none.
func (o *output) securedFrom(peer net.Addr, cipher string) {
	if o.json {
		o.event("secured", withPeer(map[string]any{"cipher": cipher}, peer))
		return
	}
	o.say("code accepted%s; encrypted with %s", fromPeer(peer), cipher)
}

// arrived reports a sender of recv -k whose code was accepted: in one
// line, as a sender's connection and its end are a line each, where
// concurrent senders report at once. --json keeps its two events.
func (o *output) arrived(peer net.Addr, cipher string) {
	if o.json {
		o.securedFrom(peer, cipher)
		return
	}
	o.say("connection from %s; code accepted, encrypted with %s", peer, cipher)
}

// withPeer adds peer, if any, to an event's fields.
func withPeer(fields map[string]any, peer net.Addr) map[string]any {
	if peer != nil {
		fields["peer"] = peer.String()
	}
	return fields
}

// fromPeer is " from PEER" for a message about the sender at peer, if any.
func fromPeer(peer net.Addr) string {
	if peer == nil {
		return ""
	}
	return " from " + peer.String()
}

// sendCommand is the exact command a user pastes on the sending machine.
func sendCommand(host string, port int, flags, what string) string {
	return "ferry send " + flags + " " + sendTarget(host, port) + " " + what
}

// sendTarget is how ferry send names host and port: HOST, or HOST:PORT
// for another port than the default, IPv6 addresses in brackets.
func sendTarget(host string, port int) string {
	if port != DefaultPort {
		return net.JoinHostPort(host, strconv.Itoa(port))
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		return "[" + host + "]"
	}
	return host
}

// reachableHosts lists the addresses a sender could use: the one bound, or
// for a wildcard listener every up interface's address, IPv4 first, loopback
// only when there is nothing else.
func reachableHosts(addr *net.TCPAddr) []string {
	if !addr.IP.IsUnspecified() {
		return []string{addr.IP.String()}
	}
	var v4, v6, loop []string
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() || ipn.IP.IsLinkLocalMulticast() {
				continue
			}
			switch {
			case ipn.IP.IsLoopback():
				loop = append(loop, ipn.IP.String())
			case ipn.IP.To4() != nil:
				v4 = append(v4, ipn.IP.String())
			default:
				v6 = append(v6, ipn.IP.String())
			}
		}
	}
	hosts := append(v4, v6...)
	if len(hosts) == 0 {
		hosts = append(loop, "127.0.0.1")[:max(1, len(loop))]
	}
	return hosts
}

func (o *output) connected(verb string, peer net.Addr) {
	if o.json {
		o.event("connected", map[string]any{"peer": peer.String()})
		return
	}
	o.say("%s %s", verb, peer)
}

// silent reports a connection closed without a byte (transfer.ErrSilentPeer):
// a port check or health probe, no failure of anyone's.
func (o *output) silent(peer net.Addr, waiting bool) {
	if o.json {
		o.event("silent", map[string]any{"peer": peer.String()})
		return
	}
	msg := "%s closed the connection without sending anything"
	if waiting {
		msg += "; still waiting for a sender"
	}
	o.say(msg, peer)
}

// filesDone reports a group of finished files with one write, so that
// thousands of small files do not cost a system call each: with -v (or
// --json) a line each, else only their warnings.
func (o *output) filesDone(verb string, rs []transfer.FileResult) { o.filesDoneFrom(nil, verb, rs) }

// filesDoneFrom is filesDone for the sender at peer (see securedFrom).
func (o *output) filesDoneFrom(peer net.Addr, verb string, rs []transfer.FileResult) {
	var b []byte
	for _, r := range rs {
		switch {
		case r.Skipped != "":
			b = o.appendSkipped(b, peer, r)
			continue
		case r.Restarted:
			b = o.appendRestarted(b, peer, verb, r)
		}
		if o.quiet {
			continue
		}
		if o.json {
			if r.ResumedFrom > 0 {
				b = appendEvent(b, "resumed", withPeer(map[string]any{"name": r.Name, "from": r.ResumedFrom}, peer))
			}
			b = appendFileEvent(b, r, r.Elapsed.Seconds(), peer)
			continue
		}
		if o.verbose {
			b = appendFileLine(b, verb, peer, r)
		}
	}
	if len(b) == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.w.Write(b)
}

// appendFileLine appends the -v line of a finished file. It gives no time
// or rate: files move pipelined, so the time from a file's start to its
// confirmation is mostly the wait behind the files before it.
func appendFileLine(b []byte, verb string, peer net.Addr, r transfer.FileResult) []byte {
	resumed := ""
	if r.ResumedFrom > 0 {
		resumed = ", resumed at " + units.Bytes(r.ResumedFrom)
	}
	return fmt.Appendf(b, "ferry: %s %s%s: %s%s, %s\n", verb, names.Quote(r.Name), fromPeer(peer), units.Bytes(r.Bytes), resumed, r.Checksum)
}

// appendSkipped appends the line for a file not sent: one the receiver
// had already (listed with -v only), or one it refused (a warning).
func (o *output) appendSkipped(b []byte, peer net.Addr, r transfer.FileResult) []byte {
	refused := r.Skipped != transfer.SkippedHeld
	if o.json {
		if o.quiet && !refused {
			return b
		}
		return appendEvent(b, "skipped", withPeer(map[string]any{"name": r.Name, "reason": r.Skipped}, peer))
	}
	if refused {
		return fmt.Appendf(b, "ferry: warning: refused %s%s: %s\n", names.Quote(r.Name), fromPeer(peer), names.Quote(r.Skipped))
	}
	if o.quiet || !o.verbose {
		return b
	}
	return fmt.Appendf(b, "ferry: skipped %s%s: already there\n", names.Quote(r.Name), fromPeer(peer))
}

// appendRestarted appends the warning that the partial copy the receiver
// held of r was not the file's beginning, so that it moved whole.
func (o *output) appendRestarted(b []byte, peer net.Addr, verb string, r transfer.FileResult) []byte {
	msg := fmt.Sprintf("%s%s: the receiver's partial copy differs from the file: sent whole", names.Quote(r.Name), fromPeer(peer))
	if verb == "received" {
		msg = fmt.Sprintf("%s%s: the partial copy kept here differs from the sender's file: received whole", names.Quote(r.Name), fromPeer(peer))
	}
	if o.json {
		return appendEvent(b, "warning", withPeer(map[string]any{"message": msg}, peer))
	}
	return fmt.Appendf(b, "ferry: warning: %s\n", msg)
}

// summary reports a finished transfer, naming its file, with the file's
// checksum, when one file moved; one is that file's result, or nil.
func (o *output) summary(verb string, s transfer.Summary, one *transfer.FileResult) {
	o.summaryFrom(nil, verb, s, one)
}

// summaryFrom is summary for the sender at peer (see securedFrom).
func (o *output) summaryFrom(peer net.Addr, verb string, s transfer.Summary, one *transfer.FileResult) {
	secs := s.Elapsed.Seconds()
	if o.json {
		o.event("summary", withPeer(map[string]any{"files": s.Files, "dirs": s.Dirs, "bytes": s.Bytes, "seconds": secs, "bytes_per_second": rate(s.Bytes, secs),
			"resumed": s.Resumed, "reused_bytes": s.Reused, "skipped": s.Skipped, "refused": s.RefusedFiles}, peer))
		return
	}
	what := plural(s.Files, "file", "files")
	if s.Dirs > 0 {
		what += " in " + plural(s.Dirs, "directory", "directories")
	}
	sum := ""
	if one != nil && s.Files == 1 && s.Dirs == 0 {
		what, sum = names.Quote(one.Name), ", "+one.Checksum
	}
	var also []string
	if s.Resumed > 0 {
		also = append(also, fmt.Sprintf("%d resumed (%s not sent again)", s.Resumed, units.Bytes(s.Reused)))
	}
	if s.Skipped > 0 {
		also = append(also, fmt.Sprintf("%d skipped (already there)", s.Skipped))
	}
	if s.RefusedFiles > 0 {
		also = append(also, fmt.Sprintf("%d refused", s.RefusedFiles))
	}
	if len(also) > 0 {
		sum += "; " + strings.Join(also, ", ")
	}
	o.say("done: %s %s%s, %s in %s (%s/s)%s", verb, what, fromPeer(peer), units.Bytes(s.Bytes), roundDuration(s.Elapsed), units.Bytes(rate(s.Bytes, secs)), sum)
}

// tally follows the files of one transfer as they are reported, for the
// summary to name the file of a transfer of one.
type tally struct {
	mu    sync.Mutex
	moved int
	last  transfer.FileResult
}

// add counts the files of rs.
func (t *tally) add(rs []transfer.FileResult) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, r := range rs {
		if r.Skipped == "" {
			t.moved++
			t.last = r
		}
	}
}

// only is the one file that moved, or nil if none or several did.
func (t *tally) only() *transfer.FileResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.moved != 1 {
		return nil
	}
	r := t.last
	return &r
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// skipped reports an entry the sender leaves out; as a warning, -q does
// not silence it.
func (o *output) skipped(path, reason string) {
	if o.json {
		o.event("skipped", map[string]any{"path": path, "reason": reason})
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "ferry: skipping %s: %s\n", names.Quote(path), reason)
}

func rate(n int64, secs float64) int64 {
	if secs <= 0 {
		return 0
	}
	return int64(float64(n) / secs)
}

func roundDuration(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// partials reports the partial data of transfers that failed, which recv
// keeps in the receiving directory: what it removed at start, older than
// age, or what it keeps.
func (o *output) partials(what string, n int, bytes int64, age time.Duration) {
	if o.json {
		o.event("partial_files", map[string]any{what: n, "bytes": bytes})
		return
	}
	files := plural(n, "partial file", "partial files")
	if what == "removed" {
		o.say("removed %s from transfers that failed, %s, older than %s (--partial-age)", files, units.Bytes(bytes), roughDuration(age))
		return
	}
	o.say("%s from an earlier transfer, %s: they resume if the same files are sent again", files, units.Bytes(bytes))
}

// roughDuration says a duration as people set one: "7 days", "36h0m0s".
func roughDuration(d time.Duration) string {
	if d >= 24*time.Hour && d%(24*time.Hour) == 0 {
		return plural(int(d/(24*time.Hour)), "day", "days")
	}
	return d.String()
}
