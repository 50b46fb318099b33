//go:build unix && !linux

package fdfile

import (
	"errors"
	"time"
)

// Chtimes reports errors.ErrUnsupported: x/sys offers no futimens here,
// and futimes would drop the nanoseconds. Callers set the times by path.
func (*File) Chtimes(time.Time) error { return errors.ErrUnsupported }
