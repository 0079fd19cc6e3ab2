//! EC2 events delivered by EventBridge (to SQS), parsed into typed values.
//!
//! The envelope is EventBridge's: `version`, `id`, `detail-type`, `source`,
//! `account`, `time`, `region`, `resources`, `detail`. Recognised:
//!
//! | source | detail-type | → |
//! |---|---|---|
//! | `aws.ec2` | `EC2 Spot Instance Interruption Warning` | [`EventKind::SpotInterruptionWarning`] |
//! | `aws.ec2` | `EC2 Instance Rebalance Recommendation` | [`EventKind::RebalanceRecommendation`] |
//! | `aws.ec2` | `EC2 Instance State-change Notification` | [`EventKind::StateChange`] |
//! | `aws.health` | `AWS Health Event` (EC2 `scheduledChange`) | [`EventKind::ScheduledChange`] |
//!
//! Anything else parses to [`EventKind::Other`], so a consumer can
//! acknowledge it and move on. A message that is not an EventBridge
//! envelope, or a recognised event missing a field, is an [`EventError`]
//! naming the field; parsing never panics.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// The 2-minute warning before EC2 reclaims a spot instance.
    SpotInterruptionWarning {
        /// `terminate`, `stop` or `hibernate`.
        action: String,
    },
    /// EC2 advises moving off a spot instance at elevated risk.
    RebalanceRecommendation,
    /// The instance changed state (`pending`, `running`, `stopping`,
    /// `stopped`, `shutting-down`, `terminated`).
    StateChange {
        /// The new state.
        state: String,
    },
    /// AWS Health announced a scheduled change (retirement, maintenance).
    ScheduledChange {
        /// AWS Health's event type code, e.g. `AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED`.
        code: String,
        /// When the change starts, if announced.
        starts_at: Option<Timestamp>,
    },
    /// An event CloudOptim does not act on.
    Other {
        /// Its source.
        source: String,
        /// Its detail type.
        detail_type: String,
    },
}

impl EventKind {
    /// A short name for records and metrics (`spot_interruption_warning`, …).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::SpotInterruptionWarning { .. } => "spot_interruption_warning",
            EventKind::RebalanceRecommendation => "rebalance_recommendation",
            EventKind::StateChange { .. } => "state_change",
            EventKind::ScheduledChange { .. } => "scheduled_change",
            EventKind::Other { .. } => "other",
        }
    }
}

/// One event about EC2 instances.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceEvent {
    /// EventBridge's event id: the same id delivered twice is one event.
    pub id: String,
    /// When the event happened.
    pub time: Timestamp,
    /// Region.
    pub region: String,
    /// The instances it is about.
    pub instance_ids: Vec<String>,
    /// What happened.
    pub kind: EventKind,
}

/// A message that is not a usable EventBridge event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(String),
    /// JSON, but not an object (an EventBridge event is one).
    #[error("expected an EventBridge event (a JSON object), found {found}")]
    NotAnEvent {
        /// What was found: `an array`, `a string`, …
        found: &'static str,
    },
    /// A field is missing or has the wrong type.
    #[error("field `{field}`: {message}")]
    Field {
        /// Its path, e.g. `detail.instance-id`.
        field: String,
        /// What was wrong.
        message: String,
    },
}

fn field_error(field: &str, message: impl Into<String>) -> EventError {
    EventError::Field {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn string<'a>(v: &'a Value, path: &str) -> Result<&'a str, EventError> {
    let mut cur = v;
    for key in path.split('.') {
        cur = cur.get(key).ok_or_else(|| field_error(path, "missing"))?;
    }
    cur.as_str()
        .ok_or_else(|| field_error(path, "expected a string"))
}

fn instance_id(s: &str, path: &str) -> Result<String, EventError> {
    if s.starts_with("i-")
        && s.len() > 2
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        Ok(s.to_owned())
    } else {
        Err(field_error(
            path,
            format!("{s:?} is not an EC2 instance id"),
        ))
    }
}

