//! A reference to a local image and what a fleet needs to know to run it
//! (its port and health path). Leaf vocabulary of the live crate: the
//! engine (`docker`) runs it, `image` builds the fixture's.

use anyhow::{bail, Result};
use std::fmt;

/// Default container port.
pub const DEFAULT_PORT: u16 = 8080;
/// Default health path.
pub const DEFAULT_HEALTH_PATH: &str = "/health";

/// A local image to run, plus what the fleet needs to know about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Repository name, e.g. `shakedown-testsvc`.
    pub name: String,
    /// Tag, e.g. the 12-digit content hash.
    pub tag: String,
    /// Port the service listens on inside the container (env `PORT`).
    pub port: u16,
    /// Path answering 200 when healthy.
    pub health_path: String,
}

impl ImageRef {
    /// `name:tag` with port 8080 and health path `/health`.
    pub fn new(name: impl Into<String>, tag: impl Into<String>) -> Self {
        ImageRef {
            name: name.into(),
            tag: tag.into(),
            port: DEFAULT_PORT,
            health_path: DEFAULT_HEALTH_PATH.into(),
        }
    }

    /// Parses `name[:tag]` (tag defaults to `latest`; a `host:port/` prefix
    /// is kept in the name).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        if s.is_empty() {
            bail!("empty image reference");
        }
        let last_slash = s.rfind('/').map_or(0, |i| i + 1);
        match s[last_slash..].rfind(':') {
            Some(i) => {
                let (name, tag) = (&s[..last_slash + i], &s[last_slash + i + 1..]);
                if name.is_empty() || tag.is_empty() {
                    bail!("invalid image reference {s:?}");
                }
                Ok(ImageRef::new(name, tag))
            }
            None => Ok(ImageRef::new(s, "latest")),
        }
    }

    /// Sets the container port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Sets the health path (a leading `/` is added if missing).
    pub fn with_health_path(mut self, path: impl Into<String>) -> Self {
        let p = path.into();
        self.health_path = if p.starts_with('/') {
            p
        } else {
            format!("/{p}")
        };
        self
    }

    /// `name:tag`.
    pub fn descriptor(&self) -> String {
        format!("{}:{}", self.name, self.tag)
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}
