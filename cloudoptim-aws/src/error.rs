//! Errors of the AWS adapter.

/// A failed AWS call or unusable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AwsError {
    /// The service refused or failed the call.
    #[error("{operation} failed: {message}")]
    Service {
        /// The API operation, e.g. `DescribeInstances`.
        operation: &'static str,
        /// What the SDK reported.
        message: String,
    },
    /// The endpoint does not implement the operation (moto and
    /// `GetSpotPlacementScores`, for one).
    #[error("{operation} is not supported by this endpoint ({message})")]
    Unsupported {
        /// The API operation.
        operation: &'static str,
        /// What came back.
        message: String,
    },
    /// Terminating the instance through its Auto Scaling group with the
    /// desired capacity decremented would take the group below its minimum
    /// size: the group is at its minimum, so the instance cannot go without
    /// a replacement.
    #[error(
        "terminating {instance_id} without a replacement would take Auto Scaling group {group} below its minimum size {min_size}"
    )]
    BelowMinSize {
        /// The instance.
        instance_id: String,
        /// Its group.
        group: String,
        /// The group's minimum size.
        min_size: u32,
    },
    /// The Price List API cannot price this region: the China regions (in
    /// CNY, from their own endpoint) and GovCloud (not served).
    #[error("no Price List prices for region {region}: {reason}")]
    PriceListUnavailable {
        /// The region asked for.
        region: String,
        /// Why.
        reason: String,
    },
    /// The Price List answered, but with no usable on-demand price for the
    /// region: a region it does not know (or a typo), or only odd products.
    #[error(
        "the Price List has no on-demand {os} prices for region {region} \
         ({pages} pages, {left_out} products left out, {skipped} skipped as odd)"
    )]
    NoPrices {
        /// The region asked for.
        region: String,
        /// The operating system asked for (`Linux`, `Windows`).
        os: &'static str,
        /// How many pages came back.
        pages: usize,
        /// Products read but not kept (another family, OS, tenancy…).
        left_out: usize,
        /// Products skipped as odd.
        skipped: usize,
    },
    /// The answer lacks a field CloudOptim needs.
    #[error("{operation}: {field} is missing or invalid")]
    Invalid {
        /// The API operation.
        operation: &'static str,
        /// The field.
        field: &'static str,
    },
    /// The executor was asked for something it does not carry out or observe.
    #[error("the EC2 executor does not handle {what}")]
    NotHandled {
        /// The action or fact.
        what: String,
    },
}

/// Turn an SDK error into an [`AwsError`], spotting "not implemented here"
/// (HTTP 404/501, or an HTML page instead of an AWS error document).
pub(crate) fn from_sdk<E>(
    operation: &'static str,
    e: aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> AwsError
where
    E: std::error::Error + 'static,
{
    let status = e.raw_response().map(|r| r.status().as_u16());
    // AWS answers errors in XML or JSON; an HTML page means the endpoint
    // has no such operation (moto answers GetSpotPlacementScores so).
    let html = e
        .raw_response()
        .and_then(|r| r.headers().get("content-type"))
        .is_some_and(|c| c.starts_with("text/html"));
    let message = format!(
        "{}",
        aws_smithy_types::error::display::DisplayErrorContext(&e)
    );
    let unsupported = html || matches!(status, Some(404) | Some(501));
    let message = if unsupported {
        format!("HTTP {} with no AWS error document", status.unwrap_or(0))
    } else {
        message
    };
    if unsupported {
        AwsError::Unsupported { operation, message }
    } else {
        AwsError::Service { operation, message }
    }
}
