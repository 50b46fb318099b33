package main

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferrytool/ferry/internal/codec"
)

// completionScript is what ferry completion prints for shell, saved in a
// file of the test's.
func completionScript(t *testing.T, shell string) string {
	t.Helper()
	p := start(t, t.TempDir(), nil, nil, "completion", shell)
	p.expect(0)
	if stderr := p.stderr(); stderr != "" {
		t.Errorf("stderr = %q, want nothing", stderr)
	}
	path := filepath.Join(t.TempDir(), "ferry."+shell)
	if err := os.WriteFile(path, p.out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCompletionGolden(t *testing.T) {
	for _, shell := range shells {
		t.Run(shell, func(t *testing.T) {
			script, err := os.ReadFile(completionScript(t, shell))
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "completion-"+shell+".golden", script)
		})
	}
}

// TestCompletionChoices checks that the values completion offers for a flag
// are values the flag takes.
func TestCompletionChoices(t *testing.T) {
	_, send := completionFlagSets()
	for name, choices := range flagChoices {
		if send.Lookup(name) == nil {
			t.Errorf("completion offers values for --%s, which is no flag of send", name)
		}
		for _, c := range choices {
			m, err := codec.ParseMode(c)
			if err != nil || m.String() != c {
				t.Errorf("-z %s: completion offers it, but it parses as %v, %v", c, m, err)
			}
		}
	}
	// The modes are codec's constants from Auto to None: a new one fails
	// here until completion offers it.
	if modes := flagChoices["compress"]; !slices.Contains(modes, codec.Auto.String()) || len(modes) != int(codec.None)+1 {
		t.Errorf("completion offers -z %v, not every mode of codec", modes)
	}
}

// completionFlagSets are the FlagSets recv and send parse with.
func completionFlagSets() (recv, send *flag.FlagSet) {
	recv, _ = recvFlags(new(common))
	send, _, _ = sendFlags(new(common))
	return recv, send
}

// flagNames are the names of fs's flags as typed, with -h and --help.
func flagNames(fs *flag.FlagSet) []string {
	names := []string{"-h", "--help"}
	fs.VisitAll(func(f *flag.Flag) { names = append(names, dashed(f.Name)) })
	return names
}

// needShell is the path of shell, or skips the test without it; under CI,
// which installs it, fails it instead.
func needShell(t *testing.T, shell string) string {
	t.Helper()
	path, err := exec.LookPath(shell)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must check the %s completion (.ci/run installs %s): %v", shell, shell, err)
		}
		t.Skipf("skipping: %s is not installed (apt-get install %s): %v", shell, shell, err)
	}
	return path
}

// completionDir is a directory to complete paths in, with a file, a
// directory and a directory whose name has a space.
func completionDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{"sub", "my dir"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runShell runs shell with args in dir, with a home of its own so that no
// start-up file of the machine's changes what it does, and returns its
// stdout.
func runShell(t *testing.T, dir, shell string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*guard) // a guard: a hung shell fails
	defer cancel()
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home, "XDG_CACHE_HOME="+home)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %s: %v\nstderr:\n%s", shell, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// lines are the lines of s, sorted; the part of each before a tab if cut.
func lines(s string, cut bool) []string {
	var l []string
	for _, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if cut {
			line, _, _ = strings.Cut(line, "\t")
		}
		if line != "" {
			l = append(l, line)
		}
	}
	slices.Sort(l)
	return l
}

