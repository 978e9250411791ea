//! permessage-deflate (RFC 7692), the receiving half: undici offers
//! `permessage-deflate; client_max_window_bits` in every handshake and, when
//! the server accepts, inflates the messages whose first frame has RSV1
//! set. It never compresses what it sends.
//!
//! Node equivalent: undici's `PerMessageDeflate.decompress(chunk, fin)`: one
//! raw inflate stream for the whole connection (context takeover, even
//! when the server announces `server_no_context_takeover`, which undici
//! reads but does not use), created at the first compressed frame with
//! `windowBits` from `server_max_window_bits`; each frame's payload written
//! to it, followed by `00 00 FF FF` when the frame has FIN, then flushed.
//! The inflater is zlib (zlib-rs here, zlib in Node), so the window sizes
//! and the error messages are zlib's (`invalid block type`...).

use flate2::{Decompress, FlushDecompress, Status};

use super::handshake::Extensions;

/// The bytes undici appends to a message's last frame.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

/// The inflater of one connection.
pub struct Inflater {
    server_max_window_bits: Option<String>,
    z: Option<Decompress>,
    /// The raw stream ended (a final block): zlib ignores what follows, so
    /// later messages inflate to nothing, as in Node.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("server_max_window_bits", &self.server_max_window_bits)
            .field("started", &self.z.is_some())
            .field("ended", &self.ended)
            .finish()
    }
}

impl Inflater {
    /// The inflater for the negotiated parameters.
    pub fn new(extensions: &Extensions) -> Inflater {
        Inflater {
            server_max_window_bits: extensions.get("server_max_window_bits").map(str::to_owned),
            z: None,
            ended: false,
        }
    }

