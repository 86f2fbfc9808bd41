//! Frames captured from a peer we did not write: the OpenZiti Go SDK (sdk-golang v1.9.0,
//! `tests/peers/go-peer`), as it sent them to the lab router in one hosting and dialing
//! session (`tests/fixtures/go_sdk_v1.9.0_frames.txt`, written by
//! `tests/fixtures/capture_go_frames.sh` from the router's raw frame capture). No peer is
//! needed here; `sdk_go_capture_live.rs` re-captures and runs the same checks, so the
//! fixture cannot drift from the peer unnoticed.
//!
//! The checks and the table of known header differences between the Go SDK and ours are in
//! `tests/fixtures/go_frames_checks.rs`.

#[macro_use]
mod golden;
#[path = "fixtures/go_frames_checks.rs"]
mod checks;

const FIXTURE: &str = include_str!("fixtures/go_sdk_v1.9.0_frames.txt");

fn fixture() -> Vec<checks::Captured> {
    checks::parse(FIXTURE)
}

#[test]
fn every_captured_frame_decodes_and_matches_its_comment() {
    checks::every_captured_frame_decodes_and_matches_its_comment(&fixture());
}

#[test]
fn hello_carries_the_api_session_token_and_ours_is_the_same_bytes() {
    checks::hello_carries_the_api_session_token_and_ours_is_the_same_bytes(&fixture());
}

#[test]
fn bind_flags_key_and_our_bind_headers() {
    checks::bind_flags_key_and_our_bind_headers(&fixture());
}

#[test]
fn connect_token_conn_id_key_and_our_connect_headers() {
    checks::connect_token_conn_id_key_and_our_connect_headers(&fixture());
}

#[test]
fn dial_success_names_the_bind_and_a_router_provided_id() {
    checks::dial_success_names_the_bind_and_a_router_provided_id(&fixture());
}

#[test]
fn data_carries_the_conn_id_and_the_fin_flag() {
    checks::data_carries_the_conn_id_and_the_fin_flag(&fixture());
}

#[test]
fn state_closed_ends_the_conn_without_a_reason() {
    checks::state_closed_ends_the_conn_without_a_reason(&fixture());
}

#[test]
fn unbind_names_the_refused_bind() {
    checks::unbind_names_the_refused_bind(&fixture());
}

#[test]
fn conn_inspect_response_says_the_bind_is_a_bind() {
    checks::conn_inspect_response_says_the_bind_is_a_bind(&fixture());
}

#[test]
fn latency_probe_carries_a_u64_timestamp() {
    checks::latency_probe_carries_a_u64_timestamp(&fixture());
}

#[test]
fn update_token_is_the_bare_access_jwt_and_ours_is_the_same_bytes() {
    checks::update_token_is_the_bare_access_jwt_and_ours_is_the_same_bytes(&fixture());
}
