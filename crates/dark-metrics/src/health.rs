//! Health files: how a process with no listening socket tells a supervisor that it is
//! healthy. A dark process cannot be probed over HTTP (there is nothing to connect to), so
//! it rewrites a small file every few seconds while its health check passes, and an exec
//! probe (`darkscrape probe --health-file F --max-age S`) fails once the file is older than
//! `S` seconds, or missing.
//!
//! This module owns both halves:
//!
//! * [`spawn_health_file`] starts the writer: a tokio task that asks a health check every
//!   interval and, while it passes, replaces the file atomically (a temporary file in the
//!   same directory, then `rename`), so its modification time is the last time the process
//!   was seen healthy. While the check fails the file is left alone and grows stale; the
//!   reason is logged once per change. The writer removes a file left by an earlier run
//!   when it starts, and removes its file when its [`HealthFile`] handle is dropped, so a
//!   stopped process never looks healthy.
//! * [`check_health_file`] is the probe's side: fresh, stale, missing, or not a health file.
//!
//! [`all_bound`] builds the check the dark servers use: every hosted service is bound on at
//! least one edge router, so a dial can reach this process. The writer task runs on the
//! process's own runtime, so a wedged runtime stops refreshing the file too.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use dark_listener::listener::BindState;

/// How often the servers of this workspace refresh their health files.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// What every health file starts with; the rest of the line is the Unix time it was written.
const MAGIC: &str = "darkscrape-healthy ";

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum HealthFileError {
    /// Not called inside a tokio runtime.
    #[error("the health file writer must start inside a tokio runtime")]
    NoRuntime,
    /// The interval is zero.
    #[error("the health file interval must be greater than zero")]
    ZeroInterval,
    /// The path names no file (it is empty, a directory, or ends in `..`).
    #[error("health file {}: not a file path", path.display())]
    NotAFile {
        /// The path given.
        path: PathBuf,
    },
    /// The file's directory cannot be written (it does not exist, or is read-only).
    #[error(
        "health file {}: cannot write in its directory ({source}); point --health-file at a \
         writable directory (in Kubernetes, an emptyDir volume)",
        path.display()
    )]
    Unwritable {
        /// The path given.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
}

/// The running writer. Keep it for as long as the process serves: dropping it stops the
/// writer and removes the file.
#[derive(Debug)]
#[must_use = "dropping the handle stops the health file writer"]
pub struct HealthFile {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl HealthFile {
    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HealthFile {
    fn drop(&mut self) {
        self.task.abort();
        if let Err(error) = fs::remove_file(&self.path) {
            if error.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), %error, "cannot remove the health file");
            }
        }
    }
}

/// Starts writing `path` every `interval` while `is_healthy` returns `Ok(())`. An `Err`
/// carries the reason, logged when health changes. The first check runs at once.
///
/// Fails at once when the directory cannot be written, so a misconfigured volume shows in
/// the process's start-up error rather than as a probe failure later. Must be called inside
/// a tokio runtime (any flavour); the file is written on its blocking pool.
pub fn spawn_health_file<F>(
    path: impl Into<PathBuf>,
    interval: Duration,
    is_healthy: F,
) -> Result<HealthFile, HealthFileError>
where
    F: Fn() -> Result<(), String> + Send + 'static,
{
    let path = path.into();
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| HealthFileError::NoRuntime)?;
    if interval.is_zero() {
        return Err(HealthFileError::ZeroInterval);
    }
    if path.file_name().is_none() || path.is_dir() {
        return Err(HealthFileError::NotAFile { path });
    }
    let unwritable = |source| HealthFileError::Unwritable {
        path: path.clone(),
        source,
    };
    match fs::remove_file(&path) {
        Ok(()) => tracing::debug!(path = %path.display(), "removed an earlier health file"),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(unwritable(error)),
    }
    // Proves the directory is writable without leaving a fresh file behind.
    let scratch = temporary_path(&path);
    fs::File::create(&scratch).map_err(unwritable)?;
    fs::remove_file(&scratch).map_err(unwritable)?;

    let task_path = path.clone();
    let task = runtime.spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last: Option<Result<(), String>> = None;
        loop {
            ticker.tick().await;
            let verdict = is_healthy();
            if last.as_ref() != Some(&verdict) {
                match &verdict {
                    Ok(()) => tracing::info!(path = %task_path.display(), "healthy: refreshing the health file"),
                    Err(reason) => tracing::warn!(
                        path = %task_path.display(),
                        %reason,
                        "unhealthy: the health file is no longer refreshed"
                    ),
                }
            }
            if verdict.is_ok() {
                let file = task_path.clone();
                match tokio::task::spawn_blocking(move || write_atomically(&file)).await {
                    Ok(Ok(())) => {}
                    Ok(Err(error)) => {
                        tracing::warn!(path = %task_path.display(), %error, "cannot write the health file")
                    }
                    Err(error) => {
                        tracing::warn!(path = %task_path.display(), %error, "the health file write did not finish")
                    }
                }
            }
            last = Some(verdict);
        }
    });
    Ok(HealthFile { path, task })
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".tmp");
    path.with_file_name(name)
}

