//! Images for live mode, built locally: there is no registry to pull from.
//!
//! The engine on the project machines starts with no images and cannot reach
//! any registry, so every image live mode runs is built here, `FROM scratch`,
//! around one statically linked binary:
//!
//! 1. **Static binary.** [`ensure_fixture_image`] runs
//!    `cargo build --release -p shakedown-fixtures --bin shakedown-testsvc
//!    --target x86_64-unknown-linux-gnu --target-dir <workspace>/target/static`
//!    with `RUSTFLAGS="-C target-feature=+crt-static"` (glibc static-pie; no
//!    musl toolchain needed). The workspace is found from this crate's
//!    `CARGO_MANIFEST_DIR` (override: env `SHAKEDOWN_WORKSPACE_ROOT`). The
//!    result is checked to have no ELF interpreter, since a dynamic binary
//!    cannot run in a scratch image.
//! 2. **Content hash.** SHA-256 over the Dockerfile text and the binary (plus
//!    any other file the Dockerfile copies); the image is tagged
//!    `shakedown-testsvc:<first 12 hex digits>`, so a changed binary gets a
//!    new tag and an unchanged one reuses the old image.
//! 3. **Build.** If the engine already has that tag (bollard `inspect_image`)
//!    nothing is built. Otherwise testcontainers' [`GenericBuildableImage`]
//!    sends a build context (Dockerfile + binary) to the engine, which builds
//!    it with BuildKit. The Dockerfile is `fixtures/Dockerfile` when present
//!    (its `COPY`/`ADD` source naming `shakedown-testsvc` is fed the binary,
//!    whatever its path), else a built-in `FROM scratch` one. Any
//!    `# syntax=` line is dropped: it would make BuildKit pull a frontend
//!    image.
//! 4. **Once per process.** A process-wide async `OnceCell` makes parallel
//!    tests share one build; across processes the tag check above avoids
//!    rebuilding.
//!
//! # Labels
//!
//! The image gets `LABEL shakedown=1`, `shakedown.image=testsvc`,
//! `shakedown.content-hash=<hash>` and `shakedown.built-by-run=<run id>` (the
//! [`RunId::process`] of the building process). It deliberately does *not*
//! carry `shakedown.run`: images are a cache shared by runs, and run cleanup
//! (`docker::cleanup_run`) only removes containers and networks.
//!
//! # Your own image
//!
//! Any local image works: `ImageRef::new("my-svc", "dev").with_port(9000)
//! .with_health_path("/ready")`. It must already exist in the engine and
//! honour env `PORT` (the fleet sets it to [`ImageRef::port`]).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};
use testcontainers::core::BuildImageOptions;
use testcontainers::runners::AsyncBuilder;
use testcontainers::GenericBuildableImage;
use tokio::sync::OnceCell;

use crate::docker::{connect, RunId};
pub use crate::image_ref::{ImageRef, DEFAULT_HEALTH_PATH, DEFAULT_PORT};

/// Repository name of the fixture image.
pub const FIXTURE_IMAGE_NAME: &str = "shakedown-testsvc";
/// Cargo package holding the test service.
pub const FIXTURE_PACKAGE: &str = "shakedown-fixtures";
/// Binary name of the test service.
pub const FIXTURE_BIN: &str = "shakedown-testsvc";
/// Target triple of the static build.
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";
/// Dockerfile used when `fixtures/Dockerfile` does not exist.
const BUILTIN_DOCKERFILE: &str = "FROM scratch\n\
COPY shakedown-testsvc /shakedown-testsvc\n\
ENV PORT=8080\n\
EXPOSE 8080\n\
STOPSIGNAL SIGTERM\n\
ENTRYPOINT [\"/shakedown-testsvc\"]\n";

/// Result of [`ensure_fixture_image`] / [`build_fixture_image`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixtureImage {
    /// The image (port 8080, `/health`).
    pub image: ImageRef,
    /// `true` only if this call ran an image build; `false` when the tag
    /// already existed in the engine or the process-wide cache answered.
    pub built: bool,
    /// Full SHA-256 (hex) of Dockerfile + binary; the tag is its first 12 digits.
    pub content_hash: String,
    /// The static binary that went into the image.
    pub binary: PathBuf,
}

