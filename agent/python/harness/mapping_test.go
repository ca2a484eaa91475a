package harness

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/autotel/autotel/agent/python/harness/receiver"
	"github.com/autotel/autotel/agent/python/harness/webhookenv"
)

var otelAPIStub = mustAbs("testdata/otelapi")

// runMapping runs mapping_app.py in a pod and returns its records by
// their "case" attribute.
func runMapping(t *testing.T, manifest string) ([]receiver.Record, *receiver.Receiver) {
	t.Helper()
	rcv := startReceiver(t)
	p := newPod(t, podSpec{
		manifest: strings.ReplaceAll(manifest, "RECEIVER", rcv.URL()),
		// The app's own PYTHONPATH (the OpenTelemetry API stand-in): the
		// webhook keeps it between its two folders.
		containerEnv: env("PYTHONPATH", otelAPIStub),
	})
	app := startProc(t, p, appsDir, python, "mapping_app.py")
	app.wait(30 * time.Second)
	if app.err != nil {
		t.Fatalf("mapping_app.py: %v", app.err)
	}
	recs := rcv.Records()
	checkDecoded(t, rcv)
	checkResource(t, p, recs)
	return recs, rcv
}

func byCase(t *testing.T, recs []receiver.Record, c string) []receiver.Record {
	t.Helper()
	out := filter(recs, func(r receiver.Record) bool { return r.Str("case") == c })
	if len(out) == 0 {
		t.Fatalf("no record for case %q", c)
	}
	return out
}

