//! `filesystem` collector: size, free space and inodes of each mounted file system, from
//! the mount table (`/proc/1/mounts`, else `/proc/mounts`) and `statfs(2)`.
//!
//! A `statfs` on a dead network or FUSE mount can block forever. Such calls run on their own
//! thread and are given `--collector.filesystem.mount-timeout`; a mount that exceeds it is
//! reported with `node_filesystem_device_error 1` and is skipped by later scrapes until the
//! blocked call returns. File systems backed by memory or local block devices are queried
//! inline (no thread), which keeps a scrape cheap.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::{HostCollector, CollectorOptions, FieldMemo};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::read_text;

/// File system types queried inline: memory-backed or on a local block device.
const LOCAL_FS_TYPES: &[&str] = &[
    "tmpfs", "ramfs", "ext2", "ext3", "ext4", "xfs", "btrfs", "vfat", "f2fs", "exfat",
];

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MountEntry {
    /// Source device (first column).
    pub device: String,
    /// Mount point with `\040` and `\011` decoded and the rootfs prefix stripped.
    pub mount_point: String,
    /// File system type.
    pub fs_type: String,
    /// Mount options.
    pub options: String,
}

/// Parses a `/proc/<pid>/mounts` table.
pub fn parse_mounts(
    path: &Path,
    text: &str,
    strip: impl Fn(&str) -> String,
) -> Result<Vec<MountEntry>, CollectorError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_ascii_whitespace().collect();
        if parts.is_empty() {
            continue;
        }
        if parts.len() < 4 {
            return Err(CollectorError::parse(
                path,
                format!("mount line with fewer than 4 fields: {line:?}"),
            ));
        }
        let mount_point = parts[1].replace("\\040", " ").replace("\\011", "\t");
        out.push(MountEntry {
            device: parts[0].to_string(),
            mount_point: strip(&mount_point),
            fs_type: parts[2].to_string(),
            options: parts[3].to_string(),
        });
    }
    Ok(out)
}

/// Figures from one successful `statfs`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct FsFigures {
    size: f64,
    free: f64,
    avail: f64,
    files: f64,
    files_free: f64,
}

fn statfs(path: &Path) -> std::io::Result<FsFigures> {
    let s = rustix::fs::statfs(path).map_err(std::io::Error::from)?;
    let bsize = s.f_bsize as f64;
    Ok(FsFigures {
        size: s.f_blocks as f64 * bsize,
        free: s.f_bfree as f64 * bsize,
        avail: s.f_bavail as f64 * bsize,
        files: s.f_files as f64,
        files_free: s.f_ffree as f64,
    })
}

/// Exports `node_filesystem_*`.
pub struct FilesystemCollector {
    options: Arc<CollectorOptions>,
    /// Mount points whose `statfs` is still blocked.
    stuck: Arc<Mutex<HashSet<String>>>,
    /// The `statfs` call (replaceable in tests to simulate a hung mount).
    statfs: fn(&Path) -> std::io::Result<FsFigures>,
    /// Per line of the mount table: whether the mount-point and fs-type excludes drop it.
    excluded: (FieldMemo, FieldMemo),
}

impl FilesystemCollector {
    /// A collector reading the mount table below procfs and calling `statfs` below rootfs.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        FilesystemCollector {
            options,
            stuck: Arc::new(Mutex::new(HashSet::new())),
            statfs,
            excluded: Default::default(),
        }
    }

    fn is_stuck(&self, mount_point: &str) -> bool {
        crate::lock(&self.stuck).contains(mount_point)
    }

    /// `statfs` on a watched thread; `None` when it did not answer in time.
    fn watched_statfs(
        &self,
        mount_point: &str,
        path: PathBuf,
    ) -> Option<std::io::Result<FsFigures>> {
        let (tx, rx) = mpsc::channel();
        let stuck = Arc::clone(&self.stuck);
        let key = mount_point.to_string();
        let statfs = self.statfs;
        let spawned = std::thread::Builder::new()
            .name("statfs".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let result = statfs(&path);
                // Under the lock: the scrape marks the mount stuck and drops the receiver
                // under the same lock, so a failed send always follows the marking.
                let mut s = crate::lock(&stuck);
                if tx.send(result).is_err() {
                    s.remove(&key);
                    tracing::info!(mount_point = %key, "blocked statfs returned; mount is queried again");
                }
            });
        if let Err(e) = spawned {
            return Some(Err(e));
        }
        match rx.recv_timeout(self.options.filesystem_mount_timeout) {
            Ok(r) => Some(r),
            Err(_) => {
                let mut s = crate::lock(&self.stuck);
                // The answer may have arrived just after the timeout.
                if let Ok(r) = rx.try_recv() {
                    return Some(r);
                }
                s.insert(mount_point.to_string());
                drop(rx);
                tracing::warn!(
                    mount_point,
                    "statfs did not answer in time; mount marked stuck"
                );
                None
            }
        }
    }
}

