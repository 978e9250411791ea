//! The response side of one client connection as a sans-IO state machine:
//! bytes in, [`ResponseEvent`]s out.
//!
//! Node equivalent: the llhttp parser in `HTTP_RESPONSE` mode that
//! `tickOnSocket` attaches to a socket, with `parserOnIncomingClient`'s
//! decisions: 1xx heads other than 101 restart the parser (`'information'`,
//! and `'continue'` for 100); 101 with `Upgrade` and `Connection: upgrade`,
//! and any answer to `CONNECT`, stop it with the rest of the bytes as the
//! `head` of `'upgrade'` / `'connect'`; a 101 without them, HEAD and 304
//! answers have no body; a body without length runs until EOF.

use crate::body::Decoder;
use crate::error::{Error, Parse};
use crate::parse::{
    max_buffered_head, parse_response, HeadFilter, ParseOptions, ResponseHead, Status,
};

/// What the bytes of the connection produced.
#[derive(Debug)]
pub enum ResponseEvent {
    /// A 1xx head other than 101 (`'information'`; `'continue'` too for 100).
    Information(ResponseHead),
    /// The final head (`'response'`).
    Head(ResponseHead),
    /// Body bytes (`'data'` on the response).
    Data(Vec<u8>),
    /// The body is complete (`res.complete`, `'end'`), with the trailers
    /// as raw pairs (`res.rawTrailers`).
    End {
        /// `res.rawTrailers` as pairs.
        trailers: Vec<(String, String)>,
    },
    /// A 101 answer with the upgrade headers, or any answer to `CONNECT`:
    /// the parser stops; `rest`
    /// is what followed the head (`'upgrade'` / `'connect'`'s `head`).
    Upgrade {
        /// The head.
        head: ResponseHead,
        /// The bytes after it.
        rest: Vec<u8>,
    },
    /// A parse error (`HPE_*`): the connection is unusable.
    Error(Error),
}

#[derive(Debug)]
enum Read {
    Head,
    Body(Decoder),
    Done,
    Stopped,
}

/// The response reader of one exchange on a client connection.
///
/// ```
/// use nodehttp_proto::client::conn::{ClientConn, ResponseEvent};
/// use nodehttp_proto::parse::ParseOptions;
/// let mut c = ClientConn::new("GET", ParseOptions::default());
/// let mut ev = Vec::new();
/// c.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", &mut ev);
/// assert!(matches!(&ev[0], ResponseEvent::Head(h) if h.status == 200));
/// assert!(matches!(&ev[1], ResponseEvent::Data(d) if d == b"ok"));
/// assert!(matches!(ev[2], ResponseEvent::End { .. }));
/// assert!(c.is_complete() && c.keep_alive());
/// ```
#[derive(Debug)]
pub struct ClientConn {
    method: String,
    opts: ParseOptions,
    /// The unfinished head (through `filter`), or once the response is
    /// complete the bytes that followed it.
    buf: Vec<u8>,
    filter: HeadFilter,
    read: Read,
    keep_alive: bool,
}

impl ClientConn {
    /// A reader for the answer to a request with `method`.
    pub fn new(method: &str, opts: ParseOptions) -> ClientConn {
        ClientConn {
            method: method.to_owned(),
            opts,
            buf: Vec::new(),
            filter: HeadFilter::head(),
            read: Read::Head,
            keep_alive: false,
        }
    }

    /// Whether the final response was read to its end (`res.complete`).
    pub fn is_complete(&self) -> bool {
        matches!(self.read, Read::Done)
    }

    /// Whether the final head was read.
    pub fn has_response(&self) -> bool {
        matches!(self.read, Read::Body(_) | Read::Done)
    }

    /// Whether the parser stopped (upgrade, error).
    pub fn is_stopped(&self) -> bool {
        matches!(self.read, Read::Stopped)
    }

    /// llhttp's `should_keep_alive` for the final response (false once
    /// the parser stopped).
    pub fn keep_alive(&self) -> bool {
        self.keep_alive && !self.is_stopped()
    }

    /// The bytes held for what is not parsed yet: an unfinished head or
    /// trailer section. At most [`max_buffered`](Self::max_buffered) while
    /// the response is being read; once it is complete, what followed it
    /// (see [`take_rest`](Self::take_rest)).
    pub fn buffered(&self) -> usize {
        match &self.read {
            Read::Body(Decoder::Chunked(d)) => d.buffered(),
            _ => self.buf.len(),
        }
    }

