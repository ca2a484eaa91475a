// Command goapp is an application that bundles the OpenTelemetry Go SDK and
// leaves all of its configuration to the environment, which is what
// inject-sdk is for: the operator provides OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES and the exporter settings, the app provides the
// SDK. It records one span and one log record inside it, then shuts the SDK
// down (which flushes) and exits.
//
// Its first line of output is "ENV " and its environment as JSON, so the
// test can check it ran with exactly the environment it was given.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

const scope = "github.com/autotel/autotel/test/clients/goapp"

func main() {
	env, _ := json.Marshal(os.Environ())
	fmt.Printf("ENV %s\n", env)
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "goapp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// The Go SDK's OTLP exporters are per transport; this app links the
	// HTTP/protobuf ones. Any other protocol would be silently ignored by
	// them, so the app refuses it instead.
	for _, name := range []string{"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL"} {
		if p := os.Getenv(name); p != "" && p != "http/protobuf" {
			return fmt.Errorf("%s=%s: this app speaks only http/protobuf", name, p)
		}
	}

	res, err := resource.New(ctx,
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
		resource.WithTelemetrySDK(),
		resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(),
	)
	if err != nil {
		return fmt.Errorf("resource from the environment: %w", err)
	}

	// Endpoint, headers, timeouts, TLS: all from OTEL_EXPORTER_OTLP_*.
	traceExporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return err
	}
	// The sampler comes from OTEL_TRACES_SAMPLER(_ARG) when set.
	tracerProvider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(traceExporter), sdktrace.WithResource(res))

	logExporter, err := otlploghttp.New(ctx)
	if err != nil {
		return err
	}
	loggerProvider := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewBatchProcessor(logExporter)), sdklog.WithResource(res))
	logger := slog.New(otelslog.NewHandler(scope, otelslog.WithLoggerProvider(loggerProvider)))

	ctx, span := tracerProvider.Tracer(scope).Start(ctx, "place-order")
	span.SetAttributes(attribute.Int("order.items", 3))
	logger.InfoContext(ctx, "order placed", "order.id", "A-1042")
	span.End()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := tracerProvider.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("flushing spans: %w", err)
	}
	if err := loggerProvider.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("flushing logs: %w", err)
	}
	return nil
}
