// Command bench measures autotel-collector's Loki path against a baseline
// collector built from upstream's last Loki exporter (v0.130.0), in one run,
// on the same pipeline (OTLP/HTTP -> memory_limiter -> resource -> batch ->
// loki) into the same in-process Loki push sink:
//
//  1. equivalence: the same records through both must produce the same
//     entries (labels, timestamp, line) at the sink;
//  2. throughput: closed-loop OTLP/HTTP protobuf load of Kubernetes-like log
//     records; records/s delivered, collector CPU-seconds per million records
//     (from /proc/<pid>/stat) and peak RSS (VmHWM);
//  3. overload: a slow sink and a large queue, where only memory_limiter
//     stands between the load and the heap: RSS must stay bounded, the
//     collector alive, and the excess refused.
//
// It is a command, not a test: numbers depend on the machine.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/autotel/autotel/collector/internal/lokipush"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/wait"
)

var (
	ours        = flag.String("collector", "", "autotel-collector binary")
	baseline    = flag.String("baseline", "", "baseline collector binary (upstream lokiexporter v0.130.0)")
	duration    = flag.Duration("duration", 12*time.Second, "load duration per collector, protocol and run")
	runs        = flag.Int("runs", 3, "interleaved runs per collector and protocol; medians are reported")
	senders     = flag.Int("senders", 4, "concurrent OTLP senders")
	perReq      = flag.Int("records", 500, "log records per OTLP request")
	resources   = flag.Int("resources", 20, "resources (pods) per OTLP request")
	slow        = flag.Duration("slow", 40*time.Second, "slow-store phase duration per collector (0 skips it)")
	slowDelay   = flag.Duration("slow-delay", time.Second, "how long the slow store takes to answer each push")
	limitMiB    = flag.Int("limit-mib", 512, "container memory limit in the slow-store phase (the chart's resources.limits.memory)")
	chartConfig = flag.String("chart-config", "test/e2e/testdata/chart-seed-relay.yaml", "the chart's render for the seed's values (autotel's chart)")
	upstreamCfg = flag.String("upstream-config", "testdata/seed-merged.yaml", "the seed's values as the upstream collector chart renders them")
)

var protocols = []string{"http", "grpc"}

