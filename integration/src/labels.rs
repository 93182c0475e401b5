//! The labels on everything a live run creates, and the process that owns
//! the run: identified by pid, start time and pid namespace, so that a later
//! process can tell an orphaned run from a running one.

use std::collections::HashMap;

/// Label present (value `1`) on everything shakedown creates.
pub const LABEL_MANAGED: &str = "shakedown";
/// Label holding the [`crate::docker::RunId`] of the run that created a container or network.
pub const LABEL_RUN: &str = "shakedown.run";
/// Label holding the host group of a container (the unit of `Fleet::crash_group`).
pub const LABEL_GROUP: &str = "shakedown.group";
/// Label holding the backend id of a container.
pub const LABEL_BACKEND: &str = "shakedown.backend";
/// Label holding the pid of the process that owns the run (see
/// [`Owner`]); with [`LABEL_OWNER_START`] and
/// [`LABEL_OWNER_NS`] it tells a live owner from a dead one, even after the
/// pid was reused.
pub const LABEL_OWNER_PID: &str = "shakedown.owner.pid";
/// Label holding the owner's start time (clock ticks after boot, field 22 of
/// `/proc/<pid>/stat`).
pub const LABEL_OWNER_START: &str = "shakedown.owner.start";
/// Label holding `<boot id>:<pid namespace>` of the owner: its pid means
/// something only on the same boot and in the same pid namespace.
pub const LABEL_OWNER_NS: &str = "shakedown.owner.ns";

/// The process that owns a run, identified so that a reused pid is not
/// mistaken for it: pid, start time and the pid namespace on this boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Process id (in the namespace `ns`).
    pub pid: u32,
    /// Start time in clock ticks after boot (`/proc/<pid>/stat` field 22).
    pub start_ticks: u64,
    /// `<boot id>:<pid namespace inode>`.
    pub ns: String,
}

/// What can be said about a run's owner from this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// The owner process is running.
    Alive,
    /// The owner process is gone (or a zombie): the run is orphaned.
    Gone,
    /// Cannot tell: the reason. Never removed automatically.
    Unknown(String),
}

impl Owner {
    /// This process, or `None` where `/proc` does not say (not Linux).
    pub fn current() -> Option<Owner> {
        Owner::of_pid(std::process::id())
    }

    /// A process of this pid namespace, if it exists.
    pub fn of_pid(pid: u32) -> Option<Owner> {
        let (_, start_ticks) = proc_stat(pid)?;
        Some(Owner {
            pid,
            start_ticks,
            ns: namespace()?,
        })
    }

    /// The owner labels (key, value).
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        vec![
            (LABEL_OWNER_PID, self.pid.to_string()),
            (LABEL_OWNER_START, self.start_ticks.to_string()),
            (LABEL_OWNER_NS, self.ns.clone()),
        ]
    }

    /// Reads the owner labels back; `None` if any is missing or malformed.
    pub fn from_labels(labels: &HashMap<String, String>) -> Option<Owner> {
        Some(Owner {
            pid: labels.get(LABEL_OWNER_PID)?.parse().ok()?,
            start_ticks: labels.get(LABEL_OWNER_START)?.parse().ok()?,
            ns: labels.get(LABEL_OWNER_NS)?.clone(),
        })
    }

    /// Whether the owner still runs, judged from this process.
    pub fn state(&self) -> OwnerState {
        let Some(here) = namespace() else {
            return OwnerState::Unknown("no /proc here to look processes up".into());
        };
        if here != self.ns {
            return OwnerState::Unknown(format!(
                "owner {} is in another boot or pid namespace ({})",
                self.pid, self.ns
            ));
        }
        match proc_stat(self.pid) {
            Some((state, start)) if start == self.start_ticks && !matches!(state, 'Z' | 'X') => {
                OwnerState::Alive
            }
            _ => OwnerState::Gone,
        }
    }
}

/// `(state, start time)` of a process from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces and parentheses.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 (state), so field 22 (starttime) is fields[19].
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// `<boot id>:<pid namespace inode>` of this process.
fn namespace() -> Option<String> {
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
    let ns = std::fs::read_link("/proc/self/ns/pid").ok()?;
    let ns = ns.to_string_lossy();
    let inode = ns.trim_start_matches("pid:[").trim_end_matches(']');
    Some(format!("{}:{inode}", boot.trim()))
}
