#!/usr/bin/env node
// Node BullMQ's job schedulers, for tests/interop/test_schedulers.py.
//
//   node node_schedulers.js <redisUrl> <command> '<json args>'     (or - to read them from stdin)
//
// Prints one JSON line with the command's result and exits 0; on an error, or past args.timeout_ms
// (default 15000), prints the reason on stderr and exits non-zero. Every command but `next` takes
// args.queue.
//
// Commands:
//   upsert     {id, repeat, template}     -> the next run {id, delay, opts}   (Queue.upsertJobScheduler)
//   scheduler  {id}                       -> getJobScheduler(id)
//   schedulers {}                         -> getJobSchedulers(0, -1, true)
//   remove     {id}                       -> {removed}                        (Queue.removeJobScheduler)
//   work       {until_runs, duration_ms}  -> {processed: [{id, name, data, at}], errors}
//              runs a Worker until it has processed until_runs jobs (then closes at once), or for
//              duration_ms
//   next       {cases: [{pattern, tz, from}]} -> [ms or null]: the pattern's first time after `from`,
//              as BullMQ's default repeat strategy asks cron-parser for it; null where cron-parser
//              refuses the pattern or the zone
'use strict';

const { Queue, Worker } = require('bullmq');
const { CronExpressionParser } = require('cron-parser');

function connectionFrom(url) {
  const u = new URL(url);
  const db = u.pathname && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return { host: u.hostname, port: Number(u.port || 6379), db, maxRetriesPerRequest: null };
}

function nextTime({ pattern, tz, from }) {
  try {
    return CronExpressionParser.parse(pattern, { currentDate: new Date(from), tz }).next().getTime();
  } catch (e) {
    return null;
  }
}

async function work(connection, args) {
  const processed = [];
  const errors = [];
  let done;
  const finished = new Promise(resolve => (done = resolve));
  const worker = new Worker(
    args.queue,
    async job => {
      processed.push({ id: job.id, name: job.name, data: job.data, at: Date.now() });
      if (args.until_runs && processed.length >= args.until_runs) done();
    },
    { connection, prefix: args.prefix || 'bull', concurrency: args.concurrency || 1 },
  );
  worker.on('error', err => errors.push(String(err && err.message)));
  const timer = setTimeout(done, args.duration_ms || 10000);
  await finished;
  clearTimeout(timer);
  await worker.close();
  return { processed, errors };
}

async function run(connection, command, args) {
  if (command === 'next') return args.cases.map(nextTime);
  const queue = new Queue(args.queue, { connection, prefix: args.prefix || 'bull' });
  try {
    switch (command) {
      case 'upsert': {
        const job = await queue.upsertJobScheduler(args.id, args.repeat, args.template);
        return job ? { id: job.id, delay: job.delay, opts: job.opts } : null;
      }
      case 'scheduler':
        return (await queue.getJobScheduler(args.id)) || null;
      case 'schedulers':
        return await queue.getJobSchedulers(0, -1, true);
      case 'remove':
        return { removed: await queue.removeJobScheduler(args.id) };
      case 'work':
        return await work(connection, args);
      default:
        throw new Error(`unknown command ${JSON.stringify(command)}`);
    }
  } finally {
    await queue.close();
  }
}

async function main() {
  const [url, command, rawArgs] = process.argv.slice(2);
  const args = JSON.parse(rawArgs === '-' ? require('fs').readFileSync(0, 'utf8') : rawArgs || '{}');
  const timer = setTimeout(() => {
    process.stderr.write(`node_schedulers ${command}: timed out\n`);
    process.exit(3);
  }, args.timeout_ms || 15000);
  const result = await run(connectionFrom(url), command, args);
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(result === undefined ? null : result) + '\n', () => process.exit(0));
}

main().catch(err => {
  process.stderr.write(`node_schedulers: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
