//! `timex` collector: the kernel clock discipline state from `adjtimex(2)` (offset,
//! frequency adjustment, error estimates, PPS statistics, synchronisation status).
//!
//! `adjtimex` is called read-only (`modes = 0`). Neither `rustix` nor `nix` wraps it, so
//! this module holds the crate's single `unsafe` call, through `libc`.

use std::sync::Arc;

use dark_metrics::exposition::MetricType;

use super::{HostCollector, CollectorOptions};
use crate::error::CollectorError;
use crate::families::Families;

/// `TIME_ERROR`: the clock is not synchronised.
const TIME_ERROR: i32 = 5;
/// `STA_NANO`: offsets are in nanoseconds rather than microseconds.
const STA_NANO: i64 = 0x2000;
/// Frequencies are in parts per million with a 16-bit fraction.
const PPM16FRAC: f64 = 1_000_000.0 * 65_536.0;

/// The `adjtimex` result fields node_exporter exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimexReading {
    /// Return value: the clock state (`TIME_OK` … `TIME_ERROR`).
    pub state: i32,
    /// `offset`.
    pub offset: i64,
    /// `freq`.
    pub freq: i64,
    /// `maxerror` (µs).
    pub maxerror: i64,
    /// `esterror` (µs).
    pub esterror: i64,
    /// `status` bits.
    pub status: i64,
    /// `constant`.
    pub constant: i64,
    /// `tick` (µs).
    pub tick: i64,
    /// `ppsfreq`.
    pub ppsfreq: i64,
    /// `jitter`.
    pub jitter: i64,
    /// `shift`.
    pub shift: i64,
    /// `stabil`.
    pub stabil: i64,
    /// `jitcnt`.
    pub jitcnt: i64,
    /// `calcnt`.
    pub calcnt: i64,
    /// `errcnt`.
    pub errcnt: i64,
    /// `stbcnt`.
    pub stbcnt: i64,
    /// `tai`.
    pub tai: i64,
}

/// Reads the kernel's clock state with a read-only `adjtimex(2)`.
#[allow(unsafe_code)]
pub fn read_timex() -> std::io::Result<TimexReading> {
    // SAFETY: `libc::timex` is a plain C struct for which all-zero bytes is a valid value;
    // `modes = 0` asks the kernel only to fill it in. The pointer is to a live, exclusively
    // borrowed local for the whole call, and the kernel writes at most size_of::<timex>().
    let mut t: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: see above; `t` outlives the call and nothing else aliases it.
    let state = unsafe { libc::adjtimex(&mut t) };
    if state < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(TimexReading {
        state,
        offset: t.offset as i64,
        freq: t.freq as i64,
        maxerror: t.maxerror as i64,
        esterror: t.esterror as i64,
        status: i64::from(t.status),
        constant: t.constant as i64,
        tick: t.tick as i64,
        ppsfreq: t.ppsfreq as i64,
        jitter: t.jitter as i64,
        shift: i64::from(t.shift),
        stabil: t.stabil as i64,
        jitcnt: t.jitcnt as i64,
        calcnt: t.calcnt as i64,
        errcnt: t.errcnt as i64,
        stbcnt: t.stbcnt as i64,
        tai: i64::from(t.tai),
    })
}

