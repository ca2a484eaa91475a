package lokiexporter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/autotel/autotel/collector/exporter/lokiexporter/internal/metadata"
)

const (
	// Upstream quotes at most this much of Loki's answer in its error.
	maxErrMsgLen = 1024
	// Loki's answer to a stream without labels when discover_service_name is
	// off; upstream counts those records separately, and so do we.
	missingLabelsErrorMsg = "error at least one label pair is required per stream"
)

var (
	reasonRejected = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "rejected")))
	reasonAttrs    = func() (a [numDropReasons]metric.AddOption) {
		for i, name := range dropReasonNames {
			a[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", name)))
		}
		return a
	}()
	kindLabel = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "label")))
	kindSM    = metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", "structured_metadata")))
)

// limitLogEvery rate-limits the warning about records dropped by the
// pre-send limit checks: bad input tends to come in floods, and a log line
// per batch would flood the collector's own logs (the counters are exact).
const limitLogEvery = 10 * time.Second

// maxErrBody is how much of Loki's error answer is read to count the refused
// entries; Loki lists one message per refused entry (grouped when equal), so
// a batch of thousands of too-old records answers with hundreds of KiB.
const maxErrBody = 4 << 20

type lokiExporter struct {
	cfg    *Config
	set    component.TelemetrySettings
	tr     *translator
	client *http.Client

	telemetry    *metadata.TelemetryBuilder
	lastLimitLog atomic.Int64

	// Marshal and snappy buffers, reused across pushes: a push request is
	// hundreds of KiB and would otherwise be garbage twice per push.
	bufs sync.Pool
}

func newExporter(cfg *Config, set component.TelemetrySettings) (*lokiExporter, error) {
	tr, err := newTranslator(cfg)
	if err != nil {
		return nil, err
	}
	// The counters are declared in metadata.yaml and built by mdatagen's
	// generated telemetry builder (internal/metadata), as in every
	// collector component.
	tb, err := metadata.NewTelemetryBuilder(set)
	if err != nil {
		return nil, fmt.Errorf("creating the Loki exporter's counters: %w", err)
	}
	return &lokiExporter{cfg: cfg, set: set, tr: tr, telemetry: tb}, nil
}

func (e *lokiExporter) start(ctx context.Context, host component.Host) error {
	client, err := e.cfg.ToClient(ctx, host.GetExtensions(), e.set)
	if err != nil {
		return fmt.Errorf("creating Loki HTTP client: %w", err)
	}
	e.client = client
	return nil
}

func (e *lokiExporter) shutdown(context.Context) error {
	if e.client != nil {
		e.client.CloseIdleConnections()
	}
	e.telemetry.Shutdown()
	return nil
}

func (e *lokiExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	conv := e.tr.convert(ld)
	// The requests below reference the conversion's arena; they are encoded
	// and sent before pushLogs returns.
	defer conv.release()
	e.recordConversion(ctx, ld, conv)

	active := 0
	for _, tb := range conv.tenants {
		if tb.records > 0 {
			active++
		}
	}
	if active == 0 {
		if limited := conv.dropped - conv.byReason[dropConversion]; limited > 0 {
			return consumererror.NewPermanent(fmt.Errorf("failed to transform logs into Loki log streams: all %d records were dropped, %d of them by limits.* (see otelcol_lokiexporter_dropped_log_records)", conv.dropped, limited))
		}
		return consumererror.NewPermanent(errors.New("failed to transform logs into Loki log streams"))
	}

	lines := conv.lines()
	var retryErrs, permErrs []error
	var failed []bool // per tenant: must be retried
	for i, tb := range conv.tenants {
		if tb.records == 0 {
			continue
		}
		req := conv.pushRequest(tb, lines)
		err := e.send(ctx, tb.tenant, req)
		if err == nil {
			continue
		}
		if consumererror.IsPermanent(err) {
			// Loki stores the valid part of a request it answers 400 to;
			// count only what it refused, and send nothing again.
			refused, exact := tb.records, false
			var rej *rejection
			if errors.As(err, &rej) {
				refused, exact = countRefused(rej.body, rej.truncated, req)
			}
			if !exact {
				refused = tb.records
				e.set.Logger.Info("Loki's answer does not say which entries it refused; counting every record of the request as rejected (an upper bound: Loki may have stored some)",
					zap.String("tenant", tb.tenant), zap.Int("records", tb.records))
			}
			e.telemetry.LokiexporterDroppedLogRecords.Add(ctx, int64(refused), reasonRejected)
			if strings.Contains(err.Error(), missingLabelsErrorMsg) {
				e.telemetry.LokiexporterSendFailedDueToMissingLabels.Add(ctx, int64(tb.records))
			}
			if active == 1 {
				return err
			}
			permErrs = append(permErrs, tenantError(tb.tenant, err))
			continue
		}
		if failed == nil {
			failed = make([]bool, len(conv.tenants))
		}
		failed[i] = true
		retryErrs = append(retryErrs, tenantError(tb.tenant, err))
	}
	if retryErrs == nil {
		if permErrs != nil {
			return consumererror.NewPermanent(errors.Join(permErrs...))
		}
		return nil
	}
	if permErrs != nil {
		// Logged, not returned: one permanent error in the chain would make
		// exporterhelper drop the retryable tenants too.
		e.set.Logger.Error("Loki rejected some tenants' logs; dropping those, retrying the others",
			zap.Errors("errors", permErrs))
	}
	retry := ld
	if len(conv.tenants) > 1 || conv.dropped > 0 {
		// Hand back only what must be sent again, so tenants Loki already
		// accepted are not stored twice (upstream re-sent the whole batch).
		retry = selectRecords(ld, conv.recTenant, failed)
	}
	return consumererror.NewLogs(errors.Join(retryErrs...), retry)
}

