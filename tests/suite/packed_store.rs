//! A host that keeps packed Conv1Ds between sessions (as the page keeps them in the origin's
//! file system): a new session (a reload) takes them as they are, reads only the rest of the
//! file's bytes and packs nothing, and its result is the same, bit for bit.

use std::collections::HashMap;

use futures::FutureExt;

use crate::common::*;
use qk_lens::model::matmul::PackedLinear;
use qk_lens::model::plan::{plan, Coverage, FetchedRanges, Header, Need};
use qk_lens::model::shard::{Alone, Shard};
use qk_lens::model::{LayerWeights, Prepacked};
use qk_lens::run::{ForwardPlan, Forwarded, HostReport, ModelFile, RunHost, Session};
use qk_lens::{Experiment, RunResult};

/// Each Conv1D's panels, bias, k and n, by name.
type Store = HashMap<String, (Vec<f32>, Vec<f32>, usize, usize)>;

/// One rank in this thread; the file's pieces handed out only as asked; a store of packed
/// Conv1Ds that outlives the host.
struct StoreHost<'a> {
    dir: std::path::PathBuf,
    file: &'a [u8],
    store: &'a mut Store,
    held: Option<LayerWeights>,
    stored: Vec<String>,
}

impl RunHost for StoreHost<'_> {
    type Bytes = FetchedRanges;

    fn now_ms(&self) -> f64 {
        0.0
    }

    fn model_key(&self) -> String {
        self.dir.display().to_string()
    }

    async fn stage(&mut self, _stage: qk_lens::run::Stage) {}

    async fn read(&mut self, file: ModelFile) -> qk_lens::Result<Vec<u8>> {
        Ok(read(&self.dir.join(match file {
            ModelFile::Config => "config.json",
            ModelFile::Tokenizer => "tokenizer.json",
        })))
    }

    fn held(&self) -> Option<Coverage> {
        self.held.as_ref().map(LayerWeights::coverage)
    }

    async fn stored_packed(&mut self, _plan: &ForwardPlan, needs: &[Need]) -> Vec<String> {
        self.stored = needs
            .iter()
            .filter_map(|n| match n {
                Need::Whole { name, .. } => name.strip_suffix(".weight").filter(|c| self.store.contains_key(*c)),
                Need::Rows { .. } => None,
            })
            .map(str::to_string)
            .collect();
        self.stored.clone()
    }

    async fn weights(&mut self, _plan: &ForwardPlan, needs: &[Need]) -> qk_lens::Result<(Header, FetchedRanges)> {
        let header = Header::from_file(self.file)?;
        let pieces = plan(&header, needs)?;
        let parts = pieces
            .iter()
            .map(|p| {
                (
                    p.range.start,
                    self.file[p.range.start as usize..p.range.end as usize].to_vec(),
                )
            })
            .collect();
        Ok((header, FetchedRanges::new(parts)))
    }

    async fn forward(&mut self, plan: &ForwardPlan, loaded: Option<(Header, FetchedRanges)>) -> qk_lens::Result<Forwarded> {
        if let Some((header, bytes)) = loaded {
            let prepacked: Prepacked = self
                .stored
                .iter()
                .map(|c| {
                    let (panels, bias, k, n) = self.store[c].clone();
                    (c.clone(), PackedLinear::from_panels(k, n, panels, bias).unwrap())
                })
                .collect();
            plan.load_into(&mut self.held, &header, &bytes, Shard::WHOLE, prepacked)?;
            // What was packed is kept for the next session.
            for (name, l) in self.held.as_ref().unwrap().conv1ds() {
                let kept = (l.panels().to_vec(), l.bias().to_vec(), l.in_features(), l.out_features());
                self.store.entry(name).or_insert(kept);
            }
        }
        let weights = self.held.as_ref().unwrap();
        Ok(Forwarded {
            captures: plan.forward(weights, &mut Alone).await?,
            started_ms: 0.0,
            ranks: 1,
        })
    }

    fn forget(&mut self) {
        self.held = None;
    }

    fn report(&mut self) -> HostReport {
        HostReport::default()
    }
}

fn run_in_new_session(dir: &std::path::Path, file: &[u8], store: &mut Store, experiment: &Experiment) -> RunResult {
    let mut host = StoreHost {
        dir: dir.to_path_buf(),
        file,
        store,
        held: None,
        stored: Vec::new(),
    };
    // Nothing here waits: the run completes at its first poll.
    Session::default()
        .run(experiment, None, &mut host)
        .now_or_never()
        .expect("no waiting")
        .unwrap()
}

#[test]
fn a_new_session_takes_the_packed_conv1ds_reads_only_the_rest_and_packs_nothing() {
    let dir = model_dir("tiny-gpt2-hub");
    let file = read(&dir.join("model.safetensors"));
    let experiment = Experiment {
        layer: 3,
        ..Experiment::lecture()
    };
    let mut store = HashMap::new();

    let first = run_in_new_session(&dir, &file, &mut store, &experiment);
    let s1 = first.stats.clone().unwrap();
    assert_eq!((s1.tensors_packed, s1.tensors_from_store), (Some(13), None));
    assert_eq!(store.len(), 13, "blocks 0-2 (4 Conv1Ds each) and block 3's c_attn kept");

    let again = run_in_new_session(&dir, &file, &mut store, &experiment);
    let s2 = again.stats.clone().unwrap();
    assert_eq!((s2.tensors_packed, s2.tensors_from_store), (Some(0), Some(13)));
    let (read1, read2) = (s1.weight_bytes_read.unwrap(), s2.weight_bytes_read.unwrap());
    assert!(read2 * 20 < read1, "bytes read: {read2} after {read1}");
    assert_eq!(again.q.cosine, first.q.cosine, "the same numbers, bit for bit");
    assert_eq!(again.k.cosine, first.k.cosine);
    assert_eq!(again.rsa.r, first.rsa.r);
}
