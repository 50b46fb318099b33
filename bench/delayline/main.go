//go:build linux

package main

import (
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	delay := flag.Duration("delay", 25*time.Millisecond, "one-way `delay` of each direction")
	mbit := flag.Float64("mbit", 0, "rate of each direction in Mbit/s of IP packets; 0 = as fast as forwarding goes, with no queue")
	queue := flag.Int64("queue", 0, "drop-tail queue of each direction in `bytes` (default: the path's bandwidth-delay product, at least 64 KiB)")
	loss := flag.Float64("loss", 0, "probability that a packet is lost on the wire, 0 to 1")
	slots := flag.Int("slots", 16384, "packets each direction holds in flight; one more is dropped")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: delayline [flags] NETNS:DEV NETNS:DEV\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if *mbit < 0 || *loss < 0 || *loss > 1 || *slots < 1 || *delay < 0 {
		fatalf("-mbit, -delay and -loss may not be negative, -loss is at most 1, -slots at least 1")
	}
	bitrate := int64(*mbit * 1e6)
	if *queue == 0 {
		*queue = max(int64(float64(bitrate)/8*(2*delay.Seconds())), 64<<10)
	}
	if *queue < 2048 {
		fatalf("-queue %d holds no full packet; give at least 2048 bytes", *queue)
	}

	var tuns [2]*os.File
	for i, arg := range flag.Args() {
		ns, dev, ok := strings.Cut(arg, ":")
		if !ok || ns == "" || dev == "" {
			fatalf("%q: want NETNS:DEV", arg)
		}
		f, err := openTUN(ns, dev)
		if err != nil {
			fatalf("%v", err)
		}
		tuns[i] = f
	}

	dirs := [2]*direction{
		{name: flag.Arg(0) + " -> " + flag.Arg(1)},
		{name: flag.Arg(1) + " -> " + flag.Arg(0)},
	}
	for i, d := range dirs {
		d.link = link{bitrate: bitrate, delay: *delay, limit: *queue, loss: *loss, rng: rand.New(rand.NewPCG(uint64(i)+1, 18))}
		d.fifo = make(chan packet, *slots)
		go d.read(tuns[i])
		go d.write(tuns[1-i])
	}
	fmt.Println("ready")

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	for _, d := range dirs {
		d.report()
	}
	// What the emulation cost, beside the packets it moved, so a run can
	// tell whether the delay line kept up.
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		fmt.Fprintf(os.Stderr, "delayline: %v CPU (user+sys) in all\n", cpu.Round(time.Millisecond))
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "delayline: "+format+"\n", args...)
	os.Exit(1)
}

// openTUN makes the TUN device dev in the network namespace ns. A device
// belongs to the namespace its /dev/net/tun was opened in, so the open runs
// on a thread moved into ns; that thread is never unlocked, so the runtime
// retires it instead of running other goroutines in the wrong namespace.
func openTUN(ns, dev string) (*os.File, error) {
	if !strings.Contains(ns, "/") {
		ns = "/run/netns/" + ns
	}
	type result struct {
		f   *os.File
		err error
	}
	done := make(chan result)
	go func() {
		runtime.LockOSThread()
		f, err := openTUNHere(ns, dev)
		done <- result{f, err}
	}()
	r := <-done
	return r.f, r.err
}

func openTUNHere(ns, dev string) (*os.File, error) {
	nsfd, err := unix.Open(ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("network namespace %s: %w (make it with ip netns add)", ns, err)
	}
	defer unix.Close(nsfd)
	if err := unix.Setns(nsfd, unix.CLONE_NEWNET); err != nil {
		return nil, fmt.Errorf("entering network namespace %s: %w (run as root)", ns, err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("/dev/net/tun: %w (modprobe tun, and run as root)", err)
	}
	ifr, err := unix.NewIfreq(dev)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("device name %q: %w", dev, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("making TUN device %s in %s: %w", dev, ns, err)
	}
	// Non-blocking, the descriptor joins the runtime's poller, so a
	// reader waiting for a packet holds no thread.
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+dev), nil
}

// A packet waits in a direction's FIFO until it is due at the far end.
type packet struct {
	buf *[]byte
	n   int
	due time.Time
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 65536); return &b }}

// A direction forwards the packets of one TUN device into the other.
type direction struct {
	name string
	link link // used by read alone
	fifo chan packet

	packets, bytes         atomic.Int64
	queueFull, lost, slots atomic.Int64
	writeErrs              atomic.Int64
	lateSum, lateMax       atomic.Int64 // nanoseconds after due that packets went out
}

func (d *direction) read(src *os.File) {
	for {
		b := bufs.Get().(*[]byte)
		n, err := src.Read(*b)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			fatalf("reading %s: %v", src.Name(), err)
		}
		due, v := d.link.admit(time.Now(), n)
		switch v {
		case queueFull:
			d.queueFull.Add(1)
		case lost:
			d.lost.Add(1)
		}
		if v != delivered {
			bufs.Put(b)
			continue
		}
		select {
		case d.fifo <- packet{b, n, due}:
		default:
			d.slots.Add(1)
			bufs.Put(b)
		}
	}
}

func (d *direction) write(dst *os.File) {
	for p := range d.fifo {
		if wait := time.Until(p.due); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := dst.Write((*p.buf)[:p.n]); err != nil {
			d.writeErrs.Add(1)
		} else {
			d.packets.Add(1)
			d.bytes.Add(int64(p.n))
		}
		late := int64(time.Since(p.due))
		d.lateSum.Add(late)
		if late > d.lateMax.Load() {
			d.lateMax.Store(late)
		}
		bufs.Put(p.buf)
	}
}

func (d *direction) report() {
	n := d.packets.Load()
	mean := time.Duration(0)
	if n > 0 {
		mean = time.Duration(d.lateSum.Load() / n)
	}
	fmt.Fprintf(os.Stderr, "delayline %s: %d packets %d bytes forwarded; dropped: %d queue full, %d lost, %d no slot; %d write errors; late by %v mean, %v max\n",
		d.name, n, d.bytes.Load(), d.queueFull.Load(), d.lost.Load(), d.slots.Load(), d.writeErrs.Load(),
		mean.Round(time.Microsecond), time.Duration(d.lateMax.Load()).Round(time.Microsecond))
}