// recordConversion accounts for what the translation dropped or changed.
func (e *lokiExporter) recordConversion(ctx context.Context, ld plog.Logs, conv *conversion) {
	if n := conv.byReason[dropConversion]; n > 0 {
		e.set.Logger.Info("not all log entries were converted to Loki",
			zap.Int("dropped", n),
			zap.Int("submitted", ld.LogRecordCount()-conv.dropped),
			zap.Errors("errors", conv.errs))
	}
	limitDrops := 0
	for r, n := range conv.byReason {
		if n > 0 {
			e.telemetry.LokiexporterDroppedLogRecords.Add(ctx, int64(n), reasonAttrs[r])
			if dropReason(r) != dropConversion {
				limitDrops += n
			}
		}
	}
	if conv.skippedLabelNames > 0 {
		e.telemetry.LokiexporterSkippedAttributeNames.Add(ctx, int64(conv.skippedLabelNames), kindLabel)
	}
	if conv.skippedSMNames > 0 {
		e.telemetry.LokiexporterSkippedAttributeNames.Add(ctx, int64(conv.skippedSMNames), kindSM)
	}
	if conv.truncated > 0 {
		e.telemetry.LokiexporterTruncatedLogRecords.Add(ctx, int64(conv.truncated))
	}
	if limitDrops == 0 {
		return
	}
	now := time.Now().UnixNano()
	last := e.lastLimitLog.Load()
	if now-last < int64(limitLogEvery) || !e.lastLimitLog.CompareAndSwap(last, now) {
		return
	}
	fields := []zap.Field{zap.Int("dropped", limitDrops), zap.Int("batch_records", ld.LogRecordCount())}
	for r, n := range conv.byReason {
		if n > 0 && dropReason(r) != dropConversion {
			fields = append(fields, zap.String(dropReasonNames[r], fmt.Sprintf("%d, e.g. %s", n, conv.examples[r])))
		}
	}
	e.set.Logger.Warn("dropping log records Loki would refuse (limits.*; counted in otelcol_lokiexporter_dropped_log_records, this message at most every "+limitLogEvery.String()+")", fields...)
}

func tenantError(tenant string, err error) error {
	if tenant == "" {
		return err
	}
	return fmt.Errorf("tenant %q: %w", tenant, err)
}

// selectRecords copies the records whose tenant failed, keeping their
// resource and scope.
func selectRecords(ld plog.Logs, recTenant []int32, failed []bool) plog.Logs {
	out := plog.NewLogs()
	n := 0
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		var outRL plog.ResourceLogs
		haveRL := false
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			var outSL plog.ScopeLogs
			haveSL := false
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				t := recTenant[n]
				n++
				if t < 0 || !failed[t] {
					continue
				}
				if !haveRL {
					haveRL = true
					outRL = out.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(outRL.Resource())
					outRL.SetSchemaUrl(rl.SchemaUrl())
				}
				if !haveSL {
					haveSL = true
					outSL = outRL.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(outSL.Scope())
					outSL.SetSchemaUrl(sl.SchemaUrl())
				}
				lrs.At(k).CopyTo(outSL.LogRecords().AppendEmpty())
			}
		}
	}
	return out
}

type pushBuffers struct{ raw, compressed []byte }

