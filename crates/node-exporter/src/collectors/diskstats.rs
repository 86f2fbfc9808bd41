//! `diskstats` collector: per block device I/O statistics from `/proc/diskstats`, plus
//! device properties from the udev database (`--path.udev.data`).
//!
//! Sectors are the kernel's fixed 512-byte units whatever the device's real sector size;
//! times are milliseconds. Columns the running kernel does not provide are not exported.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use dark_metrics::exposition::MetricType;

use super::{HostCollector, CollectorOptions, FieldMemo};
use crate::error::CollectorError;
use crate::families::{labels, Families};
use crate::read::read_text;

const SECTOR_BYTES: f64 = 512.0;
const SECONDS_PER_MS: f64 = 0.001;

/// (metric, type, factor, help) per `/proc/diskstats` statistic column, in column order.
const COLUMNS: [(&str, MetricType, f64, &str); 17] = [
    (
        "node_disk_reads_completed_total",
        MetricType::Counter,
        1.0,
        "Reads completed.",
    ),
    (
        "node_disk_reads_merged_total",
        MetricType::Counter,
        1.0,
        "Adjacent reads merged into one.",
    ),
    (
        "node_disk_read_bytes_total",
        MetricType::Counter,
        SECTOR_BYTES,
        "Bytes read.",
    ),
    (
        "node_disk_read_time_seconds_total",
        MetricType::Counter,
        SECONDS_PER_MS,
        "Seconds spent by all reads.",
    ),
    (
        "node_disk_writes_completed_total",
        MetricType::Counter,
        1.0,
        "Writes completed.",
    ),
    (
        "node_disk_writes_merged_total",
        MetricType::Counter,
        1.0,
        "Adjacent writes merged into one.",
    ),
    (
        "node_disk_written_bytes_total",
        MetricType::Counter,
        SECTOR_BYTES,
        "Bytes written.",
    ),
    (
        "node_disk_write_time_seconds_total",
        MetricType::Counter,
        SECONDS_PER_MS,
        "Seconds spent by all writes.",
    ),
    (
        "node_disk_io_now",
        MetricType::Gauge,
        1.0,
        "I/Os in progress now.",
    ),
    (
        "node_disk_io_time_seconds_total",
        MetricType::Counter,
        SECONDS_PER_MS,
        "Seconds the device spent doing I/O.",
    ),
    (
        "node_disk_io_time_weighted_seconds_total",
        MetricType::Counter,
        SECONDS_PER_MS,
        "Seconds spent doing I/O, weighted by the number of I/Os in progress.",
    ),
    (
        "node_disk_discards_completed_total",
        MetricType::Counter,
        1.0,
        "Discards completed.",
    ),
    (
        "node_disk_discards_merged_total",
        MetricType::Counter,
        1.0,
        "Adjacent discards merged into one.",
    ),
    (
        "node_disk_discarded_sectors_total",
        MetricType::Counter,
        1.0,
        "Sectors discarded.",
    ),
    (
        "node_disk_discard_time_seconds_total",
        MetricType::Counter,
        SECONDS_PER_MS,
        "Seconds spent by all discards.",
    ),
    (
        "node_disk_flush_requests_total",
        MetricType::Counter,
        1.0,
        "Flush requests completed.",
    ),
    (
        "node_disk_flush_requests_time_seconds_total",
        MetricType::Counter,
        SECONDS_PER_MS,
        "Seconds spent by all flush requests.",
    ),
];

/// One `/proc/diskstats` line.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskLine {
    /// Major device number.
    pub major: u32,
    /// Minor device number.
    pub minor: u32,
    /// Kernel device name.
    pub name: String,
    /// The statistic columns present (11, 15 or 17 depending on the kernel).
    pub stats: Vec<u64>,
}

/// Parses `/proc/diskstats`.
pub fn parse_diskstats(path: &Path, text: &str) -> Result<Vec<DiskLine>, CollectorError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split_ascii_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 14 {
            return Err(CollectorError::parse(
                path,
                format!(
                    "line has {} fields, expected at least 14: {line:?}",
                    fields.len()
                ),
            ));
        }
        let bad = |what: &str, e: std::num::ParseIntError| {
            CollectorError::parse(path, format!("bad {what} in {line:?}: {e}"))
        };
        let major = fields[0].parse().map_err(|e| bad("major number", e))?;
        let minor = fields[1].parse().map_err(|e| bad("minor number", e))?;
        let stats = fields[3..]
            .iter()
            .map(|f| f.parse::<u64>().map_err(|e| bad("statistic", e)))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(DiskLine {
            major,
            minor,
            name: fields[2].to_string(),
            stats,
        });
    }
    Ok(out)
}

/// Reads `E:KEY=VALUE` properties of block device `major:minor` from the udev database.
/// A missing file means no properties.
fn udev_properties(udev_data: &Path, major: u32, minor: u32) -> HashMap<String, String> {
    let path = udev_data.join(format!("b{major}:{minor}"));
    let Ok(text) = read_text(&path) else {
        return HashMap::new();
    };
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Exports `node_disk_*`.
pub struct DiskstatsCollector {
    options: Arc<CollectorOptions>,
    /// Per line of the diskstats file: whether the device filter drops the device.
    ignored: FieldMemo,
}

impl DiskstatsCollector {
    /// A collector reading `<procfs>/diskstats` and the udev database.
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        DiskstatsCollector {
            options,
            ignored: FieldMemo::default(),
        }
    }
}

