//! `GET /federate?match[]=…`: the scrape loop's latest samples, selected with PromQL
//! selectors, as Prometheus's own `/federate` serves them, streamed.
//!
//! * **Selectors** ([`FederateQuery::parse`]): each `match[]` is an instant-vector selector,
//!   parsed by the `promql-parser` crate (the parser of GreptimeDB; its regexes are anchored
//!   and a selector whose matchers all match the empty string is refused, as Prometheus's).
//!   The result is the union. With no `match[]` the answer is an error that says why, unless
//!   the gateway allows everything (`--federate-allow-all`).
//! * **Series**: every scraped series with its exported labels (a clash with a target label
//!   renames the exported one `exported_<name>`, as Prometheus does without `honor_labels`),
//!   the target labels (`job`, `instance`, `ziti_*`) and the external labels where missing; per
//!   target also `up`, `scrape_duration_seconds`, `scrape_samples_scraped` and the reason
//!   series. Samples carry their scrape's timestamp (or their own).
//! * **Families** are sorted by name, one family per name, and keep HELP and TYPE (Prometheus
//!   drops them). When a selector takes only part of a histogram or summary, the samples taken
//!   are served as `untyped` families per sample name, so the output stays valid.
//! * **Output**: text 0.0.4, gzip-compressed when `Accept-Encoding` allows it, written family
//!   by family on a blocking thread into a bounded channel: memory holds one family and a
//!   few 64 KiB chunks, not the answer.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use bytes::Bytes;
use dark_metrics::exposition::{write_text_metadata, write_text_samples};
use dark_metrics::exposition::{MetricFamily, MetricType, Sample, Text, WriteOptions};
use hyper::body::Frame;
use promql_parser::label::Matcher;
use promql_parser::parser::{Expr, VectorSelector};
use tokio::sync::mpsc;

use crate::discovery::{ATTRIBUTES_LABEL, SERVICE_LABEL, TERMINATOR_LABEL};
use crate::scrape_loop::ScrapedTarget;

/// Content type of the answer.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Size of the chunks the answer is sent in.
const CHUNK: usize = 64 * 1024;

/// Why a `/federate` request is refused (answered 400 with this message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No `match[]` and the gateway does not allow everything.
    #[error("no match[] given: name the series to federate, e.g. match[]={{job=\"dark\"}}, or start the gateway with --federate-allow-all to serve everything without one")]
    NoMatch,
    /// A `match[]` that does not parse.
    #[error("match[]={selector:?}: {message}")]
    Parse {
        /// The selector as given.
        selector: String,
        /// The parser's message.
        message: String,
    },
    /// A `match[]` that parses but is not a plain instant-vector selector.
    #[error("match[]={0:?} is not an instant-vector selector (no functions, operators, ranges, offset or @)")]
    NotASelector(String),
}

/// The series a request selects.
#[derive(Debug, Clone)]
pub struct FederateQuery {
    /// `None`: everything (allowed by the gateway's flag).
    selectors: Option<Vec<VectorSelector>>,
}

impl FederateQuery {
    /// Reads the `match[]` parameters of a query string.
    pub fn parse(query: Option<&str>, allow_all: bool) -> Result<Self, QueryError> {
        let mut selectors = Vec::new();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if key != "match[]" {
                continue;
            }
            let expr =
                promql_parser::parser::parse(&value).map_err(|message| QueryError::Parse {
                    selector: value.to_string(),
                    message: message.trim().to_string(),
                })?;
            match expr {
                Expr::VectorSelector(selector)
                    if selector.offset.is_none() && selector.at.is_none() =>
                {
                    selectors.push(selector)
                }
                _ => return Err(QueryError::NotASelector(value.to_string())),
            }
        }
        if selectors.is_empty() {
            return if allow_all {
                Ok(FederateQuery { selectors: None })
            } else {
                Err(QueryError::NoMatch)
            };
        }
        Ok(FederateQuery {
            selectors: Some(selectors),
        })
    }

    /// Whether a series with this name and these labels (absent labels read as empty) is
    /// selected.
    pub fn selects(&self, name: &str, labels: &[(Text, Text)]) -> bool {
        self.selects_with(name, |label| {
            labels
                .iter()
                .find(|(k, _)| k == label)
                .map_or("", |(_, v)| v.as_ref())
        })
    }

    /// [`FederateQuery::selects`] with the labels read through `value_of` (absent: `""`).
    fn selects_with<'a>(&self, name: &'a str, value_of: impl Fn(&str) -> &'a str) -> bool {
        let Some(selectors) = &self.selectors else {
            return true;
        };
        let value = |label: &str| -> &str {
            if label == "__name__" {
                name
            } else {
                value_of(label)
            }
        };
        let all = |matchers: &[Matcher]| matchers.iter().all(|m| m.is_match(value(&m.name)));
        selectors.iter().any(|selector| {
            selector.name.as_deref().is_none_or(|n| n == name)
                && (all(&selector.matchers.matchers)
                    && (selector.matchers.or_matchers.is_empty()
                        || selector.matchers.or_matchers.iter().any(|group| all(group))))
        })
    }
}