func checkMapping(t *testing.T, recs []receiver.Record, encoding string, gzip bool) {
	t.Helper()
	for _, r := range recs {
		if r.Encoding != encoding || r.Gzip != gzip {
			t.Fatalf("record sent as %s gzip=%v, want %s gzip=%v", r.Encoding, r.Gzip, encoding, gzip)
		}
		if r.Scope != "mapping" {
			t.Errorf("scope %q, want the logger name", r.Scope)
		}
		if r.TimeUnixNano == 0 || r.ObservedUnixNano < r.TimeUnixNano {
			t.Errorf("timestamps %d observed %d", r.TimeUnixNano, r.ObservedUnixNano)
		}
	}

	// levelno -> SeverityNumber/Text as the OpenTelemetry logging handler maps them.
	want := map[int64]struct {
		num  int32
		text string
	}{
		5: {0, "Level 5"}, 10: {5, "DEBUG"}, 11: {6, "Level 11"}, 13: {8, "Level 13"}, 15: {8, "Level 15"},
		20: {9, "INFO"}, 22: {11, "Level 22"}, 25: {12, "Level 25"}, 30: {13, "WARN"}, 31: {14, "Level 31"},
		35: {16, "Level 35"}, 40: {17, "ERROR"}, 43: {20, "Level 43"}, 45: {20, "Level 45"}, 50: {21, "FATAL"},
		53: {24, "Level 53"}, 55: {24, "Level 55"},
	}
	levels := byCase(t, recs, "level")
	if len(levels) != len(want) {
		t.Errorf("%d level records, want %d", len(levels), len(want))
	}
	for _, r := range levels {
		lv, _ := r.Attributes["lv"].(int64)
		w := want[lv]
		if r.SeverityNumber != w.num || r.SeverityText != w.text {
			t.Errorf("level %d: severity %d %q, want %d %q", lv, r.SeverityNumber, r.SeverityText, w.num, w.text)
		}
	}

	if r := byCase(t, recs, "args")[0]; r.Body != "text args 7" || r.SeverityText != "WARN" {
		t.Errorf("args: body %q %q", r.Body, r.SeverityText)
	}
	if r := byCase(t, recs, "dict-body")[0]; !reflect.DeepEqual(r.Body, map[string]any{"structured": true, "n": int64(3)}) {
		t.Errorf("dict body: %#v", r.Body)
	}
	if r := byCase(t, recs, "object-body")[0]; r.Body != "weird-object" {
		t.Errorf("object body: %#v", r.Body)
	}

	typed := byCase(t, recs, "types")[0].Attributes
	wantAttrs := map[string]any{
		"s": "str", "i": int64(-42), "big": "1180591620717411303424", "f": 1.5, "t": true, "fz": false,
		"zero": int64(0), "empty": "", "b": []byte{0, 1}, "l": []any{int64(1), "two", 3.0},
		"d": map[string]any{"k": "v", "n": int64(1)}, "o": "weird-object",
	}
	for k, v := range wantAttrs {
		if !reflect.DeepEqual(typed[k], v) {
			t.Errorf("extra %q: got %#v, want %#v", k, typed[k], v)
		}
	}
	if v, ok := typed["none"]; !ok || v != nil {
		t.Errorf("extra none: %#v present=%v", v, ok)
	}
	for _, reserved := range []string{"msg", "args", "levelname", "pathname", "thread", "process", "exc_info", "taskName"} {
		if _, ok := typed[reserved]; ok {
			t.Errorf("LogRecord field %q exported as an attribute", reserved)
		}
	}
	if typed["code.function.name"] != "<module>" || !strings.HasSuffix(typed["code.file.path"].(string), "mapping_app.py") {
		t.Errorf("code attributes %v %v", typed["code.function.name"], typed["code.file.path"])
	}
	if _, ok := typed["code.line.number"].(int64); !ok {
		t.Errorf("code.line.number %#v", typed["code.line.number"])
	}

	if r := byCase(t, recs, "unicode")[0]; r.Body != "unicode \u00e9\u4e2d\U0001F600 \\udcff" {
		t.Errorf("unicode body %q", r.Body)
	}

	ex := byCase(t, recs, "exception")[0]
	if ex.Str("exception.type") != "KeyError" || ex.Str("exception.message") != "missing-key" ||
		!strings.Contains(ex.Str("exception.stacktrace"), "KeyError: 'missing-key'") ||
		!strings.HasPrefix(ex.Str("exception.stacktrace"), "Traceback (most recent call last):") {
		t.Errorf("exception attributes %v", ex.Attributes)
	}

	span := byCase(t, recs, "span")[0]
	if span.TraceID != "0102030405060708090a0b0c0d0e0f10" || span.SpanID != "1112131415161718" || span.Flags != 1 {
		t.Errorf("span record ids %q %q flags %d", span.TraceID, span.SpanID, span.Flags)
	}
	for _, c := range []string{"no-span", "types", "args"} {
		if r := byCase(t, recs, c)[0]; r.TraceID != "" || r.SpanID != "" {
			t.Errorf("%s: ids outside a span: %q %q", c, r.TraceID, r.SpanID)
		}
	}
}

const mappingManifest = `apiVersion: opentelemetry.io/v1alpha1
kind: Instrumentation
metadata:
  name: python
spec:
  exporter:
    endpoint: RECEIVER
  python:
    image: ` + agentImage + `
`

func TestMappingProtobuf(t *testing.T) {
	recs, _ := runMapping(t, mappingManifest)
	checkMapping(t, recs, "protobuf", false)
}

func TestMappingJSONGzip(t *testing.T) {
	recs, rcv := runMapping(t, mappingManifest+`    env:
      - name: OTEL_EXPORTER_OTLP_PROTOCOL
        value: http/json
      - name: OTEL_EXPORTER_OTLP_COMPRESSION
        value: gzip
      - name: OTEL_EXPORTER_OTLP_HEADERS
        value: "x-tenant=team%20a,authorization=Bearer abc"
`)
	checkMapping(t, recs, "json", true)
	for _, req := range rcv.Requests() {
		if req.Header.Get("X-Tenant") != "team a" || req.Header.Get("Authorization") != "Bearer abc" {
			t.Errorf("headers %v", req.Header)
		}
	}
}

