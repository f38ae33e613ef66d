#!/usr/bin/env node
// A small CLI over Node BullMQ, for the Python interop tests.
//
//   node node_helper.js <redisUrl> <command> '<json args>'
//
// Prints one JSON line on stdout with the command's result and exits 0. On any error or when the
// command runs past its time limit (args.timeout_ms, default 15000), it prints a message on stderr
// and exits non-zero. Every command takes args.queue (the queue name) and optional args.prefix.
//
// Commands:
//   add        {jobs: [{name, data, opts}]}            -> {ids: [...]}                (Queue.addBulk)
//   flow       {flow: {name, queueName?, data, opts, children: [...]}} -> {parent, children}
//   work       {until: {completed, failed}, duration_ms, concurrency, name, drain_delay, lock_duration,
//               stalled_interval, metrics_points}
//              runs a Worker until `completed` jobs completed and `failed` jobs failed for good
//              (or, with duration_ms only, for that long) -> {processed, completed, failed, errors}
//   counts     {types?: [...]}                          -> getJobCounts(...types)
//   jobs       {types, start, end, asc}                 -> [job, ...]                  (getJobs)
//   job        {id}                                     -> job with state and logs, or null
//   workers    {}                                       -> getWorkers()
//   pause / resume / is_paused                          -> {paused: bool}
//   set_global_concurrency {concurrency} / get_global_concurrency -> {concurrency}
//   metrics    {kind, start?, end?}                      -> getMetrics(kind, start, end)
//   prometheus {}                                       -> {text} (exportPrometheusMetrics)
//   events     {last_id, until: {eventName: count}}     -> [{event, args, id}]         (QueueEvents)
//   batch      {calls: [[command, args], ...]}          -> [result, ...] (one process, one Queue)
//
// The worker's processor is driven by the job's data (all keys optional):
//   progress: [values]  -> job.updateProgress(value) for each
//   logs: [lines]       -> job.log(line) for each
//   sleep_ms: n         -> waits n ms (node_sleep_ms: the same, for this Node processor only)
//   fail_until: k       -> throws Error("<fail_message> #<attempt>") while job.attemptsMade < k
//   result: value       -> the return value (default {by: "node", id})
'use strict';

const { Queue, Worker, QueueEvents, FlowProducer } = require('bullmq');

