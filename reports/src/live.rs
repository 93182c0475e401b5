//! Live mode's files beside the run's own: `summary.json` with live mode's
//! fields after the simulator's, `requests.csv` (every non-ok request) and
//! `latency.hdr` (the latency histogram).

use hdrhistogram::Histogram;
use serde::Serialize;
use shakedown_sim::record::{DroppedRequest, LiveSummary, Summary};

/// `summary.json`: the simulator's fields, then live mode's.
pub fn summary_json(summary: &Summary, live: &LiveSummary) -> String {
    #[derive(Serialize)]
    struct File<'a> {
        #[serde(flatten)]
        summary: &'a Summary,
        #[serde(flatten)]
        live: &'a LiveSummary,
    }
    let mut s =
        serde_json::to_string_pretty(&File { summary, live }).expect("a summary always serialises");
    s.push('\n');
    s
}

/// `requests.csv`: every non-ok request.
pub fn requests_csv(dropped: &[DroppedRequest]) -> Vec<u8> {
    let mut w = String::new();
    w.push_str("role,id,intended_s,time_s,phase,backend,kind,status,latency_ms\n");
    for d in dropped {
        w.push_str(&format!(
            "{},{},{:.6},{:.3},{},{},{},{},{:.3}\n",
            csv_field(&d.role),
            d.id,
            d.intended_s,
            d.time_s,
            csv_field(&d.phase),
            csv_field(&d.backend),
            d.kind,
            d.status.map(|s| s.to_string()).unwrap_or_default(),
            d.latency_ms
        ));
    }
    w.into_bytes()
}

/// `latency.hdr`: a latency histogram (µs), HdrHistogram V2 format.
pub fn latency_hdr(h: &Histogram<u64>) -> Vec<u8> {
    use hdrhistogram::serialization::{Serializer, V2Serializer};
    let mut out = Vec::new();
    V2Serializer::new()
        .serialize(h, &mut out)
        .expect("serialising into memory");
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_commas_are_quoted() {
        let d = DroppedRequest {
            role: "web".into(),
            id: 3,
            intended_s: 1.5,
            time_s: 1.5,
            phase: "step 1/3, canary".into(),
            backend: "web-0".into(),
            kind: "http_5xx".into(),
            status: Some(500),
            latency_ms: 2.0,
        };
        let csv = String::from_utf8(requests_csv(&[d])).unwrap();
        assert_eq!(
            csv.lines().nth(1),
            Some("web,3,1.500000,1.500,\"step 1/3, canary\",web-0,http_5xx,500,2.000")
        );
    }
}
