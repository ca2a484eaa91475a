// Package cgroups reads which cgroups a process is in, for the collector's
// own memory limit and for the benchmark that runs collectors inside one.
package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"strings"
)

// Paths parses /proc/<pid>/cgroup ("hierarchy-ID:controller-list:path" per
// line) and returns the process's path in the unified (v2) hierarchy and in
// the v1 memory controller's; either is "" when the host has no such
// hierarchy.
func Paths(r io.Reader) (v2, v1Memory string, err error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Memory = parts[2]
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("reading cgroup list: %w", err)
	}
	return v2, v1Memory, nil
}
