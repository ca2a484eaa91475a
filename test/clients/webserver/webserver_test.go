// Package webserver runs the Apache HTTPD and Nginx init containers the
// injector adds, as the kubelet would: each container's environment built
// by the kubelet's rules from the mutated pod (kubeletenv), its command and
// args exactly as in the pod spec, its volumes bind-mounted at the pod's
// mount paths (sandbox). The agent image is a stand-in folder with the
// files the scripts read; the app image's configuration is a real file.
//
// It checks upstream v0.158's behaviour (#5333): an exporter endpoint
// written as http://$(OTEL_NODE_IP):4317 reaches the module configuration
// as the node's address, and (#4925) a configuration path is an argument
// the shell never parses.
package webserver_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/autotel/autotel/api/v1alpha1"
	"github.com/autotel/autotel/internal/instrumentation"
	"github.com/autotel/autotel/test/clients/clienttest"
	"github.com/autotel/autotel/test/clients/kubeletenv"
	"github.com/autotel/autotel/test/clients/sandbox"
)

const (
	webServerImage = "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-apache-httpd:1.0.4"
	// The module reads its log folder from this template.
	log4cxxTemplate = `<appender><param name="File" value="__agent_log_dir__/sdk.log"/></appender>`
)

// nodeIPInstrumentation is upstream's e2e Instrumentation for #5333: a
// collector DaemonSet reached at the node's address, no Service.
func nodeIPInstrumentation(name string) v1alpha1.Instrumentation {
	inst := v1alpha1.Instrumentation{ObjectMeta: metav1.ObjectMeta{Name: name}}
	inst.Spec.Env = []corev1.EnvVar{
		{Name: "OTEL_NODE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: "http://$(OTEL_NODE_IP):4317"},
	}
	inst.Spec.Exporter.Endpoint = "http://$(OTEL_NODE_IP):4317"
	inst.Spec.ApacheHttpd.Image = webServerImage
	inst.Spec.Nginx.Image = webServerImage
	return inst
}

// stage is one pod's volumes as host folders, and the agent image's files.
type stage struct {
	t       *testing.T
	root    string
	pod     *sandbox.Pod
	volumes map[string]string // volume name → host folder
}

func newStage(t *testing.T, s *clienttest.Scenario) *stage {
	t.Helper()
	pod, err := sandbox.NewPod()
	if err != nil {
		t.Fatalf("creating the pod sandbox: %v", err)
	}
	t.Cleanup(func() { pod.Close() })
	st := &stage{t: t, root: t.TempDir(), pod: pod, volumes: map[string]string{}}
	for _, v := range s.Mutated.Spec.Volumes {
		if v.EmptyDir == nil {
			t.Fatalf("volume %s is not an emptyDir; this test only stages emptyDirs", v.Name)
		}
		st.volumes[v.Name] = st.dir("volumes", v.Name)
	}
	return st
}

func (st *stage) dir(parts ...string) string {
	d := filepath.Join(append([]string{st.root}, parts...)...)
	if err := os.MkdirAll(d, 0o755); err != nil {
		st.t.Fatal(err)
	}
	return d
}

func (st *stage) write(path, content string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		st.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		st.t.Fatal(err)
	}
}

// run starts one init container of the mutated pod with the kubelet's
// environment (plus the image's PATH) and its volume mounts, plus the
// image's own folders, and fails the test unless it exits 0.
func (st *stage) run(s *clienttest.Scenario, name string, image []sandbox.Mount, imagePath string) {
	st.t.Helper()
	c := s.Container(st.t, name)
	env := s.Env(st.t, name) // fails on any $(VAR) left unexpanded
	env["PATH"] = imagePath
	mounts := slices.Clone(image)
	for _, m := range c.VolumeMounts {
		src, ok := st.volumes[m.Name]
		if !ok {
			st.t.Fatalf("container %s mounts %s, which the test did not stage", name, m.Name)
		}
		if m.SubPath != "" {
			src = filepath.Join(src, m.SubPath)
		}
		mounts = append(mounts, sandbox.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly})
	}
	var out bytes.Buffer
	p, err := st.pod.Start(sandbox.Container{
		Argv: slices.Concat(c.Command, c.Args), Env: kubeletenv.Environ(env),
		Mounts: mounts, Stdout: &out, Stderr: &out,
	})
	if err != nil {
		st.t.Fatalf("starting %s: %v", name, err)
	}
	if err := p.Wait(30 * time.Second); err != nil {
		st.t.Fatalf("%s failed: %v\n%s", name, err, out.String())
	}
}

