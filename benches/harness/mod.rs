//! The benchmark harness shared by the bench binaries: paired, alternating rounds in one
//! process and the median of the per-round ratios (RUNTIME-FACTS.md: cross-thread costs on
//! these machines swing between runs, so only same-run ratios count).
//!
//! Each binary uses a subset of it.
#![allow(dead_code)]

use std::hint::black_box;
use std::time::Duration;
use tokio::runtime::{Builder, Runtime};

/// One side of a comparison: runs `iters` operations and returns the time they took (the
/// closure decides what is timed, so in-task sides can exclude the `yield_now` between calls).
pub(crate) struct Side<'a> {
    pub(crate) label: &'static str,
    pub(crate) iters: u64,
    pub(crate) run: Box<dyn FnMut(u64) -> Duration + 'a>,
}

pub(crate) fn side<'a>(
    label: &'static str,
    iters: u64,
    run: impl FnMut(u64) -> Duration + 'a,
) -> Side<'a> {
    Side {
        label,
        iters,
        run: Box::new(run),
    }
}

/// What a comparison must show.
#[derive(Clone, Copy)]
pub(crate) enum Target {
    /// Informative only.
    None,
    /// Median of ours/anchor at most this.
    AtMost(f64),
    /// Median of anchor/ours at least this (ours is this many times faster).
    Faster(f64),
    /// Median of ours/anchor within this distance of 1.
    Same(f64),
}

pub(crate) struct Row {
    pub(crate) section: &'static str,
    pub(crate) name: String,
    pub(crate) ours: &'static str,
    pub(crate) ours_ns: f64,
    pub(crate) anchor: String,
    pub(crate) anchor_ns: f64,
    /// p25, median, p75 of the per-round ratio ours/anchor.
    pub(crate) ratio: [f64; 3],
    pub(crate) target: Target,
}

impl Row {
    pub(crate) fn verdict(&self) -> (String, Option<bool>) {
        let [p25, med, p75] = self.ratio;
        match self.target {
            Target::None => ("–".into(), None),
            Target::AtMost(x) => (format!("≤ {x}×"), Some(med <= x)),
            Target::Faster(x) => (
                format!(
                    "≥ {x}× faster (is {:.0}×, p25–p75 {:.0}–{:.0}×)",
                    1.0 / med,
                    1.0 / p75,
                    1.0 / p25
                ),
                Some(1.0 / med >= x),
            ),
            Target::Same(tol) => (format!("1 ± {tol}"), Some((med - 1.0).abs() <= tol)),
        }
    }
}

pub(crate) struct Bench {
    pub(crate) rounds: usize,
    pub(crate) quick: bool,
    pub(crate) filter: Vec<String>,
    pub(crate) rows: Vec<Row>,
}

impl Bench {
    /// Reads `--quick`, a name filter and `ANYSYNC_BENCH_ROUNDS` (default `default_rounds`).
    pub(crate) fn from_args(default_rounds: usize) -> Self {
        let mut quick = false;
        let mut filter = Vec::new();
        for arg in std::env::args().skip(1) {
            match arg.as_str() {
                "--quick" => quick = true,
                // cargo passes `--bench`; ignore it and any other flag.
                a if a.starts_with('-') => {}
                a => filter.push(a.to_owned()),
            }
        }
        let rounds = std::env::var("ANYSYNC_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(if quick { 7 } else { default_rounds });
        Bench {
            rounds: rounds.max(1),
            quick,
            filter,
            rows: Vec::new(),
        }
    }

    /// Prints what was run where: rounds, the CPUs this process may use (pin with
    /// `taskset -c 0`), and `extra`.
    pub(crate) fn header(&self, what: &str, extra: &str) {
        let cpus = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Cpus_allowed_list"))
                    .map(|l| l.split_whitespace().last().unwrap_or("?").to_owned())
            })
            .unwrap_or_else(|| "?".into());
        println!(
            "anysync {what} benchmarks: {} rounds{}, allowed CPUs {cpus}, available_parallelism {}{extra}",
            self.rounds,
            if self.quick { " (quick)" } else { "" },
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
    }

    /// Scales an iteration count down in quick mode.
    pub(crate) fn n(&self, iters: u64) -> u64 {
        if self.quick {
            (iters / 10).max(1)
        } else {
            iters
        }
    }

    pub(crate) fn wanted(&self, section: &str, name: &str) -> bool {
        self.filter.is_empty()
            || self.filter.iter().any(|f| {
                let f = f.to_lowercase();
                name.to_lowercase().contains(&f) || section.to_lowercase().contains(&f)
            })
    }

