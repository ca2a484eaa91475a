// Package lokiexporter is autotel's `loki` exporter: OTLP logs to Loki's push
// API (snappy-compressed protobuf), compatible with the configuration, label
// hints and line formats of the contrib exporter's last release (v0.130.0),
// which upstream has since removed. README.md lists where it deliberately
// differs.
package lokiexporter