/// What `/federate` adds to every series.
#[derive(Debug, Clone)]
pub struct FederationLabels {
    /// The `job` label of the gateway's targets (default `dark`).
    pub job: String,
    /// External labels, added where a series lacks them.
    pub external: Vec<(String, String)>,
}

impl Default for FederationLabels {
    fn default() -> Self {
        FederationLabels {
            job: "dark".to_string(),
            external: Vec::new(),
        }
    }
}

/// The target labels of one scraped target, sorted by name.
fn target_labels(target: &ScrapedTarget, labels: &FederationLabels) -> Vec<(Text, Text)> {
    let address = &target.target.address;
    let mut out: Vec<(Text, Text)> = vec![
        ("instance".into(), address.instance().into()),
        ("job".into(), labels.job.clone().into()),
        (SERVICE_LABEL.into(), address.service.clone().into()),
    ];
    if let Some(terminator) = &address.terminator {
        out.push((TERMINATOR_LABEL.into(), terminator.clone().into()));
    }
    if !target.target.attributes.is_empty() {
        out.push((
            ATTRIBUTES_LABEL.into(),
            format!(",{},", target.target.attributes.join(",")).into(),
        ));
    }
    out.sort();
    out
}

/// The exported labels, renamed where they clash with a target label, then the target and
/// external labels.
fn series_labels(
    exported: &[(Text, Text)],
    target: &[(Text, Text)],
    external: &[(String, String)],
) -> Vec<(Text, Text)> {
    let mut out: Vec<(Text, Text)> =
        Vec::with_capacity(exported.len() + target.len() + external.len());
    for (name, value) in exported {
        if target.iter().any(|(t, _)| t == name) {
            out.push((format!("exported_{name}").into(), value.clone()));
        } else {
            out.push((name.clone(), value.clone()));
        }
    }
    out.extend(target.iter().cloned());
    for (name, value) in external {
        if !out.iter().any(|(k, _)| k == name) {
            out.push((name.clone().into(), value.clone().into()));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The value `label` has in [`series_labels`]`(exported, target, external)`, without
/// building the set (`""` when absent).
fn merged_value<'a>(
    exported: &'a [(Text, Text)],
    target: &'a [(Text, Text)],
    external: &'a [(String, String)],
    label: &str,
) -> &'a str {
    let find = |set: &'a [(Text, Text)], name: &str| {
        set.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    };
    if let Some(value) = find(target, label) {
        return value;
    }
    if let Some(renamed) = label.strip_prefix("exported_") {
        if find(target, renamed).is_some() {
            if let Some(value) = find(exported, renamed) {
                return value;
            }
        }
    }
    if let Some(value) = find(exported, label) {
        return value;
    }
    external
        .iter()
        .find(|(k, _)| k == label)
        .map_or("", |(_, v)| v.as_str())
}

