package cgroups

import (
	"strings"
	"testing"
)

func TestPaths(t *testing.T) {
	for _, tc := range []struct {
		name, in, v2, v1 string
	}{
		{"v2 only", "0::/kubepods/pod1/ctr\n", "/kubepods/pod1/ctr", ""},
		{"v1 only", "12:cpu,cpuacct:/a\n11:memory:/kubepods/x\n1:name=systemd:/s\n", "", "/kubepods/x"},
		{"hybrid", "11:memory:/m\n0::/u\n", "/u", "/m"},
		{"malformed lines skipped", "garbage\n\n7:pids:/p\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v2, v1, err := Paths(strings.NewReader(tc.in))
			if err != nil || v2 != tc.v2 || v1 != tc.v1 {
				t.Errorf("Paths = %q, %q, %v; want %q, %q", v2, v1, err, tc.v2, tc.v1)
			}
		})
	}
}
