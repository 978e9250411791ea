//! Microbenchmarks of the sans-IO core, with byte throughput:
//! `cargo bench -p nodehttp --bench micro`.
//!
//! Benchmarks, not tests: nothing here asserts a time. The inputs are what
//! a browser-like client sends and what the `hello` example answers.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use nodehttp::chunked::{encode_chunk, encode_last_chunk, ChunkedDecoder};
use nodehttp::encode::{encode_response_head, OutValue, ResponseHeadInput};
use nodehttp::headers::{HeaderMap, HeaderOptions};
use nodehttp::parse::{parse_request, ParseOptions, Status};
use nodehttp::response::{ResponseContext, ResponseState};

/// A short request, as wrk sends it.
const SMALL: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n";

/// A browser-like request (about 700 bytes), with duplicates of the kinds
/// Node's rules treat differently (`cookie` joined with "; ", `accept`
/// joined with ", ", `set-cookie`-like arrays absent from requests); the
/// same bytes `bench-allocs --request browser` sends.
const BROWSER: &[u8] = include_bytes!("../../bench/requests/browser.http");

fn head_of(req: &[u8]) -> nodehttp::parse::RequestHead {
    match parse_request(req, &ParseOptions::default()) {
        Ok(Status::Complete(h)) => h,
        _ => unreachable!("the benchmark requests are complete and valid"),
    }
}

fn parsing(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_request");
    for (name, req) in [("small", SMALL), ("browser", BROWSER)] {
        g.throughput(Throughput::Bytes(req.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| parse_request(black_box(req), &ParseOptions::default()))
        });
    }
    g.finish();
}

fn header_objects(c: &mut Criterion) {
    let head = head_of(BROWSER);
    let opts = HeaderOptions {
        join_duplicate_headers: false,
        max_headers_count: Some(2000),
    };
    let mut g = c.benchmark_group("headers_object");
    g.throughput(Throughput::Bytes(BROWSER.len() as u64));
    g.bench_function("headers", |b| {
        b.iter(|| HeaderMap::from_raw(black_box(&head.headers).iter(), opts))
    });
    g.bench_function("headersDistinct", |b| {
        b.iter(|| HeaderMap::distinct_from_raw(black_box(&head.headers).iter(), opts))
    });
    g.bench_function("headers joinDuplicateHeaders", |b| {
        let opts = HeaderOptions {
            join_duplicate_headers: true,
            ..opts
        };
        b.iter(|| HeaderMap::from_raw(black_box(&head.headers).iter(), opts))
    });
    g.finish();
}

fn context() -> ResponseContext {
    // An HTTP/1.1 GET on a default server.
    ResponseContext::default()
}

const SET: [(&str, &str); 6] = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "public, max-age=3600"),
    ("ETag", "\"5e1f-12345abcdef\""),
    ("X-Content-Type-Options", "nosniff"),
    ("Vary", "Accept-Encoding"),
    ("Last-Modified", "Tue, 15 Nov 1994 12:45:26 GMT"),
];

fn header_api(c: &mut Criterion) {
    let bytes: usize = SET.iter().map(|(n, v)| n.len() + v.len()).sum();
    let mut g = c.benchmark_group("response_headers");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function("setHeader x6", |b| {
        b.iter_batched(
            || ResponseState::new(context()),
            |mut r| {
                for (n, v) in SET {
                    r.set_header(n, OutValue::from(v)).unwrap();
                }
                r
            },
            BatchSize::SmallInput,
        )
    });
    let mut r = ResponseState::new(context());
    for (n, v) in SET {
        r.set_header(n, OutValue::from(v)).unwrap();
    }
    g.bench_function("getHeader x6 (any case)", |b| {
        b.iter(|| {
            for name in [
                "content-type",
                "CACHE-CONTROL",
                "etag",
                "x-content-type-options",
                "Vary",
                "last-modified",
            ] {
                black_box(r.get_header(black_box(name)));
            }
        })
    });
    g.finish();
}

fn head_encoding(c: &mut Criterion) {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut hello = ResponseHeadInput::new(200, now);
    hello.headers = vec![("content-type".into(), OutValue::from("text/plain"))];
    hello.content_length = Some(11);
    let mut page = ResponseHeadInput::new(200, now);
    page.headers = SET
        .iter()
        .map(|(n, v)| (n.to_string(), OutValue::from(*v)))
        .chain([(
            "Set-Cookie".to_string(),
            OutValue::from(vec!["a=1; Path=/", "b=2; Path=/; HttpOnly"]),
        )])
        .collect();
    let mut g = c.benchmark_group("response_head");
    for (name, input) in [("hello", &hello), ("page (chunked)", &page)] {
        let len = encode_response_head(input).unwrap().bytes.len();
        g.throughput(Throughput::Bytes(len as u64));
        g.bench_function(name, |b| b.iter(|| encode_response_head(black_box(input))));
    }
    g.finish();
}

fn chunked(c: &mut Criterion) {
    let mut g = c.benchmark_group("chunked");
    for size in [16usize, 1024, 16 * 1024] {
        let data = vec![b'x'; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_function(format!("encode {size} B"), |b| {
            b.iter(|| encode_chunk(black_box(&data)))
        });
    }
    // A body of 64 chunks of 1 KiB, then the last chunk.
    let mut wire = Vec::new();
    for _ in 0..64 {
        wire.extend_from_slice(&encode_chunk(&[b'y'; 1024]));
    }
    wire.extend_from_slice(&encode_last_chunk(""));
    g.throughput(Throughput::Bytes(wire.len() as u64));
    g.bench_function("decode 64 x 1 KiB", |b| {
        b.iter(|| {
            let mut dec = ChunkedDecoder::new(ParseOptions::default());
            let mut body = Vec::with_capacity(64 * 1024);
            let p = dec.decode(black_box(&wire), &mut body).unwrap();
            black_box((p, body))
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    parsing,
    header_objects,
    header_api,
    head_encoding,
    chunked
);
criterion_main!(benches);
