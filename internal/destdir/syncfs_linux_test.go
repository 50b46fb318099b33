package destdir

import "testing"

// TestKernelAtLeast checks the reading of kernel releases that decides
// whether syncfs can be trusted to report a failed write-back (5.8 on).
func TestKernelAtLeast(t *testing.T) {
	for _, tc := range []struct {
		release string
		want    bool
	}{
		{"5.8.0", true},
		{"5.7.19", false},
		{"5.10.103-v7+", true},
		{"6.1.0-rpi7-rpi-v8", true},
		{"6.18.44-fc-v782", true},
		{"4.19.97-v7l+", false},
		{"5.4.0-1069-raspi", false},
		{"5.8-rc1", true},
		{"10.0.0", true},
		{"5", false},
		{"", false},
		{"linux", false},
		{"x.8.0", false},
	} {
		t.Run(tc.release, func(t *testing.T) {
			if got := kernelAtLeast(tc.release, 5, 8); got != tc.want {
				t.Errorf("kernelAtLeast(%q, 5, 8) = %v, want %v", tc.release, got, tc.want)
			}
		})
	}
}
