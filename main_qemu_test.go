package main

// Tests of ferry built for the Raspberry Pi's architectures, run under
// qemu's user-mode emulators on this machine: an ARM ferry (linux/arm with
// GOARM=6, the first Pi and the Zero, and linux/arm64) talks to the native
// ferry of TestMain over loopback, in both directions, in the default
// encrypted mode, and the 32-bit build moves a file larger than 4 GiB.
//
// The emulators are called explicitly ("qemu-arm-static BIN ARGS"), never
// through binfmt_misc, which containers often lack. Without them, or off
// Linux, these tests skip and say why; in CI (CI=true) a missing emulator
// fails them instead, since .ci/run installs Debian's qemu-user-static.
//
// The file is not called main_arm_test.go: a _arm suffix is a build
// constraint, and the go tool would compile such a file only for GOARCH=arm.

import (
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// armTarget is one ARM build of ferry and the emulator that runs it.
type armTarget struct {
	name      string
	env       []string // GOOS, GOARCH, GOARM for go build
	emulators []string // the emulator's names, preferred first
	machine   elf.Machine
	class     elf.Class

	once sync.Once // builds bin, once per test run
	bin  string
	err  error
}

var (
	arm6 = &armTarget{
		name:      "arm6",
		env:       []string{"GOOS=linux", "GOARCH=arm", "GOARM=6"},
		emulators: []string{"qemu-arm-static", "qemu-arm"},
		machine:   elf.EM_ARM,
		class:     elf.ELFCLASS32,
	}
	arm64 = &armTarget{
		name:      "arm64",
		env:       []string{"GOOS=linux", "GOARCH=arm64"},
		emulators: []string{"qemu-aarch64-static", "qemu-aarch64"},
		machine:   elf.EM_AARCH64,
		class:     elf.ELFCLASS64,
	}
)

// buildGuard bounds one cross build of ferry, which compiles the standard
// library for the target when the build cache does not have it yet.
const buildGuard = 5 * time.Minute

// prog returns the emulator and the target's ferry, built on first use next
// to TestMain's native one. It skips the test where the emulator cannot be
// had, except in CI.
func (a *armTarget) prog(t *testing.T) (emu, bin string) {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s; CI must run the ARM tests (.ci/run installs qemu-user-static)", msg)
		}
		t.Skipf("skipping the %s tests: %s", a.name, msg)
	}
	if runtime.GOOS != "linux" {
		unavailable("qemu's user-mode emulators run Linux binaries on Linux only, and this is %s", runtime.GOOS)
	}
	for _, name := range a.emulators {
		if path, err := exec.LookPath(name); err == nil {
			emu = path
			break
		}
	}
	if emu == "" {
		unavailable("none of %s is on PATH (Debian: apt-get install qemu-user-static)", strings.Join(a.emulators, ", "))
	}
	a.once.Do(func() {
		a.bin = filepath.Join(filepath.Dir(ferryBin), "ferry-"+a.name)
		ctx, cancel := context.WithTimeout(context.Background(), buildGuard)
		defer cancel()
		build := exec.CommandContext(ctx, "go", "build", "-o", a.bin, ".")
		build.Env = append(append(os.Environ(), "CGO_ENABLED=0"), a.env...)
		if out, err := build.CombinedOutput(); err != nil {
			a.err = fmt.Errorf("building ferry for %s (%s): %v\n%s", a.name, strings.Join(a.env, " "), err, out)
			return
		}
		// What runs under the emulator is an ARM binary, not a native one
		// that a stray GOARCH in the environment left behind.
		exe, err := elf.Open(a.bin)
		if err != nil {
			a.err = err
			return
		}
		defer exe.Close()
		if exe.Machine != a.machine || exe.Class != a.class {
			a.err = fmt.Errorf("%s is %v %v, want %v %v", a.bin, exe.Class, exe.Machine, a.class, a.machine)
		}
	})
	if a.err != nil {
		t.Fatal(a.err)
	}
	return emu, a.bin
}

// startARM is start for the target's ferry under its emulator, with this
// process's environment (so FERRY_CODE too); startProg is main_secure_test.go's.
func startARM(t *testing.T, target *armTarget, dir string, stdin io.Reader, stdout io.Writer, args ...string) *proc {
	t.Helper()
	emu, bin := target.prog(t)
	name := target.name
	if len(args) > 0 {
		name += " " + args[0]
	}
	return startProg(t, name, emu, nil, dir, stdin, stdout, append([]string{bin}, args...)...)
}

