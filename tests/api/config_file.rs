//! `serve` started from a TOML config file, as an operator starts it: the
//! file's settings apply, an environment variable wins over the file, a flag
//! wins over both, and a bad file stops it before it touches anything.

use serde_json::{Value, json};

use crate::support::WEBHOOK;
use crate::support::binary::{Server, binary, run};
use crate::support::payloads::inbound;

/// A push `size` bytes long: a recorded one with an unknown key to pad it.
fn push_of(size: usize) -> String {
    let mut push: Value = serde_json::from_str(&inbound("1-enqueue_succ")).unwrap();
    push["padding"] = json!("");
    let bare = push.to_string().len();
    push["padding"] = json!("x".repeat(size - bare));
    let body = push.to_string();
    assert_eq!(body.len(), size);
    body
}

#[tokio::test]
async fn serve_takes_its_settings_from_the_file_below_the_environment_and_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("from-file.db");
    let config = dir.path().join("udesk-calls.toml");
    std::fs::write(
        &config,
        format!(
            r#"# every key is a long flag of a command
listen = "127.0.0.1:0"
db = {db:?}
webhook-token = ["file-webhook-token-01", "file-webhook-token-02"]
api-token = "file-api-token-000001"
max-body-bytes = 4096
"#,
            db = db.to_str().unwrap()
        ),
    )
    .unwrap();
    let mut command = binary();
    command
        .args(["serve", "--max-body-bytes", "8192"])
        .env("UDESK_CALLS_CONFIG", &config)
        .env("UDESK_CALLS_API_TOKEN", "env-api-token-0000001")
        .env("UDESK_CALLS_MAX_BODY_BYTES", "100")
        .env("RUST_LOG", "info");
    let server = Server::spawn(command);
    let client = reqwest::Client::new();
    let push = |token: &str, body: String| {
        client
            .post(format!("{}{WEBHOOK}?token={token}", server.address))
            .body(body)
            .send()
    };

    // The file's webhook tokens, both of them, and only them.
    assert_eq!(
        push("file-webhook-token-02", inbound("1-enqueue_succ"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        push("not-a-configured-token", inbound("1-enqueue_succ"))
            .await
            .unwrap()
            .status(),
        401
    );
    // The flag's limit (8192), not the variable's (100) nor the file's (4096).
    assert_eq!(
        push("file-webhook-token-01", push_of(6000))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        push("file-webhook-token-01", push_of(9000))
            .await
            .unwrap()
            .status(),
        413
    );
    // The variable's API token replaced the file's.
    let graphql = |token: &'static str| {
        client
            .post(format!("{}/graphql", server.address))
            .bearer_auth(token)
            .json(&json!({ "query": "{ calls { totalCount } }" }))
            .send()
    };
    assert_eq!(
        graphql("file-api-token-000001").await.unwrap().status(),
        401
    );
    let answer = graphql("env-api-token-0000001").await.unwrap();
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["data"]["calls"]["totalCount"], json!(1));
    // The database is where the file put it.
    assert!(db.exists(), "{} was not created", db.display());
}

#[test]
fn a_config_file_with_an_unknown_key_stops_every_command_before_it_opens_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let config = dir.path().join("udesk-calls.toml");
    std::fs::write(
        &config,
        format!(
            "db = {:?}\nlisten_address = \"127.0.0.1:0\"\n",
            db.to_str().unwrap()
        ),
    )
    .unwrap();
    for args in [&["serve"][..], &["reprocess"], &["import", "-"]] {
        let (code, _, stderr) = run(binary().args(args).arg("--config").arg(&config));
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(
            stderr.contains("unknown key `listen_address`"),
            "{args:?}: {stderr}"
        );
        assert!(
            stderr.contains(config.to_str().unwrap()),
            "{args:?}: {stderr}"
        );
    }
    assert!(!db.exists());
}

#[test]
fn a_bad_value_in_the_config_file_is_reported_with_its_key_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("udesk-calls.toml");
    std::fs::write(&config, "default-utc-offset = \"Asia/Shanghai\"\n").unwrap();
    let (code, _, stderr) = run(binary()
        .args(["reprocess", "--db"])
        .arg(dir.path().join("calls.db"))
        .env("UDESK_CALLS_CONFIG", &config));
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("`default-utc-offset`"), "{stderr}");
    assert!(stderr.contains("+08:00"), "says how to write it: {stderr}");
    assert!(stderr.contains(config.to_str().unwrap()), "{stderr}");
}

#[test]
fn a_config_file_that_is_not_toml_is_refused_by_line_without_quoting_the_secret_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let config = dir.path().join("udesk-calls.toml");
    for (text, place) in [
        // A backslash a Windows path or a generated token may hold.
        (
            "listen = \"127.0.0.1:0\"\nwebhook-token = \"hook\\hunter2-0000001\"\n",
            "line 2, column 23",
        ),
        (
            "api-token = [\"api-hunter2-00000001\", api-hunter2-00000002]\n",
            "line 1, column 38",
        ),
        (
            "forward-secret = whsec_hunter20000000000000000000000\n",
            "line 1, column 18",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let (code, stdout, stderr) = run(binary()
            .args(["serve", "--db"])
            .arg(&db)
            .arg("--config")
            .arg(&config));
        assert_eq!(code, 2, "{stderr}");
        assert!(stderr.contains("not valid TOML"), "{stderr}");
        assert!(stderr.contains(config.to_str().unwrap()), "{stderr}");
        assert!(stderr.contains(place), "{stderr}");
        assert!(!format!("{stdout}{stderr}").contains("hunter2"), "{stderr}");
    }
    assert!(!db.exists());
}
