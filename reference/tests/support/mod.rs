//! Helpers the integration tests share (each test file is its own crate:
//! `mod support;`).

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Read one request head (and nothing more) from `s`; what there was at
/// EOF.
pub async fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            break;
        }
        head.push(b[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}
