//! A/B pairs for the till bench: two builds of the agent run in turn on the same machine and
//! compared by the medians of their ratios to the goals. Runs of one build differ by ±20 % at
//! p50 and more at p99 (docs/benchmarks.md), so a change is judged by many pairs, each pair
//! in alternating order so neither build always runs first.
//!
//! Keep a build of the other side first, e.g. the agent before a change, built as the bench
//! builds this side (a bench's build unifies the dev-dependencies' features, so a plain
//! `cargo build --release` is another binary):
//! `cargo bench -p tenpo-agent --bench till --no-run && cp target/release/tenpo-agent /tmp/tenpo-agent-b`;
//! then, with the change built:
//! `TENPO_BENCH_AGENT_B=/tmp/tenpo-agent-b TENPO_BENCH_PAIRS=10 cargo bench -p tenpo-agent --bench till`.

use std::path::Path;

use crate::Report;

/// Runs `pairs` pairs of `run` on `a` (this build) and `b`, then prints, per mode, the median
/// of each side's ratios and in how many pairs `a` was lower.
pub fn compare(a: &Path, b: &Path, pairs: usize, run: impl Fn(&Path) -> Report) {
    let mut runs_a = Vec::new();
    let mut runs_b = Vec::new();
    for pair in 0..pairs {
        let order = if pair % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for is_a in order {
            let (side, bin) = if is_a { ("A", a) } else { ("B", b) };
            eprintln!("pair {} of {pairs}: {side} ({}) …", pair + 1, bin.display());
            let report = run(bin);
            if is_a {
                runs_a.push(report);
            } else {
                runs_b.push(report);
            }
        }
    }
    println!();
    println!("A: {}", a.display());
    println!("B: {}", b.display());
    println!("{pairs} pairs, medians (A lower in: the pairs where A's figure was below B's)");
    println!();
    println!(
        "| mode | p50 × the goal, A / B | A lower in | p99 × commit p99, A / B | A lower in | p99 × (health + commit) p99, A / B |"
    );
    println!("|---|---|---|---|---|---|");
    let Some(first) = runs_a.first() else {
        return;
    };
    for (i, (mode, ..)) in first.modes.iter().enumerate() {
        let p50 = |runs: &[Report]| runs.iter().map(|r| r.modes[i].1).collect::<Vec<_>>();
        let p99 = |runs: &[Report]| runs.iter().map(|r| r.modes[i].2).collect::<Vec<_>>();
        let (a50, b50) = (p50(&runs_a), p50(&runs_b));
        let (a99, b99) = (p99(&runs_a), p99(&runs_b));
        let both = |runs: &[Report]| runs.iter().map(|r| r.modes[i].3).collect::<Vec<_>>();
        println!(
            "| `POST /v1/sales`, {mode} | {:.2} / {:.2} | {} of {pairs} | {:.2}× / {:.2}× | {} of {pairs} | {:.2}× / {:.2}× |",
            median(&a50),
            median(&b50),
            lower(&a50, &b50),
            median(&a99),
            median(&b99),
            lower(&a99, &b99),
            median(&both(&runs_a)),
            median(&both(&runs_b)),
        );
    }
    let online = |runs: &[Report]| runs.iter().map(|r| r.cpu.0).collect::<Vec<_>>();
    let offline = |runs: &[Report]| runs.iter().map(|r| r.cpu.1).collect::<Vec<_>>();
    println!(
        "| agent CPU per sale, online / hub down (ms) | A {:.3} / {:.3}, B {:.3} / {:.3} | {} of {pairs} online | — | — | — |",
        median(&online(&runs_a)),
        median(&offline(&runs_a)),
        median(&online(&runs_b)),
        median(&offline(&runs_b)),
        lower(&online(&runs_a), &online(&runs_b)),
    );
}

/// The median of `v` (the mean of the middle two for an even count; 0 for none).
fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// In how many pairs `a`'s figure was below `b`'s.
fn lower(a: &[f64], b: &[f64]) -> usize {
    a.iter().zip(b).filter(|(a, b)| a < b).count()
}