/// Writes the file's whole content under a temporary name, then renames it over `path`:
/// a reader sees the old file or the new one, never a partial one.
fn write_atomically(path: &Path) -> std::io::Result<()> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let scratch = temporary_path(path);
    let mut file = fs::File::create(&scratch)?;
    file.write_all(format!("{MAGIC}{now}\n").as_bytes())?;
    drop(file);
    fs::rename(&scratch, path)
}

/// Why a health file does not show a healthy process.
#[derive(Debug, thiserror::Error)]
pub enum HealthCheckError {
    /// No file: the process has not been healthy since it started, or it stopped.
    #[error(
        "health file {} does not exist: the process has not been healthy since it started, \
         or it stopped",
        path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file exists but cannot be read.
    #[error("health file {}: cannot read it: {source}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What the file system said.
        source: std::io::Error,
    },
    /// The file was not written by [`spawn_health_file`].
    #[error("{} is not a darkscrape health file (it does not start with {MAGIC:?})", path.display())]
    NotAHealthFile {
        /// The file.
        path: PathBuf,
    },
    /// The file is older than allowed: the process stopped refreshing it.
    #[error(
        "health file {} is {:.1}s old (max {}s): the process stopped refreshing it (a \
         hosted service lost its binds, or the process hung; see its log)",
        path.display(),
        age.as_secs_f64(),
        max_age.as_secs()
    )]
    Stale {
        /// The file.
        path: PathBuf,
        /// Time since it was last written.
        age: Duration,
        /// The allowed age.
        max_age: Duration,
    },
}

/// Checks that `path` is a health file written at most `max_age` ago; returns its age.
pub fn check_health_file(path: &Path, max_age: Duration) -> Result<Duration, HealthCheckError> {
    let unreadable = |source| HealthCheckError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let content = match fs::read(path) {
        Ok(content) => content,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(HealthCheckError::Missing {
                path: path.to_path_buf(),
            })
        }
        Err(error) => return Err(unreadable(error)),
    };
    if !content.starts_with(MAGIC.as_bytes()) {
        return Err(HealthCheckError::NotAHealthFile {
            path: path.to_path_buf(),
        });
    }
    let modified = fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(unreadable)?;
    // A modification time ahead of the clock (the clock was set back) counts as fresh.
    let age = SystemTime::now()
        .duration_since(modified)
        .unwrap_or_default();
    if age > max_age {
        return Err(HealthCheckError::Stale {
            path: path.to_path_buf(),
            age,
            max_age,
        });
    }
    Ok(age)
}

