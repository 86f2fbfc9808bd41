//! Fuzz the JWT claims reader of the OIDC login: `decode_unverified` must return an error,
//! never panic. The first input byte picks the mode. Even: the rest is the token as given.
//! Odd: the rest becomes the payload (base64url-encoded) of a token with a valid header, so
//! the claim parsing is reached directly.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use dark_listener::controller::oidc::claims::decode_unverified;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        let _ = decode_unverified(&String::from_utf8_lossy(rest));
        return;
    }
    let token = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","kid":"k"}"#),
        URL_SAFE_NO_PAD.encode(rest)
    );
    if let Ok(claims) = decode_unverified(&token) {
        let _ = claims.is_bound_to("ab:cd");
    }
});
