//! Process metrics: CPU seconds, resident memory, open file descriptors.

use std::fmt;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use super::Labels;

/// Process metrics read from `/proc/self` at scrape time (Linux), and
/// `build_info`.
#[derive(Debug)]
pub(super) struct ProcessCollector {
    pub(super) service: String,
    pub(super) version: String,
}

pub(super) fn proc_stat() -> Option<(f64, f64, f64)> {
    // utime, stime (clock ticks), rss (pages), starttime (ticks after boot)
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = 100.0; // USER_HZ on Linux
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    let rss_pages: f64 = f.get(21)?.parse().ok()?;
    Some(((utime + stime) / ticks, rss_pages * 4096.0, 0.0))
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        let labels: Labels = vec![
            ("service".into(), self.service.clone()),
            ("version".into(), self.version.clone()),
            ("crate_version".into(), env!("CARGO_PKG_VERSION").into()),
        ];
        let mut me =
            encoder.encode_descriptor("build", "Build information", None, MetricType::Info)?;
        me.encode_info(&labels)?;
        if let Some((cpu, rss, _)) = proc_stat() {
            let mut me = encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time",
                Some(&Unit::Seconds),
                MetricType::Counter,
            )?;
            me.encode_counter::<NoLabelSet, f64, f64>(&cpu, None)?;
            let mut me = encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                MetricType::Gauge,
            )?;
            me.encode_gauge(&rss)?;
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            let n = fds.count() as i64;
            let mut me = encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors",
                None,
                MetricType::Gauge,
            )?;
            me.encode_gauge(&n)?;
        }
        Ok(())
    }
}
