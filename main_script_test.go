package main

// The scripts in testdata/script each tell one story of the command as a
// user meets it: what ferry prints on stderr and stdout, what lands on
// disk, and the exit status. They are testscript files
// (github.com/rogpeppe/go-internal/testscript), as age's cmd/age/testdata
// are: "ferry" in a script is this test binary started again under that
// name, which TestMain hands to ferryCommand, so a script runs the command
// as main does, in a process of its own (with the umask of 022 that
// main_perms_test.go sets), in a fresh $WORK directory.
//
// Besides testscript's own commands (exec, cmp, cmpenv, stdin, stderr,
// wait, kill, ...) the scripts have two:
//
//	listening
//		waits until the ferry recv started last in the background
//		(ferry recv ... &) is listening, and sets $PORT to its port and,
//		if it made up a code, $CODE to that code.
//	status N
//		checks that the ferry which ended last, run in the foreground or
//		waited for with wait, exited with status N. Check each ending
//		before the next: a status after both a foreground ferry and a
//		wait for another is refused as ambiguous.
//
// A receiver listens on 127.0.0.1:0, a port the kernel picks, so that the
// scripts, run in parallel with each other and with the other tests, never
// compete for one; listening reads the port from what recv prints, and the
// sender needs no retries or sleeps: the port is open once it is printed.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestScript(t *testing.T) {
	testscript.Run(t, scriptParams("testdata/script"))
}

// scriptParams are the parameters of the scripts in dir, or of the
// script files if dir is "".
func scriptParams(dir string, files ...string) testscript.Params {
	return testscript.Params{
		Dir:                dir,
		Files:              files,
		Setup:              setupScript,
		RequireUniqueNames: true,
		UpdateScripts:      *update,
		Cmds: map[string]func(*testscript.TestScript, bool, []string){
			"listening": cmdListening,
			"status":    cmdStatus,
		},
	}
}

// scriptM is the tests of this package, as testMain runs them, for
// testscript.Main, which runs them when this binary is not started as a
// script's ferry.
type scriptM struct{ m *testing.M }

func (s scriptM) Run() int { return testMain(s.m) }

// runsEnv names the directory where each ferry a script runs leaves its
// record: PID.stderr, a copy of its stderr, and a line "PID STATUS" in
// the file exits once it ends.
const runsEnv = "TESTSCRIPT_FERRY_RUNS"

// ferryCommand is "ferry" in the scripts: run, as main calls it, with a
// record of the run left for listening and status.
func ferryCommand() {
	dir := os.Getenv(runsEnv)
	pid := os.Getpid()
	copied, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d.stderr", pid)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferry under testscript: cannot record the run in $%s: %v\n", runsEnv, err)
		os.Exit(3)
	}
	code := run(os.Args[1:], os.Stdin, os.Stdout, io.MultiWriter(os.Stderr, copied))
	copied.Close()
	// One short write with O_APPEND: the lines of processes ending at once
	// do not mix.
	exits, err := os.OpenFile(filepath.Join(dir, "exits"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o666)
	if err == nil {
		_, err = fmt.Fprintf(exits, "%d %d\n", pid, code)
		if cerr := exits.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferry under testscript: cannot record the exit status %d: %v\n", code, err)
		os.Exit(3)
	}
	os.Exit(code)
}

// scriptState is what listening and status know of one script's ferry
// processes.
type scriptState struct {
	dir        string       // $TESTSCRIPT_FERRY_RUNS
	background map[int]bool // the processes seen running in the background
	reported   map[int]bool // those of them status has seen waited for
	exitsRead  int          // the lines of the exits file status has looked at
}

type stateKey struct{}

func setupScript(env *testscript.Env) error {
	dir := filepath.Join(env.WorkDir, ".ferry-runs")
	if err := os.Mkdir(dir, 0o777); err != nil {
		return err
	}
	env.Setenv(runsEnv, dir)
	env.Values[stateKey{}] = &scriptState{dir: dir, background: map[int]bool{}, reported: map[int]bool{}}
	return nil
}

// state is the script's scriptState, with every ferry now running in the
// background noted as such.
func state(ts *testscript.TestScript) *scriptState {
	st := ts.Value(stateKey{}).(*scriptState)
	for _, cmd := range ts.BackgroundCmds() {
		if isFerry(cmd.Args) {
			st.background[cmd.Process.Pid] = true
		}
	}
	return st
}

func isFerry(args []string) bool {
	return len(args) > 0 && strings.TrimSuffix(filepath.Base(args[0]), ".exe") == "ferry"
}

// exitRecord is one line of the exits file.
type exitRecord struct{ pid, status int }

