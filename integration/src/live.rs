//! Live mode's runtime spec: a scenario's validated `[live]` table
//! ([`LiveConfig`], parsed and checked by the sim crate like the rest of the
//! file) plus what only the live environment can judge, with the same
//! located errors (`file:line:col: `live.versions."v2".behaviour`: …`):
//!
//! - the scenario has a `[live]` table at all (a simulated run does not need one);
//! - each version's fixture `behaviour` parses and its `image` is a valid reference;
//! - the policy measures only what live mode can: per cohort, not per
//!   endpoint (the router keeps no per-path counters yet).
//!
//! The file format is documented in [`shakedown_sim::scenario::live`].

use std::collections::BTreeMap;
use std::time::Duration;

use shakedown_sim::chaos::FaultSpec;
use shakedown_sim::scenario::live::{endpoint_metrics, LiveLimits, LiveSource, Locator};
use shakedown_sim::scenario::{LiveConfig, Scenario, ScenarioError};
use shakedown_sim::time::SimDuration;

use crate::docker::ContainerLimits;
use crate::image::ImageRef;

pub use shakedown_sim::scenario::live::{check_time_scale, MAX_REPLICAS, MAX_RPS};

/// What one version of the service runs.
#[derive(Clone, Debug, PartialEq)]
pub enum VersionSource {
    /// The fixture test service with a `BEHAVIOUR` (`good`, `errors=0.05`, …).
    Fixture { behaviour: String },
    /// A local image (must exist in the engine; honours env `PORT`).
    Image {
        image: ImageRef,
        /// Passed as env `BEHAVIOUR` if given.
        behaviour: Option<String>,
    },
}

/// One entry of `[live.versions]`.
#[derive(Clone, Debug, PartialEq)]
pub struct VersionSpec {
    pub source: VersionSource,
    /// Extra env pairs for its containers.
    pub env: Vec<(String, String)>,
}

impl VersionSpec {
    /// The behaviour string, if any (for the report).
    pub fn describe(&self) -> String {
        match &self.source {
            VersionSource::Fixture { behaviour } => behaviour.clone(),
            VersionSource::Image { image, behaviour } => match behaviour {
                Some(b) => format!("{image} ({b})"),
                None => image.to_string(),
            },
        }
    }
}

/// The validated `[live]` table, defaults applied.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveSpec {
    /// Requests per second; `None`: follow the scenario's traffic curve.
    pub rps: Option<f64>,
    /// Scenario seconds per wall second.
    pub time_scale: f64,
    /// Keep-alive connections of the load generator (per role).
    pub connections: usize,
    /// A request without a complete answer this long after its intended
    /// send time is a `timeout` (wall).
    pub request_timeout: Duration,
    /// Load keeps running this long after the policy finishes (scenario time).
    pub cooldown: SimDuration,
    /// Take a replica out of the router and wait for its in-flight requests
    /// before stopping it. `false` reproduces the endpoint-removal race.
    pub drain: bool,
    /// Longest wait for a drain (wall).
    pub drain_timeout: Duration,
    /// Route to a new replica only once its health check passes.
    pub health_gate: bool,
    pub health_path: String,
    /// How often the driver probes each serving replica (wall).
    pub probe_interval: Duration,
    /// SIGTERM grace before SIGKILL (wall).
    pub grace: Duration,
    /// Non-ok requests allowed before the verdict fails.
    pub budget: u64,
    /// Router retries of connect failures (counted and reported).
    pub retries: u32,
    /// By version name (the scenario's `change.from` and `change.to`).
    pub versions: BTreeMap<String, VersionSpec>,
    pub chaos: Vec<FaultSpec>,
    /// Every container's limits (`[live.limits]`).
    pub limits: ContainerLimits,
}

