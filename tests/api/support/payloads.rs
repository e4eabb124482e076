//! The recorded pushes in `tests/payloads/`.

use std::path::Path;

pub fn payload(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/payloads")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The recorded pushes of one inbound call, by file stem (e.g. `4-end`).
pub fn inbound(stem: &str) -> String {
    payload(&format!("inbound-call/{stem}.json"))
}