// completionCases are command lines to complete, as words, the last being
// the one completed, with what a shell should offer. flags are the names
// of recv's or send's flags, from their FlagSets.
func completionCases() []struct {
	name  string
	words []string
	want  []string
} {
	recv, send := completionFlagSets()
	longOnly := func(names []string) []string {
		return slices.DeleteFunc(slices.Clone(names), func(n string) bool { return !strings.HasPrefix(n, "--") })
	}
	return []struct {
		name  string
		words []string
		want  []string
	}{
		{"commands", []string{"ferry", ""}, []string{"completion", "help", "recv", "send", "version"}},
		{"a command begun", []string{"ferry", "se"}, []string{"send"}},
		{"ferry's own flags", []string{"ferry", "-"}, []string{"--help", "--version", "-V", "-h"}},
		{"recv's flags", []string{"ferry", "recv", "-"}, flagNames(recv)},
		{"receive's flags", []string{"ferry", "receive", "--"}, longOnly(flagNames(recv))},
		{"send's flags", []string{"ferry", "send", "-"}, flagNames(send)},
		{"send's flags after the paths", []string{"ferry", "send", "host", "a.txt", "--"}, longOnly(flagNames(send))},
		{"a long flag begun", []string{"ferry", "recv", "--keep-"}, []string{"--keep-open", "--keep-perms"}},
		{"-z", []string{"ferry", "send", "-z", ""}, []string{"auto", "none", "s2", "zstd"}},
		{"--compress", []string{"ferry", "send", "--compress", "z"}, []string{"zstd"}},
		{"a value nothing can guess", []string{"ferry", "send", "--code", ""}, nil},
		{"recv's directory", []string{"ferry", "recv", ""}, []string{"my dir/", "sub/"}},
		{"recv's directory after a flag", []string{"ferry", "recv", "-l", ":7000", "s"}, []string{"sub/"}},
		{"send's paths", []string{"ferry", "send", "host", ""}, []string{"a.txt", "my dir/", "sub/"}},
		{"a path begun", []string{"ferry", "send", "host", "a.txt", "a"}, []string{"a.txt"}},
		{"help's commands", []string{"ferry", "help", ""}, []string{"completion", "help", "recv", "send", "version"}},
		{"shells", []string{"ferry", "completion", ""}, []string{"bash", "fish", "zsh"}},
		{"version's flags", []string{"ferry", "version", "-"}, []string{"--help", "-h"}},
	}
}

// TestBashCompletion loads the script into bash and runs its function
// as bash does on Tab, with COMP_WORDS and COMP_CWORD set.
func TestBashCompletion(t *testing.T) {
	bash := needShell(t, "bash")
	script := completionScript(t, "bash")
	runShell(t, t.TempDir(), bash, "-n", script)
	if got := runShell(t, t.TempDir(), bash, "--norc", "--noprofile", "-c", `source "$1" && complete -p ferry`, "bash", script); got != "complete -F _ferry ferry\n" {
		t.Errorf("complete -p ferry = %q, want the function _ferry", got)
	}
	// compopt -o filenames, which adds the / to a directory, works only
	// on Tab: here the test adds it.
	const complete = `source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
_ferry
for w in "${COMPREPLY[@]}"; do
	if [[ -d $w ]]; then w+=/; fi
	printf '%s\n' "$w"
done`
	dir := completionDir(t)
	cases := completionCases()
	cases = append(cases, []struct {
		name  string
		words []string
		want  []string
	}{
		// bash splits --compress=zs into three words at the =.
		{"--compress=", []string{"ferry", "send", "--compress", "=", ""}, []string{"auto", "none", "s2", "zstd"}},
		{"--compress=z", []string{"ferry", "send", "--compress", "=", "z"}, []string{"zstd"}},
		{"--listen=", []string{"ferry", "recv", "--listen", "=", ""}, nil},
	}...)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--norc", "--noprofile", "-c", complete, "bash", script}, tc.words...)
			if got := lines(runShell(t, dir, bash, args...), false); !slices.Equal(got, sorted(tc.want)) {
				t.Errorf("bash completes %q to %q, want %q", strings.Join(tc.words, " "), got, sorted(tc.want))
			}
		})
	}
}