func main() {
	flag.Parse()
	if *ours == "" || *baseline == "" {
		log.Fatal("both -collector and -baseline are required")
	}
	payloads := makePayloads(64, *perReq, *resources)
	sink, err := lokipush.Start(nil, true)
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	names := map[string]string{*baseline: "baseline lokiexporter v0.130.0", *ours: "autotel-collector"}

	// 1. Equivalence.
	fmt.Println("== equivalence: 4 requests through each collector ==")
	var prints [2]uint64
	var counts [2]int64
	for i, bin := range []string{*baseline, *ours} {
		sink.Reset()
		c := mustStart(bin, pipelineConfig(sink.URL, false, 1024, true))
		for _, p := range payloads[:4] {
			if err := post(http.DefaultClient, c.otlpURL, p.body); err != nil {
				c.stop()
				log.Fatalf("equivalence send: %v", err)
			}
		}
		want := int64(4 * *perReq)
		if !waitFor(30*time.Second, func() bool { _, n := sink.Fingerprint(); return n >= want }) {
			c.stop()
			log.Fatalf("%s delivered %d of %d records", filepath.Base(bin), sink.Count(), want)
		}
		prints[i], counts[i] = sink.Fingerprint()
		c.stop()
	}
	if prints[0] != prints[1] || counts[0] != counts[1] {
		fmt.Printf("DIFFERENT output: baseline %x (%d entries) vs autotel %x (%d entries)\n", prints[0], counts[0], prints[1], counts[1])
		os.Exit(1)
	}
	fmt.Printf("identical entries (labels, timestamp, line) for %d records: fingerprint %x\n\n", counts[0], prints[0])

	// 2. Throughput: runs interleaved (baseline, autotel, baseline, ...) so
	// that the machine's changing load hits both alike; medians reported.
	fmt.Printf("== throughput: seed-shaped records, %d senders x %d records/request over %d resources, %s per collector, protocol and run, %d interleaved runs ==\n",
		*senders, *perReq, *resources, *duration, *runs)
	res := map[string]map[string][]result{}
	for run := 0; run < *runs; run++ {
		order := []string{*baseline, *ours}
		if run%2 == 1 {
			order = []string{*ours, *baseline}
		}
		for _, proto := range protocols {
			for _, bin := range order {
				sink.Reset()
				r := runLoad(bin, proto, sink, payloads)
				if res[bin] == nil {
					res[bin] = map[string][]result{}
				}
				res[bin][proto] = append(res[bin][proto], r)
				fmt.Printf("  run %d %-5s %-32s %9.0f records/s %7.2f CPU-s/1M\n", run+1, proto, names[bin], r.recPerSec(), r.cpuPerMillion())
			}
		}
	}
	fmt.Printf("\nmedians of %d runs:\n", *runs)
	fmt.Printf("%-32s %-6s %12s %14s %12s %12s\n", "collector", "proto", "records/s", "CPU-s/1M rec", "peak RSS", "cores used")
	worst := 0.0
	for _, proto := range protocols {
		for _, bin := range []string{*baseline, *ours} {
			rs := res[bin][proto]
			fmt.Printf("%-32s %-6s %12.0f %14.2f %8.0f MiB %12.2f\n", names[bin], proto,
				median(rs, result.recPerSec), median(rs, result.cpuPerMillion), median(rs, func(r result) float64 { return float64(r.peakRSS) / (1 << 20) }),
				median(rs, func(r result) float64 { return r.cpu / r.wall }))
		}
		ratio := median(res[*baseline][proto], result.cpuPerMillion) / median(res[*ours][proto], result.cpuPerMillion)
		fmt.Printf("%s: records per CPU-second autotel / baseline = %.2fx (goal 4x, minimum 2x); records/s %.2fx\n", proto, ratio,
			median(res[*ours][proto], result.recPerSec)/median(res[*baseline][proto], result.recPerSec))
		if worst == 0 || ratio < worst {
			worst = ratio
		}
	}
	fmt.Println()

	// 3. Slow store, memory bounded.
	failed := false
	if *slow > 0 {
		failed = runSlowPhase(payloads, names)
	}
	if worst < 2 {
		fmt.Println("FAIL: below 2x the baseline's records per CPU-second")
		failed = true
	}
	if failed {
		os.Exit(1)
	}
}

func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	sort.Float64s(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

type result struct {
	delivered int64
	cpu, wall float64
	peakRSS   int64
}

func (r result) recPerSec() float64     { return float64(r.delivered) / r.wall }
func (r result) cpuPerMillion() float64 { return r.cpu / float64(r.delivered) * 1e6 }

// sender sends one payload over OTLP/HTTP or OTLP/gRPC.
type sender func(p payload) error

func newSender(c *running, proto string) (sender, func()) {
	if proto == "grpc" {
		cc, err := grpc.NewClient(c.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatalf("gRPC client: %v", err)
		}
		client := plogotlp.NewGRPCClient(cc)
		return func(p payload) error {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := client.Export(ctx, p.req)
			return err
		}, func() { cc.Close() }
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders * 2}}
	return func(p payload) error { return post(client, c.otlpURL, p.body) }, func() { client.CloseIdleConnections() }
}

func runLoad(bin, proto string, sink *lokipush.Server, payloads []payload) result {
	c := mustStart(bin, pipelineConfig(sink.URL, true, 1024, false))
	defer c.stop()
	send, closeSender := newSender(c, proto)
	defer closeSender()

	// Warm up: connections, pools, heap.
	for _, p := range payloads[:8] {
		if err := send(p); err != nil {
			log.Fatalf("warm-up: %v", err)
		}
	}
	warm := int64(8 * *perReq)
	if !waitFor(30*time.Second, func() bool { return sink.Count() >= warm }) {
		log.Fatalf("warm-up not delivered: %d of %d", sink.Count(), warm)
	}

	cpu0 := c.cpuSeconds()
	start := time.Now()
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	for s := 0; s < *senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := s; time.Since(start) < *duration; i += *senders {
				p := payloads[i%len(payloads)]
				if err := send(p); err != nil {
					refused.Add(int64(p.records))
					continue
				}
				accepted.Add(int64(p.records))
			}
		}(s)
	}
	wg.Wait()
	want := warm + accepted.Load()
	if !waitFor(120*time.Second, func() bool { return sink.Count() >= want }) {
		log.Printf("%s: only %d of %d accepted records delivered after 120 s of drain", filepath.Base(bin), sink.Count()-warm, accepted.Load())
	}
	wall := time.Since(start).Seconds()
	r := result{delivered: sink.Count() - warm, cpu: c.cpuSeconds() - cpu0, wall: wall, peakRSS: c.peakRSS()}
	if refused.Load() > 0 {
		log.Printf("%s (%s): %d records refused by the collector during the run", filepath.Base(bin), proto, refused.Load())
	}
	return r
}

