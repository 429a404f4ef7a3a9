/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/deps/native-38046ca803d1d9d9.d: src/bin/native.rs

/work/main/bench/matmul-wasm/target/wasm32-unknown-unknown/release/deps/native-38046ca803d1d9d9.wasm: src/bin/native.rs

src/bin/native.rs:
