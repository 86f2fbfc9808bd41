//! Tests of `/federate`: selector semantics, the golden external-label vector of the
//! reference notes, family merging, and chunked writing.

use super::*;
use crate::address::TargetAddress;
use crate::discovery::DiscoveredTarget;
use dark_metrics::exposition::parse::parse_text;
use std::time::Duration;

fn query(selectors: &[&str]) -> Result<FederateQuery, QueryError> {
    let mut text = form_urlencoded::Serializer::new(String::new());
    for s in selectors {
        text.append_pair("match[]", s);
    }
    FederateQuery::parse(Some(&text.finish()), false)
}

fn target(address: TargetAddress, exposition: &str, timestamp_ms: i64) -> Arc<ScrapedTarget> {
    Arc::new(ScrapedTarget {
        target: DiscoveredTarget {
            address,
            attributes: vec![],
        },
        families: parse_text(exposition).unwrap(),
        timestamp_ms,
        duration: Duration::from_millis(5),
        failure: None,
        samples: 0,
    })
}

fn render(targets: &[Arc<ScrapedTarget>], q: &FederateQuery, labels: &FederationLabels) -> String {
    let mut out = Vec::new();
    write_federation(targets, q, labels, &mut |chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn selectors_follow_promql_rules() {
    let q = query(&["up", "{job=\"api\"}"]).unwrap();
    assert!(q.selects("up", &[]));
    assert!(q.selects("other", &[("job".into(), "api".into())]));
    assert!(!q.selects("other", &[("job".into(), "api-2".into())]));
    // Regexes are anchored.
    let q = query(&["{__name__=~\"job:.*\"}"]).unwrap();
    assert!(q.selects("job:rate5m", &[]));
    assert!(!q.selects("xjob:rate5m", &[]));
    // Absent labels read as empty.
    let q = query(&["foo{bar=\"\"}"]).unwrap();
    assert!(q.selects("foo", &[]));
    assert!(!q.selects("foo", &[("bar".into(), "x".into())]));
    // Every matcher matching the empty string is refused; `.+` is fine.
    assert!(matches!(
        query(&["{__name__=~\".*\"}"]),
        Err(QueryError::Parse { .. })
    ));
    assert!(query(&["{__name__=~\".+\"}"]).is_ok());
    // Parser messages are passed on; expressions that are no selectors are refused.
    let err = query(&["up{"]).unwrap_err();
    assert!(matches!(err, QueryError::Parse { .. }), "{err}");
    assert!(matches!(
        query(&["rate(up[5m])"]),
        Err(QueryError::NotASelector(_))
    ));
    assert!(matches!(
        query(&["up offset 5m"]),
        Err(QueryError::NotASelector(_))
    ));
    // No match[]: an error that says why, unless everything is allowed.
    assert_eq!(query(&[]).unwrap_err(), QueryError::NoMatch);
    assert!(QueryError::NoMatch
        .to_string()
        .contains("--federate-allow-all"));
    assert!(FederateQuery::parse(Some("other=1"), true)
        .unwrap()
        .selects("x", &[]));
}

/// The external-label vector of Prometheus's `web/federate_test.go` as the reference
/// notes give it (external labels `foo=baz,zone=ie`): a series keeps its own `foo` and
/// gains `zone`; the sample keeps its timestamp. (Prometheus appends the external labels
/// after the sorted series labels; here all labels are sorted, which it ingests alike.)
#[test]
fn external_labels_are_added_where_missing() {
    let labels = FederationLabels {
        job: "dark".into(),
        external: vec![("foo".into(), "baz".into()), ("zone".into(), "ie".into())],
    };
    let t = target(
        TargetAddress::service("svc"),
        "# TYPE test_metric1 untyped\ntest_metric1{foo=\"bar\"} 10000 6000000\n",
        7_000_000,
    );
    let text = render(&[t], &query(&["test_metric1"]).unwrap(), &labels);
    assert_eq!(
        text,
        "# TYPE test_metric1 untyped\n\
         test_metric1{foo=\"bar\",instance=\"svc\",job=\"dark\",ziti_service=\"svc\",zone=\"ie\"} 10000 6000000\n"
    );
}

#[test]
fn families_merge_by_name_keep_help_and_type_and_carry_scrape_timestamps() {
    let labels = FederationLabels {
        job: "dark".into(),
        external: vec![],
    };
    let a = target(
        TargetAddress::hosted_by("m", "a"),
        "# HELP req_total Requests.\n# TYPE req_total counter\nreq_total{instance=\"x\"} 1\n\
         # HELP lat Latency.\n# TYPE lat histogram\nlat_bucket{le=\"1\"} 1\nlat_bucket{le=\"+Inf\"} 2\nlat_sum 3\nlat_count 2\n",
        1000,
    );
    let b = target(
        TargetAddress::hosted_by("m", "b"),
        "# HELP req_total Requests.\n# TYPE req_total counter\nreq_total 5\n",
        2000,
    );
    let everything = FederateQuery::parse(None, true).unwrap();
    let text = render(&[a.clone(), b.clone()], &everything, &labels);
    // One family per name, sorted; exported `instance` renamed; scrape timestamps.
    assert!(text.contains(
        "# HELP req_total Requests.\n# TYPE req_total counter\n\
         req_total{exported_instance=\"x\",instance=\"a@m\",job=\"dark\",ziti_service=\"m\",ziti_terminator=\"a\"} 1 1000\n\
         req_total{instance=\"b@m\",job=\"dark\",ziti_service=\"m\",ziti_terminator=\"b\"} 5 2000\n"
    ), "{text}");
    assert!(text.contains("# TYPE lat histogram\n"), "{text}");
    assert!(
        text.contains(
            "up{instance=\"a@m\",job=\"dark\",ziti_service=\"m\",ziti_terminator=\"a\"} 1 1000\n"
        ),
        "{text}"
    );
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
    // Part of a histogram is served untyped, per sample name.
    let text = render(&[a], &query(&["lat_count"]).unwrap(), &labels);
    assert_eq!(
        text,
        "# HELP lat_count Latency.\n# TYPE lat_count untyped\n\
         lat_count{instance=\"a@m\",job=\"dark\",ziti_service=\"m\",ziti_terminator=\"a\"} 2 1000\n"
    );
    // The output parses back.
    let text = render(&[b], &everything, &labels);
    parse_text(&text).unwrap();
}

#[test]
fn one_large_family_is_written_in_chunks() {
    let mut exposition = String::from("# TYPE big gauge\n");
    for i in 0..20_000 {
        exposition.push_str(&format!(
            "big{{series=\"s{i:05}\",pad=\"{}\"}} {i}\n",
            "x".repeat(20)
        ));
    }
    let t = target(TargetAddress::service("svc"), &exposition, 1);
    let labels = FederationLabels::default();
    let mut chunks = Vec::new();
    let mut text = Vec::new();
    write_federation(&[t], &query(&["big"]).unwrap(), &labels, &mut |chunk| {
        chunks.push(chunk.len());
        text.extend_from_slice(chunk);
        Ok(())
    })
    .unwrap();
    assert!(chunks.len() > 10, "{chunks:?}");
    // At most one chunk plus one batch of samples is ever held.
    assert!(
        chunks.iter().all(|&n| n < CHUNK + BATCH * 200),
        "{chunks:?}"
    );
    let families = parse_text(std::str::from_utf8(&text).unwrap()).unwrap();
    assert_eq!(families.len(), 1);
    assert_eq!(families[0].samples.len(), 20_000);
}