// runSlowPhase reproduces a slow store: every push answered after
// -slow-delay, OTLP/HTTP senders offering more than it takes, the container
// memory limit applied (a memory cgroup when this runs as root, else only
// GOMEMLIMIT, as the chart sets it, and RSS measured). Three collectors side
// by side: the baseline and autotel on the seed's values as the upstream
// chart renders them (in-memory queue of 1,000 requests), and autotel on
// autotel's chart render (file-backed queue sized in records). It reports
// whether autotel on its chart's configuration failed.
func runSlowPhase(payloads []payload, names map[string]string) bool {
	limit := int64(*limitMiB) << 20
	goMemLimit := fmt.Sprintf("GOMEMLIMIT=%dMiB", *limitMiB*80/100)
	fmt.Printf("== slow store: each push answered after %s, %d OTLP/HTTP senders, %s per collector, container limit %d MiB (%s, as the chart sets it) ==\n",
		*slowDelay, *senders*2, *slow, *limitMiB, goMemLimit)
	cg := newMemCgroup(limit)
	if cg == nil {
		fmt.Println("(no memory cgroup available: not root, or no writable v1/v2 memory controller; the limit is GOMEMLIMIT only and RSS is measured)")
	} else {
		fmt.Printf("(each collector runs in memory cgroup %s, limit %d MiB: going over it is an OOM kill, as in the pod)\n", cg.kind, *limitMiB)
	}
	fmt.Printf("%-32s %-22s %10s %10s %12s %10s %10s %10s %6s %5s\n", "collector", "configuration", "peak RSS", "anon peak", "cgroup peak", "accepted", "refused", "delivered", "alive", "OOM")
	failed := false
	for _, row := range []struct {
		bin, cfgName, cfgFile string
		strict                bool
	}{
		{*baseline, "upstream chart render", *upstreamCfg, false},
		{*ours, "upstream chart render", *upstreamCfg, false},
		{*ours, "autotel chart render", *chartConfig, true},
	} {
		r := runSlow(row.bin, row.cfgFile, goMemLimit, cg, payloads)
		mib := func(b int64) string {
			if b <= 0 {
				return "-"
			}
			return fmt.Sprintf("%d MiB", b>>20)
		}
		fmt.Printf("%-32s %-22s %10s %10s %12s %10d %10d %10d %6v %5d\n", names[row.bin], row.cfgName, mib(r.peakRSS), mib(r.peakAnon), mib(r.cgroupPeak),
			r.accepted, r.refused, r.delivered, r.alive, r.ooms)
		if row.strict {
			switch {
			case !r.alive || r.ooms > 0:
				fmt.Println("FAIL: autotel-collector on its chart's configuration died under a slow store")
				failed = true
			case r.peakAnon > limit:
				// Anonymous memory is what cannot be reclaimed; VmHWM also
				// counts the queue file's mapped pages, which the kernel
				// drops under pressure (clean page cache).
				fmt.Printf("FAIL: autotel-collector's anonymous memory peaked at %d MiB, over the %d MiB limit\n", r.peakAnon>>20, *limitMiB)
				failed = true
			}
		}
	}
	fmt.Println("peak RSS is VmHWM (anonymous plus mapped file pages, e.g. the queue file); anon peak the sampled RssAnon,")
	fmt.Println("the memory that cannot be reclaimed; cgroup peak also counts the page cache of the queue file (mapped or")
	fmt.Println("written), which the kernel reclaims before an OOM kill: alive with no OOM kill is what counts.")
	return failed
}

