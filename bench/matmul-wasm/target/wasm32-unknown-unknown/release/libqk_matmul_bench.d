/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/libqk_matmul_bench.rlib: /work/main/bench/matmul-wasm/src/../../../src/model/matmul.rs /work/main/bench/matmul-wasm/src/lib.rs