/// Parse one SQS message body holding an EventBridge event.
pub fn parse_event(body: &str) -> Result<InstanceEvent, EventError> {
    let v: Value = serde_json::from_str(body).map_err(|e| EventError::Json(e.to_string()))?;
    let found = match &v {
        Value::Object(_) => None,
        Value::Array(_) => Some("an array"),
        Value::String(_) => Some("a string"),
        Value::Number(_) => Some("a number"),
        Value::Bool(_) => Some("a boolean"),
        Value::Null => Some("null"),
    };
    if let Some(found) = found {
        return Err(EventError::NotAnEvent { found });
    }
    let id = string(&v, "id")?.to_owned();
    let source = string(&v, "source")?.to_owned();
    let detail_type = string(&v, "detail-type")?.to_owned();
    let time: Timestamp = string(&v, "time")?
        .parse()
        .map_err(|e: jiff::Error| field_error("time", e.to_string()))?;
    let region = v
        .get("region")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let ec2_instance = || -> Result<Vec<String>, EventError> {
        Ok(vec![instance_id(
            string(&v, "detail.instance-id")?,
            "detail.instance-id",
        )?])
    };
    let (instance_ids, kind) = match (source.as_str(), detail_type.as_str()) {
        ("aws.ec2", "EC2 Spot Instance Interruption Warning") => (
            ec2_instance()?,
            EventKind::SpotInterruptionWarning {
                action: string(&v, "detail.instance-action")?.to_owned(),
            },
        ),
        ("aws.ec2", "EC2 Instance Rebalance Recommendation") => {
            (ec2_instance()?, EventKind::RebalanceRecommendation)
        }
        ("aws.ec2", "EC2 Instance State-change Notification") => (
            ec2_instance()?,
            EventKind::StateChange {
                state: string(&v, "detail.state")?.to_owned(),
            },
        ),
        ("aws.health", "AWS Health Event")
            if v.pointer("/detail/service").and_then(Value::as_str) == Some("EC2")
                // "closed" updates announce a change done or cancelled.
                && v.pointer("/detail/statusCode").and_then(Value::as_str) != Some("closed")
                && v.pointer("/detail/eventTypeCategory")
                    .and_then(Value::as_str)
                    == Some("scheduledChange") =>
        {
            let entities = v
                .pointer("/detail/affectedEntities")
                .and_then(Value::as_array)
                .ok_or_else(|| field_error("detail.affectedEntities", "expected a list"))?;
            let mut ids = Vec::new();
            for (i, e) in entities.iter().enumerate() {
                let path = format!("detail.affectedEntities[{i}].entityValue");
                let value = e
                    .get("entityValue")
                    .and_then(Value::as_str)
                    .ok_or_else(|| field_error(&path, "missing"))?;
                if value.starts_with("i-") {
                    ids.push(instance_id(value, &path)?);
                }
            }
            let starts_at = match v.pointer("/detail/startTime").and_then(Value::as_str) {
                Some(s) => Some(parse_health_time(s).ok_or_else(|| {
                    field_error("detail.startTime", format!("{s:?} is not a time"))
                })?),
                None => None,
            };
            (
                ids,
                EventKind::ScheduledChange {
                    code: string(&v, "detail.eventTypeCode")?.to_owned(),
                    starts_at,
                },
            )
        }
        _ => (
            Vec::new(),
            EventKind::Other {
                source,
                detail_type,
            },
        ),
    };
    Ok(InstanceEvent {
        id,
        time,
        region,
        instance_ids,
        kind,
    })
}