type slowResult struct {
	peakRSS, peakAnon, cgroupPeak      int64
	accepted, refused, delivered, ooms int64
	alive                              bool
}

func runSlow(bin, cfgFile, goMemLimit string, cg *memCgroup, payloads []payload) slowResult {
	sink, err := lokipush.Start(func(string, int) (int, string) {
		time.Sleep(*slowDelay)
		return 0, ""
	}, true)
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		log.Fatalf("reading the collector configuration: %v", err)
	}
	queueDir, err := os.MkdirTemp("", "autotel-bench-queue-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(queueDir)
	cfg := strings.NewReplacer(
		"${env:MY_POD_IP}:4317", "127.0.0.1:GRPC_PORT",
		"${env:MY_POD_IP}:4318", "127.0.0.1:OTLP_PORT",
		"${env:MY_POD_IP}:13133", "127.0.0.1:HEALTH_PORT",
		"port: 8888", fmt.Sprintf("port: %d", freePort()),
		"/var/lib/autotel-collector/queue", queueDir,
	).Replace(string(raw))
	var run *memCgroupRun
	if cg != nil {
		run = cg.child()
		defer run.remove()
	}
	c := mustStartIn(bin, cfg, run, goMemLimit, "MY_POD_IP=127.0.0.1", "LOKI_PUSH_ENDPOINT="+sink.URL)
	defer c.stop()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders * 2}, Timeout: 30 * time.Second}
	start := time.Now()
	var accepted, refused atomic.Int64
	var peakRSS, peakAnon atomic.Int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if v := c.rss(); v > peakRSS.Load() {
				peakRSS.Store(v)
			}
			if v := c.status("RssAnon:"); v > peakAnon.Load() {
				peakAnon.Store(v)
			}
		}
	}()
	var wg sync.WaitGroup
	for s := 0; s < *senders*2; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := s; time.Since(start) < *slow && c.alive(); i += *senders * 2 {
				p := payloads[i%len(payloads)]
				if err := post(client, c.otlpURL, p.body); err != nil {
					refused.Add(int64(p.records))
					time.Sleep(20 * time.Millisecond) // a client backing off
					continue
				}
				accepted.Add(int64(p.records))
			}
		}(s)
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	r := slowResult{accepted: accepted.Load(), refused: refused.Load(), delivered: sink.Count(), alive: c.alive(), peakAnon: peakAnon.Load()}
	r.peakRSS = max(peakRSS.Load(), c.peakRSS())
	if run != nil {
		r.cgroupPeak, r.ooms = run.peak(), run.oomKills()
	}
	return r
}

// pipelineConfig is the throughput pipeline, the same for both collectors:
// otlp -> memory_limiter -> resource (the seed's) -> batch -> loki.
func pipelineConfig(sinkURL string, block bool, limitMiB int, single bool) string {
	batch := "{send_batch_size: 8192, timeout: 200ms}"
	if single {
		batch = "{send_batch_size: 100000, timeout: 1s}"
	}
	return strings.NewReplacer(
		"LIMIT", strconv.Itoa(limitMiB),
		"SPIKE", strconv.Itoa(limitMiB/4),
		"BATCH", batch,
		"SINK", sinkURL,
		"BLOCK", strconv.FormatBool(block),
	).Replace(`
receivers:
  otlp:
    protocols:
      http: {endpoint: 127.0.0.1:OTLP_PORT}
      grpc: {endpoint: 127.0.0.1:GRPC_PORT}
processors:
  memory_limiter: {check_interval: 1s, limit_mib: LIMIT, spike_limit_mib: SPIKE}
  resource:
    attributes:
      - {action: insert, key: pod, from_attribute: k8s.pod.name}
      - {action: insert, key: container, from_attribute: k8s.container.name}
      - {action: insert, key: namespace, from_attribute: k8s.namespace.name}
      - {action: insert, key: loki.resource.labels, value: "pod, namespace, container"}
  batch: BATCH
exporters:
  loki:
    endpoint: SINK
    default_labels_enabled: {exporter: true, job: true}
    sending_queue: {enabled: true, block_on_overflow: BLOCK}
extensions:
  health_check: {endpoint: 127.0.0.1:HEALTH_PORT}
service:
  extensions: [health_check]
  telemetry:
    logs: {level: warn}
    metrics: {level: none}
  pipelines:
    logs: {receivers: [otlp], processors: [memory_limiter, resource, batch], exporters: [loki]}
`)
}

