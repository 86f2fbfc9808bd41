//! The host roots collectors read from (`--path.procfs`, `--path.sysfs`, `--path.rootfs`,
//! `--path.udev.data`), so tests can point every collector at a fixture tree.

use std::path::{Path, PathBuf};

/// Where the host's pseudo file systems and root file system are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPaths {
    /// procfs mount point (`/proc`).
    pub procfs: PathBuf,
    /// sysfs mount point (`/sys`).
    pub sysfs: PathBuf,
    /// The host's root file system (`/`); `/host` when running in a container.
    pub rootfs: PathBuf,
    /// udev's database of device properties (`/run/udev/data`).
    pub udev_data: PathBuf,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            procfs: PathBuf::from("/proc"),
            sysfs: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
            udev_data: PathBuf::from("/run/udev/data"),
        }
    }
}

impl HostPaths {
    /// All roots below one directory: `<base>/proc`, `<base>/sys`, `<base>/rootfs`, `<base>/udev`.
    pub fn under(base: impl AsRef<Path>) -> Self {
        let base = base.as_ref();
        HostPaths {
            procfs: base.join("proc"),
            sysfs: base.join("sys"),
            rootfs: base.join("rootfs"),
            udev_data: base.join("udev"),
        }
    }

    /// A path below the procfs root.
    pub fn proc(&self, relative: &str) -> PathBuf {
        self.procfs.join(relative)
    }

    /// A path below the sysfs root.
    pub fn sys(&self, relative: &str) -> PathBuf {
        self.sysfs.join(relative)
    }

    /// A host path (absolute, as seen by the host) below the rootfs root.
    pub fn root(&self, host_path: &str) -> PathBuf {
        self.rootfs.join(host_path.trim_start_matches('/'))
    }

    /// Strips the rootfs prefix from a mount point read from the host's mount table, so the
    /// `mountpoint` label shows the path as the host sees it.
    pub fn strip_rootfs(&self, mount_point: &str) -> String {
        let root = self.rootfs.to_string_lossy();
        let root = root.trim_end_matches('/');
        if root.is_empty() {
            return mount_point.to_string();
        }
        match mount_point.strip_prefix(root) {
            Some("") => "/".to_string(),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => mount_point.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_rootfs_keeps_host_view() {
        let mut p = HostPaths::default();
        assert_eq!(p.strip_rootfs("/var/lib"), "/var/lib");
        p.rootfs = PathBuf::from("/host");
        assert_eq!(p.strip_rootfs("/host"), "/");
        assert_eq!(p.strip_rootfs("/host/boot"), "/boot");
        assert_eq!(p.strip_rootfs("/hostile"), "/hostile");
        assert_eq!(
            p.root("/etc/os-release"),
            PathBuf::from("/host/etc/os-release")
        );
    }
}