// agentImage stands for the module image: /opt/opentelemetry holds what
// the scripts copy and read.
func (st *stage) agentImage() []sandbox.Mount {
	src := st.dir("agent-image")
	st.write(filepath.Join(src, "conf", "opentelemetry_sdk_log4cxx.xml.template"), log4cxxTemplate)
	st.write(filepath.Join(src, "WebServerModule", "Apache", "libmod_apache_otel.so"), "module")
	st.write(filepath.Join(src, "WebServerModule", "Nginx", "1.27.3", "ngx_http_opentelemetry_module.so"), "module")
	return []sandbox.Mount{{Source: src, Target: "/opt/opentelemetry", ReadOnly: true}}
}

func (st *stage) read(volume, file string) string {
	st.t.Helper()
	b, err := os.ReadFile(filepath.Join(st.volumes[volume], file))
	if err != nil {
		st.t.Fatalf("reading %s from volume %s: %v", file, volume, err)
	}
	return string(b)
}

func TestApacheNodeIPEndpointReachesModuleConfig(t *testing.T) {
	// A configuration folder whose name the shell would split and run if
	// it were pasted into the script (the CRD's pattern forbids it; the
	// injector must not rely on that).
	confDir := "/srv/my conf;touch PWNED"
	inst := nodeIPInstrumentation("apache")
	inst.Spec.ApacheHttpd.ConfigPath = confDir
	s := clienttest.Inject(t, clienttest.Workload{
		Namespace: "shop", Deployment: "httpd", PodTemplateHash: "7d9f8c6b5",
		Container:       corev1.Container{Name: "httpd", Image: "registry.example.com/shop/httpd:2.4.62"},
		Annotations:     map[string]string{"instrumentation.opentelemetry.io/inject-apache-httpd": "true"},
		Instrumentation: inst,
	})
	st := newStage(t, s)

	// The app image's configuration, where configPath says.
	appConf := st.dir("app-image-conf")
	st.write(filepath.Join(appConf, "httpd.conf"), "ServerRoot /usr/local/apache2\n")
	st.run(s, "otel-agent-source-container-clone", []sandbox.Mount{{Source: appConf, Target: confDir, ReadOnly: true}}, "/usr/bin:/bin")
	st.run(s, "otel-agent-attach-apache", st.agentImage(), "/usr/bin:/bin")

	conf := st.read("otel-apache-conf-dir", "opentemetry_agent.conf")
	t.Logf("rendered opentemetry_agent.conf:\n%s", conf)
	wantEndpoint := "ApacheModuleOtelExporterEndpoint http://" + s.Facts.HostIP + ":4317\n"
	if !strings.Contains(conf, wantEndpoint) {
		t.Errorf("module configuration lacks %q", wantEndpoint)
	}
	if strings.Contains(conf, "$(") {
		t.Errorf("module configuration keeps an unexpanded reference")
	}
	if want := "ApacheModuleServiceInstanceId " + s.Facts.Name + "\n"; !strings.Contains(conf, want) {
		t.Errorf("module configuration lacks %q (pod name from the downward API)", want)
	}
	httpd := st.read("otel-apache-conf-dir", "httpd.conf")
	if want := "ServerRoot /usr/local/apache2\n\nInclude " + confDir + "/opentemetry_agent.conf\n"; httpd != want {
		t.Errorf("httpd.conf = %q, want %q (the path verbatim, as one argument)", httpd, want)
	}
	log4cxx := st.read("otel-apache-agent", "conf/opentelemetry_sdk_log4cxx.xml")
	if !strings.Contains(log4cxx, `value="/opt/opentelemetry-webserver/agent/logs/sdk.log"`) {
		t.Errorf("log4cxx configuration = %q, want the agent's log folder", log4cxx)
	}
	// A pasted path would run `touch PWNED` in the process's folder: the
	// test's (the sandbox keeps it), or / in a real container.
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{cwd, st.root, "/"} {
		if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
			t.Errorf("the configuration path was run by the shell: %s/PWNED exists", dir)
		}
	}
}

