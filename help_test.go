package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata with what the tests get")

// checkGolden compares got with testdata/name, or with -update writes it
// there.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// TestHelpTexts asks for each help in every way there is to ask: each
// prints the same text, on stdout, and exits 0.
func TestHelpTexts(t *testing.T) {
	for _, tc := range []struct {
		golden string
		ways   [][]string
	}{
		{"help-overview.golden", [][]string{{"help"}, {"--help"}, {"-h"}, {"-help"}, {"help", "help"}, {"help", "--help"}}},
		{"help-recv.golden", [][]string{{"help", "recv"}, {"help", "receive"}, {"recv", "--help"}, {"recv", "-h"}, {"receive", "-help"}, {"recv", "-k", "dir", "--help"}}},
		// Flags stand anywhere: --help after the paths too.
		{"help-send.golden", [][]string{{"help", "send"}, {"send", "--help"}, {"send", "-h"}, {"send", "host", "file", "--help"}}},
		{"help-version.golden", [][]string{{"help", "version"}, {"version", "--help"}, {"version", "-h"}, {"-V", "--help"}, {"--version", "-h"}}},
		{"help-completion.golden", [][]string{{"help", "completion"}, {"completion", "--help"}, {"completion", "-h"}}},
	} {
		t.Run(strings.TrimSuffix(tc.golden, ".golden"), func(t *testing.T) {
			for _, args := range tc.ways {
				p := start(t, t.TempDir(), nil, nil, args...)
				p.expect(0)
				if stderr := p.stderr(); stderr != "" {
					t.Errorf("ferry %s: stderr = %q, want nothing", strings.Join(args, " "), stderr)
				}
				checkGolden(t, tc.golden, p.out.Bytes())
			}
		})
	}
}

// TestHelpMistakes checks that help and the commands that only print take
// a wrong word as a usage error, with the hint naming the right help.
func TestHelpMistakes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"help for an unknown command", []string{"help", "fetch"}, []string{`help: unknown command "fetch" (want recv, send, completion or version)`, "Run 'ferry help' for usage."}},
		{"help for two commands", []string{"help", "send", "recv"}, []string{"help takes one command, not send recv"}},
		{"completion without a shell", []string{"completion"}, []string{"completion takes one shell: bash, zsh or fish", "Run 'ferry help completion' for usage."}},
		{"completion for an unknown shell", []string{"completion", "tcsh"}, []string{`completion: unknown shell "tcsh" (want bash, zsh or fish)`}},
		{"completion for two shells", []string{"completion", "bash", "zsh"}, []string{"completion takes one shell"}},
		{"-V with an argument", []string{"-V", "extra"}, []string{"-V takes no arguments, not extra", "Run 'ferry help version' for usage."}},
		{"a send mistake", []string{"send", "--bogus", "127.0.0.1:1", "f"}, []string{"unknown flag --bogus", "Run 'ferry help send' for usage."}},
		{"a receive mistake", []string{"receive", "-x"}, []string{"unknown flag -x", "Run 'ferry help recv' for usage."}},
		// -v is --verbose's (issue 20), never the version.
		{"-v", []string{"-v"}, []string{`unknown command "-v"`, "Run 'ferry help' for usage."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, t.TempDir(), nil, nil, tc.args...)
			p.expect(2)
			mustContain(t, "stderr", p.stderr(), tc.wants...)
			if out := p.out.Bytes(); len(out) != 0 {
				t.Errorf("stdout = %q, want nothing", out)
			}
		})
	}
}

// TestVersionSpellings checks that each way to ask for the version prints
// the same one line.
func TestVersionSpellings(t *testing.T) {
	var first string
	for _, arg := range []string{"version", "--version", "-version", "-V"} {
		p := start(t, t.TempDir(), nil, nil, arg)
		p.expect(0)
		out := string(p.out.Bytes())
		if !strings.HasPrefix(out, "ferry ") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("ferry %s: stdout = %q, want one line starting with \"ferry \"", arg, out)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("ferry %s: stdout = %q, want what ferry version printed, %q", arg, out, first)
		}
	}
}

