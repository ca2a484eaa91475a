package lokiexporter

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

type entryView struct {
	TS   int64
	Line string
	SM   map[string]string
}

type streamView struct {
	Labels  string
	Entries []entryView
}

type tenantView struct {
	Tenant  string
	Streams []streamView
}

type result struct {
	Tenants []tenantView
	Dropped int
}

func testTranslator(t *testing.T, mutate func(*Config)) *translator {
	t.Helper()
	cfg := createDefaultConfig().(*Config)
	cfg.Endpoint = "http://127.0.0.1:3100/loki/api/v1/push"
	// The tables use fixed timestamps far from the fake clock below; the
	// timestamp limits have their own tests.
	cfg.Limits.RejectOldSamplesMaxAge, cfg.Limits.CreationGracePeriod = 0, 0
	if mutate != nil {
		mutate(cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	tr, err := newTranslator(cfg)
	if err != nil {
		t.Fatalf("newTranslator: %v", err)
	}
	tr.now = func() time.Time { return time.Unix(0, 42) }
	return tr
}

func translate(tr *translator, ld plog.Logs) result {
	c := tr.convert(ld)
	lines := c.lines()
	res := result{Dropped: c.dropped}
	for _, tb := range c.tenants {
		if tb.records == 0 {
			continue
		}
		tv := tenantView{Tenant: tb.tenant}
		for _, s := range c.pushRequest(tb, lines).Streams {
			sv := streamView{Labels: s.Labels}
			for _, e := range s.Entries {
				ev := entryView{TS: e.Timestamp.UnixNano(), Line: e.Line}
				for _, p := range e.StructuredMetadata {
					if ev.SM == nil {
						ev.SM = map[string]string{}
					}
					ev.SM[p.Name] = p.Value
				}
				sv.Entries = append(sv.Entries, ev)
			}
			tv.Streams = append(tv.Streams, sv)
		}
		res.Tenants = append(res.Tenants, tv)
	}
	return res
}

// one returns the only entry of a single-tenant, single-stream result.
func one(t *testing.T, r result) (string, entryView) {
	t.Helper()
	if len(r.Tenants) != 1 || len(r.Tenants[0].Streams) != 1 || len(r.Tenants[0].Streams[0].Entries) != 1 {
		t.Fatalf("want exactly one entry, got %+v", r)
	}
	s := r.Tenants[0].Streams[0]
	return s.Labels, s.Entries[0]
}

// seedLogs is the record behind collector/testdata/observed-log-loki.json, after the
// seed's resource processor copied pod, container and namespace and set the
// loki.resource.labels hint.
func seedLogs() plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	ra := rl.Resource().Attributes()
	ra.PutStr("k8s.container.name", "sample")
	ra.PutStr("k8s.deployment.name", "sample")
	ra.PutStr("k8s.namespace.name", "example")
	ra.PutStr("k8s.node.name", "example-node")
	ra.PutStr("k8s.pod.name", "sample-656f58b97c-9mr6d")
	ra.PutStr("k8s.replicaset.name", "sample-656f58b97c")
	ra.PutStr("service.instance.id", "example.sample-656f58b97c-9mr6d.sample")
	ra.PutStr("service.name", "sample")
	ra.PutStr("service.version", "amd64")
	ra.PutStr("telemetry.auto.version", "0.44b0")
	ra.PutStr("telemetry.sdk.language", "python")
	ra.PutStr("telemetry.sdk.name", "opentelemetry")
	ra.PutStr("telemetry.sdk.version", "1.23.0")
	ra.PutStr("pod", "sample-656f58b97c-9mr6d")
	ra.PutStr("container", "sample")
	ra.PutStr("namespace", "example")
	ra.PutStr("loki.resource.labels", "pod, namespace, container")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("opentelemetry.sdk._logs._internal")
	lr := sl.LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.Timestamp(1716601745000000000))
	lr.SetSeverityNumber(plog.SeverityNumberInfo)
	lr.SetSeverityText("INFO")
	lr.Body().SetStr(`127.0.0.1 - - [25/May/2024 01:49:05] "GET /hello HTTP/1.1" 200 -`)
	la := lr.Attributes()
	la.PutStr("otelSpanID", "0")
	la.PutStr("otelTraceID", "0")
	la.PutBool("otelTraceSampled", false)
	la.PutStr("otelServiceName", "sample")
	la.PutStr("code.filepath", "/usr/local/lib/python3.11/site-packages/werkzeug/_internal.py")
	la.PutStr("code.function", "_log")
	la.PutInt("code.lineno", 97)
	return ld
}