// TestAttributeLimits: OTEL_LOGRECORD_ATTRIBUTE_* limits truncate and
// drop, and the record says how many attributes it lost.
func TestAttributeLimits(t *testing.T) {
	recs, _ := runMapping(t, mappingManifest+`    env:
      - name: OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT
        value: "3"
      - name: OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT
        value: "2"
`)
	// The value limit also cuts the "case" attribute: find the record by body.
	typed := filter(recs, func(r receiver.Record) bool { return r.Body == "types" })
	if len(typed) != 1 {
		t.Fatalf("%d records with body types", len(typed))
	}
	r := typed[0]
	if len(r.Attributes) != 3 || r.DroppedAttributes == 0 {
		t.Errorf("attributes %v dropped %d", r.Attributes, r.DroppedAttributes)
	}
	if r.Str("s") != "st" {
		t.Errorf("value length limit: s=%q", r.Str("s"))
	}
}

// TestChainsAppSitecustomize: an app that has its own sitecustomize on its
// PYTHONPATH keeps it (ours runs first, then chains to it).
func TestChainsAppSitecustomize(t *testing.T) {
	rcv := startReceiver(t)
	appPath := t.TempDir()
	if err := os.WriteFile(filepath.Join(appPath, "sitecustomize.py"),
		[]byte("import os\nprint('app sitecustomize ran', __name__)\nos.environ['APP_SITE'] = 'yes'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPod(t, podSpec{
		manifest:     seedInstrumentation(rcv.URL()),
		containerEnv: env("PYTHONPATH", appPath),
	})
	app := startProc(t, p, appPath, python, "-c",
		"import logging, os, sitecustomize; logging.getLogger('chain').warning('site=%s file=%s', os.environ.get('APP_SITE'), sitecustomize.__file__)")
	app.wait(20 * time.Second)
	if app.err != nil {
		t.Fatal(app.err)
	}
	if !strings.Contains(app.stdout.String(), "app sitecustomize ran sitecustomize") {
		t.Errorf("the app's sitecustomize did not run: %q", app.stdout.String())
	}
	recs, _ := rcv.WaitFor(10*time.Second, func(r []receiver.Record) bool { return len(r) > 0 })
	want := "site=yes file=" + filepath.Join(appPath, "sitecustomize.py")
	if len(recs) != 1 || recs[0].BodyString() != want {
		t.Errorf("records %v, want one %q", recs, want)
	}
	// lastResort still prints the warning: the app configured no logging.
	if !strings.Contains(app.stderr.String(), want+"\n") {
		t.Errorf("stderr lost the unconfigured app's warning: %q", app.stderr.String())
	}
}

// TestWebhookEnvironment pins what the harness takes from the webhook, so
// a change in injection shows up here first.
func TestWebhookEnvironment(t *testing.T) {
	inst, err := webhookenv.ParseInstrumentation([]byte(seedInstrumentation("http://otel-collector:4318")))
	if err != nil {
		t.Fatal(err)
	}
	for _, platform := range []string{"", "musl"} {
		w := webhookenv.Seed()
		w.Platform = platform
		inj, err := webhookenv.Inject(inst, w)
		if err != nil {
			t.Fatal(err)
		}
		src := "/autoinstrumentation/."
		if platform == "musl" {
			src = "/autoinstrumentation-musl/."
		}
		if want := []string{"cp", "-r", src, webhookenv.MountPath}; !reflect.DeepEqual(inj.InitCommand, want) {
			t.Errorf("%q: init command %v, want %v", platform, inj.InitCommand, want)
		}
		resolved, err := webhookenv.Resolve(inj.Env, w)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, kv := range resolved {
			k, v, _ := strings.Cut(kv, "=")
			got[k] = v
		}
		for k, v := range map[string]string{
			"PYTHONPATH":                  webhookenv.MountPath + "/opentelemetry/instrumentation/auto_instrumentation:" + webhookenv.MountPath,
			"OTEL_SERVICE_NAME":           "sample",
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector:4318",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_LOGS_EXPORTER":          "otlp_proto_http",
			"OTEL_NODE_IP":                w.HostIP,
		} {
			if got[k] != v {
				t.Errorf("%s=%q, want %q", k, got[k], v)
			}
		}
		attrs := got["OTEL_RESOURCE_ATTRIBUTES"]
		for _, want := range []string{"k8s.pod.name=" + w.Pod, "k8s.node.name=" + w.Node, "service.instance.id=example." + w.Pod + ".sample"} {
			if !strings.Contains(attrs, want) {
				t.Errorf("OTEL_RESOURCE_ATTRIBUTES=%q lacks %q", attrs, want)
			}
		}
	}
	if got := webhookenv.Expand("a$(X)b$$(X)c$(Y)d$", map[string]string{"X": "1"}); got != "a1b$(X)c$(Y)d$" {
		t.Errorf("Expand: %q", got)
	}
}

