//! The collectors, one file each, and the table of their names and default states.
//!
//! Every collector reads only below the [`HostPaths`] roots in its [`CollectorOptions`], so
//! unit tests run it against the fixture tree in `tests/fixtures/`.

use std::sync::Arc;
use std::time::Duration;

use regex_lite::Regex;

use crate::error::{compile_regex, CollectorError, ConfigError};
use crate::families::Families;
use crate::paths::HostPaths;

/// One host collector (cpu, meminfo, …), run once per scrape. The whole set is served
/// through [`crate::NodeExporter`], which is one `dark_metrics::serve::Collector`.
pub trait HostCollector: Send + Sync {
    /// Reads the host and adds this collector's samples to `out`. An error makes the
    /// scrape report `node_scrape_collector_success{collector} 0`; samples already added
    /// are still served (as node_exporter does).
    fn update(&self, out: &mut Families) -> Result<(), CollectorError>;
}

/// Name and default state of a collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectorInfo {
    /// The name used in `--collector.<name>` and in the `collector` label.
    pub name: &'static str,
    /// Whether it runs unless disabled (node_exporter 1.5.0's default on Linux).
    pub default_enabled: bool,
}

/// What a collector's file declares about it (its `REGISTRATION` constant, beside its code):
/// its name, default state and constructor. Adding a collector is a new file with that
/// constant plus its module name in the `collectors!` list below.
#[derive(Clone, Copy)]
pub(crate) struct Registration {
    /// The name used in `--collector.<name>` and in the `collector` label; the module name.
    pub(crate) name: &'static str,
    /// Whether it runs unless disabled (node_exporter 1.5.0's default on Linux).
    pub(crate) default_enabled: bool,
    /// Creates the collector.
    pub(crate) build: fn(Arc<CollectorOptions>) -> Box<dyn HostCollector>,
}

macro_rules! collectors {
    ($($name:ident),* $(,)?) => {
        $(pub mod $name;)*

        /// Every collector's registration, in name order.
        const REGISTRY: &[Registration] = &[$($name::REGISTRATION,)*];

        /// Every collector this crate has, in name order, with node_exporter 1.5.0's
        /// default state on Linux.
        pub const COLLECTORS: &[CollectorInfo] = &[
            $(CollectorInfo {
                name: $name::REGISTRATION.name,
                default_enabled: $name::REGISTRATION.default_enabled,
            },)*
        ];

        /// `(name, "collector.<name>", "no-collector.<name>")` for every collector, for
        /// building the command-line flags.
        pub(crate) const COLLECTOR_FLAGS: &[(&str, &str, &str)] = &[
            $((stringify!($name), concat!("collector.", stringify!($name)),
               concat!("no-collector.", stringify!($name))),)*
        ];

        #[cfg(test)]
        #[test]
        fn every_registration_is_named_after_its_module() {
            $(assert_eq!($name::REGISTRATION.name, stringify!($name));)*
        }
    };
}

collectors!(
    conntrack,
    cpu,
    cpufreq,
    diskstats,
    entropy,
    filefd,
    filesystem,
    hwmon,
    loadavg,
    meminfo,
    netclass,
    netdev,
    netstat,
    os,
    powersupplyclass,
    pressure,
    sockstat,
    softnet,
    stat,
    textfile,
    thermal_zone,
    time,
    timex,
    udp_queues,
    uname,
    vmstat,
);

/// An include or exclude regular expression on device names (mutually exclusive).
#[derive(Debug, Clone, Default)]
pub struct DeviceFilter {
    exclude: Option<Regex>,
    include: Option<Regex>,
}

impl DeviceFilter {
    /// Builds a filter from the two flag values; an empty string means "not given".
    pub fn new(
        exclude_flag: &'static str,
        exclude: &str,
        include_flag: &'static str,
        include: &str,
    ) -> Result<Self, ConfigError> {
        if !exclude.is_empty() && !include.is_empty() {
            return Err(ConfigError::MutuallyExclusive(exclude_flag, include_flag));
        }
        Ok(DeviceFilter {
            exclude: (!exclude.is_empty())
                .then(|| compile_regex(exclude_flag, exclude))
                .transpose()?,
            include: (!include.is_empty())
                .then(|| compile_regex(include_flag, include))
                .transpose()?,
        })
    }