// exits reads the exits file: the ferry processes that ended, in the order
// they ended.
func (st *scriptState) exits(ts *testscript.TestScript) []exitRecord {
	data, err := os.ReadFile(filepath.Join(st.dir, "exits"))
	if os.IsNotExist(err) {
		return nil
	}
	ts.Check(err)
	// Whole lines only: the file of a ferry ending now may be created and
	// not yet written.
	complete := string(data[:bytes.LastIndexByte(data, '\n')+1])
	var recs []exitRecord
	for line := range strings.Lines(complete) {
		var r exitRecord
		if _, err := fmt.Sscanf(line, "%d %d\n", &r.pid, &r.status); err != nil {
			ts.Fatalf("exits file of the ferry runs: line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// stderrOf is what the ferry process pid has written on stderr so far.
func (st *scriptState) stderrOf(ts *testscript.TestScript, pid int) string {
	data, err := os.ReadFile(filepath.Join(st.dir, fmt.Sprintf("%d.stderr", pid)))
	if os.IsNotExist(err) {
		return "" // not started yet
	}
	ts.Check(err)
	return string(data)
}

// listenGuard bounds the wait for a receiver to listen, which takes
// milliseconds; it is never used to synchronise.
const listenGuard = time.Minute

// cmdListening implements "listening".
func cmdListening(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: listening")
	}
	st := state(ts)
	bg := ts.BackgroundCmds()
	if len(bg) == 0 || !isFerry(bg[len(bg)-1].Args) {
		ts.Fatalf("listening: the last command started in the background is not ferry")
	}
	pid := bg[len(bg)-1].Process.Pid
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	timeout := time.NewTimer(listenGuard)
	defer timeout.Stop()
	for {
		// Read before looking for the exit: a receiver that ended
		// after printing its port still printed it.
		stderr := st.stderrOf(ts, pid)
		if port, code, ok := parseListening(stderr); ok {
			ts.Setenv("PORT", strconv.Itoa(port))
			if code != "" {
				ts.Setenv("CODE", code)
			}
			return
		}
		for _, r := range st.exits(ts) {
			if r.pid == pid {
				ts.Fatalf("ferry recv exited with status %d before listening; stderr:\n%s", r.status, stderr)
			}
		}
		select {
		case <-tick.C:
		case <-timeout.C:
			ts.Fatalf("ferry recv not listening after %v; stderr:\n%s", listenGuard, stderr)
		}
	}
}

// parseListening finds, in the stderr of a ferry recv, the command it
// prints for the sender, as a message or in the JSON "listening" event,
// and returns the port and the code in it; code is "" where the command
// says CODE or has none. With -q and no code made up recv prints no
// command, and a script cannot learn its port.
func parseListening(stderr string) (port int, code string, ok bool) {
	// Whole lines only: the last may be still being written.
	for line := range strings.Lines(stderr[:strings.LastIndex(stderr, "\n")+1]) {
		line = strings.TrimSuffix(line, "\n")
		command, found := strings.CutPrefix(line, "    ferry send ")
		var ev struct{ Event, Command string }
		if !found && json.Unmarshal([]byte(line), &ev) == nil && ev.Event == "listening" {
			command, found = strings.CutPrefix(ev.Command, "ferry send ")
		}
		if !found {
			continue
		}
		// FLAGS HOST[:PORT] FILE, the flags --code CODE, --plain or --raw.
		f := strings.Fields(command)
		if len(f) < 3 {
			return 0, "", false
		}
		if f[0] == "--code" && f[1] != "CODE" {
			code = f[1]
		}
		port = DefaultPort
		if _, p, err := net.SplitHostPort(f[len(f)-2]); err == nil {
			if port, err = strconv.Atoi(p); err != nil {
				return 0, "", false
			}
		}
		return port, code, true
	}
	return 0, "", false
}

// cmdStatus implements "status N".
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: status N")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("status: %q is no exit status", args[0])
	}
	st := state(ts)
	running := map[int]bool{}
	for _, cmd := range ts.BackgroundCmds() {
		running[cmd.Process.Pid] = true
	}
	recs := st.exits(ts)
	statusOf := map[int]int{}
	for _, r := range recs {
		statusOf[r.pid] = r.status
	}
	// The candidates: the foreground ferry that ended last since the last
	// status, and the background ones waited for since then.
	var ended []exitRecord
	for _, r := range recs[st.exitsRead:] {
		if !st.background[r.pid] {
			ended = []exitRecord{r}
		}
	}
	st.exitsRead = len(recs)
	for pid := range st.background {
		if running[pid] || st.reported[pid] {
			continue
		}
		st.reported[pid] = true
		s, ok := statusOf[pid]
		if !ok {
			ts.Fatalf("status: a ferry waited for left no exit status (killed?); stderr:\n%s", st.stderrOf(ts, pid))
		}
		ended = append(ended, exitRecord{pid, s})
	}
	switch {
	case len(ended) == 0:
		ts.Fatalf("status: no ferry ended since the last status")
	case len(ended) > 1:
		ts.Fatalf("status: ambiguous: %d ferry processes ended since the last status; check each as it ends", len(ended))
	}
	if got := ended[0].status; got != want {
		ts.Fatalf("ferry exited with status %d, want %d", got, want)
	}
}

// TestScriptCommands checks that listening and status fail a script when
// they should: a check that cannot fail would pass whatever ferry did.
func TestScriptCommands(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"another status", "ferry version\nstatus 2\n", "ferry exited with status 0, want 2"},
		{"nothing ran", "status 0\n", "status: no ferry ended since the last status"},
		{"checked already", "ferry version\nstatus 0\nstatus 0\n", "status: no ferry ended since the last status"},
		{"receiver's status", "! ferry recv --plain -l 127.0.0.1:0 &\nlistening\nkill -INT\nwait\nstatus 0\n",
			"ferry exited with status 130, want 0"},
		{"sender and receiver at once", "ferry recv --plain -l 127.0.0.1:0 in &\nlistening\n" +
			"ferry send --plain 127.0.0.1:$PORT f\nwait\nstatus 0\n-- f --\nx\n",
			"status: ambiguous: 2 ferry processes ended since the last status"},
		{"receiver that cannot listen", "! ferry recv -l 127.0.0.1:99999 &\nlistening\n",
			"ferry recv exited with status 2 before listening"},
		{"no receiver", "listening\n", "listening: the last command started in the background is not ferry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "script.txtar")
			if err := os.WriteFile(file, []byte(tc.script), 0o666); err != nil {
				t.Fatal(err)
			}
			var st scriptT
			testscript.RunT(&st, scriptParams("", file))
			switch {
			case !st.failed:
				t.Fatalf("the script passed, want it to fail with %q; its log:\n%s", tc.want, st.log.String())
			case !strings.Contains(st.log.String(), tc.want):
				t.Fatalf("the script failed without %q; its log:\n%s", tc.want, st.log.String())
			}
		})
	}
}