func TestNginxNodeIPEndpointReachesModuleConfig(t *testing.T) {
	inst := nodeIPInstrumentation("nginx")
	// Only OTEL_NODE_IP injected by the operator this time: spec.env does
	// not define it, the endpoint still names it.
	inst.Spec.Env = nil
	inst.Spec.Nginx.ConfigFile = "/etc/nginx/nginx.conf"
	cfg := clienttest.Workload{
		Namespace: "shop", Deployment: "nginx", PodTemplateHash: "5c4b3a291",
		Container:       corev1.Container{Name: "nginx", Image: "registry.example.com/shop/nginx:1.27.3"},
		Annotations:     map[string]string{"instrumentation.opentelemetry.io/inject-nginx": "true"},
		Instrumentation: inst,
	}
	s := injectEnabled(t, cfg, instrumentation.Nginx)
	st := newStage(t, s)

	appConf := st.dir("app-image-nginx")
	st.write(filepath.Join(appConf, "nginx.conf"), "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n")
	if err := os.MkdirAll(filepath.Join(appConf, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	// `nginx -v` of the app image: the version banner on stderr.
	bin := st.dir("app-image-bin")
	st.write(filepath.Join(bin, "nginx"), "#!/bin/sh\necho 'nginx version: nginx/1.27.3' >&2\n")
	st.run(s, "otel-agent-source-container-clone", []sandbox.Mount{
		{Source: appConf, Target: "/etc/nginx", ReadOnly: true},
		{Source: bin, Target: "/app-bin", ReadOnly: true},
	}, "/app-bin:/usr/bin:/bin")
	if v := st.read("otel-nginx-conf-dir", "version.txt"); v != "1.27.3\n" {
		t.Fatalf("version.txt = %q, want the app's Nginx version", v)
	}
	st.run(s, "otel-agent-attach-nginx", st.agentImage(), "/usr/bin:/bin")

	conf := st.read("otel-nginx-conf-dir", "conf.d/opentelemetry_agent.conf")
	t.Logf("rendered conf.d/opentelemetry_agent.conf:\n%s", conf)
	if want := "NginxModuleOtelExporterEndpoint http://" + s.Facts.HostIP + ":4317;\n"; !strings.Contains(conf, want) {
		t.Errorf("module configuration lacks %q", want)
	}
	if strings.Contains(conf, "$(") {
		t.Errorf("module configuration keeps an unexpanded reference")
	}
	main := st.read("otel-nginx-conf-dir", "nginx.conf")
	want := "env OTEL_RESOURCE_ATTRIBUTES;\nload_module /opt/opentelemetry-webserver/agent/WebServerModule/Nginx/1.27.3/ngx_http_opentelemetry_module.so;\nevents {}\n"
	if !strings.HasPrefix(main, want) {
		t.Errorf("nginx.conf = %q, want it to start with %q", main, want)
	}
}

// injectEnabled is clienttest.Inject for a language the operator does not
// inject by default (Nginx): the same admitted pod and lookups, run
// through the injector with that language enabled.
func injectEnabled(t *testing.T, w clienttest.Workload, lang instrumentation.Language) *clienttest.Scenario {
	t.Helper()
	// clienttest.Inject runs the default configuration, where Nginx is
	// off; the same pod is built here with the language enabled.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: w.Namespace}}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: w.ReplicaSetName() + "-", Namespace: w.Namespace,
			Labels:      map[string]string{"app": w.Deployment, "pod-template-hash": w.PodTemplateHash},
			Annotations: w.Annotations,
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{*w.Container.DeepCopy()}},
	}
	inst := w.Instrumentation.DeepCopy()
	inst.Namespace = w.Namespace
	cfg := instrumentation.DefaultConfig()
	cfg.Enabled[lang] = true
	mutated, report := instrumentation.Mutator{Config: cfg}.Mutate(context.Background(), ns, pod,
		&instrumentation.StaticLookup{Instrumentations: []v1alpha1.Instrumentation{*inst}})
	if report.Outcome != instrumentation.OutcomeInjected {
		t.Fatalf("injector did not instrument the pod: %+v", report)
	}
	return &clienttest.Scenario{
		Workload: w, Namespace: ns, Admitted: pod, Mutated: mutated, Report: report,
		Facts: kubeletenv.PodFacts{Name: w.ReplicaSetName() + "-m4n8p", NodeName: "worker-2", PodIP: "10.244.2.9", HostIP: "192.0.2.21"},
	}
}
