//! `examples/udesk-calls.service`: sandboxed as the README promises, and
//! accepted by `systemd-analyze verify` where systemd is installed (CI
//! installs it).

use std::io::ErrorKind;
use std::process::Command;

const UNIT: &str = include_str!("../../examples/udesk-calls.service");
const INSTALLED_BINARY: &str = "/usr/local/bin/udesk-calls";

/// Every value the unit gives `key`, in order.
fn values(key: &str) -> Vec<&'static str> {
    UNIT.lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .filter(|(name, _)| name.trim() == key)
        .map(|(_, value)| value.trim())
        .collect()
}

#[test]
fn the_unit_runs_serve_sandboxed_with_its_database_in_the_state_directory() {
    for (key, value) in [
        ("DynamicUser", "yes"),
        ("StateDirectory", "udesk-calls"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", ""),
        ("Restart", "on-failure"),
        ("TimeoutStopSec", "15"),
        ("ExecStart", "/usr/local/bin/udesk-calls serve"),
    ] {
        assert_eq!(values(key), [value], "{key}");
    }
    assert_eq!(values("SystemCallFilter")[0], "@system-service");
    let environment = values("Environment");
    assert!(
        environment.contains(&"UDESK_CALLS_DB=/var/lib/udesk-calls/udesk-calls.db"),
        "{environment:?}"
    );
    let files = values("EnvironmentFile");
    assert_eq!(files.len(), 1, "{files:?}");
    // The tokens come from that file, never from the unit, which anyone may read.
    for line in UNIT.lines().filter(|line| line.contains("TOKEN=")) {
        assert!(line.trim_start().starts_with('#'), "{line}");
    }
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    match Command::new("systemd-analyze").arg("--version").output() {
        Err(error) if error.kind() == ErrorKind::NotFound => {
            crate::support::skip::missing_tool(
                "systemd-analyze",
                "apt-get install systemd; .ci/run installs it",
            );
            return;
        }
        other => {
            other.expect("systemd-analyze runs");
        }
    }
    // verify checks that ExecStart's binary exists: point it at the one built.
    let unit = UNIT.replace(
        &format!("ExecStart={INSTALLED_BINARY}"),
        &format!("ExecStart={}", env!("CARGO_BIN_EXE_udesk-calls")),
    );
    assert_ne!(unit, UNIT, "ExecStart runs {INSTALLED_BINARY}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("udesk-calls.service");
    std::fs::write(&path, unit).unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .env("SYSTEMD_LOG_LEVEL", "notice")
        .output()
        .expect("systemd-analyze runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "systemd-analyze verify: {said}");
    let about_the_unit: Vec<&str> = said
        .lines()
        .filter(|line| line.contains("udesk-calls.service"))
        .collect();
    assert!(
        about_the_unit.is_empty(),
        "systemd-analyze verify warns: {about_the_unit:#?}"
    );
}
