//! Undoing a body's `Content-Encoding`.
//!
//! Some senders compress their posts. A body is decompressed before
//! anything reads it, and bounded by the same size limit after
//! decompression: a few KB of gzip can expand a thousandfold.

use std::io::Read;

use flate2::read::{GzDecoder, ZlibDecoder};

/// The encodings a body can be read in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentEncoding {
    Identity,
    Gzip,
    /// HTTP's `deflate`: zlib-wrapped, as RFC 9110 defines it.
    Deflate,
}

impl ContentEncoding {
    /// Reads a `Content-Encoding` header value; `Err` names an encoding
    /// this service cannot undo.
    pub fn parse(header: Option<&str>) -> Result<ContentEncoding, String> {
        let Some(header) = header else {
            return Ok(ContentEncoding::Identity);
        };
        let codings: Vec<&str> = header
            .split(',')
            .map(str::trim)
            .filter(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case("identity"))
            .collect();
        match codings.as_slice() {
            [] => Ok(ContentEncoding::Identity),
            [coding]
                if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") =>
            {
                Ok(ContentEncoding::Gzip)
            }
            [coding] if coding.eq_ignore_ascii_case("deflate") => Ok(ContentEncoding::Deflate),
            _ => Err(header.to_owned()),
        }
    }
}

/// Why a compressed body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecompressError {
    #[error("the body is larger than the limit of {0} bytes once decompressed")]
    TooLarge(usize),
    #[error("the {encoding} body cannot be decompressed: {problem}")]
    Corrupt {
        encoding: &'static str,
        problem: String,
    },
}

/// The body with its encoding undone, at most `limit` bytes.
pub fn decompress(
    bytes: Vec<u8>,
    encoding: ContentEncoding,
    limit: usize,
) -> Result<Vec<u8>, DecompressError> {
    let (reader, name): (Box<dyn Read + '_>, &'static str) = match encoding {
        ContentEncoding::Identity => return Ok(bytes),
        ContentEncoding::Gzip => (Box::new(GzDecoder::new(bytes.as_slice())), "gzip"),
        ContentEncoding::Deflate => (Box::new(ZlibDecoder::new(bytes.as_slice())), "deflate"),
    };
    let mut out = Vec::new();
    reader
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|error| DecompressError::Corrupt {
            encoding: name,
            problem: error.to_string(),
        })?;
    if out.len() > limit {
        return Err(DecompressError::TooLarge(limit));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::{GzEncoder, ZlibEncoder};
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn gzip_and_deflate_are_undone_and_others_named() {
        let body = br#"{"conversation_id": 1}"#;
        assert_eq!(
            decompress(gzip(body), ContentEncoding::Gzip, 1024).unwrap(),
            body
        );
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(body).unwrap();
        let deflated = zlib.finish().unwrap();
        assert_eq!(
            decompress(deflated, ContentEncoding::Deflate, 1024).unwrap(),
            body
        );
        assert_eq!(
            ContentEncoding::parse(Some("GZIP")),
            Ok(ContentEncoding::Gzip)
        );
        assert_eq!(
            ContentEncoding::parse(Some("identity")),
            Ok(ContentEncoding::Identity)
        );
        assert_eq!(ContentEncoding::parse(Some("br")), Err("br".into()));
        assert_eq!(
            ContentEncoding::parse(Some("gzip, br")),
            Err("gzip, br".into())
        );
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_garbage_is_corrupt() {
        let bomb = gzip(&vec![b' '; 10 * 1024 * 1024]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(
            decompress(bomb, ContentEncoding::Gzip, 1024 * 1024),
            Err(DecompressError::TooLarge(1024 * 1024))
        );
        assert!(matches!(
            decompress(b"not gzip".to_vec(), ContentEncoding::Gzip, 1024),
            Err(DecompressError::Corrupt { .. })
        ));
    }
}