// TestImageLayout: both folders hold the same files, which include the
// bootstrap at the path upstream's PYTHONPATH names, and the image's cp is
// busybox.
func TestImageLayout(t *testing.T) {
	list := func(root string) map[string][]byte {
		out := map[string][]byte{}
		err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			b, err := os.ReadFile(p)
			out[rel] = b
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	glibc := list(filepath.Join(rootfs, "autoinstrumentation"))
	musl := list(filepath.Join(rootfs, "autoinstrumentation-musl"))
	if !reflect.DeepEqual(glibc, musl) {
		t.Error("glibc and musl folders differ")
	}
	if _, ok := glibc["opentelemetry/instrumentation/auto_instrumentation/sitecustomize.py"]; !ok {
		t.Error("no sitecustomize.py at the auto_instrumentation path")
	}
	for name, b := range glibc {
		if strings.Contains(name, "__pycache__") || strings.HasSuffix(name, ".pyc") {
			t.Errorf("cache file %s in the image", name)
		}
		// Namespace folders only: an __init__.py here would hide the app's
		// own opentelemetry packages.
		if name == "opentelemetry/__init__.py" || name == "opentelemetry/instrumentation/__init__.py" {
			t.Errorf("%s makes opentelemetry a regular package", name)
		}
		if bytes.Contains(b, []byte("\r\n")) {
			t.Errorf("%s has CRLF line ends", name)
		}
	}
	if link, err := os.Readlink(filepath.Join(rootfs, "bin", "cp")); err != nil || link != "busybox" {
		t.Errorf("bin/cp -> %q (%v), want busybox", link, err)
	}
	if len(glibc) > 30 {
		t.Errorf("%d files: the image should stay tiny", len(glibc))
	}
}

// TestTLS: an https endpoint with the CA the Instrumentation's TLS settings
// point OTEL_EXPORTER_OTLP_CERTIFICATE at.
func TestTLS(t *testing.T) {
	rcv, caPEM, err := receiver.StartTLS()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rcv.Stop)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p := newPod(t, podSpec{manifest: seedInstrumentation(rcv.URL(), env("OTEL_EXPORTER_OTLP_CERTIFICATE", ca)...)})
	app := startProc(t, p, appsDir, python, "-c", "import logging; logging.getLogger('tls').warning('over https')")
	app.wait(30 * time.Second)
	recs, ok := rcv.WaitFor(10*time.Second, func(r []receiver.Record) bool { return len(r) == 1 })
	if !ok || recs[0].BodyString() != "over https" {
		t.Fatalf("records %v; stderr %s", recs, app.stderr.String())
	}
	checkResource(t, p, recs)

	// Without the CA the certificate is refused, and the agent says so.
	p = newPod(t, podSpec{manifest: seedInstrumentation(rcv.URL(), env("OTEL_BLRP_EXPORT_TIMEOUT", "1000")...)})
	app = startProc(t, p, appsDir, python, "-c", "import logging; logging.getLogger('tls').warning('refused')")
	app.wait(30 * time.Second)
	if !strings.Contains(app.stderr.String(), "CERTIFICATE_VERIFY_FAILED") || !strings.Contains(app.stderr.String(), "not exported: 1") {
		t.Errorf("untrusted certificate: stderr %q", app.stderr.String())
	}
	if n := len(rcv.Records()); n != 1 {
		t.Errorf("%d records over untrusted TLS", n)
	}
}
