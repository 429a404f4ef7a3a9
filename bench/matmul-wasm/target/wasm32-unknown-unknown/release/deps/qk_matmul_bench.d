/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/deps/qk_matmul_bench.d: src/lib.rs src/../../../src/model/matmul.rs

/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/deps/qk_matmul_bench.wasm: src/lib.rs src/../../../src/model/matmul.rs

/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/deps/libqk_matmul_bench.rlib: src/lib.rs src/../../../src/model/matmul.rs

src/lib.rs:
src/../../../src/model/matmul.rs:
