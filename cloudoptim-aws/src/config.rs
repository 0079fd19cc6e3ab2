//! Configuration the AWS way.

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Where and as whom to call AWS.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region (`AWS_REGION`, else `AWS_DEFAULT_REGION`, else `us-east-1`).
    pub region: String,
    /// Endpoint override for every service (`AWS_ENDPOINT_URL`), e.g. moto.
    pub endpoint_url: Option<String>,
    /// Role to assume in the customer's account (the seed's onboarding).
    pub assume_role_arn: Option<String>,
    /// External id the customer's trust policy requires.
    pub external_id: Option<String>,
}

impl AwsSettings {
    /// Settings from the standard environment variables, plus
    /// `CLOUDOPTIM_ROLE_ARN` and `CLOUDOPTIM_EXTERNAL_ID` for assume-role.
    pub fn from_env() -> AwsSettings {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        AwsSettings {
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            endpoint_url: var("AWS_ENDPOINT_URL"),
            assume_role_arn: var("CLOUDOPTIM_ROLE_ARN"),
            external_id: var("CLOUDOPTIM_EXTERNAL_ID"),
        }
    }

    /// The SDK configuration: the default credential chain, the region, the
    /// endpoint override, and the assumed role when one is set.
    pub async fn sdk_config(&self) -> SdkConfig {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()));
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let base = loader.load().await;
        let Some(role) = &self.assume_role_arn else {
            return base;
        };
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name("cloudoptim")
            .configure(&base);
        if let Some(id) = &self.external_id {
            provider = provider.external_id(id);
        }
        let provider = provider.build().await;
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .credentials_provider(provider);
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }
}