    /// The bound on [`buffered`](Self::buffered) while a response is read:
    /// what an unfinished head can take under `maxHeaderSize`, however
    /// many CR, LF or spaces llhttp skips without counting them.
    pub fn max_buffered(&self) -> usize {
        max_buffered_head(self.opts.max_header_size)
    }

    /// The bytes that followed the complete response in the input (a
    /// pipelined or stray next response), handed over once: empty before
    /// [`is_complete`](Self::is_complete).
    pub fn take_rest(&mut self) -> Vec<u8> {
        if self.is_complete() {
            std::mem::take(&mut self.buf)
        } else {
            Vec::new()
        }
    }

    /// Parse `data`, appending what it produced to `out`. Bytes after a
    /// complete response are kept (they belong to no request; see
    /// [`take_rest`](Self::take_rest)) and later input is ignored.
    pub fn feed(&mut self, data: &[u8], out: &mut Vec<ResponseEvent>) {
        let mut input: &[u8] = data;
        let mut owned;
        loop {
            match &mut self.read {
                Read::Stopped | Read::Done => return,
                Read::Head => {
                    let before = self.buf.len();
                    self.buf.extend_from_slice(input);
                    match parse_response(&self.buf, &self.method, &self.opts) {
                        Ok(Status::Partial) => {
                            // Parsed as received; kept without what llhttp
                            // skips uncounted, so the buffer stays bounded.
                            let new = self.buf.split_off(before);
                            self.filter.push(&new, &mut self.buf);
                            return;
                        }
                        Err(e) => {
                            self.read = Read::Stopped;
                            out.push(ResponseEvent::Error(e));
                            return;
                        }
                        Ok(Status::Complete(mut head)) => {
                            let rest = self.buf.split_off(head.head_len);
                            self.buf.clear();
                            // The head's length on the wire.
                            head.head_len += self.filter.dropped();
                            self.filter = HeadFilter::head();
                            // parserOnIncomingClient: any answer to CONNECT
                            // is treated as an upgrade.
                            if head.upgrade || self.method == "CONNECT" {
                                self.read = Read::Stopped;
                                out.push(ResponseEvent::Upgrade { head, rest });
                                return;
                            }
                            // statusIsInformational: not 101, which
                            // without the upgrade headers is final.
                            if (100..200).contains(&head.status) && head.status != 101 {
                                out.push(ResponseEvent::Information(head));
                                owned = rest;
                                input = &owned;
                                continue;
                            }
                            self.keep_alive = head.should_keep_alive;
                            let body = Decoder::new(head.body, self.opts);
                            out.push(ResponseEvent::Head(head));
                            match body {
                                None => {
                                    self.read = Read::Done;
                                    out.push(ResponseEvent::End {
                                        trailers: Vec::new(),
                                    });
                                    self.buf = rest;
                                    return;
                                }
                                Some(b) => self.read = Read::Body(b),
                            }
                            owned = rest;
                            input = &owned;
                        }
                    }
                }
                Read::Body(body) => {
                    if input.is_empty() {
                        return;
                    }
                    let mut data = Vec::new();
                    let result = body.decode(input, &mut data, false);
                    if !data.is_empty() {
                        out.push(ResponseEvent::Data(data));
                    }
                    match result {
                        Err(e) => {
                            self.read = Read::Stopped;
                            out.push(ResponseEvent::Error(e));
                        }
                        Ok(p) if p.done => {
                            let trailers = body.trailers().to_vec();
                            self.buf = input[p.consumed..].to_vec();
                            self.read = Read::Done;
                            out.push(ResponseEvent::End { trailers });
                        }
                        Ok(_) => {}
                    }
                    return;
                }
            }
        }
    }

    /// The peer closed its side (`parser.finish()`): a body that runs
    /// until EOF ends here; anything else is left incomplete (the caller
    /// reports "socket hang up" or "aborted").
    pub fn feed_eof(&mut self, out: &mut Vec<ResponseEvent>) {
        if let Read::Body(Decoder::UntilEof) = self.read {
            self.read = Read::Done;
            out.push(ResponseEvent::End {
                trailers: Vec::new(),
            });
        }
    }

    /// The error llhttp reports for EOF inside a message, for callers that
    /// want one.
    pub fn eof_error() -> Error {
        Error::parse(Parse::InvalidEofState, "Invalid EOF state", 0)
    }
}