    /// The `windowBits` undici creates its `InflateRaw` with.
    fn window_bits(&self) -> Result<u8, String> {
        let Some(v) = self
            .server_max_window_bits
            .as_deref()
            .filter(|v| !v.is_empty())
        else {
            return Ok(15);
        };
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err("Invalid server_max_window_bits".to_owned());
        }
        let digits = v.trim_start_matches('0');
        match digits.parse::<u8>() {
            Ok(n) if (8..=15).contains(&n) => Ok(n),
            // Node 23.5.0 throws this `RangeError` out of its parser (the
            // process dies); the reference closes with 1007 and it.
            _ => Err(format!(
                "The value of \"options.windowBits\" is out of range. It must be >= 8 and <= 15. Received {}",
                if digits.is_empty() { "0" } else { digits }
            )),
        }
    }

    /// Inflate one frame's payload; `fin` for a message's last frame. The
    /// error is the message undici closes the connection with (code 1007).
    pub fn decompress(&mut self, chunk: &[u8], fin: bool) -> Result<Vec<u8>, String> {
        if self.z.is_none() {
            // zlib takes 8 for a raw inflate, flate2 does not: 9 instead,
            // which also accepts distances of 257 to 512 bytes that 8 would
            // refuse ("invalid distance too far back").
            let bits = self.window_bits()?.max(9);
            self.z = Some(Decompress::new_with_window_bits(false, bits));
            self.ended = false;
        }
        let mut out = Vec::new();
        let r = self.inflate(chunk, &mut out).and_then(|()| {
            if fin {
                self.inflate(&TAIL, &mut out)
            } else {
                Ok(())
            }
        });
        if let Err(e) = r {
            // `this.#inflate = null`: a later message starts a new stream.
            self.z = None;
            return Err(e);
        }
        Ok(out)
    }

    fn inflate(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let Some(z) = self.z.as_mut() else {
            return Ok(());
        };
        while !input.is_empty() && !self.ended {
            if out.capacity() - out.len() < 4096 {
                out.reserve(16 * 1024);
            }
            let before_in = z.total_in();
            let before_out = z.total_out();
            let status = z
                .decompress_vec(input, out, FlushDecompress::Sync)
                .map_err(|e| e.message().unwrap_or("invalid data").to_owned())?;
            let used = (z.total_in() - before_in) as usize;
            input = &input[used..];
            match status {
                Status::StreamEnd => self.ended = true,
                Status::BufError if used == 0 && z.total_out() == before_out => break,
                _ => {}
            }
        }
        // Output still pending in zlib's window once the input is used up.
        loop {
            if self.ended {
                break;
            }
            if out.capacity() - out.len() < 4096 {
                out.reserve(16 * 1024);
            }
            let before_out = z.total_out();
            let status = z
                .decompress_vec(&[], out, FlushDecompress::Sync)
                .map_err(|e| e.message().unwrap_or("invalid data").to_owned())?;
            if status == Status::StreamEnd {
                self.ended = true;
            }
            if z.total_out() == before_out {
                break;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};
    use rstest::rstest;

    /// `deflateRawSync(text, { finishFlush: Z_SYNC_FLUSH })` without its
    /// last four bytes: a message as a permessage-deflate server sends it.
    fn compress(c: &mut Compress, text: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() + 64);
        c.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        out
    }

    fn inflater(params: &str) -> Inflater {
        Inflater::new(&Extensions::parse(&format!("permessage-deflate{params}")))
    }

    #[test]
    fn messages_share_one_window() {
        let mut c = Compress::new(Compression::default(), false);
        let mut i = inflater("");
        let a = compress(&mut c, b"hello hello hello");
        let b = compress(&mut c, b"hello world");
        assert_eq!(i.decompress(&a, true).unwrap(), b"hello hello hello");
        assert_eq!(i.decompress(&b, true).unwrap(), b"hello world");
    }

    #[test]
    fn a_message_in_several_frames() {
        // "Hello" as RFC 7692 section 7.2.3.1 compresses it, cut in two.
        let mut i = inflater("");
        let mut out = i.decompress(&[0xf2, 0x48, 0xcd], false).unwrap();
        out.extend(i.decompress(&[0xc9, 0xc9, 0x07, 0x00], true).unwrap());
        assert_eq!(out, b"Hello");
    }

    #[test]
    fn nothing_after_a_final_block() {
        // deflateRawSync("first") ends with a final block: what follows
        // inflates to nothing, with no error (Node: an empty message).
        let mut i = inflater("");
        let first = [0x4b, 0xcb, 0x2c, 0x2a, 0x2e, 0x01, 0x00];
        let second = [0x2b, 0x4e, 0x4d, 0xce, 0xcf, 0x4b, 0x01, 0x00];
        assert_eq!(i.decompress(&first, true).unwrap(), b"first");
        assert_eq!(i.decompress(&second, true).unwrap(), b"");
    }

    #[rstest]
    #[case::invalid_block_type(&[0xff, 0xff, 0xff, 0xff], "invalid block type")]
    #[case::stored_lengths(&[0x00, 0x01, 0x00, 0x01, 0x00], "invalid stored block lengths")]
    fn zlib_errors_carry_zlib_messages(#[case] data: &[u8], #[case] message: &str) {
        let mut i = inflater("");
        assert_eq!(i.decompress(data, true), Err(message.to_owned()));
    }

    #[rstest]
    #[case::absent("", Ok(15))]
    #[case::no_value("; server_max_window_bits", Ok(15))]
    #[case::ten("; server_max_window_bits=10", Ok(10))]
    #[case::eight("; server_max_window_bits=8", Ok(8))]
    #[case::leading_zero("; server_max_window_bits=010", Ok(10))]
    #[case::letters("; server_max_window_bits=abc", Err("Invalid server_max_window_bits"))]
    #[case::leading_space("; server_max_window_bits= 10", Err("Invalid server_max_window_bits"))]
    #[case::quoted(
        "; server_max_window_bits=\"10\"",
        Err("Invalid server_max_window_bits")
    )]
    #[case::sixteen("; server_max_window_bits=16", Err("The value of \"options.windowBits\" is out of range. It must be >= 8 and <= 15. Received 16"))]
    #[case::seven("; server_max_window_bits=7", Err("The value of \"options.windowBits\" is out of range. It must be >= 8 and <= 15. Received 7"))]
    fn window_bits(#[case] params: &str, #[case] expected: Result<u8, &str>) {
        let i = inflater(params);
        assert_eq!(i.window_bits(), expected.map_err(str::to_owned));
        let mut i = inflater(params);
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        match expected {
            Ok(_) => assert_eq!(i.decompress(&hello, true).unwrap(), b"Hello"),
            Err(m) => assert_eq!(i.decompress(&hello, true), Err(m.to_owned())),
        }
    }

    #[test]
    fn a_small_window_refuses_distances_beyond_it() {
        // 600 bytes with no repeat inside, then the same 600 again: the
        // second copy refers 600 bytes back, beyond a 512-byte window (9
        // bits).
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let block: Vec<u8> = (0..600)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        // Two messages, the second a copy of the first: it refers 600
        // bytes back into the window, beyond 512 bytes (9 bits). (Within
        // one message zlib reads back from its output and does not check.)
        let mut c = Compress::new(Compression::best(), false);
        let first = compress(&mut c, &block);
        let second = compress(&mut c, &block);
        assert!(second.len() < 50, "the copy is a back-reference");
        let mut big = inflater("");
        assert_eq!(big.decompress(&first, true).unwrap(), block);
        assert_eq!(big.decompress(&second, true).unwrap(), block);
        let mut small = inflater("; server_max_window_bits=9");
        assert_eq!(small.decompress(&first, true).unwrap(), block);
        assert_eq!(
            small.decompress(&second, true),
            Err("invalid distance too far back".to_owned())
        );
    }

    #[test]
    fn a_large_message_comes_out_whole() {
        let text: Vec<u8> = (0..200_000u32).map(|i| (i % 13) as u8 + b'a').collect();
        let mut c = Compress::new(Compression::default(), false);
        let data = compress(&mut c, &text);
        assert!(data.len() < text.len() / 10);
        assert_eq!(inflater("").decompress(&data, true).unwrap(), text);
    }
}
