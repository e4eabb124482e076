//! A real HTTP server standing in for Udesk's object storage: it serves WAV
//! recordings behind signed links that expire, as OSS signs them
//! (`?OSSAccessKeyId=…&Expires=UNIX&Signature=…`), answers `403` for a bad
//! signature or a passed `Expires` and `404` for an unknown file, and counts
//! the requests each file gets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::net::TcpListener;

const KEY: &[u8] = b"oss-secret-of-the-test";

#[derive(Default)]
struct Files {
    wavs: HashMap<String, Vec<u8>>,
    requests: HashMap<String, usize>,
    /// How long each answer waits before its body.
    delay: Duration,
}

pub struct AudioSource {
    pub address: SocketAddr,
    files: Arc<Mutex<Files>>,
}

impl AudioSource {
    pub async fn start() -> AudioSource {
        let files = Arc::new(Mutex::new(Files::default()));
        let app = Router::new()
            .route("/record/{name}", axum::routing::get(serve))
            .with_state(files.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        AudioSource { address, files }
    }

    /// Adds a recording `name` of `seconds` of 8 kHz mono WAV, its samples
    /// drawn from `seed`; returns its bytes.
    pub fn add(&self, name: &str, seconds: u32, seed: u64) -> Vec<u8> {
        let wav = wav(seconds, seed);
        self.files
            .lock()
            .unwrap()
            .wavs
            .insert(name.to_owned(), wav.clone());
        wav
    }

    pub fn slow_down(&self, delay: Duration) {
        self.files.lock().unwrap().delay = delay;
    }

    /// A link to `name`, signed, expiring `lasts` seconds from now (in the
    /// past when negative).
    pub fn link(&self, name: &str, lasts: i64) -> String {
        let expires = chrono::Utc::now().timestamp() + lasts;
        format!(
            "http://{}/record/{name}?OSSAccessKeyId=LTAI-test&Expires={expires}&Signature={}",
            self.address,
            signature(name, expires)
        )
    }

    pub fn requests(&self, name: &str) -> usize {
        self.files
            .lock()
            .unwrap()
            .requests
            .get(name)
            .copied()
            .unwrap_or(0)
    }
}

fn signature(name: &str, expires: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(format!("{name}\n{expires}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn serve(
    State(files): State<Arc<Mutex<Files>>>,
    Path(name): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (wav, delay) = {
        let mut files = files.lock().unwrap();
        *files.requests.entry(name.clone()).or_default() += 1;
        (files.wavs.get(&name).cloned(), files.delay)
    };
    let expires = query.get("Expires").and_then(|e| e.parse::<i64>().ok());
    let signed = expires.is_some_and(|expires| {
        query.get("Signature") == Some(&signature(&name, expires))
            && expires > chrono::Utc::now().timestamp()
    });
    if !signed {
        return (
            StatusCode::FORBIDDEN,
            "<Error><Code>AccessDenied</Code></Error>",
        )
            .into_response();
    }
    let Some(wav) = wav else {
        return (
            StatusCode::NOT_FOUND,
            "<Error><Code>NoSuchKey</Code></Error>",
        )
            .into_response();
    };
    tokio::time::sleep(delay).await;
    // A source's own page, answered `200` where audio was expected.
    let content_type = if name.ends_with(".html") {
        "text/html; charset=utf-8"
    } else {
        "audio/wav"
    };
    ([(header::CONTENT_TYPE, content_type)], wav).into_response()
}

/// A WAV file: a 44-byte header and 16-bit samples.
pub fn wav(seconds: u32, seed: u64) -> Vec<u8> {
    let samples = 8_000 * seconds;
    let data = samples * 2;
    let mut bytes = Vec::with_capacity(44 + data as usize);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&8_000u32.to_le_bytes());
    bytes.extend_from_slice(&16_000u32.to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data.to_le_bytes());
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    for _ in 0..samples {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        bytes.extend_from_slice(&((state >> 48) as i16).to_le_bytes());
    }
    bytes
}
