//! The run's numbers as the guided lab shows them (three decimals, as the lecture prints them).

use crate::analysis::space::SpaceResult;

/// Three decimals; a dash for a number the run could not compute.
pub fn fmt3(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), |x| format!("{x:.3}"))
}

/// `SI = ((w1 + w2 + …) / n) / ((a1 + a2 + …) / m) = within / across = SI`, with the run's
/// category means (categories without a pair are left out, as the analysis leaves them out).
pub fn selectivity_formula(space: &SpaceResult, name: &str) -> String {
    let within: Vec<String> = space
        .within_means
        .iter()
        .filter_map(|m| m.mean)
        .map(|m| fmt3(Some(m)))
        .collect();
    let across: Vec<String> = space.across_means.iter().map(|m| fmt3(Some(m.mean))).collect();
    format!(
        "SI({name}) = (({}) / {}) / (({}) / {}) = {} / {} = {}",
        within.join(" + "),
        within.len(),
        across.join(" + "),
        across.len(),
        fmt3(space.within_mean),
        fmt3(space.across_mean),
        fmt3(space.selectivity)
    )
}

/// The strictly upper triangle of a similarity matrix (every word pair once).
pub fn pairs(c: &[Vec<f64>]) -> Vec<f64> {
    c.iter()
        .enumerate()
        .flat_map(|(i, row)| row.iter().skip(i + 1).copied())
        .collect()
}

pub fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// Population standard deviation.
pub fn spread(v: &[f64]) -> Option<f64> {
    let m = mean(v)?;
    Some((v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt())
}

/// "Q" or "K", whichever `pick` says is larger, with both values; "neither" when equal or
/// unknown.
pub fn larger(q: Option<f64>, k: Option<f64>, what: &str) -> String {
    match (q, k) {
        (Some(a), Some(b)) if a > b => format!("Q: its {what} is {} against K's {}", fmt3(q), fmt3(k)),
        (Some(a), Some(b)) if b > a => format!("K: its {what} is {} against Q's {}", fmt3(k), fmt3(q)),
        _ => format!("neither: Q's {what} is {} and K's {}", fmt3(q), fmt3(k)),
    }
}