type payload struct {
	body    []byte
	req     plogotlp.ExportRequest // the same request, for gRPC
	records int
}

// makePayloads builds OTLP requests shaped like the seed's records
// (testdata/observed-log-loki.json, as the operator injects a Python pod): per resource (pod) the
// 13 attributes a Python pod instrumented by the operator carries, per record
// a severity, the 7 attributes the Python SDK's logging handler adds and a
// werkzeug-style access line (~70-200 bytes).
func makePayloads(n, records, resources int) []payload {
	r := rand.New(rand.NewPCG(7, 11))
	paths := strings.Fields("/hello /error /api/orders /api/cart/items /healthz /api/users/profile /static/app.js /api/payments/authorize")
	now := time.Now()
	out := make([]payload, n)
	for i := range out {
		ld := plog.NewLogs()
		for res := 0; res < resources; res++ {
			pod := r.IntN(200)
			ns := fmt.Sprintf("ns-%d", pod%5)
			deploy := fmt.Sprintf("deploy-%d", pod%17)
			rs := deploy + "-656f58b97c"
			podName := fmt.Sprintf("%s-%05d", rs, pod)
			rl := ld.ResourceLogs().AppendEmpty()
			a := rl.Resource().Attributes()
			a.PutStr("k8s.container.name", deploy)
			a.PutStr("k8s.deployment.name", deploy)
			a.PutStr("k8s.namespace.name", ns)
			a.PutStr("k8s.node.name", fmt.Sprintf("node-%d", pod%3))
			a.PutStr("k8s.pod.name", podName)
			a.PutStr("k8s.replicaset.name", rs)
			a.PutStr("service.instance.id", ns+"."+podName+"."+deploy)
			a.PutStr("service.name", deploy)
			a.PutStr("service.version", "amd64")
			a.PutStr("telemetry.auto.version", "0.44b0")
			a.PutStr("telemetry.sdk.language", "python")
			a.PutStr("telemetry.sdk.name", "opentelemetry")
			a.PutStr("telemetry.sdk.version", "1.23.0")
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("opentelemetry.sdk._logs._internal")
			for k := 0; k < records/resources; k++ {
				lr := sl.LogRecords().AppendEmpty()
				ts := now.Add(time.Duration(i*records+res*records/resources+k) * time.Microsecond)
				lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
				lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
				sev := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError}[r.IntN(5)]
				lr.SetSeverityNumber(sev)
				lr.SetSeverityText(map[plog.SeverityNumber]string{plog.SeverityNumberInfo: "INFO", plog.SeverityNumberWarn: "WARNING", plog.SeverityNumberError: "ERROR"}[sev])
				status := []int{200, 200, 201, 404, 500}[r.IntN(5)]
				path := paths[r.IntN(len(paths))]
				if r.IntN(3) == 0 {
					path += fmt.Sprintf("?session=%016x&page=%d", r.Uint64(), r.IntN(50))
				}
				lr.Body().SetStr(fmt.Sprintf("10.0.%d.%d - - [%s] \"GET %s HTTP/1.1\" %d - seq=%d",
					pod%256, r.IntN(256), ts.UTC().Format("02/Jan/2006 15:04:05"), path, status, i*records+res*records/resources+k))
				la := lr.Attributes()
				la.PutStr("code.filepath", "/usr/local/lib/python3.11/site-packages/werkzeug/_internal.py")
				la.PutStr("code.function", "_log")
				la.PutInt("code.lineno", 97)
				la.PutStr("otelServiceName", deploy)
				la.PutStr("otelSpanID", fmt.Sprintf("%016x", r.Uint64()))
				la.PutStr("otelTraceID", fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64()))
				la.PutBool("otelTraceSampled", r.IntN(2) == 0)
			}
		}
		req := plogotlp.NewExportRequestFromLogs(ld)
		body, err := req.MarshalProto()
		if err != nil {
			log.Fatal(err)
		}
		out[i] = payload{body: body, req: req, records: ld.LogRecordCount()}
	}
	return out
}