/// The per-target series Prometheus records for a target, and the reason series.
fn target_families(targets: &[Arc<ScrapedTarget>], labels: &FederationLabels) -> Vec<MetricFamily> {
    let mut up = MetricFamily::new(
        "up",
        "1 if the target's last scrape by the gateway succeeded.",
        MetricType::Gauge,
    );
    let mut duration = MetricFamily::new(
        "scrape_duration_seconds",
        "Duration of the target's last scrape by the gateway.",
        MetricType::Gauge,
    );
    let mut samples = MetricFamily::new(
        "scrape_samples_scraped",
        "Samples the target's last scrape by the gateway returned.",
        MetricType::Gauge,
    );
    let mut errors = MetricFamily::new(
        "darkscrape_federate_last_scrape_error",
        "1 for each target whose last scrape failed, with the reason.",
        MetricType::Gauge,
    );
    for target in targets {
        let base = target_labels(target, labels);
        let with = |family: &mut MetricFamily, value: f64, extra: Option<(Text, Text)>| {
            let mut exported = Vec::new();
            exported.extend(extra);
            family.samples.push(Sample {
                suffix: "",
                labels: series_labels(&exported, &base, &labels.external),
                value,
                timestamp_ms: Some(target.timestamp_ms),
            });
        };
        with(
            &mut up,
            if target.failure.is_none() { 1.0 } else { 0.0 },
            None,
        );
        with(&mut duration, target.duration.as_secs_f64(), None);
        with(&mut samples, target.samples as f64, None);
        if let Some((reason, _)) = &target.failure {
            with(&mut errors, 1.0, Some(("reason".into(), (*reason).into())));
        }
    }
    vec![up, duration, samples, errors]
}

/// One family of one target, or of the per-target series (`target: None`, labels complete).
struct FamilyRef<'a> {
    family: &'a MetricFamily,
    target: Option<(&'a ScrapedTarget, Vec<(Text, Text)>)>,
}

/// Samples written per batch inside one family.
const BATCH: usize = 1024;

/// The answer being written: a buffer handed to the sink whenever it passes [`CHUNK`].
struct ChunkWriter<'s> {
    buffer: Vec<u8>,
    sink: &'s mut dyn FnMut(&[u8]) -> std::io::Result<()>,
}

impl ChunkWriter<'_> {
    fn flush_if_full(&mut self) -> std::io::Result<()> {
        if self.buffer.len() >= CHUNK {
            (self.sink)(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    fn finish(self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            (self.sink)(&self.buffer)?;
        }
        Ok(())
    }
}

/// Writes the selected series of `targets` in text 0.0.4 to `sink` in chunks of about
/// 64 KiB; memory holds one batch of samples, never a whole family.
pub fn write_federation(
    targets: &[Arc<ScrapedTarget>],
    query: &FederateQuery,
    labels: &FederationLabels,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let meta = target_families(targets, labels);
    let mut refs: Vec<FamilyRef<'_>> = Vec::new();
    for target in targets {
        let base = target_labels(target, labels);
        for family in &target.families {
            refs.push(FamilyRef {
                family,
                target: Some((target, base.clone())),
            });
        }
    }
    for family in &meta {
        refs.push(FamilyRef {
            family,
            target: None,
        });
    }
    refs.sort_by(|a, b| a.family.name.cmp(&b.family.name));
    let mut writer = ChunkWriter {
        buffer: Vec::with_capacity(CHUNK + 4096),
        sink,
    };
    let mut start = 0;
    while start < refs.len() {
        let name = &refs[start].family.name;
        let end = start
            + refs[start..]
                .iter()
                .take_while(|r| &r.family.name == name)
                .count();
        write_group(&refs[start..end], query, labels, &mut writer)?;
        start = end;
    }
    writer.finish()
}

/// Whether `sample` of `r` is selected.
fn is_selected(
    r: &FamilyRef<'_>,
    sample: &Sample,
    query: &FederateQuery,
    labels: &FederationLabels,
) -> bool {
    let sample_name: std::borrow::Cow<'_, str> = if sample.suffix.is_empty() {
        std::borrow::Cow::Borrowed(&r.family.name)
    } else {
        std::borrow::Cow::Owned(format!("{}{}", r.family.name, sample.suffix))
    };
    match &r.target {
        Some((_, base)) => query.selects_with(&sample_name, |label| {
            merged_value(&sample.labels, base, &labels.external, label)
        }),
        None => query.selects(&sample_name, &sample.labels),
    }
}

