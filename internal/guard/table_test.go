package guard

import (
	"net"
	"testing"
	"time"
)

// TestTableDisplace checks which connection Displace closes: one whose
// offer has not come (untrusted), of the prefix asked for or else of the
// prefix holding the most, one without its hello before one with it, the
// oldest among them, and only one that has waited long enough.
func TestTableDisplace(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	type conn struct {
		prefix  string
		age     time.Duration // before now
		greeted bool
		trusted bool
	}
	tests := []struct {
		name   string
		conns  []conn
		prefix string
		after  time.Duration
		want   int // index of the connection displaced, or -1
	}{
		{"none", nil, "", 0, -1},
		{"the oldest without its hello", []conn{{"a", 3, false, false}, {"b", 2, false, false}, {"c", 1, false, false}}, "", 0, 0},
		{"one without its hello first", []conn{{"a", 3, true, false}, {"b", 2, false, false}}, "", 0, 1},
		{"then one with its hello, waiting", []conn{{"a", 3, true, false}, {"b", 2, true, false}}, "", 0, 0},
		{"never one trusted", []conn{{"a", 3, true, true}, {"b", 2, true, false}}, "", 0, 1},
		{"all trusted", []conn{{"a", 3, true, true}, {"b", 2, true, true}}, "", 0, -1},
		{"the prefix holding the most", []conn{{"a", 3, false, false}, {"b", 2, false, false}, {"b", 1, false, false}}, "", 0, 1},
		{"the prefix asked for", []conn{{"a", 3, false, false}, {"b", 2, false, false}, {"b", 1, false, false}}, "a", 0, 0},
		{"the prefix asked for has none", []conn{{"a", 3, true, true}, {"b", 2, false, false}}, "a", 0, -1},
		{"not yet long enough", []conn{{"a", 0, false, false}}, "", time.Minute, -1},
		{"long enough", []conn{{"a", 0, false, false}, {"b", 2 * time.Minute, false, false}}, "", time.Minute, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var table Table
			var cs []*Conn
			var peers []net.Conn
			now := time.Now()
			for _, c := range tt.conns {
				mine, theirs := net.Pipe()
				defer theirs.Close()
				peers = append(peers, theirs)
				since := now.Add(-c.age)
				if c.age > 0 && c.age < time.Minute {
					since = old.Add(-c.age) // old, and in the order of age
				}
				sc := &Conn{Conn: mine, Prefix: c.prefix, Since: since}
				table.Add(sc)
				if c.greeted {
					table.Greet(sc)
				}
				if c.trusted {
					table.Trust(sc)
				}
				cs = append(cs, sc)
			}
			got := table.Displace(tt.prefix, tt.after)
			if got != (tt.want >= 0) {
				t.Fatalf("Displace(%q, %v) = %v, want %v", tt.prefix, tt.after, got, tt.want >= 0)
			}
			for i, c := range cs {
				if displaced := table.End(c); displaced != (i == tt.want) {
					t.Errorf("connection %d displaced: %v, want %v", i, displaced, i == tt.want)
				}
			}
			if tt.want >= 0 {
				// Its peer sees the connection closed.
				if _, err := peers[tt.want].Read(make([]byte, 1)); err == nil {
					t.Errorf("the displaced connection's peer read on")
				}
			}
		})
	}
}

// TestTableFrom checks that a prefix's count leaves out the connections
// displaced, which are on their way out.
func TestTableFrom(t *testing.T) {
	var table Table
	for range 3 {
		mine, theirs := net.Pipe()
		defer theirs.Close()
		table.Add(&Conn{Conn: mine, Prefix: "a"})
	}
	if n := table.From("a"); n != 3 {
		t.Fatalf("From(a) = %d, want 3", n)
	}
	if !table.Displace("a", 0) {
		t.Fatal("Displace(a) found none")
	}
	if n := table.From("a"); n != 2 {
		t.Errorf("From(a) after a displacement = %d, want 2", n)
	}
	if n := table.From("b"); n != 0 {
		t.Errorf("From(b) = %d, want 0", n)
	}
}
