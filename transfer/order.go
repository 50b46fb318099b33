package transfer

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/ferrytool/ferry/framing"
)

// treeCompare orders entry names as the protocol requires them to arrive:
// element by element, elements compared as bytes, a name before the names
// below it. A depth-first walk that lists each directory's names sorted,
// a directory before what is in it, yields this order; in it everything
// below a directory comes right after it, before its next sibling, so a
// receiver need only remember the directories on the current path, and a
// name sent twice arrives right after itself. It is the byte order of the
// names with "/" taken as lower than any other byte.
func treeCompare(a, b string) int {
	n := min(len(a), len(b))
	for i := range n {
		x, y := a[i], b[i]
		switch {
		case x == y:
			continue
		case x == '/':
			return -1
		case y == '/':
			return 1
		}
		return cmp.Compare(x, y)
	}
	return cmp.Compare(len(a), len(b))
}

// checkOrder refuses the entry name if it does not come after prev, the
// entry before it, in tree order (see treeCompare).
func checkOrder(prev, name string) error {
	switch c := treeCompare(prev, name); {
	case c == 0:
		return withCode(framing.CodeBadName, fmt.Errorf("refusing file name %s: it was already sent in this transfer", Quote(name)))
	case c > 0:
		return withCode(framing.CodeBadName, fmt.Errorf("refusing file name %s: it comes after %s, out of the order the protocol requires (an older ferry send does not sort the paths it is given: update it, or name them in sorted order)", Quote(name), Quote(prev)))
	}
	return nil
}

// inTreeOrder returns sources in tree order, the order the protocol sends
// entries in: sources itself if they are in it already, as what Collect
// walked is when its paths were named in sorted order, else a sorted
// copy. Sources with the same name stay in their order, for the receiver
// to refuse the second.
func inTreeOrder(sources []Source) []Source {
	byName := func(a, b Source) int { return treeCompare(a.Name, b.Name) }
	if slices.IsSortedFunc(sources, byName) {
		return sources
	}
	sorted := slices.Clone(sources)
	slices.SortStableFunc(sorted, byName)
	return sorted
}