// encode is the wire format Loki expects: protobuf, then snappy's block
// format (not the framed one). The result aliases b.
func (b *pushBuffers) encode(req *push.PushRequest) ([]byte, error) {
	size := req.Size()
	if cap(b.raw) < size {
		b.raw = make([]byte, size)
	}
	n, err := req.MarshalToSizedBuffer(b.raw[:size])
	if err != nil {
		return nil, fmt.Errorf("marshalling Loki push request: %w", err)
	}
	raw := b.raw[size-n : size]
	if need := snappy.MaxEncodedLen(len(raw)); cap(b.compressed) < need {
		b.compressed = make([]byte, need)
	}
	return snappy.Encode(b.compressed[:cap(b.compressed)], raw), nil
}

// pooledBody is a request body whose buffers go back to the pool when the
// HTTP transport closes it. client.Do can return (with the response, or with
// an error) while the transport is still writing the body, e.g. when Loki
// answers before reading it all; returning the buffers when Do returned let
// the next push overwrite bytes still being sent (issue 17). net/http
// promises to close a request body exactly when it is done with it, possibly
// from another goroutine after Do has returned.
type pooledBody struct {
	bytes.Reader
	once    sync.Once
	release func()
}

func (b *pooledBody) Close() error {
	b.once.Do(b.release)
	return nil
}

func (e *lokiExporter) send(ctx context.Context, tenant string, req *push.PushRequest) error {
	b, _ := e.bufs.Get().(*pushBuffers)
	if b == nil {
		b = &pushBuffers{}
	}
	body, err := b.encode(req)
	if err != nil {
		e.bufs.Put(b)
		return consumererror.NewPermanent(err)
	}
	rb := &pooledBody{release: func() {
		// Buffers grown by one huge request are not kept for the next ones.
		if cap(b.raw) <= maxPooledArena && cap(b.compressed) <= maxPooledArena {
			e.bufs.Put(b)
		}
	}}
	rb.Reset(body)

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, rb)
	if err != nil {
		_ = rb.Close()
		return consumererror.NewPermanent(fmt.Errorf("building Loki push request: %w", err))
	}
	// With a body type net/http does not know it would send chunked; Loki
	// and proxies in front of it expect a length. No GetBody: the transport
	// must not re-read a body whose buffer may already be reused.
	httpReq.ContentLength = int64(len(body))
	httpReq.Header.Set("Content-Type", "application/x-protobuf")
	if tenant != "" {
		// Static headers are applied after this by confighttp, so a
		// configured X-Scope-OrgID wins over the hint, as upstream.
		httpReq.Header.Set("X-Scope-OrgID", tenant)
	}

	resp, err := e.client.Do(httpReq)
	if err != nil {
		// Transport errors are worth retrying (Loki restarting, network).
		return fmt.Errorf("pushing to Loki: %w", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}

	full, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody+1))
	truncated := len(full) > maxErrBody
	if truncated {
		full = full[:maxErrBody]
	}
	line := string(full)
	if i := strings.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	if len(line) > maxErrMsgLen {
		line = line[:maxErrMsgLen]
	}
	err = fmt.Errorf("HTTP %d %q: %s", resp.StatusCode, http.StatusText(resp.StatusCode), line)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		return consumererror.NewPermanent(&rejection{err: err, body: string(full), truncated: truncated})
	}
	// 429 and 5xx are retried with the whole request. Loki also answers
	// 500 when one record's structured-metadata name cannot be normalised,
	// which used to cost the whole batch after 5 minutes of retries. We
	// prevent that by validating before sending (names: normalizeSMName,
	// normalizeLabel; limits: addEntry, checkLabels) rather than by
	// splitting a failed request and retrying the halves: a 5xx is mostly
	// overload or an ingester failure, where Loki does not say what it
	// already wrote, so halves would multiply the load while Loki is
	// struggling and store duplicates of whatever part got through; and a
	// bisection needs log2(streams) round trips per bad record. Validation
	// costs nothing on the wire and drops only the offending record or name.
	if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
		return exporterhelper.NewThrottleRetry(err, d)
	}
	return err
}

// rejection is a permanent 4xx with Loki's whole answer, which names the
// entries it refused.
type rejection struct {
	err       error
	body      string
	truncated bool
}

func (r *rejection) Error() string { return r.err.Error() }
func (r *rejection) Unwrap() error { return r.err }

// retryAfter reads a Retry-After header in seconds or as an HTTP date; Loki
// behind a gateway or rate limiter may send one with 429 and 503.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}
