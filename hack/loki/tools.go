//go:build tools

// Package loki pins the Grafana Loki release whose single binary the
// collector's Loki exporter tests run against. Loki is AGPL-licensed: it is
// only ever a server the tests start (like etcd), never linked into an
// autotel binary, and keeping it in this separate module keeps it out of
// every autotel go.mod.
package loki

import (
	_ "github.com/grafana/loki/v3/cmd/loki"
)
