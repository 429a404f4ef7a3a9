//! model.safetensors as any bytes: json_len, from_file, parse (against a claimed length),
//! plan and LayerWeights::from_safetensors answer Ok or Err; planned pieces lie in the file,
//! and loading succeeds exactly when planning does.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use qk_lens::model::plan::{needs, plan, Header};
use qk_lens::model::{Gpt2Config, LayerWeights};

/// A tiny GPT-2 (5 tokens, 4 positions, width 2, 2 layers), as the seed corpus' files.
static CONFIG: LazyLock<Gpt2Config> = LazyLock::new(|| {
    let json = br#"{"model_type": "gpt2", "vocab_size": 5, "n_positions": 4, "n_embd": 2, "n_layer": 2, "n_head": 1}"#;
    Gpt2Config::from_json(json).unwrap()
});

fuzz_target!(|data: &[u8]| {
    let config = &*CONFIG;
    let (layer, rows, n_pos) = (1, [0u32, 1, 2, 4], 4);
    let ids = [vec![0, 1, 2, 4]];
    let loaded = LayerWeights::from_safetensors(data, config, layer, &ids);
    match Header::from_file(data) {
        Ok(header) => {
            assert_eq!(header.file_len(), data.len() as u64);
            let data_start = 8 + Header::json_len(data).unwrap();
            match plan(&header, &needs(config, layer, &rows, n_pos)) {
                Ok(pieces) => {
                    for p in &pieces {
                        let r = &p.range;
                        assert!(
                            data_start <= r.start && r.start <= r.end && r.end <= data.len() as u64,
                            "{p:?}"
                        );
                    }
                    assert!(loaded.is_ok(), "planned but not loaded: {:?}", loaded.err());
                }
                Err(_) => assert!(loaded.is_err()),
            }
        }
        Err(_) => assert!(loaded.is_err()),
    }
    // The page learns the file's length from the server: any claimed length, no panic.
    if let Some((first8, json)) = data.split_first_chunk::<8>() {
        let claimed = u64::from_le_bytes(*first8);
        if let Ok(h) = Header::parse(json, claimed) {
            assert_eq!(h.file_len(), claimed);
        }
    }
});