// TestFishCompletion loads the script into fish and asks fish what it
// completes each command line to (complete -C).
func TestFishCompletion(t *testing.T) {
	fish := needShell(t, "fish")
	script := completionScript(t, "fish")
	runShell(t, t.TempDir(), fish, "--no-execute", script)
	dir := completionDir(t)
	for _, tc := range completionCases() {
		t.Run(tc.name, func(t *testing.T) {
			line := strings.Join(tc.words, " ")
			got := lines(runShell(t, dir, fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, line), true)
			if !slices.Equal(got, sorted(tc.want)) {
				t.Errorf("fish completes %q to %q, want %q", line, got, sorted(tc.want))
			}
		})
	}
	// fish shows what a flag does: the flag's usage, from its FlagSet.
	recv, _ := completionFlagSets()
	f := recv.Lookup("keep-perms")
	_, usage := flag.UnquoteUsage(f)
	got := runShell(t, dir, fish, "--no-config", "-c", `source $argv[1]; complete -C $argv[2]`, script, "ferry recv --keep-p")
	if want := "--keep-perms\t" + usage + "\n"; got != want {
		t.Errorf("fish completes ferry recv --keep-p to %q, want %q", got, want)
	}
}

// TestZshCompletion checks that zsh takes the script both ways the script
// says, from a directory on $fpath and sourced, and asks an interactive zsh
// on a pseudo-terminal (zsh/zpty) what it completes each command line to.
func TestZshCompletion(t *testing.T) {
	zsh := needShell(t, "zsh")
	script := completionScript(t, "zsh")
	runShell(t, t.TempDir(), zsh, "-n", script)
	fpath := t.TempDir()
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fpath, "_ferry"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	got := runShell(t, t.TempDir(), zsh, "-f", "-c", `fpath=("$1" $fpath); autoload -Uz compinit; compinit -D -u; print -r -- $_comps[ferry]`, "zsh", fpath)
	if got != "_ferry\n" {
		t.Errorf("zsh, with the script as _ferry on $fpath, completes ferry with %q, want _ferry", got)
	}

	// Sourced, as the capture does it. One zsh completes every line: its
	// compinit takes seconds.
	cases := completionCases()
	capture, err := filepath.Abs(filepath.Join("testdata", "zsh-capture.zsh"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", capture, script}
	for _, tc := range cases {
		args = append(args, strings.Join(tc.words, " "))
	}
	results := strings.SplitAfter(runShell(t, completionDir(t), zsh, args...), "<<end>>\n")
	if len(results) != len(cases)+1 {
		t.Fatalf("zsh completed %d lines of %d:\n%s", len(results)-1, len(cases), strings.Join(results, ""))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// zsh may offer a match twice, as _files -/ does directories.
			got := slices.Compact(lines(strings.TrimSuffix(results[i], "<<end>>\n"), false))
			if !slices.Equal(got, sorted(tc.want)) {
				t.Errorf("zsh completes %q to %q, want %q", strings.Join(tc.words, " "), got, sorted(tc.want))
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestCompletionLoadLines runs the line the help gives for loading the
// script into the running shell, with ferry on $PATH: afterwards the shell
// completes ferry.
func TestCompletionLoadLines(t *testing.T) {
	for _, tc := range []struct {
		shell string
		check string // after the line: prints what completes ferry
		args  []string
		want  string
	}{
		{"bash", "complete -p ferry", []string{"--norc", "--noprofile", "-c"}, "complete -F _ferry ferry\n"},
		{"fish", "complete -C 'ferry se'", []string{"--no-config", "-c"}, "send\tsend files and directories, or stdin\n"},
		{"zsh", "print -r -- $_comps[ferry]", []string{"-f", "-c"}, "_ferry\n"},
	} {
		t.Run(tc.shell, func(t *testing.T) {
			shell := needShell(t, tc.shell)
			var load string
			for _, line := range strings.Split(completionHelp, "\n") {
				if line = strings.TrimSpace(line); strings.Contains(line, "ferry completion "+tc.shell) && strings.Contains(line, "source") {
					load = line
				}
			}
			if load == "" {
				t.Fatalf("the help gives no line that loads the script into %s", tc.shell)
			}
			if tc.shell == "zsh" {
				load = "autoload -Uz compinit; compinit -D -u; " + load // as the help says: after compinit
			}
			t.Setenv("PATH", filepath.Dir(ferryBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
			if got := runShell(t, t.TempDir(), shell, append(tc.args, load+"\n"+tc.check)...); got != tc.want {
				t.Errorf("%s; %s = %q, want %q", load, tc.check, got, tc.want)
			}
		})
	}
}
