//! Native command line over the same core as the page:
//! `qk-lens run EXPERIMENT.json --model-dir DIR [--layer L] [--out RESULT.json]`, and beyond the
//! lecture `[--all-layers] [--heads] [--v] [--qk] [--center] [--pca] [--stats]
//! [--permutations N] [--bootstrap B] [--seed S]`; `[--threads N]` for the forward pass; and
//! `qk-lens notebook RESULT.json --model MODEL [-o OUT.ipynb]`: the "Check it in Python" notebook.

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

// The page is the browser's front end; the CLI is native only.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};

    use qk_lens::analysis::report::ExtendedOptions;
    use qk_lens::run::{run_local, LocalModel};
    use qk_lens::{Error, Experiment, Result};

    /// The GPT-2 tokenizer every GPT-2 size shares; used when a model folder has no tokenizer.json.
    const GPT2_TOKENIZER: &[u8] = include_bytes!("../../static/gpt2-tokenizer.json");

    #[derive(Parser)]
    #[command(
        name = "qk-lens",
        version,
        about = "How GPT-2's attention queries and keys represent semantic categories"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Run an experiment on a local model folder (config.json, model.safetensors, tokenizer.json).
        Run {
            /// Experiment JSON: {"model", "layer", "template", "categories": [{"name", "words"}]}.
            experiment: PathBuf,
            /// Folder holding config.json, model.safetensors and (optionally) tokenizer.json.
            #[arg(long)]
            model_dir: PathBuf,
            /// Layer to capture (overrides the experiment's).
            #[arg(long)]
            layer: Option<usize>,
            /// Where to write the result JSON (default: standard output).
            #[arg(long)]
            out: Option<PathBuf>,
            /// Threads for the forward pass, each holding its share of the weights (default: the
            /// machine's cores; capped at the model's heads). The result is the same for any number.
            #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
            threads: Option<u32>,
            #[command(flatten)]
            extended: Extended,
        },
        /// Export the "Check it in Python" notebook of a result (what the page's button saves).
        Notebook {
            /// A result JSON written by `run` (or saved by the page).
            result: PathBuf,
            /// What the notebook's MODEL is set to: a model folder, a hub id, or a folder URL.
            #[arg(long)]
            model: String,
            /// Where to write the notebook (default: standard output).
            #[arg(long, short = 'o')]
            out: Option<PathBuf>,
        },
    }

    /// Analyses beyond the lecture; each adds its own keys to the result (absent without the flag).
    #[derive(clap::Args, Clone, Debug, Default)]
    struct Extended {
        /// Layer sweep: Q, K and V of every layer from one forward pass; adds "layers".
        #[arg(long)]
        all_layers: bool,
        /// Per-head selectivity and RSA (every swept layer, else the analysed one); adds "heads".
        #[arg(long)]
        heads: bool,
        /// Analyse V beside Q and K at the analysed layer; adds "v".
        #[arg(long = "v")]
        v: bool,
        /// Q·K cross matrices q_i·k_j/sqrt(d_head) of the analysed layer's heads; adds "qk".
        #[arg(long)]
        qk: bool,
        /// Mean-centre the vectors before cosine; adds "centered" (and centres layers, heads, pca, statistics).
        #[arg(long)]
        center: bool,
        /// 2-D PCA maps of Q, K and V at the analysed layer; adds "pca".
        #[arg(long)]
        pca: bool,
        /// Permutation tests and bootstrap intervals with the defaults (1000, seed 0); adds "statistics".
        #[arg(long)]
        stats: bool,
        /// Permutations per test (implies --stats; default 1000).
        #[arg(long, value_name = "N")]
        permutations: Option<usize>,
        /// Bootstrap resamples (implies --stats; default: the number of permutations).
        #[arg(long, value_name = "B")]
        bootstrap: Option<usize>,
        /// Seed of the permutations and the bootstrap (implies --stats; default 0).
        #[arg(long, value_name = "S")]
        seed: Option<u64>,
    }

    impl Extended {
        /// The flags read as the page reads its query parameters (one rule for both).
        fn options(&self) -> Result<Option<ExtendedOptions>> {
            let on = |b: bool| b.then(|| "1".to_string());
            let number = |n: Option<u64>| n.map(|n| n.to_string());
            ExtendedOptions::from_query(|k| match k {
                "all-layers" => on(self.all_layers),
                "heads" => on(self.heads),
                "v" => on(self.v),
                "qk" => on(self.qk),
                "center" => on(self.center),
                "pca" => on(self.pca),
                "stats" => on(self.stats),
                "permutations" => number(self.permutations.map(|n| n as u64)),
                "bootstrap" => number(self.bootstrap.map(|n| n as u64)),
                "seed" => number(self.seed),
                _ => None,
            })
            .map_err(|e| Error::input("options", format!("--{e}")))
        }
    }

    fn read(path: &Path) -> Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| Error::input(path.display().to_string(), e))
    }

    fn run(
        experiment: &Path,
        model_dir: &Path,
        layer: Option<usize>,
        out: Option<&Path>,
        threads: Option<u32>,
        extended: &Extended,
    ) -> Result<()> {
        let options = extended.options()?;
        let text =
            String::from_utf8(read(experiment)?).map_err(|_| Error::input(experiment.display().to_string(), "not UTF-8 text"))?;
        let mut exp = Experiment::from_json(&text)?;
        if let Some(layer) = layer {
            exp.layer = layer;
        }
        let config = read(&model_dir.join("config.json"))?;
        let tokenizer_path = model_dir.join("tokenizer.json");
        // Notes are printed once the run succeeds, so an error stays the only line on stderr.
        let mut notes = Vec::new();
        let tokenizer = if tokenizer_path.exists() {
            read(&tokenizer_path)?
        } else {
            notes.push(format!(
                "{} has no tokenizer.json: used the bundled GPT-2 tokenizer",
                model_dir.display()
            ));
            GPT2_TOKENIZER.to_vec()
        };
        let weights_path = model_dir.join("model.safetensors");
        let file = std::fs::File::open(&weights_path).map_err(|e| Error::input(weights_path.display().to_string(), e))?;
        // SAFETY: the file is only read; a concurrent writer could change bytes under us, which the
        // safetensors checks then report as an error rather than memory unsafety in our code.
        let weights = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::input(weights_path.display().to_string(), e))?;
        let threads = threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), |n| n as usize);
        let model = LocalModel {
            config: &config,
            tokenizer: &tokenizer,
            weights: &weights,
            threads,
        };
        let result = run_local(&exp, options.as_ref(), &model)?;
        for note in notes.iter().chain(&result.notes) {
            eprintln!("note: {note}");
        }
        let json = result.to_json();
        match out {
            Some(path) => std::fs::write(path, json + "\n").map_err(|e| Error::input(path.display().to_string(), e))?,
            None => println!("{json}"),
        }
        Ok(())
    }

    fn notebook(result: &Path, model: &str, out: Option<&Path>) -> Result<()> {
        let text = String::from_utf8(read(result)?).map_err(|_| Error::input(result.display().to_string(), "not UTF-8 text"))?;
        let result_value: qk_lens::RunResult = serde_json::from_str(&text)
            .map_err(|e| Error::input(result.display().to_string(), format!("not a QK Lens result: {e}")))?;
        let notebook = qk_lens::export::notebook_ipynb(&result_value, model);
        match out {
            Some(path) => std::fs::write(path, notebook).map_err(|e| Error::input(path.display().to_string(), e))?,
            None => print!("{notebook}"),
        }
        Ok(())
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        let outcome = match &cli.command {
            Command::Run {
                experiment,
                model_dir,
                layer,
                out,
                threads,
                extended,
            } => run(experiment, model_dir, *layer, out.as_deref(), *threads, extended),
            Command::Notebook { result, model, out } => notebook(result, model, out.as_deref()),
        };
        match outcome {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }
}