function connectionFrom(url) {
  const u = new URL(url);
  const db = u.pathname && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db,
    maxRetriesPerRequest: null,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

function jobOut(job) {
  if (!job) return null;
  return {
    id: job.id,
    name: job.name,
    data: job.data,
    opts: job.opts,
    progress: job.progress,
    delay: job.delay,
    priority: job.priority,
    timestamp: job.timestamp,
    attemptsMade: job.attemptsMade,
    attemptsStarted: job.attemptsStarted,
    stalledCounter: job.stalledCounter,
    processedOn: job.processedOn === undefined ? null : job.processedOn,
    finishedOn: job.finishedOn === undefined ? null : job.finishedOn,
    processedBy: job.processedBy === undefined ? null : job.processedBy,
    failedReason: job.failedReason === undefined ? null : job.failedReason,
    stacktrace: job.stacktrace,
    returnvalue: job.returnvalue === undefined ? null : job.returnvalue,
    parentKey: job.parentKey === undefined ? null : job.parentKey,
  };
}

function makeProcessor(processed) {
  return async job => {
    const d = job.data && typeof job.data === 'object' ? job.data : {};
    processed.push({ id: job.id, name: job.name, attemptsMade: job.attemptsMade, at: Date.now() });
    for (const value of d.progress || []) await job.updateProgress(value);
    for (const line of d.logs || []) await job.log(line);
    if (d.sleep_ms) await sleep(d.sleep_ms);
    if (d.node_sleep_ms) await sleep(d.node_sleep_ms);
    if (d.fail_until !== undefined && job.attemptsMade < d.fail_until) {
      throw new Error(`${d.fail_message || 'planned failure'} #${job.attemptsMade + 1}`);
    }
    return d.result !== undefined ? d.result : { by: 'node', id: job.id };
  };
}

async function work(ctx, args) {
  const until = args.until || null;
  const processed = [];
  const completed = [];
  const failed = [];
  const errors = [];
  const worker = new Worker(ctx.queueName, makeProcessor(processed), {
    connection: ctx.connection,
    prefix: ctx.prefix,
    concurrency: args.concurrency || 1,
    drainDelay: args.drain_delay || 5,
    ...(args.lock_duration ? { lockDuration: args.lock_duration } : {}),
    ...(args.stalled_interval ? { stalledInterval: args.stalled_interval } : {}),
    ...(args.name ? { name: args.name } : {}),
    ...(args.metrics_points ? { metrics: { maxDataPoints: args.metrics_points } } : {}),
  });
  const finals = () => failed.filter(f => f.final).length;
  const done = () =>
    until !== null && completed.length >= (until.completed || 0) && finals() >= (until.failed || 0);
  let wake;
  const changed = new Promise(resolve => {
    wake = resolve;
  });
  const check = () => {
    if (done()) wake();
  };
  worker.on('completed', (job, result) => {
    completed.push({ id: job.id, returnvalue: result === undefined ? null : result });
    check();
  });
  worker.on('failed', (job, err) => {
    if (!job) return;
    const final = Boolean(job.finishedOn) || job.attemptsMade >= (job.opts.attempts || 1);
    failed.push({ id: job.id, reason: err ? err.message : null, attemptsMade: job.attemptsMade, final });
    check();
  });
  worker.on('error', err => errors.push(String(err && err.message ? err.message : err)));
  ctx.partial = () => ({ processed, completed, failed, errors });
  if (until !== null) {
    check();
    if (args.duration_ms) await Promise.race([changed, sleep(args.duration_ms)]);
    else await changed;
  } else {
    await sleep(args.duration_ms || 0);
  }
  await worker.close();
  return { processed, completed, failed, errors, done: done() };
}

async function events(ctx, args) {
  const wanted = args.until || {};
  const seen = [];
  const qe = new QueueEvents(ctx.queueName, {
    connection: ctx.connection,
    prefix: ctx.prefix,
    lastEventId: args.last_id || '0-0',
    blockingTimeout: 200,
  });
  const count = name => seen.filter(e => e.event === name).length;
  const done = () => Object.keys(wanted).every(name => count(name) >= wanted[name]);
  const original = qe.emit.bind(qe);
  let wake;
  const finished = new Promise(resolve => {
    wake = resolve;
  });
  qe.emit = (event, ...rest) => {
    if (event === 'error') {
      seen.push({ event: 'error', args: String(rest[0] && rest[0].message), id: null });
      wake();
    } else if (typeof event === 'string' && !event.includes(':') && event !== 'ready') {
      const [payload, id] = event === 'drained' ? [{}, rest[0]] : rest;
      seen.push({ event, args: payload, id });
      if (done()) wake();
    }
    return original(event, ...rest);
  };
  ctx.partial = () => seen;
  await qe.waitUntilReady();
  if (done()) wake();
  await finished;
  await qe.close();
  return seen;
}

async function jobWithState(queue, id) {
  const job = await queue.getJob(id);
  if (!job) return null;
  const out = jobOut(job);
  out.state = await job.getState();
  out.logs = await queue.getJobLogs(id);
  return out;
}

async function run(ctx, command, args) {
  const queue = ctx.queue();
  switch (command) {
    case 'add': {
      const jobs = await queue.addBulk((args.jobs || []).map(j => ({ name: j.name, data: j.data, opts: j.opts })));
      return { ids: jobs.map(j => j.id) };
    }
    case 'flow': {
      const producer = new FlowProducer({ connection: ctx.connection, prefix: ctx.prefix });
      const withQueue = node => ({
        ...node,
        queueName: node.queueName || ctx.queueName,
        children: (node.children || []).map(withQueue),
      });
      const tree = await producer.add(withQueue(args.flow));
      await producer.close();
      return { parent: tree.job.id, children: (tree.children || []).map(c => c.job.id) };
    }
    case 'work':
      return work(ctx, args);
    case 'counts':
      return queue.getJobCounts(...(args.types || []));
    case 'jobs': {
      const jobs = await queue.getJobs(args.types, args.start ?? 0, args.end ?? -1, Boolean(args.asc));
      return jobs.map(jobOut);
    }
    case 'job':
      return jobWithState(queue, String(args.id));
    case 'workers':
      return queue.getWorkers();
    case 'pause':
      await queue.pause();
      return { paused: await queue.isPaused() };
    case 'resume':
      await queue.resume();
      return { paused: await queue.isPaused() };
    case 'is_paused':
      return { paused: await queue.isPaused() };
    case 'set_global_concurrency':
      await queue.setGlobalConcurrency(args.concurrency);
      return { concurrency: await queue.getGlobalConcurrency() };
    case 'get_global_concurrency':
      return { concurrency: await queue.getGlobalConcurrency() };
    case 'metrics':
      return queue.getMetrics(args.kind, args.start ?? 0, args.end ?? -1);
    case 'prometheus':
      return { text: await queue.exportPrometheusMetrics() };
    case 'events':
      return events(ctx, args);
    case 'batch': {
      const results = [];
      for (const [sub, subArgs] of args.calls || []) results.push(await run(ctx, sub, subArgs || {}));
      return results;
    }
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}

async function main() {
  const [url, command, rawArgs] = process.argv.slice(2);
  if (!url || !command) {
    process.stderr.write('usage: node node_helper.js <redisUrl> <command> [json-args]\n');
    process.exit(64);
  }
  const args = rawArgs ? JSON.parse(rawArgs) : {};
  if (!args.queue) throw new Error('args.queue is required');
  const timeoutMs = args.timeout_ms || 15000;
  const ctx = {
    connection: connectionFrom(url),
    prefix: args.prefix || 'bull',
    queueName: args.queue,
    partial: () => null,
    _queue: null,
    queue() {
      if (!this._queue) this._queue = new Queue(this.queueName, { connection: this.connection, prefix: this.prefix });
      return this._queue;
    },
  };
  const timer = setTimeout(() => {
    process.stderr.write(
      `node_helper ${command}: timed out after ${timeoutMs} ms; so far: ${JSON.stringify(ctx.partial())}\n`,
    );
    process.exit(3);
  }, timeoutMs);
  const result = await run(ctx, command, args);
  clearTimeout(timer);
  if (ctx._queue) await ctx._queue.close();
  process.stdout.write(JSON.stringify(result === undefined ? null : result) + '\n', () => process.exit(0));
}

main().catch(err => {
  process.stderr.write(`node_helper: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
