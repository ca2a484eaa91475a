// Package collectortest holds what the collector module's tests share: the
// autotel-collector binary the end-to-end suites run, and batches of log
// records with one resource each.
package collectortest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

// EnvBin names a prebuilt autotel-collector; without it, CollectorBin
// builds one.
const EnvBin = "AUTOTEL_COLLECTOR_BIN"

// CollectorBin returns $AUTOTEL_COLLECTOR_BIN, or builds autotel-collector
// into a fresh temp folder; cleanup removes that folder.
func CollectorBin() (bin string, cleanup func(), err error) {
	if bin := os.Getenv(EnvBin); bin != "" {
		return bin, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "autotel-collector-bin-")
	if err != nil {
		return "", nil, fmt.Errorf("creating a folder for the collector build: %w", err)
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	bin = filepath.Join(dir, "autotel-collector")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/autotel/autotel/collector/cmd/autotel-collector").CombinedOutput()
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("building autotel-collector (or set %s): %w\n%s", EnvBin, err, out)
	}
	return bin, cleanup, nil
}

// Rec is one record of a mixed batch, under a resource of its own.
type Rec struct {
	Res   map[string]any
	Attrs map[string]any
	Body  string
	TS    time.Time
}

// Logs is a batch of recs, each under its own resource and scope, at
// severity INFO.
func Logs(recs ...Rec) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		_ = rl.Resource().Attributes().FromRaw(r.Res)
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		_ = lr.Attributes().FromRaw(r.Attrs)
		lr.Body().SetStr(r.Body)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.TS))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
	}
	return ld
}
