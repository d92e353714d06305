//! A member years in (docs/design.md §8): a point lot is kept for each sale that earned, until
//! it expires, so a customer who shops every day holds hundreds of lots, and one who shops
//! twice a day for two years over a thousand. Does their sale slow down as their history grows?
//!
//! One standalone `tenpo-agent run` process. Blocks of `TENPO_BENCH_SALES` sales (default
//! 1,000) to one regular customer's card, each block followed by as many sales going round 200
//! other members' cards (a few lots each), for `TENPO_BENCH_BLOCKS` blocks (default 8): by the
//! last block the regular holds a lot for every earlier sale. For each block: the sales' p50
//! and p99 and the agent's CPU a sale (`/proc`), the regular's beside the other members' at the
//! same moment; then the p50 of `LOOKUPS` lookups of the regular's card (`GET
//! /v1/members/{code}`, what a scan shows the cashier) beside as many of the others'. The
//! client is the till bench's, a POS's one thread.
//!
//! Run: `cargo bench -p tenpo-agent --bench regular` (`TENPO_BENCH_AGENT` names another build
//! of `tenpo-agent` to measure instead, for a before and after). Prints a Markdown table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

mod common;
mod pos;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{cpu, rules_file};
use pos::{Agent, Pos, pct, start_agent};
use serde_json::{Value, json};

/// The other members' cards the sales between the regular's go round.
const CARDS: usize = 200;
/// Lookups of each kind after each block.
const LOOKUPS: usize = 200;
/// What a till with no hub is told of itself.
const STANDALONE: &[&str] = &["--store-id", "bench-store", "--terminal-id", "till-1"];

/// A sale of about ¥500 (it earns a lot) to the card `code`.
fn sale(tag: &str, i: usize, code: &str) -> Value {
    json!({
        "sale_id": format!("{tag}-{i:06}"),
        "member_code": code,
        "lines": [{"sku": "4901234567894", "quantity": 1, "amount_yen": 500 + (i % 50) as i64}],
    })
}

/// `n` sales made by `make`, each timed; and the agent's CPU a sale over them.
fn block(
    pos: &Pos,
    agent: &Agent,
    n: usize,
    make: impl Fn(usize) -> Value,
) -> (Vec<Duration>, Duration) {
    let before = cpu(agent.child.id());
    let times = (0..n).map(|i| pos.sell(agent, &make(i))).collect();
    (times, (cpu(agent.child.id()) - before) / n as u32)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("regular-customer bench: run with `cargo bench -p tenpo-agent --bench regular`");
        return;
    }
    let n = common::count_from_env("TENPO_BENCH_SALES", 1_000);
    let blocks = common::count_from_env("TENPO_BENCH_BLOCKS", 8);
    let bin = std::env::var_os("TENPO_BENCH_AGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_tenpo-agent")));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tenpo-regular-bench");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let rules = rules_file(&dir);
    let agent = start_agent(&bin, &dir.join("till"), &rules, STANDALONE);
    let pos = Pos::new();
    let regular = tenpo_agent::demo::jan("230000000000");
    let others: Vec<String> = (0..CARDS)
        .map(|i| tenpo_agent::demo::jan(&format!("22{i:010}")))
        .collect();
    // Each other card's first sale makes its member, before anything is timed.
    for (i, code) in others.iter().enumerate() {
        pos.sell(&agent, &sale("first", i, code));
    }

    println!("`{}`, blocks of {n} sales", bin.display());
    println!();
    println!(
        "| the regular's lots | regular: p50 / p99 | other members: p50 / p99 | regular / others, p50 | agent CPU a sale: regular / others | a lookup, p50: regular / others |"
    );
    println!("|---|---|---|---|---|---|");
    for b in 0..blocks {
        eprintln!("block {} of {blocks} …", b + 1);
        let (mut mine, my_cpu) = block(&pos, &agent, n, |i| sale("reg", b * n + i, &regular));
        let (mut theirs, their_cpu) = block(&pos, &agent, n, |i| {
            sale("others", b * n + i, &others[i % CARDS])
        });
        let (m50, t50) = (pct(&mut mine, 0.5), pct(&mut theirs, 0.5));
        // Alternated, so both kinds see the same moments.
        let looks: Vec<(bool, Duration)> = (0..2 * LOOKUPS)
            .map(|i| {
                let of_regular = i.is_multiple_of(2);
                let code = if of_regular {
                    &regular
                } else {
                    &others[i % CARDS]
                };
                (of_regular, pos.get(&agent, &format!("/v1/members/{code}")))
            })
            .collect();
        let lookup_p50 = |of_regular: bool| {
            let mut times: Vec<Duration> = looks
                .iter()
                .filter(|(r, _)| *r == of_regular)
                .map(|(_, t)| *t)
                .collect();
            pct(&mut times, 0.5)
        };
        let (ml, tl) = (lookup_p50(true), lookup_p50(false));
        println!(
            "| {} | {m50:.3} / {:.3} ms | {t50:.3} / {:.3} ms | {:.2}× | {:.3} / {:.3} ms | {ml:.3} / {tl:.3} ms |",
            b * n,
            pct(&mut mine, 0.99),
            pct(&mut theirs, 0.99),
            m50 / t50,
            my_cpu.as_secs_f64() * 1e3,
            their_cpu.as_secs_f64() * 1e3,
        );
    }
    agent.stop();
}