func TestSeedRecordGivesTheObservedLine(t *testing.T) {
	// The line the seed's Loki stored through the upstream exporter,
	// kept verbatim in collector/testdata/.
	observed, err := os.ReadFile("../../testdata/observed-log-loki.json")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, observed); err != nil {
		t.Fatal(err)
	}
	tr := testTranslator(t, func(c *Config) {
		// The seed's exporter block.
		c.DefaultLabelsEnabled = map[string]bool{"exporter": true, "job": true}
	})
	for _, slow := range []bool{false, true} {
		tr.forceSlow = slow
		labels, e := one(t, translate(tr, seedLogs()))
		if e.Line != want.String() {
			t.Errorf("slow=%v line\ngot  %s\nwant %s", slow, e.Line, want.String())
		}
		// instance and level are absent from the seed's default_labels_enabled,
		// and absent means enabled.
		wantLabels := `{container="sample", exporter="OTLP", instance="example.sample-656f58b97c-9mr6d.sample", job="sample", level="INFO", namespace="example", pod="sample-656f58b97c-9mr6d"}`
		if labels != wantLabels {
			t.Errorf("slow=%v labels\ngot  %s\nwant %s", slow, labels, wantLabels)
		}
		if e.TS != 1716601745000000000 {
			t.Errorf("timestamp %d", e.TS)
		}
	}
}

type recordSpec struct {
	res   map[string]any
	attrs map[string]any
	sev   plog.SeverityNumber
	body  any
	scope string
}

func buildLogs(specs ...recordSpec) plog.Logs {
	ld := plog.NewLogs()
	for _, s := range specs {
		rl := ld.ResourceLogs().AppendEmpty()
		_ = rl.Resource().Attributes().FromRaw(s.res)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(s.scope)
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(1e18)
		lr.SetSeverityNumber(s.sev)
		_ = lr.Attributes().FromRaw(s.attrs)
		if s.body != nil {
			_ = lr.Body().FromRaw(s.body)
		}
	}
	return ld
}

