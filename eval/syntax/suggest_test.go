package syntax

import "testing"

func TestClosest(t *testing.T) {
	names := []string{"length", "total", "map", "filter", "x"}
	for _, tc := range []struct{ name, want string }{
		{"lenght", "length"}, // swap
		{"totl", "total"},    // deletion
		{"mapp", "map"},      // insertion
		{"Filter", "filter"}, // case
		{"fitler", "filter"},
		{"y", ""}, // one-letter names are too short to guess at
		{"zzzzzz", ""},
		{"length", ""}, // itself is not a suggestion
	} {
		if got := Closest(tc.name, names); got != tc.want {
			t.Errorf("Closest(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestProbe(t *testing.T) {
	known := map[string]bool{"List.length": true, "Int.pow": true, "toText": true}
	for _, tc := range []struct{ name, want string }{
		{"List.lenght", "List.length"},
		{"list.length", "List.length"},
		{"Int.Pow", "Int.pow"},
		{"Int.po", "Int.pow"},
		{"totext", "toText"},
		{"totxet", ""}, // two edits away: not probed
		{"toTxt", "toText"},
		{"nothing", ""},
	} {
		if got := Probe(tc.name, func(s string) bool { return known[s] }); got != tc.want {
			t.Errorf("Probe(%q) = %q, want %q", tc.name, got, tc.want)
		}
	}
}
