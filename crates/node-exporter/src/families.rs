//! [`Families`]: the set of metric families one collector (or one whole scrape) produces,
//! keyed by family name so samples of one name always end up in one family.

use std::collections::BTreeMap;

use dark_metrics::exposition::{MetricFamily, MetricType, Sample, Text};

/// Metric families by name. Adding a sample to a name that already exists with another
/// type drops the sample (node_exporter's registry would fail the whole family instead).
#[derive(Debug, Default, Clone)]
pub struct Families {
    map: BTreeMap<Text, MetricFamily>,
}

/// A label list from literal label names and values read at run time (each value is
/// copied).
pub(crate) fn labels(pairs: &[(&'static str, &str)]) -> Vec<(Text, Text)> {
    pairs.iter().map(|&(k, v)| label(k, v.to_owned())).collect()
}

/// One label pair: a literal name and a value that is borrowed if it is a literal, moved
/// if it is an owned `String`.
pub(crate) fn label(name: &'static str, value: impl Into<Text>) -> (Text, Text) {
    (Text::Borrowed(name), value.into())
}

impl Families {
    /// An empty set.
    pub fn new() -> Self {
        Families::default()
    }

    /// Adds one sample to family `name`, creating the family with `help` and `metric_type`
    /// if it is new. Literal names and help texts are kept borrowed.
    pub fn add(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        metric_type: MetricType,
        labels: Vec<(Text, Text)>,
        value: f64,
    ) {
        let name = name.into();
        if let Some(family) = self.map.get_mut(&*name) {
            if family.metric_type != metric_type {
                tracing::warn!(
                    family = %name,
                    "sample dropped: the family already exists with another type"
                );
                return;
            }
            family.samples.push(Sample::new(labels, value));
            return;
        }
        let mut family = MetricFamily::new(name.clone(), help, metric_type);
        family.samples.push(Sample::new(labels, value));
        self.map.insert(name, family);
    }

    /// Adds a gauge sample.
    pub fn gauge(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: Vec<(Text, Text)>,
        value: f64,
    ) {
        self.add(name, help, MetricType::Gauge, labels, value);
    }

    /// Adds a counter sample (`name` keeps its `_total`).
    pub fn counter(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: Vec<(Text, Text)>,
        value: f64,
    ) {
        self.add(name, help, MetricType::Counter, labels, value);
    }

    /// Adds an untyped sample.
    pub fn untyped(
        &mut self,
        name: impl Into<Text>,
        help: impl Into<Text>,
        labels: Vec<(Text, Text)>,
        value: f64,
    ) {
        self.add(name, help, MetricType::Unknown, labels, value);
    }

    /// Inserts a whole family (used for families parsed from text files). Samples of an
    /// existing family with the same name and type are appended; a type clash drops `family`.
    pub fn insert_family(&mut self, family: MetricFamily) -> Result<(), MetricFamily> {
        match self.map.get_mut(&*family.name) {
            Some(existing) if existing.metric_type == family.metric_type => {
                existing.samples.extend(family.samples);
                Ok(())
            }
            Some(_) => Err(family),
            None => {
                self.map.insert(family.name.clone(), family);
                Ok(())
            }
        }
    }

    /// Moves every family of `other` into `self`.
    pub fn merge(&mut self, other: Families) {
        for (_, family) in other.map {
            if let Err(dropped) = self.insert_family(family) {
                tracing::warn!(family = %dropped.name, "family dropped: another collector emits it with another type");
            }
        }
    }

    /// Merges several sets (one per collector) and finishes them like
    /// [`Families::into_sorted_vec`]: families of one name and type are joined (samples in
    /// the order of `sets`), a later family whose name is taken with another type is
    /// dropped. Cheaper than [`Families::merge`] into one set: families are moved once into
    /// a vector and joined by [`MetricFamily::join_by_name`], instead of re-inserted by a
    /// copy of their name.
    pub fn merge_sorted(sets: Vec<Families>) -> Vec<MetricFamily> {
        let mut all: Vec<MetricFamily> = Vec::with_capacity(sets.iter().map(Families::len).sum());
        for set in sets {
            all.extend(set.map.into_values());
        }
        let (mut out, _dropped) = MetricFamily::join_by_name(all);
        out.retain_mut(finish_family);
        out
    }

    /// The family called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&MetricFamily> {
        self.map.get(name)
    }

    /// Number of families.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are no families.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Finishes the set the way node_exporter's registry writes it: families sorted by name,
    /// label pairs sorted by name, samples sorted by label values, duplicate label sets
    /// dropped (the first one wins), empty families left out.
    pub fn into_sorted_vec(self) -> Vec<MetricFamily> {
        let mut out: Vec<MetricFamily> = self.map.into_values().collect();
        out.retain_mut(finish_family);
        out
    }
}

/// Sorts a family's label pairs by name and its samples by label values, drops duplicate
/// label sets (the first one wins); false if no sample is left.
fn finish_family(family: &mut MetricFamily) -> bool {
    for sample in &mut family.samples {
        sample.labels.sort_by(|a, b| a.0.cmp(&b.0));
    }
    // Stable sort keeps the first of equal label sets first.
    family.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
    let before = family.samples.len();
    family
        .samples
        .dedup_by(|later, earlier| later.labels == earlier.labels);
    if family.samples.len() != before {
        tracing::warn!(family = %family.name, dropped = before - family.samples.len(),
            "duplicate label sets dropped");
    }
    !family.samples.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_dedups_like_the_go_registry() {
        let mut f = Families::new();
        f.gauge("b", "h", labels(&[("z", "1"), ("a", "2")]), 1.0);
        f.gauge("b", "h", labels(&[("a", "1"), ("z", "9")]), 2.0);
        f.gauge("b", "h", labels(&[("a", "2"), ("z", "1")]), 3.0);
        f.counter("a_total", "h", vec![], 4.0);
        f.gauge("a_total", "h", vec![], 5.0); // type clash: dropped
        let v = f.into_sorted_vec();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].name, "a_total");
        assert_eq!(v[0].samples.len(), 1);
        assert_eq!(v[0].samples[0].value, 4.0);
        assert_eq!(v[1].samples.len(), 2);
        assert_eq!(v[1].samples[0].labels, labels(&[("a", "1"), ("z", "9")]));
        assert_eq!(v[1].samples[1].value, 1.0);
    }

    #[test]
    fn merge_sorted_joins_sets_like_merging_one_by_one() {
        let mut a = Families::new();
        a.gauge("m", "h", labels(&[("dev", "b")]), 1.0);
        a.counter("c_total", "h", vec![], 2.0);
        a.gauge("e", "h", vec![], 0.0);
        let mut b = Families::new();
        b.gauge("m", "h", labels(&[("dev", "a")]), 3.0);
        b.gauge("m", "h", labels(&[("dev", "b")]), 9.0); // duplicate of a's: a's wins
        b.gauge("c_total", "h", vec![], 4.0); // type clash: dropped
        b.untyped("a", "h", vec![], 5.0);
        let mut c = Families::new();
        c.gauge("z", "h", vec![], 6.0);
        let sets = vec![a, b, Families::new(), c];
        let mut one_by_one = Families::new();
        for set in sets.clone() {
            one_by_one.merge(set);
        }
        let merged = Families::merge_sorted(sets);
        assert_eq!(merged, one_by_one.into_sorted_vec());
        let names: Vec<&str> = merged.iter().map(|f| f.name.as_ref()).collect();
        assert_eq!(names, ["a", "c_total", "e", "m", "z"]);
        assert_eq!(merged[1].samples.len(), 1);
        assert_eq!(merged[1].samples[0].value, 2.0);
        let m: Vec<f64> = merged[3].samples.iter().map(|s| s.value).collect();
        assert_eq!(m, [3.0, 1.0]);
        assert!(Families::merge_sorted(Vec::new()).is_empty());
    }
}
