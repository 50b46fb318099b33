package transfer

import (
	"fmt"
	"slices"
	"testing"
)

// TestInTreeOrder: sources in tree order already are sent as they are,
// without a copy; others are sorted in a copy, the caller's slice left
// alone, and sources of the same name kept in their order.
func TestInTreeOrder(t *testing.T) {
	src := func(names ...string) []Source {
		var s []Source
		for i, n := range names {
			s = append(s, Source{Name: n, Size: int64(i)})
		}
		return s
	}
	sorted := src("a", "a/b", "a/c", "a-b", "b")
	if got := inTreeOrder(sorted); &got[0] != &sorted[0] {
		t.Errorf("inTreeOrder copied sources already in order")
	}
	given := src("b", "a-b", "a/c", "a", "a-b")
	got := inTreeOrder(given)
	var names []string
	for _, s := range got {
		names = append(names, fmt.Sprintf("%s#%d", s.Name, s.Size))
	}
	if want := []string{"a#3", "a/c#2", "a-b#1", "a-b#4", "b#0"}; !slices.Equal(names, want) {
		t.Errorf("inTreeOrder = %q, want %q", names, want)
	}
	if given[0].Name != "b" || given[3].Name != "a" {
		t.Errorf("inTreeOrder sorted the caller's slice: %v", given)
	}
}
