// Package testkit is the shared support code of autotel's tests, in its
// own module so that every Go module of the repository (root, collector,
// test/*, agent/python/harness) can require it with a relative replace
// without pulling in each other's dependencies. It depends on the standard
// library, on github.com/prometheus/common for Prometheus text and on the
// collector's pdata (same version as collector/go.mod) for OTLP/JSON.
//
//   - ports: a free loopback TCP port;
//   - syncbuf: a buffer safe for a process's concurrent writers;
//   - wait: poll a condition until it holds or time runs out;
//   - proc: start a process, capture its output, stop it by pid;
//   - victorialogs: run VictoriaLogs on a free port and query it (LogsQL);
//   - promtext: sum series of a Prometheus text exposition;
//   - otlpfile: read the collector file exporter's OTLP/JSON lines;
//   - repo: the repository's root folder.
package testkit
