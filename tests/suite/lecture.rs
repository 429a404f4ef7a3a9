//! The guided lab's text (`qk_lens::lecture`): every number it shows comes from the run, and the
//! formulas agree with the numbers beside them.

use qk_lens::lecture::{fmt3, selectivity_formula, steps, Step, STEPS};
use qk_lens::plots::figure::Figure;
use qk_lens::{Experiment, RunResult};

fn lecture_result() -> RunResult {
    let e = Experiment {
        layer: 3,
        ..Experiment::lecture()
    };
    crate::common::run_model("tiny-gpt2-hub", &e).unwrap()
}

fn numbers_in(text: &str) -> Vec<f64> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .filter_map(|t| t.trim_matches('.').parse::<f64>().ok())
        .collect()
}

fn all_text(s: &Step) -> String {
    let q = s
        .question
        .as_ref()
        .map(|q| format!("{} {}", q.ask, q.answer))
        .unwrap_or_default();
    format!("{} {} {}", s.text.join(" "), s.formula.clone().unwrap_or_default(), q)
}

#[test]
fn eleven_steps_in_the_notebooks_order_each_with_text() {
    let r = lecture_result();
    let steps = steps(&r.experiment, Some(&r));
    assert_eq!(steps.len(), STEPS);
    for (i, s) in steps.iter().enumerate() {
        assert_eq!(s.number, i + 1);
        assert!(!s.text.is_empty() && s.text.iter().all(|p| p.len() > 20), "step {}", s.number);
    }
    let figures: Vec<Vec<Figure>> = steps.iter().map(|s| s.figures.clone()).collect();
    assert_eq!(figures[3], [Figure::GroupMask]);
    assert_eq!(figures[5], [Figure::HeatmapQ, Figure::HeatmapK]);
    assert_eq!(figures[7], [Figure::Selectivity]);
    assert_eq!(figures[9], [Figure::RsaPerCategory]);
    // Steps 2 to 10 quote the notebook's code; step 11 links onwards.
    assert!(steps[1..10].iter().all(|s| s.code.is_some()));
    assert_eq!(steps[10].next.len(), 4);
    assert!(steps[10].next.iter().any(|n| n.all_layers));
}

#[test]
fn the_selectivity_formula_agrees_with_the_numbers_shown() {
    let r = lecture_result();
    for (space, name) in [(&r.q, "Q"), (&r.k, "K")] {
        let text = selectivity_formula(space, name);
        let n: Vec<f64> = numbers_in(text.split_once('=').unwrap().1);
        // ((w1 + w2 + w3) / 3) / ((a1 + a2 + a3) / 3) = within / across = SI
        let within: Vec<f64> = space.within_means.iter().filter_map(|m| m.mean).collect();
        let across: Vec<f64> = space.across_means.iter().map(|m| m.mean).collect();
        let (w, a) = (within.len(), across.len());
        assert_eq!(n.len(), w + 1 + a + 1 + 3, "{text}");
        for (shown, real) in n[..w].iter().zip(&within) {
            assert_eq!(*shown, fmt3(Some(*real)).parse::<f64>().unwrap(), "{text}");
        }
        let shown_within = n[w + 1 + a + 1];
        let shown_across = n[w + 1 + a + 2];
        let shown_si = n[w + 1 + a + 3];
        // The listed means average to the within and across shown (to the rounding), and
        // their ratio is the index shown.
        assert!(
            (n[..w].iter().sum::<f64>() / w as f64 - shown_within).abs() < 1.5e-3,
            "{text}"
        );
        assert!(
            (n[w + 1..w + 1 + a].iter().sum::<f64>() / a as f64 - shown_across).abs() < 1.5e-3,
            "{text}"
        );
        assert!((shown_within / shown_across - shown_si).abs() < 2e-3, "{text}");
        assert_eq!(shown_si, fmt3(space.selectivity).parse::<f64>().unwrap());
    }
}

/// Change the run's numbers and the text follows: nothing in it is written in by hand.
#[test]
fn every_number_comes_from_the_result() {
    let r = lecture_result();
    let mut other = r.clone();
    other.q.selectivity = Some(7.777);
    other.k.selectivity = Some(0.111);
    other.rsa.r = Some(-0.424);
    other.rsa.per_category[1].r = Some(0.989);
    other.q.cosine[0][1] = 0.606;
    let before = steps(&r.experiment, Some(&r));
    let after = steps(&other.experiment, Some(&other));
    let text = |s: &[Step], i: usize| all_text(&s[i - 1]);
    assert!(text(&after, 8).contains("7.777") && !text(&before, 8).contains("7.777"));
    assert!(after[0]
        .question
        .as_ref()
        .unwrap()
        .answer
        .starts_with("Q: its selectivity index is 7.777"));
    assert!(text(&after, 9).contains("-0.424") && text(&after, 9).contains("No: r = -0.424"));
    assert!(text(&after, 10).contains(&format!("{}: r = 0.989", r.rsa.per_category[1].category)));
    assert!(text(&after, 6).contains("= 0.606"));
    assert!(text(&after, 2).contains(&r.model.n_embd.to_string()));
}

#[test]
fn before_a_run_the_steps_say_what_will_appear() {
    let e = Experiment::lecture();
    let steps = steps(&e, None);
    assert!(steps.iter().all(|s| s.formula.is_none()));
    assert!(steps[7].question.as_ref().unwrap().answer.contains("Run the lab"));
    // What needs no run is there: the words and their pairs.
    assert!(all_text(&steps[2]).contains("561"), "{}", all_text(&steps[2]));
}

/// Every figure's text alternative says what it shows and its key numbers.
#[test]
fn every_lecture_figure_has_a_text_alternative_with_its_numbers() {
    use qk_lens::plots::describe::describe;
    let r = lecture_result();
    for f in Figure::ALL {
        assert!(describe(f, &r).len() > 40, "{f:?}");
    }
    assert!(describe(Figure::HeatmapQ, &r).contains(&fmt3(r.q.selectivity)));
    assert!(describe(Figure::HeatmapK, &r).contains(&fmt3(r.k.selectivity)));
    assert!(describe(Figure::Selectivity, &r).contains(&fmt3(r.q.selectivity)));
    assert!(describe(Figure::RsaScatter, &r).contains(&fmt3(r.rsa.r)));
    let per = describe(Figure::RsaPerCategory, &r);
    assert!(r
        .rsa
        .per_category
        .iter()
        .all(|c| per.contains(&format!("{} r = {}", c.category, fmt3(c.r)))));
}
