//! The documents of `detbench report` and of `detbench run`'s console summary, built once
//! from the summary data, the tables and the figures; every renderer shows these blocks.

use super::inputs::Inputs;
use super::summary::{self, Summary};
use super::view::{Block, Document, Tone};
use super::{batch, figures, headline, tables, Report, ResultRecord};

/// The summary of everything in `inputs` (every row with its report's environment, so
/// rows are paired by the one result key).
pub fn summary(inputs: &Inputs) -> Summary {
    let rows: Vec<(&ResultRecord, &super::Env)> = inputs
        .runs
        .iter()
        .flat_map(|(_, rep)| rep.results.iter().map(move |r| (r, &rep.env)))
        .collect();
    summary::build(&rows)
}

/// The report document: headline first, then each device's tables and figures, the
/// accuracy figures, every result, training, provenance. Its data is the summary.
pub fn report(inputs: &Inputs) -> Document {
    let sum = summary(inputs);
    let mut d = Document::new("detbench report");
    let sources: Vec<String> = inputs
        .runs
        .iter()
        .map(|(p, _)| p.display().to_string())
        .chain(inputs.trains.iter().map(|(p, _)| p.display().to_string()))
        .collect();
    d.push(Block::para(format!("From {}.", sources.join(", "))));
    if !sum.devices.is_empty() {
        d.push(Block::heading(1, "Headline"));
        d.blocks.extend(headline::blocks(&sum, 2));
    }
    let results = inputs.results();
    d.blocks.extend(batch::blocks(&results, 1));
    for h in &sum.devices {
        let dev = &h.device;
        d.push(Block::heading(1, dev.clone()));
        d.push(Block::heading(
            2,
            "Reproducibility and the cost of determinism",
        ));
        d.push(Block::para("Time is each deterministic row's median over the fastest nondeterministic row with the same result key apart from the variant and ordering (same size, bins, shape, batch, workgroup size, input and seed); the median over those pairs at each size. Below 1x is a speed-up."));
        d.push(Block::Table(tables::summary_table(inputs, h)));
        d.blocks
            .extend(figures::device(inputs, dev).into_iter().map(Block::Figure));
        let cost = tables::cost_table(h);
        if !cost.rows.is_empty() {
            d.push(Block::heading(2, "Cost of determinism, case by case"));
            d.push(Block::para("Each deterministic row's median time over the fastest nondeterministic row with the same result key apart from the variant and ordering; the spread runs from the lower quartile of its runs over the baseline's upper quartile to the upper over the lower. A verdict is a cost or a speed-up only when the whole spread lies on one side of 1."));
            d.push(Block::Table(cost));
        }
        let (tp, copy) = tables::throughput_table(inputs, dev);
        d.push(Block::heading(2, "Throughput"));
        match copy {
            Some(c) => d.push(Block::para(format!("Copy bandwidth: {c:.2} GB/s."))),
            None => d.push(Block::toned(
                Tone::Note,
                None,
                "The copy baseline is missing (no copy result and no env.extra.copy_gbps): GB/s are shown as measured, not as a fraction of copy bandwidth.",
            )),
        };
        d.push(Block::Table(tp));
    }
    if !inputs.runs.is_empty() {
        let acc: Vec<Block> = figures::accuracy(inputs)
            .into_iter()
            .map(Block::Figure)
            .collect();
        if !acc.is_empty() {
            d.push(Block::heading(1, "Accuracy"));
            d.blocks.extend(acc);
        }
        d.push(Block::heading(1, "All results"));
        d.push(Block::Details {
            summary: format!("{} results", results.len()),
            blocks: vec![Block::Table(tables::detail_table(&results))],
        });
    }
    for (path, t) in &inputs.trains {
        d.push(Block::heading(
            1,
            format!(
                "Training: {} ({} on {}, {} steps, {} replicas, seed {}, lr {}; {})",
                path.display(),
                t.config.backend,
                t.config.device,
                t.config.steps,
                t.config.replicas,
                t.config.seed,
                t.config.lr,
                t.config.model
            ),
        ));
        d.push(Block::Table(tables::train_table(t)));
        if let Some(c) = tables::train_comparison_table(t) {
            d.push(Block::Table(c));
        }
        d.blocks
            .extend(figures::train(t, path).into_iter().map(Block::Figure));
    }
    d.push(Block::heading(1, "Provenance"));
    for (path, rep) in &inputs.runs {
        d.push(Block::heading(2, path.display().to_string()));
        d.push(Block::Fields(tables::provenance(rep)));
    }
    for (path, t) in &inputs.trains {
        d.push(Block::heading(2, path.display().to_string()));
        let rep = Report {
            schema: String::new(),
            env: t.env.clone(),
            results: Vec::new(),
            partial: t.partial,
        };
        let mut f = tables::provenance(&rep);
        f.push(("dataset sha256".into(), t.config.dataset_sha256.clone()));
        d.push(Block::Fields(f));
    }
    d.data = serde_json::to_value(&sum).ok();
    d
}

/// Every figure of the report (what `--figures` writes).
pub fn figures_document(inputs: &Inputs) -> Document {
    let mut d = Document::new("detbench figures");
    d.blocks = figures::all(inputs)
        .into_iter()
        .map(Block::Figure)
        .collect();
    d
}

/// What `detbench run` prints: the headline first, the batch axis, then one row per case
/// that ran (with the key columns that tell rows apart).
pub fn run_console(results: &[ResultRecord], env: &super::Env) -> Document {
    let sum = summary::of_report(results, env);
    let mut d = Document::new("");
    d.blocks.extend(headline::blocks(&sum, 1));
    let refs: Vec<&ResultRecord> = results.iter().collect();
    d.blocks.extend(batch::blocks(&refs, 1));
    let t = tables::console_table(&refs);
    if !t.rows.is_empty() {
        d.push(Block::heading(1, "Results"));
        d.push(Block::Table(t));
    }
    d.data = serde_json::to_value(&sum).ok();
    d
}

/// [`run_console`] as console text, for results of one run (no device list: devices are
/// told apart by backend and name).
pub fn console_text(results: &[ResultRecord]) -> String {
    use super::render::Renderer;
    super::render::console::Console.render(&run_console(results, &super::Env::default()))
}
