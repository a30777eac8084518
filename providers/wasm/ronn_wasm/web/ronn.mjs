// RONN web runner: replays an exported plan (kernel calls over one linear memory) with the
// same WebAssembly kernels the Python wasm provider ran. Works in Node.js (>= 18) and browsers.
//   node ronn.mjs --check      run the bundled sample, compare with Python's outputs (exit 0/1)
//   import { load, check } from './ronn.mjs'   (browser or Node)

const isNode = typeof process !== 'undefined' && !!(process.versions && process.versions.node);
const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array,
                 int64: BigInt64Array, uint8: Uint8Array, int8: Int8Array, bool: Uint8Array };

async function readBytes(base, name) {
  const url = new URL(name, base);
  if (isNode && url.protocol === 'file:') {
    const fs = await import('node:fs/promises');
    return new Uint8Array(await fs.readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

function typed(dtype, bytes) {
  const Kind = ARRAYS[dtype];
  if (!Kind) throw new Error(`unsupported dtype ${dtype}`);
  const copy = bytes.slice();   // aligned copy
  return new Kind(copy.buffer, 0, copy.byteLength / Kind.BYTES_PER_ELEMENT);
}

export class Model {
  constructor(plan, instance, base) {
    this.plan = plan;
    this.exports = instance.exports;
    this.base = base;
  }

  // inputs: { name: TypedArray } in the sample's shapes; returns { name: TypedArray }
  run(inputs) {
    const memory = this.exports.memory;
    for (const info of this.plan.inputs) {
      const value = inputs[info.name];
      if (!value) throw new Error(`missing input ${info.name}`);
      new Uint8Array(memory.buffer, info.offset, value.byteLength)
        .set(new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
    }
    for (const [name, ...args] of this.plan.calls) {
      const fn = this.exports[name];
      if (!fn) throw new Error(`the kernel module has no function ${name}`);
      fn(...args);
    }
    const outputs = {};
    for (const info of this.plan.outputs) {
      const Kind = ARRAYS[info.dtype];
      const count = info.shape.reduce((a, b) => a * b, 1);
      outputs[info.name] = new Kind(memory.buffer.slice(info.offset,
                                                        info.offset + count * Kind.BYTES_PER_ELEMENT));
    }
    return outputs;
  }
}

export async function load(base = new URL('./', import.meta.url)) {
  const plan = JSON.parse(new TextDecoder().decode(await readBytes(base, 'plan.json')));
  if (plan.format !== 'ronn-web-1') throw new Error(`unknown plan format ${plan.format}`);
  const { instance } = await WebAssembly.instantiate(await readBytes(base, plan.kernels), {});
  const memory = instance.exports.memory;
  const missing = plan.memory_bytes - memory.buffer.byteLength;
  if (missing > 0) memory.grow(Math.ceil(missing / 65536));
  new Uint8Array(memory.buffer).set(await readBytes(base, plan.weights), 0);
  return new Model(plan, instance, base);
}

export async function sampleInputs(model) {
  const inputs = {};
  for (const info of model.plan.inputs) {
    inputs[info.name] = typed(info.dtype, await readBytes(model.base, info.sample));
  }
  return inputs;
}

// Runs the bundled sample; compares each output with the Python run's (allclose).
export async function check(base = new URL('./', import.meta.url)) {
  const start = Date.now();
  const model = await load(base);
  const outputs = model.run(await sampleInputs(model));
  const { rtol, atol } = model.plan.tolerance;
  const report = { ok: true, outputs: [], ms: 0 };
  for (const info of model.plan.outputs) {
    const expected = typed(info.dtype, await readBytes(base, info.expected));
    const got = outputs[info.name];
    let maxAbs = 0, bad = 0;
    for (let i = 0; i < expected.length; i++) {
      const e = Number(expected[i]), g = Number(got[i]);
      const diff = Math.abs(e - g);
      if (!(diff <= atol + rtol * Math.abs(e))) bad++;
      if (diff > maxAbs || Number.isNaN(diff)) maxAbs = diff;
    }
    report.outputs.push({ name: info.name, shape: info.shape, maxAbsErr: maxAbs, mismatched: bad });
    if (bad > 0 || got.length !== expected.length) report.ok = false;
  }
  report.ms = Date.now() - start;
  return report;
}

async function main(argv) {
  if (!argv.includes('--check')) {
    console.log('usage: node ronn.mjs --check   (runs the bundled sample and compares outputs)');
    return 2;
  }
  const report = await check();
  console.log(JSON.stringify(report));
  console.log(report.ok ? 'PASS: outputs match the Python run' : 'FAIL: outputs differ');
  return report.ok ? 0 : 1;
}

if (isNode) {
  const { pathToFileURL } = await import('node:url');
  if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
    main(process.argv.slice(2)).then((code) => process.exit(code),
                                      (err) => { console.error(err); process.exit(1); });
  }
}
