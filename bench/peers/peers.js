#!/usr/bin/env node
// ONNX Runtime (onnxruntime-node, in this process) and rankopt (`rankopt bench`, a child process
// per cell) side by side on the same ONNX models, requests and thread counts, alternating runs in
// one invocation. Run it through bench/peers/run.sh, which prepares its inputs.
//
// Usage:
//   node bench/peers/peers.js --rankopt PATH --prepared PREPARED.jsonl --work DIR
//        [--candidates 1,16,200,512] [--threads 1,2] [--rounds 3] [--levels 1[,2...]]
//        [--warmup-s 0.3] [--min-s 1] [--floor-min-s 0.3] [--no-check] [--json FILE]
//        [--models-label TEXT] [--bench-arg ARG ...]
// --bench-arg: one more argument for every `rankopt bench` call (repeatable), e.g. a flag a
// future -O level needs.
// PREPARED.jsonl: bench/peers/prepare.py's lines (model, onnx, request, floor, ...).
//
// Per round, per (model, threads, N) cell: ORT times the request (bench_ort.js's loop: warm-up
// >= 10 runs and >= warmup-s, then >= 200 runs and >= min-s, each call timed on its own, p50 and
// p99), then `rankopt bench MODEL --candidates N --threads T -O L --requests REQ --json` once per
// level (the same warm-up and timed-run rules); the order flips every round (ORT first in odd
// rounds, rankopt first in even ones). The floor model (same inputs and outputs, trivial body)
// is timed by ORT in the same cell: the node binding's fixed per-call cost. Reported: the median
// over rounds of each engine's p50 and p99, and ORT p50 / rankopt p50 (nothing subtracted).
'use strict';

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const root = path.resolve(__dirname, '..', '..');
const benchOrt = require(path.join(root, 'tests', 'ort', 'bench_ort.js'));

