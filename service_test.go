package main

// These tests check the systemd unit kept in contrib/systemd: that it holds
// the directives README.md's "As a service" promises, that systemd accepts
// it (systemd-analyze verify, with ExecStart pointed at the ferry the tests
// built), and that ferry run as the unit runs it logs one plain line per
// message and stops cleanly on SIGTERM.

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	serviceUnit    = "contrib/systemd/ferry-recv.service"
	serviceEnvFile = "contrib/systemd/recv.env"
)

// unitFile is a parsed unit: each "Section.Key" with its values in order.
type unitFile map[string][]string

// parseUnit reads the systemd unit text: sections, Key=Value lines and
// comments, which is all the unit uses (no line continuations).
func parseUnit(t *testing.T, text string) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			key, value, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a Key=Value line in a section: %q", serviceUnit, n, line)
			}
			k := section + "." + strings.TrimSpace(key)
			u[k] = append(u[k], strings.TrimSpace(value))
		}
	}
	return u
}

// one is the single value of key; a key missing or given twice fails.
func (u unitFile) one(t *testing.T, key string) string {
	t.Helper()
	if len(u[key]) != 1 {
		t.Fatalf("%s: %s has %d values %q, want one", serviceUnit, key, len(u[key]), u[key])
	}
	return u[key][0]
}

func readUnit(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(serviceUnit)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// execStart is the unit's ExecStart split into words: the program, then
// ferry's arguments.
func execStart(t *testing.T, u unitFile) []string {
	t.Helper()
	words := strings.Fields(u.one(t, "Service.ExecStart"))
	if len(words) < 3 {
		t.Fatalf("%s: ExecStart=%q is too short", serviceUnit, u.one(t, "Service.ExecStart"))
	}
	return words
}

func TestServiceUnitDirectives(t *testing.T) {
	u := parseUnit(t, readUnit(t))
	cmd := execStart(t, u)
	dir := cmd[len(cmd)-1]
	for _, tc := range []struct {
		name, key, want string
	}{
		{"a dedicated user", "Service.User", "ferry"},
		{"its own group", "Service.Group", "ferry"},
		{"the code from a file", "Service.EnvironmentFile", "/etc/ferry/recv.env"},
		{"received files not world-readable", "Service.UMask", "0027"},
		{"a read-only system", "Service.ProtectSystem", "strict"},
		{"writes into DIR only", "Service.ReadWritePaths", dir},
		{"no privileges to gain", "Service.NoNewPrivileges", "yes"},
		{"a /tmp of its own", "Service.PrivateTmp", "yes"},
		{"no home directories", "Service.ProtectHome", "yes"},
		{"no devices", "Service.PrivateDevices", "yes"},
		{"no capabilities", "Service.CapabilityBoundingSet", ""},
		{"internet sockets, and netlink to list the addresses", "Service.RestrictAddressFamilies", "AF_INET AF_INET6 AF_NETLINK"},
		{"restarted after a failure", "Service.Restart", "on-failure"},
		{"SIGTERM's exit 130 is a clean stop", "Service.SuccessExitStatus", "130"},
		{"started at boot", "Install.WantedBy", "multi-user.target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := u.one(t, tc.key); got != tc.want {
				t.Errorf("%s=%q, want %q", tc.key, got, tc.want)
			}
		})
	}

	t.Run("recv -k into DIR, with no code on the command line", func(t *testing.T) {
		if got := strings.Join(cmd[1:len(cmd)-1], " "); got != "recv -k" {
			t.Errorf("ExecStart runs ferry %s %s, want ferry recv -k %s", got, dir, dir)
		}
		if !filepath.IsAbs(dir) {
			t.Errorf("ExecStart's DIR %q is not absolute", dir)
		}
		for key, values := range u {
			for _, v := range values {
				if strings.Contains(v, "--code") || strings.Contains(v, "FERRY_CODE") {
					t.Errorf("%s=%s: the code belongs in the EnvironmentFile only", key, v)
				}
			}
		}
	})

	t.Run("the example EnvironmentFile sets FERRY_CODE and nothing else", func(t *testing.T) {
		b, err := os.ReadFile(serviceEnvFile)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, line := range strings.Split(string(b), "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				key, _, _ := strings.Cut(line, "=")
				keys = append(keys, key)
			}
		}
		if len(keys) != 1 || keys[0] != "FERRY_CODE" {
			t.Errorf("%s sets %q, want FERRY_CODE only", serviceEnvFile, keys)
		}
	})
}

