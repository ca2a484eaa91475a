package harness

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/autotel/autotel/agent/python/harness/receiver"
)

func filter(recs []receiver.Record, keep func(receiver.Record) bool) []receiver.Record {
	var out []receiver.Record
	for _, r := range recs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func scopeBody(scope, bodyPrefix string) func(receiver.Record) bool {
	return func(r receiver.Record) bool {
		return r.Scope == scope && strings.HasPrefix(r.BodyString(), bodyPrefix)
	}
}

func wantCount(t *testing.T, what string, recs []receiver.Record, n int) {
	t.Helper()
	if len(recs) != n {
		var bodies []string
		for _, r := range recs {
			bodies = append(bodies, fmt.Sprintf("%s:%q(pid %d)", r.Scope, r.BodyString(), r.ResourceInt("process.pid")))
		}
		t.Errorf("%s: %d records, want %d: %v", what, len(recs), n, bodies)
	}
}

// checkResource checks what every record of a pod carries: the webhook's
// resource attributes with $(VAR)s resolved, the agent's identity, and a
// service.instance.id of its own process.
func checkResource(t *testing.T, p *pod, recs []receiver.Record) {
	t.Helper()
	if len(recs) == 0 {
		t.Fatal("no records received")
	}
	want := map[string]string{
		"service.name":           "sample",
		"k8s.namespace.name":     "example",
		"k8s.container.name":     "sample",
		"k8s.deployment.name":    "sample",
		"k8s.replicaset.name":    p.workload.ReplicaSet,
		"k8s.pod.name":           p.podName(),
		"k8s.node.name":          p.workload.Node,
		"service.namespace":      "example",
		"service.version":        "amd64",
		"telemetry.sdk.name":     "autotel",
		"telemetry.sdk.language": "python",
		"process.runtime.name":   "cpython",
	}
	bad := 0
	for _, r := range recs {
		for k, v := range want {
			if got := r.ResourceStr(k); got != v && bad < 10 {
				bad++
				t.Errorf("record %q: resource %s=%q, want %q", r.BodyString(), k, got, v)
			}
		}
		pid := int(r.ResourceInt("process.pid"))
		if got := r.ResourceStr("service.instance.id"); got != p.instanceID(pid) && bad < 10 {
			bad++
			t.Errorf("record %q from pid %d: service.instance.id %q, want %q", r.BodyString(), pid, got, p.instanceID(pid))
		}
	}
}

// checkNoTraceContext: without OpenTelemetry in the app there is no span,
// so no ids at all (not zero ids).
func checkNoTraceContext(t *testing.T, recs []receiver.Record) {
	t.Helper()
	for _, r := range recs {
		if r.TraceID != "" || r.SpanID != "" || r.Flags != 0 {
			t.Errorf("record %q has trace context %q/%q/%d", r.BodyString(), r.TraceID, r.SpanID, r.Flags)
			return
		}
	}
}

// checkNoDuplicates: the same record (scope, body, timestamp, process)
// must not arrive twice.
func checkNoDuplicates(t *testing.T, recs []receiver.Record) {
	t.Helper()
	seen := map[string]bool{}
	for _, r := range recs {
		k := fmt.Sprintf("%s|%s|%d|%d", r.Scope, r.BodyString(), r.TimeUnixNano, r.ResourceInt("process.pid"))
		if seen[k] {
			t.Errorf("duplicate record %s", k)
		}
		seen[k] = true
	}
}

func checkDecoded(t *testing.T, s sink) {
	t.Helper()
	if errs := s.DecodeErrors(); len(errs) > 0 {
		t.Errorf("receiver could not decode %d requests: %v", len(errs), errs)
	}
}

// byRequestID indexes records by their request_id attribute.
func byRequestID(recs []receiver.Record) map[string][]receiver.Record {
	out := map[string][]receiver.Record{}
	for _, r := range recs {
		if id := r.Str("request_id"); id != "" {
			out[id] = append(out[id], r)
		}
	}
	return out
}

func countLines(s string, re *regexp.Regexp) int {
	return len(re.FindAllString(s, -1))
}

var summaryRe = regexp.MustCompile(`autotel-python: pid (\d+): exported (\d+) log records; not exported: (\d+)(?: \(([^)]*)\))?`)

// exitSummary is the last accounting line the agent printed for pid.
func exitSummary(t *testing.T, stderr string, pid int) (exported, dropped int, detail string) {
	t.Helper()
	found := false
	for _, m := range summaryRe.FindAllStringSubmatch(stderr, -1) {
		if m[1] == strconv.Itoa(pid) {
			exported, _ = strconv.Atoi(m[2])
			dropped, _ = strconv.Atoi(m[3])
			detail = m[4]
			found = true
		}
	}
	if !found {
		t.Fatalf("no exit summary from pid %d in stderr", pid)
	}
	return exported, dropped, detail
}