/// Adds the `node_timex_*` families for one reading.
pub fn emit(r: &TimexReading, out: &mut Families) {
    let divisor = if r.status & STA_NANO != 0 { 1e9 } else { 1e6 };
    let g = MetricType::Gauge;
    let c = MetricType::Counter;
    let rows: [(&str, MetricType, f64, &str); 17] = [
        (
            "node_timex_sync_status",
            g,
            if r.state == TIME_ERROR { 0.0 } else { 1.0 },
            "1 if the clock is synchronised to a reliable server.",
        ),
        (
            "node_timex_offset_seconds",
            g,
            r.offset as f64 / divisor,
            "Time offset between local clock and reference, in seconds.",
        ),
        (
            "node_timex_frequency_adjustment_ratio",
            g,
            1.0 + r.freq as f64 / PPM16FRAC,
            "Local clock frequency adjustment as a ratio.",
        ),
        (
            "node_timex_maxerror_seconds",
            g,
            r.maxerror as f64 / 1e6,
            "Maximum error, in seconds.",
        ),
        (
            "node_timex_estimated_error_seconds",
            g,
            r.esterror as f64 / 1e6,
            "Estimated error, in seconds.",
        ),
        (
            "node_timex_status",
            g,
            r.status as f64,
            "Clock status bits.",
        ),
        (
            "node_timex_loop_time_constant",
            g,
            r.constant as f64,
            "Phase-locked loop time constant.",
        ),
        (
            "node_timex_tick_seconds",
            g,
            r.tick as f64 / 1e6,
            "Seconds between clock ticks.",
        ),
        (
            "node_timex_pps_frequency_hertz",
            g,
            r.ppsfreq as f64 / PPM16FRAC,
            "Pulse-per-second frequency, in hertz.",
        ),
        (
            "node_timex_pps_jitter_seconds",
            g,
            r.jitter as f64 / divisor,
            "Pulse-per-second jitter, in seconds.",
        ),
        (
            "node_timex_pps_shift_seconds",
            g,
            r.shift as f64,
            "Pulse-per-second interval duration, in seconds.",
        ),
        (
            "node_timex_pps_stability_hertz",
            g,
            r.stabil as f64 / PPM16FRAC,
            "Pulse-per-second stability, average of recent frequency changes.",
        ),
        (
            "node_timex_pps_jitter_total",
            c,
            r.jitcnt as f64,
            "Pulse-per-second jitter limit exceeded events.",
        ),
        (
            "node_timex_pps_calibration_total",
            c,
            r.calcnt as f64,
            "Pulse-per-second calibration intervals.",
        ),
        (
            "node_timex_pps_error_total",
            c,
            r.errcnt as f64,
            "Pulse-per-second calibration errors.",
        ),
        (
            "node_timex_pps_stability_exceeded_total",
            c,
            r.stbcnt as f64,
            "Pulse-per-second stability limit exceeded events.",
        ),
        (
            "node_timex_tai_offset_seconds",
            g,
            r.tai as f64,
            "International Atomic Time offset from UTC, in seconds.",
        ),
    ];
    for (name, ty, v, help) in rows {
        out.add(name, help, ty, vec![], v);
    }
}

/// Exports `node_timex_*`.
pub struct TimexCollector {
    _options: Arc<CollectorOptions>,
}

impl TimexCollector {
    /// A collector calling `adjtimex(2)` (no files; `--path.*` do not apply).
    pub fn new(options: Arc<CollectorOptions>) -> Self {
        TimexCollector { _options: options }
    }
}

impl HostCollector for TimexCollector {
    fn update(&self, out: &mut Families) -> Result<(), CollectorError> {
        match read_timex() {
            Ok(r) => {
                emit(&r, out);
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => Err(
                CollectorError::NoData(format!("adjtimex not permitted: {e}")),
            ),
            Err(source) => Err(CollectorError::Syscall {
                call: "adjtimex",
                source,
            }),
        }
    }
}

/// This collector's entry in the collector table ([`super::COLLECTORS`]).
pub(crate) const REGISTRATION: super::Registration = super::Registration {
    name: "timex",
    default_enabled: true,
    build: |options| Box::new(TimexCollector::new(options)),
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::test_support::*;

    #[test]
    fn conversions() {
        let r = TimexReading {
            state: 5,
            offset: 2_000,
            freq: 65_536 * 10,
            maxerror: 16_000_000,
            tick: 10_000,
            status: 64,
            jitcnt: 3,
            ..Default::default()
        };
        let mut f = Families::new();
        emit(&r, &mut f);
        let f = f.into_sorted_vec();
        assert_eq!(value(&f, "node_timex_sync_status", &[]), 0.0);
        assert_eq!(value(&f, "node_timex_offset_seconds", &[]), 0.002);
        assert_eq!(
            value(&f, "node_timex_frequency_adjustment_ratio", &[]),
            1.00001
        );
        assert_eq!(value(&f, "node_timex_maxerror_seconds", &[]), 16.0);
        assert_eq!(value(&f, "node_timex_tick_seconds", &[]), 0.01);
        assert_eq!(
            type_of(&f, "node_timex_pps_jitter_total"),
            MetricType::Counter
        );
        let nano = TimexReading {
            status: STA_NANO,
            offset: 2_000,
            ..Default::default()
        };
        let mut g = Families::new();
        emit(&nano, &mut g);
        assert_eq!(
            value(&g.into_sorted_vec(), "node_timex_offset_seconds", &[]),
            0.000002
        );
    }

    #[test]
    fn live_call_reports_a_plausible_tick() {
        let r = read_timex().unwrap();
        // USER_HZ-independent kernel tick: between 1 µs and 1 s.
        assert!(r.tick > 0 && r.tick < 1_000_000, "{r:?}");
        assert!(run(&TimexCollector::new(fixture_options())).len() == 17);
    }
}
