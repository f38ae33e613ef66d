#!/usr/bin/env node
// Node half of the side-by-side engine benchmark (see bench/engine.py).
//
//   node bench/node_engine.js adds    <redisUrl> <queue> <N>
//   node bench/node_engine.js bulk    <redisUrl> <queue> <N> <chunk>
//   node bench/node_engine.js process <redisUrl> <queue> <N> <concurrency>
//   node bench/node_engine.js latency <redisUrl> <queue> <N> <rate>
//
// Each run prints exactly one JSON line on stdout and exits 0. Errors go to
// stderr with a non-zero exit; a run that has not finished after 120 s exits 2.
// The caller owns the queue's contents: `process` expects N jobs to be waiting
// already, and `latency` expects the queue to be empty when it starts.
'use strict';

const path = require('path');
const { performance } = require('perf_hooks');

// Use the exact versions pinned for the interop tests, not whatever is global.
const modules = path.join(__dirname, '../tests/interop/node_modules');
const { Queue, Worker } = require(path.join(modules, 'bullmq'));
const IORedis = require(path.join(modules, 'ioredis'));

const HARD_TIMEOUT_MS = 120_000;
const LATENCY_WAIT_MS = 60_000;
const RSS_SAMPLE_MS = 50;

// Wall clock in ms with sub-ms resolution. Producer and processor live in the
// same process, so they read the same clock.
const nowMs = () => performance.timeOrigin + performance.now();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function connect(url, options = {}) {
  return new IORedis(url, options);
}

// Workers hold a blocking connection and must retry forever, as BullMQ requires.
function connectWorker(url) {
  return connect(url, { maxRetriesPerRequest: null });
}

// Bad command lines are reported by message alone, without a stack trace.
class UsageError extends Error {}

function intArg(value, name) {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

// Nearest-rank percentile of an ascending array.
function percentile(sorted, p) {
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(rank, 1)) - 1];
}

const round = (x, digits = 3) => Number(x.toFixed(digits));

// Closes BullMQ objects first, then the ioredis clients handed to them: BullMQ
// treats a client passed in as shared and never quits it itself.
async function closeAll(bullObjects, clients) {
  for (const obj of bullObjects) await obj.close();
  for (const client of clients) await client.quit();
}

async function runAdds(url, queueName, [nArg]) {
  const n = intArg(nArg, 'N');
  const client = connect(url);
  const queue = new Queue(queueName, { connection: client });
  try {
    await queue.waitUntilReady();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      await queue.add('bench', { i });
    }
    const seconds = (performance.now() - start) / 1000;
    return { phase: 'adds', n, seconds: round(seconds, 4), per_sec: round(n / seconds, 1) };
  } finally {
    await closeAll([queue], [client]);
  }
}

async function runBulk(url, queueName, [nArg, chunkArg]) {
  const n = intArg(nArg, 'N');
  const chunk = intArg(chunkArg, 'chunk');
  const client = connect(url);
  const queue = new Queue(queueName, { connection: client });
  try {
    await queue.waitUntilReady();
    const start = performance.now();
    for (let first = 0; first < n; first += chunk) {
      const jobs = [];
      for (let i = first; i < Math.min(first + chunk, n); i++) {
        jobs.push({ name: 'bench', data: { i } });
      }
      await queue.addBulk(jobs);
    }
    const seconds = (performance.now() - start) / 1000;
    return { phase: 'bulk', n, seconds: round(seconds, 4), per_sec: round(n / seconds, 1) };
  } finally {
    await closeAll([queue], [client]);
  }
}

