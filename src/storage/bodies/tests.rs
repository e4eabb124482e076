use super::*;
use crate::storage::DEFAULT_WAL_AUTOCHECKPOINT;
use crate::storage::connection::open_writer;

/// Pushes of many calls, shaped like Udesk's, each with a phone number.
fn pushes(calls: u64) -> Vec<Vec<u8>> {
    (0..calls)
        .flat_map(|n| {
            ["agent_incall", "hangup", "end"].map(|occasion| {
                let result = ["客服接听", "客服未接", "放弃排队"][n as usize % 3];
                serde_json::json!({
                    "conversation_id": 9_000_000_000u64 + n,
                    "occasion": occasion,
                    "customer_phone": format!("139{:08}", n * 7919 % 100_000_000),
                    "timestamp": format!("2024-05-0{} 1{}:2{}:00 +0800", n % 9 + 1, n % 10, n % 6),
                    "call_result": result,
                    "workflow": "in",
                    "agent_email": format!("agent{}@callcenter.example.cn", n % 50),
                    "queue_statue": "排队成功",
                    "total_time": n % 300,
                })
                .to_string()
                .into_bytes()
            })
        })
        .collect()
}

#[test]
fn long_digit_runs_are_masked_and_short_ones_kept() {
    let masked = mask_long_digit_runs(br#"{"p":"13912345678","t":"2024-05-06 10:00","n":12345}"#);
    assert_eq!(
        masked,
        br#"{"p":"00000000000","t":"2024-05-06 10:00","n":00000}"#
    );
}

#[test]
fn numbers_are_kept_reversed_once_each() {
    let numbers =
        reversed_numbers(br#"{"a":"+8613912345678","b":"13912345678","c":123456,"d":"1234567"}"#);
    assert_eq!(numbers, ["7654321", "87654321931", "8765432193168"]);
}

#[test]
fn a_trained_dictionary_holds_no_phone_number_and_bodies_come_back_byte_for_byte() {
    let samples = pushes(600);
    let dictionary = train(&samples).unwrap();
    for body in &samples {
        let at = body.windows(4).position(|w| w == b"\"139").unwrap() + 1;
        let phone = &body[at..at + 11];
        assert!(
            !dictionary.windows(11).any(|w| w == phone),
            "a phone number of the samples is in the dictionary"
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let conn = open_writer(&dir.path().join("b.db"), DEFAULT_WAL_AUTOCHECKPOINT).unwrap();
    let bodies = Bodies::load(&conn).unwrap();
    assert!(bodies.encode(&samples[0]).is_none(), "no dictionary yet");
    let id = Bodies::insert(&conn, &dictionary, samples.len()).unwrap();
    bodies.adopt(id, &dictionary);
    let (mut raw, mut kept) = (0, 0);
    for body in pushes(700).iter().skip(1800) {
        let encoded = bodies.encode(body).expect("smaller compressed");
        raw += body.len();
        kept += encoded.bytes.len();
        // Another process reads it with the dictionary from the database.
        let elsewhere = Bodies::load(&conn).unwrap();
        let back = elsewhere
            .decode(&conn, Some(encoded.dictionary), encoded.bytes)
            .unwrap();
        assert_eq!(&back, body);
    }
    assert!(kept * 3 < raw, "{kept} bytes kept of {raw}");
    assert_eq!(
        bodies.decode(&conn, None, b"as received".to_vec()).unwrap(),
        b"as received"
    );
}

/// A database with a dictionary trained on 400 calls' pushes: the
/// directory holding it, its writer, the samples, the dictionary, its id
/// and the store's bodies.
struct Trained {
    _dir: tempfile::TempDir,
    conn: Connection,
    samples: Vec<Vec<u8>>,
    dictionary: Vec<u8>,
    id: i64,
    bodies: Bodies,
}

fn trained() -> Trained {
    let dir = tempfile::tempdir().unwrap();
    let conn = open_writer(&dir.path().join("b.db"), DEFAULT_WAL_AUTOCHECKPOINT).unwrap();
    let samples = pushes(400);
    let dictionary = train(&samples).unwrap();
    let id = Bodies::insert(&conn, &dictionary, samples.len()).unwrap();
    let bodies = Bodies::load(&conn).unwrap();
    Trained {
        _dir: dir,
        conn,
        samples,
        dictionary,
        id,
        bodies,
    }
}

#[test]
fn a_damaged_body_is_an_error_not_a_crash() {
    let Trained {
        _dir,
        conn,
        samples,
        id,
        bodies,
        ..
    } = trained();
    let mut encoded = bodies.encode(&samples[5]).unwrap();
    let last = encoded.bytes.len() - 1;
    encoded.bytes.truncate(last);
    assert!(bodies.decode(&conn, Some(id), encoded.bytes).is_err());
    assert!(
        bodies
            .decode(&conn, Some(id), b"not zstd".to_vec())
            .is_err()
    );
    assert!(bodies.decode(&conn, Some(id + 1), Vec::new()).is_err());
}

#[test]
fn any_flipped_bit_of_a_body_or_its_dictionary_is_an_error_never_other_bytes() {
    let Trained {
        _dir,
        conn,
        samples,
        dictionary,
        id,
        bodies,
        ..
    } = trained();
    let body = &samples[7];
    let encoded = bodies.encode(body).unwrap();
    for bit in 0..encoded.bytes.len() * 8 {
        let mut damaged = encoded.bytes.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        if let Ok(decoded) = bodies.decode(&conn, Some(id), damaged) {
            assert_eq!(&decoded, body, "bit {bit} changed the body silently");
        }
    }
    // The same body against a damaged copy of the dictionary.
    let mut damaged = dictionary.clone();
    let middle = damaged.len() / 2;
    damaged[middle..middle + 16].copy_from_slice(b"XXXXXXXXXXXXXXXX");
    let other = Bodies::insert(&conn, &damaged, samples.len()).unwrap();
    let fresh = Bodies::load(&conn).unwrap();
    if let Ok(decoded) = fresh.decode(&conn, Some(other), encoded.bytes.clone()) {
        assert_eq!(
            &decoded, body,
            "a damaged dictionary changed the body silently"
        );
    }
}

#[test]
fn a_delta_of_a_similar_push_is_small_and_reads_back() {
    let samples = pushes(600);
    let dictionary = train(&samples).unwrap();
    let first = &samples[0];
    let second = &samples[1];
    let delta = compress_delta(&dictionary, first, second).unwrap();
    assert!(delta.len() < 120, "a delta of {} bytes", delta.len());
}

/// A delta as the store wrote them before contexts were reused: a context
/// of its own, the prefix referenced rather than loaded.
fn delta_with_a_referenced_prefix(dictionary: &[u8], base: &[u8], body: &[u8]) -> Vec<u8> {
    use zstd::zstd_safe::{CCtx, CParameter};
    let tail = &dictionary[dictionary.len().saturating_sub(chains::DICTIONARY_TAIL)..];
    let prefix = [tail, base].concat();
    let mut cctx = CCtx::create();
    cctx.set_parameter(CParameter::CompressionLevel(chains::DELTA_LEVEL))
        .unwrap();
    cctx.set_parameter(CParameter::ChecksumFlag(true)).unwrap();
    cctx.set_parameter(CParameter::ContentSizeFlag(true))
        .unwrap();
    cctx.ref_prefix(&prefix).unwrap();
    let mut out = Vec::with_capacity(zstd::zstd_safe::compress_bound(body.len()));
    cctx.compress2(&mut out, body).unwrap();
    out
}

#[test]
fn deltas_old_and_new_read_back_through_one_reused_context_in_any_order() {
    let samples = pushes(600);
    let trained = train(&samples).unwrap();
    // A dictionary shorter than the tail: the prefix starts with its magic.
    let short = trained[..2_000].to_vec();
    for dictionary in [&trained, &short] {
        let mut frames = Vec::new();
        for pair in samples.windows(2).take(40) {
            let (base, body) = (&pair[0], &pair[1]);
            frames.push((base, body, compress_delta(dictionary, base, body).unwrap()));
            let old = delta_with_a_referenced_prefix(dictionary, base, body);
            frames.push((base, body, old));
        }
        frames.reverse();
        for (base, body, frame) in &frames {
            let read = chains::decompress_delta(dictionary, base, frame).unwrap();
            assert_eq!(&read, *body);
        }
        // A damaged frame fails alone: the next one still reads.
        let (base, body, frame) = &frames[0];
        let mut damaged = frame.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 0x55;
        assert!(chains::decompress_delta(dictionary, base, &damaged).is_err());
        assert_eq!(
            &chains::decompress_delta(dictionary, base, frame).unwrap(),
            *body
        );
    }
}
