//! Test harness for Chop's cross-crate, end-to-end and interop tests (issue 2 §6 "Judges").
//!
//! The tests drive the real `chop` binary and hand its output to judges nobody here wrote
//! (pyHanko, poppler's `pdfsig` and `pdftoppm`, `qpdf`, NSS `certutil`). This crate locates the
//! binary (building it once per test process), the judges (a missing judge fails the run when
//! `CI=true`, and is skipped LOUDLY otherwise), the shared test corpus and the scratch
//! directories the tests write into.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

pub mod corpus;
pub mod judge;
pub mod pki;
pub mod raster;

/// The workspace root (the directory holding the workspace `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// Whether this run is a CI run (`CI=true`): then every judge is mandatory.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// Announce a skipped interop check on the process's real stderr, bypassing the test
/// harness's output capture so that the skip is visible even when the test passes.
pub fn loud_skip(reason: &str) {
    use std::io::Write;
    let name = std::thread::current().name().unwrap_or("?").to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "\n!!!!!!!!!! SKIPPED in {name}: {reason} !!!!!!!!!!\n"
    );
}

/// The directory of the running test executable's build profile (`target/<profile>`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable has a path");
    // target/<profile>/deps/<test-binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps")
        .to_path_buf()
}

/// The cargo target directory the tests were built into.
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("target/<profile> has a parent")
        .to_path_buf()
}

static CHOP: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// Path to the `chop` binary, built once per test process with the profile the tests use.
///
/// `CHOP_BIN` overrides the path (no build). Otherwise runs
/// `cargo build -p chop-api --bin chop` into the same target directory; nesting cargo is fine
/// because `cargo test` releases the build lock while the tests run. A failed build is
/// remembered: every test of the process then fails with the same message, without rebuilding.
pub fn chop_binary() -> &'static Path {
    match CHOP.get_or_init(build_chop) {
        Ok(path) => path,
        Err(message) => panic!("{message}"),
    }
}

fn build_chop() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("CHOP_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("CHOP_BIN={} is not a file", bin.display()))
        };
    }
    let profile_dir = profile_dir();
    let profile = profile_dir
        .file_name()
        .and_then(OsStr::to_str)
        .ok_or("the profile directory name is not UTF-8")?
        .to_owned();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .args(["-p", "chop-api", "--bin", "chop"])
        .arg("--target-dir")
        .arg(target_dir());
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start `{}`: {e}", describe(&cmd)))?;
    if !out.status.success() {
        return Err(format!(
            "building chop failed ({}):\n$ {}\n{}",
            out.status,
            describe(&cmd),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bin = profile_dir.join(format!("chop{}", std::env::consts::EXE_SUFFIX));
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("cargo built chop but {} is missing", bin.display()))
    }
}

/// The result of one `chop` invocation.
#[derive(Debug)]
pub struct ChopRun {
    /// The command line, for failure messages.
    pub command: String,
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output, lossily decoded.
    pub stdout: String,
    /// Standard error, lossily decoded.
    pub stderr: String,
}

impl ChopRun {
    /// Panic with the whole run (command, code, stdout, stderr) unless the exit code is 0.
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(self.code, Some(0), "chop failed:\n{self}");
        self
    }
}

impl std::fmt::Display for ChopRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit code: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        )
    }
}

/// Run `chop` with the given arguments and capture everything.
pub fn chop<I, S>(args: I) -> ChopRun
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(chop_binary());
    cmd.args(args);
    let command = describe(&cmd);
    let out = cmd.output().expect("chop can be started");
    ChopRun {
        command,
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A shell-like rendering of a command line, for failure messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run any command and capture its output, panicking only if it cannot be started.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot start `{}`: {e}", describe(cmd)))
}

/// A fresh temporary directory, removed when dropped.
pub fn temp_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("chop-tests-")
        .tempdir()
        .expect("a temporary directory can be created")
}

static RUN_DIR: OnceLock<PathBuf> = OnceLock::new();

/// The running test binary's name without cargo's hash suffix (`interop_sealable`).
fn test_binary_name() -> String {
    let exe = std::env::current_exe().expect("the test executable has a path");
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    }
}

/// A scratch directory `<target>/tmp/chop-tests/<test binary>.<pid>/<name>` for the fixtures of
/// one test process; it survives the run (to inspect a failure) and is removed by the next run
/// of the same test binary once its process has ended.
pub fn work_dir(name: &str) -> PathBuf {
    let run_dir = RUN_DIR.get_or_init(|| {
        let base = target_dir().join("tmp").join("chop-tests");
        let binary = test_binary_name();
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.flatten() {
                let stale = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix(&format!("{binary}.")))
                    .and_then(|pid| pid.parse::<u32>().ok())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists());
                if stale {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        base.join(format!("{binary}.{}", std::process::id()))
    });
    let dir = run_dir.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("old work dir can be removed");
    }
    std::fs::create_dir_all(&dir).expect("work dir can be created");
    dir
}

/// Assert that `output` begins with exactly the bytes of `original` (an incremental update
/// never rewrites the original, ISO 32000-2 §7.5.6).
#[track_caller]
pub fn assert_starts_with_original(original: &Path, output: &Path) {
    let a = std::fs::read(original).expect("original readable");
    let b = std::fs::read(output).expect("output readable");
    assert!(
        b.len() > a.len(),
        "{} ({} bytes) is not longer than the original {} ({} bytes)",
        output.display(),
        b.len(),
        original.display(),
        a.len()
    );
    if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
        panic!(
            "{} differs from the original {} at byte {i}: the original bytes must be kept unchanged",
            output.display(),
            original.display()
        );
    }
}
