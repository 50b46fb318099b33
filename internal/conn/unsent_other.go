//go:build !linux && !darwin

package conn

import "net"

// LimitUnsent does nothing where TCP_NOTSENT_LOWAT is not known: an abort
// frame behind a full send buffer on a slow link may then be lost, and
// the peer says the connection was lost instead.
func LimitUnsent(net.Conn) {}
