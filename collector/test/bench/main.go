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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/autotel/autotel/collector/internal/lokipush"
	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/proc"
	"github.com/autotel/autotel/testkit/wait"
)

var (
	ours      = flag.String("collector", "", "autotel-collector binary")
	baseline  = flag.String("baseline", "", "baseline collector binary (upstream lokiexporter v0.130.0)")
	duration  = flag.Duration("duration", 20*time.Second, "load duration per collector")
	senders   = flag.Int("senders", 4, "concurrent OTLP/HTTP senders")
	perReq    = flag.Int("records", 500, "log records per OTLP request")
	resources = flag.Int("resources", 20, "resources (pods) per OTLP request")
	overload  = flag.Duration("overload", 15*time.Second, "overload phase duration (0 skips it)")
	memLimit  = flag.Int("mem-limit-mib", 200, "memory_limiter limit_mib in the overload phase")
)

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

	// 2. Throughput.
	fmt.Printf("== throughput: %d senders x %d records/request over %d resources, %s per collector ==\n", *senders, *perReq, *resources, *duration)
	var res [2]result
	for i, bin := range []string{*baseline, *ours} {
		sink.Reset()
		res[i] = runLoad(bin, sink, payloads)
		res[i].name = []string{"baseline lokiexporter v0.130.0", "autotel-collector"}[i]
	}
	// CPU-seconds per million records is also microseconds per record.
	fmt.Printf("%-32s %12s %14s %12s %10s %12s\n", "collector", "records/s", "CPU-s/1M rec", "peak RSS", "delivered", "cores used")
	for _, r := range res {
		fmt.Printf("%-32s %12.0f %14.2f %8.0f MiB %10d %12.2f\n", r.name, r.recPerSec(), r.cpuPerMillion(), float64(r.peakRSS)/(1<<20), r.delivered, r.cpu/r.wall)
	}
	ratio := res[0].cpuPerMillion() / res[1].cpuPerMillion()
	fmt.Printf("\nrecords per CPU-second: autotel %.0f vs baseline %.0f = %.2fx (goal 4x, minimum 2x)\n", 1e6/res[1].cpuPerMillion(), 1e6/res[0].cpuPerMillion(), ratio)
	fmt.Printf("records/s delivered: %.2fx\n\n", res[1].recPerSec()/res[0].recPerSec())

	// 3. Overload.
	if *overload > 0 {
		fmt.Printf("== overload: %s, slow sink, 1M-request queue, memory_limiter %d MiB ==\n", *overload, *memLimit)
		runOverload(*ours, payloads, true)
		runOverload(*baseline, payloads, false)
	}
	if ratio < 2 {
		fmt.Println("FAIL: below 2x the baseline's records per CPU-second")
		os.Exit(1)
	}
}

type result struct {
	name      string
	delivered int64
	cpu, wall float64
	peakRSS   int64
}

func (r result) recPerSec() float64     { return float64(r.delivered) / r.wall }
func (r result) cpuPerMillion() float64 { return r.cpu / float64(r.delivered) * 1e6 }

