//! Unit tests of the sans-IO client: request heads and response parsing
//! with plain bytes.
