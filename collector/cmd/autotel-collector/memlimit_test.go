package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeRoot lays out files (path relative to the fake root -> content).
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const mib = int64(1) << 20

func TestCgroupMemoryLimit(t *testing.T) {
	tests := []struct {
		name      string
		files     map[string]string
		wantBytes int64
		wantFile  string // suffix of the file the limit came from
		wantFound bool
	}{
		{
			name: "v2 in a container (own cgroup namespace)",
			files: map[string]string{
				"proc/self/cgroup":          "0::/\n",
				"sys/fs/cgroup/memory.max":  "536870912\n",
				"sys/fs/cgroup/cgroup.type": "domain\n",
			},
			wantBytes: 512 * mib, wantFile: "sys/fs/cgroup/memory.max", wantFound: true,
		},
		{
			name: "v2 host view: the lowest limit on the path wins",
			files: map[string]string{
				"proc/self/cgroup":                                     "0::/kubepods/burstable/pod1/ctr\n",
				"sys/fs/cgroup/memory.max":                             "max\n",
				"sys/fs/cgroup/kubepods/memory.max":                    "8589934592\n",
				"sys/fs/cgroup/kubepods/burstable/pod1/memory.max":     "1073741824\n",
				"sys/fs/cgroup/kubepods/burstable/pod1/ctr/memory.max": "max\n",
			},
			wantBytes: 1024 * mib, wantFile: "kubepods/burstable/pod1/memory.max", wantFound: true,
		},
		{
			name: "v2 unlimited",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "max\n",
			},
		},
		{
			name: "v1",
			files: map[string]string{
				"proc/self/cgroup":                                      "12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n0::/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes":            "9223372036854771712\n",
				"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": "268435456\n",
			},
			wantBytes: 256 * mib, wantFile: "memory/docker/abc/memory.limit_in_bytes", wantFound: true,
		},
		{
			name: "v1 unlimited (page-rounded MaxInt64)",
			files: map[string]string{
				"proc/self/cgroup":                           "3:memory:/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			},
		},
		{
			name: "hybrid: v1 memory controller, v2 unified without memory files",
			files: map[string]string{
				"proc/self/cgroup": "4:memory:/job\n0::/\n",
				"sys/fs/cgroup/memory/job/memory.limit_in_bytes": "402653184\n",
				"sys/fs/cgroup/unified/cgroup.procs":             "",
			},
			wantBytes: 384 * mib, wantFile: "memory/job/memory.limit_in_bytes", wantFound: true,
		},
		{
			name: "v2 mounted at unified on a hybrid host",
			files: map[string]string{
				"proc/self/cgroup":                     "0::/svc\n",
				"sys/fs/cgroup/unified/svc/memory.max": "134217728\n",
			},
			wantBytes: 128 * mib, wantFile: "unified/svc/memory.max", wantFound: true,
		},
		{
			name: "cgroup path not visible from here: the mount point's own limit",
			files: map[string]string{
				"proc/self/cgroup":         "0::/elsewhere/deep\n",
				"sys/fs/cgroup/memory.max": "209715200\n",
			},
			wantBytes: 200 * mib, wantFile: "sys/fs/cgroup/memory.max", wantFound: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim, found, err := cgroupMemoryLimit(fakeRoot(t, tt.files))
			if err != nil {
				t.Fatal(err)
			}
			if found != tt.wantFound || lim.bytes != tt.wantBytes && tt.wantFound {
				t.Fatalf("limit %d (found %v), want %d (found %v)", lim.bytes, found, tt.wantBytes, tt.wantFound)
			}
			if tt.wantFound && !strings.HasSuffix(filepath.ToSlash(lim.file), tt.wantFile) {
				t.Errorf("limit read from %s, want .../%s", lim.file, tt.wantFile)
			}
		})
	}
}

func TestCgroupMemoryLimitErrors(t *testing.T) {
	if _, _, err := cgroupMemoryLimit(t.TempDir()); err == nil || !strings.Contains(err.Error(), "cgroup") {
		t.Errorf("no /proc/self/cgroup: err %v, want one naming the cgroup file", err)
	}
	root := fakeRoot(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "lots\n",
	})
	if _, _, err := cgroupMemoryLimit(root); err == nil || !strings.Contains(err.Error(), "memory.max") {
		t.Errorf("garbage in memory.max: err %v, want one naming the file", err)
	}
}

func TestSetSoftMemoryLimit(t *testing.T) {
	limited := fakeRoot(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"sys/fs/cgroup/memory.max": "536870912\n",
	})
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "GOMEMLIMIT" {
				return v
			}
			return ""
		}
	}

	var got int64 = -1
	set := func(n int64) int64 { got = n; return 0 }
	msg := setSoftMemoryLimit(limited, env(""), set)
	if want := 512 * mib / 100 * 80; got != want {
		t.Errorf("soft limit %d, want %d (80%% of 512 MiB)", got, want)
	}
	if !strings.Contains(msg, "409 MiB") || !strings.Contains(msg, "512 MiB") || !strings.Contains(msg, "memory.max") {
		t.Errorf("log line %q does not say what it chose and from where", msg)
	}

	// GOMEMLIMIT set: the operator's choice stands; nothing is changed.
	got = -1
	msg = setSoftMemoryLimit(limited, env("300MiB"), set)
	if got != -1 || !strings.Contains(msg, "GOMEMLIMIT=300MiB") {
		t.Errorf("GOMEMLIMIT set: limit changed to %d, log %q", got, msg)
	}

	// No limit anywhere: nothing is set.
	unlimitedRoot := fakeRoot(t, map[string]string{"proc/self/cgroup": "0::/\n", "sys/fs/cgroup/memory.max": "max\n"})
	msg = setSoftMemoryLimit(unlimitedRoot, env(""), set)
	if got != -1 || !strings.Contains(msg, "no cgroup memory limit") {
		t.Errorf("unlimited: limit changed to %d, log %q", got, msg)
	}
}

func TestPrepareDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "queue", "ns")
	uid, gid := os.Getuid(), os.Getgid()
	if err := prepareDir([]string{dir, strconv.Itoa(uid) + ":" + strconv.Itoa(gid)}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 || !st.IsDir() {
		t.Errorf("%s: mode %v, want a 0700 directory", dir, st.Mode())
	}
	for _, bad := range [][]string{{dir}, {dir, "nobody"}, {dir, "1:x"}, {dir, "-1:0"}} {
		if err := prepareDir(bad); err == nil {
			t.Errorf("prepareDir(%q) succeeded", bad)
		}
	}
}