    /// Whether `name` is filtered out.
    pub fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

/// Field names a memo keeps at most; kernel files have a fixed set of a few hundred, so
/// this only bounds memory if a file under a test root keeps growing.
const FIELD_MEMO_LIMIT: usize = 4096;

/// Something worked out per field of a kernel file (a filter's verdict, the family name and
/// help text a field maps to), remembered per field position: the kernel lists the same
/// fields in the same order every scrape, so comparing the name at a position with the one
/// seen there last time replaces the work (running a regular expression, formatting and
/// interning a name) with one short comparison.
#[derive(Debug)]
pub(crate) struct FieldMemo<T = bool> {
    slots: std::sync::Mutex<Vec<(String, T)>>,
}

impl<T> Default for FieldMemo<T> {
    fn default() -> Self {
        FieldMemo {
            slots: std::sync::Mutex::new(Vec::new()),
        }
    }
}

impl<T: Clone> FieldMemo<T> {
    /// The memo for one pass over a file's fields, in file order.
    pub(crate) fn pass(&self) -> FieldPass<'_, T> {
        FieldPass {
            slots: crate::lock(&self.slots),
            position: 0,
        }
    }
}

/// One pass over a file's fields: [`FieldPass::get_or`] (or [`FieldPass::is_match`]) is
/// called once per field, in order.
pub(crate) struct FieldPass<'a, T = bool> {
    slots: std::sync::MutexGuard<'a, Vec<(String, T)>>,
    position: usize,
}

impl<T: Clone> FieldPass<'_, T> {
    /// The value for `name`, the next field of the file: from the memo when the same name
    /// stood at this position last time, else `make()` (then remembered).
    pub(crate) fn get_or(&mut self, name: &str, make: impl FnOnce() -> T) -> T {
        let position = self.position;
        self.position += 1;
        if let Some((seen, value)) = self.slots.get(position) {
            if seen == name {
                return value.clone();
            }
        }
        let value = make();
        if let Some(slot) = self.slots.get_mut(position) {
            slot.0.clear();
            slot.0.push_str(name);
            slot.1 = value.clone();
        } else if position == self.slots.len() && position < FIELD_MEMO_LIMIT {
            self.slots.push((name.to_string(), value.clone()));
        }
        value
    }
}

impl FieldPass<'_, bool> {
    /// Whether `regex` matches `name`, the next field of the file.
    pub(crate) fn is_match(&mut self, regex: &Regex, name: &str) -> bool {
        self.get_or(name, || regex.is_match(name))
    }
}

/// node_exporter 1.5.0's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter 1.5.0's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$";
/// node_exporter 1.5.0's default `--collector.diskstats.device-exclude`.
pub const DEFAULT_DISKSTATS_EXCLUDE: &str = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";
/// node_exporter 1.5.0's default `--collector.netstat.fields`.
pub const DEFAULT_NETSTAT_FIELDS: &str = "^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";
/// node_exporter 1.5.0's default `--collector.vmstat.fields`.
pub const DEFAULT_VMSTAT_FIELDS: &str = "^(oom_kill|pgpg|pswp|pg.*fault).*";

/// Everything the collectors can be configured with (built from the command line by
/// [`crate::ExporterArgs`], or directly in tests).
#[derive(Debug, Clone)]
pub struct CollectorOptions {
    /// Host roots.
    pub paths: HostPaths,
    /// cpu: also export `node_cpu_guest_seconds_total`.
    pub cpu_guest: bool,
    /// stat: also export `node_softirqs_total{vector}`.
    pub stat_softirq: bool,
    /// diskstats: device filter.
    pub diskstats_devices: DeviceFilter,
    /// filesystem: mount points left out.
    pub filesystem_mount_points_exclude: Regex,
    /// filesystem: file system types left out.
    pub filesystem_fs_types_exclude: Regex,
    /// filesystem: how long one `statfs` may take before the mount is marked stuck.
    pub filesystem_mount_timeout: Duration,
    /// netdev: device filter.
    pub netdev_devices: DeviceFilter,
    /// netdev: take the statistics netlink would give (adds `receive_nohandler`, read from
    /// sysfs); off means `/proc/net/dev` only, like `--no-collector.netdev.netlink`.
    pub netdev_netlink: bool,
    /// netdev: export the unfolded per-error statistics (incompatible names).
    pub netdev_detailed: bool,
    /// netclass: devices left out.
    pub netclass_ignored_devices: Regex,
    /// netclass: leave out a negative (unknown) speed.
    pub netclass_ignore_invalid_speed: bool,
    /// netclass: where interface properties are read.
    pub netclass_source: netclass::NetclassSource,
    /// netstat: fields exported.
    pub netstat_fields: Regex,
    /// vmstat: fields exported.
    pub vmstat_fields: Regex,
    /// powersupplyclass: supplies left out.
    pub powersupply_ignored: Regex,
    /// textfile: directories (globs allowed) holding `*.prom` files.
    pub textfile_directories: Vec<String>,
}