impl HostCollector for DiskstatsCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        let path = self.options.paths.proc("diskstats");
        let disks = parse_diskstats(&path, &read_text(&path)?)?;
        let mut ignored = self.ignored.pass();
        for disk in disks {
            let filter = &self.options.diskstats_devices;
            if ignored.get_or(&disk.name, || filter.ignored(&disk.name)) {
                continue;
            }
            let dev = disk.name.as_str();
            let info = udev_properties(&self.options.paths.udev_data, disk.major, disk.minor);
            let prop = |k: &str| info.get(k).map(String::as_str).unwrap_or("");
            out.gauge(
                "node_disk_info",
                "Block device identity; the value is always 1.",
                labels(&[
                    ("device", dev),
                    ("major", &disk.major.to_string()),
                    ("minor", &disk.minor.to_string()),
                    ("path", prop("ID_PATH")),
                    ("wwn", prop("ID_WWN")),
                    ("model", prop("ID_MODEL")),
                    ("serial", prop("ID_SERIAL_SHORT")),
                    ("revision", prop("ID_REVISION")),
                ]),
                1.0,
            );
            for ((name, ty, factor, help), raw) in COLUMNS.iter().zip(disk.stats.iter()) {
                out.add(
                    *name,
                    *help,
                    *ty,
                    labels(&[("device", dev)]),
                    *raw as f64 * factor,
                );
            }
            if !prop("ID_FS_TYPE").is_empty() {
                out.gauge(
                    "node_disk_filesystem_info",
                    "File system found on the block device by udev; the value is always 1.",
                    labels(&[
                        ("device", dev),
                        ("type", prop("ID_FS_TYPE")),
                        ("usage", prop("ID_FS_USAGE")),
                        ("uuid", prop("ID_FS_UUID")),
                        ("version", prop("ID_FS_VERSION")),
                    ]),
                    1.0,
                );
            }
            if !prop("DM_NAME").is_empty() {
                out.gauge(
                    "node_disk_device_mapper_info",
                    "Device mapper identity of the block device; the value is always 1.",
                    labels(&[
                        ("device", dev),
                        ("name", prop("DM_NAME")),
                        ("uuid", prop("DM_UUID")),
                        ("vg_name", prop("DM_VG_NAME")),
                        ("lv_name", prop("DM_LV_NAME")),
                        ("lv_layer", prop("DM_LV_LAYER")),
                    ]),
                    1.0,
                );
            }
            if !prop("ID_ATA").is_empty() {
                for (key, name, help) in [
                    (
                        "ID_ATA_WRITE_CACHE",
                        "node_disk_ata_write_cache",
                        "1 if the ATA disk has a write cache.",
                    ),
                    (
                        "ID_ATA_WRITE_CACHE_ENABLED",
                        "node_disk_ata_write_cache_enabled",
                        "1 if the ATA disk's write cache is on.",
                    ),
                    (
                        "ID_ATA_ROTATION_RATE_RPM",
                        "node_disk_ata_rotation_rate_rpm",
                        "Rotation rate of the ATA disk in RPM (0 for solid state).",
                    ),
                ] {
                    if let Some(v) = info.get(key) {
                        match v.parse::<f64>() {
                            Ok(v) => out.gauge(name, help, labels(&[("device", dev)]), v),
                            Err(e) => {
                                tracing::warn!(device = dev, key, error = %e, "unparsable udev ATA property")
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "diskstats",
    default_enabled: true,
    build: |options| Box::new(DiskstatsCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn fixture_values() {
        // vda: 36569 7310 3870490 34755 9187 31603 3294056 16115 0 11744 52100 4982 17 294800 1162 964 67
        let f = run(&DiskstatsCollector::new(fixture_options()));
        let d = [("device", "vda")];
        assert_eq!(value(&f, "node_disk_reads_completed_total", &d), 36569.0);
        assert_eq!(
            value(&f, "node_disk_read_bytes_total", &d),
            3870490.0 * 512.0
        );
        assert_eq!(value(&f, "node_disk_read_time_seconds_total", &d), 34.755);
        assert_eq!(value(&f, "node_disk_discarded_sectors_total", &d), 294800.0);
        assert_eq!(
            value(&f, "node_disk_flush_requests_time_seconds_total", &d),
            0.067
        );
        assert_eq!(type_of(&f, "node_disk_io_now"), MetricType::Gauge);
        // loop devices are excluded by default, zram0 is not.
        assert_eq!(count(&f, "node_disk_info"), 2);
        // udev fixture for 254:0 (synthetic: this VM has no udev database).
        assert_eq!(
            value(
                &f,
                "node_disk_info",
                &[
                    ("device", "vda"),
                    ("serial", "darkscrape-vda"),
                    ("major", "254")
                ]
            ),
            1.0
        );
        assert_eq!(
            value(
                &f,
                "node_disk_filesystem_info",
                &[("device", "vda"), ("type", "ext4")]
            ),
            1.0
        );
        assert_eq!(count(&f, "node_disk_device_mapper_info"), 0);
    }

    #[test]
    fn old_kernel_has_fewer_columns() {
        let lines =
            parse_diskstats(Path::new("t"), "   8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n").unwrap();
        assert_eq!(lines[0].stats.len(), 11);
    }

    #[test]
    fn malformed_lines_are_rejected() {
        for bad in [
            "8 0 sda 1 2\n",
            "x 0 sda 1 2 3 4 5 6 7 8 9 10 11\n",
            "8 0 sda 1 2 3 4 5 6 7 8 9 10 -1\n",
        ] {
            assert!(parse_diskstats(Path::new("t"), bad).is_err(), "{bad:?}");
        }
    }
}
