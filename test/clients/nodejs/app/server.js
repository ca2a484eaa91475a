'use strict';
// An HTTP service that knows nothing about OpenTelemetry: it is instrumented
// only from outside, by the NODE_OPTIONS the operator injects. It logs with
// pino, whose OpenTelemetry instrumentation forwards records as OTLP logs.
//
// Output protocol with the test, one line each on stdout: "ENV <json>" (the
// environment the process got) and "READY <port>" once it accepts requests.
// Everything else on stdout is pino's JSON.
const http = require('node:http');
const pino = require('pino');

process.stdout.write('ENV ' + JSON.stringify(process.env) + '\n');

const logger = pino();

const server = http.createServer((req, res) => {
  const match = /^\/orders\/(\d+)$/.exec(req.url);
  if (req.method !== 'GET' || !match) {
    logger.warn({ url: req.url }, 'no such route');
    res.writeHead(404).end();
    return;
  }
  const orderId = Number(match[1]);
  logger.info({ orderId }, 'order looked up');
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ id: orderId, status: 'shipped' }));
});

server.listen(0, '127.0.0.1', () => {
  process.stdout.write('READY ' + server.address().port + '\n');
});

// Kubernetes stops a container with SIGTERM. Closing the server lets the
// process end once the SDK, which registers its own SIGTERM handler, has
// flushed.
process.on('SIGTERM', () => {
  server.close();
});
