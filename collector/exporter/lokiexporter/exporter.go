package lokiexporter

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
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
)

const (
	// Upstream quotes at most this much of Loki's answer in its error.
	maxErrMsgLen = 1024
	// Loki's answer to a stream without labels when discover_service_name is
	// off; upstream counts those records separately, and so do we.
	missingLabelsErrorMsg = "error at least one label pair is required per stream"

	scopeName = "github.com/autotel/autotel/collector/exporter/lokiexporter"
)

var (
	reasonConversion = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "conversion")))
	reasonRejected   = metric.WithAttributeSet(attribute.NewSet(attribute.String("reason", "rejected")))
)

type lokiExporter struct {
	cfg    *Config
	set    component.TelemetrySettings
	tr     *translator
	client *http.Client

	missingLabels metric.Int64Counter
	dropped       metric.Int64Counter

	// Marshal and snappy buffers, reused across pushes: a push request is
	// hundreds of KiB and would otherwise be garbage twice per push.
	bufs sync.Pool
}

func newExporter(cfg *Config, set component.TelemetrySettings) (*lokiExporter, error) {
	tr, err := newTranslator(cfg)
	if err != nil {
		return nil, err
	}
	meter := set.MeterProvider.Meter(scopeName)
	missing, err := meter.Int64Counter("otelcol_lokiexporter_send_failed_due_to_missing_labels",
		metric.WithDescription("Number of log records failed to send because labels were missing"),
		metric.WithUnit("1"))
	if err != nil {
		return nil, fmt.Errorf("creating missing-labels counter: %w", err)
	}
	dropped, err := meter.Int64Counter("otelcol_lokiexporter_dropped_log_records",
		metric.WithDescription("Log records the Loki exporter dropped for good: reason=conversion (could not be turned into a Loki entry) or rejected (Loki answered with a permanent 4xx)"),
		metric.WithUnit("{records}"))
	if err != nil {
		return nil, fmt.Errorf("creating dropped-records counter: %w", err)
	}
	return &lokiExporter{cfg: cfg, set: set, tr: tr, missingLabels: missing, dropped: dropped}, nil
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
	return nil
}

func (e *lokiExporter) pushLogs(ctx context.Context, ld plog.Logs) error {
	conv := e.tr.convert(ld)
	// The requests below reference the conversion's arena; they are encoded
	// and sent before pushLogs returns.
	defer conv.release()
	if conv.dropped > 0 {
		e.set.Logger.Info("not all log entries were converted to Loki",
			zap.Int("dropped", conv.dropped),
			zap.Int("submitted", ld.LogRecordCount()-conv.dropped),
			zap.Errors("errors", conv.errs))
		e.dropped.Add(ctx, int64(conv.dropped), reasonConversion)
	}

	active := 0
	for _, tb := range conv.tenants {
		if tb.records > 0 {
			active++
		}
	}
	if active == 0 {
		return consumererror.NewPermanent(errors.New("failed to transform logs into Loki log streams"))
	}

	lines := conv.lines()
	var retryErrs, permErrs []error
	var failed []bool // per tenant: must be retried
	for i, tb := range conv.tenants {
		if tb.records == 0 {
			continue
		}
		err := e.send(ctx, tb.tenant, conv.pushRequest(tb, lines))
		if err == nil {
			continue
		}
		if consumererror.IsPermanent(err) {
			e.dropped.Add(ctx, int64(tb.records), reasonRejected)
			if strings.Contains(err.Error(), missingLabelsErrorMsg) {
				e.missingLabels.Add(ctx, int64(tb.records))
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

func (e *lokiExporter) send(ctx context.Context, tenant string, req *push.PushRequest) error {
	b, _ := e.bufs.Get().(*pushBuffers)
	if b == nil {
		b = &pushBuffers{}
	}
	defer e.bufs.Put(b)

	body, err := b.encode(req)
	if err != nil {
		return consumererror.NewPermanent(err)
	}

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, e.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("building Loki push request: %w", err))
	}
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

	scanner := bufio.NewScanner(io.LimitReader(resp.Body, maxErrMsgLen))
	line := ""
	if scanner.Scan() {
		line = scanner.Text()
	}
	err = fmt.Errorf("HTTP %d %q: %s", resp.StatusCode, http.StatusText(resp.StatusCode), line)
	if resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
		return consumererror.NewPermanent(err)
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
		return exporterhelper.NewThrottleRetry(err, d)
	}
	return err
}

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
