//! The wire format of a Udesk push: bytes in, a JSON object and tolerant
//! readers of its values out. Nothing here knows what a call is; `domain`
//! decides which key means what.

pub mod body;
pub mod encoding;
pub mod json;
pub mod time;
pub mod value;

pub use body::{BodyError, BodyFormat, Decoded, decode_body};
pub use encoding::{ContentEncoding, DecompressError, decompress};
pub use json::Oddity;