// withExecStart is the unit text with ExecStart's program replaced by bin,
// so that systemd-analyze verify checks the unit against that binary.
func withExecStart(t *testing.T, text, bin string) string {
	t.Helper()
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "ExecStart="); ok {
			_, args, _ := strings.Cut(rest, " ")
			lines[i] = "ExecStart=" + bin + " " + args
			return strings.Join(lines, "\n")
		}
	}
	t.Fatalf("%s has no ExecStart line", serviceUnit)
	return ""
}

// verifyUnit runs systemd-analyze verify on text saved as ferry-recv.service
// and returns what it printed and its error. systemd-analyze exits 0 on a
// misspelt directive or a value it cannot parse, only warning ("Unknown
// key", "Failed to parse"), so the check is that it prints nothing too.
func verifyUnit(t *testing.T, analyze, text string) (string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), filepath.Base(serviceUnit))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func TestServiceUnitVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must verify %s (.ci/run installs systemd): %v", serviceUnit, err)
		}
		t.Skipf("skipping: systemd-analyze is not installed (apt-get install systemd): %v", err)
	}
	unit := withExecStart(t, readUnit(t), ferryBin)
	for _, tc := range []struct {
		name string
		unit string
		ok   bool
	}{
		{"as kept, run with the built ferry", unit, true},
		{"a misspelt directive", strings.Replace(unit, "ProtectSystem=", "ProtectSystm=", 1), false},
		{"a value systemd cannot parse", strings.Replace(unit, "UMask=0027", "UMask=0o27", 1), false},
		{"a missing executable", withExecStart(t, readUnit(t), filepath.Join(t.TempDir(), "ferry")), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := verifyUnit(t, analyze, tc.unit)
			accepted := err == nil && out == ""
			switch {
			case tc.ok && !accepted:
				t.Errorf("systemd-analyze verify rejects the unit (%v):\n%s", err, out)
			case !tc.ok && accepted:
				t.Errorf("systemd-analyze verify accepts the unit")
			}
		})
	}
}

// TestServiceRun runs ferry with the unit's arguments, its stderr a pipe as
// the journal's is, under a TERM that names a terminal, and with the code in
// the environment only: every message is one plain line, with no bar, no
// escape sequence and no carriage return, the code is never logged, and
// SIGTERM (systemctl stop) ends it with 130, the unit's SuccessExitStatus.
func TestServiceRun(t *testing.T) {
	u := parseUnit(t, readUnit(t))
	cmd := execStart(t, u)
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	if err := os.Mkdir(inbox, 0o750); err != nil {
		t.Fatal(err)
	}
	// The unit's arguments with this test's DIR, and a port of the kernel's
	// choosing on loopback; the code is FERRY_CODE, from TestMain.
	args := append(append([]string{}, cmd[1:len(cmd)-1]...), inbox, "-l", "127.0.0.1:0")
	env := append(os.Environ(), "TERM=xterm-256color")
	recv := startProg(t, "recv", ferryBin, env, dir, nil, nil, args...)
	line := recv.waitLine("its listening message", humanCommand.MatchString)
	addr := humanCommand.FindStringSubmatch(line)[1]

	data := mixedBytes(8 << 20)
	writeFile(t, dir, "photo.raw", data, 0o644, time.Now())
	// The sender's exit 0 says the file is in place, so the receiver has
	// logged all it logs while a transfer runs.
	send(t, dir, nil, addr, "photo.raw").expect(0)
	recv.signal(syscall.SIGTERM)
	recv.expect(exitInterrupted)
	checkReceived(t, inbox, map[string][]byte{"photo.raw": data})

	log := recv.stderr()
	for _, l := range strings.Split(strings.TrimSuffix(log, "\n"), "\n") {
		if strings.ContainsAny(l, "\x1b\r") {
			t.Errorf("a journal line holds an escape or a carriage return: %q", l)
		}
		if !strings.HasPrefix(l, "ferry: ") && !humanCommand.MatchString(l) {
			t.Errorf("a journal line is not one of ferry's messages: %q", l)
		}
	}
	if strings.Contains(log, testCode) {
		t.Errorf("the code is in the log:\n%s", log)
	}
}