/// Inputs of [`build_fixture_image`].
#[derive(Clone, Debug)]
pub struct FixtureBuild {
    /// Workspace root (holds `Cargo.toml`, `fixtures/`, `target/`).
    pub workspace_root: PathBuf,
    /// Recorded in the image label `shakedown.built-by-run`.
    pub run_id: RunId,
    /// Repository name of the image.
    pub image_name: String,
}

impl Default for FixtureBuild {
    fn default() -> Self {
        FixtureBuild {
            workspace_root: workspace_root(),
            run_id: RunId::process().clone(),
            image_name: FIXTURE_IMAGE_NAME.into(),
        }
    }
}

/// The workspace root: env `SHAKEDOWN_WORKSPACE_ROOT` if set, else the parent
/// of this crate's manifest directory (known at compile time).
pub fn workspace_root() -> PathBuf {
    if let Some(p) = std::env::var_os("SHAKEDOWN_WORKSPACE_ROOT") {
        return PathBuf::from(p);
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// Builds (if needed) the fixture image, once per process. Parallel callers
/// wait for the one build; a failed build is retried by the next caller.
/// `built` is `true` only for the call that actually ran an image build.
pub async fn ensure_fixture_image() -> Result<FixtureImage> {
    static FIXTURE: OnceCell<FixtureImage> = OnceCell::const_new();
    let mut ran_init = false;
    let image = FIXTURE
        .get_or_try_init(|| {
            ran_init = true;
            async { build_fixture_image(&FixtureBuild::default()).await }
        })
        .await?;
    let mut out = image.clone();
    if !ran_init {
        out.built = false;
    }
    Ok(out)
}

/// Uncached version of [`ensure_fixture_image`]: builds the static binary
/// (cargo is incremental, so this is quick when nothing changed), hashes it,
/// and builds the image unless the engine already has the tag.
pub async fn build_fixture_image(opts: &FixtureBuild) -> Result<FixtureImage> {
    let root = &opts.workspace_root;
    let binary = build_static_fixture_binary(root).await?;
    let bin_bytes = tokio::fs::read(&binary)
        .await
        .with_context(|| format!("reading {}", binary.display()))?;
    if !is_statically_linked(&bin_bytes)? {
        bail!(
            "{} is dynamically linked; it cannot run in a FROM scratch image",
            binary.display()
        );
    }

    let fixtures_dir = root.join("fixtures");
    let dockerfile_path = fixtures_dir.join("Dockerfile");
    let dockerfile_text = match tokio::fs::read_to_string(&dockerfile_path).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => BUILTIN_DOCKERFILE.to_string(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", dockerfile_path.display())),
    };
    let prepared = prepare_dockerfile(&dockerfile_text)?;

    // Build context: the binary under every source path that names it, and
    // other COPY/ADD sources from fixtures/ (or the workspace root).
    let mut hasher = Sha256::new();
    hasher.update(b"shakedown-testsvc-image/v1\0");
    hasher.update((prepared.text.len() as u64).to_le_bytes());
    hasher.update(prepared.text.as_bytes());
    hasher.update((bin_bytes.len() as u64).to_le_bytes());
    hasher.update(&bin_bytes);
    let mut context_files: Vec<(PathBuf, String)> = Vec::new();
    let mut binary_used = false;
    for src in &prepared.sources {
        let target = src
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_string();
        if Path::new(&target).file_name().and_then(|n| n.to_str()) == Some(FIXTURE_BIN) {
            binary_used = true;
            context_files.push((binary.clone(), target));
            continue;
        }
        let found = [fixtures_dir.join(&target), root.join(&target)]
            .into_iter()
            .find(|p| p.exists())
            .ok_or_else(|| {
                anyhow!(
                    "{}: COPY source {src:?} found neither in fixtures/ nor in the workspace root",
                    dockerfile_path.display()
                )
            })?;
        if found.is_file() {
            let bytes = tokio::fs::read(&found).await?;
            hasher.update(target.as_bytes());
            hasher.update(&bytes);
        }
        context_files.push((found, target));
    }
    if !binary_used {
        bail!(
            "{}: no COPY/ADD source names {FIXTURE_BIN}",
            dockerfile_path.display()
        );
    }
    let content_hash: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let image = ImageRef::new(opts.image_name.as_str(), &content_hash[..12]);

    if image_exists(&image).await? {
        return Ok(FixtureImage {
            image,
            built: false,
            content_hash,
            binary,
        });
    }

    let dockerfile = format!(
        "{}\nLABEL shakedown=\"1\" shakedown.image=\"testsvc\" shakedown.content-hash=\"{content_hash}\" shakedown.built-by-run=\"{}\"\n",
        prepared.text.trim_end(),
        opts.run_id
    );
    let mut buildable = GenericBuildableImage::new(image.name.as_str(), image.tag.as_str())
        .with_dockerfile_string(dockerfile);
    for (src, target) in context_files {
        buildable = buildable.with_file(src, target);
    }
    let _image: testcontainers::GenericImage = buildable
        // skip_if_exists also covers another process finishing the same build first.
        .build_image_with(BuildImageOptions::new().with_skip_if_exists(true))
        .await
        .with_context(|| format!("building image {image} with the local engine"))?;
    Ok(FixtureImage {
        image,
        built: true,
        content_hash,
        binary,
    })
}

/// Runs the static release build of the test service and returns the binary.
pub async fn build_static_fixture_binary(workspace_root: &Path) -> Result<PathBuf> {
    let target_dir = workspace_root.join("target").join("static");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = tokio::process::Command::new(&cargo)
        .current_dir(workspace_root)
        .args([
            "build",
            "--release",
            "-p",
            FIXTURE_PACKAGE,
            "--bin",
            FIXTURE_BIN,
        ])
        .args(["--target", STATIC_TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        // Would take precedence over RUSTFLAGS.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS")
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("running {cargo:?} build for {FIXTURE_PACKAGE}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "static build of {FIXTURE_PACKAGE} failed ({}):\n{}",
            output.status,
            tail.join("\n")
        );
    }
    let binary = target_dir
        .join(STATIC_TARGET)
        .join("release")
        .join(FIXTURE_BIN);
    if !binary.is_file() {
        bail!("static build succeeded but {} is missing", binary.display());
    }
    Ok(binary)
}

/// Removes the other tags of `keep`'s repository (older fixture builds),
/// without force: images still used by a container stay. Returns how many
/// were removed. Not called automatically, since another process on the
/// machine may be about to run an older build.
pub async fn prune_fixture_images(keep: &ImageRef) -> Result<usize> {
    use testcontainers::bollard::query_parameters::{ListImagesOptions, RemoveImageOptions};
    let docker = connect().await?;
    let images = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(std::collections::HashMap::from([(
                "reference".to_string(),
                vec![keep.name.clone()],
            )])),
            ..Default::default()
        }))
        .await
        .context("listing fixture images")?;
    let mut removed = 0;
    for tag in images.iter().flat_map(|i| i.repo_tags.iter()) {
        if *tag == keep.descriptor() {
            continue;
        }
        if docker
            .remove_image(tag, None::<RemoveImageOptions>, None)
            .await
            .is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether the local engine has `image` (bollard `inspect_image`).
pub async fn image_exists(image: &ImageRef) -> Result<bool> {
    let docker = connect().await?;
    match docker.inspect_image(&image.descriptor()).await {
        Ok(_) => Ok(true),
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("inspecting image {image}")),
    }
}

/// A Dockerfile ready to send, and the sources its COPY/ADD lines name.
#[derive(Debug, PartialEq, Eq)]
struct PreparedDockerfile {
    text: String,
    sources: Vec<String>,
}

/// Drops `# syntax=` directives and collects COPY/ADD sources (shell and
/// JSON forms, `--flag`s skipped, `--from=` copies ignored).
fn prepare_dockerfile(text: &str) -> Result<PreparedDockerfile> {
    let mut out = String::with_capacity(text.len());
    let mut sources = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with('#') && lower[1..].trim_start().starts_with("syntax") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
        let mut words = trimmed.splitn(2, char::is_whitespace);
        let instr = words.next().unwrap_or("").to_ascii_uppercase();
        if instr != "COPY" && instr != "ADD" {
            continue;
        }
        let mut rest = words.next().unwrap_or("").trim();
        let mut from_stage = false;
        while let Some(flag) = rest.strip_prefix("--") {
            let (f, r) = flag.split_once(char::is_whitespace).unwrap_or((flag, ""));
            from_stage |= f.starts_with("from=");
            rest = r.trim_start();
        }
        if from_stage {
            continue;
        }
        let args: Vec<String> = if rest.starts_with('[') {
            serde_json::from_str(rest).with_context(|| format!("parsing {trimmed:?}"))?
        } else {
            rest.split_whitespace().map(str::to_string).collect()
        };
        if args.len() < 2 {
            bail!("Dockerfile line {trimmed:?} has no source");
        }
        sources.extend(args[..args.len() - 1].iter().cloned());
    }
    Ok(PreparedDockerfile { text: out, sources })
}