/// The health check of a process hosting `services`: healthy while every one of them is
/// bound on at least one edge router. A controller outage alone does not make it unhealthy
/// (routers keep serving existing binds); losing every router of a service does.
pub fn all_bound(services: Vec<BindState>) -> impl Fn() -> Result<(), String> + Send + 'static {
    move || {
        let unbound: Vec<String> = services
            .iter()
            .filter(|s| s.bound_routers() == 0)
            .map(|s| match s.last_error() {
                Some(error) => format!("{:?} (last error: {error})", s.service()),
                None => format!("{:?}", s.service()),
            })
            .collect();
        if unbound.is_empty() {
            Ok(())
        } else {
            Err(format!("bound on no edge router: {}", unbound.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn backdate(path: &Path, by: Duration) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - by).unwrap();
    }

    #[test]
    fn a_fresh_file_passes_and_a_stale_one_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health");
        write_atomically(&path).unwrap();
        let age = check_health_file(&path, Duration::from_secs(30)).unwrap();
        assert!(age < Duration::from_secs(5), "{age:?}");
        backdate(&path, Duration::from_secs(31));
        let err = check_health_file(&path, Duration::from_secs(30)).unwrap_err();
        assert!(matches!(err, HealthCheckError::Stale { .. }), "{err}");
        assert!(err.to_string().contains("max 30s"), "{err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }

    #[test]
    fn a_missing_or_foreign_file_fails() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health");
        let err = check_health_file(&path, Duration::from_secs(30)).unwrap_err();
        assert!(matches!(err, HealthCheckError::Missing { .. }), "{err}");
        fs::write(&path, "ok\n").unwrap();
        let err = check_health_file(&path, Duration::from_secs(30)).unwrap_err();
        assert!(
            matches!(err, HealthCheckError::NotAHealthFile { .. }),
            "{err}"
        );
        let err = check_health_file(dir.path(), Duration::from_secs(30)).unwrap_err();
        assert!(matches!(err, HealthCheckError::Unreadable { .. }), "{err}");
    }

    #[tokio::test]
    async fn the_writer_refreshes_only_while_healthy_and_removes_the_file_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health");
        // A file left by an earlier run must not make the new process look healthy.
        fs::write(&path, format!("{MAGIC}0\n")).unwrap();
        let healthy = Arc::new(AtomicBool::new(false));
        let flag = healthy.clone();
        let writer = spawn_health_file(&path, Duration::from_millis(20), move || {
            if flag.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("not bound yet".into())
            }
        })
        .unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            matches!(
                check_health_file(&path, Duration::from_secs(30)),
                Err(HealthCheckError::Missing { .. })
            ),
            "an unhealthy process writes nothing"
        );
        healthy.store(true, Ordering::SeqCst);
        let mut written = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if check_health_file(&path, Duration::from_secs(30)).is_ok() {
                written = true;
                break;
            }
        }
        assert!(written, "a healthy process writes the file");
        // Backdated, then refreshed again while healthy.
        backdate(&path, Duration::from_secs(60));
        assert!(check_health_file(&path, Duration::from_secs(30)).is_err());
        let mut refreshed = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if check_health_file(&path, Duration::from_secs(30)).is_ok() {
                refreshed = true;
                break;
            }
        }
        assert!(refreshed, "the writer refreshes the modification time");
        // Unhealthy again: the file is left to grow stale.
        healthy.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        backdate(&path, Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(matches!(
            check_health_file(&path, Duration::from_secs(30)),
            Err(HealthCheckError::Stale { .. })
        ));
        assert_eq!(writer.path(), path);
        drop(writer);
        assert!(!path.exists(), "dropping the writer removes the file");
        assert!(
            !temporary_path(&path).exists(),
            "no temporary file is left behind"
        );
    }

    #[tokio::test]
    async fn an_unusable_path_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let missing_dir = dir.path().join("absent").join("health");
        let err = spawn_health_file(&missing_dir, DEFAULT_INTERVAL, || Ok(())).unwrap_err();
        assert!(matches!(err, HealthFileError::Unwritable { .. }), "{err}");
        assert!(err.to_string().contains("emptyDir"), "{err}");
        let err = spawn_health_file(dir.path(), DEFAULT_INTERVAL, || Ok(())).unwrap_err();
        assert!(matches!(err, HealthFileError::NotAFile { .. }), "{err}");
        let err = spawn_health_file(dir.path().join("h"), Duration::ZERO, || Ok(())).unwrap_err();
        assert!(matches!(err, HealthFileError::ZeroInterval), "{err}");
    }

    #[test]
    fn the_writer_needs_a_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let err = spawn_health_file(dir.path().join("h"), DEFAULT_INTERVAL, || Ok(())).unwrap_err();
        assert!(matches!(err, HealthFileError::NoRuntime), "{err}");
    }
}
