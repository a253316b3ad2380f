//! Entra ID token endpoint and Microsoft Graph client: a [`crate::ports::Directory`].
