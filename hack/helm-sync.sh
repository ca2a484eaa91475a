#!/usr/bin/env bash
# Refreshes what is derived from other files for the chart and the kustomize
# manifests, after `make generate` or a chart change:
#   * the CRDs in charts/autotel/crds/ (the collector's in files/) and
#     deploy/base/crds/ (copies of config/crd/bases/, which controller-gen
#     writes);
#   * deploy/base/operator.yaml and namespace.yaml (rendered from the chart);
#   * the golden renders in test/chart/testdata/golden/.
# Review the diff before committing; test/chart fails while any is stale.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The OpenTelemetryCollector CRD goes to charts/autotel/files/, not crds/: a
# template adds its conversion webhook, which names the release's Service
# (deploy/base adds it with a patch).
collector_crd=opentelemetry.io_opentelemetrycollectors.yaml
for dir in charts/autotel/crds deploy/base/crds; do
	mkdir -p "$repo/$dir"
	rm -f "$repo/$dir"/*.yaml
	cp "$repo"/config/crd/bases/*.yaml "$repo/$dir/"
done
rm "$repo/charts/autotel/crds/$collector_crd"
mkdir -p "$repo/charts/autotel/files"
cp "$repo/config/crd/bases/$collector_crd" "$repo/charts/autotel/files/"
cd "$repo/test/chart"
go test -count=1 -run '^(TestGolden|TestDeployBaseIsGeneratedFromTheChart)$' . -update
