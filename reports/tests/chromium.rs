//! The HTML reports rendered in a real browser (issue 11): headless Chromium
//! (Debian package `chromium`) loads a run report, the demo's comparison of
//! policies on one seed, and the reports of a compare and a two-parameter
//! sweep, and every plot must have a non-empty drawing.
//!
//! How: the test copies each page and appends a small script (the reports
//! themselves have none) that measures, after layout, each `<svg>`'s box on
//! the page and the bounding boxes of the shapes inside it, and writes the
//! figures into the DOM; `--dump-dom` prints the DOM after scripts ran.
//! A plot passes when it is laid out at a visible size and draws marks: a
//! polyline through three or more points or drawn 2 px wide or more (a
//! series: the house style draws axes and ticks 1 px wide), or a path, polygon or
//! circle more than a pixel both wide and high (a point, a bar, an area).
//! Axes, ticks and grid lines (plotters draws each as one straight
//! segment), background rectangles and text do not count. A
//! page with axes and no data is checked to fail. Measuring the browser's own geometry, not
//! pixels, keeps the check independent of fonts and antialiasing.
//!
//! With `CI` set (not `false`) a missing `chromium` fails the test (`.ci/run`
//! installs it); elsewhere the test says why it skipped.

use shakedown_reports::{compare, html};
use shakedown_sim::experiment::{GroupDef, Kind, Manifest, Param, SeedSet, MANIFEST_FORMAT};
use shakedown_sim::record::Summary;
use shakedown_sim::scenario::PolicySpec;
use shakedown_sim::{RunOptions, Scenario};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHECK: &str = r#"<script>
(function () {
  const rows = [...document.querySelectorAll('svg')].map((svg, i) => {
    const r = svg.getBoundingClientRect();
    let marks = 0;
    for (const e of svg.querySelectorAll('path,polyline,polygon,line,circle,ellipse')) {
      let b;
      try { b = e.getBBox(); } catch (x) { continue; }
      const stroke = getComputedStyle(e).stroke, fill = getComputedStyle(e).fill;
      const visible = stroke !== 'none' || fill !== 'none';
      // A series: a polyline through 3 or more points; a point, a bar, an
      // area: a shape more than a pixel both wide and high.
      // The house style draws series at 2 px or more, axes and ticks at 1.
      const wide = parseFloat(getComputedStyle(e).strokeWidth) >= 2;
      const series = e.tagName === 'polyline' && (e.points.numberOfItems >= 3 || wide) && (b.width > 1 || b.height > 1);
      const shape = e.tagName !== 'polyline' && e.tagName !== 'line' && b.width > 1 && b.height > 1;
      if (visible && (series || shape)) marks++;
    }
    return ['plot', i, Math.round(r.width), Math.round(r.height), marks].join(' ');
  });
  const pre = document.createElement('pre');
  pre.id = 'plot-check';
  pre.textContent = rows.join('\n');
  document.body.appendChild(pre);
})();
</script>"#;

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    })
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// Each plot of `page` as Chromium laid it out: (width, height, marks).
fn rendered_plots(browser: &Path, dir: &Path, name: &str, page: &str) -> Vec<(u32, u32, u32)> {
    let file = dir.join(format!("{name}.html"));
    let with_check = page.replace("</body>", &format!("{CHECK}\n</body>"));
    assert_ne!(with_check, page, "{name}: a page with a body");
    std::fs::write(&file, with_check).unwrap();
    let profile = dir.join(format!("{name}-profile"));
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1200,900",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("chromium runs");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("id=\"plot-check\""),
        "{name}: chromium printed no checked DOM (status {:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    dom.lines()
        .filter_map(|l| {
            let l = l.rsplit("plot-check\">").next().unwrap_or(l);
            let w: Vec<&str> = l.split_whitespace().collect();
            (w.len() >= 5 && w[0] == "plot").then(|| {
                (
                    w[2].parse().unwrap(),
                    w[3].parse().unwrap(),
                    w[4].trim_end_matches("</pre>").parse().unwrap(),
                )
            })
        })
        .collect()
}

fn scenario() -> Scenario {
    Scenario::parse(
        include_str!("../../scenarios/rolling-basic.toml"),
        "rolling-basic.toml",
    )
    .unwrap()
}

fn run(sc: &Scenario, seed: u64) -> shakedown_sim::RunRecord {
    let base = shakedown_sim::world::baseline(sc, seed);
    shakedown_sim::world::run_against(sc, RunOptions::full(seed), &base)
}

fn rows(scenarios: &[Scenario], seeds: &SeedSet) -> Vec<Summary> {
    seeds
        .seeds
        .iter()
        .flat_map(|&seed| {
            scenarios.iter().map(move |sc| {
                let base = shakedown_sim::world::baseline(sc, seed);
                shakedown_sim::world::run_against(sc, RunOptions::summary_only(seed), &base).summary
            })
        })
        .collect()
}

fn manifest(kind: Kind, groups: Vec<GroupDef>, params: Vec<Param>, seeds: &str) -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT.into(),
        kind,
        scenario: "rolling-basic".into(),
        scenario_file: "scenarios/rolling-basic.toml".into(),
        scenario_digest: "0000000000000000".into(),
        seeds: seeds.into(),
        groups,
        params,
        policy_file: None,
        metric_map: None,
        shard: None,
        shakedown_version: "test".into(),
    }
}