// helpEntry is one flag as a help text lists it: "-l, --listen ADDR" and
// what follows, continuation lines included.
type helpEntry struct {
	names []string // without dashes: l, listen
	value string   // ADDR, or "" for a switch
	text  string
}

var helpEntryRE = regexp.MustCompile(`^(?:    -(\w), |        )--([\w-]+)(?: ([A-Z]+))?(?: +|$)`)

// helpEntries are the flags text lists, in the layout of the help texts: a
// flag at the 4th or 8th column, its description at the 27th, and the
// description's further lines there too.
func helpEntries(t *testing.T, text string) []helpEntry {
	t.Helper()
	var entries []helpEntry
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, strings.Repeat(" ", 27)) && len(entries) > 0 {
			entries[len(entries)-1].text += "\n" + line
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(line), "-") {
			continue
		}
		m := helpEntryRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("a flag line not in the layout of the others: %q", line)
			continue
		}
		e := helpEntry{value: m[3], text: line}
		if m[1] != "" {
			e.names = append(e.names, m[1])
		}
		e.names = append(e.names, m[2])
		entries = append(entries, e)
	}
	return entries
}

// TestHelpListsTheFlags keeps the hand-written help texts in step with the
// flags the commands register: each flag is listed, under all its names,
// with the name of its value and its default, and nothing else is.
func TestHelpListsTheFlags(t *testing.T) {
	recv, _ := recvFlags(new(common))
	send, _, _ := sendFlags(new(common))
	none := newFlagSet("none")
	both := newFlagSet("both")
	for _, fs := range []*flag.FlagSet{recv, send} {
		fs.VisitAll(func(f *flag.Flag) {
			if both.Lookup(f.Name) == nil {
				both.Var(f.Value, f.Name, f.Usage)
			}
		})
	}
	for _, tc := range []struct {
		name string
		text string
		fs   *flag.FlagSet
		help bool // lists -h, --help
	}{
		{"overview", usageText, both, false},
		{"recv", recvHelp, recv, true},
		{"send", sendHelp, send, true},
		{"version", versionHelp, none, true},
		{"completion", completionHelp, none, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			listed := map[string]helpEntry{}
			for _, e := range helpEntries(t, tc.text) {
				for _, n := range e.names {
					if _, dup := listed[n]; dup {
						t.Errorf("%s listed twice", dashed(n))
					}
					listed[n] = e
				}
				if len(e.names) == 2 && !slices.Contains(e.names, "help") {
					short, long := tc.fs.Lookup(e.names[0]), tc.fs.Lookup(e.names[1])
					if short != nil && long != nil && flagVar(short) != flagVar(long) {
						t.Errorf("-%s and --%s are listed as one flag, but set different values", e.names[0], e.names[1])
					}
				}
			}
			tc.fs.VisitAll(func(f *flag.Flag) {
				e, ok := listed[f.Name]
				if !ok {
					t.Errorf("%s is a flag, but the help does not list it", dashed(f.Name))
					return
				}
				delete(listed, f.Name)
				value, _ := flag.UnquoteUsage(f)
				if isBoolFlag(f) {
					value = ""
				}
				if e.value != value {
					t.Errorf("%s: the help names its value %q, its usage %q", dashed(f.Name), e.value, value)
				}
				if d := f.DefValue; d != "" && d != "false" && !strings.Contains(e.text, "(default "+d+")") {
					t.Errorf("%s: the help does not say (default %s):\n%s", dashed(f.Name), d, e.text)
				}
			})
			if tc.help {
				for _, n := range []string{"h", "help"} {
					if _, ok := listed[n]; !ok {
						t.Errorf("the help does not list %s", dashed(n))
					}
					delete(listed, n)
				}
			}
			for n := range listed {
				t.Errorf("the help lists %s, which is no flag of the command", dashed(n))
			}
		})
	}
}
