//! The SQS side of interruption handling: long-poll the queue EventBridge
//! feeds, hand each message over parsed, delete it only once handled.

use aws_config::SdkConfig;

use cloudoptim_core::spot::events::{parse_event, EventError, InstanceEvent};

use crate::error::{from_sdk, AwsError};

/// What to do with a message that is not a usable event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MalformedPolicy {
    /// Log it and delete it (the default): it will never become usable.
    #[default]
    Delete,
    /// Log it and leave it: the queue's redrive policy moves it to a
    /// dead-letter queue after its maximum receive count.
    LeaveForDeadLetterQueue,
}

/// How the queue is read. Defaults follow the seed's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSettings {
    /// Queue URL.
    pub queue_url: String,
    /// Messages per receive, 1–10 (`SQS_MAX_MESSAGES`, default 10).
    pub max_messages: i32,
    /// Long-poll wait, seconds, 0–20 (default 20).
    pub wait_seconds: i32,
    /// Visibility timeout while a message is handled, seconds
    /// (`SQS_VISIBILITY_TIMEOUT`, default 30).
    pub visibility_timeout_seconds: i32,
    /// Malformed messages: delete, or leave for a dead-letter queue.
    pub malformed: MalformedPolicy,
}

impl SqsSettings {
    /// Settings for `queue_url`, with `SQS_MAX_MESSAGES` and
    /// `SQS_VISIBILITY_TIMEOUT` from the environment when set (clamped to
    /// what SQS accepts).
    pub fn from_env(queue_url: impl Into<String>) -> SqsSettings {
        let var = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<i32>().ok());
        SqsSettings {
            queue_url: queue_url.into(),
            max_messages: var("SQS_MAX_MESSAGES").unwrap_or(10).clamp(1, 10),
            wait_seconds: 20,
            visibility_timeout_seconds: var("SQS_VISIBILITY_TIMEOUT")
                .unwrap_or(30)
                .clamp(0, 43_200),
            malformed: MalformedPolicy::default(),
        }
    }
}

/// One message, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// SQS message id.
    pub message_id: String,
    /// Receipt handle, to delete or extend it.
    pub receipt_handle: String,
    /// The raw body.
    pub body: String,
    /// The event, or why the body is not one.
    pub event: Result<InstanceEvent, EventError>,
    /// When SQS accepted the message (its `SentTimestamp`).
    pub sent_at: Option<jiff::Timestamp>,
}

/// A consumer of one queue.
#[derive(Clone, Debug)]
pub struct SqsConsumer {
    client: aws_sdk_sqs::Client,
    settings: SqsSettings,
}

impl SqsConsumer {
    /// A consumer for the given SDK configuration and settings.
    pub fn new(config: &SdkConfig, settings: SqsSettings) -> SqsConsumer {
        SqsConsumer {
            client: aws_sdk_sqs::Client::new(config),
            settings,
        }
    }

    /// One long poll: up to `max_messages`, waiting up to `wait_seconds`.
    pub async fn receive(&self) -> Result<Vec<Received>, AwsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.settings.queue_url)
            .max_number_of_messages(self.settings.max_messages)
            .wait_time_seconds(self.settings.wait_seconds)
            .visibility_timeout(self.settings.visibility_timeout_seconds)
            .message_system_attribute_names(
                aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp,
            )
            .send()
            .await
            .map_err(|e| from_sdk("ReceiveMessage", e))?;
        let mut received = Vec::new();
        for m in out.messages() {
            let (Some(id), Some(receipt)) = (m.message_id(), m.receipt_handle()) else {
                continue;
            };
            let body = m.body().unwrap_or_default().to_owned();
            let event = parse_event(&body);
            if let Err(e) = &event {
                tracing::warn!(message_id = id, error = %e, "malformed message");
            }
            let sent_at = m
                .attributes()
                .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::SentTimestamp))
                .and_then(|ms| ms.parse::<i64>().ok())
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok());
            received.push(Received {
                message_id: id.to_owned(),
                receipt_handle: receipt.to_owned(),
                body,
                event,
                sent_at,
            });
        }
        Ok(received)
    }

    /// Deal with a message whose body is not an event, per the policy;
    /// returns whether it was deleted.
    pub async fn discard_malformed(&self, message: &Received) -> Result<bool, AwsError> {
        match self.settings.malformed {
            MalformedPolicy::Delete => {
                self.ack(&message.receipt_handle).await?;
                Ok(true)
            }
            MalformedPolicy::LeaveForDeadLetterQueue => Ok(false),
        }
    }

    /// Delete a handled message.
    pub async fn ack(&self, receipt_handle: &str) -> Result<(), AwsError> {
        self.client
            .delete_message()
            .queue_url(&self.settings.queue_url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| from_sdk("DeleteMessage", e))?;
        Ok(())
    }

    /// Keep a message invisible for `seconds` more while its drain runs.
    pub async fn extend_visibility(
        &self,
        receipt_handle: &str,
        seconds: i32,
    ) -> Result<(), AwsError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.settings.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.clamp(0, 43_200))
            .send()
            .await
            .map_err(|e| from_sdk("ChangeMessageVisibility", e))?;
        Ok(())
    }
}
