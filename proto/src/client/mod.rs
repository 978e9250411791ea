//! The client side's protocol, sans-IO: the response parser of one socket
//! ([`conn`]) and the request's outgoing state ([`request`]); the tokio
//! driver, the agent and the API are `nodehttp::client`.

pub mod conn;
pub mod request;

/// Standard base64 with padding (RFC 4648, section 4): Basic credentials
/// and WebSocket keys.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
