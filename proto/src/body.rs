//! A message's body as its head frames it: one decoder for both roles
//! (the server reading a request, the client reading a response), as
//! llhttp is one parser for both.
//!
//! Node equivalent: llhttp's body states (`Content-Length`, chunked, until
//! EOF) under `parserOnBody` in lib/_http_common.js.

use crate::chunked::ChunkedDecoder;
use crate::error::Error;
use crate::parse::{BodyKind, ParseOptions};

/// How far one call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Bytes of the input consumed: all of it, unless the body ended inside
    /// it (the rest belongs to the next message), or after one span of
    /// chunk data when asked for spans.
    pub consumed: usize,
    /// The body is complete (never for a body that runs until EOF: the
    /// caller ends it at EOF).
    pub done: bool,
}

/// The body decoder of one message.
#[derive(Debug)]
pub enum Decoder {
    /// `Content-Length`: this many bytes left.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked(Box<ChunkedDecoder>),
    /// Everything until the connection closes.
    UntilEof,
}

impl Decoder {
    /// The decoder for a head's framing; `None` when the message has no
    /// body (no framing, or `Content-Length: 0`).
    pub fn new(kind: BodyKind, opts: ParseOptions) -> Option<Decoder> {
        match kind {
            BodyKind::None | BodyKind::ContentLength(0) => None,
            BodyKind::ContentLength(n) => Some(Decoder::Length(n)),
            BodyKind::Chunked => Some(Decoder::Chunked(Box::new(ChunkedDecoder::new(opts)))),
            BodyKind::UntilEof => Some(Decoder::UntilEof),
        }
    }

    /// Decode `input`, appending the body's bytes to `body`. With `span`,
    /// a chunked body stops after each span of data (each is a point where
    /// Node's parser calls back into JavaScript).
    pub fn decode(
        &mut self,
        input: &[u8],
        body: &mut Vec<u8>,
        span: bool,
    ) -> Result<Decoded, Error> {
        match self {
            Decoder::Length(left) => {
                let n = (*left).min(input.len() as u64) as usize;
                *left -= n as u64;
                body.extend_from_slice(&input[..n]);
                Ok(Decoded {
                    consumed: n,
                    done: *left == 0,
                })
            }
            Decoder::UntilEof => {
                body.extend_from_slice(input);
                Ok(Decoded {
                    consumed: input.len(),
                    done: false,
                })
            }
            Decoder::Chunked(dec) => {
                let p = if span {
                    dec.decode_span(input, body)?
                } else {
                    dec.decode(input, body)?
                };
                Ok(Decoded {
                    consumed: p.consumed,
                    done: p.done,
                })
            }
        }
    }

    /// The trailer fields of a complete chunked body (none otherwise).
    pub fn trailers(&self) -> &[(String, String)] {
        match self {
            Decoder::Chunked(dec) => dec.trailers(),
            _ => &[],
        }
    }

    /// The chunked decoder, for what only it knows (the trailers'
    /// `Connection`, the bytes it holds).
    pub fn chunked(&self) -> Option<&ChunkedDecoder> {
        match self {
            Decoder::Chunked(dec) => Some(dec),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(kind: BodyKind, input: &[u8]) -> (Vec<u8>, Decoded) {
        let mut d = Decoder::new(kind, ParseOptions::default()).expect("a body");
        let mut body = Vec::new();
        let r = d.decode(input, &mut body, false).expect("decodes");
        (body, r)
    }

    #[test]
    fn length_stops_at_its_end() {
        let (body, r) = all(BodyKind::ContentLength(3), b"abcGET");
        assert_eq!(body, b"abc");
        assert_eq!(
            r,
            Decoded {
                consumed: 3,
                done: true
            }
        );
    }

    #[test]
    fn chunked_stops_after_the_last_chunk() {
        let (body, r) = all(BodyKind::Chunked, b"3\r\nabc\r\n0\r\n\r\nGET");
        assert_eq!(body, b"abc");
        assert_eq!(
            r,
            Decoded {
                consumed: 13,
                done: true
            }
        );
    }

    #[test]
    fn until_eof_takes_everything_and_never_ends() {
        let (body, r) = all(BodyKind::UntilEof, b"abc");
        assert_eq!(body, b"abc");
        assert_eq!(
            r,
            Decoded {
                consumed: 3,
                done: false
            }
        );
    }

    #[test]
    fn no_body_without_framing_or_with_length_zero() {
        let o = ParseOptions::default();
        assert!(Decoder::new(BodyKind::None, o).is_none());
        assert!(Decoder::new(BodyKind::ContentLength(0), o).is_none());
    }
}