impl CollectorOptions {
    /// node_exporter 1.5.0's defaults, reading below `paths`.
    pub fn defaults(paths: HostPaths) -> Result<Self, ConfigError> {
        let netclass_source = netclass::NetclassSource::auto(&paths);
        Ok(CollectorOptions {
            paths,
            cpu_guest: true,
            stat_softirq: false,
            diskstats_devices: DeviceFilter::new(
                "collector.diskstats.device-exclude",
                DEFAULT_DISKSTATS_EXCLUDE,
                "collector.diskstats.device-include",
                "",
            )?,
            filesystem_mount_points_exclude: compile_regex(
                "collector.filesystem.mount-points-exclude",
                DEFAULT_MOUNT_POINTS_EXCLUDE,
            )?,
            filesystem_fs_types_exclude: compile_regex(
                "collector.filesystem.fs-types-exclude",
                DEFAULT_FS_TYPES_EXCLUDE,
            )?,
            filesystem_mount_timeout: Duration::from_secs(5),
            netdev_devices: DeviceFilter::default(),
            netdev_netlink: true,
            netdev_detailed: false,
            netclass_ignored_devices: compile_regex("collector.netclass.ignored-devices", "^$")?,
            netclass_ignore_invalid_speed: false,
            netclass_source,
            netstat_fields: compile_regex("collector.netstat.fields", DEFAULT_NETSTAT_FIELDS)?,
            vmstat_fields: compile_regex("collector.vmstat.fields", DEFAULT_VMSTAT_FIELDS)?,
            powersupply_ignored: compile_regex("collector.powersupply.ignored-supplies", "^$")?,
            textfile_directories: Vec::new(),
        })
    }
}

/// Creates the collector called `name`.
pub fn build(
    name: &str,
    options: &Arc<CollectorOptions>,
) -> Result<Box<dyn HostCollector>, ConfigError> {
    let registration = REGISTRY
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ConfigError::UnknownCollector(name.to_string()))?;
    Ok((registration.build)(Arc::clone(options)))
}

#[cfg(test)]
mod memo_tests {
    use super::*;

    #[test]
    fn the_memo_agrees_with_the_expression_when_fields_move_and_stays_bounded() {
        let regex = compile_regex("collector.vmstat.fields", DEFAULT_VMSTAT_FIELDS).unwrap();
        let memo = FieldMemo::default();
        let check = |names: &[&str]| {
            let mut pass = memo.pass();
            for name in names {
                assert_eq!(
                    pass.is_match(&regex, name),
                    regex.is_match(name),
                    "{name:?}"
                );
            }
        };
        let fields = [
            "nr_free_pages",
            "pgfault",
            "pgpgin",
            "oom_kill",
            "",
            "pgmajfault",
        ];
        check(&fields);
        check(&fields);
        // A field added in the middle (a newer kernel) shifts the rest: still right.
        check(&[
            "nr_free_pages",
            "pgfault",
            "nr_dirty",
            "pgpgin",
            "oom_kill",
            "pgmajfault",
        ]);
        check(&["pgfault"]);
        let many: Vec<String> = (0..FIELD_MEMO_LIMIT + 10)
            .map(|i| format!("pg{i}fault"))
            .collect();
        let mut pass = memo.pass();
        assert!(many.iter().all(|name| pass.is_match(&regex, name)));
        assert!(!pass.is_match(&regex, "nr_dirty"));
        drop(pass);
        assert_eq!(memo.slots.lock().unwrap().len(), FIELD_MEMO_LIMIT);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Shared helpers for the collector unit tests.

    use super::*;
    use dark_metrics::exposition::{MetricFamily, MetricType};

    /// Options reading from `tests/fixtures`.
    pub fn fixture_options() -> Arc<CollectorOptions> {
        Arc::new(
            CollectorOptions::defaults(HostPaths::under(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures"
            )))
            .unwrap(),
        )
    }

    /// The text of `tests/fixtures/{relative}`.
    pub fn fixture_text(relative: &str) -> String {
        let path = format!("{}/tests/fixtures/{relative}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(path).unwrap()
    }

    /// Runs a collector and returns its families, sorted.
    pub fn run(c: &dyn HostCollector) -> Vec<MetricFamily> {
        let mut f = Families::new();
        c.update(&mut f).unwrap();
        f.into_sorted_vec()
    }

    /// The value of the sample of `name` whose labels include all of `want`.
    pub fn value(families: &[MetricFamily], name: &str, want: &[(&str, &str)]) -> f64 {
        let fam = families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name}"));
        let s = fam
            .samples
            .iter()
            .find(|s| {
                want.iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .unwrap_or_else(|| panic!("no sample {name}{want:?}"));
        s.value
    }

    /// The type of family `name`.
    pub fn type_of(families: &[MetricFamily], name: &str) -> MetricType {
        families
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no family {name}"))
            .metric_type
    }

    /// Number of samples in family `name` (0 if absent).
    pub fn count(families: &[MetricFamily], name: &str) -> usize {
        families
            .iter()
            .find(|f| f.name == name)
            .map_or(0, |f| f.samples.len())
    }

    /// A fresh temporary directory for one test.
    pub fn temp_dir(tag: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "node-exporter-test-{}-{}-{:?}",
            tag,
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