func runLoad(bin string, sink *lokipush.Server, payloads []payload) result {
	c := mustStart(bin, pipelineConfig(sink.URL, true, 1024, false))
	defer c.stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders}}

	// Warm up: connections, pools, heap.
	for _, p := range payloads[:8] {
		if err := post(client, c.otlpURL, p.body); err != nil {
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
				if err := post(client, c.otlpURL, p.body); err != nil {
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
		log.Printf("%s: %d records refused by the collector during the run", filepath.Base(bin), refused.Load())
	}
	return r
}

// runOverload offers far more than a slow sink takes, with a queue big enough
// to eat all memory: memory_limiter must refuse the excess.
func runOverload(bin string, payloads []payload, strict bool) {
	// 4 consumers x one 8192-record batch per 2 s: ~16k records/s, a
	// quarter of what the senders offer, so the queue grows until
	// memory_limiter pushes back.
	slow, err := lokipush.Start(func(string, int) (int, string) {
		time.Sleep(2 * time.Second)
		return 0, ""
	}, true)
	if err != nil {
		log.Fatal(err)
	}
	defer slow.Close()
	// As the collector's Helm chart does (useGOMEMLIMIT), let the Go GC
	// know the budget too, so garbage does not pile up above the limit.
	c := mustStartEnv(bin, overloadConfig(slow.URL, *memLimit), fmt.Sprintf("GOMEMLIMIT=%dMiB", *memLimit*4/5))
	defer c.stop()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *senders}}
	start := time.Now()
	var accepted, refused atomic.Int64
	var wg sync.WaitGroup
	// RSS sampled through the run: bounded means the second half's peak is
	// not above the first half's, i.e. memory stopped growing.
	var firstHalf, secondHalf int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(200 * time.Millisecond):
			}
			rss := c.rss()
			if time.Since(start) < *overload/2 {
				firstHalf = max(firstHalf, rss)
			} else {
				secondHalf = max(secondHalf, rss)
			}
		}
	}()
	for s := 0; s < *senders; s++ {
		wg.Add(1)
		go func(s int) {
			defer wg.Done()
			for i := s; time.Since(start) < *overload; i += *senders {
				p := payloads[i%len(payloads)]
				if err := post(client, c.otlpURL, p.body); err != nil {
					refused.Add(int64(p.records))
					time.Sleep(5 * time.Millisecond)
					continue
				}
				accepted.Add(int64(p.records))
			}
		}(s)
	}
	wg.Wait()
	close(stopSampling)
	<-sampled
	alive := c.alive()
	mib := func(b int64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("overload %-22s memory_limiter %d MiB: accepted %d, refused %d records; RSS peak %.0f MiB (first half %.0f, second half %.0f); alive: %v\n",
		filepath.Base(bin), *memLimit, accepted.Load(), refused.Load(), mib(c.peakRSS()), mib(firstHalf), mib(secondHalf), alive)
	switch {
	case !strict:
	case !alive:
		fmt.Println("FAIL: collector died under overload")
		os.Exit(1)
	case refused.Load() == 0:
		fmt.Println("FAIL: nothing was refused; the phase did not overload the collector")
		os.Exit(1)
	case secondHalf > firstHalf+firstHalf/4:
		fmt.Println("FAIL: memory kept growing under overload")
		os.Exit(1)
	}
}

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

func overloadConfig(sinkURL string, limitMiB int) string {
	cfg := pipelineConfig(sinkURL, false, limitMiB, false)
	// A 1s check lets a fast receiver accept a second's worth of data past
	// the limit; 100ms keeps the overshoot small.
	cfg = strings.Replace(cfg, "check_interval: 1s", "check_interval: 100ms", 1)
	return strings.Replace(cfg, "sending_queue: {enabled: true, block_on_overflow: false}",
		"sending_queue: {enabled: true, queue_size: 1000000, num_consumers: 4}", 1)
}

type payload struct {
	body    []byte
	records int
}