impl LiveSpec {
    /// The runtime spec of `sc.live` (absent is an error: live mode needs at
    /// least the version map). `text` is the scenario file's text, `file`
    /// its name, both for locating errors.
    pub fn from_scenario(sc: &Scenario, text: &str, file: &str) -> Result<LiveSpec, ScenarioError> {
        let at = Locator::new(file, text);
        let Some(cfg) = sc.live.as_ref() else {
            return Err(at.err(
                "live",
                format!(
                    "live mode needs a [live] table with at least [live.versions.\"{}\"] and [live.versions.\"{}\"] (e.g. behaviour = \"good\")",
                    sc.change.from, sc.change.to
                ),
            ));
        };
        if let Some(m) = endpoint_metrics(&sc.policy).first() {
            return Err(at.metric_err(
                m,
                format!(
                    "metric `{}` of analysis `{}` reads one endpoint's traffic (`{}`), but live mode measures per cohort, not per endpoint, until the router records per-path counters; measure the whole cohort in live mode",
                    m.metric, m.analysis, m.key
                ),
            ));
        }
        Self::from_config(cfg, &at)
    }

    fn from_config(cfg: &LiveConfig, at: &Locator<'_>) -> Result<LiveSpec, ScenarioError> {
        let mut versions = BTreeMap::new();
        for (name, v) in &cfg.versions {
            let behaviour = match &v.source {
                LiveSource::Fixture { behaviour } => Some(behaviour),
                LiveSource::Image { behaviour, .. } => behaviour.as_ref(),
            };
            if let Some(Err(m)) = behaviour.map(|b| shakedown_fixtures::parse_behaviours(b)) {
                let m = m.replace("invalid BEHAVIOUR item", "invalid behaviour");
                return Err(at.version_err(name, Some("behaviour"), m));
            }
            let source = match &v.source {
                LiveSource::Fixture { behaviour } => VersionSource::Fixture {
                    behaviour: behaviour.clone(),
                },
                LiveSource::Image {
                    image,
                    port,
                    behaviour,
                } => VersionSource::Image {
                    image: ImageRef::parse(image)
                        .map_err(|e| at.version_err(name, Some("image"), format!("{e:#}")))?
                        .with_port(*port),
                    behaviour: behaviour.clone(),
                },
            };
            let env = v.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            versions.insert(name.clone(), VersionSpec { source, env });
        }
        Ok(LiveSpec {
            rps: cfg.rps,
            time_scale: cfg.time_scale,
            connections: cfg.connections as usize,
            request_timeout: cfg.request_timeout,
            cooldown: cfg.cooldown,
            drain: cfg.drain,
            drain_timeout: cfg.drain_timeout,
            health_gate: cfg.health_gate,
            health_path: cfg.health_path.clone(),
            probe_interval: cfg.probe_interval,
            grace: cfg.grace,
            budget: cfg.budget,
            retries: cfg.retries,
            versions,
            chaos: cfg.fault_specs(),
            limits: container_limits(&cfg.limits),
        })
    }

    /// Whether any version runs the fixture image (which then gets built).
    pub fn needs_fixture_image(&self) -> bool {
        self.versions
            .values()
            .any(|v| matches!(v.source, VersionSource::Fixture { .. }))
    }
}

