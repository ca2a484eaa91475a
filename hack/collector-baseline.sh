#!/usr/bin/env bash
# Builds the benchmark's baseline: an OpenTelemetry Collector with upstream's
# last Loki exporter (contrib v0.130.0, core v0.130.0) and the same pipeline
# components as autotel-collector's benchmark pipeline. The module is
# generated outside the repository, in a per-user cache keyed by version, and
# never becomes a dependency of the project.
#
# Usage: hack/collector-baseline.sh   prints the binary's path on stdout;
# build progress goes to stderr. The first build takes ~5-8 minutes on 2 cores.
set -euo pipefail

CORE=v0.130.0
STABLE=v1.36.0
CONTRIB=v0.130.0
cache_root=${AUTOTEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/autotel}
dir="$cache_root/lokiexporter-baseline-$CONTRIB"
out="$dir/bin/otelcol-loki-baseline"
if [ -x "$out" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$dir/src" "$dir/bin"
cd "$dir/src"
cat >go.mod <<MOD
module autotel.local/lokiexporter-baseline

go 1.24
MOD
cat >main.go <<'GO'
// Baseline collector for autotel's Loki exporter benchmark: upstream's last
// lokiexporter release on the same pipeline components.
package main

import (
	"log"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/exporter/debugexporter"
	"go.opentelemetry.io/collector/exporter/otlphttpexporter"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/lokiexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
)

func components() (otelcol.Factories, error) {
	var f otelcol.Factories
	var err error
	if f.Receivers, err = otelcol.MakeFactoryMap[receiver.Factory](otlpreceiver.NewFactory()); err != nil {
		return f, err
	}
	if f.Processors, err = otelcol.MakeFactoryMap[processor.Factory](batchprocessor.NewFactory(), memorylimiterprocessor.NewFactory(), resourceprocessor.NewFactory()); err != nil {
		return f, err
	}
	if f.Exporters, err = otelcol.MakeFactoryMap[exporter.Factory](lokiexporter.NewFactory(), otlphttpexporter.NewFactory(), debugexporter.NewFactory()); err != nil {
		return f, err
	}
	if f.Extensions, err = otelcol.MakeFactoryMap[extension.Factory](healthcheckextension.NewFactory()); err != nil {
		return f, err
	}
	return f, nil
}

func main() {
	set := otelcol.CollectorSettings{
		BuildInfo: component.BuildInfo{Command: "otelcol-loki-baseline", Description: "lokiexporter v0.130.0 baseline", Version: "0.130.0-baseline"},
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{envprovider.NewFactory(), fileprovider.NewFactory(), yamlprovider.NewFactory()},
				DefaultScheme:     "env",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatal(err)
	}
}
GO
echo "building the lokiexporter $CONTRIB baseline in $dir (first time only, several minutes)" >&2
start=$(date +%s)
# The checksum database does not know several contrib v0.130.0 modules, so
# this one build (never the project's own) skips it for that module path.
export GONOSUMDB=github.com/open-telemetry/opentelemetry-collector-contrib
export GOFLAGS=-mod=mod
C=github.com/open-telemetry/opentelemetry-collector-contrib
O=go.opentelemetry.io/collector
go get "$O/otelcol@$CORE" "$O/receiver/otlpreceiver@$CORE" "$O/processor/batchprocessor@$CORE" \
	"$O/processor/memorylimiterprocessor@$CORE" "$O/exporter/debugexporter@$CORE" "$O/exporter/otlphttpexporter@$CORE" \
	"$O/confmap@$STABLE" "$O/confmap/provider/envprovider@$STABLE" "$O/confmap/provider/fileprovider@$STABLE" \
	"$O/confmap/provider/yamlprovider@$STABLE" \
	"$C/exporter/lokiexporter@$CONTRIB" "$C/processor/resourceprocessor@$CONTRIB" "$C/extension/healthcheckextension@$CONTRIB" >&2
CGO_ENABLED=0 go build -trimpath -o "$out.tmp" . >&2
mv "$out.tmp" "$out"
echo "built the baseline in $(($(date +%s) - start))s" >&2
echo "$out"
