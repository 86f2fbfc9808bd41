//! Command-line flags in node_exporter's conventions (`--collector.<name>`,
//! `--no-collector.<name>`, `--collector.disable-defaults`, `--path.*`, per-collector
//! options), as a `clap::Args` struct the `darkscrape` binary flattens.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Arg, ArgAction, ArgMatches, Command};

use crate::collectors::netclass::NetclassSource;
use crate::collectors::{
    CollectorOptions, DeviceFilter, COLLECTORS, COLLECTOR_FLAGS, DEFAULT_DISKSTATS_EXCLUDE,
    DEFAULT_FS_TYPES_EXCLUDE, DEFAULT_MOUNT_POINTS_EXCLUDE, DEFAULT_NETSTAT_FIELDS,
    DEFAULT_VMSTAT_FIELDS,
};
use crate::error::{compile_regex, ConfigError};
use crate::exporter::NodeExporter;
use crate::paths::HostPaths;

/// Boolean options that default to on and take a `--no-` form, like kingpin booleans.
const NEGATABLE: [(&str, &str, &str, &str); 3] = [
    (
        "cpu.guest",
        "collector.cpu.guest",
        "no-collector.cpu.guest",
        "Export node_cpu_guest_seconds_total (default on).",
    ),
    (
        "netdev.netlink",
        "collector.netdev.netlink",
        "no-collector.netdev.netlink",
        "Export the statistics node_exporter reads over netlink, including receive_nohandler (default on); --no-collector.netdev.netlink reads /proc/net/dev only.",
    ),
    (
        "netclass.netlink",
        "collector.netclass.netlink",
        "no-collector.netclass.netlink",
        "Read interface properties with one rtnetlink dump instead of sysfs attribute files (default: when --path.sysfs is /sys, falling back to sysfs if netlink is refused); the values are those sysfs shows.",
    ),
];

/// `--collector.<name>` / `--no-collector.<name>` for every collector, plus the
/// negatable boolean options. Later flags override earlier ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectorToggles {
    /// Collectors explicitly enabled (`true`) or disabled (`false`) on the command line.
    pub explicit: BTreeMap<&'static str, bool>,
    /// `--[no-]collector.cpu.guest`; `None` when not given.
    pub cpu_guest: Option<bool>,
    /// `--[no-]collector.netdev.netlink`; `None` when not given.
    pub netdev_netlink: Option<bool>,
    /// `--[no-]collector.netclass.netlink`; `None` when not given.
    pub netclass_netlink: Option<bool>,
}

impl clap::FromArgMatches for CollectorToggles {
    fn from_arg_matches(m: &ArgMatches) -> Result<Self, clap::Error> {
        let state = |on: &str, off: &str| {
            if m.get_flag(on) {
                Some(true)
            } else if m.get_flag(off) {
                Some(false)
            } else {
                None
            }
        };
        let mut explicit = BTreeMap::new();
        for (name, on, off) in COLLECTOR_FLAGS {
            if let Some(v) = state(on, off) {
                explicit.insert(*name, v);
            }
        }
        Ok(CollectorToggles {
            explicit,
            cpu_guest: state(NEGATABLE[0].1, NEGATABLE[0].2),
            netdev_netlink: state(NEGATABLE[1].1, NEGATABLE[1].2),
            netclass_netlink: state(NEGATABLE[2].1, NEGATABLE[2].2),
        })
    }

    fn update_from_arg_matches(&mut self, m: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(m)?;
        Ok(())
    }
}

