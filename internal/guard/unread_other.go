//go:build !linux

package guard

import "net"

// unread says no where the bytes waiting on a socket are not asked for:
// Displace then takes a connection whose hello has come, unread, for a
// silent one.
func unread(net.Conn) bool { return false }
