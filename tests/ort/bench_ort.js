#!/usr/bin/env node
// Times ONNX Runtime (CPU, onnxruntime-node) per request the way `rankopt bench` does, so the two
// can be run side by side on the same requests and thread counts.
//
// Usage:
//   node tests/ort/bench_ort.js MODEL.onnx --requests INPUTS.json [--candidates 1,16,200,512]
//        [--threads 1,2] [--warmup-s 0.3] [--min-s 1] [--json]
// INPUTS.json: a `rankopt run` inputs file; its rows are tiled to each candidate count (row r is
// row r % rows), exactly as `rankopt bench --requests` does.
// Per (candidates, threads): warm-up >= 10 runs and >= warmup-s, then >= 200 runs and >= min-s
// (>= 50 runs and >= 3 s when a run takes over 10 ms); each request timed on its own, including
// wrapping the input arrays as ort.Tensors (no copy) and `session.run`. Node adds a fixed
// per-call cost (N-API binding, promise resolution, output wrapping): time a trivial model with
// the same inputs to see it.
'use strict';

const fs = require('fs');
const path = require('path');

const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  int32: Int32Array,
  int64: BigInt64Array,
  bool: Uint8Array,
};

function fail(message) {
  process.stderr.write(`bench_ort.js: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {candidates: [1, 16, 200, 512], threads: [1, 2], warmupS: 0.3, minS: 1,
                json: false};
  const positional = [];
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${a} needs a value`);
      return argv[++i];
    };
    const list = (v) => v.split(',').map((x) => {
      const n = Number(x);
      if (!Number.isInteger(n) || n < 1) fail(`${a}: '${x}' is not a positive integer`);
      return n;
    });
    if (a === '--candidates') args.candidates = list(value());
    else if (a === '--threads') args.threads = list(value());
    else if (a === '--requests') args.requests = value();
    else if (a === '--warmup-s') args.warmupS = Number(value());
    else if (a === '--min-s') args.minS = Number(value());
    else if (a === '--json') args.json = true;
    else if (a.startsWith('--')) fail(`unknown flag ${a}`);
    else positional.push(a);
  }
  if (positional.length !== 1 || !args.requests) {
    fail('usage: node tests/ort/bench_ort.js MODEL.onnx --requests INPUTS.json ' +
         '[--candidates 1,16,200,512] [--threads 1,2] [--warmup-s 0.3] [--min-s 1] [--json]');
  }
  args.model = positional[0];
  return args;
}

// Typed arrays of the file's inputs, with their candidate row count.
function loadTemplate(file, names) {
  let request;
  try {
    const text = fs.readFileSync(file, 'utf8');
    const first = text.trimStart().split('\n')[0];
    try {
      request = JSON.parse(text);
    } catch (e) {
      request = JSON.parse(first);  // JSON lines: the first request
    }
  } catch (e) {
    fail(`${file}: ${e.message}`);
  }
  if (!request || typeof request.inputs !== 'object') fail(`${file}: no "inputs" object`);
  const tensors = {};
  let rows = 0;
  for (const name of names) {
    const spec = request.inputs[name];
    if (!spec) fail(`${file}: the model needs input '${name}'`);
    const dtype = spec.dtype || 'float32';
    const Typed = TYPED[dtype];
    if (!Typed) fail(`input '${name}': dtype '${dtype}' is not one of ${Object.keys(TYPED)}`);
    const values = dtype === 'int64' ? spec.data.map((v) => BigInt(v))
        : dtype === 'bool' ? spec.data.map((v) => (v ? 1 : 0)) : spec.data;
    tensors[name] = {dtype, dims: spec.dims, data: Typed.from(values)};
    if (spec.dims.length > 0) rows = Math.max(rows, spec.dims[0]);
  }
  return {tensors, rows};
}

