//! The messages between page, engine and second worker: what goes over postMessage decodes to
//! what was sent, and each peer message's wire tag is the kind its errors name.

use qk_lens::model::Taps;
use qk_lens::protocol::{
    EngineEvent, EngineRequest, ModelFiles, PeerMessage, Progress, RunRequest, Stage, StoredConv, TestFault,
};
use qk_lens::run::ForwardPlan;
use qk_lens::Experiment;

fn plan() -> ForwardPlan {
    let config = br#"{"model_type": "gpt2", "vocab_size": 50257, "n_positions": 64, "n_embd": 64, "n_layer": 4, "n_head": 4}"#;
    ForwardPlan {
        config: qk_lens::model::Gpt2Config::from_json(config).unwrap(),
        top_layer: 3,
        taps: Taps {
            all_layers: true,
            whole_prompts: false,
        },
        prompts: vec![vec![464, 1306, 1573, 318, 16161], vec![464, 1306, 1573, 318, 34524]],
    }
}

#[test]
fn peer_messages_round_trip_with_their_kind_on_the_wire() {
    let messages = [
        PeerMessage::Ready,
        PeerMessage::Run {
            header: Some(r#"{"wte.weight":{}}"#.into()),
            plan: Box::new(plan()),
            starts: vec![0, 4096, u64::MAX],
            store: Some("0123456789abcdef".into()),
            stored: vec![StoredConv {
                name: "h.0.mlp.c_fc".into(),
                n_in: 768,
                n_out: 3072,
            }],
            panic: false,
        },
        PeerMessage::Loaded,
        PeerMessage::Part,
        PeerMessage::Run {
            header: None,
            plan: Box::new(plan()),
            starts: vec![],
            store: None,
            stored: vec![],
            panic: true,
        },
        PeerMessage::Done {
            memory: 283_000_000,
            held: 132_000_000,
        },
        PeerMessage::Failed {
            message: "panicked at 'boom'".into(),
        },
    ];
    for msg in messages {
        let json = serde_json::to_string(&msg).unwrap();
        let wire: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(wire["kind"], msg.kind(), "{json}");
        let back: PeerMessage = serde_json::from_str(&json).unwrap();
        assert_eq!(back, msg);
    }
    // A message of an unknown kind is an error, not a default.
    assert!(serde_json::from_str::<PeerMessage>(r#"{"kind":"reboot"}"#).is_err());
}

#[test]
fn engine_messages_round_trip() {
    let request = RunRequest {
        experiment: Experiment::lecture(),
        model: ModelFiles::in_folder("http://127.0.0.1:1/m/", Some("http://127.0.0.1:1/t.json".into())),
        options: None,
        workers: Some(1),
        run_id: Some(7),
        fault: None,
        encodings: None,
    };
    let json = serde_json::to_string(&request).unwrap();
    assert_eq!(serde_json::from_str::<RunRequest>(&json).unwrap(), request);
    // The e2e tests' fault travels by name, and only when there is one.
    assert!(!json.contains("fault"), "{json}");
    let faulty = RunRequest {
        fault: Some(TestFault::PanicPeer),
        ..request
    };
    let json = serde_json::to_string(&faulty).unwrap();
    assert!(json.contains(r#""fault":"panic-peer""#), "{json}");
    assert_eq!(serde_json::from_str::<RunRequest>(&json).unwrap(), faulty);
    // A run and a read-ahead carry the same request; the engine tells them apart by kind.
    for asked in [EngineRequest::Run(faulty.clone()), EngineRequest::ReadAhead(faulty.clone())] {
        let json = serde_json::to_string(&asked).unwrap();
        assert_eq!(serde_json::from_str::<EngineRequest>(&json).unwrap(), asked);
    }
    assert!(serde_json::to_string(&EngineRequest::ReadAhead(faulty.clone()))
        .unwrap()
        .contains(r#""kind":"read_ahead""#));
    for event in [
        EngineEvent::Stage(Stage::Forward),
        EngineEvent::Progress(Progress {
            done: 5,
            total: Some(10),
            wait_s: None,
        }),
        EngineEvent::Failed("no".into()),
    ] {
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<EngineEvent>(&json).unwrap(), event);
    }
}

/// A finished result reaches the page whole and exact (every f32 bit), with its Q, K and V
/// vectors as base64 of their bits: far less text than JSON numbers.
#[test]
fn a_result_travels_exactly_with_its_vectors_as_bits() {
    use qk_lens::analysis::report::ExtendedOptions;
    use qk_lens::run::{run_local, LocalModel};
    let dir = crate::common::model_dir("tiny-gpt2-hub");
    let (config, tokenizer, weights) = (
        crate::common::read(&dir.join("config.json")),
        crate::common::read(&dir.join("tokenizer.json")),
        crate::common::read(&dir.join("model.safetensors")),
    );
    let model = LocalModel {
        config: &config,
        tokenizer: &tokenizer,
        weights: &weights,
        threads: 1,
    };
    let options = ExtendedOptions {
        v: true,
        ..ExtendedOptions::default()
    };
    let experiment = Experiment {
        layer: 2,
        ..Experiment::lecture()
    };
    let result = run_local(&experiment, Some(&options), &model).unwrap();
    assert!(result.v.is_some(), "V asked for");
    let event = EngineEvent::Done(Box::new(result.clone()));
    let wire = serde_json::to_string(&event).unwrap();
    let EngineEvent::Done(back) = serde_json::from_str::<EngineEvent>(&wire).unwrap() else {
        panic!("not a result");
    };
    // The vectors bit for bit; the rest as the result's own JSON gives it back.
    let v = |r: &qk_lens::RunResult| r.v.as_ref().unwrap().vectors.clone();
    assert_eq!(
        (&back.q.vectors, &back.k.vectors, v(&back)),
        (&result.q.vectors, &result.k.vectors, v(&result))
    );
    let plain = serde_json::to_string(&result).unwrap();
    let mut plain_back: qk_lens::RunResult = serde_json::from_str(&plain).unwrap();
    (plain_back.q.vectors, plain_back.k.vectors) = (result.q.vectors.clone(), result.k.vectors.clone());
    plain_back.v.as_mut().unwrap().vectors = v(&result);
    assert_eq!(*back, plain_back);
    // This model's vectors are 64 wide: a small share of its JSON (0.9 of gpt2-medium's).
    assert!(
        wire.len() * 4 < plain.len() * 3,
        "{} bytes on the wire, {} as JSON numbers",
        wire.len(),
        plain.len()
    );
    // A damaged vector block is an error, not a short result.
    let cut = wire.replacen("\"vectors\":[[", "\"vectors\":[[1,", 1);
    assert!(serde_json::from_str::<EngineEvent>(&cut).is_err());
}