async function runProcess(url, queueName, [nArg, concurrencyArg]) {
  const n = intArg(nArg, 'N');
  const concurrency = intArg(concurrencyArg, 'concurrency');
  const client = connectWorker(url);

  let completed = 0;
  let finish;
  const allDone = new Promise((resolve, reject) => {
    finish = { resolve, reject };
  });
  // Marked handled here because it may reject before it is awaited.
  allDone.catch(() => {});

  // autorun: false so connecting and loading scripts happen before the clock starts.
  const worker = new Worker(queueName, async () => null, {
    connection: client,
    concurrency,
    autorun: false,
  });
  worker.on('completed', () => {
    completed += 1;
    if (completed === n) finish.resolve();
  });
  // A no-op job should never fail; if one does the figures are meaningless.
  worker.on('failed', (job, err) => {
    finish.reject(new Error(`job ${job && job.id} failed: ${err && err.message}`));
  });
  worker.on('error', (err) => console.error(`worker error: ${err.message}`));

  let peakRss = process.memoryUsage.rss();
  const sampleRss = () => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  };
  let sampler;

  try {
    await worker.waitUntilReady();
    sampler = setInterval(sampleRss, RSS_SAMPLE_MS);
    const cpuStart = process.cpuUsage();
    const start = performance.now();
    // run() resolves only once the worker is closed, so it is not awaited here;
    // a failure to start surfaces through allDone.
    const running = worker.run();
    running.catch((err) => finish.reject(err));
    await allDone;
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuStart);
    sampleRss();
    return {
      phase: 'process',
      n,
      concurrency,
      seconds: round(seconds, 4),
      per_sec: round(n / seconds, 1),
      cpu_us_per_job: round((cpu.user + cpu.system) / n, 2),
      rss_mb: round(peakRss / (1024 * 1024), 1),
    };
  } finally {
    clearInterval(sampler);
    await closeAll([worker], [client]);
  }
}

async function runLatency(url, queueName, [nArg, rateArg]) {
  const n = intArg(nArg, 'N');
  const rate = intArg(rateArg, 'rate');
  const workerClient = connectWorker(url);
  const queueClient = connect(url);
  const queue = new Queue(queueName, { connection: queueClient });

  const latencies = [];
  let finish;
  const allDone = new Promise((resolve, reject) => {
    finish = { resolve, reject };
  });
  // Marked handled here because it may reject before it is awaited.
  allDone.catch(() => {});

  const worker = new Worker(
    queueName,
    async (job) => {
      // Measured first thing, before any other work in the processor.
      latencies.push(nowMs() - job.data.sent);
      if (latencies.length === n) finish.resolve();
      return null;
    },
    { connection: workerClient, concurrency: 10, autorun: false },
  );
  worker.on('failed', (job, err) => {
    finish.reject(new Error(`job ${job && job.id} failed: ${err && err.message}`));
  });
  worker.on('error', (err) => console.error(`worker error: ${err.message}`));

  try {
    await Promise.all([worker.waitUntilReady(), queue.waitUntilReady()]);
    worker.run().catch((err) => finish.reject(err));
    // Let the worker reach its idle blocking wait so the first jobs are not
    // measured against a worker that is still starting up.
    await sleep(200);

    // Send job i at start + i/rate, computed from the start time rather than by
    // summing sleeps, so timer lateness does not accumulate into a lower rate.
    // When behind schedule, the next job goes out at once.
    const intervalMs = 1000 / rate;
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const delay = start + i * intervalMs - performance.now();
      if (delay > 0) await sleep(delay);
      await queue.add('bench', { i, sent: nowMs() });
    }

    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`latency: only ${latencies.length}/${n} jobs processed within ${LATENCY_WAIT_MS / 1000} s`)),
        LATENCY_WAIT_MS,
      );
    });
    try {
      await Promise.race([allDone, timeout]);
    } finally {
      clearTimeout(timer);
    }

    const sorted = latencies.slice().sort((a, b) => a - b);
    return {
      phase: 'latency',
      n,
      rate,
      p50_ms: round(percentile(sorted, 50)),
      p99_ms: round(percentile(sorted, 99)),
      max_ms: round(sorted[sorted.length - 1]),
    };
  } finally {
    await closeAll([worker, queue], [workerClient, queueClient]);
  }
}

const PHASES = { adds: runAdds, bulk: runBulk, process: runProcess, latency: runLatency };

async function main(argv) {
  const [phase, url, queueName, ...args] = argv;
  const run = PHASES[phase];
  if (!run || !url || !queueName) {
    throw new UsageError(
      'usage: node_engine.js <adds|bulk|process|latency> <redisUrl> <queueName> [args...]',
    );
  }
  return run(url, queueName, args);
}

// unref: the guard must not by itself keep an otherwise finished process alive.
setTimeout(() => {
  console.error(`node_engine: timed out after ${HARD_TIMEOUT_MS / 1000} s`);
  process.exit(2);
}, HARD_TIMEOUT_MS).unref();

main(process.argv.slice(2)).then(
  (result) => {
    // Every connection is closed by now, so the process would exit by itself;
    // exiting explicitly guards against a stray handle left open by a library.
    process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
  },
  (err) => {
    let detail = err;
    if (err instanceof UsageError) detail = err.message;
    else if (err instanceof Error) detail = err.stack;
    console.error(`node_engine: ${detail}`);
    process.exit(1);
  },
);
