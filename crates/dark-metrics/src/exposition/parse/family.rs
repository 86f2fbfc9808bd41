//! Family assembly: which open family a metadata line or a sample belongs to, opening and
//! closing families (with the family-count limit), and the sample-name suffixes each metric
//! type accepts in each format.

use super::{ParseErrorKind, Parser};
use crate::exposition::model::{MetricFamily, MetricType, Sample};

/// The family being filled.
pub(super) struct OpenFamily {
    /// Name as the metadata lines give it (OM family name, or 0.0.4 TYPE name).
    pub(super) meta_name: String,
    pub(super) metric_type: MetricType,
    pub(super) help: String,
    pub(super) unit: String,
    pub(super) has_type: bool,
    pub(super) has_help: bool,
    pub(super) has_unit: bool,
    /// Created from a sample without metadata: only that exact name joins it.
    pub(super) implicit: bool,
    pub(super) samples: Vec<Sample>,
}

impl OpenFamily {
    pub(super) fn new(meta_name: String, implicit: bool) -> Self {
        OpenFamily {
            meta_name,
            metric_type: MetricType::Unknown,
            help: String::new(),
            unit: String::new(),
            has_type: false,
            has_help: false,
            has_unit: false,
            implicit,
            samples: Vec::new(),
        }
    }
}

impl Parser {
    /// The open family a metadata line for `name` belongs to, opening a new one if needed.
    pub(super) fn family_for_metadata(
        &mut self,
        name: String,
        keyword: &'static str,
    ) -> Result<&mut OpenFamily, ParseErrorKind> {
        let om = self.openmetrics();
        let reuse = match &self.current {
            Some(family) if family.meta_name == name && !family.implicit => {
                let already = match keyword {
                    "HELP" => family.has_help,
                    "TYPE" => family.has_type,
                    _ => family.has_unit,
                };
                if !family.samples.is_empty() {
                    if om {
                        return Err(ParseErrorKind::MetadataAfterSamples { keyword, name });
                    }
                    false
                } else if already {
                    return Err(ParseErrorKind::DuplicateMetadata { keyword, name });
                } else {
                    true
                }
            }
            _ => false,
        };
        if !reuse {
            self.close_current()?;
            self.open_family(OpenFamily::new(name, false))?;
        }
        match self.current.as_mut() {
            Some(family) => Ok(family),
            None => Err(ParseErrorKind::InvalidMetadata { keyword }),
        }
    }

    /// Refuses a family beyond [`ParseLimits::max_families`](super::ParseLimits), checked both
    /// when a family opens and when it closes into the output.
    fn check_family_room(&self) -> Result<(), ParseErrorKind> {
        if self.families.len() >= self.limits.max_families {
            return Err(ParseErrorKind::TooManyFamilies {
                limit: self.limits.max_families,
            });
        }
        Ok(())
    }

    fn open_family(&mut self, family: OpenFamily) -> Result<(), ParseErrorKind> {
        self.check_family_room()?;
        self.current = Some(family);
        Ok(())
    }

    pub(super) fn close_current(&mut self) -> Result<(), ParseErrorKind> {
        let Some(open) = self.current.take() else {
            return Ok(());
        };
        self.check_family_room()?;
        let om = self.openmetrics();
        let name = match (om, open.metric_type) {
            (true, MetricType::Counter) => open.meta_name + "_total",
            (true, MetricType::Info) => open.meta_name + "_info",
            _ => open.meta_name,
        };
        self.families.push(MetricFamily {
            name: name.into(),
            help: open.help.into(),
            unit: open.unit.into(),
            metric_type: open.metric_type,
            samples: open.samples,
        });
        Ok(())
    }

    /// Makes the family `name` belongs to current and returns the sample's suffix.
    pub(super) fn assign_family(&mut self, name: &str) -> Result<&'static str, ParseErrorKind> {
        let om = self.openmetrics();
        if let Some(family) = &self.current {
            if let Some(suffix) = match_suffix(family, name, om)? {
                return Ok(suffix);
            }
        }
        self.close_current()?;
        self.open_family(OpenFamily::new(name.to_string(), true))?;
        Ok("")
    }
}

/// The suffix under which `name` belongs to `family`, `None` if it does not belong.
fn match_suffix(
    family: &OpenFamily,
    name: &str,
    om: bool,
) -> Result<Option<&'static str>, ParseErrorKind> {
    let base = family.meta_name.as_str();
    if family.implicit {
        return Ok((name == base).then_some(""));
    }
    let Some(tail) = name.strip_prefix(base) else {
        return Ok(None);
    };
    let allowed: &[&'static str] = match (om, family.metric_type) {
        (true, MetricType::Counter) => {
            if tail.is_empty() {
                return Err(ParseErrorKind::CounterWithoutTotal(name.to_string()));
            }
            return Ok(match tail {
                "_total" => Some(""),
                "_created" => Some("_created"),
                _ => None,
            });
        }
        (true, MetricType::Info) => {
            if tail.is_empty() {
                return Err(ParseErrorKind::InfoWithoutSuffix(name.to_string()));
            }
            return Ok((tail == "_info").then_some(""));
        }
        (true, MetricType::Histogram | MetricType::GaugeHistogram) if tail.is_empty() => {
            return Err(ParseErrorKind::BareHistogramSample(name.to_string()));
        }
        (true, MetricType::Histogram) => &["_bucket", "_count", "_sum", "_created"],
        (true, MetricType::GaugeHistogram) => &["_bucket", "_gcount", "_gsum"],
        (true, MetricType::Summary) => &["", "_count", "_sum", "_created"],
        (false, MetricType::Histogram) => &["_bucket", "_count", "_sum"],
        (false, MetricType::Summary) => &["", "_count", "_sum"],
        _ => &[""],
    };
    Ok(allowed.iter().copied().find(|suffix| *suffix == tail))
}
