'use strict';
// The Node.js sample: the http module and console logging, nothing of
// OpenTelemetry: what telemetry arrives comes from the auto-instrumentation
// the operator injects (NODE_OPTIONS=--require ...). Console output is not
// an OpenTelemetry log source, so its lines reach a store through the
// node's container-log collection; each names the W3C traceparent the
// request carried, so a line can be matched to the request's trace.
//
// HOST and PORT choose the listening address (0.0.0.0:8080 by default).
const http = require('node:http');

const host = process.env.HOST || '0.0.0.0';
const port = Number(process.env.PORT || 8080);

const server = http.createServer((req, res) => {
  const traceparent = req.headers.traceparent || '-';
  if (req.method === 'GET' && req.url === '/hello') {
    console.log(`hello called traceparent=${traceparent}`);
    res.writeHead(200, { 'content-type': 'text/plain' }).end('world!');
    return;
  }
  if (req.method === 'GET' && req.url === '/error') {
    console.error(`error called; raising traceparent=${traceparent}`);
    res.writeHead(500, { 'content-type': 'text/plain' }).end('sample error');
    return;
  }
  res.writeHead(404).end();
});

server.listen(port, host, () => {
  console.log(`READY ${host}:${port}`);
});

// Kubernetes stops a container with SIGTERM; node as PID 1 has no default
// handler for it. Closing the server lets the process end once the SDK,
// which registers its own SIGTERM handler, has flushed.
process.on('SIGTERM', () => server.close());