func post(client *http.Client, url string, body []byte) error {
	resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

// waitFor polls cond (testkit's wait loop, every 50 ms) for at most d.
func waitFor(d time.Duration, cond func() bool) bool {
	ok, _ := wait.Until(d, 50*time.Millisecond, func() (bool, string) { return cond(), "" })
	return ok
}

// running is a collector under test: a testkit process (stopped by its pid)
// with its ports and folder.
type running struct {
	*proc.Process
	otlpURL  string
	grpcAddr string
	dir      string
}

func freePort() int {
	p, err := ports.Pick()
	if err != nil {
		log.Fatal(err)
	}
	return p
}

func mustStart(bin, cfgTemplate string) *running { return mustStartIn(bin, cfgTemplate, nil) }

// mustStartIn starts a collector, inside the memory cgroup run if not nil
// (a shell puts itself there and execs the collector, so every byte the
// collector allocates is charged to it).
func mustStartIn(bin, cfgTemplate string, run *memCgroupRun, env ...string) *running {
	otlpPort, grpcPort, healthPort := freePort(), freePort(), freePort()
	cfg := strings.NewReplacer("OTLP_PORT", strconv.Itoa(otlpPort), "GRPC_PORT", strconv.Itoa(grpcPort), "HEALTH_PORT", strconv.Itoa(healthPort)).Replace(cfgTemplate)
	dir, err := os.MkdirTemp("", "autotel-bench-")
	if err != nil {
		log.Fatal(err)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		log.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", path)
	if run != nil {
		cmd = exec.Command("/bin/sh", "-c", `echo $$ > "$1" && shift && exec "$@"`, "sh", run.procs, bin, "--config", path)
	}
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := proc.Start(bin, cmd)
	if err != nil {
		log.Fatal(err)
	}
	go func() { <-p.Done(); logf.Close() }()
	r := &running{Process: p, otlpURL: fmt.Sprintf("http://127.0.0.1:%d/v1/logs", otlpPort), grpcAddr: fmt.Sprintf("127.0.0.1:%d", grpcPort), dir: dir}
	health := fmt.Sprintf("http://127.0.0.1:%d/", healthPort)
	if !waitFor(30*time.Second, func() bool { return wait.HTTPOK(health) }) || !r.alive() {
		out, _ := os.ReadFile(filepath.Join(dir, "collector.log"))
		r.stop()
		log.Fatalf("%s did not become healthy:\n%s", bin, out)
	}
	return r
}

func (r *running) alive() bool { return !r.Exited() }

// stop ends the collector by its pid (SIGTERM, then SIGKILL after 20 s) and
// removes its folder.
func (r *running) stop() {
	_ = r.Stop(20 * time.Second)
	_ = os.RemoveAll(r.dir)
}

// cpuSeconds is the process's user+system CPU time so far.
func (r *running) cpuSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.Pid()))
	if err != nil {
		log.Fatalf("reading CPU time: %v", err)
	}
	// Fields after the parenthesised command name; utime and stime are the
	// 14th and 15th fields of the whole line, in clock ticks (100 Hz).
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, err1 := strconv.ParseFloat(fields[11], 64)
	st, err2 := strconv.ParseFloat(fields[12], 64)
	if err := errors.Join(err1, err2); err != nil {
		log.Fatalf("parsing /proc stat: %v", err)
	}
	return (ut + st) / 100
}

// rss is the current resident set (VmRSS).
func (r *running) rss() int64 { return r.status("VmRSS:") }

// peakRSS is VmHWM, the process's resident-set high-water mark.
func (r *running) peakRSS() int64 { return r.status("VmHWM:") }

// status reads a kB field of /proc/<pid>/status.
func (r *running) status(field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.Pid()))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return -1
}