// makePayloads builds OTLP requests shaped like Kubernetes pod logs: per
// resource the k8s attributes the k8sattributes processor adds plus service
// identity; per record a severity, two attributes and ~200 bytes of text.
func makePayloads(n, records, resources int) []payload {
	r := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields("request handled user session cache miss hit upstream latency retry connection pool db query select insert update order payment checkout cart item inventory warehouse shipping token auth refresh granted denied timeout")
	now := time.Now()
	out := make([]payload, n)
	for i := range out {
		ld := plog.NewLogs()
		for res := 0; res < resources; res++ {
			pod := r.IntN(200)
			ns := fmt.Sprintf("ns-%d", pod%5)
			deploy := fmt.Sprintf("deploy-%d", pod%17)
			rl := ld.ResourceLogs().AppendEmpty()
			a := rl.Resource().Attributes()
			a.PutStr("k8s.namespace.name", ns)
			a.PutStr("k8s.deployment.name", deploy)
			a.PutStr("k8s.pod.name", fmt.Sprintf("%s-7d9f8c6b5-%05d", deploy, pod))
			a.PutStr("k8s.pod.uid", fmt.Sprintf("%08x-0000-4000-8000-%012x", pod, pod))
			a.PutStr("k8s.container.name", "app")
			a.PutStr("k8s.node.name", fmt.Sprintf("node-%d", pod%3))
			a.PutStr("service.name", deploy)
			a.PutStr("service.namespace", ns)
			sl := rl.ScopeLogs().AppendEmpty()
			sl.Scope().SetName("loadgen")
			for k := 0; k < records/resources; k++ {
				lr := sl.LogRecords().AppendEmpty()
				ts := now.Add(time.Duration(i*records+res*records/resources+k) * time.Microsecond)
				lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
				lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(ts))
				sev := []plog.SeverityNumber{plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberInfo, plog.SeverityNumberWarn, plog.SeverityNumberError}[r.IntN(5)]
				lr.SetSeverityNumber(sev)
				lr.SetSeverityText(map[plog.SeverityNumber]string{plog.SeverityNumberInfo: "INFO", plog.SeverityNumberWarn: "WARN", plog.SeverityNumberError: "ERROR"}[sev])
				var b strings.Builder
				fmt.Fprintf(&b, "seq=%d msg=%q", i*records+k, words[r.IntN(len(words))]+" "+words[r.IntN(len(words))])
				for b.Len() < 180 {
					b.WriteString(" " + words[r.IntN(len(words))])
				}
				fmt.Fprintf(&b, " id=%016x", r.Uint64())
				lr.Body().SetStr(b.String())
				lr.Attributes().PutStr("http.method", []string{"GET", "POST"}[r.IntN(2)])
				lr.Attributes().PutInt("http.status_code", int64([]int{200, 200, 201, 404, 500}[r.IntN(5)]))
			}
		}
		body, err := plogotlp.NewExportRequestFromLogs(ld).MarshalProto()
		if err != nil {
			log.Fatal(err)
		}
		out[i] = payload{body: body, records: ld.LogRecordCount()}
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

// waitFor reports whether cond holds within d.
func waitFor(d time.Duration, cond func() bool) bool {
	ok, _ := wait.Until(d, 50*time.Millisecond, func() (bool, string) { return cond(), "" })
	return ok
}

// running is a collector under test, stopped by its pid.
type running struct {
	*proc.Process
	otlpURL string
	dir     string
	logf    *os.File
}

func mustStart(bin, cfgTemplate string) *running { return mustStartEnv(bin, cfgTemplate) }

func mustStartEnv(bin, cfgTemplate string, env ...string) *running {
	otlpPort, err := ports.Pick()
	if err != nil {
		log.Fatal(err)
	}
	healthPort, err := ports.Pick()
	if err != nil {
		log.Fatal(err)
	}
	cfg := strings.NewReplacer("OTLP_PORT", strconv.Itoa(otlpPort), "HEALTH_PORT", strconv.Itoa(healthPort)).Replace(cfgTemplate)
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
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	p, err := proc.Start("autotel-collector", cmd)
	if err != nil {
		log.Fatal(err)
	}
	r := &running{Process: p, otlpURL: fmt.Sprintf("http://127.0.0.1:%d/v1/logs", otlpPort), dir: dir, logf: logf}
	health := fmt.Sprintf("http://127.0.0.1:%d/", healthPort)
	if !waitFor(30*time.Second, func() bool { return wait.HTTPOK(health) }) || !r.alive() {
		out, _ := os.ReadFile(filepath.Join(dir, "collector.log"))
		r.stop()
		log.Fatalf("%s did not become healthy:\n%s", bin, out)
	}
	return r
}

func (r *running) alive() bool { return !r.Exited() }

func (r *running) stop() {
	_ = r.Stop(20 * time.Second)
	_ = r.logf.Close()
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
