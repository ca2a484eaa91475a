package lokiexporter

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/pdata/plog"
)

// TestRequestBufferOutlivesEarlyAnswer is item 6 (issue 17). http.RoundTripper
// may hand back the response and go on reading the request body in another
// goroutine ("RoundTrip must always close the body ... may do so in a
// separate goroutine even after RoundTrip returns"); net/http's HTTP/1
// transport does so when Loki answers before reading the whole body and
// the write outlasts its 50 ms wait, and on timeouts. The transport below
// does exactly that, always, so the old code (buffer back to the pool when
// client.Do returned) reused a buffer still being read: the reader sees the
// next request's bytes, and -race reports the overlap.
func TestRequestBufferOutlivesEarlyAnswer(t *testing.T) {
	e := startExporter(t, "http://127.0.0.1:1/loki/api/v1/push", nil)
	tr := &lateReader{}
	e.client.Transport = tr
	const requests = 30
	for i := range requests {
		id := fmt.Sprintf("r%03d", i)
		req := &push.PushRequest{Streams: []push.Stream{{Labels: `{job="x"}`}}}
		for k := range 200 {
			req.Streams[0].Entries = append(req.Streams[0].Entries, push.Entry{Timestamp: time.Now(), Line: fmt.Sprintf("%s/%d/%d", id, k, rand.Int64())})
		}
		ctx := context.WithValue(context.Background(), idKey{}, id)
		if err := e.send(ctx, "", req); err == nil || !strings.Contains(err.Error(), "refused early") {
			t.Fatalf("send %s: %v, want the 400", id, err)
		}
	}
	tr.wg.Wait()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.read != requests {
		t.Fatalf("read %d bodies, want %d", tr.read, requests)
	}
	if len(tr.bad) > 0 {
		t.Errorf("%d of %d bodies were overwritten while being sent, e.g. %s", len(tr.bad), tr.read, tr.bad[0])
	}
}

type idKey struct{}

// lateReader answers 400 at once and reads and closes the request body
// afterwards, checking it is the request it was given.
type lateReader struct {
	wg   sync.WaitGroup
	mu   sync.Mutex
	read int
	bad  []string
}

func (l *lateReader) RoundTrip(r *http.Request) (*http.Response, error) {
	id, _ := r.Context().Value(idKey{}).(string)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer r.Body.Close()
		time.Sleep(2 * time.Millisecond) // the caller has moved on by now
		compressed, err := io.ReadAll(r.Body)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.read++
		raw, err2 := snappy.Decode(nil, compressed)
		var req push.PushRequest
		if err == nil && err2 == nil {
			err = req.Unmarshal(raw)
		}
		if err == nil {
			err = err2
		}
		if err != nil {
			l.bad = append(l.bad, id+": undecodable body: "+err.Error())
			return
		}
		for _, st := range req.Streams {
			for _, e := range st.Entries {
				if !strings.HasPrefix(e.Line, id+"/") {
					l.bad = append(l.bad, fmt.Sprintf("request %s carries line %.20q", id, e.Line))
					return
				}
			}
		}
	}()
	return &http.Response{
		StatusCode: http.StatusBadRequest,
		Body:       io.NopCloser(strings.NewReader("refused early\n")),
		Header:     http.Header{},
		Request:    r,
	}, nil
}

// TestHeapGrowthBoundedByBatchBytes is item 5 (issue 17): batches mixing
// small lines with lines up to 1 MiB, in random order, must allocate in
// proportion to their own bytes. Before, the arena of a batch was reserved
// as records x the previous batch's average line x 9/8: after one batch of
// 256 KiB lines, a batch of 8192 small records reserved 2 GiB.
func TestHeapGrowthBoundedByBatchBytes(t *testing.T) {
	tr := testTranslator(t, func(c *Config) { c.Format = "raw"; c.Limits.MaxLineSize = 0 })
	var bufs pushBuffers
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{100, 1 << 10, 64 << 10, 256 << 10, 1 << 20}
	body := strings.Repeat("b", 1<<20)
	var worst float64
	for batch := range 60 {
		ld := plog.NewLogs()
		lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
		// Three shapes in random order (the first two batches fixed):
		// many small lines; a few huge lines (64 KiB - 1 MiB) alone, which
		// raised the old per-line estimate; small lines with some huge ones.
		shape := r.IntN(3)
		if batch < 2 {
			shape = 1 - batch
		}
		records := 1 + r.IntN(500)
		if shape == 1 {
			records = 1 + r.IntN(3)
		}
		bytes := 0
		for i := range records {
			n := sizes[r.IntN(2)]
			if shape == 1 || shape == 2 && i%50 == 0 {
				n = sizes[2+r.IntN(3)]
			}
			lr := lrs.AppendEmpty()
			lr.Body().SetStr(body[:n])
			lr.SetTimestamp(1)
			bytes += n
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		c := tr.convert(ld)
		for _, tb := range c.tenants {
			if _, err := bufs.encode(c.pushRequest(tb, c.lines())); err != nil {
				t.Fatal(err)
			}
		}
		c.release()
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		// Bound: the lines' bytes a few times over (the arena grows by
		// append; protobuf and snappy buffers hold a copy each) plus per
		// record bookkeeping plus a fixed reservation cap.
		bound := uint64(8*bytes + 600*records + (4 << 20) + (1 << 20))
		ratio := float64(alloc) / float64(bytes)
		worst = max(worst, ratio)
		if alloc > bound {
			t.Errorf("batch %d: %d records, %d line bytes: allocated %d bytes (%.1fx), bound %d", batch, records, bytes, alloc, ratio, bound)
		}
	}
	t.Logf("worst allocation per line byte: %.1fx", worst)
}
