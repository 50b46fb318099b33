package transfer

import (
	"fmt"
	"slices"

	"github.com/ferrytool/ferry/framing"
	"github.com/ferrytool/ferry/internal/names"
)

// checkOrder refuses the entry name if it does not come after prev, the
// entry before it, in tree order (see treeCompare).
func checkOrder(prev, name string) error {
	switch c := names.Compare(prev, name); {
	case c == 0:
		return withCode(framing.CodeBadName, fmt.Errorf("refusing file name %s: it was already sent in this transfer", names.Quote(name)))
	case c > 0:
		return withCode(framing.CodeBadName, fmt.Errorf("refusing file name %s: it comes after %s, out of the order the protocol requires (an older ferry send does not sort the paths it is given: update it, or name them in sorted order)", names.Quote(name), names.Quote(prev)))
	}
	return nil
}

// inTreeOrder returns sources in tree order, the order the protocol sends
// entries in: sources itself if they are in it already, as what Collect
// walked is when its paths were named in sorted order, else a sorted
// copy. Sources with the same name stay in their order, for the receiver
// to refuse the second.
func inTreeOrder(sources []Source) []Source {
	byName := func(a, b Source) int { return names.Compare(a.Name, b.Name) }
	if slices.IsSortedFunc(sources, byName) {
		return sources
	}
	sorted := slices.Clone(sources)
	slices.SortStableFunc(sorted, byName)
	return sorted
}
