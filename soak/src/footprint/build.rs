//! The builds the section measures: the deployable arm64 bootstraps (`cargo lambda build`, as
//! `make build` with BUILD_WITH=cargo-lambda does) and host release binaries to start locally.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::cases::FUNCTIONS;

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("soak/ is in the workspace").to_path_buf()
}

/// Cargo's target directory: `CARGO_TARGET_DIR`, or the workspace's `target/`.
pub fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// Where `cargo lambda build` puts a function's bootstrap.
pub fn arm64_bootstrap(target: &Path, function: &str) -> PathBuf {
    target.join("lambda").join(function).join("bootstrap")
}

/// This section's own copies of the host binaries: the shared `target/release/<name>` is rebuilt by
/// any `cargo bench` of the workspace, so the measured binaries are copied out at once.
pub fn host_binary(target: &Path, function: &str) -> PathBuf {
    target.join("footprint-bin").join(function)
}

/// The five packages, selected with `-p`: `--bin` alone would select the whole workspace and
/// build the functions with the features soak turns on in shared dependencies (tokio's
/// `process`, shared's `embedded`), which is not what is deployed.
fn packages() -> Vec<String> {
    FUNCTIONS.iter().flat_map(|f| ["-p".to_owned(), f.to_string()]).collect()
}

/// Runs a build, its output on stderr (stdout is the table's), and times it.
async fn timed(mut command: tokio::process::Command) -> Result<Duration, String> {
    let started = Instant::now();
    let status = command.stdout(std::io::stderr()).stderr(Stdio::inherit()).status().await.map_err(|e| format!("{command:?}: {e}"))?;
    if !status.success() {
        return Err(format!("{:?} {status}", command.as_std().get_args().collect::<Vec<_>>()));
    }
    Ok(started.elapsed())
}

fn cargo() -> tokio::process::Command {
    tokio::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// All five arm64 bootstraps in one `cargo lambda build` (cargo-lambda and zig from the project's
/// tools, installed by scripts/tools.sh when missing).
pub async fn arm64(root: &Path, target: &Path) -> Result<Duration, String> {
    let tools = root.join(".tools/venv/bin");
    let on_path = std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("cargo-lambda").is_file()));
    if !on_path && !tools.join("cargo-lambda").is_file() {
        let mut install = tokio::process::Command::new(root.join("scripts/tools.sh"));
        install.current_dir(root);
        timed(install).await?;
    }
    let path = std::env::join_paths(std::iter::once(tools).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())))
        .map_err(|e| e.to_string())?;
    let mut build = cargo();
    build.current_dir(root).env("PATH", path).env("CARGO_TARGET_DIR", target);
    build.args(["lambda", "build", "--release", "--arm64", "--locked"]).args(packages());
    timed(build).await
}

/// The functions' release binaries scripts/soak.sh built and copied out just before the soak
/// (`SOAK_BIN_DIR`), if it did.
pub fn prebuilt() -> Option<PathBuf> {
    std::env::var_os("SOAK_BIN_DIR").filter(|dir| !dir.is_empty()).map(PathBuf::from)
}

/// The five host release binaries, copied to [`host_binary`]: scripts/soak.sh's ([`prebuilt`]),
/// or else built here in one `cargo build` (when this section runs alone).
pub async fn host(root: &Path, target: &Path) -> Result<Duration, String> {
    let (took, from) = match prebuilt() {
        Some(dir) => (Duration::ZERO, dir),
        None => {
            let mut build = cargo();
            build.current_dir(root).env("CARGO_TARGET_DIR", target).args(["build", "--release", "--locked"]).args(packages());
            (timed(build).await?, target.join("release"))
        }
    };
    for function in FUNCTIONS {
        let copy = host_binary(target, function);
        std::fs::create_dir_all(copy.parent().expect("a directory")).map_err(|e| e.to_string())?;
        std::fs::copy(from.join(function), &copy).map_err(|e| format!("copy {function} from {}: {e}", from.display()))?;
    }
    Ok(took)
}

/// What `file` says about an executable.
#[derive(Debug, PartialEq, Eq)]
pub struct ElfKind {
    pub aarch64: bool,
    pub stripped: bool,
}

/// Reads `file -b`'s description of an ELF executable.
pub fn elf_kind(description: &str) -> ElfKind {
    ElfKind { aarch64: description.contains("ARM aarch64"), stripped: description.split(',').map(str::trim).any(|part| part == "stripped") }
}

pub async fn describe(binary: &Path) -> Result<ElfKind, String> {
    let out = tokio::process::Command::new("file").arg("-b").arg(binary).output().await.map_err(|e| format!("file: {e}"))?;
    Ok(elf_kind(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripped_is_told_from_not_stripped() {
        let arm = "ELF 64-bit LSB pie executable, ARM aarch64, version 1 (SYSV), dynamically linked, \
                   interpreter /lib/ld-linux-aarch64.so.1, for GNU/Linux 3.7.0, stripped";
        assert_eq!(elf_kind(arm), ElfKind { aarch64: true, stripped: true });
        let host = "ELF 64-bit LSB pie executable, x86-64, version 1 (SYSV), dynamically linked, \
                    interpreter /lib64/ld-linux-x86-64.so.2, BuildID[sha1]=0f3c, for GNU/Linux 3.2.0, not stripped";
        assert_eq!(elf_kind(host), ElfKind { aarch64: false, stripped: false });
    }
}
