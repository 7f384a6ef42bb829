//! Prometheus metrics (text exposition format 0.0.4) kept in process: requests by route, method
//! and status; a latency histogram per route; verifications by indication; seals made; and, read
//! from the database at scrape time, the archive's size.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// The server's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    verifications: Mutex<BTreeMap<String, u64>>,
    seals: AtomicU64,
}

/// Archive figures read at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct ArchiveFigures {
    /// Records in the log.
    pub records: u64,
    /// Size of the latest signed checkpoint.
    pub checkpoint_size: u64,
    /// Documents stored.
    pub documents: u64,
    /// Their bytes.
    pub document_bytes: u64,
}

impl Metrics {
    /// Counts one answered request. `route` is the matched route template (never the raw
    /// path, which may carry identifiers), or `unmatched`.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            *m.entry((route.to_owned(), method.to_owned(), status))
                .or_insert(0) += 1;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(route.to_owned()).or_default();
            let secs = elapsed.as_secs_f64();
            for (i, le) in BUCKETS.iter().enumerate() {
                if secs <= *le {
                    h.counts[i] += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// Counts one verification by its overall indication (`TOTAL-PASSED`, …, `NOT-A-PDF`).
    pub fn observe_verification(&self, indication: &str) {
        if let Ok(mut m) = self.verifications.lock() {
            *m.entry(indication.to_owned()).or_insert(0) += 1;
        }
    }

    /// Counts one sealed document (for `POST /v1/sign`).
    #[allow(dead_code)]
    pub fn observe_seal(&self) {
        self.seals.fetch_add(1, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, archive: Option<ArchiveFigures>) -> String {
        let mut out = String::new();
        out.push_str("# HELP chop_http_requests_total HTTP requests answered, by route template, method and status.\n");
        out.push_str("# TYPE chop_http_requests_total counter\n");
        if let Ok(m) = self.requests.lock() {
            for ((route, method, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "chop_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(route),
                    escape(method)
                );
            }
        }
        out.push_str("# HELP chop_http_request_duration_seconds Time to answer a request (until the response head), by route template.\n");
        out.push_str("# TYPE chop_http_request_duration_seconds histogram\n");
        if let Ok(m) = self.latency.lock() {
            for (route, h) in m.iter() {
                let route = escape(route);
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "chop_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{le}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(
                    out,
                    "chop_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(
                    out,
                    "chop_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                    h.sum
                );
                let _ = writeln!(
                    out,
                    "chop_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
                    h.count
                );
            }
        }
        out.push_str("# HELP chop_verifications_total Documents verified by POST /v1/verify, by overall indication.\n");
        out.push_str("# TYPE chop_verifications_total counter\n");
        if let Ok(m) = self.verifications.lock() {
            for (indication, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "chop_verifications_total{{indication=\"{}\"}} {n}",
                    escape(indication)
                );
            }
        }
        out.push_str("# HELP chop_seals_total Documents sealed by this process.\n");
        out.push_str("# TYPE chop_seals_total counter\n");
        let _ = writeln!(
            out,
            "chop_seals_total {}",
            self.seals.load(Ordering::Relaxed)
        );
        if let Some(a) = archive {
            for (name, help, value) in [
                (
                    "chop_archive_records",
                    "Records in the archive log.",
                    a.records,
                ),
                (
                    "chop_archive_checkpoint_size",
                    "Tree size of the latest signed checkpoint.",
                    a.checkpoint_size,
                ),
                (
                    "chop_archive_documents",
                    "Documents stored in the archive.",
                    a.documents,
                ),
                (
                    "chop_archive_document_bytes",
                    "Bytes of the documents stored in the archive.",
                    a.document_bytes,
                ),
            ] {
                let _ = writeln!(
                    out,
                    "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
                );
            }
        }
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_counts_requests_and_fills_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("/v1/verify", "POST", 200, Duration::from_millis(3));
        m.observe_request("/v1/verify", "POST", 200, Duration::from_millis(300));
        m.observe_verification("TOTAL-PASSED");
        let text = m.render(Some(ArchiveFigures {
            records: 7,
            ..ArchiveFigures::default()
        }));
        assert!(text.contains(
            "chop_http_requests_total{route=\"/v1/verify\",method=\"POST\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "chop_http_request_duration_seconds_bucket{route=\"/v1/verify\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "chop_http_request_duration_seconds_bucket{route=\"/v1/verify\",le=\"0.5\"} 2"
        ));
        assert!(text.contains("chop_verifications_total{indication=\"TOTAL-PASSED\"} 1"));
        assert!(text.contains("chop_archive_records 7"));
        assert_eq!(escape("a\"b\\c"), "a\\\"b\\\\c");
    }
}
