// Command delayline joins two network namespaces with a path that has a
// fixed one-way delay, an optional rate and a bounded drop-tail queue: the
// link the kernel's netem would give, for kernels built without it. It
// opens a TUN device in each namespace and forwards the IP packets read
// from one into the other, each after the time the modelled link would
// take to deliver it.
//
// Usage:
//
//	delayline [-delay 25ms] [-mbit 100] [-queue BYTES] [-loss P] NETNS:DEV NETNS:DEV
//
// NETNS is a name made by ip netns add (or a path to a namespace file);
// DEV is the TUN device to make there. Once both devices exist delayline
// prints "ready" on stdout; the caller then gives them addresses and sets
// them up. It runs until SIGINT or SIGTERM and then prints, per direction,
// the packets forwarded and dropped on stderr. Linux only; bench/links.sh
// runs it.
package main
