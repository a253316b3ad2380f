//! Secrets Manager adapter and an in-memory store: [`crate::ports::SecretStore`].