/// AWS Health writes times as RFC 3339 or as `Tue, 15 Dec 2026 10:00:00 GMT`.
fn parse_health_time(s: &str) -> Option<Timestamp> {
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    jiff::fmt::rfc2822::parse(s).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const WARNING: &str = r#"{"version":"0","id":"12345","detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","account":"123456789012","time":"2025-11-28T10:00:00Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-1234567890abcdef0"],"detail":{"instance-id":"i-1234567890abcdef0","instance-action":"terminate"}}"#;

    #[test]
    fn the_seeds_warning_parses() {
        let e = parse_event(WARNING).unwrap();
        assert_eq!(e.id, "12345");
        assert_eq!(e.instance_ids, vec!["i-1234567890abcdef0"]);
        assert_eq!(e.region, "us-east-1");
        assert_eq!(
            e.kind,
            EventKind::SpotInterruptionWarning {
                action: "terminate".into()
            }
        );
    }

    #[test]
    fn rebalance_state_change_and_health_parse() {
        let rebalance = WARNING.replace(
            "EC2 Spot Instance Interruption Warning",
            "EC2 Instance Rebalance Recommendation",
        );
        assert_eq!(
            parse_event(&rebalance).unwrap().kind,
            EventKind::RebalanceRecommendation
        );
        let state = r#"{"version":"0","id":"s1","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","time":"2025-11-28T10:01:00Z","region":"us-east-1","detail":{"instance-id":"i-0abc","state":"terminated"}}"#;
        assert_eq!(
            parse_event(state).unwrap().kind,
            EventKind::StateChange {
                state: "terminated".into()
            }
        );
        let health = r#"{"version":"0","id":"h1","detail-type":"AWS Health Event","source":"aws.health","time":"2025-11-28T10:00:00Z","region":"us-east-1","detail":{"service":"EC2","eventTypeCategory":"scheduledChange","eventTypeCode":"AWS_EC2_INSTANCE_RETIREMENT_SCHEDULED","startTime":"Tue, 2 Dec 2025 10:00:00 GMT","affectedEntities":[{"entityValue":"i-0abc"},{"entityValue":"vol-1"}]}}"#;
        let h = parse_event(health).unwrap();
        assert_eq!(h.instance_ids, vec!["i-0abc"]);
        assert!(matches!(
            h.kind,
            EventKind::ScheduledChange {
                starts_at: Some(_),
                ..
            }
        ));
        let closed = health.replace(
            r#""service":"EC2","#,
            r#""service":"EC2","statusCode":"closed","#,
        );
        assert!(matches!(
            parse_event(&closed).unwrap().kind,
            EventKind::Other { .. }
        ));
        let other = r#"{"version":"0","id":"o1","detail-type":"Something Else","source":"aws.s3","time":"2025-11-28T10:00:00Z","detail":{}}"#;
        assert!(matches!(
            parse_event(other).unwrap().kind,
            EventKind::Other { .. }
        ));
    }

    #[test]
    fn malformed_messages_name_the_field() {
        let missing = WARNING.replace(r#""instance-id":"i-1234567890abcdef0","#, "");
        assert_eq!(
            parse_event(&missing),
            Err(EventError::Field {
                field: "detail.instance-id".into(),
                message: "missing".into()
            })
        );
        let bad_id = WARNING.replace(
            r#""instance-id":"i-1234567890abcdef0""#,
            r#""instance-id":"vol-1""#,
        );
        assert!(
            matches!(parse_event(&bad_id), Err(EventError::Field { field, .. }) if field == "detail.instance-id")
        );
        let bad_time = WARNING.replace("2025-11-28T10:00:00Z", "yesterday");
        assert!(
            matches!(parse_event(&bad_time), Err(EventError::Field { field, .. }) if field == "time")
        );
        assert!(matches!(parse_event("not json"), Err(EventError::Json(_))));
        assert_eq!(
            parse_event("[1,2]").unwrap_err().to_string(),
            "expected an EventBridge event (a JSON object), found an array"
        );
        assert_eq!(
            parse_event("\"x\"").unwrap_err(),
            EventError::NotAnEvent { found: "a string" }
        );
        assert!(matches!(parse_event("{}"), Err(EventError::Field { field, .. }) if field == "id"));
    }

    proptest! {
        #[test]
        fn never_panics(body in ".{0,300}") {
            let _ = parse_event(&body);
        }

        #[test]
        fn never_panics_on_mutated_events(cut in 0usize..400, insert in "[{}\\[\\]\":,a-z0-9 -]{0,8}") {
            let mut s = WARNING.to_owned();
            let at = cut.min(s.len());
            if s.is_char_boundary(at) {
                s.insert_str(at, &insert);
            }
            let _ = parse_event(&s);
        }
    }
}