/// The engine's form of `[live.limits]` (validated in range: every value
/// fits an `i64`).
fn container_limits(l: &LiveLimits) -> ContainerLimits {
    ContainerLimits {
        memory_bytes: Some(l.memory_bytes as i64),
        nano_cpus: Some(l.nano_cpus as i64),
        pids_limit: Some(l.pids as i64),
        read_only_root: l.read_only,
        tmp_bytes: (l.tmp_bytes > 0).then_some(l.tmp_bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shakedown_sim::chaos::FaultKind;

    const BASE: &str = r#"name = "t"
duration = "60s"
tick = "1s"

[fleet]
detection_delay = "1s"

[[fleet.roles]]
name = "api"
hosts = 3
zones = ["a", "b"]

[traffic]
curve = "constant"
rps = 100

[change]
from = "v1"
to = "v2"
drain = "5s"

[policy]
kind = "rolling"
max_unavailable = 1
"#;

    fn parse(live: &str) -> Result<LiveSpec, ScenarioError> {
        let text = format!("{BASE}{live}");
        // `[live]` is validated with the rest of the scenario; what only the
        // live environment can judge, when it becomes a `LiveSpec`.
        let sc = Scenario::parse(&text, "t.toml")?;
        LiveSpec::from_scenario(&sc, &text, "t.toml")
    }

    #[test]
    fn defaults_and_versions() {
        let s = parse(
            "\n[live]\nrps = 250\n\n[live.versions.v1]\nbehaviour = \"good\"\n\n[live.versions.\"v2\"]\nbehaviour = \"errors=0.05\"\nenv = { SEED = \"3\" }\n",
        )
        .unwrap();
        assert_eq!(s.rps, Some(250.0));
        assert!(s.drain, "change.drain > 0 means drain");
        assert_eq!(s.time_scale, 1.0);
        assert_eq!(s.cooldown, SimDuration::from_secs(2));
        assert_eq!(
            s.versions["v2"],
            VersionSpec {
                source: VersionSource::Fixture {
                    behaviour: "errors=0.05".into()
                },
                env: vec![("SEED".into(), "3".into())],
            }
        );
        assert!(s.needs_fixture_image());
    }

    #[test]
    fn errors_are_located() {
        let cases: &[(&str, &str, (usize, usize))] = &[
            ("", "live", (1, 1)),
            (
                "\n[live]\nrps = -3\n",
                "live.rps",
                (27, 7),
            ),
            // An unknown key is located at the key, as everywhere in the file.
            (
                "\n[live]\nbogus = 1\n",
                "live.bogus",
                (27, 1),
            ),
            (
                "\n[live]\n[live.versions.v1]\nbehaviour = \"good\"\n",
                "live.versions",
                (26, 1),
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.\"v2\"]\nbehaviour = \"errors=5%\"\n",
                "live.versions.\"v2\".behaviour",
                (29, 13),
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nimage = \"x:1\"\nport = 0\n",
                "live.versions.\"v2\".port",
                (30, 8),
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n\n[[live.chaos]]\naction = \"reboot\"\n",
                "live.chaos[0].action",
                (32, 10),
            ),
            (
                "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n\n[[live.chaos]]\naction = \"kill\"\n[[live.chaos]]\naction = \"host-crash\"\nreplica = 1\n",
                "live.chaos[1].replica",
                (35, 11),
            ),
        ];
        for (live, field, at) in cases {
            let e = parse(live).expect_err(live);
            assert_eq!(e.field, *field, "{e}");
            assert_eq!((e.line, e.column), *at, "{e}");
            assert!(e.to_string().starts_with("t.toml:"), "{e}");
        }
    }

    #[test]
    fn chaos_entries() {
        let s = parse(
            "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n\n[[live.chaos]]\naction = \"pause\"\nat = \"10s\"\nreplica = 2\nduration = \"3s\"\n\n[[live.chaos]]\naction = \"host-crash\"\nzone = \"b\"\nwindow = [\"5s\", \"20s\"]\n",
        )
        .unwrap();
        assert!(!s.chaos.is_empty());
        assert_eq!(s.chaos[0].kind, FaultKind::Pause);
        assert_eq!(s.chaos[0].at, Some(SimDuration::from_secs(10)));
        assert_eq!(s.chaos[0].replica, Some(2));
        assert_eq!(s.chaos[1].zone, Some(1));
        assert_eq!(
            s.chaos[1].window,
            (SimDuration::from_secs(5), SimDuration::from_secs(20))
        );
    }

    /// A canary whose analysis reads one endpoint (inline) or weighs them
    /// (from a template): `{analysis}` is the step's analysis table.
    fn endpoint_canary(analysis: &str, templates: &str) -> String {
        let text = BASE
            .replace(
                "[change]",
                "[[traffic.endpoints]]\nname = \"/get\"\nshare = 0.9\n\n[[traffic.endpoints]]\nname = \"/put\"\nshare = 0.1\n\n[change]",
            )
            .replace(
                "kind = \"rolling\"\nmax_unavailable = 1\n",
                &format!("kind = \"canary\"\nsteps = [\n  {{ set_weight = 50 }},\n  {{ analysis = {analysis} }},\n]\n"),
            );
        format!("{text}{templates}\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n")
    }

    #[test]
    fn endpoint_analyses_are_rejected_in_live_mode() {
        let inline = endpoint_canary(
            "{ name = \"per-path\", metrics = [{ name = \"put-ok\", provider = \"prometheus\", query = \"success-rate\", endpoint = \"/put\", success_condition = \"result >= 0.9\" }] }",
            "",
        );
        let template = endpoint_canary(
            "{ template = \"weighted\" }",
            "\n[analysis.weighted]\n[[analysis.weighted.metrics]]\nname = \"pooled\"\nprovider = \"prometheus\"\nquery = \"error-rate\"\nsuccess_condition = \"result <= 0.1\"\n\n[[analysis.weighted.metrics]]\nname = \"weighted-ok\"\nprovider = \"prometheus\"\nquery = \"success-rate\"\nweights = \"endpoints\"\nsuccess_condition = \"result >= 0.9\"\n",
        );
        let cases = [
            (
                &inline,
                "policy.steps[1].analysis.metrics[0].endpoint",
                "put-ok",
                "`endpoint`",
            ),
            (
                &template,
                "analysis.weighted.metrics[1].weights",
                "weighted-ok",
                "`weights`",
            ),
        ];
        for (text, field, metric, key) in cases {
            // The simulator measures endpoints: the scenario itself is valid.
            let sc = Scenario::parse(text, "t.toml").unwrap_or_else(|e| panic!("{e}"));
            let e = LiveSpec::from_scenario(&sc, text, "t.toml").unwrap_err();
            assert_eq!(e.field, field, "{e}");
            let want = shakedown_sim::scenario::TomlIndex::new(text).locate(field);
            assert_eq!((e.line, e.column), want, "{e}");
            assert!(e.message.contains(&format!("metric `{metric}`")), "{e}");
            assert!(e.message.contains(key), "{e}");
            assert!(
                e.message
                    .contains("live mode measures per cohort, not per endpoint")
                    && e.message.contains("per-path counters"),
                "{e}"
            );
        }
        // In the template, at the `weights` line itself.
        let e = {
            let sc = Scenario::parse(&template, "t.toml").unwrap();
            LiveSpec::from_scenario(&sc, &template, "t.toml").unwrap_err()
        };
        let line = template
            .lines()
            .position(|l| l.starts_with("weights = "))
            .unwrap()
            + 1;
        assert_eq!((e.line, e.column), (line, 11), "{e}");
        // A pooled (per cohort) analysis runs live.
        let pooled = endpoint_canary(
            "{ name = \"pooled\", metrics = [{ name = \"ok\", provider = \"prometheus\", query = \"success-rate\", success_condition = \"result >= 0.9\" }] }",
            "",
        );
        let sc = Scenario::parse(&pooled, "t.toml").unwrap();
        LiveSpec::from_scenario(&sc, &pooled, "t.toml").unwrap();
    }

    #[test]
    fn limits_default_to_the_engine_defaults_and_are_wired() {
        let versions = "\n[live.versions.v1]\nbehaviour = \"good\"\n[live.versions.v2]\nbehaviour = \"good\"\n";
        let s = parse(versions).unwrap();
        assert_eq!(s.limits, ContainerLimits::default());
        let s = parse(&format!(
            "{versions}\n[live.limits]\nmemory = \"1g\"\ncpus = 2.5\npids = 100\nread_only = false\ntmp = \"0\"\n"
        ))
        .unwrap();
        assert_eq!(
            s.limits,
            ContainerLimits {
                memory_bytes: Some(1 << 30),
                nano_cpus: Some(2_500_000_000),
                pids_limit: Some(100),
                read_only_root: false,
                tmp_bytes: None,
            }
        );
        // Out of range: located in the scenario, as every `[live]` key.
        let e = parse(&format!("{versions}\n[live.limits]\npids = -1\n")).unwrap_err();
        assert_eq!(
            (e.field.as_str(), e.line, e.column),
            ("live.limits.pids", 32, 8),
            "{e}"
        );
    }

    #[test]
    fn defaults_agree_with_the_image_module() {
        assert_eq!(
            shakedown_sim::scenario::live::DEFAULT_HEALTH_PATH,
            crate::image::DEFAULT_HEALTH_PATH
        );
        assert_eq!(
            shakedown_sim::scenario::live::DEFAULT_PORT,
            crate::image::DEFAULT_PORT
        );
    }
}