    /// Runs every side once per round, rotating which goes first, after one warm-up call
    /// each; returns ns/op per side per round.
    pub(crate) fn measure(&self, sides: &mut [Side<'_>]) -> Vec<Vec<f64>> {
        for s in sides.iter_mut() {
            black_box((s.run)((s.iters / 10).max(1)));
        }
        let n = sides.len();
        let mut out = vec![Vec::with_capacity(self.rounds); n];
        for round in 0..self.rounds {
            for k in 0..n {
                let i = if round % 2 == 0 {
                    (round / 2 + k) % n
                } else {
                    (round / 2 + n - 1 - k) % n
                };
                let s = &mut sides[i];
                let elapsed = (s.run)(s.iters);
                out[i].push(elapsed.as_nanos() as f64 / s.iters as f64);
            }
        }
        out
    }

    /// `.run()` (`ours`) against one anchor, alternating in short rounds.
    pub(crate) fn paired(
        &mut self,
        section: &'static str,
        name: &str,
        target: Target,
        ours: Side<'_>,
        anchor: Side<'_>,
    ) {
        if !self.wanted(section, name) {
            return;
        }
        eprint!("{section} / {name} ... ");
        let (ours_label, anchor_label) = (ours.label, anchor.label);
        let ns = self.measure(&mut [ours, anchor]);
        let ratios: Vec<f64> = ns[0].iter().zip(&ns[1]).map(|(a, b)| a / b).collect();
        self.push(
            section,
            name.to_owned(),
            ours_label,
            &ns[0],
            anchor_label.to_owned(),
            &ns[1],
            ratios,
            target,
        );
    }

    /// `.run()` against two anchors, all three rotating in each round; the target applies to
    /// the ratio against the cheaper anchor.
    pub(crate) fn versus_cheaper(
        &mut self,
        section: &'static str,
        name: &str,
        target: Target,
        sides: [Side<'_>; 3],
    ) {
        if !self.wanted(section, name) {
            return;
        }
        eprint!("{section} / {name} ... ");
        let labels: Vec<&'static str> = sides.iter().map(|s| s.label).collect();
        let mut sides = sides;
        let ns = self.measure(&mut sides);
        // The cheaper mechanism is the anchor with the lower median; the target applies to the
        // ratio against it. The stricter reading, the cheaper of the two in each round (a
        // minimum of two noisy samples, so biased low), is reported with the same target.
        let cheaper_side = if median(&ns[1]) <= median(&ns[2]) {
            1
        } else {
            2
        };
        for k in [1, 2] {
            let ratios = ns[0].iter().zip(&ns[k]).map(|(a, b)| a / b).collect();
            let (row, row_target) = if k == cheaper_side {
                (
                    format!("{name}: vs the cheaper (lower median), {}", labels[k]),
                    target,
                )
            } else {
                (format!("{name}: vs {}", labels[k]), Target::None)
            };
            self.push(
                section,
                row,
                labels[0],
                &ns[0],
                labels[k].to_owned(),
                &ns[k],
                ratios,
                row_target,
            );
        }
        let cheaper: Vec<f64> = ns[1].iter().zip(&ns[2]).map(|(a, b)| a.min(*b)).collect();
        let ratios = ns[0].iter().zip(&cheaper).map(|(a, b)| a / b).collect();
        let anchor = "whichever of the two was cheaper in that round".to_owned();
        let row = format!("{name}: strict, per-round minimum");
        self.push(
            section, row, labels[0], &ns[0], anchor, &cheaper, ratios, target,
        );
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push(
        &mut self,
        section: &'static str,
        name: String,
        ours: &'static str,
        ours_ns: &[f64],
        anchor: String,
        anchor_ns: &[f64],
        ratios: Vec<f64>,
        target: Target,
    ) {
        let row = Row {
            section,
            name,
            ours,
            ours_ns: median(ours_ns),
            anchor,
            anchor_ns: median(anchor_ns),
            ratio: [
                percentile(&ratios, 0.25),
                median(&ratios),
                percentile(&ratios, 0.75),
            ],
            target,
        };
        let (target, pass) = row.verdict();
        eprintln!(
            "ours {} ns, anchor {} ns, ratio {:.3} ({:.3}–{:.3}) {target} {}",
            fmt_ns(row.ours_ns),
            fmt_ns(row.anchor_ns),
            row.ratio[1],
            row.ratio[0],
            row.ratio[2],
            pass_str(pass)
        );
        self.rows.push(row);
    }

    pub(crate) fn report(&self) {
        let mut section = "";
        for row in &self.rows {
            if row.section != section {
                section = row.section;
                println!("\n### {section}\n");
                println!(
                    "| comparison | ours | ours ns/op | anchor | anchor ns/op | ratio ours/anchor (median) | p25–p75 | target | result |"
                );
                println!("|---|---|---:|---|---:|---:|---|---|---|");
            }
            let (target, pass) = row.verdict();
            println!(
                "| {} | {} | {} | {} | {} | {:.3} | {:.3}–{:.3} | {target} | {} |",
                row.name,
                row.ours,
                fmt_ns(row.ours_ns),
                row.anchor,
                fmt_ns(row.anchor_ns),
                row.ratio[1],
                row.ratio[0],
                row.ratio[2],
                pass_str(pass)
            );
        }
        let failed: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| r.verdict().1 == Some(false))
            .collect();
        let checked = self.rows.iter().filter(|r| r.verdict().1.is_some()).count();
        println!("\ntargets: {} of {checked} met", checked - failed.len());
        for row in failed {
            println!("FAILED: {} / {}", row.section, row.name);
        }
    }
}

pub(crate) fn pass_str(pass: Option<bool>) -> &'static str {
    match pass {
        None => "",
        Some(true) => "PASS",
        Some(false) => "**FAIL**",
    }
}

pub(crate) fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        let whole = ns.round() as u64;
        let s = whole.to_string();
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else {
        format!("{ns:.1}")
    }
}

pub(crate) fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = p * (v.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

pub(crate) fn median(values: &[f64]) -> f64 {
    percentile(values, 0.5)
}

/// A runtime of the global runtime's shape (multi_thread, one worker, which drives timers and
/// IO): the anchors' driven runtime.
pub(crate) fn driven_runtime() -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bench-driven")
        .enable_all()
        .build()
        .expect("runtime")
}

/// A user's current_thread runtime; its tasks run on the calling (main) thread.
pub(crate) fn current_thread_runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
