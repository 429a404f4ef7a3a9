//! The kernel's native timing on the same shapes as bench/matmul.mjs: `cargo run --release [M]`.
use std::time::Instant;

fn main() {
    let m: usize = std::env::args().nth(1).map_or(34, |a| a.parse().expect("M"));
    let shapes = [
        ("c_attn", 1024, 3072),
        ("c_proj", 1024, 1024),
        ("mlp.c_fc", 1024, 4096),
        ("mlp.c_proj", 4096, 1024),
    ];
    let (mut total, mut flops) = (0.0, 0.0);
    for (name, k, n) in shapes {
        qk_matmul_bench::setup(m, k, n);
        qk_matmul_bench::run();
        let mut times: Vec<f64> = (0..15)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(qk_matmul_bench::run());
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let ms = times[times.len() / 2];
        let f = 2.0 * (m * k * n) as f64;
        total += ms;
        flops += f;
        println!("{name:11} {m}x{k}x{n}: {ms:.2} ms, {:.1} GFLOP/s", f / ms / 1e6);
    }
    println!("one block: {total:.2} ms, {:.1} GFLOP/s", flops / total / 1e6);
}
