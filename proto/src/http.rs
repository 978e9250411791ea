//! The functions and properties of the `node:http` module itself:
//! `http.maxHeaderSize`, `http.METHODS`, `http.STATUS_CODES`,
//! `http.validateHeaderName()`, `http.validateHeaderValue()` and
//! `http.setMaxIdleHTTPParsers()`, with the argument checks Node makes.
//!
//! Their arguments are JavaScript values ([`JsArg`]): Node checks their
//! types at run time, and these functions do the same.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::Error;
use crate::validate::{has_invalid_header_char, is_token};

/// A JavaScript value passed to a module function.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JsArg<'a> {
    /// `undefined` (also an argument left out).
    Undefined,
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    String(&'a str),
    /// Any other value (an array, an object), by its `String()` form.
    Other(&'a str),
}

impl JsArg<'_> {
    /// `typeof` the value, as Node names it in `ERR_INVALID_ARG_TYPE`.
    fn type_of(&self) -> &'static str {
        match self {
            JsArg::Undefined => "undefined",
            JsArg::Null => "null",
            JsArg::Bool(_) => "boolean",
            JsArg::Number(_) => "number",
            JsArg::String(_) => "string",
            JsArg::Other(_) => "object",
        }
    }

    /// `String(value)`.
    pub fn to_js_string(&self) -> String {
        match self {
            JsArg::Undefined => "undefined".into(),
            JsArg::Null => "null".into(),
            JsArg::Bool(b) => b.to_string(),
            JsArg::Number(n) => number_string(*n),
            JsArg::String(s) | JsArg::Other(s) => (*s).to_owned(),
        }
    }
}

/// `String(n)` for a number.
fn number_string(n: f64) -> String {
    if n.is_nan() {
        "NaN".into()
    } else if n.is_infinite() {
        if n > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if n.fract() == 0.0 && n.abs() < 1e21 {
        format!("{}", n as i128)
    } else {
        format!("{n}")
    }
}

/// `http.maxHeaderSize`: the largest size of a request's or response's
/// headers, in bytes, when no `maxHeaderSize` option says otherwise
/// (16 KiB without `--max-http-header-size`). Read-only.
pub fn max_header_size() -> usize {
    crate::parse::DEFAULT_MAX_HEADER_SIZE
}

/// `http.validateHeaderName(name[, label])`: a name that is not a
/// non-empty string made of token characters fails with
/// `ERR_INVALID_HTTP_TOKEN`, whose message starts with `label` (by
/// default `"Header name"`) and quotes the name.
pub fn validate_header_name(name: JsArg<'_>, label: Option<&str>) -> Result<(), Error> {
    match name {
        JsArg::String(s) if is_token(s) => Ok(()),
        other => Err(Error::invalid_http_token(
            label.filter(|l| !l.is_empty()).unwrap_or("Header name"),
            &other.to_js_string(),
        )),
    }
}

/// `http.validateHeaderValue(name, value)`: an `undefined` value fails
/// with `ERR_HTTP_INVALID_HEADER_VALUE`; a value whose `String()` form
/// holds a character outside `[\t\x20-\x7e\x80-\xff]` with
/// `ERR_INVALID_CHAR`. Numbers, `null` and arrays of clean strings pass.
pub fn validate_header_value(name: &str, value: JsArg<'_>) -> Result<(), Error> {
    match value {
        JsArg::Undefined => Err(Error::invalid_header_value(name, None)),
        other if has_invalid_header_char(&other.to_js_string()) => {
            Err(Error::invalid_char("header content", name))
        }
        _ => Ok(()),
    }
}

/// The largest integer a JavaScript number holds exactly.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The idle parser pool's size, as last set.
static MAX_IDLE_HTTP_PARSERS: AtomicU64 = AtomicU64::new(crate::defaults::MAX_IDLE_HTTP_PARSERS);

/// `http.setMaxIdleHTTPParsers(max)`: `max` must be a number
/// (`ERR_INVALID_ARG_TYPE`), an integer of at least 1 (`ERR_OUT_OF_RANGE`).
/// The crate keeps no pool of parsers; the value is only recorded
/// ([`max_idle_http_parsers`]).
pub fn set_max_idle_http_parsers(max: JsArg<'_>) -> Result<(), Error> {
    let JsArg::Number(n) = max else {
        let received = match max {
            JsArg::Undefined | JsArg::Null => format!("Received {}", max.to_js_string()),
            JsArg::String(s) => format!("Received type string ('{s}')"),
            other => format!(
                "Received type {} ({})",
                other.type_of(),
                other.to_js_string()
            ),
        };
        return Err(Error::invalid_arg_type(format!(
            "The \"max\" argument must be of type number. {received}"
        )));
    };
    if n.is_nan() || n.is_infinite() || n.fract() != 0.0 {
        return Err(Error::out_of_range("max", "an integer", &number_string(n)));
    }
    if !(1.0..=MAX_SAFE_INTEGER).contains(&n) {
        return Err(Error::out_of_range(
            "max",
            ">= 1 && <= 9007199254740991",
            &number_string(n),
        ));
    }
    MAX_IDLE_HTTP_PARSERS.store(n as u64, Ordering::Relaxed);
    Ok(())
}

/// The value [`set_max_idle_http_parsers`] last accepted (1000 by default).
pub fn max_idle_http_parsers() -> u64 {
    MAX_IDLE_HTTP_PARSERS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_name_checks() {
        assert!(validate_header_name(JsArg::String("X-Az09!#$%&'*+-.^_`|~"), None).is_ok());
        let e = validate_header_name(JsArg::String(""), None).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_HTTP_TOKEN");
        assert_eq!(
            e.to_string(),
            "Header name must be a valid HTTP token [\"\"]"
        );
        let e = validate_header_name(JsArg::Number(123.0), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Header name must be a valid HTTP token [\"123\"]"
        );
        let e = validate_header_name(JsArg::String("a b"), Some("Trailer name")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Trailer name must be a valid HTTP token [\"a b\"]"
        );
    }

    #[test]
    fn header_value_checks() {
        assert!(validate_header_value("x-a", JsArg::Number(42.0)).is_ok());
        assert!(validate_header_value("x-a", JsArg::Null).is_ok());
        assert!(validate_header_value("x-a", JsArg::Other("a,b")).is_ok());
        let e = validate_header_value("x-a", JsArg::Other("a,b\nc")).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_CHAR");
        let e = validate_header_value("x-my-header", JsArg::Undefined).unwrap_err();
        assert_eq!(e.code(), "ERR_HTTP_INVALID_HEADER_VALUE");
    }

    #[test]
    fn max_idle_parsers_checks() {
        assert!(set_max_idle_http_parsers(JsArg::Number(1000.0)).is_ok());
        assert_eq!(max_idle_http_parsers(), 1000);
        let e = set_max_idle_http_parsers(JsArg::String("1")).unwrap_err();
        assert_eq!(e.code(), "ERR_INVALID_ARG_TYPE");
        assert_eq!(
            e.to_string(),
            "The \"max\" argument must be of type number. Received type string ('1')"
        );
        for bad in [0.0, 1.5, f64::NAN] {
            let e = set_max_idle_http_parsers(JsArg::Number(bad)).unwrap_err();
            assert_eq!(e.code(), "ERR_OUT_OF_RANGE");
            assert_eq!(e.name(), "RangeError");
        }
    }
}
