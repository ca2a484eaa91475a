package clienttest

import (
	"bytes"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/autotel/autotel/test/clients/sandbox"
)

// ImagePath is the PATH a runtime gives the samples' and agents' images.
const ImagePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// InRoot is argv run with root as its root directory and wd (a path in
// the image) as its working directory, as a container runtime starts a
// container's process: the command and its arguments stay as the pod spec
// gives them. nsenter opens both folders before it changes root, so wd is
// named by its path on the machine.
func InRoot(root, wd string, argv ...string) []string {
	return append([]string{"nsenter", "--root=" + root, "--wd=" + filepath.Join(root, wd), "--"}, argv...)
}

// RuntimeMounts is what a runtime mounts in every container of an image
// unpacked at root: /proc (psutil, which the system-metrics instrumentation
// loads, fails without it, and a failing instrumentor stops the loading of
// those after it) and /dev.
func RuntimeMounts(root string) []sandbox.Mount {
	return []sandbox.Mount{{Source: "/proc", Target: filepath.Join(root, "proc")}, {Source: "/dev", Target: filepath.Join(root, "dev")}}
}

// Volume is the injected emptyDir volume, a folder on the machine.
type Volume struct {
	Name, Dir string
}

// MountsOf are c's mounts of the volume, inside the root filesystem at
// root; a mount of any other volume fails the test.
func (v Volume) MountsOf(t *testing.T, c *corev1.Container, root string) []sandbox.Mount {
	t.Helper()
	var mounts []sandbox.Mount
	for _, m := range c.VolumeMounts {
		if m.Name != v.Name {
			t.Fatalf("container %s mounts volume %s, which this test does not provide", c.Name, m.Name)
		}
		mounts = append(mounts, sandbox.Mount{Source: v.Dir, Target: filepath.Join(root, m.MountPath), ReadOnly: m.ReadOnly})
	}
	return mounts
}

// RunInit runs the mutated pod's init container name verbatim (e.g.
// `cp -r /autoinstrumentation/. <volume>`) in the image unpacked at
// agentRoot, with the injected volume (named as the init container) on a
// fresh folder, and returns that volume for the app container's mounts.
func RunInit(t *testing.T, pod *sandbox.Pod, s *Scenario, name, agentRoot string) Volume {
	t.Helper()
	v := Volume{Name: name, Dir: t.TempDir()}
	initC := s.Container(t, name)
	var out bytes.Buffer
	p, err := pod.Start(sandbox.Container{
		Argv:   InRoot(agentRoot, initC.WorkingDir, append(slices.Clone(initC.Command), initC.Args...)...),
		Env:    ProcessEnv(s.Env(t, initC.Name), ImagePath, "/root"),
		Mounts: append(RuntimeMounts(agentRoot), v.MountsOf(t, initC, agentRoot)...),
		Stdout: &out, Stderr: &out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(2 * time.Minute); err != nil {
		t.Fatalf("init container %v: %v\n%s", initC.Command, err, out.String())
	}
	return v
}