/// Writes the selected samples of one name's families (from every target): a first pass
/// counts what is selected (without building labels), a second writes it in batches.
fn write_group(
    group: &[FamilyRef<'_>],
    query: &FederateQuery,
    labels: &FederationLabels,
    writer: &mut ChunkWriter<'_>,
) -> std::io::Result<()> {
    let first = group[0].family;
    let same_type = group
        .iter()
        .all(|r| r.family.metric_type == first.metric_type);
    let mut total = 0usize;
    let mut selected = 0usize;
    let mut suffixes: BTreeSet<&'static str> = BTreeSet::new();
    for r in group {
        total += r.family.samples.len();
        for sample in &r.family.samples {
            if is_selected(r, sample, query, labels) {
                selected += 1;
                suffixes.insert(sample.suffix);
            }
        }
    }
    if selected == 0 {
        return Ok(());
    }
    let typed = same_type && (selected == total || (suffixes.len() == 1 && suffixes.contains("")));
    let options = WriteOptions::default();
    // Typed: one family, every suffix. Otherwise untyped, one family per sample name.
    let parts: Vec<(MetricFamily, Option<&'static str>)> = if typed {
        vec![(
            MetricFamily {
                name: first.name.clone(),
                help: first.help.clone(),
                unit: first.unit.clone(),
                metric_type: first.metric_type,
                samples: Vec::new(),
            },
            None,
        )]
    } else {
        suffixes
            .iter()
            .map(|suffix| {
                (
                    MetricFamily {
                        name: format!("{}{suffix}", first.name).into(),
                        help: first.help.clone(),
                        unit: Text::Borrowed(""),
                        metric_type: MetricType::Unknown,
                        samples: Vec::new(),
                    },
                    Some(*suffix),
                )
            })
            .collect()
    };
    for (family, only) in &parts {
        write_text_metadata(&mut writer.buffer, family, &options);
        let mut batch: Vec<Sample> = Vec::with_capacity(BATCH.min(selected));
        for r in group {
            for sample in &r.family.samples {
                if only.is_some_and(|suffix| suffix != sample.suffix)
                    || !is_selected(r, sample, query, labels)
                {
                    continue;
                }
                let (labels_out, timestamp_ms) = match &r.target {
                    Some((target, base)) => (
                        series_labels(&sample.labels, base, &labels.external),
                        sample.timestamp_ms.or(Some(target.timestamp_ms)),
                    ),
                    None => (sample.labels.clone(), sample.timestamp_ms),
                };
                batch.push(Sample {
                    suffix: if only.is_some() { "" } else { sample.suffix },
                    labels: labels_out,
                    value: sample.value,
                    timestamp_ms,
                });
                if batch.len() == BATCH {
                    write_text_samples(&mut writer.buffer, family, &batch, &options);
                    batch.clear();
                    writer.flush_if_full()?;
                }
            }
        }
        write_text_samples(&mut writer.buffer, family, &batch, &options);
        writer.flush_if_full()?;
    }
    Ok(())
}

/// A response body fed by a channel of chunks.
#[derive(Debug)]
pub struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|c| Ok(Frame::data(c))))
    }
}

/// Starts writing the answer on a blocking thread and returns its body: plain, or gzip at
/// `gzip_level`.
pub fn stream_federation(
    targets: Vec<Arc<ScrapedTarget>>,
    query: FederateQuery,
    labels: FederationLabels,
    gzip_level: Option<u32>,
) -> ChannelBody {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    tokio::task::spawn_blocking(move || {
        let send = |bytes: &[u8]| {
            tx.blocking_send(Bytes::copy_from_slice(bytes))
                .map_err(|_| {
                    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
                })
        };
        let result = match gzip_level {
            None => write_federation(&targets, &query, &labels, &mut |chunk| send(chunk)),
            Some(level) => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(CHUNK),
                    flate2::Compression::new(level),
                );
                let written = write_federation(&targets, &query, &labels, &mut |chunk| {
                    encoder.write_all(chunk)?;
                    if encoder.get_ref().len() >= CHUNK {
                        send(encoder.get_ref())?;
                        encoder.get_mut().clear();
                    }
                    Ok(())
                });
                written
                    .and_then(|()| encoder.finish())
                    .and_then(|rest| send(&rest))
            }
        };
        if let Err(error) = result {
            tracing::debug!(%error, "/federate answer not finished");
        }
    });
    ChannelBody(rx)
}

#[cfg(test)]
#[path = "federation_tests.rs"]
mod tests;
