package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/autotel/autotel/testkit/ports"
	"github.com/autotel/autotel/testkit/victorialogs"
	"github.com/autotel/autotel/testkit/wait"
)

// TestContainerStdoutWithKubernetesLabels covers what the seed could not
// collect: plain stdout (Python print()) from the node's container log files,
// read by filelog, labelled by the exporter's kubernetes_labels option (no
// resource processor) and with record attributes sent as structured metadata.
func TestContainerStdoutWithKubernetesLabels(t *testing.T) {
	vl := victorialogs.Start(t, victoriaLogsBin)
	root := t.TempDir()
	podDir := filepath.Join(root, "var/log/pods/example_sample-656f58b97c-9mr6d_0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/sample")
	if err := os.MkdirAll(podDir, 0o755); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	lines := fmt.Sprintf("%s stdout F hello from print()\n%s stderr F Traceback (most recent call last):\n",
		now.Format(time.RFC3339Nano), now.Add(time.Millisecond).Format(time.RFC3339Nano))
	if err := os.WriteFile(filepath.Join(podDir, "0.log"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}

	healthPort, metricsPort := ports.Free(t), ports.Free(t)
	cfg := fmt.Sprintf(`
receivers:
  filelog:
    include: [%s/var/log/pods/*/*/*.log]
    start_at: beginning
    include_file_path: true
    operators:
      - {type: container, format: containerd, add_metadata_from_filepath: true}
exporters:
  loki:
    endpoint: %s
    format: raw
    default_labels_enabled: {exporter: false, job: false, instance: false, level: false}
    kubernetes_labels: {enabled: true}
    structured_metadata: {log_attributes: true}
`, root, vl.PushURL()) + serviceYAML(healthPort, metricsPort, "{receivers: [filelog], exporters: [loki]}")
	startCollector(t, cfg, fmt.Sprintf("http://127.0.0.1:%d/", healthPort), fmt.Sprintf("127.0.0.1:%d", metricsPort))

	var rows []victorialogs.Row
	wait.For(t, 20*time.Second, "both lines in VictoriaLogs", func() (bool, string) {
		rows = vl.QueryT(t, "* | sort by (_time)")
		return len(rows) >= 2, fmt.Sprintf("%d rows", len(rows))
	})
	if len(rows) != 2 {
		t.Fatalf("stored %d records, want 2: %v", len(rows), rows)
	}
	wantMsg := []string{"hello from print()", "Traceback (most recent call last):"}
	wantStream := []string{"stdout", "stderr"}
	for i, row := range rows {
		if row["_msg"] != wantMsg[i] {
			t.Errorf("row %d line %q, want %q", i, row["_msg"], wantMsg[i])
		}
		labels := map[string]string{"namespace": row["namespace"], "pod": row["pod"], "container": row["container"]}
		if want := map[string]string{"namespace": "example", "pod": "sample-656f58b97c-9mr6d", "container": "sample"}; !reflect.DeepEqual(labels, want) {
			t.Errorf("row %d labels %v, want %v", i, labels, want)
		}
		// Structured metadata: record attributes, sanitised like labels.
		if row["log_iostream"] != wantStream[i] {
			t.Errorf("row %d structured metadata log_iostream=%q, want %q (row %v)", i, row["log_iostream"], wantStream[i], row)
		}
	}
}