func TestTranslateLabelsAndLines(t *testing.T) {
	tests := []struct {
		name       string
		cfg        func(*Config)
		rec        recordSpec
		wantLabels string
		wantLine   string
		wantSM     map[string]string
	}{
		{
			name:       "default labels from service attributes; job joins namespace",
			rec:        recordSpec{res: map[string]any{"service.name": "api", "service.namespace": "shop", "service.instance.id": "i-1"}, body: "hi"},
			wantLabels: `{exporter="OTLP", instance="i-1", job="shop/api"}`,
			wantLine:   `{"body":"hi","resources":{"service.instance.id":"i-1","service.name":"api","service.namespace":"shop"}}`,
		},
		{
			name:       "namespace without name gives no job",
			rec:        recordSpec{res: map[string]any{"service.namespace": "shop"}, body: "hi"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `{"body":"hi","resources":{"service.namespace":"shop"}}`,
		},
		{
			name: "all default labels off gives an empty selector",
			cfg: func(c *Config) {
				c.DefaultLabelsEnabled = map[string]bool{"exporter": false, "job": false, "instance": false, "level": false}
			},
			rec:        recordSpec{res: map[string]any{"service.name": "api"}, sev: plog.SeverityNumberWarn, body: "hi"},
			wantLabels: `{}`,
			wantLine:   `{"body":"hi","resources":{"service.name":"api"}}`,
		},
		{
			name:       "level label from severity number; attribute removed from line",
			rec:        recordSpec{sev: plog.SeverityNumberWarn2, attrs: map[string]any{"a": 1}, body: "x"},
			wantLabels: `{exporter="OTLP", level="WARN2"}`,
			wantLine:   `{"body":"x","attributes":{"a":1}}`,
		},
		{
			name:       "an existing level attribute wins and leaves the line",
			rec:        recordSpec{sev: plog.SeverityNumberError, attrs: map[string]any{"level": "fatal-ish"}, body: "x"},
			wantLabels: `{exporter="OTLP", level="fatal-ish"}`,
			wantLine:   `{"body":"x"}`,
		},
		{
			name:       "level stays in the line when no severity",
			rec:        recordSpec{attrs: map[string]any{"level": "info"}, body: "x"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `{"body":"x","attributes":{"level":"info"}}`,
		},
		{
			name:       "resource hint promotes and removes; dots sanitised",
			rec:        recordSpec{res: map[string]any{"k8s.pod.name": "p-1", "k8s.node.name": "n", "loki.resource.labels": "k8s.pod.name, missing"}, body: "x"},
			wantLabels: `{exporter="OTLP", k8s_pod_name="p-1"}`,
			wantLine:   `{"body":"x","resources":{"k8s.node.name":"n"}}`,
		},
		{
			name:       "resource hint as a slice",
			rec:        recordSpec{res: map[string]any{"a": "1", "b": int64(2), "loki.resource.labels": []any{"a", "b"}}, body: "x"},
			wantLabels: `{a="1", b="2", exporter="OTLP"}`,
			wantLine:   `{"body":"x"}`,
		},
		{
			name:       "promoted label name also removes a record attribute of that name",
			rec:        recordSpec{res: map[string]any{"pod": "p", "loki.resource.labels": "pod"}, attrs: map[string]any{"pod": "other", "k": "v"}, body: "x"},
			wantLabels: `{exporter="OTLP", pod="p"}`,
			wantLine:   `{"body":"x","attributes":{"k":"v"}}`,
		},
		{
			name:       "default label names remove same-named resource attributes",
			rec:        recordSpec{res: map[string]any{"job": "j", "exporter": "e", "service.name": "s"}, body: "x"},
			wantLabels: `{exporter="OTLP", job="s"}`,
			wantLine:   `{"body":"x","resources":{"service.name":"s"}}`,
		},
		{
			name:       "attribute hint on the record, with level appended",
			rec:        recordSpec{sev: plog.SeverityNumberInfo, attrs: map[string]any{"http.method": "GET", "user": "u", "loki.attribute.labels": "http.method"}, body: "x"},
			wantLabels: `{exporter="OTLP", http_method="GET", level="INFO"}`,
			wantLine:   `{"body":"x","attributes":{"user":"u"}}`,
		},
		{
			name:       "attribute hint of another type does not get level",
			rec:        recordSpec{sev: plog.SeverityNumberInfo, attrs: map[string]any{"loki.attribute.labels": int64(5)}, body: "x"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `{"body":"x","attributes":{"level":"INFO"}}`,
		},
		{
			name:       "record-level resource hint selects resource attributes",
			rec:        recordSpec{res: map[string]any{"team": "core"}, attrs: map[string]any{"loki.resource.labels": "team"}, body: "x"},
			wantLabels: `{exporter="OTLP", team="core"}`,
			wantLine:   `{"body":"x"}`,
		},
		{
			name:       "nested attribute addressed by a dotted path",
			rec:        recordSpec{attrs: map[string]any{"http": map[string]any{"route": "/a"}, "loki.attribute.labels": "http.route"}, body: "x"},
			wantLabels: `{exporter="OTLP", http_route="/a"}`,
			wantLine:   `{"body":"x","attributes":{"http":{"route":"/a"}}}`,
		},
		{
			name:       "label name sanitising like upstream",
			rec:        recordSpec{res: map[string]any{"1st": "a", "_x": "b", "__y": "c", "http-route": "d", "loki.resource.labels": "1st,_x,__y,http-route"}, body: "x"},
			wantLabels: `{__y="c", exporter="OTLP", http_route="d", key_1st="a", key_x="b"}`,
			wantLine:   `{"body":"x"}`,
		},
		{
			name:       "non-ASCII label names become names Loki accepts, or stay in the line",
			rec:        recordSpec{res: map[string]any{"ключ": "v", "café": "w", "loki.resource.labels": "ключ,café"}, body: "x"},
			wantLabels: `{caf_="w", exporter="OTLP"}`,
			wantLine:   `{"body":"x","resources":{"ключ":"v"}}`,
		},
		{
			name: "structured metadata names Loki refuses stay in the line",
			cfg: func(c *Config) {
				c.StructuredMetadata = StructuredMetadataConfig{LogAttributes: true, ResourceAttributes: true}
			},
			rec:        recordSpec{res: map[string]any{"日本": "r", "service.name": "s"}, attrs: map[string]any{"ключ": "v", "a__b": "w"}, body: "x"},
			wantLabels: `{exporter="OTLP", job="s"}`,
			wantLine:   `{"body":"x","attributes":{"ключ":"v"},"resources":{"日本":"r"}}`,
			wantSM:     map[string]string{"a_b": "w", "service_name": "s"},
		},
		{
			name:       "label values are Go-quoted",
			rec:        recordSpec{res: map[string]any{"v": "a\"b\\c\nd", "loki.resource.labels": "v"}, body: "x"},
			wantLabels: `{exporter="OTLP", v="a\"b\\c\nd"}`,
			wantLine:   `{"body":"x"}`,
		},
		{
			name:       "map body, trace context, scope with version and attributes",
			rec:        recordSpec{body: map[string]any{"msg": "m", "n": 1.5}, scope: "lib"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `{"body":{"msg":"m","n":1.5},"instrumentation_scope":{"name":"lib"}}`,
		},
		{
			name:       "logfmt via resource hint",
			rec:        recordSpec{res: map[string]any{"loki.format": "logfmt", "k8s.pod.name": "p"}, attrs: map[string]any{"http.method": "GET"}, body: `msg="request handled" status=200`, scope: "s"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `msg="request handled" status=200 attribute_http.method=GET resource_k8s.pod.name=p instrumentation_scope_name=s`,
		},
		{
			name:       "logfmt of a body that is not logfmt",
			rec:        recordSpec{res: map[string]any{"loki.format": "logfmt"}, body: `a "quoted" = thing`},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `msg="a \"quoted\" = thing"`,
		},
		{
			name:       "logfmt of a map body flattens",
			rec:        recordSpec{attrs: map[string]any{"loki.format": "logfmt"}, body: map[string]any{"a": []any{map[string]any{"b": "c"}, true, 1.5}}},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `a_0_b=c a_1=true a_2=1.5`,
		},
		{
			name:       "raw via record hint",
			rec:        recordSpec{attrs: map[string]any{"loki.format": "raw", "x": "y"}, body: "just the body"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `just the body`,
		},
		{
			name:       "configured default format",
			cfg:        func(c *Config) { c.Format = "raw" },
			rec:        recordSpec{res: map[string]any{"r": "s"}, body: "just the body"},
			wantLabels: `{exporter="OTLP"}`,
			wantLine:   `just the body`,
		},
		{
			name:       "kubernetes labels without any hint",
			cfg:        func(c *Config) { c.KubernetesLabels.Enabled = true },
			rec:        recordSpec{res: map[string]any{"k8s.namespace.name": "ns", "k8s.pod.name": "p", "k8s.container.name": "c", "k8s.node.name": "n"}, body: "x"},
			wantLabels: `{container="c", exporter="OTLP", namespace="ns", pod="p"}`,
			wantLine:   `{"body":"x","resources":{"k8s.node.name":"n"}}`,
		},
		{
			name: "kubernetes labels under configured names",
			cfg: func(c *Config) {
				c.KubernetesLabels = KubernetesLabelsConfig{Enabled: true, Namespace: "k8s_namespace", Pod: "k8s_pod", Container: "k8s_container"}
			},
			rec:        recordSpec{res: map[string]any{"k8s.namespace.name": "ns", "k8s.pod.name": "p"}, body: "x"},
			wantLabels: `{exporter="OTLP", k8s_namespace="ns", k8s_pod="p"}`,
			wantLine:   `{"body":"x"}`,
		},
		{
			name: "structured metadata instead of line attributes",
			cfg: func(c *Config) {
				c.StructuredMetadata = StructuredMetadataConfig{LogAttributes: true, ResourceAttributes: true}
			},
			rec:        recordSpec{res: map[string]any{"k8s.node.name": "n", "service.name": "s"}, attrs: map[string]any{"http.status_code": int64(200)}, sev: plog.SeverityNumberInfo, body: "x"},
			wantLabels: `{exporter="OTLP", job="s", level="INFO"}`,
			wantLine:   `{"body":"x"}`,
			wantSM:     map[string]string{"k8s_node_name": "n", "service_name": "s", "http_status_code": "200"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := testTranslator(t, tt.cfg)
			for _, slow := range []bool{false, true} {
				tr.forceSlow = slow
				labels, e := one(t, translate(tr, buildLogs(tt.rec)))
				if labels != tt.wantLabels {
					t.Errorf("slow=%v labels\ngot  %s\nwant %s", slow, labels, tt.wantLabels)
				}
				if e.Line != tt.wantLine {
					t.Errorf("slow=%v line\ngot  %s\nwant %s", slow, e.Line, tt.wantLine)
				}
				if !reflect.DeepEqual(e.SM, tt.wantSM) {
					t.Errorf("slow=%v structured metadata %v, want %v", slow, e.SM, tt.wantSM)
				}
			}
		})
	}
}

func TestTranslateDropsWhatUpstreamDrops(t *testing.T) {
	tests := []struct {
		name string
		rec  recordSpec
	}{
		{"unknown format hint", recordSpec{attrs: map[string]any{"loki.format": "xml"}, body: "x"}},
		{"unknown resource format hint", recordSpec{res: map[string]any{"loki.format": "yaml"}, body: "x"}},
		{"NaN in the body", recordSpec{body: math.NaN()}},
		{"infinity in a resource attribute", recordSpec{res: map[string]any{"x": math.Inf(1)}, body: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := testTranslator(t, nil)
			ok := recordSpec{body: "fine"}
			r := translate(tr, buildLogs(tt.rec, ok))
			if r.Dropped != 1 {
				t.Fatalf("dropped %d, want 1", r.Dropped)
			}
			if _, e := one(t, r); e.Line != `{"body":"fine"}` {
				t.Errorf("the valid record was not kept: %q", e.Line)
			}
		})
	}
}

func TestTenantsGroupRequests(t *testing.T) {
	tr := testTranslator(t, nil)
	ld := buildLogs(
		recordSpec{res: map[string]any{"loki.tenant": "tenant.id", "tenant.id": "acme"}, body: "a1"},
		recordSpec{res: map[string]any{"loki.tenant": "tenant.id"}, attrs: map[string]any{"tenant.id": "globex"}, body: "g1"},
		recordSpec{attrs: map[string]any{"loki.tenant": "t", "t": "acme"}, body: "a2"},
		recordSpec{body: "none"},
	)
	r := translate(tr, ld)
	got := map[string][]string{}
	for _, tv := range r.Tenants {
		for _, s := range tv.Streams {
			for _, e := range s.Entries {
				got[tv.Tenant] = append(got[tv.Tenant], e.Line)
			}
		}
	}
	want := map[string][]string{
		"acme":   {`{"body":"a1","resources":{"tenant.id":"acme"}}`, `{"body":"a2","attributes":{"t":"acme"}}`},
		"globex": {`{"body":"g1","attributes":{"tenant.id":"globex"}}`},
		"":       {`{"body":"none"}`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	if r.Tenants[0].Tenant != "acme" || r.Tenants[1].Tenant != "globex" {
		t.Errorf("tenants not in first-seen order: %v", r.Tenants)
	}
}

func TestTimestampFallbacks(t *testing.T) {
	tr := testTranslator(t, nil)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	lrs.AppendEmpty().SetTimestamp(100)
	lrs.AppendEmpty().SetObservedTimestamp(200)
	lrs.AppendEmpty()
	r := translate(tr, ld)
	var got []int64
	for _, e := range r.Tenants[0].Streams[0].Entries {
		got = append(got, e.TS)
	}
	if want := []int64{100, 200, 42}; !reflect.DeepEqual(got, want) {
		t.Errorf("timestamps %v, want %v", got, want)
	}
}

// TestCachedPathMatchesReferencePath feeds random Kubernetes-like batches
// through the per-resource cached path and the upstream-shaped reference
// path and requires identical requests.
func TestCachedPathMatchesReferencePath(t *testing.T) {
	cfgs := map[string]func(*Config){
		"defaults": nil,
		"k8s+sm":   func(c *Config) { c.KubernetesLabels.Enabled = true; c.StructuredMetadata.LogAttributes = true },
		"no level": func(c *Config) { c.DefaultLabelsEnabled = map[string]bool{"level": false} },
		"logfmt":   func(c *Config) { c.Format = "logfmt" },
	}
	r := rand.New(rand.NewPCG(3, 4))
	for name, cfg := range cfgs {
		t.Run(name, func(t *testing.T) {
			fast := testTranslator(t, cfg)
			slow := testTranslator(t, cfg)
			slow.forceSlow = true
			for i := 0; i < 200; i++ {
				ld := randomK8sLogs(r)
				a, b := translate(fast, ld), translate(slow, ld)
				if !reflect.DeepEqual(a, b) {
					t.Fatalf("batch %d differs\ncached:    %+v\nreference: %+v", i, a, b)
				}
			}
		})
	}
}

func randomK8sLogs(r *rand.Rand) plog.Logs {
	ld := plog.NewLogs()
	pick := func(s ...string) string { return s[r.IntN(len(s))] }
	for n := 1 + r.IntN(4); n > 0; n-- {
		rl := ld.ResourceLogs().AppendEmpty()
		ra := rl.Resource().Attributes()
		ra.PutStr("k8s.namespace.name", pick("ns-a", "ns-b"))
		ra.PutStr("k8s.pod.name", pick("p-1", "p-2", "p-3"))
		if r.IntN(2) == 0 {
			ra.PutStr("k8s.container.name", "app")
		}
		if r.IntN(2) == 0 {
			ra.PutStr("service.name", pick("api", "web"))
		}
		if r.IntN(3) == 0 {
			ra.PutStr("service.namespace", "shop")
		}
		if r.IntN(3) == 0 {
			ra.PutStr("loki.resource.labels", pick("k8s.pod.name", "k8s.namespace.name, k8s.pod.name", "level"))
		}
		if r.IntN(5) == 0 {
			ra.PutStr("level", "res-level")
		}
		if r.IntN(5) == 0 {
			ra.PutStr("loki.tenant", "tenant")
			ra.PutStr("tenant", pick("t1", "t2"))
		}
		for m := 1 + r.IntN(2); m > 0; m-- {
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName(pick("", "lib"))
			if r.IntN(2) == 0 {
				sl.Scope().SetVersion("1.0")
				sl.Scope().Attributes().PutStr("s", "t")
			}
			for k := r.IntN(6); k > 0; k-- {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTimestamp(pcommon.Timestamp(r.Int64N(1e18)))
				lr.SetSeverityNumber(plog.SeverityNumber(r.IntN(26)))
				lr.SetSeverityText(pick("", "INFO", "warn"))
				lr.Body().SetStr(pick("hello", "msg=x status=200", `with "quotes" <b>`))
				a := lr.Attributes()
				if r.IntN(2) == 0 {
					a.PutStr("http.method", "GET")
				}
				if r.IntN(3) == 0 {
					a.PutInt("code.lineno", 97)
				}
				if r.IntN(4) == 0 {
					a.PutStr("level", pick("debug", "info"))
				}
				if r.IntN(4) == 0 {
					a.PutStr(pick("k8s.pod.name", "pod", "exporter"), "shadow")
				}
				if r.IntN(4) == 0 {
					lr.SetTraceID(pcommon.TraceID{1, 2, 3})
					lr.SetSpanID(pcommon.SpanID{4, 5})
					lr.SetFlags(1)
				}
			}
		}
	}
	return ld
}

func TestNormalizeLabel(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"", "", false},
		{"k8s.namespace.name", "k8s_namespace_name", true},
		{"http-route", "http_route", true},
		{"0abc", "key_0abc", true},
		{"_abc", "key_abc", true},
		{"__abc", "__abc", true},
		{"a b/c", "a_b_c", true},
		{"naïve", "na_ve", true},
		{"café", "caf_", true},
		// Nothing Loki accepts can be made of these: skipped, not sent as
		// "____" (which made Loki fail the whole push).
		{"ключ", "____", false},
		{"日本", "__", false},
		{"-", "key_", true}, // upstream's rule: a lone '_' gets "key"
		{"__", "__", false},
	}
	for _, tt := range tests {
		got, ok := normalizeLabel(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeLabel(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok && !validLabelName(got) {
			t.Errorf("normalizeLabel(%q) = %q, which Loki rejects", tt.in, got)
		}
	}
	if got, _ := normalizeLabel("ä1"); !strings.Contains(got, "_1") {
		t.Errorf("digits after a replaced rune must survive")
	}
}

// TestNormalizeSMName pins Loki's structured-metadata name rule (Prometheus
// otlptranslator LabelNamer, zero configuration, as Loki v3 uses it); the
// refused rows are the names that made Loki answer the whole push with 500.
func TestNormalizeSMName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"http.method", "http_method", true},
		{"k8s.pod.name", "k8s_pod_name", true},
		{"label:with:colons", "label_with_colons", true},
		{"label!with&special$chars)", "label_with_special_chars_", true},
		{"label_with_foreign_characters_字符", "label_with_foreign_characters_", true},
		{"123label", "key_123label", true},
		{"_label_starting_with_underscore", "_label_starting_with_underscore", true},
		{"__label_starting_with_2underscores", "_label_starting_with_2underscores", true},
		{"label__with__double__underscores", "label_with_double_underscores", true},
		{"__reserved__label__name__", "__reserved_label_name__", true},
		{"trailing_underscores___", "trailing_underscores_", true},
		{"naïve", "na_ve", true},
		{"Ωmega", "_mega", true},
		{"9", "key_9", true},
		{"", "", false},
		{"ключ", "_", false},
		{"ようこそ", "_", false},
		{"____", "____", false},
		{"__", "_", false},
		{" ", "_", false},
		{"-_-", "_", false},
		{"__é__", "_____", false},
	}
	for _, tt := range tests {
		got, ok := normalizeSMName(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("normalizeSMName(%q) = %q, %v, want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
		if ok {
			// What we send is what Loki stores: its rule is idempotent.
			if again, _ := normalizeSMName(got); again != got {
				t.Errorf("normalizeSMName(%q) = %q but Loki would store it as %q", tt.in, got, again)
			}
		}
	}
}
