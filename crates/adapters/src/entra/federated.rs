//! `federated` mode: the rotator holds no Entra secret at all. It asks AWS STS
//! `GetWebIdentityToken` (IAM outbound identity federation) for a short-lived RS256 JWT whose
//! `sub` is the function's role ARN and whose `aud` is `api://AzureADTokenExchange`, and presents
//! it as the client assertion; Entra trusts it through a federated identity credential on the
//! rotator's app registration.
//!
//! The SDK's own client is used (`aws-sdk-sts` has the operation), so the request is signed and
//! sent to the regional endpoint like any other AWS call; `AWS_ENDPOINT_URL_STS` (or
//! `AWS_ENDPOINT_URL`) points it elsewhere.

use crate::ports::DirectoryError;
use async_trait::async_trait;
use secrecy::SecretString;

/// The audience Entra expects in an external token (federated identity credentials).
pub const ENTRA_TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// How long a web identity token from STS lives: it is used at once, for one token request.
pub const WEB_IDENTITY_TOKEN_SECS: i32 = 300;

/// Where the rotator's external identity tokens come from (STS in production; a test may hand
/// in any source).
#[async_trait]
pub trait WebIdentityTokens: Send + Sync {
    /// A fresh token for the audience [`ENTRA_TOKEN_EXCHANGE_AUDIENCE`].
    async fn token(&self) -> Result<SecretString, DirectoryError>;
}

/// [`WebIdentityTokens`] from AWS STS `GetWebIdentityToken` (RS256).
pub struct StsWebIdentityTokens {
    client: aws_sdk_sts::Client,
}

impl StsWebIdentityTokens {
    /// A source over this STS client.
    pub fn new(client: aws_sdk_sts::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl WebIdentityTokens for StsWebIdentityTokens {
    async fn token(&self) -> Result<SecretString, DirectoryError> {
        let operation = "STS GetWebIdentityToken";
        let out = self
            .client
            .get_web_identity_token()
            .audience(ENTRA_TOKEN_EXCHANGE_AUDIENCE)
            .signing_algorithm("RS256")
            .duration_seconds(WEB_IDENTITY_TOKEN_SECS)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_sts::error::ProvideErrorMetadata as _;
                // The error metadata holds AWS's code and message (never the token: there is none).
                let (code, message) = match e.as_service_error() {
                    Some(s) => (
                        s.code().unwrap_or("unknown").to_string(),
                        s.message().unwrap_or("").to_string(),
                    ),
                    None => (
                        "no answer".to_string(),
                        aws_sdk_sts::error::DisplayErrorContext(&e).to_string(),
                    ),
                };
                let hint = match code.as_str() {
                    "OutboundWebIdentityFederationDisabled"
                    | "OutboundWebIdentityFederationDisabledException" => {
                        ": run `aws iam enable-outbound-web-identity-federation` in this account"
                    }
                    "AccessDenied" | "AccessDeniedException" => {
                        ": the function's role needs sts:GetWebIdentityToken for this audience"
                    }
                    _ => "",
                };
                let message = format!("{code} {message}{hint}").trim().to_string();
                if hint.is_empty() {
                    DirectoryError::Unavailable {
                        operation: operation.into(),
                        message,
                    }
                } else {
                    // Nobody but an administrator can fix these: not worth retrying.
                    DirectoryError::Config(format!("{operation}: {message}"))
                }
            })?;
        match out.web_identity_token {
            Some(t) if !t.is_empty() => Ok(SecretString::from(t)),
            _ => Err(DirectoryError::InvalidResponse {
                operation: operation.into(),
                message: "no WebIdentityToken in the answer".into(),
            }),
        }
    }
}
