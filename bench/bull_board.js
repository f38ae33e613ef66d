#!/usr/bin/env node
// Bull Board 9.10 for the side-by-side board benchmark (see bench/board.py).
//
//   node bench/bull_board.js <redisUrl> <port> <queue>[,<queue>...] [shared|per-queue]
//
// Serves Bull Board's Express app on 127.0.0.1:<port>, at the root, over BullMQ 6.7 Queue objects for
// the named queues. "shared" (the default): all of them share one Redis connection, Bull Board at its
// fastest. "per-queue": each Queue is given connection options and so opens its own connection, as
// BullMQ's and Bull Board's examples set queues up; every CLIENT LIST that Bull Board runs per queue per
// poll then lists all of them. Bull Board's defaults are kept otherwise: workers shown, no read-only
// mode, no auth.
//
// Like the board's benchmark server, a middleware in front of Bull Board records the time each request
// spends inside Express, from its arrival to the response's last byte handed to the socket:
//   GET /__bench/stats  the samples since the previous call, [[path, ms, status], ...], then forgets them
//   GET /healthz        200 once the app is up
// Neither is recorded. Prints "listening <port>" on stdout once it accepts connections.
'use strict';

const path = require('path');
const { createRequire } = require('module');

// The exact versions pinned in tests/interop's lock file, not whatever is global.
const interop = createRequire(path.join(__dirname, '..', 'tests', 'interop', 'package.json'));
const { Queue } = interop('bullmq');
const IORedis = interop('ioredis');
const express = interop('express');
const { createBullBoard } = interop('@bull-board/api');
const { BullMQAdapter } = interop('@bull-board/api/bullMQAdapter');
const { ExpressAdapter } = interop('@bull-board/express');

const STATS_PATH = '/__bench/stats';

function main(argv) {
  const [url, portText, names, mode = 'shared'] = argv;
  if (argv.length < 3 || argv.length > 4 || !['shared', 'per-queue'].includes(mode)) {
    process.stderr.write('usage: node bench/bull_board.js <redisUrl> <port> <queue>[,<queue>...] [shared|per-queue]\n');
    process.exit(64);
  }
  const port = Number(portText);
  const queueNames = names.split(',').filter((n) => n);

  // BullMQ wants maxRetriesPerRequest null only on blocking connections; Queue objects block on nothing.
  const connection = new IORedis(url);
  const options = () => {
    if (mode === 'shared') return connection;
    const { hostname, port: redisPort } = new URL(url);
    return { host: hostname, port: Number(redisPort) };
  };
  const queues = queueNames.map((name) => new Queue(name, { connection: options() }));

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath('/');
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter });

  let samples = [];
  const app = express();
  app.get(STATS_PATH, (_req, res) => {
    const body = samples;
    samples = [];
    res.json(body);
  });
  app.get('/healthz', (_req, res) => res.send('ok'));
  app.use((req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      samples.push([req.path, ms, res.statusCode]);
    });
    next();
  });
  app.use('/', serverAdapter.getRouter());

  const server = app.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port}\n`));
  // Keep-alive connections outlive the pauses between the benchmark's rounds (Node's default is 5 s).
  server.keepAliveTimeout = 120_000;
  const stop = () => {
    server.close();
    Promise.all(queues.map((q) => q.close()))
      .then(() => connection.quit())
      .finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main(process.argv.slice(2));
