package destdir

import (
	"fmt"
	"io/fs"

	"github.com/ferrytool/ferry/internal/names"
)

// Kind says why a destination refused an entry or a transfer, for a caller
// that must tell the cases apart (the receiver, which tells the sender a
// code for each).
type Kind int

// Kinds of refusal.
const (
	// Exists: the name is taken by an entry the transfer may not replace
	// without Options.Overwrite.
	Exists Kind = iota + 1
	// Conflict: the name is taken by an entry of the other kind, a
	// directory where a file comes or a file where a directory comes,
	// which Options.Overwrite does not replace either.
	Conflict
	// BadName: a name the destination does not take: reserved, out of
	// tree order, sent twice, differing only in case where the file
	// system ignores case, or with a link or a file in its way.
	BadName
	// TooMany: more entries, or more bytes of names, than one transfer may
	// have.
	TooMany
	// NoSpace: the file system has no room for the transfer.
	NoSpace
	// NotAFile: data written to a directory entry.
	NotAFile
)

// Error is a refusal of an entry or a transfer, of a kind (Exists,
// BadName, ...) the receiver maps to what it tells the sender.
type Error struct {
	Kind Kind
	Err  error
}

// Error gives the reason.
func (e *Error) Error() string { return e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// refusef is a refusal of kind, with a message made as by fmt.Errorf.
func refusef(kind Kind, format string, args ...any) error {
	return &Error{Kind: kind, Err: fmt.Errorf(format, args...)}
}

func existsError(name string) error {
	return &Error{Kind: Exists, Err: fmt.Errorf("%s already exists on the receiver", names.Quote(name))}
}

// unwrapPath drops the *fs.PathError wrapper so a message names the path once.
func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}
