#!/usr/bin/env node
// Node BullMQ's side of the flow and deduplication interop tests (tests/interop/test_flows.py).
//
//   node node_flows.js <redisUrl> <command> '<json args>'
//
// Prints one JSON line with the command's result and exits 0; on an error, or past args.timeout_ms
// (default 15000), it prints a message on stderr and exits non-zero. args.prefix defaults to "bull".
//
// Commands:
//   flow      {flow}                 FlowProducer.add(flow); nodes name their own queueName
//                                    -> {id, queue, children: [...]}, the tree of created jobs
//   work      {queues, until: {completed, failed}}
//             one Worker per queue until that many jobs completed and failed for good, in all
//             -> {completed: [{queue, id, name, returnvalue, startedAt, finishedAt}], failed: [...]}
//   add       {queue, name, data, opts}          Queue.add -> {id}
//   dedup     {queue, id}                        Queue.getDeduplicationJobId -> {jobId}
//   children  {queue, id}                        the job's getChildrenValues, getDependenciesCount and
//                                                getIgnoredChildrenFailures -> {values, counts, ignored}
//   remove    {queue, id, removeChildren}        Queue.remove -> {removed}
//
// The workers' processor: a job whose data has `fail` throws Error(data.fail); a parent (a job with
// children) returns {values: getChildrenValues()}; any other job returns data.result, or {by: "node"}.
'use strict';

const { FlowProducer, Queue, Worker } = require('bullmq');

function connectionFrom(url) {
  const u = new URL(url);
  const db = u.pathname && u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return { host: u.hostname, port: Number(u.port || 6379), db, maxRetriesPerRequest: null };
}

function treeOut(node) {
  return {
    id: node.job.id,
    queue: node.job.queueName,
    children: (node.children || []).map(treeOut),
  };
}

async function work(ctx, args) {
  const until = args.until || {};
  const completed = [];
  const failed = [];
  const started = {};
  let wake;
  const done = new Promise(resolve => {
    wake = resolve;
  });
  const check = () => {
    if (completed.length >= (until.completed || 0) && failed.length >= (until.failed || 0)) wake();
  };
  const workers = args.queues.map(queueName => {
    const worker = new Worker(
      queueName,
      async job => {
        started[`${queueName}:${job.id}`] = Date.now();
        const data = job.data && typeof job.data === 'object' ? job.data : {};
        if (data.fail) throw new Error(data.fail);
        const counts = await job.getDependenciesCount();
        if (counts.processed + counts.unprocessed + counts.ignored + counts.failed > 0) {
          return { values: await job.getChildrenValues() };
        }
        return data.result !== undefined ? data.result : { by: 'node' };
      },
      { connection: ctx.connection, prefix: ctx.prefix, concurrency: 4, drainDelay: 1 },
    );
    worker.on('completed', (job, returnvalue) => {
      completed.push({
        queue: queueName,
        id: job.id,
        name: job.name,
        returnvalue,
        startedAt: started[`${queueName}:${job.id}`],
        finishedAt: Date.now(),
      });
      check();
    });
    worker.on('failed', (job, err) => {
      if (job && job.attemptsMade >= (job.opts.attempts || 1)) {
        failed.push({ queue: queueName, id: job.id, name: job.name, reason: err.message });
        check();
      }
    });
    return worker;
  });
  ctx.partial = () => ({ completed, failed });
  check();
  await done;
  await Promise.all(workers.map(w => w.close()));
  return { completed, failed };
}

async function run(ctx, command, args) {
  switch (command) {
    case 'flow': {
      const producer = new FlowProducer({ connection: ctx.connection, prefix: ctx.prefix });
      const tree = await producer.add(args.flow);
      await producer.close();
      return treeOut(tree);
    }
    case 'work':
      return work(ctx, args);
    case 'add': {
      const job = await ctx.queue(args.queue).add(args.name, args.data, args.opts || {});
      return { id: job.id };
    }
    case 'dedup':
      return { jobId: await ctx.queue(args.queue).getDeduplicationJobId(args.id) };
    case 'children': {
      const job = await ctx.queue(args.queue).getJob(args.id);
      return {
        values: await job.getChildrenValues(),
        counts: await job.getDependenciesCount(),
        ignored: await job.getIgnoredChildrenFailures(),
      };
    }
    case 'remove':
      return { removed: await ctx.queue(args.queue).remove(args.id, { removeChildren: args.removeChildren }) };
    default:
      throw new Error(`unknown command ${JSON.stringify(command)}`);
  }
}

async function main() {
  const [url, command, rawArgs] = process.argv.slice(2);
  const args = rawArgs ? JSON.parse(rawArgs) : {};
  const queues = {};
  const ctx = {
    connection: connectionFrom(url),
    prefix: args.prefix || 'bull',
    partial: () => null,
    queue(name) {
      if (!queues[name]) queues[name] = new Queue(name, { connection: this.connection, prefix: this.prefix });
      return queues[name];
    },
  };
  const timeoutMs = args.timeout_ms || 15000;
  const timer = setTimeout(() => {
    process.stderr.write(`node_flows ${command}: timed out after ${timeoutMs} ms; so far: ${JSON.stringify(ctx.partial())}\n`);
    process.exit(3);
  }, timeoutMs);
  const result = await run(ctx, command, args);
  clearTimeout(timer);
  await Promise.all(Object.values(queues).map(q => q.close()));
  process.stdout.write(JSON.stringify(result === undefined ? null : result) + '\n', () => process.exit(0));
}

main().catch(err => {
  process.stderr.write(`node_flows: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
