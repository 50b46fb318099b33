package transfer

import (
	"slices"

	"github.com/ferrytool/ferry/internal/names"
)

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