/// The pages: a run report, the demo's one-seed comparison, a compare and
/// a two-parameter sweep.
fn pages() -> Vec<(&'static str, String)> {
    let sc = scenario();
    let big_bang = Scenario {
        policy: PolicySpec::AllAtOnce {},
        ..scenario()
    };
    let one = run(&sc, 7);
    let two = run(&big_bang, 7);
    let mut out = vec![
        (
            "run",
            html::run_report_with(
                &one,
                "shakedown run scenarios/rolling-basic.toml --seed 7 --out DIR",
                shakedown_reports::plots::Clock::of(&sc.traffic).as_ref(),
            ),
        ),
        (
            "demo-compare",
            html::compare_report("shakedown demo: rolling-basic", &[one, two]),
        ),
    ];

    let seeds = SeedSet::parse("1..6").unwrap();
    let scenarios = [sc.clone(), big_bang.clone()];
    let groups = ["rolling", "all-at-once"]
        .iter()
        .zip(&scenarios)
        .map(|(l, s)| GroupDef {
            label: l.to_string(),
            policy_file: None,
            policy: Some(toml::Table::try_from(&s.policy).unwrap()),
            values: vec![],
        })
        .collect();
    let m = manifest(Kind::Compare, groups, vec![], "1..6");
    let r = rows(&scenarios, &seeds);
    let a = compare::analyze(&m, &r);
    let o = compare::reports(&m, &seeds, &r, &a);
    out.push(("compare", String::from_utf8(o[2].bytes.clone()).unwrap()));

    let text = include_str!("../../scenarios/rolling-basic.toml");
    let params = vec![
        Param::parse("policy.max_unavailable=1,2,5").unwrap(),
        Param::parse("change.install_time=10s,60s").unwrap(),
    ];
    let mut sweep_scenarios = Vec::new();
    let mut sweep_groups = Vec::new();
    for mu in &params[0].values {
        for d in &params[1].values {
            let t = text
                .replacen(
                    "max_unavailable = \"10%\"",
                    &format!("max_unavailable = {mu}"),
                    1,
                )
                .replacen(
                    "install_time = \"20s\"",
                    &format!("install_time = \"{d}\""),
                    1,
                );
            assert_ne!(t, text);
            sweep_scenarios.push(Scenario::parse(&t, "rolling-basic.toml").unwrap());
            sweep_groups.push(GroupDef {
                label: format!("max_unavailable={mu} install_time={d}"),
                policy_file: None,
                policy: None,
                values: vec![mu.clone(), d.clone()],
            });
        }
    }
    let seeds = SeedSet::parse("1..4").unwrap();
    let m = manifest(Kind::Sweep, sweep_groups, params, "1..4");
    let r = rows(&sweep_scenarios, &seeds);
    let a = compare::analyze(&m, &r);
    let o = compare::reports(&m, &seeds, &r, &a);
    out.push(("sweep", String::from_utf8(o[2].bytes.clone()).unwrap()));
    out
}

#[test]
fn every_plot_has_a_drawing_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            !in_ci(),
            "chromium is not installed and CI is set: .ci/run installs the Debian package `chromium`"
        );
        eprintln!("skipped: no `chromium` on PATH (Debian package `chromium`; CI installs it)");
        return;
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromium");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The check itself, on a page drawn as plotters draws axes (one
    // straight polyline per axis and tick, grid lines, a title, a shaded
    // band) and no data: nothing counts.
    let empty = "<!DOCTYPE html>\n<html><body><svg viewBox=\"0 0 900 400\" width=\"900\"><rect x=\"0\" y=\"0\" width=\"900\" height=\"400\" fill=\"#fff\"/><polyline points=\"60,20 60,380\" fill=\"none\" stroke=\"#000\"/><polyline points=\"60,380 880,380\" fill=\"none\" stroke=\"#000\"/><polyline points=\"55,200 60,200\" fill=\"none\" stroke=\"#000\"/><line x1=\"60\" y1=\"200\" x2=\"880\" y2=\"200\" stroke=\"#ccc\"/><rect x=\"100\" y=\"20\" width=\"300\" height=\"360\" fill=\"#eee\"/><text x=\"10\" y=\"10\">title</text></svg></body></html>\n";
    let plots = rendered_plots(&browser, &dir, "empty", empty);
    assert_eq!(plots.len(), 1);
    assert!(plots[0].0 >= 200, "laid out: {plots:?}");
    assert_eq!(plots[0].2, 0, "axes alone are no drawing: {plots:?}");
    for (name, page) in pages() {
        let svgs = page.matches("<svg").count();
        assert!(svgs > 0, "{name}: no plot");
        let plots = rendered_plots(&browser, &dir, name, &page);
        assert_eq!(plots.len(), svgs, "{name}: every plot was laid out");
        for (i, (w, h, marks)) in plots.iter().enumerate() {
            assert!(
                *w >= 200 && *h >= 40,
                "{name}: plot {i} is {w}×{h} px on the page"
            );
            assert!(*marks >= 1, "{name}: plot {i} draws nothing but axes");
        }
        eprintln!("{name}: {} plots, each drawn", plots.len());
    }
}
