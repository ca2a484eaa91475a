package main

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/autotel/autotel/collector/internal/cgroups"
)

// softLimitPercent is the share of the container's memory limit given to the
// Go runtime as its soft limit (GOMEMLIMIT). The rest is for memory the Go
// runtime does not count or cannot give back in time: the file_storage
// queue's memory-mapped pages, thread stacks, and the overshoot between two
// garbage collections. The Helm chart uses the same share.
const softLimitPercent = 80

// cgroupLimit is the memory limit the platform puts on this process.
type cgroupLimit struct {
	bytes int64
	file  string // where it was read, for the log line
}

// unlimited is cgroup v1's "no limit" (a page-rounded MaxInt64); anything
// this large is no limit either.
const unlimited = int64(1) << 60

// cgroupMemoryLimit finds the memory limit of the cgroup this process is in,
// under root (normally "/"; tests pass a fake tree). Both cgroup v2
// (memory.max) and v1 (memory.limit_in_bytes) are read; the lowest limit on
// the path from the process's cgroup up to the hierarchy's root counts, as
// the kernel enforces every one of them. found is false when no limit is set.
func cgroupMemoryLimit(root string) (lim cgroupLimit, found bool, err error) {
	procCgroup := filepath.Join(root, "proc", "self", "cgroup")
	f, err := os.Open(procCgroup)
	if err != nil {
		return cgroupLimit{}, false, fmt.Errorf("reading the process's cgroups: %w", err)
	}
	defer f.Close()
	v2Path, v1Path, err := cgroups.Paths(f)
	if err != nil {
		return cgroupLimit{}, false, fmt.Errorf("reading %s: %w", procCgroup, err)
	}
	mounts := filepath.Join(root, "sys", "fs", "cgroup")
	// v1 first: on a hybrid host the memory controller is v1's and the
	// unified hierarchy has no memory files for this process.
	if v1Path != "" {
		lim, found, err := lowestLimit(filepath.Join(mounts, "memory"), v1Path, "memory.limit_in_bytes")
		if err != nil || found {
			return lim, found, err
		}
	}
	if v2Path != "" {
		// Pure v2 mounts at /sys/fs/cgroup; hybrid hosts put it at .../unified.
		for _, mount := range []string{mounts, filepath.Join(mounts, "unified")} {
			lim, found, err := lowestLimit(mount, v2Path, "memory.max")
			if err != nil || found {
				return lim, found, err
			}
		}
	}
	return cgroupLimit{}, false, nil
}

// lowestLimit walks from mount/cgroupPath up to mount and returns the lowest
// limit in the named file. Inside a container with its own cgroup namespace
// the path is "/" and the container's limit is at the mount point itself;
// without one, the path may not exist under the mount, and the mount point
// (the container's view) is still read.
func lowestLimit(mount, cgroupPath, file string) (cgroupLimit, bool, error) {
	best := cgroupLimit{bytes: math.MaxInt64}
	found := false
	for p := path.Clean("/" + cgroupPath); ; p = path.Dir(p) {
		name := filepath.Join(mount, filepath.FromSlash(p), file)
		b, err := os.ReadFile(name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return cgroupLimit{}, false, fmt.Errorf("reading %s: %w", name, err)
		default:
			s := strings.TrimSpace(string(b))
			if s != "max" {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					return cgroupLimit{}, false, fmt.Errorf("%s holds %q, want a byte count or max: %w", name, s, err)
				}
				if n > 0 && n < unlimited && n < best.bytes {
					best, found = cgroupLimit{bytes: n, file: name}, true
				}
			}
		}
		if p == "/" {
			break
		}
	}
	return best, found, nil
}

// setSoftMemoryLimit gives the Go runtime a soft memory limit below the
// container's hard one when GOMEMLIMIT does not set one: without it the
// garbage collector only runs when the heap doubles, so a collector holding
// 300 MiB of live data may ask for 600 MiB and be OOM-killed at 512 MiB,
// losing whatever it held in memory. It returns what it did, for the log.
func setSoftMemoryLimit(root string, getenv func(string) string, set func(int64) int64) string {
	if v := getenv("GOMEMLIMIT"); v != "" {
		return fmt.Sprintf("Go soft memory limit from GOMEMLIMIT=%s", v)
	}
	lim, found, err := cgroupMemoryLimit(root)
	if err != nil {
		return fmt.Sprintf("GOMEMLIMIT unset and the cgroup memory limit unreadable (%v): no Go soft memory limit", err)
	}
	if !found {
		return "GOMEMLIMIT unset and no cgroup memory limit: no Go soft memory limit"
	}
	soft := lim.bytes / 100 * softLimitPercent
	set(soft)
	return fmt.Sprintf("GOMEMLIMIT unset: Go soft memory limit %d MiB, %d%% of the cgroup memory limit %d MiB (%s)",
		soft>>20, softLimitPercent, lim.bytes>>20, lim.file)
}
