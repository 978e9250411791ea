//! The adapter protocol, version 2 (`conformance/PROTOCOL.md`): messages and
//! their newline-delimited JSON codec.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The protocol version this runner speaks.
pub const PROTOCOL_VERSION: u64 = 2;

/// A message from the runner to the adapter.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
#[allow(clippy::large_enum_variant)] // one message per scenario step: size is irrelevant
pub enum ToAdapter {
    /// Build the scenario's server and listen.
    Start {
        /// Scenario id (informative).
        id: String,
        /// `server` or `client`.
        side: String,
        /// `createServer` options.
        options: Map<String, Value>,
        /// Properties assigned before `listen`.
        properties: Map<String, Value>,
        /// The request handler script.
        handler: Value,
        /// Optional listeners and their scripts.
        listeners: Map<String, Value>,
        /// Server scenarios: how request bodies are consumed (`read`,
        /// absent, or `none`).
        #[serde(skip_serializing_if = "Option::is_none")]
        body: Option<String>,
        /// Client scenarios: the port the runner's scripted server listens
        /// on (127.0.0.1).
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
        /// Client scenarios: a port on which nothing listens.
        #[serde(rename = "closedPort", skip_serializing_if = "Option::is_none")]
        closed_port: Option<u16>,
        /// Client scenarios: the agents to create, by name: `options` and
        /// `hooks`.
        #[serde(skip_serializing_if = "Map::is_empty")]
        agents: Map<String, Value>,
        /// Client scenarios: the requests, by name (`options`, `url`,
        /// `script`, `get`, `without`, `body`), ports in place.
        #[serde(skip_serializing_if = "Map::is_empty")]
        requests: Map<String, Value>,
        /// Client scenarios: the WebSockets, by name (`url`, `protocols`,
        /// `script`), ports in place.
        #[serde(skip_serializing_if = "Map::is_empty")]
        websockets: Map<String, Value>,
    },
    /// Raise a signal for `await` steps.
    Signal {
        /// Its name.
        name: String,
    },
    /// Client scenarios: issue a request now.
    Request {
        /// The request's name.
        name: String,
    },
    /// Client scenarios: report an agent's pools.
    Agent {
        /// The agent's name (`global`: `http.globalAgent`).
        name: String,
    },
    /// Client scenarios: construct a WebSocket now.
    #[serde(rename = "websocket")]
    WebSocket {
        /// The WebSocket's name.
        name: String,
    },
    /// Call a method now.
    Call {
        /// `server`, `http`, `agent`, `request` or `websocket`.
        target: String,
        /// The agent's, request's or WebSocket's name.
        #[serde(skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The method.
        method: String,
        /// Its arguments.
        args: Vec<Value>,
        /// Report the result as a `return` event.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        report: bool,
    },
    /// End the scenario.
    Stop,
}

/// A message from the adapter to the runner.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FromAdapter {
    /// First message: who is speaking.
    Ready {
        /// Must be [`PROTOCOL_VERSION`].
        protocol: u64,
        /// A free name (`node`, `bun`, `nodehttp`...).
        #[serde(default)]
        implementation: String,
        /// The Node version whose behaviour is claimed.
        #[serde(default)]
        version: String,
    },
    /// The server listens on 127.0.0.1:`port`.
    Listening {
        /// The port.
        port: u16,
    },
    /// A client scenario is set up (its agents exist).
    Started,
    /// The scenario cannot run on this implementation.
    Unsupported {
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Something observable happened; the map holds `event` and its fields.
    Event(Map<String, Value>),
    /// `call` is done.
    Called,
    /// `stop` is done.
    Stopped,
    /// The adapter could not understand or perform a message.
    Error {
        /// What went wrong.
        #[serde(default)]
        message: String,
    },
}

impl ToAdapter {
    /// One line of JSON, with its `\n`.
    pub fn encode(&self) -> String {
        let mut s = serde_json::to_string(self).expect("messages always serialise");
        s.push('\n');
        s
    }
}

impl FromAdapter {
    /// Decodes one line; the error says what was wrong with it.
    pub fn decode(line: &str) -> Result<FromAdapter, String> {
        let value: Value =
            serde_json::from_str(line).map_err(|e| format!("not JSON ({e}): {line}"))?;
        match value.get("type").and_then(Value::as_str) {
            None => return Err(format!("message without a string `type`: {line}")),
            Some(
                "ready" | "listening" | "started" | "unsupported" | "event" | "called" | "stopped"
                | "error",
            ) => {}
            Some(other) => return Err(format!("unknown message type `{other}`: {line}")),
        }
        let msg: FromAdapter = serde_json::from_value(value)
            .map_err(|e| format!("malformed message ({e}): {line}"))?;
        if let FromAdapter::Event(fields) = &msg {
            if !fields.get("event").is_some_and(Value::is_string) {
                return Err(format!("event without a string `event` field: {line}"));
            }
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_runner_messages() {
        let start = ToAdapter::Start {
            id: "server/a/b".into(),
            side: "server".into(),
            options: json!({"requireHostHeader": false})
                .as_object()
                .unwrap()
                .clone(),
            properties: Map::new(),
            handler: json!([["end"]]),
            listeners: Map::new(),
            body: None,
            port: None,
            closed_port: None,
            agents: Map::new(),
            requests: Map::new(),
            websockets: Map::new(),
        };
        insta::assert_snapshot!(start.encode(), @r#"{"type":"start","id":"server/a/b","side":"server","options":{"requireHostHeader":false},"properties":{},"handler":[["end"]],"listeners":{}}
"#);
        assert_eq!(ToAdapter::Stop.encode(), "{\"type\":\"stop\"}\n");
        assert_eq!(
            ToAdapter::WebSocket { name: "w1".into() }.encode(),
            "{\"type\":\"websocket\",\"name\":\"w1\"}\n"
        );
        assert_eq!(
            ToAdapter::Signal { name: "go".into() }.encode(),
            "{\"type\":\"signal\",\"name\":\"go\"}\n"
        );
        assert_eq!(
            ToAdapter::Call {
                target: "server".into(),
                name: None,
                method: "close".into(),
                args: vec![],
                report: false,
            }
            .encode(),
            "{\"type\":\"call\",\"target\":\"server\",\"method\":\"close\",\"args\":[]}\n"
        );
    }

    #[test]
    fn decodes_adapter_messages() {
        assert_eq!(
            FromAdapter::decode(
                r#"{"type":"ready","protocol":2,"implementation":"node","version":"23.5.0","extra":1}"#
            ),
            Ok(FromAdapter::Ready {
                protocol: 2,
                implementation: "node".into(),
                version: "23.5.0".into()
            })
        );
        assert_eq!(
            FromAdapter::decode(r#"{"type":"listening","port":8080}"#),
            Ok(FromAdapter::Listening { port: 8080 })
        );
        assert_eq!(
            FromAdapter::decode(r#"{"type":"stopped"}"#),
            Ok(FromAdapter::Stopped)
        );
        let FromAdapter::Event(e) =
            FromAdapter::decode(r#"{"type":"event","event":"end","body":"x"}"#).unwrap()
        else {
            panic!()
        };
        assert_eq!(e["event"], "end");
        assert_eq!(e["body"], "x");
        assert!(!e.contains_key("type"));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "hello",
            "{}",
            r#"{"type":"bogus"}"#,
            r#"{"type":"listening","port":"x"}"#,
            r#"{"type":"listening","port":70000}"#,
            r#"{"type":"event","body":"x"}"#,
            r#"[1]"#,
        ] {
            assert!(FromAdapter::decode(bad).is_err(), "{bad}");
        }
    }
}
