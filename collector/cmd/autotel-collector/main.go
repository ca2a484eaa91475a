// Command autotel-collector is autotel's OpenTelemetry Collector distribution:
// the upstream core and contrib components the seed's pipelines need, plus
// autotel's maintained Loki exporter.
package main

import (
	"log"
	"os"
	"runtime/debug"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
	"go.opentelemetry.io/collector/confmap/provider/yamlprovider"
	"go.opentelemetry.io/collector/otelcol"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == prepareDirCommand {
		if err := prepareDir(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	// Before anything allocates: the limit steers every garbage collection.
	log.Print(setSoftMemoryLimit("/", os.Getenv, debug.SetMemoryLimit))
	info := component.BuildInfo{
		Command:     "autotel-collector",
		Description: "autotel OpenTelemetry Collector distribution",
		Version:     version,
	}
	set := otelcol.CollectorSettings{
		BuildInfo: info,
		Factories: components,
		ConfigProviderSettings: otelcol.ConfigProviderSettings{
			ResolverSettings: confmap.ResolverSettings{
				ProviderFactories: []confmap.ProviderFactory{
					envprovider.NewFactory(),
					fileprovider.NewFactory(),
					yamlprovider.NewFactory(),
				},
				DefaultScheme: "env",
			},
		},
	}
	if err := otelcol.NewCommand(set).Execute(); err != nil {
		log.Fatalf("collector server run finished with error: %v", err)
	}
}
