//! Fuzz the query strings the gateway reads: arbitrary bytes as the query of a `/federate`
//! request (`match[]` parameters, percent- and plus-encoded) and of a proxied scrape URI
//! (`ziti_service`, `ziti_terminator`, kept parameters). Each must give a result or an error,
//! never a panic; a proxied request that parses names a non-empty service, keeps a path
//! starting with `/`, and its pool key reads back to the same target.
#![no_main]

use federate::address::{ProxiedRequest, TargetAddress};
use federate::federation::FederateQuery;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let _ = FederateQuery::parse(Some(query), data.first().is_some_and(|b| b % 2 == 0));
    let Ok(uri) = format!("http://svc.example:80/metrics?{query}").parse::<http::Uri>() else {
        return;
    };
    if let Ok(proxied) = ProxiedRequest::parse(&uri) {
        assert!(!proxied.target.service.is_empty());
        assert!(proxied.path_and_query.starts_with('/'));
        let key = proxied.target.pool_authority();
        assert_eq!(TargetAddress::from_pool_authority(&key), Some(proxied.target));
    }
});
