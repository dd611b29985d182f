//! The printed result: one row per scenario, then the ratios the targets are stated in.

use crate::load::Measured;

/// One measured scenario.
pub struct Row {
    pub name: String,
    pub clients: usize,
    pub rate: f64,
    pub unit: &'static str,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Peak resident memory of the process under test.
    pub peak_rss: Option<u64>,
}

impl Row {
    /// A row with a rate and no latencies (deliveries, jobs, in-process loops).
    pub fn rate(
        name: impl Into<String>,
        clients: usize,
        rate: f64,
        unit: &'static str,
        peak_rss: Option<u64>,
    ) -> Self {
        Self {
            name: name.into(),
            clients,
            rate,
            unit,
            p50_ms: None,
            p99_ms: None,
            peak_rss,
        }
    }

    pub fn from_load(
        name: &str,
        clients: usize,
        measured: &Measured,
        peak_rss: Option<u64>,
    ) -> Self {
        Self {
            name: name.to_owned(),
            clients,
            rate: measured.per_second(),
            unit: "req/s",
            p50_ms: Some(measured.latencies.percentile_us(50.0) / 1000.0),
            p99_ms: Some(measured.latencies.percentile_us(99.0) / 1000.0),
            peak_rss,
        }
    }
}

/// A ratio and the target it is held to.
pub struct Ratio {
    pub name: String,
    pub value: f64,
    pub target: Target,
}

#[derive(Clone, Copy)]
pub enum Target {
    AtMost(f64),
    AtLeast(f64),
}

impl Ratio {
    pub fn met(&self) -> bool {
        match self.target {
            Target::AtMost(limit) => self.value <= limit,
            Target::AtLeast(floor) => self.value >= floor,
        }
    }
}

/// Everything one run measured.
#[derive(Default)]
pub struct Report {
    pub setting: Vec<String>,
    pub rows: Vec<Row>,
    /// Where the time went, from the servers' own metrics.
    pub breakdown: Vec<String>,
    pub ratios: Vec<Ratio>,
}

fn ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

impl Report {
    /// `other`'s lines after these: one report of two runs (the scenarios, then the scale
    /// steps), with every ratio in one table.
    pub fn append(&mut self, other: Report) {
        for line in other.setting {
            if !self.setting.contains(&line) {
                self.setting.push(line);
            }
        }
        self.rows.extend(other.rows);
        self.breakdown.extend(other.breakdown);
        self.ratios.extend(other.ratios);
    }

    pub fn targets_met(&self) -> bool {
        self.ratios.iter().all(Ratio::met)
    }

    pub fn print(&self) {
        println!();
        for line in &self.setting {
            println!("{line}");
        }
        println!();
        println!(
            "{:<46} {:>7} {:>12} {:>6} {:>9} {:>9} {:>10}",
            "scenario", "clients", "throughput", "", "p50 ms", "p99 ms", "peak RSS"
        );
        for row in &self.rows {
            let rss = row
                .peak_rss
                .map_or_else(|| "-".into(), |bytes| format!("{} MiB", bytes >> 20));
            println!(
                "{:<46} {:>7} {:>12.0} {:<6} {:>9} {:>9} {:>10}",
                row.name,
                row.clients,
                row.rate,
                row.unit,
                ms(row.p50_ms),
                ms(row.p99_ms),
                rss
            );
        }
        if !self.breakdown.is_empty() {
            println!();
            println!("mean times inside the server under load (its /metrics):");
            for line in &self.breakdown {
                println!("  {line}");
            }
        }
        println!();
        println!(
            "{:<62} {:>10} {:>10} {:>6}",
            "ratio", "measured", "target", ""
        );
        for ratio in &self.ratios {
            let target = match ratio.target {
                Target::AtMost(limit) => format!("<= {limit}"),
                Target::AtLeast(floor) => format!(">= {floor}"),
            };
            println!(
                "{:<62} {:>10.2} {:>10} {:>6}",
                ratio.name,
                ratio.value,
                target,
                if ratio.met() { "met" } else { "MISSED" }
            );
        }
    }
}
