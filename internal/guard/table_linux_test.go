package guard

import (
	"net"
	"testing"
	"time"
)

// TestDisplaceUnread checks that a connection whose bytes have come, not
// yet read, is displaced as one that sent its hello: after a silent one,
// however old, and only when no silent one is left.
func TestDisplaceUnread(t *testing.T) {
	tests := []struct {
		name  string
		wrote []bool // per connection, oldest first: its peer wrote bytes
		want  int
	}{
		{"a silent one before the oldest, which spoke", []bool{true, false}, 1},
		{"the oldest, when all spoke", []bool{true, true}, 0},
		{"the oldest, when all are silent", []bool{false, false}, 0},
		{"the one silent among many that spoke", []bool{true, true, true, false, true}, 3},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var table Table
			var cs []*Conn
			since := time.Now().Add(-time.Hour)
			for i, wrote := range tt.wrote {
				peer, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer peer.Close()
				mine, err := ln.Accept()
				if err != nil {
					t.Fatal(err)
				}
				defer mine.Close()
				if wrote {
					if _, err := peer.Write([]byte("hello")); err != nil {
						t.Fatal(err)
					}
					for deadline := time.Now().Add(10 * time.Second); !unread(mine); {
						if time.Now().After(deadline) {
							t.Fatal("the bytes written never showed as unread")
						}
					}
				}
				c := &Conn{Conn: mine, Prefix: "a", Since: since.Add(time.Duration(i) * time.Second)}
				table.Add(c)
				cs = append(cs, c)
			}
			if !table.Displace("", 0) {
				t.Fatal("Displace displaced none")
			}
			for i, c := range cs {
				if displaced := table.End(c); displaced != (i == tt.want) {
					t.Errorf("connection %d displaced: %v, want %v", i, displaced, i == tt.want)
				}
			}
		})
	}
}