// startARMRecv is startRecv for the target's ferry; args must include --json.
func startARMRecv(t *testing.T, target *armTarget, dir string, stdout io.Writer, args ...string) (*proc, string) {
	t.Helper()
	p := startARM(t, target, dir, nil, stdout, append([]string{"recv"}, args...)...)
	ev := p.waitEvent("listening")
	addr, _ := ev["addr"].(string)
	if addr == "" {
		t.Fatalf("listening event without addr: %v", ev)
	}
	return p, addr
}

// expectWithin is expect with a bound of its own, for transfers that take
// longer under emulation than guard.
func (p *proc) expectWithin(d time.Duration, want int) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("ferry %s still running after %v, killed; stderr:\n%s", p.name, d, p.stderr())
	}
	if p.code != want {
		p.t.Fatalf("ferry %s exited with status %d, want %d; stderr:\n%s", p.name, p.code, want, p.stderr())
	}
}

// digests maps every entry under root to "dir" or the sha256 of the file.
func digests(t *testing.T, root string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			sums[filepath.ToSlash(rel)] = "dir"
		case d.Type().IsRegular():
			sum, err := fileSHA256(p)
			if err != nil {
				return err
			}
			sums[filepath.ToSlash(rel)] = sum
		default:
			sums[filepath.ToSlash(rel)] = "other: " + d.Type().String()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, f, make([]byte, 1<<20)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// compareDigests reports every path whose digest differs between want and got.
func compareDigests(t *testing.T, where string, got, want map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if g, ok := got[name]; !ok {
			t.Errorf("%s: %s is missing", where, name)
		} else if g != want[name] {
			t.Errorf("%s: %s is %s, want %s", where, name, g, want[name])
		}
	}
	for _, name := range slices.Sorted(maps.Keys(got)) {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected %s (%s)", where, name, got[name])
		}
	}
}

// crossGuard bounds each process of a cross-architecture transfer of a few
// MB; under emulation on a busy 2-core machine it takes a few seconds.
const crossGuard = 2 * time.Minute

// TestCrossArch sends a few-MB random file and a small tree between the
// native ferry and an ARM ferry under qemu, each way, in the default
// encrypted mode, and compares the sha256 of everything that arrived with
// the source, and the modes (the sender's, recv --keep-perms) and
// modification times.
func TestCrossArch(t *testing.T) {
	nodes := append(photoTree(), treeNode{path: "random.bin", data: randomBytes(4<<20 + 1234), mode: 0o644})
	sent := []string{"random.bin", "a.txt", "b.bin", "photos"}
	for _, target := range []*armTarget{arm6, arm64} {
		for _, armRecvs := range []bool{true, false} {
			dir := "native to " + target.name
			if !armRecvs {
				dir = target.name + " to native"
			}
			t.Run(dir, func(t *testing.T) {
				target.prog(t) // skip at once where there is no emulator
				src, dst := t.TempDir(), recvDir(t)
				makeTree(t, src, nodes)
				wantSums := digests(t, src)
				delete(wantSums, "not-sent.txt")
				wantTree := arriving(snapshot(t, src), sent...)

				recvArgs := []string{"--json", "--keep-perms", "-l", "127.0.0.1:0", dst}
				var recv *proc
				var addr string
				if armRecvs {
					recv, addr = startARMRecv(t, target, dst, nil, recvArgs...)
				} else {
					recv, addr = startRecv(t, dst, nil, recvArgs...)
				}
				sendArgs := append([]string{"send", "--json", addr}, sent...)
				var snd *proc
				if armRecvs {
					snd = start(t, src, nil, nil, sendArgs...)
				} else {
					snd = startARM(t, target, src, nil, nil, sendArgs...)
				}
				snd.expectWithin(crossGuard, 0)
				recv.expectWithin(crossGuard, 0)

				compareDigests(t, "sha256 of DIR", digests(t, dst), wantSums)
				compareTrees(t, "DIR", snapshot(t, dst), wantTree, true)
				if sc, rc := jsonCipher(t, snd), jsonCipher(t, recv); sc != rc {
					t.Errorf("sender secured with %s, receiver with %s", sc, rc)
				} else {
					t.Logf("encrypted with %s", sc)
				}
			})
		}
	}
}

