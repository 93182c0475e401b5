//! HTML reports and plots, on records made by running the simulator.

use shakedown_reports::html::{self, group};
use shakedown_reports::plots;
use shakedown_sim::record::{AuditEvent, RunRecord};
use shakedown_sim::scenario::PolicySpec;
use shakedown_sim::{RunOptions, Scenario};
use std::sync::OnceLock;

fn scenario() -> Scenario {
    Scenario::parse(
        include_str!("../../scenarios/rolling-basic.toml"),
        "rolling-basic.toml",
    )
    .expect("the shipped scenario parses")
}

/// rolling-basic under its own policy (rolling).
fn rolling() -> &'static RunRecord {
    static REC: OnceLock<RunRecord> = OnceLock::new();
    REC.get_or_init(|| {
        let sc = scenario();
        shakedown_sim::run(&sc, RunOptions::full(sc.seed))
    })
}

/// rolling-basic under all-at-once.
fn all_at_once() -> &'static RunRecord {
    static REC: OnceLock<RunRecord> = OnceLock::new();
    REC.get_or_init(|| {
        let sc = Scenario {
            policy: PolicySpec::AllAtOnce {},
            ..scenario()
        };
        shakedown_sim::run(&sc, RunOptions::full(sc.seed))
    })
}

fn assert_self_contained(page: &str) {
    for bad in [
        "http://",
        "https://",
        "src=\"//",
        "href=\"//",
        "<script",
        "<link",
        "<img",
        "@import",
        "url(",
        "@font-face",
    ] {
        assert!(!page.contains(bad), "the page contains {bad:?}");
    }
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(page.trim_end().ends_with("</html>"));
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn run_report_is_self_contained_and_complete() {
    let rec = rolling();
    let s = &rec.summary;
    assert!(s.requests_failed > 0, "the demo run fails some requests");
    let page = html::run_report(rec);
    assert_self_contained(&page);

    // The three plots, inline: progress, per-role progress (zoomed, with
    // the whole run as context), traffic.
    assert_eq!(count(&page, "<svg"), 3);
    assert_eq!(count(&page, "</svg>"), 3);
    assert!(page.contains("Hosts told to run 1.12.1 per role · rollout window"));
    assert!(page.contains("whole run (min) · shaded: the window above"));
    assert!(page.contains("Rollout progress · rolling-basic · rolling"));
    assert!(page.contains("Traffic and errors · rolling-basic · rolling"));

    // The header and the summary numbers, as rendered.
    assert!(page.contains("<title>shakedown run: rolling-basic</title>"));
    assert!(page.contains("docker 1.6.2 -&gt; 1.12.1"));
    for (name, value) in [
        ("outcome", s.outcome.to_string()),
        ("failed requests", group(s.requests_failed)),
        ("requests", group(s.requests_total)),
        ("success rate", format!("{:.4} %", 100.0 * s.success_rate)),
        (
            "peak hosts unavailable",
            format!("{:.1} %", s.peak_hosts_unavailable_pct),
        ),
        (
            "hosts on new version",
            format!("{:.1} %", s.hosts_on_new_pct),
        ),
    ] {
        let row = format!("<tr><th scope=\"row\">{name}</th><td>{value}</td></tr>");
        assert!(page.contains(&row), "missing summary row {row}");
    }
    assert_eq!(group(5502), "5,502");

    // The audit log (rolling-basic has fewer than 50 events: all listed).
    let n = rec.events.len();
    assert!(page.contains(&format!("The first {} of {} events", n.min(50), n)));
    assert!(page.contains("rolling batch 1"));
    // The policy's finish is listed.
    assert!(page.contains("<h2>Policy decisions</h2>"));
    assert!(page.contains(&s.outcome_reason));

    // How to reproduce it.
    assert!(page.contains("shakedown run scenarios/rolling-basic.toml --seed 7 --out DIR"));
    let custom = html::run_report_for(rec, "shakedown run x.toml --policy p.toml --seed 7");
    assert!(custom.contains("shakedown run x.toml --policy p.toml --seed 7"));
}

#[test]
fn run_report_is_deterministic() {
    let a = html::run_report(rolling());
    assert_eq!(a, html::run_report(rolling()));
    // A second simulation of the same seed gives the same page.
    let sc = scenario();
    let again = shakedown_sim::run(&sc, RunOptions::full(sc.seed));
    assert_eq!(a, html::run_report(&again));
    assert_eq!(
        plots::rollout_progress_png(rolling()),
        plots::rollout_progress_png(&again)
    );
}

#[test]
fn run_report_escapes_text() {
    let mut rec = rolling().clone();
    rec.summary.scenario = "<script>alert('x')</script>".into();
    rec.summary.policy = "a&b \"c\"".into();
    rec.events.insert(
        0,
        AuditEvent {
            time_s: 1.0,
            kind: shakedown_sim::record::AuditKind::Decision,
            host: None,
            role: String::new(),
            zone: String::new(),
            from: String::new(),
            to: String::new(),
            step: "<step>".into(),
            reason: "<img src=x>".into(),
        },
    );
    let page = html::run_report(&rec);
    assert!(!page.contains("<script"));
    assert!(!page.contains("<img"));
    assert!(!page.contains("<step>"));
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
    assert!(page.contains("a&amp;b &quot;c&quot;"));
    assert!(page.contains("&lt;img src=x&gt;"));
    // Plotters escapes the text it puts into the SVG too.
    assert!(page.contains("Rollout progress · &lt;script&gt;"));
}

#[test]
fn audit_log_is_capped() {
    let mut rec = rolling().clone();
    let first = rec.events[0].clone();
    rec.events = (0..120)
        .map(|i| AuditEvent {
            host: Some(i),
            ..first.clone()
        })
        .collect();
    let page = html::run_report(&rec);
    assert!(page.contains("The first 50 of 120 events; all of them are in events.csv"));
    let audit = &page[page.find("<h2>Audit log</h2>").unwrap()..];
    assert_eq!(count(audit, "<tr><td"), html::AUDIT_ROWS);
}

/// The PNG's width and height from its IHDR chunk.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
    assert_eq!(&png[12..16], b"IHDR");
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

#[test]
fn pngs_have_signature_and_size() {
    let rec = rolling();
    let p = plots::rollout_progress_png(rec);
    let t = plots::traffic_png(rec);
    assert_eq!(png_size(&p), plots::PROGRESS_SIZE);
    assert_eq!(png_size(&t), plots::TRAFFIC_SIZE);
    assert!(p.ends_with(&[0xae, 0x42, 0x60, 0x82]), "ends with IEND");
    // Decodes, and is not a blank canvas.
    let mut reader = png::Decoder::new(std::io::Cursor::new(&p))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = &buf[..info.buffer_size()];
    let blue = px.chunks(3).filter(|c| c == &[0x2b, 0x6c, 0xb0]).count();
    let yellow = px.chunks(3).filter(|c| c == &[0xf2, 0xc1, 0x4e]).count();
    assert!(
        blue > 10_000 && yellow > 10_000,
        "blue {blue}, yellow {yellow}"
    );
}

#[test]
fn standalone_svgs_are_valid_documents() {
    let rec = rolling();
    for svg in [plots::rollout_progress_svg(rec), plots::traffic_svg(rec)] {
        assert!(svg.starts_with("<svg "));
        assert!(svg.contains("xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
    let svg = plots::rollout_progress_svg(rec);
    assert!(svg.contains("rollout start"));
    assert!(svg.contains("finish: completed"));
    assert!(svg.contains("time since start of run (min)"));
    assert!(svg.contains("#F2C14E") && svg.contains("#2B6CB0"));
}

#[test]
fn long_runs_are_downsampled_keeping_spikes() {
    // 80,640 ticks (14 days of 15 s), as fleet-23k records, with one tick of
    // 37 % errors in the middle.
    let mut rec = rolling().clone();
    let row = rec.ticks[0];
    rec.summary.duration_s = 14.0 * 86400.0;
    rec.ticks = (0..80_640u32)
        .map(|i| {
            let mut r = row;
            r.time_s = f64::from(i) * 15.0;
            r.failed = if i == 40_003 {
                r.requests * 37 / 100
            } else {
                0
            };
            r
        })
        .collect();
    let svg = plots::traffic_svg(&rec);
    assert!(svg.len() < 300_000, "{} bytes", svg.len());
    assert!(svg.contains("time since start of run (d)"));
    assert!(svg.contains("error rate (min/max per bucket)"));
    // The spike sets the error axis: its top tick label is at least 30 (%).
    assert!(svg.contains(">\n30\n</text>") || svg.contains(">\n35\n</text>"));
    assert!(plots::rollout_progress_svg(&rec).len() < 300_000);
}

#[test]
fn many_decisions_are_thinned() {
    let mut rec = rolling().clone();
    for i in 0..300 {
        rec.events.push(AuditEvent {
            time_s: 600.0 + f64::from(i) * 3.0,
            kind: shakedown_sim::record::AuditKind::Decision,
            host: None,
            role: String::new(),
            zone: String::new(),
            from: String::new(),
            to: String::new(),
            step: format!("step {i}"),
            reason: "because".into(),
        });
    }
    let svg = plots::rollout_progress_svg(&rec);
    assert!(svg.contains("300 decisions: ticks on the top edge; first and last labelled"));
    assert!(svg.contains("step 0") && svg.contains("step 299"));
    assert!(!svg.contains("step 150"));
    let page = html::run_report(&rec);
    assert!(page.contains("The first 50 of 301 decisions and verdicts."));
}

#[test]
fn compare_report_has_one_column_per_run() {
    let runs = vec![rolling().clone(), all_at_once().clone()];
    let page = html::compare_report("shakedown demo: rolling-basic", &runs);
    assert_self_contained(&page);
    assert!(page.contains("<h1>shakedown demo: rolling-basic</h1>"));

    let table = &page[page.find("<table class=\"compare\">").unwrap()..];
    let table = &table[..table.find("</table>").unwrap()];
    assert_eq!(count(table, "<th scope=\"col\">"), 2);
    assert!(table.contains("<th scope=\"col\">rolling</th><th scope=\"col\">all-at-once</th>"));
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("<tr><th scope=\"row\">"))
        .collect();
    // outcome, SLO, error budget, failed due to the change, duration,
    // failed, during the rollout, requests, success rate, peak
    // unavailable, on the new version.
    assert_eq!(rows.len(), 11);
    for row in &rows {
        assert_eq!(count(row, "<td"), 2, "{row}");
    }
    // Rolling fails fewer requests than all-at-once: its cell is the best.
    let failed = rows
        .iter()
        .find(|r| r.contains(">failed requests<"))
        .unwrap();
    assert!(failed.contains(&format!(
        "<td class=\"best\"><strong>{}</strong></td><td>{}</td>",
        group(runs[0].summary.requests_failed),
        group(runs[1].summary.requests_failed)
    )));
    // Equal rows are not highlighted.
    let requests = rows.iter().find(|r| r.contains(">requests<")).unwrap();
    assert!(!requests.contains("best"));

    // Three plots per policy, each with a caption, and the same scale.
    assert_eq!(count(&page, "<svg"), 6);
    assert_eq!(count(&page, "<figcaption>"), 6);
    assert!(page.contains("Rollout progress · rolling-basic · all-at-once"));
    assert_eq!(
        page.matches("time since start of run (min)").count(),
        4,
        "one time axis for every plot"
    );

    assert_eq!(
        page,
        html::compare_report("shakedown demo: rolling-basic", &runs)
    );
    let three = html::compare_report("x", &[runs[0].clone(), runs[1].clone(), runs[0].clone()]);
    let table = &three[three.find("<table class=\"compare\">").unwrap()..];
    assert_eq!(
        count(
            &table[..table.find("</table>").unwrap()],
            "<th scope=\"col\">"
        ),
        3
    );
}

#[test]
fn compare_report_of_nothing() {
    let page = html::compare_report("empty", &[]);
    assert_self_contained(&page);
    assert!(page.contains("No runs to compare."));
}

/// The single run's banner says the users' verdict beside the policy's
/// outcome: a blue-green rollout that completes while 90 % of requests
/// fail is not a green "completed".
#[test]
fn a_completed_rollout_that_breaches_the_slo_says_so_in_its_banner() {
    let sc = Scenario::parse(
        include_str!("../../scenarios/blue-green-crash-under-load.toml"),
        "blue-green-crash-under-load.toml",
    )
    .unwrap();
    let base = shakedown_sim::world::baseline(&sc, sc.seed);
    let rec = shakedown_sim::world::run_against(&sc, RunOptions::full(sc.seed), &base);
    let s = &rec.summary;
    assert_eq!(s.outcome, "completed");
    assert!(!s.slo_met);
    let page = html::run_report(&rec);
    let banner = &page[page.find("<p class=\"verdict").unwrap()..];
    let banner = &banner[..banner.find("</p>").unwrap()];
    assert!(banner.starts_with("<p class=\"verdict bad\">"), "{banner}");
    assert!(
        banner.contains("<strong>completed — SLO breached: 90.6 % of requests failed</strong>"),
        "{banner}"
    );
    assert!(
        banner.contains("failed requests ("),
        "names the harm: {banner}"
    );
    let md = shakedown_reports::markdown::run(s);
    assert!(
        md.contains("**completed — SLO breached: 90.6 % of requests failed**"),
        "{md}"
    );

    // rolling-basic completes, but fails 0.38 % of its requests: over a
    // 99.9 % objective, under a 99 % one.
    let verdict_of = |sc: &Scenario| {
        let base = shakedown_sim::world::baseline(sc, sc.seed);
        let rec = shakedown_sim::world::run_against(sc, RunOptions::full(sc.seed), &base);
        let page = html::run_report(&rec);
        let b = &page[page.find("<p class=\"verdict").unwrap()..];
        b[..b.find("</p>").unwrap()].to_string()
    };
    let mut sc = scenario();
    let b = verdict_of(&sc);
    assert!(b.starts_with("<p class=\"verdict bad\"><strong>completed — SLO breached: 0.38 % of requests failed</strong>"), "{b}");
    sc.slo.success_rate = 0.99;
    let b = verdict_of(&sc);
    assert!(b.starts_with("<p class=\"verdict ok\"><strong>completed — SLO met: 0.38 % of requests failed</strong> (objective 99 % of requests succeed"), "{b}");
}

#[test]
fn per_role_progress_counts_every_host_told_to_move() {
    let rec = rolling();
    let steps = shakedown_reports::plots_roles::role_steps(rec, "1.12.1");
    assert!(!steps.is_empty());
    let told: u32 = steps.values().map(|s| s.last().unwrap().1).sum();
    // Completed in place: every host was told to run the new version.
    assert_eq!(rec.summary.outcome.to_string(), "completed");
    assert_eq!(u64::from(told), rec.summary.hosts);
    for s in steps.values() {
        assert!(s.windows(2).all(|w| w[0].0 <= w[1].0), "in time order");
    }
}

#[test]
fn the_traffic_plot_says_the_local_time_of_the_users_peak() {
    let sc = Scenario::parse(
        include_str!("../../scenarios/canary-wrong-timezone.toml"),
        "canary-wrong-timezone.toml",
    )
    .unwrap();
    let rec = shakedown_sim::run(&sc, RunOptions::full(sc.seed));
    let clock = plots::Clock::of(&sc.traffic).expect("a diurnal curve");
    // UTC−8, 14:00 UTC at time zero: the run starts at 06:00 local.
    assert_eq!(clock.local(0.0), "06:00 local (UTC−8)");
    assert_eq!(clock.hhmm(14.0 * 3600.0, -8.0), "20:00");
    let page = html::run_report_with(&rec, "shakedown run x --seed 1 --out DIR", Some(&clock));
    assert!(
        page.contains("users&apos; peak 20:00 local (UTC−8)"),
        "the peak is labelled"
    );
    assert!(
        page.contains("starts 06:00 local (UTC−8)"),
        "the rollout's local start"
    );
    // Without the clock (live runs, the demo's side-by-side page) no label.
    assert!(!html::run_report(&rec).contains("users&apos; peak"));
}
