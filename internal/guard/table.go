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
	Since  time.Time // when it was accepted

	// Under Table.mu.
	greeted   bool // its hello came: a ferry sender's
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

// Displace closes a connection without its hello that has waited at least
// after, and says whether it did: of prefix's if prefix is not "", else of
// the prefix holding the most connections, so a flood from one host makes
// room from its own; the oldest among them.
func (t *Table) Displace(prefix string, after time.Duration) bool {
	t.mu.Lock()
	held := make(map[string]int, len(t.conns))
	for _, c := range t.conns {
		if !c.displaced {
			held[c.Prefix]++
		}
	}
	var victim *Conn
	for _, c := range t.conns {
		if c.greeted || c.displaced || c.ended || time.Since(c.Since) < after || prefix != "" && c.Prefix != prefix {
			continue
		}
		if victim == nil || held[c.Prefix] > held[victim.Prefix] {
			victim = c
		}
	}
	if victim != nil {
		victim.displaced = true
	}
	t.mu.Unlock()
	if victim == nil {
		return false
	}
	_ = victim.Conn.Close()
	return true
}

// End says Receive returned on c, and whether c was displaced before that.
func (t *Table) End(c *Conn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c.ended = true
	return c.displaced
}