function tile(template, n) {
  const out = {};
  for (const [name, t] of Object.entries(template.tensors)) {
    if (t.dims.length === 0 || t.dims[0] !== template.rows) {
      out[name] = t;
      continue;
    }
    const rowLen = t.data.length / template.rows;
    const data = new t.data.constructor(rowLen * n);
    for (let r = 0; r < n; ++r) {
      const src = (r % template.rows) * rowLen;
      data.set(t.data.subarray(src, src + rowLen), r * rowLen);
    }
    out[name] = {dtype: t.dtype, dims: [n, ...t.dims.slice(1)], data};
  }
  return out;
}

function percentile(sorted, p) {
  const i = Math.min(sorted.length - 1, Math.round(p * (sorted.length - 1)));
  return sorted[i];
}

function seconds(startNs) {
  return Number(process.hrtime.bigint() - startNs) / 1e9;
}

// CPU EP, all graph optimizations, `threads` intra-op threads (the calling thread included).
function sessionOptions(threads) {
  return {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

async function timeRequests(ort, session, arrays, warmupS, minS) {
  const once = async () => {
    const t0 = process.hrtime.bigint();
    const feeds = {};
    for (const [name, t] of Object.entries(arrays)) {
      feeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    }
    await session.run(feeds);
    return Number(process.hrtime.bigint() - t0) / 1e3;  // us
  };
  const warm = [];
  const warmStart = process.hrtime.bigint();
  while (warm.length < 10 || seconds(warmStart) < warmupS) warm.push(await once());
  warm.sort((a, b) => a - b);
  let minRuns = 200;
  if (percentile(warm, 0.5) > 10000) {
    minRuns = 50;
    minS = Math.max(minS, 3);
  }
  const us = [];
  const start = process.hrtime.bigint();
  while (us.length < minRuns || seconds(start) < minS) us.push(await once());
  us.sort((a, b) => a - b);
  return us;
}

function duration(us) {
  if (us < 1000) return `${us.toFixed(1)} us`;
  if (us < 1e6) return `${(us / 1000).toFixed(3)} ms`;
  return `${(us / 1e6).toFixed(3)} s`;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    fail(`cannot load onnxruntime-node (run: ONNXRUNTIME_NODE_INSTALL=skip npm ci --prefix ` +
         `tests/ort): ${e.message}`);
  }
  const cells = [];
  let template;
  for (const threads of args.threads) {
    const session = await ort.InferenceSession.create(args.model, sessionOptions(threads));
    if (!template) template = loadTemplate(args.requests, session.inputNames);
    for (const n of args.candidates) {
      const us = await timeRequests(ort, session, tile(template, n), args.warmupS, args.minS);
      const p50 = percentile(us, 0.5);
      cells.push({candidates: n, threads, runs: us.length, p50_us: p50, min_us: percentile(us, 0),
                  p99_us: percentile(us, 0.99), candidates_per_s: n / (p50 * 1e-6)});
    }
    await session.release();
  }
  cells.sort((a, b) => a.candidates - b.candidates || a.threads - b.threads);
  if (args.json) {
    process.stdout.write(JSON.stringify({engine: `onnxruntime-node ${ort.env.versions?.common ??
                                                  ''}`.trim(), model: args.model, cells}) + '\n');
    return;
  }
  process.stdout.write(`engine: onnxruntime-node (CPU EP, graph optimization all)  model: ` +
                       `${args.model}  inputs: ${args.requests} (tiled)\n\n`);
  process.stdout.write('candidates threads    runs          p50          p99   candidates/s\n');
  for (const c of cells) {
    process.stdout.write(`${String(c.candidates).padStart(10)} ${String(c.threads).padStart(7)} ` +
                         `${String(c.runs).padStart(7)} ${duration(c.p50_us).padStart(12)} ` +
                         `${duration(c.p99_us).padStart(12)} ` +
                         `${c.candidates_per_s.toFixed(0).padStart(14)}\n`);
  }
}

// bench/peers/peers.js reuses the same request tiling and timing loop.
module.exports = {loadTemplate, tile, timeRequests, percentile, sessionOptions};

if (require.main === module) main().catch((e) => fail(e.stack || String(e)));