// scriptT runs scripts for TestScriptCommands, which expects them to fail,
// and records their failure and their log.
type scriptT struct {
	log    strings.Builder
	failed bool
}

// errScriptEnded stops a script that failed or skipped.
var errScriptEnded = errors.New("script ended")

func (t *scriptT) Skip(args ...any)  { t.Log(args...); panic(errScriptEnded) }
func (t *scriptT) Fatal(args ...any) { t.Log(args...); t.FailNow() }
func (t *scriptT) Parallel()         {}
func (t *scriptT) Log(args ...any)   { fmt.Fprintln(&t.log, args...) }
func (t *scriptT) FailNow()          { t.failed = true; panic(errScriptEnded) }
func (t *scriptT) Verbose() bool     { return false }

func (t *scriptT) Run(_ string, f func(testscript.T)) {
	defer func() {
		if e := recover(); e != nil && e != errScriptEnded {
			panic(e)
		}
	}()
	f(t)
}

func TestParseListening(t *testing.T) {
	for _, tc := range []struct {
		name, stderr string
		port         int
		code         string
		ok           bool
	}{
		{"made-up code", "ferry: listening on port 40263, receiving into /in\nferry: on the other machine, run:\n    ferry send --code 51019-74911-02477 127.0.0.1:40263 FILE\n",
			40263, "51019-74911-02477", true},
		{"the user's code", "    ferry send --code CODE 127.0.0.1:40263 FILE\n", 40263, "", true},
		{"plain", "    ferry send --plain 127.0.0.1:40263 FILE\n", 40263, "", true},
		{"default port", "    ferry send --plain 127.0.0.1 FILE\n", DefaultPort, "", true},
		{"IPv6", "    ferry send --plain [::1]:40263 FILE\n", 40263, "", true},
		{"json", `{"addr":"127.0.0.1:36535","command":"ferry send --code 07705-66648-99378 127.0.0.1:36535 FILE","event":"listening","port":36535}` + "\n",
			36535, "07705-66648-99378", true},
		{"line still being written", "ferry: listening on port 40263, receiving into /in\n    ferry send --plain 127.0.0.1:40263 FI", 0, "", false},
		{"not listening yet", "ferry: created /in\n", 0, "", false},
		{"nothing", "", 0, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			port, code, ok := parseListening(tc.stderr)
			if port != tc.port || code != tc.code || ok != tc.ok {
				t.Errorf("parseListening = %d, %q, %v; want %d, %q, %v", port, code, ok, tc.port, tc.code, tc.ok)
			}
		})
	}
}
