package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/autotel/autotel/collector/internal/cgroups"
)

// memCgroup is a parent under which each slow-store run gets its own memory
// cgroup with the container's limit, nested under this process's own cgroup
// (so the machine's hierarchy outside it is left alone). cgroup v1 (a
// memory controller of its own) and v2 are supported; v2 needs the memory
// controller delegated to a cgroup this process may create children in.
type memCgroup struct {
	kind  string // "v1" or "v2"
	base  string // directory children are created in
	limit int64
}

type memCgroupRun struct {
	cg    *memCgroup
	dir   string
	procs string
}

var cgroupSeq atomic.Int32

// newMemCgroup returns nil when no memory cgroup can be made here.
func newMemCgroup(limit int64) *memCgroup {
	if os.Geteuid() != 0 {
		return nil
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	defer f.Close()
	v2, v1, err := cgroups.Paths(f)
	if err != nil {
		return nil
	}
	candidates := []*memCgroup{}
	if v1 != "" {
		candidates = append(candidates, &memCgroup{kind: "v1", base: filepath.Join("/sys/fs/cgroup/memory", v1), limit: limit})
	}
	if v2 != "" {
		candidates = append(candidates, &memCgroup{kind: "v2", base: filepath.Join("/sys/fs/cgroup", v2), limit: limit})
	}
	for _, c := range candidates {
		// Probe: a child must take the limit and this shell's pid.
		run := c.child()
		if run == nil {
			continue
		}
		run.remove()
		return c
	}
	return nil
}

func (c *memCgroup) child() *memCgroupRun {
	dir := filepath.Join(c.base, fmt.Sprintf("autotel-bench-%d-%d", os.Getpid(), cgroupSeq.Add(1)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil
	}
	limitFile := "memory.limit_in_bytes"
	if c.kind == "v2" {
		limitFile = "memory.max"
	}
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(c.limit, 10)), 0o644); err != nil {
		_ = os.Remove(dir)
		return nil
	}
	if c.kind == "v1" {
		// No swap either: over the limit is an OOM kill, as in a pod.
		_ = os.WriteFile(filepath.Join(dir, "memory.memsw.limit_in_bytes"), []byte(strconv.FormatInt(c.limit, 10)), 0o644)
	}
	return &memCgroupRun{cg: c, dir: dir, procs: filepath.Join(dir, "cgroup.procs")}
}

// peak is the cgroup's memory high-water mark (anonymous memory and page
// cache charged to it).
func (r *memCgroupRun) peak() int64 {
	file := "memory.max_usage_in_bytes"
	if r.cg.kind == "v2" {
		file = "memory.peak"
	}
	b, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		return -1
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// oomKills counts processes the kernel killed for going over the limit.
func (r *memCgroupRun) oomKills() int64 {
	file, key := "memory.oom_control", "oom_kill "
	if r.cg.kind == "v2" {
		file, key = "memory.events", "oom_kill "
	}
	b, err := os.ReadFile(filepath.Join(r.dir, file))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// remove deletes the cgroup once its processes are gone.
func (r *memCgroupRun) remove() { _ = os.Remove(r.dir) }