impl clap::Args for CollectorToggles {
    fn augment_args(mut cmd: Command) -> Command {
        let pairs = COLLECTOR_FLAGS
            .iter()
            .map(|(name, on, off)| {
                (
                    *on,
                    *off,
                    format!("Enable the {name} collector (default: enabled)."),
                )
            })
            .chain(
                NEGATABLE
                    .iter()
                    .map(|(_, on, off, help)| (*on, *off, help.to_string())),
            );
        for (on, off, help) in pairs {
            cmd = cmd
                .arg(
                    Arg::new(on)
                        .long(on)
                        .action(ArgAction::SetTrue)
                        .overrides_with(off)
                        .help(help),
                )
                .arg(
                    Arg::new(off)
                        .long(off)
                        .action(ArgAction::SetTrue)
                        .overrides_with(on)
                        .hide(true),
                );
        }
        cmd
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Self::augment_args(cmd)
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// Every flag of the node exporter.
#[derive(Debug, Clone, clap::Args)]
pub struct ExporterArgs {
    /// procfs mount point.
    #[arg(long = "path.procfs", default_value = "/proc")]
    pub procfs: PathBuf,
    /// sysfs mount point.
    #[arg(long = "path.sysfs", default_value = "/sys")]
    pub sysfs: PathBuf,
    /// Root file system of the host (e.g. /host in a container).
    #[arg(long = "path.rootfs", default_value = "/")]
    pub rootfs: PathBuf,
    /// udev's device database.
    #[arg(long = "path.udev.data", default_value = "/run/udev/data")]
    pub udev_data: PathBuf,
    /// Turn off every collector not explicitly enabled with `--collector.<name>`.
    #[arg(long = "collector.disable-defaults")]
    pub disable_defaults: bool,
    /// Deadline of each collector per scrape; a collector that misses it reports
    /// node_scrape_collector_success 0 and the rest is served.
    #[arg(long = "collector.timeout", default_value = "5s", value_parser = parse_duration)]
    pub collector_timeout: Duration,
    /// Directory (glob allowed, repeatable) with *.prom files for the textfile collector.
    #[arg(long = "collector.textfile.directory")]
    pub textfile_directory: Vec<String>,
    /// Mount points (regular expression) the filesystem collector leaves out.
    #[arg(long = "collector.filesystem.mount-points-exclude", default_value = DEFAULT_MOUNT_POINTS_EXCLUDE)]
    pub mount_points_exclude: String,
    /// File system types (regular expression) the filesystem collector leaves out.
    #[arg(long = "collector.filesystem.fs-types-exclude", default_value = DEFAULT_FS_TYPES_EXCLUDE)]
    pub fs_types_exclude: String,
    /// How long one statfs may take before its mount is reported as stuck (keep it below
    /// --collector.timeout so the other mounts are still served).
    #[arg(long = "collector.filesystem.mount-timeout", default_value = "2s", value_parser = parse_duration)]
    pub mount_timeout: Duration,
    /// Network devices (regular expression) netdev exports; excludes all others.
    #[arg(long = "collector.netdev.device-include", default_value = "")]
    pub netdev_include: String,
    /// Network devices (regular expression) netdev leaves out.
    #[arg(long = "collector.netdev.device-exclude", default_value = "")]
    pub netdev_exclude: String,
    /// Export the unfolded per-error interface statistics (names differ from the default).
    #[arg(long = "collector.netdev.enable-detailed-metrics")]
    pub netdev_detailed: bool,
    /// Block devices (regular expression) diskstats leaves out
    /// [default: partitions, loop, ram and floppy devices].
    #[arg(long = "collector.diskstats.device-exclude")]
    pub diskstats_exclude: Option<String>,
    /// Block devices (regular expression) diskstats exports; excludes all others.
    #[arg(long = "collector.diskstats.device-include", default_value = "")]
    pub diskstats_include: String,
    /// Fields (regular expression on Protocol_Field) netstat exports.
    #[arg(long = "collector.netstat.fields", default_value = DEFAULT_NETSTAT_FIELDS)]
    pub netstat_fields: String,
    /// Fields (regular expression) vmstat exports.
    #[arg(long = "collector.vmstat.fields", default_value = DEFAULT_VMSTAT_FIELDS)]
    pub vmstat_fields: String,
    /// Export softirq counts per vector (node_softirqs_total).
    #[arg(long = "collector.stat.softirq")]
    pub stat_softirq: bool,
    /// Network devices (regular expression) netclass leaves out.
    #[arg(long = "collector.netclass.ignored-devices", default_value = "^$")]
    pub netclass_ignored_devices: String,
    /// Leave out interfaces whose speed is unknown (negative).
    #[arg(long = "collector.netclass.ignore-invalid-speed")]
    pub netclass_ignore_invalid_speed: bool,
    /// Power supplies (regular expression) powersupplyclass leaves out.
    #[arg(long = "collector.powersupply.ignored-supplies", default_value = "^$")]
    pub powersupply_ignored: String,
    /// `--collector.<name>` / `--no-collector.<name>` and the negatable options.
    #[command(flatten)]
    pub toggles: CollectorToggles,
}

impl ExporterArgs {
    /// The collectors these flags enable, sorted.
    pub fn enabled_collectors(&self) -> Vec<&'static str> {
        COLLECTORS
            .iter()
            .filter(|c| {
                self.toggles
                    .explicit
                    .get(c.name)
                    .copied()
                    .unwrap_or(!self.disable_defaults && c.default_enabled)
            })
            .map(|c| c.name)
            .collect()
    }

    /// The collector options these flags describe.
    pub fn options(&self) -> Result<CollectorOptions, ConfigError> {
        let paths = HostPaths {
            procfs: self.procfs.clone(),
            sysfs: self.sysfs.clone(),
            rootfs: self.rootfs.clone(),
            udev_data: self.udev_data.clone(),
        };
        // Giving only an include pattern replaces the default exclude pattern.
        let diskstats_exclude = match (&self.diskstats_exclude, self.diskstats_include.is_empty()) {
            (Some(e), _) => e.clone(),
            (None, true) => DEFAULT_DISKSTATS_EXCLUDE.to_string(),
            (None, false) => String::new(),
        };
        let mut o = CollectorOptions::defaults(paths)?;
        o.cpu_guest = self.toggles.cpu_guest.unwrap_or(true);
        o.stat_softirq = self.stat_softirq;
        o.diskstats_devices = DeviceFilter::new(
            "collector.diskstats.device-exclude",
            &diskstats_exclude,
            "collector.diskstats.device-include",
            &self.diskstats_include,
        )?;
        o.filesystem_mount_points_exclude = compile_regex(
            "collector.filesystem.mount-points-exclude",
            &self.mount_points_exclude,
        )?;
        o.filesystem_fs_types_exclude = compile_regex(
            "collector.filesystem.fs-types-exclude",
            &self.fs_types_exclude,
        )?;
        o.filesystem_mount_timeout = self.mount_timeout;
        o.netdev_devices = DeviceFilter::new(
            "collector.netdev.device-exclude",
            &self.netdev_exclude,
            "collector.netdev.device-include",
            &self.netdev_include,
        )?;
        o.netdev_netlink = self.toggles.netdev_netlink.unwrap_or(true);
        o.netdev_detailed = self.netdev_detailed;
        o.netclass_ignored_devices = compile_regex(
            "collector.netclass.ignored-devices",
            &self.netclass_ignored_devices,
        )?;
        o.netclass_ignore_invalid_speed = self.netclass_ignore_invalid_speed;
        o.netclass_source = match self.toggles.netclass_netlink {
            None => NetclassSource::auto(&o.paths),
            Some(true) => NetclassSource::Netlink,
            Some(false) => NetclassSource::Sysfs,
        };
        o.netstat_fields = compile_regex("collector.netstat.fields", &self.netstat_fields)?;
        o.vmstat_fields = compile_regex("collector.vmstat.fields", &self.vmstat_fields)?;
        o.powersupply_ignored = compile_regex(
            "collector.powersupply.ignored-supplies",
            &self.powersupply_ignored,
        )?;
        o.textfile_directories = self.textfile_directory.clone();
        Ok(o)
    }

    /// Builds the exporter these flags describe.
    pub fn build(&self) -> Result<NodeExporter, ConfigError> {
        if self.collector_timeout.is_zero() {
            return Err(ConfigError::Duration {
                flag: "collector.timeout",
                value: "0s".into(),
                detail: "must be greater than zero".into(),
            });
        }
        NodeExporter::new(
            &self.enabled_collectors(),
            self.options()?,
            self.collector_timeout,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ExporterArgs,
    }

    fn parse(argv: &[&str]) -> ExporterArgs {
        Cli::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn defaults_enable_every_collector() {
        let a = parse(&[]);
        assert_eq!(a.enabled_collectors().len(), COLLECTORS.len());
        assert_eq!(a.collector_timeout, Duration::from_secs(5));
        assert!(a.options().unwrap().netdev_netlink);
        assert_eq!(a.options().unwrap().netclass_source, NetclassSource::Auto);
        // Another sysfs is another host's (or namespace's): netlink would not describe it.
        let a = parse(&["--path.sysfs", "/host/sys"]);
        assert_eq!(a.options().unwrap().netclass_source, NetclassSource::Sysfs);
    }

    #[test]
    fn toggles_follow_node_exporter_conventions() {
        let a = parse(&[
            "--no-collector.hwmon",
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.time",
        ]);
        assert_eq!(a.enabled_collectors(), vec!["cpu", "time"]);
        let a = parse(&[
            "--no-collector.cpu",
            "--collector.cpu",
            "--no-collector.netdev.netlink",
        ]);
        assert!(
            a.enabled_collectors().contains(&"cpu"),
            "the later flag wins"
        );
        assert!(!a.options().unwrap().netdev_netlink);
        let a = parse(&["--no-collector.netclass.netlink"]);
        assert_eq!(a.options().unwrap().netclass_source, NetclassSource::Sysfs);
        let a = parse(&["--collector.netclass.netlink", "--path.sysfs", "/host/sys"]);
        assert_eq!(
            a.options().unwrap().netclass_source,
            NetclassSource::Netlink
        );
        let a = parse(&["--collector.cpu", "--no-collector.cpu"]);
        assert!(!a.enabled_collectors().contains(&"cpu"));
    }

    #[test]
    fn bad_values_are_config_errors() {
        let a = parse(&["--collector.netstat.fields", "("]);
        assert!(matches!(
            a.options().unwrap_err(),
            ConfigError::Regex {
                flag: "collector.netstat.fields",
                ..
            }
        ));
        let a = parse(&[
            "--collector.netdev.device-include",
            "eth",
            "--collector.netdev.device-exclude",
            "lo",
        ]);
        assert!(matches!(
            a.options().unwrap_err(),
            ConfigError::MutuallyExclusive(..)
        ));
        assert!(Cli::try_parse_from(["x", "--collector.timeout", "soon"]).is_err());
        let a = parse(&["--collector.timeout", "0s"]);
        assert!(a.build().is_err());
        // An include pattern alone replaces the default exclude.
        let a = parse(&["--collector.diskstats.device-include", "^vd"]);
        assert!(a.options().is_ok());
    }

    #[test]
    fn paths_and_textfile_dirs() {
        let a = parse(&[
            "--path.procfs",
            "/host/proc",
            "--collector.textfile.directory",
            "/a",
            "--collector.textfile.directory",
            "/b/*",
        ]);
        let o = a.options().unwrap();
        assert_eq!(o.paths.procfs, PathBuf::from("/host/proc"));
        assert_eq!(o.textfile_directories, vec!["/a", "/b/*"]);
    }
}
