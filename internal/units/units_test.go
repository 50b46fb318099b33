package units

import "testing"

func TestBytes(t *testing.T) {
	tests := []struct {
		name string
		n    int64
		want string
	}{
		{"zero", 0, "0 B"},
		{"below a kilobyte", 999, "999 B"},
		{"a kilobyte", 1000, "1.0 kB"},
		{"a mebibyte in decimal", 1 << 20, "1.0 MB"},
		{"one and a half gigabytes", 1_500_000_000, "1.5 GB"},
		{"the largest", 1<<63 - 1, "9.2 EB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Bytes(tt.n); got != tt.want {
				t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
}
