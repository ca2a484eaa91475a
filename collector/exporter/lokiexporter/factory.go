package lokiexporter

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/autotel/autotel/collector/exporter/lokiexporter/internal/metadata"
)

// NewFactory creates the factory of autotel's Loki exporter.
func NewFactory() exporter.Factory {
	return exporter.NewFactory(
		// metadata.yaml keeps upstream's component type, `loki`, so existing
		// pipelines that name `loki` (and `loki/<name>`) load unchanged.
		metadata.Type,
		createDefaultConfig,
		exporter.WithLogs(createLogsExporter, metadata.LogsStability),
	)
}

func createDefaultConfig() component.Config {
	client := confighttp.NewDefaultClientConfig()
	// Upstream's values: 30s is the only timeout (the exporterhelper one is
	// off), and a large write buffer because requests are big and responses
	// tiny.
	client.Timeout = 30 * time.Second
	client.WriteBufferSize = 512 * 1024
	return &Config{
		ClientConfig:  client,
		QueueSettings: configoptional.Some(exporterhelper.NewDefaultQueueConfig()),
		BackOffConfig: configretry.NewDefaultBackOffConfig(),
		DefaultLabelsEnabled: map[string]bool{
			labelExporter: true,
			labelJob:      true,
			labelInstance: true,
			labelLevel:    true,
		},
		Format: "json",
		KubernetesLabels: KubernetesLabelsConfig{
			Namespace: "namespace",
			Pod:       "pod",
			Container: "container",
		},
		StableInstanceLabel: true,
		Limits:              defaultLimits(),
	}
}

func createLogsExporter(ctx context.Context, set exporter.Settings, cfg component.Config) (exporter.Logs, error) {
	c := cfg.(*Config)
	exp, err := newExporter(c, set.TelemetrySettings)
	if err != nil {
		return nil, fmt.Errorf("creating loki exporter: %w", err)
	}
	return exporterhelper.NewLogs(ctx, set, cfg, exp.pushLogs,
		exporterhelper.WithStart(exp.start),
		exporterhelper.WithShutdown(exp.shutdown),
		// The exporter only reads the data, so pipelines need not clone it
		// for us when they fan out.
		exporterhelper.WithCapabilities(consumer.Capabilities{MutatesData: false}),
		// Off like upstream: the HTTP client's timeout bounds each push.
		exporterhelper.WithTimeout(exporterhelper.TimeoutConfig{Timeout: 0}),
		exporterhelper.WithRetry(c.BackOffConfig),
		exporterhelper.WithQueue(c.QueueSettings),
	)
}
