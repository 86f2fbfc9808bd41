//! Fuzz the `/federate` selector path: an arbitrary `match[]` value goes through the PromQL
//! parser (`FederateQuery::parse`) and must give a query or an error, never a panic; a query
//! that parses is then matched against series whose name and labels come from the same input.
#![no_main]

use dark_metrics::exposition::Text;
use federate::federation::FederateQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (selector, rest) = text.split_once('\n').unwrap_or((text, ""));
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("match[]", selector);
    let Ok(parsed) = FederateQuery::parse(Some(&query.finish()), false) else {
        return;
    };
    let mut words = rest.split(' ');
    let name = words.next().unwrap_or("");
    let labels: Vec<(Text, Text)> = words
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (Text::Owned(k.to_string()), Text::Owned(v.to_string())))
        .collect();
    let _ = parsed.selects(name, &labels);
});