impl HostCollector for FilesystemCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let paths = &self.options.paths;
        let mut table_path = paths.proc("1/mounts");
        let text = match read_text(&table_path) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => {
                table_path = paths.proc("mounts");
                read_text(&table_path)?
            }
            Err(e) => return Err(e),
        };
        let mounts = parse_mounts(&table_path, &text, |m| paths.strip_rootfs(m))?;
        let mut seen: HashSet<&MountEntry> = HashSet::new();
        let mut results: HashMap<&str, Option<FsFigures>> = HashMap::new();
        let (mut points, mut types) = (self.excluded.0.pass(), self.excluded.1.pass());
        for m in &mounts {
            let o = &self.options;
            // Both passes advance on every mount, so positions stay aligned.
            let point_out = points.is_match(&o.filesystem_mount_points_exclude, &m.mount_point);
            let type_out = types.is_match(&o.filesystem_fs_types_exclude, &m.fs_type);
            if point_out || type_out || !seen.insert(m) {
                continue;
            }
            let figures = if self.is_stuck(&m.mount_point) {
                None
            } else if let Some(f) = results.get(m.mount_point.as_str()) {
                *f
            } else {
                let target = paths.root(&m.mount_point);
                let r = if LOCAL_FS_TYPES.contains(&m.fs_type.as_str()) {
                    Some((self.statfs)(&target))
                } else {
                    self.watched_statfs(&m.mount_point, target)
                };
                let f = match r {
                    Some(Ok(f)) => Some(f),
                    Some(Err(e)) => {
                        tracing::debug!(mount_point = %m.mount_point, error = %e, "statfs failed");
                        None
                    }
                    None => None,
                };
                results.insert(&m.mount_point, f);
                f
            };
            let l = || {
                labels(&[
                    ("device", &m.device),
                    ("mountpoint", &m.mount_point),
                    ("fstype", &m.fs_type),
                ])
            };
            out.gauge(
                "node_filesystem_device_error",
                "1 if statfs failed or timed out for this file system.",
                l(),
                if figures.is_some() { 0.0 } else { 1.0 },
            );
            let Some(f) = figures else { continue };
            out.gauge(
                "node_filesystem_size_bytes",
                "File system size in bytes.",
                l(),
                f.size,
            );
            out.gauge(
                "node_filesystem_free_bytes",
                "Free bytes, including those reserved for root.",
                l(),
                f.free,
            );
            out.gauge(
                "node_filesystem_avail_bytes",
                "Bytes available to unprivileged users.",
                l(),
                f.avail,
            );
            out.gauge("node_filesystem_files", "Inodes in total.", l(), f.files);
            out.gauge(
                "node_filesystem_files_free",
                "Free inodes.",
                l(),
                f.files_free,
            );
            let ro = m.options.split(',').any(|o| o == "ro");
            out.gauge(
                "node_filesystem_readonly",
                "1 if the file system is mounted read-only.",
                l(),
                if ro { 1.0 } else { 0.0 },
            );
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "filesystem",
    default_enabled: true,
    build: |options| Box::new(FilesystemCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;
    use dark_metrics::exposition::MetricFamily;
    use std::time::Duration;

    #[test]
    fn fixture_mount_table_with_real_statfs() {
        // The fixture table lists /, /dev/shm (tmpfs, and mounted twice), /sys/fs/cgroup...
        // statfs runs below rootfs = tests/fixtures/rootfs, a directory on this disk.
        let f = run(&FilesystemCollector::new(fixture_options()));
        let root = [
            ("mountpoint", "/"),
            ("fstype", "ext4"),
            ("device", "/dev/vda"),
        ];
        assert_eq!(value(&f, "node_filesystem_device_error", &root), 0.0);
        assert_eq!(value(&f, "node_filesystem_readonly", &root), 0.0);
        let rootfs = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rootfs");
        let direct = statfs(Path::new(rootfs)).unwrap();
        assert_eq!(value(&f, "node_filesystem_size_bytes", &root), direct.size);
        assert_eq!(value(&f, "node_filesystem_files", &root), direct.files);
        // /dev, /proc and /sys mounts and cgroup types are excluded by default.
        assert!(f.iter().all(|fam| fam.samples.iter().all(|s| s
            .labels
            .iter()
            .all(|(k, v)| k != "mountpoint"
                || !(v.starts_with("/dev") || v.starts_with("/sys") || v.starts_with("/proc"))))));
        assert_eq!(count(&f, "node_filesystem_size_bytes"), 1);
    }

    #[test]
    fn decodes_escapes_and_strips_rootfs() {
        let text = "/dev/sdb1 /host/mnt/my\\040disk ext4 ro,relatime 0 0\nserver:/x /host/nfs nfs4 rw 0 0\n";
        let m = parse_mounts(Path::new("t"), text, |p| {
            let hp = crate::HostPaths {
                rootfs: PathBuf::from("/host"),
                ..Default::default()
            };
            hp.strip_rootfs(p)
        })
        .unwrap();
        assert_eq!(m[0].mount_point, "/mnt/my disk");
        assert_eq!(m[1].mount_point, "/nfs");
        assert!(parse_mounts(Path::new("t"), "a b c\n", |p| p.to_string()).is_err());
    }

    /// The `node_filesystem_device_error` value of the file system at `mountpoint`.
    fn device_error(f: &[MetricFamily], mountpoint: &str) -> f64 {
        value(f, "node_filesystem_device_error", &[("mountpoint", mountpoint)])
    }

    fn slow_statfs(_: &Path) -> std::io::Result<FsFigures> {
        std::thread::sleep(Duration::from_millis(1500));
        Ok(FsFigures {
            size: 1.0,
            free: 1.0,
            avail: 1.0,
            files: 1.0,
            files_free: 1.0,
        })
    }

    #[test]
    fn hung_statfs_marks_the_mount_stuck_until_it_returns() {
        let dir = temp_dir("fs-stuck");
        std::fs::create_dir_all(dir.join("proc/1")).unwrap();
        std::fs::write(dir.join("proc/1/mounts"), "srv:/e /nfs nfs rw 0 0\n").unwrap();
        let mut o = CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap();
        o.filesystem_mount_timeout = Duration::from_millis(200);
        let mut c = FilesystemCollector::new(Arc::new(o));
        c.statfs = slow_statfs;
        let t = std::time::Instant::now();
        let f = run(&c);
        assert!(t.elapsed() < Duration::from_secs(1));
        assert_eq!(device_error(&f, "/nfs"), 1.0);
        assert!(c.is_stuck("/nfs"));
        // Skipped at once while the call is still blocked.
        let t = std::time::Instant::now();
        let f = run(&c);
        assert!(t.elapsed() < Duration::from_millis(100));
        assert_eq!(device_error(&f, "/nfs"), 1.0);
        let waited = std::time::Instant::now();
        while c.is_stuck("/nfs") && waited.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(!c.is_stuck("/nfs"), "mount unmarked once statfs returned");
    }

    #[test]
    fn failing_statfs_reports_device_error_only() {
        let dir = temp_dir("fs-error");
        std::fs::create_dir_all(dir.join("proc/1")).unwrap();
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::write(
            dir.join("proc/1/mounts"),
            "gone /missing ext4 ro 0 0\nsrv:/e /nfs nfs rw 0 0\n",
        )
        .unwrap();
        let mut o = CollectorOptions::defaults(crate::HostPaths::under(&dir)).unwrap();
        o.filesystem_mount_timeout = Duration::from_secs(2);
        let c = FilesystemCollector::new(Arc::new(o));
        let f = run(&c);
        assert_eq!(device_error(&f, "/missing"), 1.0);
        assert_eq!(device_error(&f, "/nfs"), 1.0);
        assert_eq!(count(&f, "node_filesystem_size_bytes"), 0);
        assert!(!c.is_stuck("/nfs"), "a fast failure is not a stuck mount");
    }
}
