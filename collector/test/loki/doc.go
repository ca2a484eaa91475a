// Package loki tests autotel-collector's loki exporter against a real
// Grafana Loki single binary. The tests carry the build tag "loki" so that
// `go test ./...` does not need Loki; run them with
//
//	AUTOTEL_LOKI=$(../hack/loki.sh) go test -tags loki -count=1 -v ./test/loki/
//
// from collector/. Without AUTOTEL_LOKI pointing at a Loki binary they fail
// and say so.
package loki