// bigGuard bounds each process of the 5 GiB transfer; under qemu on this
// kind of machine (2 cores) a direction takes 30 to 40 s.
const bigGuard = 8 * time.Minute

// TestARM32Over4GiB proves that the 32-bit ARM build handles sizes and
// offsets above 4 GiB, end to end rather than with unit tests under
// GOARCH=arm: a unit test exercises only the arithmetic it was written for,
// while the real arm6 binary runs every place a size or an offset passes
// through (the walk, the header and data frames, compression, the CRC, the
// progress and the summary) as a 32-bit Pi would. The file is sparse, 5 GiB
// long but a few KiB on disk: random bytes at the start, around the 4 GiB
// boundary (from 4 GiB - 3, across it) and at the end, zeros elsewhere, so a
// chunk dropped, repeated or put at an offset wrapped modulo 4 GiB changes
// the sha256. It goes with -z auto from the arm6 ferry to a native recv -
// and from the native ferry to an arm6 recv -, whose stdout the test hashes
// as it comes, compared with the sha256 of the source file read natively.
func TestARM32Over4GiB(t *testing.T) {
	arm6.prog(t) // skip at once where there is no emulator
	const size = 5 << 30
	src := t.TempDir()
	path := filepath.Join(src, "big.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		_ = f.Close()
		t.Fatal(err)
	}
	for _, at := range []int64{0, 1<<32 - 3, size - 4096} {
		if _, err := f.WriteAt(randomBytes(4096), at); err != nil {
			_ = f.Close()
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// The source's sha256 is read while the first transfer runs: reading
	// 5 GiB, if mostly holes, takes a while too.
	type digest struct {
		sum  string
		err  error
		took time.Duration
	}
	digested := make(chan digest, 1)
	go func() {
		began := time.Now()
		sum, err := fileSHA256(path)
		digested <- digest{sum, err, time.Since(began)}
	}()
	var source *digest
	sourceSum := func(t *testing.T) string {
		t.Helper()
		if source == nil {
			select {
			case d := <-digested:
				source = &d
			case <-time.After(bigGuard):
				t.Fatalf("no sha256 of the source within %v", bigGuard)
			}
			if source.err != nil {
				t.Fatal(source.err)
			}
			t.Logf("sha256 of the 5 GiB source, read natively, in %v", source.took.Round(time.Millisecond))
		}
		return source.sum
	}
	t.Cleanup(func() {
		if source == nil { // a failure came first: let the reader finish
			select {
			case <-digested:
			case <-time.After(bigGuard):
			}
		}
	})

	for _, armSends := range []bool{true, false} {
		name := "arm6 to native"
		if !armSends {
			name = "native to arm6"
		}
		t.Run(name, func(t *testing.T) {
			began := time.Now()
			sum := sha256.New()
			out := &countingHash{Hash: sum}
			recvArgs := []string{"--json", "-l", "127.0.0.1:0", "-"}
			var recv, snd *proc
			var addr string
			if armSends {
				recv, addr = startRecv(t, src, out, recvArgs...)
				snd = startARM(t, arm6, src, nil, nil, "send", "--json", "-z", "auto", addr, path)
			} else {
				recv, addr = startARMRecv(t, arm6, src, out, recvArgs...)
				snd = start(t, src, nil, nil, "send", "--json", "-z", "auto", addr, path)
			}
			snd.expectWithin(bigGuard, 0)
			recv.expectWithin(bigGuard, 0)
			if got, want := hex.EncodeToString(sum.Sum(nil)), sourceSum(t); out.n != size || got != want {
				t.Errorf("recv - wrote %d bytes with sha256 %s, want %d bytes with sha256 %s", out.n, got, int64(size), want)
			}
			for _, p := range []*proc{snd, recv} {
				if got := p.event("file")["bytes"]; got != float64(size) {
					t.Errorf("ferry %s file event bytes = %v, want %d", p.name, got, int64(size))
				}
				if got := p.event("summary")["bytes"]; got != float64(size) {
					t.Errorf("ferry %s summary bytes = %v, want %d", p.name, got, int64(size))
				}
			}
			t.Logf("5 GiB %s in %v", name, time.Since(began).Round(time.Millisecond))
		})
	}
}

// countingHash is the stdout of a recv -: it hashes and counts what passes.
type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}