/// `true` if the ELF file has no `PT_INTERP` program header (no dynamic loader).
fn is_statically_linked(elf: &[u8]) -> Result<bool> {
    const PT_INTERP: u32 = 3;
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        bail!("not a 64-bit little-endian ELF file");
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let at = phoff + i * phentsize;
        let Some(p_type) = elf.get(at..at + 4) else {
            bail!("truncated ELF program headers");
        };
        if u32::from_le_bytes(p_type.try_into()?) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_ref_parse() {
        let r = ImageRef::parse("shakedown-testsvc:abc").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("shakedown-testsvc", "abc")
        );
        assert_eq!(r.port, 8080);
        assert_eq!(r.health_path, "/health");
        let r = ImageRef::parse("localhost:5000/svc").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/svc", "latest")
        );
        let r = ImageRef::parse("localhost:5000/svc:v2").unwrap();
        assert_eq!(
            (r.name.as_str(), r.tag.as_str()),
            ("localhost:5000/svc", "v2")
        );
        assert!(ImageRef::parse("").is_err());
        assert!(ImageRef::parse("svc:").is_err());
        let r = ImageRef::new("a", "b")
            .with_port(9000)
            .with_health_path("ready");
        assert_eq!((r.port, r.health_path.as_str()), (9000, "/ready"));
        assert_eq!(r.to_string(), "a:b");
    }

    #[test]
    fn dockerfile_sources_and_syntax_line() {
        let p = prepare_dockerfile(
            "# syntax=docker/dockerfile:1\nFROM scratch\n\
             COPY --chown=0:0 target/static/x86_64-unknown-linux-gnu/release/shakedown-testsvc /svc\n\
             copy [\"a.txt\", \"b.txt\", \"/data/\"]\n\
             COPY --from=build /x /y\n\
             ENTRYPOINT [\"/svc\"]\n",
        )
        .unwrap();
        assert!(!p.text.contains("syntax"));
        assert!(p.text.starts_with("FROM scratch\n"));
        assert_eq!(
            p.sources,
            vec![
                "target/static/x86_64-unknown-linux-gnu/release/shakedown-testsvc",
                "a.txt",
                "b.txt"
            ]
        );
        let builtin = prepare_dockerfile(BUILTIN_DOCKERFILE).unwrap();
        assert_eq!(builtin.sources, vec!["shakedown-testsvc"]);
    }

    #[test]
    fn elf_interp_detection() {
        let mut elf = vec![0u8; 64 + 56 * 2];
        elf[..6].copy_from_slice(b"\x7fELF\x02\x01");
        elf[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        elf[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        elf[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        elf[64..68].copy_from_slice(&1u32.to_le_bytes()); // PT_LOAD
        assert!(is_statically_linked(&elf).unwrap());
        elf[64 + 56..64 + 60].copy_from_slice(&3u32.to_le_bytes()); // PT_INTERP
        assert!(!is_statically_linked(&elf).unwrap());
        assert!(is_statically_linked(b"not an elf").is_err());
    }
}
