package guard

import (
	"net"
	"slices"
	"sync"
	"time"
)

// Conn is a connection a receiver serves, as far as the goroutine
// accepting connections may displace it.
type Conn struct {
	Conn   net.Conn
	Prefix string    // Prefix(Conn.RemoteAddr())
	Since  time.Time // when it was admitted
	// Stop, if set, is called when the connection is displaced, after it
	// is closed: to end waits that do not read from it, such as the wait
	// for a handshake's turn.
	Stop func()

	// Under Table.mu.
	greeted   bool // its hello came: a ferry sender's
	trusted   bool // its offer came, after the handshake in the encrypted mode
	displaced bool
	ended     bool // Receive returned: too late to displace
}

// Table is the connections a receiver serves.
type Table struct {
	mu    sync.Mutex
	conns []*Conn
}

// Add puts c in the table.
func (t *Table) Add(c *Conn) {
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
}

// Remove takes c out of the table.
func (t *Table) Remove(c *Conn) {
	t.mu.Lock()
	t.conns = slices.DeleteFunc(t.conns, func(o *Conn) bool { return o == c })
	t.mu.Unlock()
}

// Greet says c's hello came.
func (t *Table) Greet(c *Conn) {
	t.mu.Lock()
	c.greeted = true
	t.mu.Unlock()
}

// Trust says c's offer came: its sender passed the handshake, or in the
// plain mode got as far as a sender does, and c is displaced no more.
func (t *Table) Trust(c *Conn) {
	t.mu.Lock()
	c.trusted = true
	t.mu.Unlock()
}

// From counts the connections from prefix not yet displaced.
func (t *Table) From(prefix string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.conns {
		if c.Prefix == prefix && !c.displaced {
			n++
		}
	}
	return n
}

// Displace closes a connection whose offer has not come (see Trust) and
// that has waited at least after, and says whether it did: of prefix's if
// prefix is not "", else of the prefix holding the most connections, so a
// flood from one host makes room from its own. One that has sent nothing
// goes before one that sent its hello (waiting for its turn to run the
// handshake, or in it, or holding a plain connection without an offer),
// and among those the oldest. Without this, connections that send a valid
// hello and wait would hold every slot. A connection whose bytes have come
// but are not read yet counts as one that sent its hello: under load, a
// sender's goroutine may not have read it by the time a flood of silent
// connections has made it the oldest (up to maxPeeks are asked, so that a
// flood costs a few system calls a connection).
func (t *Table) Displace(prefix string, after time.Duration) bool {
	t.mu.Lock()
	held := make(map[string]int, len(t.conns))
	for _, c := range t.conns {
		if !c.displaced {
			held[c.Prefix]++
		}
	}
	var spoke []*Conn // not greeted, but bytes wait on them
	greeted := func(c *Conn) bool { return c.greeted || slices.Contains(spoke, c) }
	better := func(c, than *Conn) bool {
		switch {
		case than == nil:
			return true
		case greeted(c) != greeted(than):
			return !greeted(c)
		}
		return held[c.Prefix] > held[than.Prefix]
	}
	var victim *Conn
	for {
		victim = nil
		for _, c := range t.conns {
			if c.trusted || c.displaced || c.ended || time.Since(c.Since) < after || prefix != "" && c.Prefix != prefix {
				continue
			}
			if better(c, victim) {
				victim = c
			}
		}
		if victim == nil || greeted(victim) || len(spoke) == maxPeeks || !unread(victim.Conn) {
			break
		}
		spoke = append(spoke, victim)
	}
	if victim != nil {
		victim.displaced = true
	}
	t.mu.Unlock()
	if victim == nil {
		return false
	}
	_ = victim.Conn.Close()
	if victim.Stop != nil {
		victim.Stop()
	}
	return true
}

// maxPeeks bounds the connections one Displace asks for bytes not yet
// read.
const maxPeeks = 8

// End says Receive returned on c, and whether c was displaced before that.
func (t *Table) End(c *Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.ended = true
	return c.displaced
}
