// Times src/model/matmul.rs compiled to wasm32 + simd128 (bench/matmul-wasm) in node, on the
// shapes of gpt2-medium's four Conv1Ds with the lecture's 34 rows.
//   (cd bench/matmul-wasm && cargo build --release --target wasm32-unknown-unknown)
//   node bench/matmul.mjs path/to/qk_matmul_bench.wasm [M]   (M rows of x, default 34)
import fs from 'node:fs';
const file = process.argv[2];
const M = Number(process.argv[3] || 34);
const { instance } = await WebAssembly.instantiate(fs.readFileSync(file), {});
const w = instance.exports;
const shapes = [['c_attn', 1024, 3072], ['c_proj', 1024, 1024], ['mlp.c_fc', 1024, 4096], ['mlp.c_proj', 4096, 1024]];
let total = 0;
let flops = 0;
for (const [name, k, n] of shapes) {
  w.setup(M, k, n);
  w.run();
  const times = [];
  for (let rep = 0; rep < 15; rep++) {
    const t0 = performance.now();
    w.run();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  const f = 2 * M * k * n;
  total += ms;
  flops += f;
  console.log(`${name.padEnd(11)} ${M}x${k}x${n}: ${ms.toFixed(2)} ms (min ${times[0].toFixed(2)}), ${(f / ms / 1e6).toFixed(1)} GFLOP/s`);
}
console.log(`one block: ${total.toFixed(2)} ms, ${(flops / total / 1e6).toFixed(1)} GFLOP/s; 5 blocks ~ ${(5 * total).toFixed(0)} ms`);
w.setup(M, 1000, 37);
console.log(`check M=${M} k=1000 n=37: max rel err ${w.check().toExponential(2)}`);
{
  const n = 34 * 4096;
  w.gelu_candle(n);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) w.gelu_candle(n);
  console.log(`gelu (candle's tanh form) on 34x4096: ${((performance.now() - t0) / 5).toFixed(2)} ms per block (incl. making the input)`);
}
{
  // As in the forward, W from memory: 20 different W of mlp.c_fc's shape (320 MB), each used once.
  const count = 20;
  w.setup_many(M, 1024, 4096, count);
  w.run_many();
  const times = [];
  for (let rep = 0; rep < 3; rep++) {
    const t0 = performance.now();
    w.run_many();
    times.push(performance.now() - t0);
  }
  const ms = Math.min(...times);
  console.log(`W from memory: ${count} x ${M}x1024x4096 in ${ms.toFixed(1)} ms, ${(2 * M * 1024 * 4096 * count / ms / 1e6).toFixed(1)} GFLOP/s`);
}
