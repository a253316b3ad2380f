//! [`Deferred`]: the [`Function`] built at the first invocation rather than at init.

use super::{Event, Function, Invocation, LambdaError};
use serde_json::Value;

/// A [`Function`] built at its first invocation rather than at init: building it loads the AWS
/// configuration and the platform's root certificates and reads the rotator's secret, none of
/// which a cold start should wait for before it asks for its first event. Built once and kept;
/// when the build fails, that invocation fails with the build's error and the next one tries again
/// (a failure is not kept).
pub struct Deferred<B> {
    build: B,
    function: tokio::sync::OnceCell<Function>,
}

impl<B, F> Deferred<B>
where
    B: Fn() -> F,
    F: std::future::Future<Output = Result<Function, LambdaError>>,
{
    /// A function that `build` makes at the first invocation (again at the next one if it fails).
    pub fn new(build: B) -> Self {
        Self {
            build,
            function: tokio::sync::OnceCell::new(),
        }
    }

    /// The function, once built.
    pub fn get(&self) -> Option<&Function> {
        self.function.get()
    }

    /// [`route`](super::route), building the function first if need be. An event that is not understood is
    /// refused before anything is built. The invocation that builds the function does not read
    /// the rotator's secret again (self-rotation): the build has just read it.
    pub async fn route(&self, event: Value) -> Result<Value, LambdaError> {
        self.route_within(event, &Invocation::default()).await
    }

    /// [`Self::route`] within `invocation` (its deadline, the invoked function's ARN).
    pub async fn route_within(
        &self,
        event: Value,
        invocation: &Invocation,
    ) -> Result<Value, LambdaError> {
        let event = Event::parse(&event)?;
        let mut built_now = false;
        let function = self
            .function
            .get_or_try_init(|| {
                built_now = true;
                (self.build)()
            })
            .await?;
        if built_now {
            return function.dispatch(event, invocation).await;
        }
        super::dispatch_refreshed(function, event, invocation).await
    }
}
