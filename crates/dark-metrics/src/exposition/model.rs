//! The in-memory form of one scrape: metric families and their samples, independent of the
//! format they are written in.
//!
//! Naming follows the Prometheus text format 0.0.4 as node_exporter writes it: a family's
//! [`MetricFamily::name`] is the name its `# TYPE` line carries in 0.0.4, so a counter keeps
//! its `_total` (`node_cpu_seconds_total`). The OpenMetrics writer derives the OpenMetrics
//! family name (without `_total`) from it.
//!
//! Names, help texts, units and labels are [`Text`]: a borrowed `&'static str` when the
//! exporter knows it at compile time (most names, every help text and label name of a host
//! exporter), an owned `String` otherwise, so a scrape allocates only for what it reads.

use std::borrow::Cow;

/// A name, help text, unit, label name or label value: borrowed when it is a literal, owned
/// when it was built at run time. `"x".into()` and `String::into()` both make one.
pub type Text = Cow<'static, str>;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// A monotonically increasing value.
    Counter,
    /// A value that can go up and down.
    Gauge,
    /// Buckets, sum and count of observations.
    Histogram,
    /// A histogram of a current distribution (OpenMetrics only; 0.0.4 writes it as histogram).
    GaugeHistogram,
    /// Quantiles, sum and count of observations.
    Summary,
    /// Constant labels describing the target (OpenMetrics `info`; 0.0.4 writes a gauge).
    Info,
    /// A set of boolean states (OpenMetrics `stateset`; 0.0.4 writes a gauge).
    StateSet,
    /// No type given: 0.0.4 `untyped`, OpenMetrics `unknown`.
    Unknown,
}

impl MetricType {
    /// Every type, in declaration order.
    pub const ALL: [MetricType; 8] = [
        MetricType::Counter,
        MetricType::Gauge,
        MetricType::Histogram,
        MetricType::GaugeHistogram,
        MetricType::Summary,
        MetricType::Info,
        MetricType::StateSet,
        MetricType::Unknown,
    ];

    /// The keyword that names this type in an OpenMetrics `# TYPE` line.
    pub fn openmetrics_keyword(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }

    /// The type an OpenMetrics `# TYPE` keyword names, `None` for anything else.
    pub fn from_openmetrics_keyword(keyword: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.openmetrics_keyword() == keyword)
    }
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Appended to the family name to form the sample name: `""` for the plain value, or one
    /// of `_bucket`, `_sum`, `_count`, `_created`, `_gcount`, `_gsum`, `_info`.
    pub suffix: &'static str,
    /// Label pairs in the order they are written.
    pub labels: Vec<(Text, Text)>,
    /// The sample value.
    pub value: f64,
    /// Optional timestamp in milliseconds since the Unix epoch.
    pub timestamp_ms: Option<i64>,
}

/// A named group of samples with one type and one help text.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    /// Family name, as a 0.0.4 `# TYPE` line carries it (counters keep `_total`).
    pub name: Text,
    /// Help text, unescaped; empty means none.
    pub help: Text,
    /// Unit (OpenMetrics `# UNIT`), empty means none.
    pub unit: Text,
    /// The family's type.
    pub metric_type: MetricType,
    /// The samples, in the order they are written.
    pub samples: Vec<Sample>,
}

impl Sample {
    /// A plain sample (no suffix, no timestamp) with the given labels.
    pub fn new(labels: Vec<(Text, Text)>, value: f64) -> Self {
        Sample {
            suffix: "",
            labels,
            value,
            timestamp_ms: None,
        }
    }
}

impl MetricFamily {
    /// An empty family.
    pub fn new(name: impl Into<Text>, help: impl Into<Text>, metric_type: MetricType) -> Self {
        MetricFamily {
            name: name.into(),
            help: help.into(),
            unit: Text::Borrowed(""),
            metric_type,
            samples: Vec::new(),
        }
    }