function fail(message) {
  process.stderr.write(`peers.js: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = {candidates: [1, 16, 200, 512], threads: [1, 2], rounds: 3, levels: ['1'],
                warmupS: 0.3, minS: 1, floorMinS: 0.3, check: true, json: null,
                modelsLabel: '', benchArgs: []};
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
    const num = (v) => {
      const n = Number(v);
      if (!(n >= 0)) fail(`${a}: '${v}' is not a non-negative number`);
      return n;
    };
    if (a === '--rankopt') args.rankopt = value();
    else if (a === '--prepared') args.prepared = value();
    else if (a === '--work') args.work = value();
    else if (a === '--candidates') args.candidates = list(value());
    else if (a === '--threads') args.threads = list(value());
    else if (a === '--rounds') args.rounds = list(value())[0];
    else if (a === '--levels') args.levels = value().split(',').filter((x) => x !== '');
    else if (a === '--warmup-s') args.warmupS = num(value());
    else if (a === '--min-s') args.minS = num(value());
    else if (a === '--floor-min-s') args.floorMinS = num(value());
    else if (a === '--no-check') args.check = false;
    else if (a === '--json') args.json = value();
    else if (a === '--models-label') args.modelsLabel = value();
    else if (a === '--bench-arg') args.benchArgs.push(value());
    else fail(`unknown argument ${a}`);
  }
  if (!args.rankopt || !args.prepared || !args.work) {
    fail('--rankopt, --prepared and --work are required (run bench/peers/run.sh)');
  }
  if (args.levels.length === 0) fail('--levels: no level');
  return args;
}

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function duration(us) {
  if (!Number.isFinite(us)) return 'n/a';
  if (us < 1000) return `${us.toFixed(1)} us`;
  if (us < 1e6) return `${(us / 1000).toFixed(3)} ms`;
  return `${(us / 1e6).toFixed(3)} s`;
}

function cpuModel() {
  try {
    const text = fs.readFileSync('/proc/cpuinfo', 'utf8');
    const m = text.match(/^model name\s*:\s*(.*)$/m);
    if (m) return m[1].trim();
  } catch (e) { /* not Linux */ }
  return os.cpus()[0]?.model ?? 'unknown';
}

function levelFlag(level) {
  return ['-O', String(level)];
}

// The model's feature config (configs/MODEL.yaml), when the repository has one: at -O 2 its
// user/context features name the request-level inputs.
function configFlag(model) {
  const config = path.join(root, 'configs', `${model.model}.yaml`);
  return fs.existsSync(config) ? ['--config', config] : [];
}

// One `rankopt bench` cell: {p50_us, p99_us, runs, passes, warnings} or {error}.
function rankoptCell(args, model, n, threads, level) {
  const argv = ['bench', model.onnx, '--candidates', String(n), '--threads', String(threads),
                ...levelFlag(level), ...configFlag(model), '--requests', model.request,
                '--warmup-s', String(args.warmupS), '--min-s', String(args.minS),
                ...args.benchArgs, '--json'];
  const t0 = process.hrtime.bigint();
  const r = childProcess.spawnSync(args.rankopt, argv, {encoding: 'utf8',
                                                        maxBuffer: 64 << 20});
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop();
    return {error: `rankopt ${argv.join(' ')}: exit ${r.status}: ${why}`, usage: r.status === 2,
            wall_s: wallS};
  }
  let report;
  try {
    report = JSON.parse(r.stdout);
  } catch (e) {
    return {error: `rankopt bench --json printed no JSON: ${e.message}`, wall_s: wallS};
  }
  const cell = (report.cells || []).find((c) => Number(c.candidates) === n &&
                                                Number(c.threads) === threads);
  if (!cell) return {error: 'rankopt bench --json has no cell for this request', wall_s: wallS};
  return {p50_us: cell.p50_us, p99_us: cell.p99_us, runs: Number(cell.runs),
          chunk_rows: Number(cell.chunk_rows), opt_level: report.opt_level,
          passes: (report.passes || []).map((p) => p.pass + (p.changed ? '' : ' (no change)')),
          separability: report.separability, warnings: report.warnings || [], wall_s: wallS};
}

function jsonValue(v) {
  return typeof v === 'bigint' ? Number(v) : v;
}

// A tensor-JSON request from tiled typed arrays (what `rankopt run --inputs` reads).
function requestJson(arrays) {
  const inputs = {};
  for (const [name, t] of Object.entries(arrays)) {
    inputs[name] = {dtype: t.dtype, dims: t.dims, data: Array.from(t.data, jsonValue)};
  }
  return JSON.stringify({inputs});
}

function maxRelError(got, want) {
  if (got.length !== want.length) return NaN;
  let worst = 0;
  for (let i = 0; i < want.length; ++i) {
    const diff = Math.abs(got[i] - want[i]);
    const err = diff === 0 ? 0 : diff / Math.abs(want[i]);
    if (!(err <= worst)) worst = err;  // NaN sticks
  }
  return worst;
}

// Row r of a reference output of `rows` rows tiled to n rows (as the inputs are).
function tileValues(data, rows, n) {
  const rowLen = data.length / rows;
  const out = new Array(n * rowLen);
  for (let r = 0; r < n; ++r) {
    for (let j = 0; j < rowLen; ++j) out[r * rowLen + j] = data[(r % rows) * rowLen + j];
  }
  return out;
}

// ORT vs `rankopt run` (and both vs the PyTorch reference outputs of the template rows) at every
// candidate count.
async function checkOutputs(args, ort, model, session, template) {
  const ns = args.candidates;
  const perN = [];
  const file = path.join(args.work, `${model.model}_check.jsonl`);
  const ortOut = [];
  const lines = [];
  for (const n of ns) {
    const arrays = benchOrt.tile(template, n);
    const feeds = {};
    for (const [name, t] of Object.entries(arrays)) {
      feeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
    }
    const results = await session.run(feeds);
    const outs = {};
    for (const name of session.outputNames) {
      outs[name] = {dims: Array.from(results[name].dims), data: Array.from(results[name].data)};
    }
    ortOut.push(outs);
    lines.push(requestJson(arrays));
  }
  fs.writeFileSync(file, lines.join('\n') + '\n');
  // At the highest level benchmarked: the scores the timed graph gives (unchunked).
  const level = String(args.levels.map(Number).reduce((a, b) => Math.max(a, b), 0));
  const r = childProcess.spawnSync(args.rankopt, ['run', model.onnx, '--inputs', file,
                                                  ...levelFlag(level), ...configFlag(model),
                                                  '--json'],
                                   {encoding: 'utf8', maxBuffer: 256 << 20});
  if (r.error || r.status !== 0) {
    return {error: `rankopt run: exit ${r.status}: ` +
                   `${r.error ? r.error.message : (r.stderr || '').trim().split('\n').pop()}`};
  }
  const reports = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const refs = JSON.parse(fs.readFileSync(model.request, 'utf8')).reference_outputs || {};
  const summary = {rankopt_vs_ort: 0, ort_vs_pytorch: 0, rankopt_vs_pytorch: 0};
  for (let k = 0; k < ns.length; ++k) {
    const n = ns[k];
    const report = reports[k] || {};
    const cell = {candidates: n, outputs: {}};
    for (const name of session.outputNames) {
      const o = ortOut[k][name];
      const ro = (report.outputs || []).find((x) => x.name === name);
      const e = {};
      if (!ro) {
        e.rankopt_vs_ort = NaN;
        e.note = `rankopt run printed no output '${name}'`;
      } else {
        const values = ro.values || ro.doubles || (ro.ints || []).map(Number);
        const dimsOk = JSON.stringify((ro.dims || []).map(Number)) === JSON.stringify(o.dims);
        e.rankopt_vs_ort = dimsOk ? maxRelError(values, o.data) : NaN;
        const ref = refs[name];
        if (ref && ref.dims.length > 0) {
          const want = tileValues(ref.data, ref.dims[0], n);
          e.ort_vs_pytorch = maxRelError(o.data, want);
          e.rankopt_vs_pytorch = maxRelError(values, want);
        }
      }
      cell.outputs[name] = e;
      for (const key of Object.keys(summary)) {
        if (key in e && !(e[key] <= summary[key])) summary[key] = e[key];
      }
    }
    perN.push(cell);
  }
  return {summary, cells: perN};
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  let ort;
  try {
    ort = require(path.join(root, 'tests', 'ort', 'node_modules', 'onnxruntime-node'));
  } catch (e) {
    fail(`cannot load onnxruntime-node: ${e.message}`);
  }
  const models = fs.readFileSync(args.prepared, 'utf8').trim().split('\n')
      .filter((l) => l.trim() !== '').map((l) => JSON.parse(l));
  const started = Date.now();
  const env = {
    cpu: cpuModel(), logical_cpus: os.cpus().length, node: process.version,
    onnxruntime_node: ort.env.versions?.common ?? '', rankopt: args.rankopt,
    threads: args.threads, candidates: args.candidates, rounds: args.rounds,
    levels: args.levels, bench_args: args.benchArgs, warmup_s: args.warmupS, min_s: args.minS, floor_min_s: args.floorMinS,
    models_dir: args.modelsLabel, date: new Date().toISOString(),
    loadavg_start: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
  const log = (s) => process.stderr.write(`${s}\n`);
  log(`peers: ${models.map((m) => m.model).join(', ')} from ${args.modelsLabel}; ` +
      `ORT ${env.onnxruntime_node}; rankopt -O ${args.levels.join(', -O ')}; ` +
      `${args.rounds} round(s); ${env.cpu}, ${env.logical_cpus} logical CPUs`);

  // Sessions (one per model x threads, the floor model's too) live for the whole run.
  for (const m of models) {
    m.sessions = {};
    m.floorSessions = {};
    for (const t of args.threads) {
      m.sessions[t] = await ort.InferenceSession.create(m.onnx, benchOrt.sessionOptions(t));
      if (m.floor) {
        m.floorSessions[t] = await ort.InferenceSession.create(m.floor,
                                                               benchOrt.sessionOptions(t));
      }
    }
    const first = m.sessions[args.threads[0]];
    m.template = benchOrt.loadTemplate(m.request, first.inputNames);
    if (m.floor) {
      const names = m.floorSessions[args.threads[0]].inputNames;
      m.floorTemplate = benchOrt.loadTemplate(m.request, names);
    }
  }

  // Outputs first: a wrong engine's timings mean nothing.
  const checks = {};
  if (args.check) {
    for (const m of models) {
      log(`checking outputs: ${m.model} (ORT vs rankopt run at N = ${args.candidates})`);
      checks[m.model] = await checkOutputs(args, ort, m, m.sessions[args.threads[0]], m.template);
    }
  }

  const skipLevels = new Set();
  const levelErrors = {};
  const cells = [];
  for (const m of models) {
    for (const t of args.threads) {
      for (const n of args.candidates) {
        cells.push({model: m.model, m, threads: t, candidates: n, ort: [], floor: [],
                    rankopt: Object.fromEntries(args.levels.map((l) => [l, []]))});
      }
    }
  }
  for (let round = 1; round <= args.rounds; ++round) {
    for (const c of cells) {
      const timeOrt = async () => {
        const us = await benchOrt.timeRequests(ort, c.m.sessions[c.threads],
                                               benchOrt.tile(c.m.template, c.candidates),
                                               args.warmupS, args.minS);
        c.ort.push({p50_us: benchOrt.percentile(us, 0.5), p99_us: benchOrt.percentile(us, 0.99),
                    runs: us.length});
      };
      const timeFloor = async () => {
        if (!c.m.floor) return;
        const us = await benchOrt.timeRequests(ort, c.m.floorSessions[c.threads],
                                               benchOrt.tile(c.m.floorTemplate, c.candidates),
                                               Math.min(args.warmupS, 0.1), args.floorMinS);
        c.floor.push({p50_us: benchOrt.percentile(us, 0.5),
                      p99_us: benchOrt.percentile(us, 0.99), runs: us.length});
      };
      const timeRankopt = () => {
        for (const level of args.levels) {
          const key = `${c.model} -O ${level}`;
          if (skipLevels.has(key)) continue;
          const r = rankoptCell(args, c.m, c.candidates, c.threads, level);
          if (r.error) {
            log(`  ${r.error}`);
            levelErrors[key] = r.error;
            if (r.usage) skipLevels.add(key);
          }
          c.rankopt[level].push(r);
        }
      };
      if (round % 2 === 1) {
        await timeOrt();
        timeRankopt();
      } else {
        timeRankopt();
        await timeOrt();
      }
      await timeFloor();
      const last = (a) => (a.length ? a[a.length - 1] : {});
      log(`round ${round}/${args.rounds} ${c.model} N=${c.candidates} threads=${c.threads}: ` +
          `ORT ${duration(last(c.ort).p50_us)}; ` +
          args.levels.map((l) => `-O${l} ${duration(last(c.rankopt[l]).p50_us)}`).join('; ') +
          `; floor ${duration(last(c.floor).p50_us)}`);
    }
  }
  for (const m of models) {
    for (const s of [...Object.values(m.sessions), ...Object.values(m.floorSessions)]) {
      await s.release();
    }
  }

  // Medians over rounds.
  const rows = cells.map((c) => {
    const ort50 = median(c.ort.map((x) => x.p50_us));
    const row = {
      model: c.model, candidates: c.candidates, threads: c.threads,
      ort: {p50_us: ort50, p99_us: median(c.ort.map((x) => x.p99_us)),
            rounds: c.ort.map((x) => x.p50_us)},
      node_floor: {p50_us: median(c.floor.map((x) => x.p50_us)),
                   p99_us: median(c.floor.map((x) => x.p99_us))},
      rankopt: {},
    };
    for (const l of args.levels) {
      const ok = c.rankopt[l].filter((x) => !x.error);
      const p50 = median(ok.map((x) => x.p50_us));
      // Per-round ratios (ORT and rankopt of the same round) show how stable the median is.
      const perRound = [];
      for (let i = 0; i < c.ort.length; ++i) {
        const r = c.rankopt[l][i];
        if (r && !r.error) perRound.push(c.ort[i].p50_us / r.p50_us);
      }
      row.rankopt[l] = {p50_us: p50, p99_us: median(ok.map((x) => x.p99_us)),
                        ratio: ort50 / p50, ratio_min: Math.min(...perRound),
                        ratio_max: Math.max(...perRound), rounds: ok.map((x) => x.p50_us),
                        chunk_rows: ok.length ? ok[0].chunk_rows : null,
                        passes: ok.length ? ok[0].passes : [],
                        warnings: ok.length ? ok[0].warnings : [],
                        errors: c.rankopt[l].filter((x) => x.error).length};
    }
    return row;
  });

  env.loadavg_end = os.loadavg().map((x) => Number(x.toFixed(2)));

  // The report.
  const out = [];
  const p = (s) => out.push(s);
  p(`## ONNX Runtime vs rankopt (${args.modelsLabel})`);
  p('');
  p(`CPU: ${env.cpu}, ${env.logical_cpus} logical CPUs; threads ${args.threads.join(', ')} ` +
    `(ORT intraOpNumThreads = rankopt --threads); onnxruntime-node ${env.onnxruntime_node} ` +
    `(CPU EP, graph optimization all, node ${env.node}); rankopt ${args.rankopt}` +
    (args.benchArgs.length ? ` (bench also given: ${args.benchArgs.join(' ')})` : '') +
    '; load average ' +
    `(1/5/15 min) ${env.loadavg_start.join(' ')} at the start, ${env.loadavg_end.join(' ')} at ` +
    'the end.');
  const busy = Math.max(env.loadavg_start[0], env.loadavg_end[0], env.loadavg_end[1]);
  if (busy > 0.5 * env.logical_cpus) {
    p(`WARNING: load average ${busy} on ${env.logical_cpus} logical CPUs: other processes ` +
      'competed for the CPUs during this run; both engines\' timings are inflated and noisy ' +
      '(alternation spreads the noise over both, but 2-thread cells suffer most).');
  }
  p(`Each cell: ${args.rounds} round${args.rounds === 1 ? '' : 's'}, ORT and rankopt alternating (order flipped every ` +
    `round); per engine and round: warm-up >= 10 runs and >= ${args.warmupS} s, then >= 200 ` +
    `runs and >= ${args.minS} s (>= 50 runs and >= 3 s above 10 ms), each request timed on its ` +
    'own; p50 and p99 are the medians over rounds. Ratio = ORT p50 / rankopt p50, nothing ' +
    'subtracted. One user x N candidates: the reference request rows cut or tiled to N.');
  for (const m of models) {
    p(`- ${m.model}: ${path.basename(m.onnx)}, request ${m.request_source} (${m.rows} rows); ` +
      `request-level inputs identical in every row: ${m.request_level.join(', ') || 'n/a'}` +
      (m.warnings.length ? `; WARNING: ${m.warnings.join('; ')}` : ''));
  }
  p('');
  const header = ['model', 'N', 'threads', 'ORT p50 (p99)', 'node floor p50'];
  for (const l of args.levels) header.push(`rankopt -O${l} p50 (p99)`, `ORT / -O${l}`);
  p(`| ${header.join(' | ')} |`);
  p(`|${header.map((h, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`);
  for (const r of rows) {
    const cols = [r.model, r.candidates, r.threads,
                  `${duration(r.ort.p50_us)} (${duration(r.ort.p99_us)})`,
                  duration(r.node_floor.p50_us)];
    for (const l of args.levels) {
      const x = r.rankopt[l];
      cols.push(`${duration(x.p50_us)} (${duration(x.p99_us)})`);
      cols.push(Number.isFinite(x.ratio)
        ? `**${x.ratio.toFixed(2)}x**` +
          (args.rounds > 1 ? ` (${x.ratio_min.toFixed(2)}-${x.ratio_max.toFixed(2)})` : '')
        : 'n/a');
    }
    p(`| ${cols.join(' | ')} |`);
  }
  p('');
  if (args.rounds > 1) p('Ratio in parentheses: the lowest and highest per-round ratio.');
  // The node binding's fixed cost.
  const floorParts = [];
  for (const m of models) {
    if (!m.floor) {
      floorParts.push(`${m.model}: not measured (no floor model)`);
      continue;
    }
    for (const t of args.threads) {
      const mine = rows.filter((r) => r.model === m.model && r.threads === t);
      floorParts.push(`${m.model} ${t} thread${t === 1 ? '' : 's'}: ` +
                      mine.map((r) => duration(r.node_floor.p50_us)).join(' / ') +
                      ` at N = ${mine.map((r) => r.candidates).join(' / ')}`);
    }
  }
  p('Node binding fixed per-call cost (ORT p50 of a floor model with the same inputs and ' +
    'outputs, body = ReduceSum(dense); includes wrapping the inputs as ort.Tensors, session.run, ' +
    'promise resolution and output wrapping; it is inside every ORT number above, not ' +
    `subtracted): ${floorParts.join('; ')}.`);
  if (args.check) {
    p('');
    const level = args.levels.map(Number).reduce((a, b) => Math.max(a, b), 0);
    p('Outputs (max relative error over every output and N; rankopt = `rankopt run -O ' + level +
      '`, unchunked; PyTorch = the reference outputs of the template rows, tiled like the ' +
      'inputs):');
    for (const m of models) {
      const c = checks[m.model];
      if (c.error) {
        p(`- ${m.model}: ${c.error}`);
        continue;
      }
      const s = c.summary;
      const ok = s.rankopt_vs_ort <= 1e-5;
      p(`- ${m.model}: rankopt vs ORT ${s.rankopt_vs_ort.toExponential(2)} ` +
        `(${ok ? 'ok' : 'FAIL'}, target <= 1e-5); ORT vs PyTorch ` +
        `${s.ort_vs_pytorch.toExponential(2)}; rankopt vs PyTorch ` +
        `${s.rankopt_vs_pytorch.toExponential(2)}`);
    }
  }
  const notes = [];
  for (const l of args.levels) {
    for (const m of models) {
      const r = rows.find((x) => x.model === m.model && x.rankopt[l].passes.length);
      if (r) notes.push(`${m.model} -O${l} passes: ${r.rankopt[l].passes.join('; ')}`);
      const w = rows.find((x) => x.model === m.model && x.rankopt[l].warnings.length);
      if (w) notes.push(`${m.model} -O${l} WARNING: ${w.rankopt[l].warnings.join('; ')}`);
    }
  }
  for (const [key, e] of Object.entries(levelErrors)) notes.push(`${key} failed: ${e}`);
  if (notes.length) {
    p('');
    for (const n of notes) p(`- ${n}`);
  }
  p('');
  p(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
  process.stdout.write(out.join('\n') + '\n');

  if (args.json) {
    const doc = {env, models: models.map((m) => ({model: m.model, onnx: m.onnx,
                                                  request_source: m.request_source,
                                                  rows: m.rows, floor: m.floor,
                                                  request_level: m.request_level,
                                                  warnings: m.warnings})),
                 checks, cells: rows, errors: levelErrors,
                 wall_s: (Date.now() - started) / 1000};
    fs.writeFileSync(args.json, JSON.stringify(doc, (k, v) =>
      (typeof v === 'number' && !Number.isFinite(v) ? null : v), 1) + '\n');
  }
}

main().catch((e) => fail(e.stack || String(e)));
