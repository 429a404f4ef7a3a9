/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/qk_matmul_bench.wasm: /work/main/bench/matmul-wasm/src/../../../src/model/matmul.rs /work/main/bench/matmul-wasm/src/lib.rs