    /// Adds a plain sample with the given labels and returns `self`, for chaining.
    pub fn with_sample(mut self, labels: Vec<(Text, Text)>, value: f64) -> Self {
        self.samples.push(Sample::new(labels, value));
        self
    }

    /// Sets the unit (OpenMetrics `# UNIT`) and returns `self`, for chaining. The writer emits
    /// the unit only when the OpenMetrics family name ends in `_<unit>`, as the format requires.
    pub fn with_unit(mut self, unit: impl Into<Text>) -> Self {
        self.unit = unit.into();
        self
    }

    /// The name the OpenMetrics `# TYPE`/`# UNIT`/`# HELP` lines carry: the name without
    /// `_total` for a counter, without `_info` for an info family, otherwise [`Self::name`].
    /// A counter whose name lacks `_total` (or is just `_total`) keeps its name and is written
    /// as `unknown`, as Go's encoder does.
    pub fn openmetrics_name(&self) -> &str {
        let suffix = match self.metric_type {
            MetricType::Counter => "_total",
            MetricType::Info => "_info",
            _ => return &self.name,
        };
        match self.name.strip_suffix(suffix) {
            Some(stem) if !stem.is_empty() => stem,
            _ => &self.name,
        }
    }

    /// Sorts the way Go's registry does before encoding, so output can be diffed against Go
    /// exporters: families by name (stable, so same-named families keep their order), each
    /// sample's labels by label name, and samples by their label values (ignoring `le` and
    /// `quantile`, and stable, so a histogram's or summary's samples stay together and in
    /// order).
    pub fn sort_for_exposition(families: &mut [MetricFamily]) {
        families.sort_by(|a, b| a.name.cmp(&b.name));
        for family in families.iter_mut() {
            for sample in &mut family.samples {
                sample.labels.sort_by(|a, b| a.0.cmp(&b.0));
            }
            family.samples.sort_by(|a, b| sort_key(a).cmp(sort_key(b)));
        }
    }

    /// Joins families that share a name, as an exporter combining several sources does: a
    /// family whose name and type match an earlier one's (in input order) appends its
    /// samples to it; one whose name is taken with another type is dropped, with a warning.
    /// Returns the families sorted by name and how many were dropped. Families are moved,
    /// never copied: a stable sort by name brings same-named ones together in input order.
    pub fn join_by_name(mut families: Vec<MetricFamily>) -> (Vec<MetricFamily>, usize) {
        families.sort_by(|a, b| a.name.cmp(&b.name));
        let mut joined: Vec<MetricFamily> = Vec::with_capacity(families.len());
        let mut dropped = 0;
        for family in families {
            match joined.last_mut() {
                Some(existing) if existing.name == family.name => {
                    if existing.metric_type == family.metric_type {
                        existing.samples.extend(family.samples);
                    } else {
                        tracing::warn!(
                            family = %family.name,
                            kept = ?existing.metric_type,
                            dropped = ?family.metric_type,
                            "two sources produced the same metric family name with different types; the later one is dropped"
                        );
                        dropped += 1;
                    }
                }
                _ => joined.push(family),
            }
        }
        (joined, dropped)
    }
}

/// A sample's label values without `le` and `quantile`, the order Go sorts metrics by.
fn sort_key(sample: &Sample) -> impl Iterator<Item = &str> + '_ {
    sample
        .labels
        .iter()
        .filter(|(name, _)| name != "le" && name != "quantile")
        .map(|(_, value)| &**value)
}

#[cfg(test)]
mod tests {
    use super::MetricType;

    #[test]
    fn openmetrics_keywords_round_trip_and_reject_the_rest() {
        for t in MetricType::ALL {
            assert_eq!(
                MetricType::from_openmetrics_keyword(t.openmetrics_keyword()),
                Some(t)
            );
        }
        for bad in ["untyped", "Counter", "", "counter ", "histogram_bucket"] {
            assert_eq!(MetricType::from_openmetrics_keyword(bad), None, "{bad:?}");
        }
    }
}
